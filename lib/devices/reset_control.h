/*
 * The PC's reset control register at I/O port 0xcf9: setting its "reset CPU"
 * bit restarts the machine, which ends our VM as a reboot. Linux uses it with
 * reboot=p (three port accesses), so a deliberate reboot is told apart from a
 * triple fault, which on our machine means the guest kernel crashed. The
 * keyboard controller's reset (i8042.h) would do too, but Linux first polls
 * the controller's status up to 65536 times, two exits each.
 */
#ifndef AGENTVM_DEVICES_RESET_CONTROL_H
#define AGENTVM_DEVICES_RESET_CONTROL_H

#include <stdint.h>

#include "devices/bus.h"
#include "devices/machine_event.h"

#define RESET_CONTROL_PORT 0xcf9
#define RESET_CONTROL_RESET_CPU 0x04 /* writing it set requests the reset */

struct reset_control {
	uint8_t value; /* what the guest last wrote, read back as a chipset would */
	const struct machine_event_sink *events;
};

/* Register at RESET_CONTROL_PORT with size 1; opaque is a struct reset_control. */
extern const struct bus_device_ops reset_control_ops;

#endif
