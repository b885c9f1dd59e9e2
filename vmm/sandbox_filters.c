// SPDX-License-Identifier: GPL-2.0-only
/*
 * The seccomp allowlists, one per kind of thread (vmm/sandbox.h), built with
 * libseccomp. Pure: nothing here loads a filter, so the unit tests build
 * every list for the machine they run on and load it in a forked child.
 *
 * A system call name the architecture lacks (open on arm64, which has only
 * openat) is skipped, so one table serves the arm64 binary and the native
 * unit tests. ioctl is allowed by request number: a file descriptor's number
 * says nothing about what it is (the one exception, the terminal restore on
 * standard input, names its fd in ioctl_rules).
 */
#include <errno.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <linux/vfio.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "sandbox.h"

#define K(kind)		(1u << SANDBOX_##kind)
#define ALL		((1u << SANDBOX_KIND_NR) - 1)
/* Threads that create threads: each new thread installs its own filter, so
 * its creator's must let it (seccomp, prctl's no_new_privs). Post-copy's
 * admission thread starts a check thread per connection (admission.h). */
#define SPAWNERS	(K(MAIN) | K(MIGRATE) | K(POSTCOPY_DEST))
#define NET		(K(MAIN) | K(MIGRATE) | K(POSTCOPY_SOURCE) | K(POSTCOPY_DEST))

/* How a call's arguments are checked. */
enum rule_check {
	CHECK_NONE,
	CHECK_NO_EXEC,		/* mmap, mprotect: never PROT_EXEC (arg 2) */
	CHECK_THREAD,		/* clone: CLONE_THREAD only, no new processes */
	CHECK_FAMILY,		/* socket: AF_UNIX, AF_INET, AF_INET6 */
	CHECK_PRCTL,		/* prctl: the few options glibc and libseccomp use */
	CHECK_ENOSYS,		/* clone3: fails with ENOSYS, glibc falls back to clone */
	CHECK_SELF,		/* sched_getaffinity: the calling thread's (pid 0) only */
};

struct syscall_rule {
	const char *name;
	unsigned int kinds;
	enum rule_check check;
};

#define A(name, kinds)		{ name, kinds, CHECK_NONE }
#define C(name, kinds, check)	{ name, kinds, check }

