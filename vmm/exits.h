/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_EXITS_H
#define TERN_EXITS_H

struct vcpu;

enum exit_action {
	EXIT_CONTINUE,		/* re-enter the guest */
	EXIT_STOP,		/* this vCPU stops; the VM's stop reason is set */
};

/* Handles the exit in vcpu->run after a successful KVM_RUN. */
enum exit_action vcpu_handle_exit(struct vcpu *vcpu);

/* A synchronous external data abort for the guest, taken at its next
 * entry (KVM_SET_VCPU_EVENTS ext_dabt_pending). -errno, reported. */
int vcpu_inject_ext_dabt(struct vcpu *vcpu);

/* "KVM_EXIT_MMIO", or "unknown" for a reason tern has no name for. */
const char *exit_reason_name(unsigned int reason);

#endif
