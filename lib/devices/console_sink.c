#include "devices/console_sink.h"

#include <errno.h>
#include <unistd.h>

void console_sink_write(const struct console_sink *sink, const char *data, size_t len)
{
	if (sink->fn) {
		sink->fn(data, len, sink->payload);
		return;
	}
	while (sink->fd >= 0 && len > 0) {
		ssize_t n = write(sink->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		/* A closed pipe or full disk drops console output; the guest runs on regardless. */
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}
