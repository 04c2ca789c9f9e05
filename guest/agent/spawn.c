#define _GNU_SOURCE /* strchrnul, pipe2, close_range */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/protocol.h"
#include "fdio.h"

/* The steps the child takes, in order; a failure reports which one. */
enum step {
	STEP_SETUP, /* signals, session, standard streams */
	STEP_CHDIR,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_EXECVE,
};

/* What a child that could not exec writes to the status pipe; small enough to be atomic. */
struct child_report {
	int step;
	int err; /* positive errno, as the child saw it */
};

/* Descriptors the parent makes before fork: [0] read end, [1] write end. */
struct spawn_fds {
	int status[2];
	int in[2]; /* in[0] the child's stdin (a pipe or /dev/null); in[1] ours or -1 */
	int out[2];
	int err[2];
};

static void close_all(struct spawn_fds *f)
{
	int *fds[] = { &f->status[0], &f->status[1], &f->in[0], &f->in[1],
		       &f->out[0],    &f->out[1],    &f->err[0], &f->err[1] };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fd_close(fds[i]);
}

/* ---- In the child ---- */

static void __attribute__((noreturn)) child_fail(int status_fd, enum step step)
{
	struct child_report r = { .step = step, .err = errno };

	/* The parent holds the read end and the report is a few bytes: this cannot be torn. */
	fd_write_all(status_fd, &r, sizeof(r));
	_exit(127);
}

/*
 * Undo what the agent changed for itself (its blocked SIGCHLD, its ignored
 * SIGPIPE): an ignored or blocked signal survives execve(), and commands
 * such as `yes | head` rely on the defaults.
 */
static void signals_default(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Some numbers (SIGKILL, SIGSTOP, glibc's own) refuse: nothing to undo there. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
}

static const char *env_path(char *const envp[])
{
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return SPAWN_DEFAULT_PATH;
}

/*
 * execvp(3) with the command's own environment: returns only on failure,
 * errno set as execvp would (EACCES if some candidate was not executable and
 * none ran, ENOENT if none existed). No fallback to /bin/sh on ENOEXEC: the
 * host learns the file is not a program.
 */
static void exec_search(char *const argv[], char *const envp[])
{
	const char *file = argv[0];
	size_t file_len = strlen(file);
	bool denied = false;
	char buf[PATH_MAX];

	if (file_len == 0) {
		errno = ENOENT;
		return;
	}
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return;
	}
	for (const char *dir = env_path(envp);; dir++) {
		const char *end = strchrnul(dir, ':');
		size_t dir_len = (size_t)(end - dir);

		/* An empty entry means the working directory, as in execvp. */
		if (dir_len + 1 + file_len < sizeof(buf)) {
			memcpy(buf, dir, dir_len);
			buf[dir_len] = '/';
			memcpy(buf + dir_len + 1, file, file_len + 1);
			execve(dir_len ? buf : file, argv, envp);
			switch (errno) {
			case EACCES:
				denied = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
			case ELOOP:
			case ENAMETOOLONG:
				break;
			default:
				return; /* found, but it cannot run (ENOEXEC, E2BIG, ...) */
			}
		}
		if (!*end)
			break;
		dir = end;
	}
	errno = denied ? EACCES : ENOENT;
}

static void __attribute__((noreturn)) child_run(const struct spawn_request *rq,
						const struct spawn_fds *f)
{
	int status_fd = f->status[1];

	signals_default();
	/* Mark every inherited descriptor close-on-exec, in case whoever started
	 * the agent leaked one; 0-2 are dup2'ed below, which clears the flag. */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	if (setsid() < 0 || dup2(f->in[0], STDIN_FILENO) < 0 || dup2(f->out[1], STDOUT_FILENO) < 0 ||
	    dup2(f->err[1], STDERR_FILENO) < 0)
		child_fail(status_fd, STEP_SETUP);
	if (chdir(rq->cwd) < 0)
		child_fail(status_fd, STEP_CHDIR);
	if ((rq->uid != AGENT_ID_KEEP || rq->gid != AGENT_ID_KEEP) && setgroups(0, NULL) < 0)
		child_fail(status_fd, STEP_SETGROUPS);
	/* The group first: after setuid() to a user, setgid() is no longer allowed. */
	if (rq->gid != AGENT_ID_KEEP && setgid(rq->gid) < 0)
		child_fail(status_fd, STEP_SETGID);
	if (rq->uid != AGENT_ID_KEEP && setuid(rq->uid) < 0)
		child_fail(status_fd, STEP_SETUID);
	exec_search(rq->argv, rq->envp);
	child_fail(status_fd, STEP_EXECVE);
}

