#include "arch/aarch64/kernel_loader.h"

#include <errno.h>

#include "util/error.h"
#include "util/le.h"

#define IMAGE_MAGIC 0x644d5241u /* "ARM\x64", little-endian, at byte 56 */
#define IMAGE_FLAG_BIG_ENDIAN 0x1u
/* Images from before Linux 3.17 leave image_size 0 and mean this text_offset. */
#define LEGACY_TEXT_OFFSET 0x80000u

int arm64_kernel_load(const struct guest_memory *mem, uint64_t ram_base, const uint8_t *image,
		      size_t size, struct arm64_kernel *out)
{
	uint64_t text_offset, image_size, flags, entry;
	int err;

	if (size < ARM64_IMAGE_HEADER_SIZE || le_load(image + 56, 4) != IMAGE_MAGIC)
		return error_set(-EINVAL, "kernel is not an arm64 Image (no \"ARM\\x64\" magic at byte 56; "
				 "a vmlinux ELF or a compressed Image.gz will not do)");
	/* Fields are little-endian whatever the kernel's own byte order. */
	text_offset = le_load(image + 8, 8);
	image_size = le_load(image + 16, 8);
	flags = le_load(image + 24, 8);
	if (flags & IMAGE_FLAG_BIG_ENDIAN)
		return error_set(-EINVAL, "kernel is a big-endian arm64 Image; guests must be little-endian");
	if (image_size == 0) {
		text_offset = LEGACY_TEXT_OFFSET;
		image_size = size;
	}
	/* Both come from the file: bound them before any sum can overflow. */
	if (text_offset >= mem->size || image_size > mem->size)
		return error_set(-EINVAL, "kernel Image asks for %llu bytes at offset %llu; the guest has %llu MiB",
				 (unsigned long long)image_size, (unsigned long long)text_offset,
				 (unsigned long long)(mem->size >> 20));
	if (size > image_size)
		return error_set(-EINVAL, "kernel Image is %zu bytes, more than the %llu its header claims",
				 size, (unsigned long long)image_size);
	entry = ram_base + text_offset;
	if (!guest_memory_ptr(mem, entry, image_size))
		return error_set(-EINVAL, "kernel Image (%llu bytes) does not fit in the guest's %llu MiB",
				 (unsigned long long)image_size, (unsigned long long)(mem->size >> 20));
	err = guest_memory_write(mem, entry, image, size);
	if (err)
		return err;
	out->entry = entry;
	out->end = entry + image_size;
	return 0;
}
