#include "devices/rtc_pl031.h"

#include <string.h>
#include <time.h>

#include "util/le.h"

/* Register offsets (PL031 TRM, 3.2). */
enum {
	RTCDR = 0x00,   /* data: the counter, read-only */
	RTCMR = 0x04,   /* match */
	RTCLR = 0x08,   /* load: writing sets the counter */
	RTCCR = 0x0c,   /* control */
	RTCIMSC = 0x10, /* interrupt mask */
	RTCRIS = 0x14,  /* raw interrupt status */
	RTCMIS = 0x18,  /* masked interrupt status */
	RTCICR = 0x1c,  /* interrupt clear */
	PERIPH_ID = 0xfe0, /* 0xfe0..0xffc: peripheral and PrimeCell ids, one byte per word */
};

/* How the AMBA bus recognizes a PL031: part 0x031, designer ARM (0x41), revision 0; then PrimeCell's own id. */
static const uint8_t id_bytes[8] = { 0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

static int64_t realtime_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

void rtc_pl031_init(struct rtc_pl031 *rtc, int64_t (*host_seconds)(void))
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->control = 1;
	rtc->host_seconds = host_seconds ? host_seconds : realtime_seconds;
}

static uint32_t counter(const struct rtc_pl031 *rtc)
{
	/* A 32-bit counter of seconds: it wraps in 2106, as the hardware's does. */
	return (uint32_t)(rtc->host_seconds() + rtc->offset);
}

static uint32_t reg_read(const struct rtc_pl031 *rtc, uint64_t offset)
{
	switch (offset) {
	case RTCDR:
		return counter(rtc);
	case RTCMR:
		return rtc->match;
	case RTCLR:
		return counter(rtc);
	case RTCCR:
		return rtc->control;
	case RTCIMSC:
		return rtc->imsc;
	case RTCRIS:
	case RTCMIS:
		return 0; /* the match interrupt never fires */
	default:
		if (offset >= PERIPH_ID && offset < PERIPH_ID + 4 * sizeof(id_bytes) && offset % 4 == 0)
			return id_bytes[(offset - PERIPH_ID) / 4];
		return 0;
	}
}

static void rtc_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	uint32_t v = reg_read(opaque, offset & ~3ULL);

	/* Registers are 32-bit; a narrower read takes the addressed bytes, a wider one zeroes the rest. */
	for (uint32_t i = 0; i < len; i++) {
		uint32_t byte = (uint32_t)(offset & 3) + i;

		data[i] = byte < 4 ? (uint8_t)(v >> (8 * byte)) : 0;
	}
}

static void rtc_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct rtc_pl031 *rtc = opaque;
	uint32_t v;

	/* Only whole, aligned 32-bit writes mean anything; the rest is ignored, as a bus error would be. */
	if (len != 4 || offset % 4)
		return;
	v = (uint32_t)le_load(data, 4);
	switch (offset) {
	case RTCMR:
		rtc->match = v;
		break;
	case RTCLR:
		rtc->offset = (int64_t)v - rtc->host_seconds();
		break;
	case RTCCR:
		rtc->control = 1; /* once started, the counter cannot be stopped */
		break;
	case RTCIMSC:
		rtc->imsc = v & 1;
		break;
	default:
		break; /* RTCDR and the ids are read-only; RTCICR clears what never fires */
	}
}

const struct bus_device_ops rtc_pl031_ops = {
	.read = rtc_read,
	.write = rtc_write,
};
