/*
 * The vsock device end to end without KVM: the test plays the guest driver
 * on all three queues (guest-driver.c) and the library's user on the host
 * end of each connection (a plain socket), checking the packets the guest
 * would see and the bytes the host side reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "devices/virtio/vsock.h"
#include "devices/virtio/vsock_packet.h"
#include "guest-driver.h"

#define GUEST_CID 3
#define GUEST_PORT 1024
#define QSIZE 64
#define RX_BUF (VSOCK_HEADER_SIZE + 4096)
#define WAIT_NS 5000000000LL

struct fixture {
	struct guest_driver rx, tx, ev; /* rx owns guest RAM */
	struct virtio_vsock *vs;
	struct virtio_mmio *t;
	uint64_t rx_gpa[QSIZE]; /* by head descriptor */
	uint16_t rx_seen;
};

static void no_interrupt(void *ctx)
{
	(void)ctx; /* the test polls the used rings */
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Offer the device an RX buffer at gpa, as a driver recycles the one it just read. */
static void post_rx_at(struct fixture *f, uint64_t gpa)
{
	struct guest_buf b = { .gpa = gpa, .len = RX_BUF, .writable = true };
	uint16_t head = guest_add_chain(&f->rx, &b, 1);

	f->rx_gpa[head] = b.gpa;
	mmio_write32(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void post_rx(struct fixture *f)
{
	post_rx_at(f, guest_alloc(&f->rx, RX_BUF));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const struct virtio_interrupt irq = { .raise = no_interrupt };
	uint32_t status;

	guest_driver_init(&f->rx, QSIZE);
	guest_driver_init_queue(&f->tx, &f->rx, QSIZE, 0x20000);
	guest_driver_init_queue(&f->ev, &f->rx, QSIZE, 0x40000);
	assert_int_equal(virtio_vsock_create(GUEST_CID, &f->rx.mem, &irq, &f->vs), 0);
	f->t = virtio_vsock_transport(f->vs);
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_DEVICE_ID), 19);
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_CONFIG), GUEST_CID);
	status = guest_negotiate(f->t, guest_device_features(f->t));
	assert_true(status & VIRTIO_CONFIG_S_FEATURES_OK);
	guest_setup_queue(&f->rx, f->t, 0);
	guest_setup_queue(&f->tx, f->t, 1);
	guest_setup_queue(&f->ev, f->t, 2);
	mmio_write32(f->t, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(mmio_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	for (int i = 0; i < 8; i++)
		post_rx(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_vsock_destroy(f->vs);
	guest_driver_destroy(&f->rx);
	free(f);
	return 0;
}

/* The next packet the device put on the RX queue (the test fails after 5 s without one). */
static struct virtio_vsock_hdr next_rx(struct fixture *f, void *payload, uint32_t cap)
{
	int64_t deadline = now_ns() + WAIT_NS;
	struct virtio_vsock_hdr h;
	struct vring_used_elem e;
	const uint8_t *buf;

	while (guest_used_idx(&f->rx) == f->rx_seen) {
		assert_true(now_ns() < deadline);
		usleep(1000);
	}
	e = f->rx.used->ring[f->rx_seen++ % QSIZE];
	buf = guest_host(&f->rx, f->rx_gpa[e.id]);
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(e.len, VSOCK_HEADER_SIZE + h.len);
	assert_true(h.len <= cap);
	if (h.len)
		memcpy(payload, buf + VSOCK_HEADER_SIZE, h.len);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_cid, GUEST_CID);
	assert_int_equal(h.type, VIRTIO_VSOCK_TYPE_STREAM);
	post_rx_at(f, f->rx_gpa[e.id]);
	return h;
}

static bool rx_idle(struct fixture *f, int ms)
{
	usleep(ms * 1000);
	return guest_used_idx(&f->rx) == f->rx_seen;
}

/* The guest sends one packet from GUEST_PORT to host_port. */
static void guest_send(struct fixture *f, uint16_t op, uint32_t host_port, uint32_t flags,
		       const void *data, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct guest_buf b = { .gpa = guest_alloc(&f->rx, VSOCK_HEADER_SIZE + len),
			       .len = VSOCK_HEADER_SIZE + len };
	struct virtio_vsock_hdr h = {
		.src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = GUEST_PORT,
		.dst_port = host_port, .len = len, .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
		.flags = flags, .buf_alloc = buf_alloc, .fwd_cnt = fwd_cnt,
	};
	uint8_t *p = guest_host(&f->rx, b.gpa);

	memcpy(p, &h, sizeof(h));
	if (len)
		memcpy(p + VSOCK_HEADER_SIZE, data, len);
	guest_add_chain(&f->tx, &b, 1);
	mmio_write32(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
}

struct connect_call {
	struct virtio_vsock *vs;
	int timeout_ms;
	int result, fd;
	pthread_t thread;
};

static void *connect_thread(void *arg)
{
	struct connect_call *c = arg;

	c->result = virtio_vsock_connect(c->vs, GUEST_PORT, c->timeout_ms, &c->fd);
	return NULL;
}

/* Start a connect() on another thread; returns the REQUEST the guest receives. */
static struct virtio_vsock_hdr start_connect(struct fixture *f, struct connect_call *c,
					     int timeout_ms)
{
	struct virtio_vsock_hdr h;

	*c = (struct connect_call){ .vs = f->vs, .timeout_ms = timeout_ms, .fd = -1 };
	assert_int_equal(pthread_create(&c->thread, NULL, connect_thread, c), 0);
	h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, GUEST_PORT);
	assert_true(h.src_port >= 49152);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	return h;
}

/* A connection the guest accepted, granting `credit` bytes; returns the host's socket. */
static int establish(struct fixture *f, uint32_t *host_port, uint32_t credit)
{
	struct connect_call c;
	struct virtio_vsock_hdr req = start_connect(f, &c, 5000);

	guest_send(f, VIRTIO_VSOCK_OP_RESPONSE, req.src_port, 0, NULL, 0, credit, 0);
	pthread_join(c.thread, NULL);
	assert_int_equal(c.result, 0);
	*host_port = req.src_port;
	return c.fd;
}

static void read_exactly(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(fd, (uint8_t *)buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void bytes_both_ways_and_shutdown(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	char buf[64];
	struct virtio_vsock_hdr h;

	assert_int_equal(write(fd, "hello", 5), 5);
	h = next_rx(f, buf, sizeof(buf));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.src_port, port);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "hello", 5);

	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "world", 5, 65536, 5);
	read_exactly(fd, buf, 5);
	assert_memory_equal(buf, "world", 5);

	/* The host ends its stream: the guest is told, and can still send. */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "late", 4, 65536, 5);
	read_exactly(fd, buf, 4);
	assert_memory_equal(buf, "late", 4);

	/* The guest resets: the host reads end of stream. */
	guest_send(f, VIRTIO_VSOCK_OP_RST, port, 0, NULL, 0, 65536, 5);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}

