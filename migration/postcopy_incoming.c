// SPDX-License-Identifier: GPL-2.0-only
/*
 * Post-copy live migration, destination side (docs/postcopy.md).
 *
 * Before the guest runs: RAM is registered with userfaultfd in missing
 * mode, kernel faults included, so that KVM's own accesses (a vCPU's
 * stage-2 fault, ITS table reads) wait too; then the pages the source lists
 * as missing are dropped (they hold a pre-copy version the guest has since
 * changed), and only their absence makes them fault. Registering comes
 * first: khugepaged collapses a huge-page range with holes in it into a new
 * huge page, the holes zero-filled and mapped (up to max_ptes_none of them),
 * unless the range is registered (userfaultfd_armed() in mm/khugepaged.c).
 * A hole filled so before registration would never fault, UFFDIO_COPY
 * would find it mapped (EEXIST), and the guest would read zeros where its
 * page was — seen in the lab as guest page tables and wait queues zeroed
 * after a post-copy move, with RAM in transparent huge pages (vmm/memory_map.c).
 *
 * One thread then owns both the userfaultfd and the page channel: a fault
 * on a missing page becomes a request to the source (the only writer of
 * that direction is this thread), and every page that arrives, asked for
 * or pushed, lands with UFFDIO_COPY or UFFDIO_ZEROPAGE, which place it
 * atomically and wake whoever waits on it. This thread never touches guest
 * RAM through its mapping itself: it would fault on a missing page and
 * wait for itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "migration/channel.h"
#include "migration/machine.h"
#include "migration/postcopy.h"
#include "migration/postcopy_incoming.h"
#include "migration/postcopy_proto.h"
#include "migration/postcopy_admit.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/sandbox.h"

#define ACCEPT_TIMEOUT_S	30	/* the source opens the channel right after RAM_MISSING */
#define PROGRESS_NS		(2ULL * 1000000000)
#define FAULT_BATCH		16

struct postcopy_dest {
	struct vm *vm;
	char uri[CHANNEL_URI_MAX];
	struct channel_sec sec;		/* every page channel is made safe the same way */
	uint8_t token[CHANNEL_TOKEN_LEN]; /* a page channel's first bytes (after TLS) */
	struct pc_admit *admit;		/* admits page channels; NULL until RAM_MISSING */
	size_t page;
	int lfd;			/* listening: the channel, and its reconnections */
	int fd;				/* the page channel; -1 while lost */
	int uffd;
	int stop_efd;
	bool zeropage;			/* UFFDIO_ZEROPAGE works on this memory */
	bool active;			/* the thread was started */
	_Atomic bool serving;		/* pages are still missing: the thread serves */
	bool params_seen;		/* the POSTCOPY section came */
	uint32_t recovery_s;		/* wait this long for a lost channel */
	pthread_t thread;
	struct stream_reader sr;
	bool eof;			/* the channel ended (the stream calls it truncated) */
	bool send_failed;		/* read_faults: a request could not be sent */
	struct pc_missing pm;
	bool pm_ready;
	uint8_t *buf;			/* one incoming section's pages */
	uint8_t *zero;			/* a zero page, without ZEROPAGE */
	uint64_t *latency_ns;		/* one per page fetched on demand */
	uint64_t on_demand, pushed, zero_faults, reconnects;
	uint64_t t_start, t_progress;
	int result;
	char refusal[256];		/* why this tern cannot take post-copy */
};

/* ---- RAM: register, drop, place ---- */

/* MADV_DONTNEED does not free a shmem page (the page cache keeps it, and
 * no missing fault would come): a memfd's pages are punched out instead. */
