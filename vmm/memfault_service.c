// SPDX-License-Identifier: GPL-2.0-only
/*
 * The memory-fault service: what a vCPU does when KVM cannot give it guest
 * memory. Two ways in, one way through:
 *  - KVM_RUN fails with EFAULT or EHWPOISON and KVM_EXIT_MEMORY_FAULT
 *    (guest_memfd memory): the annotation run->memory_fault is checked
 *    against the memory map before anything is done with it;
 *  - a poisoned page of ordinary memory (anon, memfd, hugetlb): KVM sends
 *    SIGBUS BUS_MCEERR_AR to the vCPU thread and KVM_RUN returns EINTR; the
 *    handler leaves the host address in the vCPU's sigbus slot.
 * Both become a struct mem_fault, go through the repeat guard, and are
 * handed to the memory's owner (guest_memory.resolve), whose verdict says
 * whether to run again, inject an external abort, or stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "exit_path.h"
#include "exits.h"
#include "kvm.h"
#include "log.h"
#include "memfault_service.h"
#include "runstate.h"
#include "vcpu.h"
#include "vm.h"

#define REG_PC	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
		 KVM_REG_ARM_CORE_REG(regs.pc))

/*
 * The slot of the thread running, if it has one: vCPU threads, and a
 * thread poisoning a page on purpose. volatile: only the signal handler
 * reads it, and without it the compiler drops the stores around madvise()
 * as dead (it did, at -O3).
 */
static __thread struct sigbus_slot *volatile thread_slot;

/*
 * What the SIGBUS handler needs, set once before any thread that touches
 * guest RAM starts: a handler can reach nothing else. The action it
 * replaced (the console's crash handler) takes a SIGBUS that is tern's own.
 */
static struct vm *sigbus_vm;
static struct sigaction sigbus_previous;

static void write_msg(const char *s)
{
	ssize_t n = write(STDERR_FILENO, s, strlen(s));

	(void)n;	/* nothing better to do in a signal handler */
}

/* "0x" and @v in hex into @buf (at least 19 bytes), async-signal-safe. */
static const char *hex(char *buf, uint64_t v)
{
	char *p = buf + 18;

	*p = 0;
	do {
		*--p = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	*--p = 'x';
	*--p = '0';
	return p;
}

/*
 * A tern thread other than a vCPU in KVM_RUN (a device, a migration, a
 * snapshot) touched a poisoned page of guest RAM: the page is replaced by
 * a zeroed one and the access, retried when the handler returns, reads
 * zeros. Counted, and noted on the thread (memfault_thread_losses()) so a
 * device can tell its ring was lost. false: not guest RAM, or the page
 * could not be replaced.
 */
static bool replace_touched_page(void *addr)
{
	struct vm *vm = sigbus_vm;
	uint64_t gpa, start, len;
	char b1[19], b2[19];

	if (!vm || hva_to_gpa(&vm->ram, addr, &gpa) < 0 ||
	    guest_memory_replace(&vm->ram, gpa, &start, &len) < 0)
		return false;
	guest_memory_note_write(&vm->ram, gpa_to_hva(&vm->ram, start, len), len);
	atomic_fetch_add(&vm->memory_errors, 1);
	atomic_fetch_add(&vm->pages_replaced, 1);
	memfault_thread_note_loss();
	write_msg("tern: warning: memory error: tern itself (a device or a migration) read the poisoned page at gpa ");
	write_msg(hex(b1, start));
	write_msg(" (");
	write_msg(hex(b2, len));
	write_msg(" bytes): replaced by a zeroed page, its content is lost\n");
	return true;
}

/* Async-signal-safe only: no stdio, no locks. */
static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	struct sigbus_slot *slot = thread_slot;
	int saved_errno = errno;

	(void)uctx;
	if (si->si_code == BUS_MCEERR_AR && slot && slot->recover)
		siglongjmp(*slot->recover, 1);
	if (si->si_code == BUS_MCEERR_AR && slot && slot->armed) {
		slot->addr = si->si_addr;
		slot->hit = 1;
		return;		/* KVM_RUN returns; the vCPU takes it from there */
	}
	if (si->si_code == BUS_MCEERR_AO) {
		/* Advisory: a page went bad but nobody touched it yet. A later
		 * access comes as BUS_MCEERR_AR, and is handled then. */
		write_msg("tern: warning: SIGBUS BUS_MCEERR_AO: the host reports a memory error in tern's memory; going on\n");
		return;
	}
	if (si->si_code == BUS_MCEERR_AR && replace_touched_page(si->si_addr)) {
		errno = saved_errno;
		return;		/* the access is retried, on the new page */
	}
	write_msg(si->si_code == BUS_MCEERR_AR ?
		  "tern: error: SIGBUS: tern read a poisoned page outside guest RAM, or one it could not replace: crashing\n" :
		  "tern: error: SIGBUS: a bad memory access in tern (e.g. a truncated file or too few huge pages): crashing\n");
	/* The previous action (the console's crash handler, which restores
	 * the terminal, or the default) takes the signal when we return. */
	sigaction(sig, &sigbus_previous, NULL);
	raise(sig);
}

