/*
 * Loading an arm64 Linux `Image` (Documentation/arch/arm64/booting.rst): a
 * 64-byte header (text_offset, image_size, the "ARM\x64" magic), copied as
 * it is to a 2 MiB-aligned base plus text_offset and entered at its first
 * byte. The image is untrusted input: every size is checked against the file
 * and against guest RAM before anything is copied.
 */
#ifndef AGENTVM_ARCH_AARCH64_KERNEL_LOADER_H
#define AGENTVM_ARCH_AARCH64_KERNEL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

#define ARM64_IMAGE_HEADER_SIZE 64

struct arm64_kernel {
	uint64_t entry; /* guest-physical address of the first byte; where vCPU 0 starts */
	uint64_t end;   /* first byte past what the kernel occupies, its BSS included */
};

/* Copy the Image to the start of RAM (ram_base, 2 MiB-aligned); `out` is written only on success. */
int arm64_kernel_load(const struct guest_memory *mem, uint64_t ram_base, const uint8_t *image,
		      size_t size, struct arm64_kernel *out);

#endif
