/*
 * The snapshot file: its header, and the framing of the state records that
 * follow it. doc/snapshot-format.md is the specification; this is its one
 * encoder/decoder. A snapshot being loaded is untrusted input (truncated,
 * corrupted or hand-crafted), so every decoder here checks each length and
 * offset before using it, allocates nothing from a size it has not bounded,
 * and fails with -errno and one sentence in error_get() that starts with
 * "snapshot" (the caller puts the path in front).
 *
 * Layout: page 0 is the header; the state section (records) starts at
 * state_offset; the memory section (lib/snapshot/memory_image.h) at the
 * page-aligned memory_offset after it. Everything is little-endian on disk.
 *
 * Nothing here keeps global state; every function is safe to call from any
 * thread on objects that thread owns.
 */
#ifndef AGENTVM_SNAPSHOT_FORMAT_H
#define AGENTVM_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "util/le.h"

#define SNAPSHOT_MAGIC "AGVMSNAP" /* 8 bytes at offset 0, no NUL */
#define SNAPSHOT_MAGIC_SIZE 8
#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_HEADER_SIZE 4096
#define SNAPSHOT_PAGE_SIZE 4096
/* Where a raw memory section starts: huge-page aligned, see snapshot_save.c. */
#define SNAPSHOT_MEMORY_ALIGN (2u << 20)
#define SNAPSHOT_MAX_STATE (64u << 20)        /* bigger state sections are refused */
#define SNAPSHOT_MAX_MEMORY (64ull << 30)
/* Bounds the index snapshot_state_parse() allocates; hundreds of vCPUs need a few thousand. */
#define SNAPSHOT_MAX_RECORDS 65536u
#define SNAPSHOT_CPU_WORDS 16

/* The numbers are the file format: never renumber or reuse one. */
enum snapshot_arch {
	SNAPSHOT_ARCH_X86_64 = 1,
	SNAPSHOT_ARCH_AARCH64 = 2,
};

#if defined(__x86_64__)
#define SNAPSHOT_ARCH_HOST SNAPSHOT_ARCH_X86_64
#elif defined(__aarch64__)
#define SNAPSHOT_ARCH_HOST SNAPSHOT_ARCH_AARCH64
#else
#error "snapshots are made on x86_64 and aarch64 hosts only"
#endif

/* Header flags. */
#define SNAPSHOT_MEMORY_COMPRESSED 0x1u /* the memory section is zlib-compressed, else raw */

/* The header, decoded (host-endian). */
struct snapshot_header {
	uint32_t version; /* SNAPSHOT_FORMAT_VERSION */
	uint32_t arch;    /* enum snapshot_arch */
	uint32_t flags;   /* SNAPSHOT_MEMORY_* */
	uint64_t state_offset, state_size;
	uint32_t state_crc; /* zlib crc32 of the state section */
	uint64_t memory_offset;
	uint64_t memory_size;   /* guest RAM bytes, a multiple of SNAPSHOT_PAGE_SIZE, > 0 */
	uint64_t memory_stored; /* bytes of the memory section in the file; == memory_size when raw */
	uint32_t cpu_features[SNAPSHOT_CPU_WORDS]; /* opaque here: an architecture's CPU feature summary */
};

/*
 * Lay out page 0: the magic, h's fields as they are (version included, so a
 * test can write any; nothing is checked, that is decode's job), the header
 * size, the header CRC, and zeroes up to SNAPSHOT_HEADER_SIZE.
 */
void snapshot_header_encode(const struct snapshot_header *h, uint8_t out[SNAPSHOT_HEADER_SIZE]);

/*
 * Check page 0 of a file of file_size bytes and decode it into *out (written
 * only on success). Afterwards the state section and the memory section's
 * stored bytes lie inside the file, in that order, without overlap, within
 * the SNAPSHOT_MAX_* limits, and no sum of an offset and a size overflows.
 *   -EINVAL          not a snapshot (wrong magic);
 *   -EPROTONOSUPPORT another format version, or flags this version lacks;
 *   -ENOEXEC         made on another architecture;
 *   -EBADMSG         corrupted or inconsistent: header CRC, nonzero padding,
 *                    an offset or size misaligned, overlapping, over a limit
 *                    or overflowing, or a file shorter than the sections.
 */
int snapshot_header_decode(const uint8_t in[SNAPSHOT_HEADER_SIZE], uint64_t file_size,
			   struct snapshot_header *out);

/* The state_size bytes of the state section against h->state_crc: 0 or -EBADMSG. */
int snapshot_state_check(const struct snapshot_header *h, const uint8_t *state);

/* ---- State records ----
 *
 * The state section is a sequence of records, each le32 tag, le32 index,
 * le64 length, `length` bytes, then zero padding to a multiple of 8. Tags
 * and payloads belong to the code that writes them (vmm/snapshot_records.h);
 * index tells instances of one tag apart (vCPU number, disk number). A
 * (tag, index) pair occurs at most once.
 */
#define SNAPSHOT_RECORD_HEADER_SIZE 16

/*
 * Records appended to a growing buffer. The first failure sticks in err and
 * turns later puts into no-ops, so a caller checks once at the end; error_get()
 * then says what failed: -ENOMEM, or -EFBIG past SNAPSHOT_MAX_STATE bytes or
 * SNAPSHOT_MAX_RECORDS records (a reader would refuse the file).
 */
struct snapshot_writer {
	uint8_t *buf;
	size_t len, cap;
	int err;
	uint32_t records;
};

void snapshot_writer_init(struct snapshot_writer *w);
/* One record; data may be NULL when len is 0. Putting a (tag, index) twice makes a file parse refuses. */
void snapshot_put(struct snapshot_writer *w, uint32_t tag, uint32_t index, const void *data,
		  size_t len);
/* Free the buffer; the writer may be initialised again. */
void snapshot_writer_release(struct snapshot_writer *w);

struct snapshot_record {
	uint32_t tag, index;
	const uint8_t *data; /* into the parsed buffer */
	uint64_t len;
};

/* A parsed state section: its records sorted by (tag, index). */
struct snapshot_state {
	struct snapshot_record *records;
	size_t count;
};

/*
 * Check the framing of every record in buf (len bytes) and index them.
 * Records must fill buf exactly: each length inside the buffer, zero
 * padding, nothing trailing, no (tag, index) twice, at most
 * SNAPSHOT_MAX_RECORDS. -EBADMSG naming the record's byte position, or
 * -ENOMEM. *s is written only on success and then points into buf, which
 * must outlive it; payloads start 8-aligned relative to buf.
 */
int snapshot_state_parse(struct snapshot_state *s, const uint8_t *buf, size_t len);
/* Free the index (not the buffer); a zeroed snapshot_state may be released too. */
void snapshot_state_release(struct snapshot_state *s);

/* The payload of record (tag, index): 0, or -ENOENT with no message. */
int snapshot_find(const struct snapshot_state *s, uint32_t tag, uint32_t index,
		  const uint8_t **data, uint64_t *len);

/*
 * Copy record (tag, index) into out, which it must fill exactly. -EBADMSG
 * when it is missing ("snapshot lacks <what> ...") or has another size;
 * `what` names it for people ("TSC rate"). out is written only on success.
 */
int snapshot_get(const struct snapshot_state *s, uint32_t tag, uint32_t index, void *out,
		 size_t len, const char *what);

#endif
