/* Bus dispatch: ranges, offsets, overlaps, unclaimed accesses, straddling accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/bus.h"

struct recorder {
	uint64_t last_offset;
	uint8_t last_byte;
	int reads, writes;
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct recorder *r = opaque;

	r->reads++;
	r->last_offset = offset;
	memset(data, 0x5a, len);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct recorder *r = opaque;

	(void)len;
	r->writes++;
	r->last_offset = offset;
	r->last_byte = data[0];
}

static const struct bus_device_ops rec_ops = { .read = rec_read, .write = rec_write };

static void dispatches_to_owner_with_offset(void **state)
{
	struct recorder a = { 0 }, b = { 0 };
	struct bus bus;
	uint8_t v = 0x42, out[4];

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &rec_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x60, 5, &rec_ops, &b), 0);
	assert_int_equal(bus_write(&bus, 0x3fd, &v, 1), 1);
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.last_offset, 5);
	assert_int_equal(a.last_byte, 0x42);
	assert_int_equal(bus_read(&bus, 0x64, out, 1), 1);
	assert_int_equal(b.reads, 1);
	assert_int_equal(b.last_offset, 4);
	assert_int_equal(out[0], 0x5a);
	bus_destroy(&bus);
}

static void unclaimed_reads_all_ones(void **state)
{
	struct bus bus;
	uint8_t out[4] = { 0 }, v = 1;

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_read(&bus, 0x2f8, out, 4), 0);
	assert_int_equal(out[0] & out[1] & out[2] & out[3], 0xff);
	assert_int_equal(bus_write(&bus, 0x2f8, &v, 1), 0);
	bus_destroy(&bus);
}

static void overlapping_registration_refused(void **state)
{
	struct recorder a = { 0 };
	struct bus bus;

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &rec_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x10f, 1, &rec_ops, &a), -EBUSY);
	assert_int_equal(bus_register(&bus, 0xf0, 0x11, &rec_ops, &a), -EBUSY);
	assert_int_equal(bus_register(&bus, 0x110, 1, &rec_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0xf0, 0x10, &rec_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x200, 0, &rec_ops, &a), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 4, &rec_ops, &a), -EINVAL);
	bus_destroy(&bus);
}

static void straddling_access_is_nobodys(void **state)
{
	struct recorder a = { 0 };
	struct bus bus;
	uint8_t out[4];

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x1000, 4, &rec_ops, &a), 0);
	assert_int_equal(bus_read(&bus, 0x1002, out, 4), 0);
	assert_int_equal(a.reads, 0);
	assert_int_equal(bus_read(&bus, 0x1000, out, 4), 1);
	assert_int_equal(bus_read(&bus, UINT64_MAX - 1, out, 4), 0);
	bus_destroy(&bus);
}

static void many_ranges_found_by_search(void **state)
{
	struct recorder recs[32] = { 0 };
	struct bus bus;
	uint8_t v = 7;

	(void)state;
	bus_init(&bus);
	/* Registered out of order to exercise the sorted insert. */
	for (int i = 31; i >= 0; i--)
		assert_int_equal(bus_register(&bus, 0x10000 + i * 0x200, 0x100, &rec_ops, &recs[i]), 0);
	for (int i = 0; i < 32; i++) {
		assert_int_equal(bus_write(&bus, 0x10000 + i * 0x200 + 0xff, &v, 1), 1);
		assert_int_equal(recs[i].writes, 1);
		assert_int_equal(bus_write(&bus, 0x10000 + i * 0x200 + 0x100, &v, 1), 0);
	}
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dispatches_to_owner_with_offset),
		cmocka_unit_test(unclaimed_reads_all_ones),
		cmocka_unit_test(overlapping_registration_refused),
		cmocka_unit_test(straddling_access_is_nobodys),
		cmocka_unit_test(many_ranges_found_by_search),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
