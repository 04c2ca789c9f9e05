#define ZLIB_CONST  /* next_in points at const RAM */
#include "snapshot/memory_image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/format.h"
#include "util/error.h"
#include "util/file.h"

#define PAGE SNAPSHOT_PAGE_SIZE
#define PAGE_MASK ((uint64_t)PAGE - 1)
/*
 * A run of non-zero pages is written (or fed to deflate, or inflated) in one
 * call up to this size: few enough calls for any RAM size, and the pages just
 * checked for zeroes are still in cache when they are copied.
 */
#define RUN_MAX (2u << 20)
/* Compressed bytes buffered between zlib and the file, either way. */
#define IO_BUF (256u << 10)
/* The compressed section's head: page count, bitmap, bitmap CRC, zero padding to 8. */
#define COUNT_SIZE 8
#define CRC_SIZE 4
#define HEAD_ALIGN 8

static uint64_t bitmap_size(uint64_t pages)
{
	return (pages + 7) / 8;
}

static uint64_t head_size(uint64_t pages)
{
	return (COUNT_SIZE + bitmap_size(pages) + CRC_SIZE + HEAD_ALIGN - 1) & ~(uint64_t)(HEAD_ALIGN - 1);
}

static int ram_size_check(uint64_t size)
{
	if (size == 0 || size & PAGE_MASK || size > SNAPSHOT_MAX_MEMORY)
		return error_set(-EINVAL, "guest memory of %llu bytes is not a whole number of pages between 1 and %llu bytes",
				 (unsigned long long)size, SNAPSHOT_MAX_MEMORY);
	return 0;
}

/* ---- Finding the pages worth storing ---- */

/*
 * Word-wise, eight words at a time: an all-zero page (the common case) costs
 * a few loads per cache line, and a non-zero one usually ends at its first.
 */
static bool page_is_zero(const uint8_t *p)
{
	for (size_t at = 0; at < PAGE; at += 64) {
		uint64_t w[8];

		memcpy(w, p + at, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
			return false;
	}
	return true;
}

/* ---- Page bitmaps: bit page % 8 of byte page / 8 ---- */

static bool page_bit(const uint8_t *bitmap, uint64_t page)
{
	return bitmap[page / 8] >> (page % 8) & 1;
}

/* The first page of [page, end) whose bit is `set`, or `end` if there is none. */
static uint64_t bitmap_find(const uint8_t *bitmap, uint64_t page, uint64_t end, bool set)
{
	const uint8_t none = set ? 0x00 : 0xff; /* a byte none of whose pages is wanted */

	while (page < end) {
		if (page % 8 == 0 && bitmap[page / 8] == none)
			page += 8;
		else if (page_bit(bitmap, page) == set)
			return page;
		else
			page++;
	}
	return end;
}

/* Runs of non-zero pages in ascending order, reading no page data_pages leaves out. */
struct page_scan {
	const uint8_t *ram;
	uint64_t size;
	const uint8_t *data_pages;
	uint64_t pos;      /* the next byte to look at */
	uint64_t data_end; /* [pos, data_end) may hold data; past it, ask data_pages */
};

/* Move to the next run of pages that may hold data; false when there is none. */
static bool next_extent(struct page_scan *s)
{
	uint64_t pages = s->size / PAGE;
	uint64_t first = bitmap_find(s->data_pages, s->pos / PAGE, pages, true);

	s->pos = first * PAGE;
	s->data_end = bitmap_find(s->data_pages, first, pages, false) * PAGE;
	return first < pages;
}

/*
 * The next run of non-zero pages, at most RUN_MAX: true with
 * [*start, *start + *len), false after the last.
 */
static bool next_run(struct page_scan *s, uint64_t *start, uint64_t *len)
{
	while (s->pos < s->size) {
		if (s->pos >= s->data_end) {
			if (!next_extent(s))
				return false;
		} else if (page_is_zero(s->ram + s->pos)) {
			s->pos += PAGE;
		} else {
			*start = s->pos;
			do
				s->pos += PAGE;
			while (s->pos < s->data_end && s->pos - *start < RUN_MAX &&
			       !page_is_zero(s->ram + s->pos));
			*len = s->pos - *start;
			return true;
		}
	}
	return false;
}

/* ---- File I/O ---- */

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t offset)
{
	int err = file_write_at(fd, p, len, offset);

	return err ? error_set_errno(err, "cannot write the snapshot's memory") : 0;
}

