// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "exit_path.h"
#include "kvm.h"
#include "log.h"

EXIT_PATH long __kvm_ioctl(int fd, unsigned long req, unsigned long arg)
{
	long ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

long kvm_report(const char *obj, const char *req, long ret)
{
	if (ret >= 0)
		return ret;
	if (ret == -EIO)
		pr_err("%s on %s failed: EIO: KVM marked the VM dead (see the host's dmesg)",
		       req, obj);
	else
		pr_err("%s on %s failed: %s", req, obj, strerror((int)-ret));
	return ret;
}

int kvm_check_extension(int fd, long cap)
{
	long ret = kvm_ioctl_val(fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? 0 : (int)ret;
}

struct kvm_cap_need {
	long cap;
	const char *name;
	const char *since;
};

/* Every capability tern cannot run without, with the first Linux that has it on arm64. */
static const struct kvm_cap_need required_caps[] = {
	{ KVM_CAP_USER_MEMORY,		"KVM_CAP_USER_MEMORY",		"3.11" },
	{ KVM_CAP_ONE_REG,		"KVM_CAP_ONE_REG",		"3.11" },
	{ KVM_CAP_DEVICE_CTRL,		"KVM_CAP_DEVICE_CTRL",		"3.11" },
	{ KVM_CAP_IRQCHIP,		"KVM_CAP_IRQCHIP",		"3.11" },
	{ KVM_CAP_ARM_PSCI_0_2,		"KVM_CAP_ARM_PSCI_0_2",		"3.18" },
	{ KVM_CAP_MP_STATE,		"KVM_CAP_MP_STATE",		"4.3" },
	{ KVM_CAP_IMMEDIATE_EXIT,	"KVM_CAP_IMMEDIATE_EXIT",	"4.11" },
	{ KVM_CAP_VCPU_EVENTS,		"KVM_CAP_VCPU_EVENTS",		"4.19" },
	{ KVM_CAP_ARM_VM_IPA_SIZE,	"KVM_CAP_ARM_VM_IPA_SIZE",	"4.20" },
	{ KVM_CAP_ARM_NISV_TO_USER,	"KVM_CAP_ARM_NISV_TO_USER",	"5.5" },
	{ KVM_CAP_IRQ_ROUTING,		"KVM_CAP_IRQ_ROUTING",		"4.8" },
	{ KVM_CAP_IRQFD,		"KVM_CAP_IRQFD",		"4.8" },
	{ KVM_CAP_IOEVENTFD,		"KVM_CAP_IOEVENTFD",		"4.1" },
};

static int check_required_caps(int kvm_fd)
{
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		const struct kvm_cap_need *c = &required_caps[i];

		if (!kvm_check_extension(kvm_fd, c->cap)) {
			pr_err("%s missing: host kernel %s+ needed", c->name, c->since);
			return -ENOTSUP;
		}
	}
	return 0;
}

int kvm_host_probe(struct kvm_host *host, bool need_ext_dabt)
{
	int fd, ret, version;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_err("cannot open /dev/kvm: %s: tern needs an arm64 host with KVM (and permission on /dev/kvm)",
		       strerror(errno));
		return ret;
	}
	version = (int)__kvm_ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		pr_err("KVM API version %d, tern speaks %d", version, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	ret = check_required_caps(fd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	host->kvm_fd = fd;
	host->ipa_bits = (unsigned int)kvm_check_extension(fd, KVM_CAP_ARM_VM_IPA_SIZE);
	host->max_vcpus = (unsigned int)kvm_check_extension(fd, KVM_CAP_MAX_VCPUS);
	if (!host->max_vcpus)
		host->max_vcpus = (unsigned int)kvm_check_extension(fd, KVM_CAP_NR_VCPUS);
	host->has_pmu = kvm_check_extension(fd, KVM_CAP_ARM_PMU_V3);
	host->has_ext_dabt = kvm_check_extension(fd, KVM_CAP_ARM_INJECT_EXT_DABT);
	if (need_ext_dabt && !host->has_ext_dabt) {
		pr_err("KVM_CAP_ARM_INJECT_EXT_DABT missing (needed by --strict-mmio): host kernel 5.5+ needed");
		close(fd);
		return -ENOTSUP;
	}
	return 0;
}

int kvm_create_vm(const struct kvm_host *host, unsigned int ipa_bits)
{
	/* Below 32 bits KVM refuses the type; the map always needs more anyway. */
	if (ipa_bits < 32)
		ipa_bits = 32;
	return (int)kvm_report("/dev/kvm", "KVM_CREATE_VM",
			       kvm_ioctl_val(host->kvm_fd, KVM_CREATE_VM,
					     KVM_VM_TYPE_ARM_IPA_SIZE(ipa_bits)));
}

int kvm_set_reg(int vcpu_fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(unsigned long)&val };

	return (int)kvm_ioctl(vcpu_fd, KVM_SET_ONE_REG, &reg);
}

int kvm_get_reg(int vcpu_fd, uint64_t id, uint64_t *val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(unsigned long)val };

	return (int)kvm_ioctl(vcpu_fd, KVM_GET_ONE_REG, &reg);
}

int kvm_device_set_attr(int fd, uint32_t group, uint64_t attr, void *val)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uint64_t)(unsigned long)val,
	};

	return (int)kvm_ioctl(fd, KVM_SET_DEVICE_ATTR, &a);
}

int kvm_device_get_attr(int fd, uint32_t group, uint64_t attr, void *val)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uint64_t)(unsigned long)val,
	};

	return (int)kvm_ioctl(fd, KVM_GET_DEVICE_ATTR, &a);
}
