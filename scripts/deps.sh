#!/bin/bash
# Install what building and testing libagentvm needs, from Debian's packages.
# Safe to run again: apt-get skips what is already there. Needs root.
set -euo pipefail

packages=(
	# build
	meson ninja-build gcc pkg-config libc6-dev linux-libc-dev libfdt-dev zlib1g-dev
	# tests: cmocka, the guest initramfs, the shared guest kernel (.zst)
	libcmocka-dev busybox-static cpio gzip zstd
	# tests/kvm/test-disks.sh: ext4 images, and a static guest helper
	e2fsprogs libc6-dev
	# tests/vmhost: the nested-KVM test host for machines whose /dev/kvm cannot run guests
	qemu-system-x86 xz-utils util-linux
	# tests/fuzz: the libFuzzer harnesses, built by scripts/test.sh so that they keep compiling
	# (libFuzzer's runtime is only a recommendation of clang's, which we do not install)
	clang libclang-rt-14-dev
	# bench/: the Python driver
	python3
	# bindings/: pytest under /usr/bin/python3, venv (with its pip) for the install test; Go for cgo
	python3-pytest python3-venv golang-go
)

if [[ $(uname -m) == x86_64 ]]; then
	# the arm64 cross build (scripts/build-aarch64.sh), its unit tests under qemu-user, its test host
	packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross
		qemu-user-static qemu-system-arm)
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "scripts/deps.sh: needs root to install: sudo apt-get install -y ${packages[*]}" >&2
	exit 1
fi
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
echo "scripts/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
