// SPDX-License-Identifier: GPL-2.0-only
/*
 * ITS state for snapshots and migration. The order of the calls is the
 * whole point: Documentation/virt/kvm/devices/arm-vgic-its.rst, "ITS Restore
 * Sequence". A write of CWRITER, or of CTLR
 * with Enabled, makes KVM process the commands between CREADR and CWRITER,
 * so a state with commands pending would have the destination replay them
 * on queue memory the guest may since have reused.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "migration/its.h"
#include "migration/state.h"

static int its_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int its_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

const char *its_state_check(const struct its_state *st)
{
	if (st->creadr & GITS_CREADR_STALLED)
		return "its command queue is stalled (GITS_CREADR.Stalled)";
	if ((st->creadr & GITS_CMDQ_OFFSET_MASK) != (st->cwriter & GITS_CMDQ_OFFSET_MASK))
		return "its command queue is not drained (GITS_CREADR != GITS_CWRITER)";
	return NULL;
}

static int get(const struct its_ops *ops, uint32_t off, uint64_t *val, const char *name,
	       char *err, size_t errlen)
{
	int ret = ops->get_reg(ops->ctx, off, val);

	if (ret < 0)
		return its_fail(err, errlen, ret, "reading ITS %s: %s", name, strerror(-ret));
	return 0;
}

int its_save(const struct its_ops *ops, struct its_state *st, char *err, size_t errlen)
{
	const char *why;
	int ret;

	/* Drained queue first: SAVE_TABLES of a busy ITS would capture a
	 * half-executed command stream. */
	ret = get(ops, GITS_CREADR, &st->creadr, "GITS_CREADR", err, errlen);
	if (!ret)
		ret = get(ops, GITS_CWRITER, &st->cwriter, "GITS_CWRITER", err, errlen);
	if (ret)
		return ret;
	why = its_state_check(st);
	if (why)
		return its_fail(err, errlen, -EAGAIN, "%s: CREADR %#llx, CWRITER %#llx", why,
				(unsigned long long)st->creadr, (unsigned long long)st->cwriter);

	ret = ops->save_tables(ops->ctx);
	if (ret < 0)
		return its_fail(err, errlen, ret, "KVM_DEV_ARM_ITS_SAVE_TABLES: %s", strerror(-ret));

	ret = get(ops, GITS_IIDR, &st->iidr, "GITS_IIDR", err, errlen);
	if (!ret)
		ret = get(ops, GITS_CBASER, &st->cbaser, "GITS_CBASER", err, errlen);
	for (unsigned int i = 0; !ret && i < GITS_NR_BASER; i++)
		ret = get(ops, GITS_BASER(i), &st->baser[i], "GITS_BASER", err, errlen);
	if (!ret)
		ret = get(ops, GITS_CTLR, &st->ctlr, "GITS_CTLR", err, errlen);
	return ret;
}

static int set(const struct its_ops *ops, uint32_t off, uint64_t val, const char *name,
	       char *err, size_t errlen)
{
	int ret = ops->set_reg(ops->ctx, off, val);

	if (ret < 0)
		return its_fail(err, errlen, ret, "restoring ITS %s = %#llx: %s", name,
				(unsigned long long)val, strerror(-ret));
	return 0;
}

int its_restore(const struct its_ops *ops, const struct its_state *st, char *err,
		size_t errlen)
{
	const char *why = its_state_check(st);
	int ret;

	if (why)
		return its_fail(err, errlen, -EINVAL, "refusing the ITS state: %s", why);

	/* IIDR selects the table ABI RESTORE_TABLES will parse. */
	ret = set(ops, GITS_IIDR, st->iidr, "GITS_IIDR", err, errlen);
	/* CBASER before CREADR: writing CBASER resets CREADR to 0. */
	if (!ret)
		ret = set(ops, GITS_CBASER, st->cbaser, "GITS_CBASER", err, errlen);
	/* CREADR only while the ITS is disabled, which it is until CTLR. */
	if (!ret)
		ret = set(ops, GITS_CREADR, st->creadr, "GITS_CREADR", err, errlen);
	if (!ret)
		ret = set(ops, GITS_CWRITER, st->cwriter, "GITS_CWRITER", err, errlen);
	for (unsigned int i = 0; !ret && i < GITS_NR_BASER; i++)
		ret = set(ops, GITS_BASER(i), st->baser[i], "GITS_BASER", err, errlen);
	if (ret)
		return ret;
	/* The tables are read from guest RAM at the BASER addresses just set. */
	ret = ops->restore_tables(ops->ctx);
	if (ret < 0)
		return its_fail(err, errlen, ret, "KVM_DEV_ARM_ITS_RESTORE_TABLES: %s",
				strerror(-ret));
	/* Enabling last: from here on the ITS translates MSIs. */
	return set(ops, GITS_CTLR, st->ctlr, "GITS_CTLR", err, errlen);
}

void its_state_encode(const struct its_state *st, struct state_writer *w)
{
	sw_u64(w, st->iidr);
	sw_u64(w, st->cbaser);
	sw_u64(w, st->creadr);
	sw_u64(w, st->cwriter);
	for (unsigned int i = 0; i < GITS_NR_BASER; i++)
		sw_u64(w, st->baser[i]);
	sw_u64(w, st->ctlr);
}

int its_state_decode(struct its_state *st, struct state_reader *r)
{
	const char *why;

	st->iidr = sr_u64(r);
	st->cbaser = sr_u64(r);
	st->creadr = sr_u64(r);
	st->cwriter = sr_u64(r);
	for (unsigned int i = 0; i < GITS_NR_BASER; i++)
		st->baser[i] = sr_u64(r);
	st->ctlr = sr_u64(r);
	if (sr_finish(r))
		return r->err;
	why = its_state_check(st);
	if (why)
		return sr_fail(r, "%s: CREADR %#llx, CWRITER %#llx", why,
			       (unsigned long long)st->creadr, (unsigned long long)st->cwriter);
	return 0;
}
