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
#include <unistd.h>

#include <cmocka.h>

#include "vmm/cli.h"
#include "vmm/control_proto.h"
#include "cli_argv.h"

#define PARSE(...) parse_argv((char *[]){ "tern", __VA_ARGS__, NULL })
#define RUN(...) PARSE("run", "--kernel", "Image", __VA_ARGS__)

static void assert_defaults(void)
{
	assert_null(cfg.initrd_path);
	assert_int_equal(cfg.kernel_format, KERNEL_FORMAT_IMAGE);
	assert_string_equal(cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_null(cfg.dtb_out);
	assert_int_equal(cfg.nr_cpus, CONFIG_DEFAULT_CPUS);
	assert_int_equal(cfg.ram_size, CONFIG_DEFAULT_RAM);
	assert_false(cfg.no_reboot);
	assert_false(cfg.strict_mmio);
	assert_false(cfg.trace);
	assert_int_equal(cfg.nr_disks, 0);
	assert_int_equal(cfg.nr_nets, 0);
	assert_false(cfg.vconsole_pty);
	assert_null(cfg.control_path);
	assert_null(cfg.restore_path);
	assert_false(cfg.start_paused);
	assert_int_equal(cfg.restore_clock, CLOCK_CONTINUE);
	assert_int_equal(cfg.mem_backend, MEM_BACKEND_ANON);
	assert_int_equal(cfg.mem_errors, MEM_ERRORS_INJECT);
	assert_int_equal(cfg.mem_fault_retries, CONFIG_DEFAULT_FAULT_RETRIES);
	assert_int_equal(cfg.dirty_tracking, DIRTY_TRACKING_RING);
	assert_int_equal(cfg.dirty_ring_entries, DIRTY_RING_DEFAULT);
	assert_null(cfg.ctl_socket);
	assert_null(cfg.ctl_command);
	assert_null(cfg.ctl_args);
	assert_int_equal(cfg.nr_ctl_args, 0);
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
	assert_int_equal(cfg.pmu, PMU_AUTO);
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
	assert_int_equal(RUN("--disk"), -EINVAL);
	assert_int_equal(RUN("--net"), -EINVAL);
	assert_int_equal(RUN("--vconsole"), -EINVAL);
	assert_int_equal(RUN("--control"), -EINVAL);
	assert_int_equal(PARSE("run", "--restore"), -EINVAL);
	assert_int_equal(PARSE("run", "--restore", "s", "--restore-clock"), -EINVAL);
	assert_int_equal(RUN("--paused=yes", "--control", "c"), -EINVAL);
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

static void test_memory_backend(void **state)
{
	static const struct { const char *arg; enum mem_backend backend; } ok[] = {
		{ "1G,backend=anon", MEM_BACKEND_ANON },
		{ "1G,backend=memfd", MEM_BACKEND_MEMFD },
		{ "1G,backend=hugetlb", MEM_BACKEND_HUGETLB },
		{ "1G,backend=guest_memfd", MEM_BACKEND_GUEST_MEMFD },
	};
	const char *bad[] = { "1G,", "1G,backend=", "1G,backend=shm", "1G,backend=anon,backend=anon",
			      "1G,size=1G", "1G,anon", ",backend=anon", "1X,backend=anon",
			      "1G,backend=guest_memfdx" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(RUN("--memory", (char *)ok[i].arg), 0);
		assert_int_equal(cfg.ram_size, 1ULL << 30);
		assert_int_equal(cfg.mem_backend, ok[i].backend);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (RUN("--memory", (char *)bad[i]) != -EINVAL)
			fail_msg("--memory '%s' accepted", bad[i]);
}

static void test_memory_errors(void **state)
{
	assert_int_equal(RUN("--memory-errors", "stop"), 0);
	assert_int_equal(cfg.mem_errors, MEM_ERRORS_STOP);
	assert_int_equal(RUN("--memory-errors", "inject"), 0);
	assert_int_equal(cfg.mem_errors, MEM_ERRORS_INJECT);
	assert_int_equal(RUN("--memory-errors", "ignore"), -EINVAL);
	assert_int_equal(RUN("--memory-fault-retries", "1"), 0);
	assert_int_equal(cfg.mem_fault_retries, 1);
	assert_int_equal(RUN("--memory-fault-retries", "1000"), 0);
	assert_int_equal(cfg.mem_fault_retries, 1000);
	assert_int_equal(RUN("--memory-fault-retries", "0"), -EINVAL);
	assert_int_equal(RUN("--memory-fault-retries", "1001"), -EINVAL);
	assert_int_equal(RUN("--memory-fault-retries", "-1"), -EINVAL);
	assert_int_equal(RUN("--memory-fault-retries", "3x"), -EINVAL);
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

/*
 * Parses with stderr captured: the call must fail with -EINVAL and its
 * message must contain @want (the bad value, or what is wrong with it).
 */
static void assert_error_says(const char *want, char **argv)
{
	char path[] = "/tmp/test_cli.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO), argc = 0, ret;
	char msg[1024];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	while (argv[argc])
		argc++;
	fflush(stderr);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	ret = cli_parse(argc, argv, &cmd, &cfg);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, msg, sizeof(msg) - 1, 0);
	close(fd);
	assert_true(n >= 0);
	msg[n] = 0;
	if (ret != -EINVAL)
		fail_msg("accepted (%d); expected an error saying \"%s\"", ret, want);
	if (!strstr(msg, want))
		fail_msg("error \"%s\" does not say \"%s\"", msg, want);
}

#define RUN_ERR(want, ...) \
	assert_error_says(want, (char *[]){ "tern", "run", "--kernel", "Image", __VA_ARGS__, NULL })

static void test_kernel_format(void **state)
{
	assert_int_equal(RUN("--kernel-format", "raw"), 0);
	assert_int_equal(cfg.kernel_format, KERNEL_FORMAT_RAW);
	assert_int_equal(RUN("--kernel-format=image"), 0);
	assert_int_equal(cfg.kernel_format, KERNEL_FORMAT_IMAGE);
	/* The last one given wins, like every other option. */
	assert_int_equal(RUN("--kernel-format", "raw", "--kernel-format", "image"), 0);
	assert_int_equal(cfg.kernel_format, KERNEL_FORMAT_IMAGE);
	RUN_ERR("--kernel-format 'flat': must be image or raw", "--kernel-format", "flat");
	RUN_ERR("--kernel-format 'RAW': must be image or raw", "--kernel-format", "RAW");
	RUN_ERR("--kernel-format '': must be image or raw", "--kernel-format", "");
	assert_int_equal(RUN("--kernel-format"), -EINVAL);
	/* A snapshot or a migration brings its own memory: nothing to load. */
	assert_error_says("--kernel-format cannot be used with --restore",
			  (char *[]){ "tern", "run", "--restore", "s", "--kernel-format", "raw",
				      NULL });
	assert_error_says("--kernel-format cannot be used with --incoming",
			  (char *[]){ "tern", "run", "--incoming", "unix:/tmp/s",
				      "--kernel-format", "raw", NULL });
	/* Without --kernel there is nothing to read as raw. */
	assert_int_equal(PARSE("run", "--kernel-format", "raw"), -EINVAL);
}

#define FW_ERR(want, ...) \
	assert_error_says(want, (char *[]){ "tern", "run", "--firmware", "fw.fd", __VA_ARGS__, NULL })

static void test_firmware(void **state)
{
	(void)state;
	assert_int_equal(PARSE("run", "--firmware", "fw.fd"), 0);
	assert_string_equal(cfg.firmware_path, "fw.fd");
	assert_null(cfg.firmware_vars_path);
	assert_null(cfg.kernel_path);
	assert_int_equal(PARSE("run", "--firmware", "fw.fd", "--firmware-vars", "v.fd", "--disk",
			       "path=d.img", "--memory", "1G"), 0);
	assert_string_equal(cfg.firmware_vars_path, "v.fd");
	/* The firmware boots what it finds: no kernel of tern's. */
	FW_ERR("--kernel cannot be used with --firmware", "--kernel", "Image");
	FW_ERR("--initrd cannot be used with --firmware", "--initrd", "i");
	FW_ERR("--cmdline cannot be used with --firmware", "--cmdline", "quiet");
	FW_ERR("--kernel-format cannot be used with --firmware", "--kernel-format", "raw");
	assert_error_says("--firmware-vars is the variable store of --firmware FILE, which is missing",
			  (char *[]){ "tern", "run", "--kernel", "Image", "--firmware-vars", "v",
				      NULL });
	/* A firmware guest is restored or received with its firmware named
	 * again (it is not in the stream), the store's file optional. */
	assert_int_equal(PARSE("run", "--restore", "s", "--firmware", "f", "--firmware-vars", "v"),
			 0);
	assert_string_equal(cfg.firmware_path, "f");
	assert_string_equal(cfg.firmware_vars_path, "v");
	assert_int_equal(PARSE("run", "--incoming", "unix:/tmp/s", "--firmware", "f"), 0);
	assert_error_says("--firmware-vars is the variable store of --firmware FILE, which is missing",
			  (char *[]){ "tern", "run", "--incoming", "unix:/tmp/s",
				      "--firmware-vars", "v", NULL });
	assert_int_equal(PARSE("run", "--firmware", ""), -EINVAL);
	assert_int_equal(PARSE("run", "--firmware"), -EINVAL);
	assert_error_says("--kernel FILE is required (or --firmware FILE, or --restore FILE)",
			  (char *[]){ "tern", "run", NULL });
}

static void test_pmu(void **state)
{
	assert_int_equal(RUN("--pmu", "off"), 0);
	assert_int_equal(cfg.pmu, PMU_OFF);
	assert_int_equal(RUN("--pmu", "on"), 0);
	assert_int_equal(cfg.pmu, PMU_ON);
	RUN_ERR("--pmu 'yes': must be on or off", "--pmu", "yes");
	RUN_ERR("--pmu '': must be on or off", "--pmu", "");
}

static void test_disk(void **state)
{
	assert_int_equal(RUN("--disk", "path=disk.img"), 0);
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.disks[0].path, "disk.img");
	assert_false(cfg.disks[0].readonly);
	assert_false(cfg.disks[0].direct);

	assert_int_equal(RUN("--disk", "path=/dev/vdb,readonly=on,direct=on"), 0);
	assert_string_equal(cfg.disks[0].path, "/dev/vdb");
	assert_true(cfg.disks[0].readonly);
	assert_true(cfg.disks[0].direct);

	/* Any order; off spelled out; '=' and spaces in a path are fine. */
	assert_int_equal(RUN("--disk=direct=on,readonly=off,path=my disk=1.raw"), 0);
	assert_string_equal(cfg.disks[0].path, "my disk=1.raw");
	assert_false(cfg.disks[0].readonly);
	assert_true(cfg.disks[0].direct);

	assert_int_equal(RUN("--disk", "readonly=on,path=a"), 0);
	assert_string_equal(cfg.disks[0].path, "a");
	assert_true(cfg.disks[0].readonly);
	assert_false(cfg.disks[0].direct);
}

static void test_disk_repeated(void **state)
{
	char *argv[4 + 2 * CONFIG_MAX_DISKS + 3] = { "tern", "run", "--kernel", "Image" };
	char values[CONFIG_MAX_DISKS + 1][32];
	int argc = 4;

	for (int i = 0; i < CONFIG_MAX_DISKS; i++) {
		snprintf(values[i], sizeof(values[i]), "path=d%d.img%s", i,
			 i % 2 ? ",readonly=on" : "");
		argv[argc++] = "--disk";
		argv[argc++] = values[i];
	}
	assert_int_equal(cli_parse(argc, argv, &cmd, &cfg), 0);
	assert_int_equal(cfg.nr_disks, CONFIG_MAX_DISKS);
	for (int i = 0; i < CONFIG_MAX_DISKS; i++) {
		char want[16];

		snprintf(want, sizeof(want), "d%d.img", i);
		assert_string_equal(cfg.disks[i].path, want);
		assert_int_equal(cfg.disks[i].readonly, i % 2);
	}

	argv[argc++] = "--disk";
	argv[argc++] = "path=one-too-many";
	argv[argc] = NULL;
	assert_error_says("at most 8", argv);

	/* A new parse starts with no disks. */
	assert_int_equal(RUN("--disk", "path=x"), 0);
	assert_int_equal(cfg.nr_disks, 1);
}

static void test_disk_errors(void **state)
{
	RUN_ERR("empty value", "--disk", "");
	RUN_ERR("path=FILE is required", "--disk", "readonly=on");
	RUN_ERR("path=FILE is required", "--disk", "direct=on,readonly=off");
	RUN_ERR("empty value for 'path'", "--disk", "path=");
	RUN_ERR("empty value for 'readonly'", "--disk", "path=a,readonly=");
	RUN_ERR("readonly='yes' must be on or off", "--disk", "path=a,readonly=yes");
	RUN_ERR("direct='ON' must be on or off", "--disk", "path=a,direct=ON");
	RUN_ERR("direct='1' must be on or off", "--disk", "path=a,direct=1");
	RUN_ERR("unknown key 'bogus'", "--disk", "path=a,bogus=1");
	RUN_ERR("unknown key 'PATH'", "--disk", "PATH=a");
	RUN_ERR("unknown key ''", "--disk", "=a");
	RUN_ERR("unknown key 'file'", "--disk", "file=a");
	RUN_ERR("'path' given twice", "--disk", "path=a,path=b");
	RUN_ERR("'readonly' given twice", "--disk", "path=a,readonly=on,readonly=on");
	RUN_ERR("'disk.img' is not key=value", "--disk", "disk.img");
	RUN_ERR("'readonly' is not key=value", "--disk", "path=a,readonly");
	RUN_ERR("'path=a,': empty item", "--disk", "path=a,");
	RUN_ERR("empty item", "--disk", ",path=a");
	RUN_ERR("empty item", "--disk", "path=a,,direct=on");
	/* The same file twice: only if every user reads it. */
	RUN_ERR("'a' is already a disk", "--disk", "path=a", "--disk", "path=a");
	RUN_ERR("'a' is already a disk", "--disk", "path=a,readonly=on", "--disk", "path=a");
	assert_int_equal(RUN("--disk", "path=a,readonly=on", "--disk", "path=a,readonly=on"), 0);
	assert_int_equal(cfg.nr_disks, 2);
}

static void test_disk_path_length(void **state)
{
	char *arg = malloc(5 + CONFIG_PATH_MAX + 1);

	assert_non_null(arg);
	memcpy(arg, "path=", 5);
	memset(arg + 5, 'p', CONFIG_PATH_MAX - 1);
	arg[5 + CONFIG_PATH_MAX - 1] = 0;
	assert_int_equal(RUN("--disk", arg), 0);
	assert_int_equal(strlen(cfg.disks[0].path), CONFIG_PATH_MAX - 1);
	memset(arg + 5, 'p', CONFIG_PATH_MAX);
	arg[5 + CONFIG_PATH_MAX] = 0;
	RUN_ERR("at most 4095", "--disk", arg);
	free(arg);
}

static void assert_mac(const uint8_t *mac, const uint8_t *want)
{
	assert_memory_equal(mac, want, 6);
}

static void test_net(void **state)
{
	assert_int_equal(RUN("--net", "tap=tap0"), 0);
	assert_int_equal(cfg.nr_nets, 1);
	assert_string_equal(cfg.nets[0].tap, "tap0");
	assert_false(cfg.nets[0].mac_set);

	assert_int_equal(RUN("--net", "tap=tern-tap,mac=52:54:00:12:34:56"), 0);
	assert_string_equal(cfg.nets[0].tap, "tern-tap");
	assert_true(cfg.nets[0].mac_set);
	assert_mac(cfg.nets[0].mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 });

	assert_int_equal(RUN("--net=mac=FE:dc:Ba:98:76:54,tap=t", "--net", "tap=u",
			     "--net", "tap=123456789012345,mac=00:00:00:00:00:01",
			     "--net", "tap=w,mac=02:00:00:00:00:00"), 0);
	assert_int_equal(cfg.nr_nets, CONFIG_MAX_NETS);
	assert_string_equal(cfg.nets[0].tap, "t");
	assert_mac(cfg.nets[0].mac, (const uint8_t[]){ 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54 });
	assert_string_equal(cfg.nets[1].tap, "u");
	assert_false(cfg.nets[1].mac_set);
	assert_string_equal(cfg.nets[2].tap, "123456789012345");
	assert_mac(cfg.nets[2].mac, (const uint8_t[]){ 0, 0, 0, 0, 0, 1 });
	assert_true(cfg.nets[3].mac_set);

	RUN_ERR("at most 4", "--net", "tap=a", "--net", "tap=b", "--net", "tap=c",
		"--net", "tap=d", "--net", "tap=e");
}

static void test_net_errors(void **state)
{
	const char *bad_macs[] = {
		"52:54:00:12:34", "52:54:00:12:34:56:78", "52:54:00:12:34:5g",
		"52-54-00-12-34-56", "5254.0012.3456", "525400123456", "52:54:00:12:34:567",
		"2:54:00:12:34:56", "52:54:00:12:34:5", " 52:54:00:12:34:56", "52:54::00:12:34:56",
		"52:54:00:12:34:56 ", "x2:54:00:12:34:56", "52;54:00:12:34:56",
	};
	char want[64], arg[64];

	for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
		snprintf(arg, sizeof(arg), "tap=t,mac=%s", bad_macs[i]);
		snprintf(want, sizeof(want), "mac='%s' is not a MAC address", bad_macs[i]);
		RUN_ERR(want, "--net", arg);
	}
	RUN_ERR("mac=01:00:5e:00:00:01 is a multicast address", "--net",
		"tap=t,mac=01:00:5e:00:00:01");
	RUN_ERR("mac=ff:ff:ff:ff:ff:ff is a multicast address", "--net",
		"tap=t,mac=ff:ff:ff:ff:ff:ff");
	RUN_ERR("mac=33:33:00:00:00:01 is a multicast address", "--net",
		"tap=t,mac=33:33:00:00:00:01");
	RUN_ERR("mac=00:00:00:00:00:00 is not a valid", "--net", "tap=t,mac=00:00:00:00:00:00");

	RUN_ERR("empty value", "--net", "");
	RUN_ERR("tap=NAME is required", "--net", "mac=52:54:00:12:34:56");
	RUN_ERR("empty value for 'tap'", "--net", "tap=");
	RUN_ERR("empty value for 'mac'", "--net", "tap=t,mac=");
	RUN_ERR("unknown key 'ifname'", "--net", "ifname=t");
	RUN_ERR("unknown key 'model'", "--net", "tap=t,model=virtio");
	RUN_ERR("'tap' given twice", "--net", "tap=t,tap=u");
	RUN_ERR("'mac' given twice", "--net", "tap=t,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57");
	RUN_ERR("'tap0' is not key=value", "--net", "tap0");
	RUN_ERR("empty item", "--net", "tap=t,");
	RUN_ERR("tap='1234567890123456' is not an interface name", "--net",
		"tap=1234567890123456");
	RUN_ERR("tap='a/b' is not an interface name", "--net", "tap=a/b");
	RUN_ERR("tap='a:1' is not an interface name", "--net", "tap=a:1");
	RUN_ERR("tap='a b' is not an interface name", "--net", "tap=a b");
	RUN_ERR("tap='..' is not an interface name", "--net", "tap=..");
	RUN_ERR("tap='.' is not an interface name", "--net", "tap=.");
	RUN_ERR("tap 'tap0' already has a card", "--net", "tap=tap0", "--net",
		"tap=tap0,mac=52:54:00:12:34:56");
}

