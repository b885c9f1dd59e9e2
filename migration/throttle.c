// SPDX-License-Identifier: GPL-2.0-only
/*
 * The auto-converge throttle's thread: the schedule of the kicks. The kick
 * itself and the sleep it asks for belong to the vCPUs (vmm/vcpu.c) and the
 * run state (vmm/runstate.c).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vmm/log.h"
#include "vmm/runstate.h"
#include "vmm/sandbox.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "migration/throttle.h"

static uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* One kick per period, on a fixed schedule; a period missed (the thread
 * was late) is skipped rather than made up with a burst of kicks. */
static void *throttle_thread(void *arg)
{
	const uint64_t period_ns = THROTTLE_PERIOD_MS * 1000000ull;
	struct throttle *t = arg;
	struct timespec next = runstate_deadline(0), now;

	if (sandbox_enter(SANDBOX_THROTTLE) < 0)
		return NULL;
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		uint64_t due = timespec_ns(&next) + period_ns;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (due < timespec_ns(&now))
			due = timespec_ns(&now) + period_ns;
		next.tv_sec = (time_t)(due / 1000000000u);
		next.tv_nsec = (long)(due % 1000000000u);
		if (t->pct && !runstate_requested(&t->vm->rs, RUNSTATE_PAUSE))
			vcpus_throttle_kick(t->vm, (uint32_t)(t->pct * THROTTLE_PERIOD_MS * 10));
		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int throttle_init(struct throttle *t, struct vm *vm)
{
	*t = (struct throttle){ .vm = vm };
	return monotonic_cond_init(&t->lock, &t->cond);
}

int throttle_set(struct throttle *t, unsigned int pct)
{
	int ret = 0;

	if (pct > THROTTLE_MAX)
		pct = THROTTLE_MAX;
	pthread_mutex_lock(&t->lock);
	t->pct = pct;
	if (pct && !t->thread_started) {
		ret = pthread_create(&t->thread, NULL, throttle_thread, t);
		t->thread_started = !ret;
		if (ret)
			t->pct = 0;
	}
	pthread_mutex_unlock(&t->lock);
	if (ret)
		pr_err("cannot start the vCPU throttle thread: %s", strerror(ret));
	return -ret;
}

unsigned int throttle_get(struct throttle *t)
{
	unsigned int pct;

	pthread_mutex_lock(&t->lock);
	pct = t->pct;
	pthread_mutex_unlock(&t->lock);
	return pct;
}

void throttle_stop(struct throttle *t)
{
	pthread_mutex_lock(&t->lock);
	t->pct = 0;
	t->stop = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (t->thread_started)
		pthread_join(t->thread, NULL);
	t->thread_started = false;
	t->stop = false;
	/* A sleep already handed out is left to the vCPU: its kick's
	 * immediate_exit is cleared only by taking it. It ends within a period. */
}

void throttle_destroy(struct throttle *t)
{
	throttle_stop(t);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}
