/*
 * Loading an x86_64 Linux kernel image into guest memory: an uncompressed
 * ELF `vmlinux` (entered at its 64-bit entry) or a bzImage (its protected-mode
 * part at 1 MiB, entered at the 64-bit entry 0x200 bytes in, Linux boot
 * protocol 2.12+). Images are untrusted input: every offset and size is
 * checked against the file and against guest RAM before anything is copied.
 */
#ifndef AGENTVM_ARCH_X86_64_KERNEL_LOADER_H
#define AGENTVM_ARCH_X86_64_KERNEL_LOADER_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

struct x86_kernel {
	uint64_t entry;      /* guest-physical 64-bit entry point */
	uint64_t load_start; /* guest-physical range the image occupies */
	uint64_t load_end;
	bool has_setup_header;     /* bzImage: `setup` is its header, to copy into boot_params */
	struct setup_header setup;
};

/* Copy the image into guest memory; `out` is written only on success. */
int x86_kernel_load(const struct guest_memory *mem, const uint8_t *image, size_t size,
		    struct x86_kernel *out);

#endif
