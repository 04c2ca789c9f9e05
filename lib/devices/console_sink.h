/* Where guest console bytes go: the fd or callback set in agentvm_config, or nowhere. */
#ifndef AGENTVM_DEVICES_CONSOLE_SINK_H
#define AGENTVM_DEVICES_CONSOLE_SINK_H

#include <stddef.h>

struct console_sink {
	int fd; /* owned, or -1 */
	void (*fn)(const char *data, size_t len, void *payload);
	void *payload;
};

/* Deliver bytes; a broken fd or a slow reader never stops the guest with an error. */
void console_sink_write(const struct console_sink *sink, const char *data, size_t len);

#endif
