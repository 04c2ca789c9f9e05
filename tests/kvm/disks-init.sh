#!/bin/sh
# /sbin/init of the disk tests' root images (tests/kvm/test-disks.sh): run the
# case that `agentvm.case=` on the kernel command line names, report results
# as "DISKS key=value" lines on the console, print "DISKS done" and reboot.
# The tree comes from guest/rootfs/busybox-tree.sh, without applet links:
# Debian's static busybox sh runs its applets by name anyway, through
# /proc/self/exe, so /proc comes first. Console bytes are slow under nesting:
# say little.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q '^[^ ]* /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t tmpfs tmpfs /tmp # the root disk may be read-only

say() { echo "DISKS $*"; }
attr() { cat "/sys/block/$1/$2" 2>/dev/null || echo missing; }
# Field 16 of /sys/block/X/stat: flush requests completed (Documentation/block/stat.rst).
flushes() { set -- $(cat "/sys/block/$1/stat"); echo "${16:-missing}"; }
# The first line of a failed command's stderr (dd adds its record counts after it).
why() { grep -v records /tmp/err | head -n 1; }
mount_opts() { awk -v m="$1" '$2 == m { print $4 }' /proc/mounts; }

# (a) The root disk is writable ext4: write a file bigger than guest memory (so
# reading it back comes partly from the disk), and leave the filesystem clean for
# debugfs on the host. (dd | tee | sha256sum was three times slower under nesting.)
case_bigwrite() {
	say "vda_sectors=$(attr vda size)"
	say "root_opts=$(mount_opts /)"
	dd if=/dev/urandom of=/big.bin bs=1M count=300 conv=fsync 2>/dev/null
	sync
	say "big_sha256=$(sha256sum </big.bin | cut -d' ' -f1)"
	say "big_bytes=$(stat -c %s /big.bin)"
	mount -o remount,ro / && say "remount=ok"
}

# (b) vda is the root disk and vdb, vdc one image, all read-only.
case_readonly() {
	for d in vda vdb vdc; do
		say "${d}_ro=$(attr $d ro) ${d}_discard_max=$(attr $d queue/discard_max_bytes) ${d}_zeroes_max=$(attr $d queue/write_zeroes_max_bytes)"
	done
	say "root_opts=$(mount_opts /)"
	if touch /written 2>/tmp/err; then say "root_write=ok"; else say "root_write=failed $(cat /tmp/err)"; fi
	if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/tmp/err; then
		say "raw_write=ok"
	else
		say "raw_write=failed $(why)"
	fi
	blockdev --setrw /dev/vdb 2>/dev/null
	if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/tmp/err; then
		say "raw_write_after_setrw=ok"
	else
		say "raw_write_after_setrw=failed $(why)"
	fi
	if mount -t ext4 -o rw /dev/vdb /mnt 2>/tmp/err; then
		say "mount_rw=ok $(tr '\n' ' ' </tmp/err)"
		say "mnt_opts=$(mount_opts /mnt)"
		say "hello=$(cat /mnt/hello.txt)"
		if touch /mnt/written 2>/tmp/err; then say "mnt_write=ok"; else say "mnt_write=failed $(cat /tmp/err)"; fi
		umount /mnt
	else
		say "mount_rw=failed $(tr '\n' ' ' </tmp/err)"
	fi
	say "vdc_sha256=$(sha256sum </dev/vdc | cut -d' ' -f1)"
}

# (c) Eight disks: vda root (ro), vdb and vdc writable, vdd-vdh small.
case_multi() {
	for d in /sys/block/vd*; do
		d=${d##*/}
		say "disk=$d sectors=$(attr $d size) serial=$(attr $d serial) ro=$(attr $d ro)"
	done
	say "vdc_sha256=$(sha256sum </dev/vdc | cut -d' ' -f1)"
	say "vdd_sha256=$(sha256sum </dev/vdd | cut -d' ' -f1)"
	# The same offset on two disks; vdc's sector 2048 is its last one.
	printf 'DISKS-MARK-vdb' | dd of=/dev/vdb bs=512 seek=2048 conv=sync,fsync 2>/dev/null && say "mark_vdb=ok"
	printf 'DISKS-MARK-vdc' | dd of=/dev/vdc bs=512 seek=2048 conv=sync,fsync 2>/dev/null && say "mark_vdc=ok"
}

# (e) A raw write with fsync is in the image while the VM still runs; then wait to be killed.
case_fsync() {
	say "vdb_write_cache=$(attr vdb queue/write_cache)"
	dd if=/dev/urandom of=/tmp/chunk bs=1M count=8 2>/dev/null
	say "chunk_sha256=$(sha256sum </tmp/chunk | cut -d' ' -f1)"
	before=$(flushes vdb)
	if dd if=/tmp/chunk of=/dev/vdb bs=1M seek=4 conv=fsync 2>/tmp/err; then
		say "fsync_write=ok flushes_before=$before flushes_after=$(flushes vdb)"
	else
		say "fsync_write=failed $(why)"
	fi
	say "waiting"
	while :; do sleep 3600; done
}

# (f) vdb is ext4: fill it (first boot), then delete and fstrim (second boot).
# vdc is raw, fully written on the host: discard all of it. vdd likewise: zero two ranges.
case_discard_fill() {
	say "vdb_discard_max=$(attr vdb queue/discard_max_bytes) vdb_discard_granularity=$(attr vdb queue/discard_granularity) vdb_zeroes_max=$(attr vdb queue/write_zeroes_max_bytes)"
	mount -t ext4 /dev/vdb /mnt || return
	dd if=/dev/urandom of=/mnt/fill bs=1M count=48 conv=fsync 2>/dev/null
	say "fill_kib=$(du -k /mnt/fill | cut -f1)"
	umount /mnt && say "umount=ok"
}

case_discard_trim() {
	mount -t ext4 /dev/vdb /mnt || return
	rm /mnt/fill
	sync
	say "fstrim=$(fstrim -v /mnt 2>&1)"
	umount /mnt && say "umount=ok"
	if blkdiscard /dev/vdc 2>/tmp/err; then say "blkdiscard=ok"; else say "blkdiscard=failed $(cat /tmp/err)"; fi
	for op in "zeroout 4194304" "punch 12582912"; do
		set -- $op
		if guest-blkzero "$1" /dev/vdd "$2" 4194304 2>/tmp/err; then
			say "$1=ok"
		else
			say "$1=failed $(cat /tmp/err)"
		fi
	done
}

case=none
for word in $(cat /proc/cmdline); do
	case "$word" in
	agentvm.case=*) case=${word#agentvm.case=} ;;
	esac
done
say "case=$case"
case "$case" in
bigwrite | readonly | multi | fsync | discard_fill | discard_trim) "case_$case" ;;
*) say "unknown case" ;;
esac
sync
say "done"
reboot -f
