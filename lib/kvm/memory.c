#define _GNU_SOURCE
#include "kvm/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file.h"

#define PAGE_4K 4096ULL
#define PAGE_MASK_4K 0xfffULL
/* /proc/self/pagemap: one little-endian u64 per virtual page of the host. */
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)
#define PAGEMAP_FILE (1ULL << 61) /* a file page, or shared anonymous memory */
/* Entries read per pread: 512 KiB, 256 MiB of RAM with 4 KiB host pages. */
#define PAGEMAP_BATCH 65536

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

/* Whether the host gives a MADV_HUGEPAGE shared mapping huge pages: shmem_enabled's [choice]. */
static bool shmem_huge_pages_granted(void)
{
	static const char *const granting[] = { "[always]", "[within_size]", "[advise]", "[force]" };
	char setting[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");

	if (f) {
		if (!fgets(setting, sizeof(setting), f))
			setting[0] = '\0';
		fclose(f);
	}
	for (size_t i = 0; i < sizeof(granting) / sizeof(granting[0]); i++)
		if (strstr(setting, granting[i]))
			return true;
	return false;
}

int guest_memory_create(struct guest_memory *mem, const struct memory_region *layout,
			unsigned int nregions)
{
	uint64_t total;
	int err;

	mem->fd = mem->file_fd = -1;
	mem->huge_pages = false;
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
	/*
	 * Ask for transparent huge pages, as QEMU does for its RAM: the guest's
	 * page walks and KVM's faults then cover 2 MiB at a time (a cold boot
	 * took 0.69x the time in the test host). For shared memory the host's
	 * /sys/kernel/mm/transparent_hugepage/shmem_enabled decides: "advise"
	 * honours this, the usual "never" ignores it. Not fatal either way.
	 */
	if (!err)
		mem->huge_pages = madvise(mem->host, total, MADV_HUGEPAGE) == 0 && shmem_huge_pages_granted();
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

	mem->fd = mem->file_fd = -1;
	mem->huge_pages = false;
	err = layout_total(layout, nregions, &total);
	if (err)
		return err;
	mem->file_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (mem->file_fd < 0)
		return error_set_errno(-errno, "cannot duplicate the guest memory's file descriptor %d", fd);
	mem->file_offset = offset;
	err = memory_map(mem, layout, nregions, total, fd, offset, MAP_PRIVATE);
	if (err) {
		close(mem->file_fd);
		mem->file_fd = -1;
	}
	return err;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	if (mem->host)
		munmap(mem->host, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	if (mem->file_fd >= 0)
		close(mem->file_fd);
	mem->host = NULL;
	mem->fd = mem->file_fd = -1;
	mem->nregions = 0;
}

/* ---- Pages that may hold data ---- */

/* Set bits [first, end) of bitmap: whole bytes at once, RAM can be millions of pages. */
static void bits_set(uint8_t *bitmap, uint64_t first, uint64_t end)
{
	for (; first < end && first % 8; first++)
		bitmap[first / 8] |= (uint8_t)(1u << (first % 8));
	if (end - first >= 8) {
		memset(bitmap + first / 8, 0xff, (size_t)((end - first) / 8));
		first += (end - first) & ~7ULL;
	}
	for (; first < end; first++)
		bitmap[first / 8] |= (uint8_t)(1u << (first % 8));
}

/* Set the bits of the pages of fd's [offset, offset + size) that hold data; holes stay clear. */
static int file_data_pages(int fd, uint64_t offset, uint64_t size, uint8_t *bitmap)
{
	uint64_t end = offset + size;
	off_t data, hole;

	for (uint64_t pos = offset; pos < end; pos = (uint64_t)hole) {
		data = lseek(fd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			return 0;
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return error_set_errno(-errno, "cannot find the holes of the guest memory's file");
		if ((uint64_t)data >= end)
			return 0;
		/* A page with any data in it may hold data: the extent is rounded out to whole pages. */
		bits_set(bitmap, ((uint64_t)data - offset) / PAGE_4K,
			 (((uint64_t)hole < end ? (uint64_t)hole : end) - offset + PAGE_MASK_4K) / PAGE_4K);
	}
	return 0;
}

bool guest_memory_page_kinds(const struct guest_memory *mem, guest_page_fn fn, void *arg)
{
	uint64_t host_page = (uint64_t)sysconf(_SC_PAGESIZE), per = host_page / PAGE_4K;
	uint64_t pages = mem->size / PAGE_4K, entries = (pages + per - 1) / per;
	uint64_t first = (uintptr_t)mem->host / host_page;
	uint64_t *batch = malloc(PAGEMAP_BATCH * sizeof(*batch));
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok = batch && fd >= 0;

	for (uint64_t at = 0; ok && at < entries; at += PAGEMAP_BATCH) {
		uint64_t n = entries - at < PAGEMAP_BATCH ? entries - at : PAGEMAP_BATCH;

		ok = file_read_at(fd, batch, n * sizeof(*batch), (first + at) * sizeof(*batch)) == 0;
		for (uint64_t i = 0; ok && i < n; i++) {
			uint64_t e = batch[i], end = (at + i + 1) * per < pages ? (at + i + 1) * per : pages;
			/* A private copy is anonymous: in RAM or swapped out, never file-backed. */
			enum guest_page_kind kind = !(e & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) ? GUEST_PAGE_UNMAPPED
						    : (e & PAGEMAP_PRESENT) && (e & PAGEMAP_FILE) ? GUEST_PAGE_FILE
						    : GUEST_PAGE_PRIVATE;

			ok = fn((at + i) * per, end, kind, arg);
		}
	}
	if (fd >= 0)
		close(fd);
	free(batch);
	return ok;
}

static bool mark_mapped(uint64_t first, uint64_t end, enum guest_page_kind kind, void *bitmap)
{
	if (kind != GUEST_PAGE_UNMAPPED)
		bits_set(bitmap, first, end);
	return true;
}

int guest_memory_data_pages(const struct guest_memory *mem, uint8_t **out)
{
	uint64_t pages = mem->size / PAGE_4K;
	uint8_t *bitmap = calloc(1, (size_t)((pages + 7) / 8));
	int err;

	if (!bitmap)
		return error_set(-ENOMEM, "out of memory for a bitmap of %llu guest pages",
				 (unsigned long long)pages);
	if (mem->fd >= 0) {
		err = file_data_pages(mem->fd, 0, mem->size, bitmap);
	} else {
		err = file_data_pages(mem->file_fd, mem->file_offset, mem->size, bitmap);
		/*
		 * A page the guest wrote (or KVM for it) is a private copy, which keeps its
		 * entry for as long as it is mapped; pages only read are set too, which costs
		 * little: they are resident already. Without pagemap any page may have been
		 * written: correct, only slower.
		 */
		if (!err && !guest_memory_page_kinds(mem, mark_mapped, bitmap))
			bits_set(bitmap, 0, pages);
	}
	if (err) {
		free(bitmap);
		return err;
	}
	*out = bitmap;
	return 0;
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

int guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, size_t len)
{
	uint8_t *dst = guest_memory_ptr(mem, gpa, len);
	int err;

	if (!dst)
		return error_set(-EINVAL, "0x%llx bytes at guest address 0x%llx are outside guest memory",
				 (unsigned long long)len, (unsigned long long)gpa);
	/*
	 * Where huge pages back the memfd, copying through the mapping faults in
	 * 2 MiB at a time and was ~2x faster than pwrite(), which allocates 4 KiB
	 * pages, for a kernel's 18 MB in the test host.
	 */
	if (mem->fd < 0 || mem->huge_pages) {
		memcpy(dst, src, len);
		return 0;
	}
	/* The memfd maps at mem->host, so a host address's distance from it is the file offset. */
	err = file_write_at(mem->fd, src, len, (uint64_t)(dst - mem->host));
	if (err)
		return error_set(-EIO, "cannot write 0x%llx bytes at guest address 0x%llx: %s",
				 (unsigned long long)len, (unsigned long long)gpa, strerror(-err));
	return 0;
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
