/*
 * virtio-blk end to end without KVM: the test is the guest driver, talking to
 * the transport registers and rings in guest memory, while the device's own
 * I/O thread serves a temporary image file. Covers the data path both ways,
 * GET_ID, capacity and read-only checks, FLUSH, DISCARD and WRITE_ZEROES,
 * unknown requests, a malformed ring, reset, opening errors, and pausing,
 * saving and restoring for snapshots.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "devices/virtio/blk.h"
#include "guest-driver.h"
#include "util/error.h"

#define IMAGE_SECTORS 2048 /* 1 MiB */
#define IMAGE_SIZE (IMAGE_SECTORS * 512)
#define SERIAL "agentvm-test-serial"
#define WAIT_NS (5 * 1000000000LL)

struct fixture {
	struct guest_driver d;
	char path[256];
	struct virtio_blk *blk;
	struct virtio_mmio *t;
	atomic_int interrupts; /* raised on the device's I/O thread */
	uint16_t used_target;  /* what used->idx reaches when the request in flight is done */
	int threads_before, threads_target;
};

/* What the image holds before the guest changes it. */
static uint8_t pattern(uint64_t offset)
{
	return (uint8_t)(offset ^ (offset >> 9));
}

static int count_threads(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Poll `done` for up to WAIT_NS: the device works on its own thread. */
static bool wait_for(bool (*done)(struct fixture *), struct fixture *f)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	int64_t deadline = now_ns() + WAIT_NS;

	while (!done(f)) {
		if (now_ns() > deadline)
			return false;
		nanosleep(&ms, NULL);
	}
	return true;
}

static bool threads_settled(struct fixture *f)
{
	return count_threads() == f->threads_target;
}

/*
 * Whether the process settles at n threads: a joined thread can linger in
 * /proc/self/task for a moment, as pthread_join() returns when the kernel
 * clears its tid, before the task is unlinked.
 */
static bool threads_are(struct fixture *f, int n)
{
	f->threads_target = n;
	return wait_for(threads_settled, f);
}

static void record_interrupt(void *ctx)
{
	struct fixture *f = ctx;

	atomic_fetch_add(&f->interrupts, 1);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	uint8_t *image = malloc(IMAGE_SIZE);
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/agentvm-blk-XXXXXX", tmp ? tmp : "/tmp");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < IMAGE_SIZE; i++)
		image[i] = pattern(i);
	assert_int_equal(write(fd, image, IMAGE_SIZE), IMAGE_SIZE);
	close(fd);
	free(image);
	guest_driver_init(&f->d, 16);
	f->threads_before = count_threads();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_blk_destroy(f->blk);
	assert_true(threads_are(f, f->threads_before));
	guest_driver_destroy(&f->d);
	unlink(f->path);
	free(f);
	return 0;
}

