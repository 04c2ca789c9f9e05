#include "request.h"

#include <stdbool.h>
#include <unistd.h>

#include "conn.h"
#include "exec.h"
#include "files.h"
#include "log.h"
#include "sync.h"

static int handshake(struct conn *c)
{
	struct agent_frame_header h;
	struct agent_writer w;
	uint32_t version;
	int err = conn_read(c, &h);

	if (err)
		return conn_read_failed(c, err);
	if (h.type != AGENT_H2G_HELLO)
		return conn_refuse(c, "expected HELLO, got %s", agent_type_name(h.type));
	if (agent_host_hello_decode(c->payload, h.len, &version))
		return conn_refuse(c, "malformed HELLO");
	/*
	 * A host speaks at least v1 and this agent speaks only v1, so the lower
	 * of the two always exists: ERROR(EPROTONOSUPPORT) awaits a future agent
	 * that drops a version.
	 */
	if (version > AGENT_PROTOCOL_VERSION)
		version = AGENT_PROTOCOL_VERSION;
	conn_writer(c, &w);
	agent_guest_hello_encode(&w, version, AGENTVM_AGENT_VERSION);
	return conn_send(c, &w);
}

/*
 * Serve one request; true when the connection goes on. PING and SYNC leave it
 * as if new (doc/protocol.md): the host may begin again with HELLO, and so
 * keep this worker for its next request instead of making the agent fork one.
 */
static bool dispatch(struct conn *c)
{
	struct agent_frame_header h;
	int err = conn_read(c, &h);

	if (err) {
		conn_read_failed(c, err);
		return false;
	}
	switch (h.type) {
	case AGENT_H2G_PING:
		return conn_send_frame(c, AGENT_G2H_PONG, NULL, 0) == 0;
	case AGENT_H2G_EXEC:
		exec_serve(c, h.len);
		break;
	case AGENT_H2G_FILE_WRITE:
		file_write_serve(c, h.len);
		break;
	case AGENT_H2G_FILE_READ:
		file_read_serve(c, h.len);
		break;
	case AGENT_H2G_SYNC:
		return sync_serve(c, h.len) == 0;
	default:
		conn_refuse(c, "expected a request, got %s", agent_type_name(h.type));
	}
	return false;
}

void request_serve(int fd)
{
	struct conn *c = conn_new(fd);

	if (!c) {
		agent_log("no memory for a connection's buffers");
		close(fd);
		return;
	}
	while (handshake(c) == 0 && dispatch(c))
		;
	conn_free(c);
}