static const struct syscall_rule syscall_rules[] = {
	/* Every thread: memory, time, locks, logging, its own end. */
	A("read", ALL), A("write", ALL), A("readv", ALL), A("writev", ALL),
	A("close", ALL), A("futex", ALL), A("munmap", ALL), A("madvise", ALL),
	/* glibc's malloc counts the CPUs once, when a thread would make a ninth
	 * arena (malloc/arena.c, arena_get2), whichever thread that is; the
	 * sanitizers at a thread's start. */
	C("sched_getaffinity", ALL, CHECK_SELF),
	A("brk", ALL), A("mremap", ALL),
	C("mmap", ALL, CHECK_NO_EXEC), C("mprotect", ALL, CHECK_NO_EXEC),
	A("clock_gettime", ALL), A("clock_getres", ALL), A("gettimeofday", ALL),
	A("clock_nanosleep", ALL), A("nanosleep", ALL),
	A("gettid", ALL), A("getpid", ALL), A("tgkill", ALL), A("sched_yield", ALL),
	A("rt_sigprocmask", ALL), A("rt_sigreturn", ALL), A("restart_syscall", ALL),
	A("exit", ALL), A("exit_group", ALL), A("getrandom", ALL),
	/* glibc's qsort sizes its buffer by the RAM size (sysconf _SC_PHYS_PAGES). */
	A("sysinfo", ALL),
	A("fstat", ALL), A("newfstatat", ALL), A("lseek", ALL), A("fcntl", ALL),
	A("ppoll", ALL), A("poll", ALL),
	/* A crash or SIGBUS handler restores the default action and re-raises. */
	A("rt_sigaction", ALL),
	/* Device queues and their eventfds (a vCPU enables queues and vectors). */
	A("epoll_pwait", K(MAIN) | K(IOTHREAD)), A("epoll_wait", K(MAIN) | K(IOTHREAD)),
	A("epoll_ctl", K(MAIN) | K(VCPU) | K(IOTHREAD) | K(MIGRATE)),
	A("eventfd2", K(MAIN) | K(VCPU) | K(IOTHREAD) | K(MIGRATE)),
	/* Also the migrate thread: its final stage's pause completes the disk
	 * requests in flight (devices/virtio_blk.c, blk_quiesce). */
	A("io_uring_enter", K(MAIN) | K(VCPU) | K(IOTHREAD) | K(MIGRATE)),
	/* vCPUs too: a passed-through device's live config bytes and trapped
	 * BAR accesses go through its VFIO fd (devices/vfio.c). */
	A("pread64", K(MAIN) | K(VCPU) | K(IOTHREAD)), A("pwrite64", K(MAIN) | K(VCPU) | K(IOTHREAD)),
	A("preadv", K(MAIN) | K(IOTHREAD)), A("pwritev", K(MAIN) | K(IOTHREAD)),
	A("fsync", K(MAIN) | K(IOTHREAD)), A("fdatasync", K(MAIN) | K(IOTHREAD)),
	/* Also the SIGBUS handler, which replaces a poisoned page of guest RAM
	 * under any thread that touches it by punching it out of a memfd or a
	 * guest_memfd (mmap and madvise otherwise: every thread has them;
	 * vmm/memfault_service.c). */
	A("fallocate", K(MAIN) | K(VCPU) | K(IOTHREAD) | K(MIGRATE) | K(POSTCOPY_SOURCE) |
		       K(POSTCOPY_DEST)),
	/* Files: snapshots, --restore, /dev/userfaultfd; the main thread only. */
	A("openat", K(MAIN)), A("open", K(MAIN)),
	/* The post-copy fault thread removes the --incoming unix socket when done. */
	A("unlinkat", K(MAIN) | K(POSTCOPY_DEST)), A("unlink", K(MAIN) | K(POSTCOPY_DEST)),
	A("renameat", K(MAIN)), A("renameat2", K(MAIN)), A("rename", K(MAIN)),
	A("linkat", K(MAIN)), A("ftruncate", K(MAIN)), A("statx", K(MAIN)),
	A("faccessat", K(MAIN)), A("faccessat2", K(MAIN)), A("access", K(MAIN)),
	A("lstat", K(MAIN)), A("stat", K(MAIN)), A("fchmod", K(MAIN)),
	A("userfaultfd", K(MAIN)), A("pipe2", K(MAIN)),
	A("prlimit64", K(MAIN)), A("readlinkat", K(MAIN)), A("fadvise64", K(MAIN)),
	A("readlink", K(MAIN)), A("getcwd", K(MAIN)), A("mincore", K(MAIN)),
	/* Sockets: the control socket, migration channels. */
	C("socket", K(MAIN) | K(MIGRATE) | K(POSTCOPY_SOURCE), CHECK_FAMILY),
	A("connect", K(MAIN) | K(MIGRATE) | K(POSTCOPY_SOURCE)),
	A("bind", K(MAIN)), A("listen", K(MAIN)),
	A("accept4", K(MAIN) | K(POSTCOPY_DEST)), A("accept", K(MAIN) | K(POSTCOPY_DEST)),
	A("sendmsg", NET), A("recvmsg", NET), A("sendto", NET), A("recvfrom", NET),
	A("shutdown", NET), A("setsockopt", NET), A("getsockopt", NET),
	A("getsockname", NET), A("getpeername", NET),
	/* Threads, which then install their own filter. */
	C("clone", SPAWNERS, CHECK_THREAD), C("clone3", SPAWNERS, CHECK_ENOSYS),
	A("set_robust_list", SPAWNERS), A("rseq", SPAWNERS), A("sigaltstack", ALL),
	A("seccomp", SPAWNERS), C("prctl", SPAWNERS, CHECK_PRCTL),
};

struct ioctl_rule {
	unsigned long request;
	unsigned int kinds;
	int fd;			/* the one fd it is allowed on, or ANY_FD */
};

#define ANY_FD			(-1)
#define I(request, kinds)	{ request, kinds, ANY_FD }
#define I_FD(request, kinds, fd) { request, kinds, fd }

#define VM_IRQS		(K(MAIN) | K(VCPU) | K(IOTHREAD))
#define VCPU_STATE	(K(MAIN) | K(VCPU) | K(MIGRATE))
/* A disk request completed at a migration's pause (devices/virtio_blk.c,
 * blk_quiesce) raises its MSI on the migrate thread, which first sets the
 * vector's route if the guest changed it or none was made yet
 * (devices/msix.c, route_if_changed; devices/virtio_pci.c, vpci_msi_route). */
