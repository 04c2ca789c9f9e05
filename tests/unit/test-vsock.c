/*
 * The vsock device end to end without KVM: the test plays the guest driver
 * on all three queues (guest-driver.c) and the library's user on the host
 * end of each connection (a plain socket), checking the packets the guest
 * would see and the bytes the host side reads. Also pausing, saving and
 * restoring for snapshots, and the transport reset event that follows.
 */
#define _GNU_SOURCE
#include <endian.h>
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
#define CLONE_CID 7 /* a restored clone's */
#define EVENT_QUEUE 2
#define GUEST_PORT 1024
#define QSIZE 64
#define RX_BUF (VSOCK_HEADER_SIZE + 4096)
#define WAIT_NS 5000000000LL

struct fixture {
	struct guest_driver rx, tx, ev; /* rx owns guest RAM */
	struct virtio_vsock *vs;
	struct virtio_mmio *t;
	uint64_t cid;
	uint64_t rx_gpa[QSIZE]; /* by head descriptor */
	uint16_t rx_seen;
	uint16_t ev_seen;
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

/* A device for `cid` over the fixture's RAM, as the VMM creates it; the driver has not seen it yet. */
static void create(struct fixture *f, uint64_t cid)
{
	const struct virtio_interrupt irq = { .raise = no_interrupt };

	assert_int_equal(virtio_vsock_create(cid, &f->rx.mem, &irq, &f->vs), 0);
	f->t = virtio_vsock_transport(f->vs);
	f->cid = cid;
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_DEVICE_ID), 19);
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_CONFIG), cid);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t status;

	guest_driver_init(&f->rx, QSIZE);
	guest_driver_init_queue(&f->tx, &f->rx, QSIZE, 0x20000);
	guest_driver_init_queue(&f->ev, &f->rx, QSIZE, 0x40000);
	create(f, GUEST_CID);
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

/* Wait for the device to use the queue's buffer number `seen` (the test fails after 5 s). */
static void wait_used(const struct guest_driver *d, uint16_t seen)
{
	int64_t deadline = now_ns() + WAIT_NS;

	while (guest_used_idx(d) == seen) {
		assert_true(now_ns() < deadline);
		usleep(1000);
	}
}

/* The next packet the device put on the RX queue. */
static struct virtio_vsock_hdr next_rx(struct fixture *f, void *payload, uint32_t cap)
{
	struct virtio_vsock_hdr h;
	struct vring_used_elem e;
	const uint8_t *buf;

	wait_used(&f->rx, f->rx_seen);
	e = f->rx.used->ring[f->rx_seen++ % QSIZE];
	buf = guest_host(&f->rx, f->rx_gpa[e.id]);
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(e.len, VSOCK_HEADER_SIZE + h.len);
	assert_true(h.len <= cap);
	if (h.len)
		memcpy(payload, buf + VSOCK_HEADER_SIZE, h.len);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_cid, f->cid);
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
		.src_cid = f->cid, .dst_cid = VSOCK_HOST_CID, .src_port = GUEST_PORT,
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

	c->result = virtio_vsock_connect(c->vs, GUEST_PORT, c->timeout_ms, &c->fd, NULL);
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

/* The guest resets connection `port`; the host reads end of stream, its slot is free. */
static void guest_resets(struct fixture *f, int fd, uint32_t port)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[8];

	guest_send(f, VIRTIO_VSOCK_OP_RST, port, 0, NULL, 0, 65536, 0);
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	close(fd);
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
	guest_resets(f, fd, port);
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

/*
 * A connection started in the background: the caller has its socket at once
 * and may write before the guest accepts; the bytes reach the guest only
 * after its RESPONSE. A refused one reads as end of stream, and its slot is
 * free again.
 */
