/*
 * An interrupt line as a device sees it: the device says "asserted" or
 * "deasserted" and the VM's interrupt controller takes it from there
 * (KVM_IRQ_LINE on x86, the VGIC on arm64). Keeping devices behind this one
 * callback is what lets the same device code run on every architecture and in
 * unit tests with a recording stub.
 */
#ifndef AGENTVM_DEVICES_IRQ_H
#define AGENTVM_DEVICES_IRQ_H

#include <stdint.h>

struct irq_line {
	void (*set_level)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	line->set_level(line->ctx, line->gsi, level);
}

#endif
