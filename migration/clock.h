/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CLOCK_H
#define TERN_CLOCK_H

#include <stdbool.h>

struct vm;
struct state_writer;
struct state_reader;

/* The guest's counter (vCPU 0's CNTVCT) and the wall clock, at save. */
int clock_save(struct vm *vm, struct state_writer *w);

/*
 * Sets the guest's counter before any vCPU has run: from where it stopped
 * (@catch_up false), or advanced by the wall-clock time since the save.
 * With KVM_CAP_COUNTER_OFFSET this is one VM-wide offset and later CNT
 * register writes are ignored; without it, tern writes each vCPU's CNT
 * register after its other registers (vcpu_state_load) and says so.
 */
int clock_restore(struct vm *vm, struct state_reader *r, bool catch_up);

/* Without KVM_CAP_COUNTER_OFFSET: the CNT writes, after the vCPU registers. */
int clock_restore_fallback(struct vm *vm);

#endif
