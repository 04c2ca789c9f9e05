/* Driving an in-kernel interrupt controller input from a device (devices/irq.h). */
#ifndef AGENTVM_KVM_IRQ_H
#define AGENTVM_KVM_IRQ_H

#include <stdint.h>

/* irq_line.set_level for KVM_IRQ_LINE; ctx is a struct kvm. */
void kvm_irq_line_set_level(void *ctx, uint32_t gsi, int level);

#endif
