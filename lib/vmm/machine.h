/*
 * One VM: KVM handles, guest RAM, the two buses and their devices, and the
 * vCPU threads, with the lifecycle created -> running -> ended. The public
 * API (lib/api/) wraps this; nothing here knows about agentvm.h types.
 */
#ifndef AGENTVM_VMM_MACHINE_H
#define AGENTVM_VMM_MACHINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/arch.h"
#include "devices/bus.h"
#include "devices/console_sink.h"
#include "devices/machine_event.h"
#include "devices/serial/uart_8250.h"
#include "kvm/kvm.h"
#include "kvm/memory.h"
#include "util/thread.h"
#include "vmm/snapshot_pages.h"

#define MACHINE_MAX_VCPUS 64
#define MACHINE_MIN_MEMORY_MIB 16
#define MACHINE_MAX_MEMORY_MIB 65536
#define MACHINE_MAX_CMDLINE 2048
#define MACHINE_MAX_DISKS 8
/* The disks and the vsock device. */
#define MACHINE_MAX_VIRTIO (MACHINE_MAX_DISKS + 1)
#define MACHINE_MIN_VSOCK_CID 3

struct machine_disk {
	const char *path;
	bool read_only;
	bool root; /* boot from it: root=/dev/vdX */
};

struct machine_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;     /* NULL: none */
	uint32_t vcpus;
	uint32_t memory_mib;
	int console_fd; /* borrowed; the machine keeps a duplicate */
	void (*console_fn)(const char *data, size_t len, void *payload);
	void *console_payload;
	unsigned int ndisks;
	struct machine_disk disks[MACHINE_MAX_DISKS];
	uint32_t vsock_cid; /* the guest's vsock address, MACHINE_MIN_VSOCK_CID or more */
};

enum machine_end_reason {
	MACHINE_END_NONE = 0,
	MACHINE_END_POWEROFF,
	MACHINE_END_REBOOT,
	MACHINE_END_KILLED,
	MACHINE_END_CRASH,
};

struct vcpu {
	struct machine *machine;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	struct thread thread;
	bool thread_started;
};

struct virtio_blk;
struct virtio_mmio;
struct virtio_vsock;

/* One virtio-mmio device slot: where the guest finds it and how it interrupts. */
struct machine_virtio {
	struct virtio_blk *blk; /* NULL in the vsock device's slot */
	struct virtio_mmio *transport; /* the slot's device, blk or vsock */
	uint64_t base;
	uint32_t gsi;
	int irqfd;
};

struct machine {
	struct kvm kvm;
	struct guest_memory memory;
	struct bus pio_bus;
	struct bus mmio_bus;
	struct console_sink console;
	struct uart_8250 uart;
	struct machine_event_sink events;
	struct arch_machine arch;
	unsigned int nvcpus;
	struct vcpu *vcpus;
	uint32_t memory_mib;
	uint32_t vsock_cid;
	unsigned int ndisks;
	struct machine_disk disks[MACHINE_MAX_DISKS]; /* as configured; paths owned */
	unsigned int nvirtio;
	struct machine_virtio virtio[MACHINE_MAX_VIRTIO];
	struct virtio_vsock *vsock; /* the host end of every agent connection */
	struct snapshot_pages_learner pages_learner; /* a restored VM's, under `lock` */

	atomic_bool stopping; /* read by vCPU threads after every exit */
	atomic_bool pause_requested; /* ... as is this: park until it is cleared */
	int stopping_fd;      /* eventfd, readable once stopping: lets I/O waits poll for the end */
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t ended;
	pthread_cond_t pause_changed; /* a vCPU parked or left, or the pause ended */
	bool started;
	unsigned int threads_running;
	unsigned int threads_parked;
	enum machine_end_reason end_reason;
	char end_detail[256];
};

/* Build a VM ready to start; on failure nothing is left allocated. */
int machine_create(const struct machine_config *cfg, struct machine **out);

/* Start the vCPU threads. */
int machine_start(struct machine *m);

/*
 * Wait for the end, up to timeout_ms (-1 forever). 0 and the reason once
 * every vCPU thread is done, -ETIMEDOUT before; -EINVAL if never started.
 */
int machine_wait(struct machine *m, int timeout_ms, enum machine_end_reason *reason);

/*
 * Ask every vCPU to stop, recording `reason` (and `detail`, may be NULL) if
 * it is the first. Safe from any thread, vCPU threads included.
 */
void machine_request_end(struct machine *m, enum machine_end_reason reason, const char *detail);

/*
 * Why the VM ended or is ending, in words for an error message ("the guest
 * powered off", a crash's detail, ...); "" while nothing asked it to end.
 */
void machine_end_describe(struct machine *m, char *buf, size_t size);

/*
 * Stop the guest at a consistent point: every vCPU parked outside KVM_RUN
 * with its last exit completed, then every device's own I/O paused. 0, or
 * -ESHUTDOWN if the VM ended (or was never started). One pause at a time:
 * callers serialize.
 */
int machine_pause(struct machine *m);

/* Let devices and vCPUs go on after machine_pause(). */
void machine_resume(struct machine *m);

/* Stop, join and release everything. NULL is a no-op. */
void machine_destroy(struct machine *m);

#endif