static void test_vconsole(void **state)
{
	assert_int_equal(RUN("--vconsole", "pty"), 0);
	assert_true(cfg.vconsole_pty);
	assert_int_equal(RUN("--vconsole=pty", "--vconsole", "pty"), 0);
	assert_true(cfg.vconsole_pty);

	RUN_ERR("--vconsole 'tty': unknown backend", "--vconsole", "tty");
	RUN_ERR("--vconsole 'PTY': unknown backend", "--vconsole", "PTY");
	RUN_ERR("--vconsole 'pty,x': unknown backend", "--vconsole", "pty,x");
	RUN_ERR("--vconsole '': unknown backend", "--vconsole", "");
}

static void test_pci_testdev(void **state)
{
	assert_int_equal(RUN("--cpus", "1"), 0);
	assert_false(cfg.pci_testdev);
	assert_int_equal(RUN("--pci-testdev"), 0);
	assert_true(cfg.pci_testdev);
	assert_int_equal(RUN("--pci-testdev=on"), -EINVAL);
}

static void test_vfio(void **state)
{
	assert_int_equal(RUN("--vfio", "host=0000:00:02.0", "--vfio", "sysfs=/sys/devices/x/0000:01:00.1"), 0);
	assert_int_equal(cfg.nr_vfio, 2);
	assert_string_equal(cfg.vfio[0].sysfs, "/sys/bus/pci/devices/0000:00:02.0");
	assert_string_equal(cfg.vfio[1].sysfs, "/sys/devices/x/0000:01:00.1");

	assert_false(cfg.vfio[0].iommufd);
	assert_int_equal(RUN("--vfio", "host=0000:00:02.0,iommufd=on", "--vfio",
			     "sysfs=/sys/devices/x/0000:01:00.1,iommufd=off"), 0);
	assert_string_equal(cfg.vfio[0].sysfs, "/sys/bus/pci/devices/0000:00:02.0");
	assert_true(cfg.vfio[0].iommufd);
	assert_string_equal(cfg.vfio[1].sysfs, "/sys/devices/x/0000:01:00.1");
	assert_false(cfg.vfio[1].iommufd);
	RUN_ERR("unknown option 'iommufd=yes'", "--vfio", "host=0000:00:02.0,iommufd=yes");
	RUN_ERR("unknown option 'rombar=off'", "--vfio", "host=0000:00:02.0,rombar=off");
	RUN_ERR("'0000:00:02.0x' is not a PCI address", "--vfio", "host=0000:00:02.0x,iommufd=on");
	RUN_ERR("expected host=DDDD:BB:DD.F|sysfs=PATH", "--vfio", "sysfs=,iommufd=on");
	RUN_ERR("'00:02.0' is not a PCI address DDDD:BB:DD.F", "--vfio", "host=00:02.0");
	RUN_ERR("'0000:00:02.8' is not a PCI address", "--vfio", "host=0000:00:02.8");
	RUN_ERR("expected host=DDDD:BB:DD.F|sysfs=PATH", "--vfio", "0000:00:02.0");
	RUN_ERR("expected host=DDDD:BB:DD.F|sysfs=PATH", "--vfio", "sysfs=");
	RUN_ERR("that device is given twice", "--vfio", "host=0000:00:02.0", "--vfio",
		"sysfs=/sys/bus/pci/devices/0000:00:02.0");
	RUN_ERR("too many devices, at most 4", "--vfio", "host=0000:00:01.0", "--vfio",
		"host=0000:00:02.0", "--vfio", "host=0000:00:03.0", "--vfio", "host=0000:00:04.0",
		"--vfio", "host=0000:00:05.0");
	RUN_ERR("--vfio cannot be used with --memory ...,backend=guest_memfd", "--memory",
		"256M,backend=guest_memfd", "--vfio", "host=0000:00:02.0");
}

