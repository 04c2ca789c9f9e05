/* Deadlines on the monotonic clock, in milliseconds, for poll()-based waits. */
#ifndef AGENTVM_UTIL_CLOCK_H
#define AGENTVM_UTIL_CLOCK_H

#include <stdint.h>

/* No deadline: wait for ever. */
#define DEADLINE_NONE INT64_MAX

/* Milliseconds on CLOCK_MONOTONIC (unaffected by changes to the wall clock). */
int64_t clock_now_ms(void);

/* Microseconds on CLOCK_MONOTONIC, for measuring durations. */
uint64_t clock_now_us(void);

/* now + timeout_ms; DEADLINE_NONE for a negative timeout. */
int64_t deadline_after_ms(int64_t timeout_ms);

/* What poll() should wait to meet deadline: -1 for none, 0 once it passed. */
int deadline_poll_timeout(int64_t deadline);

#endif
