/* --copy-in and --copy-out: whole files between the host and the guest, through the agent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The largest file --copy-out accepts: the guest's announcement is not trusted beyond it. */
#define COPY_OUT_MAX ((size_t)1 << 32)

static int read_host_file(const char *path, void **data_out, size_t *len_out, mode_t *mode)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t have = 0;
	char *data;

	if (fd < 0)
		return runner_error("--copy-in: cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return runner_error("--copy-in: '%s' is not a regular file", path);
	}
	data = malloc((size_t)st.st_size + 1);
	while (data && have < (size_t)st.st_size) {
		ssize_t n = read(fd, data + have, (size_t)st.st_size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (!data || have != (size_t)st.st_size) {
		free(data);
		return runner_error("--copy-in: cannot read '%s' whole", path);
	}
	*data_out = data;
	*len_out = have;
	*mode = st.st_mode & 07777;
	return 0;
}

int copy_in(agentvm_vm *vm, const struct copy *c)
{
	void *data = NULL;
	size_t len = 0;
	mode_t mode = 0;
	int err;

	if (read_host_file(c->host, &data, &len, &mode))
		return EXIT_RUNNER_ERROR;
	err = agentvm_vm_write_file(vm, c->guest, data, len, mode);
	free(data);
	if (err)
		return runner_error("--copy-in %s:%s: %s", c->host, c->guest, agentvm_last_error());
	return 0;
}

static int write_host_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		data += n;
		len -= (size_t)n;
	}
	return close(fd) < 0 ? -errno : 0;
}

int copy_out(agentvm_vm *vm, const struct copy *c)
{
	void *data;
	size_t len;
	int err;

	err = agentvm_vm_read_file(vm, c->guest, COPY_OUT_MAX, &data, &len);
	if (err)
		return runner_error("--copy-out %s:%s: %s", c->guest, c->host, agentvm_last_error());
	err = write_host_file(c->host, data, len);
	agentvm_buffer_free(data);
	if (err)
		return runner_error("--copy-out %s:%s: cannot write '%s': %s", c->guest, c->host,
				    c->host, strerror(-err));
	return 0;
}
