/*
 * The records of a snapshot's state section (lib/snapshot/format.h frames
 * them): one tag per kind of state, `index` telling instances apart (vCPU
 * number, disk number, virtio slot). Payloads are fixed-layout structs of the
 * code that writes them, listed in doc/snapshot-format.md. The numbers are
 * the file format: never renumber or reuse one.
 */
#ifndef AGENTVM_VMM_SNAPSHOT_RECORDS_H
#define AGENTVM_VMM_SNAPSHOT_RECORDS_H

#include <stdint.h>

enum snapshot_tag {
	/* Architecture-neutral: 1..255. */
	SNAP_MACHINE = 1, /* struct snapshot_machine, index 0 */
	SNAP_DISK = 2,    /* struct snapshot_disk, index = disk number */
	SNAP_UART = 3,    /* struct uart_8250_regs, index 0 */
	SNAP_VIRTIO = 4,  /* struct virtio_mmio_state, index = virtio slot */
	SNAP_VSOCK = 5,   /* struct virtio_vsock_state, index 0 */
	SNAP_VSOCK_KEPT = 6, /* struct virtio_vsock_kept, index 0: a connection that travels */

	/* x86_64: 256..511. */
	SNAP_X86_CPUID = 256,     /* kvm_cpuid_entry2[], index 0: what every vCPU's CPUID derives from */
	SNAP_X86_TSC_KHZ = 257,   /* uint32_t, index 0 */
	SNAP_X86_IRQCHIP = 258,   /* struct kvm_irqchip, index = chip id (PIC master, slave, IOAPIC) */
	SNAP_X86_PIT = 259,       /* struct kvm_pit_state2, index 0 */
	SNAP_X86_CLOCK = 260,     /* struct kvm_clock_data, index 0 */
	SNAP_X86_REGS = 261,      /* struct kvm_regs, index = vCPU */
	SNAP_X86_SREGS = 262,     /* struct kvm_sregs */
	SNAP_X86_XSAVE = 263,     /* the KVM_GET_XSAVE(2) area, 4096 bytes or more */
	SNAP_X86_XCRS = 264,      /* struct kvm_xcrs */
	SNAP_X86_MSRS = 265,      /* struct kvm_msr_entry[] */
	SNAP_X86_LAPIC = 266,     /* struct kvm_lapic_state */
	SNAP_X86_MP_STATE = 267,  /* struct kvm_mp_state */
	SNAP_X86_EVENTS = 268,    /* struct kvm_vcpu_events */
	SNAP_X86_DEBUGREGS = 269, /* struct kvm_debugregs */

	/* aarch64: 512..767. */
	SNAP_ARM64_REGS = 512,     /* (id, value) entries of every KVM_GET_REG_LIST register, index = vCPU */
	SNAP_ARM64_MP_STATE = 513, /* struct kvm_mp_state, index = vCPU */
	SNAP_ARM64_EVENTS = 514,   /* struct kvm_vcpu_events, index = vCPU */
	SNAP_ARM64_GICD = 515,     /* struct arm64_gicd_state, index 0: the GICv3 distributor */
	SNAP_ARM64_GICR = 516,     /* struct arm64_gicr_state, index = vCPU: its redistributor */
	SNAP_ARM64_ICC = 517,      /* struct arm64_icc_state, index = vCPU: its GIC CPU interface */
};

/* What a restore must rebuild before it can load the rest. */
struct snapshot_machine {
	uint32_t vcpus;
	uint32_t memory_mib;
	uint32_t ndisks;
	uint32_t nvirtio; /* the disks' slots, then the vsock device's */
	uint32_t vsock_cid;
	uint32_t reserved; /* zero */
};

#define SNAPSHOT_DISK_PATH_MAX 4096

struct snapshot_disk {
	uint64_t size;      /* bytes; a restore refuses an image of another size */
	uint32_t read_only; /* 0 or 1 */
	uint32_t root;      /* 0 or 1 */
	char path[SNAPSHOT_DISK_PATH_MAX]; /* as configured, NUL-terminated */
};

#endif
