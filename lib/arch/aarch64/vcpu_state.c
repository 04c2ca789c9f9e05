#include "arch/aarch64/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "snapshot/format.h"
#include "util/error.h"
#include "vmm/snapshot_records.h"

#define MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)

size_t arm64_reg_bytes(uint64_t id)
{
	uint64_t shift = (id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT;

	if ((id & KVM_REG_ARCH_MASK) != KVM_REG_ARM64 || (1u << shift) > ARM64_REG_MAX_BYTES)
		return 0;
	return (size_t)1 << shift;
}

size_t arm64_reg_entry_bytes(uint64_t id)
{
	return sizeof(uint64_t) + ((arm64_reg_bytes(id) + 7) & ~(size_t)7);
}

int arm64_reg_next(const uint8_t *rec, uint64_t len, uint64_t *pos, uint64_t *id,
		   const uint8_t **value)
{
	uint64_t at = *pos, this_id;
	size_t size, entry;

	if (at == len)
		return 0;
	if (at > len || len - at < sizeof(this_id))
		return -EBADMSG;
	memcpy(&this_id, rec + at, sizeof(this_id));
	size = arm64_reg_bytes(this_id);
	entry = arm64_reg_entry_bytes(this_id);
	if (!size || len - at < entry)
		return -EBADMSG;
	for (size_t i = sizeof(this_id) + size; i < entry; i++)
		if (rec[at + i])
			return -EBADMSG;
	*id = this_id;
	*value = rec + at + sizeof(this_id);
	*pos = at + entry;
	return 1;
}

int arm64_reg_find(const uint8_t *rec, uint64_t len, uint64_t id, const uint8_t **value)
{
	uint64_t pos = 0, this_id;
	const uint8_t *this_value;
	int more;

	while ((more = arm64_reg_next(rec, len, &pos, &this_id, &this_value)) > 0)
		if (this_id == id) {
			*value = this_value;
			return 0;
		}
	return more < 0 ? more : -ENOENT;
}

/* The registers a restore is likely to trip on: a CPU model, its features, KVM's timer aliases. */
static const struct {
	uint64_t id;
	const char *name;
} reg_names[] = {
	{ ARM64_SYS_REG(3, 0, 0, 0, 0), "MIDR_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 0, 5), "MPIDR_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 0, 6), "REVIDR_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 4, 0), "ID_AA64PFR0_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 4, 1), "ID_AA64PFR1_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 4, 4), "ID_AA64ZFR0_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 5, 0), "ID_AA64DFR0_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 5, 1), "ID_AA64DFR1_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 6, 0), "ID_AA64ISAR0_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 6, 1), "ID_AA64ISAR1_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 6, 2), "ID_AA64ISAR2_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 7, 0), "ID_AA64MMFR0_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 7, 1), "ID_AA64MMFR1_EL1" },
	{ ARM64_SYS_REG(3, 0, 0, 7, 2), "ID_AA64MMFR2_EL1" },
	{ ARM64_SYS_REG(3, 1, 0, 0, 1), "CLIDR_EL1" },
	{ ARM64_SYS_REG(3, 1, 0, 0, 7), "AIDR_EL1" },
	{ ARM64_SYS_REG(3, 3, 0, 0, 1), "CTR_EL0" },
	/* KVM's ids for the virtual timer's CVAL and counter swap their encodings (asm/kvm.h). */
	{ KVM_REG_ARM_TIMER_CTL, "CNTV_CTL_EL0 (KVM_REG_ARM_TIMER_CTL)" },
	{ KVM_REG_ARM_TIMER_CVAL, "CNTV_CVAL_EL0 (KVM_REG_ARM_TIMER_CVAL)" },
	{ KVM_REG_ARM_TIMER_CNT, "CNTVCT_EL0 (KVM_REG_ARM_TIMER_CNT)" },
	{ KVM_REG_ARM_PTIMER_CTL, "CNTP_CTL_EL0 (KVM_REG_ARM_PTIMER_CTL)" },
	{ KVM_REG_ARM_PTIMER_CVAL, "CNTP_CVAL_EL0 (KVM_REG_ARM_PTIMER_CVAL)" },
	{ KVM_REG_ARM_PTIMER_CNT, "CNTPCT_EL0 (KVM_REG_ARM_PTIMER_CNT)" },
	{ KVM_REG_ARM_PSCI_VERSION, "KVM_REG_ARM_PSCI_VERSION" },
	{ KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1" },
	{ KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2" },
	{ KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3" },
};

/* Core registers: ids are offsets into struct kvm_regs in 32-bit words. */
static void core_reg_name(uint64_t off, char *buf, size_t size)
{
	const uint64_t x0 = KVM_REG_ARM_CORE_REG(regs.regs[0]);
	const uint64_t spsr0 = KVM_REG_ARM_CORE_REG(spsr[0]);
	const uint64_t v0 = KVM_REG_ARM_CORE_REG(fp_regs.vregs[0]);

	if (off >= x0 && off < x0 + 31 * 2 && (off - x0) % 2 == 0)
		snprintf(buf, size, "x%u", (unsigned int)(off - x0) / 2);
	else if (off == KVM_REG_ARM_CORE_REG(regs.sp))
		snprintf(buf, size, "SP_EL0");
	else if (off == KVM_REG_ARM_CORE_REG(regs.pc))
		snprintf(buf, size, "PC");
	else if (off == KVM_REG_ARM_CORE_REG(regs.pstate))
		snprintf(buf, size, "PSTATE");
	else if (off == KVM_REG_ARM_CORE_REG(sp_el1))
		snprintf(buf, size, "SP_EL1");
	else if (off == KVM_REG_ARM_CORE_REG(elr_el1))
		snprintf(buf, size, "ELR_EL1");
	else if (off >= spsr0 && off < spsr0 + KVM_NR_SPSR * 2 && (off - spsr0) % 2 == 0)
		snprintf(buf, size, "SPSR[%u]", (unsigned int)(off - spsr0) / 2);
	else if (off >= v0 && off < v0 + 32 * 4 && (off - v0) % 4 == 0)
		snprintf(buf, size, "v%u", (unsigned int)(off - v0) / 4);
	else if (off == KVM_REG_ARM_CORE_REG(fp_regs.fpsr))
		snprintf(buf, size, "FPSR");
	else if (off == KVM_REG_ARM_CORE_REG(fp_regs.fpcr))
		snprintf(buf, size, "FPCR");
	else
		snprintf(buf, size, "core register %u", (unsigned int)off);
}

void arm64_reg_name(uint64_t id, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(reg_names) / sizeof(reg_names[0]); i++)
		if (reg_names[i].id == id) {
			snprintf(buf, size, "%s", reg_names[i].name);
			return;
		}
	switch (id & KVM_REG_ARM_COPROC_MASK) {
	case KVM_REG_ARM_CORE:
		core_reg_name(id & 0xffff, buf, size);
		break;
	case KVM_REG_ARM64_SYSREG:
		/* The generic name assemblers accept for any system register. */
		snprintf(buf, size, "S%u_%u_C%u_C%u_%u",
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_OP0_MASK) >> KVM_REG_ARM64_SYSREG_OP0_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_OP1_MASK) >> KVM_REG_ARM64_SYSREG_OP1_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_CRN_MASK) >> KVM_REG_ARM64_SYSREG_CRN_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_CRM_MASK) >> KVM_REG_ARM64_SYSREG_CRM_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_OP2_MASK) >> KVM_REG_ARM64_SYSREG_OP2_SHIFT));
		break;
	case KVM_REG_ARM_DEMUX:
		snprintf(buf, size, "CCSIDR_EL1 of cache level/type %u",
			 (unsigned int)(id & KVM_REG_ARM_DEMUX_VAL_MASK));
		break;
	case KVM_REG_ARM_FW:
		snprintf(buf, size, "KVM firmware register %u", (unsigned int)(id & 0xffff));
		break;
	case KVM_REG_ARM_FW_FEAT_BMAP:
		snprintf(buf, size, "KVM firmware feature bitmap %u", (unsigned int)(id & 0xffff));
		break;
	case KVM_REG_ARM64_SVE:
		snprintf(buf, size, "SVE register 0x%x", (unsigned int)(id & 0xffff));
		break;
	default:
		snprintf(buf, size, "register");
	}
}

