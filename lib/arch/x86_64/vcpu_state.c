#include "arch/x86_64/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "snapshot/format.h"
#include "util/error.h"
#include "vmm/snapshot_records.h"

/* KVM lists a few hundred MSRs; anything past this is not a list we understand. */
#define MSR_LIST_LIMIT 4096

int x86_msr_index_list(int kvm_sys_fd, struct kvm_msr_list **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;

	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(kvm_sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return error_set_errno(-errno, "KVM_GET_MSR_INDEX_LIST");
	if (probe.nmsrs > MSR_LIST_LIMIT)
		return error_set(-E2BIG, "KVM lists %u MSRs, more than %d", probe.nmsrs,
				 MSR_LIST_LIMIT);
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return error_set(-ENOMEM, "out of memory for the MSR list");
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return error_set_errno(-errno, "KVM_GET_MSR_INDEX_LIST");
	}
	*out = list;
	return 0;
}

size_t x86_xsave_size(int vm_fd)
{
	int size = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return size > (int)sizeof(struct kvm_xsave) ? (size_t)size : sizeof(struct kvm_xsave);
}

static struct kvm_msrs *msrs_alloc(uint32_t n)
{
	return calloc(1, sizeof(struct kvm_msrs) + n * sizeof(struct kvm_msr_entry));
}

/*
 * KVM_GET_MSRS reads entries in order and stops at the first one this vCPU
 * does not have (an MSR of a CPU feature the guest lacks), returning how many
 * it read. Read what it can, skip the one it refused, go on from there.
 */
static int save_msrs(int vcpu_fd, unsigned int index, const struct kvm_msr_list *list,
		     struct snapshot_writer *w)
{
	struct kvm_msrs *saved = msrs_alloc(list->nmsrs), *work = msrs_alloc(list->nmsrs);
	uint32_t next = 0;
	int err = 0;

	if (!saved || !work) {
		err = error_set(-ENOMEM, "out of memory for vCPU %u's MSRs", index);
		goto out;
	}
	while (next < list->nmsrs) {
		int got;

		work->nmsrs = list->nmsrs - next;
		for (uint32_t i = 0; i < work->nmsrs; i++)
			work->entries[i] = (struct kvm_msr_entry){ .index = list->indices[next + i] };
		got = ioctl(vcpu_fd, KVM_GET_MSRS, work);
		if (got < 0) {
			err = error_set_errno(-errno, "KVM_GET_MSRS on vCPU %u", index);
			goto out;
		}
		memcpy(&saved->entries[saved->nmsrs], work->entries, (size_t)got * sizeof(work->entries[0]));
		saved->nmsrs += (uint32_t)got;
		next += (uint32_t)got + 1; /* past the refused one */
	}
	snapshot_put(w, SNAP_X86_MSRS, index, saved->entries,
		     saved->nmsrs * sizeof(saved->entries[0]));
out:
	free(saved);
	free(work);
	return err;
}

/* Room for any one of a vCPU's fixed-size records on its way between KVM and the snapshot. */
union vcpu_record {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
};

/* One KVM_GET_* into a record; `what` names it in errors. */
static int save_one(int vcpu_fd, unsigned long request, const char *what, unsigned int index,
		    uint32_t tag, void *buf, size_t len, struct snapshot_writer *w)
{
	memset(buf, 0, len); /* padding too: saved bytes are checksummed */
	if (ioctl(vcpu_fd, request, buf) < 0)
		return error_set_errno(-errno, "%s on vCPU %u", what, index);
	snapshot_put(w, tag, index, buf, len);
	return 0;
}

int x86_vcpu_state_save(int vcpu_fd, unsigned int index, const struct kvm_msr_list *msrs,
			size_t xsave_size, struct snapshot_writer *w)
{
	union vcpu_record u;
	void *xsave = malloc(xsave_size);
	int err;

	if (!xsave)
		return error_set(-ENOMEM, "out of memory for vCPU %u's XSAVE area", index);
	err = save_one(vcpu_fd, KVM_GET_REGS, "KVM_GET_REGS", index, SNAP_X86_REGS, &u.regs,
		       sizeof(u.regs), w);
	if (!err)
		err = save_one(vcpu_fd, KVM_GET_SREGS, "KVM_GET_SREGS", index, SNAP_X86_SREGS,
			       &u.sregs, sizeof(u.sregs), w);
	if (!err)
		err = save_one(vcpu_fd, xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2
									: KVM_GET_XSAVE,
			       "KVM_GET_XSAVE", index, SNAP_X86_XSAVE, xsave, xsave_size, w);
	if (!err)
		err = save_one(vcpu_fd, KVM_GET_XCRS, "KVM_GET_XCRS", index, SNAP_X86_XCRS, &u.xcrs,
			       sizeof(u.xcrs), w);
	if (!err)
		err = save_one(vcpu_fd, KVM_GET_LAPIC, "KVM_GET_LAPIC", index, SNAP_X86_LAPIC,
			       &u.lapic, sizeof(u.lapic), w);
	if (!err)
		err = save_msrs(vcpu_fd, index, msrs, w);
	if (!err)
		err = save_one(vcpu_fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE", index,
			       SNAP_X86_MP_STATE, &u.mp, sizeof(u.mp), w);
	if (!err)
		err = save_one(vcpu_fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", index,
			       SNAP_X86_EVENTS, &u.events, sizeof(u.events), w);
	if (!err)
		err = save_one(vcpu_fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", index,
			       SNAP_X86_DEBUGREGS, &u.debugregs, sizeof(u.debugregs), w);
	free(xsave);
	return err;
}

