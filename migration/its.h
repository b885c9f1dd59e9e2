/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_ITS_H
#define TERN_ITS_H

#include <stddef.h>
#include <stdint.h>

struct state_writer;
struct state_reader;

/* GITS register offsets (Arm IHI 0069, 12.19) KVM accepts through
 * KVM_DEV_ARM_VGIC_GRP_ITS_REGS. */
#define GITS_CTLR		0x0000
#define GITS_IIDR		0x0004
#define GITS_CBASER		0x0080
#define GITS_CWRITER		0x0088
#define GITS_CREADR		0x0090
#define GITS_BASER(n)		(0x0100 + 8 * (n))
#define GITS_NR_BASER		8

#define GITS_CTLR_ENABLED	(1ULL << 0)
#define GITS_CTLR_QUIESCENT	(1ULL << 31)
#define GITS_CREADR_STALLED	(1ULL << 0)
/* The command queue offset field of CREADR and CWRITER: bits [19:5]. */
#define GITS_CMDQ_OFFSET_MASK	0xfffe0ULL

/* Everything userspace holds of an ITS; its tables live in guest RAM. */
struct its_state {
	uint64_t iidr;
	uint64_t cbaser;
	uint64_t creadr;
	uint64_t cwriter;
	uint64_t baser[GITS_NR_BASER];
	uint64_t ctlr;
};

/*
 * How its_save/its_restore reach the ITS: KVM device attributes in tern,
 * a recorder in the unit tests. Each returns 0 or -errno.
 */
struct its_ops {
	int (*get_reg)(void *ctx, uint32_t offset, uint64_t *val);
	int (*set_reg)(void *ctx, uint32_t offset, uint64_t val);
	int (*save_tables)(void *ctx);		/* KVM_DEV_ARM_ITS_SAVE_TABLES */
	int (*restore_tables)(void *ctx);	/* KVM_DEV_ARM_ITS_RESTORE_TABLES */
	void *ctx;
};

/*
 * Saves a quiescent ITS: with every vCPU out of KVM_RUN, checks that the
 * command queue is drained (CREADR == CWRITER, not stalled), has KVM write
 * its tables into guest RAM, then reads the registers. -EAGAIN when commands
 * are pending (the caller may let the guest run and retry); never a state
 * that would replay commands. Other failures -errno. @err gets the reason.
 */
int its_save(const struct its_ops *ops, struct its_state *st, char *err, size_t errlen);

/*
 * Applies a whole ITS state in the order Documentation/virt/kvm/devices/
 * arm-vgic-its.rst requires, after guest RAM and the redistributors are
 * restored and the ITS's base address is set: IIDR, CBASER, CREADR, CWRITER,
 * BASER[0..7], RESTORE_TABLES, CTLR last. Refuses (-EINVAL) a state whose
 * command queue is not drained: writing it would make KVM execute commands
 * the source already executed. Stops at the first failure.
 */
int its_restore(const struct its_ops *ops, const struct its_state *st, char *err,
		size_t errlen);

/* Why @st could not be the state of a quiescent ITS, or NULL. */
const char *its_state_check(const struct its_state *st);

void its_state_encode(const struct its_state *st, struct state_writer *w);
/* -EBADMSG for a truncated or non-quiescent state (message in r->msg). */
int its_state_decode(struct its_state *st, struct state_reader *r);

#endif