static int read_exact(int fd, uint8_t *p, size_t len, uint64_t offset)
{
	int err = file_read_at(fd, p, len, offset);

	if (err == -ENODATA)
		return error_set(-EBADMSG, "snapshot is truncated inside its memory section");
	return err ? error_set_errno(err, "cannot read the snapshot's memory") : 0;
}

/* ---- Raw ---- */

/*
 * Pages at their own positions; what is not written stays a hole that reads
 * as zero. The file gets its full size first: a tmpfs mounted
 * huge=within_size gives huge pages only inside the file's size.
 */
static int write_raw(int fd, uint64_t offset, struct page_scan *scan, uint64_t *stored)
{
	uint64_t start, len;
	int err = 0;

	if (ftruncate(fd, (off_t)(offset + scan->size)) < 0)
		return error_set_errno(-errno, "cannot size the snapshot's memory section");
	while (!err && next_run(scan, &start, &len))
		err = write_all(fd, scan->ram + start, (size_t)len, offset + start);
	if (err)
		return err;
	*stored = scan->size;
	return 0;
}

/* ---- Compressed ---- */

struct deflater {
	z_stream z;
	int fd;
	uint64_t at; /* where the next compressed byte goes in the file */
	uint8_t *out;
};

/*
 * Compress what z holds as input (all of it, for Z_NO_FLUSH) or end the
 * stream (Z_FINISH), writing out the buffer each time it fills.
 */
static int deflate_run(struct deflater *d, int flush)
{
	int ret, err;

	do {
		d->z.next_out = d->out;
		d->z.avail_out = IO_BUF;
		ret = deflate(&d->z, flush);
		if (ret == Z_STREAM_ERROR)
			return error_set(-EIO, "cannot compress the snapshot's memory: zlib state error");
		err = write_all(d->fd, d->out, IO_BUF - d->z.avail_out, d->at);
		if (err)
			return err;
		d->at += IO_BUF - d->z.avail_out;
	} while (flush == Z_FINISH ? ret != Z_STREAM_END : d->z.avail_out == 0);
	return 0;
}

/* Deflate every run into the stream after the head, marking its pages in the bitmap. */
static int deflate_pages(struct deflater *d, struct page_scan *scan, uint8_t *bitmap)
{
	uint64_t start, len;
	int err = 0;

	while (!err && next_run(scan, &start, &len)) {
		for (uint64_t page = start / PAGE; page < (start + len) / PAGE; page++)
			bitmap[page / 8] |= (uint8_t)(1u << (page % 8));
		d->z.next_in = scan->ram + start;
		d->z.avail_in = (uInt)len;
		err = deflate_run(d, Z_NO_FLUSH);
	}
	return err ? err : deflate_run(d, Z_FINISH);
}

/* The stream first, then the head before it: the bitmap is known only at the end. */
static int write_compressed(int fd, uint64_t offset, struct page_scan *scan, uint64_t *stored)
{
	uint64_t pages = scan->size / PAGE;
	size_t head_len = (size_t)head_size(pages);
	uint8_t *head = calloc(1, head_len);
	struct deflater d = { .fd = fd, .at = offset + head_len, .out = malloc(IO_BUF) };
	int err;

	if (!head || !d.out) {
		err = error_set(-ENOMEM, "out of memory for compressing the snapshot's memory");
		goto out;
	}
	/* Level 1: RAM is mostly zeroes or already dense; speed matters more than the last percent. */
	if (deflateInit(&d.z, 1) != Z_OK) {
		err = error_set(-ENOMEM, "out of memory for compressing the snapshot's memory");
		goto out;
	}
	err = deflate_pages(&d, scan, head + COUNT_SIZE);
	if (!err) {
		le_store(head, pages, COUNT_SIZE);
		le_store(head + COUNT_SIZE + bitmap_size(pages),
				  crc32_z(crc32_z(0, NULL, 0), head + COUNT_SIZE, (size_t)bitmap_size(pages)),
				  CRC_SIZE);
		err = write_all(fd, head, head_len, offset);
	}
	if (!err)
		*stored = head_len + d.z.total_out;
	deflateEnd(&d.z);
out:
	free(d.out);
	free(head);
	return err;
}

