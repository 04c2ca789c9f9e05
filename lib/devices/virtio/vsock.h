/*
 * virtio-vsock (virtio 1.2, section 5.10), served in userspace: the host end
 * of every connection is the library itself, which hands its users one end
 * of a Unix socketpair per connection and moves the bytes between the other
 * end and the guest's queues on the device's own thread, with the spec's
 * credit-based flow control in both directions. Stream sockets only.
 *
 * The guest is untrusted: every packet is validated (vsock_packet.h); a
 * packet that breaks the protocol for one connection (data beyond the credit
 * we granted, data before the connection is up) resets that connection; a
 * malformed ring stops the device (DEVICE_NEEDS_RESET). Per-connection
 * memory is bounded by the credit we grant. Connections survive a pause for
 * a snapshot; one idle connection may travel with it (struct
 * virtio_vsock_kept), the others end, and the event queue tells a restored
 * guest so (virtio_vsock_transport_reset()).
 */
#ifndef AGENTVM_DEVICES_VIRTIO_VSOCK_H
#define AGENTVM_DEVICES_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"

/* Connections open at once per device; one more connect() gets -EMFILE. */
#define VSOCK_MAX_CONNECTIONS 256
/* Bytes of guest data we accept ahead of our user reading them, per connection. */
#define VSOCK_BUF_ALLOC (256 * 1024)

struct virtio_vsock;

/* A device giving the guest CID guest_cid (3 or more, below 2^32 - 1). */
int virtio_vsock_create(uint64_t guest_cid, const struct guest_memory *mem,
			const struct virtio_interrupt *interrupt, struct virtio_vsock **out);
void virtio_vsock_destroy(struct virtio_vsock *vs);

struct virtio_mmio *virtio_vsock_transport(struct virtio_vsock *vs);

/*
 * Connect to a port the guest listens on. Blocks until the guest accepts
 * (0, *fd_out is a connected, close-on-exec stream socket the caller owns:
 * reading it reads what the guest sends, writing it sends to the guest,
 * shutdown(SHUT_WR) and close() end the stream), refuses (-ECONNREFUSED),
 * or timeout_ms passes (-ETIMEDOUT; a negative timeout waits for ever).
 * -ENOTCONN while the guest driver is not running; -EHOSTDOWN once
 * virtio_vsock_host_stop() was called. *host_port_out (if not NULL) names
 * the connection for virtio_vsock_save_kept(). Thread-safe.
 */
int virtio_vsock_connect(struct virtio_vsock *vs, uint32_t guest_port, int timeout_ms,
			 int *fd_out, uint32_t *host_port_out);

/*
 * The same without waiting: *fd_out is returned at once, and the connection
 * completes in the background. What the caller writes meanwhile waits in the
 * socket until the guest accepts; a refusal or reset reads as end of stream.
 * Errors as for virtio_vsock_connect(), but for -ECONNREFUSED and -ETIMEDOUT,
 * which cannot be known yet. Thread-safe.
 */
int virtio_vsock_connect_start(struct virtio_vsock *vs, uint32_t guest_port, int *fd_out,
			       uint32_t *host_port_out);

/*
 * The host ends of the guest's connections are gone (the device was restored
 * from a snapshot, in another process): end every connection and tell the
 * guest with a TRANSPORT_RESET event (virtio 1.2, 5.10.6.6), on which it
 * resets its connected sockets and reads its CID again; listening sockets
 * stay. The event goes out as soon as the guest offers an event buffer, and
 * connect() asks the guest for nothing before. A driver that is not running
 * is told nothing: it reads the CID when it starts. Any thread but the
 * device's own; call it on a restored device before its vCPUs run.
 */
void virtio_vsock_transport_reset(struct virtio_vsock *vs);

/*
 * What the device itself must carry across a snapshot: the host port it hands
 * out next. A guest may still hold sockets of connections the saving process
 * had open (closing ones outlive a transport reset until they time out), so a
 * clone must not reuse their ports: a REQUEST from a port the guest holds a
 * closed socket for is answered with RST.
 */
struct virtio_vsock_state {
	uint32_t next_host_port;
	uint32_t reserved; /* zero */
};

void virtio_vsock_save(struct virtio_vsock *vs, struct virtio_vsock_state *out);

/*
 * A connection that travels with a snapshot: the agent link's standby
 * (agent/link.h), so that a clone's first request finds the worker the
 * template's agent forked for it, instead of a transport reset and new
 * connections for which the guest forks again. Its credit state goes with
 * it, verbatim, so that neither side's accounting notices.
 */
struct virtio_vsock_kept {
	uint32_t guest_cid; /* the saving guest's: a clone with another CID cannot keep it */
	uint32_t host_port, guest_port;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t fwd_cnt, fwd_cnt_sent;
};

/*
 * On a paused device: true with *out filled when the connection from
 * host_port can travel: established, nothing in flight either way (no
 * pending byte, shutdown or credit update), and the only connection open,
 * with no reset owed to the guest. Otherwise false: restores of this
 * snapshot reset the transport as for any other.
 */
bool virtio_vsock_save_kept(struct virtio_vsock *vs, uint32_t host_port,
			    struct virtio_vsock_kept *out);

/*
 * On a restored device before its vCPUs run, instead of
 * virtio_vsock_transport_reset(): the connection again, established, and
 * *fd_out our user's end of it (as virtio_vsock_connect() gives). Errors
 * (-EADDRNOTAVAIL for a clone with another CID, -EINVAL for a record that
 * cannot be ours, -ENOTCONN, -EMFILE) leave the device as it was: reset
 * the transport then, as for a snapshot without one.
 */
int virtio_vsock_restore_kept(struct virtio_vsock *vs, const struct virtio_vsock_kept *in,
			      int *fd_out);
/* On a restored device before its vCPUs run; -EINVAL for a port outside the ephemeral range. */
int virtio_vsock_restore(struct virtio_vsock *vs, const struct virtio_vsock_state *in);

/*
 * The VM is ending and its guest will never answer: fail every connect()
 * waiting for it, and every later one, with -EHOSTDOWN. Established
 * connections stay; their users learn of the end from the machine.
 * Takes only the device's lock, so any thread may call it, vCPU threads too.
 */
void virtio_vsock_host_stop(struct virtio_vsock *vs);

#endif
