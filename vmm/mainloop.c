// SPDX-License-Identifier: GPL-2.0-only
/*
 * The main thread's loop while the VM runs. Everything it serves is an fd:
 * the run state's stop eventfd (a stop requested on any thread ends the
 * loop), a signalfd for SIGINT/SIGTERM, the console's input and its
 * room-again eventfd, and the control socket's listener and clients.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "console.h"
#include "control.h"
#include "log.h"
#include "mainloop.h"
#include "vm.h"

enum {
	POLL_STOP,
	POLL_SIGNAL,
	POLL_RX_ROOM,
	POLL_STDIN,
	POLL_CONTROL0,
	POLL_NR = POLL_CONTROL0 + CONTROL_POLL_NR,
};

/* -1 or the control socket's timeout: poll's. */
static int fill_poll_set(struct vm *vm, int sig_fd, struct pollfd fds[POLL_NR])
{
	struct console *con = &vm->console;

	fds[POLL_STOP] = (struct pollfd){ .fd = vm->rs.stop_efd, .events = POLLIN };
	fds[POLL_SIGNAL] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
	fds[POLL_RX_ROOM] = (struct pollfd){ .fd = con->rx_efd, .events = POLLIN };
	fds[POLL_STDIN] = (struct pollfd){ .fd = console_wants_input(con) ? con->in_fd : -1,
					   .events = POLLIN };
	return control_poll_fill(vm, &fds[POLL_CONTROL0]);
}

static void take_signal(struct vm *vm, int sig_fd)
{
	struct signalfd_siginfo si;

	if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	pr_info("%s received: stopping the VM", strsignal((int)si.ssi_signo));
	vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
}

static void serve_console(struct vm *vm, bool input_ready)
{
	struct console *con = &vm->console;
	int ret = console_pump(con, input_ready);

	if (ret < 0) {
		pr_warn("console input: %s; input stops", strerror(-ret));
		con->in_fd = -1;
	}
	if (con->quit)
		vm_request_stop(vm, VM_STOP_QUIT, 0);
}

int main_loop(struct vm *vm, int sig_fd)
{
	struct pollfd fds[POLL_NR];
	int timeout, ret;

	control_serve_buffered(vm);
	while (vm_stop_reason(vm) == VM_RUNNING) {
		timeout = fill_poll_set(vm, sig_fd, fds);
		if (poll(fds, POLL_NR, timeout) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pr_err("poll: %s", strerror(errno));
			return ret;
		}
		if (fds[POLL_SIGNAL].revents)
			take_signal(vm, sig_fd);
		if (fds[POLL_STDIN].revents || fds[POLL_RX_ROOM].revents)
			serve_console(vm, fds[POLL_STDIN].revents != 0);
		control_poll_serve(vm, &fds[POLL_CONTROL0]);
	}
	control_flush_replies(vm);
	return 0;
}
