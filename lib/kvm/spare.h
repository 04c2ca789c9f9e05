/*
 * KVM VMs created ahead of need and closed behind, for the whole process
 * (agentvm_set_spare_vms()). On Linux 6.1-6.12 KVM_CREATE_VM waits for an RCU
 * grace period while it starts the VM's NX huge page recovery thread, the
 * longest single step of a restore, and closing a VM's last descriptor waits
 * for grace periods too while KVM tears it down. A library thread does both
 * in the background, off its callers' threads.
 */
#ifndef AGENTVM_KVM_SPARE_H
#define AGENTVM_KVM_SPARE_H

#include <stdbool.h>

#include "kvm/kvm.h"

/* The most spares kept; agentvm.h repeats it as AGENTVM_MAX_SPARE_VMS. */
#define KVM_SPARE_MAX 8

/*
 * Keep `count` (at most KVM_SPARE_MAX) VMs created ahead; 0 closes them and
 * stops the thread. Returns 0 or -errno with the error set.
 */
int kvm_spare_set(unsigned int count);

/* Move a spare VM into *kvm: true; false when none is ready (the caller creates its own). */
bool kvm_spare_take(struct kvm *kvm);

/*
 * kvm_close(), on the spare thread while it runs (then *kvm is left closed
 * for the caller), else here. For the last reference to a VM: its vCPUs'
 * descriptors and guest memory already released.
 */
void kvm_spare_release(struct kvm *kvm);

#endif
