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
	    virtio_vsock_connect_start(link->vs, AGENT_VSOCK_PORT, &fd, &link->standby_port) == 0)
		link->standby_fd = fd;
}

int agent_link_take(struct agent_link *link, bool refill, uint32_t *host_port)
{
	struct pollfd p;
	int fd;

	pthread_mutex_lock(&link->lock);
	fd = link->standby_fd;
	*host_port = link->standby_port;
	link->standby_fd = -1;
	if (refill)
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

void agent_link_give_back(struct agent_link *link, int fd, uint32_t host_port)
{
	pthread_mutex_lock(&link->lock);
	if (link->standby_fd < 0) {
		link->standby_fd = fd;
		link->standby_port = host_port;
		fd = -1;
	}
	pthread_mutex_unlock(&link->lock);
	if (fd >= 0)
		close(fd);
}
