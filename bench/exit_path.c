// SPDX-License-Identifier: GPL-2.0-only
/*
 * What tern itself does per MMIO exit, apart from KVM: vmm/mmio.c's
 * mmio_access on a machine laid out as tern's (the 16550, the PCI host's
 * ECAM and windows, three virtio-pci functions), with no KVM underneath.
 * bench/exit-path runs it natively for nanoseconds and under callgrind for
 * instructions per access, which do not depend on the machine's load.
 *
 *   exit_path [N]    N accesses of each kind (default 2^20)
 *
 * Kinds: ecam_read (a 32-bit config read of slot 0's IDs: kvm-unit-tests'
 * micro-bench mmio_read_user, as bench/exits.sh points it at tern), uart_lsr
 * (the 16550's line status, which a polling console reads per character),
 * bar_read and bar_write (a 16-bit common-config register of the last
 * virtio function: num_queues, queue_select).
 *
 * Then what the confinement adds to each exit: the one system call an exit
 * makes, KVM_RUN, timed in a child without filters and then through the
 * filters a vCPU thread runs under (tern's main thread's, then its own:
 * vmm/sandbox_filters.c; on an fd that is not open, so the kernel answers
 * EBADF right after the filters). Natively only: valgrind cannot run a
 * filtered process, so callgrind has no count for it.
 */
#include <inttypes.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>

#include <valgrind/callgrind.h>
#include <valgrind/valgrind.h>

#include "devices/uart16550.h"
#include "bench/syscall_cost.h"
#include "tests/unit/vpci_harness.h"
#include "vmm/mmio.h"

#define FUNCTIONS	3
#define BAR_STRIDE	(1ULL << 20)

struct bench {
	struct vh h;
	struct pci_device *fn[FUNCTIONS];
	struct device *hint;
};

static void bench_access(struct bench *b, uint64_t gpa, uint64_t *v, unsigned int len, bool write)
{
	if (mmio_access(&b->h.vm, &b->hint, gpa, (uint8_t *)v, len, write) != MMIO_DONE) {
		fprintf(stderr, "exit_path: access at %#" PRIx64 " not served\n", gpa);
		exit(1);
	}
}

static void cfg_write(struct bench *b, unsigned int slot, unsigned int reg, uint64_t v,
		      unsigned int len)
{
	bench_access(b, LAYOUT_PCI_ECAM_BASE + ((uint64_t)slot << 15) + reg, &v, len, true);
}

/* The machine: devices in devices_create()'s order, BAR 0 of function i at
 * the 32-bit window's base + i MiB, memory decoding on. */
static int bench_init(struct bench *b)
{
	struct vm *vm = &b->h.vm;
	struct device *uart;

	if (vh_init(&b->h) < 0)
		return -1;
	for (unsigned int i = 1; i < FUNCTIONS; i++)
		if (!vh_add_fake(&b->h))
			return -1;
	uart = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, -1, NULL, NULL);
	if (!uart)
		return -1;
	vm->devices[vm->nr_devices++] = uart;
	vm->devices[vm->nr_devices++] = &vm->pci->ecam;
	vm->devices[vm->nr_devices++] = &vm->pci->mmio;
	if (vm->pci->mmio64.mmio_size)
		vm->devices[vm->nr_devices++] = &vm->pci->mmio64;
	for (unsigned int s = 0, i = 0; s < PCI_MAX_SLOTS && i < FUNCTIONS; s++) {
		uint64_t bar = LAYOUT_PCI_MMIO32_BASE + i * BAR_STRIDE;

		if (!vm->pci->slots[s])
			continue;
		b->fn[i++] = vm->pci->slots[s];
		cfg_write(b, s, PCI_BASE_ADDRESS_0, (uint32_t)bar | PCI_BASE_ADDRESS_MEM_TYPE_64, 4);
		cfg_write(b, s, PCI_BASE_ADDRESS_1, bar >> 32, 4);
		cfg_write(b, s, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	}
	return b->fn[FUNCTIONS - 1] ? 0 : -1;
}

struct kind {
	const char *name;
	uint64_t gpa;
	unsigned int len;
	bool write;
};

/* N accesses of @k: callgrind's counters cover exactly the loop. */
static double run_kind(struct bench *b, const struct kind *k, unsigned long n)
{
	uint64_t v = 0;
	double t0;

	bench_access(b, k->gpa, &v, k->len, k->write);	/* warm: the hint, the caches */
	CALLGRIND_ZERO_STATS;
	t0 = bench_now_ns();
	for (unsigned long i = 0; i < n; i++)
		bench_access(b, k->gpa, &v, k->len, k->write);
	t0 = bench_now_ns() - t0;
	CALLGRIND_DUMP_STATS_AT(k->name);
	return t0 / (double)n;
}

static void call_kvm_run(void)
{
	(void)!ioctl(-1, KVM_RUN, 0);
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1UL << 20;
	uint64_t last_bar = LAYOUT_PCI_MMIO32_BASE + (FUNCTIONS - 1) * BAR_STRIDE;
	const struct kind kinds[] = {
		{ "ecam_read", LAYOUT_PCI_ECAM_BASE, 4, false },
		{ "uart_lsr", LAYOUT_UART_BASE + 5, 1, false },
		{ "bar_read", last_bar + VH_CC(num_queues), 2, false },
		{ "bar_write", last_bar + VH_CC(queue_select), 2, true },
	};
	static struct bench b;

	if (!n || bench_init(&b) < 0) {
		fprintf(stderr, "exit_path: %s\n", n ? "cannot build the machine" : "N must be > 0");
		return 1;
	}
	printf("%-16s %12s  (%lu accesses each)\n", "kind", "ns/access", n);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		printf("%-16s %12.1f\n", kinds[i].name, run_kind(&b, &kinds[i], n));
	if (!RUNNING_ON_VALGRIND) {
		const struct syscall_probe kvm_run = { "ioctl(KVM_RUN)", call_kvm_run };
		double open_ns, confined_ns;

		if (syscall_cost(SANDBOX_VCPU, &kvm_run, n, 1, &open_ns, &confined_ns) < 0) {
			fprintf(stderr, "exit_path: KVM_RUN through the vCPU filters could not be timed\n");
			return 1;
		}
		printf("%-16s %12.1f\n%-16s %12.1f\n", "kvm_run", open_ns, "kvm_run_confined",
		       confined_ns);
	}
	return 0;
}
