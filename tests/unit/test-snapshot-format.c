/*
 * The snapshot file as an attacker or a crash may leave it: headers round
 * trip and every inconsistency is refused with its own errno; state records
 * round trip and bad framing is refused without reading past the buffer
 * (parsed buffers are exact-size heap copies, so an overread is an
 * AddressSanitizer report); memory sections round trip byte for byte from a
 * real memfd into real files, raw ones keep zero pages as holes, pages RAM's
 * file does not hold are never read (from a memfd or from a copy-on-write
 * mapping of a raw section, as a restored VM's), and corrupted compressed
 * ones are refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "kvm/memory.h"
#include "snapshot/format.h"
#include "snapshot/memory_image.h"
#include "util/error.h"

#define PAGE SNAPSHOT_PAGE_SIZE

/* Version 1's page 0, as doc/snapshot-format.md lays it out. */
#define AT_VERSION 8
#define AT_HEADER_SIZE 12
#define AT_ARCH 16
#define AT_HEADER_CRC 132
#define HEADER_FIELDS_END 136

static uint8_t page0[SNAPSHOT_HEADER_SIZE];

static void assert_error_contains(const char *text)
{
	if (!strstr(error_get(), text))
		fail_msg("error \"%s\" lacks \"%s\"", error_get(), text);
}

static uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* ---- Header ---- */

#define STATE_SIZE 64
#define MEMORY_SIZE (16 * PAGE)
#define MEMORY_OFFSET (2 * PAGE)
#define RAW_FILE_SIZE (MEMORY_OFFSET + MEMORY_SIZE)

static struct snapshot_header good_header(void)
{
	struct snapshot_header h = {
		.version = SNAPSHOT_FORMAT_VERSION,
		.arch = SNAPSHOT_ARCH_HOST,
		.state_offset = SNAPSHOT_HEADER_SIZE,
		.state_size = STATE_SIZE,
		.state_crc = 0x12345678,
		.memory_offset = MEMORY_OFFSET,
		.memory_size = MEMORY_SIZE,
		.memory_stored = MEMORY_SIZE,
	};

	for (unsigned int i = 0; i < SNAPSHOT_CPU_WORDS; i++)
		h.cpu_features[i] = 0x01010101u * (i + 1);
	return h;
}

/* Decode page0; on failure *out must be untouched. */
static int decode_page(uint64_t file_size, struct snapshot_header *out)
{
	struct snapshot_header before;
	int err;

	memset(out, 0xab, sizeof(*out));
	before = *out;
	err = snapshot_header_decode(page0, file_size, out);
	if (err)
		assert_memory_equal(out, &before, sizeof(*out));
	return err;
}

static int decode(const struct snapshot_header *h, uint64_t file_size)
{
	struct snapshot_header out;

	snapshot_header_encode(h, page0);
	return decode_page(file_size, &out);
}

/* Rewrite a 32-bit field of page0 and the CRC after it, as a hand-crafted file would. */
static void forge_u32(unsigned int at, uint32_t v)
{
	le_store(page0 + at, v, 4);
	le_store(page0 + AT_HEADER_CRC, crc32(0, page0, AT_HEADER_CRC), 4);
}

static void header_round_trip(void **state)
{
	struct snapshot_header h = good_header(), out;

	(void)state;
	h.flags = SNAPSHOT_MEMORY_COMPRESSED;
	h.memory_stored = 100;
	snapshot_header_encode(&h, page0);
	assert_memory_equal(page0, SNAPSHOT_MAGIC, 8);
	assert_int_equal(le_load(page0 + AT_VERSION, 4), SNAPSHOT_FORMAT_VERSION);
	assert_int_equal(le_load(page0 + AT_HEADER_SIZE, 4), SNAPSHOT_HEADER_SIZE);
	assert_int_equal(le_load(page0 + AT_HEADER_CRC, 4), crc32(0, page0, AT_HEADER_CRC));
	for (size_t i = HEADER_FIELDS_END; i < SNAPSHOT_HEADER_SIZE; i++)
		assert_int_equal(page0[i], 0);

	assert_int_equal(decode_page(MEMORY_OFFSET + 100, &out), 0);
	assert_int_equal(out.version, h.version);
	assert_int_equal(out.arch, h.arch);
	assert_int_equal(out.flags, h.flags);
	assert_int_equal(out.state_offset, h.state_offset);
	assert_int_equal(out.state_size, h.state_size);
	assert_int_equal(out.state_crc, h.state_crc);
	assert_int_equal(out.memory_offset, h.memory_offset);
	assert_int_equal(out.memory_size, h.memory_size);
	assert_int_equal(out.memory_stored, h.memory_stored);
	assert_memory_equal(out.cpu_features, h.cpu_features, sizeof(h.cpu_features));

	/* Raw, and a file longer than it needs to be. */
	h = good_header();
	assert_int_equal(decode(&h, RAW_FILE_SIZE), 0);
	assert_int_equal(decode(&h, RAW_FILE_SIZE + 12345), 0);
}

static void header_wrong_magic(void **state)
{
	struct snapshot_header h = good_header(), out;

	(void)state;
	snapshot_header_encode(&h, page0);
	page0[7] = 'Q';
	assert_int_equal(decode_page(RAW_FILE_SIZE, &out), -EINVAL);
	assert_error_contains("not an agentvm snapshot");
	memset(page0, 0, sizeof(page0));
	assert_int_equal(decode_page(RAW_FILE_SIZE, &out), -EINVAL);
}

static void header_crc_mismatch(void **state)
{
	static const unsigned int flips[] = { 20, 30, 64, 100, AT_HEADER_CRC, AT_HEADER_CRC + 3 };
	struct snapshot_header h = good_header(), out;

	(void)state;
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		snapshot_header_encode(&h, page0);
		page0[flips[i]] ^= 0x10;
		assert_int_equal(decode_page(RAW_FILE_SIZE, &out), -EBADMSG);
		assert_error_contains("CRC");
	}
}

