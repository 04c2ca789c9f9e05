/* The x86_64 side of arch/arch.h: a PC without a PC's legacy, booted the 64-bit Linux way. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86_64/boot_params.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/kernel_loader.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "devices/i8042.h"
#include "devices/reset_control.h"
#include "devices/virtio/mmio.h"
#include "kvm/irq.h"
#include "util/error.h"
#include "vmm/machine.h"

/*
 * Our part of the kernel command line. `8250.nr_uarts=1`: only COM1 exists, so
 * the driver need not probe three absent ports. `acpi=off`: there are no ACPI
 * tables (see mptable.h); saying so spares the search and its error message.
 * `reboot=p`: reboot through the reset control register (reset_control.h),
 * three exits, and never by triple fault, which thus means a crash. `panic=-1`: a panicking guest reboots at
 * once, which ends the VM instead of hanging it. `quiet`: every console byte
 * is a VM exit; callers wanting kernel messages append `loglevel=7`, which
 * wins because it comes later. `pty.legacy_count=0`: no BSD pseudo-terminals
 * (/dev/ptyXX), which kernels built with CONFIG_LEGACY_PTYS create 256 pairs
 * of at boot, the longest step of our guest's boot (~15% of it, measured
 * with initcall_debug); kernels without them ignore the option.
 */
static const char x86_base_cmdline[] =
	"console=ttyS0 8250.nr_uarts=1 acpi=off reboot=p panic=-1 quiet pty.legacy_count=0";

void arch_machine_init(struct arch_machine *arch)
{
	(void)arch; /* all zero is already right */
}

unsigned int arch_memory_layout(uint64_t ram_bytes, struct memory_region *out)
{
	if (ram_bytes <= X86_MMIO_HOLE_START) {
		out[0] = (struct memory_region){ .gpa = 0, .size = ram_bytes };
		return 1;
	}
	out[0] = (struct memory_region){ .gpa = 0, .size = X86_MMIO_HOLE_START };
	out[1] = (struct memory_region){ .gpa = X86_MMIO_HOLE_END,
					 .size = ram_bytes - X86_MMIO_HOLE_START };
	return 2;
}

int arch_vm_init(struct machine *m)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int vm = m->kvm.vm_fd;
	int err;

	err = kvm_require(&m->kvm, KVM_CAP_IRQCHIP, "an in-kernel irqchip (KVM_CAP_IRQCHIP)");
	if (err)
		return err;
	if (ioctl(vm, KVM_SET_TSS_ADDR, (unsigned long)X86_KVM_TSS_ADDR) < 0)
		return error_set_errno(-errno, "KVM_SET_TSS_ADDR");
	if (kvm_capability(&m->kvm, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t identity = X86_KVM_IDENTITY_MAP_ADDR;

		if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
			return error_set_errno(-errno, "KVM_SET_IDENTITY_MAP_ADDR");
	}
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return error_set_errno(-errno, "KVM_CREATE_IRQCHIP");
	/* Linux checks its timer interrupt through the PIT; in the kernel it costs no exits. */
	if (kvm_capability(&m->kvm, KVM_CAP_PIT2) > 0 && ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
		return error_set_errno(-errno, "KVM_CREATE_PIT2");

	/*
	 * No performance counters: a sandbox has no use for them, they are a
	 * side channel between guest and host, and each counter a guest
	 * programs costs a host perf event and trapped MSR writes. The CPUID
	 * the vCPUs get hides them too (x86_cpuid_for_vcpu).
	 */
	if (kvm_capability(&m->kvm, KVM_CAP_PMU_CAPABILITY) > 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_PMU_CAPABILITY,
					      .args = { KVM_PMU_CAP_DISABLE } };

		if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0)
			return error_set_errno(-errno, "KVM_ENABLE_CAP(KVM_CAP_PMU_CAPABILITY)");
	}
	m->arch.tsc_deadline = kvm_capability(&m->kvm, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	return x86_cpuid_supported(m->kvm.sys_fd, &m->arch.cpuid);
}

int arch_devices_init(struct machine *m)
{
	int err;

	err = bus_register(&m->pio_bus, X86_COM1_PORT, UART_8250_REGISTER_SPAN, &uart_8250_ops, &m->uart);
	if (!err)
		err = bus_register(&m->pio_bus, I8042_DATA_PORT, I8042_COMMAND_PORT - I8042_DATA_PORT + 1,
				   &i8042_ops, &m->events);
	m->arch.reset.events = &m->events;
	if (!err)
		err = bus_register(&m->pio_bus, RESET_CONTROL_PORT, 1, &reset_control_ops,
				   &m->arch.reset);
	return err;
}

