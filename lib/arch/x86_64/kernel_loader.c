#include "arch/x86_64/kernel_loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "util/error.h"

/* A vmlinux has a handful of PT_LOAD segments; more than this is not a kernel. */
#define ELF_MAX_PROGRAM_HEADERS 64

/* Linux boot protocol (Documentation/arch/x86/boot.rst). */
#define SETUP_HEADER_OFFSET 0x1f1
#define SETUP_MAGIC 0x53726448 /* "HdrS" */
#define SETUP_MIN_VERSION 0x020c /* 2.12: xloadflags, so XLF_KERNEL_64 can be checked */
#define SETUP_DEFAULT_SECTS 4
#define BZIMAGE_LOAD_ADDR X86_HIGH_MEMORY
#define BZIMAGE_ENTRY_64_OFFSET 0x200

static bool range_in_file(size_t file_size, uint64_t offset, uint64_t len)
{
	return offset <= file_size && len <= file_size - offset;
}

static int load_elf(const struct guest_memory *mem, const uint8_t *image, size_t size,
		    struct x86_kernel *out)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
	uint64_t lo = UINT64_MAX, hi = 0;
	bool entry_loaded = false;
	unsigned int loads = 0;

	if (size < sizeof(*eh))
		return error_set(-EINVAL, "kernel ELF is truncated: %zu bytes, shorter than its header", size);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return error_set(-EINVAL, "kernel ELF is not a little-endian x86_64 image");
	if (eh->e_type != ET_EXEC)
		return error_set(-EINVAL, "kernel ELF is not an executable (e_type %u)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > ELF_MAX_PROGRAM_HEADERS)
		return error_set(-EINVAL, "kernel ELF has a bad program header table (%u entries of %u bytes)",
				 eh->e_phnum, eh->e_phentsize);
	if (!range_in_file(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return error_set(-EINVAL, "kernel ELF is truncated: program headers lie past its end");

	/* Check every segment before copying any, so a bad image leaves memory untouched. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned int i = 0; i < eh->e_phnum; i++) {
			Elf64_Phdr ph;
			int err;

			memcpy(&ph, image + eh->e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
				continue;
			if (ph.p_filesz > ph.p_memsz || !range_in_file(size, ph.p_offset, ph.p_filesz))
				return error_set(-EINVAL, "kernel ELF is truncated: segment %u lies past its end", i);
			if (ph.p_paddr < X86_HIGH_MEMORY)
				return error_set(-EINVAL, "kernel ELF segment %u loads at 0x%llx, below 1 MiB",
						 i, (unsigned long long)ph.p_paddr);
			if (!guest_memory_ptr(mem, ph.p_paddr, ph.p_memsz))
				return error_set(-EINVAL, "kernel ELF segment %u (0x%llx, %llu bytes) does not fit in guest memory",
						 i, (unsigned long long)ph.p_paddr,
						 (unsigned long long)ph.p_memsz);
			if (pass == 0) {
				lo = ph.p_paddr < lo ? ph.p_paddr : lo;
				hi = ph.p_paddr + ph.p_memsz > hi ? ph.p_paddr + ph.p_memsz : hi;
				if (eh->e_entry >= ph.p_paddr && eh->e_entry - ph.p_paddr < ph.p_memsz)
					entry_loaded = true;
				loads++;
				continue;
			}
			/* The tail up to p_memsz (bss) is left alone: fresh guest memory is already zero. */
			err = guest_memory_write(mem, ph.p_paddr, image + ph.p_offset, ph.p_filesz);
			if (err)
				return err;
		}
		if (pass == 0 && loads == 0)
			return error_set(-EINVAL, "kernel ELF has no loadable segment");
		if (pass == 0 && !entry_loaded)
			return error_set(-EINVAL, "kernel ELF entry 0x%llx is outside its loaded segments",
					 (unsigned long long)eh->e_entry);
	}
	memset(out, 0, sizeof(*out));
	out->entry = eh->e_entry;
	out->load_start = lo;
	out->load_end = hi;
	return 0;
}

static int load_bzimage(const struct guest_memory *mem, const uint8_t *image, size_t size,
			struct x86_kernel *out)
{
	struct setup_header hdr;
	uint64_t setup_bytes, kernel_bytes, needed;
	int err;

	if (!range_in_file(size, SETUP_HEADER_OFFSET, sizeof(hdr)))
		return error_set(-EINVAL, "kernel bzImage is truncated: %zu bytes, shorter than its setup header", size);
	memcpy(&hdr, image + SETUP_HEADER_OFFSET, sizeof(hdr));
	if (hdr.version < SETUP_MIN_VERSION || !(hdr.xloadflags & XLF_KERNEL_64))
		return error_set(-EINVAL, "kernel bzImage speaks boot protocol %u.%02u without a 64-bit entry; 2.12+ with XLF_KERNEL_64 is needed",
				 hdr.version >> 8, hdr.version & 0xff);
	setup_bytes = ((uint64_t)(hdr.setup_sects ? hdr.setup_sects : SETUP_DEFAULT_SECTS) + 1) * 512;
	if (setup_bytes >= size)
		return error_set(-EINVAL, "kernel bzImage is truncated: no kernel after its %llu setup bytes",
				 (unsigned long long)setup_bytes);
	kernel_bytes = size - setup_bytes;
	/* The decompressor works in place and needs init_size bytes from the load address. */
	needed = hdr.init_size > kernel_bytes ? hdr.init_size : kernel_bytes;
	if (!guest_memory_ptr(mem, BZIMAGE_LOAD_ADDR, needed))
		return error_set(-EINVAL, "kernel bzImage needs %llu bytes at 1 MiB, more than guest memory has",
				 (unsigned long long)needed);
	err = guest_memory_write(mem, BZIMAGE_LOAD_ADDR, image + setup_bytes, kernel_bytes);
	if (err)
		return err;

	memset(out, 0, sizeof(*out));
	out->entry = BZIMAGE_LOAD_ADDR + BZIMAGE_ENTRY_64_OFFSET;
	out->load_start = BZIMAGE_LOAD_ADDR;
	out->load_end = BZIMAGE_LOAD_ADDR + needed;
	out->has_setup_header = true;
	out->setup = hdr;
	return 0;
}

int x86_kernel_load(const struct guest_memory *mem, const uint8_t *image, size_t size,
		    struct x86_kernel *out)
{
	uint32_t magic;

	if (size >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0)
		return load_elf(mem, image, size, out);
	if (range_in_file(size, SETUP_HEADER_OFFSET, sizeof(struct setup_header))) {
		memcpy(&magic, image + offsetof(struct setup_header, header) + SETUP_HEADER_OFFSET,
		       sizeof(magic));
		if (magic == SETUP_MAGIC)
			return load_bzimage(mem, image, size, out);
	}
	return error_set(-EINVAL, "kernel is neither an ELF vmlinux nor a bzImage (%zu bytes, no ELF magic or HdrS header)",
			 size);
}
