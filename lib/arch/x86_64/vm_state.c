/*
 * The x86_64 side of snapshots (arch.h): the CPU features a snapshot needs,
 * the guest's CPUID, the TSC rate, the in-kernel interrupt controllers, the
 * PIT and kvmclock, and each vCPU's state (vcpu_state.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vcpu_state.h"
#include "snapshot/format.h"
#include "util/error.h"
#include "vmm/machine.h"
#include "vmm/snapshot_records.h"

#define CPUID_ENTRIES_LIMIT 1024
#define IRQCHIP_COUNT 3 /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
#define CPUID_1_ECX_OSXSAVE (1u << 27) /* mirrors CR4.OSXSAVE: state, not a feature */

enum cpuid_reg { EAX, EBX, ECX, EDX };

/* The feature words of the header's summary: what a guest may have started using. */
static const struct {
	uint32_t function, index;
	enum cpuid_reg reg;
} feature_words[] = {
	{ 0x1, 0, ECX },        { 0x1, 0, EDX },        { 0x7, 0, EBX },   { 0x7, 0, ECX },
	{ 0x7, 0, EDX },        { 0x7, 1, EAX },        { 0xd, 0, EAX },   { 0xd, 0, EDX },
	{ 0xd, 1, EAX },        { 0x80000001, 0, ECX }, { 0x80000001, 0, EDX },
};
_Static_assert(sizeof(feature_words) / sizeof(feature_words[0]) <= SNAPSHOT_CPU_WORDS,
	       "the summary fits the header");

static uint32_t cpuid_word(const struct kvm_cpuid2 *cpuid, uint32_t function, uint32_t index,
			   enum cpuid_reg reg)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != function ||
		    ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index))
			continue;
		return reg == EAX ? e->eax : reg == EBX ? e->ebx : reg == ECX ? e->ecx : e->edx;
	}
	return 0;
}

static size_t cpuid_bytes(uint32_t nent)
{
	return sizeof(struct kvm_cpuid2) + nent * sizeof(struct kvm_cpuid_entry2);
}

/* The summary of what vCPU 0 of this VM sees when its CPUID derives from `base`. */
static int feature_summary(const struct machine *m, const struct kvm_cpuid2 *base,
			   uint32_t out[SNAPSHOT_CPU_WORDS])
{
	struct kvm_cpuid2 *cpuid = malloc(cpuid_bytes(base->nent));

	if (!cpuid)
		return error_set(-ENOMEM, "out of memory for CPUID");
	memcpy(cpuid, base, cpuid_bytes(base->nent));
	x86_cpuid_for_vcpu(cpuid, 0, m->nvcpus, m->arch.tsc_deadline);
	memset(out, 0, SNAPSHOT_CPU_WORDS * sizeof(out[0]));
	for (size_t i = 0; i < sizeof(feature_words) / sizeof(feature_words[0]); i++)
		out[i] = cpuid_word(cpuid, feature_words[i].function, feature_words[i].index,
				    feature_words[i].reg);
	out[0] &= ~CPUID_1_ECX_OSXSAVE;
	free(cpuid);
	return 0;
}

int arch_cpu_features(const struct machine *m, uint32_t *out)
{
	return feature_summary(m, m->arch.cpuid, out);
}

int arch_cpu_features_check(struct machine *m, const uint32_t *saved)
{
	static const char reg_names[] = "abcd";
	uint32_t host[SNAPSHOT_CPU_WORDS];
	int err = feature_summary(m, m->arch.cpuid, host);

	for (size_t i = 0; !err && i < SNAPSHOT_CPU_WORDS; i++) {
		uint32_t missing = saved[i] & ~host[i];

		if (i >= sizeof(feature_words) / sizeof(feature_words[0])) {
			if (saved[i])
				return error_set(-EBADMSG, "snapshot's CPU feature word %zu is unknown", i);
			continue;
		}
		if (missing)
			return error_set(-ENOTSUP, "this host's KVM cannot give the guest a CPU feature its snapshot uses: CPUID 0x%x.%u e%cx bit %d",
					 feature_words[i].function, feature_words[i].index,
					 reg_names[feature_words[i].reg], __builtin_ctz(missing));
	}
	return err;
}

int arch_snapshot_adopt_cpuid(struct machine *m, const struct snapshot_state *s)
{
	uint32_t summary[SNAPSHOT_CPU_WORDS];
	struct kvm_cpuid2 *cpuid;
	const uint8_t *entries;
	uint64_t len;
	int err;

	if (snapshot_find(s, SNAP_X86_CPUID, 0, &entries, &len) ||
	    len % sizeof(struct kvm_cpuid_entry2) || len == 0 ||
	    len / sizeof(struct kvm_cpuid_entry2) > CPUID_ENTRIES_LIMIT)
		return error_set(-EBADMSG, "snapshot lacks the guest's CPUID or it is malformed");
	cpuid = calloc(1, cpuid_bytes((uint32_t)(len / sizeof(struct kvm_cpuid_entry2))));
	if (!cpuid)
		return error_set(-ENOMEM, "out of memory for CPUID");
	cpuid->nent = (uint32_t)(len / sizeof(struct kvm_cpuid_entry2));
	memcpy(cpuid->entries, entries, len);
	/* The header's summary was checked already; the table itself must agree. */
	err = feature_summary(m, cpuid, summary);
	if (!err)
		err = arch_cpu_features_check(m, summary);
	if (err) {
		free(cpuid);
		return err;
	}
	free(m->arch.cpuid);
	m->arch.cpuid = cpuid;
	return 0;
}

