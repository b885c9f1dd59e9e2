// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "devices/device.h"
#include "log.h"
#include "vm.h"

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void vm_trace(const struct vm *vm, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	uint64_t us;

	if (!vm->cfg->trace)
		return;
	us = (monotonic_ns() - vm->start_ns) / 1000;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tern: trace %6llu.%03llu ms %s\n", (unsigned long long)(us / 1000),
		(unsigned long long)(us % 1000), line);
}

int vm_add_device(struct vm *vm, struct device *dev)
{
	if (vm->nr_devices == VM_MAX_DEVICES) {
		pr_err("too many devices (at most %d)", VM_MAX_DEVICES);
		return -ENOSPC;
	}
	vm->devices[vm->nr_devices++] = dev;
	return 0;
}
