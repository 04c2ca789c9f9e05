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

/* Status bits a driver may set (virtio 1.2, 2.1); DEVICE_NEEDS_RESET is the device's. */
#define DRIVER_STATUS_BITS                                                                   \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK |  \
	 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_FAILED)
#define INTERRUPT_BITS (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)

/* Snapshots hold the state byte for byte: these sizes prove the compiler added no padding. */
_Static_assert(sizeof(struct virtio_mmio_queue_state) == 40, "implicit padding in queue state");
_Static_assert(sizeof(struct virtio_mmio_state) == 40 + 40 * VIRTIO_MMIO_MAX_QUEUES,
	       "implicit padding in transport state");

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
	t->paused = false;
	atomic_store(&t->interrupt_status, 0);
	memset(t->pending, 0, sizeof(t->pending));
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		virtq_reset(&t->queues[i]);
		if (t->notify_fd[i] >= 0 && read(t->notify_fd[i], &drained, sizeof(drained)) < 0)
			drained = 0; /* nothing pending: fine */
	}
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	t->config_generation++;
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_pause(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	if ((t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !t->paused) {
		t->ops->pause(t->dev);
		t->paused = true;
	}
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio_resume(struct virtio_mmio *t)
{
	int err = 0;

	pthread_mutex_lock(&t->lock);
	if (t->paused) {
		t->paused = false;
		/* A device that failed stopped serving on its own; it waits for the driver's reset. */
		if (!atomic_load(&t->needs_reset))
			err = t->ops->resume(t->dev);
	}
	pthread_mutex_unlock(&t->lock);
	if (err)
		virtio_mmio_fail(t); /* registers say DRIVER_OK, but nothing serves the queues */
	return err;
}

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *out)
{
	memset(out, 0, sizeof(*out)); /* padding and the queues the device does not have */
	pthread_mutex_lock(&t->lock);
	out->device_id = t->ops->device_id;
	out->status = t->status;
	out->driver_features = t->driver_features;
	out->device_features_sel = t->device_features_sel;
	out->driver_features_sel = t->driver_features_sel;
	out->queue_sel = t->queue_sel;
	out->config_generation = t->config_generation;
	out->interrupt_status = atomic_load(&t->interrupt_status);
	out->needs_reset = atomic_load(&t->needs_reset);
	for (unsigned int i = 0; i < t->ops->num_queues; i++) {
		const struct virtq_layout *l = &t->pending[i];
		const struct virtq *q = &t->queues[i];

		out->queues[i] = (struct virtio_mmio_queue_state){
			.desc_gpa = l->desc_gpa, .avail_gpa = l->avail_gpa, .used_gpa = l->used_gpa,
			.size = l->size, .last_avail = q->last_avail, .used_idx = q->used_idx,
			.signalled_used = q->signalled_used, .ready = q->ready,
			.signalled_valid = q->signalled_valid,
		};
	}
	pthread_mutex_unlock(&t->lock);
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* The registers of a saved state, each against what the transport could ever have held. */
static int check_registers(const struct virtio_mmio *t, const struct virtio_mmio_state *in)
{
	uint64_t offered = virtio_mmio_offered_features(t);

	if (in->device_id != t->ops->device_id)
		return error_set(-EINVAL, "virtio state is for device type %u, not %u",
				 in->device_id, t->ops->device_id);
	if (in->status & ~DRIVER_STATUS_BITS)
		return error_set(-EINVAL, "virtio state: status 0x%x has unknown bits", in->status);
	if ((in->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(in->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return error_set(-EINVAL, "virtio state: status has DRIVER_OK without FEATURES_OK");
	/* Before FEATURES_OK the features are only what the driver wrote; setting it checks them. */
	if ((in->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((in->driver_features & ~offered) || !(in->driver_features >> VIRTIO_F_VERSION_1 & 1)))
		return error_set(-EINVAL,
				 "virtio state: driver features 0x%llx are not VERSION_1 and a subset of the offered 0x%llx",
				 (unsigned long long)in->driver_features, (unsigned long long)offered);
	if (in->needs_reset > 1)
		return error_set(-EINVAL, "virtio state: needs_reset is %u, not 0 or 1", in->needs_reset);
	if (in->needs_reset && !(in->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return error_set(-EINVAL, "virtio state: needs_reset on a device never activated");
	if (in->interrupt_status & ~INTERRUPT_BITS)
		return error_set(-EINVAL, "virtio state: interrupt status 0x%x has unknown bits",
				 in->interrupt_status);
	if (in->device_features_sel > 1 || in->driver_features_sel > 1)
		return error_set(-EINVAL, "virtio state: feature selectors %u and %u are not 0 or 1",
				 in->device_features_sel, in->driver_features_sel);
	if (in->queue_sel >= t->ops->num_queues)
		return error_set(-EINVAL, "virtio state: queue_sel %u is past the device's %u queues",
				 in->queue_sel, t->ops->num_queues);
	if (!all_zero(in->reserved, sizeof(in->reserved)))
		return error_set(-EINVAL, "virtio state: reserved bytes are not zero");
	return 0;
}

/*
 * Check queue i of a saved state and build what the transport will hold for
 * it in *layout and *q; the transport itself is not touched. A queue that is
 * not live keeps its layout unchecked, as the registers do until DRIVER_OK.
 */
static int restore_queue(const struct virtio_mmio *t, const struct virtio_mmio_state *in,
			 unsigned int i, struct virtq_layout *layout, struct virtq *q)
{
	const struct virtio_mmio_queue_state *s = &in->queues[i];
	bool live = s->ready && (in->status & VIRTIO_CONFIG_S_DRIVER_OK);
	bool indirect = in->driver_features >> VIRTIO_RING_F_INDIRECT_DESC & 1;
	bool event_idx = in->driver_features >> VIRTIO_RING_F_EVENT_IDX & 1;

	*layout = (struct virtq_layout){
		.size = s->size, .desc_gpa = s->desc_gpa, .avail_gpa = s->avail_gpa,
		.used_gpa = s->used_gpa,
	};
	virtq_reset(q);
	if (i >= t->ops->num_queues)
		return all_zero(s, sizeof(*s)) ? 0 : error_set(-EINVAL,
			"virtio state: queue %u is past the device's %u queues but not zero", i,
			t->ops->num_queues);
	if (!all_zero(s->reserved, sizeof(s->reserved)))
		return error_set(-EINVAL, "virtio state: queue %u: reserved bytes are not zero", i);
	if (s->size > t->ops->queue_max_size)
		return error_set(-EINVAL, "virtio state: queue %u: size %u is above the device's %u",
				 i, s->size, t->ops->queue_max_size);
	if (s->ready > 1 || s->signalled_valid > 1)
		return error_set(-EINVAL, "virtio state: queue %u: ready %u or signalled_valid %u is not 0 or 1",
				 i, s->ready, s->signalled_valid);
	if (s->ready && s->size == 0)
		return error_set(-EINVAL, "virtio state: queue %u is ready with size 0", i);
	if (!live) {
		if (s->last_avail || s->used_idx || s->signalled_used || s->signalled_valid)
			return error_set(-EINVAL, "virtio state: queue %u has ring indices but is not live", i);
		q->ready = s->ready;
		return 0;
	}
	if (virtq_activate(q, t->mem, layout, indirect, event_idx))
		return error_prefix(-EINVAL, "virtio state: queue %u", i);
	/* Chains the device took and has not returned: never more than the ring holds. */
	if ((uint16_t)(s->last_avail - s->used_idx) > s->size)
		return error_set(-EINVAL, "virtio state: queue %u: indices %u and %u are more than its size %u apart",
				 i, s->last_avail, s->used_idx, s->size);
	q->last_avail = s->last_avail;
	q->used_idx = s->used_idx;
	q->signalled_used = s->signalled_used;
	q->signalled_valid = s->signalled_valid;
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *in)
{
	struct virtq_layout pending[VIRTIO_MMIO_MAX_QUEUES];
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
	bool start = (in->status & VIRTIO_CONFIG_S_DRIVER_OK) && !in->needs_reset;
	int err;

	pthread_mutex_lock(&t->lock);
	if (t->status) {
		pthread_mutex_unlock(&t->lock);
		return error_set(-EBUSY, "cannot restore virtio state into a device in use");
	}
	err = check_registers(t, in);
	for (unsigned int i = 0; !err && i < VIRTIO_MMIO_MAX_QUEUES; i++)
		err = restore_queue(t, in, i, &pending[i], &queues[i]);
	if (err) {
		pthread_mutex_unlock(&t->lock);
		return err;
	}
	t->driver_features = in->driver_features;
	t->device_features_sel = in->device_features_sel;
	t->driver_features_sel = in->driver_features_sel;
	t->queue_sel = in->queue_sel;
	atomic_store(&t->interrupt_status, in->interrupt_status);
	atomic_store(&t->needs_reset, in->needs_reset);
	memcpy(t->pending, pending, sizeof(pending));
	memcpy(t->queues, queues, sizeof(queues));
	/* Status last: while it is 0, device_reset() undoes the rest without stopping a device. */
	if (start)
		err = t->ops->activate(t->dev, t);
	if (err) {
		device_reset(t);
	} else {
		t->status = in->status;
		t->config_generation = in->config_generation;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
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