static void header_version(void **state)
{
	struct snapshot_header h = good_header();

	(void)state;
	h.version = 7;
	assert_int_equal(decode(&h, RAW_FILE_SIZE), -EPROTONOSUPPORT);
	assert_string_equal(error_get(),
			    "snapshot was written by format version 7; this library reads version 1");
	/* Another version may put its CRC elsewhere: the version is judged first. */
	snapshot_header_encode(&h, page0);
	page0[AT_HEADER_CRC] ^= 1;
	assert_int_equal(snapshot_header_decode(page0, RAW_FILE_SIZE, &h), -EPROTONOSUPPORT);
	h.version = 0;
	assert_int_equal(decode(&h, RAW_FILE_SIZE), -EPROTONOSUPPORT);
}

static void header_unknown_flags(void **state)
{
	struct snapshot_header h = good_header();

	(void)state;
	h.flags = 0x2;
	assert_int_equal(decode(&h, RAW_FILE_SIZE), -EPROTONOSUPPORT);
	assert_error_contains("0x2");
	h.flags = SNAPSHOT_MEMORY_COMPRESSED | 0x80000000u;
	assert_int_equal(decode(&h, RAW_FILE_SIZE), -EPROTONOSUPPORT);
}

static void header_other_arch(void **state)
{
	struct snapshot_header h = good_header();
	char expected[100];

	(void)state;
	h.arch = SNAPSHOT_ARCH_HOST == SNAPSHOT_ARCH_X86_64 ? SNAPSHOT_ARCH_AARCH64 : SNAPSHOT_ARCH_X86_64;
	snprintf(expected, sizeof(expected), "snapshot was made on %s; this host is %s",
		 h.arch == SNAPSHOT_ARCH_AARCH64 ? "aarch64" : "x86_64",
		 h.arch == SNAPSHOT_ARCH_AARCH64 ? "x86_64" : "aarch64");
	assert_int_equal(decode(&h, RAW_FILE_SIZE), -ENOEXEC);
	assert_string_equal(error_get(), expected);
	h.arch = 9;
	assert_int_equal(decode(&h, RAW_FILE_SIZE), -ENOEXEC);
	assert_error_contains("unknown architecture (9)");
}

static void header_size_and_padding(void **state)
{
	struct snapshot_header h = good_header(), out;

	(void)state;
	snapshot_header_encode(&h, page0);
	forge_u32(AT_HEADER_SIZE, 8192);
	assert_int_equal(decode_page(RAW_FILE_SIZE, &out), -EBADMSG);
	assert_error_contains("8192 bytes");

	/* The CRC does not cover the padding; decode checks it is zero all the same. */
	snapshot_header_encode(&h, page0);
	page0[SNAPSHOT_HEADER_SIZE - 1] = 1;
	assert_int_equal(decode_page(RAW_FILE_SIZE, &out), -EBADMSG);
	snapshot_header_encode(&h, page0);
	page0[HEADER_FIELDS_END] = 1;
	assert_int_equal(decode_page(RAW_FILE_SIZE, &out), -EBADMSG);
	assert_error_contains("nonzero");
}

/* Each entry breaks one rule of the layout; every one must be -EBADMSG. */
static void header_bad_layout(void **state)
{
	static const struct {
		const char *what;
		uint64_t state_offset, state_size, memory_offset, memory_size, memory_stored;
		uint32_t flags;
	} cases[] = {
		{ "state inside the header", 0, 64, 2 * PAGE, 16 * PAGE, 16 * PAGE, 0 },
		{ "state just inside the header", PAGE - 8, 64, 2 * PAGE, 16 * PAGE, 16 * PAGE, 0 },
		{ "state misaligned", PAGE + 4, 64, 2 * PAGE, 16 * PAGE, 16 * PAGE, 0 },
		{ "state over the limit", PAGE, SNAPSHOT_MAX_STATE + 8ull, 20000 * PAGE, 16 * PAGE,
		  16 * PAGE, 0 },
		{ "state end overflows", UINT64_MAX - 7, 64, 2 * PAGE, 16 * PAGE, 16 * PAGE, 0 },
		{ "no memory", PAGE, 64, 2 * PAGE, 0, 0, 0 },
		{ "memory not whole pages", PAGE, 64, 2 * PAGE, 16 * PAGE + 1, 16 * PAGE + 1, 0 },
		{ "memory over the limit", PAGE, 64, 2 * PAGE, SNAPSHOT_MAX_MEMORY + PAGE,
		  SNAPSHOT_MAX_MEMORY + PAGE, 0 },
		{ "raw memory stored differs", PAGE, 64, 2 * PAGE, 16 * PAGE, 15 * PAGE, 0 },
		{ "memory misaligned", PAGE, 64, 2 * PAGE + 8, 16 * PAGE, 16 * PAGE, 0 },
		{ "memory overlaps state", PAGE, 2 * PAGE, 2 * PAGE, 16 * PAGE, 16 * PAGE, 0 },
		{ "memory before state", 3 * PAGE, 64, 2 * PAGE, 16 * PAGE, 16 * PAGE, 0 },
		{ "raw memory end overflows", PAGE, 64, UINT64_MAX - PAGE + 1, 16 * PAGE, 16 * PAGE, 0 },
		{ "compressed memory end overflows", PAGE, 64, 2 * PAGE, 16 * PAGE, UINT64_MAX,
		  SNAPSHOT_MEMORY_COMPRESSED },
	};
	struct snapshot_header h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = good_header();
		h.state_offset = cases[i].state_offset;
		h.state_size = cases[i].state_size;
		h.memory_offset = cases[i].memory_offset;
		h.memory_size = cases[i].memory_size;
		h.memory_stored = cases[i].memory_stored;
		h.flags = cases[i].flags;
		if (decode(&h, UINT64_MAX) != -EBADMSG)
			fail_msg("%s: accepted or wrong error (%s)", cases[i].what, error_get());
	}
}

