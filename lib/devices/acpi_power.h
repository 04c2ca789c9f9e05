/*
 * The registers a hardware-reduced ACPI platform uses to power off and reset
 * (ACPI 6.4, sections 4.8.3.7 and 4.8.3.6): a sleep control register, where
 * the guest writes SLP_TYP|SLP_EN to enter S5, a sleep status register, and
 * a reset register. The ACPI tables (arch code) point the guest here; this is
 * the documented poweroff path: Linux `poweroff` ends in one write to it.
 */
#ifndef AGENTVM_DEVICES_ACPI_POWER_H
#define AGENTVM_DEVICES_ACPI_POWER_H

#include "devices/bus.h"
#include "devices/machine_event.h"

/* Offsets inside the 3-byte register block. */
#define ACPI_POWER_SLEEP_CONTROL 0
#define ACPI_POWER_SLEEP_STATUS 1
#define ACPI_POWER_RESET 2
#define ACPI_POWER_SPAN 3

/* The value of SLP_TYP the DSDT's \_S5 package announces, and what the reset register wants. */
#define ACPI_POWER_S5_SLEEP_TYPE 5
#define ACPI_POWER_RESET_VALUE 0x01

extern const struct bus_device_ops acpi_power_ops;

/* Register with opaque = the VM's machine_event_sink. */

#endif
