/*
 * The aarch64 side of snapshots (arch.h): the CPU features a snapshot needs
 * (the guest's ID registers), each vCPU's state (vcpu_state.c) and the
 * in-kernel GICv3's (vgic_state.c). There is no CPUID to adopt: the ID
 * registers travel with the vCPU's other registers.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/aarch64/vcpu_state.h"
#include "arch/aarch64/vgic_state.h"
#include "snapshot/format.h"
#include "util/error.h"
#include "vmm/machine.h"
#include "vmm/snapshot_records.h"

/* The header's summary, two words (low, high) per register: the features a guest may have started using. */
static const uint64_t feature_regs[] = {
	ARM64_SYS_REG(3, 0, 0, 4, 0), /* ID_AA64PFR0_EL1 */
	ARM64_SYS_REG(3, 0, 0, 4, 1), /* ID_AA64PFR1_EL1 */
	ARM64_SYS_REG(3, 0, 0, 6, 0), /* ID_AA64ISAR0_EL1 */
	ARM64_SYS_REG(3, 0, 0, 6, 1), /* ID_AA64ISAR1_EL1 */
	ARM64_SYS_REG(3, 0, 0, 6, 2), /* ID_AA64ISAR2_EL1 */
	ARM64_SYS_REG(3, 0, 0, 7, 0), /* ID_AA64MMFR0_EL1 */
	ARM64_SYS_REG(3, 0, 0, 7, 1), /* ID_AA64MMFR1_EL1 */
	ARM64_SYS_REG(3, 0, 0, 7, 2), /* ID_AA64MMFR2_EL1 */
};
#define FEATURE_REGS (sizeof(feature_regs) / sizeof(feature_regs[0]))
_Static_assert(2 * FEATURE_REGS == SNAPSHOT_CPU_WORDS, "the summary fills the header's words");

/* What vCPU 0 of this VM sees: on a VM that never ran, what this host's KVM gives any guest. */
static int vcpu0_features(const struct machine *m, uint32_t out[SNAPSHOT_CPU_WORDS])
{
	for (size_t i = 0; i < FEATURE_REGS; i++) {
		uint64_t value;
		int err = arm64_vcpu_get_reg64(m->vcpus[0].fd, 0, feature_regs[i], &value);

		if (err)
			return err;
		out[2 * i] = (uint32_t)value;
		out[2 * i + 1] = (uint32_t)(value >> 32);
	}
	return 0;
}

int arch_cpu_features(const struct machine *m, uint32_t *out)
{
	return vcpu0_features(m, out);
}

/*
 * An exact comparison. The saved ID registers are among the vCPU registers a
 * restore writes back, and KVM checks them: kernels before 6.7 take, but for
 * a few fields, only the values they would give themselves; later ones any
 * value their per-field rules find no greater than the host's. Those rules differ from field to
 * field (signed fields, fields where less is more), so rather than mirror
 * them a snapshot restores where a fresh guest sees exactly the features the
 * saved one did: the same CPUs, the same KVM. Refused here with the register
 * named, the mismatch does not surface as an -EINVAL from KVM_SET_ONE_REG
 * half-way through the vCPU's registers.
 */
static int features_compare(const struct machine *m, const uint32_t *saved)
{
	uint32_t here[SNAPSHOT_CPU_WORDS];
	int err = vcpu0_features(m, here);

	for (size_t i = 0; !err && i < FEATURE_REGS; i++) {
		uint64_t was = saved[2 * i] | (uint64_t)saved[2 * i + 1] << 32;
		uint64_t is = here[2 * i] | (uint64_t)here[2 * i + 1] << 32;
		char name[64];

		if (was == is)
			continue;
		arm64_reg_name(feature_regs[i], name, sizeof(name));
		err = error_set(-ENOTSUP, "the snapshot's guest had other CPU features than this host's KVM gives: "
				"%s 0x%016llx there, 0x%016llx here (a snapshot restores only where CPU and KVM "
				"offer the same features)",
				name, (unsigned long long)was, (unsigned long long)is);
	}
	return err;
}

/*
 * The features are read from a vCPU, and a restore asks before it has created
 * any: the summary waits for arch_snapshot_restore(), which compares it before
 * it loads anything.
 */