static void header_truncated_file(void **state)
{
	struct snapshot_header h = good_header();
	char expected[100];

	(void)state;
	assert_int_equal(decode(&h, RAW_FILE_SIZE - 1), -EBADMSG);
	snprintf(expected, sizeof(expected), "snapshot is truncated: %d bytes, the header says at least %d",
		 RAW_FILE_SIZE - 1, RAW_FILE_SIZE);
	assert_string_equal(error_get(), expected);
	assert_int_equal(decode(&h, 100), -EBADMSG);
	assert_error_contains("truncated");
	assert_int_equal(decode(&h, 0), -EBADMSG);

	/* Compressed, the stored bytes count, not the memory size. */
	h.flags = SNAPSHOT_MEMORY_COMPRESSED;
	h.memory_stored = 5000;
	assert_int_equal(decode(&h, MEMORY_OFFSET + 5000), 0);
	assert_int_equal(decode(&h, MEMORY_OFFSET + 4999), -EBADMSG);
	assert_error_contains("truncated");
}

static void state_crc(void **state)
{
	uint8_t bytes[STATE_SIZE];
	struct snapshot_header h = good_header();

	(void)state;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7);
	h.state_crc = (uint32_t)crc32(0, bytes, sizeof(bytes));
	assert_int_equal(snapshot_state_check(&h, bytes), 0);
	bytes[STATE_SIZE - 1] ^= 0x80;
	assert_int_equal(snapshot_state_check(&h, bytes), -EBADMSG);
	assert_error_contains("state section is corrupted");
	h.state_size = 0;
	h.state_crc = 0;
	assert_int_equal(snapshot_state_check(&h, bytes), 0);
}

/* ---- State records ---- */

/* Odd and even lengths, an empty record with a NULL payload, two indexes of one tag. */
static const struct {
	uint32_t tag, index;
	size_t len;
} sample[] = {
	{ 261, 1, 13 }, { 1, 0, 24 }, { 261, 0, 1 }, { 7, 0, 0 }, { 4, 2, 8 }, { 300, 9, 4099 },
};
#define NSAMPLE (sizeof(sample) / sizeof(sample[0]))

static uint8_t sample_byte(size_t rec, size_t i)
{
	return (uint8_t)(rec * 31 + i + 1);
}

static void write_sample(struct snapshot_writer *w)
{
	uint8_t data[5000];

	snapshot_writer_init(w);
	for (size_t r = 0; r < NSAMPLE; r++) {
		for (size_t i = 0; i < sample[r].len; i++)
			data[i] = sample_byte(r, i);
		snapshot_put(w, sample[r].tag, sample[r].index, sample[r].len ? data : NULL,
			     sample[r].len);
	}
	assert_int_equal(w->err, 0);
}

static int parse_copy(const uint8_t *buf, size_t len)
{
	struct snapshot_state s;
	uint8_t *copy = exact_copy(buf, len);
	int err = snapshot_state_parse(&s, copy, len);

	if (!err)
		snapshot_state_release(&s);
	free(copy);
	return err;
}

static void records_round_trip(void **state)
{
	struct snapshot_writer w;
	struct snapshot_state s;
	const uint8_t *data;
	uint64_t len;
	size_t total = 0;
	uint8_t *copy;

	(void)state;
	write_sample(&w);
	for (size_t r = 0; r < NSAMPLE; r++)
		total += SNAPSHOT_RECORD_HEADER_SIZE + (sample[r].len + 7) / 8 * 8;
	assert_int_equal(w.len, total);
	/* The first record's framing, byte by byte: tag, index, length, payload, zero padding. */
	assert_int_equal(le_load(w.buf, 4), 261);
	assert_int_equal(le_load(w.buf + 4, 4), 1);
	assert_int_equal(le_load(w.buf + 8, 8), 13);
	for (size_t i = 13; i < 16; i++)
		assert_int_equal(w.buf[SNAPSHOT_RECORD_HEADER_SIZE + i], 0);

	copy = exact_copy(w.buf, w.len);
	assert_int_equal(snapshot_state_parse(&s, copy, w.len), 0);
	assert_int_equal(s.count, NSAMPLE);
	for (size_t r = 0; r < NSAMPLE; r++) {
		assert_int_equal(snapshot_find(&s, sample[r].tag, sample[r].index, &data, &len), 0);
		assert_int_equal(len, sample[r].len);
		assert_int_equal((data - copy) % 8, 0);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(data[i], sample_byte(r, i));
	}
	assert_int_equal(snapshot_find(&s, 261, 2, &data, &len), -ENOENT);
	assert_int_equal(snapshot_find(&s, 0, 0, &data, &len), -ENOENT);
	assert_int_equal(snapshot_find(&s, UINT32_MAX, UINT32_MAX, &data, &len), -ENOENT);
	snapshot_state_release(&s);
	snapshot_state_release(&s);
	free(copy);
	snapshot_writer_release(&w);
}