static void test_devices_together(void **state)
{
	assert_int_equal(RUN("--disk", "path=root.img", "--net", "tap=tap0", "--vconsole", "pty",
			     "--disk", "path=data.img,direct=on", "--cpus", "2"), 0);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].path, "root.img");
	assert_string_equal(cfg.disks[1].path, "data.img");
	assert_true(cfg.disks[1].direct);
	assert_int_equal(cfg.nr_nets, 1);
	assert_string_equal(cfg.nets[0].tap, "tap0");
	assert_true(cfg.vconsole_pty);
	assert_int_equal(cfg.nr_cpus, 2);

	/* Parsed again, none of it is left over. */
	assert_int_equal(PARSE("run", "--kernel", "K"), 0);
	assert_defaults();
}

/* A path of @len bytes, 'p' repeated under "/tmp/". */
static char *long_path(size_t len)
{
	char *p = malloc(len + 1);

	assert_non_null(p);
	memset(p, 'p', len);
	memcpy(p, "/tmp/", 5);
	p[len] = 0;
	return p;
}

static void test_control(void **state)
{
	char *path = long_path(107);

	assert_int_equal(RUN("--control", "/tmp/vm.sock"), 0);
	assert_string_equal(cfg.control_path, "/tmp/vm.sock");
	assert_int_equal(cmd, CLI_RUN);
	/* sun_path holds 108 bytes, the NUL included. */
	assert_int_equal(RUN("--control", path), 0);
	assert_string_equal(cfg.control_path, path);
	free(path);
	path = long_path(108);
	RUN_ERR("a unix socket path is at most 107 bytes (sun_path), this one is 108", "--control",
		path);
	free(path);
	RUN_ERR("--control: empty socket path", "--control", "");
}

