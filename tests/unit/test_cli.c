// SPDX-License-Identifier: GPL-2.0-only
/* tern's command line: defaults, every option, every error, and --help. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

#define PARSE(...) parse_argv((char *[]){ "tern", __VA_ARGS__, NULL })
#define RUN(...) PARSE("run", "--kernel", "Image", __VA_ARGS__)

static void assert_defaults(void)
{
	assert_null(cfg.initrd_path);
	assert_string_equal(cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_null(cfg.dtb_out);
	assert_int_equal(cfg.nr_cpus, CONFIG_DEFAULT_CPUS);
	assert_int_equal(cfg.ram_size, CONFIG_DEFAULT_RAM);
	assert_false(cfg.no_reboot);
	assert_false(cfg.strict_mmio);
	assert_false(cfg.trace);
}

static void test_run_defaults(void **state)
{
	assert_int_equal(PARSE("run", "--kernel", "Image"), 0);
	assert_int_equal(cmd, CLI_RUN);
	assert_string_equal(cfg.kernel_path, "Image");
	assert_defaults();
	assert_int_equal(CONFIG_DEFAULT_RAM, 512ULL << 20);
	assert_int_equal(CONFIG_DEFAULT_CPUS, 1);
}

static void test_no_arguments_is_help(void **state)
{
	char *argv[] = { "tern", NULL };

	cmd = CLI_RUN;
	assert_int_equal(parse_argv(argv), 0);
	assert_int_equal(cmd, CLI_HELP);
	assert_defaults();
}

static void test_help_spellings(void **state)
{
	const char *spellings[] = { "--help", "-h", "help" };
	size_t i;

	for (i = 0; i < 3; i++) {
		cmd = CLI_RUN;
		assert_int_equal(PARSE((char *)spellings[i]), 0);
		assert_int_equal(cmd, CLI_HELP);
	}
	cmd = CLI_RUN;
	assert_int_equal(PARSE("run", "--help"), 0);
	assert_int_equal(cmd, CLI_HELP);
}

static void test_version(void **state)
{
	assert_int_equal(PARSE("--version"), 0);
	assert_int_equal(cmd, CLI_VERSION);
	cmd = CLI_RUN;
	assert_int_equal(PARSE("-V"), 0);
	assert_int_equal(cmd, CLI_VERSION);
}

static void test_each_option(void **state)
{
	assert_int_equal(RUN("--initrd", "rootfs.cpio"), 0);
	assert_string_equal(cfg.initrd_path, "rootfs.cpio");

	assert_int_equal(RUN("--cmdline", "console=ttyS0 quiet"), 0);
	assert_string_equal(cfg.cmdline, "console=ttyS0 quiet");
	assert_int_equal(RUN("--cmdline", ""), 0);
	assert_string_equal(cfg.cmdline, "");

	assert_int_equal(RUN("--cpus", "4"), 0);
	assert_int_equal(cfg.nr_cpus, 4);

	assert_int_equal(RUN("--memory", "2G"), 0);
	assert_int_equal(cfg.ram_size, 2ULL << 30);

	assert_int_equal(RUN("--dtb-out", "guest.dtb"), 0);
	assert_string_equal(cfg.dtb_out, "guest.dtb");

	assert_int_equal(RUN("--no-reboot"), 0);
	assert_true(cfg.no_reboot);
	assert_false(cfg.strict_mmio);

	assert_int_equal(RUN("--strict-mmio"), 0);
	assert_true(cfg.strict_mmio);
	assert_false(cfg.no_reboot);

	assert_int_equal(RUN("--trace"), 0);
	assert_true(cfg.trace);
}

static void test_all_options_together(void **state)
{
	assert_int_equal(PARSE("run", "--cpus=2", "--memory=1G", "--kernel=vmlinux-Image",
			       "--initrd", "i.cpio", "--cmdline=x", "--dtb-out", "o.dtb",
			       "--no-reboot", "--strict-mmio", "--trace"), 0);
	assert_int_equal(cmd, CLI_RUN);
	assert_string_equal(cfg.kernel_path, "vmlinux-Image");
	assert_string_equal(cfg.initrd_path, "i.cpio");
	assert_string_equal(cfg.cmdline, "x");
	assert_string_equal(cfg.dtb_out, "o.dtb");
	assert_int_equal(cfg.nr_cpus, 2);
	assert_int_equal(cfg.ram_size, 1ULL << 30);
	assert_true(cfg.no_reboot && cfg.strict_mmio && cfg.trace);
}

/* Called again in the same process, the parser starts from scratch. */
static void test_reentrant(void **state)
{
	assert_int_equal(RUN("--cpus", "3", "--trace"), 0);
	assert_int_equal(cfg.nr_cpus, 3);
	assert_int_equal(PARSE("run", "--bogus"), -EINVAL);
	assert_int_equal(PARSE("run", "--kernel", "K"), 0);
	assert_string_equal(cfg.kernel_path, "K");
	assert_defaults();
	assert_int_equal(PARSE("run", "--kernel", "K", "--cpus", "2"), 0);
	assert_int_equal(cfg.nr_cpus, 2);
}