static void background_connect(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr req, h;
	char buf[16];
	int fd;

	assert_int_equal(virtio_vsock_connect_start(f->vs, GUEST_PORT, &fd, NULL), 0);
	req = next_rx(f, NULL, 0);
	assert_int_equal(req.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(write(fd, "early", 5), 5);
	assert_true(rx_idle(f, 50)); /* nothing before the guest accepts */
	guest_send(f, VIRTIO_VSOCK_OP_RESPONSE, req.src_port, 0, NULL, 0, 65536, 0);
	h = next_rx(f, buf, sizeof(buf));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.src_port, req.src_port);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "early", 5);
	guest_send(f, VIRTIO_VSOCK_OP_RW, req.src_port, 0, "ok", 2, 65536, 5);
	read_exactly(fd, buf, 2);
	assert_memory_equal(buf, "ok", 2);
	close(fd);

	for (int i = 0; i < VSOCK_MAX_CONNECTIONS + 1; i++) {
		struct pollfd p;

		assert_int_equal(virtio_vsock_connect_start(f->vs, GUEST_PORT, &fd, NULL), 0);
		do
			req = next_rx(f, NULL, 0);
		while (req.op != VIRTIO_VSOCK_OP_REQUEST);
		guest_send(f, VIRTIO_VSOCK_OP_RST, req.src_port, 0, NULL, 0, 0, 0);
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 5000), 1);
		assert_int_equal(read(fd, buf, sizeof(buf)), 0);
		close(fd);
	}
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
	assert_int_equal(virtio_vsock_connect(f->vs, GUEST_PORT, 100, &fd, NULL), -ENOTCONN);
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

/* Bytes cross connection `port` both ways. */
static void assert_talks(struct fixture *f, int fd, uint32_t port)
{
	struct virtio_vsock_hdr h;
	char buf[8];

	assert_int_equal(write(fd, "ping", 4), 4);
	h = next_rx(f, buf, sizeof(buf));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.src_port, port);
	assert_memory_equal(buf, "ping", 4);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "pong", 4, 65536, 0);
	read_exactly(fd, buf, 4);
	assert_memory_equal(buf, "pong", 4);
}

/*
 * The worker looks only at slots up to the highest one in use: a connection
 * above freed slots, one left below a top slot that was freed, and one in a
 * slot taken again are all served.
 */
static void connections_in_any_slot_are_served(void **state)
{
	struct fixture *f = *state;
	uint32_t port[3];
	int fd[3];

	for (int i = 0; i < 3; i++)
		fd[i] = establish(f, &port[i], 65536); /* slots 0, 1, 2 */
	guest_resets(f, fd[0], port[0]);
	guest_resets(f, fd[1], port[1]);
	assert_talks(f, fd[2], port[2]); /* above two free slots */
	fd[0] = establish(f, &port[0], 65536); /* slot 0 again, below the one in use */
	assert_talks(f, fd[0], port[0]);
	guest_resets(f, fd[2], port[2]); /* the top slot goes */
	assert_talks(f, fd[0], port[0]);
	fd[1] = establish(f, &port[1], 65536); /* slot 1, above the rest again */
	assert_talks(f, fd[1], port[1]);
	assert_talks(f, fd[0], port[0]);
	guest_resets(f, fd[0], port[0]);
	guest_resets(f, fd[1], port[1]);
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
	assert_int_equal(virtio_vsock_connect(f->vs, GUEST_PORT, -1, &fd, NULL), -EHOSTDOWN);
}

/* Offer the device an event buffer of `len` bytes, device-writable unless `readable`. */
static uint64_t post_event(struct fixture *f, uint32_t len, bool readable)
{
	struct guest_buf b = { .gpa = guest_alloc(&f->rx, len), .len = len, .writable = !readable };

	memset(guest_host(&f->rx, b.gpa), 0xff, len);
	guest_add_chain(&f->ev, &b, 1);
	mmio_write32(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, EVENT_QUEUE);
	return b.gpa;
}

/* Wait for the device to fill the event buffer at gpa, the next on the event queue; returns the event's id. */
static uint32_t next_event(struct fixture *f, uint64_t gpa)
{
	struct vring_used_elem e;
	struct virtio_vsock_event ev;

	wait_used(&f->ev, f->ev_seen);
	e = f->ev.used->ring[f->ev_seen++ % QSIZE];
	assert_int_equal(e.len, sizeof(ev));
	memcpy(&ev, guest_host(&f->rx, gpa), sizeof(ev));
	return le32toh(ev.id);
}

static bool events_idle(struct fixture *f, int ms)
{
	usleep(ms * 1000);
	return guest_used_idx(&f->ev) == f->ev_seen;
}

/* The host ends its connection: its user reads end of stream. */
static void assert_ended(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
}

static void pause_and_resume_keep_connections(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	char buf[16];
	struct virtio_vsock_hdr h;

	virtio_mmio_pause(f->t);
	assert_int_equal(write(fd, "paused", 6), 6);
	assert_true(rx_idle(f, 100));
	assert_int_equal(virtio_mmio_resume(f->t), 0);
	h = next_rx(f, buf, sizeof(buf));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 6);
	assert_memory_equal(buf, "paused", 6);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "on", 2, 65536, 6);
	read_exactly(fd, buf, 2);
	assert_memory_equal(buf, "on", 2);
	close(fd);
}

