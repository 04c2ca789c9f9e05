#define _GNU_SOURCE
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/blk_request.h"
#include "util/error.h"
#include "util/thread.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX (VIRTQ_MAX_CHAIN - 2) /* header and status take a buffer each */
#define BLK_ID_BYTES VIRTIO_BLK_ID_BYTES
#define BLK_MAX_DISCARD_SECTORS 0x3fffff /* 2 GiB per request: keeps one punch short */
#define BLK_DISCARD_ALIGNMENT 8          /* sectors: 4 KiB, the host page and fs block */

struct virtio_blk {
	struct virtio_mmio transport;
	int fd;
	uint64_t size;
	bool read_only;
	char id[BLK_ID_BYTES];
	struct virtio_blk_config config;

	struct thread thread;
	bool thread_running;
	int stop_fd;
	struct virtq_chain chain;  /* the worker's scratch: large, so not on its stack */
	struct blk_request request;
};

/* preadv/pwritev until done: short transfers happen on signals and near EOF. */
static int transfer(int fd, bool write_to_file, struct iovec *iov, int iovcnt, uint64_t offset)
{
	while (iovcnt > 0) {
		ssize_t n = write_to_file ? pwritev(fd, iov, iovcnt, (off_t)offset)
					  : preadv(fd, iov, iovcnt, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		offset += (uint64_t)n;
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t max_sector = blk->size / BLK_SECTOR_SIZE;

	return bytes % BLK_SECTOR_SIZE == 0 && sector <= max_sector &&
	       bytes / BLK_SECTOR_SIZE <= max_sector - sector;
}

/* DISCARD and WRITE_ZEROES carry segments (virtio 1.2, 5.2.6); we offer max_discard_seg = 1. */
static uint8_t punch(struct virtio_blk *blk, const struct blk_request *req, bool zeroes)
{
	struct virtio_blk_discard_write_zeroes seg;
	int mode = FALLOC_FL_KEEP_SIZE | (zeroes ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE);
	uint64_t offset, len;

	if (blk->read_only || req->writable_len || req->readable_len != sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	blk_request_copy_data(req, &seg, sizeof(seg));
	/* Unknown flags, and UNMAP on a discard, must be refused (virtio 1.2, 5.2.6.2). */
	if (seg.flags & ~(zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u))
		return VIRTIO_BLK_S_UNSUPP;
	if (seg.num_sectors > BLK_MAX_DISCARD_SECTORS ||
	    !range_ok(blk, seg.sector, (uint64_t)seg.num_sectors * BLK_SECTOR_SIZE))
		return VIRTIO_BLK_S_IOERR;
	offset = seg.sector * BLK_SECTOR_SIZE;
	len = (uint64_t)seg.num_sectors * BLK_SECTOR_SIZE;
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	if (fallocate(blk->fd, mode, (off_t)offset, (off_t)len) == 0)
		return VIRTIO_BLK_S_OK;
	/* Zeroing must succeed even where the filesystem cannot zero a range: a hole reads as zeroes. */
	if (zeroes && fallocate(blk->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, (off_t)offset,
				(off_t)len) == 0)
		return VIRTIO_BLK_S_OK;
	return zeroes ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK; /* discard is a hint */
}

/* Execute one request; returns the status and how many bytes the device wrote. */
static uint8_t execute(struct virtio_blk *blk, struct blk_request *req, uint32_t *written)
{
	uint64_t id_len;

	*written = 0;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		if (req->readable_len || !range_ok(blk, req->sector, req->writable_len))
			return VIRTIO_BLK_S_IOERR;
		if (transfer(blk->fd, false, req->data, (int)req->ndata, req->sector * BLK_SECTOR_SIZE))
			return VIRTIO_BLK_S_IOERR;
		*written = (uint32_t)req->writable_len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (blk->read_only || req->writable_len ||
		    !range_ok(blk, req->sector, req->readable_len))
			return VIRTIO_BLK_S_IOERR;
		if (transfer(blk->fd, true, req->data, (int)req->ndata, req->sector * BLK_SECTOR_SIZE))
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (blk->read_only)
			return VIRTIO_BLK_S_OK;
		return fdatasync(blk->fd) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_GET_ID:
		if (req->readable_len)
			return VIRTIO_BLK_S_IOERR;
		id_len = req->writable_len < BLK_ID_BYTES ? req->writable_len : BLK_ID_BYTES;
		for (unsigned int i = 0, copied = 0; i < req->ndata && copied < id_len; i++) {
			uint64_t n = req->data[i].iov_len < id_len - copied ? req->data[i].iov_len
									   : id_len - copied;

			memcpy(req->data[i].iov_base, blk->id + copied, n);
			copied += (unsigned int)n;
		}
		*written = (uint32_t)id_len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
		return punch(blk, req, false);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return punch(blk, req, true);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Serve the queue until it is empty; false if the driver broke it. */
static bool serve_queue(struct virtio_blk *blk)
{
	struct virtq *q = &blk->transport.queues[0];
	bool pushed = false;
	int r;

	do {
		while ((r = virtq_pop(q, &blk->chain)) > 0) {
			uint32_t written = 0;
			uint8_t status;

			if (blk_request_parse(&blk->chain, &blk->request)) {
				/* No status byte to report through: the driver broke the protocol. */
				r = -EINVAL;
				break;
			}
			status = execute(blk, &blk->request, &written);
			*blk->request.status = status;
			virtq_push(q, blk->chain.head, written + 1);
			pushed = true;
		}
		if (r < 0) {
			virtio_mmio_fail(&blk->transport);
			return false;
		}
		if (pushed && virtq_needs_interrupt(q))
			virtio_mmio_interrupt(&blk->transport);
		pushed = false;
	} while (virtq_enable_notify(q));
	return true;
}

static void *blk_worker(void *arg)
{
	struct virtio_blk *blk = arg;
	struct pollfd fds[2] = {
		{ .fd = blk->transport.notify_fd[0], .events = POLLIN },
		{ .fd = blk->stop_fd, .events = POLLIN },
	};
	uint64_t count;
	/*
	 * Serve before the first wait: after a pause, or a restore in a new process
	 * (whose notify eventfd is fresh), the driver's kick may be gone but its
	 * buffers are not.
	 */
	bool healthy = serve_queue(blk);

	while (healthy) {
		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[1].revents)
			break;
		if (read(fds[0].fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			break;
		healthy = serve_queue(blk);
	}
	return NULL;
}

static uint64_t blk_features(void *dev)
{
	struct virtio_blk *blk = dev;
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH);

	if (blk->read_only)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static void blk_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_blk *blk = dev;

	memcpy(data, (const uint8_t *)&blk->config + offset, len);
}

static int blk_start(void *dev)
{
	struct virtio_blk *blk = dev;
	uint64_t drained;
	int r;

	if (read(blk->stop_fd, &drained, sizeof(drained)) < 0)
		drained = 0; /* no stale stop request: fine */
	r = thread_start(&blk->thread, "agentvm-blk", THREAD_STACK_OWN, blk_worker, blk);
	if (r)
		return error_set_errno(-r, "cannot start a disk's I/O thread");
	blk->thread_running = true;
	return 0;
}

static int blk_activate(void *dev, struct virtio_mmio *t)
{
	(void)t;
	return blk_start(dev);
}

/*
 * Requests are served synchronously on the worker, so once it is joined none
 * is in flight and the queue state is all in the transport: stopping is both
 * the device's reset and its pause.
 */
static void blk_stop(void *dev)
{
	struct virtio_blk *blk = dev;
	uint64_t one = 1;

	if (!blk->thread_running)
		return;
	if (write(blk->stop_fd, &one, sizeof(one)) < 0)
		return; /* cannot happen for a fresh eventfd; joining would then hang */
	thread_join(&blk->thread);
	blk->thread_running = false;
}

static const struct virtio_device_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_max_size = BLK_QUEUE_SIZE,
	.features = blk_features,
	.config_size = sizeof(struct virtio_blk_config),
	.config_read = blk_config_read,
	.activate = blk_activate,
	.reset = blk_stop,
	.pause = blk_stop,
	.resume = blk_start,
};

static int open_image(struct virtio_blk *blk, const char *path)
{
	struct stat st;

	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it is refused below. */
	blk->fd = open(path, (blk->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (blk->fd < 0)
		return error_set_errno(-errno, "cannot open disk image '%s'%s", path,
				       blk->read_only ? "" : " for writing");
	if (fstat(blk->fd, &st) < 0)
		return error_set_errno(-errno, "cannot stat disk image '%s'", path);
	if (!S_ISREG(st.st_mode))
		return error_set(-EINVAL, "disk image '%s' is not a regular file", path);
	if (st.st_size < BLK_SECTOR_SIZE)
		return error_set(-EINVAL, "disk image '%s' is smaller than one 512-byte sector", path);
	/* Two VMs writing one image corrupt it; readers may share. */
	if (flock(blk->fd, (blk->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return error_set(-EBUSY, "disk image '%s' is in use by another VM%s", path,
				 blk->read_only ? " for writing" : "");
	blk->size = (uint64_t)st.st_size;
	return 0;
}

int virtio_blk_create(const char *path, bool read_only, const char *serial,
		      const struct guest_memory *mem, const struct virtio_interrupt *interrupt,
		      struct virtio_blk **out)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	int err;

	if (!blk)
		return error_set(-ENOMEM, "out of memory for a disk");
	blk->read_only = read_only;
	blk->fd = -1;
	blk->stop_fd = -1;
	strncpy(blk->id, serial ? serial : "", sizeof(blk->id));
	err = open_image(blk, path);
	if (err)
		goto fail;
	blk->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (blk->stop_fd < 0) {
		err = error_set_errno(-errno, "cannot create an eventfd");
		goto fail;
	}
	blk->config.capacity = blk->size / BLK_SECTOR_SIZE;
	blk->config.seg_max = BLK_SEG_MAX;
	blk->config.max_discard_sectors = BLK_MAX_DISCARD_SECTORS;
	blk->config.max_discard_seg = 1;
	blk->config.discard_sector_alignment = BLK_DISCARD_ALIGNMENT;
	blk->config.max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS;
	blk->config.max_write_zeroes_seg = 1;
	blk->config.write_zeroes_may_unmap = 1;
	err = virtio_mmio_init(&blk->transport, &blk_ops, blk, mem, interrupt);
	if (err)
		goto fail;
	*out = blk;
	return 0;
fail:
	virtio_blk_destroy(blk);
	return err;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	virtio_mmio_destroy(&blk->transport);
	if (blk->stop_fd >= 0)
		close(blk->stop_fd);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk);
}

struct virtio_mmio *virtio_blk_transport(struct virtio_blk *blk)
{
	return &blk->transport;
}
