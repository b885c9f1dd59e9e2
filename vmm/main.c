// SPDX-License-Identifier: GPL-2.0-only
/*
 * tern: a small KVM virtual machine monitor for arm64.
 *
 * main() reads as the machine's life: parse options, plan memory, read the
 * boot images, build the VM in the order arm64 KVM requires, run it (again
 * after each guest reset), tear it down. Only main() decides the exit status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "boot.h"
#include "cli.h"
#include "confine.h"
#include "control.h"
#include "mainloop.h"
#include "devices/devices.h"
#include "devices/pci.h"
#include "gic.h"
#include "kvm.h"
#include "log.h"
#include "migration/dirty.h"
#include "migration/channel_keys.h"
#include "migration/incoming.h"
#include "migration/migrate.h"
#include "migration/postcopy_incoming.h"
#include "migration/snapshot.h"
#include "runstate.h"
#include "vcpu.h"
#include "vm.h"

enum exit_status {
	EXIT_POWEROFF	= 0,
	EXIT_ERROR	= 1,	/* the host: no /dev/kvm, a KVM capability missing, ... */
	EXIT_USAGE	= 2,	/* bad options, a kernel/initrd that cannot boot, a bad snapshot */
	EXIT_RESET	= 3,	/* the guest asked for a reset under --no-reboot */
	EXIT_CRASH	= 4,
	EXIT_MEMORY_FAULT = 5,	/* a guest memory fault tern could not resolve (memfault) */
	EXIT_SIGNAL	= 128,	/* + the signal's number, as shells report it */
};

static int enable_nisv_to_user(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_ARM_NISV_TO_USER };

	/* Without it, a guest access KVM cannot decode kills KVM_RUN with
	 * ENOSYS; with it, tern gets KVM_EXIT_ARM_NISV and can say what happened. */
	return (int)kvm_ioctl_checked("vm", vm->vm_fd, KVM_ENABLE_CAP, &cap);
}

static bool boots_kernel(const struct vm_config *cfg)
{
	return !cfg->restore_path && !cfg->incoming_uri;
}

/*
 * Builds the VM in the order arm64 KVM requires (Documentation/virt/kvm/api.rst,
 * KVM_ARM_VCPU_INIT; Documentation/virt/kvm/devices/arm-vgic-v3.rst,
 * KVM_DEV_ARM_VGIC_CTRL_INIT; Documentation/virt/kvm/devices/vcpu.rst,
 * KVM_ARM_VCPU_PMU_V3_INIT): every vCPU exists and is initialised before the
 * vGIC is created and finalised; the PMU needs the finalised vGIC; nothing
 * runs until all of it is done.
 */
