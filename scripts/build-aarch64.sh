#!/bin/bash
# Cross-build the library, tools, guest agent and tests for arm64 into ./build-aarch64
# (configured once). Extra arguments go to `meson setup`. Needs Debian's gcc-aarch64-linux-gnu
# and linux-libc-dev-arm64-cross; the arm64 libraries come from scripts/aarch64-sysroot.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=$(scripts/aarch64-sysroot.sh)
if [[ ! -f build-aarch64/build.ninja ]]; then
	meson setup build-aarch64 --cross-file "$sysroot/meson-constants.ini" \
		--cross-file cross/aarch64-linux-gnu.ini "$@" >/dev/null
fi
ninja -C build-aarch64 >/dev/null
