#!/bin/bash
# Install dependencies, build, and run every test: unit, ABI and the KVM
# integration suites, on an x86_64 machine for arm64 too (a cross build). The
# KVM suites run on /dev/kvm where it can run guests and inside the nested
# test host (tests/vmhost) everywhere else; never skipped. The fuzz harnesses
# are built, not run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
# The fuzz harnesses (tests/fuzz) are built, not run: a run is minutes per harness
# (tests/fuzz/README.md), but a harness that no longer links should fail here.
if [[ ! -f build-fuzz/build.ninja ]]; then
	CC=clang meson setup build-fuzz -Dfuzz=true >/dev/null
fi
status=0 fuzz_built=true
if ! ninja -C build-fuzz >build-fuzz/ninja.log 2>&1; then
	grep -v '^\[' build-fuzz/ninja.log | tail -n 30 >&2
	status=1 fuzz_built=false
fi
builds=(build)
if [[ $(uname -m) == x86_64 ]]; then
	scripts/build-aarch64.sh
	builds+=(build-aarch64)
fi
for b in "${builds[@]}"; do
	# build-aarch64: unit tests under qemu-user, KVM suites in the arm64 test host.
	meson test -C "$b" --print-errorlogs "$@" || status=$?
done
# Plain closing lines for whoever reads only the end of the log.
/usr/bin/python3 - "${builds[@]/%//meson-logs/testlog.json}" <<'PY'
import json, sys
results = [json.loads(line)["result"] for log in sys.argv[1:] for line in open(log) if line.strip()]
passed = sum(r == "OK" for r in results)
skipped = sum(r == "SKIP" for r in results)
print(f"{passed} passed, {len(results) - passed - skipped} failed, {skipped} skipped")
PY
$fuzz_built || echo "and the fuzz harnesses do not build (build-fuzz/ninja.log)"
exit "$status"
