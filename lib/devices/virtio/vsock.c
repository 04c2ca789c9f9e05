#define _GNU_SOURCE
#include "devices/virtio/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/vsock_packet.h"
#include "util/error.h"
#include "util/thread.h"

#define VSOCK_QUEUE_SIZE 256
#define RX_QUEUE 0
#define TX_QUEUE 1
#define EVENT_QUEUE 2
/* The worker polls each queue's notify eventfd at the queue's index, then these, then connections. */
#define POLL_WAKE 3
#define POLL_STOP 4
#define POLL_FIXED 5
/* Host ports we connect from: the ephemeral range, as the guest expects of a peer. */
#define FIRST_HOST_PORT 49152u
/* Resets owed for packets that belong to no connection; more are dropped, the guest retries. */
#define MAX_ORPHAN_RESETS 64
/*
 * Handled TX chains go back to the guest with the next interrupt we send anyway (an RX
 * packet's), or once this many wait, or after TX_DONE_WAIT_MS without one: the guest only
 * frees them, and an interrupt of their own costs it two exits (status read, ack) for
 * nothing else. Per exec of `true` that was 2.5 of ~3.5 interrupts.
 */
#define TX_DONE_MAX 32
#define TX_DONE_WAIT_MS 2
/* Tell the guest about freed buffer space once this much has been consumed since we last did. */
#define CREDIT_UPDATE_STEP (VSOCK_BUF_ALLOC / 4)

#define SHUTDOWN_BOTH (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

enum conn_state { CONN_FREE, CONN_CONNECTING, CONN_ESTABLISHED, CONN_CLOSED };

struct vsock_conn {
	enum conn_state state;
	uint32_t host_port, guest_port;
	int fd; /* our end of the socketpair, non-blocking */
	bool request_sent;
	bool send_rst;    /* reset the guest's end, then free the connection */
	bool send_credit; /* the guest asked, or our window moved by CREDIT_UPDATE_STEP */
	uint32_t shutdown_owed; /* VIRTIO_VSOCK_SHUTDOWN_* flags to send: our user ended a direction */
	uint32_t shutdown_sent;
	uint32_t guest_shutdown; /* VIRTIO_VSOCK_SHUTDOWN_* flags the guest sent */
	/* Credit (virtio 1.2, 5.10.6.3): theirs, then ours. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t fwd_cnt, fwd_cnt_sent;
	/*
	 * Guest data our user has not taken yet: what the guest sent minus
	 * fwd_cnt, so never more than VSOCK_BUF_ALLOC when it keeps to the credit.
	 */
	uint8_t *pending;
	uint32_t pending_len;
	/* A connect() call waits for this connection while `waiter` is set. */
	bool waiter;
	int result;
};

struct orphan_reset {
	uint32_t host_port, guest_port;
};

struct virtio_vsock {
	struct virtio_mmio transport;
	struct virtio_vsock_config config;
	uint64_t guest_cid;

	/*
	 * The worker, started and joined only through the transport's calls
	 * (activate, reset, pause, resume), which its lock serializes: so these need
	 * not `lock`, and joining must not hold it, as the worker needs it to finish.
	 */
	struct thread thread;
	bool thread_running;

	pthread_mutex_t lock; /* everything below; the worker drops it only to poll */
	pthread_cond_t changed;
	bool running; /* from activate to reset, pauses included: connect() may ask the guest */
	bool host_stopped; /* the VM is ending: no connect() waits for the guest any more */
	bool event_owed;   /* the guest must learn of a transport reset before new connections */
	bool event_unread; /* ... it was sent, but the guest has not handled it yet */
	uint16_t event_mark; /* the event queue's available index when we sent it */
	int wake_fd, stop_fd;
	uint32_t next_host_port;
	struct vsock_conn conns[VSOCK_MAX_CONNECTIONS];
	/*
	 * Slots from here up are all CONN_FREE, so the scans of every worker
	 * round stop here: a VM has a connection or two, and scanning all 256
	 * slots twice per wakeup was ~70% of the host's instructions per exec.
	 */
	unsigned int slots_used;
	struct orphan_reset orphans[MAX_ORPHAN_RESETS];
	unsigned int norphans;

	/* Worker scratch. An RX chain is popped before we know whether there is data for it. */
	struct virtq_chain tx_chain, rx_chain, event_chain;
	bool rx_held;
	struct iovec rx_payload[VIRTQ_MAX_CHAIN];
	unsigned int rx_npayload;
	uint32_t rx_room;
	bool tx_used, rx_used;
	uint16_t tx_done[TX_DONE_MAX]; /* heads of handled TX chains not yet returned */
	unsigned int ntx_done;
	bool rx_starved; /* we had something to send and the guest offered no RX buffer */
	bool broken;
	struct vsock_packet pkt;
};