int snapshot_memory_write(int fd, uint64_t offset, const uint8_t *ram, uint64_t size,
			  const uint8_t *data_pages, bool compress, uint64_t *stored)
{
	/* Without a bitmap, all of RAM is one extent that may hold data. */
	struct page_scan scan = { .ram = ram, .size = size, .data_pages = data_pages,
				  .data_end = data_pages ? 0 : size };
	int err = ram_size_check(size);

	if (err)
		return err;
	if (offset & PAGE_MASK || offset > INT64_MAX - size)
		return error_set(-EINVAL, "snapshot memory offset %llu is not page-aligned or too large",
				 (unsigned long long)offset);
	/* Whatever was there must not show through the holes of a raw section. */
	if (ftruncate(fd, (off_t)offset) < 0)
		return error_set_errno(-errno, "cannot truncate the snapshot file");
	return compress ? write_compressed(fd, offset, &scan, stored)
			: write_raw(fd, offset, &scan, stored);
}

/* ---- Inflating ---- */

struct inflater {
	z_stream z;
	int fd;
	uint64_t at;   /* file position of the next compressed byte to read */
	uint64_t left; /* compressed bytes of the section not read yet */
	uint8_t *in;
	bool ended;    /* inflate() said Z_STREAM_END */
};

/* One inflate() call with input available; the caller has set up the output. */
static int inflate_step(struct inflater *f)
{
	int ret, err;

	if (f->z.avail_in == 0) {
		size_t n = f->left < IO_BUF ? (size_t)f->left : IO_BUF;

		if (n == 0)
			return error_set(-EBADMSG, "snapshot's compressed memory is cut short");
		err = read_exact(f->fd, f->in, n, f->at);
		if (err)
			return err;
		f->z.next_in = f->in;
		f->z.avail_in = (uInt)n;
		f->at += n;
		f->left -= n;
	}
	ret = inflate(&f->z, Z_NO_FLUSH);
	if (ret == Z_STREAM_END)
		f->ended = true;
	else if (ret == Z_MEM_ERROR)
		return error_set(-ENOMEM, "out of memory for inflating the snapshot's memory");
	/* With input and output room, anything else is bad data (Z_BUF_ERROR cannot happen). */
	else if (ret != Z_OK)
		return error_set(-EBADMSG, "snapshot's compressed memory is corrupted: %s",
				 f->z.msg ? f->z.msg : "zlib error");
	return 0;
}

/* Exactly len bytes of output into out. */
static int inflate_exact(struct inflater *f, uint8_t *out, size_t len)
{
	int err = 0;

	f->z.next_out = out;
	f->z.avail_out = (uInt)len;
	while (!err && f->z.avail_out) {
		if (f->ended)
			return error_set(-EBADMSG, "snapshot's compressed memory ends before its last stored page");
		err = inflate_step(f);
	}
	return err;
}

/* The stream must end now, with no more output, and be the last thing in the section. */
static int inflate_finish(struct inflater *f)
{
	uint8_t extra;
	int err = 0;

	while (!err && !f->ended) {
		f->z.next_out = &extra;
		f->z.avail_out = 1;
		err = inflate_step(f);
		if (!err && f->z.avail_out == 0)
			return error_set(-EBADMSG, "snapshot's compressed memory holds more than its stored pages");
	}
	if (!err && (f->z.avail_in || f->left))
		err = error_set(-EBADMSG, "snapshot's memory section has %llu bytes after its compressed data",
				(unsigned long long)(f->z.avail_in + f->left));
	return err;
}

