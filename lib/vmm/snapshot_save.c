/* machine_snapshot_save(): the machine's records, then its memory, then the header that vouches for both. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/vsock.h"
#include "snapshot/format.h"
#include "snapshot/memory_image.h"
#include "util/error.h"
#include "util/file.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"
#include "vmm/snapshot_records.h"

int machine_snapshot_check(const struct machine *m, const char *path)
{
	for (unsigned int i = 0; i < m->ndisks; i++)
		if (!m->disks[i].read_only) {
			error_set(-EBUSY, "disk %u (%s) is writable: a snapshot cannot keep its later writes apart from the guest's memory; attach it read-only",
				  i, m->disks[i].path);
			return error_prefix(-EBUSY, "cannot snapshot to %s", path);
		}
	return 0;
}

static int put_disks(const struct machine *m, struct snapshot_writer *w)
{
	struct snapshot_disk *d = calloc(1, sizeof(*d));
	int err = 0;

	if (!d)
		return error_set(-ENOMEM, "out of memory for a disk record");
	for (unsigned int i = 0; !err && i < m->ndisks; i++) {
		struct stat st;

		memset(d, 0, sizeof(*d));
		if (stat(m->disks[i].path, &st) < 0) {
			err = error_set_errno(-errno, "cannot stat disk %u (%s)", i, m->disks[i].path);
			break;
		}
		if (strlen(m->disks[i].path) >= sizeof(d->path)) {
			err = error_set(-ENAMETOOLONG, "disk %u's path is too long for a snapshot", i);
			break;
		}
		d->size = (uint64_t)st.st_size;
		d->read_only = m->disks[i].read_only;
		d->root = m->disks[i].root;
		strcpy(d->path, m->disks[i].path);
		snapshot_put(w, SNAP_DISK, i, d, sizeof(*d));
	}
	free(d);
	return err;
}

/* Every record of the paused machine into w. */
static int put_state(struct machine *m, uint32_t standby_port, struct snapshot_writer *w)
{
	struct snapshot_machine sm = {
		.vcpus = m->nvcpus,
		.memory_mib = m->memory_mib,
		.ndisks = m->ndisks,
		.nvirtio = m->nvirtio,
		.vsock_cid = m->vsock_cid,
	};
	struct virtio_vsock_state vsock;
	struct virtio_vsock_kept kept;
	struct uart_8250_regs uart;
	int err;

	snapshot_put(w, SNAP_MACHINE, 0, &sm, sizeof(sm));
	err = put_disks(m, w);
	if (err)
		return err;
	uart_8250_save(&m->uart, &uart);
	snapshot_put(w, SNAP_UART, 0, &uart, sizeof(uart));
	for (unsigned int i = 0; i < m->nvirtio; i++) {
		struct virtio_mmio_state vs;

		virtio_mmio_save(m->virtio[i].transport, &vs);
		snapshot_put(w, SNAP_VIRTIO, i, &vs, sizeof(vs));
	}
	virtio_vsock_save(m->vsock, &vsock);
	snapshot_put(w, SNAP_VSOCK, 0, &vsock, sizeof(vsock));
	if (standby_port && virtio_vsock_save_kept(m->vsock, standby_port, &kept))
		snapshot_put(w, SNAP_VSOCK_KEPT, 0, &kept, sizeof(kept));
	err = arch_snapshot_save(m, w);
	/* The writer's first failure (its message is still the latest) outranks what followed. */
	return w->err ? w->err : err;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t offset)
{
	int err = file_write_at(fd, buf, len, offset);

	return err ? error_set_errno(err, "cannot write the snapshot") : 0;
}

/* Header last: a file cut short by a crash has no valid header, so it is refused. */
static int write_file(struct machine *m, int fd, const struct snapshot_writer *w, bool compress)
{
	uint8_t *page = calloc(1, SNAPSHOT_HEADER_SIZE), *data_pages = NULL;
	uint64_t align;
	struct snapshot_header h = {
		.version = SNAPSHOT_FORMAT_VERSION,
		.arch = SNAPSHOT_ARCH_HOST,
		.flags = compress ? SNAPSHOT_MEMORY_COMPRESSED : 0,
		.state_offset = SNAPSHOT_HEADER_SIZE,
		.state_size = w->len,
		.state_crc = (uint32_t)crc32_z(0, w->buf, w->len),
		.memory_size = m->memory.size,
	};
	int err;

	if (!page)
		return error_set(-ENOMEM, "out of memory for the snapshot header");
	/*
	 * A raw memory section starts 2 MiB-aligned (the gap is a hole, no disk
	 * space): where the file's page cache holds huge pages (a tmpfs mounted
	 * huge=within_size), a restored guest's memory can then be mapped 2 MiB
	 * at a time, by the host and by KVM, instead of faulting 4 KiB at a time.
	 */
	align = compress ? SNAPSHOT_PAGE_SIZE : SNAPSHOT_MEMORY_ALIGN;
	h.memory_offset = (SNAPSHOT_HEADER_SIZE + w->len + align - 1) & ~(uint64_t)(align - 1);
	err = arch_cpu_features(m, h.cpu_features);
	if (!err)
		err = pwrite_all(fd, w->buf, w->len, h.state_offset);
	/*
	 * Pages never written are not even read: that would allocate them in
	 * RAM's file (its memfd, or the snapshot file every clone of it maps).
	 */
	if (!err)
		err = guest_memory_data_pages(&m->memory, &data_pages);
	if (!err)
		err = snapshot_memory_write(fd, h.memory_offset, m->memory.host, m->memory.size,
					    data_pages, compress, &h.memory_stored);
	if (!err) {
		snapshot_header_encode(&h, page);
		err = pwrite_all(fd, page, SNAPSHOT_HEADER_SIZE, 0);
	}
	free(data_pages);
	free(page);
	return err;
}

int machine_snapshot_save(struct machine *m, const char *path, bool compress,
			  uint32_t standby_port)
{
	struct snapshot_writer w;
	char *tmp;
	int fd, err;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return error_set(-ENOMEM, "out of memory for a file name");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = error_set_errno(-errno, "cannot create %s", tmp);
		free(tmp);
		return error_prefix(err, "cannot snapshot to %s", path);
	}
	snapshot_writer_init(&w);
	err = put_state(m, standby_port, &w);
	if (!err)
		err = write_file(m, fd, &w, compress);
	snapshot_writer_release(&w);
	if (!err && fchmod(fd, 0644) < 0)
		err = error_set_errno(-errno, "cannot set the permissions of %s", tmp);
	if (close(fd) < 0 && !err)
		err = error_set_errno(-errno, "cannot write it");
	if (!err && rename(tmp, path) < 0)
		err = error_set_errno(-errno, "cannot rename %s", tmp);
	if (err)
		unlink(tmp);
	free(tmp);
	return err ? error_prefix(err, "cannot snapshot to %s", path) : 0;
}