static struct vsock_conn *find_conn(struct virtio_vsock *vs, uint32_t host_port,
				    uint32_t guest_port)
{
	for (unsigned int i = 0; i < vs->slots_used; i++) {
		struct vsock_conn *c = &vs->conns[i];

		if (c->state != CONN_FREE && c->state != CONN_CLOSED && c->host_port == host_port &&
		    c->guest_port == guest_port)
			return c;
	}
	return NULL;
}

/* After a slot became CONN_FREE: lower `slots_used` past the free slots at the top. */
static void slots_trim(struct virtio_vsock *vs)
{
	while (vs->slots_used && vs->conns[vs->slots_used - 1].state == CONN_FREE)
		vs->slots_used--;
}

/* End a connection: a waiting connect() learns `result`; otherwise the slot is free at once. */
static void close_conn(struct virtio_vsock *vs, struct vsock_conn *c, int result)
{
	if (c->fd >= 0)
		close(c->fd); /* our user reads what was written, then end of stream */
	free(c->pending);
	*c = (struct vsock_conn){ .fd = -1, .waiter = c->waiter, .result = result,
				  .state = c->waiter ? CONN_CLOSED : CONN_FREE };
	slots_trim(vs);
	pthread_cond_broadcast(&vs->changed);
}

static void queue_orphan_reset(struct virtio_vsock *vs, const struct vsock_header *h)
{
	if (vs->norphans < MAX_ORPHAN_RESETS)
		vs->orphans[vs->norphans++] = (struct orphan_reset){
			.host_port = h->dst_port, .guest_port = h->src_port,
		};
}

/* Take an RX chain to fill, keeping it until used; false when the guest offers none. */
static bool rx_take(struct virtio_vsock *vs)
{
	int r;

	if (vs->rx_held)
		return true;
	r = virtq_pop(&vs->transport.queues[RX_QUEUE], &vs->rx_chain);
	if (r < 0 || (r > 0 && vsock_rx_layout(&vs->rx_chain, vs->rx_payload, &vs->rx_npayload,
					       &vs->rx_room))) {
		vs->broken = true;
		return false;
	}
	vs->rx_held = r > 0;
	vs->rx_starved = r == 0;
	return vs->rx_held;
}

static void rx_send(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t host_port,
		    uint32_t guest_port, uint16_t op, uint32_t flags, uint32_t len)
{
	struct vsock_header h = {
		.src_cid = VSOCK_HOST_CID, .dst_cid = vs->guest_cid,
		.src_port = host_port, .dst_port = guest_port, .len = len,
		.type = VIRTIO_VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = VSOCK_BUF_ALLOC, .fwd_cnt = c ? c->fwd_cnt : 0,
	};

	if (c) {
		c->fwd_cnt_sent = c->fwd_cnt;
		c->send_credit = false;
		c->tx_cnt += len;
	}
	vsock_rx_put_header(&vs->rx_chain, &h);
	virtq_push(&vs->transport.queues[RX_QUEUE], vs->rx_chain.head, VSOCK_HEADER_SIZE + len);
	vs->rx_held = false;
	vs->rx_used = true;
}

static void rx_control(struct virtio_vsock *vs, struct vsock_conn *c, uint16_t op, uint32_t flags)
{
	rx_send(vs, c, c->host_port, c->guest_port, op, flags, 0);
}

/* Hand guest bytes to our user; what the socket cannot take now waits in c->pending. */
static void deliver(struct vsock_conn *c, const struct iovec *iov, unsigned int n)
{
	ssize_t w = 0;

	if (c->pending_len == 0) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };

		w = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			c->send_rst = true; /* our user is gone */
			return;
		}
		if (w < 0)
			w = 0;
	}
	c->fwd_cnt += (uint32_t)w;
	for (unsigned int i = 0; i < n; i++) {
		size_t skip = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;

		w -= (ssize_t)skip;
		memcpy(c->pending + c->pending_len, (uint8_t *)iov[i].iov_base + skip,
		       iov[i].iov_len - skip);
		c->pending_len += (uint32_t)(iov[i].iov_len - skip);
	}
}

