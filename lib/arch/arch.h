/*
 * What the architecture-neutral VMM asks of an architecture: a RAM layout,
 * VM-wide setup (interrupt controller, timers), its platform devices, loading
 * the kernel and building boot tables, and per-vCPU setup. x86_64 and aarch64
 * each implement this once; nothing outside lib/arch/ knows which one runs.
 */
#ifndef AGENTVM_ARCH_ARCH_H
#define AGENTVM_ARCH_ARCH_H

#include <stdint.h>

#include "kvm/memory.h"
#include "util/file.h"

#if defined(__x86_64__)
#include "arch/x86_64/arch_machine.h"
#elif defined(__aarch64__)
#include "arch/aarch64/arch_machine.h"
#else
#error "libagentvm supports x86_64 and aarch64 hosts"
#endif

#include "devices/irq.h"

struct machine;
struct snapshot_state;
struct snapshot_writer;

/* Make a zeroed arch_machine safe to pass to arch_machine_destroy(), before any other arch_* call. */
void arch_machine_init(struct arch_machine *arch);

/* Guest-physical RAM ranges for `ram_bytes` of memory; returns how many were written. */
unsigned int arch_memory_layout(uint64_t ram_bytes, struct memory_region *out);

/* VM-wide KVM setup that must precede vCPU creation. */
int arch_vm_init(struct machine *m);

/* Put the platform's devices (console, reset, power) on the machine's buses. */
int arch_devices_init(struct machine *m);

/* The console UART's interrupt line. */
struct irq_line arch_console_irq(struct machine *m);

/* Where virtio-mmio device `index` lives and which interrupt it raises; -ENOSPC past the last slot. */
int arch_virtio_slot(unsigned int index, uint64_t *base, uint32_t *gsi);

/*
 * Load kernel and initrd, write the command line (the architecture's own
 * options, then `extra`) and boot tables that announce every device in
 * m->virtio (x86_64: virtio_mmio.device= on the command line).
 */
int arch_boot_prepare(struct machine *m, const struct mapped_file *kernel,
		      const struct mapped_file *initrd, const char *extra_cmdline);

/* Per-vCPU setup after KVM_CREATE_VCPU: CPUID, and for vCPU 0 the boot register state. */
int arch_vcpu_init(struct machine *m, unsigned int index, int vcpu_fd);

/* VM-wide setup that must follow the creation of every vCPU (arm64: initializing the GIC). */
int arch_vcpus_created(struct machine *m);

/* The vCPU's program counter, for crash reports; 0 if KVM cannot tell. */
uint64_t arch_vcpu_pc(int vcpu_fd);

/* ---- Snapshots (the VM is paused, or restored but not started) ---- */

/* The CPU features this VM's guest sees, summarized for the snapshot header (SNAPSHOT_CPU_WORDS words). */
int arch_cpu_features(const struct machine *m, uint32_t *out);

/*
 * -ENOTSUP naming one, if a snapshot's guest uses a CPU feature a guest of
 * this host cannot have. Called before any vCPU exists; arm64, which reads
 * the host's features from a vCPU, keeps `saved` for arch_snapshot_restore().
 */
int arch_cpu_features_check(struct machine *m, const uint32_t *saved);

/* Records for the VM-wide state and every vCPU's. */
int arch_snapshot_save(struct machine *m, struct snapshot_writer *w);

/* Take the guest's CPU model (x86: CPUID) from the snapshot: after the VM is built, before vCPUs are. */
int arch_snapshot_adopt_cpuid(struct machine *m, const struct snapshot_state *s);

/* Load the VM-wide state and every vCPU's into a VM whose vCPUs exist but never ran. */
int arch_snapshot_restore(struct machine *m, const struct snapshot_state *s);

/* Release what the arch_* calls allocated. */
void arch_machine_destroy(struct arch_machine *arch);

#endif