static void records_get(void **state)
{
	struct snapshot_writer w;
	struct snapshot_state s;
	uint32_t khz = 2500000, out = 0;

	(void)state;
	snapshot_writer_init(&w);
	snapshot_put(&w, 257, 0, &khz, sizeof(khz));
	snapshot_put(&w, 258, 1, "abc", 3);
	assert_int_equal(snapshot_state_parse(&s, w.buf, w.len), 0);

	assert_int_equal(snapshot_get(&s, 257, 0, &out, sizeof(out), "TSC rate"), 0);
	assert_int_equal(out, khz);

	out = 7;
	assert_int_equal(snapshot_get(&s, 258, 1, &out, sizeof(out), "interrupt controller 1"),
			 -EBADMSG);
	assert_string_equal(error_get(),
			    "snapshot's interrupt controller 1 (record tag 258 index 1) is 3 bytes, expected 4");
	assert_int_equal(out, 7);
	assert_int_equal(snapshot_get(&s, 257, 1, &out, sizeof(out), "TSC rate"), -EBADMSG);
	assert_string_equal(error_get(), "snapshot lacks TSC rate (record tag 257 index 1)");
	snapshot_state_release(&s);
	snapshot_writer_release(&w);
}

static void records_empty(void **state)
{
	struct snapshot_state s = { 0 };
	const uint8_t *data;
	uint64_t len;
	uint32_t v;

	(void)state;
	snapshot_state_release(&s);
	assert_int_equal(snapshot_find(&s, 1, 0, &data, &len), -ENOENT);
	assert_int_equal(snapshot_state_parse(&s, NULL, 0), 0);
	assert_int_equal(s.count, 0);
	assert_int_equal(snapshot_find(&s, 1, 0, &data, &len), -ENOENT);
	assert_int_equal(snapshot_get(&s, 1, 0, &v, sizeof(v), "machine record"), -EBADMSG);
	snapshot_state_release(&s);
}

/* Every cut inside a record is refused; every cut between records leaves a shorter valid state. */
static void records_truncated(void **state)
{
	struct snapshot_writer w;
	size_t boundary = 0, r = 0;

	(void)state;
	write_sample(&w);
	for (size_t cut = 0; cut <= w.len; cut++) {
		int err = parse_copy(w.buf, cut);

		if (cut == boundary) {
			assert_int_equal(err, 0);
			if (r < NSAMPLE)
				boundary += SNAPSHOT_RECORD_HEADER_SIZE + (sample[r++].len + 7) / 8 * 8;
		} else if (err != -EBADMSG) {
			fail_msg("a cut at %zu of %zu gave %d", cut, w.len, err);
		}
	}
	snapshot_writer_release(&w);
}

static void records_bad_framing(void **state)
{
	struct snapshot_writer w;
	uint8_t *p;

	(void)state;
	write_sample(&w);
	p = exact_copy(w.buf, w.len);

	/* Nonzero padding after the 13-byte first record. */
	p[SNAPSHOT_RECORD_HEADER_SIZE + 13] = 1;
	assert_int_equal(parse_copy(p, w.len), -EBADMSG);
	assert_error_contains("at byte 0) has nonzero padding");
	memcpy(p, w.buf, w.len);

	/* Lengths that run past the end, however large. */
	le_store(p + 8, UINT64_MAX, 8);
	assert_int_equal(parse_copy(p, w.len), -EBADMSG);
	le_store(p + 8, UINT64_MAX - 2, 8);
	assert_int_equal(parse_copy(p, w.len), -EBADMSG);
	le_store(p + 8, w.len - SNAPSHOT_RECORD_HEADER_SIZE + 1, 8);
	assert_int_equal(parse_copy(p, w.len), -EBADMSG);
	assert_error_contains("record 0 (at byte 0) says it holds");
	/* A length that swallows the rest exactly is framing-valid. */
	le_store(p + 8, w.len - SNAPSHOT_RECORD_HEADER_SIZE, 8);
	assert_int_equal(parse_copy(p, w.len), 0);
	free(p);

	/* Trailing bytes: zeroes short of a header, then a zero-length record's worth. */
	p = calloc(1, w.len + 16);
	memcpy(p, w.buf, w.len);
	assert_int_equal(parse_copy(p, w.len + 8), -EBADMSG);
	assert_error_contains("is cut short");
	assert_int_equal(parse_copy(p, w.len + 16), 0);
	free(p);
	snapshot_writer_release(&w);
}

static void records_duplicate(void **state)
{
	struct snapshot_writer w;
	uint8_t *p;

	(void)state;
	write_sample(&w);
	snapshot_put(&w, 4, 2, "x", 1);
	snapshot_put(&w, 4, 3, "x", 1);
	assert_int_equal(w.err, 0);
	assert_int_equal(parse_copy(w.buf, w.len), -EBADMSG);
	assert_error_contains("are both tag 4 index 2");
	snapshot_writer_release(&w);

	/* Two records with one (tag, index), but nothing else. */
	snapshot_writer_init(&w);
	snapshot_put(&w, 0, 0, NULL, 0);
	snapshot_put(&w, 0, 0, NULL, 0);
	p = exact_copy(w.buf, w.len);
	assert_int_equal(parse_copy(p, w.len), -EBADMSG);
	assert_error_contains("at bytes 0 and 16");
	free(p);
	snapshot_writer_release(&w);
}

static void records_count_limit(void **state)
{
	struct snapshot_writer w;
	uint8_t *p;
	size_t len = (SNAPSHOT_MAX_RECORDS + 1) * (size_t)SNAPSHOT_RECORD_HEADER_SIZE;

	(void)state;
	snapshot_writer_init(&w);
	for (uint32_t i = 0; i < SNAPSHOT_MAX_RECORDS; i++)
		snapshot_put(&w, 1, i, NULL, 0);
	assert_int_equal(w.err, 0);
	assert_int_equal(parse_copy(w.buf, w.len), 0);
	snapshot_put(&w, 2, 0, NULL, 0);
	assert_int_equal(w.err, -EFBIG);
	snapshot_writer_release(&w);

	/* One record too many, hand-made: empty records with distinct indexes. */
	p = calloc(1, len);
	assert_non_null(p);
	for (size_t i = 0; i <= SNAPSHOT_MAX_RECORDS; i++)
		le_store(p + i * SNAPSHOT_RECORD_HEADER_SIZE + 4, i, 4);
	assert_int_equal(parse_copy(p, len), -EBADMSG);
	assert_error_contains("more than 65536 records");
	free(p);
}

