#include "arch/x86_64/mptable.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "util/error.h"

/* Structures from the MultiProcessor Specification 1.4, chapter 4. */
struct mp_floating_pointer {
	char signature[4]; /* "_MP_" */
	uint32_t config_table;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t features[5];
} __attribute__((packed));

struct mp_config_header {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_address;
	uint16_t extended_length;
	uint8_t extended_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type, lapic_id, lapic_version, flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type, bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type, apic_id, apic_version, flags;
	uint32_t address;
} __attribute__((packed));

struct mp_interrupt {
	uint8_t type, interrupt_type;
	uint16_t flags;
	uint8_t source_bus, source_irq, dest_apic, dest_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating_pointer) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_config_header) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry is 20 bytes");

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IO_INTERRUPT = 3, MP_LOCAL_INTERRUPT = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_SPEC_REV 4
#define MP_CPU_ENABLED 0x1
#define MP_CPU_BOOT 0x2
#define MP_LAPIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_IOAPIC_ENABLED 0x1
#define MP_CPU_SIGNATURE 0x600          /* family 6: only a label, Linux reads CPUID */
#define MP_CPU_FEATURES ((1u << 0) | (1u << 9)) /* FPU, APIC */
#define MP_ALL_LAPICS 0xff
#define ISA_IRQS 16

uint8_t x86_mptable_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

static size_t config_table_size(unsigned int vcpus)
{
	return sizeof(struct mp_config_header) + vcpus * sizeof(struct mp_processor) +
	       sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +
	       (ISA_IRQS + 2) * sizeof(struct mp_interrupt);
}

static uint8_t *put(uint8_t *at, const void *entry, size_t size)
{
	memcpy(at, entry, size);
	return at + size;
}

int x86_mptable_write(const struct guest_memory *mem, unsigned int vcpus)
{
	const size_t table_size = config_table_size(vcpus);
	const uint64_t table_addr = X86_MPTABLE_ADDR + sizeof(struct mp_floating_pointer);
	struct mp_floating_pointer *fp;
	struct mp_config_header *hdr;
	const uint8_t ioapic_id = (uint8_t)vcpus; /* APIC IDs share one space: the IOAPIC's follows the CPUs' */
	uint8_t *base, *at;

	if (sizeof(*fp) + table_size > X86_MPTABLE_SIZE)
		return error_set(-EINVAL, "an MP table for %u vCPUs does not fit its area", vcpus);
	base = guest_memory_ptr(mem, X86_MPTABLE_ADDR, sizeof(*fp) + table_size);
	if (!base)
		return error_set(-EINVAL, "guest memory too small for the MP table");

	at = base + sizeof(*fp) + sizeof(*hdr);
	for (unsigned int i = 0; i < vcpus; i++) {
		struct mp_processor cpu = {
			.type = MP_PROCESSOR,
			.lapic_id = (uint8_t)i,
			.lapic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOT : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};
		at = put(at, &cpu, sizeof(cpu));
	}
	at = put(at, &(struct mp_bus){ .type = MP_BUS, .bus_id = 0, .bus_type = "ISA   " },
		 sizeof(struct mp_bus));
	at = put(at, &(struct mp_ioapic){ .type = MP_IOAPIC, .apic_id = ioapic_id,
					  .apic_version = MP_IOAPIC_VERSION,
					  .flags = MP_IOAPIC_ENABLED,
					  .address = (uint32_t)X86_IOAPIC_ADDR },
		 sizeof(struct mp_ioapic));
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
		struct mp_interrupt entry = {
			.type = MP_IO_INTERRUPT,
			.interrupt_type = MP_INT,
			.source_bus = 0,
			.source_irq = irq,
			.dest_apic = ioapic_id,
			.dest_pin = irq,
		};
		at = put(at, &entry, sizeof(entry));
	}
	/* The 8259's output on LINT0 and NMI on LINT1 of every local APIC, as on a PC. */
	at = put(at, &(struct mp_interrupt){ .type = MP_LOCAL_INTERRUPT, .interrupt_type = MP_EXTINT,
					     .dest_apic = MP_ALL_LAPICS, .dest_pin = 0 },
		 sizeof(struct mp_interrupt));
	at = put(at, &(struct mp_interrupt){ .type = MP_LOCAL_INTERRUPT, .interrupt_type = MP_NMI,
					     .dest_apic = MP_ALL_LAPICS, .dest_pin = 1 },
		 sizeof(struct mp_interrupt));

	hdr = (struct mp_config_header *)(base + sizeof(*fp));
	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr->signature, "PCMP", 4);
	hdr->length = (uint16_t)table_size;
	hdr->spec_rev = MP_SPEC_REV;
	memcpy(hdr->oem_id, "AGENTVM ", 8);
	memcpy(hdr->product_id, "MICROVM     ", 12);
	hdr->entry_count = (uint16_t)(vcpus + 1 + 1 + ISA_IRQS + 2);
	hdr->lapic_address = (uint32_t)X86_LAPIC_ADDR;
	hdr->checksum = (uint8_t)(0 - x86_mptable_checksum(hdr, table_size));

	fp = (struct mp_floating_pointer *)base;
	memset(fp, 0, sizeof(*fp));
	memcpy(fp->signature, "_MP_", 4);
	fp->config_table = (uint32_t)table_addr;
	fp->length = 1;
	fp->spec_rev = MP_SPEC_REV;
	fp->checksum = (uint8_t)(0 - x86_mptable_checksum(fp, sizeof(*fp)));
	return 0;
}