#define RESTORE(...) PARSE("run", "--restore", "vm.tern", __VA_ARGS__)
#define RESTORE_ERR(want, ...) \
	assert_error_says(want, (char *[]){ "tern", "run", "--restore", "vm.tern", __VA_ARGS__, NULL })

static void test_restore(void **state)
{
	assert_int_equal(PARSE("run", "--restore", "vm.tern"), 0);
	assert_int_equal(cmd, CLI_RUN);
	assert_string_equal(cfg.restore_path, "vm.tern");
	assert_null(cfg.kernel_path);
	assert_int_equal(cfg.restore_clock, CLOCK_CONTINUE);
	assert_false(cfg.start_paused);

	/* The machine's shape is still given, to match the snapshot's. */
	assert_int_equal(RESTORE("--cpus", "4", "--memory", "1G", "--disk", "path=root.img",
				 "--net", "tap=tap0", "--vconsole", "pty", "--pmu", "off",
				 "--no-reboot", "--strict-mmio", "--trace"), 0);
	assert_int_equal(cfg.nr_cpus, 4);
	assert_int_equal(cfg.ram_size, 1ULL << 30);
	assert_int_equal(cfg.nr_disks, 1);
	assert_int_equal(cfg.nr_nets, 1);
	assert_true(cfg.vconsole_pty);
	assert_int_equal(cfg.pmu, PMU_OFF);

	RUN_ERR("--restore: empty file name", "--restore", "");
}

