/*
 * The aarch64 side of arch/arch.h: a board with nothing but RAM, a GICv3 in
 * KVM, the architected timer, one 16550 UART, a PL031 clock and virtio-mmio devices, all
 * announced in a device tree, booted the arm64 Linux way (x0 = device tree).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/aarch64/fdt.h"
#include "arch/aarch64/kernel_loader.h"
#include "arch/aarch64/layout.h"
#include "arch/aarch64/vcpu_state.h"
#include "arch/aarch64/vgic_state.h"
#include "devices/virtio/mmio.h"
#include "util/error.h"
#include "vmm/machine.h"

/*
 * Our part of the kernel command line. `panic=-1`: a panicking guest reboots
 * at once (PSCI SYSTEM_RESET), which ends the VM instead of hanging it.
 * `quiet`: every console byte is a VM exit; callers wanting kernel messages
 * append `loglevel=7`, which wins because it comes later. The console is
 * found through the device tree's stdout-path. `pty.legacy_count=0`: as on
 * x86_64 (arch/x86_64/machine.c), no 256 BSD pseudo-terminal pairs to create.
 */
static const char arm64_base_cmdline[] = "console=ttyS0 panic=-1 quiet pty.legacy_count=0";

/* PSTATE at entry, as booting.rst asks: EL1 with SP_EL1, every exception masked (D, A, I, F). */
#define ARM64_BOOT_PSTATE 0x3c5ULL

#define CORE_REG(field) \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field))

void arch_machine_init(struct arch_machine *arch)
{
	arch->vgic_fd = -1;
}

unsigned int arch_memory_layout(uint64_t ram_bytes, struct memory_region *out)
{
	out[0] = (struct memory_region){ .gpa = ARM64_RAM_BASE, .size = ram_bytes };
	return 1;
}

static int vgic_attr(int fd, uint32_t group, uint64_t attr, void *value, const char *what)
{
	int err = arm64_vgic_attr(fd, true, group, attr, value);

	return err ? error_set_errno(err, "cannot set the GICv3's %s", what) : 0;
}

/* The in-kernel GICv3: created before the vCPUs, initialized after them (arch_vcpus_created). */
static int vgic_create(struct machine *m)
{
	struct kvm_create_device dev = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	uint64_t dist = ARM64_GIC_DIST_BASE, redist = ARM64_GIC_REDIST_BASE;
	uint32_t nr_irqs = ARM64_NR_IRQS;
	int err;

	if (ioctl(m->kvm.vm_fd, KVM_CREATE_DEVICE, &dev) < 0)
		return error_set_errno(-errno, "this host's KVM cannot emulate a GICv3 "
				       "(KVM_CREATE_DEVICE KVM_DEV_TYPE_ARM_VGIC_V3)");
	m->arch.vgic_fd = (int)dev.fd;
	err = vgic_attr(m->arch.vgic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist,
			"distributor address");
	if (!err)
		err = vgic_attr(m->arch.vgic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
				&redist, "redistributor address");
	if (!err)
		err = vgic_attr(m->arch.vgic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
				"number of interrupts");
	return err;
}

int arch_vm_init(struct machine *m)
{
	int err;

	err = kvm_require(&m->kvm, KVM_CAP_ARM_PSCI_0_2, "PSCI 0.2 (KVM_CAP_ARM_PSCI_0_2)");
	if (!err)
		err = kvm_require(&m->kvm, KVM_CAP_IRQFD, "irqfd (KVM_CAP_IRQFD)");
	if (err)
		return err;
	if (ioctl(m->kvm.vm_fd, KVM_ARM_PREFERRED_TARGET, &m->arch.vcpu_init) < 0)
		return error_set_errno(-errno, "KVM_ARM_PREFERRED_TARGET");
	/* No PMU, SVE or pointer authentication: none is requested, so the guest has none. */
	m->arch.vcpu_init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	return vgic_create(m);
}

int arch_devices_init(struct machine *m)
{
	int err = bus_register(&m->mmio_bus, ARM64_UART_BASE, UART_8250_REGISTER_SPAN,
			       &uart_8250_ops, &m->uart);

	rtc_pl031_init(&m->arch.rtc, NULL);
	if (!err)
		err = bus_register(&m->mmio_bus, ARM64_RTC_BASE, RTC_PL031_SPAN, &rtc_pl031_ops,
				   &m->arch.rtc);
	return err;
}

/* An SPI's level, through KVM_IRQ_LINE's arm64 encoding (interrupt type, then INTID). */
static void spi_set_level(void *ctx, uint32_t spi, int level)
{
	const struct kvm *kvm = ctx;
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (ARM64_GIC_SPI_BASE + spi),
		.level = level ? 1 : 0,
	};

	/* It fails only for an SPI the VGIC lacks, a VMM bug fixed at build time: nothing to report. */
	(void)ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq);
}

struct irq_line arch_console_irq(struct machine *m)
{
	return (struct irq_line){ .set_level = spi_set_level, .ctx = &m->kvm, .gsi = ARM64_UART_SPI };
}

int arch_virtio_slot(unsigned int index, uint64_t *base, uint32_t *gsi)
{
	const unsigned int slots = ARM64_NR_IRQS - ARM64_GIC_SPI_BASE - ARM64_VIRTIO_FIRST_SPI;

	if (index >= slots)
		return error_set(-ENOSPC, "at most %u virtio devices fit", slots);
	*base = ARM64_VIRTIO_MMIO_BASE + (uint64_t)index * VIRTIO_MMIO_SPAN;
	/* KVM routes irqfd GSI n to SPI n (INTID 32 + n). */
	*gsi = ARM64_VIRTIO_FIRST_SPI + index;
	return 0;
}

