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
 * a migration stream is read), with one thread: the jail, the user, then
 * Landlock, which every thread created later inherits. -errno, after a
 * message.
 */
int confine_process(struct vm *vm);

/*
 * After the vCPU threads exist (each confines itself): the main thread's
 * seccomp allowlist. Threads it creates later inherit it and narrow it with
 * their own (vmm/sandbox.h). -errno, after a message.
 */
int confine_main_thread(struct vm *vm);

#endif
