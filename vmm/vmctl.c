// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pausing, resuming and stopping the whole VM: the one file that drives
 * both the vCPUs (vcpu.c) and the devices (devices/), above both of them.
 * The files below call down only: a vCPU thread that stops the VM records
 * it in the run state (runstate.h), whose eventfd the main loop polls.
 */
#include "devices/devices.h"
#include "runstate.h"
#include "vcpu.h"
#include "vm.h"

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int arg)
{
	runstate_request_stop(&vm->rs, reason, arg);
	/* Parked ones were woken by the request; these are in KVM_RUN. */
	vcpus_kick(vm);
}

int vm_pause(struct vm *vm)
{
	int ret;

	if (vm->paused)
		return 0;
	ret = vcpus_pause(vm);
	if (ret < 0)
		return ret;
	ret = devices_pause(vm);
	if (ret < 0) {
		/* The VM runs on as it did before the pause. */
		vcpus_unpause(vm);
		return ret;
	}
	vm->paused = true;
	vm_trace(vm, "vm: paused");
	return 0;
}

int vm_resume(struct vm *vm)
{
	if (!vm->paused)
		return 0;
	devices_resume(vm);
	vcpus_unpause(vm);
	vm->paused = false;
	vm_trace(vm, "vm: resumed");
	return 0;
}

int vm_pause_devices(struct vm *vm)
{
	return devices_pause(vm);
}

void vm_resume_devices(struct vm *vm)
{
	devices_resume(vm);
}

void vm_stopped(struct vm *vm)
{
	vcpus_kick(vm);
}

bool vm_is_paused(const struct vm *vm)
{
	return vm->paused;
}