int memfault_install_sigbus_handler(struct vm *vm)
{
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };

	if (sigbus_vm == vm)
		return 0;	/* a guest reset starts the vCPUs again */
	sigbus_vm = vm;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &sigbus_previous) < 0) {
		int err = errno;

		pr_err("cannot install the SIGBUS handler: %s", strerror(err));
		return -err;
	}
	return 0;
}

void memfault_thread_init(struct vcpu *vcpu)
{
	vcpu->sigbus = (struct sigbus_slot){ 0 };
	memfault_guard_progress(&vcpu->fault_guard);
	thread_slot = &vcpu->sigbus;
}

static uint64_t vcpu_pc(struct vcpu *vcpu)
{
	uint64_t pc = 0;

	/* Unknown (0) on failure: the guard then compares gpa and flags alone. */
	if (kvm_get_reg(vcpu->fd, REG_PC, &pc) < 0)
		pc = 0;
	return pc;
}

static enum exit_action stop_vm(struct vcpu *vcpu)
{
	runstate_request_stop(&vcpu->vm->rs, VM_STOP_MEMORY_FAULT, 0);
	return EXIT_STOP;
}

/*
 * The guest was told the page is gone (the abort): its next use of that
 * guest-physical page gets healthy, zeroed memory. A guest booted from a
 * device tree has no ACPI GHES to learn that the page is bad: Linux kills
 * the task that touched it and frees the page, and the next user of the
 * page (often the kernel, zeroing it) would take a second abort.
 */
static void replace_poisoned(struct vcpu *vcpu, const struct mem_fault *f, const char *what)
{
	struct guest_memory *ram = &vcpu->vm->ram;
	uint64_t gpa = f->gpa & ~(ram->page_size - 1), start, len, n;
	int ret;

	for (; gpa < f->gpa + f->size; gpa += len) {
		ret = guest_memory_replace(ram, gpa, &start, &len);
		if (ret < 0) {
			pr_err("%s: cannot replace the poisoned page at gpa %#" PRIx64 ": %s; the guest's next use of it faults again",
			       what, gpa, strerror(-ret));
			return;
		}
		/* A migration must send the new page: KVM did not see this. */
		guest_memory_note_write(ram, gpa_to_hva(ram, start, len), len);
		n = atomic_fetch_add(&vcpu->vm->pages_replaced, 1) + 1;
		pr_warn("%s: the poisoned page [%#" PRIx64 ", +%#" PRIx64 ") is replaced by a zeroed one (%" PRIu64 " so far)%s",
			what, start, len, n, len > f->size ?
			"; it is a whole huge page: the guest's other pages in it read as zeros too" : "");
	}
}

static enum exit_action inject_abort(struct vcpu *vcpu, const struct mem_fault *f,
				     const char *what)
{
	struct vm *vm = vcpu->vm;
	uint64_t n;

	if (vcpu_inject_ext_dabt(vcpu) < 0) {
		pr_err("%s: cannot inject the external abort for a memory error; stopping", vcpu->name);
		return stop_vm(vcpu);
	}
	n = atomic_fetch_add(&vm->memory_errors, 1) + 1;
	pr_warn("%s backend=%s: memory error: external data abort injected (%" PRIu64 " so far)",
		what, mem_backend_name(vm->ram.backend), n);
	replace_poisoned(vcpu, f, what);
	return EXIT_CONTINUE;
}

static enum exit_action guard_fired(struct vcpu *vcpu, const char *what, unsigned int count)
{
	pr_err("%s: the same memory fault came back %u times in a row without progress (--memory-fault-retries %u); stopping the VM",
	       what, count - 1, vcpu->vm->cfg->mem_fault_retries);
	return stop_vm(vcpu);
}

