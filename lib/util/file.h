/* Read-only whole-file mappings for kernel and initrd images, and whole positioned reads and writes. */
#ifndef AGENTVM_UTIL_FILE_H
#define AGENTVM_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

struct mapped_file {
	const uint8_t *data;
	size_t size;
};

/*
 * Map `path` read-only. `what` names the file in error messages ("kernel").
 * Empty files are refused (-EINVAL): nothing we load may be empty.
 */
int mapped_file_open(struct mapped_file *file, const char *path, const char *what);
void mapped_file_close(struct mapped_file *file);

/*
 * Write all len bytes at offset, going on after signals and short writes:
 * 0, or -errno (-EIO if the file takes no more). No message is set: the
 * caller says what it was writing.
 */
int file_write_at(int fd, const void *buf, size_t len, uint64_t offset);

/* Read exactly len bytes at offset, the same way: 0, -errno, or -ENODATA if the file ends first. */
int file_read_at(int fd, void *buf, size_t len, uint64_t offset);

#endif