#define MSI_DELIVERY	(VM_IRQS | K(MIGRATE))

/* After set-up nothing creates a VM, a vCPU or a device: KVM_CREATE_* are
 * in no list. */
static const struct ioctl_rule ioctl_rules[] = {
	I(KVM_RUN, K(VCPU)),
	I(KVM_GET_ONE_REG, VCPU_STATE), I(KVM_SET_ONE_REG, VCPU_STATE),
	I(KVM_GET_VCPU_EVENTS, VCPU_STATE), I(KVM_SET_VCPU_EVENTS, VCPU_STATE),
	I(KVM_GET_MP_STATE, VCPU_STATE), I(KVM_SET_MP_STATE, VCPU_STATE),
	I(KVM_GET_REG_LIST, K(MAIN) | K(MIGRATE)),
	I(KVM_ARM_VCPU_INIT, K(MAIN)), I(KVM_ARM_PREFERRED_TARGET, K(MAIN)),
	I(KVM_ARM_SET_COUNTER_OFFSET, K(MAIN)),
	I(KVM_CHECK_EXTENSION, K(MAIN) | K(MIGRATE)),
	I(KVM_ENABLE_CAP, K(MAIN)),
	/* Interrupts: vector and queue set-up comes from the guest's MMIO. */
	I(KVM_IRQ_LINE, VM_IRQS), I(KVM_SIGNAL_MSI, VM_IRQS), I(KVM_IRQFD, MSI_DELIVERY),
	I(KVM_SET_GSI_ROUTING, MSI_DELIVERY), I(KVM_IOEVENTFD, VM_IRQS),
	/* The vGIC and ITS state, saved and restored while paused. */
	I(KVM_GET_DEVICE_ATTR, K(MAIN) | K(MIGRATE)), I(KVM_SET_DEVICE_ATTR, K(MAIN) | K(MIGRATE)),
	I(KVM_HAS_DEVICE_ATTR, K(MAIN) | K(MIGRATE)),
	/* Dirty tracking for migration; with --dirty-tracking bitmap the
	 * migration thread turns the memslot's dirty logging on and off
	 * (KVM_MEM_LOG_DIRTY_PAGES), the one memslot change after set-up. */
	I(KVM_SET_USER_MEMORY_REGION2, K(MIGRATE)),
	/* ... and a passed-through device's BAR memslots follow the guest's
	 * BAR writes (vCPU) and guest resets (main): devices/vfio.c. */
	I(KVM_SET_USER_MEMORY_REGION, K(MAIN) | K(VCPU) | K(MIGRATE)),
	I(KVM_GET_DIRTY_LOG, K(MAIN) | K(MIGRATE) | K(POSTCOPY_SOURCE)),
	I(KVM_CLEAR_DIRTY_LOG, K(MAIN) | K(MIGRATE) | K(POSTCOPY_SOURCE)),
	I(KVM_RESET_DIRTY_RINGS, K(MAIN) | K(VCPU) | K(MIGRATE) | K(POSTCOPY_SOURCE)),
	/* Post-copy at the destination. */
	I(UFFDIO_API, K(MAIN)), I(UFFDIO_REGISTER, K(MAIN)), I(UFFDIO_UNREGISTER, K(MAIN)),
	I(USERFAULTFD_IOC_NEW, K(MAIN)),
	I(UFFDIO_COPY, K(MAIN) | K(POSTCOPY_DEST)), I(UFFDIO_ZEROPAGE, K(MAIN) | K(POSTCOPY_DEST)),
	I(UFFDIO_WAKE, K(MAIN) | K(POSTCOPY_DEST)),
	/* VFIO: the device's MSI-X or MSI, and INTx while both are off,
	 * follow the guest's enable (vCPU) and reset (main); at exit the main
	 * thread resets the device and unmaps DMA (from the type1 container
	 * or the iommufd's IO address space). INTx's resample irqfd is a
	 * KVM_IRQFD and its SPI's route a KVM_SET_GSI_ROUTING (above). A vCPU
	 * reading MSI's pending bits polls the vectors' eventfds (ppoll). */
	I(VFIO_DEVICE_SET_IRQS, K(MAIN) | K(VCPU)), I(VFIO_DEVICE_RESET, K(MAIN)),
	I(VFIO_IOMMU_UNMAP_DMA, K(MAIN)), I(IOMMU_IOAS_UNMAP, K(MAIN)),
	/* Devices: tap offloads follow the guest's features; discard. */
	I(TUNSETOFFLOAD, VM_IRQS), I(BLKDISCARD, K(MAIN) | K(IOTHREAD)),
	/* The terminal, restored at exit. */
	I(TCGETS, K(MAIN)), I(TCSETS, K(MAIN)), I(TCSETSW, K(MAIN)), I(TCSETSF, K(MAIN)),
	I(TIOCGWINSZ, K(MAIN)),
	/*
	 * Every thread may restore the terminal, and only that: a kill's SIGSYS
	 * handler runs on the thread that made the forbidden call and puts
	 * tern's terminal back out of raw mode (sandbox_at_violation) before it
	 * exits. A call trapped inside that handler, with SIGSYS blocked, would
	 * kill the process with no report and the terminal still raw.
	 */
	I_FD(TCGETS, ALL, STDIN_FILENO),	/* glibc's tcsetattr reads them first */
	I_FD(TCSETS, ALL, STDIN_FILENO),
};

