// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>

#include "layout.h"
#include "log.h"

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static unsigned int bits_to_cover(uint64_t end)
{
	return 64 - __builtin_clzll(end - 1);
}

int layout_compute(struct mem_layout *l, uint64_t ram_size, unsigned int nr_cpus)
{
	/* The top of the map must stay below 2^52, the largest IPA arm64 has. */
	const uint64_t ram_max = (1ULL << 52) - LAYOUT_RAM_BASE - 2 * LAYOUT_PCI_MMIO64_ALIGN;

	if (nr_cpus < 1 || nr_cpus > LAYOUT_MAX_CPUS) {
		pr_err("%u vCPUs: tern's memory map holds 1 to %llu", nr_cpus, LAYOUT_MAX_CPUS);
		return -EINVAL;
	}
	if (ram_size < LAYOUT_RAM_MIN || ram_size > ram_max) {
		pr_err("memory size %llu MiB: must be between %llu MiB and %llu GiB",
		       (unsigned long long)(ram_size / MiB), LAYOUT_RAM_MIN / MiB,
		       (unsigned long long)(ram_max / GiB));
		return -EINVAL;
	}
	if (ram_size % LAYOUT_RAM_ALIGN) {
		pr_err("memory size %llu bytes is not a multiple of 2 MiB",
		       (unsigned long long)ram_size);
		return -EINVAL;
	}

	l->ram_base = LAYOUT_RAM_BASE;
	l->ram_size = ram_size;
	l->nr_cpus = nr_cpus;
	l->gicr_size = (uint64_t)nr_cpus * LAYOUT_GICR_STRIDE;
	l->pci64_base = align_up(layout_ram_end(l), LAYOUT_PCI_MMIO64_ALIGN);
	l->pci64_size = LAYOUT_PCI_MMIO64_SIZE;
	l->ipa_bits = bits_to_cover(l->pci64_base + l->pci64_size);
	return 0;
}

int layout_check_host(const struct mem_layout *l, unsigned int host_ipa_bits,
		      unsigned int host_max_vcpus)
{
	if (l->ipa_bits > host_ipa_bits) {
		pr_err("%llu MiB of RAM needs a %u-bit guest physical address space; this host's KVM offers %u bits (KVM_CAP_ARM_VM_IPA_SIZE): use less --memory",
		       (unsigned long long)(l->ram_size / MiB), l->ipa_bits, host_ipa_bits);
		return -E2BIG;
	}
	if (l->nr_cpus > host_max_vcpus) {
		pr_err("%u vCPUs requested; this host's KVM allows %u (KVM_CAP_MAX_VCPUS)",
		       l->nr_cpus, host_max_vcpus);
		return -E2BIG;
	}
	return 0;
}

const char *layout_gic_frame(const struct mem_layout *l, uint64_t gpa)
{
	if (gpa >= LAYOUT_GICD_BASE && gpa - LAYOUT_GICD_BASE < LAYOUT_GICD_SIZE)
		return "GIC distributor";
	if (gpa >= LAYOUT_GICR_BASE && gpa - LAYOUT_GICR_BASE < l->gicr_size)
		return "GIC redistributor";
	if (gpa >= LAYOUT_GITS_BASE && gpa - LAYOUT_GITS_BASE < LAYOUT_GITS_SIZE)
		return "GIC ITS";
	return NULL;
}
