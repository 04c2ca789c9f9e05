/*
 * The split virtqueue, device side: popping, giving back and pushing chains,
 * refusing every malformed ring or chain a guest can write (loops, bad
 * indices, buffers outside RAM, bad indirect tables) without hanging, layout
 * checks, and the interrupt and notification suppression of EVENT_IDX.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/virtio/queue.h"
#include "guest-driver.h"
#include "util/error.h"

#define QSIZE 16

struct fixture {
	struct guest_driver d;
	struct virtq q;
	struct virtq_chain chain;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	guest_driver_init(&f->d, QSIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_driver_destroy(&f->d);
	free(f);
	return 0;
}

static void activate(struct fixture *f, bool indirect, bool event_idx)
{
	assert_int_equal(virtq_activate(&f->q, &f->d.mem, &f->d.layout, indirect, event_idx), 0);
}

/* Reset the device and have the driver start its rings over, for the next case. */
static void restart(struct fixture *f, bool indirect, bool event_idx)
{
	virtq_reset(&f->q);
	guest_reset_rings(&f->d);
	activate(f, indirect, event_idx);
}

/* Pop must refuse the ring, and say why in words containing `why`. */
static void assert_refused(struct fixture *f, const char *why)
{
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
	assert_non_null(strstr(error_get(), why));
}

static void pops_two_buffer_chain(void **state)
{
	struct fixture *f = *state;
	uint64_t in = guest_alloc(&f->d, 16), out = guest_alloc(&f->d, 512);
	const struct guest_buf bufs[] = { { in, 16, false }, { out, 512, true } };
	uint16_t head;

	activate(f, false, false);
	head = guest_add_chain(&f->d, bufs, 2);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.head, head);
	assert_int_equal(f->chain.count, 2);
	assert_int_equal(f->chain.readable, 1);
	assert_ptr_equal(f->chain.buffers[0].host, guest_host(&f->d, in));
	assert_int_equal(f->chain.buffers[0].len, 16);
	assert_false(f->chain.buffers[0].device_writes);
	assert_ptr_equal(f->chain.buffers[1].host, guest_host(&f->d, out));
	assert_int_equal(f->chain.buffers[1].len, 512);
	assert_true(f->chain.buffers[1].device_writes);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
}

static void empty_or_inactive_queue_pops_nothing(void **state)
{
	struct fixture *f = *state;
	const struct guest_buf buf = { guest_alloc(&f->d, 8), 8, false };

	guest_add_chain(&f->d, &buf, 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0); /* not activated yet */
	activate(f, false, false);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
}

static void push_fills_used_ring_and_wraps(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	for (uint16_t i = 0; i < QSIZE + 3; i++) {
		virtq_push(&f->q, (uint16_t)(i % QSIZE), 100u + i);
		assert_int_equal(guest_used_idx(&f->d), i + 1);
		assert_int_equal(f->d.used->ring[i % QSIZE].id, i % QSIZE);
		assert_int_equal(f->d.used->ring[i % QSIZE].len, 100u + i);
	}
}

/* A chain given back is popped again, checked afresh: the driver may have rewritten it. */
static void unpop_gives_the_chain_back(void **state)
{
	struct fixture *f = *state;
	uint64_t buf = guest_alloc(&f->d, 64);
	const struct guest_buf one = { buf, 64, true };
	uint16_t head;

	activate(f, false, false);
	head = guest_add_chain(&f->d, &one, 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	virtq_unpop(&f->q);
	assert_int_equal(f->q.last_avail, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.head, head);
	assert_ptr_equal(f->chain.buffers[0].host, guest_host(&f->d, buf));
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);

	virtq_unpop(&f->q);
	guest_set_desc(&f->d, head, buf, 64, VRING_DESC_F_NEXT, head); /* now a loop */
	assert_refused(f, "loops");
}

