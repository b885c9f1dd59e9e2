// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "exit_path.h"
#include "exits.h"
#include "kvm.h"
#include "log.h"
#include "memfault_service.h"
#include "runstate.h"
#include "vcpu.h"
#include "vm.h"
#include "sandbox.h"

#define CORE_REG(name) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
			KVM_REG_ARM_CORE_REG(name))
#define REG_MPIDR_EL1	ARM64_SYS_REG(3, 0, 0, 0, 5)
/* EL1h with D, A, I and F masked: the entry state booting.rst requires. */
#define PSTATE_BOOT	0x3c5ULL
/* PMUv3 overflow interrupt: PPI 7, INTID 23, as the device tree says. */
#define PMU_PPI_INTID	23

static int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id, int mmap_size)
{
	long fd;

	vcpu->vm = vm;
	vcpu->id = id;
	snprintf(vcpu->name, sizeof(vcpu->name), "vcpu %u", id);
	fd = kvm_report("vm", "KVM_CREATE_VCPU", kvm_ioctl_val(vm->vm_fd, KVM_CREATE_VCPU, id));
	if (fd < 0)
		return (int)fd;
	vcpu->fd = (int)fd;
	vcpu->run_size = (size_t)mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		pr_err("%s: cannot map kvm_run: %m", vcpu->name);
		return -ENOMEM;
	}
	return 0;
}

int vcpus_create(struct vm *vm)
{
	long mmap_size = kvm_report("/dev/kvm", "KVM_GET_VCPU_MMAP_SIZE",
				    kvm_ioctl_val(vm->host.kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0));
	int ret;

	if (mmap_size < 0)
		return (int)mmap_size;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	/* All of them now: once the vGIC is initialised KVM_CREATE_VCPU fails. */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_create(vm, &vm->vcpus[i], i, (int)mmap_size);
		if (ret < 0)
			return ret;
	}
	vm_trace(vm, "vcpus: %u created", vm->nr_vcpus);
	return 0;
}

static int vcpu_init_features(struct vm *vm, struct vcpu *vcpu)
{
	struct kvm_vcpu_init *init = &vcpu->init;
	long ret;

	ret = kvm_ioctl_checked("vm", vm->vm_fd, KVM_ARM_PREFERRED_TARGET, init);
	if (ret < 0)
		return (int)ret;
	memset(init->features, 0, sizeof(init->features));
	init->features[0] |= 1U << KVM_ARM_VCPU_PSCI_0_2;
	/* Secondaries wait powered off until the guest's PSCI CPU_ON. */
	if (vcpu->id > 0)
		init->features[0] |= 1U << KVM_ARM_VCPU_POWER_OFF;
	if (vm->pmu)
		init->features[0] |= 1U << KVM_ARM_VCPU_PMU_V3;
	return 0;
}

int vcpus_init(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		long ret;

		if (!vcpu->init.features[0]) {
			ret = vcpu_init_features(vm, vcpu);
			if (ret < 0)
				return (int)ret;
		}
		ret = kvm_ioctl_checked(vcpu->name, vcpu->fd, KVM_ARM_VCPU_INIT, &vcpu->init);
		if (ret < 0)
			return (int)ret;
		vcpu->entered = false;
	}
	vm_trace(vm, "vcpus: KVM_ARM_VCPU_INIT done (psci 0.2%s)",
		 vm->pmu ? ", pmuv3" : "");
	return 0;
}

int vcpus_init_pmu(struct vm *vm)
{
	if (!vm->pmu)
		return 0;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		int irq = PMU_PPI_INTID;
		int ret;

		ret = kvm_device_set_attr(vcpu->fd, KVM_ARM_VCPU_PMU_V3_CTRL,
					  KVM_ARM_VCPU_PMU_V3_IRQ, &irq);
		if (ret < 0)
			return (int)kvm_report(vcpu->name, "KVM_ARM_VCPU_PMU_V3_IRQ", ret);
		ret = kvm_device_set_attr(vcpu->fd, KVM_ARM_VCPU_PMU_V3_CTRL,
					  KVM_ARM_VCPU_PMU_V3_INIT, NULL);
		if (ret < 0)
			return (int)kvm_report(vcpu->name, "KVM_ARM_VCPU_PMU_V3_INIT", ret);
	}
	vm_trace(vm, "vcpus: PMUv3 initialised (PPI %d)", PMU_PPI_INTID - 16);
	return 0;
}

