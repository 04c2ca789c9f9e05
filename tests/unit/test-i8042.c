/* The i8042 reset line: 0xfe on the command port asks for a reboot; nothing else does; reads float high. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devices/i8042.h"

static int requests;
static enum machine_event last_event;

static void record(void *ctx, enum machine_event event)
{
	(void)ctx;
	requests++;
	last_event = event;
}

static void reset_command_requests_reboot(void **state)
{
	struct machine_event_sink sink = { .request = record };
	uint8_t v;

	(void)state;
	requests = 0;
	v = 0xfe;
	i8042_ops.write(&sink, I8042_DATA_PORT - I8042_DATA_PORT, &v, 1); /* data port: not a command */
	assert_int_equal(requests, 0);
	v = 0x20;
	i8042_ops.write(&sink, I8042_COMMAND_PORT - I8042_DATA_PORT, &v, 1); /* another command */
	assert_int_equal(requests, 0);
	v = 0xfe;
	i8042_ops.write(&sink, I8042_COMMAND_PORT - I8042_DATA_PORT, &v, 1);
	assert_int_equal(requests, 1);
	assert_int_equal(last_event, MACHINE_EVENT_REBOOT);
}

static void reads_say_no_controller(void **state)
{
	struct machine_event_sink sink = { .request = record };
	uint8_t status = 0;

	(void)state;
	i8042_ops.read(&sink, I8042_COMMAND_PORT - I8042_DATA_PORT, &status, 1);
	assert_int_equal(status, 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_command_requests_reboot),
		cmocka_unit_test(reads_say_no_controller),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
