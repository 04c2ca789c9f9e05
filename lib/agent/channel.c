#include "agent/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/link.h"
#include "devices/virtio/vsock.h"
#include "util/clock.h"
#include "util/error.h"

void agent_channel_close(struct agent_channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch->payload);
	free(ch->queue);
	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
}

static void queue_drain(struct agent_channel *ch)
{
	if (ch->queue_sent == 0)
		return;
	memmove(ch->queue, ch->queue + ch->queue_sent, ch->queue_len - ch->queue_sent);
	ch->queue_len -= ch->queue_sent;
	ch->queue_sent = 0;
}

size_t agent_channel_room(struct agent_channel *ch)
{
	queue_drain(ch);
	return AGENT_CHANNEL_QUEUE - ch->queue_len;
}

size_t agent_channel_unsent(const struct agent_channel *ch)
{
	return ch->queue_len - ch->queue_sent;
}

void agent_channel_writer(struct agent_channel *ch, struct agent_writer *w)
{
	queue_drain(ch);
	agent_writer_init(w, ch->queue + ch->queue_len, AGENT_CHANNEL_QUEUE - ch->queue_len);
}

int agent_channel_commit(struct agent_channel *ch, const struct agent_writer *w)
{
	if (w->err)
		return error_set(w->err, "cannot encode a frame for the agent: %s", strerror(-w->err));
	ch->queue_len += w->len;
	return 0;
}

int agent_channel_flush(struct agent_channel *ch)
{
	while (ch->queue_sent < ch->queue_len) {
		/* MSG_NOSIGNAL: a guest that hangs up must not SIGPIPE the host process. */
		ssize_t n = send(ch->fd, ch->queue + ch->queue_sent, ch->queue_len - ch->queue_sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			/* The guest hung up (after an ERROR, say): nothing more can be sent,
			 * and what it wrote before is still there to read. */
			ch->queue_sent = ch->queue_len;
			ch->hung_up = true;
			return 0;
		}
		if (n < 0)
			return error_set_errno(-errno, "the connection to the guest agent broke");
		ch->queue_sent += (size_t)n;
	}
	return 0;
}

/* Read into buf up to want bytes: the count, 0 at end of stream, -EAGAIN, or an error. */
static ssize_t read_some(int fd, uint8_t *buf, size_t want)
{
	for (;;) {
		ssize_t n = read(fd, buf, want);

		if (n >= 0)
			return n;
		if (errno == ECONNRESET)
			return 0; /* the guest went away: to the reader, the end of the stream */
		if (errno == EAGAIN)
			return -EAGAIN;
		if (errno != EINTR)
			return error_set_errno(-errno, "cannot read from the guest agent");
	}
}

static int header_complete(struct agent_channel *ch)
{
	int err = agent_frame_header_parse(ch->header, &ch->pending);

	if (err)
		return error_set(-EPROTO, "the guest agent sent a bad frame header (type %u): %s",
				 (unsigned int)(ch->header[4] | ch->header[5] << 8), strerror(-err));
	/* Grow to this frame's size, never past AGENT_MAX_PAYLOAD (the header check bounds it). */
	if (ch->pending.len > ch->payload_cap) {
		uint8_t *p = realloc(ch->payload, ch->pending.len);

		if (!p)
			return error_set(-ENOMEM, "out of memory for a %u-byte agent frame",
					 ch->pending.len);
		ch->payload = p;
		ch->payload_cap = ch->pending.len;
	}
	ch->payload_have = 0;
	return 0;
}

/* agent_channel_receive() without the handshake: the next frame, whatever it is. */
static int receive_frame(struct agent_channel *ch, struct agent_frame *frame)
{
	for (;;) {
		bool in_header = ch->header_have < AGENT_HEADER_SIZE;
		ssize_t n;
		int err;

		if (!in_header && ch->payload_have == ch->pending.len) {
			*frame = (struct agent_frame){ .type = ch->pending.type,
						       .len = ch->pending.len,
						       .payload = ch->payload };
			ch->header_have = 0;
			return 1;
		}
		if (in_header)
			n = read_some(ch->fd, ch->header + ch->header_have,
				      AGENT_HEADER_SIZE - ch->header_have);
		else
			n = read_some(ch->fd, ch->payload + ch->payload_have,
				      ch->pending.len - ch->payload_have);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0 && in_header && ch->header_have == 0)
			return error_set(-EPIPE, "the guest agent closed the connection");
		if (n == 0)
			return error_set(-EPROTO, "the guest agent closed the connection inside a frame");
		if (!in_header) {
			ch->payload_have += (size_t)n;
			continue;
		}
		ch->header_have += (size_t)n;
		if (ch->header_have == AGENT_HEADER_SIZE) {
			err = header_complete(ch);
			if (err)
				return err;
		}
	}
}

/* The first frame the guest sends answers our HELLO: its own HELLO, or an ERROR refusing ours. */
static int hello_accept(struct agent_channel *ch, const struct agent_frame *f)
{
	struct agent_guest_hello hello;

	if (f->type != AGENT_G2H_HELLO)
		return agent_channel_unexpected(f, "the handshake");
	if (agent_guest_hello_decode(f->payload, f->len, &hello))
		return error_set(-EPROTO, "the guest agent sent a malformed HELLO");
	if (hello.version != AGENT_PROTOCOL_VERSION)
		return error_set(-EPROTONOSUPPORT,
				 "the guest agent (%.*s) chose protocol version %u; we speak %d",
				 (int)hello.agent_version.len, hello.agent_version.ptr,
				 hello.version, AGENT_PROTOCOL_VERSION);
	ch->version = hello.version;
	ch->greeted = true;
	return 0;
}

