#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"

/* Longest ERROR message the agent formats: a step, a path cut at 200 bytes, strerror. */
#define MESSAGE_MAX 512

struct conn *conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c)
		c->payload = malloc(AGENT_MAX_PAYLOAD);
	if (!c || !c->payload) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	return c;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	fd_close(&c->fd);
	free(c->payload);
	free(c);
}

int conn_read(struct conn *c, struct agent_frame_header *h)
{
	uint8_t hdr[AGENT_HEADER_SIZE];
	ssize_t n = fd_read_full(c->fd, hdr, sizeof(hdr));

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	c->problem = "the connection ended inside a frame";
	if ((size_t)n < sizeof(hdr))
		return -EPROTO;
	switch (agent_frame_header_parse(hdr, h)) {
	case 0:
		break;
	case -EMSGSIZE:
		c->problem = "a frame header announces more than 1 MiB";
		return -EPROTO;
	default:
		c->problem = "a frame header with flags, an unknown type or a wrong length";
		return -EPROTO;
	}
	n = fd_read_full(c->fd, c->payload, h->len);
	if (n < 0)
		return (int)n;
	return (size_t)n < h->len ? -EPROTO : 0;
}

void conn_writer(struct conn *c, struct agent_writer *w)
{
	agent_writer_init(w, c->out, sizeof(c->out));
}

int conn_send(struct conn *c, const struct agent_writer *w)
{
	if (w->err)
		return w->err;
	return fd_write_all(c->fd, w->buf, w->len);
}

int conn_send_frame(struct conn *c, uint16_t type, const void *p, size_t n)
{
	struct agent_writer w;

	conn_writer(c, &w);
	agent_frame_encode(&w, type, p, n);
	return conn_send(c, &w);
}

static int send_error_v(struct conn *c, uint16_t type, int err, const char *fmt, va_list ap)
{
	char message[MESSAGE_MAX];
	struct agent_writer w;
	/* The wire wants 1..4095; anything else would make the encoder refuse the frame. */
	uint32_t code = err < 0 && err > -4096 ? (uint32_t)-err : EIO;

	vsnprintf(message, sizeof(message), fmt, ap);
	conn_writer(c, &w);
	if (type == AGENT_G2H_EXEC_FAILED)
		agent_exec_failed_encode(&w, code, message);
	else
		agent_error_encode(&w, code, message);
	return conn_send(c, &w);
}

int conn_send_error(struct conn *c, uint16_t type, int err, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = send_error_v(c, type, err, fmt, ap);
	va_end(ap);
	return ret;
}

int conn_refuse(struct conn *c, const char *fmt, ...)
{
	char what[MESSAGE_MAX - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	agent_log("%sprotocol error: %s", c->tag, what);
	/* Best effort: the host may be what broke, and the request ends either way. */
	conn_send_error(c, AGENT_G2H_ERROR, -EPROTO, "protocol error: %s", what);
	return -EPROTO;
}

int conn_read_failed(struct conn *c, int err)
{
	if (err == -EPROTO)
		conn_refuse(c, "%s", c->problem);
	return err;
}
