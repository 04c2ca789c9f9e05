/*
 * virtio-blk (virtio 1.2, section 5.2) over a raw image file. Requests are
 * served on the device's own I/O thread, woken by the queue's notify
 * eventfd (a KVM ioeventfd, so a guest's kick costs no exit to userspace),
 * so a slow disk never stalls a vCPU. FLUSH is fdatasync(): an acknowledged
 * flush survives a host crash. DISCARD and WRITE_ZEROES punch holes.
 * Pausing for a snapshot stops the thread, with no request in flight: all
 * the state there is lives in the transport.
 */
#ifndef AGENTVM_DEVICES_VIRTIO_BLK_H
#define AGENTVM_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>

#include "devices/virtio/mmio.h"

struct virtio_blk;

/*
 * Open the image (exclusively locked when writable, shared when read-only,
 * so two VMs never write one image) and set up the device and its transport.
 * `serial` (up to 20 bytes) answers GET_ID.
 */
int virtio_blk_create(const char *path, bool read_only, const char *serial,
		      const struct guest_memory *mem, const struct virtio_interrupt *interrupt,
		      struct virtio_blk **out);
void virtio_blk_destroy(struct virtio_blk *blk);

struct virtio_mmio *virtio_blk_transport(struct virtio_blk *blk);

#endif
