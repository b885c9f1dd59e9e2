// SPDX-License-Identifier: GPL-2.0-only
/* Live migration, destination side (the source is migration/migrate.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/devices.h"
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

#define STR_(x)	#x
#define STR(x)	STR_(x)

/* The source sends its header as soon as it connects. */
#define HANDSHAKE_TIMEOUT_S	30
/* Between two reads of the stream: a source's round 0 never pauses this long. */
#define STREAM_TIMEOUT_S	60
/* From the ack to the source's commit: one round trip. */
#define COMMIT_TIMEOUT_S	30
/* The stream's read-ahead (stream_reader_set_buffer): a read takes up to
 * 16 TLS records. */
#define READ_BUFFER_BYTES	(256u << 10)

/*
 * The connections being admitted: the waiting loop accepts them and each
 * one's handshake runs on a thread of its own, so a stranger that connects
 * and then stalls (or trickles its handshake) holds only its own thread,
 * up to the TLS timeout, never the real source's handshake beside it. At
 * most ADMIT_MAX at once: a connection beyond them is closed at once. The
 * first connection that authenticates is the source; the loop then cuts
 * the others off (shutdown) and waits for their threads, which use the
 * keys main() frees at exit. Shared by the loop and the threads; the last
 * of them to leave frees it.
 */
#define ADMIT_MAX	4

struct admission {
	pthread_mutex_t lock;
	unsigned int refs;		/* the loop, and each handshake thread */
	unsigned int running;		/* handshakes under way */
	int fds[ADMIT_MAX];		/* their connections, -1: a free slot */
	pthread_cond_t ended;		/* running went down */
	int winner;			/* the first that authenticated, not taken; -1 */
	_Atomic bool closed;		/* the loop left: the rest are cut off */
	int efd;			/* eventfd: a handshake ended */
	const struct channel_spec *cs;	/* vm->keys: lives as long as the process */
	/* Anyone who reaches the port can try: the refusals are rate-limited,
	 * and the first few (an operator's wrong key) all show. */
	struct ratelimit refusals;
};

struct admit_job {
	struct admission *a;
	int fd;
};

static void log_refusal(struct admission *a, const char *why)
{
	pr_warn_ratelimited(&a->refusals, "--incoming: refused a connection on %s: %s; still "
			    "waiting for the source", a->cs->uri, why);
}

static void admission_put(struct admission *a)
{
	bool last;

	pthread_mutex_lock(&a->lock);
	last = !--a->refs;
	pthread_mutex_unlock(&a->lock);
	if (!last)
		return;
	if (a->winner >= 0)
		close(a->winner);
	close(a->efd);
	ratelimit_destroy(&a->refusals);
	pthread_cond_destroy(&a->ended);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static struct admission *admission_new(const struct channel_spec *cs)
{
	struct admission *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		free(a);
		return NULL;
	}
	a->refs = 1;
	a->winner = -1;
	a->cs = cs;
	for (int i = 0; i < ADMIT_MAX; i++)
		a->fds[i] = -1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->ended, NULL);
	ratelimit_init(&a->refusals, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	return a;
}

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
 * destination's check); the first to succeed becomes the source. */
static void *admit_thread(void *arg)
{
	struct admit_job *job = arg;
	struct admission *a = job->a;
	uint64_t one = 1, t0 = monotonic_ns();
	char err[320];
	int fd = job->fd, ret;

	free(job);
	/* Strangers' bytes are read here: post-copy's admission allowlist
	 * (accept, kernel TLS's setsockopt, no file opens). */
	ret = sandbox_enter(SANDBOX_POSTCOPY_DEST);
	if (ret)
		snprintf(err, sizeof(err), "cannot confine the admission thread: %s",
			 strerror(-ret));
	else
		ret = channel_secure(fd, &a->cs->sec, true, err, sizeof(err));
	if (ret == -EPROTO && channel_sec_tls(&a->cs->sec) && !a->closed)
		tell_plain_source(fd);
	pthread_mutex_lock(&a->lock);
	if (!ret && a->winner < 0 && !a->closed) {
		a->winner = fd;
		pr_info("--incoming: the source authenticated on %s (%s took %" PRIu64 " ms)",
			a->cs->uri, channel_sec_tls(&a->cs->sec) ? "its TLS handshake" :
			"the check", (monotonic_ns() - t0) / 1000000);
	} else if (!a->closed) {
		/* Not after the loop left: it cut this one off. */
		log_refusal(a, ret ? err : "another source authenticated first");
	}
	for (int i = 0; i < ADMIT_MAX; i++)
		if (a->fds[i] == fd)
			a->fds[i] = -1;
	if (a->winner != fd)
		close(fd);
	a->running--;
	pthread_cond_signal(&a->ended);
	if (write(a->efd, &one, sizeof(one)) < 0)
		pr_err("--incoming: cannot signal a finished handshake: %m");
	pthread_mutex_unlock(&a->lock);
	/* Nothing of the keys or the URI from here on. */
	admission_put(a);
	return NULL;
}