static void bring_up(struct fixture *f)
{
	uint32_t status = guest_negotiate(f->t, guest_device_features(f->t));

	assert_true(status & VIRTIO_CONFIG_S_FEATURES_OK);
	guest_setup_queue(&f->d, f->t, 0);
	mmio_write32(f->t, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(mmio_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Create the device over the fixture's image, as the VMM does; the driver has not seen it yet. */
static void create(struct fixture *f, bool read_only)
{
	const struct virtio_interrupt irq = { .raise = record_interrupt, .ctx = f };

	assert_int_equal(virtio_blk_create(f->path, read_only, SERIAL, &f->d.mem, &irq, &f->blk), 0);
	f->t = virtio_blk_transport(f->blk);
}

/* Create the device and bring it up as a driver would. */
static void start(struct fixture *f, bool read_only)
{
	create(f, read_only);
	bring_up(f);
}

static bool used_reached(struct fixture *f)
{
	return guest_used_idx(&f->d) == f->used_target;
}

/* A request the driver has put on the ring; one at a time. */
struct request {
	uint16_t head;
	uint16_t slot; /* the used-ring entry the device will fill */
	uint8_t *status;
};

/* Put one request (header, `data`, status byte) on the ring and kick the queue. */
static struct request post(struct fixture *f, uint32_t type, uint64_t sector,
			   const struct guest_buf *data, unsigned int ndata)
{
	struct guest_buf bufs[8];
	const struct virtio_blk_outhdr hdr = { .type = type, .sector = sector };
	uint64_t status_gpa = guest_alloc(&f->d, 1);
	struct request r = { .slot = guest_used_idx(&f->d), .status = guest_host(&f->d, status_gpa) };

	assert_true(ndata + 2 <= 8);
	bufs[0] = (struct guest_buf){ guest_alloc(&f->d, sizeof(hdr)), sizeof(hdr), false };
	memcpy(guest_host(&f->d, bufs[0].gpa), &hdr, sizeof(hdr));
	if (ndata)
		memcpy(bufs + 1, data, ndata * sizeof(*data));
	bufs[ndata + 1] = (struct guest_buf){ status_gpa, 1, true };
	*r.status = 0xff;
	r.head = guest_add_chain(&f->d, bufs, ndata + 2);
	mmio_write32(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	return r;
}

/* Wait for the device to use the request. Returns its status byte; *used_len what the device reported written. */
static uint8_t complete(struct fixture *f, const struct request *r, uint32_t *used_len)
{
	const struct vring_used_elem *e = &f->d.used->ring[r->slot % f->d.layout.size];

	f->used_target = (uint16_t)(r->slot + 1);
	assert_true(wait_for(used_reached, f));
	assert_int_equal(e->id, r->head);
	if (used_len)
		*used_len = e->len;
	return *r->status;
}

/* Submit one request and wait for the device to use it. */
static uint8_t submit(struct fixture *f, uint32_t type, uint64_t sector,
		      const struct guest_buf *data, unsigned int ndata, uint32_t *used_len)
{
	struct request r = post(f, type, sector, data, ndata);

	return complete(f, &r, used_len);
}

/* A guest buffer of `len` bytes, each set to `fill`. */
static struct guest_buf buffer(struct fixture *f, uint32_t len, bool writable, int fill)
{
	struct guest_buf b = { guest_alloc(&f->d, len), len, writable };

	memset(guest_host(&f->d, b.gpa), fill, len);
	return b;
}

static void assert_image(struct fixture *f, uint64_t offset, const uint8_t *want, size_t len)
{
	uint8_t got[4096];
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0 && len <= sizeof(got));
	assert_int_equal(pread(fd, got, len, (off_t)offset), len);
	close(fd);
	assert_memory_equal(got, want, len);
}

static void write_then_read_back(void **state)
{
	struct fixture *f = *state;
	struct guest_buf out = buffer(f, 1024, false, 0);
	struct guest_buf in[2] = { buffer(f, 512, true, 0xee), buffer(f, 512, true, 0xee) };
	uint8_t *src = guest_host(&f->d, out.gpa);
	uint32_t len;

	for (int i = 0; i < 1024; i++)
		src[i] = (uint8_t)(i * 7 + 1);
	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 4, &out, 1, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	assert_image(f, 4 * 512, src, 1024);

	/* Read it back scattered over two buffers. */
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 4, in, 2, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1024 + 1);
	assert_memory_equal(guest_host(&f->d, in[0].gpa), src, 512);
	assert_memory_equal(guest_host(&f->d, in[1].gpa), src + 512, 512);
}

static void reads_what_the_image_holds(void **state)
{
	struct fixture *f = *state;
	struct guest_buf in = buffer(f, 512, true, 0);
	uint8_t want[512];

	for (int i = 0; i < 512; i++)
		want[i] = pattern(IMAGE_SIZE - 512 + i);
	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 1, &in, 1, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(guest_host(&f->d, in.gpa), want, 512);
}

static bool interrupted(struct fixture *f)
{
	return atomic_load(&f->interrupts) > 0;
}

static void completion_interrupts(void **state)
{
	struct fixture *f = *state;

	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	assert_true(wait_for(interrupted, f));
	assert_true(mmio_read32(f->t, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
}

static void get_id_returns_serial(void **state)
{
	struct fixture *f = *state;
	struct guest_buf id = buffer(f, VIRTIO_BLK_ID_BYTES, true, 0xee);
	uint8_t want[VIRTIO_BLK_ID_BYTES] = SERIAL;
	uint32_t len;

	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_GET_ID, 0, &id, 1, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, VIRTIO_BLK_ID_BYTES + 1);
	assert_memory_equal(guest_host(&f->d, id.gpa), want, sizeof(want));
}

static void out_of_range_requests_fail(void **state)
{
	struct fixture *f = *state;
	struct guest_buf two = buffer(f, 1024, true, 0), one = buffer(f, 512, true, 0);
	struct guest_buf odd = buffer(f, 100, true, 0), out = buffer(f, 512, false, 0);

	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 1, &two, 1, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS, &one, 1, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, UINT64_MAX, &one, 1, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, &odd, 1, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, IMAGE_SECTORS, &out, 1, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Data in the wrong direction for the request type. */
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, &out, 1, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 0, &one, 1, NULL), VIRTIO_BLK_S_IOERR);
	/* The image is unchanged and the device still serves. */
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 1, &one, 1, NULL),
			 VIRTIO_BLK_S_OK);
}

