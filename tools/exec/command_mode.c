/*
 * agentvm-exec -- COMMAND: start the VM, copy files in, run the command with
 * our stdin, stdout and stderr, copy files out, and turn the result into our
 * exit status. The work runs on its own thread so that the main thread can
 * stop the VM on SIGINT/SIGTERM at any point, even while the guest boots.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util/thread.h"

#define ENV_MAX_DEFAULTS 2
static const char *const default_env[ENV_MAX_DEFAULTS] = {
	"PATH=" AGENTVM_DEFAULT_PATH,
	"HOME=/root",
};

struct job {
	agentvm_vm *vm;
	const struct options *o;
	int status;
	int done[2]; /* pipe: the job writes one byte when it is over */
	const char *env[MAX_ENV + ENV_MAX_DEFAULTS + 1];
	bool stream_closed[3]; /* by stream number: our stdout/stderr stopped taking output */
};

/* Did the user set this variable themselves? Then our default gives way. */
static bool user_sets(const struct options *o, const char *entry)
{
	size_t name_len = (size_t)(strchr(entry, '=') - entry) + 1;

	for (unsigned int i = 0; i < o->nenv; i++)
		if (strncmp(o->env[i], entry, name_len) == 0)
			return true;
	return false;
}

static void build_env(struct job *job)
{
	const struct options *o = job->o;
	unsigned int n = 0;

	for (unsigned int i = 0; i < ENV_MAX_DEFAULTS; i++)
		if (!user_sets(o, default_env[i]))
			job->env[n++] = default_env[i];
	for (unsigned int i = 0; i < o->nenv; i++)
		job->env[n++] = o->env[i];
	job->env[n] = NULL;
}

/* The command's output, as it comes, to our own stdout or stderr. */
static void write_output(int stream, const void *data, size_t len, void *payload)
{
	struct job *job = payload;
	const char *p = data;
	int fd = stream == AGENTVM_STDOUT ? STDOUT_FILENO : STDERR_FILENO;

	while (len > 0 && !job->stream_closed[stream]) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* A closed pipe (EPIPE) ends our copy, not the command: like a shell's. */
			job->stream_closed[stream] = true;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* What the result means for our exit status, with one line for anything but an exit. */
static int exit_status(const struct options *o, const agentvm_exec_result *r)
{
	if (r->flags & AGENTVM_EXEC_TIMED_OUT) {
		fprintf(stderr, "agentvm-exec: timed out after %u s; the command was killed\n",
			o->timeout_sec);
		return EXIT_TIMEOUT;
	}
	if (r->flags & AGENTVM_EXEC_NOT_STARTED) {
		fprintf(stderr, "agentvm-exec: %s: %s\n", o->command[0],
			r->error == ENOENT ? "command not found" : strerror(r->error));
		return r->exit_code;
	}
	if (r->signal)
		return 128 + r->signal;
	return r->exit_code;
}

static int run_it(struct job *job)
{
	const struct options *o = job->o;
	agentvm_exec_options opts;
	agentvm_exec_result *r;
	int status;

	agentvm_exec_options_init(&opts);
	opts.argv = (const char *const *)o->command;
	opts.envp = job->env;
	opts.cwd = o->cwd;
	/* Our stdin (main() put /dev/null there if it was closed). */
	opts.stdin_fd = STDIN_FILENO;
	opts.timeout_ms = o->timeout_sec * 1000u;
	opts.capture_limit = 0; /* streamed, not kept */
	opts.output_fn = write_output;
	opts.output_payload = job;
	if (agentvm_vm_exec(job->vm, &opts, &r))
		return runner_error("%s", agentvm_last_error());
	status = exit_status(o, r);
	agentvm_exec_result_free(r);
	return status;
}

static int job_run(struct job *job)
{
	const struct options *o = job->o;
	int status;

	if (agentvm_vm_start(job->vm))
		return runner_error("%s", agentvm_last_error());
	for (unsigned int i = 0; i < o->ncopy_in; i++)
		if (copy_in(job->vm, &o->copy_in[i]))
			return EXIT_RUNNER_ERROR;
	build_env(job);
	status = run_it(job);
	/* Results are wanted most when the command failed: copy out whatever its status. */
	for (unsigned int i = 0; i < o->ncopy_out; i++)
		if (copy_out(job->vm, &o->copy_out[i]))
			status = EXIT_RUNNER_ERROR;
	if (o->snapshot_out &&
	    agentvm_vm_snapshot(job->vm, o->snapshot_out,
				AGENTVM_SNAPSHOT_STOP |
					(o->snapshot_compress ? AGENTVM_SNAPSHOT_COMPRESS : 0)))
		status = runner_error("%s", agentvm_last_error());
	return status;
}

static void *job_thread(void *arg)
{
	struct job *job = arg;

	job->status = job_run(job);
	if (write(job->done[1], "", 1) < 0)
		job->status = EXIT_RUNNER_ERROR;
	return NULL;
}

int run_command(agentvm_vm *vm, const struct options *o)
{
	struct job job = { .vm = vm, .o = o };
	struct pollfd fds[2];
	struct thread thread;
	int sig = 0, err;

	if (pipe2(job.done, O_CLOEXEC) < 0)
		return runner_error("cannot create a pipe: %s", strerror(errno));
	err = thread_start(&thread, "agentvm-job", THREAD_STACK_OWN, job_thread, &job);
	if (err) {
		close(job.done[0]);
		close(job.done[1]);
		return runner_error("cannot create a thread: %s", strerror(err));
	}
	fds[0] = (struct pollfd){ .fd = job.done[0], .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = interrupt_fd, .events = POLLIN };
	while (!sig && poll(fds, 2, -1) >= 0 && !fds[0].revents)
		sig = interrupt_pending();
	if (sig)
		agentvm_vm_kill(vm); /* the job's calls return at once, saying the VM stopped */
	thread_join(&thread);
	close(job.done[0]);
	close(job.done[1]);
	return sig ? 128 + sig : job.status;
}
