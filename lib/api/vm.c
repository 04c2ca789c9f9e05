/* agentvm_vm_*: the public VM handle over struct machine. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent/ready.h"
#include "agent/sync.h"
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

int vm_explain_end(const struct agentvm_vm *vm, int err)
{
	char why[sizeof(vm->machine->end_detail)];
	char message[512];

	if (err != -EHOSTDOWN)
		return err;
	machine_end_describe(vm->machine, why, sizeof(why));
	if (!*why)
		return err;
	snprintf(message, sizeof(message), "%s", error_get());
	return error_set(err, "%s (the VM ended: %s)", message, why);
}

struct agentvm_vm *vm_wrap(struct machine *m, int32_t agent_timeout_ms)
{
	agentvm_vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		machine_destroy(m);
		return NULL;
	}
	vm->machine = m;
	vm->agent_timeout_ms = agent_timeout_ms;
	pthread_mutex_init(&vm->snapshot_lock, NULL);
	agent_link_init(&vm->link, m->vsock, m->stopping_fd);
	return vm;
}

int agentvm_vm_new(const agentvm_config *cfg, agentvm_vm **out)
{
	struct machine *m;
	int err;

	error_clear();
	if (!cfg || !out)
		return error_set(-EINVAL, "agentvm_vm_new: cfg or out is NULL");
	err = machine_create(&cfg->machine, &m);
	if (err)
		return err;
	*out = vm_wrap(m, cfg->agent_timeout_ms);
	return *out ? 0 : error_set(-ENOMEM, "out of memory for a VM");
}

/*
 * Clones of one snapshot woke up with its wall clock and its kernel's random
 * state: give each the host's time and fresh randomness before anything
 * runs, as the first request of the connection that finds the agent ready.
 */
static int vm_agent_sync(struct agent_channel *ch, int64_t deadline)
{
	uint8_t seed[AGENT_SYNC_SEED_SIZE];
	struct timespec now;
	int err;

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return error_set_errno(-errno, "cannot get random bytes for the guest");
	clock_gettime(CLOCK_REALTIME, &now);
	err = agent_sync_on(ch, deadline, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec,
			    seed);
	explicit_bzero(seed, sizeof(seed));
	return err;
}

/*
 * The start's own request on the first connection that reaches the agent,
 * SYNC for a restored VM; the connection then waits for the first exec.
 */
static int vm_agent_greet(struct agent_channel *ch, int64_t deadline, void *payload)
{
	struct agentvm_vm *vm = payload;

	return vm->restored ? vm_agent_sync(ch, deadline) : agent_ping_on(ch, deadline);
}

int agentvm_vm_start(agentvm_vm *vm)
{
	struct machine *m;
	int64_t deadline;
	int err;

	error_clear();
	if (!vm)
		return error_set(-EINVAL, "agentvm_vm_start: vm is NULL");
	m = vm->machine;
	err = machine_start(m);
	if (err || vm->agent_timeout_ms == 0)
		return err;
	deadline = deadline_after_ms(vm->agent_timeout_ms);
	err = agent_wait_ready(&vm->link, deadline, vm_agent_greet, vm);
	if (err) {
		char why[512];

		err = vm_explain_end(vm, err);
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
	agent_link_destroy(&vm->link);
	pthread_mutex_destroy(&vm->snapshot_lock);
	free(vm);
}
