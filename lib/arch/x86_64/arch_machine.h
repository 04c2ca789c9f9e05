/* x86_64 state kept per VM between arch_* calls. */
#ifndef AGENTVM_ARCH_X86_64_ARCH_MACHINE_H
#define AGENTVM_ARCH_X86_64_ARCH_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/reset_control.h"

struct kvm_cpuid2;

struct arch_machine {
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, fetched once per VM */
	bool tsc_deadline;        /* KVM emulates the TSC-deadline timer: advertise it */
	uint64_t entry;           /* kernel 64-bit entry point */
	struct reset_control reset; /* port 0xcf9: how the guest reboots (reboot=p) */
};

#endif
