/*
 * SYNC (doc/protocol.md): after a restore, give the guest the host's wall
 * clock and fresh randomness, so that clones of one snapshot neither keep
 * the time it was taken at nor share their kernel's random numbers.
 */
#ifndef AGENTVM_AGENT_SYNC_H
#define AGENTVM_AGENT_SYNC_H

#include <stdint.h>

#include "agent/protocol.h"

struct agent_channel;

/*
 * Set the guest's CLOCK_REALTIME to realtime_ns (the host's, in nanoseconds
 * since the epoch, read just before the call) and reseed its kernel CRNG
 * from seed, which must come fresh from the host's getrandom() for every
 * call: VMs given one seed would share their random numbers again. On a
 * channel past its handshake (the library makes it the request that proves
 * a restored guest's agent ready; tests drive it over a socketpair); waits
 * until deadline (util/clock.h), a VM that stops ends the wait. 0, or
 * -ETIMEDOUT, -EHOSTDOWN, -EPIPE (the agent hung up without answering),
 * -EPROTO, or the guest's errno with the step that failed in the message
 * ("RNDRESEEDCRNG: Operation not permitted").
 */
int agent_sync_on(struct agent_channel *ch, int64_t deadline, uint64_t realtime_ns,
		  const uint8_t seed[AGENT_SYNC_SEED_SIZE]);

#endif