/* KVM_GET_ONE_REG (into value) or KVM_SET_ONE_REG (from it) of register id; failures name it. */
static int one_reg(int vcpu_fd, unsigned int index, bool set, uint64_t id, const void *value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)value };

	if (ioctl(vcpu_fd, set ? KVM_SET_ONE_REG : KVM_GET_ONE_REG, &reg) < 0) {
		int err = -errno;
		char name[64];

		arm64_reg_name(id, name, sizeof(name));
		return error_set_errno(err, "%s %s (0x%llx) on vCPU %u",
				       set ? "KVM_SET_ONE_REG" : "KVM_GET_ONE_REG", name,
				       (unsigned long long)id, index);
	}
	return 0;
}

int arm64_vcpu_get_reg64(int vcpu_fd, unsigned int index, uint64_t id, uint64_t *value)
{
	return one_reg(vcpu_fd, index, false, id, value);
}

int arm64_vcpu_set_reg64(int vcpu_fd, unsigned int index, uint64_t id, uint64_t value)
{
	return one_reg(vcpu_fd, index, true, id, &value);
}

int arm64_vcpu_read_mpidr(int vcpu_fd, unsigned int index, uint64_t *mpidr)
{
	return arm64_vcpu_get_reg64(vcpu_fd, index, MPIDR_EL1, mpidr);
}