static void handle_rw(struct virtio_vsock *vs, struct vsock_conn *c)
{
	const struct vsock_packet *p = &vs->pkt;

	if (c->state != CONN_ESTABLISHED || (c->guest_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
	    c->pending_len + p->hdr.len > VSOCK_BUF_ALLOC) {
		c->send_rst = true; /* data it had no right to send */
		return;
	}
	if (!c->pending && !(c->pending = malloc(VSOCK_BUF_ALLOC))) {
		c->send_rst = true;
		return;
	}
	deliver(c, p->payload, p->npayload);
}

static void handle_packet(struct virtio_vsock *vs)
{
	const struct vsock_header *h = &vs->pkt.hdr;
	struct vsock_conn *c = find_conn(vs, h->dst_port, h->src_port);

	if (!c) {
		/* No listeners on the host side yet: every guest REQUEST is refused. */
		if (h->op != VIRTIO_VSOCK_OP_RST)
			queue_orphan_reset(vs, h);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state == CONN_CONNECTING && c->request_sent) {
			c->state = CONN_ESTABLISHED;
			c->result = 0;
			pthread_cond_broadcast(&vs->changed);
		} else {
			c->send_rst = true;
		}
		break;
	case VIRTIO_VSOCK_OP_RST:
		close_conn(vs, c, c->state == CONN_CONNECTING ? -ECONNREFUSED : -ECONNRESET);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->guest_shutdown |= h->flags;
		break;
	case VIRTIO_VSOCK_OP_RW:
		handle_rw(vs, c);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->send_credit = true;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	default: /* REQUEST on a connection that exists */
		c->send_rst = true;
		break;
	}
}

/* Give the guest back every handled TX chain; the caller interrupts it if the queue wants. */
static void tx_done_return(struct virtio_vsock *vs)
{
	for (unsigned int i = 0; i < vs->ntx_done; i++)
		virtq_push(&vs->transport.queues[TX_QUEUE], vs->tx_done[i], 0);
	vs->tx_used |= vs->ntx_done > 0;
	vs->ntx_done = 0;
}

/* Interrupt the guest if what was pushed since the last round asks for it; returned TX chains ride along. */
static void notify_guest(struct virtio_vsock *vs)
{
	bool rx = vs->rx_used && virtq_needs_interrupt(&vs->transport.queues[RX_QUEUE]), tx;

	if (rx || vs->tx_used)
		tx_done_return(vs);
	/* Asked even when RX interrupts anyway: the queue notes what it signalled. */
	tx = vs->tx_used && virtq_needs_interrupt(&vs->transport.queues[TX_QUEUE]);
	if (rx || tx)
		virtio_mmio_interrupt(&vs->transport);
	vs->rx_used = vs->tx_used = false;
}

/* Take every packet the guest has sent; false if it broke the ring. */
static bool serve_tx(struct virtio_vsock *vs)
{
	struct virtq *q = &vs->transport.queues[TX_QUEUE];
	int r;

	while ((r = virtq_pop(q, &vs->tx_chain)) > 0) {
		if (vsock_packet_parse(&vs->tx_chain, vs->guest_cid, &vs->pkt) == 0)
			handle_packet(vs);
		else if (vs->pkt.addressable && vs->pkt.hdr.op != VIRTIO_VSOCK_OP_RST)
			queue_orphan_reset(vs, &vs->pkt.hdr);
		if (vs->ntx_done == TX_DONE_MAX)
			tx_done_return(vs);
		vs->tx_done[vs->ntx_done++] = vs->tx_chain.head;
	}
	return r == 0;
}

/* Write what our user has not taken yet; then pass on the guest's end of stream. */
static void flush_pending(struct vsock_conn *c)
{
	if (c->pending_len) {
		ssize_t w = send(c->fd, c->pending, c->pending_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			c->send_rst = true;
			return;
		}
		if (w > 0) {
			memmove(c->pending, c->pending + w, c->pending_len - (uint32_t)w);
			c->pending_len -= (uint32_t)w;
			c->fwd_cnt += (uint32_t)w;
		}
	}
	if (c->fwd_cnt - c->fwd_cnt_sent >= CREDIT_UPDATE_STEP)
		c->send_credit = true;
}

/* Read from our user into one RX chain. False when nothing more can move now. */
static bool forward_host_data(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t credit = vsock_peer_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
	struct iovec iov[VIRTQ_MAX_CHAIN];
	uint32_t want, left;
	unsigned int n = 0;
	ssize_t got;

	if (c->state != CONN_ESTABLISHED || c->send_rst ||
	    (c->shutdown_owed & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
	    (c->guest_shutdown & VIRTIO_VSOCK_SHUTDOWN_RCV) || credit == 0 || !rx_take(vs))
		return false;
	want = credit < vs->rx_room ? credit : vs->rx_room;
	for (left = want; n < vs->rx_npayload && left; n++) {
		iov[n] = vs->rx_payload[n];
		if (iov[n].iov_len > left)
			iov[n].iov_len = left;
		left -= (uint32_t)iov[n].iov_len;
	}
	got = readv(c->fd, iov, (int)n);
	if (got < 0)
		return false; /* EAGAIN: nothing to send; the chain stays held */
	if (got == 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

		/* End of our user's stream; a full close also ends the guest's. */
		c->shutdown_owed |= VIRTIO_VSOCK_SHUTDOWN_SEND;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP))
			c->shutdown_owed |= VIRTIO_VSOCK_SHUTDOWN_RCV;
		return false;
	}
	rx_send(vs, c, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RW, 0, (uint32_t)got);
	return true;
}

