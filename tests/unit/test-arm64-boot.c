/* arm64 boot: Image loading and the device tree, checked node by node with libfdt. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libfdt.h>

#include "arch/aarch64/fdt.h"
#include "arch/aarch64/kernel_loader.h"
#include "arch/aarch64/layout.h"
#include "kvm/memory.h"
#include "util/le.h"

#define MIB (1024ULL * 1024)

static struct guest_memory make_memory(uint64_t bytes)
{
	struct memory_region layout = { .gpa = ARM64_RAM_BASE, .size = bytes };
	struct guest_memory mem;

	assert_int_equal(guest_memory_create(&mem, &layout, 1), 0);
	return mem;
}

/* An Image look-alike: the header, then `payload` bytes of 0xaa; BSS as image_size says. */
static uint8_t *make_image(size_t payload, uint64_t text_offset, uint64_t image_size, size_t *size)
{
	uint8_t *img = calloc(1, ARM64_IMAGE_HEADER_SIZE + payload);

	le_store(img + 8, text_offset, 8);
	le_store(img + 16, image_size, 8);
	le_store(img + 24, 0x2, 8); /* 4 KiB pages, little-endian */
	memcpy(img + 56, "ARM\x64", 4);
	memset(img + ARM64_IMAGE_HEADER_SIZE, 0xaa, payload);
	*size = ARM64_IMAGE_HEADER_SIZE + payload;
	return img;
}

static void image_loads_at_text_offset(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct arm64_kernel k;
	size_t size;
	uint8_t *img = make_image(8192, 0, 4 * MIB, &size);
	uint8_t *loaded;

	(void)state;
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), 0);
	assert_int_equal(k.entry, ARM64_RAM_BASE);
	assert_int_equal(k.end, ARM64_RAM_BASE + 4 * MIB);
	loaded = guest_memory_ptr(&mem, ARM64_RAM_BASE, size);
	assert_memory_equal(loaded, img, size);
	free(img);

	/* Before Linux 3.17 image_size was 0, meaning text_offset 0x80000. */
	img = make_image(4096, 0x1234, 0, &size);
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), 0);
	assert_int_equal(k.entry, ARM64_RAM_BASE + 0x80000);
	assert_int_equal(k.end, ARM64_RAM_BASE + 0x80000 + size);
	free(img);
	guest_memory_destroy(&mem);
}

static void malformed_images_refused(void **state)
{
	struct guest_memory mem = make_memory(64 * MIB);
	struct arm64_kernel k = { .entry = 7, .end = 7 };
	size_t size;
	uint8_t *img = make_image(8192, 0, 4 * MIB, &size);

	(void)state;
	/* Shorter than a header, or without the magic: not an Image. */
	for (size_t cut = 0; cut < ARM64_IMAGE_HEADER_SIZE; cut += 7)
		assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, cut, &k), -EINVAL);
	img[56] = 'X';
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), -EINVAL);
	img[56] = 'A';

	le_store(img + 24, 0x3, 8); /* big-endian kernel */
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), -EINVAL);
	le_store(img + 24, 0x2, 8);

	le_store(img + 16, 4096, 8); /* claims less than the file holds */
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), -EINVAL);
	le_store(img + 16, 63 * MIB, 8); /* with the offset, runs past 64 MiB of RAM */
	le_store(img + 8, 2 * MIB, 8);
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), -EINVAL);
	le_store(img + 16, UINT64_MAX, 8); /* sums would wrap */
	le_store(img + 8, UINT64_MAX - 10, 8);
	assert_int_equal(arm64_kernel_load(&mem, ARM64_RAM_BASE, img, size, &k), -EINVAL);

	/* Nothing was reported on failure. */
	assert_int_equal(k.entry, 7);
	assert_int_equal(k.end, 7);
	free(img);
	guest_memory_destroy(&mem);
}

static const struct arm64_fdt_device two_devices[] = {
	{ .base = ARM64_VIRTIO_MMIO_BASE, .size = 0x200, .spi = ARM64_VIRTIO_FIRST_SPI },
	{ .base = ARM64_VIRTIO_MMIO_BASE + 0x200, .size = 0x200, .spi = ARM64_VIRTIO_FIRST_SPI + 1 },
};

static const struct arm64_fdt_config two_cpus = {
	.ram_base = ARM64_RAM_BASE,
	.ram_size = 256 * MIB,
	.nvcpus = 2,
	.bootargs = "console=ttyS0 quiet",
	.initrd_start = ARM64_RAM_BASE + 200 * MIB,
	.initrd_end = ARM64_RAM_BASE + 200 * MIB + 12345,
	.nvirtio = 2,
	.virtio = two_devices,
};

