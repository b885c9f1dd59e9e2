/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_GIC_STATE_H
#define TERN_GIC_STATE_H

#include <stddef.h>

struct vm;
struct state_writer;
struct state_reader;

/*
 * vGICv3 and ITS state. All of it needs every vCPU out of KVM_RUN (KVM
 * answers EBUSY otherwise) and a finalised vGIC.
 *
 * Saving is two steps because the first writes guest RAM, which must then
 * be saved after it: gic_save_tables has KVM write LPI pending bits
 * (SAVE_PENDING_TABLES) and the ITS tables (its_save) into RAM; the
 * register sections follow.
 */
int gic_save_tables(struct vm *vm, struct state_writer *its_out, char *err, size_t errlen);
int gic_state_save(struct vm *vm, struct state_writer *w);

/*
 * Restores the distributor, redistributors and CPU interfaces in one fixed
 * order, the same list the save walked: GICD_IIDR first (it picks KVM's
 * behaviour for the rest), each GICR_CTLR last (enabling LPIs reads the
 * pending table PENDBASER points at). Then gic_its_restore (migration/its.h
 * order), after which the MSI routes may be set up.
 */
int gic_state_restore(struct vm *vm, struct state_reader *r);
int gic_its_restore(struct vm *vm, struct state_reader *r);

#endif
