/* A vCPU: its KVM file descriptor, shared run area, and the thread that runs it. */
#ifndef AGENTVM_VMM_VCPU_H
#define AGENTVM_VMM_VCPU_H

struct machine;
struct vcpu;

/* KVM_CREATE_VCPU, map its run area, and architecture setup. */
int vcpu_create(struct machine *m, struct vcpu *v, unsigned int index);
void vcpu_destroy(struct vcpu *v);

/* The thread body: run the guest until the machine stops; reports exits to the machine. */
void *vcpu_thread_main(void *arg);

#endif
