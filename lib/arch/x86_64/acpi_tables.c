#include "arch/x86_64/acpi_tables.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "devices/acpi_power.h"
#include "util/error.h"

/* Table layouts from the ACPI 6.4 specification, chapter 5. */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t legacy_fields0[4];  /* ACPI_ENABLE .. PSTATE_CNT: unused when hardware-reduced */
	uint32_t legacy_blocks[8];  /* PM1a_EVT_BLK .. GPE1_BLK */
	uint8_t legacy_lengths[8];  /* PM1_EVT_LEN .. CST_CNT */
	uint8_t legacy_fields1[13]; /* P_LVL2_LAT .. CENTURY */
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_legacy_blocks[8]; /* X_PM1a_EVT_BLK .. X_GPE1_BLK */
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header header;
	uint32_t local_apic_address;
	uint32_t flags;
} __attribute__((packed));

struct acpi_madt_local_apic {
	uint8_t type, length, processor_id, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type, length, ioapic_id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header is 36 bytes");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_FLAG_HW_REDUCED_ACPI (1u << 20)
#define IAPC_BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define IAPC_BOOT_ARCH_MSI_NOT_SUPPORTED (1u << 3)
#define IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)
#define MADT_TYPE_LOCAL_APIC 0
#define MADT_TYPE_IOAPIC 1
#define MADT_LOCAL_APIC_ENABLED 1

/*
 * DSDT body, hand-assembled AML (ACPI 6.4, chapter 20):
 *   Name (_S5, Package (4) { 5, 5, 0, 0 })
 * SLP_TYPa/SLP_TYPb = ACPI_POWER_S5_SLEEP_TYPE; Linux needs at least two elements.
 */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_',              /* NameOp, NameSeg */
	0x12, 0x08, 0x04,                      /* PackageOp, PkgLength 8, NumElements 4 */
	0x0a, ACPI_POWER_S5_SLEEP_TYPE,        /* BytePrefix 5 */
	0x0a, ACPI_POWER_S5_SLEEP_TYPE,
	0x00, 0x00,                            /* ZeroOp, ZeroOp */
};

uint8_t x86_acpi_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

static void header_init(struct acpi_header *h, const char *signature, uint32_t length,
			uint8_t revision)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->signature, signature, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, "AGNTVM", 6);
	memcpy(h->oem_table_id, "AGENTVM ", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "AVMM", 4);
	h->creator_revision = 1;
}

static void header_seal(struct acpi_header *h)
{
	h->checksum = (uint8_t)(0 - x86_acpi_checksum(h, h->length));
}

static struct acpi_gas io_register(uint16_t port)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = 8,
		.access_size = ACPI_GAS_ACCESS_BYTE,
		.address = port,
	};
}

static void fadt_fill(struct acpi_fadt *fadt, uint64_t dsdt_addr)
{
	memset(fadt, 0, sizeof(*fadt));
	header_init(&fadt->header, "FACP", sizeof(*fadt), 6);
	fadt->minor_version = 4;
	fadt->flags = FADT_FLAG_HW_REDUCED_ACPI | FADT_FLAG_RESET_REG_SUP;
	fadt->iapc_boot_arch = IAPC_BOOT_ARCH_VGA_NOT_PRESENT | IAPC_BOOT_ARCH_MSI_NOT_SUPPORTED |
			       IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT;
	fadt->dsdt = (uint32_t)dsdt_addr;
	fadt->x_dsdt = dsdt_addr;
	fadt->reset_reg = io_register(X86_ACPI_POWER_PORT + ACPI_POWER_RESET);
	fadt->reset_value = ACPI_POWER_RESET_VALUE;
	fadt->sleep_control_reg = io_register(X86_ACPI_POWER_PORT + ACPI_POWER_SLEEP_CONTROL);
	fadt->sleep_status_reg = io_register(X86_ACPI_POWER_PORT + ACPI_POWER_SLEEP_STATUS);
	memcpy(&fadt->hypervisor_vendor_id, "AGENTVM", 8 - 1);
	header_seal(&fadt->header);
}

static size_t madt_size(unsigned int vcpus)
{
	return sizeof(struct acpi_madt) + vcpus * sizeof(struct acpi_madt_local_apic) +
	       sizeof(struct acpi_madt_ioapic);
}

