/*
 * The virtio-mmio register file, driven as a guest would through the bus ops:
 * identity, feature negotiation, queue setup, the status state machine with
 * activation and reset, interrupts, device failure, access widths, config
 * space bounds, queue notification without an ioeventfd, and pausing, saving
 * and restoring for snapshots (a restored state is hostile input).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/virtio/mmio.h"
#include "guest-driver.h"
#include "util/error.h"

#define FAKE_DEVICE_ID 42
#define FAKE_QUEUES 2
#define FAKE_QUEUE_MAX 64
#define FAKE_FEATURE_LOW 3   /* a device feature in the low word ... */
#define FAKE_FEATURE_HIGH 35 /* ... and one in the high word */
#define ACK_DRIVER (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)

struct fixture {
	struct guest_driver d;
	struct virtio_mmio t;
	uint8_t config[8];
	int activations, resets, pauses, resumes, interrupts;
	int activate_result, resume_result;
};

static uint64_t fake_features(void *dev)
{
	(void)dev;
	return (1ULL << FAKE_FEATURE_LOW) | (1ULL << FAKE_FEATURE_HIGH);
}

static void fake_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct fixture *f = dev;

	/* The transport promises the range is inside config_size. */
	assert_true(offset + len <= sizeof(f->config));
	memcpy(data, f->config + offset, len);
}

static int fake_activate(void *dev, struct virtio_mmio *t)
{
	struct fixture *f = dev;

	assert_ptr_equal(t, &f->t);
	f->activations++;
	return f->activate_result;
}

static void fake_reset(void *dev)
{
	struct fixture *f = dev;

	f->resets++;
}

static void fake_pause(void *dev)
{
	struct fixture *f = dev;

	f->pauses++;
}

static int fake_resume(void *dev)
{
	struct fixture *f = dev;

	f->resumes++;
	return f->resume_result;
}

static const struct virtio_device_ops fake_ops = {
	.device_id = FAKE_DEVICE_ID,
	.num_queues = FAKE_QUEUES,
	.queue_max_size = FAKE_QUEUE_MAX,
	.features = fake_features,
	.config_size = 8,
	.config_read = fake_config_read,
	.activate = fake_activate,
	.reset = fake_reset,
	.pause = fake_pause,
	.resume = fake_resume,
};

static void record_interrupt(void *ctx)
{
	struct fixture *f = ctx;

	f->interrupts++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const struct virtio_interrupt irq = { .raise = record_interrupt, .ctx = f };

	guest_driver_init(&f->d, 16);
	memcpy(f->config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(virtio_mmio_init(&f->t, &fake_ops, f, &f->d.mem, &irq), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(&f->t);
	guest_driver_destroy(&f->d);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint64_t offset)
{
	return mmio_read32(&f->t, offset);
}

static void wr(struct fixture *f, uint64_t offset, uint32_t value)
{
	mmio_write32(&f->t, offset, value);
}

/* Features a driver for the fake device would take: all of them. */
static uint64_t all_features(void)
{
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ULL << VIRTIO_RING_F_EVENT_IDX) | fake_features(NULL);
}

/* The whole driver bring-up: negotiate, queue 0, DRIVER_OK. Returns the final status. */
static uint32_t bring_up(struct fixture *f)
{
	uint32_t status = guest_negotiate(&f->t, all_features());

	guest_setup_queue(&f->d, &f->t, 0);
	wr(f, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
	return rd(f, VIRTIO_MMIO_STATUS);
}

static void identity_registers(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), FAKE_DEVICE_ID);
	assert_int_not_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_PFN), 0); /* legacy registers read as zero */
}

static void device_features_by_word(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(guest_device_features(&f->t), all_features());
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	assert_int_equal(virtio_mmio_offered_features(&f->t), all_features());
}

