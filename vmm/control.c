// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "console.h"
#include "control.h"
#include "log.h"
#include "vm.h"

enum { POLL_STOP, POLL_SIGNAL, POLL_RX_ROOM, POLL_STDIN, POLL_NR };

static void take_signal(struct vm *vm, int sig_fd)
{
	struct signalfd_siginfo si;

	if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	pr_info("%s received: stopping the VM", strsignal((int)si.ssi_signo));
	vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
}

int control_loop(struct vm *vm, int sig_fd)
{
	struct console *con = &vm->console;

	while (vm_stop_reason(vm) == VM_RUNNING) {
		struct pollfd fds[POLL_NR] = {
			[POLL_STOP]	= { .fd = vm->stop_efd, .events = POLLIN },
			[POLL_SIGNAL]	= { .fd = sig_fd, .events = POLLIN },
			[POLL_RX_ROOM]	= { .fd = con->rx_efd, .events = POLLIN },
			[POLL_STDIN]	= { .fd = console_wants_input(con) ? con->in_fd : -1,
					    .events = POLLIN },
		};
		int ret;

		if (poll(fds, POLL_NR, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pr_err("poll: %s", strerror(errno));
			return ret;
		}
		if (fds[POLL_SIGNAL].revents)
			take_signal(vm, sig_fd);
		if (fds[POLL_STDIN].revents || fds[POLL_RX_ROOM].revents) {
			ret = console_pump(con, fds[POLL_STDIN].revents != 0);
			if (ret < 0)
				pr_warn("console input: %s; input stops", strerror(-ret));
			if (ret < 0)
				con->in_fd = -1;
			if (con->quit)
				vm_request_stop(vm, VM_STOP_QUIT, 0);
		}
	}
	return 0;
}
