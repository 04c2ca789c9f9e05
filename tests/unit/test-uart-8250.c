/* The 8250 register file: output, THRE interrupt protocol, FIFO detection, loopback, divisor latch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/serial/uart_8250.h"

struct fixture {
	struct uart_8250 uart;
	struct console_sink sink;
	char out[64];
	size_t out_len;
	int irq_level;
	int irq_edges;
};

static void capture(const char *data, size_t len, void *payload)
{
	struct fixture *f = payload;

	memcpy(f->out + f->out_len, data, len);
	f->out_len += len;
}

static void record_irq(void *ctx, uint32_t gsi, int level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, 4);
	if (level && !f->irq_level)
		f->irq_edges++;
	f->irq_level = level;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct irq_line irq = { .set_level = record_irq, .gsi = 4 };

	irq.ctx = f;
	f->sink = (struct console_sink){ .fd = -1, .fn = capture, .payload = f };
	uart_8250_init(&f->uart, &irq, &f->sink);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uart_8250_destroy(&f->uart);
	test_free(f);
	return 0;
}

static void put(struct fixture *f, uint64_t reg, uint8_t v)
{
	uart_8250_ops.write(&f->uart, reg, &v, 1);
}

static uint8_t get(struct fixture *f, uint64_t reg)
{
	uint8_t v;

	uart_8250_ops.read(&f->uart, reg, &v, 1);
	return v;
}

static void transmits_bytes_to_sink(void **state)
{
	struct fixture *f = *state;

	put(f, 0, 'h');
	put(f, 0, 'i');
	assert_int_equal(f->out_len, 2);
	assert_memory_equal(f->out, "hi", 2);
	assert_int_equal(get(f, 5) & 0x60, 0x60); /* THRE and TEMT: always ready */
}

static void thre_interrupt_raised_and_acknowledged(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(get(f, 2) & 0x0f, 0x01); /* no interrupt */
	put(f, 1, 0x02);                          /* IER.THRI: transmitter already empty */
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(get(f, 2) & 0x0f, 0x02); /* IIR says THRI, and reading it acknowledges */
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(get(f, 2) & 0x0f, 0x01);
	put(f, 0, 'x'); /* sending empties the THR again: a new edge */
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(f->irq_edges, 2);
	put(f, 1, 0x00);
	assert_int_equal(f->irq_level, 0);
}

static void fifo_reported_when_enabled(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(get(f, 2) & 0xc0, 0x00);
	put(f, 2, 0x01);
	assert_int_equal(get(f, 2) & 0xc0, 0xc0); /* what Linux reads as a 16550A */
}

static void loopback_mirrors_modem_lines_and_swallows_output(void **state)
{
	struct fixture *f = *state;

	put(f, 4, 0x10 | 0x0a); /* LOOP | RTS | OUT2: Linux's probe */
	assert_int_equal(get(f, 6) & 0xf0, 0x90);
	put(f, 0, 'z');
	assert_int_equal(f->out_len, 0);
	put(f, 4, 0x0b);
	assert_int_equal(get(f, 6) & 0xf0, 0xb0);
}

static void divisor_latch_does_not_transmit(void **state)
{
	struct fixture *f = *state;

	put(f, 3, 0x80); /* DLAB */
	put(f, 0, 0x01);
	put(f, 1, 0x00);
	assert_int_equal(get(f, 0), 0x01);
	assert_int_equal(f->out_len, 0);
	assert_int_equal(f->irq_level, 0);
	put(f, 3, 0x03);
	put(f, 7, 0xa5);
	assert_int_equal(get(f, 7), 0xa5); /* scratch register, checked by autoconfig */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(transmits_bytes_to_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(thre_interrupt_raised_and_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_reported_when_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(loopback_mirrors_modem_lines_and_swallows_output, setup, teardown),
		cmocka_unit_test_setup_teardown(divisor_latch_does_not_transmit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
