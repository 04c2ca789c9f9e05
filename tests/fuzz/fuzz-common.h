/*
 * What the libFuzzer harnesses share: reading fields off the input, and the
 * device's side of a queue (pop, check, push, interrupt, re-arm) with the
 * oracle every chain must pass. A crash, a sanitizer report or a trap from
 * the oracle is a finding; a refused ring is not.
 */
#ifndef AGENTVM_TESTS_FUZZ_COMMON_H
#define AGENTVM_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/queue.h"
#include "kvm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unread rest of a fuzz input; reads past its end yield zeroes. */
struct fuzz_input {
	const uint8_t *data;
	size_t left;
};

uint8_t fuzz_u8(struct fuzz_input *in);
uint16_t fuzz_u16(struct fuzz_input *in);
uint32_t fuzz_u32(struct fuzz_input *in);

/* Split off the next `len` bytes (fewer if the input ends first) as their own input. */
struct fuzz_input fuzz_split(struct fuzz_input *in, size_t len);

/*
 * A chain straight from the input, without a ring: a list of buffers, each a
 * u16 (bit 15: device-writable, bits 0-9: length) followed by its bytes.
 * Each buffer is its own heap allocation, so the sanitizer catches any byte a
 * parser reads or hands out beyond one. Readable buffers come first, as
 * virtq_pop guarantees. Free with fuzz_free_chain().
 */
void fuzz_build_chain(struct fuzz_input *in, struct virtq_chain *chain);
void fuzz_free_chain(struct virtq_chain *chain);

/* The buffer of the chain that holds all of [p, p+len); traps if none does. */
const struct virtq_buffer *fuzz_chain_holder(const struct virtq_chain *c, const void *p,
					     uint64_t len);

/*
 * Guest RAM shared by every run of a harness (a memfd is too slow to create
 * per input): two regions with a hole between them, so that a range crossing
 * from one to the other is as wrong as one past the end. Filled from `image`
 * at gpa 0 onwards, zeroes after.
 */
#define FUZZ_REGION_SIZE 0x8000
#define FUZZ_REGION1_GPA 0x10000
const struct guest_memory *fuzz_guest_memory(struct fuzz_input image);

/*
 * Trap unless a popped chain keeps virtq_pop's promises (bounded, readable
 * buffers first, all inside guest RAM); touch its buffers as a device would.
 * Returns how many bytes the device "wrote".
 */
uint32_t fuzz_check_chain(const struct virtq *q, const struct virtq_chain *c);

/*
 * Serve `q` as a device's I/O thread would, for at most `budget` chains:
 * pop, check and touch every buffer, push, then ask about interrupts and
 * re-arm notifications. Returns false when the queue was refused (the device
 * would set NEEDS_RESET).
 */
bool fuzz_serve_queue(struct virtq *q, struct virtq_chain *chain, unsigned int budget);

#endif
