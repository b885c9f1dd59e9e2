// SPDX-License-Identifier: GPL-2.0-only
/*
 * tern's command line. Only checks what can be checked without the host or
 * the files: sizes and counts against the memory map are layout_compute()'s
 * business, the kernel's contents arm64_image_parse()'s.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "layout.h"
#include "log.h"

/* arm64 Linux's COMMAND_LINE_SIZE: the kernel silently cuts anything longer. */
#define CMDLINE_MAX	2048

enum run_option {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_DTB_OUT,
	OPT_NO_REBOOT,
	OPT_STRICT_MMIO,
	OPT_TRACE,
	OPT_HELP = 'h',
};

static const struct option run_options[] = {
	{ "kernel",	 required_argument, NULL, OPT_KERNEL },
	{ "initrd",	 required_argument, NULL, OPT_INITRD },
	{ "cmdline",	 required_argument, NULL, OPT_CMDLINE },
	{ "cpus",	 required_argument, NULL, OPT_CPUS },
	{ "memory",	 required_argument, NULL, OPT_MEMORY },
	{ "dtb-out",	 required_argument, NULL, OPT_DTB_OUT },
	{ "no-reboot",	 no_argument,	    NULL, OPT_NO_REBOOT },
	{ "strict-mmio", no_argument,	    NULL, OPT_STRICT_MMIO },
	{ "trace",	 no_argument,	    NULL, OPT_TRACE },
	{ "help",	 no_argument,	    NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *out)
{
	fprintf(out,
"Usage: tern run --kernel FILE [options]\n"
"       tern --help | -h | help\n"
"       tern --version | -V\n"
"\n"
"Boots an arm64 Linux kernel in a KVM virtual machine, with the guest's serial\n"
"console on this terminal.\n"
"\n"
"Options of 'run':\n"
"  --kernel FILE     the kernel: an uncompressed arm64 Image (arch/arm64/boot/Image).\n"
"                    Required.\n"
"  --initrd FILE     an initramfs or initrd for the kernel. Default: none.\n"
"  --cmdline STR     the kernel command line, at most %d bytes.\n"
"                    Default: \"%s\".\n"
"  --cpus N          number of vCPUs, a positive integer (at most %llu).\n"
"                    Default: %d.\n"
"  --memory SIZE     guest RAM: a number of bytes with an optional binary unit\n"
"                    K, M, G or T (also KiB, MB, ...), a multiple of %lluM, at\n"
"                    least %lluM. Default: %lluM.\n"
"  --dtb-out FILE    also write the device tree given to the guest to FILE.\n"
"                    Default: not written.\n"
"  --no-reboot       when the guest asks for a reset, exit (status 3) instead of\n"
"                    restarting it. Default: the guest is restarted.\n"
"  --strict-mmio     a guest access to an address no device claims gets an\n"
"                    external data abort. Default: such reads return zero and\n"
"                    writes are ignored.\n"
"  --trace           print tern's bring-up and vCPU lifecycle trace to stderr.\n"
"                    Default: off.\n"
"  -h, --help        show this help and exit.\n"
"\n"
"Console: keystrokes go to the guest's serial console. Ctrl-A x quits tern;\n"
"Ctrl-A Ctrl-A sends one Ctrl-A to the guest.\n"
"\n"
"Exit status:\n"
"  0        the guest powered off\n"
"  1        error (during setup, or a VM fault)\n"
"  2        bad usage, or a kernel or initrd that cannot be booted\n"
"  3        the guest asked for a reset under --no-reboot\n"
"  4        the guest crashed (PSCI SYSTEM_EVENT crash)\n"
"  128+N    stopped by signal N (SIGINT, SIGTERM)\n",
		CMDLINE_MAX - 1, CONFIG_DEFAULT_CMDLINE, LAYOUT_MAX_CPUS, CONFIG_DEFAULT_CPUS,
		LAYOUT_RAM_ALIGN / MiB, LAYOUT_RAM_MIN / MiB, CONFIG_DEFAULT_RAM / MiB);
}

static void config_defaults(struct vm_config *cfg)
{
	*cfg = (struct vm_config){
		.cmdline = CONFIG_DEFAULT_CMDLINE,
		.nr_cpus = CONFIG_DEFAULT_CPUS,
		.ram_size = CONFIG_DEFAULT_RAM,
	};
}

/* Decimal digits only: no sign, no spaces, no hex. */
static int parse_decimal(const char **s, uint64_t *val)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*s = p;
	*val = v;
	return 0;
}

static int unit_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	default: return -1;
	}
}

static bool is_b(char c)
{
	return c == 'b' || c == 'B';
}

int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v;
	int shift = 0, err;

	err = parse_decimal(&s, &v);
	if (err)
		return err;
	if (unit_shift(*s) >= 0) {
		shift = unit_shift(*s++);
		if ((*s == 'i' || *s == 'I') && is_b(s[1]))
			s += 2;
		else if (is_b(*s))
			s++;
	} else if (is_b(*s)) {
		s++;
	}
	if (*s)
		return -EINVAL;
	if (shift && v > UINT64_MAX >> shift)
		return -ERANGE;
	*bytes = v << shift;
	return 0;
}