static void writer_size_limit(void **state)
{
	struct snapshot_writer w;
	static uint8_t big[SNAPSHOT_MAX_STATE / 2];

	(void)state;
	snapshot_writer_init(&w);
	snapshot_put(&w, 1, 0, big, sizeof(big) - SNAPSHOT_RECORD_HEADER_SIZE);
	assert_int_equal(w.err, 0);
	snapshot_put(&w, 1, 1, big, sizeof(big) - 2 * SNAPSHOT_RECORD_HEADER_SIZE);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, SNAPSHOT_MAX_STATE - SNAPSHOT_RECORD_HEADER_SIZE);
	/* Exactly full: an empty record fits, then nothing does. */
	snapshot_put(&w, 1, 2, NULL, 0);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, SNAPSHOT_MAX_STATE);
	snapshot_put(&w, 1, 3, NULL, 0);
	assert_int_equal(w.err, -EFBIG);
	assert_error_contains("over its limit");
	/* Sticky: later puts change nothing. */
	snapshot_put(&w, 1, 4, NULL, 0);
	assert_int_equal(w.len, SNAPSHOT_MAX_STATE);
	snapshot_writer_release(&w);

	snapshot_writer_init(&w);
	snapshot_put(&w, 1, 0, big, SIZE_MAX - 4);
	assert_int_equal(w.err, -EFBIG);
	assert_int_equal(w.len, 0);
	snapshot_writer_release(&w);
}

/* ---- Memory ---- */

#define RAM_PAGES 1536 /* 6 MiB: room for a run longer than the writers' 2 MiB batches */
#define RAM_SIZE ((uint64_t)RAM_PAGES * PAGE)
#define SECTION_AT (3 * PAGE)
#define HELD_ZERO_PAGE 700 /* a page of zeroes the memfd holds */

struct ram_fixture {
	char dir[64];
	char path[96];
	int fd;                  /* the snapshot file */
	struct guest_memory mem; /* RAM_SIZE in one region: a memfd, as a VM's */
	uint8_t *ram;            /* mem.host */
	uint8_t *back;           /* where sections are inflated and read back */
};

/* Which pages of the fixture's RAM hold data. */
static bool page_has_data(uint64_t page)
{
	return page == 0 || (page >= 10 && page < 13) || page == 511 ||
	       (page >= 800 && page < 1400) || page == RAM_PAGES - 1;
}

static int ram_setup(void **state)
{
	struct ram_fixture *f = calloc(1, sizeof(*f));
	const struct memory_region layout = { .gpa = 0, .size = RAM_SIZE };
	const uint8_t zero_page[PAGE] = { 0 };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-snapshot-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/snap", f->dir);
	f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(f->fd >= 0);
	assert_int_equal(guest_memory_create(&f->mem, &layout, 1), 0);
	f->ram = f->mem.host;
	f->back = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->back != MAP_FAILED);
	for (uint64_t p = 0; p < RAM_PAGES; p++)
		if (page_has_data(p))
			for (size_t i = 0; i < PAGE; i += 97)
				f->ram[p * PAGE + i] = (uint8_t)(p * 13 + i / 97 + 1);
	/* A page the memfd holds (written) that is all zeroes: stored as a hole all the same. */
	assert_int_equal(pwrite(f->mem.fd, zero_page, PAGE, HELD_ZERO_PAGE * PAGE), PAGE);
	*state = f;
	return 0;
}

static int ram_teardown(void **state)
{
	struct ram_fixture *f = *state;

	guest_memory_destroy(&f->mem);
	munmap(f->back, RAM_SIZE);
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint64_t file_blocks(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks;
}

static uint64_t file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

static void assert_ram_equal(const uint8_t *a, const uint8_t *b)
{
	for (uint64_t p = 0; p < RAM_PAGES; p++)
		if (memcmp(a + p * PAGE, b + p * PAGE, PAGE))
			fail_msg("page %llu differs", (unsigned long long)p);
}

/*
 * guest_memory_data_pages() of mem, which must be exactly the fixture's data
 * pages and `extra`; the caller frees it.
 */
static uint8_t *data_pages_check(const struct guest_memory *mem, uint64_t extra)
{
	uint8_t *bitmap = NULL;

	assert_int_equal(guest_memory_data_pages(mem, &bitmap), 0);
	for (uint64_t p = 0; p < RAM_PAGES; p++)
		if ((bitmap[p / 8] >> (p % 8) & 1) != (page_has_data(p) || p == extra))
			fail_msg("page %llu: data bit is wrong", (unsigned long long)p);
	return bitmap;
}

/* Write f's RAM raw at SECTION_AT, skipping the pages its data bitmap leaves out or reading all. */
static void raw_check(struct ram_fixture *f, bool with_data_pages)
{
	uint64_t stored = 0, blocks = file_blocks(f->mem.fd), data_pages = 0;
	uint8_t stale[PAGE], *bitmap = NULL;
	struct stat st;

	/* Bytes before the section stay, stale bytes in it and past it go. */
	memset(stale, 0x77, sizeof(stale));
	for (uint64_t at = 0; at < SECTION_AT + 4 * RAM_SIZE / 3; at += PAGE)
		assert_int_equal(pwrite(f->fd, stale, PAGE, (off_t)at), PAGE);

	if (with_data_pages)
		bitmap = data_pages_check(&f->mem, HELD_ZERO_PAGE);
	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, f->ram, RAM_SIZE, bitmap, false,
					       &stored), 0);
	assert_int_equal(stored, RAM_SIZE);
	assert_int_equal(file_size(f->fd), SECTION_AT + RAM_SIZE);
	if (with_data_pages)
		assert_int_equal(file_blocks(f->mem.fd), blocks);
	free(bitmap);

	assert_int_equal(pread(f->fd, stale, PAGE, SECTION_AT - PAGE), PAGE);
	assert_int_equal(stale[0], 0x77);
	assert_int_equal(pread(f->fd, f->back, RAM_SIZE, SECTION_AT), (ssize_t)RAM_SIZE);
	assert_ram_equal(f->back, f->ram);

	/* Zero pages are holes, data pages are not. */
	for (uint64_t p = 0; p < RAM_PAGES; p++) {
		off_t at = (off_t)(SECTION_AT + p * PAGE);
		off_t data = lseek(f->fd, at, SEEK_DATA);

		if (page_has_data(p) != (data == at))
			fail_msg("page %llu: data at %lld", (unsigned long long)p, (long long)data);
		data_pages += page_has_data(p);
	}
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= SECTION_AT + (data_pages + 16) * PAGE);
	memset(f->back, 0, RAM_SIZE);
}

