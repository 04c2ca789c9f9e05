#define _GNU_SOURCE /* accept4 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent/protocol.h"
#include "log.h"
#include "request.h"

/* Connections the kernel may queue while the agent forks workers. */
#define BACKLOG 128

static int listen_vsock(void)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = AGENT_VSOCK_PORT,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0) {
		err = -errno;
		agent_log("socket(AF_VSOCK): %s (no virtio-vsock device?)", strerror(errno));
		return err;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, BACKLOG) < 0) {
		err = -errno;
		agent_log("listen on vsock port %d: %s", AGENT_VSOCK_PORT, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

/*
 * SIGCHLD as a readable descriptor, so the accept loop reaps without a
 * handler interrupting anything. The signal stays blocked, which workers undo.
 */
static int child_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0) {
		fd = -errno;
		agent_log("signalfd: %s", strerror(-fd));
	}
	return fd;
}

/* One SIGCHLD may stand for many children: drain the descriptor, then reap them all. */
static void reap(int sigfd)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) > 0)
		;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void __attribute__((noreturn)) worker_run(int conn, int listener, int sigfd)
{
	sigset_t none;

	close(listener);
	close(sigfd);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A host that hangs up must make a write fail with EPIPE, not kill the worker. */
	signal(SIGPIPE, SIG_IGN);
	request_serve(conn);
	_exit(0);
}

static void accept_one(int listener, int sigfd)
{
	int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	pid_t pid;

	if (conn < 0) {
		/* EINTR, ECONNABORTED and the like: the next poll tells whether to try again. */
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			agent_log("accept: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0)
		worker_run(conn, listener, sigfd);
	/* Without a worker the host sees the connection close before HELLO: one request fails. */
	if (pid < 0)
		agent_log("fork for a connection: %s", strerror(errno));
	close(conn);
}

int server_run(void)
{
	struct pollfd p[2];
	int listener, sigfd;

	sigfd = child_signals();
	if (sigfd < 0)
		return sigfd;
	listener = listen_vsock();
	if (listener < 0) {
		close(sigfd);
		return listener;
	}
	agent_log("ready on vsock port %d", AGENT_VSOCK_PORT);
	for (;;) {
		p[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		if (poll(p, 2, -1) < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			agent_log("poll: %s", strerror(-err));
			close(listener);
			close(sigfd);
			return err;
		}
		if (p[1].revents)
			reap(sigfd);
		if (p[0].revents)
			accept_one(listener, sigfd);
	}
}
