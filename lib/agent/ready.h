/* Waiting for a booting guest's agent to answer: what "the VM is ready" means. */
#ifndef AGENTVM_AGENT_READY_H
#define AGENTVM_AGENT_READY_H

#include <stdint.h>

struct agent_channel;
struct agent_link;

/*
 * The request that proves the agent ready, made on the first connection
 * that completes its handshake: 0 or a negative errno with the message set.
 * It must leave the connection as new (PING, SYNC), which then becomes the
 * link's standby (agent_request_keep()).
 */
typedef int (*agent_ready_fn)(struct agent_channel *ch, int64_t deadline, void *payload);

/* PING, and the PONG that must answer it: 0 or a negative errno with the message set. */
int agent_ping_on(struct agent_channel *ch, int64_t deadline);

/*
 * Connect to the agent until one connection completes, retrying while the
 * guest's vsock driver is not up or nothing listens yet, until deadline;
 * then make first's request on it (agent_ping_on(), or SYNC for a restored
 * VM). The link's standby goes first: a restored VM's is the connection its
 * snapshot carried, with the agent's worker waiting. 0; -ETIMEDOUT; -EHOSTDOWN (the VM
 * stopped, the link's stop_fd readable); -EPROTO or -EPROTONOSUPPORT
 * (something answered that is not a usable agent); or first's error.
 */
int agent_wait_ready(struct agent_link *link, int64_t deadline, agent_ready_fn first,
		     void *payload);

#endif
