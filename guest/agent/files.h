/* FILE_WRITE and FILE_READ requests (doc/protocol.md). */
#ifndef AGENTVM_GUEST_FILES_H
#define AGENTVM_GUEST_FILES_H

#include <stdint.h>

#include "conn.h"

/* The FILE_WRITE whose len-byte payload is in c->payload: receive its data, answer OK or ERROR. */
void file_write_serve(struct conn *c, uint32_t len);

/* The FILE_READ whose len-byte payload is in c->payload: FILE_INFO, data, FILE_END; or ERROR. */
void file_read_serve(struct conn *c, uint32_t len);

#endif
