#include "arch/aarch64/vgic_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "snapshot/format.h"
#include "util/error.h"
#include "vmm/snapshot_records.h"

/* Distributor registers: offsets in its 64 KiB frame (GICv3 architecture specification, 12.9). */
#define GICD_CTLR 0x0000
#define GICD_TYPER 0x0004
#define GICD_IIDR 0x0008
#define GICD_STATUSR 0x0010
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_ISPENDR 0x0200
#define GICD_ISACTIVER 0x0300
#define GICD_ICACTIVER 0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICD_TYPER_LPIS (1u << 17)

/* Redistributor registers: the RD_base frame, then the SGI_base frame 64 KiB on (12.10, 12.11). */
#define GICR_CTLR 0x0000
#define GICR_STATUSR 0x0010
#define GICR_WAKER 0x0014
#define GICR_SGI_BASE 0x10000
#define GICR_IGROUPR0 (GICR_SGI_BASE + 0x0080)
#define GICR_ISENABLER0 (GICR_SGI_BASE + 0x0100)
#define GICR_ICENABLER0 (GICR_SGI_BASE + 0x0180)
#define GICR_ISPENDR0 (GICR_SGI_BASE + 0x0200)
#define GICR_ISACTIVER0 (GICR_SGI_BASE + 0x0300)
#define GICR_ICACTIVER0 (GICR_SGI_BASE + 0x0380)
#define GICR_IPRIORITYR0 (GICR_SGI_BASE + 0x0400)
#define GICR_ICFGR0 (GICR_SGI_BASE + 0x0c00)

/* CPU interface registers as KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS names them: op0, op1, CRn, CRm, op2. */
#define ICC_SYSREG(op0, op1, crn, crm, op2)                                                  \
	(ARM64_SYS_REG_SHIFT_MASK(op0, OP0) | ARM64_SYS_REG_SHIFT_MASK(op1, OP1) |          \
	 ARM64_SYS_REG_SHIFT_MASK(crn, CRN) | ARM64_SYS_REG_SHIFT_MASK(crm, CRM) |          \
	 ARM64_SYS_REG_SHIFT_MASK(op2, OP2))
#define ICC_PMR_EL1 ICC_SYSREG(3, 0, 4, 6, 0)
#define ICC_BPR0_EL1 ICC_SYSREG(3, 0, 12, 8, 3)
#define ICC_AP0R_EL1(n) ICC_SYSREG(3, 0, 12, 8, 4 | (n))
#define ICC_AP1R_EL1(n) ICC_SYSREG(3, 0, 12, 9, (n))
#define ICC_BPR1_EL1 ICC_SYSREG(3, 0, 12, 12, 3)
#define ICC_CTLR_EL1 ICC_SYSREG(3, 0, 12, 12, 4)
#define ICC_SRE_EL1 ICC_SYSREG(3, 0, 12, 12, 5)
#define ICC_IGRPEN0_EL1 ICC_SYSREG(3, 0, 12, 12, 6)
#define ICC_IGRPEN1_EL1 ICC_SYSREG(3, 0, 12, 12, 7)
#define ICC_CTLR_EL1_PRIBITS_SHIFT 8

uint32_t arm64_gicd_nr_irqs(uint32_t gicd_typer)
{
	return ((gicd_typer & 0x1f) + 1) * 32;
}

unsigned int arm64_icc_apr_count(uint64_t icc_ctlr)
{
	unsigned int priority_bits = (unsigned int)((icc_ctlr >> ICC_CTLR_EL1_PRIBITS_SHIFT) & 7) + 1;

	/* One bit per preemption level: 32 levels need one register, 64 two, 128 four. */
	return priority_bits >= 7 ? 4 : priority_bits == 6 ? 2 : 1;
}

