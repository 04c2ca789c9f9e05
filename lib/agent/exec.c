#include "agent/exec.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/channel.h"
#include "util/clock.h"
#include "util/error.h"

/* After the timeout's KILL, how long the agent gets to report the exit. */
#define KILL_GRACE_MS 2000
/* Queue room kept free of stdin data, so a KILL always fits. */
#define QUEUE_RESERVE 64

/* Room for one more STDIN frame, keeping the reserve a KILL needs. */
static bool stdin_has_room(struct agent_channel *ch)
{
	return agent_channel_room(ch) >= AGENT_HEADER_SIZE + AGENT_DATA_CHUNK + QUEUE_RESERVE;
}

/* A request's timeout as a deadline from now. */
static int64_t timeout_deadline(const struct agent_exec_request *req)
{
	return req->timeout_ms ? deadline_after_ms(req->timeout_ms) : DEADLINE_NONE;
}

struct exec_run {
	struct agent_channel *ch;
	const struct agent_exec_request *req;
	struct agent_exec_outcome *o;
	bool stdin_open;      /* STDIN frames still to come: data or the descriptor */
	size_t stdin_sent;    /* of req->stdin_data */
	uint8_t *stdin_chunk; /* read buffer for req->stdin_fd */
	int64_t timeout_at;   /* DEADLINE_NONE without a timeout */
	int64_t give_up_at;   /* once KILL was sent */
	bool done;
};

void agent_exec_outcome_release(struct agent_exec_outcome *o)
{
	free(o->out.data);
	free(o->err.data);
	o->out = (struct agent_capture){ 0 };
	o->err = (struct agent_capture){ 0 };
}

/* Keep what fits under limit, NUL-terminated; the rest only sets truncated. */
static int capture(struct agent_capture *c, const uint8_t *p, size_t n, size_t limit)
{
	size_t keep = limit - c->len < n ? limit - c->len : n;

	if (keep < n)
		c->truncated = true;
	if (keep == 0)
		return 0;
	if (c->len + keep + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		uint8_t *grown;

		while (cap < c->len + keep + 1)
			cap *= 2;
		grown = realloc(c->data, cap);
		if (!grown)
			return error_set(-ENOMEM, "out of memory capturing %zu bytes of output",
					 c->len + keep);
		c->data = grown;
		c->cap = cap;
	}
	memcpy(c->data + c->len, p, keep);
	c->len += keep;
	c->data[c->len] = '\0';
	return 0;
}

static int output(struct exec_run *run, int stream, const struct agent_frame *f)
{
	const struct agent_exec_request *req = run->req;
	struct agent_capture *c = stream == 1 ? &run->o->out : &run->o->err;

	if (!run->o->started)
		return error_set(-EPROTO, "the guest agent sent output before the command started");
	if (req->output_fn)
		req->output_fn(stream, f->payload, f->len, req->output_payload);
	return capture(c, f->payload, f->len, req->capture_limit);
}

static int exited(struct exec_run *run, const struct agent_frame *f)
{
	struct agent_exec_outcome *o = run->o;
	struct agent_exited e;

	if (!o->started || agent_exited_decode(f->payload, f->len, &e))
		return error_set(-EPROTO, "the guest agent sent a malformed or early EXITED");
	o->exited = true;
	o->signaled = e.how == AGENT_EXITED_SIGNAL;
	o->code = e.code;
	o->wall_us = e.wall_us;
	o->user_us = e.user_us;
	o->sys_us = e.sys_us;
	o->maxrss_kib = e.maxrss_kib;
	run->done = true;
	return 0;
}

