#include "snapshot/format.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/error.h"

/*
 * Where each field sits in page 0 (doc/snapshot-format.md). The magic and the
 * version keep their places in every format version, so that any reader can
 * tell an unknown version from a corrupted file; the rest, the CRC's place
 * included, is version 1's.
 */
enum {
	AT_MAGIC = 0,
	AT_VERSION = 8,
	AT_HEADER_SIZE = 12,
	AT_ARCH = 16,
	AT_FLAGS = 20,
	AT_STATE_OFFSET = 24,
	AT_STATE_SIZE = 32,
	AT_MEMORY_OFFSET = 40,
	AT_MEMORY_SIZE = 48,
	AT_MEMORY_STORED = 56,
	AT_STATE_CRC = 64,
	AT_CPU_FEATURES = 68,
	AT_HEADER_CRC = AT_CPU_FEATURES + 4 * SNAPSHOT_CPU_WORDS,
	HEADER_FIELDS_END = AT_HEADER_CRC + 4,
};

#define KNOWN_FLAGS SNAPSHOT_MEMORY_COMPRESSED
#define PAGE_MASK ((uint64_t)SNAPSHOT_PAGE_SIZE - 1)
#define RECORD_ALIGN 8u

static uint32_t header_crc(const uint8_t *in)
{
	return (uint32_t)crc32_z(crc32_z(0, NULL, 0), in, AT_HEADER_CRC);
}

void snapshot_header_encode(const struct snapshot_header *h, uint8_t out[SNAPSHOT_HEADER_SIZE])
{
	memset(out, 0, SNAPSHOT_HEADER_SIZE);
	memcpy(out + AT_MAGIC, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_SIZE);
	le_store(out + AT_VERSION, h->version, 4);
	le_store(out + AT_HEADER_SIZE, SNAPSHOT_HEADER_SIZE, 4);
	le_store(out + AT_ARCH, h->arch, 4);
	le_store(out + AT_FLAGS, h->flags, 4);
	le_store(out + AT_STATE_OFFSET, h->state_offset, 8);
	le_store(out + AT_STATE_SIZE, h->state_size, 8);
	le_store(out + AT_MEMORY_OFFSET, h->memory_offset, 8);
	le_store(out + AT_MEMORY_SIZE, h->memory_size, 8);
	le_store(out + AT_MEMORY_STORED, h->memory_stored, 8);
	le_store(out + AT_STATE_CRC, h->state_crc, 4);
	for (unsigned int i = 0; i < SNAPSHOT_CPU_WORDS; i++)
		le_store(out + AT_CPU_FEATURES + 4 * i, h->cpu_features[i], 4);
	le_store(out + AT_HEADER_CRC, header_crc(out), 4);
}

static const char *arch_name(uint32_t arch)
{
	switch (arch) {
	case SNAPSHOT_ARCH_X86_64:
		return "x86_64";
	case SNAPSHOT_ARCH_AARCH64:
		return "aarch64";
	default:
		return NULL;
	}
}

/* Zero if the first byte is and each byte equals the next: memcmp's speed, no zero buffer. */
static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/*
 * What identifies the file and says how to read the rest: magic, version,
 * CRC, header size, padding, flags, arch. h holds the fields decoded from in.
 */
