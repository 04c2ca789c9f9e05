#define _GNU_SOURCE /* pidfd via syscall() */
#include "exec.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"
#include "spawn.h"

/* The decoded EXEC as C strings for execve: one allocation holds them all. */
struct command {
	char **argv, **envp;
	char *cwd;
	char *strings;
};

/* A started command and the state of everything the relay watches. */
struct relay {
	struct conn *c;
	struct spawned cmd;
	int pidfd;              /* readable once the command ended */
	bool reaped;            /* status, ru and end_us are known */
	bool stdin_open;        /* the flag was set and no STDIN_EOF came yet */
	const uint8_t *pending; /* STDIN bytes not yet in the pipe, in c->payload */
	size_t pending_len;
	int64_t start_us, end_us;
	int status;
	struct rusage ru;
	char problem[256]; /* why the relay stopped with -EPROTO or an agent failure */
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t timeval_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000 + (uint64_t)tv->tv_usec;
}

/* The strings of s, NUL-terminated from *cursor on, into vec (NULL-ended). */
static void copy_strings(struct agent_strings *s, char **vec, char **cursor)
{
	struct agent_str str;
	uint32_t i = 0;

	while (agent_strings_next(s, &str)) {
		memcpy(*cursor, str.ptr, str.len);
		(*cursor)[str.len] = '\0';
		vec[i++] = *cursor;
		*cursor += str.len + 1;
	}
	vec[i] = NULL;
}

/*
 * Every string of the EXEC, NUL-terminated. Each has a 4-byte length in the
 * payload, room for its NUL, and the fixed fields leave room for the "/" an
 * empty cwd stands for: len bytes hold them all.
 */
static int command_build(struct command *cmd, struct agent_exec_msg *m, uint32_t len)
{
	char *cursor;

	cmd->argv = calloc((size_t)m->argv.count + 1, sizeof(char *));
	cmd->envp = calloc((size_t)m->env.count + 1, sizeof(char *));
	cmd->strings = malloc(len);
	if (!cmd->argv || !cmd->envp || !cmd->strings)
		return -ENOMEM;
	cursor = cmd->strings;
	cmd->cwd = cursor;
	if (m->cwd.len) {
		memcpy(cursor, m->cwd.ptr, m->cwd.len);
		cursor += m->cwd.len;
	} else {
		*cursor++ = '/';
	}
	*cursor++ = '\0';
	copy_strings(&m->argv, cmd->argv, &cursor);
	copy_strings(&m->env, cmd->envp, &cursor);
	return 0;
}

static void command_free(struct command *cmd)
{
	free(cmd->argv);
	free(cmd->envp);
	free(cmd->strings);
}

/* ---- Relay ---- */

/* Stop the relay with err; the message goes to the host after the group is killed. */
static int __attribute__((format(printf, 3, 4)))
relay_fail(struct relay *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
	va_end(ap);
	return err;
}

/* Move pending STDIN bytes into the pipe as far as it takes them now. */
static int stdin_flush(struct relay *r)
{
	while (r->pending_len) {
		ssize_t n = write(r->cmd.stdin_fd, r->pending, r->pending_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno != EPIPE)
				return relay_fail(r, -errno, "write to the command's stdin: %s",
						  strerror(errno));
			/* The command closed its stdin: the rest of the host's stdin is discarded. */
			fd_close(&r->cmd.stdin_fd);
			r->pending_len = 0;
			return 0;
		}
		r->pending += n;
		r->pending_len -= (size_t)n;
	}
	return 0;
}