/* ---- In the parent ---- */

static int __attribute__((format(printf, 3, 4)))
fail(struct spawn_failure *why, int err, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	va_start(ap, fmt);
	vsnprintf(why->message, sizeof(why->message), fmt, ap);
	va_end(ap);
	used = strlen(why->message);
	snprintf(why->message + used, sizeof(why->message) - used, ": %s", strerror(-err));
	why->err = err;
	return err;
}

/* The message for a child's report, naming the step and its object. */
static int child_failed(const struct spawn_request *rq, const struct child_report *r,
			struct spawn_failure *why)
{
	int err = -r->err;

	switch (r->step) {
	case STEP_CHDIR:
		return fail(why, err, "chdir '%.200s'", rq->cwd);
	case STEP_SETGROUPS:
		return fail(why, err, "setgroups");
	case STEP_SETGID:
		return fail(why, err, "setgid %u", rq->gid);
	case STEP_SETUID:
		return fail(why, err, "setuid %u", rq->uid);
	case STEP_EXECVE:
		why->exec_failed = true;
		return fail(why, err, "execve '%.200s'", rq->argv[0]);
	default:
		return fail(why, err, "setting up the command's session and standard streams");
	}
}

static int make_fds(const struct spawn_request *rq, struct spawn_fds *f, struct spawn_failure *why)
{
	if (pipe2(f->status, O_CLOEXEC) < 0 || pipe2(f->out, O_CLOEXEC) < 0 ||
	    pipe2(f->err, O_CLOEXEC) < 0)
		return fail(why, -errno, "pipe");
	if (!rq->stdin_pipe) {
		f->in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return f->in[0] < 0 ? fail(why, -errno, "open '/dev/null'") : 0;
	}
	if (pipe2(f->in, O_CLOEXEC) < 0)
		return fail(why, -errno, "pipe");
	/* Ours only (the two ends are separate open files): the relay must never
	 * block on a command that does not read its stdin while it writes output. */
	if (fcntl(f->in[1], F_SETFL, O_NONBLOCK) < 0)
		return fail(why, -errno, "fcntl O_NONBLOCK");
	return 0;
}

int spawn_command(const struct spawn_request *rq, struct spawned *out, struct spawn_failure *why)
{
	struct spawn_fds f = { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } };
	struct child_report r;
	ssize_t n;
	pid_t pid;
	int err;

	*why = (struct spawn_failure){ 0 };
	err = make_fds(rq, &f, why);
	if (err)
		goto out;
	pid = fork();
	if (pid < 0) {
		err = fail(why, -errno, "fork");
		goto out;
	}
	if (pid == 0)
		child_run(rq, &f);
	fd_close(&f.status[1]);
	n = fd_read_full(f.status[0], &r, sizeof(r));
	if (n != 0) {
		/* A report means the child failed and is exiting; without one, end it. */
		if (n != sizeof(r))
			kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (n == sizeof(r))
			err = child_failed(rq, &r, why);
		else
			err = fail(why, n < 0 ? (int)n : -EIO, "reading the command's start status");
		goto out;
	}
	*out = (struct spawned){ .pid = pid, .stdin_fd = f.in[1], .stdout_fd = f.out[0],
				 .stderr_fd = f.err[0] };
	f.in[1] = f.out[0] = f.err[0] = -1;
out:
	close_all(&f);
	return err;
}
