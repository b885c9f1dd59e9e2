// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-blk (VIRTIO 1.2, 5.2) on a raw file or a block device.
 *
 * One request queue. Requests are parsed and checked on the I/O thread, then
 * handed to io_uring in batches (everything available, one submit); the
 * ring's eventfd brings the completions back to the I/O thread. Everything a
 * request says (types, sectors, lengths, segment layout) comes from the guest
 * and is checked before use: a bad request fails with a status byte, it never
 * reaches the backend. Writes to a read-only disk are refused here, whatever
 * the driver negotiated.
 *
 * All state is under vdev->lock: the I/O thread takes it, the transport holds
 * it around activate/reset.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "migration/state.h"
#include "virtio.h"
#include "virtio_devices.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "vmm/log.h"

#define BLK_QUEUE_SIZE		256
#define BLK_SEG_MAX		(BLK_QUEUE_SIZE - 2)	/* data segments: header and status aside */
#define SECTOR_SHIFT		9
#define SECTOR_SIZE		(1U << SECTOR_SHIFT)
#define BLK_MAX_DISCARD_SECTORS	(1U << 22)		/* 2 GiB per request */
#define BLK_MAX_WZ_SECTORS	(1U << 22)
#define BLK_ZERO_BUF		(1U << 20)		/* write-zeroes fallback chunk */
/*
 * How long a reset or a quiesce waits for requests in the kernel. A reset
 * runs on a vCPU thread holding the device's lock: storage that hangs (a
 * dead NFS server, a failing disk) must not hang it, nor a pause waiting
 * for that vCPU (VM_PAUSE_TIMEOUT_MS, which this stays well under).
 */
#define BLK_IDLE_WAIT_MS	5000
#define BLK_QUEUED		0xff			/* blk_parse(): on the ring, no status yet */

enum blk_op {
	BLK_OP_RW,		/* readv/writev of the data segments */
	BLK_OP_FSYNC,
	BLK_OP_FALLOCATE,	/* discard / write zeroes */
	BLK_OP_ZERO_FILL,	/* write zeroes by writing a zero buffer */
};

struct blk_req {
	struct vq_elem elem;		/* data iovecs point into it */
	struct blk_req *next_free;
	uint8_t *status;		/* the last writable byte of the chain */
	struct iovec *status_seg;	/* the in[] segment it was cut from */
	unsigned int in_num;		/* elem.in_num as the driver gave it */
	uint32_t type;			/* VIRTIO_BLK_T_* */
	enum blk_op op;
	bool write;
	struct iovec *iov;		/* what is left to transfer */
	unsigned int iovcnt;
	uint64_t front_skipped;		/* bytes cut off iov[0] for now (blk_advance) */
	struct iovec ziov;		/* BLK_OP_ZERO_FILL */
	uint64_t offset;		/* byte offset of the next transfer */
	uint64_t remaining;		/* bytes left (RW, ZERO_FILL) */
	int falloc_mode;
	uint32_t used_len;		/* reported in the used ring on success */
	bool in_flight;			/* an SQE of it is queued or in the kernel */
	bool orphan;			/* of a driver that reset us: drop its CQE */
};

struct virtio_blk {
	struct virtio_device vdev;
	struct virtqueue vq;
	struct iothread *io;
	int fd;
	bool is_blkdev;
	bool readonly;
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t blk_size;
	char serial[VIRTIO_BLK_ID_BYTES];
	const char *path;		/* for messages; owned by the config */
	struct virtio_blk_config config;

	struct io_uring ring;
	bool ring_ok;
	int efd;			/* completions; on the I/O thread */
	unsigned int unsubmitted;	/* SQEs prepared, not yet submitted */
	unsigned int in_kernel;		/* SQEs submitted, CQE not yet seen */
	void *zero_buf;			/* BLK_ZERO_BUF of zeroes, mapped on demand */