/*
 * Pause while the device holds an RX chain for a connection with nothing to
 * send yet: the saved queue shows it untaken.
 */
static void pause_gives_back_the_held_rx_chain(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	struct virtio_mmio_state saved;
	char buf[16];

	/* Once the connection is up, the worker pops an RX chain in the same round; pause waits for it. */
	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &saved);
	assert_int_equal(saved.queues[0].used_idx, guest_used_idx(&f->rx));
	assert_int_equal(saved.queues[0].last_avail, saved.queues[0].used_idx);
	assert_int_equal(virtio_mmio_resume(f->t), 0);
	assert_int_equal(write(fd, "after", 5), 5);
	assert_int_equal(next_rx(f, buf, sizeof(buf)).len, 5);
	assert_memory_equal(buf, "after", 5);
	close(fd);
}

/*
 * The device holds the TX chains it handled until an interrupt it sends anyway:
 * with no RX traffic at all, they still come back (after the device's short wait).
 */
static void handled_tx_chains_come_back_without_rx(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	int64_t deadline = now_ns() + WAIT_NS;
	char buf[8];

	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "quiet", 5, 65536, 0);
	read_exactly(fd, buf, 5);
	/* Every chain the guest offered (its RESPONSE, this packet) comes back. */
	while (guest_used_idx(&f->tx) != f->tx.avail_idx) {
		assert_true(now_ns() < deadline);
		usleep(1000);
	}
	assert_true(rx_idle(f, 20)); /* no RX packet carried them back */
	close(fd);
}

/* A pause returns every handled TX chain: a snapshot records none as the device's. */
static void pause_returns_handled_tx_chains(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	struct virtio_mmio_state saved;
	char buf[8];

	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "a", 1, 65536, 0);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "b", 1, 65536, 0);
	read_exactly(fd, buf, 2); /* both handled, maybe held */
	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &saved);
	assert_int_equal(guest_used_idx(&f->tx), f->tx.avail_idx);
	assert_int_equal(saved.queues[1].used_idx, saved.queues[1].last_avail);
	assert_int_equal(virtio_mmio_resume(f->t), 0);
	close(fd);
}

/*
 * Snapshot, then restore into a clone with another CID, as another process
 * would: the guest's rings go on, its old connection is gone and it is told
 * so, and a new one works.
 */
static void restored_clone_resets_the_guest_and_connects(void **state)
{
	struct fixture *f = *state;
	uint64_t event = post_event(f, 4, false); /* a driver posts these when it starts */
	uint32_t port;
	int fd = establish(f, &port, 65536);
	struct virtio_mmio_state saved, again;
	char buf[16];

	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &saved);
	virtio_vsock_destroy(f->vs);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0); /* the host end went with the old device */
	close(fd);
	create(f, CLONE_CID);
	assert_int_equal(virtio_mmio_restore(f->t, &saved), 0);
	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &again);
	assert_memory_equal(&again, &saved, sizeof(saved));
	assert_int_equal(virtio_mmio_resume(f->t), 0);

	virtio_vsock_transport_reset(f->vs);
	assert_int_equal(next_event(f, event), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	post_event(f, 4, false); /* handled: Linux gives the buffer back */
	/* The guest reads its new CID, in accesses a generation change tells it to repeat. */
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_CONFIG), CLONE_CID);
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_CONFIG_GENERATION), saved.config_generation + 1);

	fd = establish(f, &port, 65536);
	assert_int_equal(write(fd, "clone", 5), 5);
	assert_int_equal(next_rx(f, buf, sizeof(buf)).len, 5);
	assert_memory_equal(buf, "clone", 5);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "guest", 5, 65536, 5);
	read_exactly(fd, buf, 5);
	assert_memory_equal(buf, "guest", 5);
	close(fd);
}

/* Pause and save the device, then replace it by a restored one for `cid`, as a clone's process does. */
static void clone_device(struct fixture *f, uint64_t cid)
{
	struct virtio_mmio_state saved;

	virtio_mmio_save(f->t, &saved);
	virtio_vsock_destroy(f->vs);
	create(f, cid);
	assert_int_equal(virtio_mmio_restore(f->t, &saved), 0);
}

/*
 * The connection a snapshot carries goes on in the clone where it was: the
 * guest's socket, which never learns of the restore, sees the same ports and
 * the credit counters it expects, and bytes flow both ways.
 */