int arch_cpu_features_check(struct machine *m, const uint32_t *saved)
{
	memcpy(m->arch.restore_features, saved, sizeof(m->arch.restore_features));
	return 0;
}

int arch_snapshot_adopt_cpuid(struct machine *m, const struct snapshot_state *s)
{
	(void)m;
	(void)s;
	return 0;
}

/* Every vCPU's MPIDR: how the VGIC names its redistributor and CPU interface. */
static int read_mpidrs(const struct machine *m, uint64_t mpidrs[MACHINE_MAX_VCPUS])
{
	int err = 0;

	for (unsigned int i = 0; !err && i < m->nvcpus; i++)
		err = arm64_vcpu_read_mpidr(m->vcpus[i].fd, i, &mpidrs[i]);
	return err;
}

int arch_snapshot_save(struct machine *m, struct snapshot_writer *w)
{
	uint64_t mpidrs[MACHINE_MAX_VCPUS];
	int err = 0;

	if (!m->nvcpus || m->nvcpus > MACHINE_MAX_VCPUS)
		return error_set(-EINVAL, "cannot snapshot a VM of %u vCPUs", m->nvcpus);
	for (unsigned int i = 0; !err && i < m->nvcpus; i++)
		err = arm64_vcpu_state_save(m->vcpus[i].fd, i, w);
	if (!err)
		err = read_mpidrs(m, mpidrs);
	if (!err)
		err = arm64_vgic_save(m->arch.vgic_fd, mpidrs, m->nvcpus, w);
	return err;
}

/* vCPU 0's saved ID registers, in the header summary's form, against what this host gives. */
static int check_saved_features(const struct machine *m, const struct snapshot_state *s)
{
	uint32_t saved[SNAPSHOT_CPU_WORDS];
	const uint8_t *rec, *value;
	uint64_t len;

	if (snapshot_find(s, SNAP_ARM64_REGS, 0, &rec, &len))
		return error_set(-EBADMSG, "snapshot lacks vCPU 0's registers (record tag %u index 0)",
				 SNAP_ARM64_REGS);
	for (size_t i = 0; i < FEATURE_REGS; i++) {
		uint64_t v;

		if (arm64_reg_find(rec, len, feature_regs[i], &value)) {
			char name[64];

			arm64_reg_name(feature_regs[i], name, sizeof(name));
			return error_set(-EBADMSG, "snapshot's registers of vCPU 0 lack %s or are malformed",
					 name);
		}
		memcpy(&v, value, sizeof(v)); /* an ARM64_SYS_REG id: 8 bytes */
		saved[2 * i] = (uint32_t)v;
		saved[2 * i + 1] = (uint32_t)(v >> 32);
	}
	return features_compare(m, saved);
}

/*
 * Expects machine_vcpus_create() done: every vCPU created and initialized
 * (KVM_ARM_VCPU_INIT with m->arch.vcpu_init, secondaries powered off) and
 * the VGIC initialized (KVM_DEV_ARM_VGIC_CTRL_INIT), no vCPU ever run.
 * The vCPUs first, since the VGIC finds a redistributor, a CPU interface and
 * an SPI's target by a vCPU's MPIDR; then the VGIC.
 */
int arch_snapshot_restore(struct machine *m, const struct snapshot_state *s)
{
	uint64_t mpidrs[MACHINE_MAX_VCPUS];
	int err;

	if (!m->nvcpus || m->nvcpus > MACHINE_MAX_VCPUS || !m->vcpus || m->arch.vgic_fd < 0)
		return error_set(-EINVAL, "the VM is not ready for a snapshot's state");
	/* The header's summary, then vCPU 0's saved ID registers: both must match this host. */
	err = features_compare(m, m->arch.restore_features);
	if (!err)
		err = check_saved_features(m, s);
	for (unsigned int i = 0; !err && i < m->nvcpus; i++)
		err = arm64_vcpu_state_restore(m->vcpus[i].fd, i, s);
	if (!err)
		err = read_mpidrs(m, mpidrs);
	if (!err)
		err = arm64_vgic_restore(m->arch.vgic_fd, mpidrs, m->nvcpus, s);
	return err;
}
