/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONTROL_H
#define TERN_CONTROL_H

#include <poll.h>

struct vm;
struct vm_config;

/*
 * The control socket (--control PATH): a unix stream socket speaking one
 * JSON object per line (docs/control.md). control_open binds and listens
 * before the VM runs; the main loop serves clients; control_close unlinks.
 * -errno with a message.
 */
int control_open(struct vm *vm, const char *path);
void control_close(struct vm *vm);

/* tern ctl: sends one command, prints the reply; returns the exit status. */
int ctl_main(const struct vm_config *cfg);

/*
 * The main loop's part (mainloop.c): control_poll_fill() fills the
 * listening socket's and the clients' slots and returns poll's timeout
 * (-1, or a retry after accept() ran out of resources); control_poll_serve()
 * accepts and answers after poll. control_serve_buffered() answers lines
 * left over from the run before (a guest reset); control_flush_replies()
 * sends what is still queued once the VM stopped (bounded per reply).
 */
#define CONTROL_MAX_CLIENTS	8
#define CONTROL_POLL_NR		(1 + CONTROL_MAX_CLIENTS)
int control_poll_fill(struct vm *vm, struct pollfd fds[CONTROL_POLL_NR]);
void control_poll_serve(struct vm *vm, const struct pollfd fds[CONTROL_POLL_NR]);
void control_serve_buffered(struct vm *vm);
void control_flush_replies(struct vm *vm);

#ifdef TERN_TEST_COMMANDS
#include <stddef.h>

#include <jansson.h>

struct control_args;

/*
 * test-open (vmm/control_test.c; test builds only): opens args->path
 * read-only on the control thread and closes it. 0 with "opened" in @reply,
 * or -errno with the message in @err.
 */
int control_test_open(struct vm *vm, const struct control_args *args, json_t *reply,
		      char *err, size_t errlen);
#endif

#endif
