#include "devices/reset_control.h"

static void reset_control_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	const struct reset_control *rc = opaque;

	(void)offset;
	for (uint32_t i = 0; i < len; i++)
		data[i] = i == 0 ? rc->value : 0xff;
}

static void reset_control_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct reset_control *rc = opaque;

	(void)offset;
	(void)len;
	rc->value = data[0];
	if (data[0] & RESET_CONTROL_RESET_CPU)
		rc->events->request(rc->events->ctx, MACHINE_EVENT_REBOOT);
}

const struct bus_device_ops reset_control_ops = {
	.read = reset_control_read,
	.write = reset_control_write,
};
