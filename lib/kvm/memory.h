/*
 * Guest RAM: one memfd, mapped once into the VMM, presented to the guest as
 * up to a few physical ranges (x86 leaves a hole below 4 GiB for devices).
 * A memfd rather than anonymous memory so that snapshot and clone can map
 * the same pages elsewhere later.
 */
#ifndef AGENTVM_KVM_MEMORY_H
#define AGENTVM_KVM_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 2

struct memory_region {
	uint64_t gpa;   /* guest-physical start */
	uint64_t size;
	uint8_t *host;  /* where the VMM sees it; filled by guest_memory_create() */
};

struct guest_memory {
	int fd;
	uint8_t *host;
	uint64_t size;
	unsigned int nregions;
	struct memory_region regions[GUEST_MEMORY_MAX_REGIONS];
};

/*
 * Create RAM for `nregions` guest-physical ranges (sizes page-aligned, ranges
 * ascending and disjoint). Pages are not touched.
 */
int guest_memory_create(struct guest_memory *mem, const struct memory_region *layout,
			unsigned int nregions);
void guest_memory_destroy(struct guest_memory *mem);

/*
 * Host pointer for [gpa, gpa+len) if that range lies wholly inside one RAM
 * region, else NULL. Every guest-supplied address goes through here.
 */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Register every region with a KVM VM as memory slots 0..n-1. */
int guest_memory_register(const struct guest_memory *mem, int vm_fd);

#endif