static int vm_build(struct vm *vm)
{
	int ret;

	ret = kvm_host_probe(&vm->host, vm->cfg->strict_mmio);
	if (ret < 0)
		return ret;
	ret = layout_check_host(&vm->layout, vm->host.ipa_bits, vm->host.max_vcpus);
	if (ret < 0)
		return ret;
	if (vm->cfg->pmu == PMU_ON && !vm->host.has_pmu) {
		pr_err("--pmu on: KVM_CAP_ARM_PMU_V3 missing (the host has no PMUv3 KVM can share)");
		return -ENOTSUP;
	}
	vm->pmu = vm->host.has_pmu && vm->cfg->pmu != PMU_OFF;
	if (vm->cfg->mem_errors == MEM_ERRORS_INJECT && !vm->host.has_ext_dabt)
		pr_warn("KVM_CAP_ARM_INJECT_EXT_DABT missing (host kernel 5.5+): a memory error the guest runs into will stop the VM instead of reaching the guest as an abort");
	ret = kvm_create_vm(&vm->host, vm->layout.ipa_bits);
	if (ret < 0)
		return ret;
	vm->vm_fd = ret;
	vm_trace(vm, "vm: created, %u-bit IPA space", vm->layout.ipa_bits);
	/* Dirty rings only before the first vCPU, their bitmap (or the manual
	 * protect of --dirty-tracking bitmap) before the first memslot. */
	ret = dirty_log_enable(vm, vm->cfg->dirty_tracking, vm->cfg->dirty_ring_entries);
	if (ret < 0)
		return ret;
	ret = enable_nisv_to_user(vm);
	if (ret < 0)
		return ret;

	/* After KVM_CREATE_VM: a guest_memfd belongs to the VM. */
	ret = guest_memory_alloc(&vm->ram, vm->vm_fd, vm->cfg->mem_backend, vm->layout.ram_base,
				 vm->layout.ram_size);
	if (!ret)
		ret = guest_memory_register(&vm->ram, vm->vm_fd, 0);
	if (ret < 0)
		return ret;
	vm_trace(vm, "memory: %llu MiB at %#llx, slot 0, backend %s",
		 (unsigned long long)(vm->ram.size >> 20), (unsigned long long)vm->ram.gpa,
		 mem_backend_name(vm->ram.backend));

	ret = vcpus_create(vm);
	if (!ret)
		ret = dirty_log_attach(vm);
	if (!ret)
		ret = vcpus_init(vm);
	if (!ret)
		ret = devices_create(vm);
	if (!ret)
		ret = gic_create(vm, devices_max_spi(vm));
	if (!ret)
		ret = gic_finalize(vm);
	if (!ret)
		ret = vcpus_init_pmu(vm);
	if (!ret)
		ret = vcpus_read_mpidr(vm);
	/* A restored or migrated guest's RAM, device tree included, comes from
	 * the stream. */
	/* A firmware guest's tree also serves a reset after a restore. */
	if (!ret && (boots_kernel(vm->cfg) || vm->cfg->firmware_path))
		ret = boot_build_dtb(vm);
	if (!ret && boots_kernel(vm->cfg))
		ret = boot_load_into_ram(vm);
	/* Migration keys are read while their files may still be opened. */
	if (!ret)
		ret = migration_keys_load(vm);
	/* Before any thread starts: the jail and the user change apply to a
	 * process that has one thread, and Landlock to all that come later. */
	if (!ret)
		ret = confine_process(vm);
	/* Before the main thread's filter, which would stack under theirs:
	 * each vCPU thread runs under the vCPU allowlist alone. */
	if (!ret)
		ret = vcpus_spawn(vm);
	if (!ret)
		ret = confine_main_thread(vm);
	if (!ret)
		ret = console_start_writer(&vm->console);
	if (!ret)
		ret = devices_start(vm);
	if (!ret && vm->cfg->restore_path)
		ret = snapshot_restore(vm, vm->cfg->restore_path);
	if (!ret && vm->cfg->incoming_uri)
		ret = migration_incoming(vm);
	return ret;
}

/* A guest reset: vCPUs back to their reset state, devices too, images
 * reloaded. Guest RAM is not cleared, as on real hardware. */
static int vm_reset(struct vm *vm)
{
	int ret;

	vm_trace(vm, "vm: reset");
	if (!vm->boot.kernel && !vm->cfg->firmware_path) {
		pr_err("the guest asked for a reset, but a restored VM has no kernel image to "
		       "boot again: exiting with status %d", EXIT_RESET);
		return -ENOEXEC;
	}
	ret = vcpus_init(vm);
	if (ret < 0)
		return ret;
	devices_reset(vm);
	return boot_load_into_ram(vm);
}

static int status_for(struct vm *vm, enum vm_stop_reason reason)
{
	switch (reason) {
	case VM_STOP_POWEROFF:
	case VM_STOP_QUIT:
	case VM_STOP_MIGRATED:
		return EXIT_POWEROFF;
	case VM_STOP_RESET:
		pr_info("the guest asked for a reset; exiting (--no-reboot)");
		return EXIT_RESET;
	case VM_STOP_CRASH:
		return EXIT_CRASH;
	case VM_STOP_SIGNAL:
		return EXIT_SIGNAL + runstate_stop_arg(&vm->rs);
	case VM_STOP_MEMORY_FAULT:
		return EXIT_MEMORY_FAULT;
	case VM_RUNNING:
	case VM_STOP_ERROR:
		break;
	}
	return EXIT_ERROR;
}

