/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* What the user asked for on the command line; validated by cli_parse(). */
struct vm_config {
	const char *kernel_path;
	const char *initrd_path;	/* NULL: none */
	const char *cmdline;		/* never NULL after cli_parse() */
	const char *dtb_out;		/* NULL: don't write the DTB */
	unsigned int nr_cpus;
	uint64_t ram_size;
	bool no_reboot;
	bool strict_mmio;
	bool trace;
};

#define CONFIG_DEFAULT_CPUS	1
#define CONFIG_DEFAULT_RAM	(512ULL << 20)
#define CONFIG_DEFAULT_CMDLINE	"console=ttyS0 earlycon"

#endif
