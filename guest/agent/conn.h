/*
 * One host connection as a worker sees it: frames in (header checked before
 * the payload is read), frames out (each written whole, blocking: the host
 * always drains its side), and the ERROR replies that end a request.
 */
#ifndef AGENTVM_GUEST_CONN_H
#define AGENTVM_GUEST_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "agent/protocol.h"

struct conn {
	int fd;
	/* The payload of the last frame conn_read() returned; AGENT_MAX_PAYLOAD bytes. */
	uint8_t *payload;
	/* Why conn_read() last returned -EPROTO, for the ERROR that reports it. */
	const char *problem;
	/* Prefixed to logged protocol errors, e.g. "session 7: "; empty by default. */
	char tag[40];
	/* Scratch for data read from a pipe or file before it is framed. */
	uint8_t chunk[AGENT_DATA_CHUNK];
	/* Where outgoing frames are encoded; the largest is a full data frame. */
	uint8_t out[AGENT_HEADER_SIZE + AGENT_DATA_CHUNK];
};

/* A connection over the accepted socket fd, which it then owns; NULL when out of memory. */
struct conn *conn_new(int fd);

/* Close the socket and free c; NULL is a no-op. */
void conn_free(struct conn *c);

/*
 * Block for the next frame: its header into *h, its payload into c->payload.
 * 0; -ECONNRESET when the host went away between frames (nothing to answer);
 * -EPROTO when the bytes break the protocol (c->problem says how; answer
 * with conn_read_failed()); another -errno when reading failed, which also
 * means the host is gone.
 */
int conn_read(struct conn *c, struct agent_frame_header *h);

/* A writer over c's output buffer; send what it holds with conn_send(). */
void conn_writer(struct conn *c, struct agent_writer *w);

/* Write the frames w holds: w's encoding error if any, else 0 or the write's -errno. */
int conn_send(struct conn *c, const struct agent_writer *w);

/* One data frame (n 1..AGENT_DATA_CHUNK) or empty frame (n 0, p may be NULL). */
int conn_send_frame(struct conn *c, uint16_t type, const void *p, size_t n);

/*
 * ERROR or EXEC_FAILED (type) carrying -err (err is a negative errno) and a
 * formatted one-line message; format paths as "%.200s" so it stays short.
 */
int conn_send_error(struct conn *c, uint16_t type, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * A protocol error: log it, send ERROR(EPROTO, "protocol error: ...") on a
 * best-effort basis, and return -EPROTO so the caller ends the request.
 */
int conn_refuse(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * End a request whose conn_read() failed with err: refuse a protocol error,
 * stay silent for a host that went away. Returns err.
 */
int conn_read_failed(struct conn *c, int err);

#endif
