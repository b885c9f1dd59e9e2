/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MAINLOOP_H
#define TERN_MAINLOOP_H

struct vm;

/*
 * The main thread's loop while vCPUs run: the VM's stop notification,
 * SIGINT/SIGTERM (through @sig_fd, a signalfd), console input and the
 * control socket. Returns when the VM's stop reason is set; -errno if
 * polling itself failed.
 */
int main_loop(struct vm *vm, int sig_fd);

#endif
