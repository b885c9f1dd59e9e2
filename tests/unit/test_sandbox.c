// SPDX-License-Identifier: GPL-2.0-only
/*
 * The seccomp allowlists (vmm/sandbox*.c), loaded for real: each kind's
 * filter goes into a forked child of this native test, which makes a call
 * its list allows (it works) and one it forbids (the child is stopped with
 * exit status 6 and a message naming the thread kind and the call). The
 * filters are also built for arm64, tern's own architecture.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/sandbox.h"

struct child_result {
	int status;		/* from waitpid */
	char err[1024];		/* the child's stderr */
};

/* Runs @body in a child confined as @kind in @mode; collects its stderr. */
static void run_confined(enum sandbox_kind kind, enum sandbox_mode mode,
			 void (*body)(enum sandbox_kind), struct child_result *res)
{
	int pipefd[2], n, total = 0;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		if (sandbox_prepare(mode) < 0 || sandbox_enter_stack(kind) < 0)
			_exit(90);
		body(kind);
		_exit(0);
	}
	close(pipefd[1]);
	while ((n = (int)read(pipefd[0], res->err + total, sizeof(res->err) - 1 - (size_t)total)) > 0)
		total += n;
	res->err[total] = 0;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

/* Calls every thread's list allows, then KVM_CREATE_VM, which none does. */
static void allowed_then_create_vm(enum sandbox_kind kind)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct timespec ts;

	if (p == MAP_FAILED || munmap(p, 4096) || clock_gettime(CLOCK_MONOTONIC, &ts) ||
	    getpid() <= 0)
		_exit(91);
	/* Reached only if the calls above were let through. */
	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	ioctl(-1, KVM_CREATE_VM, 0);
	_exit(0);
}

static void assert_killed_for(const struct child_result *res, const char *kind,
			      const char *call)
{
	char want[128];

	if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != SANDBOX_EXIT_STATUS)
		fail_msg("the %s child was not stopped with status %d (status %#x): %s", kind,
			 SANDBOX_EXIT_STATUS, res->status, res->err);
	assert_non_null(strstr(res->err, "allowed-ok"));
	snprintf(want, sizeof(want), "the %s thread made a system call its allowlist forbids: %s",
		 kind, call);
	if (!strstr(res->err, want))
		fail_msg("no '%s' in the report: %s", want, res->err);
}

static void test_every_kind_kills_create_vm(void **state)
{
	for (int k = 0; k < SANDBOX_KIND_NR; k++) {
		struct child_result res;

		run_confined((enum sandbox_kind)k, SANDBOX_KILL, allowed_then_create_vm, &res);
		assert_killed_for(&res, sandbox_kind_name((enum sandbox_kind)k), "ioctl");
		assert_non_null(strstr(res.err, "request 0xae01"));
	}
}

static void test_log_mode_lets_it_proceed(void **state)
{
	struct child_result res;

	run_confined(SANDBOX_VCPU, SANDBOX_LOG, allowed_then_create_vm, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	assert_null(strstr(res.err, "forbids"));
}

/* KVM_RUN: a vCPU's (on a bad fd: EBADF, not a kill); the I/O thread's list
 * does not have it. */
static void kvm_run(enum sandbox_kind kind)
{
	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		_exit(93);
	_exit(0);
}

static void test_kvm_run_only_on_vcpus(void **state)
{
	struct child_result res;

	run_confined(SANDBOX_VCPU, SANDBOX_KILL, kvm_run, &res);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status))
		fail_msg("KVM_RUN on a vCPU thread: status %#x: %s", res.status, res.err);
	run_confined(SANDBOX_IOTHREAD, SANDBOX_KILL, kvm_run, &res);
	assert_killed_for(&res, "iothread", "ioctl");
	run_confined(SANDBOX_THROTTLE, SANDBOX_KILL, kvm_run, &res);
	assert_killed_for(&res, "throttle", "ioctl");
	/* vCPU threads do not inherit the main thread's list (vcpus_spawn), so
	 * it need not hold KVM_RUN, and does not. */
	run_confined(SANDBOX_MAIN, SANDBOX_KILL, kvm_run, &res);
	assert_killed_for(&res, "main", "ioctl");
	assert_int_equal(sandbox_creator(SANDBOX_VCPU), SANDBOX_KIND_NR);
}

