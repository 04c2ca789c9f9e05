/* arm64 snapshot state: the register record's encoding, register names, and the VGIC's pure helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/kvm.h>

#include "arch/aarch64/vcpu_state.h"
#include "arch/aarch64/vgic_state.h"

#define CORE_REG(size, field) (KVM_REG_ARM64 | (size) | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field))
#define X5 CORE_REG(KVM_REG_SIZE_U64, regs.regs[5])
#define FPSR CORE_REG(KVM_REG_SIZE_U32, fp_regs.fpsr)
#define V31 CORE_REG(KVM_REG_SIZE_U128, fp_regs.vregs[31])
#define MIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 0)
#define SCTLR_EL1 ARM64_SYS_REG(3, 0, 1, 0, 0)

/* A record as vcpu_state.c writes one: id, value, zero padding to 8. */
struct builder {
	uint8_t buf[1024];
	size_t len;
};

static void put(struct builder *b, uint64_t id, const void *value)
{
	size_t entry = arm64_reg_entry_bytes(id);

	assert_true(b->len + entry <= sizeof(b->buf));
	memset(b->buf + b->len, 0, entry);
	memcpy(b->buf + b->len, &id, sizeof(id));
	memcpy(b->buf + b->len + sizeof(id), value, arm64_reg_bytes(id));
	b->len += entry;
}

static void sizes_come_from_the_id(void **state)
{
	(void)state;
	assert_int_equal(arm64_reg_bytes(X5), 8);
	assert_int_equal(arm64_reg_bytes(FPSR), 4);
	assert_int_equal(arm64_reg_bytes(V31), 16);
	assert_int_equal(arm64_reg_bytes(KVM_REG_ARM_TIMER_CNT), 8);
	assert_int_equal(arm64_reg_bytes(KVM_REG_ARM64 | KVM_REG_SIZE_U2048 | KVM_REG_ARM64_SVE), 256);
	/* Wider than any register, or not arm64's. */
	assert_int_equal(arm64_reg_bytes(KVM_REG_ARM64 | 0x0090000000000000ULL), 0);
	assert_int_equal(arm64_reg_bytes(0x2030000000000000ULL), 0);
	assert_int_equal(arm64_reg_entry_bytes(FPSR), 16);
	assert_int_equal(arm64_reg_entry_bytes(X5), 16);
	assert_int_equal(arm64_reg_entry_bytes(V31), 24);
}

static void record_round_trips_in_order(void **state)
{
	struct builder b = { .len = 0 };
	uint64_t x5 = 0x1122334455667788ULL, cnt = 12345, id, pos = 0;
	uint32_t fpsr = 0x8000001f;
	uint8_t v31[16];
	const uint8_t *value;

	(void)state;
	for (unsigned int i = 0; i < sizeof(v31); i++)
		v31[i] = (uint8_t)(0xa0 + i);
	put(&b, X5, &x5);
	put(&b, FPSR, &fpsr);
	put(&b, V31, v31);
	put(&b, KVM_REG_ARM_TIMER_CNT, &cnt);
	assert_int_equal(b.len, 16 + 16 + 24 + 16);

	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), 1);
	assert_true(id == X5);
	assert_memory_equal(value, &x5, 8);
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), 1);
	assert_true(id == FPSR);
	assert_memory_equal(value, &fpsr, 4);
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), 1);
	assert_true(id == V31);
	assert_memory_equal(value, v31, 16);
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), 1);
	assert_true(id == KVM_REG_ARM_TIMER_CNT);
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), 0);
	assert_int_equal(pos, b.len);

	assert_int_equal(arm64_reg_find(b.buf, b.len, FPSR, &value), 0);
	assert_memory_equal(value, &fpsr, 4);
	assert_int_equal(arm64_reg_find(b.buf, b.len, MIDR_EL1, &value), -ENOENT);
	pos = 0;
	assert_int_equal(arm64_reg_next(b.buf, 0, &pos, &id, &value), 0);
}

static void malformed_records_refused(void **state)
{
	struct builder b = { .len = 0 };
	uint64_t x5 = 5, pos, id, bad_id = 0x2030000000000000ULL;
	uint32_t fpsr = 1;
	const uint8_t *value;

	(void)state;
	put(&b, X5, &x5);
	put(&b, FPSR, &fpsr);

	/* Cut inside the second entry's id, then inside its value. */
	pos = 16;
	assert_int_equal(arm64_reg_next(b.buf, 20, &pos, &id, &value), -EBADMSG);
	pos = 16;
	assert_int_equal(arm64_reg_next(b.buf, 27, &pos, &id, &value), -EBADMSG);
	assert_int_equal(arm64_reg_find(b.buf, 27, MIDR_EL1, &value), -EBADMSG);
	/* A position past the end. */
	pos = b.len + 8;
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), -EBADMSG);

	/* Padding after FPSR's 4 bytes must be zero. */
	b.buf[16 + 8 + 4] = 1;
	pos = 16;
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), -EBADMSG);
	b.buf[16 + 8 + 4] = 0;
	pos = 16;
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), 1);

	/* An id that is not arm64's has no size to trust. */
	memcpy(b.buf, &bad_id, sizeof(bad_id));
	pos = 0;
	assert_int_equal(arm64_reg_next(b.buf, b.len, &pos, &id, &value), -EBADMSG);
	assert_int_equal(pos, 0);
}

