/*
 * The in-kernel GICv3's state as snapshot records, through the VGIC device's
 * register groups (Documentation/virt/kvm/devices/arm-vgic-v3.rst): the
 * distributor with the input levels of its SPIs, and per vCPU the
 * redistributor and the CPU interface's system registers. Every access goes
 * through KVM_{GET,SET}_DEVICE_ATTR, which KVM refuses (-EBUSY) while a vCPU
 * runs: saves happen with every vCPU parked, restores before any ran.
 *
 * Registers are kept by their architectural names and register numbers
 * (GICD_ISENABLER<n> is isenabler[n]); words for INTIDs below 32, which the
 * distributor does not implement with affinity routing on (KVM's is always
 * on), are zero. The machine has no ITS, hence no LPIs and no LPI tables.
 */
#ifndef AGENTVM_ARCH_AARCH64_VGIC_STATE_H
#define AGENTVM_ARCH_AARCH64_VGIC_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct snapshot_state;
struct snapshot_writer;

/* INTIDs a GICv3 distributor can implement (SGIs, PPIs, SPIs): KVM_DEV_ARM_VGIC_GRP_NR_IRQS takes 64..1024. */
#define ARM64_GIC_MAX_IRQS 1024

/* SNAP_ARM64_GICD. */
struct arm64_gicd_state {
	uint32_t nr_irqs; /* INTIDs implemented (GICD_TYPER.ITLinesNumber): SPIs are 32..nr_irqs-1 */
	uint32_t iidr;    /* GICD_IIDR: written back first, it selects KVM's implementation revision */
	uint32_t ctlr;    /* GICD_CTLR */
	uint32_t statusr; /* GICD_STATUSR */
	uint32_t igroupr[ARM64_GIC_MAX_IRQS / 32];
	uint32_t isenabler[ARM64_GIC_MAX_IRQS / 32];
	uint32_t ispendr[ARM64_GIC_MAX_IRQS / 32]; /* KVM's pending latches: a level interrupt's line is apart */
	uint32_t isactiver[ARM64_GIC_MAX_IRQS / 32];
	uint32_t icfgr[ARM64_GIC_MAX_IRQS / 16];
	uint32_t ipriorityr[ARM64_GIC_MAX_IRQS / 4];
	uint32_t line_level[ARM64_GIC_MAX_IRQS / 32]; /* KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO: bit i of word n is INTID 32n+i */
	uint64_t irouter[ARM64_GIC_MAX_IRQS];         /* GICD_IROUTER<intid> */
};

/* SNAP_ARM64_GICR: one vCPU's redistributor (RD_base and SGI_base frames). */
struct arm64_gicr_state {
	uint32_t ctlr;    /* GICR_CTLR */
	uint32_t statusr; /* GICR_STATUSR */
	uint32_t waker;   /* GICR_WAKER */
	uint32_t igroupr0;
	uint32_t isenabler0;
	uint32_t ispendr0; /* latches, as the distributor's */
	uint32_t isactiver0;
	uint32_t icfgr[2]; /* GICR_ICFGR0 (SGIs), GICR_ICFGR1 (PPIs) */
	uint32_t ipriorityr[8];
	uint32_t reserved; /* zero */
};

/* SNAP_ARM64_ICC: one vCPU's GIC CPU interface system registers. */
struct arm64_icc_state {
	uint64_t sre;  /* ICC_SRE_EL1 */
	uint64_t ctlr; /* ICC_CTLR_EL1: its PRIbits say how many active-priority registers there are */
	uint64_t pmr;  /* ICC_PMR_EL1 */
	uint64_t bpr0, bpr1;
	uint64_t igrpen0, igrpen1;
	uint64_t ap0r[4]; /* ICC_AP0R<n>_EL1, n < arm64_icc_apr_count(ctlr); the rest zero */
	uint64_t ap1r[4]; /* ICC_AP1R<n>_EL1, likewise */
};

/* The payloads are the file format: their layouts have no padding and never change. */
_Static_assert(sizeof(struct arm64_gicd_state) == 10128, "SNAP_ARM64_GICD's payload");
_Static_assert(sizeof(struct arm64_gicr_state) == 72, "SNAP_ARM64_GICR's payload");
_Static_assert(sizeof(struct arm64_icc_state) == 120, "SNAP_ARM64_ICC's payload");

/* ---- Pure helpers ---- */

/* The INTIDs a distributor implements, from its GICD_TYPER. */
uint32_t arm64_gicd_nr_irqs(uint32_t gicd_typer);

/* How many ICC_AP0R<n>/ICC_AP1R<n> exist: 1, 2 or 4 for 5, 6 or 7 bits of priority (ICC_CTLR_EL1.PRIbits + 1). */
unsigned int arm64_icc_apr_count(uint64_t icc_ctlr);

/*
 * The attr bits naming a vCPU's redistributor or CPU interface to the VGIC
 * device: its MPIDR's affinity levels 3..0 in bits 63..32.
 */
uint64_t arm64_vgic_mpidr_attr(uint64_t mpidr);

/* ---- KVM ---- */

/* KVM_SET_DEVICE_ATTR (write) or KVM_GET_DEVICE_ATTR of the VGIC device fd: 0 or -errno, no message. */
int arm64_vgic_attr(int fd, bool write, uint32_t group, uint64_t attr, void *value);

/* SNAP_ARM64_GICD, then SNAP_ARM64_GICR and SNAP_ARM64_ICC of each vCPU i, whose MPIDR is mpidrs[i]. */
int arm64_vgic_save(int vgic_fd, const uint64_t *mpidrs, unsigned int nvcpus,
		    struct snapshot_writer *w);

/*
 * Load those records into an initialized VGIC (KVM_DEV_ARM_VGIC_CTRL_INIT
 * done) of a VM whose vCPUs exist with their restored MPIDRs and never ran.
 * The distributor first (GICD_IIDR before anything else), then each vCPU's
 * redistributor and CPU interface. Within each: configuration (group,
 * trigger, priority, routing) before state, routing before pending, trigger
 * before line levels and pending latches; ICC_CTLR_EL1 before the
 * active-priority registers whose number its PRIbits set.
 */
int arm64_vgic_restore(int vgic_fd, const uint64_t *mpidrs, unsigned int nvcpus,
		       const struct snapshot_state *s);

#endif