static int on_frame(struct relay *r, const struct agent_frame_header *h)
{
	uint32_t sig;

	switch (h->type) {
	case AGENT_H2G_STDIN:
		if (!r->stdin_open)
			return relay_fail(r, -EPROTO,
					  "STDIN without AGENT_EXEC_STDIN or after STDIN_EOF");
		if (r->cmd.stdin_fd < 0)
			return 0;
		r->pending = r->c->payload;
		r->pending_len = h->len;
		return stdin_flush(r);
	case AGENT_H2G_STDIN_EOF:
		if (!r->stdin_open)
			return relay_fail(r, -EPROTO,
					  "STDIN_EOF without AGENT_EXEC_STDIN or twice");
		r->stdin_open = false;
		fd_close(&r->cmd.stdin_fd);
		return 0;
	case AGENT_H2G_KILL:
		if (agent_kill_decode(r->c->payload, h->len, &sig))
			return relay_fail(r, -EPROTO, "malformed KILL");
		/* ESRCH: the group is gone, and a late KILL is ignored. */
		kill(-r->cmd.pid, (int)sig);
		return 0;
	default:
		return relay_fail(r, -EPROTO, "unexpected %s frame during EXEC",
				  agent_type_name(h->type));
	}
}

static int on_host_readable(struct relay *r)
{
	struct agent_frame_header h;
	int err = conn_read(r->c, &h);

	if (err == -EPROTO)
		return relay_fail(r, err, "%s", r->c->problem);
	return err ? -ECONNRESET : on_frame(r, &h);
}

/* One read of a command's stdout or stderr, relayed as one frame; EOF closes *fd. */
static int on_output(struct relay *r, int *fd, uint16_t type)
{
	ssize_t n = read(*fd, r->c->chunk, sizeof(r->c->chunk));

	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		return relay_fail(r, -errno, "read the command's output: %s", strerror(errno));
	}
	if (n == 0) {
		fd_close(fd);
		return 0;
	}
	/* A failed send means the host is gone: nothing left to tell it. */
	return conn_send_frame(r->c, type, r->c->chunk, (size_t)n) ? -ECONNRESET : 0;
}

static int on_command_end(struct relay *r)
{
	if (wait4(r->cmd.pid, &r->status, 0, &r->ru) < 0)
		return relay_fail(r, -errno, "wait4: %s", strerror(errno));
	r->end_us = now_us();
	r->reaped = true;
	fd_close(&r->pidfd);
	return 0;
}

/*
 * Relay until the command is reaped and both its pipes reached EOF. 0; or
 * -ECONNRESET when the host went away; or another -errno (-EPROTO for the
 * host's mistake) with r->problem saying why.
 */
static int relay_run(struct relay *r)
{
	enum { HOST, OUT, ERR, EXIT, STDIN, NFDS };
	struct pollfd p[NFDS];
	int err = 0;

	while (!err && (!r->reaped || r->cmd.stdout_fd >= 0 || r->cmd.stderr_fd >= 0)) {
		/* Frames are read only once pending STDIN is in the pipe (doc/protocol.md:
		 * a KILL queued behind unread stdin waits); hang-ups still show. */
		p[HOST] = (struct pollfd){ r->c->fd, r->pending_len ? 0 : POLLIN, 0 };
		p[OUT] = (struct pollfd){ r->cmd.stdout_fd, POLLIN, 0 };
		p[ERR] = (struct pollfd){ r->cmd.stderr_fd, POLLIN, 0 };
		p[EXIT] = (struct pollfd){ r->pidfd, POLLIN, 0 };
		p[STDIN] = (struct pollfd){ r->pending_len ? r->cmd.stdin_fd : -1, POLLOUT, 0 };
		if (poll(p, NFDS, -1) < 0) {
			if (errno == EINTR)
				continue;
			return relay_fail(r, -errno, "poll: %s", strerror(errno));
		}
		if (p[OUT].revents)
			err = on_output(r, &r->cmd.stdout_fd, AGENT_G2H_STDOUT);
		if (!err && p[ERR].revents)
			err = on_output(r, &r->cmd.stderr_fd, AGENT_G2H_STDERR);
		if (!err && p[STDIN].revents)
			err = stdin_flush(r);
		if (!err && p[HOST].revents)
			err = r->pending_len ? -ECONNRESET : on_host_readable(r);
		if (!err && p[EXIT].revents)
			err = on_command_end(r);
	}
	return err;
}