static int identity_check(const uint8_t *in, const struct snapshot_header *h, uint64_t file_size)
{
	uint32_t header_size = (uint32_t)le_load(in + AT_HEADER_SIZE, 4);

	if (memcmp(in + AT_MAGIC, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_SIZE) != 0)
		return error_set(-EINVAL, "file is not an agentvm snapshot: it does not start with \"%s\"",
				 SNAPSHOT_MAGIC);
	if (file_size < SNAPSHOT_HEADER_SIZE)
		return error_set(-EBADMSG, "snapshot is truncated: %llu bytes, the header alone is %u",
				 (unsigned long long)file_size, SNAPSHOT_HEADER_SIZE);
	if (h->version != SNAPSHOT_FORMAT_VERSION)
		return error_set(-EPROTONOSUPPORT,
				 "snapshot was written by format version %u; this library reads version %u",
				 h->version, SNAPSHOT_FORMAT_VERSION);
	if ((uint32_t)le_load(in + AT_HEADER_CRC, 4) != header_crc(in))
		return error_set(-EBADMSG, "snapshot's header is corrupted: its CRC does not match");
	if (header_size != SNAPSHOT_HEADER_SIZE)
		return error_set(-EBADMSG, "snapshot's header says it is %u bytes; version %u's is %u",
				 header_size, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_SIZE);
	if (!all_zero(in + HEADER_FIELDS_END, SNAPSHOT_HEADER_SIZE - HEADER_FIELDS_END))
		return error_set(-EBADMSG, "snapshot's header has nonzero bytes after its fields");
	if (h->flags & ~KNOWN_FLAGS)
		return error_set(-EPROTONOSUPPORT,
				 "snapshot uses flags 0x%x that format version %u does not have",
				 h->flags & ~KNOWN_FLAGS, SNAPSHOT_FORMAT_VERSION);
	if (h->arch != SNAPSHOT_ARCH_HOST) {
		if (!arch_name(h->arch))
			return error_set(-ENOEXEC, "snapshot was made on an unknown architecture (%u); this host is %s",
					 h->arch, arch_name(SNAPSHOT_ARCH_HOST));
		return error_set(-ENOEXEC, "snapshot was made on %s; this host is %s",
				 arch_name(h->arch), arch_name(SNAPSHOT_ARCH_HOST));
	}
	return 0;
}

/*
 * Where the sections lie. Sizes are bounded first, so that the sums after
 * them are checked against overflow with one subtraction each.
 */
static int layout_check(const struct snapshot_header *h, uint64_t file_size)
{
	bool compressed = h->flags & SNAPSHOT_MEMORY_COMPRESSED;
	uint64_t memory_bytes = compressed ? h->memory_stored : h->memory_size;

	if (h->state_offset < SNAPSHOT_HEADER_SIZE || h->state_offset % RECORD_ALIGN)
		return error_set(-EBADMSG, "snapshot's state section starts at %llu, not an 8-aligned offset past the header",
				 (unsigned long long)h->state_offset);
	if (h->state_size > SNAPSHOT_MAX_STATE)
		return error_set(-EBADMSG, "snapshot's state section is %llu bytes, over the limit of %u",
				 (unsigned long long)h->state_size, SNAPSHOT_MAX_STATE);
	if (h->memory_size == 0 || h->memory_size & PAGE_MASK || h->memory_size > SNAPSHOT_MAX_MEMORY)
		return error_set(-EBADMSG, "snapshot's memory size %llu is not a whole number of pages between 1 and %llu bytes",
				 (unsigned long long)h->memory_size, SNAPSHOT_MAX_MEMORY);
	if (!compressed && h->memory_stored != h->memory_size)
		return error_set(-EBADMSG, "snapshot's raw memory section is %llu bytes for %llu bytes of memory",
				 (unsigned long long)h->memory_stored,
				 (unsigned long long)h->memory_size);
	if (h->memory_offset & PAGE_MASK || h->state_offset > UINT64_MAX - h->state_size ||
	    h->memory_offset < h->state_offset + h->state_size)
		return error_set(-EBADMSG, "snapshot's memory section starts at %llu, not a page boundary after the state section",
				 (unsigned long long)h->memory_offset);
	if (h->memory_offset > UINT64_MAX - memory_bytes)
		return error_set(-EBADMSG, "snapshot's memory section (%llu bytes at %llu) ends past any file",
				 (unsigned long long)memory_bytes, (unsigned long long)h->memory_offset);
	if (file_size < h->memory_offset + memory_bytes)
		return error_set(-EBADMSG, "snapshot is truncated: %llu bytes, the header says at least %llu",
				 (unsigned long long)file_size,
				 (unsigned long long)(h->memory_offset + memory_bytes));
	return 0;
}

int snapshot_header_decode(const uint8_t in[SNAPSHOT_HEADER_SIZE], uint64_t file_size,
			   struct snapshot_header *out)
{
	struct snapshot_header h = {
		.version = (uint32_t)le_load(in + AT_VERSION, 4),
		.arch = (uint32_t)le_load(in + AT_ARCH, 4),
		.flags = (uint32_t)le_load(in + AT_FLAGS, 4),
		.state_offset = le_load(in + AT_STATE_OFFSET, 8),
		.state_size = le_load(in + AT_STATE_SIZE, 8),
		.state_crc = (uint32_t)le_load(in + AT_STATE_CRC, 4),
		.memory_offset = le_load(in + AT_MEMORY_OFFSET, 8),
		.memory_size = le_load(in + AT_MEMORY_SIZE, 8),
		.memory_stored = le_load(in + AT_MEMORY_STORED, 8),
	};
	int err = identity_check(in, &h, file_size);

