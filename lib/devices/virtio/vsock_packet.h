/*
 * virtio-vsock packets (virtio 1.2, section 5.10.6): taking a guest's packet
 * off the TX queue and laying out one on an RX buffer, or an event on an
 * event queue buffer. The guest writes every header field and length, so a
 * TX packet is validated in full before any connection logic sees it: stream
 * type, a known operation, our CIDs, a payload only on RW and exactly as long
 * as the header says, never longer than VSOCK_MAX_PAYLOAD.
 */
#ifndef AGENTVM_DEVICES_VIRTIO_VSOCK_PACKET_H
#define AGENTVM_DEVICES_VIRTIO_VSOCK_PACKET_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

#define VSOCK_HOST_CID 2
/* Linux's guest driver never sends more in one packet (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PAYLOAD (64 * 1024)
#define VSOCK_HEADER_SIZE 44

/* A header with its fields in host byte order. */
struct vsock_header {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags;
	uint32_t buf_alloc, fwd_cnt;
};

struct vsock_packet {
	struct vsock_header hdr;
	/* Where the payload lies in guest RAM: at most one piece per chain buffer. */
	struct iovec payload[VIRTQ_MAX_CHAIN];
	unsigned int npayload;
	/*
	 * Whether the header was complete and named our CIDs, so that a refused
	 * packet can still be answered with RST on its ports.
	 */
	bool addressable;
};

/*
 * Validate the TX chain as a packet from guest_cid to the host. 0 and *pkt
 * filled; -EINVAL (error_get() says why) for anything malformed.
 */
int vsock_packet_parse(const struct virtq_chain *chain, uint64_t guest_cid,
		       struct vsock_packet *pkt);

/*
 * An RX chain's room for payload after the header, its payload pieces in
 * *payload (up to VIRTQ_MAX_CHAIN). -EINVAL if the chain has driver-readable
 * buffers or no room for a header.
 */
int vsock_rx_layout(const struct virtq_chain *chain, struct iovec *payload,
		    unsigned int *npayload, uint32_t *room);

/* Write hdr at the start of an RX chain that vsock_rx_layout() accepted. */
void vsock_rx_put_header(const struct virtq_chain *chain, const struct vsock_header *hdr);

/*
 * Write event `id` (VIRTIO_VSOCK_EVENT_*, virtio 1.2, 5.10.6.6) to an event
 * queue chain: 0, or -EINVAL if the chain has driver-readable buffers or no
 * room for the 4-byte event.
 */
int vsock_event_put(const struct virtq_chain *chain, uint32_t id);

/*
 * Credit (virtio 1.2, 5.10.6.3): how many payload bytes a peer that has
 * granted buf_alloc and consumed fwd_cnt can still take, when we have sent
 * it tx_cnt in all. The counters wrap; a peer claiming to have consumed more
 * than was sent, or to hold more than it granted, gets nothing.
 */
static inline uint32_t vsock_peer_credit(uint32_t buf_alloc, uint32_t fwd_cnt, uint32_t tx_cnt)
{
	uint32_t in_flight = tx_cnt - fwd_cnt;

	return in_flight > buf_alloc ? 0 : buf_alloc - in_flight;
}

#endif
