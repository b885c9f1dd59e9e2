// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "devices/device.h"
#include "exit_path.h"
#include "exits.h"
#include "kvm.h"
#include "layout.h"
#include "log.h"
#include "mmio.h"
#include "runstate.h"
#include "vcpu.h"
#include "vm.h"

typedef enum exit_action (*exit_handler)(struct vcpu *vcpu);

#define EXIT_NAME(x) [x] = #x
static const char *const exit_names[] = {
	EXIT_NAME(KVM_EXIT_UNKNOWN),		EXIT_NAME(KVM_EXIT_EXCEPTION),
	EXIT_NAME(KVM_EXIT_IO),			EXIT_NAME(KVM_EXIT_HYPERCALL),
	EXIT_NAME(KVM_EXIT_DEBUG),		EXIT_NAME(KVM_EXIT_HLT),
	EXIT_NAME(KVM_EXIT_MMIO),		EXIT_NAME(KVM_EXIT_IRQ_WINDOW_OPEN),
	EXIT_NAME(KVM_EXIT_SHUTDOWN),		EXIT_NAME(KVM_EXIT_FAIL_ENTRY),
	EXIT_NAME(KVM_EXIT_INTR),		EXIT_NAME(KVM_EXIT_SET_TPR),
	EXIT_NAME(KVM_EXIT_TPR_ACCESS),		EXIT_NAME(KVM_EXIT_S390_SIEIC),
	EXIT_NAME(KVM_EXIT_S390_RESET),		EXIT_NAME(KVM_EXIT_DCR),
	EXIT_NAME(KVM_EXIT_NMI),		EXIT_NAME(KVM_EXIT_INTERNAL_ERROR),
	EXIT_NAME(KVM_EXIT_OSI),		EXIT_NAME(KVM_EXIT_PAPR_HCALL),
	EXIT_NAME(KVM_EXIT_S390_UCONTROL),	EXIT_NAME(KVM_EXIT_WATCHDOG),
	EXIT_NAME(KVM_EXIT_S390_TSCH),		EXIT_NAME(KVM_EXIT_EPR),
	EXIT_NAME(KVM_EXIT_SYSTEM_EVENT),	EXIT_NAME(KVM_EXIT_S390_STSI),
	EXIT_NAME(KVM_EXIT_IOAPIC_EOI),		EXIT_NAME(KVM_EXIT_HYPERV),
	EXIT_NAME(KVM_EXIT_ARM_NISV),		EXIT_NAME(KVM_EXIT_X86_RDMSR),
	EXIT_NAME(KVM_EXIT_X86_WRMSR),		EXIT_NAME(KVM_EXIT_DIRTY_RING_FULL),
	EXIT_NAME(KVM_EXIT_AP_RESET_HOLD),	EXIT_NAME(KVM_EXIT_X86_BUS_LOCK),
	EXIT_NAME(KVM_EXIT_XEN),		EXIT_NAME(KVM_EXIT_RISCV_SBI),
	EXIT_NAME(KVM_EXIT_RISCV_CSR),		EXIT_NAME(KVM_EXIT_NOTIFY),
	EXIT_NAME(KVM_EXIT_LOONGARCH_IOCSR),	EXIT_NAME(KVM_EXIT_MEMORY_FAULT),
};

const char *exit_reason_name(unsigned int reason)
{
	if (reason < sizeof(exit_names) / sizeof(exit_names[0]) && exit_names[reason])
		return exit_names[reason];
	return "unknown";
}

/* A guest may touch unclaimed addresses in a loop: rate-limited. */
static void warn_unclaimed(struct vcpu *vcpu, uint64_t addr, unsigned int len, bool write)
{
	struct ratelimit *rl = &vcpu->vm->unclaimed_mmio_log;

	pr_warn_ratelimited(rl, "%s: unclaimed MMIO %s of %u bytes at %#" PRIx64 " (%s; %" PRIu64 " so far)",
			    vcpu->name, write ? "write" : "read", len, addr,
			    write ? "ignored" : "reads as zero", ratelimit_total(rl) + 1);
}

int vcpu_inject_ext_dabt(struct vcpu *vcpu)
{
	struct kvm_vcpu_events events = { 0 };

	/* KVM reports the address of the access that exited as the abort's FAR. */
	events.exception.ext_dabt_pending = 1;
	return (int)kvm_ioctl_checked(vcpu->name, vcpu->fd, KVM_SET_VCPU_EVENTS, &events);
}

static enum exit_action inject_dabt(struct vcpu *vcpu, uint64_t addr)
{
	if (vcpu_inject_ext_dabt(vcpu) < 0) {
		runstate_request_stop(&vcpu->vm->rs, VM_STOP_ERROR, 0);
		return EXIT_STOP;
	}
	pr_warn_ratelimited(&vcpu->vm->strict_mmio_log,
			    "%s: unclaimed MMIO at %#" PRIx64 ": external data abort injected (--strict-mmio)",
			    vcpu->name, addr);
	return EXIT_CONTINUE;
}

