/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONFINE_H
#define TERN_CONFINE_H

struct vm;
struct vm_config;

/*
 * Before the VM exists: core dumps off and the process not dumpable (guest
 * RAM must not land in a core file or be readable through /proc/PID/mem by
 * another process of the user), the SIGSYS reporter of --sandbox. -errno.
 */
int confine_prepare(const struct vm_config *cfg);

/*
 * Once the VM is built and before the guest runs (and before a snapshot or
 * a migration stream is read): the jail, the user, Landlock, then the main
 * thread's seccomp allowlist. Threads created later inherit it and narrow it
 * with their own (vmm/sandbox.h). -errno, after a message.
 */
int confine_main(struct vm *vm);

#endif
