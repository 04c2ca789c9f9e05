/*
 * vsock packets as a hostile guest may lay them out: headers split across
 * buffers, payload lengths that lie, foreign CIDs, unknown operations; RX
 * buffer layout; and credit arithmetic with wrapping or lying counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/virtio/vsock_packet.h"
#include "guest-driver.h"

#define GUEST_CID 3

struct fixture {
	uint8_t bytes[3 * VSOCK_MAX_PAYLOAD];
	size_t used;
	struct virtq_chain chain;
	struct vsock_packet pkt;
};

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct fixture));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint8_t *add(struct fixture *f, uint32_t len, bool device_writes)
{
	return chain_add(&f->chain, f->bytes, sizeof(f->bytes), &f->used, len, device_writes);
}

static struct virtio_vsock_hdr wire_header(uint16_t op, uint32_t len)
{
	return (struct virtio_vsock_hdr){
		.src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = 1024, .dst_port = 5000,
		.len = len, .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 65536,
		.fwd_cnt = 7,
	};
}

/* One readable buffer holding hdr followed by payload_len bytes of 'p'. */
static void add_packet(struct fixture *f, const struct virtio_vsock_hdr *hdr, uint32_t payload_len)
{
	uint8_t *b = add(f, VSOCK_HEADER_SIZE + payload_len, false);

	memcpy(b, hdr, VSOCK_HEADER_SIZE);
	memset(b + VSOCK_HEADER_SIZE, 'p', payload_len);
}

static int parse(struct fixture *f)
{
	return vsock_packet_parse(&f->chain, GUEST_CID, &f->pkt);
}