int vcpus_read_mpidr(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		int ret = kvm_get_reg(vcpu->fd, REG_MPIDR_EL1, &vcpu->mpidr);

		if (ret < 0)
			return (int)kvm_report(vcpu->name, "KVM_GET_ONE_REG(MPIDR_EL1)", ret);
	}
	return 0;
}

int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb)
{
	const struct { uint64_t id; uint64_t val; const char *name; } regs[] = {
		{ CORE_REG(regs.pstate), PSTATE_BOOT, "pstate" },
		{ CORE_REG(regs.regs[0]), dtb, "x0" },
		{ CORE_REG(regs.regs[1]), 0, "x1" },
		{ CORE_REG(regs.regs[2]), 0, "x2" },
		{ CORE_REG(regs.regs[3]), 0, "x3" },
		{ CORE_REG(regs.pc), pc, "pc" },
	};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		int ret = kvm_set_reg(vcpu->fd, regs[i].id, regs[i].val);

		if (ret < 0) {
			pr_err("%s: setting %s failed: %s", vcpu->name, regs[i].name,
			       strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* A pause or a hold asks the vCPU to stay out of KVM_RUN. */
static bool vcpu_should_park(struct vm *vm)
{
	return runstate_requested(&vm->rs, RUNSTATE_PAUSE | RUNSTATE_HOLD);
}

/*
 * After a KVM_RUN that returned EINTR: the sleep a throttle kick asked for.
 * The kick's immediate_exit is cleared here, after taking the sleep, and
 * the throttle thread sets immediate_exit before it stores the sleep: so a
 * kick seen here has its immediate_exit cleared, and one not seen yet
 * leaves immediate_exit set for the next KVM_RUN, which returns to take
 * it. A pause or stop sets its request or the stop reason before its own
 * immediate_exit and both are checked after the clear, so neither is lost
 * (all seq_cst). The sleep waits on the run state, which a pause and a
 * stop wake: they never wait for it.
 */
static void vcpu_throttle_sleep(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	uint32_t us = atomic_exchange(&vcpu->throttle_sleep_us, 0);

	if (!us)
		return;
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	runstate_throttle_sleep(&vm->rs, (uint64_t)us * 1000);
}

/* KVM_RUN, with the thread's SIGBUS slot armed: a memory error KVM reports
 * while it runs the guest is the guest's, not tern's. */
static long vcpu_enter(struct vcpu *vcpu)
{
	long ret;

	vcpu->sigbus.armed = 1;
	ret = kvm_ioctl_val(vcpu->fd, KVM_RUN, 0);
	vcpu->sigbus.armed = 0;
	return ret;
}

static EXIT_PATH_LOOP void vcpu_run_loop(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	while (vm_stop_reason(vm) == VM_RUNNING) {
		long ret;

		if (!vcpu->entered) {
			vcpu->entered = true;
			vm_trace(vm, "%s: first KVM_RUN", vcpu->name);
		}
		ret = vcpu_enter(vcpu);
		/* KVM signals a poisoned page and returns EINTR; an exit that
		 * came with it is handled first, the memory error next time. */
		if (vcpu->sigbus.hit && ret < 0) {
			if (memfault_from_sigbus(vcpu) != EXIT_CONTINUE)
				break;
			continue;
		}
		if (ret == -EINTR || ret == -EAGAIN) {
			/* A kick: a throttle's, for a pause, or the loop
			 * condition decides. */
			vcpu_throttle_sleep(vcpu);
			/* Parked only here: this KVM_RUN completed any MMIO
			 * exit, so the registers are final for a snapshot. */
			if (vcpu_should_park(vm))
				runstate_park(&vm->rs, &vcpu->parked);
			continue;
		}
		if (ret == -EFAULT || ret == -EHWPOISON) {
			if (memfault_from_run_error(vcpu, (int)-ret) != EXIT_CONTINUE)
				break;
			continue;
		}
		if (ret < 0) {
			kvm_report(vcpu->name, "KVM_RUN", ret);
			runstate_request_stop(&vm->rs, VM_STOP_ERROR, 0);
			break;
		}
		memfault_progress(vcpu);
		if (vcpu_handle_exit(vcpu) != EXIT_CONTINUE)
			break;
	}
}

/*
 * A vCPU thread's life: confined on itself, idle, then one loop per run of
 * the VM until the VM is torn down. The barriers order everything the main
 * thread set up between runs (registers, a reset, t->quit) before the
 * thread's next use of it (POSIX: pthread_barrier_wait synchronizes memory).
 */
static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	struct vcpu_threads *t = &vm->vcpu_threads;
	sigset_t kick;
	int ret;

	/* Only vCPU threads take the kick; it interrupts KVM_RUN with EINTR. */
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	ret = sandbox_enter(SANDBOX_VCPU);
	if (ret < 0)
		atomic_store(&t->error, ret);
	pthread_barrier_wait(&t->idle);
	for (;;) {
		pthread_barrier_wait(&t->start);
		if (t->quit)
			return NULL;
		memfault_thread_init(vcpu);
		vcpu_run_loop(vcpu);
		runstate_vcpu_exit(&vm->rs);
		pthread_barrier_wait(&t->idle);
	}
}

static void kick_handler(int sig)
{
	(void)sig;	/* its only job is to make KVM_RUN return */
}

static int install_signal_handlers(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	/* No SA_RESTART: a kicked KVM_RUN must return, not resume. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0) {
		pr_err("cannot install the vCPU kick's signal handler: %m");
		return -errno;
	}
	return memfault_install_sigbus_handler(vm);
}

int vcpus_spawn(struct vm *vm)
{
	struct vcpu_threads *t = &vm->vcpu_threads;
	int ret = install_signal_handlers(vm);

	if (ret < 0)
		return ret;
	pthread_barrier_init(&t->start, NULL, vm->nr_vcpus + 1);
	pthread_barrier_init(&t->idle, NULL, vm->nr_vcpus + 1);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
		if (ret) {
			pr_err("cannot start the thread of %s: %s", vcpu->name, strerror(ret));
			return -ret;
		}
		vcpu->thread_started = true;
	}
	/* Every thread has its filter before the main thread goes on: none
	 * runs unconfined once a guest, a peer or a client can reach tern. */
	pthread_barrier_wait(&t->idle);
	t->spawned = true;
	ret = atomic_load(&t->error);
	if (ret < 0)
		return ret;	/* sandbox_enter said what failed */
	if (vm->cfg->sandbox == SANDBOX_OFF)
		vm_trace(vm, "vcpus: %u threads, unfiltered (--sandbox off)", vm->nr_vcpus);
	else
		vm_trace(vm, "vcpus: %u threads, each under the vcpu allowlist alone (--sandbox %s)",
			 vm->nr_vcpus, sandbox_mode_name((enum sandbox_mode)vm->cfg->sandbox));
	return 0;
}

void vcpus_start(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		/* A VM started paused parks each vCPU after one KVM_RUN that
		 * returns at once: the guest runs no instruction. */
		vm->vcpus[i].run->immediate_exit = vcpu_should_park(vm);
		runstate_vcpu_enter(&vm->rs);
	}
	vm_trace(vm, "vcpus: %u threads released", vm->nr_vcpus);
	pthread_barrier_wait(&vm->vcpu_threads.start);
}

void vcpus_wait_idle(struct vm *vm)
{
	pthread_barrier_wait(&vm->vcpu_threads.idle);
}

/* At teardown, with every thread idle: each is released to end. */
static void vcpus_end_threads(struct vm *vm)
{
	struct vcpu_threads *t = &vm->vcpu_threads;

	if (!t->spawned)
		return;	/* a failed spawn's threads end with the process */
	t->quit = true;
	pthread_barrier_wait(&t->start);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
	pthread_barrier_destroy(&t->start);
	pthread_barrier_destroy(&t->idle);
	t->spawned = false;
}

/* Lets parked vCPUs go once neither a pause nor a hold wants them:
 * immediate_exit cleared first, so that their next KVM_RUN enters the
 * guest. Under the run state's lock (runstate_withdraw), so that a pause
 * requested meanwhile is not undone. */
static void vcpus_let_go(void *arg)
{
	struct vm *vm = arg;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].run)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