	if (!err)
		err = layout_check(&h, file_size);
	if (err)
		return err;
	for (unsigned int i = 0; i < SNAPSHOT_CPU_WORDS; i++)
		h.cpu_features[i] = (uint32_t)le_load(in + AT_CPU_FEATURES + 4 * i, 4);
	*out = h;
	return 0;
}

int snapshot_state_check(const struct snapshot_header *h, const uint8_t *state)
{
	uint32_t crc = (uint32_t)crc32_z(crc32_z(0, NULL, 0), state, (size_t)h->state_size);

	if (crc != h->state_crc)
		return error_set(-EBADMSG, "snapshot's state section is corrupted: its CRC does not match");
	return 0;
}

/* ---- Writer ---- */

/* Bytes of zero padding after a payload of len bytes. */
static size_t padding(uint64_t len)
{
	return (size_t)(-len & (RECORD_ALIGN - 1));
}

void snapshot_writer_init(struct snapshot_writer *w)
{
	*w = (struct snapshot_writer){ 0 };
}

static void writer_fail(struct snapshot_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Room for n more bytes, or false with err set. n is below SNAPSHOT_MAX_STATE. */
static bool reserve(struct snapshot_writer *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 64 * 1024;
	uint8_t *buf;

	while (cap - w->len < n)
		cap *= 2;
	if (cap == w->cap)
		return true;
	buf = realloc(w->buf, cap);
	if (!buf) {
		writer_fail(w, error_set(-ENOMEM, "out of memory for %zu bytes of snapshot state", cap));
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

void snapshot_put(struct snapshot_writer *w, uint32_t tag, uint32_t index, const void *data,
		  size_t len)
{
	size_t room = SNAPSHOT_MAX_STATE - w->len;
	uint8_t *p;

	if (w->err)
		return;
	if (w->records == SNAPSHOT_MAX_RECORDS || room < SNAPSHOT_RECORD_HEADER_SIZE ||
	    len > room - SNAPSHOT_RECORD_HEADER_SIZE ||
	    padding(len) > room - SNAPSHOT_RECORD_HEADER_SIZE - len) {
		writer_fail(w, error_set(-EFBIG, "snapshot state is over its limit of %u records or %u bytes",
					 SNAPSHOT_MAX_RECORDS, SNAPSHOT_MAX_STATE));
		return;
	}
	if (!reserve(w, SNAPSHOT_RECORD_HEADER_SIZE + len + padding(len)))
		return;
	p = w->buf + w->len;
	le_store(p, tag, 4);
	le_store(p + 4, index, 4);
	le_store(p + 8, len, 8);
	p += SNAPSHOT_RECORD_HEADER_SIZE;
	/* memcpy from NULL is undefined even for 0 bytes, and empty records may pass NULL. */
	if (len)
		memcpy(p, data, len);
	memset(p + len, 0, padding(len));
	w->len += SNAPSHOT_RECORD_HEADER_SIZE + len + padding(len);
	w->records++;
}

void snapshot_writer_release(struct snapshot_writer *w)
{
	free(w->buf);
	*w = (struct snapshot_writer){ 0 };
}

/* ---- Parser ---- */

/*
 * Check the record at buf[at] and fill *r; *next is where the one after it
 * starts. `n` counts records for the message.
 */
static int record_frame(const uint8_t *buf, size_t len, size_t at, size_t n,
			struct snapshot_record *r, size_t *next)
{
	size_t left = len - at, body;
	uint64_t length;

	if (left < SNAPSHOT_RECORD_HEADER_SIZE)
		return error_set(-EBADMSG, "snapshot's state record %zu (at byte %zu) is cut short: %zu bytes left of a %u-byte header",
				 n, at, left, SNAPSHOT_RECORD_HEADER_SIZE);
	length = le_load(buf + at + 8, 8);
	body = left - SNAPSHOT_RECORD_HEADER_SIZE;
	if (length > body || padding(length) > body - length)
		return error_set(-EBADMSG, "snapshot's state record %zu (at byte %zu) says it holds %llu bytes, %zu follow",
				 n, at, (unsigned long long)length, body);
	*r = (struct snapshot_record){
		.tag = (uint32_t)le_load(buf + at, 4),
		.index = (uint32_t)le_load(buf + at + 4, 4),
		.data = buf + at + SNAPSHOT_RECORD_HEADER_SIZE,
		.len = length,
	};
	if (!all_zero(r->data + length, padding(length)))
		return error_set(-EBADMSG, "snapshot's state record %zu (at byte %zu) has nonzero padding",
				 n, at);
	*next = at + SNAPSHOT_RECORD_HEADER_SIZE + (size_t)length + padding(length);
	return 0;
}

/* Walk every record, counting them; fill records[] when it is not NULL. */
static int walk_records(const uint8_t *buf, size_t len, struct snapshot_record *records,
			size_t *count)
{
	struct snapshot_record r;
	size_t at = 0, n = 0;
	int err;

	while (at < len) {
		if (n == SNAPSHOT_MAX_RECORDS)
			return error_set(-EBADMSG, "snapshot's state has more than %u records",
					 SNAPSHOT_MAX_RECORDS);
		err = record_frame(buf, len, at, n, &r, &at);
		if (err)
			return err;
		if (records)
			records[n] = r;
		n++;
	}
	*count = n;
	return 0;
}

/* By (tag, index): the order of the index, and the key snapshot_find() looks up. */
static int record_cmp(const void *a, const void *b)
{
	const struct snapshot_record *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

/* Byte position of a record's header in the buffer it was parsed from. */
static size_t record_at(const struct snapshot_record *r, const uint8_t *buf)
{
	return (size_t)(r->data - buf) - SNAPSHOT_RECORD_HEADER_SIZE;
}

int snapshot_state_parse(struct snapshot_state *s, const uint8_t *buf, size_t len)
{
	struct snapshot_record *records;
	size_t count;
	int err = walk_records(buf, len, NULL, &count);

	if (err)
		return err;
	/* One more than needed, so that an empty state still gets a pointer. */
	records = calloc(count + 1, sizeof(*records));
	if (!records)
		return error_set(-ENOMEM, "out of memory for %zu snapshot records", count);
	walk_records(buf, len, records, &count);
	qsort(records, count, sizeof(*records), record_cmp);
	/* Sorted, a repeated (tag, index) is a neighbour: O(n log n) in all. */
	for (size_t i = 1; i < count; i++) {
		const struct snapshot_record *a = &records[i - 1], *b = &records[i];
		size_t at_a = record_at(a, buf), at_b = record_at(b, buf);

		if (record_cmp(a, b) == 0) {
			err = error_set(-EBADMSG, "snapshot's state records at bytes %zu and %zu are both tag %u index %u",
					at_a < at_b ? at_a : at_b, at_a < at_b ? at_b : at_a, a->tag,
					a->index);
			free(records);
			return err;
		}
	}
	*s = (struct snapshot_state){ .records = records, .count = count };
	return 0;
}

void snapshot_state_release(struct snapshot_state *s)
{
	free(s->records);
	*s = (struct snapshot_state){ 0 };
}

int snapshot_find(const struct snapshot_state *s, uint32_t tag, uint32_t index,
		  const uint8_t **data, uint64_t *len)
{
	const struct snapshot_record key = { .tag = tag, .index = index };
	const struct snapshot_record *r;

	/* bsearch() with a NULL base is undefined even for 0 elements. */
	if (!s->count)
		return -ENOENT;
	r = bsearch(&key, s->records, s->count, sizeof(*r), record_cmp);
	if (!r)
		return -ENOENT;
	*data = r->data;
	*len = r->len;
	return 0;
}

int snapshot_get(const struct snapshot_state *s, uint32_t tag, uint32_t index, void *out,
		 size_t len, const char *what)
{
	const uint8_t *data;
	uint64_t have;

	if (snapshot_find(s, tag, index, &data, &have))
		return error_set(-EBADMSG, "snapshot lacks %s (record tag %u index %u)", what, tag,
				 index);
	if (have != len)
		return error_set(-EBADMSG, "snapshot's %s (record tag %u index %u) is %llu bytes, expected %zu",
				 what, tag, index, (unsigned long long)have, len);
	if (len)
		memcpy(out, data, len);
	return 0;
}
