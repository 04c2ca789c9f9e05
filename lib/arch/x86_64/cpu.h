/*
 * x86_64 vCPU state at boot: CPUID (KVM_GET_SUPPORTED_CPUID, adjusted per
 * vCPU), and for the boot vCPU the 64-bit boot protocol's entry state: long
 * mode with identity-mapped paging, flat segments, %rsi -> boot_params.
 * Application processors need none of that: the guest starts them with
 * INIT/SIPI through the in-kernel local APIC.
 */
#ifndef AGENTVM_ARCH_X86_64_CPU_H
#define AGENTVM_ARCH_X86_64_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/memory.h"

/* Fetch what KVM can offer guests; the caller frees the result. */
int x86_cpuid_supported(int kvm_sys_fd, struct kvm_cpuid2 **out);

/*
 * Adjust a copy of the supported CPUID for vCPU `index` of `count`: its APIC
 * ID, the hypervisor bit, and TSC-deadline when KVM emulates it.
 */
void x86_cpuid_for_vcpu(struct kvm_cpuid2 *cpuid, unsigned int index, unsigned int count,
			bool tsc_deadline);

/* Write the GDT and the identity-mapped page tables (first 4 GiB) the boot vCPU starts on. */
int x86_boot_page_tables_write(const struct guest_memory *mem);

/* Set the boot vCPU's registers to enter the kernel at `entry`. */
int x86_boot_vcpu_setup(int vcpu_fd, uint64_t entry);

#endif
