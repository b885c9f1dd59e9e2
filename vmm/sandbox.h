/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_SANDBOX_H
#define TERN_SANDBOX_H

/*
 * tern's confinement (README, "Security model"): one seccomp allowlist per
 * kind of thread, built by sandbox_filter_build() (vmm/sandbox_filters.c,
 * pure and unit-tested) and installed by each thread on itself when it starts
 * (sandbox_enter(), vmm/sandbox.c). Filters stack: a thread created after its
 * creator installed its own runs under both, so a creator's allowlist holds
 * its descendants' (sandbox_creator()). vCPU threads are created before the
 * main thread's filter (vcpus_spawn) and run under their own alone.
 */
#include <stdint.h>

#include <seccomp.h>

#include "config.h"

/* --sandbox: what a system call outside the thread's allowlist does. */
enum sandbox_mode {
	SANDBOX_KILL,		/* a message, then exit status 6 */
	SANDBOX_LOG,		/* the kernel logs it (audit, SECCOMP_RET_LOG); it proceeds */
	SANDBOX_OFF,		/* no filter at all: debugging only, unsafe */
};

_Static_assert(CONFIG_DEFAULT_SANDBOX == SANDBOX_KILL, "README and --help say the default is kill");

/* Exit status of a process killed for a forbidden system call. */
#define SANDBOX_EXIT_STATUS	6

enum sandbox_kind {
	SANDBOX_MAIN,		/* control socket, console, snapshots, --incoming */
	SANDBOX_VCPU,		/* KVM_RUN and the exits it returns */
	SANDBOX_IOTHREAD,	/* device queues: io_uring, taps, eventfds */
	SANDBOX_MIGRATE,	/* an outgoing migration's rounds and final stage */
	SANDBOX_POSTCOPY_SOURCE,	/* the source's page server after the switch */
	SANDBOX_POSTCOPY_DEST,	/* the destination's userfaultfd fault thread, and the
				 * threads admitting connections (strangers' bytes) */
	SANDBOX_THROTTLE,	/* auto-converge: kicks vCPUs on a schedule */
	SANDBOX_CONSOLE,	/* copies the UART's output buffer to stdout */
	SANDBOX_KIND_NR,
};

const char *sandbox_kind_name(enum sandbox_kind kind);
/* The kind of the confined thread that creates @kind's threads, whose filter
 * they run under too; SANDBOX_KIND_NR for none (the main and vCPU threads). */
enum sandbox_kind sandbox_creator(enum sandbox_kind kind);
const char *sandbox_mode_name(enum sandbox_mode mode);

/*
 * Builds @kind's filter for @arch (an SCMP_ARCH_* value, or SCMP_ARCH_NATIVE)
 * into *@out: allowed calls pass, anything else traps (SANDBOX_KILL) or is
 * logged (SANDBOX_LOG). The caller loads it (seccomp_load) and releases it
 * (seccomp_release). -errno.
 */
int sandbox_filter_build(enum sandbox_kind kind, enum sandbox_mode mode, uint32_t arch,
			 scmp_filter_ctx *out);

/* Rules in @kind's allowlist on @arch (a system call with several allowed
 * argument patterns, e.g. ioctl requests, counts once per pattern). */
unsigned int sandbox_allowlist_size(enum sandbox_kind kind, uint32_t arch);

/*
 * Process-wide preparation, once, before any thread enters the sandbox: the
 * SIGSYS handler that reports a violation and the table of system call names
 * it uses. With SANDBOX_OFF nothing is installed. -errno.
 */
int sandbox_prepare(enum sandbox_mode mode);

/*
 * After sandbox_prepare(): @fn runs in the SIGSYS handler of a kill, on
 * whichever thread made the forbidden call, before the report and the exit.
 * It must be async-signal-safe and may make only the calls every list allows
 * (the console's: tcsetattr(STDIN_FILENO, TCSANOW, ...)). A no-op with
 * SANDBOX_OFF.
 */
void sandbox_at_violation(void (*fn)(void));

/* The calling thread installs @kind's filter on itself (no other thread is
 * affected). A no-op with SANDBOX_OFF or before sandbox_prepare(). -errno. */
int sandbox_enter(enum sandbox_kind kind);

/* Every filter a thread of @kind runs under, its creators' first, installed
 * on the calling thread: what such a thread of tern's has (for the tests and
 * benchmarks that time or check one). -errno. */
int sandbox_enter_stack(enum sandbox_kind kind);

/* The Landlock ruleset @fd (vmm/landlock.h), which the sandbox now owns,
 * for sandbox_enforce_landlock(). -EINVAL before prepare. */
int sandbox_set_landlock(int fd);
/* The main thread enforces it on itself before it creates any thread; all
 * of them inherit it. A no-op without a ruleset. -errno. */
int sandbox_enforce_landlock(void);

/* Releases what sandbox_prepare() allocated (at exit). */
void sandbox_release(void);

#endif
