/*
 * A 16550A-compatible UART, transmit side: enough for the Linux 8250 driver
 * to use it as console and tty with a 16-byte FIFO and THRE interrupts.
 * Bytes are "sent" the moment the guest writes them, so the transmitter is
 * always empty. The register file is a plain struct so snapshots can save it.
 */
#ifndef AGENTVM_DEVICES_SERIAL_UART_8250_H
#define AGENTVM_DEVICES_SERIAL_UART_8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/console_sink.h"
#include "devices/irq.h"

#define UART_8250_REGISTER_SPAN 8

struct uart_8250_regs {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thre_pending; /* a "transmitter empty" interrupt waits to be read from IIR */
	bool irq_level;    /* what we last told the interrupt controller */
};

struct uart_8250 {
	pthread_mutex_t lock; /* vCPUs may touch the port concurrently */
	struct uart_8250_regs regs;
	struct irq_line irq;
	const struct console_sink *sink;
};

void uart_8250_init(struct uart_8250 *uart, const struct irq_line *irq,
		    const struct console_sink *sink);
void uart_8250_destroy(struct uart_8250 *uart);

/* Copy the registers out (snapshot) or in (restore, before vCPUs run). */
void uart_8250_save(struct uart_8250 *uart, struct uart_8250_regs *out);
void uart_8250_restore(struct uart_8250 *uart, const struct uart_8250_regs *in);

extern const struct bus_device_ops uart_8250_ops;

#endif
