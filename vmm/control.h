/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONTROL_H
#define TERN_CONTROL_H

struct vm;

/*
 * The main thread's loop while vCPUs run: console input, SIGINT/SIGTERM
 * (through @sig_fd, a signalfd) and the VM's stop notification. Returns when
 * the VM's stop reason is set. -errno if polling itself failed.
 */
int control_loop(struct vm *vm, int sig_fd);

#endif
