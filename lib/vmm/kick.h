/*
 * Getting a vCPU thread out of KVM_RUN. The thread keeps the kick signal
 * blocked and lets KVM unblock it only while the guest runs
 * (KVM_SET_SIGNAL_MASK), so a kick sent at any moment is either taken inside
 * KVM_RUN (which returns EINTR) or stays pending until the next KVM_RUN
 * returns EINTR at once: no window where a kick is lost.
 */
#ifndef AGENTVM_VMM_KICK_H
#define AGENTVM_VMM_KICK_H

#include <pthread.h>

/* Make sure the kick signal interrupts syscalls (a handler is installed if it has none). */
int kick_signal_prepare(void);

/* In a vCPU thread: block everything, tell KVM to unblock only the kick signal while in the guest. */
int kick_vcpu_thread_setup(int vcpu_fd);

/* Consume a pending kick after KVM_RUN returned EINTR, so the next KVM_RUN can enter the guest. */
void kick_consume(void);

void kick_thread(pthread_t thread);

#endif