static int drop_pages(struct postcopy_dest *pd, uint64_t off, uint64_t len)
{
	struct guest_memory *ram = &pd->vm->ram;

	if (ram->backend == MEM_BACKEND_MEMFD) {
		if (fallocate(ram->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(ram->fd_offset + off), (off_t)len) < 0)
			return -errno;
		return 0;
	}
	return madvise(ram->hva + off, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

static int drop_missing(struct postcopy_dest *pd)
{
	const struct dirty_bitmap *bm = &pd->pm.missing;
	uint64_t p = dirty_bitmap_next(bm, 0);

	while (p < bm->nr_pages) {
		uint64_t end = dirty_bitmap_next_clean(bm, p);
		int ret = drop_pages(pd, p * pd->page, (end - p) * pd->page);

		if (ret) {
			pr_err("post-copy: cannot drop the stale pages at RAM offset %#" PRIx64
			       ": %s", p * pd->page, strerror(-ret));
			return ret;
		}
		p = dirty_bitmap_next(bm, end);
	}
	return 0;
}

/* Kernel faults must reach us too (KVM's own accesses): no
 * UFFD_USER_MODE_ONLY, which needs CAP_SYS_PTRACE, the sysctl
 * vm.unprivileged_userfaultfd, or access to /dev/userfaultfd. */
static int open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), dev, err;

	if (fd >= 0)
		return fd;
	err = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd >= 0)
			return fd;
	}
	pr_err("post-copy: userfaultfd: %s; tern needs CAP_SYS_PTRACE, "
	       "vm.unprivileged_userfaultfd=1 or read-write access to /dev/userfaultfd",
	       strerror(err));
	return -err;
}

static int register_ram(struct postcopy_dest *pd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)pd->vm->ram.hva, pd->vm->ram.size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	const uint64_t need = 1ULL << _UFFDIO_COPY | 1ULL << _UFFDIO_WAKE;

	pd->uffd = open_uffd();
	if (pd->uffd < 0) {
		snprintf(pd->refusal, sizeof(pd->refusal), "no userfaultfd with kernel faults "
			 "(%s): post-copy needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or "
			 "/dev/userfaultfd at the destination", strerror(-pd->uffd));
		return pd->uffd;
	}
	if (ioctl(pd->uffd, UFFDIO_API, &api) < 0 || ioctl(pd->uffd, UFFDIO_REGISTER, &reg) < 0) {
		int ret = -errno;

		pr_err("post-copy: registering %" PRIu64 " MiB of %s RAM with userfaultfd: %s",
		       pd->vm->ram.size >> 20, mem_backend_name(pd->vm->ram.backend),
		       strerror(errno));
		return ret;
	}
	if ((reg.ioctls & need) != need) {
		pr_err("post-copy: userfaultfd offers no UFFDIO_COPY on this RAM (ioctls %#llx)",
		       (unsigned long long)reg.ioctls);
		return -ENOTSUP;
	}
	pd->zeropage = reg.ioctls & (1ULL << _UFFDIO_ZEROPAGE);
	return 0;
}

