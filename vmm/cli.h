/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CLI_H
#define TERN_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum cli_command {
	CLI_RUN,
	CLI_HELP,
	CLI_VERSION,
	CLI_CTL,	/* tern ctl SOCKET COMMAND [ARGS]: a control client */
};

/*
 * Parses tern's command line:
 *   tern run --kernel FILE [--initrd FILE] [--cmdline STR] [--dtb-out FILE] [machine]
 *   tern run --restore FILE [--restore-clock continue|wall] [machine]
 *     machine: [--cpus N] [--memory SIZE] [--disk ...] [--net ...] [--vconsole pty]
 *              [--pmu on|off] [--no-reboot] [--strict-mmio] [--trace]
 *              [--control PATH [--paused]]
 *   tern ctl SOCKET COMMAND [KEY=VALUE... | JSON-OBJECT]
 *   tern --help | -h | help,  tern --version | -V
 * Fills @cfg with defaults, then the options. Returns 0, or -EINVAL after
 * printing a message (what was wrong, with the value) to stderr.
 * Re-entrant: may be called several times in one process (tests).
 * For CLI_CTL, cfg->ctl_args point into @argv.
 */
int cli_parse(int argc, char *argv[], enum cli_command *cmd, struct vm_config *cfg);

/* Writes the --help text. */
void cli_usage(FILE *out);

/* Parses "512M", "2G", "1048576", "64K", "1T" (binary units, case-insensitive,
 * optional trailing "iB"/"B"). Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t *bytes);

#endif