static void memory_raw_from_memfd(void **state)
{
	raw_check(*state, true);
}

static void memory_raw_reading_every_page(void **state)
{
	raw_check(*state, false);
}

/* Write f's RAM compressed at SECTION_AT, as raw_check(); returns the section's length. */
static uint64_t write_ram_compressed(struct ram_fixture *f, bool with_data_pages)
{
	uint64_t stored = 0;
	uint8_t *bitmap = with_data_pages ? data_pages_check(&f->mem, HELD_ZERO_PAGE) : NULL;

	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, f->ram, RAM_SIZE, bitmap, true,
					       &stored), 0);
	assert_int_equal(file_size(f->fd), SECTION_AT + stored);
	free(bitmap);
	return stored;
}

static int inflate_back(struct ram_fixture *f, uint64_t stored)
{
	memset(f->back, 0, RAM_SIZE);
	return snapshot_memory_inflate(f->fd, SECTION_AT, stored, f->back, RAM_SIZE);
}

#define BITMAP_AT (SECTION_AT + 8)
#define BITMAP_LEN (RAM_PAGES / 8)
#define STREAM_AT (BITMAP_AT + BITMAP_LEN + 8) /* 8 + 192 + 4, padded to 8 */

static void memory_compressed_round_trip(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t blocks = file_blocks(f->mem.fd), stored, count;
	uint8_t bitmap[BITMAP_LEN], *again;

	stored = write_ram_compressed(f, true);
	assert_int_equal(file_blocks(f->mem.fd), blocks);
	assert_true(stored < RAM_SIZE / 2);
	assert_int_equal(inflate_back(f, stored), 0);
	assert_ram_equal(f->back, f->ram);

	/* The head: page count, bitmap of exactly the data pages. */
	assert_int_equal(pread(f->fd, &count, 8, SECTION_AT), 8);
	assert_int_equal(count, RAM_PAGES);
	assert_int_equal(pread(f->fd, bitmap, BITMAP_LEN, BITMAP_AT), BITMAP_LEN);
	for (uint64_t p = 0; p < RAM_PAGES; p++)
		assert_int_equal(bitmap[p / 8] >> (p % 8) & 1, page_has_data(p));

	/* Reading every page, the same bytes come out. */
	again = malloc(stored);
	assert_int_equal(pread(f->fd, again, stored, SECTION_AT), (ssize_t)stored);
	assert_int_equal(write_ram_compressed(f, false), stored);
	assert_int_equal(pread(f->fd, f->back, stored, SECTION_AT), (ssize_t)stored);
	assert_memory_equal(f->back, again, stored);
	free(again);
}

static void memory_all_zero(void **state)
{
	struct ram_fixture *f = *state;
	const struct memory_region layout = { .gpa = 0, .size = RAM_SIZE };
	struct guest_memory mem;
	uint8_t *bitmap = NULL;
	uint64_t stored;

	assert_int_equal(guest_memory_create(&mem, &layout, 1), 0);
	assert_int_equal(guest_memory_data_pages(&mem, &bitmap), 0);
	for (uint64_t i = 0; i < RAM_PAGES / 8; i++)
		assert_int_equal(bitmap[i], 0);

	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, mem.host, RAM_SIZE, bitmap, false,
					       &stored), 0);
	assert_int_equal(file_size(f->fd), SECTION_AT + RAM_SIZE);
	assert_int_equal(lseek(f->fd, SECTION_AT, SEEK_DATA), -1);
	assert_int_equal(errno, ENXIO);

	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, mem.host, RAM_SIZE, bitmap, true,
					       &stored), 0);
	assert_int_equal(file_blocks(mem.fd), 0);
	memset(f->back, 0x5a, RAM_SIZE);
	assert_int_equal(snapshot_memory_inflate(f->fd, SECTION_AT, stored, f->back, RAM_SIZE), 0);
	/* No page stored, none touched. */
	assert_int_equal(f->back[0], 0x5a);
	assert_int_equal(f->back[RAM_SIZE - 1], 0x5a);
	free(bitmap);
	guest_memory_destroy(&mem);
}

/* ---- RAM restored from a raw section ---- */

#define WRITTEN_HOLE 5  /* a hole of the section, written by the clone's guest */
#define WRITTEN_DATA 11 /* a page the section holds, written by the clone's guest */

/*
 * A clone: RAM mapped copy-on-write from a raw section of f's RAM in `file`,
 * whose guest writes a hole and a data page with plain stores (as KVM does
 * for it: no read fault first, which would map the neighbours). Its data
 * pages are the section's and the two written ones; a snapshot of it holds
 * exactly its contents and reads no other page, since reading a hole of a
 * tmpfs file through the mapping would allocate it in the file.
 */
