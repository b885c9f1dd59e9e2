// SPDX-License-Identifier: GPL-2.0-only
/*
 * The run-state protocol (vmm/runstate.c) with real threads: fake vCPUs run
 * a loop shaped like vcpu.c's (a "KVM_RUN" that a kick interrupts, then a
 * park while a pause or hold is requested), and the test plays the
 * controller, the harvester and the stopping thread. Every wait is bounded:
 * a broken protocol fails an assertion instead of hanging the test.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/runstate.h"

#define NR_VCPUS	4
#define BOUND_MS	5000	/* anything that should happen does within this */
#define QUIET_MS	50	/* anything that should not happen does not within this */

enum fake_mode {
	FAKE_RUN,		/* the run loop */
	FAKE_STUCK,		/* ignores kicks: a vCPU stuck in a device or in KVM */
	FAKE_RING_FULL,		/* one ring-full wait, then returns */
};

struct fake_vcpu {
	struct runstate *rs;
	enum fake_mode mode;
	pthread_t thread;
	_Atomic bool kicked;		/* immediate_exit + the signal */
	_Atomic uint64_t runs;		/* "guest" progress */
	_Atomic bool done;		/* the thread has left */
	bool started, joined;
	bool parked;			/* runstate's, under its lock */
};

struct fixture {
	struct runstate rs;
	struct fake_vcpu vcpus[NR_VCPUS];
	_Atomic unsigned int let_go_calls;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Polls @cond every millisecond for at most BOUND_MS. */
#define wait_for(cond) ({						\
	uint64_t _end = now_ms() + BOUND_MS;				\
	while (!(cond) && now_ms() < _end)				\
		sleep_ms(1);						\
	(cond);								\
})

static void *fake_vcpu_thread(void *arg)
{
	struct fake_vcpu *v = arg;

	if (v->mode == FAKE_RING_FULL) {
		runstate_wait_harvest(v->rs);
	} else {
		while (runstate_running(v->rs)) {
			/* "KVM_RUN": returns EINTR when kicked, else runs a while. */
			if (v->mode == FAKE_RUN && atomic_exchange(&v->kicked, false)) {
				if (runstate_requested(v->rs, RUNSTATE_PAUSE | RUNSTATE_HOLD))
					runstate_park(v->rs, &v->parked);
				continue;
			}
			atomic_fetch_add(&v->runs, 1);
			usleep(100);
		}
		runstate_vcpu_exit(v->rs);
	}
	atomic_store(&v->done, true);
	return NULL;
}

static void start_vcpu(struct fixture *f, unsigned int i, enum fake_mode mode)
{
	struct fake_vcpu *v = &f->vcpus[i];

	assert_false(v->started && !v->joined);
	*v = (struct fake_vcpu){ .rs = &f->rs, .mode = mode };
	if (mode != FAKE_RING_FULL)
		runstate_vcpu_enter(&f->rs);
	assert_int_equal(pthread_create(&v->thread, NULL, fake_vcpu_thread, v), 0);
	v->started = true;
}

static void kick_all(struct fixture *f)
{
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		atomic_store(&f->vcpus[i].kicked, true);
}

static void let_go(void *arg)
{
	struct fixture *f = arg;

	atomic_fetch_add(&f->let_go_calls, 1);
}

static uint64_t total_runs(struct fixture *f)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < NR_VCPUS; i++)
		n += atomic_load(&f->vcpus[i].runs);
	return n;
}

/* Joins a fake vCPU if it leaves within BOUND_MS. 0 or ETIMEDOUT. */
static int try_join(struct fake_vcpu *v)
{
	struct timespec until;

	if (!v->started || v->joined)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += BOUND_MS / 1000;
	v->joined = !pthread_timedjoin_np(v->thread, NULL, &until);
	return v->joined ? 0 : ETIMEDOUT;
}

