/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_IOTHREAD_H
#define TERN_IOTHREAD_H

#include <stdint.h>

/*
 * The VM's I/O thread: an epoll loop that runs device work (queue kicks
 * through ioeventfds, io_uring completions, tap readiness) so vCPU threads
 * never do blocking device I/O. Handlers run on this thread, one at a time.
 */
struct iothread;

/* Handlers take microseconds; 10 s also covers an emulated host (QEMU TCG,
 * ~100 times slower) and a disk that is slow but working. */
#define IOTHREAD_PAUSE_TIMEOUT_MS	10000

typedef void (*io_handler_fn)(void *opaque, uint32_t events);

struct iothread *iothread_create(void);
/* Watches @fd for @events (EPOLLIN...). -errno. Callable from any thread. */
int iothread_add(struct iothread *io, int fd, uint32_t events, io_handler_fn fn, void *opaque);
int iothread_del(struct iothread *io, int fd);
int iothread_start(struct iothread *io);
/* Stops the loop and joins the thread; handlers are not running after. */
void iothread_stop(struct iothread *io);

/*
 * Pause: returns once no handler runs and none will until iothread_resume;
 * events that arrive meanwhile (or were already fetched) wait for it. For
 * any thread but the I/O thread itself (-EDEADLK). Pausing a paused thread
 * is a no-op; one not started yet starts paused. Not nested: one resume
 * ends any number of pauses. What handlers had started stays started:
 * devices finish their own in-flight work afterwards (virtio_device_quiesce).
 * A handler that does not return within the timeout (the default:
 * IOTHREAD_PAUSE_TIMEOUT_MS) fails the pause with -ETIMEDOUT, reported,
 * and leaves the thread running as before.
 */
int iothread_pause(struct iothread *io);
int iothread_pause_timeout(struct iothread *io, unsigned int timeout_ms);
void iothread_resume(struct iothread *io);

void iothread_destroy(struct iothread *io);

#endif