static void next_loops_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t buf = guest_alloc(&f->d, 64);

	activate(f, false, false);
	guest_set_desc(&f->d, 3, buf, 64, VRING_DESC_F_NEXT, 3); /* self-loop */
	guest_publish(&f->d, 3);
	assert_refused(f, "loops");

	restart(f, false, false);
	guest_set_desc(&f->d, 3, buf, 64, VRING_DESC_F_NEXT, 5); /* 3 -> 5 -> 3 */
	guest_set_desc(&f->d, 5, buf, 64, VRING_DESC_F_NEXT, 3);
	guest_publish(&f->d, 3);
	assert_refused(f, "loops");
}

static void long_loop_in_big_queue_stops_at_max_chain(void **state)
{
	struct fixture *f = *state;
	struct guest_driver big;
	uint64_t buf;

	guest_driver_init(&big, 1024);
	buf = guest_alloc(&big, 8);
	for (uint16_t i = 0; i < 1024; i++)
		guest_set_desc(&big, i, buf, 8, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 1024));
	guest_publish(&big, 0);
	assert_int_equal(virtq_activate(&f->q, &big.mem, &big.layout, false, false), 0);
	assert_refused(f, "longer than");
	guest_driver_destroy(&big);
}

static void descriptor_and_head_indices_checked(void **state)
{
	struct fixture *f = *state;
	uint64_t buf = guest_alloc(&f->d, 8);

	activate(f, false, false);
	guest_set_desc(&f->d, 0, buf, 8, VRING_DESC_F_NEXT, QSIZE);
	guest_publish(&f->d, 0);
	assert_refused(f, "past the table");

	restart(f, false, false);
	guest_publish(&f->d, QSIZE); /* the head itself */
	assert_refused(f, "past the table");
}

