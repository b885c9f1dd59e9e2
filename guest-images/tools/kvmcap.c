// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmcap NAME...: prints, one a line, what this host's KVM answers to
 * KVM_CHECK_EXTENSION for each capability KVM_CAP_NAME, asked on a new VM's
 * fd (Documentation/virt/kvm/api.rst: "the extension is supported on the VM
 * fd" is the answer that counts for VM capabilities). For the lab's
 * scenarios to tell "the host kernel lacks X" (SKIP) from "tern failed"
 * without asking tern. Exit 2 if /dev/kvm or a VM cannot be had, or a name
 * is unknown.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * The numbers are the kernel's ABI (include/uapi/linux/kvm.h); the cross
 * toolchain's own headers may predate some of them.
 */
static const struct {
	const char *name;
	int cap;
} caps[] = {
	{ "ARM_PMU_V3", 126 },
	{ "MANUAL_DIRTY_LOG_PROTECT2", 168 },
	{ "ARM_NISV_TO_USER", 177 },
	{ "ARM_INJECT_EXT_DABT", 178 },
	{ "DIRTY_LOG_RING", 192 },
	{ "DIRTY_LOG_RING_ACQ_REL", 223 },
	{ "DIRTY_LOG_RING_WITH_BITMAP", 225 },
	{ "COUNTER_OFFSET", 227 },
	{ "USER_MEMORY2", 231 },
	{ "GUEST_MEMFD", 234 },
	{ "GUEST_MEMFD_FLAGS", 244 },
};

static int cap_number(const char *name)
{
	size_t i;

	if (!strncmp(name, "KVM_CAP_", 8))
		name += 8;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (!strcmp(name, caps[i].name))
			return caps[i].cap;
	return -1;
}

int main(int argc, char *argv[])
{
	int kvm, vm, i, cap;

	if (argc < 2) {
		fprintf(stderr, "usage: kvmcap NAME... (e.g. GUEST_MEMFD)\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("kvmcap: /dev/kvm");
		return 2;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		perror("kvmcap: KVM_CREATE_VM");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		cap = cap_number(argv[i]);
		if (cap < 0) {
			fprintf(stderr, "kvmcap: unknown capability %s\n", argv[i]);
			return 2;
		}
		printf("%d\n", ioctl(vm, KVM_CHECK_EXTENSION, cap));
	}
	return 0;
}
