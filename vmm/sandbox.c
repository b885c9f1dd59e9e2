// SPDX-License-Identifier: GPL-2.0-only
/*
 * Installing the allowlists of vmm/sandbox_filters.c: each thread on itself,
 * when it starts (seccomp(2) filters are per thread and inherited by the
 * threads it creates; Documentation/userspace-api/seccomp_filter.rst). No
 * SECCOMP_FILTER_FLAG_TSYNC: each thread gets its own kind's list.
 *
 * A forbidden call in kill mode raises SIGSYS (SECCOMP_RET_TRAP); the handler
 * names the thread's kind and the call, then ends the process with
 * SANDBOX_EXIT_STATUS. It only writes and exits, both allowed everywhere,
 * after the hook sandbox_at_violation() gave it: the console's terminal
 * restore, whose one ioctl every list allows (vmm/sandbox_filters.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "landlock.h"
#include "log.h"
#include "sandbox.h"

/* System call numbers the handler can name: arm64's and x86-64's are below. */
#define SANDBOX_NAMED_CALLS	512

struct sandbox_state {
	enum sandbox_mode mode;
	int landlock_fd;		/* the ruleset each thread enforces; -1: none */
	uint32_t arch;
	void (*at_violation)(void);	/* async-signal-safe; NULL: none */
	char *names[SANDBOX_NAMED_CALLS];	/* from libseccomp; NULL: unknown */
};

/* The SIGSYS handler's state: the process's one pointer, set once by
 * sandbox_prepare(), and the calling thread's kind. */
static struct sandbox_state *sandbox_state;
static __thread int sandbox_thread_kind = -1;

struct msg {
	char buf[320];
	size_t len;
};

static void msg_str(struct msg *m, const char *s)
{
	while (*s && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = *s++;
}

static void msg_num(struct msg *m, unsigned long long v, unsigned int base)
{
	char tmp[24];
	int i = 0;

	if (base == 16)
		msg_str(m, "0x");
	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && i < (int)sizeof(tmp));
	while (i > 0 && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = tmp[--i];
}

static unsigned long long syscall_arg1(const void *ucontext)
{
	const ucontext_t *uc = ucontext;

#if defined(__aarch64__)
	return uc->uc_mcontext.regs[1];
#elif defined(__x86_64__)
	return (unsigned long long)uc->uc_mcontext.gregs[REG_RSI];
#else
	(void)uc;
	return 0;
#endif
}

/* Async-signal-safe: formats by hand, then write(2) and exit_group(2). */
static void on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	const struct sandbox_state *st = sandbox_state;
	int nr = si->si_syscall;
	const char *name = st && nr >= 0 && nr < SANDBOX_NAMED_CALLS ? st->names[nr] : NULL;
	struct msg m = { .len = 0 };

	msg_str(&m, "tern: sandbox: the ");
	msg_str(&m, sandbox_kind_name((enum sandbox_kind)sandbox_thread_kind));
	msg_str(&m, " thread made a system call its allowlist forbids: ");
	msg_str(&m, name ? name : "?");
	msg_str(&m, " (");
	msg_num(&m, (unsigned int)nr, 10);
	msg_str(&m, ")");
	if (name && !strcmp(name, "ioctl")) {
		msg_str(&m, ", request ");
		msg_num(&m, syscall_arg1(ucontext) & 0xffffffffu, 16);
	}
	msg_str(&m, "; exiting with status ");
	msg_num(&m, SANDBOX_EXIT_STATUS, 10);
	msg_str(&m, " (--sandbox log reports instead; README, \"Security model\")\n");
	/* A terminal left in raw mode would outlive us: restored first. */
	if (st && st->at_violation)
		st->at_violation();
	(void)!write(STDERR_FILENO, m.buf, m.len);
	syscall(SYS_exit_group, SANDBOX_EXIT_STATUS);
}

int sandbox_prepare(enum sandbox_mode mode)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	struct sandbox_state *st;
	int nr;

	if (mode == SANDBOX_OFF || sandbox_state)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->mode = mode;
	st->landlock_fd = -1;
	st->arch = seccomp_arch_native();
	for (nr = 0; nr < SANDBOX_NAMED_CALLS; nr++)
		st->names[nr] = seccomp_syscall_resolve_num_arch(st->arch, nr);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		pr_err("sandbox: cannot install the SIGSYS handler: %m");
		sandbox_state = st;
		sandbox_release();
		return -errno;
	}
	sandbox_state = st;
	return 0;
}

int sandbox_enter(enum sandbox_kind kind)
{
	const struct sandbox_state *st = sandbox_state;
	scmp_filter_ctx ctx;
	int ret;

	if (!st)
		return 0;
	ret = sandbox_filter_build(kind, st->mode, st->arch, &ctx);
	if (ret < 0) {
		pr_err("sandbox: building the %s thread's allowlist failed: %s",
		       sandbox_kind_name(kind), strerror(-ret));
		return ret;
	}
	sandbox_thread_kind = (int)kind;
	ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret < 0)
		pr_err("sandbox: loading the %s thread's seccomp filter failed: %s (the kernel "
		       "needs CONFIG_SECCOMP_FILTER; --sandbox off runs without, unsafely)",
		       sandbox_kind_name(kind), strerror(-ret));
	return ret;
}

int sandbox_enter_stack(enum sandbox_kind kind)
{
	enum sandbox_kind creator = sandbox_creator(kind);
	int ret = creator < SANDBOX_KIND_NR ? sandbox_enter_stack(creator) : 0;

	return ret < 0 ? ret : sandbox_enter(kind);
}

/* Every other thread is created after this and inherits the domain: one
 * domain for the whole process, so threads may still signal each other
 * (LANDLOCK_SCOPE_SIGNAL). */
int sandbox_enforce_landlock(void)
{
	const struct sandbox_state *st = sandbox_state;

	if (!st || st->landlock_fd < 0)
		return 0;
	return landlock_enforce(st->landlock_fd) < 0 ? -EPERM : 0;
}

void sandbox_at_violation(void (*fn)(void))
{
	if (sandbox_state)
		sandbox_state->at_violation = fn;
}

int sandbox_set_landlock(int fd)
{
	if (!sandbox_state)
		return -EINVAL;
	sandbox_state->landlock_fd = fd;
	return 0;
}

void sandbox_release(void)
{
	struct sandbox_state *st = sandbox_state;
	int nr;

	if (!st)
		return;
	sandbox_state = NULL;
	if (st->landlock_fd >= 0)
		close(st->landlock_fd);
	for (nr = 0; nr < SANDBOX_NAMED_CALLS; nr++)
		free(st->names[nr]);
	free(st);
}
