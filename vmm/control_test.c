// SPDX-License-Identifier: GPL-2.0-only
/*
 * Control commands for tests only, compiled in with meson -Dtest_commands=true
 * (scripts/build's build/arm64-test); build/arm64/tern, the binary that ships,
 * has none (tests/hardening/check-test-commands.sh).
 *
 * test-open lets the lab show what a confined tern can still reach
 * (tests/lab/scenarios/sandbox.sh): an open the command line did not name
 * must fail with Landlock's EACCES. It needs no allowlist entry of its own:
 * the main (control) thread's seccomp list has openat already, for snapshots
 * and --restore, so what the command shows is Landlock alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "control_proto.h"

int control_test_open(struct vm *vm, const struct control_args *args, json_t *reply,
		      char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO with no writer must not hold up the control thread. */
	int fd = open(args->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int e = errno;

	if (fd < 0) {
		snprintf(err, errlen, "test-open %s: %s (%s)", args->path, strerror(e),
			 strerrorname_np(e) ?: "?");
		return -e;
	}
	close(fd);
	if (json_object_set_new(reply, "opened", json_string(args->path))) {
		snprintf(err, errlen, "test-open %s: building the reply failed", args->path);
		return -ENOMEM;
	}
	return 0;
}
