/* x86_64 boot images and tables: ELF and bzImage loading, e820, initrd placement, boot_params, MP table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <elf.h>

#include "arch/x86_64/mptable.h"
#include "arch/x86_64/boot_params.h"
#include "arch/x86_64/kernel_loader.h"
#include "arch/x86_64/layout.h"
#include "kvm/memory.h"

#define MIB (1024ULL * 1024)
#define KERNEL_PADDR (16 * MIB)

static struct guest_memory make_memory(uint64_t bytes)
{
	struct memory_region layout[2];
	struct guest_memory mem;
	unsigned int n = 1;

	layout[0] = (struct memory_region){ .gpa = 0, .size = bytes };
	if (bytes > X86_MMIO_HOLE_START) {
		layout[0].size = X86_MMIO_HOLE_START;
		layout[1] = (struct memory_region){ .gpa = X86_MMIO_HOLE_END,
						    .size = bytes - X86_MMIO_HOLE_START };
		n = 2;
	}
	assert_int_equal(guest_memory_create(&mem, layout, n), 0);
	return mem;
}

/* A minimal vmlinux look-alike: one PT_LOAD of `payload` bytes at 16 MiB, entry at its start. */
static uint8_t *make_elf(size_t payload, size_t *size_out)
{
	size_t size = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + payload;
	uint8_t *img = calloc(1, size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = KERNEL_PADDR + 0x10;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_offset = sizeof(*eh) + sizeof(*ph);
	ph->p_paddr = KERNEL_PADDR;
	ph->p_filesz = payload;
	ph->p_memsz = payload + 4096;
	memset(img + ph->p_offset, 0xcc, payload);
	*size_out = size;
	return img;
}

static void elf_loads_segments_and_entry(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct x86_kernel k;
	size_t size;
	uint8_t *img = make_elf(8192, &size);
	uint8_t *loaded;

	(void)state;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), 0);
	assert_int_equal(k.entry, KERNEL_PADDR + 0x10);
	assert_int_equal(k.load_start, KERNEL_PADDR);
	assert_int_equal(k.load_end, KERNEL_PADDR + 8192 + 4096);
	assert_false(k.has_setup_header);
	loaded = guest_memory_ptr(&mem, KERNEL_PADDR, 8192);
	assert_int_equal(loaded[0], 0xcc);
	assert_int_equal(loaded[8191], 0xcc);
	free(img);
	guest_memory_destroy(&mem);
}

static void elf_malformed_refused(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct x86_kernel k;
	size_t size;
	uint8_t *img = make_elf(8192, &size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	(void)state;
	/* Truncated: every prefix shorter than the whole segment fails, none crashes. */
	for (size_t cut = 0; cut < size; cut += 97)
		assert_int_equal(x86_kernel_load(&mem, img, cut, &k), -EINVAL);

	eh->e_machine = EM_AARCH64;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	eh->e_machine = EM_X86_64;

	eh->e_entry = 0x1234;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	eh->e_entry = KERNEL_PADDR;

	ph->p_paddr = 60 * MIB; /* runs past 64 MiB of RAM */
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	ph->p_paddr = 0x1000; /* would overwrite the boot tables */
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	ph->p_paddr = UINT64_MAX - 100; /* wraps */
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	ph->p_paddr = KERNEL_PADDR;

	ph->p_filesz = ph->p_memsz + 1;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	ph->p_filesz = 8192;
	ph->p_offset = UINT64_MAX - 10;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	ph->p_offset = sizeof(*eh) + sizeof(*ph);

	eh->e_phnum = 1000;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	eh->e_phnum = 1;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), 0);
	free(img);
	guest_memory_destroy(&mem);
}

static void not_a_kernel_refused(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	uint8_t junk[4096];
	struct x86_kernel k;

	(void)state;
	memset(junk, 0x90, sizeof(junk));
	assert_int_equal(x86_kernel_load(&mem, junk, sizeof(junk), &k), -EINVAL);
	assert_int_equal(x86_kernel_load(&mem, junk, 3, &k), -EINVAL);
	guest_memory_destroy(&mem);
}