static void kept_connection_travels_with_the_snapshot(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	struct virtio_vsock_kept kept;
	struct virtio_vsock_hdr h;
	char buf[16];

	post_event(f, 8, false);
	/* A request and its answer went by first, as before a standby is given back. */
	assert_int_equal(write(fd, "ping", 4), 4);
	assert_int_equal(next_rx(f, buf, sizeof(buf)).len, 4);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "pong", 4, 65536, 4);
	read_exactly(fd, buf, 4);
	virtio_mmio_pause(f->t);
	assert_true(virtio_vsock_save_kept(f->vs, port, &kept));
	assert_int_equal(kept.host_port, port);
	assert_int_equal(kept.guest_port, GUEST_PORT);
	assert_int_equal(kept.guest_cid, GUEST_CID);
	assert_int_equal(kept.tx_cnt, 4);
	assert_int_equal(kept.fwd_cnt, 4);
	close(fd);
	clone_device(f, GUEST_CID);
	assert_int_equal(virtio_vsock_restore_kept(f->vs, &kept, &fd), 0);

	assert_int_equal(write(fd, "again", 5), 5);
	h = next_rx(f, buf, sizeof(buf));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.src_port, port);
	assert_int_equal(h.dst_port, GUEST_PORT);
	assert_int_equal(h.fwd_cnt, 4); /* what the guest sent before the snapshot, counted */
	assert_memory_equal(buf, "again", 5);
	guest_send(f, VIRTIO_VSOCK_OP_RW, port, 0, "clone", 5, 65536, 9);
	read_exactly(fd, buf, 5);
	assert_memory_equal(buf, "clone", 5);
	/* No transport reset, though the guest offered an event buffer. */
	assert_true(events_idle(f, 50));
	close(fd);
}

/* Bytes in flight, or another connection open: nothing travels, the clone resets as before. */
static void busy_connections_do_not_travel(void **state)
{
	struct fixture *f = *state;
	uint32_t port, other_port;
	int fd = establish(f, &port, 65536);
	int other = establish(f, &other_port, 65536);
	struct virtio_vsock_kept kept;

	virtio_mmio_pause(f->t);
	assert_false(virtio_vsock_save_kept(f->vs, port, &kept));
	close(other);
	assert_int_equal(virtio_mmio_resume(f->t), 0);
	assert_int_equal(next_rx(f, NULL, 0).op, VIRTIO_VSOCK_OP_SHUTDOWN);
	guest_send(f, VIRTIO_VSOCK_OP_RST, other_port, 0, NULL, 0, 65536, 0);
	virtio_mmio_pause(f->t);
	assert_int_equal(write(fd, "unsent", 6), 6); /* still in our user's socket */
	assert_false(virtio_vsock_save_kept(f->vs, port, &kept));
	assert_false(virtio_vsock_save_kept(f->vs, port + 100, &kept));
	close(fd);
}

/* A clone with another CID cannot have it: the guest's socket names the old one. */
static void kept_connection_needs_the_same_cid(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	int fd = establish(f, &port, 65536);
	struct virtio_vsock_kept kept;

	virtio_mmio_pause(f->t);
	assert_true(virtio_vsock_save_kept(f->vs, port, &kept));
	close(fd);
	clone_device(f, CLONE_CID);
	fd = -1;
	assert_int_equal(virtio_vsock_restore_kept(f->vs, &kept, &fd), -EADDRNOTAVAIL);
	assert_int_equal(fd, -1);
	kept.guest_cid = CLONE_CID;
	kept.host_port = 80;
	assert_int_equal(virtio_vsock_restore_kept(f->vs, &kept, &fd), -EINVAL);
}