static void features_ok_accepted(void **state)
{
	struct fixture *f = *state;
	const uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << FAKE_FEATURE_HIGH);

	assert_int_equal(guest_negotiate(&f->t, want), ACK_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(virtio_mmio_negotiated(&f->t, VIRTIO_F_VERSION_1));
	assert_true(virtio_mmio_negotiated(&f->t, FAKE_FEATURE_HIGH));
	assert_false(virtio_mmio_negotiated(&f->t, FAKE_FEATURE_LOW));
	assert_false(virtio_mmio_negotiated(&f->t, 64));
	/* Features are frozen once FEATURES_OK is set. */
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << FAKE_FEATURE_LOW);
	assert_false(virtio_mmio_negotiated(&f->t, FAKE_FEATURE_LOW));
}

static void features_ok_refused_for_unoffered_feature(void **state)
{
	struct fixture *f = *state;
	const uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5);

	assert_int_equal(guest_negotiate(&f->t, want), ACK_DRIVER);
}

static void features_ok_refused_without_version_1(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(guest_negotiate(&f->t, 1ULL << FAKE_FEATURE_LOW), ACK_DRIVER);
}

static void driver_features_sel_beyond_high_word_ignored(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	assert_int_equal(f->t.driver_features, 0);
}

static void queue_registers(void **state)
{
	struct fixture *f = *state;

	for (uint32_t q = 0; q < FAKE_QUEUES; q++) {
		wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), FAKE_QUEUE_MAX);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	wr(f, VIRTIO_MMIO_QUEUE_SEL, FAKE_QUEUES); /* no such queue */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);

	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 32);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x1);
	wr(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
	wr(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0x2);
	wr(f, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
	wr(f, VIRTIO_MMIO_QUEUE_USED_HIGH, 0x3);
	assert_int_equal(f->t.pending[1].size, 32);
	assert_int_equal(f->t.pending[1].desc_gpa, 0x100001000);
	assert_int_equal(f->t.pending[1].avail_gpa, 0x200002000);
	assert_int_equal(f->t.pending[1].used_gpa, 0x300003000);
	assert_int_equal(f->t.pending[0].size, 0); /* QueueSel chose which queue */

	/* Once ready, the layout is fixed until the driver clears QueueReady. */
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	assert_int_equal(f->t.pending[1].size, 32);
	assert_int_equal(f->t.pending[1].desc_gpa, 0x100001000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
	assert_int_equal(f->t.pending[1].size, 16);
}

static void queue_num_above_max_rejected(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, FAKE_QUEUE_MAX * 2);
	assert_int_equal(f->t.pending[0].size, 0);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1); /* a queue of no size cannot be ready */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, FAKE_QUEUE_MAX);
	assert_int_equal(f->t.pending[0].size, FAKE_QUEUE_MAX);
}

static void driver_ok_activates(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(bring_up(f), ACK_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
					      VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activations, 1);
	assert_true(f->t.queues[0].ready);
	assert_ptr_equal(f->t.queues[0].desc, f->d.desc);
	assert_true(f->t.queues[0].indirect);
	assert_true(f->t.queues[0].event_idx);
	assert_false(f->t.queues[1].ready); /* never set up: left alone */
	/* Setting DRIVER_OK again does not activate twice. */
	wr(f, VIRTIO_MMIO_STATUS, rd(f, VIRTIO_MMIO_STATUS));
	assert_int_equal(f->activations, 1);
	/* Nor can the live queue be reconfigured. */
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_true(f->t.queues[0].ready);
}

static void driver_ok_without_features_ok_fails(void **state)
{
	struct fixture *f = *state;

	guest_setup_queue(&f->d, &f->t, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, ACK_DRIVER);
	wr(f, VIRTIO_MMIO_STATUS, ACK_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), ACK_DRIVER | VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(f->activations, 0);
}

