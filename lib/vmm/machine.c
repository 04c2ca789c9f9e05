#define _GNU_SOURCE
#include "vmm/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/vsock.h"
#include "kvm/spare.h"
#include "snapshot/memory_image.h"
#include "util/error.h"
#include "util/thread.h"
#include "vmm/kick.h"
#include "vmm/machine_build.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_devices.h"

static void machine_event_request(void *ctx, enum machine_event event)
{
	machine_request_end(ctx, event == MACHINE_EVENT_POWEROFF ? MACHINE_END_POWEROFF
								 : MACHINE_END_REBOOT,
			    NULL);
}

int machine_config_check(const struct machine_config *cfg)
{
	if (cfg->vcpus < 1 || cfg->vcpus > MACHINE_MAX_VCPUS)
		return error_set(-EINVAL, "%u vCPUs requested; 1 to %d are supported", cfg->vcpus,
				 MACHINE_MAX_VCPUS);
	if (cfg->memory_mib < MACHINE_MIN_MEMORY_MIB || cfg->memory_mib > MACHINE_MAX_MEMORY_MIB)
		return error_set(-EINVAL, "%u MiB of memory requested; %d to %d MiB are supported",
				 cfg->memory_mib, MACHINE_MIN_MEMORY_MIB, MACHINE_MAX_MEMORY_MIB);
	if (cfg->vsock_cid < MACHINE_MIN_VSOCK_CID || cfg->vsock_cid == UINT32_MAX)
		return error_set(-EINVAL, "vsock CID %u is reserved; use %d to %u", cfg->vsock_cid,
				 MACHINE_MIN_VSOCK_CID, UINT32_MAX - 1);
	for (unsigned int i = 0, roots = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].root && ++roots > 1)
			return error_set(-EINVAL, "more than one disk is marked as the root disk");
	return 0;
}

/* The caller's command line after what the disks need, so the caller can still override. */
static int extra_cmdline(const struct machine_config *cfg, char *buf, size_t size)
{
	size_t used;
	int err = machine_disks_cmdline(cfg, buf, size);

	if (err || !cfg->cmdline)
		return err;
	used = strlen(buf);
	if ((size_t)snprintf(buf + used, size - used, "%s%s", used ? " " : "", cfg->cmdline) >=
	    size - used)
		return error_set(-EINVAL, "kernel command line is over %zu bytes", size - 1);
	return 0;
}

static int console_init(struct machine *m, const struct machine_config *cfg)
{
	m->console.fn = cfg->console_fn;
	m->console.payload = cfg->console_payload;
	if (cfg->console_fn || cfg->console_fd < 0)
		return 0;
	m->console.fd = fcntl(cfg->console_fd, F_DUPFD_CLOEXEC, 3);
	if (m->console.fd < 0)
		return error_set_errno(-errno, "cannot duplicate console fd %d", cfg->console_fd);
	return 0;
}

static int memory_init(struct machine *m, uint32_t mib, const struct snapshot_ram *ram)
{
	struct memory_region layout[GUEST_MEMORY_MAX_REGIONS];
	unsigned int n = arch_memory_layout((uint64_t)mib << 20, layout);
	int err;

	if (ram && !ram->compressed) {
		err = guest_memory_map_private(&m->memory, layout, n, ram->fd, ram->offset);
	} else {
		err = guest_memory_create(&m->memory, layout, n);
		if (!err && ram)
			err = snapshot_memory_inflate(ram->fd, ram->offset, ram->stored,
						      m->memory.host, m->memory.size);
	}
	if (!err)
		err = guest_memory_register(&m->memory, m->kvm.vm_fd);
	return err;
}

/* What a snapshot must record about the configuration, kept past machine_create(). */
static int config_keep(struct machine *m, const struct machine_config *cfg)
{
	m->memory_mib = cfg->memory_mib;
	m->vsock_cid = cfg->vsock_cid;
	for (unsigned int i = 0; i < cfg->ndisks; i++) {
		m->disks[i] = cfg->disks[i];
		m->disks[i].path = strdup(cfg->disks[i].path);
		if (!m->disks[i].path)
			return error_set(-ENOMEM, "out of memory for a disk path");
		m->ndisks = i + 1;
	}
	return 0;
}

/* Images are opened before anything else so a bad path fails fast, before KVM is touched. */
static int images_open(const struct machine_config *cfg, struct mapped_file *kernel,
		       struct mapped_file *initrd)
{
	int err = mapped_file_open(kernel, cfg->kernel_path, "kernel");

	if (!err && cfg->initrd_path) {
		err = mapped_file_open(initrd, cfg->initrd_path, "initrd");
		if (err)
			mapped_file_close(kernel);
	}
	return err;
}

