#include "kvm/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "util/error.h"

void kvm_irq_line_set_level(void *ctx, uint32_t gsi, int level)
{
	const struct kvm *kvm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	/*
	 * It fails only for a GSI the irqchip has no route for, which is a VMM
	 * bug fixed at build time, not a guest condition; nothing to report.
	 */
	(void)ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq);
}

int kvm_irqfd_assign(const struct kvm *kvm, uint32_t gsi, int fd)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	if (ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return error_set_errno(-errno, "KVM_IRQFD for GSI %u", gsi);
	return 0;
}

int kvm_ioeventfd_add(const struct kvm *kvm, uint64_t addr, uint32_t datamatch, int fd)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = 4,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return error_set_errno(-errno, "KVM_IOEVENTFD at 0x%llx", (unsigned long long)addr);
	return 0;
}
