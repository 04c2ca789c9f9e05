#include "devices/virtio/blk_request.h"

#include <errno.h>
#include <linux/virtio_blk.h>
#include <string.h>

#include "util/error.h"

#define BLK_HEADER_SIZE 16

/* Append [host, host+len) to the data iovec; one entry per buffer at most, so it cannot overflow. */
static void add_data(struct blk_request *req, uint8_t *host, uint64_t len, bool device_writes)
{
	if (len == 0)
		return;
	req->data[req->ndata++] = (struct iovec){ .iov_base = host, .iov_len = len };
	req->data_len += len;
	if (device_writes)
		req->writable_len += len;
	else
		req->readable_len += len;
}

int blk_request_parse(const struct virtq_chain *chain, struct blk_request *req)
{
	struct virtio_blk_outhdr hdr;
	uint8_t *hdr_bytes = (uint8_t *)&hdr;
	const struct virtq_buffer *last;
	uint64_t header_left = BLK_HEADER_SIZE;
	unsigned int writable_end;

	_Static_assert(sizeof(hdr) == BLK_HEADER_SIZE, "virtio_blk_outhdr is 16 bytes");
	memset(req, 0, sizeof(*req));
	if (chain->count == 0)
		return error_set(-EINVAL, "empty block request");
	last = &chain->buffers[chain->count - 1];
	if (!last->device_writes || last->len == 0)
		return error_set(-EINVAL, "block request has no writable status byte");
	req->status = last->host + last->len - 1;
	writable_end = chain->count;

	for (unsigned int i = 0; i < writable_end; i++) {
		const struct virtq_buffer *b = &chain->buffers[i];
		uint64_t len = b->len, skip = 0;

		if (i == chain->count - 1)
			len--; /* the status byte is not data */
		if (!b->device_writes && header_left) {
			skip = len < header_left ? len : header_left;
			memcpy(hdr_bytes + (BLK_HEADER_SIZE - header_left), b->host, skip);
			header_left -= skip;
		} else if (b->device_writes && header_left) {
			return error_set(-EINVAL, "block request header is shorter than 16 bytes");
		}
		add_data(req, b->host + skip, len - skip, b->device_writes);
	}
	if (header_left)
		return error_set(-EINVAL, "block request header is shorter than 16 bytes");
	req->type = hdr.type;
	req->sector = hdr.sector;
	return 0;
}

uint64_t blk_request_copy_data(const struct blk_request *req, void *buf, uint64_t len)
{
	uint64_t copied = 0;

	for (unsigned int i = 0; i < req->ndata && copied < len; i++) {
		uint64_t n = req->data[i].iov_len;

		if (n > len - copied)
			n = len - copied;
		memcpy((uint8_t *)buf + copied, req->data[i].iov_base, n);
		copied += n;
	}
	return copied;
}
