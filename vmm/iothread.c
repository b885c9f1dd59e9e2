// SPDX-License-Identifier: GPL-2.0-only
/*
 * The I/O thread's loop. Besides the watched fds, epoll holds a control
 * eventfd (data.ptr NULL) through which the other threads wake the loop to
 * stop it or to pause it. A pause parks the loop at a checkpoint, between
 * two handlers, under a condition variable; the thread asking waits until
 * the loop says it is parked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "iothread.h"
#include "log.h"
#include "sandbox.h"

struct io_watch {
	int fd;
	io_handler_fn fn;
	void *opaque;
	struct io_watch *next;
};

struct iothread {
	int epfd;
	int ctl_efd;			/* wakes the loop: stop or pause */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;		/* the watch list */
	struct io_watch *watches;	/* freed at destroy: epoll may still hold a pointer */

	pthread_mutex_t ctl_lock;	/* the fields below */
	pthread_cond_t ctl_cond;
	bool pause_wanted;
	bool parked;			/* the loop is at a checkpoint, waiting */
	bool stopping;
	bool exited;			/* the loop returned (stopped, or epoll failed) */
};

struct iothread *iothread_create(void)
{
	struct iothread *io = calloc(1, sizeof(*io));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	pthread_mutex_init(&io->ctl_lock, NULL);
	pthread_cond_init(&io->ctl_cond, NULL);
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* data.ptr NULL marks the control eventfd. */
	if (io->epfd < 0 || io->ctl_efd < 0 ||
	    epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->ctl_efd, &ev) < 0) {
		pr_err("cannot create the I/O thread's event loop: %m");
		iothread_destroy(io);
		return NULL;
	}
	return io;
}

int iothread_add(struct iothread *io, int fd, uint32_t events, io_handler_fn fn, void *opaque)
{
	struct io_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->fn = fn;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		free(w);
		pr_err("I/O thread: cannot watch fd %d: %s", fd, strerror(err));
		return -err;
	}
	pthread_mutex_lock(&io->lock);
	w->next = io->watches;
	io->watches = w;
	pthread_mutex_unlock(&io->lock);
	return 0;
}

