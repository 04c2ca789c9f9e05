/*
 * One x86_64 vCPU's complete state as snapshot records: registers, segment
 * and control registers, FPU/XSAVE, XCRs, MSRs, local APIC, MP state,
 * pending events, debug registers. Saved from a parked vCPU; restored into a
 * fresh one (CPUID already set) in the order KVM needs: the local APIC before
 * the MSRs (a TSC deadline is dropped unless the APIC timer is in deadline
 * mode), the TSC before the deadline, pending events last.
 */
#ifndef AGENTVM_ARCH_X86_64_VCPU_STATE_H
#define AGENTVM_ARCH_X86_64_VCPU_STATE_H

#include <linux/kvm.h>
#include <stddef.h>

struct snapshot_state;
struct snapshot_writer;

/* The MSRs KVM can save for a guest (KVM_GET_MSR_INDEX_LIST); the caller frees it. */
int x86_msr_index_list(int kvm_sys_fd, struct kvm_msr_list **out);

/* Bytes of the XSAVE area KVM exchanges (KVM_CAP_XSAVE2, at least struct kvm_xsave). */
size_t x86_xsave_size(int vm_fd);

int x86_vcpu_state_save(int vcpu_fd, unsigned int index, const struct kvm_msr_list *msrs,
			size_t xsave_size, struct snapshot_writer *w);
int x86_vcpu_state_restore(int vcpu_fd, unsigned int index, size_t xsave_size,
			   const struct snapshot_state *s);

#endif