static int handle_frame(struct exec_run *run, const struct agent_frame *f)
{
	struct agent_exec_outcome *o = run->o;
	struct agent_error e;

	switch (f->type) {
	case AGENT_G2H_STARTED:
		if (o->started || agent_started_decode(f->payload, f->len, &o->pid))
			return error_set(-EPROTO, "the guest agent sent a malformed or second STARTED");
		o->started = true;
		return 0;
	case AGENT_G2H_STDOUT:
		return output(run, 1, f);
	case AGENT_G2H_STDERR:
		return output(run, 2, f);
	case AGENT_G2H_EXITED:
		return exited(run, f);
	case AGENT_G2H_EXEC_FAILED:
		if (o->started || agent_error_decode(f->payload, f->len, &e))
			return error_set(-EPROTO, "the guest agent sent a malformed or late EXEC_FAILED");
		o->exec_errno = (int)e.err;
		run->done = true;
		return 0;
	default:
		return agent_channel_unexpected(f, "exec");
	}
}

/* Queue stdin_data (not stdin_fd's) as STDIN frames while the queue has room, then STDIN_EOF. */
static int queue_stdin_data(struct exec_run *run)
{
	const struct agent_exec_request *req = run->req;
	struct agent_writer w;

	while (run->stdin_open && req->stdin_data && stdin_has_room(run->ch)) {
		size_t n = req->stdin_len - run->stdin_sent;
		int err;

		agent_channel_writer(run->ch, &w);
		if (n == 0) {
			agent_frame_encode(&w, AGENT_H2G_STDIN_EOF, NULL, 0);
			run->stdin_open = false;
		} else {
			n = n > AGENT_DATA_CHUNK ? AGENT_DATA_CHUNK : n;
			agent_frame_encode(&w, AGENT_H2G_STDIN,
					   (const uint8_t *)req->stdin_data + run->stdin_sent, n);
			run->stdin_sent += n;
		}
		err = agent_channel_commit(run->ch, &w);
		if (err)
			return err;
	}
	return 0;
}

