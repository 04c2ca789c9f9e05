/*
 * A snapshot file as anyone may hand it to a restore (lib/snapshot/,
 * doc/snapshot-format.md): the header decoded against the file's size, the
 * state section's CRC checked and its records parsed, found and copied, and
 * a compressed memory section inflated into a RAM of at most MAX_PAGES.
 *
 * Input: a mode byte, then
 *   MODE_RAW_FILE: the rest is the file, byte for byte;
 *   otherwise the file is built so that the CRCs a fuzzer cannot forge come
 *   out right, and the checks behind them are reached:
 *     le32 version, arch, flags, unless MODE_VALID_IDENTITY (then version 1,
 *       the host's arch, and SNAPSHOT_MEMORY_COMPRESSED if MODE_COMPRESSED);
 *     le32 state CRC, only with MODE_RAW_STATE_CRC (else it is computed);
 *     with MODE_WRITER_LAYOUT: le16 state size, u8 memory pages - 1, the
 *       state bytes; the rest is the memory section, laid out as the writer
 *       does (state at 4096, memory at the next page, stored = the rest, or
 *       the memory size when raw);
 *     otherwise: le64 state_offset, state_size, memory_offset, memory_size,
 *       memory_stored; the rest is the file after page 0;
 *     MODE_FIX_BITMAP_CRC recomputes a compressed section's bitmap CRC.
 *
 * Oracles, besides sanitizers: a decoded header's sections lie in the file
 * in order; a computed state CRC passes; parsed records are sorted, unique,
 * inside the state buffer and found again with their exact bytes; inflate
 * returns 0 or -EBADMSG and never writes a page its bitmap leaves out; RAM
 * it inflated survives a compressed and a raw write (from a memfd with
 * holes, then from a copy-on-write mapping of the raw section, whose holes
 * stay unallocated) and reads back unchanged.
 */
#define _GNU_SOURCE
#include "fuzz-common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/format.h"
#include "snapshot/memory_image.h"

#define MODE_RAW_FILE 0x01
#define MODE_VALID_IDENTITY 0x02
#define MODE_COMPRESSED 0x04
#define MODE_WRITER_LAYOUT 0x08
#define MODE_RAW_STATE_CRC 0x10
#define MODE_FIX_BITMAP_CRC 0x20

#define PAGE SNAPSHOT_PAGE_SIZE
#define MAX_PAGES 16
#define FILL 0xa5 /* RAM before inflating: what must survive in pages not stored */

struct file {
	uint8_t *bytes;
	size_t size;
};

static uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* Does [at, at + len) lie inside a file of `size` bytes? */
static int inside(uint64_t at, uint64_t len, uint64_t size)
{
	return at <= size && len <= size - at;
}

static int memfd(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		abort();
	return fd;
}

static void put_file(int fd, const uint8_t *bytes, size_t size)
{
	if (ftruncate(fd, 0) < 0 || pwrite(fd, bytes, size, 0) != (ssize_t)size)
		abort();
}

/* Allocate the file: page 0 (filled in last), `body` bytes after it, zeroes up to size. */
static void file_alloc(struct file *f, size_t size, struct fuzz_input body, size_t at)
{
	f->size = size;
	f->bytes = calloc(1, size ? size : 1);
	if (!f->bytes)
		abort();
	if (body.left > size - at)
		body.left = size - at;
	memcpy(f->bytes + at, body.data, body.left);
}

static void fix_bitmap_crc(struct file *f, const struct snapshot_header *h)
{
	uint64_t bitmap = (h->memory_size / PAGE + 7) / 8;

	if (h->memory_offset > UINT64_MAX - 8 - 4 || bitmap > f->size ||
	    !inside(h->memory_offset + 8, bitmap + 4, f->size))
		return;
	le_store(f->bytes + h->memory_offset + 8 + bitmap,
			  crc32(0, f->bytes + h->memory_offset + 8, (uInt)bitmap), 4);
}