/* Inflate each run of stored pages straight into its place in ram. */
static int inflate_pages(struct inflater *f, const uint8_t *bitmap, uint64_t pages, uint8_t *ram)
{
	uint64_t page = 0, end;
	int err = 0;

	while (!err && (page = bitmap_find(bitmap, page, pages, true)) < pages) {
		end = page + RUN_MAX / PAGE < pages ? page + RUN_MAX / PAGE : pages;
		end = bitmap_find(bitmap, page, end, false);
		err = inflate_exact(f, ram + page * PAGE, (size_t)((end - page) * PAGE));
		page = end;
	}
	return err ? err : inflate_finish(f);
}

/* Page count, bitmap and its CRC: the head must describe this RAM and be intact. */
static int head_check(const uint8_t *head, uint64_t pages)
{
	const uint8_t *bitmap = head + COUNT_SIZE;
	uint64_t bitmap_len = bitmap_size(pages);
	uint64_t crc_end = COUNT_SIZE + bitmap_len + CRC_SIZE;
	uint32_t crc = (uint32_t)crc32_z(crc32_z(0, NULL, 0), bitmap, (size_t)bitmap_len);

	if ((uint32_t)le_load(bitmap + bitmap_len, CRC_SIZE) != crc)
		return error_set(-EBADMSG, "snapshot's memory page bitmap is corrupted: its CRC does not match");
	/* Bits past the last page would name pages the RAM does not have. */
	if (pages % 8 && bitmap[bitmap_len - 1] >> (pages % 8))
		return error_set(-EBADMSG, "snapshot's memory page bitmap marks pages past the end of memory");
	for (uint64_t i = crc_end; i < head_size(pages); i++)
		if (head[i])
			return error_set(-EBADMSG, "snapshot's memory page bitmap has nonzero padding");
	return 0;
}

int snapshot_memory_inflate(int fd, uint64_t offset, uint64_t stored, uint8_t *ram,
			    uint64_t size)
{
	uint64_t pages = size / PAGE, head_len = head_size(pages), count;
	uint8_t count_bytes[COUNT_SIZE], *head = NULL;
	struct inflater f = { .fd = fd };
	int err = ram_size_check(size);

	if (!err && (offset > INT64_MAX || stored > INT64_MAX - offset))
		err = error_set(-EBADMSG, "snapshot's memory section (%llu bytes at %llu) ends past any file",
				(unsigned long long)stored, (unsigned long long)offset);
	if (!err && stored < COUNT_SIZE)
		err = error_set(-EBADMSG, "snapshot's compressed memory section is %llu bytes, too short for a page count",
				(unsigned long long)stored);
	if (!err)
		err = read_exact(fd, count_bytes, COUNT_SIZE, offset);
	if (err)
		return err;
	count = le_load(count_bytes, COUNT_SIZE);
	if (count != pages)
		return error_set(-EBADMSG, "snapshot's memory section is for %llu pages; its memory size is %llu",
				 (unsigned long long)count, (unsigned long long)pages);
	if (stored < head_len)
		return error_set(-EBADMSG, "snapshot's compressed memory section is %llu bytes, too short for its %llu-byte page bitmap",
				 (unsigned long long)stored, (unsigned long long)bitmap_size(pages));

	/* The head's size follows from the caller's RAM size, not from the file. */
	head = malloc((size_t)head_len);
	f.in = malloc(IO_BUF);
	if (!head || !f.in) {
		err = error_set(-ENOMEM, "out of memory for inflating the snapshot's memory");
		goto out;
	}
	err = read_exact(fd, head, (size_t)head_len, offset);
	if (!err)
		err = head_check(head, pages);
	if (err)
		goto out;
	if (inflateInit(&f.z) != Z_OK) {
		err = error_set(-ENOMEM, "out of memory for inflating the snapshot's memory");
		goto out;
	}
	f.at = offset + head_len;
	f.left = stored - head_len;
	err = inflate_pages(&f, head + COUNT_SIZE, pages, ram);
	inflateEnd(&f.z);
out:
	free(f.in);
	free(head);
	return err;
}
