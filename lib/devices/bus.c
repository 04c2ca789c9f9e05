#include "devices/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void bus_init(struct bus *bus)
{
	bus->ranges = NULL;
	bus->count = 0;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus_init(bus);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t size, const struct bus_device_ops *ops,
		 void *opaque)
{
	struct bus_range *grown;
	unsigned int at = 0;

	if (size == 0 || base + size < base)
		return error_set(-EINVAL, "bus range at 0x%llx has a bad size 0x%llx",
				 (unsigned long long)base, (unsigned long long)size);
	while (at < bus->count && bus->ranges[at].base < base)
		at++;
	if ((at > 0 && bus->ranges[at - 1].base + bus->ranges[at - 1].size > base) ||
	    (at < bus->count && base + size > bus->ranges[at].base))
		return error_set(-EBUSY, "bus range 0x%llx+0x%llx overlaps a device",
				 (unsigned long long)base, (unsigned long long)size);

	grown = realloc(bus->ranges, (bus->count + 1) * sizeof(*grown));
	if (!grown)
		return error_set(-ENOMEM, "out of memory registering a device");
	bus->ranges = grown;
	memmove(&grown[at + 1], &grown[at], (bus->count - at) * sizeof(*grown));
	grown[at] = (struct bus_range){ .base = base, .size = size, .ops = ops, .opaque = opaque };
	bus->count++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	unsigned int lo = 0, hi = bus->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->size) {
			lo = mid + 1;
		} else {
			/* An access straddling the end of a device is not that device's. */
			return len <= r->size - (addr - r->base) ? r : NULL;
		}
	}
	return NULL;
}

int bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len)
{
	const struct bus_range *r = bus_find(bus, addr, len);

	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		return 0;
	}
	r->ops->read(r->opaque, addr - r->base, data, len);
	return 1;
}

int bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len)
{
	const struct bus_range *r = bus_find(bus, addr, len);

	if (!r || !r->ops->write)
		return 0;
	r->ops->write(r->opaque, addr - r->base, data, len);
	return 1;
}