/* Runs the vCPUs, released together by one barrier, until the VM stops. */
static enum vm_stop_reason vm_run_once(struct vm *vm, int sig_fd)
{
	bool moved;

	vcpus_start(vm);
	if (runstate_requested(&vm->rs, RUNSTATE_PAUSE) && vm_pause(vm) < 0)
		vm_request_stop(vm, VM_STOP_ERROR, 0);

	if (main_loop(vm, sig_fd) < 0)
		vm_request_stop(vm, VM_STOP_ERROR, 0);
	/* A vCPU thread that stopped the VM only told the run state, whose
	 * eventfd ended the loop: the other vCPUs leave KVM_RUN now. */
	vm_stopped(vm);
	/* Before anything here changes the VM's pause state again. */
	moved = migrate_finish(vm);
	/* Parked vCPUs and a paused I/O thread see the stop. A migrated VM's
	 * devices stay paused: its guest runs elsewhere, on the same disks
	 * (also after a post-copy lost past the destination's ack).
	 * (Parked vCPUs leave on the stop alone.) */
	if (vm_stop_reason(vm) != VM_STOP_MIGRATED && !moved)
		vm_resume(vm);
	vcpus_wait_idle(vm);
	vm_trace(vm, "vcpus: all stopped");
	return vm_stop_reason(vm);
}

static int vm_run(struct vm *vm, int sig_fd)
{
	for (;;) {
		enum vm_stop_reason reason = vm_run_once(vm, sig_fd);

		if (reason != VM_STOP_RESET || vm->cfg->no_reboot)
			return status_for(vm, reason);
		if (vm_reset(vm) < 0)
			return vm->boot.kernel ? EXIT_ERROR : EXIT_RESET;
		/* Only the reset's stop is forgotten: one requested before the
		 * first run (an incoming post-copy that failed right after its
		 * ack, a signal) stops the VM as soon as it starts. */
		runstate_clear_stop(&vm->rs);
	}
}

/* Peak RSS less the guest RAM the host backs: what tern itself costs. */
static void trace_memory_use(struct vm *vm)
{
	unsigned long long hwm_kib = 0, rss_kib = 0, guest_kib;
	char line[128];
	FILE *f;

	if (!vm->cfg->trace || !(f = fopen("/proc/self/status", "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmHWM: %llu kB", &hwm_kib);
		sscanf(line, "VmRSS: %llu kB", &rss_kib);
	}
	fclose(f);
	guest_kib = guest_memory_resident(&vm->ram) >> 10;
	vm_trace(vm, "memory: peak RSS %llu KiB, RSS %llu KiB, guest RAM resident %llu KiB, tern's own peak ~%llu KiB",
		 hwm_kib, rss_kib, guest_kib, hwm_kib > guest_kib ? hwm_kib - guest_kib : 0);
}

/* The state of the features struct vm points to (vm.h says why it does
 * not embed them), zeroed as their init functions expect. */
static int vm_alloc_features(struct vm *vm)
{
	vm->pci = calloc(1, sizeof(*vm->pci));
	vm->dirty = calloc(1, sizeof(*vm->dirty));
	if (vm->pci && vm->dirty)
		return 0;
	pr_err("cannot allocate the VM's PCI and dirty-tracking state: out of memory");
	return -ENOMEM;
}

static void vm_destroy(struct vm *vm)
{
	devices_destroy(vm);
	dirty_log_destroy(vm);
	msi_routes_destroy(vm);
	gic_destroy(&vm->gic);
	vcpus_destroy(vm);
	guest_memory_free(&vm->ram);
	boot_images_free(vm);
	migration_keys_free(vm);
	if (vm->vm_fd > 0)
		close(vm->vm_fd);
	if (vm->host.kvm_fd > 0)
		close(vm->host.kvm_fd);
	runstate_destroy(&vm->rs);
	free(vm->dirty);
	free(vm->pci);
}

/*
 * SIGINT and SIGTERM are taken through a signalfd by the main thread; the
 * vCPU kick signal is blocked everywhere but in vCPU threads. Threads
 * inherit this mask, so set it before creating any.
 */
static int block_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, VCPU_KICK_SIGNAL);
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		pr_err("signalfd: %m");
	return fd;
}