/* One fault, from either way in. */
static enum exit_action serve_fault(struct vcpu *vcpu, const struct mem_fault *f, bool valid)
{
	struct vm *vm = vcpu->vm;
	unsigned int count = memfault_guard_note(&vcpu->fault_guard, f, vcpu_pc(vcpu));
	enum mem_fault_verdict verdict;
	char what[160];

	memfault_describe(f, what, sizeof(what));
	if (count > vm->cfg->mem_fault_retries)
		return guard_fired(vcpu, what, count);
	/* A bogus annotation is not acted on: run again, and let the guard
	 * stop the VM if KVM keeps reporting it. */
	if (!valid)
		return EXIT_CONTINUE;
	verdict = vm->ram.resolve(vm->ram.owner, f);
	switch (verdict) {
	case MEM_FAULT_RETRY:
		return EXIT_CONTINUE;
	case MEM_FAULT_POISONED:
		if (vm->cfg->mem_errors == MEM_ERRORS_INJECT)
			return inject_abort(vcpu, f, what);
		if (count == 1)
			pr_warn("%s backend=%s: memory error, not injected (--memory-errors stop): the vCPU retries it",
				what, mem_backend_name(vm->ram.backend));
		return EXIT_CONTINUE;
	case MEM_FAULT_UNRESOLVED:
		break;
	}
	pr_err("%s backend=%s: memory fault the memory's owner cannot resolve; stopping the VM",
	       what, mem_backend_name(vm->ram.backend));
	return stop_vm(vcpu);
}

enum exit_action memfault_from_run_error(struct vcpu *vcpu, int err)
{
	struct kvm_run *run = vcpu->run;
	struct mem_fault f = { .vcpu = vcpu->id, .err = err, .source = MEM_FAULT_FROM_EXIT };
	char why[160], what[160];
	bool valid;

	if (run->exit_reason != KVM_EXIT_MEMORY_FAULT) {
		pr_err("%s: KVM_RUN failed with %s and no memory fault annotation (exit reason %u, %s): KVM could not reach guest memory; stopping the VM",
		       vcpu->name, err == EHWPOISON ? "EHWPOISON" : "EFAULT", run->exit_reason,
		       exit_reason_name(run->exit_reason));
		return stop_vm(vcpu);
	}
	f.gpa = run->memory_fault.gpa;
	f.size = run->memory_fault.size;
	f.flags = run->memory_fault.flags;
	valid = !memfault_validate(&vcpu->vm->ram, &f, why, sizeof(why));
	if (!valid) {
		memfault_describe(&f, what, sizeof(what));
		pr_warn("%s: bogus or stale memory fault annotation, not acted on: %s", what, why);
	}
	return serve_fault(vcpu, &f, valid);
}

enum exit_action memfault_from_sigbus(struct vcpu *vcpu)
{
	struct guest_memory *ram = &vcpu->vm->ram;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	void *addr = vcpu->sigbus.addr;
	struct mem_fault f = { .vcpu = vcpu->id, .size = page, .err = EHWPOISON,
			       .source = MEM_FAULT_FROM_SIGBUS };

	vcpu->sigbus.hit = 0;
	if (hva_to_gpa(ram, addr, &f.gpa) < 0) {
		pr_err("%s: SIGBUS BUS_MCEERR_AR for host address %p, outside guest RAM; stopping the VM",
		       vcpu->name, addr);
		return stop_vm(vcpu);
	}
	f.gpa &= ~(page - 1);
	return serve_fault(vcpu, &f, true);
}

EXIT_PATH void memfault_progress(struct vcpu *vcpu)
{
	memfault_guard_progress(&vcpu->fault_guard);
}

static int poison_failed(int err, char *why, size_t whylen)
{
	if (err == EPERM)
		snprintf(why, whylen, "madvise(MADV_HWPOISON) failed: %s: it needs root (CAP_SYS_ADMIN)",
			 strerror(err));
	else if (err == EALREADY)
		snprintf(why, whylen, "the page is poisoned already (injected before, and not touched since)");
	else if (err == EINVAL)
		snprintf(why, whylen, "madvise(MADV_HWPOISON) failed: %s: the host kernel needs CONFIG_MEMORY_FAILURE, and the page must be one it can poison",
			 strerror(err));
	else
		snprintf(why, whylen, "madvise(MADV_HWPOISON) failed: %s", strerror(err));
	return -err;
}