static void test_restore_refuses_boot_options(void **state)
{
	static const char *const why =
		"cannot be used with --restore: the snapshot carries the guest's own kernel and memory";
	char want[160];

	snprintf(want, sizeof(want), "--kernel %s", why);
	RESTORE_ERR(want, "--kernel", "Image");
	/* Either order. */
	RUN_ERR(want, "--restore", "vm.tern");
	snprintf(want, sizeof(want), "--initrd %s", why);
	RESTORE_ERR(want, "--initrd", "i.cpio");
	snprintf(want, sizeof(want), "--cmdline %s", why);
	RESTORE_ERR(want, "--cmdline", "quiet");
	/* Even the default, spelled out: the snapshot's guest booted with its own. */
	RESTORE_ERR(want, "--cmdline", CONFIG_DEFAULT_CMDLINE);
	snprintf(want, sizeof(want), "--dtb-out %s", why);
	RESTORE_ERR(want, "--dtb-out", "o.dtb");
}

static void test_restore_clock(void **state)
{
	assert_int_equal(RESTORE("--restore-clock", "wall"), 0);
	assert_int_equal(cfg.restore_clock, CLOCK_WALL);
	assert_int_equal(RESTORE("--restore-clock=continue"), 0);
	assert_int_equal(cfg.restore_clock, CLOCK_CONTINUE);
	assert_int_equal(RESTORE("--restore-clock", "wall", "--restore-clock", "continue"), 0);
	assert_int_equal(cfg.restore_clock, CLOCK_CONTINUE);

	RESTORE_ERR("--restore-clock 'host': must be continue or wall", "--restore-clock", "host");
	RESTORE_ERR("--restore-clock 'Wall': must be continue or wall", "--restore-clock", "Wall");
	RESTORE_ERR("--restore-clock '': must be continue or wall", "--restore-clock", "");
	RUN_ERR("--restore-clock is only for --restore", "--restore-clock", "wall");
	RUN_ERR("--restore-clock is only for --restore", "--restore-clock", "continue");
}

