// SPDX-License-Identifier: GPL-2.0-only
/* --vfio: the option's syntax and what it excludes (devices/vfio.c opens). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_vfio.h"
#include "log.h"

#define SYSFS_PCI	"/sys/bus/pci/devices/"

/* DDDD:BB:DD.F, hex, as sysfs names PCI functions. */
static bool is_pci_address(const char *s)
{
	static const char pattern[] = "xxxx:xx:xx.x";

	if (strlen(s) != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; pattern[i]; i++)
		if (pattern[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != pattern[i])
			return false;
	return s[11] >= '0' && s[11] <= '7';
}

int cli_parse_vfio(const char *arg, struct vm_config *cfg)
{
	char *buf;

	if (cfg->nr_vfio == CONFIG_MAX_VFIO) {
		pr_err("--vfio '%s': too many devices, at most %d", arg, CONFIG_MAX_VFIO);
		return -EINVAL;
	}
	buf = cfg->vfio_path_buf[cfg->nr_vfio];
	if (!strncmp(arg, "host=", 5)) {
		if (!is_pci_address(arg + 5)) {
			pr_err("--vfio '%s': '%s' is not a PCI address DDDD:BB:DD.F (e.g. 0000:00:02.0, as lspci -D prints it)",
			       arg, arg + 5);
			return -EINVAL;
		}
		snprintf(buf, CONFIG_PATH_MAX, SYSFS_PCI "%s", arg + 5);
	} else if (!strncmp(arg, "sysfs=", 6) && arg[6]) {
		if (strlen(arg + 6) >= CONFIG_PATH_MAX) {
			pr_err("--vfio: sysfs path too long, at most %d bytes", CONFIG_PATH_MAX - 1);
			return -EINVAL;
		}
		snprintf(buf, CONFIG_PATH_MAX, "%s", arg + 6);
	} else {
		pr_err("--vfio '%s': expected %s", arg, VFIO_SYNTAX);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->nr_vfio; i++) {
		if (!strcmp(cfg->vfio[i].sysfs, buf)) {
			pr_err("--vfio '%s': that device is given twice", arg);
			return -EINVAL;
		}
	}
	cfg->vfio[cfg->nr_vfio++].sysfs = buf;
	return 0;
}

int cli_check_vfio(const struct vm_config *cfg)
{
	if (!cfg->nr_vfio)
		return 0;
	if (cfg->restore_path || cfg->incoming_uri) {
		pr_err("run: --vfio cannot be used with --%s: a passed-through device's state lives in the device, and no snapshot or migration carries it",
		       cfg->restore_path ? "restore" : "incoming");
		return -EINVAL;
	}
	if (cfg->mem_backend == MEM_BACKEND_GUEST_MEMFD) {
		pr_err("run: --vfio cannot be used with --memory ...,backend=guest_memfd: the IOMMU mapping pins guest RAM through its user address (VFIO_IOMMU_MAP_DMA), which guest_memfd cannot give; use anon, memfd or hugetlb");
		return -EINVAL;
	}
	return 0;
}

void cli_vfio_usage(FILE *out)
{
	fprintf(out,
"  --vfio " VFIO_SYNTAX "\n"
"                    pass a host PCI function through to the guest with VFIO\n"
"                    (type1 IOMMU): host= its address, sysfs= its sysfs\n"
"                    directory. It must be bound to vfio-pci, alone in a\n"
"                    viable IOMMU group, and /dev/vfio/GROUP writable (README,\n"
"                    \"Passing a host PCI device through\"). All guest RAM is\n"
"                    pinned and mapped for its DMA; snapshots and migration are\n"
"                    refused. Not with --restore, --incoming, guest_memfd.\n"
"                    Repeatable, at most %d. Default: none.\n", CONFIG_MAX_VFIO);
}