/* Build the file the input describes (see the top); returns the mode. */
static uint8_t build_file(struct fuzz_input in, struct file *f)
{
	uint8_t mode = fuzz_u8(&in);
	struct snapshot_header h = { 0 };
	uint32_t state_crc = 0;

	if (mode & MODE_RAW_FILE) {
		file_alloc(f, in.left, in, 0);
		return mode;
	}
	if (mode & MODE_VALID_IDENTITY) {
		h.version = SNAPSHOT_FORMAT_VERSION;
		h.arch = SNAPSHOT_ARCH_HOST;
		h.flags = mode & MODE_COMPRESSED ? SNAPSHOT_MEMORY_COMPRESSED : 0;
	} else {
		h.version = fuzz_u32(&in);
		h.arch = fuzz_u32(&in);
		h.flags = fuzz_u32(&in);
	}
	if (mode & MODE_RAW_STATE_CRC)
		state_crc = fuzz_u32(&in);
	if (mode & MODE_WRITER_LAYOUT) {
		struct fuzz_input state;
		size_t memory;

		h.state_offset = SNAPSHOT_HEADER_SIZE;
		h.state_size = fuzz_u16(&in);
		h.memory_size = (uint64_t)(fuzz_u8(&in) % MAX_PAGES + 1) * PAGE;
		h.memory_offset = (h.state_offset + h.state_size + PAGE - 1) / PAGE * PAGE;
		state = fuzz_split(&in, h.state_size);
		h.memory_stored = h.flags & SNAPSHOT_MEMORY_COMPRESSED ? in.left : h.memory_size;
		memory = h.memory_stored > in.left ? h.memory_stored : in.left;
		file_alloc(f, h.memory_offset + memory, state, h.state_offset);
		memcpy(f->bytes + h.memory_offset, in.data, in.left);
	} else {
		h.state_offset = fuzz_u64(&in);
		h.state_size = fuzz_u64(&in);
		h.memory_offset = fuzz_u64(&in);
		h.memory_size = fuzz_u64(&in);
		h.memory_stored = fuzz_u64(&in);
		file_alloc(f, SNAPSHOT_HEADER_SIZE + in.left, in, SNAPSHOT_HEADER_SIZE);
	}
	if (mode & MODE_FIX_BITMAP_CRC)
		fix_bitmap_crc(f, &h);
	if (mode & MODE_RAW_STATE_CRC)
		h.state_crc = state_crc;
	else if (inside(h.state_offset, h.state_size, f->size))
		h.state_crc = crc32(0, f->bytes + h.state_offset, (uInt)h.state_size);
	snapshot_header_encode(&h, f->bytes);
	return mode;
}

static void check_layout(const struct snapshot_header *h, uint64_t size)
{
	uint64_t memory = h->flags & SNAPSHOT_MEMORY_COMPRESSED ? h->memory_stored : h->memory_size;

	if (h->state_offset < SNAPSHOT_HEADER_SIZE || h->state_offset % 8 ||
	    h->state_size > SNAPSHOT_MAX_STATE || !inside(h->state_offset, h->state_size, size) ||
	    h->memory_offset % PAGE || h->memory_offset < h->state_offset + h->state_size ||
	    !inside(h->memory_offset, memory, size) || !h->memory_size || h->memory_size % PAGE)
		__builtin_trap();
}

static void check_records(const struct snapshot_state *s, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < s->count; i++) {
		const struct snapshot_record *r = &s->records[i];
		const uint8_t *data;
		uint64_t found_len;
		uint8_t *copy;
		bool next;

		if (r->data < buf || (size_t)(r->data - buf) % 8 || !inside((uint64_t)(r->data - buf), r->len, len))
			__builtin_trap();
		if (i && (r[-1].tag > r->tag || (r[-1].tag == r->tag && r[-1].index >= r->index)))
			__builtin_trap();
		if (snapshot_find(s, r->tag, r->index, &data, &found_len) || data != r->data ||
		    found_len != r->len)
			__builtin_trap();
		/* Sorted and unique: (tag, index + 1) exists exactly if it is the next record. */
		next = i + 1 < s->count && r[1].tag == r->tag && r[1].index == r->index + 1;
		if (r->index < UINT32_MAX &&
		    (snapshot_find(s, r->tag, r->index + 1, &data, &found_len) == 0) != next)
			__builtin_trap();
		copy = malloc(r->len + 1);
		if (snapshot_get(s, r->tag, r->index, copy, r->len, "record") ||
		    (r->len && memcmp(copy, r->data, r->len)) ||
		    snapshot_get(s, r->tag, r->index, copy, r->len + 1, "record") != -EBADMSG)
			__builtin_trap();
		free(copy);
	}
}

static void check_state(const struct file *f, const struct snapshot_header *h, uint8_t mode)
{
	/* An exact-size copy, so that reading past the section is a sanitizer report. */
	uint8_t *state = malloc(h->state_size ? h->state_size : 1);
	struct snapshot_state s;

	memcpy(state, f->bytes + h->state_offset, h->state_size);
	if (snapshot_state_check(h, state) && !(mode & (MODE_RAW_FILE | MODE_RAW_STATE_CRC)))
		__builtin_trap();
	/* Parsed whatever the CRC says: the parser must hold up on its own. */
	if (snapshot_state_parse(&s, state, h->state_size) == 0) {
		check_records(&s, state, h->state_size);
		snapshot_state_release(&s);
	}
	free(state);
}

/* Whether the file's bitmap (if it has one) stores page p. */
static int page_in_bitmap(const struct file *f, const struct snapshot_header *h, uint64_t p)
{
	uint64_t at = h->memory_offset + 8 + p / 8;

	return at < f->size && f->bytes[at] >> (p % 8) & 1;
}

static bool page_nonzero(const uint8_t *page)
{
	return page[0] || memcmp(page, page + 1, PAGE - 1);
}

static uint64_t blocks(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		abort();
	return (uint64_t)st.st_blocks;
}

