/*
 * Saving a machine to a snapshot file and building a new machine from one
 * (doc/snapshot-format.md). The machine must be paused (machine_pause()) for
 * a save; a restored machine has its vCPUs loaded and is started as usual.
 */
#ifndef AGENTVM_VMM_SNAPSHOT_H
#define AGENTVM_VMM_SNAPSHOT_H

#include <stdbool.h>

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
 * made machine_snapshot_check().
 */
int machine_snapshot_save(struct machine *m, const char *path, bool compress);

/*
 * A new machine resuming where the snapshot at path stopped, not started.
 * From `cfg` it takes only the console, the vsock CID and, when cfg has any,
 * the disks (as many as the snapshot's, same flags, same sizes: the same
 * images, possibly moved); everything else comes from the snapshot. Every
 * check (format, checksum, architecture, CPU features, sizes) is made before
 * any vCPU could run.
 */
int machine_snapshot_restore(const char *path, const struct machine_config *cfg,
			     struct machine **out);

#endif
