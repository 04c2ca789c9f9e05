#!/bin/sh
# make-initrd.sh OUT INIT BUSYBOX: a gzip'd newc initramfs holding a static
# busybox at /bin/busybox and INIT at /init, the tree that
# guest/rootfs/busybox-tree.sh builds. Only cpio and gzip are needed.
set -eu
out=$1 init=$2 busybox=$3
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
"$(dirname "$0")/../../guest/rootfs/busybox-tree.sh" --init-at /init "$root" "$init" "$busybox"
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9n > "$out"
