#define _GNU_SOURCE /* MADV_POPULATE_WRITE */
#include "vmm/snapshot_pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/memory.h"
#include "snapshot/format.h"
#include "util/file.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define PAGE SNAPSHOT_PAGE_SIZE
#define RECORD_MAGIC "AGVMPAGE"
#define RECORD_VERSION 1u

/* A record: this header, then `count` ascending uint32_t page numbers. Host-endian. */
struct record_header {
	char magic[8];
	uint32_t version;
	uint32_t count;
	struct snapshot_pages_id id;
};

static struct snapshot_pages_id file_id(const struct stat *st)
{
	return (struct snapshot_pages_id){
		.dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino,
		.size = (uint64_t)st->st_size, .mtime_sec = (uint64_t)st->st_mtim.tv_sec,
		.mtime_nsec = (uint64_t)st->st_mtim.tv_nsec,
	};
}

/* The end of reading a page list from fd: the list and its length if ok, else NULL. */
static uint32_t *list_done(int fd, bool ok, uint32_t *list, uint32_t n, uint32_t *count)
{
	if (fd >= 0)
		close(fd);
	if (!ok) {
		free(list);
		return NULL;
	}
	*count = n;
	return list;
}

/* The record's page numbers if it is valid for `id` and RAM of `pages` pages; NULL otherwise. */
static uint32_t *record_read(const char *record_path, const struct snapshot_pages_id *id,
			     uint64_t pages, uint32_t *count)
{
	struct record_header h;
	uint32_t *list = NULL;
	int fd = open(record_path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && file_read_at(fd, &h, sizeof(h), 0) == 0 &&
		  memcmp(h.magic, RECORD_MAGIC, sizeof(h.magic)) == 0 &&
		  h.version == RECORD_VERSION && h.count <= SNAPSHOT_PAGES_MAX &&
		  memcmp(&h.id, id, sizeof(*id)) == 0;

	if (ok)
		list = malloc(((size_t)h.count ? h.count : 1) * sizeof(*list));
	ok = list && file_read_at(fd, list, (size_t)h.count * sizeof(*list), sizeof(h)) == 0;
	/* Ascending and inside RAM, or not ours. */
	for (uint32_t i = 0; ok && i < h.count; i++)
		ok = list[i] < pages && (i == 0 || list[i] > list[i - 1]);
	return list_done(fd, ok, list, ok ? h.count : 0, count);
}

/* Make pages [first, first + n) private copies; page by page where MADV_POPULATE_WRITE is missing. */
static void copy_ahead(uint8_t *host, uint32_t first, uint32_t n)
{
	if (madvise(host + (uint64_t)first * PAGE, (size_t)n * PAGE, MADV_POPULATE_WRITE) == 0)
		return;
	for (uint32_t i = 0; i < n; i++) {
		volatile uint8_t *p = host + (uint64_t)(first + i) * PAGE;

		*p = *p;
	}
}

void snapshot_pages_apply(struct guest_memory *mem, const char *path, int fd,
			  struct snapshot_pages_learner *learner)
{
	uint32_t *list, count, run;
	struct stat st;

	*learner = (struct snapshot_pages_learner){ 0 };
	if (fstat(fd, &st) < 0 || asprintf(&learner->record_path, "%s.pages", path) < 0) {
		learner->record_path = NULL;
		return;
	}
	learner->id = file_id(&st);
	list = record_read(learner->record_path, &learner->id, mem->size / PAGE, &count);
	if (!list)
		return; /* armed: this restore writes the record */
	snapshot_pages_learner_free(learner);
	for (uint32_t i = 0; i < count; i += run) {
		for (run = 1; i + run < count && list[i + run] == list[i] + run; run++)
			;
		copy_ahead(mem->host, list[i], run);
	}
	free(list);
}

struct page_list {
	uint32_t *pages;
	uint32_t n;
};

static bool add_private(uint64_t first, uint64_t end, enum guest_page_kind kind, void *arg)
{
	struct page_list *l = arg;

	for (uint64_t p = first; kind == GUEST_PAGE_PRIVATE && p < end; p++) {
		if (l->n == SNAPSHOT_PAGES_MAX)
			return false;
		l->pages[l->n++] = (uint32_t)p;
	}
	return true;
}

/* Pages of mem that are private copies now; NULL when pagemap fails or they are too many. */
static uint32_t *private_pages(const struct guest_memory *mem, uint32_t *count)
{
	struct page_list l = { .pages = malloc(SNAPSHOT_PAGES_MAX * sizeof(*l.pages)) };
	bool ok = l.pages && guest_memory_page_kinds(mem, add_private, &l);

	return list_done(-1, ok, l.pages, l.n, count);
}

/* Beside the snapshot, atomically: a reader sees no record or a whole one. */
static void record_write(const char *record_path, const struct snapshot_pages_id *id,
			 const uint32_t *list, uint32_t count)
{
	struct record_header h = { .version = RECORD_VERSION, .count = count, .id = *id };
	char *tmp;
	int fd;
	bool ok;

	memcpy(h.magic, RECORD_MAGIC, sizeof(h.magic));
	if (asprintf(&tmp, "%s.XXXXXX", record_path) < 0)
		return;
	fd = mkostemp(tmp, O_CLOEXEC);
	ok = fd >= 0 && file_write_at(fd, &h, sizeof(h), 0) == 0 &&
	     file_write_at(fd, list, (size_t)count * sizeof(*list), sizeof(h)) == 0 &&
	     fchmod(fd, 0644) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (fd >= 0 && (!ok || rename(tmp, record_path) < 0))
		unlink(tmp);
	free(tmp);
}

void snapshot_pages_learn(const struct guest_memory *mem, struct snapshot_pages_learner *learner)
{
	uint32_t *list, count;

	if (!learner->record_path)
		return;
	list = private_pages(mem, &count);
	if (list)
		record_write(learner->record_path, &learner->id, list, count);
	free(list);
	snapshot_pages_learner_free(learner);
}

void snapshot_pages_learner_free(struct snapshot_pages_learner *learner)
{
	free(learner->record_path);
	learner->record_path = NULL;
}