static void request_without_payload(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h = wire_header(VIRTIO_VSOCK_OP_REQUEST, 0);

	add_packet(f, &h, 0);
	assert_int_equal(parse(f), 0);
	assert_int_equal(f->pkt.hdr.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(f->pkt.hdr.src_port, 1024);
	assert_int_equal(f->pkt.hdr.dst_port, 5000);
	assert_int_equal(f->pkt.hdr.buf_alloc, 65536);
	assert_int_equal(f->pkt.hdr.fwd_cnt, 7);
	assert_int_equal(f->pkt.npayload, 0);
}

/* Header in three pieces, the last sharing its buffer with the payload's start. */
static void header_split_across_buffers(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h = wire_header(VIRTIO_VSOCK_OP_RW, 100);
	const uint8_t *src = (const uint8_t *)&h;
	uint8_t *a = add(f, 10, false), *b = add(f, 20, false), *c = add(f, 14 + 60, false);
	uint8_t *d = add(f, 40, false);

	memcpy(a, src, 10);
	memcpy(b, src + 10, 20);
	memcpy(c, src + 30, 14);
	memset(c + 14, 'x', 60);
	memset(d, 'y', 40);
	assert_int_equal(parse(f), 0);
	assert_int_equal(f->pkt.hdr.len, 100);
	assert_int_equal(f->pkt.npayload, 2);
	assert_ptr_equal(f->pkt.payload[0].iov_base, c + 14);
	assert_int_equal(f->pkt.payload[0].iov_len, 60);
	assert_ptr_equal(f->pkt.payload[1].iov_base, d);
	assert_int_equal(f->pkt.payload[1].iov_len, 40);
}

static void short_header_is_not_addressable(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h = wire_header(VIRTIO_VSOCK_OP_REQUEST, 0);

	memcpy(add(f, VSOCK_HEADER_SIZE - 1, false), &h, VSOCK_HEADER_SIZE - 1);
	assert_int_equal(parse(f), -EINVAL);
	assert_false(f->pkt.addressable);
}

static void writable_buffer_refused(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h = wire_header(VIRTIO_VSOCK_OP_REQUEST, 0);

	add_packet(f, &h, 0);
	add(f, 16, true);
	assert_int_equal(parse(f), -EINVAL);
}

static void foreign_cids_are_not_addressable(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h = wire_header(VIRTIO_VSOCK_OP_REQUEST, 0);

	h.src_cid = 4; /* pretending to be another guest */
	add_packet(f, &h, 0);
	assert_int_equal(parse(f), -EINVAL);
	assert_false(f->pkt.addressable);

	memset(&f->chain, 0, sizeof(f->chain));
	h = wire_header(VIRTIO_VSOCK_OP_REQUEST, 0);
	h.dst_cid = 1; /* not the host */
	add_packet(f, &h, 0);
	assert_int_equal(parse(f), -EINVAL);
	assert_false(f->pkt.addressable);
}

/* Each of these is refused but still names our CIDs, so it can be answered with RST. */
static void refused_but_addressable(struct fixture *f, struct virtio_vsock_hdr h, uint32_t carried)
{
	memset(&f->chain, 0, sizeof(f->chain));
	f->used = 0;
	add_packet(f, &h, carried);
	assert_int_equal(parse(f), -EINVAL);
	assert_true(f->pkt.addressable);
}

static void bad_headers_refused(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h;

	h = wire_header(VIRTIO_VSOCK_OP_REQUEST, 0);
	h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	refused_but_addressable(f, h, 0);
	refused_but_addressable(f, wire_header(0, 0), 0);
	refused_but_addressable(f, wire_header(VIRTIO_VSOCK_OP_CREDIT_REQUEST + 1, 0), 0);
	/* Payload on an operation other than RW. */
	refused_but_addressable(f, wire_header(VIRTIO_VSOCK_OP_REQUEST, 8), 8);
	/* Lengths that lie in either direction. */
	refused_but_addressable(f, wire_header(VIRTIO_VSOCK_OP_RW, 100), 99);
	refused_but_addressable(f, wire_header(VIRTIO_VSOCK_OP_RW, 100), 101);
	refused_but_addressable(f, wire_header(VIRTIO_VSOCK_OP_RW, 0xffffffffu), 16);
	/* Bigger than any packet may be, even when the bytes are there. */
	refused_but_addressable(f, wire_header(VIRTIO_VSOCK_OP_RW, VSOCK_MAX_PAYLOAD + 1),
				VSOCK_MAX_PAYLOAD + 1);
	h = wire_header(VIRTIO_VSOCK_OP_SHUTDOWN, 0);
	h.flags = 4;
	refused_but_addressable(f, h, 0);
}

static void largest_payload_accepted(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h = wire_header(VIRTIO_VSOCK_OP_RW, VSOCK_MAX_PAYLOAD);

	add_packet(f, &h, VSOCK_MAX_PAYLOAD);
	assert_int_equal(parse(f), 0);
	assert_int_equal(f->pkt.payload[0].iov_len, VSOCK_MAX_PAYLOAD);
}

static void rx_layout_and_header(void **state)
{
	struct fixture *f = *state;
	struct iovec payload[VIRTQ_MAX_CHAIN];
	unsigned int n;
	uint32_t room;
	const struct vsock_header out = {
		.src_cid = VSOCK_HOST_CID, .dst_cid = GUEST_CID, .src_port = 5000, .dst_port = 1024,
		.len = 5, .type = VIRTIO_VSOCK_TYPE_STREAM, .op = VIRTIO_VSOCK_OP_RW,
		.buf_alloc = 262144, .fwd_cnt = 99,
	};

	add(f, 30, true);
	add(f, 30, true); /* header ends 14 bytes in */
	add(f, 100, true);
	assert_int_equal(vsock_rx_layout(&f->chain, payload, &n, &room), 0);
	assert_int_equal(room, 16 + 100);
	assert_int_equal(n, 2);
	assert_int_equal(payload[0].iov_len, 16);

	/* What the guest reads: the bytes of the chain, one after another. */
	vsock_rx_put_header(&f->chain, &out);
	memcpy(payload[0].iov_base, "hello", 5);
	uint8_t flat[VSOCK_HEADER_SIZE + 5];
	struct virtio_vsock_hdr got;

	memcpy(flat, f->chain.buffers[0].host, 30);
	memcpy(flat + 30, f->chain.buffers[1].host, 14 + 5);
	memcpy(&got, flat, sizeof(got));
	assert_int_equal(got.src_cid, VSOCK_HOST_CID);
	assert_int_equal(got.dst_cid, GUEST_CID);
	assert_int_equal(got.src_port, 5000);
	assert_int_equal(got.dst_port, 1024);
	assert_int_equal(got.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(got.buf_alloc, 262144);
	assert_int_equal(got.fwd_cnt, 99);
	assert_int_equal(got.len, 5);
	assert_memory_equal(flat + VSOCK_HEADER_SIZE, "hello", 5);
}

static void rx_room_capped_and_checked(void **state)
{
	struct fixture *f = *state;
	struct iovec payload[VIRTQ_MAX_CHAIN];
	unsigned int n;
	uint32_t room;

	add(f, VSOCK_HEADER_SIZE + VSOCK_MAX_PAYLOAD + 500, true);
	assert_int_equal(vsock_rx_layout(&f->chain, payload, &n, &room), 0);
	assert_int_equal(room, VSOCK_MAX_PAYLOAD);

	memset(&f->chain, 0, sizeof(f->chain));
	add(f, VSOCK_HEADER_SIZE - 1, true);
	assert_int_equal(vsock_rx_layout(&f->chain, payload, &n, &room), -EINVAL);

	memset(&f->chain, 0, sizeof(f->chain));
	add(f, 64, false);
	add(f, 64, true);
	assert_int_equal(vsock_rx_layout(&f->chain, payload, &n, &room), -EINVAL);
}

static void credit_arithmetic(void **state)
{
	(void)state;
	assert_int_equal(vsock_peer_credit(65536, 0, 0), 65536);
	assert_int_equal(vsock_peer_credit(65536, 1000, 5000), 65536 - 4000);
	assert_int_equal(vsock_peer_credit(65536, 0, 65536), 0);
	/* Counters wrap around 2^32. */
	assert_int_equal(vsock_peer_credit(65536, 0xfffffff0u, 0x10), 65536 - 0x20);
	/* A peer claiming more consumed than was sent, or more in flight than it granted. */
	assert_int_equal(vsock_peer_credit(65536, 6000, 5000), 0);
	assert_int_equal(vsock_peer_credit(100, 0, 200), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(request_without_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(header_split_across_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(short_header_is_not_addressable, setup, teardown),
		cmocka_unit_test_setup_teardown(writable_buffer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_cids_are_not_addressable, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_headers_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(largest_payload_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(rx_layout_and_header, setup, teardown),
		cmocka_unit_test_setup_teardown(rx_room_capped_and_checked, setup, teardown),
		cmocka_unit_test(credit_arithmetic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