/* Accepts one connection and starts its handshake, or closes it when
 * ADMIT_MAX are under way. */
static void admit_new(struct admission *a, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	struct admit_job *job;
	pthread_attr_t attr;
	pthread_t t;
	bool full;

	if (fd < 0)
		return;
	pthread_mutex_lock(&a->lock);
	full = a->running >= ADMIT_MAX;
	if (!full) {
		a->running++;
		a->refs++;
		for (int i = 0; i < ADMIT_MAX; i++)
			if (a->fds[i] < 0) {
				a->fds[i] = fd;
				break;
			}
	}
	pthread_mutex_unlock(&a->lock);
	if (full) {
		close(fd);
		log_refusal(a, "too many handshakes under way (" STR(ADMIT_MAX) ")");
		return;
	}
	job = malloc(sizeof(*job));
	if (job) {
		*job = (struct admit_job){ a, fd };
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, admit_thread, job)) {
			free(job);
			job = NULL;
		}
		pthread_attr_destroy(&attr);
	}
	if (!job) {
		pr_err("--incoming: cannot start a handshake thread; closing a connection");
		pthread_mutex_lock(&a->lock);
		for (int i = 0; i < ADMIT_MAX; i++)
			if (a->fds[i] == fd)
				a->fds[i] = -1;
		a->running--;
		a->refs--;
		pthread_mutex_unlock(&a->lock);
		close(fd);
	}
}

/* The authenticated source, once one is: its fd, or -EAGAIN. */
static int admitted(struct admission *a)
{
	uint64_t n;
	int fd;

	if (read(a->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&a->lock);
	fd = a->winner;
	a->winner = -1;
	pthread_mutex_unlock(&a->lock);
	return fd >= 0 ? fd : -EAGAIN;
}

/* The loop is done: the handshakes still under way are cut off and waited
 * for (they hold the keys, which main() frees at exit). */
static void admission_end(struct admission *a)
{
	pthread_mutex_lock(&a->lock);
	a->closed = true;
	for (int i = 0; i < ADMIT_MAX; i++)
		if (a->fds[i] >= 0)
			shutdown(a->fds[i], SHUT_RDWR);
	while (a->running)
		pthread_cond_wait(&a->ended, &a->lock);
	pthread_mutex_unlock(&a->lock);
	admission_put(a);
}

/* Waits for the first connection that authenticates, or a signal. */
static int wait_source(struct vm *vm, const struct channel_spec *cs, struct admission *a,
		       int lfd)
{
	int fd = -EAGAIN;

	while (fd == -EAGAIN) {
		struct pollfd pfd[3] = { { lfd, POLLIN, 0 }, { a->efd, POLLIN, 0 },
					 { vm->sig_fd, POLLIN, 0 } };

		if (poll(pfd, vm->sig_fd >= 0 ? 3 : 2, -1) < 0) {
			fd = errno == EINTR ? -EAGAIN : -errno;
			continue;
		}
		if (pfd[2].revents && take_signal(vm, cs))
			return -EINTR;
		if (pfd[1].revents)
			fd = admitted(a);
		if (fd == -EAGAIN && pfd[0].revents)
			admit_new(a, lfd);
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
	a = admission_new(cs);
	fd = a ? wait_source(vm, cs, a, lfd) : -ENOMEM;
	if (a)
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

static int receive(struct vm *vm, int fd, struct postcopy_dest *pd, uint8_t *rbuf)
{
	struct machine_loader ld;
	uint64_t t0 = monotonic_ns();
	int ret;

	machine_loader_init(&ld, vm, stream_fd_read, (void *)(intptr_t)fd, false);
	/* The source sends nothing past CONFIG before our accept, nor past END
	 * before our ack: reading ahead never takes a byte meant for later. */
	stream_reader_set_buffer(&ld.sr, rbuf, READ_BUFFER_BYTES);
	postcopy_dest_hook(pd, &ld);
	channel_set_timeout(fd, HANDSHAKE_TIMEOUT_S);
	ret = handshake(&ld, fd, pd);
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
		" reads, %" PRIu64 " ms", ld.sr.offset >> 20, ld.ram_sections, ld.sr.reads,
		(monotonic_ns() - t0) / 1000000);
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