/* Control packets a connection owes the guest, in order; false when out of RX buffers. */
static bool send_control(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->state == CONN_FREE || c->state == CONN_CLOSED)
		return true;
	/*
	 * Done when either side has ended both directions and every byte the guest sent
	 * is in our user's socket (which still reads it, then end of stream). A guest
	 * that shut down both ways waits for our RST (Linux does), and without it here
	 * the connection would hold its slot for as long as the VM lives.
	 */
	if (c->send_rst ||
	    (((c->shutdown_sent == SHUTDOWN_BOTH && c->guest_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
	      c->guest_shutdown == SHUTDOWN_BOTH) && !c->pending_len)) {
		if (c->request_sent) {
			if (!rx_take(vs))
				return false;
			rx_control(vs, c, VIRTIO_VSOCK_OP_RST, 0);
		}
		close_conn(vs, c, -ECONNRESET);
		return true;
	}
	/* The guest resets its connected sockets when it reads the event: a new one must come after. */
	if (c->state == CONN_CONNECTING && !c->request_sent && !vs->event_owed &&
	    !vs->event_unread) {
		if (!rx_take(vs))
			return false;
		rx_control(vs, c, VIRTIO_VSOCK_OP_REQUEST, 0);
		c->request_sent = true;
	}
	if (c->state != CONN_ESTABLISHED)
		return true;
	if (c->guest_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND && !c->pending_len)
		shutdown(c->fd, SHUT_WR); /* our user reads end of stream */
	if (c->shutdown_owed & ~c->shutdown_sent) {
		if (!rx_take(vs))
			return false;
		rx_control(vs, c, VIRTIO_VSOCK_OP_SHUTDOWN, c->shutdown_owed);
		c->shutdown_sent = c->shutdown_owed;
	}
	if (c->send_credit) {
		if (!rx_take(vs))
			return false;
		rx_control(vs, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
	}
	return true;
}

/*
 * Tell the guest its transport was reset (virtio 1.2, 5.10.6.6) if it offers
 * an event buffer; if not, the event stays owed until it does. False if it
 * broke the event queue.
 */
static bool send_event(struct virtio_vsock *vs)
{
	struct virtq *q = &vs->transport.queues[EVENT_QUEUE];
	int r = virtq_pop(q, &vs->event_chain);

	if (r == 0)
		return true;
	if (r < 0 || vsock_event_put(&vs->event_chain, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET))
		return false;
	virtq_push(q, vs->event_chain.head, sizeof(struct virtio_vsock_event));
	vs->event_owed = false;
	vs->event_unread = true;
	vs->event_mark = virtq_avail_idx(q);
	if (virtq_needs_interrupt(q))
		virtio_mmio_interrupt(&vs->transport);
	return true;
}

/* One round of work; returns false when the device must stop (a broken ring). */
static bool serve(struct virtio_vsock *vs)
{
	struct virtq *rxq = &vs->transport.queues[RX_QUEUE];
	struct virtq *txq = &vs->transport.queues[TX_QUEUE];
	struct virtq *evq = &vs->transport.queues[EVENT_QUEUE];
	bool more;

	do {
		more = false;
		if (!serve_tx(vs))
			return false;
		/* Before any RX packet: those are for connections made after the reset. */
		if (vs->event_owed && !send_event(vs))
			return false;
		/*
		 * Linux handles the event on a work item of its own, then gives the
		 * buffer back: until it does, a connection accepted meanwhile could
		 * still be reset by the event.
		 */
		if (vs->event_unread && virtq_avail_idx(evq) != vs->event_mark)
			vs->event_unread = false;
		for (unsigned int i = 0; i < vs->slots_used && !vs->broken; i++) {
			struct vsock_conn *c = &vs->conns[i];

			if (c->state == CONN_ESTABLISHED)
				flush_pending(c);
			/* Data first: reading our user's end of stream owes the guest a SHUTDOWN. */
			while (!vs->broken && forward_host_data(vs, c))
				;
			if (!send_control(vs, c))
				break;
		}
		while (vs->norphans && !vs->broken && rx_take(vs)) {
			struct orphan_reset o = vs->orphans[--vs->norphans];

			rx_send(vs, NULL, o.host_port, o.guest_port, VIRTIO_VSOCK_OP_RST, 0, 0);
		}
		if (vs->broken)
			return false;
		notify_guest(vs);
		more = virtq_enable_notify(txq);
		/* Unused RX buffers wake us only when we were waiting for them. */
		if (vs->rx_starved) {
			vs->rx_starved = false;
			more |= virtq_enable_notify(rxq);
		}
		if (vs->event_owed)
			more |= virtq_enable_notify(evq);
		else if (vs->event_unread)
			more |= virtq_notify_past(evq, vs->event_mark);
	} while (more);
	return true;
}

/* Which connections' sockets we wait on, and for what. */
static nfds_t build_pollset(struct virtio_vsock *vs, struct pollfd *fds)
{
	nfds_t n = POLL_FIXED;

	for (unsigned int q = RX_QUEUE; q <= EVENT_QUEUE; q++)
		fds[q] = (struct pollfd){ .fd = vs->transport.notify_fd[q], .events = POLLIN };
	fds[POLL_WAKE] = (struct pollfd){ .fd = vs->wake_fd, .events = POLLIN };
	fds[POLL_STOP] = (struct pollfd){ .fd = vs->stop_fd, .events = POLLIN };
	for (unsigned int i = 0; i < vs->slots_used; i++) {
		struct vsock_conn *c = &vs->conns[i];
		short events = 0;

		if (c->state != CONN_ESTABLISHED)
			continue;
		if (c->pending_len)
			events |= POLLOUT;
		if (!(c->shutdown_owed & VIRTIO_VSOCK_SHUTDOWN_SEND) &&
		    vsock_peer_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt))
			events |= POLLIN;
		if (events)
			fds[n++] = (struct pollfd){ .fd = c->fd, .events = events };
	}
	return n;
}