static void buffers_outside_ram_refused(void **state)
{
	struct fixture *f = *state;
	const struct { uint64_t addr; uint32_t len; } bad[] = {
		{ GUEST_RAM_SIZE - 4, 8 },         /* straddles the end */
		{ GUEST_RAM_SIZE, 1 },             /* just past it */
		{ 0x40000000, 4096 },              /* far away */
		{ UINT64_MAX - 3, 8 },             /* addr + len wraps to a small number */
		{ UINT64_MAX - 0xfff, 0x2000 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		restart(f, false, false);
		guest_add_chain(&f->d, &(struct guest_buf){ bad[i].addr, bad[i].len, false }, 1);
		assert_refused(f, "outside guest memory");
	}
}

static void readable_after_writable_refused(void **state)
{
	struct fixture *f = *state;
	const struct guest_buf bufs[] = {
		{ guest_alloc(&f->d, 8), 8, true },
		{ guest_alloc(&f->d, 8), 8, false },
	};

	activate(f, false, false);
	guest_add_chain(&f->d, bufs, 2);
	assert_refused(f, "follows a device-written");
}

static void avail_index_jump_checked(void **state)
{
	struct fixture *f = *state;
	uint64_t buf = guest_alloc(&f->d, 8);

	activate(f, false, false);
	for (uint16_t i = 0; i < QSIZE; i++)
		guest_set_desc(&f->d, i, buf, 8, 0, 0);
	/* A full ring is fine ... */
	f->d.avail->idx = QSIZE;
	for (int i = 0; i < QSIZE; i++)
		assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	/* ... more than a ring's worth of new entries is not. */
	f->d.avail->idx = 2 * QSIZE + 1;
	assert_refused(f, "jumped");
}

/* An indirect table of `n` entries at a fresh gpa, chained in order; returns its gpa. */
static uint64_t indirect_table(struct fixture *f, unsigned int n, unsigned int readable)
{
	uint64_t gpa = guest_alloc(&f->d, n * 16);
	struct vring_desc *table = guest_host(&f->d, gpa);

	for (unsigned int i = 0; i < n; i++)
		table[i] = (struct vring_desc){
			.addr = guest_alloc(&f->d, 32),
			.len = 32,
			.flags = (i < readable ? 0 : VRING_DESC_F_WRITE) |
				 (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			.next = (uint16_t)(i + 1),
		};
	return gpa;
}

static void publish_indirect(struct fixture *f, uint64_t table, uint32_t len, uint16_t flags)
{
	guest_set_desc(&f->d, 0, table, len, VRING_DESC_F_INDIRECT | flags, 1);
	guest_publish(&f->d, 0);
}

static void indirect_table_walked(void **state)
{
	struct fixture *f = *state;
	uint64_t table = indirect_table(f, 3, 1);
	struct vring_desc *t = guest_host(&f->d, table);

	activate(f, true, false);
	publish_indirect(f, table, 3 * 16, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.head, 0);
	assert_int_equal(f->chain.count, 3);
	assert_int_equal(f->chain.readable, 1);
	for (int i = 0; i < 3; i++) {
		assert_ptr_equal(f->chain.buffers[i].host, guest_host(&f->d, t[i].addr));
		assert_int_equal(f->chain.buffers[i].device_writes, i >= 1);
	}
}

static void indirect_without_feature_refused(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	publish_indirect(f, indirect_table(f, 2, 1), 2 * 16, 0);
	assert_refused(f, "VIRTIO_RING_F_INDIRECT_DESC");
}

static void nested_indirect_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t table = indirect_table(f, 2, 1);
	struct vring_desc *t = guest_host(&f->d, table);

	t[1].flags |= VRING_DESC_F_INDIRECT;
	activate(f, true, false);
	publish_indirect(f, table, 2 * 16, 0);
	assert_refused(f, "holds an indirect");
}

static void indirect_with_next_refused(void **state)
{
	struct fixture *f = *state;

	activate(f, true, false);
	guest_set_desc(&f->d, 1, guest_alloc(&f->d, 8), 8, VRING_DESC_F_WRITE, 0);
	publish_indirect(f, indirect_table(f, 2, 1), 2 * 16, VRING_DESC_F_NEXT);
	assert_refused(f, "also has NEXT");
}

static void indirect_length_checked(void **state)
{
	struct fixture *f = *state;
	uint64_t table = indirect_table(f, 2, 1);
	const uint32_t bad_lens[] = { 0, 20, 31, 33 };

	for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
		restart(f, true, false);
		publish_indirect(f, table, bad_lens[i], 0);
		assert_refused(f, "not a multiple of 16");
	}
	restart(f, true, false);
	publish_indirect(f, GUEST_RAM_SIZE - 16, 32, 0);
	assert_refused(f, "indirect table lies outside");
}

static void indirect_loop_and_index_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t table = indirect_table(f, 4, 4);
	struct vring_desc *t = guest_host(&f->d, table);

	t[3].flags = VRING_DESC_F_NEXT;
	t[3].next = 1; /* 0 -> 1 -> 2 -> 3 -> 1 */
	activate(f, true, false);
	publish_indirect(f, table, 4 * 16, 0);
	assert_refused(f, "loops");

	t[0].next = 4; /* past the table's own length, though inside the queue size */
	restart(f, true, false);
	publish_indirect(f, table, 4 * 16, 0);
	assert_refused(f, "past the table");
}

static void chain_longer_than_max_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t fits = indirect_table(f, VIRTQ_MAX_CHAIN, 1);
	uint64_t too_long = indirect_table(f, VIRTQ_MAX_CHAIN + 1, 1);

	activate(f, true, false);
	publish_indirect(f, fits, VIRTQ_MAX_CHAIN * 16, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1); /* exactly the maximum is fine */
	assert_int_equal(f->chain.count, VIRTQ_MAX_CHAIN);

	publish_indirect(f, too_long, (VIRTQ_MAX_CHAIN + 1) * 16, 0);
	assert_refused(f, "longer than");
}

