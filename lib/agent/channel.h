/*
 * The host's end of one agent connection (doc/protocol.md): a vsock stream to
 * the guest agent's port, with frame-at-a-time reading and a send queue. The
 * HELLO handshake is pipelined: our HELLO waits in the queue for the request
 * and leaves with it, and the guest's answer is checked as the first frame
 * received, so a request costs one round trip, not two. Non-blocking underneath so that one thread can
 * relay stdin, output and signals of an exec at once; the _wait helpers block
 * until a deadline for the simple request/reply exchanges.
 *
 * Everything the guest sends is checked before use: a frame header is
 * validated before its payload is read, and a payload buffer never grows
 * past AGENT_MAX_PAYLOAD. A channel belongs to one thread at a time.
 */
#ifndef AGENTVM_AGENT_CHANNEL_H
#define AGENTVM_AGENT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/protocol.h"

struct agent_link;

/* Room in the send queue: our HELLO (a le32 version) and an EXEC of the largest size behind it,
 * or a few data frames. */
#define AGENT_CHANNEL_QUEUE (AGENT_HEADER_SIZE + 4 + AGENT_HEADER_SIZE + AGENT_MAX_PAYLOAD)

/* A frame as received; payload is valid until the next receive. */
struct agent_frame {
	uint16_t type;
	uint32_t len;
	const uint8_t *payload;
};

struct agent_channel {
	int fd;        /* our end of the vsock stream, non-blocking */
	int stop_fd;   /* borrowed: readable once the VM stops */
	uint32_t version; /* negotiated; valid once greeted */
	bool greeted;     /* the guest's HELLO arrived and was accepted */
	bool from_standby; /* the link's standby connection (agent/link.h) */
	uint32_t host_port; /* of the vsock connection; 0 for a stream attached as such */

	/* Receiving: a header, then its payload. */
	uint8_t header[AGENT_HEADER_SIZE];
	size_t header_have;
	struct agent_frame_header pending; /* valid once header_have is complete */
	uint8_t *payload;
	size_t payload_cap, payload_have;

	/* Sending: frames queued back to back, partly written. */
	uint8_t *queue;
	size_t queue_len, queue_sent;
	bool hung_up; /* the guest closed its end: what the queue held then was dropped, not sent */
};

/* A request made on an open channel: 0 or a negative errno with the message set. */
typedef int (*agent_request_fn)(struct agent_channel *ch, void *arg);

/*
 * `request` on the link's standby connection, or on a new one (before
 * deadline, util/clock.h), then the channel closed. Our HELLO is queued
 * for the request to send. The link's stop_fd is polled alongside every
 * wait, so a VM that stops ends the request with -EHOSTDOWN. Errors: those
 * of virtio_vsock_connect() (-ENOTCONN while the guest driver is not up,
 * -ECONNREFUSED while nothing listens), -ETIMEDOUT, -EHOSTDOWN, -ENOMEM,
 * the handshake's own (-EPROTO, -EPROTONOSUPPORT, a refusal) and the
 * request's. A standby connection that the guest ended before answering
 * (-EPIPE with nothing received) never saw the request, which is then made
 * once more on a new connection; a request must therefore read nothing it
 * cannot read again (exec reads stdin_fd only once the guest's HELLO
 * arrived). Taking the standby starts opening the next one.
 */
int agent_request(struct agent_link *link, int64_t deadline, agent_request_fn request, void *arg);

/*
 * The same for a request that leaves the connection as new (PING, SYNC:
 * doc/protocol.md): when it succeeds, the connection becomes the link's
 * standby rather than closed, and taking one opens no other. This is how
 * the connection that found the agent ready, or the one a snapshot carried,
 * serves the first request after it with a worker already waiting.
 */
int agent_request_keep(struct agent_link *link, int64_t deadline, agent_request_fn request,
		       void *arg);

/*
 * The same over a stream already connected to the agent (tests use a
 * socketpair); fd belongs to the channel from here on, even on failure.
 */
int agent_channel_attach(int fd, int stop_fd, struct agent_channel *ch);

/* Close the stream and free the buffers; a second close is a no-op. */
void agent_channel_close(struct agent_channel *ch);

/*
 * A writer over the free end of the send queue: encode frames with it, then
 * agent_channel_commit() what it laid out. Drains sent bytes first, so the
 * free space is as large as it can be.
 */
void agent_channel_writer(struct agent_channel *ch, struct agent_writer *w);
int agent_channel_commit(struct agent_channel *ch, const struct agent_writer *w);

/* Bytes free in the send queue, after draining what was sent. */
size_t agent_channel_room(struct agent_channel *ch);

/* Queued bytes not yet written to the stream. */
size_t agent_channel_unsent(const struct agent_channel *ch);

/*
 * Write what the stream takes now: 0 (some or none written), or an
 * unexpected socket error. When the guest has closed its end the queue is
 * dropped (hung_up set) and 0 returned: its last frames (an ERROR) are
 * still to be read, and the end of the stream follows them.
 */
int agent_channel_flush(struct agent_channel *ch);

/*
 * Read what the stream has now: 1 and *frame when a whole frame arrived, 0
 * when more bytes are needed, -EPIPE at end of stream between frames,
 * -EPROTO for a header agent_frame_header_parse() refuses or an end of
 * stream inside a frame, -ENOMEM. The guest's HELLO is consumed here, never
 * returned: anything else first is an error (-EPROTO, -EPROTONOSUPPORT, or
 * the guest's ERROR as a negative errno), as is a version we do not speak.
 */
int agent_channel_receive(struct agent_channel *ch, struct agent_frame *frame);

/* Send the whole queue, waiting until deadline; -ETIMEDOUT, -EHOSTDOWN, -EPIPE. */
int agent_channel_send_wait(struct agent_channel *ch, int64_t deadline);

/* Receive one frame, waiting until deadline; errors as above. */
int agent_channel_receive_wait(struct agent_channel *ch, int64_t deadline,
			       struct agent_frame *frame);

/*
 * A request and the first frame of its answer: commit what w laid out, send
 * the whole queue and receive one frame, all before deadline. Errors as for
 * agent_channel_commit() and the two _wait calls.
 */
int agent_channel_exchange(struct agent_channel *ch, const struct agent_writer *w,
			   int64_t deadline, struct agent_frame *frame);

/*
 * Wait for the stream (events as for poll()) or the deadline or the VM's
 * stop: 0 when the stream is ready, -ETIMEDOUT, -EHOSTDOWN.
 */
int agent_channel_wait(struct agent_channel *ch, short events, int64_t deadline);

/*
 * The error a frame ends a request with: for ERROR, the guest's errno
 * (negative) with its message; for anything else the caller did not
 * expect at this point, -EPROTO naming the frame. `doing` names the
 * request for the message ("exec", "file read").
 */
int agent_channel_unexpected(const struct agent_frame *frame, const char *doing);

#endif