/* One record into a KVM_SET_*; the record must have exactly len bytes. */
static int restore_one(int vcpu_fd, unsigned long request, const char *what, unsigned int index,
		       uint32_t tag, void *buf, size_t len, const struct snapshot_state *s)
{
	int err = snapshot_get(s, tag, index, buf, len, what);

	if (!err && ioctl(vcpu_fd, request, buf) < 0)
		err = error_set_errno(-errno, "restoring vCPU %u: %s", index, what);
	return err;
}

static int restore_msrs(int vcpu_fd, unsigned int index, const struct snapshot_state *s)
{
	const struct kvm_msr_entry *entries;
	struct kvm_msrs *msrs;
	uint64_t len;
	uint32_t n;
	int set, err = 0;

	if (snapshot_find(s, SNAP_X86_MSRS, index, (const uint8_t **)&entries, &len) ||
	    len % sizeof(*entries) || len / sizeof(*entries) > MSR_LIST_LIMIT)
		return error_set(-EBADMSG, "snapshot lacks vCPU %u's MSRs or they are malformed",
				 index);
	n = (uint32_t)(len / sizeof(*entries));
	msrs = msrs_alloc(n);
	if (!msrs)
		return error_set(-ENOMEM, "out of memory for vCPU %u's MSRs", index);
	msrs->nmsrs = n;
	memcpy(msrs->entries, entries, len);
	set = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
	if (set < 0)
		err = error_set_errno(-errno, "restoring vCPU %u: KVM_SET_MSRS", index);
	else if ((uint32_t)set < n)
		err = error_set(-ENOTSUP, "restoring vCPU %u: this host's KVM refuses MSR 0x%x",
				index, msrs->entries[set].index);
	free(msrs);
	return err;
}

/*
 * A snapshot's XSAVE area may be smaller than this host's (KVM_CAP_XSAVE2
 * grew with new CPU state): the components its header marks present fit,
 * and the rest of the buffer stays zero. A larger one needs state this host
 * cannot hold.
 */
static int restore_xsave(int vcpu_fd, unsigned int index, size_t xsave_size,
			 const struct snapshot_state *s)
{
	const uint8_t *saved;
	uint64_t len;
	void *area;
	int err = 0;

	if (snapshot_find(s, SNAP_X86_XSAVE, index, &saved, &len) ||
	    len < sizeof(struct kvm_xsave))
		return error_set(-EBADMSG, "snapshot lacks vCPU %u's XSAVE area", index);
	if (len > xsave_size)
		return error_set(-ENOTSUP, "vCPU %u's XSAVE area is %llu bytes, this host holds %zu",
				 index, (unsigned long long)len, xsave_size);
	area = calloc(1, xsave_size);
	if (!area)
		return error_set(-ENOMEM, "out of memory for vCPU %u's XSAVE area", index);
	memcpy(area, saved, len);
	if (ioctl(vcpu_fd, KVM_SET_XSAVE, area) < 0)
		err = error_set_errno(-errno, "restoring vCPU %u: KVM_SET_XSAVE", index);
	free(area);
	return err;
}

int x86_vcpu_state_restore(int vcpu_fd, unsigned int index, size_t xsave_size,
			   const struct snapshot_state *s)
{
	union vcpu_record u;
	int err;

	err = restore_one(vcpu_fd, KVM_SET_MP_STATE, "MP state", index, SNAP_X86_MP_STATE, &u.mp,
			  sizeof(u.mp), s);
	if (!err)
		err = restore_one(vcpu_fd, KVM_SET_REGS, "registers", index, SNAP_X86_REGS, &u.regs,
				  sizeof(u.regs), s);
	if (!err)
		err = restore_one(vcpu_fd, KVM_SET_SREGS, "system registers", index, SNAP_X86_SREGS,
				  &u.sregs, sizeof(u.sregs), s);
	if (!err)
		err = restore_xsave(vcpu_fd, index, xsave_size, s);
	if (!err)
		err = restore_one(vcpu_fd, KVM_SET_XCRS, "XCRs", index, SNAP_X86_XCRS, &u.xcrs,
				  sizeof(u.xcrs), s);
	if (!err)
		err = restore_one(vcpu_fd, KVM_SET_DEBUGREGS, "debug registers", index,
				  SNAP_X86_DEBUGREGS, &u.debugregs, sizeof(u.debugregs), s);
	if (!err)
		err = restore_one(vcpu_fd, KVM_SET_LAPIC, "local APIC", index, SNAP_X86_LAPIC,
				  &u.lapic, sizeof(u.lapic), s);
	if (!err)
		err = restore_msrs(vcpu_fd, index, s);
	if (!err)
		err = restore_one(vcpu_fd, KVM_SET_VCPU_EVENTS, "pending events", index,
				  SNAP_X86_EVENTS, &u.events, sizeof(u.events), s);
	return err;
}
