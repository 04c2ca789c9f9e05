#!/bin/bash
# Cross-build the library, tools, guest agent and tests for arm64 into ./build-aarch64
# (configured once). Extra arguments go to `meson setup`. Needs Debian's gcc-aarch64-linux-gnu
# and linux-libc-dev-arm64-cross; the arm64 libraries come from scripts/aarch64-sysroot.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=$(scripts/aarch64-sysroot.sh)
# A build configured against another sysroot (the script changed since) starts afresh: the
# sysroot's path is in its cross file and in its programs' run paths.
if [[ -f build-aarch64/build.ninja && $(cat build-aarch64/.sysroot 2>/dev/null) != "$sysroot" ]]; then
	rm -rf build-aarch64
fi
if [[ ! -f build-aarch64/build.ninja ]]; then
	meson setup build-aarch64 --cross-file "$sysroot/meson-constants.ini" \
		--cross-file cross/aarch64-linux-gnu.ini "$@" >/dev/null
	echo "$sysroot" >build-aarch64/.sysroot
fi
ninja -C build-aarch64 >/dev/null