/* stdin_fd is readable: one read becomes one STDIN frame, end of file STDIN_EOF. */
static int forward_stdin_fd(struct exec_run *run)
{
	struct agent_writer w;
	ssize_t n;

	do
		n = read(run->req->stdin_fd, run->stdin_chunk, AGENT_DATA_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		return error_set_errno(-EIO, "cannot read the command's stdin from fd %d",
				       run->req->stdin_fd);
	agent_channel_writer(run->ch, &w);
	if (n == 0) {
		agent_frame_encode(&w, AGENT_H2G_STDIN_EOF, NULL, 0);
		run->stdin_open = false;
	} else {
		agent_frame_encode(&w, AGENT_H2G_STDIN, run->stdin_chunk, (size_t)n);
	}
	return agent_channel_commit(run->ch, &w);
}

static int send_kill(struct exec_run *run)
{
	struct agent_writer w;

	run->o->timed_out = true;
	run->give_up_at = deadline_after_ms(KILL_GRACE_MS);
	agent_channel_writer(run->ch, &w);
	agent_kill_encode(&w, SIGKILL);
	return agent_channel_commit(run->ch, &w);
}

static int send_exec(struct exec_run *run)
{
	const struct agent_exec_request *req = run->req;
	struct agent_exec_args a = {
		.session = req->session,
		.flags = run->stdin_open ? AGENT_EXEC_STDIN : 0,
		.uid = AGENT_ID_KEEP,
		.gid = AGENT_ID_KEEP,
		.cwd = req->cwd,
		.argv = req->argv,
		.envp = req->envp,
	};
	struct agent_writer w;

	while (a.argv[a.argc])
		a.argc++;
	while (a.envp[a.envc])
		a.envc++;
	agent_channel_writer(run->ch, &w);
	if (agent_exec_encode(&w, &a))
		return error_set(w.err == -EMSGSIZE ? -E2BIG : -EINVAL,
				 "the command cannot be sent to the guest: %s (at most %d arguments "
				 "and %d environment entries, each under %d KiB, all under %d KiB)",
				 strerror(-w.err), AGENT_MAX_ARGS, AGENT_MAX_ENV,
				 AGENT_MAX_STRING / 1024, AGENT_MAX_PAYLOAD / 1024);
	return agent_channel_commit(run->ch, &w);
}

/*
 * The caller cancelled. Closing the connection (our caller does) is what
 * ends the command: the agent SIGKILLs the group of a command whose
 * connection ends before EXITED.
 */
static int cancelled(void)
{
	return error_set(-ECANCELED, "the command was cancelled (cancel_fd became readable) "
				     "and killed");
}

/* One turn: wait for the stream, stdin_fd, cancel_fd, the VM's stop or a deadline. */
static int wait_turn(struct exec_run *run)
{
	/* Not before the guest's HELLO: until then, agent_request() may have to start over. */
	bool read_fd = run->stdin_open && run->stdin_chunk && stdin_has_room(run->ch) &&
		       run->ch->greeted;
	struct pollfd fds[4] = {
		{ .fd = run->ch->fd,
		  .events = (short)(POLLIN | (agent_channel_unsent(run->ch) ? POLLOUT : 0)) },
		{ .fd = run->ch->stop_fd, .events = POLLIN },
		{ .fd = run->req->cancel_fd, .events = POLLIN },
		{ .fd = read_fd ? run->req->stdin_fd : -1, .events = POLLIN },
	};
	int64_t until = run->give_up_at != DEADLINE_NONE ? run->give_up_at : run->timeout_at;
	int n;

	do
		n = poll(fds, 4, deadline_poll_timeout(until));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return error_set_errno(-errno, "cannot poll the agent connection");
	if (fds[1].revents)
		return error_set(-EHOSTDOWN, "the VM stopped while the command ran");
	if (fds[2].revents)
		return cancelled();
	if (fds[3].revents)
		return forward_stdin_fd(run);
	return 0;
}

static int relay(struct exec_run *run)
{
	for (;;) {
		struct agent_frame f;
		int got, err;

		err = queue_stdin_data(run);
		if (!err)
			err = agent_channel_flush(run->ch);
		if (err)
			return err;
		while ((got = agent_channel_receive(run->ch, &f)) == 1) {
			err = handle_frame(run, &f);
			if (err || run->done)
				return err;
		}
		if (got == -EPIPE)
			return error_set(-EPIPE, "the guest agent closed the connection before "
						 "the command ended");
		if (got < 0)
			return got;
		if (run->give_up_at != DEADLINE_NONE && clock_now_ms() >= run->give_up_at)
			return 0; /* killed, but the agent never reported the exit */
		if (run->give_up_at == DEADLINE_NONE && clock_now_ms() >= run->timeout_at)
			err = send_kill(run);
		if (!err)
			err = wait_turn(run);
		if (err)
			return err;
	}
}

int agent_exec_on(struct agent_channel *ch, const struct agent_exec_request *req,
		  struct agent_exec_outcome *outcome)
{
	struct exec_run run = {
		.ch = ch,
		.req = req,
		.o = outcome,
		.stdin_open = req->stdin_data || req->stdin_fd >= 0,
		.timeout_at = timeout_deadline(req),
		.give_up_at = DEADLINE_NONE,
	};
	int err;

	memset(outcome, 0, sizeof(*outcome));
	if (req->stdin_fd >= 0) {
		run.stdin_chunk = malloc(AGENT_DATA_CHUNK);
		if (!run.stdin_chunk)
			return error_set(-ENOMEM, "out of memory for a stdin buffer");
	}
	err = send_exec(&run);
	if (!err)
		err = relay(&run);
	free(run.stdin_chunk);
	return err;
}

struct exec_call {
	const struct agent_exec_request *req;
	struct agent_exec_outcome *outcome;
};

static int exec_request(struct agent_channel *ch, void *arg)
{
	struct exec_call *call = arg;

	agent_exec_outcome_release(call->outcome); /* a first attempt's, when made again */
	return agent_exec_on(ch, call->req, call->outcome);
}

int agent_exec(struct agent_link *link, const struct agent_exec_request *req,
	       struct agent_exec_outcome *outcome)
{
	struct exec_call call = { .req = req, .outcome = outcome };

	memset(outcome, 0, sizeof(*outcome));
	/* The connection shares the command's deadline: a timeout covers a stuck agent too. */
	return agent_request(link, timeout_deadline(req), exec_request, &call);
}