static int reg_list(int vcpu_fd, unsigned int index, struct kvm_reg_list **out)
{
	struct kvm_reg_list probe = { .n = 0 };
	struct kvm_reg_list *list = NULL;

	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(vcpu_fd, KVM_GET_REG_LIST, &probe) < 0 && errno != E2BIG)
		return error_set_errno(-errno, "KVM_GET_REG_LIST on vCPU %u", index);
	if (probe.n > ARM64_REGS_LIMIT)
		return error_set(-E2BIG, "KVM lists %llu registers for vCPU %u, more than %d",
				 (unsigned long long)probe.n, index, ARM64_REGS_LIMIT);
	list = calloc(1, sizeof(*list) + probe.n * sizeof(list->reg[0]));
	if (!list)
		return error_set(-ENOMEM, "out of memory for vCPU %u's register list", index);
	list->n = probe.n;
	if (ioctl(vcpu_fd, KVM_GET_REG_LIST, list) < 0) {
		free(list);
		return error_set_errno(-errno, "KVM_GET_REG_LIST on vCPU %u", index);
	}
	*out = list;
	return 0;
}

/* Every register KVM lists, read into one SNAP_ARM64_REGS record. */
static int save_regs(int vcpu_fd, unsigned int index, struct snapshot_writer *w)
{
	struct kvm_reg_list *list = NULL;
	uint8_t *rec = NULL;
	size_t len = 0, pos = 0;
	int err = reg_list(vcpu_fd, index, &list);

	if (err)
		return err;
	for (uint64_t i = 0; !err && i < list->n; i++) {
		if (!arm64_reg_bytes(list->reg[i]))
			err = error_set(-ENOTSUP, "KVM lists register 0x%llx of vCPU %u, whose size snapshots cannot hold",
					(unsigned long long)list->reg[i], index);
		len += arm64_reg_entry_bytes(list->reg[i]);
	}
	rec = err ? NULL : calloc(1, len ? len : 1); /* zeroed: the padding is part of the format */
	if (!err && !rec)
		err = error_set(-ENOMEM, "out of memory for vCPU %u's registers", index);
	for (uint64_t i = 0; !err && i < list->n; i++) {
		uint64_t id = list->reg[i];

		memcpy(rec + pos, &id, sizeof(id));
		err = one_reg(vcpu_fd, index, false, id, rec + pos + sizeof(id));
		pos += arm64_reg_entry_bytes(id);
	}
	if (!err)
		snapshot_put(w, SNAP_ARM64_REGS, index, rec, len);
	free(rec);
	free(list);
	return err;
}

/*
 * The records beside the registers, in restore order. The MP state only says
 * whether PSCI has the vCPU powered off (or suspended): independent of the
 * registers. Pending events last: an injected abort is taken with the
 * registers it finds.
 */
static const struct {
	uint32_t tag;
	unsigned long get, set;
	size_t len;
	const char *what;
} fixed_records[] = {
	{ SNAP_ARM64_MP_STATE, KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state),
	  "MP state" },
	{ SNAP_ARM64_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	  sizeof(struct kvm_vcpu_events), "pending events" },
};

/* Room for any of them. */
union fixed_record {
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
};

