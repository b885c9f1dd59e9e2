// SPDX-License-Identifier: GPL-2.0-only
/*
 * Split virtqueues (VIRTIO 1.x, 2.7), device side. The rings live in guest
 * memory and the guest may rewrite them at any time: every access goes
 * through gpa_to_hva(), every descriptor is copied out once and only the copy
 * is used, and every index is checked before it is used.
 *
 * The host is little-endian (x86_64, arm64), like VIRTIO 1.x rings, so the
 * __virtio16/32/64 fields are used as they are.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "migration/state.h"
#include "vmm/memfault.h"
#include "vmm/memory_map.h"
#include "device_state.h"
#include "virtqueue.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtqueue.c assumes a little-endian host");
_Static_assert(sizeof(struct vring_desc) == 16, "struct vring_desc is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem) == 8, "struct vring_used_elem is 8 bytes");

/* Ring sizes in bytes (2.7: the event fields are always counted). */
static uint64_t desc_bytes(uint16_t size)
{
	return (uint64_t)size * sizeof(struct vring_desc);
}

static uint64_t avail_bytes(uint16_t size)
{
	return offsetof(struct vring_avail, ring) + (uint64_t)size * sizeof(__virtio16) +
	       sizeof(__virtio16);
}

static uint64_t used_bytes(uint16_t size)
{
	return offsetof(struct vring_used, ring) +
	       (uint64_t)size * sizeof(struct vring_used_elem) + sizeof(__virtio16);
}

static struct vring_avail *avail_ring(const struct virtqueue *vq)
{
	return gpa_to_hva(vq->mem, vq->avail_gpa, avail_bytes(vq->size));
}

static struct vring_used *used_ring(const struct virtqueue *vq)
{
	return gpa_to_hva(vq->mem, vq->used_gpa, used_bytes(vq->size));
}