	struct blk_req *reqs;
	struct blk_req *free_reqs;
	bool active;			/* DRIVER_OK and not reset since */
	bool broken;			/* vq_pop failed: wait for a reset */
	bool stalled;			/* no free request: resume on a completion */
	uint64_t finished;		/* requests given back, for blk_quiesce's count */
};

static struct virtio_blk *to_blk(struct virtio_device *vdev)
{
	return (struct virtio_blk *)vdev;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- completion ---------------------------------------------------------- */

static void blk_req_free(struct virtio_blk *b, struct blk_req *req)
{
	req->next_free = b->free_reqs;
	b->free_reqs = req;
}

/* Puts back what blk_advance cut off the front segment. */
static void blk_undo_skip(struct blk_req *req)
{
	if (!req->front_skipped)
		return;
	req->iov->iov_base = (uint8_t *)req->iov->iov_base - req->front_skipped;
	req->iov->iov_len += req->front_skipped;
	req->front_skipped = 0;
}

/*
 * The chain's writable segments as the driver gave them: the status byte
 * back in its segment, the front of a short read's transfer uncut. The
 * used element then covers what it says (vq_fill logs from in[]).
 */
static void blk_restore_in(struct blk_req *req)
{
	blk_undo_skip(req);
	if (req->status_seg)
		req->status_seg->iov_len++;
	req->status_seg = NULL;
	req->elem.in_num = req->in_num;
}

/*
 * The status byte is not where the used length ends (GET_ID into a larger
 * buffer, a failed read): log it here, after the store, so a migration
 * under way sends its page again (vmm/written_log.h).
 */
static void blk_finish(struct virtio_blk *b, struct blk_req *req, uint8_t status)
{
	uint32_t len = 0;

	blk_restore_in(req);
	if (req->status) {
		*req->status = status;
		guest_memory_note_write(b->vdev.mem, req->status, 1);
		len = (status == VIRTIO_BLK_S_OK ? req->used_len : 0) + 1;
	}
	virtio_complete(&b->vdev, 0, &req->elem, len);
	blk_req_free(b, req);
	b->finished++;
}

/* Drops @n bytes from the front of @iov[0..*cnt); returns the new front.
 * For the request header only: transfers move on with blk_advance. */
static struct iovec *iov_skip(struct iovec *iov, unsigned int *cnt, uint64_t n)
{
	while (*cnt && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt && n) {
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}

/*
 * Moves @req's transfer on by @n bytes. Only the front segment is ever cut,
 * by front_skipped bytes that are put back before moving on (and by
 * blk_restore_in): the driver's segments behind it stay as they were.
 */
static void blk_advance(struct blk_req *req, uint64_t n)
{
	if (req->iovcnt) {
		n += req->front_skipped;
		blk_undo_skip(req);
	}
	while (req->iovcnt && n >= req->iov->iov_len) {
		n -= req->iov->iov_len;
		req->iov++;
		req->iovcnt--;
	}
	if (req->iovcnt && n) {
		req->iov->iov_base = (uint8_t *)req->iov->iov_base + n;
		req->iov->iov_len -= n;
		req->front_skipped = n;
	}
}

/*
 * A read's transfer came back (@res): log the guest RAM it filled, at once,
 * even for a request that goes on (a short read) or that a reset drops.
 * A failed transfer may have placed some of its data (a direct read's DMA)
 * before failing: all of what it was given counts.
 */
static void blk_note_read(struct virtio_blk *b, const struct blk_req *req, int res)
{
	uint64_t left = res < 0 ? req->remaining : (uint64_t)res;

	if (req->op != BLK_OP_RW || req->write)
		return;
	for (unsigned int i = 0; i < req->iovcnt && left; i++) {
		uint64_t n = req->iov[i].iov_len < left ? req->iov[i].iov_len : left;

		guest_memory_note_write(b->vdev.mem, req->iov[i].iov_base, n);
		left -= n;
	}
}

/* ---- submission ---------------------------------------------------------- */

static void blk_submit(struct virtio_blk *b)
{
	int ret;

	if (!b->unsubmitted)
		return;
	ret = io_uring_submit(&b->ring);
	if (ret < 0) {
		/* The SQEs stay queued; the next completion or kick retries. */
		pr_warn_ratelimited(&b->vdev.io_error_log, "disk %s: io_uring_submit: %s", b->path,
				    strerror(-ret));
		return;
	}
	b->in_kernel += (unsigned int)ret;
	b->unsubmitted -= (unsigned int)ret < b->unsubmitted ? (unsigned int)ret : b->unsubmitted;
}

/* Prepares the SQE for @req's current step. false: no SQE could be had. */
static bool blk_queue_sqe(struct virtio_blk *b, struct blk_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe) {
		blk_submit(b);
		sqe = io_uring_get_sqe(&b->ring);
		if (!sqe)
			return false;
	}
	switch (req->op) {
	case BLK_OP_RW:
		if (req->write)
			io_uring_prep_writev(sqe, b->fd, req->iov, req->iovcnt, req->offset);
		else
			io_uring_prep_readv(sqe, b->fd, req->iov, req->iovcnt, req->offset);
		break;
	case BLK_OP_FSYNC:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, b->fd, req->falloc_mode, req->offset, req->remaining);
		break;
	case BLK_OP_ZERO_FILL:
		req->ziov.iov_base = b->zero_buf;
		req->ziov.iov_len = req->remaining < BLK_ZERO_BUF ? req->remaining : BLK_ZERO_BUF;
		io_uring_prep_writev(sqe, b->fd, &req->ziov, 1, req->offset);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	req->in_flight = true;
	b->unsubmitted++;
	return true;
}

static void blk_start(struct virtio_blk *b, struct blk_req *req)
{
	if (!blk_queue_sqe(b, req))
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
}

static bool blk_zero_fill(struct virtio_blk *b, struct blk_req *req)
{
	if (!b->zero_buf) {
		void *p = mmap(NULL, BLK_ZERO_BUF, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return false;
		b->zero_buf = p;
	}
	req->op = BLK_OP_ZERO_FILL;
	return blk_queue_sqe(b, req);
}

/* A CQE for @req: finish it or queue its next step. @reset: just drop it. */
static void blk_cqe(struct virtio_blk *b, struct blk_req *req, int res, bool reset)
{
	req->in_flight = false;
	blk_note_read(b, req, res);
	if (reset || req->orphan) {
		req->orphan = false;
		blk_req_free(b, req);
		return;
	}
	switch (req->op) {
	case BLK_OP_RW:
	case BLK_OP_ZERO_FILL:
		if (req->op == BLK_OP_RW && (res == -EFAULT || res == -EHWPOISON))
			iov_touch(req->iov, req->iovcnt);	/* fails with an I/O error */
		if (res <= 0)
			break;			/* error, or end of file inside the capacity */
		req->offset += (unsigned int)res;
		req->remaining -= (unsigned int)res;
		if (req->op == BLK_OP_RW)
			blk_advance(req, (unsigned int)res);
		if (!req->remaining) {
			blk_finish(b, req, VIRTIO_BLK_S_OK);
			return;
		}
		if (req->op == BLK_OP_RW && !req->iovcnt)
			break;
		if (!blk_queue_sqe(b, req))
			break;
		return;				/* short transfer: the rest goes again */
	case BLK_OP_FSYNC:
		if (res < 0)
			break;
		blk_finish(b, req, VIRTIO_BLK_S_OK);
		return;
	case BLK_OP_FALLOCATE:
		if (res >= 0) {
			blk_finish(b, req, VIRTIO_BLK_S_OK);
			return;
		}
		if (res != -EOPNOTSUPP && res != -EINVAL)
			break;
		/* Discard is a hint: a backend without holes ignores it. Write
		 * zeroes must zero, so it falls back to writing them. */
		if (req->type == VIRTIO_BLK_T_DISCARD) {
			blk_finish(b, req, VIRTIO_BLK_S_OK);
			return;
		}
		if (blk_zero_fill(b, req))
			return;
		break;
	}
	blk_finish(b, req, VIRTIO_BLK_S_IOERR);
}

static void blk_drain_cq(struct virtio_blk *b, bool reset)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct blk_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&b->ring, cqe);
		if (b->in_kernel)
			b->in_kernel--;
		if (req)
			blk_cqe(b, req, res, reset);
	}
}

