#include "arch/x86_64/cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86_64/layout.h"
#include "util/error.h"

#define CPUID_MAX_ENTRIES_LIMIT 1024
#define CPUID_LEAF_FEATURES 0x1
#define CPUID_LEAF_TOPOLOGY 0xb
#define CPUID_LEAF_TOPOLOGY_V2 0x1f
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
/* Performance counters, which the VM does not get (arch_vm_init): Intel's leaf, AMD's bits and leaf. */
#define CPUID_LEAF_ARCH_PERFMON 0xa
#define CPUID_LEAF_EXT_FEATURES 0x80000001
#define CPUID_EXT_ECX_PERFCTR_CORE (1u << 23)
#define CPUID_EXT_ECX_PERFCTR_NB (1u << 24)
#define CPUID_EXT_ECX_PERFCTR_LLC (1u << 28)
#define CPUID_LEAF_AMD_PERFMON_V2 0x80000022

/* GDT entries as the boot protocol wants them: __BOOT_CS = 0x10, __BOOT_DS = 0x18. */
#define GDT_CODE64 0x00af9b000000ffffULL /* present, DPL 0, execute/read, L=1, G=1 */
#define GDT_DATA 0x00cf93000000ffffULL   /* present, DPL 0, read/write, D/B=1, G=1 */
#define GDT_TSS 0x00008b0000000fffULL    /* present, busy 64-bit TSS: VM entry wants a usable TR */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define BOOT_TR 0x20

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define PTE_PRESENT 0x1ULL
#define PTE_WRITE 0x2ULL
#define PTE_HUGE 0x80ULL

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_ENABLE_WRITEBACK ((1ULL << 11) | 6) /* MTRRs on, default type WB */

int x86_cpuid_supported(int kvm_sys_fd, struct kvm_cpuid2 **out)
{
	/* KVM says E2BIG until the buffer is big enough; grow until it fits. */
	for (unsigned int n = 64; n <= CPUID_MAX_ENTRIES_LIMIT; n *= 2) {
		struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));

		if (!cpuid)
			return error_set(-ENOMEM, "out of memory for CPUID");
		cpuid->nent = n;
		if (ioctl(kvm_sys_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
			*out = cpuid;
			return 0;
		}
		free(cpuid);
		if (errno != E2BIG)
			return error_set_errno(-errno, "KVM_GET_SUPPORTED_CPUID");
	}
	return error_set(-E2BIG, "KVM_GET_SUPPORTED_CPUID wants more than %d entries",
			 CPUID_MAX_ENTRIES_LIMIT);
}

void x86_cpuid_for_vcpu(struct kvm_cpuid2 *cpuid, unsigned int index, unsigned int count,
			bool tsc_deadline)
{
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case CPUID_LEAF_FEATURES:
			/* Initial APIC ID and logical processor count, as the MADT lists them. */
			e->ebx = (e->ebx & 0x0000ffffu) | (index << 24) | ((count & 0xff) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			break;
		case CPUID_LEAF_TOPOLOGY:
		case CPUID_LEAF_TOPOLOGY_V2:
			e->edx = index; /* x2APIC ID */
			break;
		case CPUID_LEAF_ARCH_PERFMON:
		case CPUID_LEAF_AMD_PERFMON_V2:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case CPUID_LEAF_EXT_FEATURES:
			e->ecx &= ~(CPUID_EXT_ECX_PERFCTR_CORE | CPUID_EXT_ECX_PERFCTR_NB |
				    CPUID_EXT_ECX_PERFCTR_LLC);
			break;
		default:
			break;
		}
	}
}

int x86_boot_page_tables_write(const struct guest_memory *mem)
{
	uint64_t *gdt = guest_memory_ptr(mem, X86_GDT_ADDR, 5 * sizeof(uint64_t));
	uint64_t *pml4 = guest_memory_ptr(mem, X86_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_memory_ptr(mem, X86_PDPT_ADDR, 4096);
	uint64_t *pd = guest_memory_ptr(mem, X86_PD_ADDR, 4096 * X86_PD_PAGES);

	if (!gdt || !pml4 || !pdpt || !pd)
		return error_set(-EINVAL, "guest memory too small for boot page tables");
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = GDT_CODE64;
	gdt[3] = GDT_DATA;
	gdt[4] = GDT_TSS;

	/* Identity-map the first 4 GiB with 2 MiB pages: enough for the kernel's own early setup. */
	pml4[0] = X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	for (unsigned int i = 0; i < X86_PD_PAGES; i++)
		pdpt[i] = (X86_PD_ADDR + i * 4096ULL) | PTE_PRESENT | PTE_WRITE;
	for (unsigned int i = 0; i < 512 * X86_PD_PAGES; i++)
		pd[i] = ((uint64_t)i << 21) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
	return 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code ? 0 : 1,
		.s = 1,
		.l = code ? 1 : 0,
		.g = 1,
	};
}

static int set_boot_msrs(int vcpu_fd)
{
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry entries[2];
	} msrs = {
		.header.nmsrs = 2,
		.entries = {
			{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
			{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE_WRITEBACK },
		},
	};
	int r = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);

	if (r < 0)
		return error_set_errno(-errno, "KVM_SET_MSRS");
	if (r != 2)
		return error_set(-EINVAL, "KVM_SET_MSRS accepted %d of 2 boot MSRs", r);
	return 0;
}

int x86_boot_vcpu_setup(int vcpu_fd, uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = entry,
		.rsi = X86_BOOT_PARAMS_ADDR,
		.rflags = 0x2, /* bit 1 is reserved and always set */
	};
	struct kvm_fpu fpu = {
		.fcw = 0x37f,    /* x87 defaults after FNINIT */
		.mxcsr = 0x1f80, /* SSE defaults: all exceptions masked */
	};

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return error_set_errno(-errno, "KVM_GET_SREGS");
	sregs.cs = flat_segment(BOOT_CS, 0xb, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(BOOT_DS, 0x3, false);
	sregs.tr = (struct kvm_segment){
		.base = 0, .limit = 0xfff, .selector = BOOT_TR, .type = 0xb, .present = 1,
	};
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = 5 * sizeof(uint64_t) - 1;
	sregs.idt.base = X86_IDT_ADDR;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
	sregs.cr3 = X86_PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;

	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return error_set_errno(-errno, "KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return error_set_errno(-errno, "KVM_SET_REGS");
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return error_set_errno(-errno, "KVM_SET_FPU");
	return set_boot_msrs(vcpu_fd);
}
