/*
 * guest-blkzero zeroout|punch DEVICE OFFSET LENGTH: zero a byte range of a
 * block device from inside the test guest, a tool busybox lacks.
 *   zeroout  ioctl(BLKZEROOUT): a WRITE_ZEROES request where the device offers
 *            it; the kernel falls back to writing zero pages where it does not.
 *   punch    fallocate(PUNCH_HOLE): WRITE_ZEROES with the unmap flag and no
 *            fallback, so it succeeds only if the device executes WRITE_ZEROES.
 * Built static (the guest has no libc); used by tests/kvm/test-disks.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t range[2];
	int fd, r;

	if (argc != 5 || (strcmp(argv[1], "zeroout") && strcmp(argv[1], "punch"))) {
		fprintf(stderr, "usage: guest-blkzero zeroout|punch DEVICE OFFSET LENGTH\n");
		return 2;
	}
	range[0] = strtoull(argv[3], NULL, 0);
	range[1] = strtoull(argv[4], NULL, 0);
	fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "guest-blkzero: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (strcmp(argv[1], "zeroout") == 0)
		r = ioctl(fd, BLKZEROOUT, range);
	else
		r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)range[0],
			      (off_t)range[1]);
	if (r < 0) {
		fprintf(stderr, "guest-blkzero: %s %s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	return close(fd) < 0;
}
