/* agentvm_vm_exec() and its options and result: the public face of agent/exec.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/exec.h"
#include "agentvm.h"
#include "api/vm.h"
#include "util/clock.h"
#include "util/error.h"
#include "vmm/snapshot.h"

static const char *const default_env[] = {
	"PATH=" AGENTVM_DEFAULT_PATH,
	"HOME=/root",
	NULL,
};

/* What a shell reports for a program it could not run. */
#define EXIT_NOT_FOUND 127
#define EXIT_NOT_EXECUTABLE 126

int agentvm_exec_options_init(agentvm_exec_options *opts)
{
	error_clear();
	if (!opts)
		return error_set(-EINVAL, "agentvm_exec_options_init: opts is NULL");
	memset(opts, 0, sizeof(*opts));
	opts->version = AGENTVM_EXEC_OPTIONS_VERSION;
	opts->stdin_fd = -1;
	opts->cancel_fd = -1;
	opts->capture_limit = AGENTVM_CAPTURE_DEFAULT;
	return 0;
}

/* Layout 1 ends before cancel_fd: a program built then never set it. */
static int cancel_fd_of(const agentvm_exec_options *o)
{
	return o->version >= 2 ? o->cancel_fd : -1;
}

static int options_check(const agentvm_exec_options *o)
{
	if (!o)
		return error_set(-EINVAL, "agentvm_vm_exec: opts is NULL");
	if (o->version < 1 || o->version > AGENTVM_EXEC_OPTIONS_VERSION)
		return error_set(-EINVAL, "agentvm_vm_exec: options version %u is not one this "
					  "library knows (1 to %d); use agentvm_exec_options_init()",
				 o->version, AGENTVM_EXEC_OPTIONS_VERSION);
	if (!o->argv || !o->argv[0])
		return error_set(-EINVAL, "agentvm_vm_exec: argv is empty");
	if (!o->argv[0][0])
		return error_set(-EINVAL, "agentvm_vm_exec: argv[0] is an empty string");
	if (o->stdin_data && o->stdin_fd >= 0)
		return error_set(-EINVAL, "agentvm_vm_exec: both stdin_data and stdin_fd are set");
	if (!o->stdin_data && o->stdin_len)
		return error_set(-EINVAL, "agentvm_vm_exec: stdin_len is %zu without stdin_data",
				 o->stdin_len);
	if (o->stdin_fd < -1)
		return error_set(-EINVAL, "agentvm_vm_exec: stdin_fd %d is not a descriptor",
				 o->stdin_fd);
	if (cancel_fd_of(o) < -1)
		return error_set(-EINVAL, "agentvm_vm_exec: cancel_fd %d is not a descriptor",
				 cancel_fd_of(o));
	for (size_t i = 0; o->envp && o->envp[i]; i++)
		if (!strchr(o->envp[i], '=') || o->envp[i][0] == '=')
			return error_set(-EINVAL, "agentvm_vm_exec: environment entry '%.100s' is not "
						  "NAME=value", o->envp[i]);
	return 0;
}

static void fill_result(agentvm_exec_result *r, struct agent_exec_outcome *o)
{
	r->version = 1;
	r->flags = (o->timed_out ? AGENTVM_EXEC_TIMED_OUT : 0) |
		   (o->out.truncated ? AGENTVM_EXEC_STDOUT_TRUNCATED : 0) |
		   (o->err.truncated ? AGENTVM_EXEC_STDERR_TRUNCATED : 0);
	r->exit_code = -1;
	if (o->exec_errno) {
		r->flags |= AGENTVM_EXEC_NOT_STARTED;
		r->error = o->exec_errno;
		r->exit_code = o->exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
	} else if (o->exited && o->signaled) {
		r->signal = (int32_t)o->code;
	} else if (o->exited) {
		r->exit_code = (int32_t)o->code;
	}
	r->guest_pid = o->pid;
	r->wall_us = o->wall_us;
	r->user_us = o->user_us;
	r->sys_us = o->sys_us;
	r->maxrss_kib = o->maxrss_kib;
	/* The buffers move to the result; empty streams still get "" for the caller's convenience. */
	r->stdout_data = o->out.data ? o->out.data : (uint8_t *)calloc(1, 1);
	r->stdout_len = o->out.len;
	r->stderr_data = o->err.data ? o->err.data : (uint8_t *)calloc(1, 1);
	r->stderr_len = o->err.len;
	o->out = (struct agent_capture){ 0 };
	o->err = (struct agent_capture){ 0 };
}

int agentvm_vm_exec(agentvm_vm *vm, const agentvm_exec_options *opts, agentvm_exec_result **out)
{
	uint64_t started = clock_now_us();
	struct agent_exec_outcome outcome;
	struct agent_exec_request req;
	agentvm_exec_result *r;
	int err;

	error_clear();
	err = vm_agent_check(vm, "agentvm_vm_exec");
	if (!err)
		err = options_check(opts);
	if (!err && !out)
		err = error_set(-EINVAL, "agentvm_vm_exec: out is NULL");
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return error_set(-ENOMEM, "out of memory for an exec result");
	req = (struct agent_exec_request){
		.session = atomic_fetch_add(&vm->next_session, 1),
		.argv = opts->argv,
		.envp = opts->envp ? opts->envp : default_env,
		.cwd = opts->cwd,
		.stdin_data = opts->stdin_data,
		.stdin_len = opts->stdin_len,
		.stdin_fd = opts->stdin_fd,
		.cancel_fd = cancel_fd_of(opts),
		.timeout_ms = opts->timeout_ms,
		.capture_limit = opts->capture_limit,
		.output_fn = opts->output_fn,
		.output_payload = opts->output_payload,
	};
	err = agent_exec(&vm->link, &req, &outcome);
	if (vm->restored)
		machine_snapshot_learn(vm->machine);
	if (!err) {
		fill_result(r, &outcome);
		if (!r->stdout_data || !r->stderr_data)
			err = error_set(-ENOMEM, "out of memory for an exec result");
	}
	agent_exec_outcome_release(&outcome);
	if (err) {
		agentvm_exec_result_free(r);
		return vm_explain_end(vm, err);
	}
	r->host_us = clock_now_us() - started;
	*out = r;
	return 0;
}

void agentvm_exec_result_free(agentvm_exec_result *r)
{
	if (!r)
		return;
	free(r->stdout_data);
	free(r->stderr_data);
	free(r);
}