static void test_incoming(void **state)
{
	assert_int_equal(PARSE("run", "--incoming", "unix:/tmp/m.sock", "--memory", "256M"), 0);
	assert_string_equal(cfg.incoming_uri, "unix:/tmp/m.sock");
	assert_null(cfg.kernel_path);
	assert_null(cfg.restore_path);
	assert_int_equal(PARSE("run", "--incoming", "tcp:127.0.0.1:4444,insecure=on"), 0);
	assert_string_equal(cfg.incoming_uri, "tcp:127.0.0.1:4444,insecure=on");
	/* tcp: is TLS or, asked for, plain: nothing else (both ways named). */
	RUN_ERR("--incoming: tcp: migration needs TLS, tls_psk=FILE", "--incoming",
		"tcp:127.0.0.1:4444");
	RUN_ERR("or insecure=on on both sides", "--incoming", "tcp:127.0.0.1:4444");
	RUN_ERR("--incoming: unknown migration channel option", "--incoming",
		"tcp:127.0.0.1:4444,tls=on");
	RUN_ERR("--incoming: tls_psk: cannot open /nonexistent/psk", "--incoming",
		"tcp:127.0.0.1:4444,tls_psk=/nonexistent/psk");
	RUN_ERR("apply to tcp: only", "--incoming", "unix:/m,insecure=on");

	RUN_ERR("--incoming 'unix:': must be unix:PATH", "--incoming", "unix:");
	RUN_ERR("--incoming 'tcp:4444': must be unix:PATH", "--incoming", "tcp:4444");
	RUN_ERR("--incoming 'file:/x': must be unix:PATH", "--incoming", "file:/x");
	assert_error_says("--kernel cannot be used with --incoming: the migration carries",
			  (char *[]){ "tern", "run", "--incoming", "unix:/m", "--kernel", "Image",
				      NULL });
	assert_error_says("--restore and --incoming exclude each other",
			  (char *[]){ "tern", "run", "--incoming", "unix:/m", "--restore", "vm.tern",
				      NULL });
	assert_error_says("--restore-clock is only for --restore",
			  (char *[]){ "tern", "run", "--incoming", "unix:/m", "--restore-clock",
				      "wall", NULL });
}

static void test_dirty_ring(void **state)
{
	assert_int_equal(PARSE("run", "--kernel", "Image"), 0);
	assert_int_equal(cfg.dirty_ring_entries, 4096);
	assert_int_equal(RUN("--dirty-ring", "65536"), 0);
	assert_int_equal(cfg.dirty_ring_entries, 65536);
	assert_int_equal(RUN("--dirty-ring", "0"), 0);
	assert_int_equal(cfg.dirty_ring_entries, 0);
	RUN_ERR("--dirty-ring '1000': must be 0 or a power of two", "--dirty-ring", "1000");
	RUN_ERR("--dirty-ring '-1': must be 0 or a power of two", "--dirty-ring", "-1");
	RUN_ERR("--dirty-ring '2147483648': must be 0 or a power of two", "--dirty-ring",
		"2147483648");
}

static void test_console_buffer(void **state)
{
	assert_int_equal(PARSE("run", "--kernel", "Image"), 0);
	assert_int_equal(cfg.console_buffer, 128 * 1024);
	assert_int_equal(RUN("--console-buffer", "4K"), 0);
	assert_int_equal(cfg.console_buffer, 4096);
	assert_int_equal(RUN("--console-buffer", "1MiB"), 0);
	assert_int_equal(cfg.console_buffer, 1 << 20);
	RUN_ERR("--console-buffer '4095': must be a size from 4K to 1024K", "--console-buffer", "4095");
	RUN_ERR("--console-buffer '2M': must be a size from 4K to 1024K", "--console-buffer", "2M");
	RUN_ERR("--console-buffer 'lots': must be a size from 4K to 1024K", "--console-buffer", "lots");
}

