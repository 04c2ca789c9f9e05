/*
 * The device tree an arm64 guest boots with, built from a plain description
 * so that a unit test can check it without KVM: memory, the vCPUs (started
 * through PSCI), the GICv3, the architected timer, the console UART, the
 * PL031 clock (with the bus clock AMBA devices need), every
 * virtio-mmio device with its interrupt, and /chosen (command line, initrd,
 * console). Addresses and interrupts other than RAM and the virtio slots
 * come from layout.h.
 */
#ifndef AGENTVM_ARCH_AARCH64_FDT_H
#define AGENTVM_ARCH_AARCH64_FDT_H

#include <stddef.h>
#include <stdint.h>

struct arm64_fdt_device {
	uint64_t base, size;
	uint32_t spi; /* its interrupt, counted from the first SPI (the GIC's INTID 32) */
};

struct arm64_fdt_config {
	uint64_t ram_base, ram_size;
	unsigned int nvcpus;
	const char *bootargs;
	uint64_t initrd_start, initrd_end; /* equal: no initrd */
	unsigned int nvirtio;
	const struct arm64_fdt_device *virtio;
};

/* Bytes a flattened tree needs at most for `nvcpus` and `nvirtio` devices and `bootargs_len` bytes of command line. */
size_t arm64_fdt_size_bound(unsigned int nvcpus, unsigned int nvirtio, size_t bootargs_len);

/* Write the flattened tree into buf (size bytes): 0, or -ENOSPC/-EINVAL with the message set. */
int arm64_fdt_build(const struct arm64_fdt_config *c, void *buf, size_t size);

/* The MPIDR affinity KVM gives vCPU `index`: the cpu node's reg, and the redistributor's key. */
uint64_t arm64_vcpu_mpidr(unsigned int index);

#endif
