#!/usr/bin/env bash
# Install a guest kernel as agentvm's default: ${AGENTVM_DATADIR:-/usr/local/share/agentvm}/vmlinux (x86_64)
# or .../Image (arm64).
#
#   guest/kernel/install.sh [--arch x86_64|aarch64] [--from FILE]
#
# FILE defaults to build.sh's output (guest/kernel/out/vmlinux, or out/Image with --arch aarch64). It may
# be zstd-compressed (*.zst). The file's content decides the installed name: an x86_64 ELF becomes vmlinux,
# an arm64 Image becomes Image. Running it again with the same kernel changes nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
datadir=${AGENTVM_DATADIR:-/usr/local/share/agentvm}

usage() {
	cat <<EOF
usage: $0 [--arch x86_64|aarch64] [--from FILE]

  --from  kernel to install: an x86_64 ELF vmlinux or an arm64 Image, optionally zstd-compressed (.zst)
          (default: $here/out/vmlinux, or $here/out/Image with --arch aarch64)
  --arch  only picks the default --from (default: this machine's architecture)

Installs into \$AGENTVM_DATADIR (default /usr/local/share/agentvm), currently $datadir.
EOF
}

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

case "$(uname -m)" in
aarch64 | arm64) arch=aarch64 ;;
*) arch=x86_64 ;;
esac
from=""
while [ $# -gt 0 ]; do
	case "$1" in
	--from) from=${2:?--from needs a value}; shift 2 ;;
	--from=*) from=${1#*=}; shift ;;
	--arch) arch=${2:?--arch needs a value}; shift 2 ;;
	--arch=*) arch=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
case "$arch" in
x86_64 | x86 | amd64) default_from="$here/out/vmlinux" ;;
aarch64 | arm64) default_from="$here/out/Image" ;;
*) die "unsupported --arch '$arch' (use x86_64 or aarch64)" ;;
esac
if [ -z "$from" ]; then
	from=$default_from
	[ -f "$from" ] || die "no kernel at $from: build one with $here/build.sh, or pass --from FILE"
fi
{ [ -f "$from" ] && [ -r "$from" ]; } || die "cannot read kernel file '$from'"

hexbytes() { od -An -tx1 -j "$2" -N "$3" -- "$1" | tr -d ' \n'; }

if ! mkdir -p -- "$datadir" 2>/dev/null || [ ! -w "$datadir" ]; then
	die "cannot write to $datadir: run this as root (sudo), or set AGENTVM_DATADIR to a directory you own"
fi

# Stage next to the destination so the final rename is atomic: a reader never sees half a kernel.
tmp=$(mktemp "$datadir/.kernel.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT

if [[ "$from" == *.zst ]] || [ "$(hexbytes "$from" 0 4)" = 28b52ffd ]; then
	command -v zstd >/dev/null || die "$from is zstd-compressed and zstd is missing: apt-get install zstd"
	say "decompressing $from"
	zstd -q -d -c -- "$from" >"$tmp" || die "zstd could not decompress $from"
else
	cp -- "$from" "$tmp"
fi

# Accept only the two formats the default locations are named after.
if [ "$(hexbytes "$tmp" 0 4)" = 7f454c46 ]; then
	class=$(hexbytes "$tmp" 4 1) machine=$(hexbytes "$tmp" 18 2)
	if [ "$class" = 02 ] && [ "$machine" = 3e00 ]; then
		name=vmlinux kind="x86_64 ELF vmlinux"
	elif [ "$machine" = b700 ]; then
		die "$from is an arm64 ELF vmlinux; install arch/arm64/boot/Image instead"
	else
		die "$from is an ELF file but not an x86_64 kernel (class $class, machine 0x$machine)"
	fi
elif [ "$(hexbytes "$tmp" 56 4)" = 41524d64 ]; then # "ARM\x64", arm64 boot protocol header
	name=Image kind="arm64 Image"
elif [ "$(hexbytes "$tmp" 514 4)" = 48647253 ]; then # "HdrS", x86 boot protocol header
	die "$from is an x86 bzImage; install the ELF vmlinux that build.sh produces instead"
else
	die "$from is neither an x86_64 ELF vmlinux nor an arm64 Image"
fi

dest="$datadir/$name"
sum=$(sha256sum -- "$tmp" | cut -d' ' -f1)
if [ -f "$dest" ] && cmp -s -- "$tmp" "$dest"; then
	say "$dest is already this kernel ($kind, sha256 $sum); nothing to do"
else
	chmod 0644 "$tmp"
	mv -f -- "$tmp" "$dest"
	say "installed $kind $dest ($(stat -c %s "$dest") bytes, sha256 $sum)"
fi

default_datadir=/usr/local/share/agentvm
if [ "$datadir" = "$default_datadir" ]; then
	say "agentvm uses it when AGENTVM_KERNEL is not set"
else
	say "not the default location ($default_datadir/$name): point agentvm at it with AGENTVM_KERNEL=$dest"
fi