int iothread_del(struct iothread *io, int fd)
{
	struct io_watch *w;

	if (epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		return -errno;
	/* The watch stays allocated: an event fetched before the DEL may still
	 * point at it in this round. It no longer calls anyone. */
	pthread_mutex_lock(&io->lock);
	for (w = io->watches; w; w = w->next)
		if (w->fd == fd)
			w->fn = NULL;
	pthread_mutex_unlock(&io->lock);
	return 0;
}

static void wake_loop(struct iothread *io)
{
	uint64_t one = 1;

	if (write(io->ctl_efd, &one, sizeof(one)) < 0)
		pr_warn("I/O thread: cannot wake the loop: %m");
}

/* The control eventfd is level-triggered in epoll: empty it once seen. */
static void ack_wake(struct iothread *io)
{
	uint64_t n;

	if (read(io->ctl_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_warn("I/O thread: control eventfd: %m");
}

/* Between handlers: parks while a pause is wanted. false: stop the loop. */
static bool checkpoint(struct iothread *io)
{
	bool go_on;

	pthread_mutex_lock(&io->ctl_lock);
	while (io->pause_wanted && !io->stopping) {
		if (!io->parked) {
			io->parked = true;
			pthread_cond_broadcast(&io->ctl_cond);
		}
		pthread_cond_wait(&io->ctl_cond, &io->ctl_lock);
	}
	io->parked = false;
	go_on = !io->stopping;
	pthread_mutex_unlock(&io->ctl_lock);
	return go_on;
}

static void loop_exited(struct iothread *io)
{
	pthread_mutex_lock(&io->ctl_lock);
	io->exited = true;
	pthread_cond_broadcast(&io->ctl_cond);
	pthread_mutex_unlock(&io->ctl_lock);
}

static void run_handler(struct iothread *io, struct io_watch *w, uint32_t events)
{
	io_handler_fn fn;

	pthread_mutex_lock(&io->lock);
	fn = w->fn;
	pthread_mutex_unlock(&io->lock);
	if (fn)
		fn(w->opaque, events);
}

static void *iothread_loop(void *arg)
{
	struct iothread *io = arg;
	struct epoll_event evs[32];

	if (sandbox_enter(SANDBOX_IOTHREAD) < 0) {
		loop_exited(io);	/* no device work without the filter */
		return NULL;
	}
	while (checkpoint(io)) {
		int n = epoll_wait(io->epfd, evs, 32, -1);

		if (n < 0 && errno != EINTR) {
			pr_err("I/O thread: epoll_wait: %m; device I/O stops");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct io_watch *w = evs[i].data.ptr;

			if (!w)
				ack_wake(io);	/* acted on at the next checkpoint */
			else if (checkpoint(io))
				run_handler(io, w, evs[i].events);
			else
				break;
		}
	}
	loop_exited(io);
	return NULL;
}

int iothread_start(struct iothread *io)
{
	int ret = pthread_create(&io->thread, NULL, iothread_loop, io);

	if (ret) {
		pr_err("cannot start the I/O thread: %s", strerror(ret));
		return -ret;
	}
	io->started = true;
	return 0;
}

void iothread_stop(struct iothread *io)
{
	if (!io || !io->started)
		return;
	pthread_mutex_lock(&io->ctl_lock);
	io->stopping = true;
	pthread_cond_broadcast(&io->ctl_cond);
	pthread_mutex_unlock(&io->ctl_lock);
	wake_loop(io);
	pthread_join(io->thread, NULL);
	io->started = false;
}

static struct timespec deadline_after_ms(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int iothread_pause_timeout(struct iothread *io, unsigned int timeout_ms)
{
	struct timespec deadline = deadline_after_ms(timeout_ms);
	bool was_wanted;
	int ret = 0;

	if (io->started && pthread_equal(pthread_self(), io->thread))
		return -EDEADLK;
	pthread_mutex_lock(&io->ctl_lock);
	was_wanted = io->pause_wanted;
	if (!io->pause_wanted) {
		io->pause_wanted = true;
		if (io->started)
			wake_loop(io);
	}
	/* A loop not started, or gone, runs no handler either. */
	while (!ret && io->started && !io->parked && !io->exited && !io->stopping)
		ret = pthread_cond_clockwait(&io->ctl_cond, &io->ctl_lock, CLOCK_MONOTONIC,
					     &deadline);
	if (ret && !(io->started && !io->parked && !io->exited && !io->stopping))
		ret = 0;	/* it parked just as the wait timed out */
	if (ret) {
		/* A handler is still running: the pause is off again, as if
		 * never asked for (unless an earlier one still holds). */
		if (!was_wanted)
			io->pause_wanted = false;
		pthread_cond_broadcast(&io->ctl_cond);
	}
	pthread_mutex_unlock(&io->ctl_lock);
	if (ret) {
		pr_err("I/O thread: a device handler still runs after %u ms; not paused",
		       timeout_ms);
		return -ETIMEDOUT;
	}
	return 0;
}

int iothread_pause(struct iothread *io)
{
	return iothread_pause_timeout(io, IOTHREAD_PAUSE_TIMEOUT_MS);
}

void iothread_resume(struct iothread *io)
{
	pthread_mutex_lock(&io->ctl_lock);
	io->pause_wanted = false;
	pthread_cond_broadcast(&io->ctl_cond);
	pthread_mutex_unlock(&io->ctl_lock);
}

void iothread_destroy(struct iothread *io)
{
	struct io_watch *w, *next;

	if (!io)
		return;
	iothread_stop(io);
	for (w = io->watches; w; w = next) {
		next = w->next;
		free(w);
	}
	if (io->epfd >= 0)
		close(io->epfd);
	if (io->ctl_efd >= 0)
		close(io->ctl_efd);
	pthread_cond_destroy(&io->ctl_cond);
	pthread_mutex_destroy(&io->ctl_lock);
	pthread_mutex_destroy(&io->lock);
	free(io);
}