static int send_exited(struct relay *r)
{
	struct agent_exited e = {
		.how = WIFSIGNALED(r->status) ? AGENT_EXITED_SIGNAL : AGENT_EXITED_CODE,
		.code = (uint32_t)(WIFSIGNALED(r->status) ? WTERMSIG(r->status) :
							     WEXITSTATUS(r->status)),
		.wall_us = (uint64_t)(r->end_us - r->start_us),
		.user_us = timeval_us(&r->ru.ru_utime),
		.sys_us = timeval_us(&r->ru.ru_stime),
		.maxrss_kib = (uint64_t)r->ru.ru_maxrss, /* Linux counts it in KiB */
	};
	struct agent_writer w;

	conn_writer(r->c, &w);
	agent_exited_encode(&w, &e);
	return conn_send(r->c, &w);
}

/* The end of a relay that failed: the whole group goes, then the host hears why. */
static void relay_abort(struct relay *r, int err)
{
	kill(-r->cmd.pid, SIGKILL);
	if (!r->reaped)
		waitpid(r->cmd.pid, NULL, 0);
	if (err == -ECONNRESET)
		return;
	if (err == -EPROTO) {
		conn_refuse(r->c, "%s", r->problem);
	} else {
		agent_log("%s%s", r->c->tag, r->problem);
		conn_send_error(r->c, AGENT_G2H_ERROR, err, "%s", r->problem);
	}
}

static void relay_close(struct relay *r)
{
	fd_close(&r->pidfd);
	fd_close(&r->cmd.stdin_fd);
	fd_close(&r->cmd.stdout_fd);
	fd_close(&r->cmd.stderr_fd);
}

/* Announce the started command, whose end a pidfd shows to poll() beside the pipes. */
static int relay_start(struct relay *r)
{
	struct agent_writer w;

	r->pidfd = (int)syscall(SYS_pidfd_open, r->cmd.pid, 0);
	if (r->pidfd < 0)
		return relay_fail(r, -errno, "pidfd_open: %s", strerror(errno));
	conn_writer(r->c, &w);
	agent_started_encode(&w, (uint32_t)r->cmd.pid);
	return conn_send(r->c, &w) ? -ECONNRESET : 0;
}

void exec_serve(struct conn *c, uint32_t len)
{
	struct agent_exec_msg m;
	struct command cmd = { 0 };
	struct spawn_failure why;
	struct relay r = { .c = c, .pidfd = -1 };
	struct spawn_request rq;
	int err;

	if (agent_exec_decode(c->payload, len, &m)) {
		conn_refuse(c, "malformed EXEC");
		return;
	}
	snprintf(c->tag, sizeof(c->tag), "session %llu: ", (unsigned long long)m.session);
	if (command_build(&cmd, &m, len)) {
		conn_send_error(c, AGENT_G2H_ERROR, -ENOMEM, "no memory for the command line");
		goto out;
	}
	rq = (struct spawn_request){ .cwd = cmd.cwd, .argv = cmd.argv, .envp = cmd.envp,
				     .uid = m.uid, .gid = m.gid,
				     .stdin_pipe = m.flags & AGENT_EXEC_STDIN };
	r.start_us = now_us();
	err = spawn_command(&rq, &r.cmd, &why);
	if (err) {
		conn_send_error(c, why.exec_failed ? AGENT_G2H_EXEC_FAILED : AGENT_G2H_ERROR, err,
				"%s", why.message);
		goto out;
	}
	r.stdin_open = rq.stdin_pipe;
	err = relay_start(&r);
	if (!err)
		err = relay_run(&r);
	if (!err)
		send_exited(&r);
	else
		relay_abort(&r, err);
	relay_close(&r);
out:
	command_free(&cmd);
}