/* ---- requests ------------------------------------------------------------ */

/* [sector, sector + n) inside the disk, without overflow. */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t n)
{
	return sector <= b->capacity && n <= b->capacity - sector;
}

static uint8_t blk_rw(struct virtio_blk *b, struct blk_req *req, uint64_t sector,
		      struct iovec *iov, unsigned int cnt, uint64_t len)
{
	unsigned int seg_max = virtio_has_feature(&b->vdev, VIRTIO_BLK_F_SEG_MAX) ?
			       BLK_SEG_MAX : IOV_MAX;

	if (req->write && b->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (len % SECTOR_SIZE || !blk_range_ok(b, sector, len >> SECTOR_SHIFT) || cnt > seg_max)
		return VIRTIO_BLK_S_IOERR;
	if (!len)
		return VIRTIO_BLK_S_OK;
	req->op = BLK_OP_RW;
	req->iov = iov;
	req->iovcnt = cnt;
	req->front_skipped = 0;
	req->offset = sector << SECTOR_SHIFT;
	req->remaining = len;
	req->used_len = req->write ? 0 : (uint32_t)len;
	return BLK_QUEUED;
}

static uint8_t blk_discard_wz(struct virtio_blk *b, struct blk_req *req,
			      const struct iovec *out, unsigned int out_cnt, uint64_t payload)
{
	bool wz = req->type == VIRTIO_BLK_T_WRITE_ZEROES;
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t sector, off, len;
	uint32_t n, flags;

	if (b->readonly || !payload || payload % sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	if (payload > sizeof(seg))
		return VIRTIO_BLK_S_UNSUPP;	/* max_discard_seg/max_write_zeroes_seg: 1 */
	if (iov_to_buf(out, out_cnt, 0, &seg, sizeof(seg)) != sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	sector = le64toh(seg.sector);
	n = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	if (flags & ~(wz ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0))
		return VIRTIO_BLK_S_UNSUPP;
	if (n > (wz ? BLK_MAX_WZ_SECTORS : BLK_MAX_DISCARD_SECTORS) || !blk_range_ok(b, sector, n))
		return VIRTIO_BLK_S_IOERR;
	if (!n)
		return VIRTIO_BLK_S_OK;
	off = sector << SECTOR_SHIFT;
	len = (uint64_t)n << SECTOR_SHIFT;

	if (!wz && b->is_blkdev) {
		uint64_t range[2] = { off, len };

		/* Synchronous, on the I/O thread: there is no io_uring opcode for it. */
		if (ioctl(b->fd, BLKDISCARD, range) < 0 && errno != EOPNOTSUPP)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	}
	req->op = BLK_OP_FALLOCATE;
	req->offset = off;
	req->remaining = len;
	if (!wz || (!b->is_blkdev && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)))
		req->falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else
		req->falloc_mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	return BLK_QUEUED;
}

/* Parses @req; BLK_QUEUED: started (queued on the ring), else the final status. */
static uint8_t blk_parse(struct virtio_blk *b, struct blk_req *req)
{
	struct vq_elem *e = &req->elem;
	struct virtio_blk_outhdr hdr;
	struct iovec *out;
	unsigned int out_cnt = e->out_num;
	uint64_t in_len = e->in_len - 1;	/* the status byte aside */
	uint64_t sector;
	char id[VIRTIO_BLK_ID_BYTES];

	if (iov_to_buf(e->out, e->out_num, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	req->type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	out = iov_skip(e->out, &out_cnt, sizeof(hdr));

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		req->write = false;
		return blk_rw(b, req, sector, e->in, e->in_num, in_len);
	case VIRTIO_BLK_T_OUT:
		req->write = true;
		return blk_rw(b, req, sector, out, out_cnt, e->out_len - sizeof(hdr));
	case VIRTIO_BLK_T_FLUSH:
		req->op = BLK_OP_FSYNC;
		return BLK_QUEUED;
	case VIRTIO_BLK_T_GET_ID:
		memcpy(id, b->serial, sizeof(id));
		req->used_len = (uint32_t)iov_from_buf(e->in, e->in_num, 0, id,
						       in_len < sizeof(id) ? in_len : sizeof(id));
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return blk_discard_wz(b, req, out, out_cnt, e->out_len - sizeof(hdr));
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void blk_handle(struct virtio_blk *b, struct blk_req *req)
{
	struct vq_elem *e = &req->elem;
	struct iovec *last;
	uint8_t status;

	req->status = NULL;
	req->status_seg = NULL;
	req->in_num = e->in_num;
	req->iovcnt = 0;
	req->front_skipped = 0;
	req->used_len = 0;
	/* The status byte is the chain's last writable byte; take it out of
	 * the data segments (it may share a descriptor with data) until
	 * blk_finish puts it back. */
	while (e->in_num && !e->in[e->in_num - 1].iov_len)
		e->in_num--;
	if (!e->in_num) {
		/* Nowhere to report: give the chain back untouched. */
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	last = &e->in[e->in_num - 1];
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	req->status_seg = last;
	if (!--last->iov_len)
		e->in_num--;

	status = blk_parse(b, req);
	if (status == BLK_QUEUED)
		blk_start(b, req);
	else
		blk_finish(b, req, status);
}

static void blk_process(struct virtio_blk *b)
{
	struct virtqueue *vq = &b->vq;

	if (!b->active || b->broken || !vq->ready)
		return;
	b->stalled = false;
	do {
		for (;;) {
			struct blk_req *req = b->free_reqs;
			int ret;

			if (!req) {
				/* More chains than the ring holds (a driver
				 * reusing heads): resume on a completion. */
				b->stalled = true;
				goto out;
			}
			ret = vq_pop(vq, &req->elem);
			if (ret < 0) {
				b->broken = true;
				virtio_queue_error(&b->vdev, 0, ret);
				goto out;
			}
			if (!ret)
				break;
			b->free_reqs = req->next_free;
			blk_handle(b, req);
		}
	} while (vq_enable_notify(vq));
out:
	blk_submit(b);
	/* Page-cache hits complete inside io_uring_submit: answer them now
	 * rather than after another trip through the completion eventfd. */
	blk_drain_cq(b, false);
}

/* ---- I/O thread entry points --------------------------------------------- */

static void blk_ring_event(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;
	uint64_t cnt;

	/* Read first: a completion posted after this read signals again. */
	if (read(b->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		pr_warn_ratelimited(&b->vdev.io_error_log, "disk %s: completion eventfd: %m", b->path);
	pthread_mutex_lock(&b->vdev.lock);
	blk_drain_cq(b, false);
	if (b->stalled)
		blk_process(b);
	blk_submit(b);
	pthread_mutex_unlock(&b->vdev.lock);
}

static void blk_queue_notify(struct virtio_device *vdev, unsigned int q)
{
	struct virtio_blk *b = to_blk(vdev);

	if (q)
		return;
	pthread_mutex_lock(&vdev->lock);
	blk_process(b);
	pthread_mutex_unlock(&vdev->lock);
}

/* ---- device ops ---------------------------------------------------------- */

static void blk_config_read(struct virtio_device *vdev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_blk *b = to_blk(vdev);

	virtio_config_read_bytes(&b->config, sizeof(b->config), off, data, len);
}

static int blk_activate(struct virtio_device *vdev)
{
	struct virtio_blk *b = to_blk(vdev);

	b->active = true;
	return 0;
}

/*
 * Waits until no request is in flight: each one has a single SQE, queued or
 * in the kernel, until it finishes. @drop: forget requests as their CQEs
 * come (their buffers belong to a driver that reset us); else complete
 * them, following short transfers and fallbacks to the end. -errno if the
 * ring cannot be waited on; -ETIMEDOUT after BLK_IDLE_WAIT_MS.
 */
static int blk_wait_idle(struct virtio_blk *b, bool drop)
{
	uint64_t deadline = monotonic_ms() + BLK_IDLE_WAIT_MS;

	if (!b->ring_ok)
		return 0;
	while (b->in_kernel || b->unsubmitted) {
		uint64_t now = monotonic_ms();
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		int ret;

		if (now >= deadline)
			return -ETIMEDOUT;
		blk_submit(b);
		ts.tv_sec = (long long)((deadline - now) / 1000);
		ts.tv_nsec = (long long)((deadline - now) % 1000) * 1000000;
		/* Only waits: the SQ was just flushed (and counted) by blk_submit. */
		ret = io_uring_wait_cqe_timeout(&b->ring, &cqe, &ts);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			pr_err_ratelimited(&b->vdev.io_error_log,
					   "disk %s: cannot wait for in-flight I/O: %s", b->path,
					   strerror(-ret));
			return ret;
		}
		blk_drain_cq(b, drop);
	}
	return 0;
}

/* Requests the kernel still holds after the wait: asked to stop, and
 * dropped when they complete, whenever that is. The rest of the pool
 * serves the next driver meanwhile. */
static unsigned int blk_orphan_in_flight(struct virtio_blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	unsigned int n = 0;

	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		if (b->reqs[i].in_flight) {
			b->reqs[i].orphan = true;
			n++;
		}
	if (sqe) {
		/* Linux 5.19+; older kernels just let them finish. */
		io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
		io_uring_sqe_set_data(sqe, NULL);
		b->unsubmitted++;
		blk_submit(b);
	}
	return n;
}

/* In-flight requests belong to the old driver: wait (a bounded time) for
 * the kernel to be done with their buffers, then drop them without
 * touching the ring. */
static void blk_reset(struct virtio_device *vdev)
{
	struct virtio_blk *b = to_blk(vdev);
	int ret;

	b->active = false;
	b->broken = false;
	b->stalled = false;
	ret = blk_wait_idle(b, true);
	if (ret == -ETIMEDOUT) {
		pr_warn_ratelimited(&b->vdev.io_error_log,
				    "disk %s: reset: %u requests still in the kernel after %d ms; dropped when they complete (is the storage hung?)",
				    b->path, blk_orphan_in_flight(b), BLK_IDLE_WAIT_MS);
		return;
	}
	/* Every request is free again. */
	b->free_reqs = NULL;
	for (unsigned int i = BLK_QUEUE_SIZE; i-- > 0;) {
		b->reqs[i].in_flight = b->reqs[i].orphan = false;
		blk_req_free(b, &b->reqs[i]);
	}
}

/*
 * Before a snapshot: every request in flight completes into the used ring
 * (its interrupt raised as usual), here on the caller's thread while the
 * I/O thread is paused. Requests still in the avail ring stay there: the
 * device takes them after resume, or the restored one does. If the device
 * had stalled for lack of free requests, the completion eventfd, still
 * signalled, resumes it when the I/O thread runs again.
 */
static int blk_quiesce(struct virtio_device *vdev)
{
	struct virtio_blk *b = to_blk(vdev);
	uint64_t before = b->finished;
	int ret = blk_wait_idle(b, false);

	/* What a migration's final stage must carry (status bytes, data, used
	 * ring, all logged): said, so that a test can tell it happened. */
	if (b->finished != before)
		pr_info("disk %s: %llu requests in flight at the pause completed", b->path,
			(unsigned long long)(b->finished - before));
	return ret;
}

/* No request can be in flight (blk_quiesce); the configuration comes from
 * the disk and must be the same disk's, size and all. */
static int blk_save(struct virtio_device *vdev, struct state_writer *w)
{
	struct virtio_blk *b = to_blk(vdev);

	if (b->in_kernel || b->unsubmitted)
		return -EBUSY;
	virtio_config_save(w, &b->config, sizeof(b->config));
	return 0;
}

static int blk_load(struct virtio_device *vdev, struct state_reader *r)
{
	struct virtio_blk *b = to_blk(vdev);

	return virtio_config_check(r, &b->config, sizeof(b->config));
}

static void blk_destroy(struct virtio_device *vdev)
{
	struct virtio_blk *b = to_blk(vdev);

	if (b->efd >= 0) {
		if (b->io)
			iothread_del(b->io, b->efd);
		close(b->efd);
	}
	if (b->ring_ok) {
		blk_reset(vdev);
		io_uring_queue_exit(&b->ring);
	}
	if (b->zero_buf)
		munmap(b->zero_buf, BLK_ZERO_BUF);
	if (b->fd >= 0)
		close(b->fd);
	free(b->reqs);
	if (b->vdev.ops)
		pthread_mutex_destroy(&b->vdev.lock);
	free(b);
}

static const struct virtio_device_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.config_size = offsetof(struct virtio_blk_config, max_secure_erase_sectors),
	.config_read = blk_config_read,
	.activate = blk_activate,
	.reset = blk_reset,
	.queue_notify = blk_queue_notify,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.load = blk_load,
	.destroy = blk_destroy,
};

/* ---- creation ------------------------------------------------------------ */

/*
 * tern reads every disk as a raw image. One in another format (users
 * download .qcow2 cloud images) would reach the guest as that format's own
 * bytes: say so. A warning, not a refusal: a guest may have written such a
 * header onto its raw disk itself. One aligned block read, so O_DIRECT works.
 */
static void blk_warn_format(const struct virtio_blk *b, const char *path)
{
	static const struct { const char *magic, *name; } formats[] = {
		{ "QFI\xfb", "qcow2" }, { "KDMV", "VMDK" }, { "vhdxfile", "VHDX" },
	};
	uint8_t *head = aligned_alloc(4096, 4096);

	if (head && pread(b->fd, head, 4096, 0) >= 8)
		for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
			if (!memcmp(head, formats[i].magic, strlen(formats[i].magic)))
				pr_warn("disk %s: starts with a %s header, but tern reads disks as raw images: the guest sees the %s file, not the disk in it (convert it: qemu-img convert -O raw %s DISK.raw)",
					path, formats[i].name, formats[i].name, path);
	free(head);
}

static int blk_open(struct virtio_blk *b, const struct disk_config *cfg)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (cfg->direct ? O_DIRECT : 0);
	struct stat st;
	int err;

	b->fd = open(cfg->path, flags);
	if (b->fd < 0) {
		err = errno;
		if (!cfg->readonly && (err == EACCES || err == EROFS || err == EPERM) &&
		    access(cfg->path, R_OK) == 0)
			pr_err("disk %s: cannot open for writing (%s); use a read-only disk",
			       cfg->path, strerror(err));
		else if (err == EINVAL && cfg->direct)
			pr_err("disk %s: cannot open with O_DIRECT (not supported by its file system)",
			       cfg->path);
		else
			pr_err("disk %s: cannot open: %s", cfg->path, strerror(err));
		return -err;
	}
	if (fstat(b->fd, &st) < 0) {
		err = errno;
		pr_err("disk %s: cannot stat: %s", cfg->path, strerror(err));
		return -err;
	}
	if (S_ISREG(st.st_mode)) {
		b->capacity = (uint64_t)st.st_size >> SECTOR_SHIFT;
		b->blk_size = SECTOR_SIZE;
		if (st.st_size % SECTOR_SIZE)
			pr_warn("disk %s: size is not a multiple of 512 bytes; the last %u bytes are not visible",
				cfg->path, (unsigned int)(st.st_size % SECTOR_SIZE));
	} else if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		int ssz;

		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0 || ioctl(b->fd, BLKSSZGET, &ssz) < 0) {
			err = errno;
			pr_err("disk %s: cannot get the block device's size: %s", cfg->path,
			       strerror(err));
			return -err;
		}
		b->is_blkdev = true;
		b->capacity = bytes >> SECTOR_SHIFT;
		b->blk_size = ssz >= (int)SECTOR_SIZE ? (uint32_t)ssz : SECTOR_SIZE;
	} else {
		pr_err("disk %s: not a regular file or block device", cfg->path);
		return -EINVAL;
	}
	if (!b->capacity)
		pr_warn("disk %s: empty (0 sectors)", cfg->path);
	blk_warn_format(b, cfg->path);
	return 0;
}

static void blk_fill_config(struct virtio_blk *b)
{
	struct virtio_blk_config *c = &b->config;
	uint32_t align = b->blk_size >> SECTOR_SHIFT;

	c->capacity = htole64(b->capacity);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(b->blk_size);
	c->max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(align);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_WZ_SECTORS);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = !b->is_blkdev;
}

static void blk_set_serial(struct virtio_blk *b, const char *path)
{
	const char *base = strrchr(path, '/');

	/* Zero-padded, not terminated when it fills all 20 bytes. */
	memset(b->serial, 0, sizeof(b->serial));
	strncpy(b->serial, "tern-", sizeof(b->serial));
	strncpy(b->serial + 5, base ? base + 1 : path, sizeof(b->serial) - 5);
}

struct virtio_device *virtio_blk_create(const struct disk_config *cfg,
					const struct guest_memory *mem, struct iothread *io)
{
	uint64_t features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
			    (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) |
			    (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1);
	struct virtio_blk *b = calloc(1, sizeof(*b));
	int ret;

	if (!b) {
		pr_err("disk %s: out of memory", cfg->path);
		errno = ENOMEM;
		return NULL;
	}
	b->fd = -1;
	b->efd = -1;
	b->path = cfg->path;
	b->readonly = cfg->readonly;
	ret = blk_open(b, cfg);
	if (ret < 0)
		goto fail;
	if (b->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	blk_fill_config(b);
	blk_set_serial(b, cfg->path);

	ret = -ENOMEM;
	b->reqs = calloc(BLK_QUEUE_SIZE, sizeof(*b->reqs));
	if (!b->reqs) {
		pr_err("disk %s: out of memory", cfg->path);
		goto fail;
	}
	ret = io_uring_queue_init(BLK_QUEUE_SIZE, &b->ring, 0);
	if (ret < 0) {
		pr_err("disk %s: cannot set up io_uring: %s", cfg->path, strerror(-ret));
		goto fail;
	}
	b->ring_ok = true;
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		ret = -errno;
		pr_err("disk %s: eventfd: %s", cfg->path, strerror(-ret));
		goto fail;
	}
	ret = io_uring_register_eventfd(&b->ring, b->efd);
	if (ret < 0) {
		pr_err("disk %s: cannot register the io_uring eventfd: %s", cfg->path,
		       strerror(-ret));
		goto fail;
	}
	ret = virtio_device_init(&b->vdev, &blk_ops, &b->vq, 1, BLK_QUEUE_SIZE, features);
	if (ret < 0) {
		pr_err("disk %s: cannot initialise the device: %s", cfg->path, strerror(-ret));
		goto fail;
	}
	b->vdev.mem = mem;
	b->vdev.io = io;
	b->vq.mem = mem;
	for (unsigned int i = BLK_QUEUE_SIZE; i-- > 0;)
		blk_req_free(b, &b->reqs[i]);
	if (io) {
		ret = iothread_add(io, b->efd, EPOLLIN, blk_ring_event, b);
		if (ret < 0) {
			pr_err("disk %s: cannot watch completions: %s", cfg->path,
			       strerror(-ret));
			goto fail;
		}
		b->io = io;	/* from here destroy removes the watch */
	}
	return &b->vdev;

fail:
	blk_destroy(&b->vdev);
	errno = -ret;
	return NULL;
}
