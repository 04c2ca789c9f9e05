/*
 * Where things sit in an aarch64 guest's physical address space. Devices
 * live below 2 GiB and RAM starts there, as on QEMU's `virt` machine and
 * kvmtool, so a 32-bit device address never aliases RAM. The kernel Image
 * goes at the start of RAM (plus its text_offset), the device tree at the top
 * of RAM and the initrd just below it.
 */
#ifndef AGENTVM_ARCH_AARCH64_LAYOUT_H
#define AGENTVM_ARCH_AARCH64_LAYOUT_H

/* GICv3: the distributor, then one redistributor (two 64 KiB frames) per vCPU. */
#define ARM64_GIC_DIST_BASE 0x08000000ULL
#define ARM64_GIC_DIST_SIZE 0x10000ULL
#define ARM64_GIC_REDIST_BASE 0x080a0000ULL
#define ARM64_GIC_REDIST_SIZE_PER_CPU 0x20000ULL

/* A 16550 UART: the console. Registers one byte apart, as on a PC. */
#define ARM64_UART_BASE 0x09000000ULL
#define ARM64_UART_SPAN 0x1000ULL

/* A PL031 real-time clock: the guest's wall-clock time at boot (devices/rtc_pl031.h). */
#define ARM64_RTC_BASE 0x09010000ULL

/* virtio-mmio slots, VIRTIO_MMIO_SPAN apart. */
#define ARM64_VIRTIO_MMIO_BASE 0x0a000000ULL

#define ARM64_RAM_BASE 0x80000000ULL

/* Interrupts. SPIs are numbered from 0 here, as KVM's GSIs are; the GIC sees INTID 32 + n. */
#define ARM64_GIC_SPI_BASE 32
#define ARM64_UART_SPI 1
#define ARM64_RTC_SPI 2
#define ARM64_VIRTIO_FIRST_SPI 16
#define ARM64_NR_IRQS 128 /* interrupt IDs the VGIC implements: 32 private + 96 SPIs */

/* Architected timer PPIs (INTIDs minus 16, as the device tree counts them). */
#define ARM64_TIMER_PPI_SECURE 13
#define ARM64_TIMER_PPI_NONSECURE 14
#define ARM64_TIMER_PPI_VIRT 11
#define ARM64_TIMER_PPI_HYP 10

/* The Image must start 2 MiB-aligned; the device tree may take up to 2 MiB. */
#define ARM64_KERNEL_ALIGN 0x200000ULL
#define ARM64_DTB_MAX 0x200000ULL

#define ARM64_CMDLINE_MAX 2048

#endif
