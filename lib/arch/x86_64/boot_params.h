/*
 * The Linux x86 "zero page" (struct boot_params): the memory map (e820), the
 * command line and the initrd, written where the 64-bit boot
 * protocol expects %rsi to point.
 */
#ifndef AGENTVM_ARCH_X86_64_BOOT_PARAMS_H
#define AGENTVM_ARCH_X86_64_BOOT_PARAMS_H

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/kernel_loader.h"
#include "kvm/memory.h"

struct x86_boot_info {
	const char *cmdline;
	uint64_t initrd_addr; /* 0 when there is no initrd */
	uint64_t initrd_size;
};

/* The guest's memory map: RAM, the legacy hole below 1 MiB and the BIOS area. Returns the entry count. */
unsigned int x86_e820_build(const struct guest_memory *mem, struct boot_e820_entry *table,
			    unsigned int max);

/* Where an initrd of `size` bytes goes: page-aligned, as high as the kernel can reach, above the kernel. */
int x86_initrd_place(const struct guest_memory *mem, const struct x86_kernel *kernel,
		     uint64_t size, uint64_t *addr_out);

/* The longest command line the kernel accepts, including the NUL. */
size_t x86_cmdline_limit(const struct x86_kernel *kernel);

/* Write the command line and boot_params into guest memory. */
int x86_boot_params_write(const struct guest_memory *mem, const struct x86_kernel *kernel,
			  const struct x86_boot_info *info);

#endif
