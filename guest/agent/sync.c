#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/random.h>

#define NSEC_PER_SEC 1000000000u

/* RNDADDENTROPY's argument: the header, then the bytes to mix in. */
union entropy {
	struct rand_pool_info info;
	uint8_t bytes[sizeof(struct rand_pool_info) + AGENT_SYNC_SEED_SIZE];
};

static int step_failed(struct conn *c, int err, const char *step)
{
	conn_send_error(c, AGENT_G2H_ERROR, err, "%s: %s", step, strerror(-err));
	return err;
}

/*
 * Mix the seed into the input pool and credit all of it, then make the
 * CRNG take a new key from the pool at once. Crediting alone is not enough:
 * an initialised CRNG reseeds on its own schedule (up to a minute apart),
 * and until then every clone would keep the key of the snapshot.
 * RNDRESEEDCRNG also bumps the generation that per-CPU and vDSO getrandom()
 * states check, so the very next getrandom() uses the new key.
 */
static int reseed(struct conn *c, const uint8_t *seed)
{
	union entropy e = { .info = { .entropy_count = AGENT_SYNC_SEED_SIZE * 8,
				      .buf_size = AGENT_SYNC_SEED_SIZE } };
	const char *step = NULL;
	int fd, err = 0;

	memcpy(e.bytes + offsetof(struct rand_pool_info, buf), seed, AGENT_SYNC_SEED_SIZE);
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		step = "open /dev/urandom";
	else if (ioctl(fd, RNDADDENTROPY, &e.info) < 0)
		step = "RNDADDENTROPY";
	else if (ioctl(fd, RNDRESEEDCRNG) < 0)
		step = "RNDRESEEDCRNG";
	if (step)
		err = -errno;
	explicit_bzero(&e, sizeof(e));
	if (fd >= 0)
		close(fd);
	return step ? step_failed(c, err, step) : 0;
}

static int clock_set(struct conn *c, uint64_t realtime_ns)
{
	const struct timespec ts = { .tv_sec = (time_t)(realtime_ns / NSEC_PER_SEC),
				     .tv_nsec = (long)(realtime_ns % NSEC_PER_SEC) };

	return clock_settime(CLOCK_REALTIME, &ts) < 0 ? step_failed(c, -errno, "clock_settime")
						       : 0;
}

int sync_serve(struct conn *c, uint32_t len)
{
	struct agent_sync req;
	int err;

	if (agent_sync_decode(c->payload, len, &req))
		return conn_refuse(c, "malformed SYNC");
	/* The randomness first: a guest whose clock cannot be set must still stop
	 * sharing random numbers with the other clones of its snapshot. */
	err = reseed(c, req.seed);
	/* Key material: keep it no longer than needed. */
	explicit_bzero(c->payload, len);
	if (!err)
		err = clock_set(c, req.realtime_ns);
	if (!err)
		err = conn_send_frame(c, AGENT_G2H_OK, NULL, 0);
	return err;
}
