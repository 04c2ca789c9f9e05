/*
 * The Intel MultiProcessor table (MP spec 1.4): how the guest finds its CPUs
 * and the IOAPIC, with every ISA IRQ wired to the IOAPIC pin of the same
 * number, which is also how KVM's default GSI routing wires them.
 *
 * Why not ACPI: with the hardware-reduced ACPI a microVM would want, Linux
 * maps no legacy ISA IRQs, so the 8250 console's IRQ 4 never arrives unless
 * the DSDT enumerates the UART (which needs the ACPI namespace, which Linux
 * 6.12 fails to load without CONFIG_PCI). The MP table needs neither.
 */
#ifndef AGENTVM_ARCH_X86_64_MPTABLE_H
#define AGENTVM_ARCH_X86_64_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

/* Write the floating pointer and configuration table at X86_MPTABLE_ADDR for `vcpus` CPUs. */
int x86_mptable_write(const struct guest_memory *mem, unsigned int vcpus);

/* The byte sum the MP spec requires to be zero over each structure; exposed for the unit test. */
uint8_t x86_mptable_checksum(const void *data, size_t len);

#endif
