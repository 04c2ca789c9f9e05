#include "devices/serial/uart_8250.h"

#include <string.h>

/* Register offsets and bits, as in the 16550A data sheet. */
enum {
	REG_DATA = 0, /* RBR / THR, or DLL when LCR.DLAB */
	REG_IER = 1,  /* or DLM when LCR.DLAB */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_FIFO_ENABLED 0xc0
#define FCR_FIFO_ENABLE 0x01
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

void uart_8250_init(struct uart_8250 *uart, const struct irq_line *irq,
		    const struct console_sink *sink)
{
	memset(uart, 0, sizeof(*uart));
	pthread_mutex_init(&uart->lock, NULL);
	uart->irq = *irq;
	uart->sink = sink;
	uart->regs.mcr = MCR_OUT2;
}

void uart_8250_destroy(struct uart_8250 *uart)
{
	pthread_mutex_destroy(&uart->lock);
}

/* Only the interrupt controller's view changes on a level change: one ioctl per edge, not per access. */
static void update_irq(struct uart_8250 *uart)
{
	bool level = (uart->regs.ier & IER_THRI) && uart->regs.thre_pending;

	if (level != uart->regs.irq_level) {
		uart->regs.irq_level = level;
		irq_line_set(&uart->irq, level);
	}
}

/* In loopback mode the modem outputs feed the modem inputs; Linux's probe checks this. */
static uint8_t modem_status(const struct uart_8250_regs *r)
{
	uint8_t msr = 0;

	if (!(r->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (r->mcr & MCR_RTS)
		msr |= MSR_CTS;
	if (r->mcr & MCR_DTR)
		msr |= MSR_DSR;
	if (r->mcr & MCR_OUT1)
		msr |= MSR_RI;
	if (r->mcr & MCR_OUT2)
		msr |= MSR_DCD;
	return msr;
}

static uint8_t read_register(struct uart_8250 *uart, uint64_t offset)
{
	struct uart_8250_regs *r = &uart->regs;
	uint8_t fifo = (r->fcr & FCR_FIFO_ENABLE) ? IIR_FIFO_ENABLED : 0;

	switch (offset) {
	case REG_DATA:
		return (r->lcr & LCR_DLAB) ? r->dll : 0;
	case REG_IER:
		return (r->lcr & LCR_DLAB) ? r->dlm : r->ier;
	case REG_IIR_FCR:
		if ((r->ier & IER_THRI) && r->thre_pending) {
			/* Reading IIR acknowledges the THRE interrupt (16550A data sheet, table 4). */
			r->thre_pending = false;
			update_irq(uart);
			return fifo | IIR_THRI;
		}
		return fifo | IIR_NO_INT;
	case REG_LCR:
		return r->lcr;
	case REG_MCR:
		return r->mcr;
	case REG_LSR:
		return LSR_THRE | LSR_TEMT;
	case REG_MSR:
		return modem_status(r);
	default:
		return r->scr;
	}
}

static void write_register(struct uart_8250 *uart, uint64_t offset, uint8_t value)
{
	struct uart_8250_regs *r = &uart->regs;

	switch (offset) {
	case REG_DATA:
		if (r->lcr & LCR_DLAB) {
			r->dll = value;
			return;
		}
		/* Loopback bytes would come back as input, which this UART does not model: drop them. */
		if (!(r->mcr & MCR_LOOP))
			console_sink_write(uart->sink, (const char *)&value, 1);
		r->thre_pending = true;
		break;
	case REG_IER:
		if (r->lcr & LCR_DLAB) {
			r->dlm = value;
			return;
		}
		/* Enabling THRI while the transmitter is empty raises the interrupt at once. */
		if (!(r->ier & IER_THRI) && (value & IER_THRI))
			r->thre_pending = true;
		r->ier = value & 0x0f;
		break;
	case REG_IIR_FCR:
		r->fcr = value;
		return;
	case REG_LCR:
		r->lcr = value;
		return;
	case REG_MCR:
		r->mcr = value & 0x1f;
		return;
	case REG_SCR:
		r->scr = value;
		return;
	default: /* LSR and MSR are read-only */
		return;
	}
	update_irq(uart);
}

static void uart_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct uart_8250 *uart = opaque;

	pthread_mutex_lock(&uart->lock);
	data[0] = read_register(uart, offset);
	pthread_mutex_unlock(&uart->lock);
	/* Wider accesses have no meaning on a byte-wide UART; the upper bytes float high. */
	if (len > 1)
		memset(data + 1, 0xff, len - 1);
}

static void uart_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct uart_8250 *uart = opaque;

	(void)len;
	pthread_mutex_lock(&uart->lock);
	write_register(uart, offset, data[0]);
	pthread_mutex_unlock(&uart->lock);
}

const struct bus_device_ops uart_8250_ops = {
	.read = uart_read,
	.write = uart_write,
};

void uart_8250_save(struct uart_8250 *uart, struct uart_8250_regs *out)
{
	pthread_mutex_lock(&uart->lock);
	memcpy(out, &uart->regs, sizeof(*out));
	pthread_mutex_unlock(&uart->lock);
}

void uart_8250_restore(struct uart_8250 *uart, const struct uart_8250_regs *in)
{
	pthread_mutex_lock(&uart->lock);
	uart->regs = *in;
	/* The new VM's interrupt line starts low: raise it again if the saved one was high. */
	uart->regs.irq_level = false;
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
}
