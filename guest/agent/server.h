/* The agent's service: the vsock listener and one worker process per connection. */
#ifndef AGENTVM_GUEST_SERVER_H
#define AGENTVM_GUEST_SERVER_H

/*
 * Listen on AGENT_VSOCK_PORT at any CID, say so on the console, and serve
 * forever: each connection in a forked worker, so a crash or a hang affects
 * that request alone. Reaps every child, orphans included (PID 1's duty).
 * Returns only on a failure it has logged: -errno.
 */
int server_run(void);

#endif