static void driver_ok_with_rings_outside_ram_fails(void **state)
{
	struct fixture *f = *state;
	uint32_t status = guest_negotiate(&f->t, all_features());

	f->d.layout.used_gpa = GUEST_RAM_SIZE; /* the used ring starts where RAM ends */
	guest_setup_queue(&f->d, &f->t, 0);
	wr(f, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
	status = rd(f, VIRTIO_MMIO_STATUS);
	assert_true(status & VIRTIO_CONFIG_S_FAILED);
	assert_false(status & VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activations, 0);
}

static void driver_ok_fails_when_device_cannot_start(void **state)
{
	struct fixture *f = *state;
	uint32_t status;

	f->activate_result = -ENOMEM;
	status = bring_up(f);
	assert_int_equal(f->activations, 1);
	assert_true(status & VIRTIO_CONFIG_S_FAILED);
	assert_false(status & VIRTIO_CONFIG_S_DRIVER_OK);
	/* The device never started, so a reset does not stop it. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->resets, 0);
}

static void status_bits_cleared_only_by_reset(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_STATUS, ACK_DRIVER);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), ACK_DRIVER);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), ACK_DRIVER);
}

static void reset_restores_initial_state(void **state)
{
	struct fixture *f = *state;
	const struct virtq_layout zero = { 0 };

	bring_up(f);
	virtio_mmio_interrupt(&f->t);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->resets, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(f->t.device_features_sel, 0);
	assert_int_equal(f->t.driver_features_sel, 0);
	assert_int_equal(f->t.driver_features, 0);
	assert_int_equal(f->t.queue_sel, 0);
	assert_memory_equal(&f->t.pending[0], &zero, sizeof(zero));
	assert_false(f->t.queues[0].ready);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);

	/* And the driver can bring it up again. */
	guest_reset_rings(&f->d);
	assert_true(bring_up(f) & VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activations, 2);
}

static void destroy_stops_a_running_device(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	virtio_mmio_destroy(&f->t);
	assert_int_equal(f->resets, 1);
	virtio_mmio_destroy(&f->t); /* teardown's second call is harmless */
	assert_int_equal(f->resets, 1);
}

static void interrupt_status_and_ack(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_interrupt(&f->t);
	assert_int_equal(f->interrupts, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG); /* acking another bit changes nothing */
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void fail_sets_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint32_t status = bring_up(f);

	virtio_mmio_fail(&f->t);
	assert_int_equal(f->interrupts, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), status | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(f->resets, 1);
}

static void odd_widths_and_unaligned_accesses_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[8];
	const uint8_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE;

	for (uint32_t len = 1; len <= 8; len *= 2) {
		if (len == 4)
			continue;
		memset(buf, 0xee, sizeof(buf));
		virtio_mmio_ops.read(&f->t, VIRTIO_MMIO_MAGIC_VALUE, buf, len);
		for (uint32_t i = 0; i < len; i++)
			assert_int_equal(buf[i], 0);
		virtio_mmio_ops.write(&f->t, VIRTIO_MMIO_STATUS, (const uint8_t[8]){ status }, len);
		assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	}
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE + 1), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID + 2), 0);
	wr(f, VIRTIO_MMIO_STATUS + 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS - 2, VIRTIO_CONFIG_S_ACKNOWLEDGE << 16);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
}

static void config_space_bounds(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[8];

	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), 0x04030201);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 0x08070605);
	virtio_mmio_ops.read(&f->t, VIRTIO_MMIO_CONFIG + 7, buf, 1);
	assert_int_equal(buf[0], 0x08);
	virtio_mmio_ops.read(&f->t, VIRTIO_MMIO_CONFIG, buf, 8);
	assert_memory_equal(buf, f->config, 8);

	/* Past or straddling the end: zeroes, and config_read is never asked. */
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 6), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 8), 0);
	memset(buf, 0xee, sizeof(buf));
	virtio_mmio_ops.read(&f->t, VIRTIO_MMIO_CONFIG + 1, buf, 8);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);
	virtio_mmio_ops.read(&f->t, VIRTIO_MMIO_SPAN - 1, buf, 1);
	assert_int_equal(buf[0], 0);
	virtio_mmio_ops.read(&f->t, UINT64_MAX - 3, buf, 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);

	/* Config space is read-only. */
	wr(f, VIRTIO_MMIO_CONFIG, 0xdeadbeef);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), 0x04030201);
}

