#include "devices/i8042.h"

#include <string.h>

#define I8042_CMD_PULSE_RESET 0xfe
#define I8042_OFFSET_COMMAND (I8042_COMMAND_PORT - I8042_DATA_PORT)

static void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, len);
}

static void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	const struct machine_event_sink *sink = opaque;

	(void)len;
	if (offset == I8042_OFFSET_COMMAND && data[0] == I8042_CMD_PULSE_RESET)
		sink->request(sink->ctx, MACHINE_EVENT_REBOOT);
}

const struct bus_device_ops i8042_ops = {
	.read = i8042_read,
	.write = i8042_write,
};