static void refused_and_timed_out(void **state)
{
	struct fixture *f = *state;
	struct connect_call c;
	struct virtio_vsock_hdr req = start_connect(f, &c, 5000), h;

	guest_send(f, VIRTIO_VSOCK_OP_RST, req.src_port, 0, NULL, 0, 0, 0);
	pthread_join(c.thread, NULL);
	assert_int_equal(c.result, -ECONNREFUSED);

	/* Nobody answers: -ETIMEDOUT, and the guest's half-open end is reset. */
	req = start_connect(f, &c, 200);
	pthread_join(c.thread, NULL);
	assert_int_equal(c.result, -ETIMEDOUT);
	h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_port, req.src_port);
}

/* The host never sends more than the guest granted, and goes on when it grants more. */
static void host_respects_guest_credit(void **state)
{
	struct fixture *f = *state;
	uint32_t port, got = 0;
	int fd = establish(f, &port, 1000);
	static uint8_t data[5000], seen[5000];
	struct virtio_vsock_hdr h;

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(write(fd, data, sizeof(data)), sizeof(data));
	while (got < 1000) {
		h = next_rx(f, seen + got, sizeof(seen) - got);
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
		got += h.len;
	}
	assert_int_equal(got, 1000);
	assert_true(rx_idle(f, 100));
	guest_send(f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, port, 0, NULL, 0, 1000 + 4000, 1000);
	while (got < sizeof(data)) {
		h = next_rx(f, seen + got, sizeof(seen) - got);
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
		got += h.len;
	}
	assert_memory_equal(seen, data, sizeof(data));
	close(fd);
}

