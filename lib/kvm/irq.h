/* Driving an in-kernel interrupt controller input from a device (devices/irq.h). */
#ifndef AGENTVM_KVM_IRQ_H
#define AGENTVM_KVM_IRQ_H

#include <stdint.h>

struct kvm;

/* irq_line.set_level for KVM_IRQ_LINE; ctx is a struct kvm. */
void kvm_irq_line_set_level(void *ctx, uint32_t gsi, int level);

/*
 * Make writes to the eventfd `fd` inject an edge on `gsi` (KVM_IRQFD): devices
 * on I/O threads interrupt the guest with one write(2), no ioctl. Writes made
 * before count: a pending one is delivered once assigned. arm64 accepts this
 * only once its interrupt controller is initialized, after the vCPUs exist.
 */
int kvm_irqfd_assign(const struct kvm *kvm, uint32_t gsi, int fd);

/* Make guest writes of `datamatch` (4 bytes) to MMIO `addr` signal `fd` inside KVM (KVM_IOEVENTFD). */
int kvm_ioeventfd_add(const struct kvm *kvm, uint64_t addr, uint32_t datamatch, int fd);

#endif
