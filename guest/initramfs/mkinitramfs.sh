#!/bin/bash
# mkinitramfs.sh OUT.cpio.gz AGENT BUSYBOX: the default guest initramfs, gzip'd newc.
# AGENT (the static agentvm-agent) is /init, linked from /sbin/agentvm-agent; a static
# BUSYBOX is /bin/busybox with a symlink per applet, so commands such as `sh`,
# `ls` or `cat` resolve on the default PATH; /etc/passwd and /etc/group name
# root and nobody (65534) for tools that look ids up. Needs cpio and gzip, no root.
set -euo pipefail

[[ $# -eq 3 ]] || {
	echo "usage: ${0##*/} OUT.cpio.gz AGENT BUSYBOX" >&2
	exit 2
}
out=$1 agent=$2 busybox=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

root=$(mktemp -d)
tmp=$out.tmp.$$
trap 'rm -rf "$root" "$tmp"' EXIT

"$here/../rootfs/busybox-tree.sh" --init-at /init --applets "$root" "$agent" "$busybox"
# mktemp made the root 0700: every user the host runs commands as must traverse it.
chmod 755 "$root"
mkdir -p "$root/sbin" "$root/etc"
ln -s /init "$root/sbin/agentvm-agent"
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
chmod 644 "$root/etc/passwd" "$root/etc/group"
mkdir -p "$root/root"
chmod 700 "$root/root"

# Byte for byte the same from the same inputs: fixed times (SOURCE_DATE_EPOCH if set),
# sorted names, owner 0:0, inode and device numbers from cpio rather than the build
# directory (--reproducible, GNU cpio 2.12+), no gzip name or time.
find "$root" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -9n >"$tmp"
mv -f "$tmp" "$out"
