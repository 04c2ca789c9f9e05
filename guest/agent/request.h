/* A worker's whole job: one connection, its handshake and its one request. */
#ifndef AGENTVM_GUEST_REQUEST_H
#define AGENTVM_GUEST_REQUEST_H

/*
 * Serve the accepted connection fd (doc/protocol.md, "Sequencing") and
 * close it. Failures are answered on the connection or, when the host is
 * gone, dropped; nothing is returned because the worker exits afterwards.
 */
void request_serve(int fd);

#endif
