#include "agent/files.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent/channel.h"
#include "util/clock.h"
#include "util/error.h"

/* Paths in messages are cut here: they come from the caller and may be long. */
#define PATH_SHOWN 200

/* Queue data as FILE_DATA while there is room; *sent advances. */
static int queue_data(struct agent_channel *ch, const uint8_t *data, size_t len, size_t *sent)
{
	while (*sent < len && agent_channel_room(ch) >= AGENT_HEADER_SIZE + AGENT_DATA_CHUNK) {
		size_t n = len - *sent > AGENT_DATA_CHUNK ? AGENT_DATA_CHUNK : len - *sent;
		struct agent_writer w;
		int err;

		agent_channel_writer(ch, &w);
		agent_frame_encode(&w, AGENT_H2G_FILE_DATA, data + *sent, n);
		err = agent_channel_commit(ch, &w);
		if (err)
			return err;
		*sent += n;
	}
	return 0;
}

/* Every byte of the upload went into the stream (none dropped by a hang-up). */
static bool upload_complete(const struct agent_channel *ch, size_t sent, size_t len)
{
	return sent == len && !agent_channel_unsent(ch) && !ch->hung_up;
}

/* The reply to a whole upload: OK, or the guest's ERROR. */
static int upload_reply(const struct agent_frame *f, bool complete, const char *path)
{
	if (f->type == AGENT_G2H_OK && complete)
		return 0;
	if (f->type == AGENT_G2H_OK)
		return error_set(-EPROTO, "the guest agent said OK before '%.*s' was complete",
				 PATH_SHOWN, path);
	return agent_channel_unexpected(f, "file write");
}

int agent_file_write_on(struct agent_channel *ch, const char *path, const void *bytes,
			size_t len, uint32_t mode)
{
	const uint8_t *data = bytes;
	struct agent_frame f;
	struct agent_writer w;
	size_t sent = 0;
	int err, got;

	agent_channel_writer(ch, &w);
	agent_file_write_encode(&w, mode, len, path);
	err = agent_channel_commit(ch, &w);
	/* Send everything, but listen while sending: the guest's ERROR may come midway. */
	while (!err && (sent < len || agent_channel_unsent(ch))) {
		err = queue_data(ch, data, len, &sent);
		if (!err)
			err = agent_channel_flush(ch);
		got = err ? 0 : agent_channel_receive(ch, &f);
		/* Complete or not as of now: the last flush may have sent the rest, and a quick
		 * guest (or a host thread preempted after that flush) answered already. */
		if (got)
			return got < 0 ? got : upload_reply(&f, upload_complete(ch, sent, len), path);
		if (!err && agent_channel_unsent(ch))
			err = agent_channel_wait(ch, POLLIN | POLLOUT, DEADLINE_NONE);
	}
	if (err)
		return err;
	err = agent_channel_receive_wait(ch, DEADLINE_NONE, &f);
	return err ? err : upload_reply(&f, upload_complete(ch, sent, len), path);
}

struct file_call {
	const char *path;
	const void *data;
	size_t len;         /* write: bytes in data; read: at most this many */
	uint32_t mode;
	uint8_t **data_out; /* read only */
	size_t *len_out;
};

static int write_request(struct agent_channel *ch, void *arg)
{
	struct file_call *c = arg;

	return agent_file_write_on(ch, c->path, c->data, c->len, c->mode);
}

int agent_file_write(struct agent_link *link, const char *path, const void *data,
		     size_t len, uint32_t mode)
{
	struct file_call call = { .path = path, .data = data, .len = len, .mode = mode };

	return agent_request(link, DEADLINE_NONE, write_request, &call);
}

int agent_file_read_on(struct agent_channel *ch, const char *path, size_t max_size,
		       uint8_t **data_out, size_t *len_out)
{
	struct agent_frame f;
	struct agent_writer w;
	uint64_t size;
	size_t have = 0;
	uint8_t *data;
	int err;

	agent_channel_writer(ch, &w);
	agent_file_read_encode(&w, max_size, path);
	err = agent_channel_exchange(ch, &w, DEADLINE_NONE, &f);
	if (err)
		return err;
	if (f.type != AGENT_G2H_FILE_INFO)
		return agent_channel_unexpected(&f, "file read");
	if (agent_file_info_decode(f.payload, f.len, &size))
		return error_set(-EPROTO, "the guest agent sent a malformed FILE_INFO");
	/* The guest's number: never allocate more than the caller allowed. */
	if (size > max_size)
		return error_set(-EPROTO, "the guest agent announced %llu bytes for '%.*s', over "
					  "the %zu asked for", (unsigned long long)size, PATH_SHOWN,
				 path, max_size);
	data = malloc((size_t)size + 1);
	if (!data)
		return error_set(-ENOMEM, "out of memory for %llu bytes of '%.*s'",
				 (unsigned long long)size, PATH_SHOWN, path);
	for (;;) {
		err = agent_channel_receive_wait(ch, DEADLINE_NONE, &f);
		if (err)
			break;
		if (f.type == AGENT_G2H_FILE_END && have == size)
			break;
		if (f.type != AGENT_G2H_FILE_DATA) {
			err = agent_channel_unexpected(&f, "file read");
			break;
		}
		if (f.len > size - have) {
			err = error_set(-EPROTO, "the guest agent sent more of '%.*s' than the "
						 "%llu bytes it announced", PATH_SHOWN, path,
					(unsigned long long)size);
			break;
		}
		memcpy(data + have, f.payload, f.len);
		have += f.len;
	}
	if (err) {
		free(data);
		return err;
	}
	data[have] = '\0';
	*data_out = data;
	*len_out = have;
	return 0;
}

static int read_request(struct agent_channel *ch, void *arg)
{
	struct file_call *c = arg;

	return agent_file_read_on(ch, c->path, c->len, c->data_out, c->len_out);
}

int agent_file_read(struct agent_link *link, const char *path, size_t max_size,
		    uint8_t **data_out, size_t *len_out)
{
	struct file_call call = { .path = path, .len = max_size, .data_out = data_out,
				  .len_out = len_out };

	return agent_request(link, DEADLINE_NONE, read_request, &call);
}
