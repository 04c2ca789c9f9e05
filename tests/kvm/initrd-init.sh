#!/bin/busybox sh
# /init of the integration tests' initramfs: print a marker naming the CPUs
# the guest sees, then do what `agentvm.test=` on the kernel command line
# says: reboot (default), poweroff, hang (sleep until killed), disk-throughput
# (bench/disk-throughput.py: time direct-I/O dd runs on /dev/vda, then reboot),
# or shell (bench/suite.py's peers: run each console line as a command, then
# print a done marker; the way a VMM without an agent runs commands).
# The kernel's devtmpfs automount does not cover an initramfs, and without
# /dev/console init has no stdout: mount it and reopen the console first.
/bin/busybox mkdir -p /proc /dev
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
cpus=$(/bin/busybox nproc)
action=reboot
for word in $(/bin/busybox cat /proc/cmdline); do
	case "$word" in
	agentvm.test=*) action=${word#agentvm.test=} ;;
	esac
done
echo "AGENTVM-INIT-MARKER cpus=$cpus action=$action"
case "$action" in
poweroff) /bin/busybox poweroff -f ;;
hang) while :; do /bin/busybox sleep 3600; done ;;
shell)
	# No echo: the bench's own command text must not look like the command's output.
	/bin/busybox stty -echo
	echo "AGENTVM-SHELL-READY"
	while read -r line; do
		eval "$line"
		echo "AGENTVM-DONE"
	done
	/bin/busybox reboot -f ;;
disk-throughput)
	# O_DIRECT skips the guest's page cache, so every byte crosses the virtio-blk device.
	# Busybox dd prints no timing; /proc/uptime gives the guest clock to 10 ms.
	ddrun() { # name, bytes moved, dd arguments
		name=$1 bytes=$2
		shift 2
		read -r start _ </proc/uptime
		/bin/busybox dd "$@" 2>/dev/null
		status=$?
		read -r end _ </proc/uptime
		echo "AGENTVM-DD $name bytes=$bytes start=$start end=$end status=$status"
	}
	ddrun write-1M 268435456 if=/dev/zero of=/dev/vda bs=1M count=256 oflag=direct
	ddrun read-1M 268435456 if=/dev/vda of=/dev/null bs=1M count=256 iflag=direct
	ddrun read-4k 33554432 if=/dev/vda of=/dev/null bs=4k count=8192 iflag=direct
	/bin/busybox reboot -f ;;
*) /bin/busybox reboot -f ;;
esac
