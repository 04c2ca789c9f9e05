/*
 * One aarch64 vCPU's complete state as snapshot records: every register
 * KVM_GET_REG_LIST names (core and FP/SIMD registers, system registers, the
 * timer's, KVM's firmware pseudo-registers), stored as (id, value) pairs in
 * the order KVM listed them; the MP state (whether PSCI has the vCPU powered
 * off); and pending SError events. Saved from a parked vCPU, restored into a
 * fresh one that KVM_ARM_VCPU_INIT set up with the same features and that
 * never ran.
 */
#ifndef AGENTVM_ARCH_AARCH64_VCPU_STATE_H
#define AGENTVM_ARCH_AARCH64_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

struct snapshot_state;
struct snapshot_writer;

/* The widest register KVM has: an SVE Z-register, KVM_REG_SIZE_U2048. */
#define ARM64_REG_MAX_BYTES 256
/* KVM lists several hundred registers; more than this is not a list we understand. */
#define ARM64_REGS_LIMIT 4096

/* ---- The register record (SNAP_ARM64_REGS), pure encode/decode ----
 *
 * Entries back to back: the register's 64-bit KVM id, then its value as
 * KVM_GET_ONE_REG returned it (KVM_REG_SIZE(id) bytes), then zero padding to
 * a multiple of 8. Host-endian, as every payload.
 */

/* Bytes of a register's value, from its id; 0 for an id that is not arm64's or is wider than ARM64_REG_MAX_BYTES. */
size_t arm64_reg_bytes(uint64_t id);

/* Bytes one entry of id takes in the record: 8 + its value rounded up to 8. */
size_t arm64_reg_entry_bytes(uint64_t id);

/*
 * The entry at *pos of a record of len bytes, and move *pos past it: 1 and
 * *id and *value (arm64_reg_bytes(*id) bytes, pointing into rec), or 0 at the
 * end. -EBADMSG, with no message, for an entry that runs past the end, an id
 * arm64_reg_bytes() refuses, or padding that is not zero.
 */
int arm64_reg_next(const uint8_t *rec, uint64_t len, uint64_t *pos, uint64_t *id,
		   const uint8_t **value);

/* The value of register id in a record: 0, -ENOENT, or -EBADMSG (malformed); no message. */
int arm64_reg_find(const uint8_t *rec, uint64_t len, uint64_t id, const uint8_t **value);

/*
 * A register's name for messages: the architectural name of the few that
 * restores are likely to trip on (MIDR_EL1, the ID registers, the timer's),
 * else the generic spelling of its kind ("S3_0_C1_C0_0", "x7", "PSCI
 * firmware register 1", ...).
 */
void arm64_reg_name(uint64_t id, char *buf, size_t size);

/* ---- KVM ---- */

/* The vCPU's MPIDR_EL1, whose affinity fields name its redistributor to the VGIC. */
int arm64_vcpu_read_mpidr(int vcpu_fd, unsigned int index, uint64_t *mpidr);

/* Get or set one 64-bit register (a KVM_REG_SIZE_U64 id) of a vCPU; `index` is for messages. */
int arm64_vcpu_get_reg64(int vcpu_fd, unsigned int index, uint64_t id, uint64_t *value);
int arm64_vcpu_set_reg64(int vcpu_fd, unsigned int index, uint64_t id, uint64_t value);

/* The records of vCPU `index`: SNAP_ARM64_REGS, SNAP_ARM64_MP_STATE, SNAP_ARM64_EVENTS. */
int arm64_vcpu_state_save(int vcpu_fd, unsigned int index, struct snapshot_writer *w);

/*
 * Load vCPU `index`'s records into a vCPU that never ran: the registers in
 * the order KVM listed them except the counters (KVM_REG_ARM_TIMER_CNT,
 * KVM_REG_ARM_PTIMER_CNT), which go last; then the MP state, then pending
 * events. Refuses (-EBADMSG) a snapshot that gives the vCPU another MPIDR than
 * KVM did, since the VGIC's state is keyed by it.
 */
int arm64_vcpu_state_restore(int vcpu_fd, unsigned int index, const struct snapshot_state *s);

#endif