static uint8_t *make_bzimage(size_t *size_out, uint16_t version, uint16_t xloadflags)
{
	size_t size = 5 * 512 + 64 * 1024;
	uint8_t *img = calloc(1, size);
	struct setup_header hdr = { 0 };

	hdr.setup_sects = 4;
	hdr.boot_flag = 0xaa55;
	hdr.header = 0x53726448;
	hdr.version = version;
	hdr.xloadflags = xloadflags;
	hdr.initrd_addr_max = 0x7fffffff;
	hdr.cmdline_size = 2047;
	hdr.init_size = 1 * MIB;
	memcpy(img + 0x1f1, &hdr, sizeof(hdr));
	memset(img + 5 * 512, 0xab, 64 * 1024);
	*size_out = size;
	return img;
}

static void bzimage_loaded_at_1mib_with_64bit_entry(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct x86_kernel k;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, XLF_KERNEL_64);

	(void)state;
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), 0);
	assert_true(k.has_setup_header);
	assert_int_equal(k.entry, X86_HIGH_MEMORY + 0x200);
	assert_int_equal(k.load_end, X86_HIGH_MEMORY + 1 * MIB); /* init_size wins over the file */
	assert_int_equal(*(uint8_t *)guest_memory_ptr(&mem, X86_HIGH_MEMORY, 1), 0xab);
	assert_int_equal(x86_cmdline_limit(&k), 2048);
	free(img);

	img = make_bzimage(&size, 0x020f, 0); /* no 64-bit entry */
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	free(img);
	img = make_bzimage(&size, 0x0204, XLF_KERNEL_64); /* protocol too old */
	assert_int_equal(x86_kernel_load(&mem, img, size, &k), -EINVAL);
	assert_int_equal(x86_kernel_load(&mem, img, 5 * 512, &k), -EINVAL);
	free(img);
	guest_memory_destroy(&mem);
}

static void e820_describes_ram_and_holes(void **state)
{
	struct guest_memory mem = make_memory(256 * MIB);
	struct boot_e820_entry table[16];
	unsigned int n = x86_e820_build(&mem, table, 16);
	uint64_t ram = 0;

	(void)state;
	assert_int_equal(n, 4);
	for (unsigned int i = 0; i < n; i++) {
		if (table[i].type == 1)
			ram += table[i].size;
		if (i > 0) /* sorted, disjoint */
			assert_true(table[i].addr >= table[i - 1].addr + table[i - 1].size);
	}
	assert_int_equal(table[3].addr, X86_HIGH_MEMORY);
	assert_int_equal(table[3].addr + table[3].size, 256 * MIB);
	assert_int_equal(ram, 256 * MIB - (X86_HIGH_MEMORY - X86_EBDA_START));
	guest_memory_destroy(&mem);
}

static void e820_spans_the_mmio_hole(void **state)
{
	struct guest_memory mem = make_memory(4096 * MIB);
	struct boot_e820_entry table[16];
	unsigned int n = x86_e820_build(&mem, table, 16);

	(void)state;
	assert_int_equal(n, 5);
	assert_int_equal(table[3].addr + table[3].size, X86_MMIO_HOLE_START);
	assert_int_equal(table[4].addr, X86_MMIO_HOLE_END);
	assert_int_equal(table[4].size, 4096 * MIB - X86_MMIO_HOLE_START);
	guest_memory_destroy(&mem);
}

static void initrd_goes_high_and_must_fit(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct x86_kernel k = { .load_start = KERNEL_PADDR, .load_end = 32 * MIB };
	uint64_t addr;

	(void)state;
	assert_int_equal(x86_initrd_place(&mem, &k, 1000000, &addr), 0);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + 1000000 <= 64 * MIB);
	assert_true(addr >= 64 * MIB - 1000000 - 4096);
	assert_int_equal(x86_initrd_place(&mem, &k, 40 * MIB, &addr), -EINVAL); /* overlaps the kernel */
	assert_int_equal(x86_initrd_place(&mem, &k, 128 * MIB, &addr), -EINVAL);
	guest_memory_destroy(&mem);
}