#define PAGEMAP_PRESENT	(1ULL << 63)
#define PAGEMAP_PFN	((1ULL << 55) - 1)
#define KPF_HWPOISON	19		/* Documentation/admin-guide/mm/pagemap.rst */

/* One u64 of a /proc file (pagemap, kpageflags) at index @idx: 0 or -errno. */
static int read_u64_at(const char *path, uint64_t idx, uint64_t *val)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, val, sizeof(*val), (off_t)(idx * sizeof(*val))) != (ssize_t)sizeof(*val))
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

/* The host page frame behind @hva (root only: PFNs are hidden otherwise). */
static int host_pfn(const void *hva, uint64_t page, uint64_t *pfn)
{
	uint64_t entry;
	int ret = read_u64_at("/proc/self/pagemap", (uintptr_t)hva / page, &entry);

	if (ret < 0)
		return ret;
	if (!(entry & PAGEMAP_PRESENT) || !(entry & PAGEMAP_PFN))
		return -ENODATA;
	*pfn = entry & PAGEMAP_PFN;
	return 0;
}

/* Whether the kernel marked page frame @pfn poisoned. */
static bool pfn_poisoned(uint64_t pfn)
{
	uint64_t flags;

	return !read_u64_at("/proc/kpageflags", pfn, &flags) && (flags >> KPF_HWPOISON & 1);
}

/*
 * madvise(MADV_HWPOISON) on @hva. EBUSY can mean the page was marked but the
 * kernel could not take it out of use: guest_memfd keeps its poisoned pages
 * (KVM answers EHWPOISON for them); /proc/kpageflags tells.
 */
/*
 * Reads a byte of @hva, which makes the page present for host_pfn(). A read
 * only: the guest may be writing it. A page poisoned before and not touched
 * since faults here: the handler jumps back instead of replacing it, and
 * this says so. Leaves @slot installed as the thread's.
 */
static bool read_faults(struct sigbus_slot *slot, const uint8_t *hva)
{
	sigjmp_buf recover;

	slot->recover = &recover;
	thread_slot = slot;
	if (sigsetjmp(recover, 1)) {
		slot->recover = NULL;
		return true;
	}
	atomic_signal_fence(memory_order_seq_cst);
	(void)*(const volatile uint8_t *)hva;
	atomic_signal_fence(memory_order_seq_cst);
	slot->recover = NULL;
	return false;
}

static int poison(uint8_t *hva, uint64_t page, bool *kept_in_use)
{
	struct sigbus_slot slot = { 0 };
	uint64_t pfn = 0;
	bool know_pfn;
	int ret;

	if (read_faults(&slot, hva)) {
		thread_slot = NULL;
		return -EALREADY;
	}
	know_pfn = !host_pfn(hva, page, &pfn);
	/* The kernel may send this thread SIGBUS BUS_MCEERR_AR for the page
	 * it just poisoned (it is mapped here): expected, not a crash. */
	slot.armed = 1;
	atomic_signal_fence(memory_order_seq_cst);
	ret = madvise(hva, page, MADV_HWPOISON);
	ret = ret < 0 ? -errno : 0;
	atomic_signal_fence(memory_order_seq_cst);
	thread_slot = NULL;
	*kept_in_use = false;
	if (ret == -EBUSY && know_pfn && pfn_poisoned(pfn)) {
		*kept_in_use = true;
		ret = 0;
	}
	return ret;
}

int memfault_poison_page(struct vm *vm, uint64_t gpa, uint64_t *page_gpa,
			 char *why, size_t whylen)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	bool kept;
	int ret;

	if (!gpa_to_hva(&vm->ram, gpa, 1)) {
		snprintf(why, whylen, "gpa %#" PRIx64 " is not in guest RAM [%#" PRIx64 ", +%#" PRIx64 ")",
			 gpa, vm->ram.gpa, vm->ram.size);
		return -ERANGE;
	}
	gpa &= ~(page - 1);
	ret = poison(gpa_to_hva(&vm->ram, gpa, page), page, &kept);
	if (ret < 0)
		return poison_failed(-ret, why, whylen);
	pr_warn("control: poisoned the host page behind gpa %#" PRIx64 " (backend=%s)%s", gpa,
		mem_backend_name(vm->ram.backend),
		kept ? "; the kernel marked it but keeps it in use (EBUSY): the guest's next access faults" : "");
	*page_gpa = gpa;
	return 0;
}
