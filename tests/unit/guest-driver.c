#include "guest-driver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#define PAGE 0x1000ULL

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Lay out a queue of `size` from desc_gpa, below GUEST_DATA_GPA. */
static void lay_out(struct guest_driver *d, uint16_t size, uint64_t desc_gpa)
{
	uint64_t avail_gpa = desc_gpa + 16ULL * size;

	d->layout = (struct virtq_layout){
		.size = size,
		.desc_gpa = desc_gpa,
		.avail_gpa = avail_gpa,
		.used_gpa = align_up(avail_gpa + 6 + 2ULL * size, PAGE),
	};
	assert_true(d->layout.used_gpa + 6 + 8ULL * size <= GUEST_DATA_GPA);
	d->desc = guest_host(d, d->layout.desc_gpa);
	d->avail = guest_host(d, d->layout.avail_gpa);
	d->used = guest_host(d, d->layout.used_gpa);
	d->next_data = GUEST_DATA_GPA;
}

void guest_driver_init(struct guest_driver *d, uint16_t size)
{
	const struct memory_region ram = { .gpa = 0, .size = GUEST_RAM_SIZE };

	memset(d, 0, sizeof(*d));
	assert_int_equal(guest_memory_create(&d->mem, &ram, 1), 0);
	lay_out(d, size, GUEST_DESC_GPA);
}

void guest_driver_init_queue(struct guest_driver *d, const struct guest_driver *owner,
			     uint16_t size, uint64_t desc_gpa)
{
	memset(d, 0, sizeof(*d));
	d->mem = owner->mem; /* a view: only the owner is destroyed */
	lay_out(d, size, desc_gpa);
}

void guest_driver_destroy(struct guest_driver *d)
{
	guest_memory_destroy(&d->mem);
}

void guest_reset_rings(struct guest_driver *d)
{
	memset(d->desc, 0, 16ULL * d->layout.size);
	memset(d->avail, 0, 6 + 2ULL * d->layout.size);
	memset(d->used, 0, 6 + 8ULL * d->layout.size);
	d->avail_idx = 0;
	d->next_desc = 0;
}

void *guest_host(const struct guest_driver *d, uint64_t gpa)
{
	void *p = guest_memory_ptr(&d->mem, gpa, 0);

	assert_non_null(p);
	return p;
}

uint64_t guest_alloc(struct guest_driver *d, uint32_t len)
{
	uint64_t gpa = d->next_data;

	d->next_data = align_up(gpa + len, 16);
	assert_true(d->next_data <= GUEST_RAM_SIZE);
	memset(guest_host(d, gpa), 0, len);
	return gpa;
}

void guest_set_desc(struct guest_driver *d, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	d->desc[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

void guest_publish(struct guest_driver *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->layout.size] = head;
	d->avail_idx++;
	/* The ring entry must be visible to the device before the index that offers it. */
	atomic_store_explicit((_Atomic uint16_t *)&d->avail->idx, d->avail_idx, memory_order_release);
}

uint16_t guest_add_chain(struct guest_driver *d, const struct guest_buf *bufs, unsigned int n)
{
	uint16_t head = d->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t cur = d->next_desc;
		uint16_t next = (uint16_t)((cur + 1) % d->layout.size);
		uint16_t flags = (bufs[i].writable ? VRING_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VRING_DESC_F_NEXT : 0);

		guest_set_desc(d, cur, bufs[i].gpa, bufs[i].len, flags, next);
		d->next_desc = next;
	}
	guest_publish(d, head);
	return head;
}

uint16_t guest_used_idx(const struct guest_driver *d)
{
	return atomic_load_explicit((_Atomic uint16_t *)&d->used->idx, memory_order_acquire);
}

uint32_t mmio_read32(struct virtio_mmio *t, uint64_t offset)
{
	uint32_t value;

	virtio_mmio_ops.read(t, offset, (uint8_t *)&value, 4);
	return value;
}

void mmio_write32(struct virtio_mmio *t, uint64_t offset, uint32_t value)
{
	virtio_mmio_ops.write(t, offset, (const uint8_t *)&value, 4);
}

uint64_t guest_device_features(struct virtio_mmio *t)
{
	uint64_t low, high;

	mmio_write32(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	low = mmio_read32(t, VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_write32(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	high = mmio_read32(t, VIRTIO_MMIO_DEVICE_FEATURES);
	return high << 32 | low;
}

uint32_t guest_negotiate(struct virtio_mmio *t, uint64_t features)
{
	uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE;

	mmio_write32(t, VIRTIO_MMIO_STATUS, status);
	status |= VIRTIO_CONFIG_S_DRIVER;
	mmio_write32(t, VIRTIO_MMIO_STATUS, status);
	mmio_write32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write32(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	mmio_write32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_write32(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	mmio_write32(t, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_FEATURES_OK);
	return mmio_read32(t, VIRTIO_MMIO_STATUS);
}

void guest_setup_queue(struct guest_driver *d, struct virtio_mmio *t, uint32_t index)
{
	mmio_write32(t, VIRTIO_MMIO_QUEUE_SEL, index);
	mmio_write32(t, VIRTIO_MMIO_QUEUE_NUM, d->layout.size);
	mmio_write32(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->layout.desc_gpa);
	mmio_write32(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->layout.desc_gpa >> 32));
	mmio_write32(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)d->layout.avail_gpa);
	mmio_write32(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(d->layout.avail_gpa >> 32));
	mmio_write32(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)d->layout.used_gpa);
	mmio_write32(t, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(d->layout.used_gpa >> 32));
	mmio_write32(t, VIRTIO_MMIO_QUEUE_READY, 1);
}

uint8_t *chain_add(struct virtq_chain *chain, uint8_t *bytes, size_t cap, size_t *used,
		   uint32_t len, bool device_writes)
{
	uint8_t *host = bytes + *used;

	assert_true(*used + len <= cap && chain->count < VIRTQ_MAX_CHAIN);
	*used += len;
	chain->buffers[chain->count++] = (struct virtq_buffer){
		.host = host, .len = len, .device_writes = device_writes,
	};
	if (!device_writes)
		chain->readable = chain->count;
	return host;
}