static void boot_params_carry_cmdline_and_initrd(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct x86_kernel k = { .entry = KERNEL_PADDR, .load_start = KERNEL_PADDR, .load_end = 20 * MIB };
	struct x86_boot_info info = {
		.cmdline = "console=ttyS0 quiet",
		.initrd_addr = 60 * MIB,
		.initrd_size = 12345,
	};
	struct boot_params *bp;
	char longline[3000];

	(void)state;
	assert_int_equal(x86_boot_params_write(&mem, &k, &info), 0);
	bp = guest_memory_ptr(&mem, X86_BOOT_PARAMS_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	assert_string_equal((char *)guest_memory_ptr(&mem, X86_CMDLINE_ADDR, 1), "console=ttyS0 quiet");
	assert_int_equal(bp->hdr.ramdisk_image, 60 * MIB);
	assert_int_equal(bp->hdr.ramdisk_size, 12345);
	assert_int_equal(bp->e820_entries, 4);

	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	info.cmdline = longline;
	assert_int_equal(x86_boot_params_write(&mem, &k, &info), -EINVAL);
	guest_memory_destroy(&mem);
}

static void mptable_checksums_and_lists_cpus_and_isa_irqs(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	const uint8_t *fp, *table, *entry;
	uint32_t table_addr;
	uint16_t len, count;
	int cpus = 0, boot_cpus = 0, io_irqs = 0;

	(void)state;
	assert_int_equal(x86_mptable_write(&mem, 3), 0);
	fp = guest_memory_ptr(&mem, X86_MPTABLE_ADDR, 16);
	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(x86_mptable_checksum(fp, 16), 0);
	assert_int_equal(fp[8], 1); /* length in paragraphs */
	memcpy(&table_addr, fp + 4, 4);
	table = guest_memory_ptr(&mem, table_addr, 44);
	assert_memory_equal(table, "PCMP", 4);
	memcpy(&len, table + 4, 2);
	memcpy(&count, table + 34, 2);
	assert_int_equal(x86_mptable_checksum(table, len), 0);
	/* The whole structure stays inside the reserved BIOS area. */
	assert_true(table_addr + len <= X86_MPTABLE_ADDR + X86_MPTABLE_SIZE);

	entry = table + 44;
	for (unsigned int i = 0; i < count; i++) {
		switch (entry[0]) {
		case 0: /* processor: 20 bytes */
			assert_int_equal(entry[1], cpus);
			cpus++;
			boot_cpus += (entry[3] & 2) ? 1 : 0;
			entry += 20;
			break;
		case 3: /* I/O interrupt: ISA IRQ n on IOAPIC pin n */
			assert_int_equal(entry[5], entry[7]);
			assert_int_equal(entry[6], 3); /* the IOAPIC's ID follows the CPUs' */
			io_irqs++;
			entry += 8;
			break;
		default:
			entry += 8;
			break;
		}
	}
	assert_ptr_equal(entry, table + len);
	assert_int_equal(cpus, 3);
	assert_int_equal(boot_cpus, 1);
	assert_int_equal(io_irqs, 16);
	assert_int_equal(x86_mptable_write(&mem, 64), 0); /* the largest VM fits too */
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(elf_loads_segments_and_entry),
		cmocka_unit_test(elf_malformed_refused),
		cmocka_unit_test(not_a_kernel_refused),
		cmocka_unit_test(bzimage_loaded_at_1mib_with_64bit_entry),
		cmocka_unit_test(e820_describes_ram_and_holes),
		cmocka_unit_test(e820_spans_the_mmio_hole),
		cmocka_unit_test(initrd_goes_high_and_must_fit),
		cmocka_unit_test(boot_params_carry_cmdline_and_initrd),
		cmocka_unit_test(mptable_checksums_and_lists_cpus_and_isa_irqs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
