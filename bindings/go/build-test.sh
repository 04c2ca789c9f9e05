#!/bin/sh
# Vet and compile the Go binding's tests into one binary against this build's
# library (meson runs it in the test host: compiling there, under TCG, is slow).
# usage: build-test.sh SOURCE_DIR BUILD_ROOT OUTPUT
set -eu
src=$1 build=$2
out=$(realpath -m "$3") # relative to the build directory, which we leave
cd "$src"
# pkg-config prefers agentvm-uninstalled.pc, which points into the build tree.
export PKG_CONFIG_PATH="$build/meson-uninstalled" GOFLAGS=-mod=mod GOPROXY=off
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "build-test.sh: not gofmt-formatted: $unformatted" >&2
	exit 1
fi
go vet .
exec go test -c -o "$out"
