/* aarch64 state kept per VM between arch_* calls. */
#ifndef AGENTVM_ARCH_AARCH64_ARCH_MACHINE_H
#define AGENTVM_ARCH_AARCH64_ARCH_MACHINE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "devices/rtc_pl031.h"
#include "snapshot/format.h"

struct arch_machine {
	int vgic_fd;                    /* the in-kernel GICv3 (KVM_CREATE_DEVICE); -1 before */
	struct kvm_vcpu_init vcpu_init; /* KVM's preferred target, with PSCI 0.2 */
	uint64_t entry;                 /* where vCPU 0 starts: the kernel Image's first byte */
	uint64_t dtb_addr;              /* the device tree, passed in x0 */
	struct rtc_pl031 rtc;           /* the guest's wall clock at boot */
	/* A restore's header summary of CPU features, compared once vCPU 0 exists to read the host's. */
	uint32_t restore_features[SNAPSHOT_CPU_WORDS];
};

#endif
