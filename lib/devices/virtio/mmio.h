/*
 * The virtio-mmio transport, version 2 (virtio 1.2, section 4.2.2): the
 * register file a guest driver sees, feature negotiation, the device status
 * state machine, queue setup and reset. Devices (blk, vsock, ...) plug in
 * through struct virtio_device_ops and never see a register.
 *
 * Threads: registers are accessed on vCPU threads under `lock`, and so are
 * the VMM's pause, resume, save and restore; a device's own I/O thread only
 * touches its queues (between activate and reset or pause) and calls
 * virtio_mmio_interrupt()/virtio_mmio_fail(), which are thread-safe.
 */
#ifndef AGENTVM_DEVICES_VIRTIO_MMIO_H
#define AGENTVM_DEVICES_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/virtio/queue.h"
#include "kvm/memory.h"

#define VIRTIO_MMIO_SPAN 0x1000
#define VIRTIO_MMIO_MAX_QUEUES 4

struct virtio_mmio;

struct virtio_device_ops {
	uint32_t device_id;
	uint16_t num_queues;
	uint16_t queue_max_size;
	/* Feature bits the device offers, besides the transport's own (VERSION_1, ring features). */
	uint64_t (*features)(void *dev);
	/* Device config space accesses; offset and len already checked against config_size. */
	uint32_t config_size;
	void (*config_read)(void *dev, uint32_t offset, uint8_t *data, uint32_t len);
	/* Driver set DRIVER_OK: queues are active; start serving them. 0 or -errno (device fails). */
	int (*activate)(void *dev, struct virtio_mmio *transport);
	/* Stop serving queues and return only when no device thread touches them any more. */
	void (*reset)(void *dev);
	/*
	 * Like reset, but forget nothing (connections stay): for a VM snapshot. The
	 * transport's queue state must be what the driver sees once this returns,
	 * so a chain the device popped and holds unused is given back (virtq_unpop).
	 */
	void (*pause)(void *dev);
	/* Undo pause: serve the queues again, buffers added meanwhile included. 0 or -errno. */
	int (*resume)(void *dev);
};

/* How the transport raises its interrupt: irqfd on KVM, a recorder in unit tests. */
struct virtio_interrupt {
	void (*raise)(void *ctx);
	void *ctx;
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const struct virtio_device_ops *ops;
	void *dev;
	const struct guest_memory *mem;
	struct virtio_interrupt interrupt;
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES]; /* eventfds the guest's QueueNotify signals */

	/* Register state (virtio 1.2, 4.2.2): a plain struct so snapshots can save it. */
	uint32_t status;
	atomic_bool needs_reset; /* set by device threads, which must never wait for `lock` */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t config_generation;
	atomic_uint interrupt_status;
	struct virtq_layout pending[VIRTIO_MMIO_MAX_QUEUES]; /* what the driver wrote */
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
	bool paused; /* virtio_mmio_pause() stopped the running device */
};

/* One queue in struct virtio_mmio_state. */
struct virtio_mmio_queue_state {
	/* What the driver wrote to QueueDesc/QueueAvail/QueueUsed and QueueNum. */
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	uint16_t size;
	/* The live queue (struct virtq): all zero unless the queue is ready and DRIVER_OK is set. */
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used;
	uint8_t ready; /* QueueReady: 0 or 1 */
	uint8_t signalled_valid;
	uint8_t reserved[6];
};

/*
 * The driver-visible state of a transport and its queues: a plain struct,
 * fixed-width fields, saved byte for byte in snapshots (every padding byte is
 * an explicit reserved field and zero: snapshots are checksummed and
 * compared). Queues from the device's num_queues on are all zero.
 */
struct virtio_mmio_state {
	uint32_t device_id; /* whose state this is: restoring it into another kind of device fails */
	uint32_t status;    /* the driver's bits; DEVICE_NEEDS_RESET is needs_reset */
	uint64_t driver_features;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t config_generation;
	uint32_t interrupt_status;
	uint8_t needs_reset; /* 0 or 1 */
	uint8_t reserved[3];
	struct virtio_mmio_queue_state queues[VIRTIO_MMIO_MAX_QUEUES];
};

/*
 * Set up a transport for a device; creates one notify eventfd per queue.
 * The caller wires them to KVM ioeventfds (virtio_mmio_notify_fd()).
 */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_device_ops *ops, void *dev,
		     const struct guest_memory *mem, const struct virtio_interrupt *interrupt);
void virtio_mmio_destroy(struct virtio_mmio *t);

/* Offered features including the transport's; negotiated features once FEATURES_OK. */
uint64_t virtio_mmio_offered_features(const struct virtio_mmio *t);
bool virtio_mmio_negotiated(const struct virtio_mmio *t, unsigned int feature_bit);

/* Tell the driver a queue has used buffers. Thread-safe. */
void virtio_mmio_interrupt(struct virtio_mmio *t);

/*
 * The device met something it cannot go on from (a malformed queue): set
 * DEVICE_NEEDS_RESET and raise a config-change interrupt (virtio 1.2, 2.1.2).
 * Thread-safe; the device stops serving until the driver resets it.
 */
void virtio_mmio_fail(struct virtio_mmio *t);

/*
 * The device's config space changed (a restored clone gets its own vsock
 * CID): bump ConfigGeneration so a driver reading a field in several accesses
 * reads it again (virtio 1.2, 2.5.1 and 4.2.2). Takes `lock`: not for device threads.
 */
void virtio_mmio_config_changed(struct virtio_mmio *t);

/*
 * Stop the device's own I/O (its thread) without forgetting anything; returns
 * once no device thread touches guest memory or the queues. vCPUs are already
 * stopped. No-op if the device is not active (DRIVER_OK) or already paused.
 */
void virtio_mmio_pause(struct virtio_mmio *t);

/*
 * Undo virtio_mmio_pause(): the device serves its queues again (and notices
 * buffers the guest added meanwhile). No-op if not paused, and a device that
 * failed (DEVICE_NEEDS_RESET) stays stopped. 0 or -errno; on error the device
 * is failed (DEVICE_NEEDS_RESET), so a guest that goes on resets it.
 */
int virtio_mmio_resume(struct virtio_mmio *t);

/* Fill *out. The device must be paused, or not active: no device thread may run. */
void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *out);

/*
 * On a transport fresh from virtio_mmio_init() (status 0, no device thread):
 * check `in` as hostile and adopt it; if it says DRIVER_OK and not
 * needs-reset, activate the device, whose thread starts serving at once.
 * -EINVAL naming the bad field (the transport is left as it was), -EBUSY if
 * the transport is in use, or the device's activation error (the transport
 * is then reset).
 */
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *in);

extern const struct bus_device_ops virtio_mmio_ops;

#endif
