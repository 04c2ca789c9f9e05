/*
 * Parsing virtio-blk requests out of chains: the header may be split across
 * buffers or share one with data, the status byte is the chain's last byte,
 * and the data part is accounted by direction for each request shape.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_blk.h>

#include "devices/virtio/blk_request.h"
#include "guest-driver.h"

/* Backing bytes for the chain's buffers; a real chain points into guest RAM. */
struct fixture {
	uint8_t bytes[8192];
	size_t used;
	struct virtq_chain chain;
	struct blk_request req;
};

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct fixture));
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Append a buffer of `len` bytes to the chain; returns its bytes. */
static uint8_t *add(struct fixture *f, uint32_t len, bool device_writes)
{
	return chain_add(&f->chain, f->bytes, sizeof(f->bytes), &f->used, len, device_writes);
}

/* A readable buffer starting with a request header. */
static uint8_t *add_header(struct fixture *f, uint32_t len, uint32_t type, uint64_t sector)
{
	const struct virtio_blk_outhdr hdr = { .type = type, .sector = sector };
	uint8_t *host = add(f, len, false);

	memcpy(host, &hdr, sizeof(hdr));
	return host;
}

static void header_split_across_buffers(void **state)
{
	struct fixture *f = *state;
	const struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN, .sector = 0x1122334455667788 };
	const uint8_t *src = (const uint8_t *)&hdr;
	uint8_t *status;

	memcpy(add(f, 5, false), src, 5);
	memcpy(add(f, 7, false), src + 5, 7);
	memcpy(add(f, 4, false), src + 12, 4);
	add(f, 512, true);
	status = add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.type, VIRTIO_BLK_T_IN);
	assert_int_equal(f->req.sector, 0x1122334455667788);
	assert_int_equal(f->req.ndata, 1);
	assert_int_equal(f->req.writable_len, 512);
	assert_int_equal(f->req.readable_len, 0);
	assert_ptr_equal(f->req.status, status);
}

static void header_shares_buffer_with_data(void **state)
{
	struct fixture *f = *state;
	uint8_t *first, *second;

	/* 10 header bytes, then 6 more header bytes followed by 512 bytes of data. */
	first = add(f, 10, false);
	second = add(f, 6 + 512, false);
	{
		const struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_OUT, .sector = 9 };

		memcpy(first, &hdr, 10);
		memcpy(second, (const uint8_t *)&hdr + 10, 6);
	}
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.type, VIRTIO_BLK_T_OUT);
	assert_int_equal(f->req.sector, 9);
	assert_int_equal(f->req.ndata, 1);
	assert_ptr_equal(f->req.data[0].iov_base, second + 6);
	assert_int_equal(f->req.data[0].iov_len, 512);
	assert_int_equal(f->req.readable_len, 512);
}

static void short_header_refused(void **state)
{
	struct fixture *f = *state;

	add_header(f, 8, VIRTIO_BLK_T_IN, 0);
	add(f, 513, true); /* long enough, but the driver does not write it */
	assert_int_equal(blk_request_parse(&f->chain, &f->req), -EINVAL);

	memset(&f->chain, 0, sizeof(f->chain));
	add_header(f, 15, VIRTIO_BLK_T_IN, 0);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), -EINVAL);

	memset(&f->chain, 0, sizeof(f->chain));
	add(f, 17, true); /* nothing readable at all */
	assert_int_equal(blk_request_parse(&f->chain, &f->req), -EINVAL);
}

static void writable_status_byte_required(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(blk_request_parse(&f->chain, &f->req), -EINVAL); /* empty chain */

	add_header(f, 16, VIRTIO_BLK_T_OUT, 0);
	add(f, 512, false);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), -EINVAL);

	memset(&f->chain, 0, sizeof(f->chain));
	add_header(f, 16, VIRTIO_BLK_T_FLUSH, 0);
	add(f, 0, true); /* writable, but no byte to write */
	assert_int_equal(blk_request_parse(&f->chain, &f->req), -EINVAL);
}

static void in_request_accounting(void **state)
{
	struct fixture *f = *state;
	uint8_t *a, *b;

	add_header(f, 16, VIRTIO_BLK_T_IN, 3);
	a = add(f, 512, true);
	add(f, 0, true); /* empty buffers carry no data */
	b = add(f, 1024, true);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.ndata, 2);
	assert_ptr_equal(f->req.data[0].iov_base, a);
	assert_ptr_equal(f->req.data[1].iov_base, b);
	assert_int_equal(f->req.data[1].iov_len, 1024);
	assert_int_equal(f->req.data_len, 1536);
	assert_int_equal(f->req.writable_len, 1536);
	assert_int_equal(f->req.readable_len, 0);
}