/* Joins a fake vCPU, failing if it has not left within BOUND_MS. */
static void join_vcpu(struct fake_vcpu *v)
{
	assert_int_equal(try_join(v), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || runstate_init(&f->rs) < 0)
		return -1;
	*state = f;
	return 0;
}

/* After a failed test too: a stop lets every fake vCPU go. One that still
 * does not leave keeps the run state (destroying a condition variable with
 * a waiter blocks): the test has failed already. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	bool all = true;

	runstate_request_stop(&f->rs, VM_STOP_QUIT, 0);
	kick_all(f);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		all = !try_join(&f->vcpus[i]) && all;
	if (!all)
		return -1;
	runstate_destroy(&f->rs);
	free(f);
	return 0;
}

static void stop_and_join(struct fixture *f, unsigned int n)
{
	runstate_request_stop(&f->rs, VM_STOP_QUIT, 0);
	kick_all(f);
	for (unsigned int i = 0; i < n; i++)
		join_vcpu(&f->vcpus[i]);
}

/* Pause while the vCPUs run: all park, none makes progress, the resume
 * lets them go and they run again. */
static void test_pause_while_running(void **state)
{
	struct fixture *f = *state;
	uint64_t before;

	for (unsigned int i = 0; i < NR_VCPUS; i++)
		start_vcpu(f, i, FAKE_RUN);
	assert_true(wait_for(total_runs(f) >= NR_VCPUS));
	runstate_request(&f->rs, RUNSTATE_PAUSE);
	kick_all(f);
	assert_int_equal(runstate_wait_parked(&f->rs, BOUND_MS, NULL, NULL), 0);
	assert_int_equal(runstate_parked(&f->rs), NR_VCPUS);
	before = total_runs(f);
	sleep_ms(QUIET_MS);
	assert_int_equal(total_runs(f), before);

	runstate_withdraw(&f->rs, RUNSTATE_PAUSE, let_go, f);
	assert_int_equal(atomic_load(&f->let_go_calls), 1);
	assert_true(wait_for(runstate_parked(&f->rs) == 0));
	assert_true(wait_for(total_runs(f) > before + NR_VCPUS));
	stop_and_join(f, NR_VCPUS);
}

/* A hold parks like a pause and is independent of it: the vCPUs go only
 * once neither is requested. */
static void test_hold_and_pause(void **state)
{
	struct fixture *f = *state;

	for (unsigned int i = 0; i < NR_VCPUS; i++)
		start_vcpu(f, i, FAKE_RUN);
	runstate_request(&f->rs, RUNSTATE_HOLD);
	kick_all(f);
	assert_int_equal(runstate_wait_parked(&f->rs, BOUND_MS, NULL, NULL), 0);

	/* A resume (no pause requested) does not release a hold. */
	runstate_withdraw(&f->rs, RUNSTATE_PAUSE, let_go, f);
	assert_int_equal(atomic_load(&f->let_go_calls), 0);
	runstate_request(&f->rs, RUNSTATE_PAUSE);
	runstate_withdraw(&f->rs, RUNSTATE_HOLD, let_go, f);
	assert_int_equal(atomic_load(&f->let_go_calls), 0);
	sleep_ms(QUIET_MS);
	assert_int_equal(runstate_parked(&f->rs), NR_VCPUS);

	runstate_withdraw(&f->rs, RUNSTATE_PAUSE, let_go, f);
	assert_int_equal(atomic_load(&f->let_go_calls), 1);
	assert_true(wait_for(runstate_parked(&f->rs) == 0));
	stop_and_join(f, NR_VCPUS);
}

struct stopper {
	struct fixture *f;
	enum vm_stop_reason reason;
	bool first;
};

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;

	s->first = runstate_request_stop(&s->f->rs, s->reason, (int)s->reason);
	kick_all(s->f);
	return NULL;
}

/* A stop racing a pause: the pause never waits out its timeout (parked
 * vCPUs leave on the stop, and leaving counts), every vCPU thread ends, and
 * of two racing stops exactly one wins, its reason and argument kept. */
