/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_THROTTLE_H
#define TERN_THROTTLE_H

#include <pthread.h>
#include <stdbool.h>

struct vm;

/*
 * Throttling (live migration's auto-converge): every THROTTLE_PERIOD_MS a
 * thread kicks each vCPU out of KVM_RUN (vcpus_throttle_kick), and the vCPU
 * then sleeps pct % of the period before it enters again, so it runs
 * (100 - pct) % of the time. The sleep ends at once when the VM is paused
 * or stopped (it waits on the run state, vmm/runstate.h), so neither waits
 * for a throttle. Owned by the migration; the thread starts with the first
 * non-zero percentage.
 */
#define THROTTLE_PERIOD_MS	10
#define THROTTLE_MAX		99

struct throttle {
	struct vm *vm;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC: the period, stop */
	unsigned int pct;		/* under lock; 0: no throttle */
	bool stop;			/* under lock */
};

/* Throttle off, no thread yet. -errno. */
int throttle_init(struct throttle *t, struct vm *vm);
/* vCPUs lose @pct % (at most THROTTLE_MAX) of their run time from the
 * next period on; 0 lets them run freely. -errno if the thread cannot start. */
int throttle_set(struct throttle *t, unsigned int pct);
unsigned int throttle_get(struct throttle *t);
/* Throttle off, the thread joined: the vCPUs run freely once they are out
 * of a sleep (within one period). throttle_set() may start it again. */
void throttle_stop(struct throttle *t);
/* Stop, and the end of @t. */
void throttle_destroy(struct throttle *t);

#endif
