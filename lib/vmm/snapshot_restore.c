/*
 * machine_snapshot_restore(): read and check the whole file's framing and
 * checksums first, rebuild the machine the snapshot describes around its
 * memory, then load every record into it. Nothing runs until the caller
 * starts the machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/vsock.h"
#include "snapshot/format.h"
#include "util/error.h"
#include "util/file.h"
#include "vmm/machine.h"
#include "vmm/machine_build.h"
#include "vmm/snapshot.h"
#include "vmm/snapshot_pages.h"
#include "vmm/snapshot_records.h"

struct snapshot_file {
	int fd;
	struct snapshot_header header;
	uint8_t *state_bytes;
	struct snapshot_state state;
	bool parsed;
};

static int pread_all(int fd, void *buf, size_t len, uint64_t offset)
{
	int err = file_read_at(fd, buf, len, offset);

	if (err == -ENODATA)
		return error_set(-EBADMSG, "snapshot is truncated");
	return err ? error_set_errno(err, "cannot read the snapshot") : 0;
}

static int file_open(struct snapshot_file *f, const char *path)
{
	uint8_t *page;
	struct stat st;
	int err;

	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &st) < 0)
		return error_set_errno(-errno, "cannot open it");
	/* Zero-filled past a short file's end: any file gets "not a snapshot" before "truncated". */
	page = calloc(1, SNAPSHOT_HEADER_SIZE);
	if (!page)
		return error_set(-ENOMEM, "out of memory for the snapshot header");
	err = pread_all(f->fd, page,
			(uint64_t)st.st_size < SNAPSHOT_HEADER_SIZE ? (size_t)st.st_size
								    : SNAPSHOT_HEADER_SIZE,
			0);
	if (!err)
		err = snapshot_header_decode(page, (uint64_t)st.st_size, &f->header);
	free(page);
	if (err)
		return err;
	f->state_bytes = malloc(f->header.state_size ? f->header.state_size : 1);
	if (!f->state_bytes)
		return error_set(-ENOMEM, "out of memory for the snapshot's state");
	err = pread_all(f->fd, f->state_bytes, f->header.state_size, f->header.state_offset);
	if (!err)
		err = snapshot_state_check(&f->header, f->state_bytes);
	if (!err)
		err = snapshot_state_parse(&f->state, f->state_bytes, f->header.state_size);
	f->parsed = !err;
	return err;
}

static void file_close(struct snapshot_file *f)
{
	if (f->parsed)
		snapshot_state_release(&f->state);
	free(f->state_bytes);
	if (f->fd >= 0)
		close(f->fd);
}

/* The configuration the snapshot's machine had, with what the caller may change. */
static int config_from(const struct snapshot_file *f, const struct machine_config *cfg,
		       struct machine_config *out, struct snapshot_disk *disks)
{
	struct snapshot_machine sm;
	int err = snapshot_get(&f->state, SNAP_MACHINE, 0, &sm, sizeof(sm), "machine record");

	if (err)
		return err;
	if (sm.ndisks > MACHINE_MAX_DISKS || sm.nvirtio != sm.ndisks + 1 ||
	    (uint64_t)sm.memory_mib << 20 != f->header.memory_size)
		return error_set(-EBADMSG, "snapshot's machine record is inconsistent");
	if (cfg->ndisks && cfg->ndisks != sm.ndisks)
		return error_set(-EINVAL, "the snapshot's VM has %u disks, the configuration %u",
				 sm.ndisks, cfg->ndisks);
	*out = (struct machine_config){
		.vcpus = sm.vcpus,
		.memory_mib = sm.memory_mib,
		.console_fd = cfg->console_fd,
		.console_fn = cfg->console_fn,
		.console_payload = cfg->console_payload,
		.ndisks = sm.ndisks,
		.vsock_cid = cfg->vsock_cid,
	};
	for (unsigned int i = 0; i < sm.ndisks; i++) {
		struct snapshot_disk *d = &disks[i];
		struct stat st;

		err = snapshot_get(&f->state, SNAP_DISK, i, d, sizeof(*d), "disk record");
		if (err)
			return err;
		if (!memchr(d->path, '\0', sizeof(d->path)) || d->read_only > 1 || d->root > 1)
			return error_set(-EBADMSG, "snapshot's disk record %u is malformed", i);
		out->disks[i] = (struct machine_disk){
			.path = cfg->ndisks ? cfg->disks[i].path : d->path,
			.read_only = d->read_only,
			.root = d->root,
		};
		if (cfg->ndisks && cfg->disks[i].read_only != (bool)d->read_only)
			return error_set(-EINVAL, "disk %u was %s in the snapshot's VM", i,
					 d->read_only ? "read-only" : "writable");
		if (stat(out->disks[i].path, &st) < 0)
			return error_set_errno(-errno, "cannot stat disk %u (%s)", i,
					       out->disks[i].path);
		if ((uint64_t)st.st_size != d->size)
			return error_set(-EINVAL, "disk %u (%s) is %lld bytes, the snapshot's was %llu: not the same image",
					 i, out->disks[i].path, (long long)st.st_size,
					 (unsigned long long)d->size);
	}
	return machine_config_check(out);
}