static int wake(struct postcopy_dest *pd, uint64_t off, uint64_t len)
{
	struct uffdio_range r = { (uintptr_t)pd->vm->ram.hva + off, len };

	return ioctl(pd->uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

/* One page at RAM offset @off, atomically: @src, or zeros if NULL. A page
 * that is there already (EEXIST) only needs its waiters woken. */
static int place(struct postcopy_dest *pd, uint64_t off, const uint8_t *src)
{
	uintptr_t dst = (uintptr_t)pd->vm->ram.hva + off;
	long ret;

	if (!src && !pd->zeropage)
		src = pd->zero;
	do {
		if (src) {
			struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src,
						 .len = pd->page };

			ret = ioctl(pd->uffd, UFFDIO_COPY, &c);
		} else {
			struct uffdio_zeropage z = { .range = { dst, pd->page } };

			ret = ioctl(pd->uffd, UFFDIO_ZEROPAGE, &z);
		}
	} while (ret < 0 && errno == EAGAIN);
	if (ret < 0 && errno == EEXIST)
		return wake(pd, off, pd->page);
	if (ret < 0) {
		pr_err("post-copy: placing the page at RAM offset %#" PRIx64 ": %s", off,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- arrivals ---- */

static int arrived(struct postcopy_dest *pd, uint64_t page, const uint8_t *src)
{
	uint64_t lat;
	int ret;

	if (!pc_missing_test(&pd->pm, page))
		return 0;	/* pushed again after a reconnection, or asked twice */
	ret = place(pd, page * pd->page, src);
	if (ret)
		return ret;
	pc_missing_arrived(&pd->pm, page, monotonic_ns(), &lat);
	if (lat)
		pd->latency_ns[pd->on_demand++] = lat;
	else
		pd->pushed++;
	return 0;
}

static int read_ram(struct postcopy_dest *pd, const struct stream_section *s)
{
	uint64_t le_off, off, len = s->length - sizeof(le_off);
	int ret;

	if (s->length < sizeof(le_off) || len % pd->page ||
	    len > POSTCOPY_SECTION_PAGES * pd->page) {
		pr_err("post-copy: the source sent a RAM section of %" PRIu64 " bytes (whole pages, "
		       "at most %u, after the offset)", s->length, POSTCOPY_SECTION_PAGES);
		return -EBADMSG;
	}
	ret = stream_read_payload(&pd->sr, &le_off, sizeof(le_off));
	off = le64toh(le_off);
	if (!ret && (off % pd->page || off > pd->vm->ram.size || len > pd->vm->ram.size - off)) {
		pr_err("post-copy: RAM section at offset %#" PRIx64 " with %" PRIu64 " bytes is "
		       "outside RAM", off, len);
		return -EBADMSG;
	}
	if (!ret)
		ret = stream_read_payload(&pd->sr, pd->buf, len);
	for (uint64_t i = 0; !ret && i < len / pd->page; i++)
		ret = arrived(pd, off / pd->page + i, pd->buf + i * pd->page);
	return ret;
}

static int read_zero(struct postcopy_dest *pd, const struct stream_section *s)
{
	uint8_t payload[STREAM_RAM_ZERO_BYTES];
	char why[STREAM_ERR_MAX];
	uint64_t off, n;
	int ret = s->length == sizeof(payload) ? 0 : -EBADMSG;

	if (!ret)
		ret = stream_read_payload(&pd->sr, payload, sizeof(payload));
	if (!ret) {
		ret = stream_ram_zero_decode(payload, pd->vm->ram.size, (uint32_t)pd->page, &off,
					     &n, why, sizeof(why));
		if (ret)
			pr_err("post-copy: %s", why);
	}
	for (uint64_t i = 0; !ret && i < n; i++)
		ret = arrived(pd, off / pd->page + i, NULL);
	return ret;
}

/* One section from the source: -EBADMSG for a bad one, -EPIPE & co. for a
 * lost channel. */
static int read_section(struct postcopy_dest *pd)
{
	struct stream_section s;
	int ret = stream_next_section(&pd->sr, &s);

	if (ret == 0) {
		pr_err("post-copy: the source ended the page channel with pages still missing");
		return -EBADMSG;
	}
	if (ret < 0)
		return ret;
	if (s.type == STREAM_SEC_RAM)
		return read_ram(pd, &s);
	if (s.type == STREAM_SEC_RAM_ZERO)
		return read_zero(pd, &s);
	pr_err("post-copy: section '%s' on the page channel, where only ram and ram-zero may "
	       "come", stream_section_rule(s.type)->name);
	return -EBADMSG;
}

/* ---- faults ---- */

static int send_msg(struct postcopy_dest *pd, uint32_t type, uint64_t off, uint32_t npages)
{
	const struct pc_msg msg = { .type = type, .npages = npages, .offset = off };
	uint8_t out[PC_MSG_BYTES];
	size_t done = 0;

	pc_msg_encode(out, &msg);
	while (done < sizeof(out)) {
		ssize_t n = send(pd->fd, out + done, sizeof(out) - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Whatever the errno (a reset, a timeout, an unreachable
			 * host, kernel TLS's EIO), the channel is the loss, not
			 * the guest's memory: serve_once recovers. */
			pd->send_failed = true;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int fault(struct postcopy_dest *pd, uint64_t addr)
{
	uint64_t gpa, page;

	if (hva_to_gpa(&pd->vm->ram, (void *)(uintptr_t)addr, &gpa)) {
		pr_err("post-copy: fault at %#" PRIx64 ", outside guest RAM", addr);
		return -EFAULT;
	}
	page = (gpa - pd->vm->ram.gpa) / pd->page;
	switch (pc_missing_fault(&pd->pm, page, monotonic_ns())) {
	case PC_FAULT_REQUEST:
		return pd->fd < 0 ? 0 : send_msg(pd, PC_MSG_REQUEST, page * pd->page, 1);
	case PC_FAULT_WAIT:
		return 0;
	case PC_FAULT_ZERO:
		/* Never written by the source (zero, left unbacked here). */
		pd->zero_faults++;
		return place(pd, page * pd->page, NULL);
	}
	return 0;
}

static int read_faults(struct postcopy_dest *pd)
{
	struct uffd_msg msgs[FAULT_BATCH];
	ssize_t n = read(pd->uffd, msgs, sizeof(msgs));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
		int ret;

		if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		ret = fault(pd, msgs[i].arg.pagefault.address & ~(uint64_t)(pd->page - 1));
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- the channel, and losing it ---- */

/* The stream reads the channel through this, so that an end of input,
 * which the stream reports as a truncated section, is told apart from a
 * corrupt one: the first is a lost connection, waited out. */
static ssize_t channel_read(void *opaque, void *buf, size_t len)
{
	struct postcopy_dest *pd = opaque;
	ssize_t n = read(pd->fd, buf, len);

	if (n == 0)
		pd->eof = true;
	return n;
}

/* An admitted connection (postcopy_admit.c: TLS, token, header read)
 * becomes the page channel. */
static void install_channel(struct postcopy_dest *pd, int fd, const struct stream_reader *sr)
{
	/* Blocking reads of a section are bounded by the socket's timeout:
	 * a source that stops mid-section counts as lost. */
	channel_set_timeout(fd, POSTCOPY_SEND_TIMEOUT_S);
	pd->fd = fd;
	pd->eof = false;
	pd->sr = *sr;
	pd->sr.read = channel_read;
	pd->sr.opaque = pd;
}

/* Admission stops first: it polls the socket. */
static void stop_listening(struct postcopy_dest *pd)
{
	pc_admit_stop(pd->admit);
	pd->admit = NULL;
	if (pd->lfd >= 0) {
		close(pd->lfd);
		channel_unlink(pd->uri);
	}
	pd->lfd = -1;
}

/* Waits up to @seconds for the source to (re)connect; -ETIMEDOUT. */
static int accept_channel(struct postcopy_dest *pd, unsigned int seconds)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)seconds * 1000000000;

	while (monotonic_ns() < deadline) {
		struct pollfd pfd[2] = { { pc_admit_efd(pd->admit), POLLIN, 0 },
					 { pd->stop_efd, POLLIN, 0 } };
		int ms = (int)((deadline - monotonic_ns()) / 1000000) + 1, fd;
		struct stream_reader sr;

		if (poll(pfd, 2, ms) < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			return -ECANCELED;
		if (!pfd[0].revents)
			continue;
		fd = pc_admit_take(pd->admit, &sr);
		if (fd >= 0) {
			install_channel(pd, fd, &sr);
			return 0;
		}
	}
	return -ETIMEDOUT;
}

/* The pages faulted on and not arrived were maybe never seen by the
 * source: ask again on the new connection. One that breaks at once needs
 * no more asking: its next poll sees it, and it is recovered again. */
static void ask_again(struct postcopy_dest *pd)
{
	const struct dirty_bitmap *bm = &pd->pm.missing;
	uint64_t p;

	dirty_bitmap_for_each(p, bm)
		if (pd->pm.requested_ns[p] && send_msg(pd, PC_MSG_REQUEST, p * pd->page, 1))
			return;
}

/*
 * The guest is held while the channel is down: every vCPU is asked to park,
 * without waiting for one that a missing page holds in KVM's fault path
 * (it waits killably only, so no kick reaches it; its pending kick parks
 * it once its page arrives). Devices are not paused: pausing waits for
 * requests in flight, which may themselves wait on a missing page.
 */
static int recover(struct postcopy_dest *pd, int why)
{
	int ret;

	pr_err("post-copy: the page channel from the source broke (%s) with %" PRIu64 " pages "
	       "still missing; holding the guest's vCPUs and waiting up to %u s for the source "
	       "to reconnect on %s", pd->eof ? "the source closed it" :
	       pd->sr.err[0] ? pd->sr.err : strerror(-why), pd->pm.left, pd->recovery_s,
	       pd->uri);
	close(pd->fd);
	pd->fd = -1;
	vcpus_hold(pd->vm);
	ret = accept_channel(pd, pd->recovery_s);
	if (ret == -ETIMEDOUT)
		pr_err("post-copy: the source did not come back within %u s; %" PRIu64 " pages of "
		       "the guest exist only there: the VM is lost, stopping it",
		       pd->recovery_s, pd->pm.left);
	if (ret)
		return ret;
	pd->reconnects++;
	pr_info("post-copy: the source reconnected after %u vCPUs were held; asking again for "
		"the pages waited on, releasing the vCPUs", vcpus_held(pd->vm));
	vcpus_release(pd->vm);
	ask_again(pd);
	return 0;
}

/*
 * A connection while the channel looks alive: the source only opens one
 * when it found the old one broken (or was told to, migrate-reconnect), so
 * this side's connection is half-open: the new one replaces it.
 */
static int replace_channel(struct postcopy_dest *pd)
{
	struct stream_reader sr;
	int fd = pc_admit_take(pd->admit, &sr);

	if (fd < 0)
		return 0;
	pr_warn("post-copy: the source opened a new page channel while the old one still "
		"looked alive; switching to the new one");
	close(pd->fd);
	install_channel(pd, fd, &sr);
	pd->reconnects++;
	ask_again(pd);
	return 0;
}

/* ---- the thread ---- */

static void progress(struct postcopy_dest *pd)
{
	uint64_t now = monotonic_ns();

	if (now - pd->t_progress < PROGRESS_NS)
		return;
	pd->t_progress = now;
	pr_info("post-copy: %" PRIu64 " of %" PRIu64 " pages still missing (%" PRIu64
		" fetched on demand, %" PRIu64 " pushed)", pd->pm.left, pd->pm.total,
		pd->on_demand, pd->pushed);
}

static void report(struct postcopy_dest *pd)
{
	uint64_t n = pd->on_demand;
	uint64_t p50 = pc_percentile(pd->latency_ns, n, 50) / 1000;
	uint64_t p99 = pc_percentile(pd->latency_ns, n, 99) / 1000;

	pr_info("post-copy completed: %" PRIu64 " pages were missing, %" PRIu64 " fetched on "
		"demand, %" PRIu64 " pushed, %" PRIu64 " zero-page faults, fault latency p50 %"
		PRIu64 " us p99 %" PRIu64 " us, %" PRIu64 " reconnects, %" PRIu64 " ms after "
		"switch-over", pd->pm.total, n, pd->pushed, pd->zero_faults, p50, p99,
		pd->reconnects, (monotonic_ns() - pd->t_start) / 1000000);
}

/* One wait: faults first (a vCPU is blocked on them), then one section. */
static int serve_once(struct postcopy_dest *pd)
{
	struct pollfd pfd[4] = { { pd->uffd, POLLIN, 0 }, { pd->fd, POLLIN, 0 },
				 { pd->stop_efd, POLLIN, 0 }, { pc_admit_efd(pd->admit), POLLIN, 0 } };
	int ret;

	if (poll(pfd, 4, 1000) < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[2].revents)
		return -ECANCELED;
	if (pfd[3].revents)
		return replace_channel(pd);
	if (pfd[0].revents) {
		/* Told apart from a failed placement: the channel is the loss. */
		pd->send_failed = false;
		ret = read_faults(pd);
		if (ret)
			return pd->send_failed ? recover(pd, ret) : ret;
	}
	if (pfd[1].revents) {
		ret = read_section(pd);
		if (ret && (pd->eof || (ret != -EBADMSG && ret != -EFAULT)))
			return recover(pd, pd->eof ? -EPIPE : ret);
		return ret;
	}
	return 0;
}

static int serve(struct postcopy_dest *pd)
{
	int ret = 0;

	while (!ret && pd->pm.left) {
		ret = serve_once(pd);
		progress(pd);
	}
	if (ret)
		return ret;
	report(pd);
	/* Every page is in place: unregistering lets a page never written
	 * anywhere fault in as zero the ordinary way. */
	close(pd->uffd);
	pd->uffd = -1;
	/* No reconnection can be needed any more. */
	stop_listening(pd);
	/* The source keeps every page until it reads this. */
	ret = send_msg(pd, PC_MSG_DONE, 0, 0);
	if (ret)
		pr_err("post-copy: cannot tell the source that every page arrived: %s; it will "
		       "report the migration as failed although the guest runs here",
		       strerror(-ret));
	return 0;
}

static void *serve_thread(void *arg)
{
	struct postcopy_dest *pd = arg;

	pd->result = sandbox_enter(SANDBOX_POSTCOPY_DEST) ?: serve(pd);
	atomic_store(&pd->serving, false);
	if (pd->result && pd->result != -ECANCELED) {
		pr_err("post-copy failed: %s", strerror(-pd->result));
		/* The stop first: it kicks every vCPU, so a vCPU that a
		 * missing page held in KVM's fault path finds the signal
		 * pending when it gets a page, and leaves KVM_RUN before the
		 * guest runs again. Then closing the userfaultfd releases
		 * every waiter with a zero page: KVM's fault path waits
		 * killably only, so nothing else would let the vCPU threads,
		 * or a restore still running before the ack, ever return. */
		vm_request_stop(pd->vm, VM_STOP_ERROR, 0);
		close(pd->uffd);
		pd->uffd = -1;
	}
	return NULL;
}

/* ---- loader hooks ---- */

static int refuse_backend(struct postcopy_dest *pd)
{
	enum mem_backend b = pd->vm->ram.backend;

	if (b == MEM_BACKEND_ANON || b == MEM_BACKEND_MEMFD)
		return 0;
	snprintf(pd->refusal, sizeof(pd->refusal), "--memory backend=%s cannot take a "
		 "post-copy migration (userfaultfd %s); use backend=anon or memfd, or migrate "
		 "without postcopy", mem_backend_name(b), b == MEM_BACKEND_GUEST_MEMFD ?
		 "does not work on guest_memfd" :
		 "on hugetlb would need huge-page sized requests, not implemented");
	pr_err("post-copy: %s", pd->refusal);
	return -ENOTSUP;
}

static int hook_params(void *opaque, const uint8_t *payload)
{
	struct postcopy_dest *pd = opaque;
	char why[STREAM_ERR_MAX];
	struct pc_params p;
	int ret = pc_params_decode(payload, &p, why, sizeof(why));

	if (ret) {
		pr_err("post-copy: %s", why);
		return ret;
	}
	if (pd->params_seen) {
		pr_err("post-copy: a second postcopy section");
		return -EBADMSG;
	}
	pd->params_seen = true;
	pd->recovery_s = p.recovery_s;
	return 0;
}

static int hook_missing(void *opaque, uint64_t off, uint64_t npages)
{
	struct postcopy_dest *pd = opaque;
	int ret;

	if (!pd->params_seen) {
		pr_err("post-copy: ram-missing section before the postcopy section");
		return -EBADMSG;
	}
	if (!pd->pm_ready) {
		ret = refuse_backend(pd);
		if (!ret)
			ret = pc_missing_init(&pd->pm, pd->vm->ram.size / pd->page);
		if (ret)
			return ret;
		pd->pm_ready = true;
	}
	for (uint64_t i = 0; i < npages; i++) {
		ret = pc_missing_mark(&pd->pm, off / pd->page + i);
		if (ret)
			return ret;
	}
	return 0;
}

static int alloc_buffers(struct postcopy_dest *pd)
{
	pd->buf = malloc(POSTCOPY_SECTION_PAGES * pd->page);
	pd->zero = calloc(1, pd->page);
	pd->latency_ns = calloc(pd->pm.total, sizeof(*pd->latency_ns));
	pd->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (!pd->buf || !pd->zero || !pd->latency_ns || pd->stop_efd < 0) {
		pr_err("post-copy: out of memory for %" PRIu64 " missing pages", pd->pm.total);
		return -ENOMEM;
	}
	return 0;
}

/* After the last RAM section, before any state is restored (the restore
 * may read missing pages: the thread must be serving by then). */
static int hook_before_state(void *opaque)
{
	struct postcopy_dest *pd = opaque;
	int ret;

	if (!pd->pm_ready)
		return 0;	/* pre-copy */
	pd->t_start = pd->t_progress = monotonic_ns();
	ret = alloc_buffers(pd);
	if (!ret)
		ret = register_ram(pd);
	if (!ret)
		ret = drop_missing(pd);
	if (!ret)
		ret = postcopy_dest_admit(pd);
	if (!ret) {
		ret = accept_channel(pd, ACCEPT_TIMEOUT_S);
		if (ret)
			pr_err("post-copy: the source did not open the page channel on %s: %s",
			       pd->uri, strerror(-ret));
	}
	if (ret)
		return ret;
	/* Set before the thread starts: it clears it when it ends. */
	atomic_store(&pd->serving, true);
	ret = -pthread_create(&pd->thread, NULL, serve_thread, pd);
	if (ret) {
		atomic_store(&pd->serving, false);
		return ret;
	}
	pd->active = true;
	pr_info("post-copy: %" PRIu64 " pages missing; RAM registered with userfaultfd, "
		"serving faults (a lost channel is waited on for %u s)", pd->pm.total,
		pd->recovery_s);
	return 0;
}

/* ---- life cycle ---- */

struct postcopy_dest *postcopy_dest_new(struct vm *vm, const struct channel_spec *cs,
				       int listen_fd)
{
	struct postcopy_dest *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return NULL;
	if (channel_token_new(pd->token)) {
		pr_err("post-copy: getrandom for the session token: %m");
		free(pd);
		return NULL;
	}
	pd->sec = cs->sec;
	pd->vm = vm;
	pd->page = (size_t)sysconf(_SC_PAGESIZE);
	pd->lfd = listen_fd;
	pd->fd = pd->uffd = pd->stop_efd = -1;
	snprintf(pd->uri, sizeof(pd->uri), "%s", cs->uri);
	return pd;
}

void postcopy_dest_token_hex(const struct postcopy_dest *pd, char hex[2 * CHANNEL_TOKEN_LEN + 1])
{
	for (size_t i = 0; i < CHANNEL_TOKEN_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", pd->token[i]);
}

void postcopy_dest_hook(struct postcopy_dest *pd, struct machine_loader *ld)
{
	ld->params = hook_params;
	ld->missing = hook_missing;
	ld->before_state = hook_before_state;
	ld->hook_opaque = pd;
}

const char *postcopy_dest_refusal(const struct postcopy_dest *pd)
{
	return pd->refusal[0] ? pd->refusal : NULL;
}

bool postcopy_dest_active(const struct postcopy_dest *pd)
{
	return pd->active;
}

int postcopy_dest_error(const struct postcopy_dest *pd)
{
	/* serving goes false after result is set (serve_thread). */
	if (!pd->active || atomic_load(&pd->serving))
		return 0;
	return pd->result == -ECANCELED ? 0 : pd->result;
}

bool postcopy_incoming_serving(struct vm *vm)
{
	return vm->postcopy_in && atomic_load(&vm->postcopy_in->serving);
}

int postcopy_dest_admit(struct postcopy_dest *pd)
{
	if (pd->admit || pd->lfd < 0)
		return 0;
	pd->admit = pc_admit_start(pd->lfd, pd->uri, &pd->sec, pd->token, (uint32_t)pd->page);
	return pd->admit ? 0 : -ENOMEM;
}

void postcopy_dest_stop_listening(struct postcopy_dest *pd)
{
	stop_listening(pd);
}

static void dest_free(struct postcopy_dest *pd)
{
	if (pd->active) {
		uint64_t one = 1;

		if (write(pd->stop_efd, &one, sizeof(one)) < 0)
			pr_err("post-copy: cannot stop the fault thread: %m");
		pthread_join(pd->thread, NULL);
	}
	if (pd->fd >= 0)
		close(pd->fd);
	/* Closing the userfaultfd unregisters RAM. */
	if (pd->uffd >= 0)
		close(pd->uffd);
	if (pd->stop_efd >= 0)
		close(pd->stop_efd);
	stop_listening(pd);
	if (pd->pm_ready)
		pc_missing_free(&pd->pm);
	free(pd->buf);
	free(pd->zero);
	free(pd->latency_ns);
	free(pd);
}

void postcopy_dest_abort(struct postcopy_dest *pd)
{
	if (pd)
		dest_free(pd);
}

void postcopy_dest_adopt(struct postcopy_dest *pd)
{
	pd->vm->postcopy_in = pd;
}

void postcopy_incoming_finish(struct vm *vm)
{
	struct postcopy_dest *pd = vm->postcopy_in;

	if (!pd)
		return;
	if (pd->active && pd->pm.left)
		pr_err("post-copy: tern stops with %" PRIu64 " pages still at the source",
		       pd->pm.left);
	vm->postcopy_in = NULL;
	dest_free(pd);
}