void vcpus_unpause(struct vm *vm)
{
	runstate_withdraw(&vm->rs, RUNSTATE_PAUSE, vcpus_let_go, vm);
}

/* The signal half of a kick: makes a KVM_RUN in progress return EINTR. */
static void vcpu_interrupt(struct vcpu *vcpu)
{
	if (vcpu->thread_started && !pthread_equal(vcpu->thread, pthread_self()))
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

static void vcpu_kick(struct vcpu *vcpu)
{
	/*
	 * immediate_exit covers a vCPU between its stop check and KVM_RUN: it
	 * returns at once with EINTR. The signal covers one already inside
	 * KVM_RUN (including one halted in WFI).
	 */
	if (vcpu->run)
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	vcpu_interrupt(vcpu);
}

void vcpus_kick(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

void vcpus_hold(struct vm *vm)
{
	runstate_request(&vm->rs, RUNSTATE_HOLD);
	vcpus_kick(vm);
}

void vcpus_release(struct vm *vm)
{
	runstate_withdraw(&vm->rs, RUNSTATE_HOLD, vcpus_let_go, vm);
}

unsigned int vcpus_held(struct vm *vm)
{
	return runstate_parked(&vm->rs);
}

/* Names the vCPUs that are alive and not parked, for a pause that timed
 * out. Under the run state's lock. */
static void report_unparked(void *arg, unsigned int parked, unsigned int alive)
{
	struct vm *vm = arg;
	char names[256] = "";
	size_t len = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus && len < sizeof(names); i++)
		if (vm->vcpus[i].thread_started && !vm->vcpus[i].parked)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
						len ? ", " : "", vm->vcpus[i].name);
	pr_err("pause: %u of %u vCPUs did not stop within %d ms (%s: in a device's MMIO handler or inside KVM); the VM runs on",
	       alive - parked, alive, VM_PAUSE_TIMEOUT_MS, names[0] ? names : "?");
}

