/*
 * The guest's half of a split virtqueue, for unit tests: guest RAM, rings laid
 * out in it, descriptor chains and the transport registers a driver writes.
 * Tests play the driver with this (including a misbehaving one, by writing
 * descriptors by hand) and check the device side under test.
 */
#ifndef AGENTVM_TESTS_GUEST_DRIVER_H
#define AGENTVM_TESTS_GUEST_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "devices/virtio/mmio.h"
#include "kvm/memory.h"

#define GUEST_RAM_SIZE (2u << 20)
#define GUEST_DESC_GPA 0x1000
#define GUEST_DATA_GPA 0x100000 /* buffers go above the rings, in the second MiB */

struct guest_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable; /* device-written */
};

struct guest_driver {
	struct guest_memory mem;
	struct virtq_layout layout;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx; /* our copy of avail->idx */
	uint16_t next_desc; /* descriptors are handed out round-robin */
	uint64_t next_data; /* bump allocator over [GUEST_DATA_GPA, GUEST_RAM_SIZE) */
};

/* Guest RAM of GUEST_RAM_SIZE at gpa 0 with one queue of `size` laid out from GUEST_DESC_GPA. */
void guest_driver_init(struct guest_driver *d, uint16_t size);
void guest_driver_destroy(struct guest_driver *d);

/*
 * Another queue of a multi-queue device in owner's RAM, its rings from
 * desc_gpa (below GUEST_DATA_GPA, apart from the owner's). Allocate buffers
 * from the owner only; destroy only the owner.
 */
void guest_driver_init_queue(struct guest_driver *d, const struct guest_driver *owner,
			     uint16_t size, uint64_t desc_gpa);

/* Zero the rings and start over from entry 0, as a driver does after a device reset. */
void guest_reset_rings(struct guest_driver *d);

void *guest_host(const struct guest_driver *d, uint64_t gpa);

/* A zeroed, 16-byte aligned buffer in guest RAM; returns its gpa. */
uint64_t guest_alloc(struct guest_driver *d, uint32_t len);

void guest_set_desc(struct guest_driver *d, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next);

/* Offer descriptor `head` in the next available-ring slot and publish it. */
void guest_publish(struct guest_driver *d, uint16_t head);

/* Describe `bufs` as one NEXT-linked chain of fresh descriptors and publish it; returns the head. */
uint16_t guest_add_chain(struct guest_driver *d, const struct guest_buf *bufs, unsigned int n);

uint16_t guest_used_idx(const struct guest_driver *d);

uint32_t mmio_read32(struct virtio_mmio *t, uint64_t offset);
void mmio_write32(struct virtio_mmio *t, uint64_t offset, uint32_t value);

/* The device's features, read a word at a time through DeviceFeaturesSel. */
uint64_t guest_device_features(struct virtio_mmio *t);

/* ACKNOWLEDGE, DRIVER, the driver's features, FEATURES_OK; returns the status read back. */
uint32_t guest_negotiate(struct virtio_mmio *t, uint64_t features);

/* Point queue `index` at this driver's rings and mark it ready. */
void guest_setup_queue(struct guest_driver *d, struct virtio_mmio *t, uint32_t index);

/*
 * For parser tests that skip the rings: append a buffer of `len` bytes, taken
 * from bytes[*used..cap), to a chain as virtq_pop would hand it out (readable
 * buffers counted in chain->readable). Returns the buffer's bytes.
 */
uint8_t *chain_add(struct virtq_chain *chain, uint8_t *bytes, size_t cap, size_t *used,
		   uint32_t len, bool device_writes);

#endif
