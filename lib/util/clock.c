#include "util/clock.h"

#include <limits.h>
#include <time.h>

uint64_t clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t clock_now_ms(void)
{
	return (int64_t)(clock_now_us() / 1000u);
}

int64_t deadline_after_ms(int64_t timeout_ms)
{
	return timeout_ms < 0 ? DEADLINE_NONE : clock_now_ms() + timeout_ms;
}

int deadline_poll_timeout(int64_t deadline)
{
	int64_t left;

	if (deadline == DEADLINE_NONE)
		return -1;
	left = deadline - clock_now_ms();
	if (left <= 0)
		return 0;
	/* Rounding down would wake a millisecond early and poll again for nothing. */
	return left > INT_MAX ? INT_MAX : (int)left;
}