int vcpus_pause(struct vm *vm)
{
	int ret;

	/* The request before the kick: a vCPU that the kick makes return
	 * from KVM_RUN sees it (seq_cst), and one waiting for a throttle or a
	 * dirty ring harvest is woken by it to park instead. */
	runstate_request(&vm->rs, RUNSTATE_PAUSE);
	vcpus_kick(vm);
	ret = runstate_wait_parked(&vm->rs, VM_PAUSE_TIMEOUT_MS, report_unparked, vm);
	if (ret < 0)
		vcpus_unpause(vm);	/* those that parked run again */
	return ret;
}

void vcpus_destroy(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	vcpus_end_threads(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (vcpu->run)
			munmap(vcpu->run, vcpu->run_size);
		if (vcpu->fd > 0)
			close(vcpu->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
}

/* ---- throttling (see vcpu.h) ---- */

/* Each vCPU out of KVM_RUN for a sleep of @us: immediate_exit set before
 * the sleep is stored, and never after it (the vCPU clears it once it
 * takes the sleep; set again then, nothing would clear it and KVM_RUN
 * would return at once until the next kick): the order
 * vcpu_throttle_sleep() relies on. */
void vcpus_throttle_kick(struct vm *vm, uint32_t us)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (!vcpu->run || !vcpu->thread_started)
			continue;
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		atomic_store(&vcpu->throttle_sleep_us, us);
		vcpu_interrupt(vcpu);
	}
}