static EXIT_PATH enum exit_action handle_mmio(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	typeof(vcpu->run->mmio) *mmio = &vcpu->run->mmio;

	switch (mmio_access(vm, &vcpu->mmio_hint, mmio->phys_addr, mmio->data, mmio->len,
			    mmio->is_write)) {
	case MMIO_DONE:
		return EXIT_CONTINUE;
	case MMIO_GIC_FRAME:
		/* KVM handles the vGIC's frames itself once they are mapped; an
		 * exit here means the GIC was used before it was finalised. */
		pr_err("%s: MMIO %s at %#llx inside the %s reached userspace: the vGIC is not mapped (bring-up order bug)",
		       vcpu->name, mmio->is_write ? "write" : "read",
		       (unsigned long long)mmio->phys_addr,
		       layout_gic_frame(&vm->layout, mmio->phys_addr));
		runstate_request_stop(&vm->rs, VM_STOP_ERROR, 0);
		return EXIT_STOP;
	case MMIO_BAD_LENGTH:
		pr_err("%s: MMIO exit with length %u", vcpu->name, mmio->len);
		runstate_request_stop(&vm->rs, VM_STOP_ERROR, 0);
		return EXIT_STOP;
	case MMIO_UNCLAIMED:
		break;
	}
	if (vm->cfg->strict_mmio)
		return inject_dabt(vcpu, mmio->phys_addr);
	warn_unclaimed(vcpu, mmio->phys_addr, mmio->len, mmio->is_write);
	if (!mmio->is_write)
		memset(mmio->data, 0, sizeof(mmio->data));
	return EXIT_CONTINUE;
}

static enum exit_action handle_system_event(struct vcpu *vcpu)
{
	uint32_t type = vcpu->run->system_event.type;

	switch (type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_trace(vcpu->vm, "%s: PSCI SYSTEM_OFF", vcpu->name);
		runstate_request_stop(&vcpu->vm->rs, VM_STOP_POWEROFF, 0);
		return EXIT_STOP;
	case KVM_SYSTEM_EVENT_RESET:
		vm_trace(vcpu->vm, "%s: PSCI SYSTEM_RESET", vcpu->name);
		runstate_request_stop(&vcpu->vm->rs, VM_STOP_RESET, 0);
		return EXIT_STOP;
	case KVM_SYSTEM_EVENT_CRASH:
		pr_err("%s: the guest reported a crash (PSCI system event CRASH)", vcpu->name);
		runstate_request_stop(&vcpu->vm->rs, VM_STOP_CRASH, 0);
		return EXIT_STOP;
	case KVM_SYSTEM_EVENT_WAKEUP:
		/* A vCPU woke from PSCI SYSTEM_SUSPEND's WFI: keep running it. */
		return EXIT_CONTINUE;
	default:
		pr_err("%s: unsupported system event %u (SUSPEND is not enabled, others are unknown)",
		       vcpu->name, type);
		runstate_request_stop(&vcpu->vm->rs, VM_STOP_ERROR, 0);
		return EXIT_STOP;
	}
}

static enum exit_action handle_nisv(struct vcpu *vcpu)
{
	pr_err("%s: data abort at IPA %#llx outside memory and devices that KVM cannot decode (ESR ISS %#llx, no valid syndrome: e.g. a load/store pair or writeback to MMIO); stopping",
	       vcpu->name, (unsigned long long)vcpu->run->arm_nisv.fault_ipa,
	       (unsigned long long)vcpu->run->arm_nisv.esr_iss);
	runstate_request_stop(&vcpu->vm->rs, VM_STOP_ERROR, 0);
	return EXIT_STOP;
}

static enum exit_action handle_fail_entry(struct vcpu *vcpu)
{
	pr_err("%s: KVM could not enter the guest (hardware_entry_failure_reason %#llx)",
	       vcpu->name,
	       (unsigned long long)vcpu->run->fail_entry.hardware_entry_failure_reason);
	runstate_request_stop(&vcpu->vm->rs, VM_STOP_ERROR, 0);
	return EXIT_STOP;
}

static enum exit_action handle_internal_error(struct vcpu *vcpu)
{
	pr_err("%s: KVM internal error, suberror %u", vcpu->name,
	       vcpu->run->internal.suberror);
	runstate_request_stop(&vcpu->vm->rs, VM_STOP_ERROR, 0);
	return EXIT_STOP;
}

static enum exit_action handle_intr(struct vcpu *vcpu)
{
	return EXIT_CONTINUE;	/* a signal interrupted the guest; nothing to do */
}

/*
 * KVM stops the vCPU when its dirty ring is soft-full, until userspace has
 * harvested and reset the rings (Documentation/virt/kvm/api.rst,
 * KVM_CAP_DIRTY_LOG_RING: KVM_RUN exits with KVM_EXIT_DIRTY_RING_FULL again
 * until then). Waiting in the run state rather than re-entering, which would
 * exit again at once; the harvester, a pause or a stop ends the wait.
 */
static enum exit_action handle_dirty_ring_full(struct vcpu *vcpu)
{
	atomic_fetch_add(&vcpu->vm->dirty_ring_full_exits, 1);
	runstate_wait_harvest(&vcpu->vm->rs);
	return EXIT_CONTINUE;
}

static const exit_handler exit_handlers[] = {
	[KVM_EXIT_DIRTY_RING_FULL]	= handle_dirty_ring_full,
	[KVM_EXIT_MMIO]			= handle_mmio,
	[KVM_EXIT_SYSTEM_EVENT]		= handle_system_event,
	[KVM_EXIT_ARM_NISV]		= handle_nisv,
	[KVM_EXIT_FAIL_ENTRY]		= handle_fail_entry,
	[KVM_EXIT_INTERNAL_ERROR]	= handle_internal_error,
	[KVM_EXIT_INTR]			= handle_intr,
};

EXIT_PATH enum exit_action vcpu_handle_exit(struct vcpu *vcpu)
{
	uint32_t reason = vcpu->run->exit_reason;

	if (reason < sizeof(exit_handlers) / sizeof(exit_handlers[0]) && exit_handlers[reason])
		return exit_handlers[reason](vcpu);
	pr_err("%s: unhandled exit reason %u (%s); stopping the VM", vcpu->name, reason,
	       exit_reason_name(reason));
	runstate_request_stop(&vcpu->vm->rs, VM_STOP_ERROR, 0);
	return EXIT_STOP;
}
