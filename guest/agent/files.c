#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"

/*
 * The path as a C string. The payload it points into is overwritten by the
 * next frame, and the protocol's strings carry no NUL, so a copy is needed
 * anyway. NULL (after answering ERROR) when out of memory.
 */
static char *path_dup(struct conn *c, const struct agent_str *s)
{
	char *p = malloc((size_t)s->len + 1);

	if (!p) {
		conn_send_error(c, AGENT_G2H_ERROR, -ENOMEM, "no memory for a path of %u bytes",
				s->len);
		return NULL;
	}
	memcpy(p, s->ptr, s->len);
	p[s->len] = '\0';
	return p;
}

static int error_at(struct conn *c, int err, const char *step, const char *path)
{
	conn_send_error(c, AGENT_G2H_ERROR, err, "%s '%.200s': %s", step, path, strerror(-err));
	return err;
}

/* Receive exactly `size` bytes of FILE_DATA into fd. */
static int receive_data(struct conn *c, int fd, uint64_t size, const char *path)
{
	struct agent_frame_header h;
	int err;

	while (size) {
		err = conn_read(c, &h);
		if (err)
			return conn_read_failed(c, err);
		if (h.type != AGENT_H2G_FILE_DATA)
			return conn_refuse(c, "%s frame inside FILE_WRITE data",
					   agent_type_name(h.type));
		if (h.len > size)
			return conn_refuse(c, "FILE_DATA beyond the size FILE_WRITE announced");
		err = fd_write_all(fd, c->payload, h.len);
		if (err)
			return error_at(c, err, "write", path);
		size -= h.len;
	}
	return 0;
}

void file_write_serve(struct conn *c, uint32_t len)
{
	struct agent_file_write req;
	char *path;
	int fd, err;

	if (agent_file_write_decode(c->payload, len, &req)) {
		conn_refuse(c, "malformed FILE_WRITE");
		return;
	}
	path = path_dup(c, &req.path);
	if (!path)
		return;
	/* O_NOCTTY: a path naming a terminal must not become the agent's controlling terminal. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		error_at(c, -errno, "open", path);
		goto out;
	}
	/* The mode is exact: neither the umask nor an existing file's bits may change it. */
	if (fchmod(fd, req.mode) < 0) {
		error_at(c, -errno, "chmod", path);
		goto out;
	}
	err = receive_data(c, fd, req.size, path);
	if (err)
		goto out;
	err = close(fd);
	fd = -1;
	if (err < 0)
		error_at(c, -errno, "close", path);
	else
		conn_send_frame(c, AGENT_G2H_OK, NULL, 0);
out:
	fd_close(&fd);
	free(path);
}

/* Send exactly `size` bytes of fd as FILE_DATA frames. */
static int send_data(struct conn *c, int fd, uint64_t size, const char *path)
{
	while (size) {
		size_t want = size < sizeof(c->chunk) ? (size_t)size : sizeof(c->chunk);
		ssize_t n = fd_read_full(fd, c->chunk, want);
		int err;

		if (n < 0)
			return error_at(c, (int)n, "read", path);
		if (n == 0) {
			conn_send_error(c, AGENT_G2H_ERROR, -EIO,
					"read '%.200s': the file shrank while it was sent", path);
			return -EIO;
		}
		err = conn_send_frame(c, AGENT_G2H_FILE_DATA, c->chunk, (size_t)n);
		if (err)
			return err;
		size -= (uint64_t)n;
	}
	return 0;
}

/*
 * Open path for FILE_READ: a regular file of at most max_size bytes. Its
 * descriptor and its size in *size, or -errno after answering ERROR.
 */
static int open_for_read(struct conn *c, const char *path, uint64_t max_size, uint64_t *size)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat refuses it next. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int err;

	if (fd < 0)
		return error_at(c, -errno, "open", path);
	if (fstat(fd, &st) < 0) {
		err = error_at(c, -errno, "stat", path);
	} else if (S_ISDIR(st.st_mode)) {
		err = error_at(c, -EISDIR, "read", path);
	} else if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		conn_send_error(c, AGENT_G2H_ERROR, err, "read '%.200s': not a regular file", path);
	} else if ((uint64_t)st.st_size > max_size) {
		err = -EFBIG;
		conn_send_error(c, AGENT_G2H_ERROR, err,
				"read '%.200s': %lld bytes, over the %llu the host accepts", path,
				(long long)st.st_size, (unsigned long long)max_size);
	} else {
		*size = (uint64_t)st.st_size;
		return fd;
	}
	close(fd);
	return err;
}

void file_read_serve(struct conn *c, uint32_t len)
{
	struct agent_file_read req;
	struct agent_writer w;
	uint64_t size = 0;
	char *path;
	int fd;

	if (agent_file_read_decode(c->payload, len, &req)) {
		conn_refuse(c, "malformed FILE_READ");
		return;
	}
	path = path_dup(c, &req.path);
	if (!path)
		return;
	fd = open_for_read(c, path, req.max_size, &size);
	if (fd >= 0) {
		conn_writer(c, &w);
		agent_file_info_encode(&w, size);
		if (!conn_send(c, &w) && !send_data(c, fd, size, path))
			conn_send_frame(c, AGENT_G2H_FILE_END, NULL, 0);
		close(fd);
	}
	free(path);
}
