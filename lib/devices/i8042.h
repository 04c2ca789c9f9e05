/*
 * The one part of the PS/2 controller (i8042) a sandbox needs: command 0xfe
 * on port 0x64 pulses the CPU reset line, the classic PC reset that guests
 * (Linux with reboot=k, other kernels, firmware) use to reboot.
 *
 * Every read answers 0xff, as a bus with no controller does, so Linux's
 * i8042 driver decides within microseconds that there is no keyboard
 * controller instead of waiting 0.5 s for answers to its probe commands.
 */
#ifndef AGENTVM_DEVICES_I8042_H
#define AGENTVM_DEVICES_I8042_H

#include "devices/bus.h"
#include "devices/machine_event.h"

#define I8042_DATA_PORT 0x60
#define I8042_COMMAND_PORT 0x64

extern const struct bus_device_ops i8042_ops;

/* Register at I8042_DATA_PORT with size 5 (0x60..0x64); opaque is the event sink. */

#endif
