/*
 * vsock TX packet parsing and RX buffer layout against any chain a guest can
 * build (fuzz_build_chain() says how the input describes it). The oracle:
 * an accepted packet's payload lies inside the chain's buffers, adds up to
 * the header's length and never exceeds VSOCK_MAX_PAYLOAD; an RX layout's
 * pieces lie inside the chain and leave room for the header.
 */
#include "fuzz-common.h"

#include <string.h>

#include "devices/virtio/vsock_packet.h"

#define GUEST_CID 3

static void check_packet(const struct virtq_chain *c, struct vsock_packet *pkt)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < pkt->npayload; i++) {
		fuzz_chain_holder(c, pkt->payload[i].iov_base, pkt->payload[i].iov_len);
		total += pkt->payload[i].iov_len;
	}
	if (total != pkt->hdr.len || total > VSOCK_MAX_PAYLOAD || !pkt->addressable ||
	    (total && pkt->hdr.op != VIRTIO_VSOCK_OP_RW))
		__builtin_trap();
}

static void check_rx(const struct virtq_chain *c)
{
	static struct iovec payload[VIRTQ_MAX_CHAIN];
	const struct vsock_header hdr = { .src_cid = VSOCK_HOST_CID, .dst_cid = GUEST_CID };
	unsigned int n;
	uint32_t room;
	uint64_t total = 0;

	if (vsock_rx_layout(c, payload, &n, &room))
		return;
	for (unsigned int i = 0; i < n; i++) {
		fuzz_chain_holder(c, payload[i].iov_base, payload[i].iov_len);
		memset(payload[i].iov_base, 0x5a, payload[i].iov_len);
		total += payload[i].iov_len;
	}
	if (total != room || room > VSOCK_MAX_PAYLOAD)
		__builtin_trap();
	vsock_rx_put_header(c, &hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	static struct vsock_packet pkt;
	struct fuzz_input in = { data, size };

	fuzz_build_chain(&in, &chain);
	if (vsock_packet_parse(&chain, GUEST_CID, &pkt) == 0)
		check_packet(&chain, &pkt);
	check_rx(&chain);
	fuzz_free_chain(&chain);
	return 0;
}
