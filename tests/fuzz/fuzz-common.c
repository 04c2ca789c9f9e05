#include "fuzz-common.h"

#include <stdlib.h>
#include <string.h>

uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t v = 0;

	if (in->left) {
		v = *in->data++;
		in->left--;
	}
	return v;
}

uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

struct fuzz_input fuzz_split(struct fuzz_input *in, size_t len)
{
	struct fuzz_input part = { in->data, len < in->left ? len : in->left };

	in->data += part.left;
	in->left -= part.left;
	return part;
}

#define CHAIN_LEN_MASK 0x3ff
#define CHAIN_WRITABLE 0x8000

void fuzz_build_chain(struct fuzz_input *in, struct virtq_chain *chain)
{
	bool writable = false;

	memset(chain, 0, sizeof(*chain));
	while (in->left >= 2 && chain->count < VIRTQ_MAX_CHAIN) {
		uint16_t spec = fuzz_u16(in);
		uint32_t len = spec & CHAIN_LEN_MASK;
		struct fuzz_input bytes = fuzz_split(in, len);
		uint8_t *host = malloc(len);

		memset(host, 0, len);
		memcpy(host, bytes.data, bytes.left);
		writable |= (spec & CHAIN_WRITABLE) != 0;
		chain->buffers[chain->count++] = (struct virtq_buffer){
			.host = host, .len = len, .device_writes = writable,
		};
		if (!writable)
			chain->readable = chain->count;
	}
}

const struct virtq_buffer *fuzz_chain_holder(const struct virtq_chain *c, const void *p,
					     uint64_t len)
{
	const uint8_t *at = p;

	for (unsigned int i = 0; i < c->count; i++) {
		const struct virtq_buffer *b = &c->buffers[i];

		if (at >= b->host && at <= b->host + b->len && len <= (uint64_t)(b->host + b->len - at))
			return b;
	}
	__builtin_trap();
}

void fuzz_free_chain(struct virtq_chain *chain)
{
	for (unsigned int i = 0; i < chain->count; i++)
		free(chain->buffers[i].host);
}

const struct guest_memory *fuzz_guest_memory(struct fuzz_input image)
{
	static struct guest_memory mem;
	static const struct memory_region layout[2] = {
		{ .gpa = 0, .size = FUZZ_REGION_SIZE },
		{ .gpa = FUZZ_REGION1_GPA, .size = FUZZ_REGION_SIZE },
	};

	if (!mem.host && guest_memory_create(&mem, layout, 2))
		abort();
	/* The regions are one mapping, back to back, so the image flows from one into the next. */
	memset(mem.host, 0, mem.size);
	if (image.left)
		memcpy(mem.host, image.data, image.left < mem.size ? image.left : mem.size);
	return &mem;
}

/* Trap unless [host, host+len) lies inside one region of `mem`. */
static void check_range(const struct guest_memory *mem, const uint8_t *host, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const uint8_t *start = mem->regions[i].host;

		if (host >= start && host <= start + mem->regions[i].size &&
		    len <= (uint64_t)(start + mem->regions[i].size - host))
			return;
	}
	__builtin_trap();
}

uint32_t fuzz_check_chain(const struct virtq *q, const struct virtq_chain *c)
{
	uint64_t written = 0;
	volatile uint8_t sink;

	if (c->count == 0 || c->count > VIRTQ_MAX_CHAIN || c->readable > c->count ||
	    c->head >= q->layout.size)
		__builtin_trap();
	for (unsigned int i = 0; i < c->count; i++) {
		const struct virtq_buffer *b = &c->buffers[i];

		if (b->device_writes != (i >= c->readable))
			__builtin_trap();
		check_range(q->mem, b->host, b->len);
		if (!b->len)
			continue;
		sink = b->host[0];
		sink = b->host[b->len - 1];
		if (b->device_writes) {
			/* The ends suffice: the range check covers the middle, and filling is slow. */
			b->host[0] = 0xa5;
			b->host[b->len - 1] = 0x5a;
			written += b->len;
		}
	}
	(void)sink;
	return written > UINT32_MAX ? UINT32_MAX : (uint32_t)written;
}

bool fuzz_serve_queue(struct virtq *q, struct virtq_chain *chain, unsigned int budget)
{
	bool more = true;
	int r = 0;

	while (more && budget) {
		while (budget && (r = virtq_pop(q, chain)) > 0) {
			budget--;
			virtq_push(q, chain->head, fuzz_check_chain(q, chain));
		}
		if (r < 0)
			return false;
		virtq_needs_interrupt(q);
		more = virtq_enable_notify(q);
	}
	return true;
}
