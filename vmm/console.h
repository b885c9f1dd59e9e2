/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONSOLE_H
#define TERN_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct device;

/*
 * The guest's console on tern's stdin/stdout. The terminal is put in raw
 * mode only when stdin is a tty, and restored on every way out: normal exit,
 * the stop signals, and crashes (SIGSEGV, SIGBUS, SIGABRT, ...).
 * On a tty, Ctrl-A x quits and Ctrl-A Ctrl-A sends a Ctrl-A.
 *
 * Output: the UART writes into a non-blocking pipe (out_fd), a bounded
 * buffer (--console-buffer, 128 KiB by default); a writer thread copies it to stdout
 * with blocking writes. A stdout nobody reads then stops only that thread:
 * the guest's further bytes are dropped by the UART (counted, with a
 * rate-limited notice), and pause, snapshot and quit go on.
 */
/* How long console_close lets the writer flush before giving up on it. */
#define CONSOLE_FLUSH_MS	2000

struct console {
	int in_fd;		/* -1 once stdin reached EOF */
	bool is_tty;
	bool escape;		/* the previous byte was Ctrl-A */
	bool quit;		/* Ctrl-A x seen */
	int rx_efd;		/* the UART drained its FIFO: feed more */
	struct device *uart;	/* takes the input; its node is /chosen/stdout-path */
	/* How the input reaches it (uart16550_receive, pl011_receive). */
	size_t (*receive)(struct device *uart, const uint8_t *buf, size_t len);
	uint8_t buf[256];	/* read from stdin, not yet taken by the UART */
	size_t head, tail;
	int out_fd;		/* the UART's output: the buffer's non-blocking end */
	int out_rd;		/* the writer thread's end */
	int sink_fd;		/* where the writer copies to: stdout */
	pthread_t writer;
	bool writer_started;
	struct ratelimit rx_signal_log;
};

/* Opens the console on stdin/stdout: raw mode on a tty, the output buffer
 * (its writer thread comes later: console_start_writer()). -errno. */
int console_open(struct console *con, unsigned int out_buffer);
/*
 * Starts the thread that copies the output buffer to stdout. Separate from
 * console_open(): --jail's unshare(CLONE_NEWUSER) needs a process with one
 * thread, so it runs once the process is confined (vmm/main.c). -errno.
 */
int console_start_writer(struct console *con);
/* Flushes what the buffer holds (at most CONSOLE_FLUSH_MS), restores the
 * terminal. Call once the vCPUs no longer run. */
void console_close(struct console *con);

/* The UART's rx_ready callback. */
void console_rx_ready(void *opaque);

/* Reads stdin if poll() found it readable (@input_ready) and feeds the UART
 * until its FIFO is full. Returns 0, or -errno on a read error. */
int console_pump(struct console *con, bool input_ready);

/* Whether console_pump wants stdin polled (room in buf, not at EOF). */
bool console_wants_input(const struct console *con);

#endif
