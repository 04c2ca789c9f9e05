#include "devices/virtio/vsock_packet.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/error.h"

_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HEADER_SIZE, "vsock header is 44 bytes");

static void header_from_wire(const struct virtio_vsock_hdr *w, struct vsock_header *h)
{
	*h = (struct vsock_header){
		.src_cid = le64toh(w->src_cid), .dst_cid = le64toh(w->dst_cid),
		.src_port = le32toh(w->src_port), .dst_port = le32toh(w->dst_port),
		.len = le32toh(w->len), .type = le16toh(w->type), .op = le16toh(w->op),
		.flags = le32toh(w->flags), .buf_alloc = le32toh(w->buf_alloc),
		.fwd_cnt = le32toh(w->fwd_cnt),
	};
}

static void header_to_wire(const struct vsock_header *h, struct virtio_vsock_hdr *w)
{
	*w = (struct virtio_vsock_hdr){
		.src_cid = htole64(h->src_cid), .dst_cid = htole64(h->dst_cid),
		.src_port = htole32(h->src_port), .dst_port = htole32(h->dst_port),
		.len = htole32(h->len), .type = htole16(h->type), .op = htole16(h->op),
		.flags = htole32(h->flags), .buf_alloc = htole32(h->buf_alloc),
		.fwd_cnt = htole32(h->fwd_cnt),
	};
}

/* The checks that depend on the header alone. */
static int check_header(const struct vsock_header *h)
{
	if (h->type != VIRTIO_VSOCK_TYPE_STREAM)
		return error_set(-EINVAL, "vsock packet of type %u (only stream sockets exist)", h->type);
	if (h->op < VIRTIO_VSOCK_OP_REQUEST || h->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		return error_set(-EINVAL, "vsock packet with unknown operation %u", h->op);
	if (h->len > VSOCK_MAX_PAYLOAD)
		return error_set(-EINVAL, "vsock packet payload of %u bytes (at most %u)", h->len,
				 VSOCK_MAX_PAYLOAD);
	if (h->len && h->op != VIRTIO_VSOCK_OP_RW)
		return error_set(-EINVAL, "vsock operation %u carries %u payload bytes", h->op, h->len);
	if (h->op == VIRTIO_VSOCK_OP_SHUTDOWN &&
	    (h->flags & ~(uint32_t)(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)))
		return error_set(-EINVAL, "vsock shutdown with unknown flags 0x%x", h->flags);
	return 0;
}

int vsock_packet_parse(const struct virtq_chain *chain, uint64_t guest_cid,
		       struct vsock_packet *pkt)
{
	struct virtio_vsock_hdr wire;
	uint8_t *wire_bytes = (uint8_t *)&wire;
	uint32_t header_got = 0;
	uint64_t payload_len = 0;

	pkt->npayload = 0;
	pkt->addressable = false;
	if (chain->readable != chain->count)
		return error_set(-EINVAL, "vsock TX chain has device-writable buffers");
	for (unsigned int i = 0; i < chain->count; i++) {
		const struct virtq_buffer *b = &chain->buffers[i];
		uint32_t skip = 0;

		/* The header may be split over buffers or share one with the payload. */
		if (header_got < VSOCK_HEADER_SIZE) {
			skip = b->len < VSOCK_HEADER_SIZE - header_got ? b->len
								    : VSOCK_HEADER_SIZE - header_got;
			memcpy(wire_bytes + header_got, b->host, skip);
			header_got += skip;
		}
		if (b->len > skip) {
			pkt->payload[pkt->npayload++] = (struct iovec){
				.iov_base = b->host + skip, .iov_len = b->len - skip,
			};
			payload_len += b->len - skip;
		}
	}
	if (header_got < VSOCK_HEADER_SIZE)
		return error_set(-EINVAL, "vsock packet shorter than its %d-byte header",
				 VSOCK_HEADER_SIZE);
	header_from_wire(&wire, &pkt->hdr);
	if (pkt->hdr.src_cid != guest_cid || pkt->hdr.dst_cid != VSOCK_HOST_CID)
		return error_set(-EINVAL, "vsock packet from CID %llu to CID %llu (the guest is %llu, "
				 "the host %d)", (unsigned long long)pkt->hdr.src_cid,
				 (unsigned long long)pkt->hdr.dst_cid,
				 (unsigned long long)guest_cid, VSOCK_HOST_CID);
	pkt->addressable = true;
	if (check_header(&pkt->hdr))
		return -EINVAL;
	if (payload_len != pkt->hdr.len)
		return error_set(-EINVAL, "vsock packet says %u payload bytes but carries %llu",
				 pkt->hdr.len, (unsigned long long)payload_len);
	return 0;
}

int vsock_rx_layout(const struct virtq_chain *chain, struct iovec *payload,
		    unsigned int *npayload, uint32_t *room)
{
	uint64_t total = 0, skip_left = VSOCK_HEADER_SIZE;

	*npayload = 0;
	*room = 0;
	if (chain->readable != 0)
		return error_set(-EINVAL, "vsock RX chain has driver-readable buffers");
	for (unsigned int i = 0; i < chain->count; i++) {
		const struct virtq_buffer *b = &chain->buffers[i];
		uint64_t skip = b->len < skip_left ? b->len : skip_left;

		skip_left -= skip;
		if (b->len > skip && total < VSOCK_MAX_PAYLOAD) {
			uint64_t n = b->len - skip;

			if (n > VSOCK_MAX_PAYLOAD - total)
				n = VSOCK_MAX_PAYLOAD - total;
			payload[(*npayload)++] = (struct iovec){ .iov_base = b->host + skip, .iov_len = n };
			total += n;
		}
	}
	if (skip_left)
		return error_set(-EINVAL, "vsock RX chain has no room for a %d-byte header",
				 VSOCK_HEADER_SIZE);
	*room = (uint32_t)total;
	return 0;
}

/* Write len bytes over the start of a chain's buffers, which the caller checked hold them. */
static void put_bytes(const struct virtq_chain *chain, const void *bytes, uint32_t len)
{
	const uint8_t *src = bytes;
	uint32_t put = 0;

	for (unsigned int i = 0; i < chain->count && put < len; i++) {
		uint32_t n = chain->buffers[i].len < len - put ? chain->buffers[i].len : len - put;

		memcpy(chain->buffers[i].host, src + put, n);
		put += n;
	}
}

void vsock_rx_put_header(const struct virtq_chain *chain, const struct vsock_header *hdr)
{
	struct virtio_vsock_hdr wire;

	header_to_wire(hdr, &wire);
	put_bytes(chain, &wire, sizeof(wire));
}

int vsock_event_put(const struct virtq_chain *chain, uint32_t id)
{
	const struct virtio_vsock_event wire = { .id = htole32(id) };
	uint64_t room = 0;

	if (chain->readable != 0)
		return error_set(-EINVAL, "vsock event chain has driver-readable buffers");
	for (unsigned int i = 0; i < chain->count; i++)
		room += chain->buffers[i].len;
	if (room < sizeof(wire))
		return error_set(-EINVAL, "vsock event chain holds %llu bytes, less than an event's %zu",
				 (unsigned long long)room, sizeof(wire));
	put_bytes(chain, &wire, sizeof(wire));
	return 0;
}