/* The hook a kill runs first (the console's terminal restore): its
 * tcsetattr on standard input passes every list (ENOTTY here, without a
 * terminal, but not trapped); the same call on another fd is trapped. */
static void restore_hook(void)
{
	struct termios t = { 0 };
	bool ok = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0 || errno == ENOTTY;

	(void)!write(STDERR_FILENO, ok ? "restored\n" : "restore-failed\n", ok ? 9 : 15);
}

static void violation_with_hook(enum sandbox_kind kind)
{
	sandbox_at_violation(restore_hook);
	allowed_then_create_vm(kind);
}

static void terminal_ioctl_on_stdout(enum sandbox_kind kind)
{
	struct termios t = { 0 };

	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	tcsetattr(STDOUT_FILENO, TCSANOW, &t);
	_exit(0);
}

static void test_violation_restores_terminal_first(void **state)
{
	struct child_result res;

	for (int k = 0; k < SANDBOX_KIND_NR; k++) {
		const char *name = sandbox_kind_name((enum sandbox_kind)k);
		const char *restored, *report;

		run_confined((enum sandbox_kind)k, SANDBOX_KILL, violation_with_hook, &res);
		assert_killed_for(&res, name, "ioctl");
		restored = strstr(res.err, "restored\n");
		report = strstr(res.err, "forbids");
		if (!restored || restored > report)
			fail_msg("%s: the terminal was not restored before the report: %s", name,
				 res.err);
	}
	run_confined(SANDBOX_VCPU, SANDBOX_KILL, terminal_ioctl_on_stdout, &res);
	assert_killed_for(&res, "vcpu", "ioctl");
}

/* Files: the main thread opens (snapshots); a vCPU thread may not. */
static void open_null(enum sandbox_kind kind)
{
	int fd;

	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	_exit(fd >= 0 ? 0 : 94);
}