struct irq_line arch_console_irq(struct machine *m)
{
	return (struct irq_line){ .set_level = kvm_irq_line_set_level, .ctx = &m->kvm,
				  .gsi = X86_COM1_IRQ };
}

/*
 * ISA IRQs nobody else uses here (4 is COM1; 0, 1, 2, 8 belong to the PIT,
 * keyboard, cascade and RTC on a PC; there is no IDE for 14 and 15). Linux
 * knows them edge-triggered from the MP table, which is what an irqfd
 * delivers. Nine: eight disks and the vsock device.
 */
static const uint8_t virtio_irqs[] = { 5, 6, 7, 9, 10, 11, 12, 14, 15 };

int arch_virtio_slot(unsigned int index, uint64_t *base, uint32_t *gsi)
{
	if (index >= sizeof(virtio_irqs))
		return error_set(-ENOSPC, "at most %zu virtio devices fit", sizeof(virtio_irqs));
	*base = X86_VIRTIO_MMIO_BASE + (uint64_t)index * VIRTIO_MMIO_SPAN;
	*gsi = virtio_irqs[index];
	return 0;
}

static int append(char *buf, size_t size, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *used)
		return error_set(-EINVAL, "kernel command line is over %zu bytes", size - 1);
	*used += (size_t)n;
	return 0;
}

/* Devices are announced on the command line: the kernel's CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES. */
static int compose_cmdline(const struct machine *m, char *buf, size_t size, const char *extra)
{
	size_t used = 0;
	int err = append(buf, size, &used, "%s", x86_base_cmdline);

	for (unsigned int i = 0; !err && i < m->nvirtio; i++)
		err = append(buf, size, &used, " virtio_mmio.device=%uK@0x%llx:%u",
			     VIRTIO_MMIO_SPAN / 1024, (unsigned long long)m->virtio[i].base,
			     m->virtio[i].gsi);
	if (!err && extra && *extra)
		err = append(buf, size, &used, " %s", extra);
	return err;
}

int arch_boot_prepare(struct machine *m, const struct mapped_file *kernel,
		      const struct mapped_file *initrd, const char *extra_cmdline)
{
	char cmdline[X86_CMDLINE_MAX];
	struct x86_boot_info info = { .cmdline = cmdline };
	struct x86_kernel k;
	int err;

	err = compose_cmdline(m, cmdline, sizeof(cmdline), extra_cmdline);
	if (err)
		return err;
	err = x86_kernel_load(&m->memory, kernel->data, kernel->size, &k);
	if (err)
		return err;
	if (initrd) {
		err = x86_initrd_place(&m->memory, &k, initrd->size, &info.initrd_addr);
		if (err)
			return err;
		err = guest_memory_write(&m->memory, info.initrd_addr, initrd->data, initrd->size);
		if (err)
			return err;
		info.initrd_size = initrd->size;
	}
	err = x86_mptable_write(&m->memory, m->nvcpus);
	if (!err)
		err = x86_boot_params_write(&m->memory, &k, &info);
	if (!err)
		err = x86_boot_page_tables_write(&m->memory);
	if (!err)
		m->arch.entry = k.entry;
	return err;
}

int arch_vcpu_init(struct machine *m, unsigned int index, int vcpu_fd)
{
	struct kvm_cpuid2 *src = m->arch.cpuid;
	size_t size = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	int err = 0;

	if (!cpuid)
		return error_set(-ENOMEM, "out of memory for CPUID");
	memcpy(cpuid, src, size);
	x86_cpuid_for_vcpu(cpuid, index, m->nvcpus, m->arch.tsc_deadline);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		err = error_set_errno(-errno, "KVM_SET_CPUID2 on vCPU %u", index);
	free(cpuid);
	if (!err && index == 0)
		err = x86_boot_vcpu_setup(vcpu_fd, m->arch.entry);
	return err;
}

int arch_vcpus_created(struct machine *m)
{
	(void)m; /* the in-kernel irqchip needs nothing once vCPUs exist */
	return 0;
}

uint64_t arch_vcpu_pc(int vcpu_fd)
{
	struct kvm_regs regs;

	return ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0 ? 0 : regs.rip;
}

void arch_machine_destroy(struct arch_machine *arch)
{
	free(arch->cpuid);
	arch->cpuid = NULL;
}
