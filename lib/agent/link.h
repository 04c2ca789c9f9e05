/*
 * The way to one VM's agent: its vsock device, the descriptor that turns
 * readable when the VM stops, and one connection opened ahead of need.
 *
 * A request on a fresh connection waits for the vsock handshake and for the
 * agent to fork the worker that serves it (~1.4 ms of a 4.7 ms exec's own
 * cost in the test host for the handshake alone). A standby connection has
 * both done while the previous request runs, so the request that takes it
 * starts with its HELLO at once; taking one opens the next. In the guest it
 * is one idle worker of the agent. The first standby is the connection that
 * found the agent ready: PING and SYNC leave a connection as new, so it is
 * given back rather than closed; a restored VM's is the one its snapshot
 * carried (vmm/snapshot.h), whose worker the template had forked already.
 */
#ifndef AGENTVM_AGENT_LINK_H
#define AGENTVM_AGENT_LINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct virtio_vsock;

struct agent_link {
	struct virtio_vsock *vs;
	int stop_fd;            /* borrowed: readable once the VM stops */
	pthread_mutex_t lock;   /* guards standby_fd */
	int standby_fd;         /* connecting or connected, at the start of a handshake; -1: none */
	uint32_t standby_port;  /* its host port (devices/virtio/vsock.h) */
};

void agent_link_init(struct agent_link *link, struct virtio_vsock *vs, int stop_fd);

/* Close the standby connection, if any. */
void agent_link_destroy(struct agent_link *link);

/*
 * The standby connection for a request to use (the caller owns it, and
 * learns its host port); -1 when
 * none waits, or when the one waiting has ended (the guest refused or reset
 * it: it reads as end of stream, and a healthy agent sends nothing before our
 * HELLO). With `refill`, the next one starts opening in the background (best
 * effort, never blocking on the guest: one that cannot be started is simply
 * not there, and requests connect as before).
 */
int agent_link_take(struct agent_link *link, bool refill, uint32_t *host_port);

/*
 * A connection the agent left as new (after PING or SYNC) becomes the
 * standby; closed if one waits already. The link owns fd from here on.
 */
void agent_link_give_back(struct agent_link *link, int fd, uint32_t host_port);

#endif