/*
 * A guest sending past the credit we granted is reset, and the device never
 * holds more than that credit: our user reads an in-order prefix, then end
 * of stream.
 */
static void guest_over_credit_is_reset(void **state)
{
	struct fixture *f = *state;
	enum { CHUNKS = 12 };
	uint32_t port;
	int fd = establish(f, &port, 65536);
	static uint8_t chunk[VSOCK_MAX_PAYLOAD], back[CHUNKS * VSOCK_MAX_PAYLOAD];
	struct virtio_vsock_hdr h;
	size_t got = 0;
	ssize_t n;

	/* Nobody reads fd meanwhile: past the socket's buffer, the device holds the data. */
	for (unsigned int i = 0; i < CHUNKS; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, chunk, sizeof(chunk), 65536, 0);
	}
	h = next_rx(f, NULL, 0);
	while (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
		h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_port, port);
	while ((n = read(fd, back + got, sizeof(back) - got)) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0);
	assert_true(got < sizeof(back));
	for (size_t i = 0; i < got; i++)
		if (back[i] != 'a' + i / VSOCK_MAX_PAYLOAD)
			fail_msg("byte %zu is '%c'", i, back[i]);
	close(fd);
}

/* Packets for no connection, and connections from the guest, are answered with RST. */
static void strays_are_reset(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h;

	guest_send(f, VIRTIO_VSOCK_OP_RW, 7777, 0, "x", 1, 65536, 0);
	h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_port, 7777);
	assert_int_equal(h.dst_port, GUEST_PORT);
	guest_send(f, VIRTIO_VSOCK_OP_REQUEST, 80, 0, NULL, 0, 65536, 0);
	h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	/* An RST is never answered. */
	guest_send(f, VIRTIO_VSOCK_OP_RST, 81, 0, NULL, 0, 65536, 0);
	assert_true(rx_idle(f, 100));
}

static void connect_needs_a_running_driver(void **state)
{
	struct fixture *f = *state;
	int fd;

	mmio_write32(f->t, VIRTIO_MMIO_STATUS, 0); /* device reset */
	assert_int_equal(virtio_vsock_connect(f->vs, GUEST_PORT, 100, &fd), -ENOTCONN);
}

/*
 * A guest that closes its socket shuts down both directions and waits for our
 * RST; the slot must come free, or a VM runs out of connections after 256
 * requests. Our user still reads what the guest sent, then end of stream.
 */
static void guest_close_frees_the_connection(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < VSOCK_MAX_CONNECTIONS + 10; i++) {
		uint32_t port;
		int fd = establish(f, &port, 65536);
		struct virtio_vsock_hdr h;
		char buf[8];

		guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "bye", 3, 65536, 0);
		guest_send(f, VIRTIO_VSOCK_OP_SHUTDOWN, port,
			   VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0, 65536, 0);
		h = next_rx(f, NULL, 0);
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
		assert_int_equal(h.src_port, port);
		read_exactly(fd, buf, 3);
		assert_memory_equal(buf, "bye", 3);
		assert_int_equal(read(fd, buf, sizeof(buf)), 0);
		close(fd);
	}
}

/* A VM that stops ends a connect() the guest will never answer, and refuses new ones. */
static void host_stop_ends_waiting_connects(void **state)
{
	struct fixture *f = *state;
	struct connect_call c;
	int fd;

	start_connect(f, &c, -1);
	virtio_vsock_host_stop(f->vs);
	pthread_join(c.thread, NULL);
	assert_int_equal(c.result, -EHOSTDOWN);
	assert_int_equal(virtio_vsock_connect(f->vs, GUEST_PORT, -1, &fd), -EHOSTDOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bytes_both_ways_and_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_and_timed_out, setup, teardown),
		cmocka_unit_test_setup_teardown(host_respects_guest_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(guest_over_credit_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(strays_are_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_needs_a_running_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(host_stop_ends_waiting_connects, setup, teardown),
		cmocka_unit_test_setup_teardown(guest_close_frees_the_connection, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
