// SPDX-License-Identifier: GPL-2.0-only
/* A system call's cost unconfined and under tern's filters (syscall_cost.h). */
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syscall_cost.h"

double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The fastest of @rounds timings, in ns per call: the others were
 * interrupted by something else the machine did. */
static double best_ns(const struct syscall_probe *probe, unsigned long n, unsigned int rounds)
{
	double best = 0;

	/* Untimed: the first calls also pay for cold caches and faults. */
	for (unsigned long i = 0; i < n && i < 1000; i++)
		probe->call();
	for (unsigned int r = 0; r < rounds; r++) {
		double t0 = bench_now_ns(), per_call;

		for (unsigned long i = 0; i < n; i++)
			probe->call();
		per_call = (bench_now_ns() - t0) / (double)n;
		if (!r || per_call < best)
			best = per_call;
	}
	return best;
}

/* The child's side: the filters bind it for good, hence the fork. */
static void child_measure(enum sandbox_kind kind, const struct syscall_probe *probe,
			  unsigned long n, unsigned int rounds, double *out)
{
	out[0] = best_ns(probe, n, rounds);
	if (sandbox_prepare(SANDBOX_KILL) < 0 || sandbox_enter_stack(kind) < 0)
		_exit(2);
	out[1] = best_ns(probe, n, rounds);
	_exit(0);
}

int syscall_cost(enum sandbox_kind kind, const struct syscall_probe *probe, unsigned long n,
		 unsigned int rounds, double *open_ns, double *confined_ns)
{
	/* Shared, so the figures outlive the child that wrote them. */
	double *out = mmap(NULL, 2 * sizeof(double), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status, ret = -1;
	pid_t pid;

	if (out == MAP_FAILED)
		return -1;
	out[0] = out[1] = 0;
	pid = fork();
	if (pid == 0)
		child_measure(kind, probe, n, rounds ? rounds : 1, out);
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0) {
		*open_ns = out[0];
		*confined_ns = out[1];
		ret = 0;
	}
	munmap(out, 2 * sizeof(double));
	return ret;
}
