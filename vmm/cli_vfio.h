/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CLI_VFIO_H
#define TERN_CLI_VFIO_H

#include <stdio.h>

#include "config.h"

#define VFIO_SYNTAX	"host=DDDD:BB:DD.F|sysfs=PATH[,iommufd=on|off]"

/* --vfio host=DDDD:BB:DD.F (a host PCI address) or sysfs=PATH (the
 * function's sysfs directory), then iommufd=on|off (default off: the
 * type1 container). Repeatable, at most CONFIG_MAX_VFIO.
 * 0 or -EINVAL after a message. */
int cli_parse_vfio(const char *arg, struct vm_config *cfg);
/* What --vfio says together with the other options. */
int cli_check_vfio(const struct vm_config *cfg);
void cli_vfio_usage(FILE *out);

#endif