static void test_stop_races_pause(void **state)
{
	struct fixture *f = *state;

	for (unsigned int round = 0; round < 50; round++) {
		struct stopper a = { f, VM_STOP_POWEROFF, false }, b = { f, VM_STOP_CRASH, false };
		pthread_t ta, tb;
		uint64_t t0;

		runstate_clear_stop(&f->rs);
		for (unsigned int i = 0; i < NR_VCPUS; i++)
			start_vcpu(f, i, FAKE_RUN);
		runstate_request(&f->rs, RUNSTATE_PAUSE);
		assert_int_equal(pthread_create(&ta, NULL, stop_thread, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, stop_thread, &b), 0);
		kick_all(f);
		t0 = now_ms();
		assert_int_equal(runstate_wait_parked(&f->rs, BOUND_MS, NULL, NULL), 0);
		assert_true(now_ms() - t0 < BOUND_MS);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		for (unsigned int i = 0; i < NR_VCPUS; i++)
			join_vcpu(&f->vcpus[i]);
		assert_true(a.first != b.first);
		assert_int_equal(runstate_stop_reason(&f->rs), a.first ? a.reason : b.reason);
		assert_int_equal(runstate_stop_arg(&f->rs), (int)runstate_stop_reason(&f->rs));
		runstate_withdraw(&f->rs, RUNSTATE_PAUSE, NULL, NULL);
	}
}

