#!/bin/bash
# aarch64-sysroot.sh [DIR]: Debian's arm64 packages the aarch64 build and its tests need, unpacked
# (not installed) into DIR, and a meson cross file of constants naming it. Prints DIR.
#
# Unpacked rather than installed because libfdt-dev:arm64 conflicts with libfdt-dev, which the
# x86_64 build needs on the same machine. What lands in DIR serves three users:
#   - the cross build: headers and libraries (libfdt, zlib, cmocka) beside the cross toolchain's
#     own libc (cross/aarch64-linux-gnu.ini);
#   - qemu-user running the unit tests: ld.so, libc and those libraries (qemu-aarch64-static -L DIR);
#   - the arm64 test host (tests/vmhost): a small arm64 userland laid over the host's files.
# The tree is usr-merged (/bin, /sbin and /lib are symlinks into /usr), as Debian 12's root is.
# Default DIR: a cache entry named after a hash of this script, so editing it makes a new one.
# Needs root the first time on a machine without the arm64 architecture (dpkg --add-architecture).
set -euo pipefail

packages=(
	# the cross build, and qemu-user running its tests
	libc6 libgcc-s1 libfdt1 libfdt-dev zlib1g zlib1g-dev libcmocka0 libcmocka-dev
	# the guest initramfs (the default guest's busybox) and the test host's userland
	busybox-static bash libtinfo6
	# the tools tests/kvm's scripts run in the test host: sh, coreutils, grep, sed, find, cmp,
	# awk, flock and setpriv, mkfs.ext4/e2fsck/debugfs, pgrep, gzip; then the libraries those
	# programs link (not every library the packages depend on: only these programs must run)
	dash coreutils grep sed findutils diffutils mawk util-linux e2fsprogs procps gzip
	libacl1 libattr1 libgmp10 libselinux1 libpcre2-8-0 libcap-ng0
	libext2fs2 libcom-err2 libss2 libblkid1 libuuid1
	libproc2-0 libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblzma5 libzstd1 liblz4-1
)

die() {
	echo "aarch64-sysroot.sh: $*" >&2
	exit 1
}

script_hash=$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-12)
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/agentvm/aarch64-sysroot-$script_hash}
[[ $dir == /* ]] || dir=$PWD/$dir
if [[ -f $dir/.complete ]]; then
	echo "$dir"
	exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	[[ $(id -u) -eq 0 ]] || die "apt does not know arm64 packages; as root: dpkg --add-architecture arm64 && apt-get update"
	dpkg --add-architecture arm64
	apt-get update -qq >/dev/null
fi

mkdir -p "$(dirname "$dir")"
work=$(mktemp -d "$(dirname "$dir")/.sysroot.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "aarch64-sysroot.sh: unpacking ${#packages[@]} arm64 packages into $dir" >&2
mkdir "$work/debs" "$work/root"
arm64=("${packages[@]/%/:arm64}")
if ! (cd "$work/debs" && apt-get download "${arm64[@]}" >"$work/apt.log" 2>&1); then
	apt-get update -qq >/dev/null 2>&1 || true
	(cd "$work/debs" && apt-get download "${arm64[@]}" >"$work/apt.log" 2>&1) ||
		die "cannot download the arm64 packages: $(grep '^E:' "$work/apt.log" | tail -n 1)"
fi

# Usr-merge the way Debian 12 does: the packages still ship /bin, /lib and /sbin, which must land
# in /usr so that the tree can lie over a usr-merged root without hiding its /bin.
root=$work/root
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib"
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
for deb in "$work"/debs/*.deb; do
	rm -rf "$work/unpack"
	dpkg-deb -x "$deb" "$work/unpack"
	for d in bin sbin lib; do
		if [[ -d $work/unpack/$d && ! -L $work/unpack/$d ]]; then
			cp -a "$work/unpack/$d/." "$root/usr/$d/"
			rm -rf "${work:?}/unpack/$d"
		fi
	done
	cp -a "$work/unpack/." "$root/"
done

# Absolute symlinks (libz.so -> /lib/...) would lead into this machine's own tree: make them relative.
while IFS= read -r link; do
	target=$(realpath -m --relative-to="$(dirname "$link")" "$root$(readlink "$link")")
	ln -sfn "$target" "$link"
done < <(find "$root" -type l -lname '/*')

# Constants for the cross file (meson reads constants from an earlier --cross-file).
cat >"$root/meson-constants.ini" <<EOF
[constants]
sysroot = '$dir'
EOF
touch "$root/.complete"
mv -T "$root" "$dir" 2>/dev/null || [[ -f $dir/.complete ]] || die "cannot create $dir"
echo "$dir"
