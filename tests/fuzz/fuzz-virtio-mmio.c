/*
 * The virtio-mmio transport against a hostile guest: register accesses of any
 * offset and width, interleaved with the guest rewriting its RAM. The input is
 *
 *   u8 knobs, u16 queue_max_size, u16 script length, script, RAM image (from gpa 0)
 *
 * The knobs shape the fake device behind the transport (queue count, config
 * size, whether activation fails). Like blk's I/O thread, the device serves
 * its queues when activated and on each queue notification, and fails the
 * transport (NEEDS_RESET) on a refused ring. Besides crashes, the harness
 * traps on broken transport invariants.
 */
#include "fuzz-common.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/mmio.h"

#define SERVE_BUDGET 256 /* chains per queue per wake-up */

enum step { WRITE, READ, GUEST_WRITE, RAISE, FAIL, STEPS };

struct fake {
	struct virtio_mmio t;
	struct virtio_device_ops ops;
	uint8_t config[32];
	int activate_result;
	bool active;
	bool failed;
	struct virtq_chain chain;
};

/* One device feature in each word, so negotiation has something to refuse either way. */
static uint64_t fake_features(void *dev)
{
	(void)dev;
	return 1ULL << 0 | 1ULL << 40;
}

static void fake_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	if (offset > f->ops.config_size || len > f->ops.config_size - offset)
		__builtin_trap();
	memcpy(data, f->config + offset, len);
}

static void serve(struct fake *f)
{
	for (unsigned int i = 0; i < f->ops.num_queues && f->active && !f->failed; i++) {
		if (!f->t.queues[i].ready)
			continue;
		if (!fuzz_serve_queue(&f->t.queues[i], &f->chain, SERVE_BUDGET)) {
			f->failed = true;
			virtio_mmio_fail(&f->t);
		} else {
			virtio_mmio_interrupt(&f->t);
		}
	}
}

static int fake_activate(void *dev, struct virtio_mmio *t)
{
	struct fake *f = dev;

	if (t != &f->t)
		__builtin_trap();
	if (f->activate_result)
		return f->activate_result;
	f->active = true;
	serve(f);
	return 0;
}

static void fake_reset(void *dev)
{
	struct fake *f = dev;

	f->active = false;
	f->failed = false;
}

static void ignore_interrupt(void *ctx)
{
	(void)ctx;
}

/* Without an ioeventfd, QueueNotify reaches the device through the eventfds. */
static void deliver_notifications(struct fake *f)
{
	bool kicked = false;
	uint64_t count;

	for (unsigned int i = 0; i < f->ops.num_queues; i++)
		kicked |= read(f->t.notify_fd[i], &count, sizeof(count)) == sizeof(count);
	if (kicked)
		serve(f);
}

/* What must hold after every access, whatever the guest did. */
static void check_invariants(struct fake *f)
{
	const struct virtio_mmio *t = &f->t;

	/* DRIVER_OK exactly while the device runs, and only on top of FEATURES_OK. */
	if (!!(t->status & VIRTIO_CONFIG_S_DRIVER_OK) != f->active)
		__builtin_trap();
	if ((t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK))
		__builtin_trap();
	/* Accepted features were offered, and include VERSION_1. */
	if ((t->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((t->driver_features & ~virtio_mmio_offered_features(t)) ||
	     !virtio_mmio_negotiated(t, VIRTIO_F_VERSION_1)))
		__builtin_trap();
	/* A running queue's layout cannot change under the device. */
	for (unsigned int i = 0; f->active && i < f->ops.num_queues; i++)
		if (t->queues[i].ready &&
		    memcmp(&t->pending[i], &t->queues[i].layout, sizeof(t->pending[i])))
			__builtin_trap();
}

static void step(struct fake *f, struct fuzz_input *script)
{
	static const uint32_t widths[4] = { 4, 1, 2, 8 };
	uint8_t op = fuzz_u8(script), buf[16];
	uint32_t len = widths[(op >> 4) & 3];
	uint64_t offset, value;

	switch (op % STEPS) {
	case WRITE:
		offset = fuzz_u16(script) % VIRTIO_MMIO_SPAN;
		value = fuzz_u32(script);
		value |= (uint64_t)fuzz_u32(script) << 32;
		virtio_mmio_ops.write(&f->t, offset, (const uint8_t *)&value, len);
		deliver_notifications(f);
		break;
	case READ:
		offset = fuzz_u16(script) % VIRTIO_MMIO_SPAN;
		memset(buf, 0xcc, sizeof(buf));
		virtio_mmio_ops.read(&f->t, offset, buf, len);
		for (unsigned int i = len; i < sizeof(buf); i++)
			if (buf[i] != 0xcc)
				__builtin_trap();
		break;
	case GUEST_WRITE:
		offset = fuzz_u16(script) % (f->t.mem->size - 4);
		value = fuzz_u32(script);
		memcpy(f->t.mem->host + offset, &value, 4);
		break;
	case RAISE:
		virtio_mmio_interrupt(&f->t);
		break;
	case FAIL:
		/* What a running device does when its backend breaks. */
		if (f->active) {
			f->failed = true;
			virtio_mmio_fail(&f->t);
		}
		break;
	}
	check_invariants(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake f;
	const struct virtio_interrupt irq = { .raise = ignore_interrupt };
	struct fuzz_input in = { data, size }, script;
	uint8_t knobs = fuzz_u8(&in);

	memset(&f, 0, sizeof(f));
	f.ops = (struct virtio_device_ops){
		.device_id = 2,
		.num_queues = 1 + (knobs & 3),
		.queue_max_size = fuzz_u16(&in),
		.features = fake_features,
		.config_size = (knobs >> 2) & 31,
		.config_read = fake_config_read,
		.activate = fake_activate,
		.reset = fake_reset,
	};
	f.activate_result = knobs & 0x80 ? -EIO : 0;
	for (unsigned int i = 0; i < sizeof(f.config); i++)
		f.config[i] = (uint8_t)i;
	script = fuzz_split(&in, fuzz_u16(&in));
	if (virtio_mmio_init(&f.t, &f.ops, &f, fuzz_guest_memory(in), &irq))
		__builtin_trap();
	while (script.left)
		step(&f, &script);
	virtio_mmio_destroy(&f.t);
	if (f.active)
		__builtin_trap(); /* destroy must stop a running device */
	return 0;
}
