/* Moving whole files in and out of the guest through the agent (FILE_WRITE, FILE_READ). */
#ifndef AGENTVM_AGENT_FILES_H
#define AGENTVM_AGENT_FILES_H

#include <stddef.h>
#include <stdint.h>

struct agent_channel;
struct agent_link;

/*
 * Create or replace path in the guest with len bytes and permission bits
 * mode. 0, or the errors of agent_request(), -EHOSTDOWN, -EPROTO, or
 * the guest's errno with its message.
 */
int agent_file_write(struct agent_link *link, const char *path, const void *data,
		     size_t len, uint32_t mode);

/*
 * Read the regular file at path, at most max_size bytes, into a malloc'd,
 * NUL-terminated buffer (*data_out, *len_out, written only on success).
 * Errors as agent_file_write(), plus -EFBIG from the guest and -ENOMEM.
 */
int agent_file_read(struct agent_link *link, const char *path, size_t max_size,
		    uint8_t **data_out, size_t *len_out);

/* The same on a channel past its handshake (tests drive them over a socketpair). */
int agent_file_write_on(struct agent_channel *ch, const char *path, const void *data,
			size_t len, uint32_t mode);
int agent_file_read_on(struct agent_channel *ch, const char *path, size_t max_size,
		       uint8_t **data_out, size_t *len_out);

#endif
