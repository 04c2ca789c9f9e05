#include "agent/link.h"

#include <poll.h>
#include <unistd.h>

#include "agent/protocol.h"
#include "devices/virtio/vsock.h"

void agent_link_init(struct agent_link *link, struct virtio_vsock *vs, int stop_fd)
{
	link->vs = vs;
	link->stop_fd = stop_fd;
	link->standby_fd = -1;
	pthread_mutex_init(&link->lock, NULL);
}

void agent_link_destroy(struct agent_link *link)
{
	if (link->standby_fd >= 0)
		close(link->standby_fd);
	link->standby_fd = -1;
	pthread_mutex_destroy(&link->lock);
}

/* With `lock` held. */
static void standby_open(struct agent_link *link)
{
	int fd;

	if (link->standby_fd < 0 &&
	    virtio_vsock_connect_start(link->vs, AGENT_VSOCK_PORT, &fd) == 0)
		link->standby_fd = fd;
}

void agent_link_prepare(struct agent_link *link)
{
	pthread_mutex_lock(&link->lock);
	standby_open(link);
	pthread_mutex_unlock(&link->lock);
}

int agent_link_take(struct agent_link *link)
{
	struct pollfd p;
	int fd;

	pthread_mutex_lock(&link->lock);
	fd = link->standby_fd;
	link->standby_fd = -1;
	if (fd >= 0)
		standby_open(link);
	pthread_mutex_unlock(&link->lock);
	if (fd < 0)
		return -1;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}