static void *build(const struct arm64_fdt_config *c)
{
	size_t size = arm64_fdt_size_bound(c->nvcpus, c->nvirtio, strlen(c->bootargs));
	void *fdt = malloc(size);

	assert_int_equal(arm64_fdt_build(c, fdt, size), 0);
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_true(fdt_totalsize(fdt) <= size);
	return fdt;
}

static int node(const void *fdt, const char *path)
{
	int off = fdt_path_offset(fdt, path);

	if (off < 0)
		fail_msg("no node %s in the device tree", path);
	return off;
}

static void assert_string_prop(const void *fdt, const char *path, const char *name, const char *want)
{
	int len;
	const char *v = fdt_getprop(fdt, node(fdt, path), name, &len);

	if (!v)
		fail_msg("%s has no %s", path, name);
	assert_int_equal(len, strlen(want) + 1);
	assert_string_equal(v, want);
}

static void assert_present(const void *fdt, const char *path, const char *name)
{
	if (!fdt_getprop(fdt, node(fdt, path), name, NULL))
		fail_msg("%s has no %s", path, name);
}

/* Property `name` of `path` as big-endian cells of `cell_bytes` (4 or 8), compared with want[n]. */
static void assert_cells(const void *fdt, const char *path, const char *name, unsigned int cell_bytes,
			 const uint64_t *want, unsigned int n)
{
	int len;
	const uint8_t *v = fdt_getprop(fdt, node(fdt, path), name, &len);

	if (!v)
		fail_msg("%s has no %s", path, name);
	assert_int_equal(len, n * cell_bytes);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t cell = 0;

		for (unsigned int b = 0; b < cell_bytes; b++)
			cell = cell << 8 | v[i * cell_bytes + b];
		assert_int_equal(cell, want[i]);
	}
}

static void tree_has_what_linux_needs(void **state)
{
	void *fdt = build(&two_cpus);
	const uint64_t root_cells[] = { 2 }, gic[] = { 1 };
	const uint64_t memory[] = { ARM64_RAM_BASE, 256 * MIB };
	const uint64_t initrd_start[] = { ARM64_RAM_BASE + 200 * MIB };
	const uint64_t initrd_end[] = { ARM64_RAM_BASE + 200 * MIB + 12345 };
	const uint64_t gic_reg[] = { ARM64_GIC_DIST_BASE, ARM64_GIC_DIST_SIZE, ARM64_GIC_REDIST_BASE,
				     2 * ARM64_GIC_REDIST_SIZE_PER_CPU };
	const uint64_t timer_irqs[] = { 1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8 };
	const uint64_t uart_reg[] = { ARM64_UART_BASE, ARM64_UART_SPAN }, uart_irq[] = { 0, ARM64_UART_SPI, 4 };
	const uint64_t cpu1[] = { 1 }, three[] = { 3 };
	int len;
	const char *stdout_path;

	(void)state;
	assert_string_prop(fdt, "/", "compatible", "linux,dummy-virt");
	assert_cells(fdt, "/", "#address-cells", 4, root_cells, 1);
	assert_cells(fdt, "/", "#size-cells", 4, root_cells, 1);
	assert_cells(fdt, "/", "interrupt-parent", 4, gic, 1);

	assert_string_prop(fdt, "/chosen", "bootargs", "console=ttyS0 quiet");
	assert_cells(fdt, "/chosen", "linux,initrd-start", 8, initrd_start, 1);
	assert_cells(fdt, "/chosen", "linux,initrd-end", 8, initrd_end, 1);
	/* stdout-path names a node that exists, and it is the 16550. */
	stdout_path = fdt_getprop(fdt, node(fdt, "/chosen"), "stdout-path", &len);
	assert_non_null(stdout_path);
	assert_string_prop(fdt, stdout_path, "compatible", "ns16550a");

	assert_string_prop(fdt, "/memory@80000000", "device_type", "memory");
	assert_cells(fdt, "/memory@80000000", "reg", 8, memory, 2);

	assert_string_prop(fdt, "/cpus/cpu@0", "enable-method", "psci");
	assert_string_prop(fdt, "/cpus/cpu@1", "enable-method", "psci");
	assert_string_prop(fdt, "/cpus/cpu@1", "device_type", "cpu");
	assert_cells(fdt, "/cpus/cpu@1", "reg", 4, cpu1, 1);
	assert_int_equal(fdt_path_offset(fdt, "/cpus/cpu@2"), -FDT_ERR_NOTFOUND);
	assert_string_prop(fdt, "/psci", "compatible", "arm,psci-0.2");
	assert_string_prop(fdt, "/psci", "method", "hvc");

	assert_string_prop(fdt, "/intc@8000000", "compatible", "arm,gic-v3");
	assert_present(fdt, "/intc@8000000", "interrupt-controller");
	assert_cells(fdt, "/intc@8000000", "#interrupt-cells", 4, three, 1);
	assert_cells(fdt, "/intc@8000000", "phandle", 4, gic, 1);
	assert_cells(fdt, "/intc@8000000", "reg", 8, gic_reg, 4);

	assert_string_prop(fdt, "/timer", "compatible", "arm,armv8-timer");
	assert_cells(fdt, "/timer", "interrupts", 4, timer_irqs, 12);

	assert_cells(fdt, "/uart@9000000", "reg", 8, uart_reg, 2);
	assert_cells(fdt, "/uart@9000000", "interrupts", 4, uart_irq, 3);
	assert_present(fdt, "/uart@9000000", "clock-frequency");

	/* The PL031 is an AMBA device: both compatibles, and the bus clock it must name. */
	{
		const uint64_t rtc_reg[] = { ARM64_RTC_BASE, 0x1000 }, rtc_irq[] = { 0, ARM64_RTC_SPI, 4 };
		const uint64_t clock[] = { 2 };
		static const char compatible[] = "arm,pl031\0arm,primecell";
		const char *v = fdt_getprop(fdt, node(fdt, "/pl031@9010000"), "compatible", &len);

		assert_non_null(v);
		assert_int_equal(len, sizeof(compatible));
		assert_memory_equal(v, compatible, sizeof(compatible));
		assert_cells(fdt, "/pl031@9010000", "reg", 8, rtc_reg, 2);
		assert_cells(fdt, "/pl031@9010000", "interrupts", 4, rtc_irq, 3);
		assert_cells(fdt, "/pl031@9010000", "clocks", 4, clock, 1);
		assert_string_prop(fdt, "/pl031@9010000", "clock-names", "apb_pclk");
		assert_string_prop(fdt, "/apb-pclk", "compatible", "fixed-clock");
		assert_cells(fdt, "/apb-pclk", "phandle", 4, clock, 1);
		assert_present(fdt, "/apb-pclk", "clock-frequency");
	}

	for (unsigned int i = 0; i < 2; i++) {
		char path[64];
		const uint64_t reg[] = { two_devices[i].base, 0x200 };
		const uint64_t irq[] = { 0, two_devices[i].spi, 1 };

		snprintf(path, sizeof(path), "/virtio_mmio@%llx", (unsigned long long)two_devices[i].base);
		assert_string_prop(fdt, path, "compatible", "virtio,mmio");
		assert_cells(fdt, path, "reg", 8, reg, 2);
		assert_cells(fdt, path, "interrupts", 4, irq, 3);
		assert_present(fdt, path, "dma-coherent");
	}
	free(fdt);
}

