/* Waiting for a booting guest's agent to answer: what "the VM is ready" means. */
#ifndef AGENTVM_AGENT_READY_H
#define AGENTVM_AGENT_READY_H

#include <stdint.h>

struct virtio_vsock;

/*
 * Connect to the agent until it answers a PING, retrying while the guest's
 * vsock driver is not up or nothing listens yet, until deadline. 0;
 * -ETIMEDOUT; -EHOSTDOWN (the VM stopped, stop_fd readable); -EPROTO or
 * -EPROTONOSUPPORT (something answered that is not a usable agent).
 */
int agent_wait_ready(struct virtio_vsock *vs, int stop_fd, int64_t deadline);

#endif
