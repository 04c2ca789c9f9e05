/*
 * Starting an EXEC's command (doc/protocol.md, "EXEC"): a new session, the
 * working directory, the ids, a PATH lookup as execvp(3) does, and pipes for
 * its standard streams. Whether execve() succeeded is known before this
 * returns, through a close-on-exec status pipe, so the host gets STARTED,
 * EXEC_FAILED or ERROR accordingly.
 */
#ifndef AGENTVM_GUEST_SPAWN_H
#define AGENTVM_GUEST_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The PATH of a command whose environment has none; PID 1 starts with it too. */
#define SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct spawn_request {
	const char *cwd;   /* not empty */
	char *const *argv; /* NULL-terminated, argv[0] the program */
	char *const *envp; /* NULL-terminated; the command's whole environment */
	uint32_t uid, gid; /* or AGENT_ID_KEEP */
	bool stdin_pipe;   /* a pipe for stdin; else /dev/null */
};

struct spawned {
	pid_t pid;     /* also the process group id: the command leads a new session */
	int stdin_fd;  /* the pipe's write end, non-blocking; -1 without stdin_pipe */
	int stdout_fd; /* the pipes' read ends, blocking */
	int stderr_fd;
};

/* Why a command did not start, ready for the host. */
struct spawn_failure {
	bool exec_failed; /* execve() itself refused: EXEC_FAILED rather than ERROR */
	int err;          /* negative errno */
	char message[320];
};

/*
 * Start the command. 0 and *out once execve() succeeded; else -errno and
 * *why, with nothing left running or open.
 */
int spawn_command(const struct spawn_request *rq, struct spawned *out, struct spawn_failure *why);

#endif