int main(int argc, char *argv[])
{
	struct vm_config cfg;
	enum cli_command cmd;
	struct vm vm = { .cfg = &cfg, .rs.stop_efd = -1, .sig_fd = -1, .console.rx_efd = -1,
			 .console.out_fd = -1, .console.out_rd = -1, .ram.fd = -1 };
	int status, sig_fd, ret;

	pthread_mutex_init(&vm.msi.lock, NULL);
	ratelimit_init(&vm.msi.lost_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ratelimit_init(&vm.unclaimed_mmio_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ratelimit_init(&vm.strict_mmio_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	vm.start_ns = monotonic_ns();
	if (cli_parse(argc, argv, &cmd, &cfg) < 0)
		return EXIT_USAGE;
	if (cmd == CLI_HELP) {
		cli_usage(stdout);
		return 0;
	}
	if (cmd == CLI_VERSION) {
		printf("tern %s\n", TERN_VERSION);
		return 0;
	}
	if (cmd == CLI_CTL)
		return ctl_main(&cfg);
	vm_trace(&vm, "tern %s: starting", TERN_VERSION);
	if (vm_alloc_features(&vm) < 0)
		return EXIT_FAILURE;

	vm.nr_vcpus = cfg.nr_cpus;
	if (layout_compute(&vm.layout, cfg.ram_size, cfg.nr_cpus) < 0 ||
	    ((boots_kernel(&cfg) || cfg.firmware_path) && boot_images_load(&vm) < 0)) {
		boot_images_free(&vm);
		return EXIT_USAGE;
	}

	/* A console reader that went away must not kill the VM: the console
	 * writer's writes fail with EPIPE and it throws the output away. */
	signal(SIGPIPE, SIG_IGN);
	if (confine_prepare(&cfg) < 0) {
		boot_images_free(&vm);
		return EXIT_ERROR;
	}
	sig_fd = block_signals();
	vm.sig_fd = sig_fd;
	if (sig_fd < 0 || runstate_init(&vm.rs) < 0 || console_open(&vm.console, cfg.console_buffer) < 0 ||
	    (cfg.control_path && control_open(&vm, cfg.control_path) < 0)) {
		vm_destroy(&vm);
		return EXIT_ERROR;
	}
	if (cfg.start_paused)
		runstate_request(&vm.rs, RUNSTATE_PAUSE);
	ret = vm_build(&vm);
	/* Not guessed from the errno: a missing /dev/kvm (ENOENT) or KVM
	 * capability (ENOTSUP) is the host's, only a loader says "bad input". */
	if (ret == -EINTR && vm_stop_reason(&vm) == VM_STOP_SIGNAL)
		status = EXIT_SIGNAL + runstate_stop_arg(&vm.rs);	/* --incoming's wait, interrupted */
	else if (ret < 0)
		status = vm.failure == VM_FAILED_INPUT ? EXIT_USAGE : EXIT_ERROR;
	else
		status = vm_run(&vm, sig_fd);

	trace_memory_use(&vm);
	/* An incoming post-copy still running stops before RAM goes away. */
	postcopy_incoming_finish(&vm);
	control_close(&vm);
	console_close(&vm.console);
	vm_destroy(&vm);
	close(sig_fd);
	vm_trace(&vm, "exit status %d", status);
	return status;
}
