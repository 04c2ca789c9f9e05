/*
 * The part of the PS/2 controller (i8042) that Linux uses to reset a PC:
 * command 0xfe on port 0x64 pulses the CPU reset line. Linux's reboot tries it
 * before falling back to a triple fault, so it is the fast, clean way out.
 * Status reads say "buffers empty" so the kernel never waits on us.
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