static void direct_buffers_count_towards_max_chain(void **state)
{
	struct fixture *f = *state;
	uint64_t table = indirect_table(f, VIRTQ_MAX_CHAIN, 0);

	/* Two direct descriptors, then an indirect table that would be fine on its own. */
	activate(f, true, false);
	guest_set_desc(&f->d, 0, guest_alloc(&f->d, 8), 8, VRING_DESC_F_NEXT, 1);
	guest_set_desc(&f->d, 1, guest_alloc(&f->d, 8), 8, VRING_DESC_F_NEXT, 2);
	guest_set_desc(&f->d, 2, table, VIRTQ_MAX_CHAIN * 16, VRING_DESC_F_INDIRECT, 0);
	guest_publish(&f->d, 0);
	assert_refused(f, "longer than");
}

static void assert_layout_refused(struct fixture *f, uint16_t size, uint64_t desc, uint64_t avail,
				  uint64_t used, const char *why)
{
	const struct virtq_layout l = { .size = size, .desc_gpa = desc, .avail_gpa = avail,
					.used_gpa = used };

	assert_int_equal(virtq_activate(&f->q, &f->d.mem, &l, false, false), -EINVAL);
	assert_non_null(strstr(error_get(), why));
	assert_false(f->q.ready);
}

static void activate_refuses_bad_sizes(void **state)
{
	struct fixture *f = *state;
	const struct virtq_layout g = f->d.layout;
	const uint16_t bad_sizes[] = { 0, 3, 24, 1000, 65535 };

	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
		assert_layout_refused(f, bad_sizes[i], g.desc_gpa, g.avail_gpa, g.used_gpa,
				      "power of two");
}

static void activate_refuses_misaligned_rings(void **state)
{
	struct fixture *f = *state;
	const struct virtq_layout g = f->d.layout;

	/* Alignment from virtio 1.2, 2.7: 16, 2 and 4 bytes. */
	assert_layout_refused(f, QSIZE, g.desc_gpa + 8, g.avail_gpa, g.used_gpa, "misaligned");
	assert_layout_refused(f, QSIZE, g.desc_gpa, g.avail_gpa + 1, g.used_gpa, "misaligned");
	assert_layout_refused(f, QSIZE, g.desc_gpa, g.avail_gpa, g.used_gpa + 2, "misaligned");
}

static void activate_refuses_rings_outside_ram(void **state)
{
	struct fixture *f = *state;
	const struct virtq_layout g = f->d.layout;
	const char *why = "outside guest memory";
	struct virtq_layout l;

	/* Each ring with its last element (or its event field) one past RAM, and one far away. */
	assert_layout_refused(f, QSIZE, GUEST_RAM_SIZE - 16 * (QSIZE - 1), g.avail_gpa, g.used_gpa,
			      why);
	assert_layout_refused(f, QSIZE, g.desc_gpa, GUEST_RAM_SIZE - 2 * QSIZE, g.used_gpa, why);
	assert_layout_refused(f, QSIZE, g.desc_gpa, g.avail_gpa, GUEST_RAM_SIZE - 8 * QSIZE, why);
	assert_layout_refused(f, QSIZE, g.desc_gpa, g.avail_gpa, 0xfffffffffffff000ULL, why);

	/* Rings that end exactly where RAM ends are fine. */
	l = g;
	l.desc_gpa = GUEST_RAM_SIZE - 16 * QSIZE;
	assert_int_equal(virtq_activate(&f->q, &f->d.mem, &l, false, false), 0);
	l = g;
	l.avail_gpa = GUEST_RAM_SIZE - (6 + 2 * QSIZE);
	assert_int_equal(virtq_activate(&f->q, &f->d.mem, &l, false, false), 0);
}

/* Push one dummy element and ask whether the driver wants to hear about it. */
static bool push_and_ask(struct fixture *f)
{
	virtq_push(&f->q, 0, 0);
	return virtq_needs_interrupt(&f->q);
}

