/*
 * An ARM PrimeCell PL031 real-time clock: a seconds counter the guest reads
 * once at boot to set its wall clock. arm64 has no kvmclock, so without it a
 * guest starts in 1970: files get 1970 times, TLS certificates are "not yet
 * valid", and ext4 records a deletion in the first second as dtime 0, which
 * e2fsck reports as damage. The counter runs with the host's clock plus the
 * offset the guest sets by loading a value. The match interrupt is kept as
 * registers only: it never fires (Linux uses it for alarms, sandboxes do not).
 * Snapshots leave it out: a restored guest's RTC reads the host's clock again,
 * and the agent's SYNC sets a restored guest's clock anyway.
 */
#ifndef AGENTVM_DEVICES_RTC_PL031_H
#define AGENTVM_DEVICES_RTC_PL031_H

#include <stdint.h>

#include "devices/bus.h"

#define RTC_PL031_SPAN 0x1000

struct rtc_pl031 {
	int64_t offset;  /* guest seconds minus host seconds, from the last load */
	uint32_t match;  /* RTCMR */
	uint32_t control; /* RTCCR: bit 0, the counter is enabled (always, as after reset) */
	uint32_t imsc;   /* RTCIMSC */
	/* Seconds now on the host's realtime clock; tests replace it. */
	int64_t (*host_seconds)(void);
};

/* Reset state; host_seconds NULL means the host's CLOCK_REALTIME. */
void rtc_pl031_init(struct rtc_pl031 *rtc, int64_t (*host_seconds)(void));

/* Register with size RTC_PL031_SPAN; opaque is a struct rtc_pl031. */
extern const struct bus_device_ops rtc_pl031_ops;

#endif