static void drain(int fd)
{
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0)
		count = 0; /* EAGAIN: nothing signalled */
}

static void wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0)
		one = 0; /* the counter is saturated: a wake-up is pending anyway */
}

static void *vsock_worker(void *arg)
{
	struct virtio_vsock *vs = arg;
	struct pollfd fds[POLL_FIXED + VSOCK_MAX_CONNECTIONS];

	pthread_mutex_lock(&vs->lock);
	for (;;) {
		int timeout, ready;
		nfds_t n;

		if (!serve(vs)) {
			virtio_mmio_fail(&vs->transport);
			break;
		}
		n = build_pollset(vs, fds);
		/* Held TX chains go back within TX_DONE_WAIT_MS, even when nothing else happens. */
		timeout = vs->ntx_done ? TX_DONE_WAIT_MS : -1;
		pthread_mutex_unlock(&vs->lock);
		while ((ready = poll(fds, n, timeout)) < 0)
			;
		pthread_mutex_lock(&vs->lock);
		if (ready == 0)
			tx_done_return(vs); /* serve() interrupts the guest for them */
		if (fds[POLL_STOP].revents)
			break;
		for (int i = 0; i < POLL_STOP; i++)
			if (fds[i].revents)
				drain(fds[i].fd);
	}
	pthread_mutex_unlock(&vs->lock);
	return NULL;
}

static uint64_t vsock_features(void *dev)
{
	(void)dev;
	return 0; /* stream sockets only: no SEQPACKET */
}

static void vsock_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *vs = dev;

	memcpy(data, (const uint8_t *)&vs->config + offset, len);
}

/* Call with `lock` held; the worker takes it first thing, so it starts once the caller is done. */
static int start_worker(struct virtio_vsock *vs)
{
	int r;

	drain(vs->stop_fd);
	r = thread_start(&vs->thread, "agentvm-vsock", THREAD_STACK_OWN, vsock_worker, vs);
	if (r)
		return error_set_errno(-r, "cannot start the vsock device's thread");
	vs->thread_running = true;
	return 0;
}

/* Returns once no worker touches the queues or guest memory. Call without `lock`. */
static void stop_worker(struct virtio_vsock *vs)
{
	uint64_t one = 1;

	if (!vs->thread_running)
		return;
	if (write(vs->stop_fd, &one, sizeof(one)) < 0)
		return; /* cannot happen for a fresh eventfd; joining would then hang */
	thread_join(&vs->thread);
	vs->thread_running = false;
}

/* Every connection ends; nothing stays owed for them. Call with `lock` held. */
static void end_connections(struct virtio_vsock *vs)
{
	for (unsigned int i = 0; i < vs->slots_used; i++)
		if (vs->conns[i].state != CONN_FREE && vs->conns[i].state != CONN_CLOSED)
			close_conn(vs, &vs->conns[i], -ECONNRESET);
	vs->norphans = 0;
}

static int vsock_activate(void *dev, struct virtio_mmio *t)
{
	struct virtio_vsock *vs = dev;
	int err;

	(void)t;
	pthread_mutex_lock(&vs->lock);
	vs->rx_held = vs->broken = vs->event_owed = vs->event_unread = false;
	vs->ntx_done = 0;
	err = start_worker(vs);
	vs->running = err == 0;
	pthread_mutex_unlock(&vs->lock);
	return err;
}