int machine_vcpus_create(struct machine *m)
{
	int err;

	m->vcpus = calloc(m->nvcpus, sizeof(*m->vcpus));
	if (!m->vcpus)
		return error_set(-ENOMEM, "out of memory for %u vCPUs", m->nvcpus);
	for (unsigned int i = 0; i < m->nvcpus; i++)
		m->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < m->nvcpus; i++) {
		err = vcpu_create(m, &m->vcpus[i], i);
		if (err)
			return err;
	}
	err = arch_vcpus_created(m);
	return err ? err : machine_virtio_irqfds_assign(m);
}

/* Timed waits measure on the monotonic clock, so a host clock change does not stretch them. */
static void monotonic_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

int machine_build(const struct machine_config *cfg, const struct snapshot_ram *ram,
		  struct machine **out)
{
	struct irq_line console_irq;
	struct machine *m;
	int err;

	m = calloc(1, sizeof(*m));
	if (!m)
		return error_set(-ENOMEM, "out of memory for a VM");
	m->kvm.sys_fd = m->kvm.vm_fd = -1;
	m->memory.fd = m->memory.file_fd = -1;
	m->console.fd = -1;
	m->stopping_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->nvcpus = cfg->vcpus;
	m->events = (struct machine_event_sink){ .request = machine_event_request, .ctx = m };
	bus_init(&m->pio_bus);
	bus_init(&m->mmio_bus);
	pthread_mutex_init(&m->lock, NULL);
	monotonic_cond_init(&m->ended);
	pthread_cond_init(&m->pause_changed, NULL);
	arch_machine_init(&m->arch);
	console_irq = arch_console_irq(m);
	uart_8250_init(&m->uart, &console_irq, &m->console);

	err = m->stopping_fd < 0 ? error_set(-errno, "cannot create an eventfd: %s", strerror(errno))
				 : 0;
	if (!err)
		err = config_keep(m, cfg);
	if (!err)
		err = console_init(m, cfg);
	if (!err && !kvm_spare_take(&m->kvm))
		err = kvm_open(&m->kvm);
	if (!err)
		err = arch_vm_init(m);
	if (!err)
		err = memory_init(m, cfg->memory_mib, ram);
	if (!err)
		err = arch_devices_init(m);
	if (!err)
		err = machine_attach_disks(m, cfg);
	if (!err)
		err = machine_attach_vsock(m, cfg);
	if (err)
		machine_destroy(m);
	else
		*out = m;
	return err;
}

int machine_create(const struct machine_config *cfg, struct machine **out)
{
	struct mapped_file kernel = { 0 }, initrd = { 0 };
	char extra[MACHINE_MAX_CMDLINE + 64];
	struct machine *m = NULL;
	int err;

	err = !cfg->kernel_path || !*cfg->kernel_path
		      ? error_set(-EINVAL, "no kernel set: call agentvm_config_set_kernel() first")
		      : machine_config_check(cfg);
	if (!err)
		err = extra_cmdline(cfg, extra, sizeof(extra));
	if (!err)
		err = images_open(cfg, &kernel, &initrd);
	if (err)
		return err;
	err = machine_build(cfg, NULL, &m);
	if (!err)
		err = arch_boot_prepare(m, &kernel, cfg->initrd_path ? &initrd : NULL, extra);
	if (!err)
		err = machine_vcpus_create(m);
	if (err)
		machine_destroy(m);
	else
		*out = m;
	mapped_file_close(&initrd);
	mapped_file_close(&kernel);
	return err;
}

int machine_start(struct machine *m)
{
	int err;

	pthread_mutex_lock(&m->lock);
	if (m->started) {
		pthread_mutex_unlock(&m->lock);
		return error_set(-EBUSY, "the VM was already started");
	}
	err = kick_signal_prepare();
	if (err) {
		pthread_mutex_unlock(&m->lock);
		return err;
	}
	m->started = true;

	/* thread_start() blocks every signal in them: no host signal handler runs on a vCPU thread. */
	for (unsigned int i = 0; i < m->nvcpus; i++) {
		char name[32]; /* thread_start() keeps the first THREAD_NAME_MAX bytes */
		int r;

		snprintf(name, sizeof(name), "agentvm-vcpu%u", i);
		/* A vCPU thread runs the console callback. */
		r = thread_start(&m->vcpus[i].thread, name, THREAD_STACK_CALLBACKS, vcpu_thread_main,
				 &m->vcpus[i]);
		if (r) {
			err = error_set(-r, "cannot create the thread of vCPU %u", i);
			break;
		}
		m->vcpus[i].thread_started = true;
		m->threads_running++;
	}
	pthread_mutex_unlock(&m->lock);
	if (err)
		machine_request_end(m, MACHINE_END_CRASH, error_get());
	return err;
}

/* Get every vCPU thread out of KVM_RUN (m->lock held). */
static void kick_all(struct machine *m)
{
	for (unsigned int i = 0; i < m->nvcpus; i++)
		if (m->vcpus && m->vcpus[i].thread_started)
			kick_thread(m->vcpus[i].thread.id);
}