uint64_t arm64_vgic_mpidr_attr(uint64_t mpidr)
{
	/* MPIDR_EL1 keeps Aff3 in bits 39..32, above the RES1 bit 31 and MT/U; Aff2..Aff0 in 23..0. */
	uint64_t affinity = (mpidr & 0xffffff) | ((mpidr >> 32) & 0xff) << 24;

	return affinity << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

/*
 * One pass over a block of VGIC registers that saves (reads each into the
 * state struct) or restores (writes each from it). The same walk does both,
 * in restore order, so that save and restore cannot disagree on what is
 * kept. The first failure sticks and turns later accesses into no-ops.
 */
struct vgic_io {
	int fd;
	bool restore;
	uint32_t group;      /* of io_reg(): KVM_DEV_ARM_VGIC_GRP_DIST_REGS or _REDIST_REGS */
	uint64_t mpidr_attr; /* the vCPU's of a redistributor or CPU interface; 0 for the distributor */
	uint64_t level_attr; /* any vCPU's, for SPIs' line levels (the same through every vCPU) */
	int vcpu;            /* for messages; -1: the distributor */
	int err;
};

int arm64_vgic_attr(int fd, bool write, uint32_t group, uint64_t attr, void *value)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)value };

	return ioctl(fd, write ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

__attribute__((format(printf, 3, 0))) static void io_vfail(struct vgic_io *io, int err,
							   const char *fmt, va_list ap)
{
	const char *verb = io->restore ? "restore" : "save";
	const char *call = io->restore ? "KVM_SET_DEVICE_ATTR" : "KVM_GET_DEVICE_ATTR";
	char name[48];

	vsnprintf(name, sizeof(name), fmt, ap);
	if (io->vcpu < 0)
		io->err = error_set_errno(err, "cannot %s the GIC distributor's %s (%s)", verb, name,
					  call);
	else
		io->err = error_set_errno(err, "cannot %s vCPU %d's %s (%s)", verb, io->vcpu, name,
					  call);
}

#define IO_FAIL_IF(io, err, fmt)                 \
	do {                                     \
		if (err) {                       \
			va_list ap;              \
			va_start(ap, fmt);       \
			io_vfail(io, err, fmt, ap); \
			va_end(ap);              \
		}                                \
	} while (0)

/* A 32-bit register of io->group at `offset`; fmt names it. */
__attribute__((format(printf, 4, 5))) static void io_reg(struct vgic_io *io, uint32_t offset,
							 uint32_t *value, const char *fmt, ...)
{
	int err;

	if (io->err)
		return;
	err = arm64_vgic_attr(io->fd, io->restore, io->group, io->mpidr_attr | offset, value);
	IO_FAIL_IF(io, err, fmt);
}

/* A 64-bit register, as the two 32-bit halves the device interface takes, low word first. */
__attribute__((format(printf, 4, 5))) static void io_reg64(struct vgic_io *io, uint32_t offset,
							   uint64_t *value, const char *fmt, ...)
{
	uint32_t half[2];
	int err = 0;

	if (io->err)
		return;
	half[0] = (uint32_t)*value;
	half[1] = (uint32_t)(*value >> 32);
	for (unsigned int i = 0; !err && i < 2; i++)
		err = arm64_vgic_attr(io->fd, io->restore, io->group, io->mpidr_attr | (offset + 4 * i),
				&half[i]);
	IO_FAIL_IF(io, err, fmt);
	if (!err && !io->restore)
		*value = half[0] | (uint64_t)half[1] << 32;
}

/*
 * A set/clear register pair (enables, active states), kept as the set
 * register reads. Restoring clears exactly the bits that are not set, then
 * sets the others, so the result does not depend on the fresh VGIC's reset
 * state (KVM enables SGIs at reset).
 */
__attribute__((format(printf, 5, 6))) static void io_pair(struct vgic_io *io, uint32_t clear_offset,
							  uint32_t set_offset, uint32_t *value,
							  const char *fmt, ...)
{
	uint32_t clear;
	int err = 0;

	if (io->err)
		return;
	clear = ~*value;
	if (io->restore)
		err = arm64_vgic_attr(io->fd, true, io->group, io->mpidr_attr | clear_offset, &clear);
	if (!err)
		err = arm64_vgic_attr(io->fd, io->restore, io->group, io->mpidr_attr | set_offset, value);
	IO_FAIL_IF(io, err, fmt);
}

/* A CPU interface system register of io->mpidr_attr's vCPU. */
__attribute__((format(printf, 4, 5))) static void io_sysreg(struct vgic_io *io, uint64_t sysreg,
							    uint64_t *value, const char *fmt, ...)
{
	int err;

	if (io->err)
		return;
	err = arm64_vgic_attr(io->fd, io->restore, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
			io->mpidr_attr | sysreg, value);
	IO_FAIL_IF(io, err, fmt);
}

/* The input levels of the 32 interrupts from `intid` (a multiple of 32). */
__attribute__((format(printf, 4, 5))) static void io_level(struct vgic_io *io, uint32_t intid,
							   uint32_t *value, const char *fmt, ...)
{
	uint64_t attr = io->level_attr |
			(uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT |
			intid;
	int err;

	if (io->err)
		return;
	err = arm64_vgic_attr(io->fd, io->restore, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, attr, value);
	IO_FAIL_IF(io, err, fmt);
}

/*
 * The distributor. GICD_IIDR first: the doc asks it before any other
 * register, as its revision selects how KVM treats the rest. Then the SPIs'
 * configuration (group, trigger, priority, routing), then their state:
 * routing before pending, so that a pending SPI is queued on the vCPU it
 * targets; trigger before line levels and pending latches, so that each is
 * read as the level or edge interrupt it is. SGIs and PPIs live in the
 * redistributors; their words here are RAZ/WI and skipped.
 */
static void dist_walk(struct vgic_io *io, struct arm64_gicd_state *d)
{
	uint32_t words = d->nr_irqs / 32; /* of one bit per interrupt */

	io->group = KVM_DEV_ARM_VGIC_GRP_DIST_REGS;
	io->mpidr_attr = 0;
	io->vcpu = -1;
	io_reg(io, GICD_IIDR, &d->iidr, "GICD_IIDR");
	io_reg(io, GICD_CTLR, &d->ctlr, "GICD_CTLR");
	io_reg(io, GICD_STATUSR, &d->statusr, "GICD_STATUSR");
	for (uint32_t n = 1; n < words; n++)
		io_reg(io, GICD_IGROUPR + 4 * n, &d->igroupr[n], "GICD_IGROUPR%u", n);
	for (uint32_t n = 2; n < 2 * words; n++)
		io_reg(io, GICD_ICFGR + 4 * n, &d->icfgr[n], "GICD_ICFGR%u", n);
	for (uint32_t n = 8; n < 8 * words; n++)
		io_reg(io, GICD_IPRIORITYR + 4 * n, &d->ipriorityr[n], "GICD_IPRIORITYR%u", n);
	for (uint32_t intid = 32; intid < d->nr_irqs; intid++)
		io_reg64(io, GICD_IROUTER + 8 * intid, &d->irouter[intid], "GICD_IROUTER%u", intid);
	for (uint32_t n = 1; n < words; n++)
		io_pair(io, GICD_ICENABLER + 4 * n, GICD_ISENABLER + 4 * n, &d->isenabler[n],
			"GICD_ISENABLER%u", n);
	for (uint32_t n = 1; n < words; n++)
		io_level(io, 32 * n, &d->line_level[n], "line levels of INTIDs %u-%u", 32 * n,
			 32 * n + 31);
	/* KVM's userspace view of ISPENDR is the latch alone, written back exactly (set and clear). */
	for (uint32_t n = 1; n < words; n++)
		io_reg(io, GICD_ISPENDR + 4 * n, &d->ispendr[n], "GICD_ISPENDR%u", n);
	for (uint32_t n = 1; n < words; n++)
		io_pair(io, GICD_ICACTIVER + 4 * n, GICD_ISACTIVER + 4 * n, &d->isactiver[n],
			"GICD_ISACTIVER%u", n);
}

/*
 * A vCPU's redistributor, in the distributor's order. GICR_CTLR only holds
 * EnableLPIs, write-ignored without an ITS. The timer PPIs' line levels are
 * not kept: KVM recomputes them from the restored timer registers when the
 * vCPU first runs.
 */
static void redist_walk(struct vgic_io *io, unsigned int vcpu, uint64_t mpidr,
			struct arm64_gicr_state *r)
{
	io->group = KVM_DEV_ARM_VGIC_GRP_REDIST_REGS;
	io->mpidr_attr = arm64_vgic_mpidr_attr(mpidr);
	io->vcpu = (int)vcpu;
	io_reg(io, GICR_CTLR, &r->ctlr, "GICR_CTLR");
	io_reg(io, GICR_STATUSR, &r->statusr, "GICR_STATUSR");
	io_reg(io, GICR_WAKER, &r->waker, "GICR_WAKER");
	io_reg(io, GICR_IGROUPR0, &r->igroupr0, "GICR_IGROUPR0");
	for (uint32_t n = 0; n < 2; n++)
		io_reg(io, GICR_ICFGR0 + 4 * n, &r->icfgr[n], "GICR_ICFGR%u", n);
	for (uint32_t n = 0; n < 8; n++)
		io_reg(io, GICR_IPRIORITYR0 + 4 * n, &r->ipriorityr[n], "GICR_IPRIORITYR%u", n);
	io_pair(io, GICR_ICENABLER0, GICR_ISENABLER0, &r->isenabler0, "GICR_ISENABLER0");
	io_reg(io, GICR_ISPENDR0, &r->ispendr0, "GICR_ISPENDR0");
	io_pair(io, GICR_ICACTIVER0, GICR_ISACTIVER0, &r->isactiver0, "GICR_ISACTIVER0");
}

/*
 * A vCPU's CPU interface. ICC_SRE_EL1 first (KVM takes only the value it
 * has), then ICC_CTLR_EL1, whose PRIbits narrow KVM's priority bits to the
 * saved ones (or are refused with -EINVAL by a host with fewer) and so set how
 * many active-priority registers KVM accepts; those come last.
 */
static void icc_walk(struct vgic_io *io, struct arm64_icc_state *c)
{
	unsigned int aprs;

	io_sysreg(io, ICC_SRE_EL1, &c->sre, "ICC_SRE_EL1");
	io_sysreg(io, ICC_CTLR_EL1, &c->ctlr, "ICC_CTLR_EL1");
	io_sysreg(io, ICC_PMR_EL1, &c->pmr, "ICC_PMR_EL1");
	io_sysreg(io, ICC_BPR0_EL1, &c->bpr0, "ICC_BPR0_EL1");
	io_sysreg(io, ICC_BPR1_EL1, &c->bpr1, "ICC_BPR1_EL1");
	io_sysreg(io, ICC_IGRPEN0_EL1, &c->igrpen0, "ICC_IGRPEN0_EL1");
	io_sysreg(io, ICC_IGRPEN1_EL1, &c->igrpen1, "ICC_IGRPEN1_EL1");
	if (io->err)
		return; /* c->ctlr is not to be trusted */
	aprs = arm64_icc_apr_count(c->ctlr);
	for (unsigned int n = 0; n < aprs; n++)
		io_sysreg(io, ICC_AP0R_EL1(n), &c->ap0r[n], "ICC_AP0R%u_EL1", n);
	for (unsigned int n = 0; n < aprs; n++)
		io_sysreg(io, ICC_AP1R_EL1(n), &c->ap1r[n], "ICC_AP1R%u_EL1", n);
}

static int read_typer(int vgic_fd, uint32_t *typer)
{
	int err = arm64_vgic_attr(vgic_fd, false, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, GICD_TYPER, typer);

	return err ? error_set_errno(err, "cannot read the GIC distributor's GICD_TYPER") : 0;
}

int arm64_vgic_save(int vgic_fd, const uint64_t *mpidrs, unsigned int nvcpus,
		    struct snapshot_writer *w)
{
	struct vgic_io io = { .fd = vgic_fd, .restore = false,
			      .level_attr = arm64_vgic_mpidr_attr(mpidrs[0]) };
	struct arm64_gicd_state *d = calloc(1, sizeof(*d)); /* zeroed: unused words are saved as zero */
	uint32_t typer;

	if (!d)
		return error_set(-ENOMEM, "out of memory for the GIC's state");
	io.err = read_typer(vgic_fd, &typer);
	if (!io.err && (typer & GICD_TYPER_LPIS))
		io.err = error_set(-ENOTSUP, "the VM's GIC has LPIs (an ITS), whose state snapshots do not keep");
	if (!io.err) {
		d->nr_irqs = arm64_gicd_nr_irqs(typer);
		dist_walk(&io, d);
	}
	if (!io.err)
		snapshot_put(w, SNAP_ARM64_GICD, 0, d, sizeof(*d));
	free(d);
	for (unsigned int i = 0; !io.err && i < nvcpus; i++) {
		struct arm64_gicr_state r;
		struct arm64_icc_state c;

		memset(&r, 0, sizeof(r));
		memset(&c, 0, sizeof(c));
		redist_walk(&io, i, mpidrs[i], &r);
		icc_walk(&io, &c);
		if (!io.err) {
			snapshot_put(w, SNAP_ARM64_GICR, i, &r, sizeof(r));
			snapshot_put(w, SNAP_ARM64_ICC, i, &c, sizeof(c));
		}
	}
	return io.err;
}

int arm64_vgic_restore(int vgic_fd, const uint64_t *mpidrs, unsigned int nvcpus,
		       const struct snapshot_state *s)
{
	struct vgic_io io = { .fd = vgic_fd, .restore = true,
			      .level_attr = arm64_vgic_mpidr_attr(mpidrs[0]) };
	struct arm64_gicd_state *d = malloc(sizeof(*d));
	uint32_t typer;

	if (!d)
		return error_set(-ENOMEM, "out of memory for the GIC's state");
	io.err = snapshot_get(s, SNAP_ARM64_GICD, 0, d, sizeof(*d), "GIC distributor");
	if (!io.err)
		io.err = read_typer(vgic_fd, &typer);
	/* Also what bounds every index the walk computes from nr_irqs. */
	if (!io.err && d->nr_irqs != arm64_gicd_nr_irqs(typer))
		io.err = error_set(-ENOTSUP, "the snapshot's GIC has %u interrupts, this VM's %u",
				   d->nr_irqs, arm64_gicd_nr_irqs(typer));
	if (!io.err)
		dist_walk(&io, d);
	free(d);
	for (unsigned int i = 0; !io.err && i < nvcpus; i++) {
		struct arm64_gicr_state r;
		struct arm64_icc_state c;

		io.err = snapshot_get(s, SNAP_ARM64_GICR, i, &r, sizeof(r), "GIC redistributor");
		if (!io.err)
			io.err = snapshot_get(s, SNAP_ARM64_ICC, i, &c, sizeof(c),
					      "GIC CPU interface");
		if (io.err)
			break;
		redist_walk(&io, i, mpidrs[i], &r);
		icc_walk(&io, &c);
	}
	return io.err;
}
