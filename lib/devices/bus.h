/*
 * An address bus: the port I/O space or the MMIO space of one VM. Devices
 * claim disjoint ranges; vCPU exits are dispatched to the device that owns the
 * address, with the offset inside its range. Accesses nobody claims read as
 * all ones and are otherwise ignored, as on real hardware with nothing
 * decoding them: a guest probing for absent hardware must not stop the VM.
 */
#ifndef AGENTVM_DEVICES_BUS_H
#define AGENTVM_DEVICES_BUS_H

#include <stdint.h>

struct bus_device_ops {
	/* `len` is 1, 2, 4 or 8 and `data` holds that many bytes, little-endian. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t size;
	const struct bus_device_ops *ops;
	void *opaque;
};

struct bus {
	struct bus_range *ranges; /* sorted by base, disjoint */
	unsigned int count;
};

void bus_init(struct bus *bus);
void bus_destroy(struct bus *bus);

/* Claim [base, base+size). -EBUSY if it overlaps a claimed range. Not thread-safe: register before vCPUs run. */
int bus_register(struct bus *bus, uint64_t base, uint64_t size, const struct bus_device_ops *ops,
		 void *opaque);

/* Dispatch an access; returns 1 if a device handled it, 0 if nobody owns the address. */
int bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
int bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len);

#endif
