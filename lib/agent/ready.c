#include "agent/ready.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include "agent/channel.h"
#include "agent/link.h"
#include "util/clock.h"
#include "util/error.h"

/*
 * Between attempts. A refused connection costs the guest one RST, so a
 * short pause is cheap; it doubles up to the cap so a slow boot (a nested
 * test host takes seconds) does not flood the guest.
 */
#define RETRY_FIRST_MS 1
#define RETRY_MAX_MS 16

int agent_ping_on(struct agent_channel *ch, int64_t deadline)
{
	struct agent_frame f;
	struct agent_writer w;
	int err;

	agent_channel_writer(ch, &w);
	agent_frame_encode(&w, AGENT_H2G_PING, NULL, 0);
	err = agent_channel_exchange(ch, &w, deadline, &f);
	if (!err && f.type != AGENT_G2H_PONG)
		err = agent_channel_unexpected(&f, "a ping");
	return err;
}

/* Sleep until the next attempt; -EHOSTDOWN if the VM stops meanwhile. */
static int pause_or_stop(int stop_fd, int ms)
{
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };

	if (poll(&p, 1, ms) > 0)
		return error_set(-EHOSTDOWN, "the VM stopped");
	return 0;
}

struct ready_call {
	agent_ready_fn first;
	int64_t deadline;
	void *payload;
};

static int ready_request(struct agent_channel *ch, void *arg)
{
	struct ready_call *call = arg;

	return call->first(ch, call->deadline, call->payload);
}

int agent_wait_ready(struct agent_link *link, int64_t deadline, agent_ready_fn first,
		     void *payload)
{
	struct ready_call call = { .first = first, .deadline = deadline, .payload = payload };
	int delay = RETRY_FIRST_MS;

	for (;;) {
		int err = agent_request_keep(link, deadline, ready_request, &call);

		if (err != -ENOTCONN && err != -ECONNREFUSED && err != -ECONNRESET)
			return err;
		if (clock_now_ms() >= deadline) {
			char last[256];

			snprintf(last, sizeof(last), "%s", error_get());
			return error_set(-ETIMEDOUT, "the guest agent did not answer in time (last: %s)",
					 last);
		}
		err = pause_or_stop(link->stop_fd, delay);
		if (err)
			return err;
		delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
	}
}
