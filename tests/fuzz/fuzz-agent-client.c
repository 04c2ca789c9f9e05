/*
 * The host's side of the agent protocol (lib/agent/) against any bytes a
 * guest agent can send. Input: one byte choosing the request (exec, file
 * read, file write, sync), then the agent's whole reply stream, handshake
 * included. The reply is written into a socketpair up front and its end
 * closed, so a request always ends; the oracle: it ends with 0 or a
 * negative errno, a successful exec either exited or failed to execute,
 * captures stay within their limit, and a file read returns no more than
 * the caller allowed.
 */
#include "fuzz-common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/channel.h"
#include "agent/exec.h"
#include "agent/files.h"
#include "agent/sync.h"
#include "util/clock.h"

/* The reply must fit the socket buffer, so one thread can write it all first. */
#define MAX_REPLY (64 * 1024)
#define CAPTURE_LIMIT 1000
#define READ_LIMIT 5000

static void run_exec(struct agent_channel *ch)
{
	static const char *const argv[] = { "cmd", NULL }, *const envp[] = { NULL };
	static const uint8_t input[3] = "abc";
	const struct agent_exec_request req = {
		.argv = argv, .envp = envp, .stdin_data = input, .stdin_len = sizeof(input),
		.stdin_fd = -1, .cancel_fd = -1, .capture_limit = CAPTURE_LIMIT,
	};
	struct agent_exec_outcome o;
	int err = agent_exec_on(ch, &req, &o);

	if (err > 0 || o.out.len > CAPTURE_LIMIT || o.err.len > CAPTURE_LIMIT)
		__builtin_trap();
	if (!err && !o.exited && !o.exec_errno)
		__builtin_trap();
	agent_exec_outcome_release(&o);
}

static void run_file_read(struct agent_channel *ch)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int err = agent_file_read_on(ch, "/f", READ_LIMIT, &data, &len);

	if (err > 0 || (!err && (len > READ_LIMIT || data[len] != 0)) || (err && data))
		__builtin_trap();
	free(data);
}

static void run_file_write(struct agent_channel *ch)
{
	static uint8_t data[3 * 1024];

	if (agent_file_write_on(ch, "/f", data, sizeof(data), 0644) > 0)
		__builtin_trap();
}

static void run_sync(struct agent_channel *ch)
{
	static const uint8_t seed[AGENT_SYNC_SEED_SIZE];

	if (agent_sync_on(ch, DEADLINE_NONE, 0, seed) > 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_channel ch;
	int sv[2];
	uint8_t which;

	if (size < 1 || size - 1 > MAX_REPLY)
		return 0;
	which = data[0] % 4;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* Room for all of it: a full socket would block this single thread. */
	int buf = 4 * MAX_REPLY;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);
	if (agent_channel_attach(sv[0], -1, &ch) == 0) {
		if (which == 0)
			run_exec(&ch);
		else if (which == 1)
			run_file_read(&ch);
		else if (which == 2)
			run_file_write(&ch);
		else
			run_sync(&ch);
		agent_channel_close(&ch);
	}
	close(sv[1]);
	return 0;
}
