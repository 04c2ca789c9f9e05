/* Attaching virtio-mmio devices to a machine: slot, MMIO range, irqfd, ioeventfds. */
#ifndef AGENTVM_VMM_VIRTIO_DEVICES_H
#define AGENTVM_VMM_VIRTIO_DEVICES_H

#include <stddef.h>

struct machine;
struct machine_config;

/* One virtio-blk device per configured disk, in order: the guest names them vda, vdb, ... */
int machine_attach_disks(struct machine *m, const struct machine_config *cfg);

/* The virtio-vsock device, after the disks, at CID cfg->vsock_cid. */
int machine_attach_vsock(struct machine *m, const struct machine_config *cfg);

/*
 * Let KVM inject every slot's interrupts from its eventfd, once the vCPUs and
 * the interrupt controller are complete (arm64 refuses irqfds before).
 */
int machine_virtio_irqfds_assign(struct machine *m);

/* Kernel command line words the disks need (root=/dev/vdX ro|rw); "" if none. */
int machine_disks_cmdline(const struct machine_config *cfg, char *buf, size_t size);

/* Stop every device's I/O and release it; vCPUs must be stopped already. */
void machine_detach_virtio(struct machine *m);

#endif
