/*
 * KVM VMs created ahead of need, for the whole process (agentvm_set_spare_vms()).
 * On Linux 6.1-6.12 KVM_CREATE_VM waits for an RCU grace period while it starts
 * the VM's NX huge page recovery thread: the longest single step of a restore.
 * A library thread makes VMs in the background so that kvm_open() can take one.
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

#endif
