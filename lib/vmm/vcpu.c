#include "vmm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/error.h"
#include "vmm/kick.h"
#include "vmm/machine.h"

int vcpu_create(struct machine *m, struct vcpu *v, unsigned int index)
{
	int err;

	v->machine = m;
	v->index = index;
	v->run = NULL;
	v->fd = ioctl(m->kvm.vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return error_set_errno(-errno, "KVM_CREATE_VCPU %u", index);
	v->run = mmap(NULL, m->kvm.run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		err = error_set_errno(-errno, "cannot map the run area of vCPU %u", index);
		goto fail;
	}
	err = arch_vcpu_init(m, index, v->fd);
	if (err)
		goto fail;
	return 0;
fail:
	vcpu_destroy(v);
	return err;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->machine->kvm.run_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

static void handle_port_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	/* String I/O (rep outsb and friends) arrives as `count` back-to-back accesses. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&v->machine->pio_bus, run->io.port, data, run->io.size);
		else
			bus_read(&v->machine->pio_bus, run->io.port, data, run->io.size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);

	if (run->mmio.is_write)
		bus_write(&v->machine->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&v->machine->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
}

static void end_with_crash(struct vcpu *v, const char *what, uint64_t code)
{
	char detail[160];

	snprintf(detail, sizeof(detail), "vCPU %u stopped: %s (0x%llx)", v->index, what,
		 (unsigned long long)code);
	machine_request_end(v->machine, MACHINE_END_CRASH, detail);
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_port_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		/*
		 * A triple fault. A PC would reset, but our guests reboot through
		 * the reset control register, so this is a kernel that crashed too
		 * hard to panic: report it, with where it was, instead of a reboot.
		 */
		end_with_crash(v, "triple fault at rip", arch_vcpu_pc(v->fd));
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			machine_request_end(v->machine, MACHINE_END_POWEROFF, NULL);
		else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			machine_request_end(v->machine, MACHINE_END_REBOOT, NULL);
		else
			end_with_crash(v, "guest system event", run->system_event.type);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		end_with_crash(v, "KVM could not enter the guest, hardware reason",
			       run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		end_with_crash(v, "KVM internal error, suberror", run->internal.suberror);
		return false;
	default:
		end_with_crash(v, "unexpected KVM exit reason", run->exit_reason);
		return false;
	}
}

/*
 * KVM finishes an I/O or MMIO exit (stores an IN's data into the guest's
 * registers, moves rip past the instruction) only on the next KVM_RUN, so
 * state saved right after an exit would lose it. KVM_RUN with immediate_exit
 * completes what is pending and returns EINTR before entering the guest; an
 * access KVM split in two may exit once more first. 0, or -1 when the
 * vCPU must stop.
 */
static int vcpu_complete_pending(struct vcpu *v)
{
	int r;

	v->run->immediate_exit = 1;
	while ((r = ioctl(v->fd, KVM_RUN, 0)) == 0 && handle_exit(v))
		;
	v->run->immediate_exit = 0;
	kick_consume();
	/* EAGAIN: a halted or not yet started vCPU had nothing to complete either. */
	return r < 0 && (errno == EINTR || errno == EAGAIN) ? 0 : -1;
}

/* Stand still until the pause ends (or the VM does), counted as parked meanwhile. */
static void vcpu_park(struct vcpu *v)
{
	struct machine *m = v->machine;

	if (vcpu_complete_pending(v)) {
		if (!atomic_load(&m->stopping))
			end_with_crash(v, "KVM_RUN failed completing an exit, errno", (uint64_t)errno);
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->threads_parked++;
	pthread_cond_broadcast(&m->pause_changed);
	while (atomic_load(&m->pause_requested) && !atomic_load(&m->stopping))
		pthread_cond_wait(&m->pause_changed, &m->lock);
	m->threads_parked--;
	pthread_mutex_unlock(&m->lock);
}

void *vcpu_thread_main(void *arg)
{
	struct vcpu *v = arg;
	struct machine *m = v->machine;
	int err;

	err = kick_vcpu_thread_setup(v->fd);
	if (err)
		machine_request_end(m, MACHINE_END_CRASH, error_get());

	while (!atomic_load(&m->stopping)) {
		if (atomic_load(&m->pause_requested)) {
			vcpu_park(v);
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				kick_consume();
				continue;
			}
			error_set_errno(-errno, "KVM_RUN on vCPU %u", v->index);
			machine_request_end(m, MACHINE_END_CRASH, error_get());
			break;
		}
		if (!handle_exit(v))
			break;
	}

	pthread_mutex_lock(&m->lock);
	if (--m->threads_running == 0)
		pthread_cond_broadcast(&m->ended);
	pthread_cond_broadcast(&m->pause_changed); /* a pauser counts running threads */
	pthread_mutex_unlock(&m->lock);
	return NULL;
}