/*
 * The connection the snapshot carried, into *standby; or, without one (or
 * for a clone with another CID), the guest told that its connections ended:
 * their host ends stayed with the process that saved.
 */
static int vsock_connections_restore(struct machine *m, const struct snapshot_state *s,
				     struct snapshot_standby *standby)
{
	struct virtio_vsock_kept kept;
	const uint8_t *payload;
	uint64_t len;

	/* Optional; snapshot_get() then holds it to its exact size. */
	if (snapshot_find(s, SNAP_VSOCK_KEPT, 0, &payload, &len) == 0) {
		int err = snapshot_get(s, SNAP_VSOCK_KEPT, 0, &kept, sizeof(kept),
				       "kept vsock connection");

		if (err)
			return err;
		if (virtio_vsock_restore_kept(m->vsock, &kept, &standby->fd) == 0) {
			standby->host_port = kept.host_port;
			return 0;
		}
		error_clear(); /* not an error: the guest's transport is reset instead */
	}
	virtio_vsock_transport_reset(m->vsock);
	return 0;
}

static int devices_restore(struct machine *m, const struct snapshot_state *s,
			   struct snapshot_standby *standby)
{
	struct virtio_vsock_state vsock;
	struct uart_8250_regs uart;
	int err = snapshot_get(s, SNAP_UART, 0, &uart, sizeof(uart), "serial port");

	if (!err)
		uart_8250_restore(&m->uart, &uart);
	for (unsigned int i = 0; !err && i < m->nvirtio; i++) {
		struct virtio_mmio_state vs;

		err = snapshot_get(s, SNAP_VIRTIO, i, &vs, sizeof(vs), "virtio device");
		if (!err)
			err = virtio_mmio_restore(m->virtio[i].transport, &vs);
	}
	if (!err)
		err = snapshot_get(s, SNAP_VSOCK, 0, &vsock, sizeof(vsock), "vsock state");
	if (!err)
		err = virtio_vsock_restore(m->vsock, &vsock);
	if (!err)
		err = vsock_connections_restore(m, s, standby);
	return err;
}

static int restore(struct snapshot_file *f, const char *path, const struct machine_config *cfg,
		   struct machine **out, struct snapshot_standby *standby)
{
	struct snapshot_disk *disks = calloc(MACHINE_MAX_DISKS, sizeof(*disks));
	struct snapshot_ram ram = {
		.fd = f->fd,
		.offset = f->header.memory_offset,
		.stored = f->header.memory_stored,
		.compressed = f->header.flags & SNAPSHOT_MEMORY_COMPRESSED,
	};
	struct machine_config mc;
	struct machine *m = NULL;
	int err;

	if (!disks)
		return error_set(-ENOMEM, "out of memory for disk records");
	err = config_from(f, cfg, &mc, disks);
	if (!err)
		err = machine_build(&mc, &ram, &m);
	free(disks); /* machine_build() copied the paths */
	if (!err)
		err = arch_cpu_features_check(m, f->header.cpu_features);
	if (!err)
		err = arch_snapshot_adopt_cpuid(m, &f->state);
	if (!err)
		err = machine_vcpus_create(m);
	if (!err)
		err = arch_snapshot_restore(m, &f->state);
	if (!err)
		err = devices_restore(m, &f->state, standby);
	if (err) {
		machine_destroy(m);
		return err;
	}
	/* Last, once nothing can refuse the snapshot: copies made for a failed restore are wasted. */
	if (!ram.compressed)
		snapshot_pages_apply(&m->memory, path, f->fd, &m->pages_learner);
	*out = m;
	return 0;
}

int machine_snapshot_restore(const char *path, const struct machine_config *cfg,
			     struct machine **out, struct snapshot_standby *standby)
{
	struct snapshot_file f = { .fd = -1 };
	int err = file_open(&f, path);

	*standby = (struct snapshot_standby){ .fd = -1 };
	if (!err)
		err = restore(&f, path, cfg, out, standby);
	file_close(&f);
	return err ? error_prefix(err, "cannot restore %s", path) : 0;
}

void machine_snapshot_learn(struct machine *m)
{
	struct snapshot_pages_learner learner;

	pthread_mutex_lock(&m->lock);
	learner = m->pages_learner;
	m->pages_learner = (struct snapshot_pages_learner){ 0 };
	pthread_mutex_unlock(&m->lock);
	snapshot_pages_learn(&m->memory, &learner);
}