static void transport_reset_with_event_buffer_posted(void **state)
{
	struct fixture *f = *state;
	uint64_t event = post_event(f, 8, false);
	uint32_t port;
	int fd = establish(f, &port, 65536);

	assert_true(events_idle(f, 20));
	virtio_vsock_transport_reset(f->vs);
	assert_int_equal(next_event(f, event), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	assert_ended(fd); /* the guest forgets its end: so does the host */
	assert_true(rx_idle(f, 50)); /* no RST: the guest resets its sockets itself */
}

static void transport_reset_waits_for_an_event_buffer(void **state)
{
	struct fixture *f = *state;
	uint64_t event;

	virtio_vsock_transport_reset(f->vs);
	assert_true(events_idle(f, 50));
	event = post_event(f, 4, false);
	assert_int_equal(next_event(f, event), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	/* Owed once: a second buffer stays unused. */
	post_event(f, 4, false);
	assert_true(events_idle(f, 50));
}

/*
 * A connection asked for while the event is owed reaches the guest only after
 * the guest handled the event, which it says by giving the buffer back.
 */
static void connect_waits_for_the_reset_event(void **state)
{
	struct fixture *f = *state;
	struct connect_call c = { .vs = f->vs, .timeout_ms = 5000, .fd = -1 };
	struct virtio_vsock_hdr h;
	uint64_t event;

	virtio_vsock_transport_reset(f->vs);
	assert_int_equal(pthread_create(&c.thread, NULL, connect_thread, &c), 0);
	assert_true(rx_idle(f, 100));
	event = post_event(f, 4, false);
	assert_int_equal(next_event(f, event), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	assert_true(rx_idle(f, 100));
	post_event(f, 4, false);
	h = next_rx(f, NULL, 0);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	guest_send(f, VIRTIO_VSOCK_OP_RESPONSE, h.src_port, 0, NULL, 0, 65536, 0);
	pthread_join(c.thread, NULL);
	assert_int_equal(c.result, 0);
	close(c.fd);
}

/* The driver may split even a 4-byte event over buffers (VIRTIO_F_ANY_LAYOUT comes with VERSION_1). */
static void event_split_over_buffers(void **state)
{
	struct fixture *f = *state;
	const struct guest_buf halves[2] = {
		{ .gpa = guest_alloc(&f->rx, 2), .len = 2, .writable = true },
		{ .gpa = guest_alloc(&f->rx, 2), .len = 2, .writable = true },
	};

	memset(guest_host(&f->rx, halves[0].gpa), 0xff, 2);
	memset(guest_host(&f->rx, halves[1].gpa), 0xff, 2);
	guest_add_chain(&f->ev, halves, 2);
	virtio_vsock_transport_reset(f->vs);
	wait_used(&f->ev, 0);
	assert_int_equal(f->ev.used->ring[0].len, 4);
	assert_memory_equal(guest_host(&f->rx, halves[0].gpa), "\0\0", 2);
	assert_memory_equal(guest_host(&f->rx, halves[1].gpa), "\0\0", 2);
}

static bool needs_reset(struct fixture *f)
{
	int64_t deadline = now_ns() + WAIT_NS;

	while (!(mmio_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		if (now_ns() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

/* A malformed event buffer fails the device, which then holds nothing of it. */
static void assert_event_buffer_fails(struct fixture *f, uint32_t len, bool readable)
{
	virtio_vsock_transport_reset(f->vs);
	post_event(f, len, readable);
	assert_true(needs_reset(f));
	assert_int_equal(guest_used_idx(&f->ev), 0);
	mmio_write32(f->t, VIRTIO_MMIO_STATUS, 0); /* the driver resets the device */
	assert_int_equal(mmio_read32(f->t, VIRTIO_MMIO_STATUS), 0);
}

static void short_event_buffer_fails_the_device(void **state)
{
	assert_event_buffer_fails(*state, 3, false);
}

static void readable_event_buffer_fails_the_device(void **state)
{
	assert_event_buffer_fails(*state, 4, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bytes_both_ways_and_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_and_timed_out, setup, teardown),
		cmocka_unit_test_setup_teardown(background_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(host_respects_guest_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(guest_over_credit_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(strays_are_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_needs_a_running_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(host_stop_ends_waiting_connects, setup, teardown),
		cmocka_unit_test_setup_teardown(guest_close_frees_the_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(connections_in_any_slot_are_served, setup, teardown),
		cmocka_unit_test_setup_teardown(pause_and_resume_keep_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(pause_gives_back_the_held_rx_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(handled_tx_chains_come_back_without_rx, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pause_returns_handled_tx_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(restored_clone_resets_the_guest_and_connects, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kept_connection_travels_with_the_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(busy_connections_do_not_travel, setup, teardown),
		cmocka_unit_test_setup_teardown(kept_connection_needs_the_same_cid, setup, teardown),
		cmocka_unit_test_setup_teardown(transport_reset_with_event_buffer_posted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(transport_reset_waits_for_an_event_buffer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(connect_waits_for_the_reset_event, setup, teardown),
		cmocka_unit_test_setup_teardown(event_split_over_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(short_event_buffer_fails_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(readable_event_buffer_fails_the_device, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
