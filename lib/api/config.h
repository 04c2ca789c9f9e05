/* The layout behind the opaque agentvm_config, shared by the api/ files only. */
#ifndef AGENTVM_API_CONFIG_H
#define AGENTVM_API_CONFIG_H

#include "vmm/machine.h"

struct agentvm_config {
	struct machine_config machine; /* its strings point at the owned copies below */
	char *kernel_path;
	char *initrd_path;
	char *cmdline;
	char *disk_paths[MACHINE_MAX_DISKS];
	int32_t agent_timeout_ms; /* how long agentvm_vm_start() waits for the agent; 0: no agent */
};

#endif
