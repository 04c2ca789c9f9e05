/*
 * Guest RAM: one memfd, or a snapshot's memory mapped copy-on-write, mapped
 * once into the VMM and presented to the guest as up to a few physical ranges
 * (x86 leaves a hole below 4 GiB for devices). A memfd rather than anonymous
 * memory so that a snapshot finds the never-touched pages (SEEK_HOLE) without
 * reading them; in a copy-on-write mapping they are the file's holes that the
 * guest never wrote.
 */
#ifndef AGENTVM_KVM_MEMORY_H
#define AGENTVM_KVM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 2

struct memory_region {
	uint64_t gpa;   /* guest-physical start */
	uint64_t size;
	uint8_t *host;  /* where the VMM sees it; filled by guest_memory_create() */
};

struct guest_memory {
	int fd;               /* guest_memory_create()'s memfd, else -1 */
	bool huge_pages;      /* the host backs the memfd with transparent huge pages */
	int file_fd;          /* guest_memory_map_private()'s copy of the file's fd, else -1 */
	uint64_t file_offset; /* where RAM starts in that file */
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
 * written, and writes never reach the file. mem->fd stays -1; mem->file_fd is
 * a close-on-exec duplicate of fd (sharing its file position), kept for
 * guest_memory_data_pages(). The caller may close fd.
 */
int guest_memory_map_private(struct guest_memory *mem, const struct memory_region *layout,
			     unsigned int nregions, int fd, uint64_t offset);
void guest_memory_destroy(struct guest_memory *mem);

/*
 * Which 4 KiB pages of RAM may hold data, so that a snapshot reads no other:
 * reading a page where the RAM's file has a hole would allocate it, in the
 * memfd or in the snapshot file every clone shares. *out is a malloc'd
 * bitmap, one bit per page of mem->host[0, mem->size) (bit i % 8 of byte i / 8
 * for page i), set where the page may hold data (it may still be zero), clear
 * where it reads as zero. The RAM must not change meanwhile (the vCPUs are
 * paused); the file position of mem->fd or mem->file_fd moves. -ENOMEM, or
 * the errno of finding the file's holes; *out is set only on success.
 */
int guest_memory_data_pages(const struct guest_memory *mem, uint8_t **out);

/* What this process's page tables hold for a page of RAM (/proc/self/pagemap). */
enum guest_page_kind {
	GUEST_PAGE_UNMAPPED, /* no entry: never touched through this mapping */
	GUEST_PAGE_FILE,     /* the mapped file's own page, as read */
	GUEST_PAGE_PRIVATE,  /* a private copy (written), in RAM or swapped out */
};

/* Called per host page: 4 KiB pages [first, end) of RAM are of `kind`; false stops the walk. */
typedef bool (*guest_page_fn)(uint64_t first, uint64_t end, enum guest_page_kind kind, void *arg);

/*
 * Walk RAM's pages in order, as /proc/self/pagemap shows them. False when
 * pagemap cannot be read (or there is no memory to read it into) or fn
 * stopped the walk.
 */
bool guest_memory_page_kinds(const struct guest_memory *mem, guest_page_fn fn, void *arg);

/*
 * Host pointer for [gpa, gpa+len) if that range lies wholly inside one RAM
 * region, else NULL. Every guest-supplied address goes through here.
 */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/*
 * Copy len bytes from src into RAM at gpa (the range checked as by
 * guest_memory_ptr()). Into a memfd of 4 KiB pages this is one pwrite(): the
 * kernel allocates the pages as it writes, instead of the VMM faulting in its
 * mapping page by page, which a nested test host makes cost ~0.1 ms per
 * 4 KiB; with huge pages it is a copy through the mapping, one fault per
 * 2 MiB. 0, -EINVAL (outside RAM) or -EIO, with the message set.
 */
int guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, size_t len);

/* Register every region with a KVM VM as memory slots 0..n-1. */
int guest_memory_register(const struct guest_memory *mem, int vm_fd);

#endif