/* The guest writes these concurrently: single loads, never torn or repeated. */
static uint16_t load16(const __virtio16 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void store16(__virtio16 *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static bool size_valid(uint16_t size)
{
	return size && size <= VQ_MAX_SIZE && !(size & (size - 1));
}

/* The ring the driver placed wrongly, or NULL: each must be aligned (2.7:
 * descriptor table 16 bytes, available ring 2, used ring 4) and lie in
 * guest RAM whole. */
static const char *bad_ring(const struct virtqueue *vq, uint64_t *gpa)
{
	if ((vq->desc_gpa & 15) || !gpa_to_hva(vq->mem, vq->desc_gpa, desc_bytes(vq->size))) {
		*gpa = vq->desc_gpa;
		return "descriptor table";
	}
	if ((vq->avail_gpa & 1) || !avail_ring(vq)) {
		*gpa = vq->avail_gpa;
		return "available ring";
	}
	if ((vq->used_gpa & 3) || !used_ring(vq)) {
		*gpa = vq->used_gpa;
		return "used ring";
	}
	return NULL;
}

int vq_enable(struct virtqueue *vq)
{
	uint64_t gpa;

	vq->ready = false;
	if (!vq->mem || !size_valid(vq->size) || bad_ring(vq, &gpa))
		return -EINVAL;
	vq->ready = true;
	return 0;
}

void vq_reset(struct virtqueue *vq)
{
	const struct guest_memory *mem = vq->mem;

	/* The transport sets size back to its maximum and the addresses anew. */
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

/* Where a chain's descriptors are read from: the queue's table or an indirect one. */
struct desc_table {
	const uint8_t *base;
	unsigned int num;
	bool indirect;
};

/* One copy of descriptor @idx, taken once: later guest writes don't reach it. */
static void read_desc(const struct desc_table *t, unsigned int idx, struct vring_desc *d)
{
	/* An indirect table need not be aligned: no struct access, a byte copy. */
	memcpy(d, t->base + (size_t)idx * sizeof(*d), sizeof(*d));
	/* The copy, not a re-read of guest memory, is what the code below uses. */
	__asm__ __volatile__("" ::: "memory");
}

/* The descriptor refers to an indirect table: switch @t to it. */
static int enter_indirect(const struct virtqueue *vq, const struct vring_desc *d,
			  struct desc_table *t)
{
	if (t->indirect || (d->flags & VRING_DESC_F_NEXT))
		return -EINVAL;
	if (!d->len || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > VQ_MAX_SIZE)
		return -EINVAL;
	t->base = gpa_to_hva(vq->mem, d->addr, d->len);
	if (!t->base)
		return -EFAULT;
	t->num = d->len / sizeof(struct vring_desc);
	t->indirect = true;
	return 0;
}

/* Adds one buffer descriptor to @elem. */
static int add_segment(const struct virtqueue *vq, const struct vring_desc *d,
		       struct vq_elem *elem)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	struct iovec *iov;
	void *hva;

	/* 2.7.4.2: all device-readable descriptors come before the writable ones. */
	if (!writable && elem->in_num)
		return -EINVAL;
	if (elem->out_num + elem->in_num >= VQ_MAX_SEGS)
		return -EINVAL;
	hva = gpa_to_hva(vq->mem, d->addr, d->len);
	if (!hva)
		return -EFAULT;
	if (writable) {
		iov = &elem->in[elem->in_num++];
		elem->in_len += d->len;
	} else {
		iov = &elem->out[elem->out_num++];
		elem->out_len += d->len;
	}
	iov->iov_base = hva;
	iov->iov_len = d->len;
	return 0;
}

/* Walks the chain starting at @head into @elem. */
static int walk_chain(const struct virtqueue *vq, uint16_t head, struct vq_elem *elem)
{
	struct desc_table t = {
		.base = gpa_to_hva(vq->mem, vq->desc_gpa, desc_bytes(vq->size)),
		.num = vq->size,
	};
	unsigned int idx = head, visited = 0;
	struct vring_desc d;
	int err;

	if (!t.base)
		return -EFAULT;
	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	for (;;) {
		if (idx >= t.num)
			return -EINVAL;
		/* More descriptors than the table holds: a loop, or too long. */
		if (++visited > t.num)
			return -EINVAL;
		read_desc(&t, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			err = enter_indirect(vq, &d, &t);
			if (err)
				return err;
			idx = 0;
			visited = 0;
			continue;
		}
		err = add_segment(vq, &d, elem);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

static int pop_chain(struct virtqueue *vq, struct vq_elem *elem)
{
	struct vring_avail *avail;
	uint16_t avail_idx, pending, head;
	int err;

	if (!vq->ready)
		return 0;
	avail = avail_ring(vq);
	if (!avail)
		return -EFAULT;
	/* Acquire: the ring entries below are the ones this index covers. */
	avail_idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending > vq->size)
		return -EINVAL;
	if (!pending)
		return 0;
	head = load16(&avail->ring[vq->last_avail_idx & (vq->size - 1)]);
	/*
	 * On an error last_avail_idx stays where it is: the same entry fails
	 * again, so the queue stays unusable until the device resets it.
	 */
	err = walk_chain(vq, head, elem);
	if (err)
		return err;
	vq->last_avail_idx++;
	return 1;
}

/*
 * A ring page that was poisoned reads as zeros once the SIGBUS handler has
 * replaced it: the chain read is not the driver's, and the queue is broken
 * (the device reports NEEDS_RESET, as for any invalid ring).
 */
static int ring_lost(unsigned int losses_before)
{
	return memfault_thread_losses() != losses_before ? -EHWPOISON : 0;
}

int vq_pop(struct virtqueue *vq, struct vq_elem *elem)
{
	unsigned int losses = memfault_thread_losses();
	int ret = pop_chain(vq, elem);

	return ring_lost(losses) ?: ret;
}

/*
 * The device wrote the first @len bytes of the chain's writable segments
 * (what the used element's len says): a migration must send those pages
 * again, since KVM only logs the guest's own writes.
 */
static void note_written(const struct virtqueue *vq, const struct vq_elem *elem, uint32_t len)
{
	uint64_t left = len;

	for (unsigned int i = 0; i < elem->in_num && left; i++) {
		uint64_t n = elem->in[i].iov_len < left ? elem->in[i].iov_len : left;

		guest_memory_note_write(vq->mem, elem->in[i].iov_base, n);
		left -= n;
	}
}

int vq_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t len, unsigned int nth)
{
	struct vring_used *used;
	struct vring_used_elem *ue;
	unsigned int losses;

	/* Not armed, or the size changed under an armed queue (a transport bug). */
	if (!vq->ready || !size_valid(vq->size) || nth >= vq->size)
		return -EINVAL;
	used = used_ring(vq);
	if (!used)
		return -EFAULT;
	ue = &used->ring[(uint16_t)(vq->used_idx + nth) & (vq->size - 1)];
	losses = memfault_thread_losses();
	__atomic_store_n(&ue->id, elem->head, __ATOMIC_RELAXED);
	__atomic_store_n(&ue->len, len, __ATOMIC_RELAXED);
	note_written(vq, elem, len);
	guest_memory_note_write(vq->mem, ue, sizeof(*ue));
	return ring_lost(losses);
}

int vq_flush(struct virtqueue *vq, unsigned int count)
{
	struct vring_used *used;
	unsigned int losses;

	if (!vq->ready || !size_valid(vq->size) || count > vq->size)
		return -EINVAL;
	used = used_ring(vq);
	if (!used)
		return -EFAULT;
	losses = memfault_thread_losses();
	vq->used_idx += (uint16_t)count;
	/* Release: the elements are visible before the index that covers them. */
	__atomic_store_n(&used->idx, vq->used_idx, __ATOMIC_RELEASE);
	guest_memory_note_write(vq->mem, &used->idx, sizeof(used->idx));
	return ring_lost(losses);
}

int vq_push(struct virtqueue *vq, const struct vq_elem *elem, uint32_t len)
{
	int ret = vq_fill(vq, elem, len, 0);

	return ret < 0 ? ret : vq_flush(vq, 1);
}

bool vq_should_notify(struct virtqueue *vq)
{
	struct vring_avail *avail = avail_ring(vq);
	uint16_t old = vq->signalled_used;
	bool valid = vq->signalled_used_valid;

	if (!vq->ready || !avail)
		return false;
	/* The used->idx store must be visible before flags/used_event are read:
	 * otherwise a driver re-enabling interrupts right now could be missed. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (valid && old == vq->used_idx)
		return false;		/* nothing pushed since the last interrupt */
	if (!vq->event_idx)
		return !(load16(&avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	/* used_event sits right after the ring: avail->ring[size]. */
	return !valid || vring_need_event(load16(&avail->ring[vq->size]), vq->used_idx, old);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	struct vring_avail *avail = avail_ring(vq);
	struct vring_used *used = used_ring(vq);

	if (!vq->ready || !avail || !used)
		return false;
	if (vq->event_idx) {
		/* avail_event sits right after the used ring: used->ring[size]. */
		__virtio16 *avail_event = (__virtio16 *)((uint8_t *)used +
			offsetof(struct vring_used, ring) +
			vq->size * sizeof(struct vring_used_elem));

		store16(avail_event, vq->last_avail_idx);
		guest_memory_note_write(vq->mem, avail_event, sizeof(*avail_event));
	}
	/* The avail_event store before the avail->idx load (pairs with the
	 * driver's fence between its avail->idx store and avail_event load). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

void vq_save(const struct virtqueue *vq, uint16_t held, struct state_writer *w)
{
	sw_u16(w, vq->size);
	sw_u8(w, vq->ready);
	sw_u8(w, vq->event_idx);
	sw_u64(w, vq->desc_gpa);
	sw_u64(w, vq->avail_gpa);
	sw_u64(w, vq->used_gpa);
	sw_u16(w, (uint16_t)(vq->last_avail_idx - held));
	sw_u16(w, vq->used_idx);
	sw_u16(w, vq->signalled_used);
	sw_u8(w, vq->signalled_used_valid);
}

/*
 * A saved queue has used every chain it popped: the device finished its
 * requests and handed back what it held (vq_save), so both indices agree.
 * A queue that is not enabled has not moved since its last reset.
 */
static int check_indices(const struct virtqueue *vq, unsigned int q, struct state_reader *r)
{
	if (vq->last_avail_idx != vq->used_idx)
		return sr_fail(r, "queue %u: last_avail_idx %u but used_idx %u: requests in flight",
			       q, vq->last_avail_idx, vq->used_idx);
	if (!vq->ready && (vq->last_avail_idx || vq->signalled_used || vq->signalled_used_valid))
		return sr_fail(r, "queue %u: not enabled, yet its indices moved (%u, %u)", q,
			       vq->last_avail_idx, vq->signalled_used);
	return 0;
}

static int check_setup(const struct virtqueue *vq, uint16_t max_size, unsigned int q,
		       struct state_reader *r)
{
	const char *what;
	uint64_t gpa;

	if (!size_valid(vq->size) || vq->size > max_size)
		return sr_fail(r, "queue %u: size %u is not a power of two up to %u", q, vq->size,
			       max_size);
	if (!vq->ready)
		return 0;
	if (!vq->mem)
		return sr_fail(r, "queue %u: enabled on a device without guest memory", q);
	what = bad_ring(vq, &gpa);
	if (what)
		return sr_fail(r, "queue %u: %s at 0x%llx is misaligned or outside guest RAM", q,
			       what, (unsigned long long)gpa);
	return 0;
}

int vq_load(struct virtqueue *vq, uint16_t max_size, unsigned int q, struct state_reader *r)
{
	struct virtqueue v = { .mem = vq->mem };

	v.size = sr_u16(r);
	v.ready = dev_state_bool(r, "queue enable");
	v.event_idx = dev_state_bool(r, "queue event index");
	v.desc_gpa = sr_u64(r);
	v.avail_gpa = sr_u64(r);
	v.used_gpa = sr_u64(r);
	v.last_avail_idx = sr_u16(r);
	v.used_idx = sr_u16(r);
	v.signalled_used = sr_u16(r);
	v.signalled_used_valid = dev_state_bool(r, "queue signalled index valid");
	if (!sr_ok(r) || check_setup(&v, max_size, q, r) || check_indices(&v, q, r))
		return r->err;
	*vq = v;
	return 0;
}

/* Copies between the segments, from byte @off on, and a flat buffer:
 * into @buf when @to_buf, out of it otherwise. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t off, uint8_t *buf,
		       size_t len, bool to_buf)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		uint8_t *seg;
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		seg = (uint8_t *)iov[i].iov_base + off;
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_buf)
			memcpy(buf + done, seg, chunk);
		else
			memcpy(seg, buf + done, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, true);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *buf,
		    size_t len)
{
	return iov_copy(iov, n, off, (uint8_t *)buf, len, false);
}

void iov_touch(const struct iovec *iov, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		guest_memory_touch(iov[i].iov_base, iov[i].iov_len);
}
