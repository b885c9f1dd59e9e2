/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONTROL_H
#define TERN_CONTROL_H

struct vm;
struct vm_config;

/*
 * The control socket (--control PATH): a unix stream socket speaking one
 * JSON object per line (docs/control.md). control_open binds and listens
 * before the VM runs; control_loop serves clients; control_close unlinks.
 * -errno with a message.
 */
int control_open(struct vm *vm, const char *path);
void control_close(struct vm *vm);

/* tern ctl: sends one command, prints the reply; returns the exit status. */
int ctl_main(const struct vm_config *cfg);

/*
 * The main thread's loop while vCPUs run: console input, SIGINT/SIGTERM
 * (through @sig_fd, a signalfd), control clients and the VM's stop
 * notification. Returns when
 * the VM's stop reason is set. -errno if polling itself failed.
 */
int control_loop(struct vm *vm, int sig_fd);

#endif
