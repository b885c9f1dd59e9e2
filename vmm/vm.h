/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VM_H
#define TERN_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "console.h"
#include "gic.h"
#include "firmware.h"
#include "kernel_image.h"
#include "kvm.h"
#include "layout.h"
#include "log.h"
#include "memory.h"
#include "msi.h"
#include "runstate.h"
#include "vcpu.h"

struct control;
struct device;
struct dirty_log;
struct iothread;
struct migration;
struct migration_keys;
struct pci_host;
struct postcopy_dest;
struct vcpu;
struct vfio_dev;

/* What the guest boots: read and checked before any KVM object exists. */
struct boot_images {
	uint8_t *kernel;
	size_t kernel_size;
	struct kernel_image kimg;	/* what the kernel file is (points into it) */
	uint8_t *initrd;
	size_t initrd_size;
	struct boot_plan plan;
	uint8_t *dtb;
	size_t dtb_size;
};

#define VM_MAX_DEVICES 16

/*
 * One VM: owns every piece of state; nothing lives in globals. The state of
 * devices/ and migration/ hangs off pointers, so that this header, which
 * every layer includes, includes none of theirs.
 */
/*
 * Why building the VM, or loading it from a snapshot or a migration, failed:
 * main() turns it into the exit status. Host problems are the default; a
 * loader says explicitly when it refused its input (vm_refuse_input).
 */
enum vm_failure {
	VM_FAILED_HOST,		/* no /dev/kvm, a KVM capability missing, a system call failed */
	VM_FAILED_INPUT,	/* a snapshot or incoming stream that is not one, or not of this VM */
};

struct vm {
	const struct vm_config *cfg;
	struct kvm_host host;
	bool pmu;				/* the guest gets a PMUv3 */
	int vm_fd;
	struct mem_layout layout;
	struct guest_memory ram;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct gic gic;
	struct device *devices[VM_MAX_DEVICES];	/* fixed MMIO windows */
	unsigned int nr_devices;
	struct pci_host *pci;			/* the PCI host bridge (devices.c) */
	struct vfio_dev *vfio[CONFIG_MAX_VFIO];	/* --vfio functions */
	unsigned int nr_vfio;
	uint32_t nr_extra_slots;		/* memslots after RAM's (slot 0): BARs */
	struct msi_routes msi;
	struct iothread *io;			/* device work, off the vCPU threads */
	struct console console;
	struct boot_images boot;
	struct firmware fw;			/* --firmware */
	struct control *control;		/* --control socket; NULL: none */
	struct dirty_log *dirty;		/* dirty tracking, for migration (dirty.c) */
	struct migration *migration;		/* outgoing; NULL: none yet */
	/* Migration channels (--incoming, --migrate-to) and their keys, read
	 * before tern confines itself (migration_keys_load). */
	struct migration_keys *keys;
	struct postcopy_dest *postcopy_in;	/* incoming post-copy still running */

	struct vcpu_threads vcpu_threads;

	/*
	 * Stop, pause, hold, parked vCPUs, the dirty-ring-full wait (runstate.h).
	 * A vCPU parks only right after a KVM_RUN that returned EINTR, so any
	 * MMIO exit it had taken has been completed by that KVM_RUN
	 * (Documentation/virt/kvm/api.rst, immediate_exit).
	 */
	struct runstate rs;
	bool paused;				/* main thread only (vmctl.c) */

	int sig_fd;				/* SIGINT/SIGTERM (signalfd); main thread */
	/* Guest-triggered messages (vmm/log.h): stray MMIO, --strict-mmio aborts. */
	struct ratelimit unclaimed_mmio_log;
	struct ratelimit strict_mmio_log;
	_Atomic uint64_t memory_errors;		/* poisoned pages the guest or tern ran into */
	_Atomic uint64_t pages_replaced;	/* of those, replaced by zeroed pages */
	_Atomic uint64_t dirty_ring_full_exits;	/* KVM_EXIT_DIRTY_RING_FULL, for status */
	uint64_t restore_count;			/* guest counter to restore */
	bool counter_offset_set;		/* KVM_ARM_SET_COUNTER_OFFSET done */
	uint64_t start_ns;
	enum vm_failure failure;		/* why building/loading failed; main thread */
};

void vm_trace(const struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t monotonic_ns(void);
/* The calling thread's CPU time, user and system (kernel TLS seals and
 * opens records in the system time of the thread that sends or reads). */
uint64_t thread_cpu_ns(void);

/* Records why the VM stops (first caller wins) and kicks every vCPU out of
 * KVM_RUN. Any thread but a vCPU's, which calls runstate_request_stop()
 * (vmctl.c). */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int arg);

static inline enum vm_stop_reason vm_stop_reason(struct vm *vm)
{
	return runstate_stop_reason(&vm->rs);
}

/* The device whose MMIO window holds [gpa, gpa+len), or NULL. */
struct device *vm_find_device(const struct vm *vm, uint64_t gpa, unsigned int len);

int vm_add_device(struct vm *vm, struct device *dev);

/* A memslot id of its own for the caller (ids 1, 2, ...; 0 is RAM's).
 * Called while the VM is built (main thread). */
static inline uint32_t vm_reserve_memslot(struct vm *vm)
{
	return 1 + vm->nr_extra_slots++;
}

/*
 * Pause (vmctl.c): every vCPU out of KVM_RUN and parked (any MMIO exit completed by a
 * last KVM_RUN with immediate_exit), the I/O thread paused with no request
 * in flight. Returns when all of that holds. Called from the main thread,
 * or from the migration thread while a migration runs (the control socket
 * then refuses pause, resume and snapshot). Resume undoes it. Both -errno; pausing a paused VM is a no-op.
 * vCPUs that do not park within VM_PAUSE_TIMEOUT_MS (or an I/O thread
 * handler that does not return within IOTHREAD_PAUSE_TIMEOUT_MS) fail the
 * pause with -ETIMEDOUT, reported by name, and the VM runs on as before.
 */
/* A kicked vCPU leaves KVM_RUN in microseconds; 10 s also covers an emulated
 * host (QEMU TCG) and a slow MMIO handler. */
#define VM_PAUSE_TIMEOUT_MS	10000
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(const struct vm *vm);
/* The devices alone, while no vCPU runs (a restore or an incoming migration
 * loads their state): the I/O thread paused, every device quiesced. -errno. */
int vm_pause_devices(struct vm *vm);
void vm_resume_devices(struct vm *vm);
/* The main loop saw the stop: every vCPU out of KVM_RUN now (one that
 * stopped the VM from its own thread only told the run state). */
void vm_stopped(struct vm *vm);

/* A loader refused its input (main thread, while the VM is built): records
 * it for main()'s exit status and returns @err. */
static inline int vm_refuse_input(struct vm *vm, int err)
{
	vm->failure = VM_FAILED_INPUT;
	return err;
}

#endif
