// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VM's run state (runstate.h). Every predicate a waiter checks is
 * either changed under rs->lock or, for the stop reason and the requests
 * (read lock-free on the vCPU's hot path), changed before a broadcast made
 * under rs->lock: a waiter that checked and found nothing is inside
 * pthread_cond_wait before the change's broadcast, so no wake-up is lost.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "runstate.h"

int monotonic_cond_init(pthread_mutex_t *lock, pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_condattr_init(&attr);
	if (!ret)
		ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!ret)
		ret = pthread_mutex_init(lock, NULL);
	return -ret;
}

int runstate_init(struct runstate *rs)
{
	int ret;

	*rs = (struct runstate){ .stop_efd = -1 };
	ret = monotonic_cond_init(&rs->lock, &rs->cond);
	if (ret)
		return ret;
	/* Non-blocking: runstate_clear_stop drains it without waiting. */
	rs->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return rs->stop_efd < 0 ? -errno : 0;
}

void runstate_destroy(struct runstate *rs)
{
	if (rs->stop_efd >= 0)
		close(rs->stop_efd);
	rs->stop_efd = -1;
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->lock);
}

/* Wakes every waiter to look at the state again. */
static void wake_all(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

struct timespec runstate_deadline(uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	return ts;
}

/* ---- stop ---- */

bool runstate_request_stop(struct runstate *rs, enum vm_stop_reason reason, int arg)
{
	uint64_t one = 1;
	bool first;

	/* Every writer of the reason holds the lock, so the first one here
	 * wins; stop_arg is set before the reason is published. */
	pthread_mutex_lock(&rs->lock);
	first = runstate_running(rs);
	if (first) {
		rs->stop_arg = arg;
		atomic_store(&rs->stop_reason, (int)reason);
	}
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	if (first && write(rs->stop_efd, &one, sizeof(one)) < 0)
		pr_warn("cannot signal the VM stop: %m");
	return first;
}

int runstate_stop_arg(struct runstate *rs)
{
	int arg;

	pthread_mutex_lock(&rs->lock);
	arg = rs->stop_arg;
	pthread_mutex_unlock(&rs->lock);
	return arg;
}

void runstate_clear_stop(struct runstate *rs)
{
	uint64_t n;

	/* Drained, or the main loop's poll would see the old stop at once
	 * and spin. */
	while (read(rs->stop_efd, &n, sizeof(n)) == sizeof(n))
		;
	pthread_mutex_lock(&rs->lock);
	rs->stop_arg = 0;
	atomic_store(&rs->stop_reason, VM_RUNNING);
	pthread_mutex_unlock(&rs->lock);
}

/* ---- pause and hold ---- */

void runstate_request(struct runstate *rs, unsigned int what)
{
	atomic_fetch_or(&rs->requests, what);
	/* A throttle sleeper (and, for a pause, a ring-full waiter) goes to
	 * park at once. */
	wake_all(rs);
}

void runstate_withdraw(struct runstate *rs, unsigned int what, void (*let_go)(void *arg),
		       void *arg)
{
	pthread_mutex_lock(&rs->lock);
	if (!(atomic_fetch_and(&rs->requests, ~what) & ~what) && let_go)
		let_go(arg);
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

/* ---- the vCPU side ---- */

void runstate_vcpu_enter(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->alive++;
	pthread_mutex_unlock(&rs->lock);
}

void runstate_vcpu_exit(struct runstate *rs)
{
	/* A pause waiting for this vCPU to park must not wait for ever. */
	pthread_mutex_lock(&rs->lock);
	rs->alive--;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

static bool should_park(struct runstate *rs)
{
	return atomic_load(&rs->requests) != 0 && runstate_running(rs);
}

void runstate_park(struct runstate *rs, bool *parked)
{
	pthread_mutex_lock(&rs->lock);
	rs->parked++;
	*parked = true;
	pthread_cond_broadcast(&rs->cond);
	while (should_park(rs))
		pthread_cond_wait(&rs->cond, &rs->lock);
	*parked = false;
	rs->parked--;
	pthread_mutex_unlock(&rs->lock);
}

void runstate_throttle_sleep(struct runstate *rs, uint64_t ns)
{
	struct timespec until = runstate_deadline(ns);

	pthread_mutex_lock(&rs->lock);
	while (!atomic_load(&rs->requests) && runstate_running(rs) &&
	       pthread_cond_timedwait(&rs->cond, &rs->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&rs->lock);
}

void runstate_wait_harvest(struct runstate *rs)
{
	uint64_t seen;

	pthread_mutex_lock(&rs->lock);
	seen = rs->harvests;
	rs->ring_waiters++;
	/* A pause must not wait for a harvest that the pausing thread (the
	 * migration thread, in its final stage) would do only after it. */
	while (rs->harvests == seen && rs->harvesting && runstate_running(rs) &&
	       !runstate_requested(rs, RUNSTATE_PAUSE))
		pthread_cond_wait(&rs->cond, &rs->lock);
	rs->ring_waiters--;
	pthread_mutex_unlock(&rs->lock);
}

/* ---- the controller side ---- */

int runstate_wait_parked(struct runstate *rs, unsigned int timeout_ms,
			 void (*on_timeout)(void *arg, unsigned int parked, unsigned int alive),
			 void *arg)
{
	struct timespec deadline = runstate_deadline((uint64_t)timeout_ms * 1000000u);
	int ret = 0;

	pthread_mutex_lock(&rs->lock);
	/* One sleeping for a throttle goes at once. */
	pthread_cond_broadcast(&rs->cond);
	while (!ret && rs->parked < rs->alive)
		ret = pthread_cond_timedwait(&rs->cond, &rs->lock, &deadline);
	ret = rs->parked < rs->alive ? -ETIMEDOUT : 0;
	if (ret && on_timeout)
		on_timeout(arg, rs->parked, rs->alive);
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

unsigned int runstate_parked(struct runstate *rs)
{
	unsigned int n;

	pthread_mutex_lock(&rs->lock);
	n = rs->parked;
	pthread_mutex_unlock(&rs->lock);
	return n;
}

/* ---- the harvester side ---- */

void runstate_set_harvesting(struct runstate *rs, bool on)
{
	pthread_mutex_lock(&rs->lock);
	rs->harvesting = on;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

void runstate_harvested(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->harvests++;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

bool runstate_ring_waiters(struct runstate *rs)
{
	bool waiting;

	pthread_mutex_lock(&rs->lock);
	waiting = rs->ring_waiters > 0;
	pthread_mutex_unlock(&rs->lock);
	return waiting;
}
