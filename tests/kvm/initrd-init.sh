#!/bin/busybox sh
# /init of the integration tests' initramfs: print a marker naming the CPUs
# the guest sees, then do what `agentvm.test=` on the kernel command line
# says: reboot (default), poweroff, or hang (sleep until killed).
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
*) /bin/busybox reboot -f ;;
esac
