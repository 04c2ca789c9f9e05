/* The EXEC request: start a command, relay its streams and KILLs, report how it ended. */
#ifndef AGENTVM_GUEST_EXEC_H
#define AGENTVM_GUEST_EXEC_H

#include <stdint.h>

#include "conn.h"

/*
 * The EXEC whose len-byte payload is in c->payload, through to EXITED, or
 * EXEC_FAILED / ERROR. If the host goes away first, the command's process
 * group is killed and reaped and its output discarded.
 */
void exec_serve(struct conn *c, uint32_t len);

#endif
