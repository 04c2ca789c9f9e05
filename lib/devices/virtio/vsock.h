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
 * memory is bounded by the credit we grant.
 */
#ifndef AGENTVM_DEVICES_VIRTIO_VSOCK_H
#define AGENTVM_DEVICES_VIRTIO_VSOCK_H

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
 * virtio_vsock_host_stop() was called. Thread-safe.
 */
int virtio_vsock_connect(struct virtio_vsock *vs, uint32_t guest_port, int timeout_ms,
			 int *fd_out);

/*
 * The VM is ending and its guest will never answer: fail every connect()
 * waiting for it, and every later one, with -EHOSTDOWN. Established
 * connections stay; their users learn of the end from the machine.
 * Takes only the device's lock, so any thread may call it, vCPU threads too.
 */
void virtio_vsock_host_stop(struct virtio_vsock *vs);

#endif