static void clone_check(struct ram_fixture *f, int file)
{
	const struct memory_region layout = { .gpa = 0, .size = RAM_SIZE };
	uint8_t *bitmap = data_pages_check(&f->mem, HELD_ZERO_PAGE), *got = calloc(1, RAM_SIZE);
	struct guest_memory clone;
	uint64_t stored, blocks;

	assert_non_null(got);
	assert_int_equal(snapshot_memory_write(file, SECTION_AT, f->ram, RAM_SIZE, bitmap, false,
					       &stored), 0);
	free(bitmap);
	assert_int_equal(guest_memory_map_private(&clone, &layout, 1, file, SECTION_AT), 0);
	clone.host[WRITTEN_HOLE * PAGE + 100] = 0x42;
	clone.host[WRITTEN_DATA * PAGE + 3] = 0x99;
	/* What the clone's RAM now holds, in f->back. */
	for (uint64_t p = 0; p < RAM_PAGES; p++)
		if (page_has_data(p))
			memcpy(f->back + p * PAGE, f->ram + p * PAGE, PAGE);
	f->back[WRITTEN_HOLE * PAGE + 100] = 0x42;
	f->back[WRITTEN_DATA * PAGE + 3] = 0x99;
	/* After the guest's writes: on tmpfs, writing a hole copies a page the file allocates. */
	blocks = file_blocks(file);

	bitmap = data_pages_check(&clone, WRITTEN_HOLE);
	for (int compress = 0; compress < 2; compress++) {
		assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, clone.host, RAM_SIZE, bitmap,
						       compress, &stored), 0);
		memset(got, 0, RAM_SIZE);
		if (compress)
			assert_int_equal(snapshot_memory_inflate(f->fd, SECTION_AT, stored, got, RAM_SIZE), 0);
		else
			assert_int_equal(pread(f->fd, got, RAM_SIZE, SECTION_AT), (ssize_t)RAM_SIZE);
		assert_ram_equal(got, f->back);
	}
	assert_int_equal(file_blocks(file), blocks);
	free(bitmap);
	free(got);
	guest_memory_destroy(&clone);
}

static void memory_clone_on_tmpfs(void **state)
{
	int file = memfd_create("test-clone-source", MFD_CLOEXEC);

	assert_true(file >= 0);
	clone_check(*state, file);
	close(file);
}

/* On a disk the write to a hole allocates nothing in the file: only the page table tells. */
static void memory_clone_on_disk(void **state)
{
	char path[] = "/var/tmp/test-snapshot-clone-XXXXXX";
	int file = mkostemp(path, O_CLOEXEC);

	assert_true(file >= 0);
	unlink(path);
	clone_check(*state, file);
	close(file);
}

static void memory_bad_arguments(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t stored = 99;

	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, f->ram, 0, NULL, false, &stored),
			 -EINVAL);
	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, f->ram, PAGE + 1, NULL, true,
					       &stored), -EINVAL);
	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT + 8, f->ram, PAGE, NULL, false,
					       &stored), -EINVAL);
	assert_int_equal(stored, 99);
	assert_int_equal(snapshot_memory_inflate(f->fd, SECTION_AT, 100, f->back, PAGE - 1),
			 -EINVAL);
	/* A file descriptor that is not writable. */
	assert_true(snapshot_memory_write(-1, SECTION_AT, f->ram, PAGE, NULL, false, &stored) < 0);
	assert_error_contains("snapshot file");
}

/* After a refused inflate, pages outside the bitmap are still untouched. */
static void assert_unstored_pages_untouched(const struct ram_fixture *f)
{
	for (uint64_t p = 0; p < RAM_PAGES; p++)
		if (!page_has_data(p) && f->back[p * PAGE + 5] != 0)
			fail_msg("page %llu was written", (unsigned long long)p);
}

static void flip_byte(int fd, uint64_t at)
{
	uint8_t b;

	assert_int_equal(pread(fd, &b, 1, (off_t)at), 1);
	b ^= 0x41;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
}

static void memory_compressed_corrupted(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t stored = write_ram_compressed(f, true);
	const uint64_t flips[] = { STREAM_AT + 1, STREAM_AT + stored / 3, SECTION_AT + stored - 1 };

	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		flip_byte(f->fd, flips[i]);
		assert_int_equal(inflate_back(f, stored), -EBADMSG);
		assert_error_contains("snapshot's compressed memory");
		assert_unstored_pages_untouched(f);
		flip_byte(f->fd, flips[i]);
	}
	assert_int_equal(inflate_back(f, stored), 0);

	/* The bitmap and its CRC. */
	flip_byte(f->fd, BITMAP_AT + 3);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	assert_error_contains("bitmap is corrupted");
	flip_byte(f->fd, BITMAP_AT + 3);
	flip_byte(f->fd, BITMAP_AT + BITMAP_LEN + 2);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	flip_byte(f->fd, BITMAP_AT + BITMAP_LEN + 2);
	/* Padding after the CRC. */
	flip_byte(f->fd, BITMAP_AT + BITMAP_LEN + 5);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	flip_byte(f->fd, BITMAP_AT + BITMAP_LEN + 5);
	assert_int_equal(inflate_back(f, stored), 0);
}

/* Rewrite the bitmap with page p's bit toggled and a matching CRC: a consistent head that lies. */
static void forge_bitmap(int fd, uint64_t page)
{
	uint8_t bitmap[BITMAP_LEN], crc[4];

	assert_int_equal(pread(fd, bitmap, BITMAP_LEN, BITMAP_AT), BITMAP_LEN);
	bitmap[page / 8] ^= (uint8_t)(1u << (page % 8));
	le_store(crc, crc32(0, bitmap, BITMAP_LEN), 4);
	assert_int_equal(pwrite(fd, bitmap, BITMAP_LEN, BITMAP_AT), BITMAP_LEN);
	assert_int_equal(pwrite(fd, crc, 4, BITMAP_AT + BITMAP_LEN), 4);
}

