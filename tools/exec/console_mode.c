/* agentvm-exec --console-only: the guest's console on stdout until it shuts down. */
#include <errno.h>
#include <stdio.h>

#include "cli.h"

#define POLL_INTERVAL_MS 100

/* Start, then wait for the VM in short slices so SIGINT/SIGTERM and the timeout can stop it. */
int run_console(agentvm_vm *vm, unsigned int timeout_sec)
{
	long long waited_ms = 0, limit_ms = (long long)timeout_sec * 1000;
	agentvm_exit_reason reason;
	int err, sig;

	if (agentvm_vm_start(vm))
		return runner_error("%s", agentvm_last_error());
	for (;;) {
		err = agentvm_vm_wait(vm, POLL_INTERVAL_MS, &reason);
		if (err == 0)
			break;
		if (err != -ETIMEDOUT)
			return runner_error("%s", agentvm_last_error());
		waited_ms += POLL_INTERVAL_MS;
		sig = interrupt_pending();

		if (sig) {
			agentvm_vm_kill(vm);
			agentvm_vm_wait(vm, -1, NULL);
			return 128 + sig;
		}
		if (limit_ms && waited_ms >= limit_ms) {
			agentvm_vm_kill(vm);
			agentvm_vm_wait(vm, -1, NULL);
			fprintf(stderr, "agentvm-exec: timed out after %u s; the VM was stopped\n",
				timeout_sec);
			return EXIT_TIMEOUT;
		}
	}
	if (reason == AGENTVM_EXIT_CRASH)
		return runner_error("the VM stopped on an error: %s", agentvm_last_error());
	return 0;
}
