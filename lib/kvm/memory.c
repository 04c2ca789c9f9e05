#define _GNU_SOURCE
#include "kvm/memory.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/error.h"

#define PAGE_MASK_4K 0xfffULL

static int layout_check(const struct memory_region *layout, unsigned int nregions)
{
	uint64_t end = 0;

	if (nregions == 0 || nregions > GUEST_MEMORY_MAX_REGIONS)
		return error_set(-EINVAL, "guest memory needs 1 to %d regions, not %u",
				 GUEST_MEMORY_MAX_REGIONS, nregions);
	for (unsigned int i = 0; i < nregions; i++) {
		if (!layout[i].size || (layout[i].gpa | layout[i].size) & PAGE_MASK_4K)
			return error_set(-EINVAL, "guest memory region %u is empty or not page-aligned", i);
		if (layout[i].gpa < end || layout[i].gpa + layout[i].size < layout[i].gpa)
			return error_set(-EINVAL, "guest memory region %u overlaps or wraps", i);
		end = layout[i].gpa + layout[i].size;
	}
	return 0;
}

/* Map `fd` from `offset` as the guest's RAM laid out as `layout`; fills everything but mem->fd. */
static int memory_map(struct guest_memory *mem, const struct memory_region *layout,
		      unsigned int nregions, uint64_t total, int fd, uint64_t offset, int share)
{
	uint64_t at = 0;

	/* MAP_NORESERVE: a guest that never touches its RAM costs nothing. */
	mem->host = mmap(NULL, total, PROT_READ | PROT_WRITE, share | MAP_NORESERVE, fd,
			 (off_t)offset);
	if (mem->host == MAP_FAILED) {
		mem->host = NULL;
		return error_set_errno(-errno, "cannot map %llu bytes of guest memory",
				       (unsigned long long)total);
	}
	mem->size = total;
	mem->nregions = nregions;
	for (unsigned int i = 0; i < nregions; i++) {
		mem->regions[i] = layout[i];
		mem->regions[i].host = mem->host + at;
		at += layout[i].size;
	}
	return 0;
}

static int layout_total(const struct memory_region *layout, unsigned int nregions,
			uint64_t *total)
{
	int err = layout_check(layout, nregions);

	*total = 0;
	for (unsigned int i = 0; !err && i < nregions; i++)
		*total += layout[i].size;
	return err;
}

int guest_memory_create(struct guest_memory *mem, const struct memory_region *layout,
			unsigned int nregions)
{
	uint64_t total;
	int err;

	mem->fd = -1;
	err = layout_total(layout, nregions, &total);
	if (err)
		return err;
	mem->fd = memfd_create("agentvm-guest-ram", MFD_CLOEXEC);
	if (mem->fd < 0)
		return error_set_errno(-errno, "cannot create guest memory");
	if (ftruncate(mem->fd, (off_t)total) < 0)
		err = error_set_errno(-errno, "cannot size guest memory to %llu bytes",
				      (unsigned long long)total);
	if (!err)
		err = memory_map(mem, layout, nregions, total, mem->fd, 0, MAP_SHARED);
	if (err) {
		close(mem->fd);
		mem->fd = -1;
	}
	return err;
}

int guest_memory_map_private(struct guest_memory *mem, const struct memory_region *layout,
			     unsigned int nregions, int fd, uint64_t offset)
{
	uint64_t total;
	int err;

	mem->fd = -1;
	err = layout_total(layout, nregions, &total);
	if (!err)
		err = memory_map(mem, layout, nregions, total, fd, offset, MAP_PRIVATE);
	return err;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	if (mem->host)
		munmap(mem->host, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	mem->host = NULL;
	mem->fd = -1;
	mem->nregions = 0;
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct memory_region *r = &mem->regions[i];

		/* Written so that no sum can overflow whatever the guest passes. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int guest_memory_register(const struct guest_memory *mem, int vm_fd)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = mem->regions[i].gpa,
			.memory_size = mem->regions[i].size,
			.userspace_addr = (uintptr_t)mem->regions[i].host,
		};

		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return error_set_errno(-errno, "KVM_SET_USER_MEMORY_REGION slot %u", i);
	}
	return 0;
}
