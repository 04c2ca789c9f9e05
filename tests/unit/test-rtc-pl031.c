/* The PL031 real-time clock: the counter follows the host's clock plus what the guest loads, and the ids the AMBA bus probes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devices/rtc_pl031.h"
#include "util/le.h"

static int64_t host_now = 1700000000;

static int64_t fake_host_seconds(void)
{
	return host_now;
}

static uint32_t rd(struct rtc_pl031 *rtc, uint64_t offset)
{
	uint8_t b[4];

	rtc_pl031_ops.read(rtc, offset, b, 4);
	return (uint32_t)le_load(b, 4);
}

static void wr(struct rtc_pl031 *rtc, uint64_t offset, uint32_t v)
{
	uint8_t b[4];

	le_store(b, v, 4);
	rtc_pl031_ops.write(rtc, offset, b, 4);
}

static void counter_is_the_host_clock_until_loaded(void **state)
{
	struct rtc_pl031 rtc;

	(void)state;
	host_now = 1700000000;
	rtc_pl031_init(&rtc, fake_host_seconds);
	assert_int_equal(rd(&rtc, 0x00), 1700000000);
	assert_int_equal(rd(&rtc, 0x0c), 1); /* running from reset */
	host_now += 5;
	assert_int_equal(rd(&rtc, 0x00), 1700000005);

	/* A load sets the counter, which then runs on with the host. */
	wr(&rtc, 0x08, 1000);
	assert_int_equal(rd(&rtc, 0x00), 1000);
	host_now += 7;
	assert_int_equal(rd(&rtc, 0x00), 1007);
	assert_int_equal(rd(&rtc, 0x08), 1007);

	/* The data register is read-only, the counter cannot be stopped. */
	wr(&rtc, 0x00, 5);
	wr(&rtc, 0x0c, 0);
	assert_int_equal(rd(&rtc, 0x00), 1007);
	assert_int_equal(rd(&rtc, 0x0c), 1);
}

static void match_and_mask_are_kept_but_never_fire(void **state)
{
	struct rtc_pl031 rtc;

	(void)state;
	rtc_pl031_init(&rtc, fake_host_seconds);
	wr(&rtc, 0x04, 1234);
	wr(&rtc, 0x10, 0xff);
	assert_int_equal(rd(&rtc, 0x04), 1234);
	assert_int_equal(rd(&rtc, 0x10), 1);
	assert_int_equal(rd(&rtc, 0x14), 0);
	assert_int_equal(rd(&rtc, 0x18), 0);
}

static void amba_ids_say_pl031(void **state)
{
	static const uint8_t want[8] = { 0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };
	struct rtc_pl031 rtc;

	(void)state;
	rtc_pl031_init(&rtc, fake_host_seconds);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(rd(&rtc, 0xfe0 + 4 * i), want[i]);
}

/* Hostile accesses: odd sizes and offsets, past the registers, never crash or change state. */
static void odd_accesses_are_harmless(void **state)
{
	struct rtc_pl031 rtc;
	uint8_t b[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	(void)state;
	host_now = 1700000000;
	rtc_pl031_init(&rtc, fake_host_seconds);
	rtc_pl031_ops.write(&rtc, 0x08, b, 1);
	rtc_pl031_ops.write(&rtc, 0x09, b, 4);
	rtc_pl031_ops.write(&rtc, 0x08, b, 8);
	rtc_pl031_ops.write(&rtc, 0xffc, b, 4);
	assert_int_equal(rd(&rtc, 0x00), 1700000000);
	/* A byte read takes the addressed byte; an 8-byte read zeroes the upper half. */
	rtc_pl031_ops.read(&rtc, 0x01, b, 1);
	assert_int_equal(b[0], (1700000000 >> 8) & 0xff);
	rtc_pl031_ops.read(&rtc, 0x00, b, 8);
	assert_int_equal(b[4] | b[5] | b[6] | b[7], 0);
	rtc_pl031_ops.read(&rtc, 0xfff, b, 1);
	rtc_pl031_ops.read(&rtc, 0x800, b, 4);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counter_is_the_host_clock_until_loaded),
		cmocka_unit_test(match_and_mask_are_kept_but_never_fire),
		cmocka_unit_test(amba_ids_say_pl031),
		cmocka_unit_test(odd_accesses_are_harmless),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