static int vm_get(const struct machine *m, unsigned long request, const char *what, void *buf)
{
	return ioctl(m->kvm.vm_fd, request, buf) < 0 ? error_set_errno(-errno, "%s", what) : 0;
}

static int save_vm(struct machine *m, struct snapshot_writer *w)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int err = 0;
	int khz;

	snapshot_put(w, SNAP_X86_CPUID, 0, m->arch.cpuid->entries,
		     m->arch.cpuid->nent * sizeof(m->arch.cpuid->entries[0]));
	khz = ioctl(m->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return error_set_errno(-errno, "KVM_GET_TSC_KHZ");
	snapshot_put(w, SNAP_X86_TSC_KHZ, 0, &(uint32_t){ (uint32_t)khz }, sizeof(uint32_t));
	for (uint32_t chip = 0; !err && chip < IRQCHIP_COUNT; chip++) {
		struct kvm_irqchip irqchip;

		memset(&irqchip, 0, sizeof(irqchip));
		irqchip.chip_id = chip;
		err = vm_get(m, KVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", &irqchip);
		if (!err)
			snapshot_put(w, SNAP_X86_IRQCHIP, chip, &irqchip, sizeof(irqchip));
	}
	memset(&pit, 0, sizeof(pit));
	if (!err)
		err = vm_get(m, KVM_GET_PIT2, "KVM_GET_PIT2", &pit);
	if (!err)
		snapshot_put(w, SNAP_X86_PIT, 0, &pit, sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	if (!err)
		err = vm_get(m, KVM_GET_CLOCK, "KVM_GET_CLOCK", &clock);
	if (!err)
		snapshot_put(w, SNAP_X86_CLOCK, 0, &clock, sizeof(clock));
	return err;
}

int arch_snapshot_save(struct machine *m, struct snapshot_writer *w)
{
	size_t xsave_size = x86_xsave_size(m->kvm.vm_fd);
	struct kvm_msr_list *msrs;
	int err = save_vm(m, w);

	if (!err)
		err = x86_msr_index_list(m->kvm.sys_fd, &msrs);
	if (err)
		return err;
	for (unsigned int i = 0; !err && i < m->nvcpus; i++)
		err = x86_vcpu_state_save(m->vcpus[i].fd, i, msrs, xsave_size, w);
	free(msrs);
	return err;
}

/* The guest calibrated its clocks against the TSC rate it had: keep it, or refuse. */
static int restore_tsc_rate(struct machine *m, const struct snapshot_state *s)
{
	uint32_t khz;
	int err = snapshot_get(s, SNAP_X86_TSC_KHZ, 0, &khz, sizeof(khz), "TSC rate");

	for (unsigned int i = 0; !err && i < m->nvcpus; i++) {
		int here = ioctl(m->vcpus[i].fd, KVM_GET_TSC_KHZ, 0);

		if (here == (int)khz)
			continue;
		if (ioctl(m->vcpus[i].fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
			err = error_set(-ENOTSUP, "the snapshot's guest runs its TSC at %u kHz, this host at %d kHz and cannot scale it (KVM_SET_TSC_KHZ: %s)",
					khz, here, strerror(errno));
	}
	return err;
}

static int vm_set(struct machine *m, unsigned long request, const char *what, void *buf)
{
	return ioctl(m->kvm.vm_fd, request, buf) < 0
		       ? error_set_errno(-errno, "restoring the %s", what)
		       : 0;
}

int arch_snapshot_restore(struct machine *m, const struct snapshot_state *s)
{
	size_t xsave_size = x86_xsave_size(m->kvm.vm_fd);
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int err = restore_tsc_rate(m, s);

	for (uint32_t chip = 0; !err && chip < IRQCHIP_COUNT; chip++) {
		struct kvm_irqchip irqchip;

		err = snapshot_get(s, SNAP_X86_IRQCHIP, chip, &irqchip, sizeof(irqchip),
				   "interrupt controller");
		if (!err && irqchip.chip_id != chip)
			err = error_set(-EBADMSG, "snapshot's interrupt controller %u says it is %u",
					chip, irqchip.chip_id);
		if (!err)
			err = vm_set(m, KVM_SET_IRQCHIP, "interrupt controllers", &irqchip);
	}
	if (!err)
		err = snapshot_get(s, SNAP_X86_PIT, 0, &pit, sizeof(pit), "PIT");
	if (!err)
		err = vm_set(m, KVM_SET_PIT2, "PIT", &pit);
	for (unsigned int i = 0; !err && i < m->nvcpus; i++)
		err = x86_vcpu_state_restore(m->vcpus[i].fd, i, xsave_size, s);
	/* Last: kvmclock runs from here, and the guest's clock goes on where it stopped. */
	if (!err)
		err = snapshot_get(s, SNAP_X86_CLOCK, 0, &clock, sizeof(clock), "kvmclock");
	if (!err) {
		clock.flags = 0; /* KVM_SET_CLOCK takes the value only */
		err = vm_set(m, KVM_SET_CLOCK, "kvmclock", &clock);
	}
	return err;
}
