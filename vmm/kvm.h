/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_KVM_H
#define TERN_KVM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

/*
 * ioctl twins, after the kernel's KVM selftests: kvm_ioctl() returns 0 (or
 * the ioctl's non-negative result) or -errno; kvm_ioctl_checked() also
 * prints which ioctl failed on which object. Both check at compile time that
 * the argument's size matches the size encoded in the ioctl number.
 */
long __kvm_ioctl(int fd, unsigned long req, unsigned long arg);
long kvm_report(const char *obj, const char *req, long ret);

#define kvm_ioctl(fd, req, argp) ({							\
	_Static_assert(_IOC_SIZE(req) == sizeof(*(argp)), #req ": argument size");	\
	__kvm_ioctl(fd, req, (unsigned long)(argp));					\
})
#define kvm_ioctl_checked(obj, fd, req, argp) \
	kvm_report(obj, #req, kvm_ioctl(fd, req, argp))
/* For the few ioctls whose argument is a value, not a pointer. */
#define kvm_ioctl_val(fd, req, val) __kvm_ioctl(fd, req, (unsigned long)(val))

/* What the host's KVM offers, read once before anything is created. */
struct kvm_host {
	int kvm_fd;
	unsigned int ipa_bits;		/* largest guest IPA size */
	unsigned int max_vcpus;
	bool has_pmu;
	bool has_ext_dabt;		/* KVM_CAP_ARM_INJECT_EXT_DABT */
};

/* Opens /dev/kvm and checks every capability tern relies on; a missing one
 * is reported by name with the first kernel that has it. -errno. */
int kvm_host_probe(struct kvm_host *host, bool need_ext_dabt);

/* Creates a VM with an IPA space of @ipa_bits. Returns the VM fd or -errno. */
int kvm_create_vm(const struct kvm_host *host, unsigned int ipa_bits);

int kvm_check_extension(int fd, long cap);

/* Sets/reads one register; -errno. */
int kvm_set_reg(int vcpu_fd, uint64_t id, uint64_t val);
int kvm_get_reg(int vcpu_fd, uint64_t id, uint64_t *val);

/* Sets a device attribute (vGIC, ITS, PMU); @val may be NULL. -errno. */
int kvm_device_set_attr(int fd, uint32_t group, uint64_t attr, void *val);
int kvm_device_get_attr(int fd, uint32_t group, uint64_t attr, void *val);

#endif