static void test_later_option_wins(void **state)
{
	assert_int_equal(RUN("--cpus", "2", "--cpus", "8"), 0);
	assert_int_equal(cfg.nr_cpus, 8);
}

static void test_unknown_subcommand(void **state)
{
	assert_int_equal(PARSE("start"), -EINVAL);
	assert_int_equal(PARSE("Run", "--kernel", "Image"), -EINVAL);
	assert_int_equal(PARSE(""), -EINVAL);
}

static void test_options_only_for_run(void **state)
{
	assert_int_equal(PARSE("--kernel", "Image"), -EINVAL);
	assert_int_equal(PARSE("--cpus=2"), -EINVAL);
	assert_int_equal(PARSE("-x"), -EINVAL);
}

static void test_unknown_option(void **state)
{
	assert_int_equal(RUN("--bogus"), -EINVAL);
	assert_int_equal(RUN("-x"), -EINVAL);
	assert_int_equal(RUN("--trace=yes"), -EINVAL);
	assert_int_equal(RUN("--no-reboot=1"), -EINVAL);
}

static void test_missing_value(void **state)
{
	assert_int_equal(PARSE("run", "--kernel"), -EINVAL);
	assert_int_equal(RUN("--cpus"), -EINVAL);
	assert_int_equal(RUN("--memory"), -EINVAL);
	assert_int_equal(RUN("--initrd"), -EINVAL);
	assert_int_equal(RUN("--cmdline"), -EINVAL);
	assert_int_equal(RUN("--dtb-out"), -EINVAL);
}

static void test_missing_kernel(void **state)
{
	assert_int_equal(PARSE("run"), -EINVAL);
	assert_int_equal(PARSE("run", "--cpus", "2"), -EINVAL);
	assert_int_equal(PARSE("run", "--kernel", ""), -EINVAL);
}

static void test_empty_paths(void **state)
{
	assert_int_equal(RUN("--initrd", ""), -EINVAL);
	assert_int_equal(RUN("--dtb-out", ""), -EINVAL);
}

