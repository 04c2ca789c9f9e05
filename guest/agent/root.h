/*
 * agentvm.root=DEVICE [agentvm.rootfstype=TYPE] [agentvm.overlay=1] on the
 * kernel command line: serve from a disk's filesystem instead of the
 * initramfs the agent booted in; with agentvm.overlay=1, from an overlay of
 * the disk mounted read-only and a tmpfs taking the writes.
 */
#ifndef AGENTVM_GUEST_ROOT_H
#define AGENTVM_GUEST_ROOT_H

/*
 * Without agentvm.root= on /proc/cmdline, nothing: 0. With it, mount the
 * device read-write (read-only if it refuses writes; under the overlay
 * always read-only) as TYPE (default ext4),
 * move /dev, /proc, /sys and /tmp into it, and make it the root and working
 * directory. 0, or -errno after logging the step that failed.
 */
int root_switch(void);

#endif