static void test_dirty_tracking(void **state)
{
	assert_int_equal(RUN("--dirty-tracking", "bitmap"), 0);
	assert_int_equal(cfg.dirty_tracking, DIRTY_TRACKING_BITMAP);
	assert_int_equal(RUN("--dirty-tracking", "ring"), 0);
	assert_int_equal(cfg.dirty_tracking, DIRTY_TRACKING_RING);
	assert_int_equal(cfg.dirty_ring_entries, DIRTY_RING_DEFAULT);
	/* The last one given wins, as for every single-valued option. */
	assert_int_equal(RUN("--dirty-tracking", "ring", "--dirty-tracking", "bitmap"), 0);
	assert_int_equal(cfg.dirty_tracking, DIRTY_TRACKING_BITMAP);
	/* --dirty-ring goes with rings, explicit or by default. */
	assert_int_equal(RUN("--dirty-tracking", "ring", "--dirty-ring", "8192"), 0);
	assert_int_equal(cfg.dirty_ring_entries, 8192);
	assert_int_equal(RUN("--dirty-ring", "0"), 0);
	assert_int_equal(cfg.dirty_tracking, DIRTY_TRACKING_RING);
	/* A destination names its tracking too. */
	assert_int_equal(PARSE("run", "--incoming", "unix:/m", "--dirty-tracking", "bitmap"), 0);
	assert_int_equal(cfg.dirty_tracking, DIRTY_TRACKING_BITMAP);

	RUN_ERR("--dirty-tracking 'rings': must be ring or bitmap", "--dirty-tracking", "rings");
	RUN_ERR("--dirty-tracking 'BITMAP': must be ring or bitmap", "--dirty-tracking", "BITMAP");
	RUN_ERR("--dirty-tracking '': must be ring or bitmap", "--dirty-tracking", "");
	RUN_ERR("option '--dirty-tracking' needs a value", "--dirty-tracking");
	RUN_ERR("--dirty-ring sizes the dirty rings, which --dirty-tracking bitmap does not use",
		"--dirty-tracking", "bitmap", "--dirty-ring", "8192");
	/* In either order, and even for the size that turns rings off. */
	RUN_ERR("--dirty-ring sizes the dirty rings, which --dirty-tracking bitmap does not use",
		"--dirty-ring", "0", "--dirty-tracking", "bitmap");
}

static void test_paused(void **state)
{
	assert_int_equal(RUN("--paused", "--control", "c.sock"), 0);
	assert_true(cfg.start_paused);
	assert_string_equal(cfg.control_path, "c.sock");
	assert_int_equal(RESTORE("--control", "c.sock", "--paused", "--restore-clock", "wall"), 0);
	assert_true(cfg.start_paused);
	assert_int_equal(cfg.restore_clock, CLOCK_WALL);

	RUN_ERR("--paused needs --control PATH", "--paused");
	RESTORE_ERR("--paused needs --control PATH", "--paused");
	/* --help wins over what is missing. */
	assert_int_equal(PARSE("run", "--paused", "--help"), 0);
	assert_int_equal(cmd, CLI_HELP);
}

static void test_ctl(void **state)
{
	assert_int_equal(PARSE("ctl", "/tmp/vm.sock", "status"), 0);
	assert_int_equal(cmd, CLI_CTL);
	assert_string_equal(cfg.ctl_socket, "/tmp/vm.sock");
	assert_string_equal(cfg.ctl_command, "status");
	assert_int_equal(cfg.nr_ctl_args, 0);
	assert_null(cfg.kernel_path);

	assert_int_equal(PARSE("ctl", "vm.sock", "snapshot", "path=/tmp/s.tern", "x=1"), 0);
	assert_int_equal(cmd, CLI_CTL);
	assert_string_equal(cfg.ctl_command, "snapshot");
	assert_int_equal(cfg.nr_ctl_args, 2);
	assert_string_equal(cfg.ctl_args[0], "path=/tmp/s.tern");
	assert_string_equal(cfg.ctl_args[1], "x=1");

	assert_int_equal(PARSE("ctl", "vm.sock", "snapshot", "{\"path\": \"/tmp/s\"}"), 0);
	assert_int_equal(cfg.nr_ctl_args, 1);
	/* Commands are the server's to judge: a newer tern may know more. */
	assert_int_equal(PARSE("ctl", "vm.sock", "migrate", "uri=tcp:host:4444"), 0);
	assert_string_equal(cfg.ctl_command, "migrate");

	/* A later parse forgets it. */
	assert_int_equal(PARSE("run", "--kernel", "K"), 0);
	assert_defaults();

	assert_int_equal(PARSE("ctl", "--help"), 0);
	assert_int_equal(cmd, CLI_HELP);
	assert_int_equal(PARSE("ctl", "-h"), 0);
	assert_int_equal(cmd, CLI_HELP);
}

#define CTL_ERR(want, ...) \
	assert_error_says(want, (char *[]){ "tern", "ctl", __VA_ARGS__, NULL })