static void read_only_refuses_writes(void **state)
{
	struct fixture *f = *state;
	struct guest_buf out = buffer(f, 512, false, 0x11), in = buffer(f, 512, true, 0);
	struct guest_buf seg = buffer(f, sizeof(struct virtio_blk_discard_write_zeroes), false, 0);
	uint8_t want[512];

	start(f, true);
	assert_true(virtio_mmio_negotiated(f->t, VIRTIO_BLK_F_RO));
	assert_false(virtio_mmio_negotiated(f->t, VIRTIO_BLK_F_DISCARD));
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 0, &out, 1, NULL), VIRTIO_BLK_S_IOERR);
	*(struct virtio_blk_discard_write_zeroes *)guest_host(&f->d, seg.gpa) =
		(struct virtio_blk_discard_write_zeroes){ .sector = 0, .num_sectors = 8 };
	assert_int_equal(submit(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, 1, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, &in, 1, NULL), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 512; i++)
		want[i] = pattern((uint64_t)i);
	assert_memory_equal(guest_host(&f->d, in.gpa), want, 512);
	assert_image(f, 0, want, 512);
}

static void flush_succeeds(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	start(f, false);
	assert_true(virtio_mmio_negotiated(f->t, VIRTIO_BLK_F_FLUSH));
	assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
}

/* Send a DISCARD or WRITE_ZEROES for one segment. */
static uint8_t punch_flags(struct fixture *f, uint32_t type, uint64_t sector, uint32_t sectors,
			   uint32_t flags)
{
	const struct virtio_blk_discard_write_zeroes s = {
		.sector = sector, .num_sectors = sectors, .flags = flags,
	};
	struct guest_buf seg = buffer(f, sizeof(s), false, 0);

	memcpy(guest_host(&f->d, seg.gpa), &s, sizeof(s));
	return submit(f, type, 0, &seg, 1, NULL);
}

static uint8_t punch(struct fixture *f, uint32_t type, uint64_t sector, uint32_t sectors)
{
	return punch_flags(f, type, sector, sectors, 0);
}

static void discard_punches_hole(void **state)
{
	struct fixture *f = *state;
	const uint8_t zeroes[4096] = { 0 };
	uint8_t before[512];
	int fd;

	start(f, false);
	assert_int_equal(punch(f, VIRTIO_BLK_T_DISCARD, 128, 128), VIRTIO_BLK_S_OK);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* The image had no holes; now [64 KiB, 128 KiB) is one. */
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), 128 * 512);
	assert_int_equal(lseek(fd, 128 * 512, SEEK_DATA), 256 * 512);
	close(fd);
	assert_image(f, 128 * 512, zeroes, sizeof(zeroes));
	for (int i = 0; i < 512; i++)
		before[i] = pattern(127 * 512 + i);
	assert_image(f, 127 * 512, before, 512);

	/* Out of range or oversized segments are errors. */
	assert_int_equal(punch(f, VIRTIO_BLK_T_DISCARD, IMAGE_SECTORS - 8, 16), VIRTIO_BLK_S_IOERR);
	assert_int_equal(punch(f, VIRTIO_BLK_T_DISCARD, 0, 0x400000), VIRTIO_BLK_S_IOERR);
}

static void write_zeroes_reads_back_zeroes(void **state)
{
	struct fixture *f = *state;
	const uint8_t zeroes[4096] = { 0 };
	struct guest_buf in = buffer(f, 4096, true, 0xee);

	start(f, false);
	assert_int_equal(punch(f, VIRTIO_BLK_T_WRITE_ZEROES, 512, 8), VIRTIO_BLK_S_OK);
	assert_image(f, 512 * 512, zeroes, sizeof(zeroes));
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 512, &in, 1, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(guest_host(&f->d, in.gpa), zeroes, sizeof(zeroes));
}

