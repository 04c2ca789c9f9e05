#include "agent/sync.h"

#include "agent/channel.h"

int agent_sync_on(struct agent_channel *ch, int64_t deadline, uint64_t realtime_ns,
		  const uint8_t seed[AGENT_SYNC_SEED_SIZE])
{
	struct agent_frame f;
	struct agent_writer w;
	int err;

	agent_channel_writer(ch, &w);
	agent_sync_encode(&w, realtime_ns, seed);
	err = agent_channel_exchange(ch, &w, deadline, &f);
	if (!err && f.type != AGENT_G2H_OK)
		err = agent_channel_unexpected(&f, "sync");
	return err;
}
