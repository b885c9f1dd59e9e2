/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_BENCH_SYSCALL_COST_H
#define TERN_BENCH_SYSCALL_COST_H

/*
 * What tern's seccomp filters add to one system call: the call timed in a
 * forked child, first unconfined, then under the filters a thread of @kind
 * runs with. Filters stack (vmm/sandbox.h): a thread runs under its
 * creators' filters and its own (a vCPU thread under its own alone), so the
 * child installs them in that order, as tern's threads get them
 * (sandbox_enter_stack). The call should fail at once
 * once past the filters (an fd that is not open: EBADF), so what is timed is
 * the system call's entry and exit and the filters.
 */
#include "vmm/sandbox.h"

struct syscall_probe {
	const char *name;	/* e.g. "ioctl(KVM_RUN)" */
	void (*call)(void);	/* makes the call once */
};

/*
 * Best of @rounds runs of @n calls each, in ns per call, unconfined
 * (*@open_ns) and as a @kind thread (*@confined_ns). 0, or -1 if the child
 * could not run or was killed (a call its filters forbid).
 */
int syscall_cost(enum sandbox_kind kind, const struct syscall_probe *probe, unsigned long n,
		 unsigned int rounds, double *open_ns, double *confined_ns);

/* CLOCK_MONOTONIC in ns, for the benchmarks' timed loops. */
double bench_now_ns(void);

#endif
