/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VCPU_H
#define TERN_VCPU_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "memfault.h"

struct device;

/*
 * Where the SIGBUS handler leaves a memory error the kernel reported to
 * this thread (BUS_MCEERR_AR). Written only by the handler, on the thread
 * that owns it; armed only while that thread expects one (inside KVM_RUN,
 * or while poisoning a page on purpose). Any other thread that touches a
 * poisoned page of guest RAM has it replaced (memfault_service.c).
 */
struct sigbus_slot {
	volatile sig_atomic_t armed;
	volatile sig_atomic_t hit;
	void *volatile addr;		/* si_addr: the host address */
	sigjmp_buf *volatile recover;	/* set: the handler jumps there instead */
};

struct vm;

/*
 * The vCPU threads live as long as the VM: created once by vcpus_spawn(),
 * before the main thread installs its seccomp filter, so that each runs
 * under the vCPU filter alone and KVM_RUN pays for one filter, not two
 * (filters stack: Documentation/userspace-api/seccomp_filter.rst). Each
 * run of the VM (the first, and one after each guest reset) releases them
 * together through @start and waits for all of them at @idle.
 */
struct vcpu_threads {
	pthread_barrier_t start;	/* main + every vCPU thread: a run begins */
	pthread_barrier_t idle;		/* main + every vCPU thread: none is running */
	bool spawned;			/* all created, confined and idle once */
	bool quit;			/* seen past @start: the thread ends instead */
	_Atomic int error;		/* a thread's confinement failed: -errno */
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	char name[16];			/* "vcpu 3", for messages */
	int fd;
	struct kvm_run *run;
	size_t run_size;
	uint64_t mpidr;
	pthread_t thread;
	bool thread_started;
	bool entered;			/* has done its first KVM_RUN */
	bool parked;			/* in runstate_park; under vm->rs.lock */
	struct kvm_vcpu_init init;	/* kept: a reset repeats it exactly */
	struct sigbus_slot sigbus;
	struct mem_fault_guard fault_guard;
	struct device *mmio_hint;	/* the device of its last MMIO exit */
	/* Set with a throttle kick: how long to stay out of KVM_RUN (µs). */
	_Atomic uint32_t throttle_sleep_us;
};

/* KVM_CREATE_VCPU for all vCPUs, and their kvm_run mappings. */
int vcpus_create(struct vm *vm);
/* KVM_ARM_VCPU_INIT for each: PSCI 0.2, secondaries powered off, PMUv3 if
 * the host has it. Also what a guest reset repeats. */
int vcpus_init(struct vm *vm);
/* The PMU's overflow interrupt and KVM_ARM_VCPU_PMU_V3_INIT: needs an
 * initialised vGIC. */
int vcpus_init_pmu(struct vm *vm);
/* Reads each vCPU's MPIDR_EL1 (the device tree's cpu reg values). */
int vcpus_read_mpidr(struct vm *vm);
/* Boot vCPU 0 at @pc with x0 = @dtb (Documentation/arch/arm64/booting.rst). */
int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb);

/*
 * One thread per vCPU, each confined to the vCPU allowlist on itself, then
 * idle: after the process-wide confinement (jail, user, Landlock), before
 * the main thread's seccomp filter (vm_build). Also installs the kick and
 * SIGBUS handlers. -errno; threads created before a failure stay idle until
 * the process ends.
 */
int vcpus_spawn(struct vm *vm);
/* A run: every vCPU thread released at once into its KVM_RUN loop. */
void vcpus_start(struct vm *vm);
/* Waits until every vCPU thread has left its loop (after a stop). */
void vcpus_wait_idle(struct vm *vm);
/* Forces every vCPU out of KVM_RUN (immediate_exit + a signal). */
void vcpus_kick(struct vm *vm);
/*
 * The vCPU half of vm_pause (vmctl.c): every live vCPU kicked and parked,
 * within VM_PAUSE_TIMEOUT_MS, or -ETIMEDOUT (reported, naming the vCPUs)
 * with those that parked running again. vcpus_unpause() lets them go.
 */
int vcpus_pause(struct vm *vm);
void vcpus_unpause(struct vm *vm);
/*
 * Hold: every vCPU is asked to park at its next exit, without waiting for
 * it and without pausing devices (post-copy's lost channel: a vCPU that a
 * missing page holds in KVM's fault path parks only once the page came).
 * Independent of vm_pause: releasing a hold does not resume a paused VM.
 * Any thread.
 */
void vcpus_hold(struct vm *vm);
void vcpus_release(struct vm *vm);
/* vCPUs parked now (by a pause or a hold). */
unsigned int vcpus_held(struct vm *vm);
void vcpus_destroy(struct vm *vm);

/*
 * Every running vCPU out of KVM_RUN for a sleep of @us, which it takes in
 * the run state (runstate_throttle_sleep: cut short by a pause or a stop)
 * before it enters again. The mechanism of migration/throttle.c.
 */
void vcpus_throttle_kick(struct vm *vm, uint32_t us);

#define VCPU_KICK_SIGNAL SIGUSR1

#endif
