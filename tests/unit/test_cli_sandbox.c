// SPDX-License-Identifier: GPL-2.0-only
/* The confinement options of 'tern run' (vmm/cli_sandbox.c), the snapshot
 * directory and migration target checks (vmm/landlock.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/cli.h"
#include "vmm/landlock.h"
#include "vmm/sandbox.h"
#include "cli_argv.h"

#define RUN(...) parse_argv((char *[]){ "tern", "run", "--kernel", "Image", __VA_ARGS__, NULL })

static void test_sandbox_modes(void **state)
{
	assert_int_equal(RUN("--cpus", "1"), 0);
	assert_int_equal(cfg.sandbox, SANDBOX_KILL);	/* filtered, stopping, by default */
	assert_int_equal(RUN("--sandbox", "kill"), 0);
	assert_int_equal(cfg.sandbox, SANDBOX_KILL);
	assert_int_equal(RUN("--sandbox", "log"), 0);
	assert_int_equal(cfg.sandbox, SANDBOX_LOG);
	assert_int_equal(RUN("--sandbox", "off"), 0);
	assert_int_equal(cfg.sandbox, SANDBOX_OFF);
	assert_int_equal(RUN("--sandbox", "on"), -EINVAL);
	assert_int_equal(RUN("--sandbox", ""), -EINVAL);
}

static void test_user(void **state)
{
	assert_int_equal(RUN("--user", "1000:1001"), 0);
	assert_true(cfg.user_set);
	assert_int_equal(cfg.uid, 1000);
	assert_int_equal(cfg.gid, 1001);
	assert_int_equal(RUN("--user", "0:0"), -EINVAL);	/* root is not a drop */
	assert_int_equal(RUN("--user", "1000"), -EINVAL);
	assert_int_equal(RUN("--user", "1000:"), -EINVAL);
	assert_int_equal(RUN("--user", "-1:5"), -EINVAL);
	assert_int_equal(RUN("--user", "4294967295:5"), -EINVAL);
	assert_int_equal(RUN("--user", "10:20x"), -EINVAL);
}

static void test_jail_paths(void **state)
{
	assert_int_equal(RUN("--jail", "/srv/jail", "--snapshot-dir", "/srv/snaps"), 0);
	assert_string_equal(cfg.jail_dir, "/srv/jail");
	assert_int_equal(RUN("--jail", "jail"), -EINVAL);
	assert_int_equal(RUN("--jail", "/j", "--snapshot-dir", "snaps"), -EINVAL);
	assert_int_equal(RUN("--jail", "/j", "--migrate-to", "unix:vm.sock"), -EINVAL);
	assert_int_equal(RUN("--jail", "/j", "--sandbox", "off"), -EINVAL);
	assert_int_equal(parse_argv((char *[]){ "tern", "run", "--restore", "s.tern", "--jail",
						"/j", NULL }), -EINVAL);
}

static void test_migrate_to(void **state)
{
	char err[256];

	assert_int_equal(RUN("--cpus", "1"), 0);
	assert_int_equal(landlock_check_migrate(&cfg, "tcp:198.18.0.2:4444", err, sizeof(err)), 0);
	assert_int_equal(RUN("--migrate-to", "tcp:198.18.0.2:4444", "--migrate-to", "unix:/run/m"), 0);
	assert_int_equal(cfg.nr_migrate_to, 2);
	assert_int_equal(landlock_check_migrate(&cfg, "unix:/run/m", err, sizeof(err)), 0);
	assert_int_equal(landlock_check_migrate(&cfg, "tcp:198.18.0.3:4444", err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "--migrate-to"));
	assert_int_equal(RUN("--migrate-to", "ftp:x"), -EINVAL);
}

static void test_snapshot_dir(void **state)
{
	char dir[] = "/tmp/tern-snapdir-XXXXXX", inside[PATH_MAX + 32], sub[PATH_MAX], err[512];
	char outside[PATH_MAX + 32], sibling[PATH_MAX];

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/in", dir);
	snprintf(sibling, sizeof(sibling), "%s-x", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mkdir(sibling, 0700), 0);
	assert_int_equal(RUN("--snapshot-dir", sub), 0);
	snprintf(inside, sizeof(inside), "%s/vm.tern", sub);
	assert_int_equal(landlock_check_snapshot(&cfg, inside, err, sizeof(err)), 0);
	/* Up and out, next door with a common prefix, elsewhere. */
	snprintf(outside, sizeof(outside), "%s/../vm.tern", sub);
	assert_int_equal(landlock_check_snapshot(&cfg, outside, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "outside --snapshot-dir"));
	snprintf(outside, sizeof(outside), "%s/vm.tern", sibling);
	assert_int_equal(landlock_check_snapshot(&cfg, outside, err, sizeof(err)), -EACCES);
	assert_int_equal(landlock_check_snapshot(&cfg, "/tmp/vm.tern", err, sizeof(err)), -EACCES);
	/* Without the option, nowhere. */
	assert_int_equal(RUN("--cpus", "1"), 0);
	assert_int_equal(landlock_check_snapshot(&cfg, inside, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "without --snapshot-dir"));
	rmdir(sub);
	rmdir(sibling);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sandbox_modes),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_jail_paths),
		cmocka_unit_test(test_migrate_to),
		cmocka_unit_test(test_snapshot_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
