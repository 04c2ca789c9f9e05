/* The reset control register: the "reset CPU" bit asks for a reboot, other writes only store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devices/reset_control.h"

static int requests;
static enum machine_event last_event;

static void record(void *ctx, enum machine_event event)
{
	(void)ctx;
	requests++;
	last_event = event;
}

/* What Linux's reboot=p does: read, request a hard reset, then set the reset bits. */
static void linux_sequence_requests_one_reboot(void **state)
{
	struct machine_event_sink sink = { .request = record };
	struct reset_control rc = { .events = &sink };
	uint8_t v = 0x55;

	(void)state;
	requests = 0;
	reset_control_ops.read(&rc, 0, &v, 1);
	assert_int_equal(v, 0);
	v = 0x02;
	reset_control_ops.write(&rc, 0, &v, 1);
	assert_int_equal(requests, 0);
	reset_control_ops.read(&rc, 0, &v, 1);
	assert_int_equal(v, 0x02); /* read back as written */
	v = 0x0e;
	reset_control_ops.write(&rc, 0, &v, 1);
	assert_int_equal(requests, 1);
	assert_int_equal(last_event, MACHINE_EVENT_REBOOT);
}

static void wide_reads_float_high_past_the_register(void **state)
{
	struct machine_event_sink sink = { .request = record };
	struct reset_control rc = { .value = 0x02, .events = &sink };
	uint8_t v[4] = { 0 };

	(void)state;
	reset_control_ops.read(&rc, 0, v, 4);
	assert_int_equal(v[0], 0x02);
	assert_int_equal(v[1], 0xff);
	assert_int_equal(v[3], 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(linux_sequence_requests_one_reboot),
		cmocka_unit_test(wide_reads_float_high_past_the_register),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
