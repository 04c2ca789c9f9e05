/* agentvm_config_*: the public configuration object, a thin owner of a struct machine_config. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agentvm.h"
#include "api/config.h"
#include "util/error.h"

#define DEFAULT_VCPUS 1
#define DEFAULT_MEMORY_MIB 256

int agentvm_config_new(agentvm_config **out)
{
	agentvm_config *cfg;

	error_clear();
	if (!out)
		return error_set(-EINVAL, "agentvm_config_new: out is NULL");
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return error_set(-ENOMEM, "out of memory for a configuration");
	cfg->machine.vcpus = DEFAULT_VCPUS;
	cfg->machine.memory_mib = DEFAULT_MEMORY_MIB;
	cfg->machine.console_fd = -1;
	cfg->machine.vsock_cid = MACHINE_MIN_VSOCK_CID;
	cfg->agent_timeout_ms = AGENTVM_AGENT_TIMEOUT_DEFAULT_MS;
	*out = cfg;
	return 0;
}

void agentvm_config_free(agentvm_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->kernel_path);
	free(cfg->initrd_path);
	free(cfg->cmdline);
	for (unsigned int i = 0; i < cfg->machine.ndisks; i++)
		free(cfg->disk_paths[i]);
	free(cfg);
}

/* Replace an owned string with a copy of `value` (NULL clears); the old one survives a failure. */
static int replace_string(char **slot, const char **view, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy)
			return error_set(-ENOMEM, "out of memory copying a string");
	}
	free(*slot);
	*slot = copy;
	*view = copy;
	return 0;
}

int agentvm_config_set_kernel(agentvm_config *cfg, const char *path)
{
	error_clear();
	if (!cfg || !path || !*path)
		return error_set(-EINVAL, "agentvm_config_set_kernel: the kernel path is NULL or empty");
	return replace_string(&cfg->kernel_path, &cfg->machine.kernel_path, path);
}

int agentvm_config_set_initrd(agentvm_config *cfg, const char *path)
{
	error_clear();
	if (!cfg || (path && !*path))
		return error_set(-EINVAL, "agentvm_config_set_initrd: the initrd path is empty");
	return replace_string(&cfg->initrd_path, &cfg->machine.initrd_path, path);
}

int agentvm_config_set_cmdline(agentvm_config *cfg, const char *extra)
{
	error_clear();
	if (!cfg)
		return error_set(-EINVAL, "agentvm_config_set_cmdline: cfg is NULL");
	if (extra && strlen(extra) > MACHINE_MAX_CMDLINE)
		return error_set(-EINVAL, "extra kernel command line is %zu bytes, over the limit of %d",
				 strlen(extra), MACHINE_MAX_CMDLINE);
	return replace_string(&cfg->cmdline, &cfg->machine.cmdline, extra);
}

int agentvm_config_set_vcpus(agentvm_config *cfg, uint32_t count)
{
	error_clear();
	if (!cfg || count < 1 || count > MACHINE_MAX_VCPUS)
		return error_set(-EINVAL, "%u vCPUs requested; 1 to %d are supported", count,
				 MACHINE_MAX_VCPUS);
	cfg->machine.vcpus = count;
	return 0;
}

int agentvm_config_set_memory_mib(agentvm_config *cfg, uint32_t mib)
{
	error_clear();
	if (!cfg || mib < MACHINE_MIN_MEMORY_MIB || mib > MACHINE_MAX_MEMORY_MIB)
		return error_set(-EINVAL, "%u MiB of memory requested; %d to %d MiB are supported", mib,
				 MACHINE_MIN_MEMORY_MIB, MACHINE_MAX_MEMORY_MIB);
	cfg->machine.memory_mib = mib;
	return 0;
}

int agentvm_config_set_console_fd(agentvm_config *cfg, int fd)
{
	error_clear();
	if (!cfg || fd < -1)
		return error_set(-EINVAL, "console fd %d is not a descriptor (use -1 to discard)", fd);
	cfg->machine.console_fd = fd;
	cfg->machine.console_fn = NULL;
	cfg->machine.console_payload = NULL;
	return 0;
}

int agentvm_config_set_console_callback(agentvm_config *cfg, agentvm_console_fn fn, void *payload)
{
	error_clear();
	if (!cfg)
		return error_set(-EINVAL, "agentvm_config_set_console_callback: cfg is NULL");
	cfg->machine.console_fn = fn;
	cfg->machine.console_payload = fn ? payload : NULL;
	cfg->machine.console_fd = -1;
	return 0;
}

int agentvm_config_add_disk(agentvm_config *cfg, const char *path, uint32_t flags)
{
	struct machine_config *m;
	char *copy;

	error_clear();
	if (!cfg || !path || !*path)
		return error_set(-EINVAL, "agentvm_config_add_disk: the image path is NULL or empty");
	if (flags & ~(AGENTVM_DISK_READ_ONLY | AGENTVM_DISK_ROOT))
		return error_set(-EINVAL, "agentvm_config_add_disk: unknown flags 0x%x",
				 flags & ~(AGENTVM_DISK_READ_ONLY | AGENTVM_DISK_ROOT));
	m = &cfg->machine;
	if (m->ndisks == MACHINE_MAX_DISKS)
		return error_set(-ENOSPC, "at most %d disks can be attached", MACHINE_MAX_DISKS);
	for (unsigned int i = 0; i < m->ndisks; i++)
		if ((flags & AGENTVM_DISK_ROOT) && m->disks[i].root)
			return error_set(-EINVAL, "disk '%s' is already the root disk", m->disks[i].path);
	copy = strdup(path);
	if (!copy)
		return error_set(-ENOMEM, "out of memory copying a string");
	cfg->disk_paths[m->ndisks] = copy;
	m->disks[m->ndisks++] = (struct machine_disk){
		.path = copy,
		.read_only = flags & AGENTVM_DISK_READ_ONLY,
		.root = flags & AGENTVM_DISK_ROOT,
	};
	return 0;
}

int agentvm_config_set_vsock_cid(agentvm_config *cfg, uint32_t cid)
{
	error_clear();
	if (!cfg || cid < MACHINE_MIN_VSOCK_CID || cid == UINT32_MAX)
		return error_set(-EINVAL, "vsock CID %u is reserved; use %d to %u", cid,
				 MACHINE_MIN_VSOCK_CID, UINT32_MAX - 1);
	cfg->machine.vsock_cid = cid;
	return 0;
}

int agentvm_config_set_agent_timeout_ms(agentvm_config *cfg, int32_t timeout_ms)
{
	error_clear();
	if (!cfg || timeout_ms < 0)
		return error_set(-EINVAL, "agent timeout %d ms is negative (0: no agent)", timeout_ms);
	cfg->agent_timeout_ms = timeout_ms;
	return 0;
}