static void names_say_which_register(void **state)
{
	static const struct {
		uint64_t id;
		const char *name;
	} cases[] = {
		{ MIDR_EL1, "MIDR_EL1" },
		{ SCTLR_EL1, "S3_0_C1_C0_0" },
		{ KVM_REG_ARM_TIMER_CNT, "CNTVCT_EL0 (KVM_REG_ARM_TIMER_CNT)" },
		{ X5, "x5" },
		{ CORE_REG(KVM_REG_SIZE_U64, regs.pc), "PC" },
		{ CORE_REG(KVM_REG_SIZE_U64, spsr[2]), "SPSR[2]" },
		{ V31, "v31" },
		{ FPSR, "FPSR" },
		{ KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1" },
		{ KVM_REG_ARM_FW_REG(16), "KVM firmware register 16" },
		{ KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR | 3,
		  "CCSIDR_EL1 of cache level/type 3" },
	};
	char name[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		arm64_reg_name(cases[i].id, name, sizeof(name));
		assert_string_equal(name, cases[i].name);
	}
	/* A short buffer gets a cut, terminated name. */
	arm64_reg_name(SCTLR_EL1, name, 4);
	assert_string_equal(name, "S3_");
}

static void vgic_attr_carries_the_affinity(void **state)
{
	(void)state;
	/* KVM's MPIDR for vCPU n: RES1 bit 31, Aff0 = n % 16, Aff1 = n / 16. */
	assert_true(arm64_vgic_mpidr_attr(0x80000000ULL) == 0);
	assert_true(arm64_vgic_mpidr_attr(0x80000001ULL) == 1ULL << 32);
	assert_true(arm64_vgic_mpidr_attr(0x80000101ULL) == 0x0101ULL << 32); /* vCPU 17 */
	assert_true(arm64_vgic_mpidr_attr(0x80000302ULL) == 0x0302ULL << 32);
	assert_true(arm64_vgic_mpidr_attr(0x80050000ULL) == 0x050000ULL << 32);
	/* Aff3 sits in MPIDR bits 39..32 and attr bits 63..56; MT and U are dropped. */
	assert_true(arm64_vgic_mpidr_attr(0x07C1000000ULL | 0x80000000ULL) == 0x07000000ULL << 32);
}

static void apr_count_follows_priority_bits(void **state)
{
	(void)state;
	assert_int_equal(arm64_icc_apr_count(4u << 8), 1);  /* 5 bits */
	assert_int_equal(arm64_icc_apr_count(5u << 8), 2);  /* 6 bits */
	assert_int_equal(arm64_icc_apr_count(6u << 8), 4);  /* 7 bits */
	assert_int_equal(arm64_icc_apr_count(7u << 8), 4);  /* never more than the 4 there are */
	assert_int_equal(arm64_icc_apr_count((4u << 8) | (1u << 11) | 0x3), 1); /* IDbits, EOImode, CBPR */
	assert_int_equal(arm64_icc_apr_count((6u << 8) | (1u << 14)), 4);
}

static void nr_irqs_from_typer(void **state)
{
	(void)state;
	assert_int_equal(arm64_gicd_nr_irqs(3), 128);
	assert_int_equal(arm64_gicd_nr_irqs(0), 32);
	assert_int_equal(arm64_gicd_nr_irqs(0x1f), ARM64_GIC_MAX_IRQS);
	assert_int_equal(arm64_gicd_nr_irqs((9u << 19) | 3), 128); /* IDbits */
	assert_int_equal(arm64_gicd_nr_irqs((1u << 17) | 3), 128); /* LPIS */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_come_from_the_id),
		cmocka_unit_test(record_round_trips_in_order),
		cmocka_unit_test(malformed_records_refused),
		cmocka_unit_test(names_say_which_register),
		cmocka_unit_test(vgic_attr_carries_the_affinity),
		cmocka_unit_test(apr_count_follows_priority_bits),
		cmocka_unit_test(nr_irqs_from_typer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