static void event_idx_honours_used_event(void **state)
{
	struct fixture *f = *state;
	uint16_t *used_event = &f->d.avail->ring[QSIZE];

	activate(f, false, true);
	f->d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT; /* ignored with EVENT_IDX */
	assert_true(push_and_ask(f)); /* the first completion always interrupts */
	*used_event = 1;              /* "interrupt when entry 1 is used" */
	assert_true(push_and_ask(f)); /* used_idx 1 -> 2 crosses it */
	*used_event = 4;
	assert_false(push_and_ask(f)); /* 2 -> 3 */
	assert_false(push_and_ask(f)); /* 3 -> 4 */
	assert_true(push_and_ask(f));  /* 4 -> 5 crosses 4 */
	*used_event = 6;
	virtq_push(&f->q, 0, 0);
	virtq_push(&f->q, 0, 0);
	virtq_push(&f->q, 0, 0);
	assert_true(virtq_needs_interrupt(&f->q)); /* a batch 5 -> 8 that passes 6 */
	assert_false(virtq_needs_interrupt(&f->q)); /* nothing new since */
}

static void no_interrupt_flag_without_event_idx(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	f->d.avail->ring[QSIZE] = 0xffff; /* used_event means nothing without EVENT_IDX */
	assert_true(push_and_ask(f));
	f->d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(push_and_ask(f));
	f->d.avail->flags = 0;
	assert_true(push_and_ask(f));
}

static void enable_notify_publishes_avail_event(void **state)
{
	struct fixture *f = *state;
	const struct guest_buf buf = { guest_alloc(&f->d, 8), 8, false };
	uint16_t *avail_event = (uint16_t *)&f->d.used->ring[QSIZE];

	assert_false(virtq_enable_notify(&f->q)); /* not activated */
	activate(f, false, true);
	guest_add_chain(&f->d, &buf, 1);
	guest_add_chain(&f->d, &buf, 1);
	assert_true(virtq_enable_notify(&f->q)); /* two waiting: do not sleep */
	assert_int_equal(*avail_event, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_false(virtq_enable_notify(&f->q));
	assert_int_equal(*avail_event, 2); /* "kick me when entry 2 is offered" */
	guest_add_chain(&f->d, &buf, 1);
	assert_true(virtq_enable_notify(&f->q));
}

static void enable_notify_without_event_idx_leaves_used_ring(void **state)
{
	struct fixture *f = *state;
	const struct guest_buf buf = { guest_alloc(&f->d, 8), 8, false };
	uint16_t *avail_event = (uint16_t *)&f->d.used->ring[QSIZE];

	*avail_event = 0xabcd;
	activate(f, false, false);
	assert_false(virtq_enable_notify(&f->q));
	guest_add_chain(&f->d, &buf, 1);
	assert_true(virtq_enable_notify(&f->q));
	assert_int_equal(*avail_event, 0xabcd);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(pops_two_buffer_chain),
		TEST(empty_or_inactive_queue_pops_nothing),
		TEST(push_fills_used_ring_and_wraps),
		TEST(unpop_gives_the_chain_back),
		TEST(next_loops_refused),
		TEST(long_loop_in_big_queue_stops_at_max_chain),
		TEST(descriptor_and_head_indices_checked),
		TEST(buffers_outside_ram_refused),
		TEST(readable_after_writable_refused),
		TEST(avail_index_jump_checked),
		TEST(indirect_table_walked),
		TEST(indirect_without_feature_refused),
		TEST(nested_indirect_refused),
		TEST(indirect_with_next_refused),
		TEST(indirect_length_checked),
		TEST(indirect_loop_and_index_refused),
		TEST(chain_longer_than_max_refused),
		TEST(direct_buffers_count_towards_max_chain),
		TEST(activate_refuses_bad_sizes),
		TEST(activate_refuses_misaligned_rings),
		TEST(activate_refuses_rings_outside_ram),
		TEST(event_idx_honours_used_event),
		TEST(no_interrupt_flag_without_event_idx),
		TEST(enable_notify_publishes_avail_event),
		TEST(enable_notify_without_event_idx_leaves_used_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