void machine_request_end(struct machine *m, enum machine_end_reason reason, const char *detail)
{
	pthread_mutex_lock(&m->lock);
	if (m->end_reason == MACHINE_END_NONE) {
		m->end_reason = reason;
		snprintf(m->end_detail, sizeof(m->end_detail), "%s", detail ? detail : "");
	}
	if (!atomic_exchange(&m->stopping, true)) {
		uint64_t one = 1;
		/* Written once to a fresh eventfd: it cannot fill up, so the write cannot fail. */
		ssize_t n = write(m->stopping_fd, &one, sizeof(one));

		(void)n;
		if (m->vsock)
			virtio_vsock_host_stop(m->vsock);
	}
	kick_all(m);
	pthread_cond_broadcast(&m->pause_changed); /* parked vCPUs leave, a pauser gives up */
	pthread_mutex_unlock(&m->lock);
}

void machine_end_describe(struct machine *m, char *buf, size_t size)
{
	static const char *const words[] = {
		[MACHINE_END_NONE] = "",
		[MACHINE_END_POWEROFF] = "the guest powered off",
		[MACHINE_END_REBOOT] = "the guest rebooted",
		[MACHINE_END_KILLED] = "the VM was killed",
		[MACHINE_END_CRASH] = NULL, /* its detail says what happened */
	};

	pthread_mutex_lock(&m->lock);
	snprintf(buf, size, "%s", words[m->end_reason] ? words[m->end_reason] : m->end_detail);
	pthread_mutex_unlock(&m->lock);
}

int machine_pause(struct machine *m)
{
	pthread_mutex_lock(&m->lock);
	if (!m->started || atomic_load(&m->stopping)) {
		pthread_mutex_unlock(&m->lock);
		return error_set(-ESHUTDOWN, "the VM is not running");
	}
	atomic_store(&m->pause_requested, true);
	kick_all(m);
	while (m->threads_parked < m->threads_running && !atomic_load(&m->stopping))
		pthread_cond_wait(&m->pause_changed, &m->lock);
	if (atomic_load(&m->stopping)) {
		atomic_store(&m->pause_requested, false);
		pthread_mutex_unlock(&m->lock);
		return error_set(-ESHUTDOWN, "the VM ended while being paused");
	}
	pthread_mutex_unlock(&m->lock);
	/* Devices after vCPUs: no guest notify can arrive once the vCPUs stand still. */
	for (unsigned int i = 0; i < m->nvirtio; i++)
		virtio_mmio_pause(m->virtio[i].transport);
	return 0;
}

void machine_resume(struct machine *m)
{
	for (unsigned int i = 0; i < m->nvirtio; i++)
		if (virtio_mmio_resume(m->virtio[i].transport))
			machine_request_end(m, MACHINE_END_CRASH, error_get());
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->pause_requested, false);
	pthread_cond_broadcast(&m->pause_changed);
	pthread_mutex_unlock(&m->lock);
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int machine_wait(struct machine *m, int timeout_ms, enum machine_end_reason *reason)
{
	struct timespec deadline;
	int err = 0;

	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&m->lock);
	if (!m->started) {
		pthread_mutex_unlock(&m->lock);
		return error_set(-EINVAL, "the VM was never started");
	}
	while (m->threads_running > 0 && !err) {
		if (timeout_ms == 0)
			err = ETIMEDOUT;
		else if (timeout_ms < 0)
			pthread_cond_wait(&m->ended, &m->lock);
		else
			err = pthread_cond_timedwait(&m->ended, &m->lock, &deadline);
	}
	if (m->threads_running > 0) {
		pthread_mutex_unlock(&m->lock);
		return error_set(-ETIMEDOUT, "the VM is still running after %d ms", timeout_ms);
	}
	if (reason)
		*reason = m->end_reason;
	if (m->end_reason == MACHINE_END_CRASH)
		error_set(0, "%s", m->end_detail);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	if (m->vcpus) {
		machine_request_end(m, MACHINE_END_KILLED, NULL);
		for (unsigned int i = 0; i < m->nvcpus; i++)
			if (m->vcpus[i].thread_started)
				thread_join(&m->vcpus[i].thread);
		for (unsigned int i = 0; i < m->nvcpus; i++)
			if (m->vcpus[i].machine)
				vcpu_destroy(&m->vcpus[i]);
		free(m->vcpus);
	}
	machine_detach_virtio(m);
	for (unsigned int i = 0; i < m->ndisks; i++)
		free((char *)m->disks[i].path);
	arch_machine_destroy(&m->arch);
	snapshot_pages_learner_free(&m->pages_learner);
	guest_memory_destroy(&m->memory);
	kvm_spare_release(&m->kvm);
	bus_destroy(&m->pio_bus);
	bus_destroy(&m->mmio_bus);
	uart_8250_destroy(&m->uart);
	if (m->console.fd >= 0)
		close(m->console.fd);
	if (m->stopping_fd >= 0)
		close(m->stopping_fd);
	pthread_cond_destroy(&m->ended);
	pthread_cond_destroy(&m->pause_changed);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
