#!/bin/bash
# mkrootfs.sh OUT.img SIZE_MIB DIR: a raw ext4 image of SIZE_MIB MiB holding
# a copy of the tree DIR, built by mkfs.ext4 -d (e2fsprogs) into a sparse file.
# No root, loop device or mount is needed. OUT.img is replaced only on success.
set -euo pipefail

prog=${0##*/}
die() {
	echo "$prog: $*" >&2
	exit 1
}
[[ $# -eq 3 ]] || {
	echo "usage: $prog OUT.img SIZE_MIB DIR" >&2
	exit 2
}
out=$1 size=$2 dir=$3

[[ $size =~ ^[1-9][0-9]{0,6}$ ]] || die "SIZE_MIB '$size' is not a whole number of MiB from 1 to 9999999"
[[ -d $dir ]] || die "DIR '$dir' is not a directory"
[[ ! -d $out ]] || die "OUT.img '$out' is a directory"
out_dir=$(dirname "$out")
[[ -d $out_dir && -w $out_dir ]] || die "cannot write to the directory '$out_dir' of OUT.img"
# mkfs.ext4 lives in /sbin, which is not on every user's PATH.
mkfs=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4) ||
	die "mkfs.ext4 not found (apt-get install e2fsprogs)"

tmp=$(mktemp "$out_dir/.${out##*/}.XXXXXX")
log=$(mktemp)
trap 'rm -f "$tmp" "$log"' EXIT
truncate -s "${size}M" "$tmp"
# 4 KiB blocks match the guest page and the disk's discard granularity.
# Inode tables are zeroed now (by a hole punch, so the image stays sparse), not
# by the guest's ext4lazyinit thread in the background after the first mount;
# the journal needs no zeroing in a fresh sparse file, which reads as zeroes.
# Files keep DIR's owners and modes; the root directory belongs to root.
if ! "$mkfs" -q -F -b 4096 -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=1 \
	-d "$dir" "$tmp" >"$log" 2>&1; then
	cat "$log" >&2
	die "mkfs.ext4 could not build a ${size} MiB image from '$dir' ($(du -sm "$dir" | cut -f1) MiB of files; a bigger SIZE_MIB?)"
fi
chmod "$(printf %o $((0666 & ~0$(umask))))" "$tmp" # mktemp made it 0600
mv -f "$tmp" "$out"