static void memory_compressed_lying_bitmap(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t stored = write_ram_compressed(f, true);

	/* One page more than the stream holds: it ends early. */
	forge_bitmap(f->fd, 5);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	assert_error_contains("ends before its last stored page");
	forge_bitmap(f->fd, 5);
	/* One page fewer: data left over. */
	forge_bitmap(f->fd, 511);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	assert_error_contains("holds more than its stored pages");
	forge_bitmap(f->fd, 511);
	assert_int_equal(inflate_back(f, stored), 0);
}

static void memory_compressed_truncated(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t stored = write_ram_compressed(f, true);
	const uint64_t shorter[] = { 0, 7, 8, STREAM_AT - SECTION_AT - 1, STREAM_AT - SECTION_AT,
				     STREAM_AT - SECTION_AT + 2, stored / 2, stored - 4, stored - 1 };
	uint64_t zero = 0;

	for (size_t i = 0; i < sizeof(shorter) / sizeof(shorter[0]); i++) {
		if (inflate_back(f, shorter[i]) != -EBADMSG)
			fail_msg("%llu of %llu bytes accepted or wrong error: %s",
				 (unsigned long long)shorter[i], (unsigned long long)stored, error_get());
		assert_unstored_pages_untouched(f);
	}

	/* Bytes after the stream, inside what the header says is the section. */
	assert_int_equal(pwrite(f->fd, &zero, 8, (off_t)(SECTION_AT + stored)), 8);
	assert_int_equal(inflate_back(f, stored + 8), -EBADMSG);
	assert_error_contains("8 bytes after its compressed data");

	/* A file cut inside the section it says it has. */
	assert_int_equal(ftruncate(f->fd, (off_t)(SECTION_AT + stored - 10)), 0);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	assert_error_contains("truncated");
}

static void memory_compressed_page_count(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t stored = write_ram_compressed(f, true);
	uint64_t count;

	/* The VM has another memory size than the section. */
	assert_int_equal(snapshot_memory_inflate(f->fd, SECTION_AT, stored, f->back,
						 RAM_SIZE - PAGE), -EBADMSG);
	assert_error_contains("is for 1536 pages; its memory size is 1535");

	le_store((uint8_t *)&count, UINT64_MAX, 8);
	assert_int_equal(pwrite(f->fd, &count, 8, SECTION_AT), 8);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
	le_store((uint8_t *)&count, RAM_PAGES + 1, 8);
	assert_int_equal(pwrite(f->fd, &count, 8, SECTION_AT), 8);
	assert_int_equal(inflate_back(f, stored), -EBADMSG);
}

/* 13 pages: the bitmap's last byte has bits for pages the RAM lacks, which must stay clear. */
static void memory_compressed_odd_page_count(void **state)
{
	struct ram_fixture *f = *state;
	uint64_t stored;
	uint8_t bitmap[2], crc[4];

	memset(f->back, 0, 13 * PAGE);
	f->back[0] = 1;
	f->back[5 * PAGE + 100] = 2;
	f->back[13 * PAGE - 1] = 3;
	assert_int_equal(snapshot_memory_write(f->fd, SECTION_AT, f->back, 13 * PAGE, NULL, true,
					       &stored), 0);
	memset(f->back, 0, 13 * PAGE);
	assert_int_equal(snapshot_memory_inflate(f->fd, SECTION_AT, stored, f->back, 13 * PAGE), 0);
	assert_int_equal(f->back[0], 1);
	assert_int_equal(f->back[5 * PAGE + 100], 2);
	assert_int_equal(f->back[13 * PAGE - 1], 3);

	assert_int_equal(pread(f->fd, bitmap, 2, BITMAP_AT), 2);
	assert_int_equal(bitmap[0], 0x21);
	assert_int_equal(bitmap[1], 0x10);
	bitmap[1] |= 0x40;
	le_store(crc, crc32(0, bitmap, 2), 4);
	assert_int_equal(pwrite(f->fd, bitmap, 2, BITMAP_AT), 2);
	assert_int_equal(pwrite(f->fd, crc, 4, BITMAP_AT + 2), 4);
	assert_int_equal(snapshot_memory_inflate(f->fd, SECTION_AT, stored, f->back, 13 * PAGE),
			 -EBADMSG);
	assert_error_contains("past the end of memory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(header_wrong_magic),
		cmocka_unit_test(header_crc_mismatch),
		cmocka_unit_test(header_version),
		cmocka_unit_test(header_unknown_flags),
		cmocka_unit_test(header_other_arch),
		cmocka_unit_test(header_size_and_padding),
		cmocka_unit_test(header_bad_layout),
		cmocka_unit_test(header_truncated_file),
		cmocka_unit_test(state_crc),
		cmocka_unit_test(records_round_trip),
		cmocka_unit_test(records_get),
		cmocka_unit_test(records_empty),
		cmocka_unit_test(records_truncated),
		cmocka_unit_test(records_bad_framing),
		cmocka_unit_test(records_duplicate),
		cmocka_unit_test(records_count_limit),
		cmocka_unit_test(writer_size_limit),
		cmocka_unit_test_setup_teardown(memory_raw_from_memfd, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_raw_reading_every_page, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_compressed_round_trip, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_all_zero, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_clone_on_tmpfs, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_clone_on_disk, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_bad_arguments, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_compressed_corrupted, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_compressed_lying_bitmap, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_compressed_truncated, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_compressed_page_count, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(memory_compressed_odd_page_count, ram_setup,
						ram_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
