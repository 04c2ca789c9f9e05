/*
 * Where things sit in an x86_64 guest's physical memory. Everything the boot
 * path writes lives below 1 MiB except the kernel (at its ELF load address,
 * normally 16 MiB) and the initrd (as high as the kernel allows), so that a
 * 16 MiB guest still boots.
 */
#ifndef AGENTVM_ARCH_X86_64_LAYOUT_H
#define AGENTVM_ARCH_X86_64_LAYOUT_H

#define X86_GDT_ADDR 0x500ULL
#define X86_IDT_ADDR 0x540ULL
#define X86_BOOT_PARAMS_ADDR 0x7000ULL
#define X86_PML4_ADDR 0x9000ULL
#define X86_PDPT_ADDR 0xa000ULL
#define X86_PD_ADDR 0xb000ULL /* 4 pages of 2 MiB mappings: the first 4 GiB */
#define X86_PD_PAGES 4
#define X86_CMDLINE_ADDR 0x20000ULL
#define X86_CMDLINE_MAX 4096 /* including the NUL */
#define X86_EBDA_START 0x9fc00ULL
#define X86_BIOS_AREA 0xe0000ULL /* reserved in the e820 map, as the BIOS ROM area is on a PC */
/* Linux looks for the MP floating pointer in the BIOS ROM area, among other places. */
#define X86_MPTABLE_ADDR 0xf0000ULL
#define X86_MPTABLE_SIZE 0x10000ULL
#define X86_HIGH_MEMORY 0x100000ULL

/* The MMIO hole below 4 GiB: IOAPIC, LAPIC and virtio-mmio devices live here. */
#define X86_MMIO_HOLE_START 0xc0000000ULL
#define X86_MMIO_HOLE_END 0x100000000ULL
#define X86_VIRTIO_MMIO_BASE 0xd0000000ULL
#define X86_IOAPIC_ADDR 0xfec00000ULL
#define X86_LAPIC_ADDR 0xfee00000ULL

/* KVM on Intel needs three pages for its real-mode TSS and one for the identity map, out of RAM's way. */
#define X86_KVM_TSS_ADDR 0xfffbd000ULL
#define X86_KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* Legacy I/O ports. */
#define X86_COM1_PORT 0x3f8
#define X86_COM1_IRQ 4

#endif
