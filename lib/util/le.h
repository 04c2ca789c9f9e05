/*
 * Little-endian fields of file formats and wire protocols (snapshots, the
 * agent protocol, kernel image headers), byte by byte: neither the host's
 * byte order nor the buffer's alignment matters. Header-only, so the guest
 * agent shares it.
 */
#ifndef AGENTVM_UTIL_LE_H
#define AGENTVM_UTIL_LE_H

#include <stdint.h>

/* Store the low n (at most 8) bytes of v at p, least significant first. */
static inline void le_store(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The n-byte (at most 8) little-endian number at p. */
static inline uint64_t le_load(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