/* The driver reset the device: every connection ends (virtio 1.2, 5.10.6.6). */
static void vsock_reset(void *dev)
{
	struct virtio_vsock *vs = dev;

	pthread_mutex_lock(&vs->lock);
	vs->running = false;
	pthread_mutex_unlock(&vs->lock);
	stop_worker(vs);
	pthread_mutex_lock(&vs->lock);
	end_connections(vs);
	pthread_mutex_unlock(&vs->lock);
}

/* For a snapshot: the worker stops, connections stay, and the RX queue shows no chain taken. */
static void vsock_pause(void *dev)
{
	struct virtio_vsock *vs = dev;

	stop_worker(vs);
	pthread_mutex_lock(&vs->lock);
	/*
	 * The worker pops an RX chain before it knows whether it has data for it.
	 * Held, the chain is the RX queue's last popped (it pops no other while
	 * holding one) and nothing was written to it (filling and pushing happen
	 * together): give it back, so the saved queue state owes the guest nothing
	 * and a restored device, which holds no chain, takes it again.
	 */
	if (vs->rx_held)
		virtq_unpop(&vs->transport.queues[RX_QUEUE]);
	vs->rx_held = false;
	/* Handled TX chains the worker held go back now: a snapshot records no chain as the device's. */
	tx_done_return(vs);
	notify_guest(vs);
	pthread_mutex_unlock(&vs->lock);
}

static int vsock_resume(void *dev)
{
	struct virtio_vsock *vs = dev;
	int err;

	pthread_mutex_lock(&vs->lock);
	err = start_worker(vs);
	if (err)
		vs->running = false; /* connect() fails at once rather than wait for no one */
	pthread_mutex_unlock(&vs->lock);
	return err;
}

static const struct virtio_device_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.queue_max_size = VSOCK_QUEUE_SIZE,
	.features = vsock_features,
	.config_size = sizeof(struct virtio_vsock_config),
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.pause = vsock_pause,
	.resume = vsock_resume,
};

/* The lowest free slot, scanned from now on; the caller makes it a connection at once. */
static struct vsock_conn *claim_slot(struct virtio_vsock *vs)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
		if (vs->conns[i].state != CONN_FREE)
			continue;
		if (i >= vs->slots_used)
			vs->slots_used = i + 1;
		return &vs->conns[i];
	}
	return NULL;
}

static struct vsock_conn *new_conn(struct virtio_vsock *vs, uint32_t guest_port, int fd,
				   bool waiter)
{
	struct vsock_conn *c = claim_slot(vs);
	uint32_t host_port;

	if (!c)
		return NULL;
	/* Ports wrap within the ephemeral range and skip ones in use. */
	do {
		host_port = vs->next_host_port++;
		if (vs->next_host_port == 0)
			vs->next_host_port = FIRST_HOST_PORT;
	} while (find_conn(vs, host_port, guest_port));
	*c = (struct vsock_conn){ .state = CONN_CONNECTING, .host_port = host_port,
				  .guest_port = guest_port, .fd = fd, .waiter = waiter };
	return c;
}

static struct timespec deadline_after(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* A connection's socket pair: sv[0] for our user, sv[1] non-blocking for the device. */
static int pair_open(int sv[2])
{
	int err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return error_set_errno(-errno, "cannot create a socket pair for a vsock connection");
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0)
		return 0;
	err = error_set_errno(-errno, "cannot make a vsock socket non-blocking");
	close(sv[0]);
	close(sv[1]);
	return err;
}

/*
 * Our end's socket pair and a CONNECTING slot for its other end, the worker
 * woken to send the REQUEST. 0 with `lock` held, sv[0] ours to return and
 * sv[1] the connection's; on failure both closed and `lock` released.
 */
static int conn_begin(struct virtio_vsock *vs, uint32_t guest_port, bool waiter, int sv[2],
		      struct vsock_conn **out)
{
	uint64_t one = 1;
	int err = pair_open(sv);

	if (err)
		return err;
	pthread_mutex_lock(&vs->lock);
	if (vs->host_stopped)
		err = error_set(-EHOSTDOWN, "the VM stopped");
	else if (!vs->running)
		err = error_set(-ENOTCONN, "the guest's vsock driver is not running");
	else if (!(*out = new_conn(vs, guest_port, sv[1], waiter)))
		err = error_set(-EMFILE, "%d vsock connections are open already",
				VSOCK_MAX_CONNECTIONS);
	else if (write(vs->wake_fd, &one, sizeof(one)) < 0)
		err = -errno; /* cannot happen: an eventfd far from its limit */
	if (!err)
		return 0;
	if (*out) {
		(*out)->waiter = false;
		close_conn(vs, *out, err); /* closes sv[1] */
		sv[1] = -1;
	}
	pthread_mutex_unlock(&vs->lock);
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return err;
}