static void test_bad_cpus(void **state)
{
	const char *bad[] = { "0", "-1", "+2", "two", "", "2x", " 2", "0x2", "1.5",
			      "4294967296", "99999999999999999999999" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (RUN("--cpus", (char *)bad[i]) != -EINVAL)
			fail_msg("--cpus '%s' accepted", bad[i]);
	assert_int_equal(RUN("--cpus", "4294967295"), 0);
	assert_int_equal(cfg.nr_cpus, 4294967295u);
}

static void test_bad_memory(void **state)
{
	const char *bad[] = { "", "M", "-512M", "512X", "1.5G", "512 M", "0x100",
			      "512Mi", "512iB", "512MBB", "16777216T",
			      "99999999999999999999999" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (RUN("--memory", (char *)bad[i]) != -EINVAL)
			fail_msg("--memory '%s' accepted", bad[i]);
}

static void test_extra_arguments(void **state)
{
	assert_int_equal(RUN("extra"), -EINVAL);
	assert_int_equal(PARSE("run", "stray", "--kernel", "Image"), -EINVAL);
	assert_int_equal(PARSE("--help", "more"), -EINVAL);
	assert_int_equal(PARSE("--version", "more"), -EINVAL);
	assert_int_equal(PARSE("help", "run"), -EINVAL);
}

static void test_cmdline_too_long(void **state)
{
	char *line = malloc(2049);

	assert_non_null(line);
	memset(line, 'a', 2047);
	line[2047] = 0;
	assert_int_equal(RUN("--cmdline", line), 0);
	memset(line, 'a', 2048);
	line[2048] = 0;
	assert_int_equal(RUN("--cmdline", line), -EINVAL);
	free(line);
}

static void assert_size(const char *s, uint64_t want)
{
	uint64_t got = 0;

	if (parse_size(s, &got))
		fail_msg("parse_size(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s, (unsigned long long)got,
			 (unsigned long long)want);
}

static void test_parse_size_units(void **state)
{
	assert_size("1048576", 1048576);
	assert_size("0", 0);
	assert_size("64K", 64ULL << 10);
	assert_size("64k", 64ULL << 10);
	assert_size("512M", 512ULL << 20);
	assert_size("512m", 512ULL << 20);
	assert_size("512MiB", 512ULL << 20);
	assert_size("512mib", 512ULL << 20);
	assert_size("512MB", 512ULL << 20);
	assert_size("512mb", 512ULL << 20);
	assert_size("2G", 2ULL << 30);
	assert_size("2GiB", 2ULL << 30);
	assert_size("1T", 1ULL << 40);
	assert_size("4096B", 4096);
	assert_size("4096b", 4096);
	assert_size("18446744073709551615", UINT64_MAX);
	assert_size("16777215T", 16777215ULL << 40);
}

static void test_parse_size_errors(void **state)
{
	uint64_t v = 42;

	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("G", &v), -EINVAL);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("+1", &v), -EINVAL);
	assert_int_equal(parse_size(" 1", &v), -EINVAL);
	assert_int_equal(parse_size("1 ", &v), -EINVAL);
	assert_int_equal(parse_size("1.5G", &v), -EINVAL);
	assert_int_equal(parse_size("1P", &v), -EINVAL);
	assert_int_equal(parse_size("1Gi", &v), -EINVAL);
	assert_int_equal(parse_size("1iB", &v), -EINVAL);
	assert_int_equal(parse_size("1GBx", &v), -EINVAL);
	assert_int_equal(parse_size("1BB", &v), -EINVAL);
	assert_int_equal(parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(parse_size("17179869184G", &v), -ERANGE);
	assert_int_equal(v, 42);	/* untouched on failure */
}

static char *usage_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	cli_usage(f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void test_usage_documents_everything(void **state)
{
	const char *must[] = {
		"--kernel FILE", "--initrd FILE", "--cmdline STR", "--cpus N", "--memory SIZE",
		"--dtb-out FILE", "--no-reboot", "--strict-mmio", "--trace", "--help",
		"--version", "Required", "Default: 1.", "Default: 512M.",
		"Default: \"" CONFIG_DEFAULT_CMDLINE "\"", "external data abort",
		"Ctrl-A x", "Ctrl-A Ctrl-A", "Exit status",
		"  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "128+N", "SIGINT", "SIGTERM",
		"PSCI SYSTEM_EVENT crash",
	};
	char *text = usage_text();
	size_t i;

	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (!strstr(text, must[i]))
			fail_msg("--help does not mention \"%s\"", must[i]);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_no_arguments_is_help),
		cmocka_unit_test(test_help_spellings),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_each_option),
		cmocka_unit_test(test_all_options_together),
		cmocka_unit_test(test_reentrant),
		cmocka_unit_test(test_later_option_wins),
		cmocka_unit_test(test_unknown_subcommand),
		cmocka_unit_test(test_options_only_for_run),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_missing_kernel),
		cmocka_unit_test(test_empty_paths),
		cmocka_unit_test(test_bad_cpus),
		cmocka_unit_test(test_bad_memory),
		cmocka_unit_test(test_extra_arguments),
		cmocka_unit_test(test_cmdline_too_long),
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_errors),
		cmocka_unit_test(test_usage_documents_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
