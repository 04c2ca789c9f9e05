#include "devices/acpi_power.h"

#include <string.h>

/* Sleep control register fields (ACPI 6.4, table 4.19). */
#define SLEEP_TYPE_SHIFT 2
#define SLEEP_TYPE_MASK 0x7
#define SLEEP_ENABLE 0x20

static void acpi_power_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	/* Nothing ever wakes the guest, so no status bit is ever set. */
	memset(data, 0, len);
}

static void acpi_power_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	const struct machine_event_sink *sink = opaque;
	uint8_t value = data[0];

	(void)len;
	switch (offset) {
	case ACPI_POWER_SLEEP_CONTROL:
		if ((value & SLEEP_ENABLE) &&
		    ((value >> SLEEP_TYPE_SHIFT) & SLEEP_TYPE_MASK) == ACPI_POWER_S5_SLEEP_TYPE)
			sink->request(sink->ctx, MACHINE_EVENT_POWEROFF);
		break;
	case ACPI_POWER_RESET:
		if (value == ACPI_POWER_RESET_VALUE)
			sink->request(sink->ctx, MACHINE_EVENT_REBOOT);
		break;
	default:
		break;
	}
}

const struct bus_device_ops acpi_power_ops = {
	.read = acpi_power_read,
	.write = acpi_power_write,
};
