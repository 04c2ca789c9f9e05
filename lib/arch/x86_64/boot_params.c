#include "arch/x86_64/boot_params.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "util/error.h"

#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2
#define PAGE_SIZE_4K 4096ULL
#define BOOT_FLAG_MAGIC 0xaa55
#define SETUP_HEADER_MAGIC 0x53726448 /* "HdrS" */
#define LOADER_TYPE_UNDEFINED 0xff    /* boot.rst: a loader with no assigned ID */
#define COMMAND_LINE_SIZE_DEFAULT 2048 /* x86 COMMAND_LINE_SIZE when the image does not say */
#define PROTOCOL_2_06 0x0206
#define PROTOCOL_2_03 0x0203
#define INITRD_ADDR_MAX_DEFAULT 0x37ffffffULL

static void e820_add(struct boot_e820_entry *table, unsigned int *n, unsigned int max,
		     uint64_t addr, uint64_t size, uint32_t type)
{
	if (*n < max && size)
		table[(*n)++] = (struct boot_e820_entry){ .addr = addr, .size = size, .type = type };
}

unsigned int x86_e820_build(const struct guest_memory *mem, struct boot_e820_entry *table,
			    unsigned int max)
{
	unsigned int n = 0;

	/* Region 0 starts at 0 and spans at least 1 MiB (the config's minimum is 16 MiB). */
	e820_add(table, &n, max, 0, X86_EBDA_START, E820_TYPE_RAM);
	e820_add(table, &n, max, X86_EBDA_START, 0xa0000 - X86_EBDA_START, E820_TYPE_RESERVED);
	e820_add(table, &n, max, X86_BIOS_AREA, X86_HIGH_MEMORY - X86_BIOS_AREA, E820_TYPE_RESERVED);
	e820_add(table, &n, max, X86_HIGH_MEMORY, mem->regions[0].size - X86_HIGH_MEMORY, E820_TYPE_RAM);
	for (unsigned int i = 1; i < mem->nregions; i++)
		e820_add(table, &n, max, mem->regions[i].gpa, mem->regions[i].size, E820_TYPE_RAM);
	return n;
}

int x86_initrd_place(const struct guest_memory *mem, const struct x86_kernel *kernel,
		     uint64_t size, uint64_t *addr_out)
{
	uint64_t top = mem->regions[0].gpa + mem->regions[0].size;
	uint64_t max = INITRD_ADDR_MAX_DEFAULT;
	uint64_t addr;

	if (kernel->has_setup_header && kernel->setup.version >= PROTOCOL_2_03)
		max = kernel->setup.initrd_addr_max;
	else if (!kernel->has_setup_header)
		max = X86_MMIO_HOLE_START - 1; /* a vmlinux maps all of low memory early */
	if (top > max + 1)
		top = max + 1;
	addr = top > size ? (top - size) & ~(PAGE_SIZE_4K - 1) : 0;
	if (size > top || addr < kernel->load_end)
		return error_set(-EINVAL, "initrd of %llu bytes does not fit in guest memory between the kernel (ends at 0x%llx) and 0x%llx; give the VM more memory",
				 (unsigned long long)size, (unsigned long long)kernel->load_end,
				 (unsigned long long)top);
	*addr_out = addr;
	return 0;
}

size_t x86_cmdline_limit(const struct x86_kernel *kernel)
{
	size_t limit = COMMAND_LINE_SIZE_DEFAULT;

	if (kernel->has_setup_header && kernel->setup.version >= PROTOCOL_2_06)
		limit = kernel->setup.cmdline_size + 1;
	return limit < X86_CMDLINE_MAX ? limit : X86_CMDLINE_MAX;
}

int x86_boot_params_write(const struct guest_memory *mem, const struct x86_kernel *kernel,
			  const struct x86_boot_info *info)
{
	size_t cmdline_len = strlen(info->cmdline) + 1;
	struct boot_params *bp;
	char *cmdline;

	if (cmdline_len > x86_cmdline_limit(kernel))
		return error_set(-EINVAL, "kernel command line is %zu bytes, over the kernel's limit of %zu",
				 cmdline_len - 1, x86_cmdline_limit(kernel) - 1);
	bp = guest_memory_ptr(mem, X86_BOOT_PARAMS_ADDR, sizeof(*bp));
	cmdline = guest_memory_ptr(mem, X86_CMDLINE_ADDR, cmdline_len);
	if (!bp || !cmdline)
		return error_set(-EINVAL, "guest memory too small for boot parameters");
	memcpy(cmdline, info->cmdline, cmdline_len);

	memset(bp, 0, sizeof(*bp));
	if (kernel->has_setup_header)
		bp->hdr = kernel->setup;
	bp->hdr.boot_flag = BOOT_FLAG_MAGIC;
	bp->hdr.header = SETUP_HEADER_MAGIC;
	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.loadflags |= LOADED_HIGH;
	bp->hdr.cmd_line_ptr = (uint32_t)X86_CMDLINE_ADDR;
	bp->hdr.cmdline_size = (uint32_t)(cmdline_len - 1);
	bp->hdr.ramdisk_image = (uint32_t)info->initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)info->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(info->initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(info->initrd_size >> 32);
	bp->e820_entries = (uint8_t)x86_e820_build(mem, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	return 0;
}