/* Write RAM as a compressed section at 0 of fd and inflate it back: it must come back unchanged. */
static void compressed_round_trip(int fd, const uint8_t *from, const uint8_t *data_pages,
				  const uint8_t *ram, uint64_t size)
{
	uint8_t *back = calloc(1, size);
	uint64_t stored;

	if (snapshot_memory_write(fd, 0, from, size, data_pages, true, &stored) ||
	    snapshot_memory_inflate(fd, 0, stored, back, size) || memcmp(back, ram, size))
		__builtin_trap();
	free(back);
}

/*
 * RAM that inflated fine must survive a compressed and a raw write and come
 * back unchanged. It is written from guest RAM (a memfd) that holds only its
 * non-zero pages, as a VM's does, whose data pages must include every
 * non-zero one; then from a clone, RAM that maps the raw section
 * copy-on-write as a restored VM's does, which must not read the section's
 * holes (that would allocate them in the file).
 */
static void round_trip(uint8_t *ram, uint64_t size)
{
	static struct guest_memory mem;
	static int out_fd = -1, again_fd = -1;
	const struct memory_region layout = { .gpa = 0, .size = size };
	struct guest_memory clone;
	uint8_t *back = malloc(size), *data_pages;
	uint64_t stored, out_blocks;

	if (out_fd < 0) {
		const struct memory_region all = { .gpa = 0, .size = MAX_PAGES * PAGE };

		out_fd = memfd("fuzz-snapshot-out");
		again_fd = memfd("fuzz-snapshot-again");
		if (guest_memory_create(&mem, &all, 1))
			abort();
	}
	if (ftruncate(mem.fd, 0) < 0 || ftruncate(mem.fd, MAX_PAGES * PAGE) < 0)
		abort();
	for (uint64_t at = 0; at < size; at += PAGE)
		if (page_nonzero(ram + at))
			memcpy(mem.host + at, ram + at, PAGE);
	if (guest_memory_data_pages(&mem, &data_pages))
		__builtin_trap();
	for (uint64_t p = 0; p < size / PAGE; p++)
		if (!(data_pages[p / 8] >> (p % 8) & 1) && page_nonzero(ram + p * PAGE))
			__builtin_trap();

	compressed_round_trip(out_fd, mem.host, data_pages, ram, size);
	if (snapshot_memory_write(out_fd, 0, mem.host, size, data_pages, false, &stored) ||
	    stored != size || pread(out_fd, back, size, 0) != (ssize_t)size ||
	    memcmp(back, ram, size))
		__builtin_trap();
	free(data_pages);

	out_blocks = blocks(out_fd);
	if (guest_memory_map_private(&clone, &layout, 1, out_fd, 0) ||
	    guest_memory_data_pages(&clone, &data_pages))
		__builtin_trap();
	compressed_round_trip(again_fd, clone.host, data_pages, ram, size);
	if (blocks(out_fd) != out_blocks)
		__builtin_trap();
	free(data_pages);
	guest_memory_destroy(&clone);
	free(back);
}

static void check_memory(int fd, const struct file *f, const struct snapshot_header *h)
{
	uint8_t *ram;
	int err;

	if (!(h->flags & SNAPSHOT_MEMORY_COMPRESSED) || h->memory_size > MAX_PAGES * PAGE)
		return;
	ram = malloc(h->memory_size);
	memset(ram, FILL, h->memory_size);
	err = snapshot_memory_inflate(fd, h->memory_offset, h->memory_stored, ram, h->memory_size);
	if (err && err != -EBADMSG)
		__builtin_trap();
	for (uint64_t p = 0; p < h->memory_size / PAGE; p++) {
		const uint8_t *page = ram + p * PAGE;

		if (!page_in_bitmap(f, h, p) && (page[0] != FILL || memcmp(page, page + 1, PAGE - 1)))
			__builtin_trap();
	}
	if (!err) {
		/* Restore's RAM starts zeroed; what was left alone is zero again. */
		for (uint64_t p = 0; p < h->memory_size / PAGE; p++)
			if (!page_in_bitmap(f, h, p))
				memset(ram + p * PAGE, 0, PAGE);
		round_trip(ram, h->memory_size);
	}
	free(ram);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	uint8_t page0[SNAPSHOT_HEADER_SIZE] = { 0 };
	struct snapshot_header h;
	struct file f;
	uint8_t mode;

	if (fd < 0)
		fd = memfd("fuzz-snapshot");
	mode = build_file((struct fuzz_input){ data, size }, &f);
	put_file(fd, f.bytes, f.size);
	/* As a restore reads it: page 0, zeroes past the end of a short file. */
	memcpy(page0, f.bytes, f.size < sizeof(page0) ? f.size : sizeof(page0));
	if (snapshot_header_decode(page0, f.size, &h) == 0) {
		check_layout(&h, f.size);
		check_state(&f, &h, mode);
		check_memory(fd, &f, &h);
	}
	free(f.bytes);
	return 0;
}
