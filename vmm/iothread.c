// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iothread.h"
#include "log.h"

struct io_watch {
	int fd;
	io_handler_fn fn;
	void *opaque;
	struct io_watch *next;
};

struct iothread {
	int epfd;
	int stop_efd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;		/* the watch list */
	struct io_watch *watches;	/* freed at destroy: epoll may still hold a pointer */
};

struct iothread *iothread_create(void)
{
	struct iothread *io = calloc(1, sizeof(*io));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* data.ptr NULL marks the stop eventfd. */
	if (io->epfd < 0 || io->stop_efd < 0 ||
	    epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->stop_efd, &ev) < 0) {
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

static void *iothread_loop(void *arg)
{
	struct iothread *io = arg;
	struct epoll_event evs[32];

	for (;;) {
		int n = epoll_wait(io->epfd, evs, 32, -1);

		if (n < 0 && errno != EINTR) {
			pr_err("I/O thread: epoll_wait: %m; device I/O stops");
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct io_watch *w = evs[i].data.ptr;
			io_handler_fn fn;

			if (!w)
				return NULL;	/* stop */
			pthread_mutex_lock(&io->lock);
			fn = w->fn;
			pthread_mutex_unlock(&io->lock);
			if (fn)
				fn(w->opaque, evs[i].events);
		}
	}
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
	uint64_t one = 1;

	if (!io || !io->started)
		return;
	if (write(io->stop_efd, &one, sizeof(one)) < 0)
		pr_warn("I/O thread: cannot signal stop: %m");
	pthread_join(io->thread, NULL);
	io->started = false;
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
	if (io->stop_efd >= 0)
		close(io->stop_efd);
	pthread_mutex_destroy(&io->lock);
	free(io);
}