static const int prctl_options[] = { PR_SET_NO_NEW_PRIVS, PR_SET_NAME, PR_GET_NAME };
static const int socket_families[] = { AF_UNIX, AF_INET, AF_INET6 };

static const char *const kind_names[SANDBOX_KIND_NR] = {
	[SANDBOX_MAIN] = "main",
	[SANDBOX_VCPU] = "vcpu",
	[SANDBOX_IOTHREAD] = "iothread",
	[SANDBOX_MIGRATE] = "migrate",
	[SANDBOX_POSTCOPY_SOURCE] = "postcopy-source",
	[SANDBOX_POSTCOPY_DEST] = "postcopy-dest",
	[SANDBOX_THROTTLE] = "throttle",
	[SANDBOX_CONSOLE] = "console",
};

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return (unsigned int)kind < SANDBOX_KIND_NR ? kind_names[kind] : "unknown";
}

const char *sandbox_mode_name(enum sandbox_mode mode)
{
	switch (mode) {
	case SANDBOX_KILL: return "kill";
	case SANDBOX_LOG: return "log";
	case SANDBOX_OFF: return "off";
	}
	return "unknown";
}

/*
 * Who creates whom, once confined. The main thread creates the I/O, console,
 * migration and post-copy destination threads; the migration thread the
 * throttle and the post-copy page server; post-copy's admission thread its
 * connection checks (same kind). vCPU threads come before the main thread's
 * filter (vmm/vcpu.c, vcpus_spawn).
 */
static const enum sandbox_kind creators[SANDBOX_KIND_NR] = {
	[SANDBOX_MAIN] = SANDBOX_KIND_NR,
	[SANDBOX_VCPU] = SANDBOX_KIND_NR,
	[SANDBOX_IOTHREAD] = SANDBOX_MAIN,
	[SANDBOX_MIGRATE] = SANDBOX_MAIN,
	[SANDBOX_POSTCOPY_SOURCE] = SANDBOX_MIGRATE,
	[SANDBOX_POSTCOPY_DEST] = SANDBOX_MAIN,
	[SANDBOX_THROTTLE] = SANDBOX_MIGRATE,
	[SANDBOX_CONSOLE] = SANDBOX_MAIN,
};

enum sandbox_kind sandbox_creator(enum sandbox_kind kind)
{
	return kind < SANDBOX_KIND_NR ? creators[kind] : SANDBOX_KIND_NR;
}

/*
 * A filter stays on the threads its thread creates, stacked under theirs
 * (the stricter answer wins: Documentation/userspace-api/seccomp_filter.rst),
 * so a thread's list must hold what its descendants' lists hold.
 */
static unsigned int kinds_allowed_to(enum sandbox_kind kind)
{
	unsigned int mask = 0;

	for (unsigned int k = 0; k < SANDBOX_KIND_NR; k++)
		for (enum sandbox_kind a = (enum sandbox_kind)k; a < SANDBOX_KIND_NR;
		     a = sandbox_creator(a))
			if (a == kind)
				mask |= 1u << k;
	return mask;
}

