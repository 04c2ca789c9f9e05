#include "devices/virtio/queue.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdatomic.h>
#include <string.h>

#include "util/error.h"

static bool is_power_of_two(uint32_t x)
{
	return x && !(x & (x - 1));
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

int virtq_activate(struct virtq *q, const struct guest_memory *mem,
		   const struct virtq_layout *layout, bool indirect, bool event_idx)
{
	const uint64_t n = layout->size;
	/* Sizes from virtio 1.2, 2.7: the event fields sit after each ring. */
	const uint64_t desc_bytes = 16 * n;
	const uint64_t avail_bytes = 6 + 2 * n;
	const uint64_t used_bytes = 6 + 8 * n;

	if (!is_power_of_two(layout->size) || layout->size > VIRTQ_MAX_SIZE)
		return error_set(-EINVAL, "queue size %u is not a power of two up to %d",
				 layout->size, VIRTQ_MAX_SIZE);
	/* Alignment from virtio 1.2, 2.7 table: 16, 2 and 4 bytes. */
	if ((layout->desc_gpa & 15) || (layout->avail_gpa & 1) || (layout->used_gpa & 3))
		return error_set(-EINVAL, "queue rings are misaligned");
	struct vring_desc *desc = guest_memory_ptr(mem, layout->desc_gpa, desc_bytes);
	struct vring_avail *avail = guest_memory_ptr(mem, layout->avail_gpa, avail_bytes);
	struct vring_used *used = guest_memory_ptr(mem, layout->used_gpa, used_bytes);

	/* Nothing of the queue changes unless the whole layout is good. */
	if (!desc || !avail || !used)
		return error_set(-EINVAL, "queue rings lie outside guest memory");
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->layout = *layout;
	q->mem = mem;
	q->indirect = indirect;
	q->event_idx = event_idx;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_valid = false;
	q->ready = true;
	return 0;
}

static uint16_t load_u16(const uint16_t *p)
{
	return atomic_load_explicit((_Atomic const uint16_t *)p, memory_order_acquire);
}

static void store_u16(uint16_t *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)p, v, memory_order_release);
}

/* Read descriptor `i` of `table` (which has `entries` entries) once, into a local copy. */
static int read_desc(const struct vring_desc *table, uint32_t entries, uint32_t i,
		     struct vring_desc *out)
{
	if (i >= entries)
		return error_set(-EINVAL, "descriptor index %u is past the table of %u", i, entries);
	memcpy(out, &table[i], sizeof(*out));
	return 0;
}

static int add_buffer(struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
	bool device_writes = d->flags & VRING_DESC_F_WRITE;
	uint8_t *host;

	if (c->count == VIRTQ_MAX_CHAIN)
		return error_set(-EINVAL, "descriptor chain is longer than %d buffers", VIRTQ_MAX_CHAIN);
	/* Device-writable buffers come after all readable ones (virtio 1.2, 2.7.4.2). */
	if (!device_writes && c->count > c->readable)
		return error_set(-EINVAL, "a driver-written buffer follows a device-written one");
	host = guest_memory_ptr(q->mem, d->addr, d->len);
	if (!host)
		return error_set(-EINVAL, "buffer 0x%llx+%u lies outside guest memory",
				 (unsigned long long)d->addr, d->len);
	c->buffers[c->count++] = (struct virtq_buffer){
		.host = host, .len = d->len, .device_writes = device_writes,
	};
	if (!device_writes)
		c->readable = c->count;
	return 0;
}

/* Walk an indirect table (virtio 1.2, 2.7.5.3): no nesting, bounded by its own length. */
static int walk_indirect(struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
	const struct vring_desc *table;
	uint32_t entries, i = 0, steps = 0;
	struct vring_desc cur;
	int err;

	if (!q->indirect)
		return error_set(-EINVAL, "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
	if (d->flags & VRING_DESC_F_NEXT)
		return error_set(-EINVAL, "indirect descriptor also has NEXT set");
	if (d->len == 0 || d->len % sizeof(struct vring_desc))
		return error_set(-EINVAL, "indirect table length %u is not a multiple of 16", d->len);
	entries = d->len / sizeof(struct vring_desc);
	table = guest_memory_ptr(q->mem, d->addr, d->len);
	if (!table)
		return error_set(-EINVAL, "indirect table lies outside guest memory");
	for (;;) {
		err = read_desc(table, entries, i, &cur);
		if (err)
			return err;
		if (cur.flags & VRING_DESC_F_INDIRECT)
			return error_set(-EINVAL, "indirect table holds an indirect descriptor");
		err = add_buffer(q, c, &cur);
		if (err)
			return err;
		if (!(cur.flags & VRING_DESC_F_NEXT))
			return 0;
		/* A chain can visit each entry at most once; more means a loop. */
		if (++steps >= entries)
			return error_set(-EINVAL, "indirect descriptor chain loops");
		i = cur.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *out)
{
	uint16_t avail_idx, head, pending;
	uint32_t i, steps = 0;
	struct vring_desc d;
	int err;

	if (!q->ready)
		return 0;
	avail_idx = load_u16(&q->avail->idx);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->layout.size)
		return error_set(-EINVAL, "available index jumped by %u in a queue of %u", pending,
				 q->layout.size);
	head = load_u16(&q->avail->ring[q->last_avail % q->layout.size]);
	out->head = head;
	out->count = 0;
	out->readable = 0;
	for (i = head;; i = d.next) {
		err = read_desc(q->desc, q->layout.size, i, &d);
		if (err)
			return err;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			err = walk_indirect(q, out, &d);
			if (err)
				return err;
			break;
		}
		err = add_buffer(q, out, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (++steps >= q->layout.size)
			return error_set(-EINVAL, "descriptor chain from head %u loops", head);
	}
	q->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *q)
{
	/*
	 * Popping only read the ring and advanced last_avail; nothing was written to
	 * guest memory. The chain is not in the used ring, so the driver still counts
	 * its available-ring entry as the device's and the next pop reads it again,
	 * checking it afresh in case the driver changed it meanwhile.
	 */
	q->last_avail--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	struct vring_used_elem *elem = &q->used->ring[q->used_idx % q->layout.size];

	elem->id = head;
	elem->len = written;
	q->used_idx++;
	/* The element must be visible before the index that publishes it. */
	store_u16(&q->used->idx, q->used_idx);
}

bool virtq_needs_interrupt(struct virtq *q)
{
	uint16_t old, event;
	bool needed;

	/* Order our used->idx store before reading the driver's suppression state. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!q->event_idx)
		return !(load_u16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	old = q->signalled_used;
	event = load_u16(&q->avail->ring[q->layout.size]); /* used_event */
	needed = !q->signalled_valid || vring_need_event(event, q->used_idx, old);
	q->signalled_used = q->used_idx;
	q->signalled_valid = true;
	return needed;
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->ready)
		return false;
	if (q->event_idx)
		store_u16((uint16_t *)&q->used->ring[q->layout.size], q->last_avail); /* avail_event */
	/* Publish avail_event before looking at avail->idx again, or a notification can be lost. */
	atomic_thread_fence(memory_order_seq_cst);
	return load_u16(&q->avail->idx) != q->last_avail;
}

uint16_t virtq_avail_idx(const struct virtq *q)
{
	return load_u16(&q->avail->idx);
}

bool virtq_notify_past(struct virtq *q, uint16_t idx)
{
	if (!q->ready)
		return false;
	if (q->event_idx)
		store_u16((uint16_t *)&q->used->ring[q->layout.size], idx); /* avail_event */
	atomic_thread_fence(memory_order_seq_cst);
	return load_u16(&q->avail->idx) != idx;
}
