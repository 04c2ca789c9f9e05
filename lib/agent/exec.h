/*
 * One command run through the agent (doc/protocol.md, EXEC): send the
 * request, relay stdin, KILL on timeout, collect output and the exit. The
 * public API layer translates its options into this request and this
 * outcome into its result.
 */
#ifndef AGENTVM_AGENT_EXEC_H
#define AGENTVM_AGENT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_channel;
struct agent_link;

struct agent_exec_request {
	uint64_t session;
	const char *const *argv; /* NULL-terminated */
	const char *const *envp; /* NULL-terminated */
	const char *cwd;         /* NULL: "/" */
	const void *stdin_data;  /* with stdin_len; NULL: none */
	size_t stdin_len;
	int stdin_fd;            /* -1: none */
	int cancel_fd;           /* readable: give up (-ECANCELED); -1: none */
	uint32_t timeout_ms;     /* 0: none */
	size_t capture_limit;    /* per stream */
	void (*output_fn)(int stream, const void *data, size_t len, void *payload);
	void *output_payload;
};

/* A growing byte buffer holding one captured stream. */
struct agent_capture {
	uint8_t *data; /* NUL-terminated when not NULL */
	size_t len, cap;
	bool truncated;
};

struct agent_exec_outcome {
	bool started, exited, signaled, timed_out;
	int exec_errno;      /* execve's errno when it refused the program */
	uint32_t pid;
	uint32_t code;       /* exit status or signal number */
	uint64_t wall_us, user_us, sys_us, maxrss_kib;
	struct agent_capture out, err;
};

/*
 * Run it. 0 with *outcome filled (the caller frees the captures with
 * agent_exec_outcome_release(), also after a failure) or a negative errno
 * with the message set: the errors of agent_request(), -EPROTO,
 * -EHOSTDOWN, -ECANCELED (cancel_fd), -EIO (stdin_fd), -ENOMEM, -EINVAL (a request the protocol
 * cannot carry), or the guest's errno from an ERROR.
 */
int agent_exec(struct agent_link *link, const struct agent_exec_request *req,
	       struct agent_exec_outcome *outcome);

/* The same on a channel past its handshake (tests drive it over a socketpair). */
int agent_exec_on(struct agent_channel *ch, const struct agent_exec_request *req,
		  struct agent_exec_outcome *outcome);

void agent_exec_outcome_release(struct agent_exec_outcome *outcome);

#endif