static unsigned int check_patterns(enum rule_check check)
{
	switch (check) {
	case CHECK_FAMILY: return sizeof(socket_families) / sizeof(socket_families[0]);
	case CHECK_PRCTL: return sizeof(prctl_options) / sizeof(prctl_options[0]);
	default: return 1;
	}
}

unsigned int sandbox_allowlist_size(enum sandbox_kind kind, uint32_t arch)
{
	unsigned int n = 0, i, mask = kinds_allowed_to(kind);

	if (arch == SCMP_ARCH_NATIVE)
		arch = seccomp_arch_native();
	for (i = 0; i < sizeof(syscall_rules) / sizeof(syscall_rules[0]); i++)
		if (syscall_rules[i].kinds & mask && syscall_rules[i].check != CHECK_ENOSYS &&
		    seccomp_syscall_resolve_name_arch(arch, syscall_rules[i].name) >= 0)
			n += check_patterns(syscall_rules[i].check);
	for (i = 0; i < sizeof(ioctl_rules) / sizeof(ioctl_rules[0]); i++)
		n += !!(ioctl_rules[i].kinds & mask);
	return n;
}

static int add_checked(scmp_filter_ctx ctx, int nr, enum rule_check check)
{
	const struct scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	const struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	unsigned int i;
	int ret = 0;

	switch (check) {
	case CHECK_NONE:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case CHECK_NO_EXEC:
		return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &no_exec);
	case CHECK_THREAD:
		return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &thread);
	case CHECK_ENOSYS:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	case CHECK_SELF:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, 0, 0));
	case CHECK_FAMILY:
		for (i = 0; !ret && i < check_patterns(check); i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)socket_families[i], 0));
		return ret;
	case CHECK_PRCTL:
		for (i = 0; !ret && i < check_patterns(check); i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctl_options[i], 0));
		return ret;
	}
	return -EINVAL;
}

static int add_ioctl(scmp_filter_ctx ctx, int ioctl_nr, const struct ioctl_rule *rule)
{
	/* The kernel takes the request as an unsigned int (fs/ioctl.c). */
	const struct scmp_arg_cmp request = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
						    (scmp_datum_t)(rule->request & 0xffffffffu));

	if (rule->fd == ANY_FD)
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, ioctl_nr, 1, request);
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, ioctl_nr, 2,
				SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)rule->fd, 0), request);
}

static int add_rules(scmp_filter_ctx ctx, enum sandbox_kind kind, uint32_t arch)
{
	int ioctl_nr = seccomp_syscall_resolve_name_arch(arch, "ioctl"), nr, ret;
	unsigned int i, mask = kinds_allowed_to(kind);

	for (i = 0; i < sizeof(syscall_rules) / sizeof(syscall_rules[0]); i++) {
		if (!(syscall_rules[i].kinds & mask))
			continue;
		nr = seccomp_syscall_resolve_name_arch(arch, syscall_rules[i].name);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;	/* not a system call of this architecture */
		ret = add_checked(ctx, nr, syscall_rules[i].check);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < sizeof(ioctl_rules) / sizeof(ioctl_rules[0]); i++) {
		if (!(ioctl_rules[i].kinds & mask))
			continue;
		ret = add_ioctl(ctx, ioctl_nr, &ioctl_rules[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int sandbox_filter_build(enum sandbox_kind kind, enum sandbox_mode mode, uint32_t arch,
			 scmp_filter_ctx *out)
{
	uint32_t violation = mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	scmp_filter_ctx ctx;
	int ret;

	if ((unsigned int)kind >= SANDBOX_KIND_NR || mode == SANDBOX_OFF)
		return -EINVAL;
	if (arch == SCMP_ARCH_NATIVE)
		arch = seccomp_arch_native();
	ctx = seccomp_init(violation);
	if (!ctx)
		return -ENOMEM;
	/* Only @arch's calls; another ABI's (32-bit compat) kill the process. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* A binary tree of system call numbers rather than a linear list:
	 * KVM_RUN and the exits' calls pass every filter of the thread. */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (!ret && arch != seccomp_arch_native()) {
		ret = seccomp_arch_add(ctx, arch);
		if (!ret)
			ret = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
	}
	if (!ret)
		ret = add_rules(ctx, kind, arch);
	if (ret < 0) {
		seccomp_release(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}
