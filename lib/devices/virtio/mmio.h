/*
 * The virtio-mmio transport, version 2 (virtio 1.2, section 4.2.2): the
 * register file a guest driver sees, feature negotiation, the device status
 * state machine, queue setup and reset. Devices (blk, vsock, ...) plug in
 * through struct virtio_device_ops and never see a register.
 *
 * Threads: registers are accessed on vCPU threads under `lock`; a device's
 * own I/O thread only touches its queues (between activate and reset) and
 * calls virtio_mmio_interrupt()/virtio_mmio_fail(), which are thread-safe.
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

extern const struct bus_device_ops virtio_mmio_ops;

#endif
