/*
 * Saving a machine to a snapshot file and building a new machine from one
 * (doc/snapshot-format.md). The machine must be paused (machine_pause()) for
 * a save; a restored machine has its vCPUs loaded and is started as usual.
 */
#ifndef AGENTVM_VMM_SNAPSHOT_H
#define AGENTVM_VMM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct machine_config;

/*
 * Whether the machine can be snapshotted at all, checked before pausing it:
 * 0, or -EBUSY for a writable disk, whose later writes a snapshot could not
 * keep apart from the saved memory.
 */
int machine_snapshot_check(const struct machine *m, const char *path);

/*
 * Write the paused machine's complete state and memory (zlib-compressed when
 * `compress`) to path: into a temporary file beside it, renamed over path
 * only once complete, so no reader ever sees half a snapshot. The caller has
 * made machine_snapshot_check(). standby_port, unless 0, is the host port
 * of a vsock connection to carry along if it can (virtio_vsock_save_kept()).
 */
int machine_snapshot_save(struct machine *m, const char *path, bool compress,
			  uint32_t standby_port);

/* The vsock connection a snapshot carried, as the restored machine's device has it again. */
struct snapshot_standby {
	int fd;             /* our end, the caller's to own; -1: none came */
	uint32_t host_port;
};

/*
 * A new machine resuming where the snapshot at path stopped, not started.
 * From `cfg` it takes only the console, the vsock CID and, when cfg has any,
 * the disks (as many as the snapshot's, same flags, same sizes: the same
 * images, possibly moved); everything else comes from the snapshot. Every
 * check (format, checksum, architecture, CPU features, sizes) is made before
 * any vCPU could run. *standby is the connection the snapshot carried, if
 * any and if it could be restored; otherwise the guest's transport is reset.
 */
int machine_snapshot_restore(const char *path, const struct machine_config *cfg,
			     struct machine **out, struct snapshot_standby *standby);

/*
 * A restored machine's first request is over: the first restore of a raw
 * snapshot notes which pages its guest wrote, for later restores to copy
 * ahead (vmm/snapshot_pages.h). A no-op after the first call and for other
 * machines; never fails. Any thread.
 */
void machine_snapshot_learn(struct machine *m);

#endif