static void madt_fill(uint8_t *at, unsigned int vcpus)
{
	struct acpi_madt *madt = (struct acpi_madt *)at;
	struct acpi_madt_ioapic *ioapic;
	uint8_t *entry = at + sizeof(*madt);

	header_init(&madt->header, "APIC", (uint32_t)madt_size(vcpus), 5);
	madt->local_apic_address = (uint32_t)X86_LAPIC_ADDR;
	madt->flags = 0; /* no dual 8259: hardware-reduced means no legacy PIC */
	for (unsigned int i = 0; i < vcpus; i++, entry += sizeof(struct acpi_madt_local_apic)) {
		struct acpi_madt_local_apic lapic = {
			.type = MADT_TYPE_LOCAL_APIC,
			.length = sizeof(lapic),
			.processor_id = (uint8_t)i,
			.apic_id = (uint8_t)i,
			.flags = MADT_LOCAL_APIC_ENABLED,
		};
		memcpy(entry, &lapic, sizeof(lapic));
	}
	ioapic = (struct acpi_madt_ioapic *)entry;
	*ioapic = (struct acpi_madt_ioapic){
		.type = MADT_TYPE_IOAPIC,
		.length = sizeof(*ioapic),
		.ioapic_id = (uint8_t)vcpus, /* APIC IDs share one space: the IOAPIC's follows the CPUs' */
		.address = (uint32_t)X86_IOAPIC_ADDR,
		.gsi_base = 0,
	};
	header_seal(&madt->header);
}

static uint64_t align16(uint64_t x)
{
	return (x + 15) & ~15ULL;
}

int x86_acpi_tables_write(const struct guest_memory *mem, unsigned int vcpus, uint64_t *rsdp_out)
{
	const uint64_t rsdp_addr = X86_ACPI_ADDR;
	const uint64_t xsdt_addr = align16(rsdp_addr + sizeof(struct acpi_rsdp));
	const size_t xsdt_len = sizeof(struct acpi_header) + 2 * sizeof(uint64_t);
	const uint64_t fadt_addr = align16(xsdt_addr + xsdt_len);
	const uint64_t dsdt_addr = align16(fadt_addr + sizeof(struct acpi_fadt));
	const size_t dsdt_len = sizeof(struct acpi_header) + sizeof(dsdt_aml);
	const uint64_t madt_addr = align16(dsdt_addr + dsdt_len);
	const uint64_t end = madt_addr + madt_size(vcpus);
	struct acpi_header *xsdt, *dsdt;
	struct acpi_rsdp *rsdp;
	uint64_t entries[2] = { fadt_addr, madt_addr };
	uint8_t *base;

	if (end > X86_ACPI_ADDR + X86_ACPI_SIZE)
		return error_set(-EINVAL, "ACPI tables for %u vCPUs do not fit their area", vcpus);
	base = guest_memory_ptr(mem, X86_ACPI_ADDR, end - X86_ACPI_ADDR);
	if (!base)
		return error_set(-EINVAL, "guest memory too small for ACPI tables");
#define AT(addr) (base + ((addr) - X86_ACPI_ADDR))

	dsdt = (struct acpi_header *)AT(dsdt_addr);
	header_init(dsdt, "DSDT", (uint32_t)dsdt_len, 2);
	memcpy(AT(dsdt_addr) + sizeof(*dsdt), dsdt_aml, sizeof(dsdt_aml));
	header_seal(dsdt);

	fadt_fill((struct acpi_fadt *)AT(fadt_addr), dsdt_addr);
	madt_fill(AT(madt_addr), vcpus);

	xsdt = (struct acpi_header *)AT(xsdt_addr);
	header_init(xsdt, "XSDT", (uint32_t)xsdt_len, 1);
	memcpy(AT(xsdt_addr) + sizeof(*xsdt), entries, sizeof(entries));
	header_seal(xsdt);

	rsdp = (struct acpi_rsdp *)AT(rsdp_addr);
	memset(rsdp, 0, sizeof(*rsdp));
	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, "AGNTVM", 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt_addr;
	rsdp->checksum = (uint8_t)(0 - x86_acpi_checksum(rsdp, 20)); /* covers the ACPI 1.0 part only */
	rsdp->extended_checksum = (uint8_t)(0 - x86_acpi_checksum(rsdp, sizeof(*rsdp)));
#undef AT
	*rsdp_out = rsdp_addr;
	return 0;
}
