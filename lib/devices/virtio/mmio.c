#define _GNU_SOURCE
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/error.h"

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION_MODERN 2
#define VIRTIO_VENDOR_ID 0x4d564741 /* "AGVM" */

/* What every device gets from the transport and the shared virtqueue code. */
#define TRANSPORT_FEATURES                                                                   \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |              \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_device_ops *ops, void *dev,
		     const struct guest_memory *mem, const struct virtio_interrupt *interrupt)
{
	memset(t, 0, sizeof(*t));
	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES)
		return error_set(-EINVAL, "virtio device with %u queues", ops->num_queues);
	pthread_mutex_init(&t->lock, NULL);
	t->ops = ops;
	t->dev = dev;
	t->mem = mem;
	t->interrupt = *interrupt;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->notify_fd[i] = -1;
	for (unsigned int i = 0; i < ops->num_queues; i++) {
		t->notify_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->notify_fd[i] < 0) {
			int err = error_set_errno(-errno, "cannot create a queue notify eventfd");

			virtio_mmio_destroy(t);
			return err;
		}
	}
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t->ops)
		return; /* never initialized */
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		t->ops->reset(t->dev);
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		if (t->notify_fd[i] >= 0)
			close(t->notify_fd[i]);
	pthread_mutex_destroy(&t->lock);
	t->ops = NULL;
}

uint64_t virtio_mmio_offered_features(const struct virtio_mmio *t)
{
	return t->ops->features(t->dev) | TRANSPORT_FEATURES;
}

bool virtio_mmio_negotiated(const struct virtio_mmio *t, unsigned int feature_bit)
{
	return feature_bit < 64 && (t->driver_features >> feature_bit) & 1;
}

void virtio_mmio_interrupt(struct virtio_mmio *t)
{
	atomic_fetch_or(&t->interrupt_status, VIRTIO_MMIO_INT_VRING);
	t->interrupt.raise(t->interrupt.ctx);
}

void virtio_mmio_fail(struct virtio_mmio *t)
{
	/* No lock: a vCPU may hold it while waiting in ops->reset for this very thread. */
	atomic_store(&t->needs_reset, true);
	atomic_fetch_or(&t->interrupt_status, VIRTIO_MMIO_INT_CONFIG);
	t->interrupt.raise(t->interrupt.ctx);
}

/* Device reset (virtio 1.2, 2.4): the device stops first, then every register returns to its initial value. */
static void device_reset(struct virtio_mmio *t)
{
	uint64_t drained;

	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		t->ops->reset(t->dev);
	t->status = 0;
	atomic_store(&t->needs_reset, false);
	t->device_features_sel = 0;
	t->driver_features_sel = 0;
	t->driver_features = 0;
	t->queue_sel = 0;
	atomic_store(&t->interrupt_status, 0);
	memset(t->pending, 0, sizeof(t->pending));
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		virtq_reset(&t->queues[i]);
		if (t->notify_fd[i] >= 0 && read(t->notify_fd[i], &drained, sizeof(drained)) < 0)
			drained = 0; /* nothing pending: fine */
	}
}

static struct virtq_layout *selected_layout(struct virtio_mmio *t)
{
	return t->queue_sel < t->ops->num_queues ? &t->pending[t->queue_sel] : NULL;
}

static int activate_queues(struct virtio_mmio *t)
{
	bool indirect = virtio_mmio_negotiated(t, VIRTIO_RING_F_INDIRECT_DESC);
	bool event_idx = virtio_mmio_negotiated(t, VIRTIO_RING_F_EVENT_IDX);

	for (unsigned int i = 0; i < t->ops->num_queues; i++) {
		/* A queue the driver left unready stays unused; that is allowed. */
		if (!t->queues[i].ready)
			continue;
		if (virtq_activate(&t->queues[i], t->mem, &t->pending[i], indirect, event_idx))
			return -EINVAL;
	}
	return 0;
}

