#include "arch/aarch64/fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#include "arch/aarch64/layout.h"
#include "devices/rtc_pl031.h"
#include "util/error.h"

#define GIC_PHANDLE 1
#define APB_CLOCK_PHANDLE 2

/* The GIC binding's three interrupt cells: kind, number, trigger. */
#define GIC_SPI 0
#define GIC_PPI 1
#define IRQ_EDGE_RISING 1
#define IRQ_LEVEL_HIGH 4
#define IRQ_LEVEL_LOW 8

#define UART_CLOCK_HZ 1843200 /* the 16550's classic crystal; only divisor arithmetic uses it */
#define APB_CLOCK_HZ 24000000   /* any rate: AMBA devices need a clock to exist, the PL031 counts seconds */

/* libfdt's sequential writer reports its first failure; stop at it. */
#define TRY(call)                                   \
	do {                                        \
		int r_ = (call);                    \
		if (r_ < 0)                         \
			return fdt_failed(r_, #call); \
	} while (0)

static int fdt_failed(int r, const char *what)
{
	if (r == -FDT_ERR_NOSPACE)
		return error_set(-ENOSPC, "the device tree outgrew its buffer");
	return error_set(-EINVAL, "cannot build the device tree: %s: %s", what, fdt_strerror(r));
}

uint64_t arm64_vcpu_mpidr(unsigned int index)
{
	/* KVM's reset value of MPIDR_EL1: 16 vCPUs per cluster (Aff0), clusters in Aff1, then Aff2. */
	return (index & 0xfu) | ((uint64_t)((index >> 4) & 0xffu) << 8) |
	       ((uint64_t)((index >> 12) & 0xffu) << 16);
}

size_t arm64_fdt_size_bound(unsigned int nvcpus, unsigned int nvirtio, size_t bootargs_len)
{
	/* Generous per-node figures (names, properties, strings); tested in test-arm64-boot. */
	return 4096 + 128 * (size_t)nvcpus + 160 * (size_t)nvirtio + bootargs_len;
}

/* A node named the device tree way, kind@address (hexadecimal). */
static int begin_node_at(void *fdt, const char *kind, uint64_t addr)
{
	char name[48];

	snprintf(name, sizeof(name), "%s@%llx", kind, (unsigned long long)addr);
	return fdt_begin_node(fdt, name);
}

/* A <addr size> pair with two cells each. */
static int property_reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int property_interrupt(void *fdt, uint32_t kind, uint32_t number, uint32_t trigger)
{
	fdt32_t cells[3] = { cpu_to_fdt32(kind), cpu_to_fdt32(number), cpu_to_fdt32(trigger) };

	return fdt_property(fdt, "interrupts", cells, sizeof(cells));
}

static int cpus_node(void *fdt, unsigned int nvcpus)
{
	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned int i = 0; i < nvcpus; i++) {
		uint32_t mpidr = (uint32_t)arm64_vcpu_mpidr(i);

		TRY(begin_node_at(fdt, "cpu", mpidr));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_string(fdt, "compatible", "arm,arm-v8"));
		/* vCPU 0 runs the kernel; the others wait, powered off, for PSCI CPU_ON. */
		TRY(fdt_property_string(fdt, "enable-method", "psci"));
		TRY(fdt_property_u32(fdt, "reg", mpidr));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));
	return 0;
}

static int gic_node(void *fdt, unsigned int nvcpus)
{
	fdt64_t reg[4] = {
		cpu_to_fdt64(ARM64_GIC_DIST_BASE),
		cpu_to_fdt64(ARM64_GIC_DIST_SIZE),
		cpu_to_fdt64(ARM64_GIC_REDIST_BASE),
		cpu_to_fdt64(ARM64_GIC_REDIST_SIZE_PER_CPU * nvcpus),
	};

	TRY(begin_node_at(fdt, "intc", ARM64_GIC_DIST_BASE));
	TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	TRY(fdt_property_u32(fdt, "phandle", GIC_PHANDLE));
	TRY(fdt_end_node(fdt));
	return 0;
}

static int timer_node(void *fdt)
{
	static const uint32_t ppis[] = { ARM64_TIMER_PPI_SECURE, ARM64_TIMER_PPI_NONSECURE,
					 ARM64_TIMER_PPI_VIRT, ARM64_TIMER_PPI_HYP };
	fdt32_t cells[3 * 4];

	for (unsigned int i = 0; i < 4; i++) {
		cells[3 * i] = cpu_to_fdt32(GIC_PPI);
		cells[3 * i + 1] = cpu_to_fdt32(ppis[i]);
		cells[3 * i + 2] = cpu_to_fdt32(IRQ_LEVEL_LOW);
	}
	TRY(fdt_begin_node(fdt, "timer"));
	TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	TRY(fdt_property(fdt, "interrupts", cells, sizeof(cells)));
	TRY(fdt_property(fdt, "always-on", NULL, 0));
	TRY(fdt_end_node(fdt));
	return 0;
}

