/*
 * Parsing a virtio-blk request out of a descriptor chain (virtio 1.2, 5.2.6):
 * a 16-byte header the driver wrote, data, and a status byte the device
 * writes last. The driver may split these across buffers any way it likes
 * (VIRTIO_F_ANY_LAYOUT is implied by VERSION_1), so the parser works on byte
 * ranges, not on descriptors.
 */
#ifndef AGENTVM_DEVICES_VIRTIO_BLK_REQUEST_H
#define AGENTVM_DEVICES_VIRTIO_BLK_REQUEST_H

#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

#define BLK_SECTOR_SIZE 512

struct blk_request {
	uint32_t type;
	uint64_t sector;
	/* The data part: driver-written for OUT/DISCARD/WRITE_ZEROES, device-written for IN/GET_ID. */
	struct iovec data[VIRTQ_MAX_CHAIN];
	unsigned int ndata;
	uint64_t data_len;
	uint64_t readable_len; /* of data_len, how much the driver wrote ... */
	uint64_t writable_len; /* ... and how much the device may write */
	uint8_t *status; /* the last byte of the chain; device-writable */
};

/* 0, or -EINVAL when the chain cannot be a request (too short, no writable status byte). */
int blk_request_parse(const struct virtq_chain *chain, struct blk_request *req);

/* Copy up to `len` bytes of the request's data into buf (for DISCARD/WRITE_ZEROES segments). */
uint64_t blk_request_copy_data(const struct blk_request *req, void *buf, uint64_t len);

#endif
