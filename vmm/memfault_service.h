/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MEMFAULT_SERVICE_H
#define TERN_MEMFAULT_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "exits.h"

struct vcpu;
struct vm;

/*
 * The process-wide SIGBUS handler, the only one: memory errors on vCPU
 * threads, poisoned pages of guest RAM touched by any other thread (each
 * replaced under it), and tern's own bad accesses (crash, through the
 * action it replaced: the console restores the terminal). -errno.
 */
int memfault_install_sigbus_handler(struct vm *vm);
/* On a vCPU thread, before its first KVM_RUN: its sigbus slot and guard. */
void memfault_thread_init(struct vcpu *vcpu);

/* KVM_RUN failed with @err (EFAULT or EHWPOISON, positive). */
enum exit_action memfault_from_run_error(struct vcpu *vcpu, int err);
/* KVM_RUN returned and the vCPU's sigbus slot holds a memory error. */
enum exit_action memfault_from_sigbus(struct vcpu *vcpu);
/* The vCPU took an exit that is not a memory fault: the guard forgets. */
void memfault_progress(struct vcpu *vcpu);

/*
 * Poisons the host page behind guest address @gpa (MADV_HWPOISON), as a
 * hardware memory error would: for testing. 0 with the page's address in
 * @page_gpa, or -errno with the reason in @why.
 */
int memfault_poison_page(struct vm *vm, uint64_t gpa, uint64_t *page_gpa,
			 char *why, size_t whylen);

#endif
