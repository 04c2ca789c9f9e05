/*
 * A split virtqueue, device side (virtio 1.2, section 2.7), shared by every
 * virtio device. The driver (the guest) owns the descriptor table and the
 * available ring and may change them at any moment, so every index, address,
 * length and flag is read once into a local copy, checked, and only then
 * used. A malformed chain is reported, never followed: the caller marks the
 * device DEVICE_NEEDS_RESET, and nothing outside guest RAM is ever touched.
 */
#ifndef AGENTVM_DEVICES_VIRTIO_QUEUE_H
#define AGENTVM_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/memory.h"

/* The most buffers one chain may have, indirect tables included: Linux uses at most seg_max + 2. */
#define VIRTQ_MAX_CHAIN 256
/* Queue sizes are powers of two up to this (virtio 1.2, 2.7). */
#define VIRTQ_MAX_SIZE 32768

struct vring_desc;
struct vring_avail;
struct vring_used;

/* Where the driver put the queue, as written to the transport's registers. */
struct virtq_layout {
	uint16_t size;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
};

struct virtq {
	struct virtq_layout layout;
	bool ready;
	bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	uint16_t last_avail; /* next available-ring entry we consume */
	uint16_t used_idx;   /* next used-ring entry we fill */
	uint16_t signalled_used; /* used_idx when we last interrupted the driver */
	bool signalled_valid;
	const struct guest_memory *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

struct virtq_buffer {
	uint8_t *host; /* inside guest RAM, valid for `len` bytes */
	uint32_t len;
	bool device_writes;
};

struct virtq_chain {
	uint16_t head;
	unsigned int count;
	unsigned int readable; /* buffers [0, readable) are driver-written, the rest device-written */
	struct virtq_buffer buffers[VIRTQ_MAX_CHAIN];
};

/* Check the layout against guest memory and the spec, and start using it. -EINVAL says why. */
int virtq_activate(struct virtq *q, const struct guest_memory *mem,
		   const struct virtq_layout *layout, bool indirect, bool event_idx);

/* Forget everything (device reset). */
void virtq_reset(struct virtq *q);

/*
 * Take the next available chain. 1 and *out filled; 0 if none is available;
 * -EINVAL for a malformed chain or ring (the device must then stop using the
 * queue; error_get() says what was wrong).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *out);

/*
 * Give back the chain virtq_pop() returned last, unused and not pushed: the
 * next pop takes it again (a device pausing with a chain it holds for later).
 */
void virtq_unpop(struct virtq *q);

/* Return a chain to the driver, saying how many bytes the device wrote into it. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * one (VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). Call after
 * pushing a batch; true means "interrupt now".
 */
bool virtq_needs_interrupt(struct virtq *q);

/*
 * Before sleeping on an empty queue: ask the driver to notify us about new
 * buffers (avail_event with EVENT_IDX) and re-check. Returns true if buffers
 * arrived meanwhile, so the caller must not sleep.
 */
bool virtq_enable_notify(struct virtq *q);

/* The driver's available index as it is now (the queue must be active). */
uint16_t virtq_avail_idx(const struct virtq *q);

/*
 * Ask the driver to notify us once its available index moves past `idx`
 * (whatever we consumed meanwhile), and re-check: true if it already has.
 * For a device waiting on the driver's next buffer, not on any buffer.
 */
bool virtq_notify_past(struct virtq *q, uint16_t idx);

#endif
