/*
 * The pages a raw snapshot's clones write first, learned once and copied up
 * front by later restores (doc/snapshot-format.md, "Learned pages").
 *
 * A restored guest's memory is the snapshot file mapped copy-on-write, and
 * each page it touches first costs a nested page fault; a page it reads and
 * then writes costs two, the second with the copy made inside the fault. In
 * the test host a restore's SYNC and first command took ~1050 such faults,
 * 256 of them the second kind. Pages copied into the clone's private memory
 * before its vCPUs run are mapped writable at their first fault, with
 * nothing left to copy then.
 *
 * Which pages: the first restore of a snapshot that finds no valid record
 * beside it notes, once its first request is over (SYNC and one command),
 * which pages of its memory became private copies (/proc/self/pagemap), in
 * PATH.pages next to the snapshot at PATH. Later restores of the same file
 * (same device, inode, size and modification time) copy those pages before
 * the guest runs. Best effort throughout: without a record, in a directory
 * that cannot be written, or with a stale record, a restore simply does not
 * copy ahead; and a record can make a clone do nothing but copy pages of its
 * own snapshot early, at most SNAPSHOT_PAGES_MAX of them.
 */
#ifndef AGENTVM_VMM_SNAPSHOT_PAGES_H
#define AGENTVM_VMM_SNAPSHOT_PAGES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct guest_memory;

/* A record never lists more pages than this (64 MiB): a clone that wrote more is not typical. */
#define SNAPSHOT_PAGES_MAX 16384

/* Which snapshot file a record belongs to. */
struct snapshot_pages_id {
	uint64_t dev, ino, size, mtime_sec, mtime_nsec;
};

/* What a restore keeps for learning: where to write the record, and for which file. */
struct snapshot_pages_learner {
	char *record_path;   /* NULL: nothing to learn (a valid record was there, or no room) */
	struct snapshot_pages_id id;
};

/*
 * On a restore of the raw snapshot at path (open as fd), with mem mapped
 * and no vCPU run yet: copy the pages a valid record lists, or, when there
 * is none, arm *learner to write one. Never fails.
 */
void snapshot_pages_apply(struct guest_memory *mem, const char *path, int fd,
			  struct snapshot_pages_learner *learner);

/*
 * Once the restored guest's first request is over: write the record of the
 * pages it copied, if *learner is armed; disarms it. Never fails.
 */
void snapshot_pages_learn(const struct guest_memory *mem, struct snapshot_pages_learner *learner);

void snapshot_pages_learner_free(struct snapshot_pages_learner *learner);

#endif
