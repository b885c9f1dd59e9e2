// SPDX-License-Identifier: GPL-2.0-only
/* Live migration, destination side (the source is migration/migrate.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/devices.h"
#include "migration/channel.h"
#include "migration/incoming.h"
#include "migration/machine.h"
#include "migration/postcopy_incoming.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* The source sends its header as soon as it connects. */
#define HANDSHAKE_TIMEOUT_S	30
/* Between two reads of the stream: a source's round 0 never pauses this long. */
#define STREAM_TIMEOUT_S	60
/* From the ack to the source's commit: one round trip. */
#define COMMIT_TIMEOUT_S	30

/* The listening socket stays open: a post-copy source opens its page
 * channel on it (migration/postcopy_incoming.c). */
static int accept_source(const char *uri, int *lfd_out)
{
	char err[256];
	int lfd = channel_listen(uri, err, sizeof(err)), fd;

	if (lfd < 0) {
		pr_err("--incoming: %s", err);
		return lfd;
	}
	pr_info("waiting for a migration on %s", uri);
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		fd = -errno;
		pr_err("--incoming: accept on %s: %s", uri, strerror(errno));
		close(lfd);
		channel_unlink(uri);
		return fd;
	}
	*lfd_out = lfd;
	return fd;
}

/* Header and CONFIG, then the answer: the source sends pages only after
 * "accept". */
static int handshake(struct machine_loader *ld, int fd)
{
	int ret = machine_load_prelude(ld);

	if (ret == -EPROTO) {
		pr_err("migration refused: %s", ld->refusal);
		channel_send_line(fd, "refuse", ld->refusal);
		return ret;
	}
	if (ret) {
		pr_err("migration: the source's stream is unusable");
		return ret;
	}
	ret = channel_send_line(fd, "accept", NULL);
	if (ret)
		pr_err("migration: cannot answer the source: %s", strerror(-ret));
	return ret;
}

/*
 * Pre-copy's second phase (migration/migrate.c, commit): the guest runs
 * here only once the source has committed; without a commit it stays with
 * the source, which resumes it.
 */
static int await_commit(int fd)
{
	char line[CHANNEL_LINE_MAX];
	int ret = channel_set_timeout(fd, COMMIT_TIMEOUT_S);

	if (!ret)
		ret = channel_read_line(fd, line, sizeof(line));
	if (!ret && strcmp(line, "commit"))
		ret = -EPROTO;
	if (ret) {
		pr_err("migration: no commit from the source (%s); the guest stays there and "
		       "never ran here", ret == -EPROTO ? line : strerror(-ret));
		return ret;
	}
	/* Committed: the guest runs here even if the source misses this (it
	 * then stays paused and says so). */
	ret = channel_send_line(fd, "running", NULL);
	if (ret)
		pr_err("migration: cannot confirm to the source (%s); running the guest, the "
		       "source keeps it paused", strerror(-ret));
	return 0;
}

static int receive(struct vm *vm, int fd, struct postcopy_dest *pd)
{
	struct machine_loader ld;
	uint64_t t0 = monotonic_ns();
	int ret;

	machine_loader_init(&ld, vm, stream_fd_read, (void *)(intptr_t)fd, false);
	postcopy_dest_hook(pd, &ld);
	channel_set_timeout(fd, HANDSHAKE_TIMEOUT_S);
	ret = handshake(&ld, fd);
	if (ret)
		return ret;
	channel_set_timeout(fd, STREAM_TIMEOUT_S);
	ret = machine_load_rest(&ld);
	if (ret) {
		pr_err("migration: the stream broke before the VM was complete; the guest "
		       "never ran here");
		channel_send_line(fd, "fail", postcopy_dest_refusal(pd) ? postcopy_dest_refusal(pd) :
				  "the destination could not restore the VM");
		return ret;
	}
	/* From the ack on, post-copy outlives this function. */
	if (postcopy_dest_active(pd))
		postcopy_dest_adopt(pd);
	ret = channel_send_line(fd, "ack", NULL);
	if (ret) {
		pr_err("migration: cannot acknowledge to the source: %s; not running the guest",
		       strerror(-ret));
		return ret;
	}
	if (!postcopy_dest_active(pd)) {
		ret = await_commit(fd);
		if (ret)
			return ret;
	}
	pr_info("migration received: %" PRIu64 " MiB in %" PRIu64 " RAM sections, %" PRIu64
		" ms", ld.sr.offset >> 20, ld.ram_sections, (monotonic_ns() - t0) / 1000000);
	return 0;
}

int migration_incoming(struct vm *vm, const char *uri)
{
	struct postcopy_dest *pd;
	int lfd = -1, fd = accept_source(uri, &lfd), ret;

	if (fd < 0)
		return fd;
	pd = postcopy_dest_new(vm, uri, lfd);
	if (!pd) {
		pr_err("migration: out of memory");
		close(lfd);
		close(fd);
		return -ENOMEM;
	}
	ret = devices_pause(vm);
	if (!ret) {
		ret = receive(vm, fd, pd);
		devices_resume(vm);
	}
	close(fd);
	/* An adopted post-copy's pages keep arriving while the guest runs;
	 * main() ends it (postcopy_incoming_finish). */
	if (vm->postcopy_in != pd)
		postcopy_dest_abort(pd);
	return ret;
}
