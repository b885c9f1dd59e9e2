/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VCPU_STATE_H
#define TERN_VCPU_STATE_H

struct vcpu;
struct state_writer;
struct state_reader;

/*
 * A vCPU's whole architectural state as KVM exposes it: every register of
 * KVM_GET_REG_LIST (core, FP/SIMD, system, timer, firmware pseudo-registers
 * such as the PSCI version), the MP state (powered off or runnable) and
 * pending vCPU events (SError, external abort). The vCPU must be parked.
 */
int vcpu_state_save(struct vcpu *vcpu, struct state_writer *w);

/*
 * The reverse, on a vCPU that has been initialised (KVM_ARM_VCPU_INIT) but
 * has not run. The register list must be the host's own, entry for entry:
 * a register this KVM does not offer, or one it offers that the snapshot
 * lacks, is refused by id. -errno, with the reason logged.
 */
int vcpu_state_load(struct vcpu *vcpu, struct state_reader *r);

#endif
