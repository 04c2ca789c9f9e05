/*
 * The split virtqueue against a hostile guest. The input is a queue layout,
 * a script of guest and device steps, and the contents of guest RAM:
 *
 *   u16 size, u32 desc_gpa, u32 avail_gpa, u32 used_gpa, u8 features
 *   u16 script length, script, RAM image (from gpa 0)
 *
 * The device first drains the queue as its I/O thread would, then runs the
 * script, whose steps interleave popping, pushing, interrupt and notify
 * decisions with the guest rewriting its RAM and the device resetting.
 */
#include "fuzz-common.h"

#include <string.h>

#define MAX_IN_FLIGHT 64
#define SERVE_BUDGET 512 /* chains per drain: the device's own writes may refill the ring forever */

enum step { POP, PUSH, NEEDS_INTERRUPT, ENABLE_NOTIFY, GUEST_WRITE, RESET, STEPS };

struct run {
	struct virtq q;
	struct virtq_chain chain;
	const struct guest_memory *mem;
	struct virtq_layout layout;
	bool indirect, event_idx;
	uint16_t in_flight[MAX_IN_FLIGHT]; /* heads popped, not yet pushed */
	unsigned int nin_flight;
};

static bool activate(struct run *r)
{
	r->nin_flight = 0;
	return virtq_activate(&r->q, r->mem, &r->layout, r->indirect, r->event_idx) == 0;
}

static void step(struct run *r, struct fuzz_input *script)
{
	uint16_t at;
	uint32_t value;

	switch (fuzz_u8(script) % STEPS) {
	case POP:
		if (virtq_pop(&r->q, &r->chain) > 0) {
			fuzz_check_chain(&r->q, &r->chain);
			if (r->nin_flight < MAX_IN_FLIGHT)
				r->in_flight[r->nin_flight++] = r->chain.head;
		}
		break;
	case PUSH:
		value = fuzz_u32(script);
		if (r->nin_flight)
			virtq_push(&r->q, r->in_flight[--r->nin_flight], value);
		break;
	case NEEDS_INTERRUPT:
		virtq_needs_interrupt(&r->q);
		break;
	case ENABLE_NOTIFY:
		virtq_enable_notify(&r->q);
		break;
	case GUEST_WRITE:
		/* Anywhere in RAM: rings, descriptors, buffers, all at once. */
		at = fuzz_u16(script) % (uint16_t)(r->mem->size - 1);
		value = fuzz_u16(script);
		memcpy(r->mem->host + at, &value, 2);
		break;
	case RESET:
		virtq_reset(&r->q);
		activate(r);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	struct fuzz_input in = { data, size }, script;
	uint8_t features;

	memset(&r, 0, sizeof(r));
	r.layout.size = fuzz_u16(&in);
	r.layout.desc_gpa = fuzz_u32(&in);
	r.layout.avail_gpa = fuzz_u32(&in);
	r.layout.used_gpa = fuzz_u32(&in);
	features = fuzz_u8(&in);
	r.indirect = features & 1;
	r.event_idx = features & 2;
	script = fuzz_split(&in, fuzz_u16(&in));
	r.mem = fuzz_guest_memory(in);
	if (!activate(&r))
		return 0;
	fuzz_serve_queue(&r.q, &r.chain, SERVE_BUDGET);
	while (script.left)
		step(&r, &script);
	return 0;
}