static int uart_node(void *fdt)
{
	TRY(begin_node_at(fdt, "uart", ARM64_UART_BASE));
	TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	TRY(property_reg(fdt, ARM64_UART_BASE, ARM64_UART_SPAN));
	TRY(property_interrupt(fdt, GIC_SPI, ARM64_UART_SPI, IRQ_LEVEL_HIGH));
	TRY(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK_HZ));
	TRY(fdt_end_node(fdt));
	return 0;
}

/* The bus clock every AMBA (PrimeCell) device must name to be probed. */
static int apb_clock_node(void *fdt)
{
	TRY(fdt_begin_node(fdt, "apb-pclk"));
	TRY(fdt_property_string(fdt, "compatible", "fixed-clock"));
	TRY(fdt_property_u32(fdt, "#clock-cells", 0));
	TRY(fdt_property_u32(fdt, "clock-frequency", APB_CLOCK_HZ));
	TRY(fdt_property_u32(fdt, "phandle", APB_CLOCK_PHANDLE));
	TRY(fdt_end_node(fdt));
	return 0;
}

static int rtc_node(void *fdt)
{
	static const char compatible[] = "arm,pl031\0arm,primecell";

	TRY(begin_node_at(fdt, "pl031", ARM64_RTC_BASE));
	TRY(fdt_property(fdt, "compatible", compatible, sizeof(compatible)));
	TRY(property_reg(fdt, ARM64_RTC_BASE, RTC_PL031_SPAN));
	TRY(property_interrupt(fdt, GIC_SPI, ARM64_RTC_SPI, IRQ_LEVEL_HIGH));
	TRY(fdt_property_u32(fdt, "clocks", APB_CLOCK_PHANDLE));
	TRY(fdt_property_string(fdt, "clock-names", "apb_pclk"));
	TRY(fdt_end_node(fdt));
	return 0;
}

static int virtio_node(void *fdt, const struct arm64_fdt_device *d)
{
	TRY(begin_node_at(fdt, "virtio_mmio", d->base));
	TRY(fdt_property_string(fdt, "compatible", "virtio,mmio"));
	TRY(property_reg(fdt, d->base, d->size));
	/* An irqfd delivers edges. */
	TRY(property_interrupt(fdt, GIC_SPI, d->spi, IRQ_EDGE_RISING));
	/* The device is this process: it sees guest memory as the vCPUs do. */
	TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	TRY(fdt_end_node(fdt));
	return 0;
}

static int chosen_node(void *fdt, const struct arm64_fdt_config *c)
{
	char stdout_path[40];

	snprintf(stdout_path, sizeof(stdout_path), "/uart@%llx", (unsigned long long)ARM64_UART_BASE);
	TRY(fdt_begin_node(fdt, "chosen"));
	TRY(fdt_property_string(fdt, "bootargs", c->bootargs));
	TRY(fdt_property_string(fdt, "stdout-path", stdout_path));
	if (c->initrd_end > c->initrd_start) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", c->initrd_start));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", c->initrd_end));
	}
	TRY(fdt_end_node(fdt));
	return 0;
}

static int memory_node(void *fdt, const struct arm64_fdt_config *c)
{
	TRY(begin_node_at(fdt, "memory", c->ram_base));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(property_reg(fdt, c->ram_base, c->ram_size));
	TRY(fdt_end_node(fdt));
	return 0;
}

static int psci_node(void *fdt)
{
	TRY(fdt_begin_node(fdt, "psci"));
	TRY(fdt_property_string(fdt, "compatible", "arm,psci-0.2"));
	/* KVM answers PSCI calls made with HVC from the guest's EL1. */
	TRY(fdt_property_string(fdt, "method", "hvc"));
	TRY(fdt_end_node(fdt));
	return 0;
}

int arm64_fdt_build(const struct arm64_fdt_config *c, void *buf, size_t size)
{
	int err;

	if (size > INT32_MAX)
		size = INT32_MAX;
	TRY(fdt_create(buf, (int)size));
	TRY(fdt_finish_reservemap(buf));
	TRY(fdt_begin_node(buf, ""));
	TRY(fdt_property_string(buf, "compatible", "linux,dummy-virt"));
	TRY(fdt_property_string(buf, "model", "libagentvm"));
	TRY(fdt_property_u32(buf, "#address-cells", 2));
	TRY(fdt_property_u32(buf, "#size-cells", 2));
	TRY(fdt_property_u32(buf, "interrupt-parent", GIC_PHANDLE));
	err = chosen_node(buf, c);
	if (!err)
		err = memory_node(buf, c);
	if (!err)
		err = cpus_node(buf, c->nvcpus);
	if (!err)
		err = psci_node(buf);
	if (!err)
		err = gic_node(buf, c->nvcpus);
	if (!err)
		err = timer_node(buf);
	if (!err)
		err = uart_node(buf);
	if (!err)
		err = apb_clock_node(buf);
	if (!err)
		err = rtc_node(buf);
	for (unsigned int i = 0; !err && i < c->nvirtio; i++)
		err = virtio_node(buf, &c->virtio[i]);
	if (err)
		return err;
	TRY(fdt_end_node(buf));
	TRY(fdt_finish(buf));
	return 0;
}