static void test_ctl_errors(void **state)
{
	char *path = long_path(108);

	assert_error_says("ctl: expected SOCKET COMMAND [ARGS...]", (char *[]){ "tern", "ctl", NULL });
	CTL_ERR("ctl: expected SOCKET COMMAND [ARGS...]", "vm.sock");
	CTL_ERR("ctl: unknown option '--socket'", "--socket", "vm.sock", "status");
	CTL_ERR("ctl: unknown option '-x'", "-x", "status");
	CTL_ERR("ctl: socket: empty socket path", "", "status");
	CTL_ERR("a unix socket path is at most 107 bytes", path, "status");
	CTL_ERR("ctl snapshot: '/tmp/s' is not key=value (or one JSON object)", "vm.sock",
		"snapshot", "/tmp/s");
	CTL_ERR("ctl x: argument 'a' given twice", "vm.sock", "x", "a=1", "a=2");
	CTL_ERR("ctl x: arguments are not JSON", "vm.sock", "x", "{\"a\": }");
	CTL_ERR("ctl x: a JSON object must be the only argument", "vm.sock", "x", "a=1", "{}");
	CTL_ERR("ctl: empty COMMAND", "vm.sock", "");
	CTL_ERR("ctl \xff: command '\xff' is empty or not valid UTF-8", "vm.sock", "\xff");
	free(path);
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
		"--dtb-out FILE", "--no-reboot", "--strict-mmio", "--pmu on|off", "--trace", "--help",
		"--version", "Required", "Default: 1.", "Default: 512M.",
		"Default: \"" CONFIG_DEFAULT_CMDLINE "\"", "external data abort",
		"Ctrl-A x", "Ctrl-A Ctrl-A", "Exit status",
		"  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "128+N", "SIGINT", "SIGTERM",
		"PSCI SYSTEM_EVENT crash",
		"--disk path=FILE[,readonly=on|off][,direct=on|off]", "virtio-blk", "O_DIRECT",
		"block device", "at most 8 disks", "--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]",
		"virtio-net", "tap device", "unicast", "at most 4 cards", "--vconsole pty",
		"virtio-console", "pseudo-terminal", "virtio-rng", "getrandom(2)",
		"--control PATH", "unix socket", "at most 107 bytes", "stale socket",
		"--restore FILE", "tern run --restore FILE", "guest's own kernel and memory",
		"--firmware FILE", "--firmware-vars FILE", "QEMU_EFI.fd", "console=ttyAMA0",
		"give the same FILE again (checked by SHA-256)",
		"with the store the snapshot or migration carries",
		"--kernel, --initrd, --cmdline and --dtb-out are refused",
		"--cpus, --memory, --disk, --net, --vconsole, --pmu and\n                    --pci-testdev",
		"--pci-testdev", "1b36:0005", "pci-test",
		"must match", "--restore-clock continue|wall", "wall-clock", "Default: continue.",
		"--paused", "'resume'", "Needs --control",
		"tern ctl SOCKET COMMAND", "KEY=VALUE", "JSON object", "one at a time",
		"snapshot path=FILE", "docs/control.md", "within 120 seconds",
		"0 the reply is ok", "1 the reply is an error",
		"backend=anon|memfd|hugetlb|guest_memfd", "nr_hugepages", "KVM_CAP_GUEST_MEMFD_FLAGS",
		"--memory-errors inject|stop", "--memory-fault-retries N", "Default: inject.",
		"Default: 3.", "  5 ", "MADV_HWPOISON", "CAP_SYS_ADMIN", "CONFIG_MEMORY_FAILURE",
		"--dirty-tracking ring|bitmap", "KVM_GET_DIRTY_LOG", "KVM_CLEAR_DIRTY_LOG",
		"Default: ring.", "--dirty-ring N", "Only\n                    with --dirty-tracking ring",
	};
	char *text = usage_text();
	size_t i;

	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (!strstr(text, must[i]))
			fail_msg("--help does not mention \"%s\"", must[i]);
	free(text);
}

/* Every control command the server knows is in --help, as a line of its own. */
static void test_usage_lists_control_commands(void **state)
{
	char *text = usage_text();
	char want[64];

	for (unsigned int i = 0; i < CONTROL_NR_COMMANDS; i++) {
		snprintf(want, sizeof(want), "\n  %s ", control_commands[i].name);
		if (!strstr(text, want))
			fail_msg("--help does not list control command '%s'", control_commands[i].name);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_memory_backend),
		cmocka_unit_test(test_memory_errors),
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
		cmocka_unit_test(test_kernel_format),
		cmocka_unit_test(test_firmware),
		cmocka_unit_test(test_pmu),
		cmocka_unit_test(test_disk),
		cmocka_unit_test(test_disk_repeated),
		cmocka_unit_test(test_disk_errors),
		cmocka_unit_test(test_disk_path_length),
		cmocka_unit_test(test_net),
		cmocka_unit_test(test_net_errors),
		cmocka_unit_test(test_vconsole),
		cmocka_unit_test(test_pci_testdev),
		cmocka_unit_test(test_vfio),
		cmocka_unit_test(test_devices_together),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_restore_refuses_boot_options),
		cmocka_unit_test(test_restore_clock),
		cmocka_unit_test(test_incoming),
		cmocka_unit_test(test_dirty_ring),
		cmocka_unit_test(test_console_buffer),
		cmocka_unit_test(test_dirty_tracking),
		cmocka_unit_test(test_paused),
		cmocka_unit_test(test_ctl),
		cmocka_unit_test(test_ctl_errors),
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_errors),
		cmocka_unit_test(test_usage_documents_everything),
		cmocka_unit_test(test_usage_lists_control_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