static void no_initrd_no_initrd_properties(void **state)
{
	struct arm64_fdt_config c = two_cpus;
	void *fdt;

	(void)state;
	c.initrd_start = c.initrd_end = 0;
	fdt = build(&c);
	assert_null(fdt_getprop(fdt, node(fdt, "/chosen"), "linux,initrd-start", NULL));
	assert_null(fdt_getprop(fdt, node(fdt, "/chosen"), "linux,initrd-end", NULL));
	free(fdt);
}

/* The most the library builds fits the bound; a buffer too small fails cleanly. */
static void size_bound_holds_at_the_limits(void **state)
{
	static struct arm64_fdt_device many[32];
	static char bootargs[ARM64_CMDLINE_MAX];
	struct arm64_fdt_config c = two_cpus;
	void *fdt;
	char buf[512];

	(void)state;
	for (unsigned int i = 0; i < 32; i++)
		many[i] = (struct arm64_fdt_device){ .base = ARM64_VIRTIO_MMIO_BASE + i * 0x200ULL,
						     .size = 0x200, .spi = ARM64_VIRTIO_FIRST_SPI + i };
	memset(bootargs, 'x', sizeof(bootargs) - 1);
	c.nvcpus = 64;
	c.nvirtio = 32;
	c.virtio = many;
	c.bootargs = bootargs;
	fdt = build(&c);
	assert_int_equal(fdt_path_offset(fdt, "/cpus/cpu@30f") >= 0, 1); /* vCPU 63: cluster 3, core 15 */
	free(fdt);
	assert_int_equal(arm64_fdt_build(&two_cpus, buf, sizeof(buf)), -ENOSPC);
}

static void mpidr_follows_kvm(void **state)
{
	(void)state;
	assert_int_equal(arm64_vcpu_mpidr(0), 0);
	assert_int_equal(arm64_vcpu_mpidr(15), 0xf);
	assert_int_equal(arm64_vcpu_mpidr(16), 0x100);
	assert_int_equal(arm64_vcpu_mpidr(63), 0x30f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(image_loads_at_text_offset),
		cmocka_unit_test(malformed_images_refused),
		cmocka_unit_test(tree_has_what_linux_needs),
		cmocka_unit_test(no_initrd_no_initrd_properties),
		cmocka_unit_test(size_bound_holds_at_the_limits),
		cmocka_unit_test(mpidr_follows_kvm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
