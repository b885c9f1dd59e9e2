/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_TEST_CLI_ARGV_H
#define TERN_TEST_CLI_ARGV_H

/*
 * The command-line tests' one parse: cli_parse() of a NULL-terminated argv
 * into this test's command and configuration, which its cases then read.
 */

#include "vmm/cli.h"

static enum cli_command cmd;
static struct vm_config cfg;

static int parse_argv(char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return cli_parse(argc, argv, &cmd, &cfg);
}

#endif
