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

/* The device part of @arg, up to @len bytes ("host=..." or "sysfs=..."),
 * into @buf as a sysfs directory. */
static int parse_device(const char *arg, size_t len, char *buf)
{
	if (len > 5 && !strncmp(arg, "host=", 5)) {
		if (len != 5 + 12 || !is_pci_address(strndupa(arg + 5, len - 5))) {
			pr_err("--vfio '%s': '%.*s' is not a PCI address DDDD:BB:DD.F (e.g. 0000:00:02.0, as lspci -D prints it)",
			       arg, (int)(len - 5), arg + 5);
			return -EINVAL;
		}
		snprintf(buf, CONFIG_PATH_MAX, SYSFS_PCI "%.*s", (int)(len - 5), arg + 5);
	} else if (len > 6 && !strncmp(arg, "sysfs=", 6)) {
		if (len - 6 >= CONFIG_PATH_MAX) {
			pr_err("--vfio: sysfs path too long, at most %d bytes", CONFIG_PATH_MAX - 1);
			return -EINVAL;
		}
		snprintf(buf, CONFIG_PATH_MAX, "%.*s", (int)(len - 6), arg + 6);
	} else {
		pr_err("--vfio '%s': expected %s", arg, VFIO_SYNTAX);
		return -EINVAL;
	}
	return 0;
}

/* What follows the device: ",iommufd=on|off", or nothing. */
static int parse_options(const char *arg, const char *opts, bool *iommufd)
{
	if (!*opts)
		return 0;
	if (!strcmp(opts, ",iommufd=on") || !strcmp(opts, ",iommufd=off")) {
		*iommufd = !strcmp(opts, ",iommufd=on");
		return 0;
	}
	pr_err("--vfio '%s': unknown option '%s' (expected %s)", arg, opts + 1, VFIO_SYNTAX);
	return -EINVAL;
}

int cli_parse_vfio(const char *arg, struct vm_config *cfg)
{
	const char *opts = strchrnul(arg, ',');
	bool iommufd = false;
	char *buf;

	if (cfg->nr_vfio == CONFIG_MAX_VFIO) {
		pr_err("--vfio '%s': too many devices, at most %d", arg, CONFIG_MAX_VFIO);
		return -EINVAL;
	}
	buf = cfg->vfio_path_buf[cfg->nr_vfio];
	if (parse_device(arg, (size_t)(opts - arg), buf) || parse_options(arg, opts, &iommufd))
		return -EINVAL;
	for (unsigned int i = 0; i < cfg->nr_vfio; i++) {
		if (!strcmp(cfg->vfio[i].sysfs, buf)) {
			pr_err("--vfio '%s': that device is given twice", arg);
			return -EINVAL;
		}
	}
	cfg->vfio[cfg->nr_vfio].iommufd = iommufd;
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
"                    pass a host PCI function through to the guest with VFIO:\n"
"                    host= its address, sysfs= its sysfs directory. It must be\n"
"                    bound to vfio-pci, alone in a viable IOMMU group, and\n"
"                    /dev/vfio/GROUP writable (README, \"Passing a host PCI\n"
"                    device through\"). iommufd=on: open it through its own\n"
"                    /dev/vfio/devices/vfioN and /dev/iommu instead of its\n"
"                    group's type1 container (default off). All guest RAM is\n"
"                    pinned and mapped for its DMA; snapshots and migration are\n"
"                    refused. Not with --restore, --incoming, guest_memfd.\n"
"                    Repeatable, at most %d. Default: none.\n", CONFIG_MAX_VFIO);
}
