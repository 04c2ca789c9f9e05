/*
 * The steps machine_create() (a fresh boot) and machine_restore() (from a
 * snapshot) share: the VM, its RAM, its platform and virtio devices, and its
 * vCPUs. Only lib/vmm/ uses this.
 */
#ifndef AGENTVM_VMM_MACHINE_BUILD_H
#define AGENTVM_VMM_MACHINE_BUILD_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct machine_config;

/* A snapshot's memory section, the RAM a restored VM starts with. */
struct snapshot_ram {
	int fd;
	uint64_t offset; /* page-aligned */
	uint64_t stored; /* bytes in the file */
	bool compressed; /* inflated into fresh RAM; else mapped copy-on-write */
};

/* The configuration's own consistency, the kernel aside (a restore has none). */
int machine_config_check(const struct machine_config *cfg);

/*
 * A VM with RAM (fresh when ram is NULL), platform devices and every virtio
 * device attached, but no kernel loaded and no vCPU. On failure nothing is
 * left allocated.
 */
int machine_build(const struct machine_config *cfg, const struct snapshot_ram *ram,
		  struct machine **out);

/* Create the vCPUs (KVM_CREATE_VCPU and the architecture's setup). */
int machine_vcpus_create(struct machine *m);

#endif