int virtio_vsock_connect(struct virtio_vsock *vs, uint32_t guest_port, int timeout_ms,
			 int *fd_out, uint32_t *host_port_out)
{
	struct timespec deadline = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
	struct vsock_conn *c = NULL;
	uint64_t one = 1;
	int sv[2], err = conn_begin(vs, guest_port, true, sv, &c);

	if (err)
		return err;
	while (c->state == CONN_CONNECTING)
		if (timeout_ms >= 0 ? pthread_cond_timedwait(&vs->changed, &vs->lock, &deadline)
				    : pthread_cond_wait(&vs->changed, &vs->lock))
			break;
	c->waiter = false;
	if (c->state == CONN_ESTABLISHED) {
		if (host_port_out)
			*host_port_out = c->host_port;
		pthread_mutex_unlock(&vs->lock);
		*fd_out = sv[0];
		return 0;
	}
	if (c->state == CONN_CLOSED) {
		err = c->result;
		c->state = CONN_FREE;
		slots_trim(vs);
	} else {
		/* Timed out: the worker resets the guest's end, if it has one, and frees the slot. */
		c->send_rst = true;
		err = -ETIMEDOUT;
		if (write(vs->wake_fd, &one, sizeof(one)) < 0)
			err = -errno;
	}
	pthread_mutex_unlock(&vs->lock);
	err = error_set(err, "cannot connect to vsock port %u of the guest: %s", guest_port,
			err == -ECONNREFUSED ? "nothing listens there" :
			err == -ETIMEDOUT ? "no answer in time" : strerror(-err));
	close(sv[0]);
	return err;
}

int virtio_vsock_connect_start(struct virtio_vsock *vs, uint32_t guest_port, int *fd_out,
			       uint32_t *host_port_out)
{
	struct vsock_conn *c = NULL;
	int sv[2], err = conn_begin(vs, guest_port, false, sv, &c);

	if (err)
		return err;
	if (host_port_out)
		*host_port_out = c->host_port;
	pthread_mutex_unlock(&vs->lock);
	*fd_out = sv[0];
	return 0;
}

void virtio_vsock_host_stop(struct virtio_vsock *vs)
{
	pthread_mutex_lock(&vs->lock);
	vs->host_stopped = true;
	for (unsigned int i = 0; i < vs->slots_used; i++)
		if (vs->conns[i].state == CONN_CONNECTING)
			close_conn(vs, &vs->conns[i], -EHOSTDOWN);
	pthread_mutex_unlock(&vs->lock);
}

void virtio_vsock_save(struct virtio_vsock *vs, struct virtio_vsock_state *out)
{
	pthread_mutex_lock(&vs->lock);
	*out = (struct virtio_vsock_state){ .next_host_port = vs->next_host_port };
	pthread_mutex_unlock(&vs->lock);
}

