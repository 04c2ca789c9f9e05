/* agentvm_vm_snapshot() and agentvm_vm_restore(): the public face of vmm/snapshot.h. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <unistd.h>

#include "agent/link.h"
#include "agentvm.h"
#include "api/config.h"
#include "api/vm.h"
#include "util/error.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

#define SNAPSHOT_FLAGS (AGENTVM_SNAPSHOT_STOP | AGENTVM_SNAPSHOT_COMPRESS)

int agentvm_vm_snapshot(agentvm_vm *vm, const char *path, uint32_t flags)
{
	struct machine *m;
	int err;

	error_clear();
	if (!vm || !path || !*path)
		return error_set(-EINVAL, "agentvm_vm_snapshot: vm or path is NULL or empty");
	if (flags & ~SNAPSHOT_FLAGS)
		return error_set(-EINVAL, "agentvm_vm_snapshot: unknown flags 0x%x",
				 flags & ~SNAPSHOT_FLAGS);
	m = vm->machine;
	err = machine_snapshot_check(m, path);
	if (err)
		return err;
	pthread_mutex_lock(&vm->snapshot_lock);
	err = machine_pause(m);
	if (!err) {
		/* The standby travels (agent/link.h): a clone's first request finds its worker forked. */
		pthread_mutex_lock(&vm->link.lock);
		err = machine_snapshot_save(m, path, flags & AGENTVM_SNAPSHOT_COMPRESS,
					    vm->link.standby_fd >= 0 ? vm->link.standby_port : 0);
		pthread_mutex_unlock(&vm->link.lock);
		/* A VM that stops needs no resume: parked vCPUs leave on the end, paused devices are torn down as they are. */
		if (flags & AGENTVM_SNAPSHOT_STOP)
			machine_request_end(m, MACHINE_END_KILLED, NULL);
		else
			machine_resume(m);
	}
	pthread_mutex_unlock(&vm->snapshot_lock);
	return err;
}

int agentvm_vm_restore(const char *path, const agentvm_config *cfg, agentvm_vm **out)
{
	agentvm_config *defaults = NULL;
	struct snapshot_standby standby;
	struct machine *m;
	int err;

	error_clear();
	if (!path || !*path || !out)
		return error_set(-EINVAL, "agentvm_vm_restore: path or out is NULL or empty");
	if (!cfg) {
		err = agentvm_config_new(&defaults);
		if (err)
			return err;
		cfg = defaults;
	}
	err = machine_snapshot_restore(path, &cfg->machine, &m, &standby);
	if (!err) {
		*out = vm_wrap(m, cfg->agent_timeout_ms);
		if (*out) {
			(*out)->restored = true;
			if (standby.fd >= 0)
				agent_link_give_back(&(*out)->link, standby.fd, standby.host_port);
		} else {
			err = error_set(-ENOMEM, "out of memory for a VM");
		}
	}
	if (err && standby.fd >= 0)
		close(standby.fd);
	agentvm_config_free(defaults);
	return err;
}