static void test_open_main_only(void **state)
{
	static const enum sandbox_kind no_files[] = {
		SANDBOX_VCPU, SANDBOX_IOTHREAD, SANDBOX_MIGRATE, SANDBOX_POSTCOPY_SOURCE,
		SANDBOX_POSTCOPY_DEST, SANDBOX_THROTTLE,
	};
	/* open(2) on x86-64, openat(2) on arm64: either name is reported. */
	struct child_result res;

	run_confined(SANDBOX_MAIN, SANDBOX_KILL, open_null, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	for (size_t i = 0; i < sizeof(no_files) / sizeof(no_files[0]); i++) {
		run_confined(no_files[i], SANDBOX_KILL, open_null, &res);
		assert_killed_for(&res, sandbox_kind_name(no_files[i]), "open");
	}
}

/* Sockets: an AF_UNIX one for the main thread; AF_PACKET for nobody; none
 * at all for a vCPU. */
static void unix_socket(enum sandbox_kind kind)
{
	int fd;

	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		_exit(95);
	close(fd);
	socket(AF_PACKET, SOCK_RAW, 0);
	_exit(0);
}

static void test_socket_families(void **state)
{
	struct child_result res;

	run_confined(SANDBOX_MAIN, SANDBOX_KILL, unix_socket, &res);
	assert_killed_for(&res, "main", "socket");
	run_confined(SANDBOX_VCPU, SANDBOX_KILL, unix_socket, &res);
	assert_killed_for(&res, "vcpu", "socket");
}

/* No new executable memory, no new process: only threads; clone3 says
 * ENOSYS so that glibc falls back to clone, whose flags can be checked. */
static void exec_mapping(enum sandbox_kind kind)
{
	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		_exit(96);
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	_exit(0);
}

static void new_process(enum sandbox_kind kind)
{
	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	_exit(0);
}

static void test_no_exec_no_fork(void **state)
{
	struct child_result res;

	run_confined(SANDBOX_MAIN, SANDBOX_KILL, exec_mapping, &res);
	assert_killed_for(&res, "main", "mmap");
	run_confined(SANDBOX_MAIN, SANDBOX_KILL, new_process, &res);
	assert_killed_for(&res, "main", "clone");
}

static void own_cpus(enum sandbox_kind kind)
{
	cpu_set_t set;

	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	if (syscall(SYS_sched_getaffinity, 0, sizeof(set), &set) < 0 ||
	    write(STDERR_FILENO, "own-ok\n", 7) != 7)
		_exit(99);
	syscall(SYS_sched_getaffinity, 1, sizeof(set), &set);
	_exit(0);
}

/* Any thread may be the one whose malloc counts the CPUs (glibc's ninth
 * arena): its own CPU set, not another process's. */
static void test_own_cpus_only(void **state)
{
	for (int k = 0; k < SANDBOX_KIND_NR; k++) {
		struct child_result res;

		run_confined((enum sandbox_kind)k, SANDBOX_KILL, own_cpus, &res);
		assert_killed_for(&res, sandbox_kind_name((enum sandbox_kind)k),
				  "sched_getaffinity");
		assert_non_null(strstr(res.err, "own-ok"));
	}
}

/* What completing a disk request at a migration's pause takes on the
 * migrate thread (vmm/sandbox_filters.c, MSI_DELIVERY): waiting on the
 * disk's ring, then routing and raising the request's MSI. On bad fds each
 * fails with EBADF instead of stopping the thread; then KVM_RUN, which the
 * thread has no use for, does. */
static void complete_at_pause(enum sandbox_kind kind)
{
	struct kvm_irq_routing table = { 0 };
	struct kvm_irqfd irqfd = { .fd = (uint32_t)-1 };

	if (syscall(__NR_io_uring_enter, -1, 0, 1, 0, NULL, 0) != -1 || errno != EBADF ||
	    ioctl(-1, KVM_SET_GSI_ROUTING, &table) != -1 || errno != EBADF ||
	    ioctl(-1, KVM_IRQFD, &irqfd) != -1 || errno != EBADF)
		_exit(96);
	if (write(STDERR_FILENO, "allowed-ok\n", 11) != 11)
		_exit(92);
	ioctl(-1, KVM_RUN, 0);
	_exit(0);
}

static void test_migrate_completes_requests(void **state)
{
	struct child_result res;

	run_confined(SANDBOX_MIGRATE, SANDBOX_KILL, complete_at_pause, &res);
	assert_killed_for(&res, "migrate", "ioctl");
	assert_non_null(strstr(res.err, "request 0xae80"));
	/* The post-copy page server completes nothing: its wait is fatal. */
	run_confined(SANDBOX_POSTCOPY_SOURCE, SANDBOX_KILL, complete_at_pause, &res);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != SANDBOX_EXIT_STATUS ||
	    !strstr(res.err, "io_uring_enter"))
		fail_msg("the postcopy-source child was not stopped at io_uring_enter (status %#x): %s",
			 res.status, res.err);
}

/* Every list builds for arm64 too, without the calls arm64 lacks; a
 * narrower thread has fewer rules than the main thread. */
static void test_arm64_filters_and_sizes(void **state)
{
	for (int k = 0; k < SANDBOX_KIND_NR; k++) {
		scmp_filter_ctx ctx;

		assert_int_equal(sandbox_filter_build((enum sandbox_kind)k, SANDBOX_KILL,
						      SCMP_ARCH_AARCH64, &ctx), 0);
		seccomp_release(ctx);
		unsigned int n = sandbox_allowlist_size((enum sandbox_kind)k, SCMP_ARCH_AARCH64);

		print_message("allowlist %-16s %u rules on arm64\n",
			      sandbox_kind_name((enum sandbox_kind)k), n);
		assert_true(n > 10);
		if (k != SANDBOX_MAIN)
			assert_true(n < sandbox_allowlist_size(SANDBOX_MAIN, SCMP_ARCH_AARCH64));
	}
	assert_int_equal(sandbox_filter_build(SANDBOX_VCPU, SANDBOX_OFF, SCMP_ARCH_AARCH64, NULL),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_kills_create_vm),
		cmocka_unit_test(test_log_mode_lets_it_proceed),
		cmocka_unit_test(test_kvm_run_only_on_vcpus),
		cmocka_unit_test(test_violation_restores_terminal_first),
		cmocka_unit_test(test_open_main_only),
		cmocka_unit_test(test_socket_families),
		cmocka_unit_test(test_no_exec_no_fork),
		cmocka_unit_test(test_own_cpus_only),
		cmocka_unit_test(test_migrate_completes_requests),
		cmocka_unit_test(test_arm64_filters_and_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
