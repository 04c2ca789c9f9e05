/* The SYNC request: after a restore, take the host's wall clock and reseed the kernel's CRNG. */
#ifndef AGENTVM_GUEST_SYNC_H
#define AGENTVM_GUEST_SYNC_H

#include <stdint.h>

#include "conn.h"

/*
 * The SYNC whose len-byte payload is in c->payload: reseed, set
 * CLOCK_REALTIME, answer OK; or ERROR naming the step that failed. The seed
 * is wiped from c->payload either way. 0 once OK is sent, else a negative errno.
 */
int sync_serve(struct conn *c, uint32_t len);

#endif
