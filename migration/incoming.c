// SPDX-License-Identifier: GPL-2.0-only
/* Live migration, destination side (the source is migration/migrate.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/devices.h"
#include "migration/admission.h"
#include "migration/channel.h"
#include "migration/channel_keys.h"
#include "migration/channel_sec.h"
#include "migration/incoming.h"
#include "migration/machine.h"
#include "migration/postcopy_incoming.h"
#include "migration/tls.h"
#include "vmm/log.h"
#include "vmm/sandbox.h"
#include "vmm/vm.h"


/* The source sends its header as soon as it connects. */
#define HANDSHAKE_TIMEOUT_S	30
/* Between two reads of the stream: a source's round 0 never pauses this long. */
#define STREAM_TIMEOUT_S	60
/* From the ack to the source's commit: one round trip. */
#define COMMIT_TIMEOUT_S	30
/* The stream's read-ahead (stream_reader_set_buffer): a read takes up to
 * 16 TLS records. */
#define READ_BUFFER_BYTES	(256u << 10)

/* SIGINT or SIGTERM while waiting: tern stops as it would while running. */
static int take_signal(struct vm *vm, const struct channel_spec *cs)
{
	struct signalfd_siginfo si;

	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return 0;
	pr_err("--incoming: %s while waiting for the source on %s: stopping",
	       strsignal((int)si.ssi_signo), cs->uri);
	vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
	return -EINTR;
}

/*
 * A plain-text source is told why in its own language, a "refuse" line
 * (what it reads after its configuration), before the close. Its bytes are
 * drained first for a moment: closing with unread data would reset the
 * connection and lose the line.
 */
static void tell_plain_source(int fd)
{
	char buf[4096];
	uint64_t end = monotonic_ns() + 1000000000ull;

	channel_send_line(fd, "refuse", "this destination speaks TLS only: give 'migrate' "
			  "the same tls_psk or tls_creds");
	shutdown(fd, SHUT_WR);
	channel_set_timeout(fd, 1);
	while (monotonic_ns() < end && read(fd, buf, sizeof(buf)) > 0)
		;
}

/* One connection, made safe per the channel options (TLS, or the plain
 * destination's check); admission.c makes the first to pass the source. */
static int check_source(void *opaque, int fd, void *out, char *err, size_t errlen)
{
	const struct channel_spec *cs = opaque;
	int ret = channel_secure(fd, &cs->sec, true, err, errlen);

	(void)out;
	if (ret == -EPROTO && channel_sec_tls(&cs->sec))
		tell_plain_source(fd);
	return ret;
}

/* Waits for the first connection that authenticates, or a signal. */
static int wait_source(struct vm *vm, const struct channel_spec *cs, struct admission *a,
		       int lfd)
{
	int fd = -EAGAIN;

	while (fd == -EAGAIN) {
		struct pollfd pfd[3] = { { lfd, POLLIN, 0 }, { admission_efd(a), POLLIN, 0 },
					 { vm->sig_fd, POLLIN, 0 } };

		if (poll(pfd, vm->sig_fd >= 0 ? 3 : 2, -1) < 0) {
			fd = errno == EINTR ? -EAGAIN : -errno;
			continue;
		}
		if (pfd[2].revents && take_signal(vm, cs))
			return -EINTR;
		if (pfd[1].revents)
			fd = admission_take(a, NULL);
		if (fd == -EAGAIN && pfd[0].revents)
			admission_accept(a, lfd);
	}
	return fd;
}

/* The listening socket stays open: a post-copy source opens its page
 * channel on it (migration/postcopy_incoming.c). */
static int accept_source(struct vm *vm, const struct channel_spec *cs, int *lfd_out)
{
	struct admission *a;
	char err[256];
	int lfd, fd;

	lfd = channel_listen(cs->uri, err, sizeof(err));
	if (lfd < 0) {
		pr_err("--incoming: %s", err);
		return lfd;
	}
	if (cs->sec.insecure)
		pr_warn("--incoming %s: insecure=on: plain TCP, anyone on the path can read the "
			"guest's memory and anyone who reaches the port can hand this tern a VM",
			cs->uri);
	pr_info("waiting for a migration on %s%s", cs->uri, cs->sec.tls_psk[0] ?
		" (TLS 1.3, pre-shared key)" : cs->sec.tls_creds[0] ? " (TLS 1.3, X.509)" : "");
	a = admission_new(&(struct admission_ops){
		.check = check_source, .opaque = (void *)cs, .what = "--incoming",
		.uri = cs->uri, .waiting = "; still waiting for the source" });
	fd = a ? wait_source(vm, cs, a, lfd) : -ENOMEM;
	admission_end(a);
	if (fd < 0) {
		if (fd != -EINTR)
			pr_err("--incoming: accept on %s: %s", cs->uri, strerror(-fd));
		close(lfd);
		channel_unlink(cs->uri);
		return fd;
	}
	*lfd_out = lfd;
	return fd;
}