int arm64_vcpu_state_save(int vcpu_fd, unsigned int index, struct snapshot_writer *w)
{
	int err = save_regs(vcpu_fd, index, w);

	for (size_t i = 0; !err && i < sizeof(fixed_records) / sizeof(fixed_records[0]); i++) {
		union fixed_record u;

		memset(&u, 0, sizeof(u)); /* padding too: saved bytes are checksummed */
		if (ioctl(vcpu_fd, fixed_records[i].get, &u) < 0)
			err = error_set_errno(-errno, "cannot save vCPU %u's %s", index,
					      fixed_records[i].what);
		else
			snapshot_put(w, fixed_records[i].tag, index, &u, fixed_records[i].len);
	}
	return err;
}

/*
 * The counters are VM-wide offsets, not vCPU state: KVM turns a write of
 * KVM_REG_ARM_TIMER_CNT into the VM's CNTVOFF (now minus the value), as
 * KVM_REG_ARM_PTIMER_CNT into the physical counter's offset. They go last so
 * that the guest's time resumes from the saved count with the least delay,
 * and so that no kernel that re-evaluates the timer on each write ever sees
 * the saved count against a compare value and control not yet restored.
 */
static bool is_counter(uint64_t id)
{
	return id == KVM_REG_ARM_TIMER_CNT || id == KVM_REG_ARM_PTIMER_CNT;
}

/* KVM_SET_ONE_REG of every entry (a checked record) that is, or is not, a counter. */
static int set_regs(int vcpu_fd, unsigned int index, const uint8_t *rec, uint64_t len,
		    bool counters)
{
	uint64_t pos = 0, id;
	const uint8_t *value;
	int more;

	while ((more = arm64_reg_next(rec, len, &pos, &id, &value)) > 0) {
		int err = is_counter(id) == counters ? one_reg(vcpu_fd, index, true, id, value) : 0;

		if (err)
			return err;
	}
	return more;
}

static int restore_regs(int vcpu_fd, unsigned int index, const struct snapshot_state *s)
{
	uint64_t len, pos = 0, id, fresh_mpidr, mpidr;
	const uint8_t *rec, *value;
	unsigned int count = 0;
	int more, err;

	if (snapshot_find(s, SNAP_ARM64_REGS, index, &rec, &len))
		return error_set(-EBADMSG, "snapshot lacks vCPU %u's registers (record tag %u index %u)",
				 index, SNAP_ARM64_REGS, index);
	/* The whole record is checked before any of it reaches KVM. */
	while ((more = arm64_reg_next(rec, len, &pos, &id, &value)) > 0)
		if (++count > ARM64_REGS_LIMIT)
			return error_set(-EBADMSG, "snapshot's vCPU %u has more than %d registers",
					 index, ARM64_REGS_LIMIT);
	if (more < 0)
		return error_set(-EBADMSG, "snapshot's registers of vCPU %u are malformed at byte %llu of %llu",
				 index, (unsigned long long)pos, (unsigned long long)len);
	err = arm64_vcpu_read_mpidr(vcpu_fd, index, &fresh_mpidr);
	if (!err)
		err = set_regs(vcpu_fd, index, rec, len, false);
	if (!err)
		err = set_regs(vcpu_fd, index, rec, len, true);
	if (!err)
		err = arm64_vcpu_read_mpidr(vcpu_fd, index, &mpidr);
	/* The VGIC finds a vCPU's redistributor by MPIDR: it must stay the one KVM gave. */
	if (!err && mpidr != fresh_mpidr)
		err = error_set(-EBADMSG, "snapshot gives vCPU %u the MPIDR 0x%llx, KVM gave it 0x%llx",
				index, (unsigned long long)mpidr, (unsigned long long)fresh_mpidr);
	return err;
}

int arm64_vcpu_state_restore(int vcpu_fd, unsigned int index, const struct snapshot_state *s)
{
	int err = restore_regs(vcpu_fd, index, s);

	for (size_t i = 0; !err && i < sizeof(fixed_records) / sizeof(fixed_records[0]); i++) {
		union fixed_record u;

		err = snapshot_get(s, fixed_records[i].tag, index, &u, fixed_records[i].len,
				   fixed_records[i].what);
		if (!err && ioctl(vcpu_fd, fixed_records[i].set, &u) < 0)
			err = error_set_errno(-errno, "restoring vCPU %u: %s", index,
					      fixed_records[i].what);
	}
	return err;
}