int agent_channel_receive(struct agent_channel *ch, struct agent_frame *frame)
{
	int got = receive_frame(ch, frame);

	if (got != 1 || ch->greeted)
		return got;
	got = hello_accept(ch, frame);
	return got ? got : receive_frame(ch, frame);
}

int agent_channel_wait(struct agent_channel *ch, short events, int64_t deadline)
{
	struct pollfd fds[2] = {
		{ .fd = ch->fd, .events = events },
		{ .fd = ch->stop_fd, .events = POLLIN },
	};

	for (;;) {
		int n = poll(fds, 2, deadline_poll_timeout(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set_errno(-errno, "cannot poll the agent connection");
		if (fds[1].revents)
			return error_set(-EHOSTDOWN, "the VM stopped");
		if (fds[0].revents)
			return 0;
		return error_set(-ETIMEDOUT, "the guest agent did not answer in time");
	}
}

int agent_channel_send_wait(struct agent_channel *ch, int64_t deadline)
{
	for (;;) {
		int err = agent_channel_flush(ch);

		if (err || agent_channel_unsent(ch) == 0)
			return err;
		err = agent_channel_wait(ch, POLLOUT, deadline);
		if (err)
			return err;
	}
}

int agent_channel_receive_wait(struct agent_channel *ch, int64_t deadline,
			       struct agent_frame *frame)
{
	for (;;) {
		int got = agent_channel_receive(ch, frame);

		if (got)
			return got < 0 ? got : 0;
		got = agent_channel_wait(ch, POLLIN, deadline);
		if (got)
			return got;
	}
}

int agent_channel_exchange(struct agent_channel *ch, const struct agent_writer *w,
			   int64_t deadline, struct agent_frame *frame)
{
	int err = agent_channel_commit(ch, w);

	if (!err)
		err = agent_channel_send_wait(ch, deadline);
	return err ? err : agent_channel_receive_wait(ch, deadline, frame);
}

int agent_channel_unexpected(const struct agent_frame *frame, const char *doing)
{
	struct agent_error e;

	if (frame->type != AGENT_G2H_ERROR)
		return error_set(-EPROTO, "the guest agent sent %s where %s allows none",
				 agent_type_name(frame->type), doing);
	if (agent_error_decode(frame->payload, frame->len, &e))
		return error_set(-EPROTO, "the guest agent sent a malformed ERROR during %s", doing);
	return error_set(-(int)e.err, "%s failed in the guest: %.*s", doing, (int)e.message.len,
			 e.message.ptr);
}

int agent_channel_attach(int fd, int stop_fd, struct agent_channel *ch)
{
	struct agent_writer w;
	int err;

	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	ch->stop_fd = stop_fd;
	ch->queue = malloc(AGENT_CHANNEL_QUEUE);
	if (!ch->queue) {
		err = error_set(-ENOMEM, "out of memory for an agent connection");
	} else if (fcntl(ch->fd, F_SETFL, O_NONBLOCK) < 0) {
		err = error_set_errno(-errno, "cannot make the agent connection non-blocking");
	} else {
		/* Queued, not sent: it leaves with the request, in the same packet. */
		agent_channel_writer(ch, &w);
		agent_host_hello_encode(&w, AGENT_PROTOCOL_VERSION);
		err = agent_channel_commit(ch, &w);
	}
	if (err)
		agent_channel_close(ch);
	return err;
}

/*
 * A channel on the link's standby connection when one waits (and with
 * `refill` the next one opening), else on a new connection.
 */
static int channel_open(struct agent_link *link, bool standby, bool refill, int64_t deadline,
			struct agent_channel *ch)
{
	uint32_t host_port = 0;
	int fd = standby ? agent_link_take(link, refill, &host_port) : -1;
	bool took = fd >= 0;
	int err = took ? 0
		       : virtio_vsock_connect(link->vs, AGENT_VSOCK_PORT,
					      deadline_poll_timeout(deadline), &fd, &host_port);

	if (!err)
		err = agent_channel_attach(fd, link->stop_fd, ch);
	if (!err) {
		ch->from_standby = took;
		ch->host_port = host_port;
	}
	return err;
}

/*
 * Close the channel; with `keep`, after a request that left the connection
 * as new, its stream becomes the link's standby instead, provided nothing
 * of it is left unread or unsent.
 */
static void channel_finish(struct agent_link *link, bool keep, struct agent_channel *ch)
{
	if (keep && ch->greeted && ch->header_have == 0 && agent_channel_unsent(ch) == 0) {
		agent_link_give_back(link, ch->fd, ch->host_port);
		ch->fd = -1;
	}
	agent_channel_close(ch);
}

static int request_on(struct agent_link *link, bool keep, int64_t deadline,
		      agent_request_fn request, void *arg)
{
	struct agent_channel ch;
	int err = channel_open(link, true, !keep, deadline, &ch);
	bool again;

	if (err)
		return err;
	err = request(&ch, arg);
	/*
	 * The agent answers HELLO before it reads a request, so a standby
	 * connection that ended before the first byte of an answer (its idle
	 * worker was killed, say) never saw ours: once more, on a new connection.
	 */
	again = err == -EPIPE && ch.from_standby && !ch.greeted && ch.header_have == 0;
	channel_finish(link, keep && !err, &ch);
	if (!again)
		return err;
	err = channel_open(link, false, false, deadline, &ch);
	if (err)
		return err;
	err = request(&ch, arg);
	channel_finish(link, keep && !err, &ch);
	return err;
}

int agent_request(struct agent_link *link, int64_t deadline, agent_request_fn request, void *arg)
{
	return request_on(link, false, deadline, request, arg);
}

int agent_request_keep(struct agent_link *link, int64_t deadline, agent_request_fn request,
		       void *arg)
{
	return request_on(link, true, deadline, request, arg);
}
