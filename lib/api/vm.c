/* agentvm_vm_*: the public VM handle over struct machine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/ready.h"
#include "agentvm.h"
#include "api/config.h"
#include "api/vm.h"
#include "util/clock.h"
#include "util/error.h"

int vm_agent_check(const struct agentvm_vm *vm, const char *call)
{
	if (!vm)
		return error_set(-EINVAL, "%s: vm is NULL", call);
	if (vm->agent_timeout_ms == 0)
		return error_set(-ENOTCONN, "%s: the VM was configured without an agent "
					    "(agent timeout 0)", call);
	if (!atomic_load(&vm->agent_ready))
		return error_set(-ENOTCONN, "%s: the VM was not started (agentvm_vm_start())",
				 call);
	return 0;
}

int agentvm_vm_new(const agentvm_config *cfg, agentvm_vm **out)
{
	agentvm_vm *vm;
	int err;

	error_clear();
	if (!cfg || !out)
		return error_set(-EINVAL, "agentvm_vm_new: cfg or out is NULL");
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return error_set(-ENOMEM, "out of memory for a VM");
	vm->agent_timeout_ms = cfg->agent_timeout_ms;
	err = machine_create(&cfg->machine, &vm->machine);
	if (err) {
		free(vm);
		return err;
	}
	*out = vm;
	return 0;
}

int agentvm_vm_start(agentvm_vm *vm)
{
	struct machine *m;
	int err;

	error_clear();
	if (!vm)
		return error_set(-EINVAL, "agentvm_vm_start: vm is NULL");
	m = vm->machine;
	err = machine_start(m);
	if (err || vm->agent_timeout_ms == 0)
		return err;
	err = agent_wait_ready(m->vsock, m->stopping_fd, deadline_after_ms(vm->agent_timeout_ms));
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s", error_get());
		machine_request_end(m, MACHINE_END_KILLED, NULL);
		return error_set(err, "the VM started but its agent is not usable: %s%s", why,
				 err == -ETIMEDOUT ? " (is guest/agent the guest's init?)" : "");
	}
	atomic_store(&vm->agent_ready, true);
	return 0;
}

static agentvm_exit_reason public_reason(enum machine_end_reason reason)
{
	switch (reason) {
	case MACHINE_END_POWEROFF:
		return AGENTVM_EXIT_POWEROFF;
	case MACHINE_END_REBOOT:
		return AGENTVM_EXIT_REBOOT;
	case MACHINE_END_KILLED:
		return AGENTVM_EXIT_KILLED;
	default:
		return AGENTVM_EXIT_CRASH;
	}
}

int agentvm_vm_wait(agentvm_vm *vm, int timeout_ms, agentvm_exit_reason *reason_out)
{
	enum machine_end_reason reason;
	int err;

	error_clear();
	if (!vm)
		return error_set(-EINVAL, "agentvm_vm_wait: vm is NULL");
	err = machine_wait(vm->machine, timeout_ms, &reason);
	if (!err && reason_out)
		*reason_out = public_reason(reason);
	return err;
}

int agentvm_vm_kill(agentvm_vm *vm)
{
	error_clear();
	if (!vm)
		return error_set(-EINVAL, "agentvm_vm_kill: vm is NULL");
	machine_request_end(vm->machine, MACHINE_END_KILLED, NULL);
	return 0;
}

void agentvm_vm_free(agentvm_vm *vm)
{
	if (!vm)
		return;
	machine_destroy(vm->machine);
	free(vm);
}
