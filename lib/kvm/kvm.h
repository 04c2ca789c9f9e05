/* The KVM system and VM file descriptors, and the checks made once per VM. */
#ifndef AGENTVM_KVM_KVM_H
#define AGENTVM_KVM_KVM_H

#include <stddef.h>

struct kvm {
	int sys_fd;          /* /dev/kvm */
	int vm_fd;           /* KVM_CREATE_VM */
	size_t run_mmap_size; /* size of each vCPU's shared kvm_run area */
};

/* Open /dev/kvm, check the API version and create a VM. -ENODEV names a missing /dev/kvm. */
int kvm_open(struct kvm *kvm);
void kvm_close(struct kvm *kvm);

/* KVM_CHECK_EXTENSION on the VM: > 0 if present (some capabilities return a count). */
int kvm_capability(const struct kvm *kvm, long capability);

/* Fail with -ENOTSUP and a message naming `name` unless the capability is present. */
int kvm_require(const struct kvm *kvm, long capability, const char *name);

#endif
