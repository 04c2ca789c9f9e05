/*
 * The way to one VM's agent: its vsock device, the descriptor that turns
 * readable when the VM stops, and one connection opened ahead of need.
 *
 * A request on a fresh connection waits for the vsock handshake and for the
 * agent to fork the worker that serves it (~1.4 ms of a 4.7 ms exec's own
 * cost in the test host for the handshake alone). A standby connection has
 * both done while the previous request runs, or while a restored VM's SYNC
 * does, so the request that takes it starts with its HELLO at once; taking
 * one opens the next. In the guest it is one idle worker of the agent.
 */
#ifndef AGENTVM_AGENT_LINK_H
#define AGENTVM_AGENT_LINK_H

#include <pthread.h>

struct virtio_vsock;

struct agent_link {
	struct virtio_vsock *vs;
	int stop_fd;            /* borrowed: readable once the VM stops */
	pthread_mutex_t lock;   /* guards standby_fd */
	int standby_fd;         /* connecting or connected, nothing sent yet; -1: none */
};

void agent_link_init(struct agent_link *link, struct virtio_vsock *vs, int stop_fd);

/* Close the standby connection, if any. */
void agent_link_destroy(struct agent_link *link);

/*
 * Open a standby connection in the background unless one waits already.
 * Best effort and never blocks on the guest: a connection that cannot be
 * started is simply not there, and requests connect as before.
 */
void agent_link_prepare(struct agent_link *link);

/*
 * The standby connection for a request to use (the caller owns it), after
 * opening the next one; -1 when none waits, or when the one waiting has
 * ended (the guest refused or reset it: it reads as end of stream, and a
 * healthy agent sends nothing before our HELLO).
 */
int agent_link_take(struct agent_link *link);

#endif
