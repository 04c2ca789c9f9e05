/*
 * Guest RAM: one memfd, or a snapshot's memory mapped copy-on-write, mapped
 * once into the VMM and presented to the guest as up to a few physical ranges
 * (x86 leaves a hole below 4 GiB for devices). A memfd rather than anonymous
 * memory so that a snapshot finds the never-touched pages (SEEK_HOLE) without
 * reading them.
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
/*
 * RAM that starts as a copy of `fd` from `offset` (a snapshot's memory):
 * mapped MAP_PRIVATE, so pages are read from the file when the guest first
 * touches them, stay shared with every other VM mapping the same file until
 * written, and writes never reach the file. mem->fd stays -1; the mapping
 * keeps the file open.
 */
int guest_memory_map_private(struct guest_memory *mem, const struct memory_region *layout,
			     unsigned int nregions, int fd, uint64_t offset);
void guest_memory_destroy(struct guest_memory *mem);

/*
 * Host pointer for [gpa, gpa+len) if that range lies wholly inside one RAM
 * region, else NULL. Every guest-supplied address goes through here.
 */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Register every region with a KVM VM as memory slots 0..n-1. */
int guest_memory_register(const struct guest_memory *mem, int vm_fd);

#endif