static void write_status(struct virtio_mmio *t, uint32_t value)
{
	uint32_t old = t->status;

	if (value == 0) {
		device_reset(t);
		return;
	}
	/* The driver may only add bits (virtio 1.2, 2.1.1); anything else is ignored. */
	if ((value & old) != old)
		return;
	if ((value & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		/* Refuse features we never offered, and legacy drivers (no VERSION_1). */
		if ((t->driver_features & ~virtio_mmio_offered_features(t)) ||
		    !virtio_mmio_negotiated(t, VIRTIO_F_VERSION_1))
			value &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if ((value & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		if (!(value & VIRTIO_CONFIG_S_FEATURES_OK) || activate_queues(t) ||
		    t->ops->activate(t->dev, t)) {
			value = (value & ~VIRTIO_CONFIG_S_DRIVER_OK) | VIRTIO_CONFIG_S_FAILED;
		}
	}
	t->status = value;
}

static uint32_t read_register(struct virtio_mmio *t, uint32_t offset)
{
	struct virtq_layout *q = selected_layout(t);
	uint64_t features;

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_MODERN;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		features = virtio_mmio_offered_features(t);
		if (t->device_features_sel > 1)
			return 0;
		return (uint32_t)(features >> (32 * t->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? t->ops->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? t->queues[t->queue_sel].ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&t->interrupt_status);
	case VIRTIO_MMIO_STATUS:
		return t->status | (atomic_load(&t->needs_reset) ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_generation;
	default:
		return 0; /* write-only or reserved registers read as zero */
	}
}

static void set_low(uint64_t *field, uint32_t value)
{
	*field = (*field & 0xffffffff00000000ULL) | value;
}

static void set_high(uint64_t *field, uint32_t value)
{
	*field = (*field & 0xffffffffULL) | ((uint64_t)value << 32);
}

static void write_register(struct virtio_mmio *t, uint32_t offset, uint32_t value)
{
	struct virtq_layout *q = selected_layout(t);
	/* Queue layout may change only while the queue is not ready (virtio 1.2, 4.2.2.3). */
	bool queue_writable = q && !t->queues[t->queue_sel].ready &&
			      !(t->status & VIRTIO_CONFIG_S_DRIVER_OK);
	uint64_t drained;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = value;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Features are fixed once FEATURES_OK is set. */
		if (t->status & VIRTIO_CONFIG_S_FEATURES_OK)
			break;
		if (t->driver_features_sel == 0)
			set_low(&t->driver_features, value);
		else if (t->driver_features_sel == 1)
			set_high(&t->driver_features, value);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (queue_writable)
			q->size = value <= t->ops->queue_max_size ? (uint16_t)value : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!q)
			break;
		if (value == 0) {
			if (!(t->status & VIRTIO_CONFIG_S_DRIVER_OK))
				virtq_reset(&t->queues[t->queue_sel]);
		} else if (queue_writable) {
			/* Marks intent; the rings are checked when the driver sets DRIVER_OK. */
			t->queues[t->queue_sel].ready = q->size != 0;
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Reached only without a KVM ioeventfd for this address. */
		if (value < t->ops->num_queues) {
			drained = 1;
			if (write(t->notify_fd[value], &drained, sizeof(drained)) < 0)
				break; /* the counter is saturated: a wake-up is pending anyway */
		}
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&t->interrupt_status, ~value);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, value);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		if (queue_writable)
			set_low(&q->desc_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (queue_writable)
			set_high(&q->desc_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		if (queue_writable)
			set_low(&q->avail_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (queue_writable)
			set_high(&q->avail_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		if (queue_writable)
			set_low(&q->used_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (queue_writable)
			set_high(&q->used_gpa, value);
		break;
	default:
		break; /* read-only or reserved: ignored */
	}
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t value;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t at = offset - VIRTIO_MMIO_CONFIG;

		if (at < t->ops->config_size && len <= t->ops->config_size - at)
			t->ops->config_read(t->dev, (uint32_t)at, data, len);
	} else if (len == 4 && !(offset & 3)) {
		/* Registers are 32-bit and must be accessed so (virtio 1.2, 4.2.2.2). */
		value = read_register(t, (uint32_t)offset);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t value;

	/* Config space of our devices is read-only; other widths are ignored. */
	if (offset >= VIRTIO_MMIO_CONFIG || len != 4 || (offset & 3))
		return;
	memcpy(&value, data, 4);
	pthread_mutex_lock(&t->lock);
	write_register(t, (uint32_t)offset, value);
	pthread_mutex_unlock(&t->lock);
}

const struct bus_device_ops virtio_mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};