static void out_request_accounting(void **state)
{
	struct fixture *f = *state;

	add_header(f, 16, VIRTIO_BLK_T_OUT, 3);
	add(f, 512, false);
	add(f, 512, false);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.type, VIRTIO_BLK_T_OUT);
	assert_int_equal(f->req.ndata, 2);
	assert_int_equal(f->req.data_len, 1024);
	assert_int_equal(f->req.readable_len, 1024);
	assert_int_equal(f->req.writable_len, 0);
}

static void get_id_and_flush_accounting(void **state)
{
	struct fixture *f = *state;

	add_header(f, 16, VIRTIO_BLK_T_GET_ID, 0);
	add(f, VIRTIO_BLK_ID_BYTES, true);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.type, VIRTIO_BLK_T_GET_ID);
	assert_int_equal(f->req.ndata, 1);
	assert_int_equal(f->req.writable_len, VIRTIO_BLK_ID_BYTES);
	assert_int_equal(f->req.readable_len, 0);

	memset(&f->chain, 0, sizeof(f->chain));
	add_header(f, 16, VIRTIO_BLK_T_FLUSH, 0);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.ndata, 0);
	assert_int_equal(f->req.data_len, 0);
}

static void discard_segment_copied_out(void **state)
{
	struct fixture *f = *state;
	const struct virtio_blk_discard_write_zeroes seg = { .sector = 64, .num_sectors = 8 };
	struct virtio_blk_discard_write_zeroes got;
	uint8_t *hdr;

	/* The segment straddles the header's buffer and the next one. */
	hdr = add_header(f, 16 + 6, VIRTIO_BLK_T_DISCARD, 0);
	memcpy(hdr + 16, &seg, 6);
	memcpy(add(f, sizeof(seg) - 6, false), (const uint8_t *)&seg + 6, sizeof(seg) - 6);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(f->req.type, VIRTIO_BLK_T_DISCARD);
	assert_int_equal(f->req.ndata, 2);
	assert_int_equal(f->req.readable_len, sizeof(seg));
	assert_int_equal(f->req.writable_len, 0);
	assert_int_equal(blk_request_copy_data(&f->req, &got, sizeof(got)), sizeof(got));
	assert_memory_equal(&got, &seg, sizeof(seg));
}

static void copy_data_stops_at_len(void **state)
{
	struct fixture *f = *state;
	uint8_t out[8] = { 0 };

	add_header(f, 16, VIRTIO_BLK_T_OUT, 0);
	memset(add(f, 3, false), 0xaa, 3);
	memset(add(f, 512, false), 0xbb, 512);
	add(f, 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_int_equal(blk_request_copy_data(&f->req, out, 5), 5);
	assert_memory_equal(out, ((const uint8_t[]){ 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0, 0, 0 }), 8);
}

static void status_is_last_byte_of_shared_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t *data;

	/* Data and status in one writable buffer: the status is its last byte, not data. */
	add_header(f, 16, VIRTIO_BLK_T_IN, 0);
	data = add(f, 512 + 1, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_ptr_equal(f->req.status, data + 512);
	assert_int_equal(f->req.ndata, 1);
	assert_ptr_equal(f->req.data[0].iov_base, data);
	assert_int_equal(f->req.data[0].iov_len, 512);
	assert_int_equal(f->req.writable_len, 512);

	/* With several writable buffers, it is the last byte of the last one. */
	memset(&f->chain, 0, sizeof(f->chain));
	add_header(f, 16, VIRTIO_BLK_T_IN, 0);
	add(f, 512, true);
	data = add(f, 8, true);
	assert_int_equal(blk_request_parse(&f->chain, &f->req), 0);
	assert_ptr_equal(f->req.status, data + 7);
	assert_int_equal(f->req.writable_len, 512 + 7);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(header_split_across_buffers),
		TEST(header_shares_buffer_with_data),
		TEST(short_header_refused),
		TEST(writable_status_byte_required),
		TEST(in_request_accounting),
		TEST(out_request_accounting),
		TEST(get_id_and_flush_accounting),
		TEST(discard_segment_copied_out),
		TEST(copy_data_stops_at_len),
		TEST(status_is_last_byte_of_shared_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
