/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_RUNSTATE_H
#define TERN_RUNSTATE_H

/*
 * The VM's run state: why it stops (and the eventfd the main loop polls
 * for it), the pause and hold requests, how many vCPU threads are alive and
 * how many of them are parked, and the dirty-ring-full wait. One mutex and
 * one condition variable (CLOCK_MONOTONIC) cover all of it, so every wait a
 * vCPU makes outside KVM_RUN (parked, throttled, its dirty ring full) ends
 * on any change a controller makes: a stop, a pause, a resume, a harvest.
 *
 * No KVM here: the callers kick vCPUs out of KVM_RUN (vcpu.c) after a
 * request, and this file only says who waits for what. Unit-tested with
 * real threads (tests/unit/test_runstate.c).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Why the VM stopped; decided once, by whoever stops it first. */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,	/* PSCI SYSTEM_OFF */
	VM_STOP_RESET,		/* PSCI SYSTEM_RESET */
	VM_STOP_CRASH,		/* the guest reported a crash */
	VM_STOP_SIGNAL,		/* SIGINT/SIGTERM: the stop's arg is the signal */
	VM_STOP_QUIT,		/* console escape Ctrl-A x */
	VM_STOP_ERROR,		/* tern or KVM failed; already reported */
	VM_STOP_MEMORY_FAULT,	/* a guest memory fault tern cannot resolve; reported */
	VM_STOP_MIGRATED,	/* the guest now runs at a migration's destination */
};

/* What keeps vCPUs out of KVM_RUN; both may be requested at once. */
enum runstate_request {
	RUNSTATE_PAUSE = 1u << 0,	/* vm_pause: vCPUs and devices stop */
	RUNSTATE_HOLD = 1u << 1,	/* vcpus_hold: vCPUs park, devices run on */
};

struct runstate {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC; any change below */
	_Atomic int stop_reason;	/* enum vm_stop_reason */
	int stop_arg;			/* set once, with stop_reason */
	int stop_efd;			/* readable once stop_reason is set */
	_Atomic unsigned int requests;	/* enum runstate_request bits */
	unsigned int alive;		/* under lock: vCPU threads in their loop */
	unsigned int parked;		/* under lock: of those, parked */
	bool harvesting;		/* under lock: a harvester recycles full rings */
	unsigned int ring_waiters;	/* under lock: vCPUs waiting for it */
	uint64_t harvests;		/* under lock: rings recycled so far */
};

/* Mutex, condition and stop eventfd; running, nothing requested. -errno. */
int runstate_init(struct runstate *rs);
void runstate_destroy(struct runstate *rs);

/* ---- stop ---- */

/*
 * Records why the VM stops (the first caller wins: true), makes the stop
 * eventfd readable and wakes every waiter. Any thread. Does not kick vCPUs
 * out of KVM_RUN: a vCPU thread's stop reaches the main loop through the
 * eventfd, and the main loop kicks the others.
 */
bool runstate_request_stop(struct runstate *rs, enum vm_stop_reason reason, int arg);

static inline enum vm_stop_reason runstate_stop_reason(struct runstate *rs)
{
	return (enum vm_stop_reason)atomic_load(&rs->stop_reason);
}

static inline bool runstate_running(struct runstate *rs)
{
	return runstate_stop_reason(rs) == VM_RUNNING;
}

/* The stop's argument (the signal of VM_STOP_SIGNAL). After a stop. */
int runstate_stop_arg(struct runstate *rs);

/* Running again (a guest reset), the eventfd drained. Main thread, no
 * vCPU thread alive. */
void runstate_clear_stop(struct runstate *rs);

/* ---- pause and hold ---- */

/* Adds @what to the requests (seq_cst: a vCPU that checks after its next
 * KVM_RUN returns sees it) and wakes the waiters, so that a throttle
 * sleeper (and, for a pause, a ring-full waiter) goes to park. The caller
 * then kicks the vCPUs that are in KVM_RUN. */
void runstate_request(struct runstate *rs, unsigned int what);

/*
 * Withdraws @what. When no request is left, @let_go(@arg) runs under the
 * lock before the parked are woken (vcpu.c clears immediate_exit there, so
 * that their next KVM_RUN enters the guest); @let_go may be NULL.
 */
void runstate_withdraw(struct runstate *rs, unsigned int what, void (*let_go)(void *arg),
		       void *arg);

static inline bool runstate_requested(struct runstate *rs, unsigned int what)
{
	return (atomic_load(&rs->requests) & what) != 0;
}

/* ---- the vCPU side ---- */

/* A vCPU thread entered its run loop, or left it (for good). */
void runstate_vcpu_enter(struct runstate *rs);
void runstate_vcpu_exit(struct runstate *rs);

/* Parks while a pause or hold is requested and the VM runs. *@parked is
 * true while parked (under the lock: runstate_wait_parked's on_timeout reads it). */
void runstate_park(struct runstate *rs, bool *parked);

/* Sleeps @ns at most (a throttle's share), less if a pause or hold is
 * requested or the VM stops meanwhile. */
void runstate_throttle_sleep(struct runstate *rs, uint64_t ns);

/*
 * The dirty ring is full: waits until the harvester has recycled the
 * rings once more, harvesting ends, a pause is requested or the VM stops.
 * Not for a hold: a held vCPU parks at its next exit anyway.
 */
void runstate_wait_harvest(struct runstate *rs);

/* ---- the controller side ---- */

/*
 * Waits until every live vCPU is parked, at most @timeout_ms. On a timeout
 * @on_timeout(@arg, parked, alive) runs under the lock (to name the vCPUs that
 * did not park) and -ETIMEDOUT is returned. Wakes throttle sleepers first.
 */
int runstate_wait_parked(struct runstate *rs, unsigned int timeout_ms,
			 void (*on_timeout)(void *arg, unsigned int parked, unsigned int alive),
			 void *arg);

/* vCPUs parked now (by a pause or a hold). */
unsigned int runstate_parked(struct runstate *rs);

/* ---- the harvester side ---- */

/* A harvester runs (dirty logging on) or no longer does: a full ring is
 * worth waiting for only while it runs. */
void runstate_set_harvesting(struct runstate *rs, bool on);
/* The rings were recycled (after KVM_RESET_DIRTY_RINGS): wakes the waiters. */
void runstate_harvested(struct runstate *rs);
/* True while a vCPU waits for a harvest. */
bool runstate_ring_waiters(struct runstate *rs);

/* A CLOCK_MONOTONIC deadline @ns from now. */
struct timespec runstate_deadline(uint64_t ns);
/* @lock, and @cond timed on CLOCK_MONOTONIC (runstate_deadline's clock,
 * which wall-clock steps do not move). -errno. */
int monotonic_cond_init(pthread_mutex_t *lock, pthread_cond_t *cond);

#endif