/* Header and CONFIG, then the answer: the source sends pages only after
 * "accept". */
static int handshake(struct machine_loader *ld, int fd, struct postcopy_dest *pd)
{
	char token[2 * CHANNEL_TOKEN_LEN + 1];
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
	postcopy_dest_token_hex(pd, token);
	ret = channel_send_line(fd, "accept", token);
	if (ret)
		pr_err("migration: cannot answer the source: %s", strerror(-ret));
	if (!ret)
		ret = postcopy_dest_admit(pd);
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

/* The source waits for this before it pauses the guest (migration/migrate.c,
 * drain_destination): everything it sent so far has been read here. */
static int answer_sync(void *opaque)
{
	int ret = channel_send_line((int)(intptr_t)opaque, "synced", NULL);

	if (ret)
		pr_err("migration: cannot answer the source's sync: %s", strerror(-ret));
	return ret;
}

static int receive(struct vm *vm, int fd, struct postcopy_dest *pd, uint8_t *rbuf)
{
	struct machine_loader ld;
	uint64_t t0 = monotonic_ns(), cpu0 = thread_cpu_ns();
	int ret;

	machine_loader_init(&ld, vm, stream_fd_read, (void *)(intptr_t)fd, false);
	/* The source sends nothing past CONFIG before our accept, nor past END
	 * before our ack: reading ahead never takes a byte meant for later. */
	stream_reader_set_buffer(&ld.sr, rbuf, READ_BUFFER_BYTES);
	stream_reader_set_read_needed(&ld.sr, stream_fd_recv_needed);
	postcopy_dest_hook(pd, &ld);
	ld.sync = answer_sync;
	ld.sync_opaque = (void *)(intptr_t)fd;
	channel_set_timeout(fd, HANDSHAKE_TIMEOUT_S);
	ret = handshake(&ld, fd, pd);
	if (ret)
		return ret;
	channel_set_timeout(fd, STREAM_TIMEOUT_S);
	/* vm_build wrote nothing into RAM: no kernel is loaded for --incoming. */
	ret = machine_loader_fresh_ram(&ld);
	if (!ret)
		ret = machine_load_rest(&ld);
	machine_loader_release(&ld);
	if (ret) {
		pr_err("migration: the stream broke before the VM was complete; the guest "
		       "never ran here");
		channel_send_line(fd, "fail", postcopy_dest_refusal(pd) ? postcopy_dest_refusal(pd) :
				  "the destination could not restore the VM");
		return ret;
	}
	/* A fault thread that failed during the restore leaves a guest that
	 * cannot run here: the source, which never ran it elsewhere, keeps it. */
	ret = postcopy_dest_error(pd);
	if (ret) {
		pr_err("migration: post-copy failed before the guest ran here (%s); telling the "
		       "source to keep it", strerror(-ret));
		channel_send_line(fd, "fail", "post-copy failed at the destination before the "
				  "guest ran there (see its log)");
		return ret;
	}
	/* From the ack on, post-copy outlives this function. Pre-copy needs
	 * no other connection: the port closes. */
	if (postcopy_dest_active(pd))
		postcopy_dest_adopt(pd);
	else
		postcopy_dest_stop_listening(pd);
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
		" reads, %u sync answered, %" PRIu64 " ms, %" PRIu64 " ms of this thread's CPU",
		ld.sr.offset >> 20, ld.ram_sections, ld.sr.reads, ld.syncs,
		(monotonic_ns() - t0) / 1000000, (thread_cpu_ns() - cpu0) / 1000000);
	return 0;
}

int migration_incoming(struct vm *vm)
{
	struct postcopy_dest *pd;
	uint8_t *rbuf;
	int lfd = -1, fd, ret;

	fd = accept_source(vm, &vm->keys->incoming, &lfd);
	if (fd < 0)
		return fd;
	pd = postcopy_dest_new(vm, &vm->keys->incoming, lfd);
	if (!pd) {
		pr_err("migration: out of memory");
		close(lfd);
		close(fd);
		return -ENOMEM;
	}
	rbuf = malloc(READ_BUFFER_BYTES);
	ret = rbuf ? vm_pause_devices(vm) : -ENOMEM;
	if (!ret) {
		ret = receive(vm, fd, pd, rbuf);
		vm_resume_devices(vm);
	}
	free(rbuf);
	close(fd);
	/* An adopted post-copy's pages keep arriving while the guest runs;
	 * main() ends it (postcopy_incoming_finish). */
	if (vm->postcopy_in != pd)
		postcopy_dest_abort(pd);
	return ret;
}