static bool stop_fd_readable(struct runstate *rs)
{
	struct pollfd p = { .fd = rs->stop_efd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* The eventfd the main loop polls: readable on a stop, drained by a clear
 * (a guest reset), so that the loop does not see the old stop again. */
static void test_stop_eventfd(void **state)
{
	struct fixture *f = *state;

	assert_false(stop_fd_readable(&f->rs));
	assert_true(runstate_request_stop(&f->rs, VM_STOP_SIGNAL, 15));
	assert_false(runstate_request_stop(&f->rs, VM_STOP_ERROR, 0));
	assert_true(stop_fd_readable(&f->rs));
	assert_int_equal(runstate_stop_reason(&f->rs), VM_STOP_SIGNAL);
	assert_int_equal(runstate_stop_arg(&f->rs), 15);
	runstate_clear_stop(&f->rs);
	assert_false(stop_fd_readable(&f->rs));
	assert_true(runstate_running(&f->rs));
}

static bool vcpu_done(struct fixture *f, unsigned int i)
{
	return atomic_load(&f->vcpus[i].done);
}

/* A full ring waits for the harvester: not released by a harvest that came
 * before it or by a hold, released by the next harvest. */
static void test_ring_full_released_by_harvest(void **state)
{
	struct fixture *f = *state;

	runstate_set_harvesting(&f->rs, true);
	runstate_harvested(&f->rs);
	start_vcpu(f, 0, FAKE_RING_FULL);
	assert_true(wait_for(runstate_ring_waiters(&f->rs)));
	runstate_request(&f->rs, RUNSTATE_HOLD);
	sleep_ms(QUIET_MS);
	assert_false(vcpu_done(f, 0));
	runstate_harvested(&f->rs);
	join_vcpu(&f->vcpus[0]);
	assert_false(runstate_ring_waiters(&f->rs));
}

/* ... and by whatever means no harvest will come: a pause (its thread may
 * be the harvester), the end of harvesting, a stop. Nothing waits when no
 * harvester runs. */
static void test_ring_full_released_otherwise(void **state)
{
	struct fixture *f = *state;

	runstate_set_harvesting(&f->rs, true);
	start_vcpu(f, 0, FAKE_RING_FULL);
	assert_true(wait_for(runstate_ring_waiters(&f->rs)));
	runstate_request(&f->rs, RUNSTATE_PAUSE);
	join_vcpu(&f->vcpus[0]);
	runstate_withdraw(&f->rs, RUNSTATE_PAUSE, NULL, NULL);

	start_vcpu(f, 0, FAKE_RING_FULL);
	assert_true(wait_for(runstate_ring_waiters(&f->rs)));
	runstate_set_harvesting(&f->rs, false);
	join_vcpu(&f->vcpus[0]);

	start_vcpu(f, 0, FAKE_RING_FULL);
	join_vcpu(&f->vcpus[0]);		/* harvesting is off */

	runstate_set_harvesting(&f->rs, true);
	start_vcpu(f, 0, FAKE_RING_FULL);
	assert_true(wait_for(runstate_ring_waiters(&f->rs)));
	runstate_request_stop(&f->rs, VM_STOP_POWEROFF, 0);
	join_vcpu(&f->vcpus[0]);
}

struct report {
	unsigned int calls, parked, alive;
};

static void report_unparked(void *arg, unsigned int parked, unsigned int alive)
{
	struct report *r = arg;

	r->calls++;
	r->parked = parked;
	r->alive = alive;
}

/* A vCPU that never parks fails the pause after its timeout, reported with
 * the counts, and not much later. */
static void test_pause_timeout(void **state)
{
	struct fixture *f = *state;
	struct report r = { 0 };
	uint64_t t0;

	for (unsigned int i = 0; i < NR_VCPUS; i++)
		start_vcpu(f, i, i == 0 ? FAKE_STUCK : FAKE_RUN);
	runstate_request(&f->rs, RUNSTATE_PAUSE);
	kick_all(f);
	t0 = now_ms();
	assert_int_equal(runstate_wait_parked(&f->rs, 200, report_unparked, &r), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 200);
	assert_true(now_ms() - t0 < BOUND_MS);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.alive, NR_VCPUS);
	assert_int_equal(r.parked, NR_VCPUS - 1);
	runstate_withdraw(&f->rs, RUNSTATE_PAUSE, NULL, NULL);
	stop_and_join(f, NR_VCPUS);
}

/* A throttle sleep lasts its time when nothing happens, and ends at once
 * on a pause, so that the pause does not wait for it. */
static void test_throttle_sleep(void **state)
{
	struct fixture *f = *state;
	uint64_t t0 = now_ms();

	runstate_throttle_sleep(&f->rs, 30 * 1000000ull);
	assert_true(now_ms() - t0 >= 30);

	runstate_request(&f->rs, RUNSTATE_PAUSE);
	t0 = now_ms();
	runstate_throttle_sleep(&f->rs, (uint64_t)BOUND_MS * 1000000ull);
	assert_true(now_ms() - t0 < BOUND_MS / 2);
}

struct sleeper {
	struct runstate *rs;
	_Atomic bool done;
};

static void *sleep_thread(void *arg)
{
	struct sleeper *s = arg;

	runstate_throttle_sleep(s->rs, (uint64_t)BOUND_MS * 2 * 1000000ull);
	atomic_store(&s->done, true);
	return NULL;
}

/* A sleeper already asleep is woken by a later pause or stop. */
static void test_throttle_sleep_woken(void **state)
{
	struct fixture *f = *state;
	struct sleeper s = { &f->rs, false };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, sleep_thread, &s), 0);
	sleep_ms(QUIET_MS);
	assert_false(atomic_load(&s.done));
	runstate_request(&f->rs, RUNSTATE_PAUSE);
	assert_true(wait_for(atomic_load(&s.done)));
	pthread_join(t, NULL);

	runstate_withdraw(&f->rs, RUNSTATE_PAUSE, NULL, NULL);
	atomic_store(&s.done, false);
	assert_int_equal(pthread_create(&t, NULL, sleep_thread, &s), 0);
	sleep_ms(QUIET_MS);
	assert_false(atomic_load(&s.done));
	runstate_request_stop(&f->rs, VM_STOP_QUIT, 0);
	assert_true(wait_for(atomic_load(&s.done)));
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pause_while_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_races_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_full_released_by_harvest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_full_released_otherwise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_sleep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_sleep_woken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