static uint64_t eventfd_count(int fd)
{
	uint64_t count = 0;

	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return 0;
	return count;
}

static void queue_notify_signals_eventfd(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(eventfd_count(f->t.notify_fd[0]), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, FAKE_QUEUES); /* no such queue: ignored */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	assert_int_equal(eventfd_count(f->t.notify_fd[0]), 0);
	assert_int_equal(eventfd_count(f->t.notify_fd[1]), 2);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(eventfd_count(f->t.notify_fd[0]), 1);
	/* A reset drops kicks the old driver left behind. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(eventfd_count(f->t.notify_fd[0]), 0);
}

static void pause_and_resume_only_a_running_device(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_pause(&f->t); /* never activated: nothing to stop */
	assert_int_equal(virtio_mmio_resume(&f->t), 0);
	assert_int_equal(f->pauses + f->resumes, 0);
	bring_up(f);
	virtio_mmio_pause(&f->t);
	virtio_mmio_pause(&f->t);
	assert_int_equal(f->pauses, 1);
	assert_int_equal(virtio_mmio_resume(&f->t), 0);
	assert_int_equal(virtio_mmio_resume(&f->t), 0);
	assert_int_equal(f->resumes, 1);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static void resume_keeps_a_failed_device_stopped(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	virtio_mmio_fail(&f->t);
	virtio_mmio_pause(&f->t);
	assert_int_equal(virtio_mmio_resume(&f->t), 0);
	assert_int_equal(f->pauses, 1);
	assert_int_equal(f->resumes, 0);
}

static void resume_failure_fails_the_device(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	virtio_mmio_pause(&f->t);
	f->resume_result = -EAGAIN;
	assert_int_equal(virtio_mmio_resume(&f->t), -EAGAIN);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void reset_while_paused(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	virtio_mmio_pause(&f->t);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->resets, 1);
	assert_int_equal(virtio_mmio_resume(&f->t), 0); /* the reset ended the pause */
	assert_int_equal(f->resumes, 0);
}

/* A second transport over the same guest RAM, as a restoring process builds it. */
static struct fixture *fresh_fixture(struct fixture *f)
{
	struct fixture *g = calloc(1, sizeof(*g));
	const struct virtio_interrupt irq = { .raise = record_interrupt, .ctx = g };

	memcpy(g->config, f->config, sizeof(g->config));
	assert_int_equal(virtio_mmio_init(&g->t, &fake_ops, g, &f->d.mem, &irq), 0);
	return g;
}

static void free_fixture(struct fixture *g)
{
	virtio_mmio_destroy(&g->t);
	free(g);
}

/* Bring the device up with both queues and put the state mid-run: rings in use, registers set. */
static void busy_device_state(struct fixture *f, struct virtio_mmio_state *out)
{
	struct guest_driver second;
	uint32_t status = guest_negotiate(&f->t, all_features());

	guest_driver_init_queue(&second, &f->d, 8, 0x20000);
	guest_setup_queue(&f->d, &f->t, 0);
	guest_setup_queue(&second, &f->t, 1);
	wr(f, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	/* What a device thread leaves behind after serving for a while. */
	f->t.queues[0].last_avail = 40;
	f->t.queues[0].used_idx = 39;
	f->t.queues[0].signalled_used = 37;
	f->t.queues[0].signalled_valid = true;
	f->t.queues[1].last_avail = f->t.queues[1].used_idx = 65535;
	virtio_mmio_interrupt(&f->t);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	virtio_mmio_pause(&f->t);
	virtio_mmio_save(&f->t, out);
}

static void save_restore_round_trip(void **state)
{
	struct fixture *f = *state, *g = fresh_fixture(f);
	struct virtio_mmio_state saved, again;

	busy_device_state(f, &saved);
	assert_int_equal(saved.device_id, FAKE_DEVICE_ID);
	assert_int_equal(saved.queues[0].last_avail, 40);
	assert_int_equal(saved.queues[1].size, 8);
	assert_int_equal(virtio_mmio_restore(&g->t, &saved), 0);
	assert_int_equal(g->activations, 1); /* DRIVER_OK: the device runs at once */
	virtio_mmio_pause(&g->t);
	virtio_mmio_save(&g->t, &again);
	assert_memory_equal(&again, &saved, sizeof(saved));

	/* The driver sees the same registers, and its live queues are the same rings. */
	assert_int_equal(mmio_read32(&g->t, VIRTIO_MMIO_STATUS), rd(f, VIRTIO_MMIO_STATUS));
	assert_int_equal(mmio_read32(&g->t, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(mmio_read32(&g->t, VIRTIO_MMIO_QUEUE_NUM_MAX), FAKE_QUEUE_MAX);
	assert_int_equal(mmio_read32(&g->t, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_ptr_equal(g->t.queues[0].desc, f->d.desc);
	assert_true(g->t.queues[0].event_idx && g->t.queues[0].indirect);
	assert_true(virtio_mmio_negotiated(&g->t, FAKE_FEATURE_HIGH));
	free_fixture(g);
}

static void save_zeroes_every_padding_byte(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_state a, b;

	bring_up(f);
	virtio_mmio_pause(&f->t);
	memset(&a, 0xa5, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	virtio_mmio_save(&f->t, &a);
	virtio_mmio_save(&f->t, &b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void restore_before_driver_ok_does_not_activate(void **state)
{
	struct fixture *f = *state, *g = fresh_fixture(f);
	struct virtio_mmio_state saved, again;

	/* The driver is halfway: features agreed, queue 0 ready, no DRIVER_OK yet. */
	guest_negotiate(&f->t, all_features());
	guest_setup_queue(&f->d, &f->t, 0);
	virtio_mmio_save(&f->t, &saved);
	assert_int_equal(virtio_mmio_restore(&g->t, &saved), 0);
	assert_int_equal(g->activations, 0);
	virtio_mmio_save(&g->t, &again);
	assert_memory_equal(&again, &saved, sizeof(saved));
	/* The driver finishes in the new process. */
	mmio_write32(&g->t, VIRTIO_MMIO_STATUS, saved.status | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(mmio_read32(&g->t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(g->activations, 1);
	free_fixture(g);
}

static void restore_of_a_failed_device_does_not_activate(void **state)
{
	struct fixture *f = *state, *g = fresh_fixture(f);
	struct virtio_mmio_state saved;

	bring_up(f);
	virtio_mmio_fail(&f->t);
	virtio_mmio_pause(&f->t);
	virtio_mmio_save(&f->t, &saved);
	assert_int_equal(saved.needs_reset, 1);
	assert_int_equal(virtio_mmio_restore(&g->t, &saved), 0);
	assert_int_equal(g->activations, 0);
	assert_true(mmio_read32(&g->t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The driver resets it and starts over. */
	mmio_write32(&g->t, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(mmio_read32(&g->t, VIRTIO_MMIO_STATUS), 0);
	free_fixture(g);
}

static void restore_into_a_device_in_use_refused(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_state saved;

	bring_up(f);
	virtio_mmio_pause(&f->t);
	virtio_mmio_save(&f->t, &saved);
	assert_int_equal(virtio_mmio_restore(&f->t, &saved), -EBUSY);
}

static void restore_undone_when_the_device_cannot_start(void **state)
{
	struct fixture *f = *state, *g = fresh_fixture(f);
	struct virtio_mmio_state saved, empty;

	busy_device_state(f, &saved);
	g->activate_result = -EAGAIN;
	assert_int_equal(virtio_mmio_restore(&g->t, &saved), -EAGAIN);
	virtio_mmio_save(&g->t, &empty);
	assert_int_equal(empty.status, 0);
	assert_int_equal(empty.queues[0].last_avail, 0);
	assert_false(g->t.queues[0].ready);
	free_fixture(g);
}

/* One way a hostile snapshot can lie, and a word the refusal must name. */
struct bad_state {
	void (*corrupt)(struct virtio_mmio_state *s);
	const char *why;
};

static void other_device(struct virtio_mmio_state *s) { s->device_id = 2; }
static void unknown_status_bit(struct virtio_mmio_state *s) { s->status |= 0x10; }
static void status_needs_reset_bit(struct virtio_mmio_state *s) { s->status |= VIRTIO_CONFIG_S_NEEDS_RESET; }
static void driver_ok_alone(struct virtio_mmio_state *s) { s->status &= ~VIRTIO_CONFIG_S_FEATURES_OK; }
static void unoffered_feature(struct virtio_mmio_state *s) { s->driver_features |= 1ULL << 5; }
static void no_version_1(struct virtio_mmio_state *s) { s->driver_features &= ~(1ULL << VIRTIO_F_VERSION_1); }
static void needs_reset_two(struct virtio_mmio_state *s) { s->needs_reset = 2; }
static void needs_reset_before_driver_ok(struct virtio_mmio_state *s)
{
	s->needs_reset = 1;
	s->status = ACK_DRIVER;
	memset(s->queues, 0, sizeof(s->queues));
}
static void unknown_interrupt_bit(struct virtio_mmio_state *s) { s->interrupt_status |= 4; }
static void device_features_sel_two(struct virtio_mmio_state *s) { s->device_features_sel = 2; }
static void driver_features_sel_big(struct virtio_mmio_state *s) { s->driver_features_sel = 0xffffffff; }
static void queue_sel_past_queues(struct virtio_mmio_state *s) { s->queue_sel = FAKE_QUEUES; }
static void reserved_byte(struct virtio_mmio_state *s) { s->reserved[2] = 1; }
static void size_above_max(struct virtio_mmio_state *s) { s->queues[1].size = FAKE_QUEUE_MAX * 2; }
static void size_not_power_of_two(struct virtio_mmio_state *s) { s->queues[0].size = 12; }
static void ring_outside_ram(struct virtio_mmio_state *s) { s->queues[0].used_gpa = GUEST_RAM_SIZE - 8; }
static void ring_far_outside_ram(struct virtio_mmio_state *s) { s->queues[1].desc_gpa = 0xfffffffffffff000ULL; }
static void ring_misaligned(struct virtio_mmio_state *s) { s->queues[0].desc_gpa += 8; }
static void ready_without_size(struct virtio_mmio_state *s) { s->queues[1].size = 0; }
static void ready_two(struct virtio_mmio_state *s) { s->queues[0].ready = 2; }
static void signalled_valid_two(struct virtio_mmio_state *s) { s->queues[0].signalled_valid = 7; }
static void too_many_in_flight(struct virtio_mmio_state *s) { s->queues[0].used_idx = 40 - 17; }
static void used_ahead_of_avail(struct virtio_mmio_state *s) { s->queues[0].used_idx = 41; }
static void indices_on_unready_queue(struct virtio_mmio_state *s)
{
	s->queues[1].ready = 0;
	s->queues[1].last_avail = s->queues[1].used_idx = 3;
}
static void queue_past_the_device(struct virtio_mmio_state *s) { s->queues[FAKE_QUEUES].size = 8; }
static void queue_reserved_byte(struct virtio_mmio_state *s) { s->queues[1].reserved[5] = 1; }

static void restore_refuses_bad_states(void **state)
{
	static const struct bad_state bad[] = {
		{ other_device, "device type" },
		{ unknown_status_bit, "status" },
		{ status_needs_reset_bit, "status" },
		{ driver_ok_alone, "FEATURES_OK" },
		{ unoffered_feature, "features" },
		{ no_version_1, "features" },
		{ needs_reset_two, "needs_reset" },
		{ needs_reset_before_driver_ok, "needs_reset" },
		{ unknown_interrupt_bit, "interrupt" },
		{ device_features_sel_two, "selector" },
		{ driver_features_sel_big, "selector" },
		{ queue_sel_past_queues, "queue_sel" },
		{ reserved_byte, "reserved" },
		{ size_above_max, "size" },
		{ size_not_power_of_two, "power of two" },
		{ ring_outside_ram, "outside guest memory" },
		{ ring_far_outside_ram, "outside guest memory" },
		{ ring_misaligned, "misaligned" },
		{ ready_without_size, "size 0" },
		{ ready_two, "ready" },
		{ signalled_valid_two, "signalled_valid" },
		{ too_many_in_flight, "apart" },
		{ used_ahead_of_avail, "apart" },
		{ indices_on_unready_queue, "not live" },
		{ queue_past_the_device, "past the device" },
		{ queue_reserved_byte, "reserved" },
	};
	struct fixture *f = *state;
	struct virtio_mmio_state good, s, untouched;

	busy_device_state(f, &good);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fixture *g = fresh_fixture(f);

		s = good;
		bad[i].corrupt(&s);
		assert_int_equal(virtio_mmio_restore(&g->t, &s), -EINVAL);
		if (!strstr(error_get(), bad[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, error_get(), bad[i].why);
		/* Nothing was applied: the transport is as virtio_mmio_init() left it. */
		assert_int_equal(g->activations, 0);
		virtio_mmio_save(&g->t, &untouched);
		assert_int_equal(untouched.status + untouched.queue_sel + untouched.interrupt_status, 0);
		assert_int_equal(untouched.driver_features, 0);
		assert_int_equal(untouched.queues[0].size + untouched.queues[0].last_avail, 0);
		/* And the good state still restores into it. */
		assert_int_equal(virtio_mmio_restore(&g->t, &good), 0);
		free_fixture(g);
	}
}

static void config_changed_bumps_generation(void **state)
{
	struct fixture *f = *state;
	uint32_t before = rd(f, VIRTIO_MMIO_CONFIG_GENERATION);

	virtio_mmio_config_changed(&f->t);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), before + 1);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(identity_registers),
		TEST(device_features_by_word),
		TEST(features_ok_accepted),
		TEST(features_ok_refused_for_unoffered_feature),
		TEST(features_ok_refused_without_version_1),
		TEST(driver_features_sel_beyond_high_word_ignored),
		TEST(queue_registers),
		TEST(queue_num_above_max_rejected),
		TEST(driver_ok_activates),
		TEST(driver_ok_without_features_ok_fails),
		TEST(driver_ok_with_rings_outside_ram_fails),
		TEST(driver_ok_fails_when_device_cannot_start),
		TEST(status_bits_cleared_only_by_reset),
		TEST(reset_restores_initial_state),
		TEST(destroy_stops_a_running_device),
		TEST(interrupt_status_and_ack),
		TEST(fail_sets_needs_reset),
		TEST(odd_widths_and_unaligned_accesses_ignored),
		TEST(config_space_bounds),
		TEST(queue_notify_signals_eventfd),
		TEST(pause_and_resume_only_a_running_device),
		TEST(resume_keeps_a_failed_device_stopped),
		TEST(resume_failure_fails_the_device),
		TEST(reset_while_paused),
		TEST(save_restore_round_trip),
		TEST(save_zeroes_every_padding_byte),
		TEST(restore_before_driver_ok_does_not_activate),
		TEST(restore_of_a_failed_device_does_not_activate),
		TEST(restore_into_a_device_in_use_refused),
		TEST(restore_undone_when_the_device_cannot_start),
		TEST(restore_refuses_bad_states),
		TEST(config_changed_bumps_generation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
