/*
 * Minimal ACPI for an x86_64 microVM: RSDP, XSDT, a hardware-reduced FADT,
 * a MADT listing the vCPUs' local APICs and the IOAPIC, and a DSDT holding
 * only the \_S5 sleep package. That is all Linux needs to find its CPUs and
 * to power off through the sleep control register (devices/acpi_power.h).
 * Hardware-reduced also tells Linux there is no PIT, PIC or CMOS RTC to
 * probe, which shortens boot.
 */
#ifndef AGENTVM_ARCH_X86_64_ACPI_TABLES_H
#define AGENTVM_ARCH_X86_64_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

/* Write the tables at X86_ACPI_ADDR for `vcpus` CPUs; the RSDP's address goes to *rsdp_out. */
int x86_acpi_tables_write(const struct guest_memory *mem, unsigned int vcpus, uint64_t *rsdp_out);

/* The byte sum ACPI requires to be zero over a table, exposed for the unit test. */
uint8_t x86_acpi_checksum(const void *data, size_t len);

#endif