static int parse_cpus(const char *arg, unsigned int *n)
{
	const char *end = arg;
	uint64_t v;
	int err = parse_decimal(&end, &v);

	if (err == -ERANGE || (!err && !*end && (v == 0 || v > UINT_MAX))) {
		pr_err("--cpus '%s': must be a positive integer, at most %u", arg, UINT_MAX);
		return -EINVAL;
	}
	if (err || *end) {
		pr_err("--cpus: '%s' is not a positive integer", arg);
		return -EINVAL;
	}
	*n = (unsigned int)v;
	return 0;
}

static int parse_memory(const char *s, uint64_t *bytes)
{
	int err = parse_size(s, bytes);

	if (err == -ERANGE) {
		pr_err("--memory '%s': too large", s);
		return -EINVAL;
	}
	if (err) {
		pr_err("--memory: '%s' is not a size (e.g. 512M, 2G, 1073741824)", s);
		return -EINVAL;
	}
	return 0;
}

static int check_path(const char *opt, const char *path)
{
	if (!*path) {
		pr_err("--%s: empty file name", opt);
		return -EINVAL;
	}
	return 0;
}

static int check_cmdline(const char *cmdline)
{
	size_t len = strlen(cmdline);

	if (len >= CMDLINE_MAX) {
		pr_err("--cmdline is %zu bytes; arm64 Linux takes at most %d (COMMAND_LINE_SIZE)",
		       len, CMDLINE_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

/* Reports what getopt_long() rejected: the argument it stopped at. */
static int bad_option(int c, char *argv[])
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		pr_err("run: option '%s' needs a value; try 'tern --help'", arg);
	else if (optopt >= OPT_KERNEL)
		pr_err("run: option '%s' takes no value; try 'tern --help'", arg);
	else if (optopt)
		pr_err("run: unknown option '-%c'; try 'tern --help'", optopt);
	else
		pr_err("run: unknown option '%s'; try 'tern --help'", arg);
	return -EINVAL;
}

static int apply_option(int c, const char *arg, enum cli_command *cmd, struct vm_config *cfg)
{
	switch (c) {
	case OPT_KERNEL:
		cfg->kernel_path = arg;
		return check_path("kernel", arg);
	case OPT_INITRD:
		cfg->initrd_path = arg;
		return check_path("initrd", arg);
	case OPT_CMDLINE:
		cfg->cmdline = arg;
		return check_cmdline(arg);
	case OPT_CPUS:
		return parse_cpus(arg, &cfg->nr_cpus);
	case OPT_MEMORY:
		return parse_memory(arg, &cfg->ram_size);
	case OPT_DTB_OUT:
		cfg->dtb_out = arg;
		return check_path("dtb-out", arg);
	case OPT_NO_REBOOT:
		cfg->no_reboot = true;
		return 0;
	case OPT_STRICT_MMIO:
		cfg->strict_mmio = true;
		return 0;
	case OPT_TRACE:
		cfg->trace = true;
		return 0;
	case OPT_HELP:
		*cmd = CLI_HELP;
		return 0;
	default:
		return -EINVAL;
	}
}

/* argv[0] is "run". */
static int parse_run(int argc, char *argv[], enum cli_command *cmd, struct vm_config *cfg)
{
	int c, err;

	*cmd = CLI_RUN;
	/* 0, not 1: glibc then also forgets its state from an earlier parse. */
	optind = 0;
	/* '+': stop at the first non-option; ':': report errors ourselves. */
	while ((c = getopt_long(argc, argv, "+:h", run_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			return bad_option(c, argv);
		err = apply_option(c, optarg, cmd, cfg);
		if (err)
			return err;
	}
	if (optind < argc) {
		pr_err("run: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (*cmd == CLI_RUN && !cfg->kernel_path) {
		pr_err("run: --kernel FILE is required; try 'tern --help'");
		return -EINVAL;
	}
	return 0;
}

static bool is_any(const char *s, const char *a, const char *b, const char *c)
{
	return !strcmp(s, a) || !strcmp(s, b) || (c && !strcmp(s, c));
}

int cli_parse(int argc, char *argv[], enum cli_command *cmd, struct vm_config *cfg)
{
	const char *sub;

	config_defaults(cfg);
	*cmd = CLI_HELP;
	if (argc < 2)
		return 0;

	sub = argv[1];
	if (!strcmp(sub, "run"))
		return parse_run(argc - 1, argv + 1, cmd, cfg);
	if (is_any(sub, "--help", "-h", "help"))
		*cmd = CLI_HELP;
	else if (is_any(sub, "--version", "-V", NULL))
		*cmd = CLI_VERSION;
	else if (sub[0] == '-') {
		pr_err("unknown option '%s' (only 'run' takes options); try 'tern --help'", sub);
		return -EINVAL;
	} else {
		pr_err("unknown command '%s'; try 'tern --help'", sub);
		return -EINVAL;
	}
	if (argc > 2) {
		pr_err("unexpected argument '%s' after '%s'", argv[2], sub);
		return -EINVAL;
	}
	return 0;
}