static int compose_cmdline(char *buf, size_t size, const char *extra)
{
	int n = snprintf(buf, size, "%s%s%s", arm64_base_cmdline, extra && *extra ? " " : "",
			 extra ? extra : "");

	if (n < 0 || (size_t)n >= size)
		return error_set(-EINVAL, "kernel command line is over %zu bytes", size - 1);
	return 0;
}

static uint64_t align_down(uint64_t v, uint64_t align)
{
	return v & ~(align - 1);
}

/*
 * The device tree at the top of RAM and the initrd right below it, both
 * above the kernel; the tree's final size is not known before it is built,
 * so its place is reserved for the most it can take.
 */
int arch_boot_prepare(struct machine *m, const struct mapped_file *kernel,
		      const struct mapped_file *initrd, const char *extra_cmdline)
{
	struct arm64_fdt_device virtio[MACHINE_MAX_VIRTIO];
	char cmdline[ARM64_CMDLINE_MAX];
	struct arm64_fdt_config c = {
		.ram_base = ARM64_RAM_BASE,
		.ram_size = m->memory.size,
		.nvcpus = m->nvcpus,
		.bootargs = cmdline,
		.nvirtio = m->nvirtio,
		.virtio = virtio,
	};
	uint64_t ram_end = ARM64_RAM_BASE + m->memory.size, fdt_room;
	struct arm64_kernel k;
	void *fdt;
	int err;

	err = compose_cmdline(cmdline, sizeof(cmdline), extra_cmdline);
	if (!err)
		err = arm64_kernel_load(&m->memory, ARM64_RAM_BASE, kernel->data, kernel->size, &k);
	if (err)
		return err;
	for (unsigned int i = 0; i < m->nvirtio; i++)
		virtio[i] = (struct arm64_fdt_device){ .base = m->virtio[i].base,
						       .size = VIRTIO_MMIO_SPAN,
						       .spi = m->virtio[i].gsi };
	fdt_room = arm64_fdt_size_bound(m->nvcpus, m->nvirtio, strlen(cmdline));
	m->arch.dtb_addr = align_down(ram_end - fdt_room, 4096);
	if (fdt_room > m->memory.size || m->arch.dtb_addr < k.end)
		return error_set(-EINVAL, "the kernel leaves no room for its device tree in %llu MiB of guest memory",
				 (unsigned long long)(m->memory.size >> 20));
	c.initrd_start = c.initrd_end = m->arch.dtb_addr;
	if (initrd) {
		if (initrd->size > m->arch.dtb_addr - k.end)
			return error_set(-EINVAL, "kernel and initrd (%zu bytes) do not fit in %llu MiB of guest memory",
					 initrd->size, (unsigned long long)(m->memory.size >> 20));
		c.initrd_start = align_down(m->arch.dtb_addr - initrd->size, 4096);
		c.initrd_end = c.initrd_start + initrd->size;
		err = guest_memory_write(&m->memory, c.initrd_start, initrd->data, initrd->size);
		if (err)
			return err;
	}
	fdt = guest_memory_ptr(&m->memory, m->arch.dtb_addr, fdt_room);
	err = fdt ? arm64_fdt_build(&c, fdt, fdt_room)
		  : error_set(-EINVAL, "no room for the device tree in guest memory");
	if (!err)
		m->arch.entry = k.entry;
	return err;
}

int arch_vcpu_init(struct machine *m, unsigned int index, int vcpu_fd)
{
	struct kvm_vcpu_init init = m->arch.vcpu_init;
	int err;

	/* Secondaries wait for the kernel's PSCI CPU_ON. */
	if (index > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init) < 0)
		return error_set_errno(-errno, "KVM_ARM_VCPU_INIT on vCPU %u", index);
	if (index > 0)
		return 0;
	err = arm64_vcpu_set_reg64(vcpu_fd, 0, CORE_REG(regs.pstate), ARM64_BOOT_PSTATE);
	if (!err)
		err = arm64_vcpu_set_reg64(vcpu_fd, 0, CORE_REG(regs.pc), m->arch.entry);
	/* x0: the device tree; x1-x3 are reserved and must be zero, which a fresh vCPU's are. */
	if (!err)
		err = arm64_vcpu_set_reg64(vcpu_fd, 0, CORE_REG(regs.regs[0]), m->arch.dtb_addr);
	return err;
}

int arch_vcpus_created(struct machine *m)
{
	return vgic_attr(m->arch.vgic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
			 "initialization (KVM_DEV_ARM_VGIC_CTRL_INIT)");
}

uint64_t arch_vcpu_pc(int vcpu_fd)
{
	uint64_t pc = 0;
	struct kvm_one_reg reg = { .id = CORE_REG(regs.pc), .addr = (uint64_t)(uintptr_t)&pc };

	return ioctl(vcpu_fd, KVM_GET_ONE_REG, &reg) < 0 ? 0 : pc;
}

void arch_machine_destroy(struct arch_machine *arch)
{
	if (arch->vgic_fd >= 0)
		close(arch->vgic_fd);
	arch->vgic_fd = -1;
}
