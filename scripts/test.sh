#!/bin/bash
# Install dependencies, build, and run every test: unit, ABI and the KVM
# integration suites. The KVM suites run on /dev/kvm where it can run guests
# and inside the nested test host (tests/vmhost) everywhere else; never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
status=0
meson test -C build --print-errorlogs "$@" || status=$?
# One plain closing line for whoever reads only the end of the log.
/usr/bin/python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
results = [json.loads(line)["result"] for line in open(sys.argv[1]) if line.strip()]
passed = sum(r == "OK" for r in results)
skipped = sum(r == "SKIP" for r in results)
print(f"{passed} passed, {len(results) - passed - skipped} failed, {skipped} skipped")
PY
exit "$status"
