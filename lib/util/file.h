/* Read-only whole-file mappings for kernel and initrd images. */
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

#endif
