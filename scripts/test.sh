#!/bin/bash
# Install dependencies, build, and run every test: unit, ABI and the KVM
# integration suites. The KVM suites run on /dev/kvm where it can run guests
# and inside the nested test host (tests/vmhost) everywhere else; never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
meson test -C build --print-errorlogs "$@"
