/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONSOLE_H
#define TERN_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device;

/*
 * The guest's console on tern's stdin/stdout. The terminal is put in raw
 * mode only when stdin is a tty, and restored on every way out: normal exit,
 * the stop signals, and crashes (SIGSEGV, SIGBUS, SIGABRT, ...).
 * On a tty, Ctrl-A x quits and Ctrl-A Ctrl-A sends a Ctrl-A.
 */
struct console {
	int in_fd;		/* -1 once stdin reached EOF */
	bool is_tty;
	bool escape;		/* the previous byte was Ctrl-A */
	bool quit;		/* Ctrl-A x seen */
	int rx_efd;		/* the UART drained its FIFO: feed more */
	struct device *uart;
	uint8_t buf[256];	/* read from stdin, not yet taken by the UART */
	size_t head, tail;
};

int console_open(struct console *con);
void console_close(struct console *con);

/* The UART's rx_ready callback. */
void console_rx_ready(void *opaque);

/* Reads stdin if poll() found it readable (@input_ready) and feeds the UART
 * until its FIFO is full. Returns 0, or -errno on a read error. */
int console_pump(struct console *con, bool input_ready);

/* Whether console_pump wants stdin polled (room in buf, not at EOF). */
bool console_wants_input(const struct console *con);

#endif
