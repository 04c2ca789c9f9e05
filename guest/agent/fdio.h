/* Whole-buffer reads and writes on blocking descriptors, retrying EINTR and short transfers. */
#ifndef AGENTVM_GUEST_FDIO_H
#define AGENTVM_GUEST_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* All n bytes: 0, or -errno of the write that failed. */
int fd_write_all(int fd, const void *buf, size_t n);

/* Up to n bytes, fewer only at end of file: the count, or -errno. */
ssize_t fd_read_full(int fd, void *buf, size_t n);

/* close(*fd) if it is open and mark it closed (-1). */
void fd_close(int *fd);

#endif