static void segment_flags_checked(void **state)
{
	struct fixture *f = *state;
	const uint8_t zeroes[4096] = { 0 };

	start(f, false);
	/* UNMAP is for WRITE_ZEROES only (virtio 1.2, 5.2.6.2); other bits are unknown. */
	assert_int_equal(punch_flags(f, VIRTIO_BLK_T_DISCARD, 8, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(punch_flags(f, VIRTIO_BLK_T_DISCARD, 8, 8, 2), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(punch_flags(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 2), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(punch_flags(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8,
				     VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
			 VIRTIO_BLK_S_OK);
	assert_image(f, 8 * 512, zeroes, sizeof(zeroes));
}

static void unknown_type_unsupported(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	start(f, false);
	assert_int_equal(submit(f, 0x1234, 0, NULL, 0, &len), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(len, 1);
}

static bool needs_reset(struct fixture *f)
{
	return mmio_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static void malformed_chain_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint32_t status;

	start(f, false);
	assert_true(threads_are(f, f->threads_before + 1));
	guest_set_desc(&f->d, 0, guest_alloc(&f->d, 16), 16, VRING_DESC_F_NEXT, 0);
	guest_publish(&f->d, 0);
	mmio_write32(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_true(wait_for(needs_reset, f));
	assert_true(mmio_read32(f->t, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(guest_used_idx(&f->d), 0);

	/* The driver resets the device: the I/O thread is gone and the status clean. */
	mmio_write32(f->t, VIRTIO_MMIO_STATUS, 0);
	status = mmio_read32(f->t, VIRTIO_MMIO_STATUS);
	assert_int_equal(status, 0);
	assert_true(threads_are(f, f->threads_before));

	/* And brings it up again, working. */
	guest_reset_rings(&f->d);
	bring_up(f);
	assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
}

static void reset_stops_io_thread(void **state)
{
	struct fixture *f = *state;

	start(f, false);
	assert_true(threads_are(f, f->threads_before + 1));
	mmio_write32(f->t, VIRTIO_MMIO_STATUS, 0);
	assert_true(threads_are(f, f->threads_before));
	/* A second reset in a row has nothing to stop. */
	mmio_write32(f->t, VIRTIO_MMIO_STATUS, 0);
	assert_true(threads_are(f, f->threads_before));
}

static void missing_image_named_in_error(void **state)
{
	struct fixture *f = *state;
	const struct virtio_interrupt irq = { .raise = record_interrupt, .ctx = f };
	struct virtio_blk *blk = NULL;
	char missing[300];

	snprintf(missing, sizeof(missing), "%s.missing", f->path);
	assert_int_equal(virtio_blk_create(missing, false, SERIAL, &f->d.mem, &irq, &blk), -ENOENT);
	assert_null(blk);
	assert_non_null(strstr(error_get(), missing));
}

static void writable_image_is_exclusive(void **state)
{
	struct fixture *f = *state;
	const struct virtio_interrupt irq = { .raise = record_interrupt, .ctx = f };
	struct virtio_blk *other = NULL;

	start(f, false);
	assert_int_equal(virtio_blk_create(f->path, false, SERIAL, &f->d.mem, &irq, &other), -EBUSY);
	assert_non_null(strstr(error_get(), f->path));
	assert_int_equal(virtio_blk_create(f->path, true, SERIAL, &f->d.mem, &irq, &other), -EBUSY);
	assert_null(other);
}

static void read_only_image_is_shared(void **state)
{
	struct fixture *f = *state;
	const struct virtio_interrupt irq = { .raise = record_interrupt, .ctx = f };
	struct virtio_blk *other = NULL;

	start(f, true);
	assert_int_equal(virtio_blk_create(f->path, true, SERIAL, &f->d.mem, &irq, &other), 0);
	virtio_blk_destroy(other);
	assert_int_equal(virtio_blk_create(f->path, false, SERIAL, &f->d.mem, &irq, &other), -EBUSY);
}

/* The device does not use the request within a while: it is stopped. */
static bool stays_pending(struct fixture *f, const struct request *r)
{
	usleep(50 * 1000);
	return guest_used_idx(&f->d) == r->slot && *r->status == 0xff;
}

static void pause_and_resume_keep_serving(void **state)
{
	struct fixture *f = *state;
	struct guest_buf out = buffer(f, 512, false, 0x5a), in = buffer(f, 512, true, 0);
	uint8_t want[512];
	struct request r;

	memset(want, 0x5a, sizeof(want));
	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 9, &out, 1, NULL), VIRTIO_BLK_S_OK);
	virtio_mmio_pause(f->t);
	assert_true(threads_are(f, f->threads_before));

	/* The guest adds a request while the device is paused: it waits for resume. */
	r = post(f, VIRTIO_BLK_T_IN, 9, &in, 1);
	assert_true(stays_pending(f, &r));
	assert_int_equal(virtio_mmio_resume(f->t), 0);
	assert_int_equal(complete(f, &r, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(guest_host(&f->d, in.gpa), want, sizeof(want));
	assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
}

/* Replace the device with a fresh one over the same image and RAM, restored from `saved`. */
static void restore_in_new_device(struct fixture *f, const struct virtio_mmio_state *saved)
{
	virtio_blk_destroy(f->blk); /* it holds the image's lock */
	create(f, false);
	assert_int_equal(virtio_mmio_restore(f->t, saved), 0);
}

static void save_restore_then_serve(void **state)
{
	struct fixture *f = *state;
	struct guest_buf out = buffer(f, 1024, false, 0), in = buffer(f, 1024, true, 0xee);
	struct virtio_mmio_state saved, again;
	uint8_t *src = guest_host(&f->d, out.gpa);

	for (int i = 0; i < 1024; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	start(f, false);
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 100, &out, 1, NULL), VIRTIO_BLK_S_OK);
	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &saved);
	assert_int_equal(saved.queues[0].last_avail, 1);
	assert_int_equal(saved.queues[0].used_idx, 1);

	restore_in_new_device(f, &saved);
	assert_true(threads_are(f, f->threads_before + 1));
	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &again);
	assert_memory_equal(&again, &saved, sizeof(saved));
	assert_int_equal(virtio_mmio_resume(f->t), 0);

	/* The driver goes on where it was: same rings, same indices, same image. */
	atomic_store(&f->interrupts, 0);
	f->d.avail->ring[f->d.layout.size] = guest_used_idx(&f->d); /* used_event: interrupt me next */
	assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 100, &in, 1, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(guest_host(&f->d, in.gpa), src, 1024);
	assert_true(wait_for(interrupted, f));
	memset(src, 0x77, 1024);
	assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 200, &out, 1, NULL), VIRTIO_BLK_S_OK);
	assert_image(f, 200 * 512, src, 1024);
}

/* A request the guest added, and kicked, just before the snapshot is served by the restored device. */
static void request_posted_before_save_served_after_restore(void **state)
{
	struct fixture *f = *state;
	struct guest_buf in = buffer(f, 512, true, 0);
	struct virtio_mmio_state saved;
	uint8_t want[512];
	struct request r;

	for (int i = 0; i < 512; i++)
		want[i] = pattern(7 * 512 + i);
	start(f, false);
	virtio_mmio_pause(f->t);
	r = post(f, VIRTIO_BLK_T_IN, 7, &in, 1); /* its kick goes to the old device's eventfd */
	virtio_mmio_save(f->t, &saved);
	restore_in_new_device(f, &saved);
	assert_int_equal(complete(f, &r, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(guest_host(&f->d, in.gpa), want, sizeof(want));
}

static void restore_refuses_features_a_read_only_image_lacks(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_state saved;

	start(f, false);
	assert_true(virtio_mmio_negotiated(f->t, VIRTIO_BLK_F_DISCARD));
	virtio_mmio_pause(f->t);
	virtio_mmio_save(f->t, &saved);
	virtio_blk_destroy(f->blk);
	create(f, true);
	assert_int_equal(virtio_mmio_restore(f->t, &saved), -EINVAL);
	assert_non_null(strstr(error_get(), "features"));
	assert_true(threads_are(f, f->threads_before));
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(write_then_read_back),
		TEST(reads_what_the_image_holds),
		TEST(completion_interrupts),
		TEST(get_id_returns_serial),
		TEST(out_of_range_requests_fail),
		TEST(read_only_refuses_writes),
		TEST(flush_succeeds),
		TEST(discard_punches_hole),
		TEST(write_zeroes_reads_back_zeroes),
		TEST(segment_flags_checked),
		TEST(unknown_type_unsupported),
		TEST(malformed_chain_needs_reset),
		TEST(reset_stops_io_thread),
		TEST(missing_image_named_in_error),
		TEST(writable_image_is_exclusive),
		TEST(read_only_image_is_shared),
		TEST(pause_and_resume_keep_serving),
		TEST(save_restore_then_serve),
		TEST(request_posted_before_save_served_after_restore),
		TEST(restore_refuses_features_a_read_only_image_lacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
