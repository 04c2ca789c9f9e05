/*
 * A snapshot's memory section: guest RAM, a flat buffer of whole
 * SNAPSHOT_PAGE_SIZE pages, either raw (each page at its own position, pages
 * of zeroes left as file holes, so a restore maps the section copy-on-write)
 * or compressed (a page bitmap and one zlib stream of the non-zero pages,
 * inflated into fresh RAM). doc/snapshot-format.md specifies both.
 *
 * Both directions stream through bounded buffers: nothing is allocated in
 * proportion to RAM but the compressed section's bitmap (one bit a page).
 * Errors: -errno with error_get() set; -EINVAL for a caller's bad arguments,
 * -EBADMSG for a section that is malformed, -ENOMEM, or the I/O's errno.
 */
#ifndef AGENTVM_SNAPSHOT_MEMORY_IMAGE_H
#define AGENTVM_SNAPSHOT_MEMORY_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Write `size` bytes of RAM (a multiple of SNAPSHOT_PAGE_SIZE, at most
 * SNAPSHOT_MAX_MEMORY) as the memory section at `offset` (page-aligned) of
 * fd, which must be a regular file the section ends: anything at or past
 * `offset` is truncated first. data_pages, one bit per page of ram (bit
 * i % 8 of byte i / 8 for page i), says which pages may hold data: pages
 * whose bit is clear are zero and are never read, since reading them may
 * allocate them (guest_memory_data_pages() makes it); set ones are still
 * checked for zeroes. NULL reads every page. *stored is the section's length
 * in the file (== size when raw). The RAM must not change meanwhile (the
 * vCPUs are paused).
 */
int snapshot_memory_write(int fd, uint64_t offset, const uint8_t *ram, uint64_t size,
			  const uint8_t *data_pages, bool compress, uint64_t *stored);

/*
 * Inflate the compressed section of `stored` bytes at `offset` of fd into
 * ram, `size` bytes that are all zero: only the pages the section holds are
 * written. -EBADMSG if the section is malformed in any way (another page
 * count, a bad bitmap CRC, a stream that is corrupted, ends early, holds more
 * than its pages or leaves bytes over); ram may then be partly written.
 */
int snapshot_memory_inflate(int fd, uint64_t offset, uint64_t stored, uint8_t *ram,
			    uint64_t size);

#endif
