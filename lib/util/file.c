#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

int mapped_file_open(struct mapped_file *file, const char *path, const char *what)
{
	struct stat st;
	void *data;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set_errno(-errno, "cannot open %s '%s'", what, path);
	if (fstat(fd, &st) < 0) {
		err = error_set_errno(-errno, "cannot stat %s '%s'", what, path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = error_set(-EINVAL, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	if (st.st_size == 0) {
		err = error_set(-EINVAL, "%s '%s' is empty", what, path);
		goto out;
	}
	/* Populated: mapped in one go rather than by a fault per page as it is copied. */
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (data == MAP_FAILED) {
		err = error_set_errno(-errno, "cannot map %s '%s'", what, path);
		goto out;
	}
	file->data = data;
	file->size = (size_t)st.st_size;
	err = 0;
out:
	close(fd);
	return err;
}

void mapped_file_close(struct mapped_file *file)
{
	if (file->data)
		munmap((void *)file->data, file->size);
	file->data = NULL;
	file->size = 0;
}

int file_write_at(int fd, const void *buf, size_t len, uint64_t offset)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

int file_read_at(int fd, void *buf, size_t len, uint64_t offset)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}
