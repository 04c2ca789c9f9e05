/*
 * virtio-blk request parsing against any chain a guest can build
 * (fuzz_build_chain() says how the input describes it).
 */
#include "fuzz-common.h"

#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk_request.h"

static void check_request(const struct virtq_chain *c, const struct blk_request *req)
{
	const struct virtq_buffer *last = &c->buffers[c->count - 1];
	uint64_t readable = 0, writable = 0;
	uint8_t *copy;

	if (req->status != last->host + last->len - 1 || !last->device_writes ||
	    req->ndata > c->count)
		__builtin_trap();
	for (unsigned int i = 0; i < req->ndata; i++) {
		const struct iovec *v = &req->data[i];
		const struct virtq_buffer *b = fuzz_chain_holder(c, v->iov_base, v->iov_len);

		/* Empty pieces are left out, and data never includes the status byte. */
		if (v->iov_len == 0 || (b == last && (uint8_t *)v->iov_base + v->iov_len > req->status))
			__builtin_trap();
		if (b->device_writes) {
			memset(v->iov_base, 0x5a, v->iov_len);
			writable += v->iov_len;
		} else if (writable) {
			__builtin_trap(); /* driver-written data after device-written data */
		} else {
			readable += v->iov_len;
		}
	}
	if (readable != req->readable_len || writable != req->writable_len ||
	    req->data_len != readable + writable)
		__builtin_trap();
	copy = malloc(req->data_len + 1);
	if (blk_request_copy_data(req, copy, req->data_len + 1) != req->data_len ||
	    blk_request_copy_data(req, copy, req->data_len / 2) != req->data_len / 2)
		__builtin_trap();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	static struct blk_request req;
	struct fuzz_input in = { data, size };

	fuzz_build_chain(&in, &chain);
	if (blk_request_parse(&chain, &req) == 0)
		check_request(&chain, &req);
	fuzz_free_chain(&chain);
	return 0;
}
