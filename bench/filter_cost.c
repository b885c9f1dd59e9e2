// SPDX-License-Identifier: GPL-2.0-only
/*
 * What tern's seccomp filters add to each system call, on the host that runs
 * it. bench/sandbox.sh multiplies the largest figure by the calls tern made
 * during a boot and during each virtio measure (counted by the kernel's
 * tracing) for an upper bound on what the confinement costs there, one that
 * the run-to-run noise of the on/off comparison does not hide.
 *
 *   filter_cost [N [ROUNDS]]   N calls per timing (default 20000), best of
 *                              ROUNDS timings (default 5)
 *
 * For every kind of thread, the calls its work makes (vmm/sandbox_filters.c
 * lists what each may make), each on an fd that is not open: the kernel
 * answers as soon as the filters let the call through. One line per call:
 * "kind call open_ns confined_ns filters_ns"; lines starting with '#' are
 * comments. Exit status 1 if a call could not be timed (a filter refused it:
 * the table below and the allowlists disagree).
 */
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscall_cost.h"

static void call_read(void) { (void)!read(-1, NULL, 0); }
static void call_write(void) { (void)!write(-1, NULL, 0); }
static struct epoll_event event;
static struct msghdr msg;

static void call_epoll_pwait(void) { (void)!epoll_pwait(-1, &event, 1, 0, NULL); }
static void call_io_uring_enter(void) { (void)!syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0); }
static void call_sendmsg(void) { (void)!sendmsg(-1, &msg, 0); }
static void call_recvmsg(void) { (void)!recvmsg(-1, &msg, 0); }
/* tgid -1: EINVAL before any signal is looked at. */
static void call_tgkill(void) { (void)!syscall(SYS_tgkill, -1, -1, 0); }
static void call_kvm_run(void) { (void)!ioctl(-1, KVM_RUN, 0); }
static void call_irq_line(void) { (void)!ioctl(-1, KVM_IRQ_LINE, NULL); }
static void call_signal_msi(void) { (void)!ioctl(-1, KVM_SIGNAL_MSI, NULL); }
static void call_dirty_log(void) { (void)!ioctl(-1, KVM_GET_DIRTY_LOG, NULL); }
static void call_uffd_copy(void) { (void)!ioctl(-1, UFFDIO_COPY, NULL); }

#define P(call)		{ #call, call_##call }

static const struct syscall_probe p_read = P(read), p_write = P(write),
	p_epoll_pwait = P(epoll_pwait), p_io_uring_enter = P(io_uring_enter),
	p_sendmsg = P(sendmsg), p_recvmsg = P(recvmsg), p_tgkill = P(tgkill),
	p_kvm_run = { "ioctl(KVM_RUN)", call_kvm_run },
	p_irq_line = { "ioctl(KVM_IRQ_LINE)", call_irq_line },
	p_signal_msi = { "ioctl(KVM_SIGNAL_MSI)", call_signal_msi },
	p_dirty_log = { "ioctl(KVM_GET_DIRTY_LOG)", call_dirty_log },
	p_uffd_copy = { "ioctl(UFFDIO_COPY)", call_uffd_copy };

/* Every thread reads and writes (eventfds, the console); then what each
 * kind does most: an exit's KVM_RUN, a queue's io_uring, an interrupt. */
static const struct {
	enum sandbox_kind kind;
	const struct syscall_probe *probe;
} table[] = {
	{ SANDBOX_MAIN, &p_read }, { SANDBOX_MAIN, &p_write },
	{ SANDBOX_MAIN, &p_epoll_pwait }, { SANDBOX_MAIN, &p_irq_line },
	{ SANDBOX_VCPU, &p_kvm_run }, { SANDBOX_VCPU, &p_read }, { SANDBOX_VCPU, &p_write },
	{ SANDBOX_VCPU, &p_io_uring_enter },
	{ SANDBOX_IOTHREAD, &p_io_uring_enter }, { SANDBOX_IOTHREAD, &p_epoll_pwait },
	{ SANDBOX_IOTHREAD, &p_read }, { SANDBOX_IOTHREAD, &p_write },
	{ SANDBOX_IOTHREAD, &p_signal_msi },
	{ SANDBOX_MIGRATE, &p_sendmsg }, { SANDBOX_MIGRATE, &p_dirty_log },
	{ SANDBOX_POSTCOPY_SOURCE, &p_sendmsg },
	{ SANDBOX_POSTCOPY_DEST, &p_recvmsg }, { SANDBOX_POSTCOPY_DEST, &p_uffd_copy },
	{ SANDBOX_THROTTLE, &p_tgkill },
	{ SANDBOX_CONSOLE, &p_write },
};

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000;
	unsigned int rounds = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : 5;
	double open_ns, confined_ns, most = 0;
	int status = 0;

	if (!n || !rounds) {
		fprintf(stderr, "usage: filter_cost [N [ROUNDS]] (both > 0)\n");
		return 2;
	}
	printf("# %-15s %-24s %10s %12s %11s  (best of %u x %lu calls)\n", "kind", "call",
	       "open_ns", "confined_ns", "filters_ns", rounds, n);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *kind = sandbox_kind_name(table[i].kind);

		if (syscall_cost(table[i].kind, table[i].probe, n, rounds, &open_ns, &confined_ns) < 0) {
			fprintf(stderr, "filter_cost: %s as a %s thread could not be timed "
				"(refused by its filters?)\n", table[i].probe->name, kind);
			status = 1;
			continue;
		}
		printf("%-17s %-24s %10.1f %12.1f %11.1f\n", kind, table[i].probe->name, open_ns,
		       confined_ns, confined_ns - open_ns);
		if (confined_ns - open_ns > most)
			most = confined_ns - open_ns;
	}
	printf("# largest: %.1f ns a call\n", most);
	return status;
}
