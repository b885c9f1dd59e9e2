/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_TEST_DTC_CHECK_H
#define TERN_TEST_DTC_CHECK_H

/*
 * For cmocka tests of device-tree code: runs $DTC -I dtb -O dts on a blob,
 * which must exit 0 and print nothing on stderr (dtc's checks warn there).
 * Skipped when meson found no dtc ($DTC unset).
 */
#include <libfdt.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void check_with_dtc(const void *blob)
{
	const char *dtc = getenv("DTC");
	char path[] = "/tmp/tern-test-dtb-XXXXXX";
	char err[4096];
	int fd, pipefd[2], status;
	ssize_t n, total = 0;
	pid_t pid;

	if (!dtc || !*dtc) {
		print_message("DTC not set: dtc check skipped\n");
		return;
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, blob, fdt_totalsize(blob)), fdt_totalsize(blob));
	close(fd);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		execl(dtc, dtc, "-I", "dtb", "-O", "dts", "-o", "/dev/null", path, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], err + total, sizeof(err) - 1 - total)) > 0)
		total += n;
	err[total] = 0;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("dtc failed (status 0x%x): %s", status, err);
	if (total)
		fail_msg("dtc printed: %s", err);
}

#endif