int virtio_vsock_restore(struct virtio_vsock *vs, const struct virtio_vsock_state *in)
{
	if (in->next_host_port < FIRST_HOST_PORT || in->reserved)
		return error_set(-EINVAL, "vsock state: host port %u is outside %u..65535 or "
					  "reserved bytes are set", in->next_host_port, FIRST_HOST_PORT);
	pthread_mutex_lock(&vs->lock);
	vs->next_host_port = in->next_host_port;
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

/* Nothing in flight either way: all our user wrote went out, all the guest sent reached our user. */
static bool conn_idle(const struct vsock_conn *c)
{
	int unsent = 0;

	return c->state == CONN_ESTABLISHED && !c->send_rst && !c->send_credit &&
	       !c->shutdown_owed && !c->shutdown_sent && !c->guest_shutdown && !c->pending_len &&
	       ioctl(c->fd, FIONREAD, &unsent) == 0 && unsent == 0;
}

bool virtio_vsock_save_kept(struct virtio_vsock *vs, uint32_t host_port,
			    struct virtio_vsock_kept *out)
{
	const struct vsock_conn *kept = NULL;
	bool others = false, ok;

	pthread_mutex_lock(&vs->lock);
	for (unsigned int i = 0; i < vs->slots_used; i++) {
		const struct vsock_conn *c = &vs->conns[i];

		if (c->state == CONN_FREE || c->state == CONN_CLOSED)
			continue;
		if (c->host_port == host_port && !kept)
			kept = c;
		else
			others = true;
	}
	/* Anything else the guest must learn of (a reset, a refused stray) needs the transport reset. */
	ok = kept && !others && conn_idle(kept) && !vs->event_owed && !vs->event_unread &&
	     !vs->norphans;
	if (ok)
		*out = (struct virtio_vsock_kept){
			.guest_cid = (uint32_t)vs->guest_cid, .host_port = kept->host_port,
			.guest_port = kept->guest_port, .peer_buf_alloc = kept->peer_buf_alloc,
			.peer_fwd_cnt = kept->peer_fwd_cnt, .tx_cnt = kept->tx_cnt,
			.fwd_cnt = kept->fwd_cnt, .fwd_cnt_sent = kept->fwd_cnt_sent,
		};
	pthread_mutex_unlock(&vs->lock);
	return ok;
}

int virtio_vsock_restore_kept(struct virtio_vsock *vs, const struct virtio_vsock_kept *in,
			      int *fd_out)
{
	struct vsock_conn *c;
	int sv[2], err;

	if (in->guest_cid != vs->guest_cid)
		return error_set(-EADDRNOTAVAIL, "the snapshot's connection was to CID %u, this "
						 "guest is %llu", in->guest_cid,
				 (unsigned long long)vs->guest_cid);
	if (in->host_port < FIRST_HOST_PORT || in->fwd_cnt - in->fwd_cnt_sent > VSOCK_BUF_ALLOC)
		return error_set(-EINVAL, "the snapshot's connection has host port %u (below %u) "
					  "or more unacknowledged bytes than the window",
				 in->host_port, FIRST_HOST_PORT);
	err = pair_open(sv);
	if (err)
		return err;
	pthread_mutex_lock(&vs->lock);
	if (!vs->running)
		err = error_set(-ENOTCONN, "the guest's vsock driver is not running");
	if (!err && !(c = claim_slot(vs)))
		err = error_set(-EMFILE, "no free vsock connection slot");
	if (!err) {
		*c = (struct vsock_conn){
			.state = CONN_ESTABLISHED, .host_port = in->host_port,
			.guest_port = in->guest_port, .fd = sv[1], .request_sent = true,
			.peer_buf_alloc = in->peer_buf_alloc, .peer_fwd_cnt = in->peer_fwd_cnt,
			.tx_cnt = in->tx_cnt, .fwd_cnt = in->fwd_cnt, .fwd_cnt_sent = in->fwd_cnt_sent,
		};
		wake(vs->wake_fd);
	}
	pthread_mutex_unlock(&vs->lock);
	if (err) {
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	*fd_out = sv[0];
	return 0;
}

void virtio_vsock_transport_reset(struct virtio_vsock *vs)
{
	virtio_mmio_config_changed(&vs->transport); /* the CID may differ from the one the guest read */
	pthread_mutex_lock(&vs->lock);
	end_connections(vs);
	/*
	 * A driver that is not running reads the config when it starts; one
	 * without an event queue cannot be told. While running the queue's
	 * readiness is fixed, and a reset waits for `lock` before clearing it.
	 */
	if (vs->running && vs->transport.queues[EVENT_QUEUE].ready) {
		vs->event_owed = true;
		wake(vs->wake_fd);
	}
	pthread_mutex_unlock(&vs->lock);
}

int virtio_vsock_create(uint64_t guest_cid, const struct guest_memory *mem,
			const struct virtio_interrupt *interrupt, struct virtio_vsock **out)
{
	struct virtio_vsock *vs;
	int err;

	if (guest_cid < 3 || guest_cid >= UINT32_MAX)
		return error_set(-EINVAL, "guest CID %llu is reserved (use 3 to 4294967294)",
				 (unsigned long long)guest_cid);
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return error_set(-ENOMEM, "out of memory for a vsock device");
	vs->guest_cid = guest_cid;
	vs->config.guest_cid = guest_cid;
	vs->next_host_port = FIRST_HOST_PORT;
	vs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vs->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (unsigned int i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		vs->conns[i].fd = -1;
	pthread_mutex_init(&vs->lock, NULL);
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&vs->changed, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (vs->wake_fd < 0 || vs->stop_fd < 0) {
		err = error_set_errno(-errno, "cannot create an eventfd");
		goto fail;
	}
	err = virtio_mmio_init(&vs->transport, &vsock_ops, vs, mem, interrupt);
	if (err)
		goto fail;
	*out = vs;
	return 0;
fail:
	virtio_vsock_destroy(vs);
	return err;
}

void virtio_vsock_destroy(struct virtio_vsock *vs)
{
	if (!vs)
		return;
	virtio_mmio_destroy(&vs->transport); /* stops the worker and ends every connection */
	if (vs->wake_fd >= 0)
		close(vs->wake_fd);
	if (vs->stop_fd >= 0)
		close(vs->stop_fd);
	pthread_cond_destroy(&vs->changed);
	pthread_mutex_destroy(&vs->lock);
	free(vs);
}

struct virtio_mmio *virtio_vsock_transport(struct virtio_vsock *vs)
{
	return &vs->transport;
}
