#define _GNU_SOURCE
#include "vmm/virtio_devices.h"

#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/vsock.h"
#include "kvm/irq.h"
#include "util/error.h"
#include "vmm/machine.h"

static void raise_irqfd(void *ctx)
{
	const struct machine_virtio *slot = ctx;
	uint64_t one = 1;

	/* Fails only when the counter is saturated, and then an interrupt is pending anyway. */
	if (write(slot->irqfd, &one, sizeof(one)) < 0)
		return;
}

/* Put a transport on the bus and let KVM signal its queues without an exit. */
static int wire_transport(struct machine *m, struct machine_virtio *slot, struct virtio_mmio *t)
{
	int err = bus_register(&m->mmio_bus, slot->base, VIRTIO_MMIO_SPAN, &virtio_mmio_ops, t);

	slot->transport = t;

	for (unsigned int q = 0; !err && q < t->ops->num_queues; q++)
		err = kvm_ioeventfd_add(&m->kvm, slot->base + VIRTIO_MMIO_QUEUE_NOTIFY, q,
					t->notify_fd[q]);
	return err;
}

/*
 * Take the next slot: its address, its interrupt line and the eventfd behind
 * it, which machine_virtio_irqfds_assign() hands to KVM. The slot is counted
 * even on failure, so detach closes the eventfd.
 */
static int slot_open(struct machine *m, struct machine_virtio **slot_out,
		     struct virtio_interrupt *interrupt)
{
	struct machine_virtio *slot = &m->virtio[m->nvirtio];
	int err;

	slot->irqfd = -1;
	err = arch_virtio_slot(m->nvirtio, &slot->base, &slot->gsi);
	if (!err) {
		slot->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (slot->irqfd < 0)
			err = error_set_errno(-errno, "cannot create an interrupt eventfd");
	}
	m->nvirtio++;
	*slot_out = slot;
	*interrupt = (struct virtio_interrupt){ .raise = raise_irqfd, .ctx = slot };
	return err;
}

int machine_attach_disks(struct machine *m, const struct machine_config *cfg)
{
	for (unsigned int i = 0; i < cfg->ndisks; i++) {
		struct virtio_interrupt interrupt;
		struct machine_virtio *slot;
		char serial[24];
		int err;

		err = slot_open(m, &slot, &interrupt);
		snprintf(serial, sizeof(serial), "agentvm-disk%u", i);
		if (!err)
			err = virtio_blk_create(cfg->disks[i].path, cfg->disks[i].read_only, serial,
						&m->memory, &interrupt, &slot->blk);
		if (!err)
			err = wire_transport(m, slot, virtio_blk_transport(slot->blk));
		if (err)
			return err;
	}
	return 0;
}

int machine_attach_vsock(struct machine *m, const struct machine_config *cfg)
{
	struct virtio_interrupt interrupt;
	struct machine_virtio *slot;
	int err;

	err = slot_open(m, &slot, &interrupt);
	if (!err)
		err = virtio_vsock_create(cfg->vsock_cid, &m->memory, &interrupt, &m->vsock);
	if (!err)
		err = wire_transport(m, slot, virtio_vsock_transport(m->vsock));
	return err;
}

int machine_disks_cmdline(const struct machine_config *cfg, char *buf, size_t size)
{
	buf[0] = '\0';
	for (unsigned int i = 0; i < cfg->ndisks; i++) {
		if (!cfg->disks[i].root)
			continue;
		if (snprintf(buf, size, "root=/dev/vd%c %s", 'a' + i,
			     cfg->disks[i].read_only ? "ro" : "rw") >= (int)size)
			return error_set(-EINVAL, "root disk command line does not fit");
		return 0;
	}
	return 0;
}

int machine_virtio_irqfds_assign(struct machine *m)
{
	for (unsigned int i = 0; i < m->nvirtio; i++) {
		int err = kvm_irqfd_assign(&m->kvm, m->virtio[i].gsi, m->virtio[i].irqfd);

		if (err)
			return err;
	}
	return 0;
}

void machine_detach_virtio(struct machine *m)
{
	virtio_vsock_destroy(m->vsock);
	m->vsock = NULL;
	for (unsigned int i = 0; i < m->nvirtio; i++) {
		virtio_blk_destroy(m->virtio[i].blk);
		if (m->virtio[i].irqfd >= 0)
			close(m->virtio[i].irqfd);
	}
	m->nvirtio = 0;
}
