/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MMIO_H
#define TERN_MMIO_H

#include <stdbool.h>
#include <stdint.h>

struct device;
struct vm;

/*
 * The userspace half of an MMIO exit, without KVM: what a vCPU thread does
 * between KVM_RUN returning KVM_EXIT_MMIO and entering again. Kept apart
 * from vmm/exits.c so that it builds on any host, where it is unit-tested
 * and its cost counted (bench/exit-path).
 */
enum mmio_result {
	MMIO_DONE,		/* a device served it */
	MMIO_UNCLAIMED,		/* no device's window holds it */
	MMIO_BAD_LENGTH,	/* KVM reported a length outside 1..8 */
	MMIO_GIC_FRAME,		/* inside the vGIC's frames: KVM's, not ours */
};

/*
 * Serves one access of @len bytes at @gpa (@data in guest byte order, read
 * into for a load) on the device whose window holds it. @hint is the
 * calling vCPU's last device: tried first, updated on a hit. Devices are
 * fixed once the VM is built, so a hint never dangles.
 */
enum mmio_result mmio_access(const struct vm *vm, struct device **hint, uint64_t gpa,
			     uint8_t *data, unsigned int len, bool is_write);

#endif
