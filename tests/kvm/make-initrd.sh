#!/bin/sh
# make-initrd.sh OUT INIT BUSYBOX: a gzip'd newc initramfs holding a static
# busybox at /bin/busybox and INIT at /init. Only cpio and gzip are needed.
set -eu
out=$1 init=$2 busybox=$3
if ! file_is_static=$(LC_ALL=C od -An -c -N4 "$busybox" 2>/dev/null) || [ -z "$file_is_static" ]; then
	echo "make-initrd.sh: cannot read busybox at $busybox (apt-get install busybox-static)" >&2
	exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
cp "$init" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9n > "$out"
