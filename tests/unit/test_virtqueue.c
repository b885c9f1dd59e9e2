// SPDX-License-Identifier: GPL-2.0-only
/*
 * The split virtqueue, device side, against a fake guest RAM in which the
 * tests write descriptor tables and rings as a driver would: chains, indirect
 * tables, notification suppression, index wrap-around, and every rule that
 * vq_enable() and vq_pop() enforce, each with an input that breaks it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_ring.h>

#include "devices/virtqueue.h"
#include "migration/state.h"

#define RAM_GPA		0x40000000ULL
#define RAM_SIZE	0x40000ULL
#define DESC_GPA	(RAM_GPA + 0x0)		/* up to 1024 descriptors: 16 KiB */
#define AVAIL_GPA	(RAM_GPA + 0x4000)	/* up to 6 + 2 * 1024 bytes */
#define USED_GPA	(RAM_GPA + 0x5000)	/* up to 6 + 8 * 1024 bytes */
#define TABLE_GPA	(RAM_GPA + 0x8000)	/* indirect tables: 16 KiB */
#define DATA_GPA	(RAM_GPA + 0x10000)	/* buffers */
#define RAM_END		(RAM_GPA + RAM_SIZE)

struct fixture {
	struct guest_memory mem;
	struct virtqueue vq;
	struct vq_elem *elem;
	uint16_t avail_idx;		/* the driver's copy */
};

static struct fixture f;

static void *hva(uint64_t gpa)
{
	return f.mem.hva + (gpa - RAM_GPA);
}

#define avail()	((struct vring_avail *)hva(AVAIL_GPA))
#define used()	((struct vring_used *)hva(USED_GPA))

static uint16_t *used_event(void)
{
	return &avail()->ring[f.vq.size];
}

static uint16_t avail_event(void)
{
	uint16_t v;

	memcpy(&v, &used()->ring[f.vq.size], sizeof(v));
	return v;
}

static void set_desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(hva(table + i * sizeof(d)), &d, sizeof(d));
}

/* Makes @head available, as a driver does: the entry, then the index. */
static void avail_add(uint16_t head)
{
	avail()->ring[f.avail_idx & (f.vq.size - 1)] = head;
	f.avail_idx++;
	__atomic_store_n(&avail()->idx, f.avail_idx, __ATOMIC_RELEASE);
}

static void setup_queue(uint16_t size, bool event_idx)
{
	f.vq.mem = &f.mem;
	f.vq.size = size;
	f.vq.event_idx = event_idx;
	f.vq.desc_gpa = DESC_GPA;
	f.vq.avail_gpa = AVAIL_GPA;
	f.vq.used_gpa = USED_GPA;
	assert_int_equal(vq_enable(&f.vq), 0);
	assert_true(f.vq.ready);
}

static int setup(void **state)
{
	memset(&f, 0, sizeof(f));
	f.mem.gpa = RAM_GPA;
	f.mem.size = RAM_SIZE;
	f.mem.hva = calloc(1, RAM_SIZE);
	f.elem = malloc(sizeof(*f.elem));
	if (!f.mem.hva || !f.elem)
		return -1;
	vq_reset(&f.vq);
	return 0;
}

static int teardown(void **state)
{
	free(f.mem.hva);
	free(f.elem);
	return 0;
}

static void assert_iov(const struct iovec *iov, uint64_t gpa, size_t len)
{
	assert_ptr_equal(iov->iov_base, hva(gpa));
	assert_int_equal(iov->iov_len, len);
}

static void assert_used(uint16_t slot, uint32_t id, uint32_t len)
{
	assert_int_equal(used()->ring[slot].id, id);
	assert_int_equal(used()->ring[slot].len, len);
}

/* ---- vq_enable ---- */

static void test_enable_sizes(void **state)
{
	const uint16_t bad[] = { 0, 3, 6, 1000, 1023, 2048, 32768 };
	const uint16_t good[] = { 1, 2, 256, 1024 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.vq = (struct virtqueue){ .mem = &f.mem, .size = bad[i], .desc_gpa = DESC_GPA,
					   .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA };
		if (vq_enable(&f.vq) != -EINVAL || f.vq.ready)
			fail_msg("queue size %u accepted", bad[i]);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		setup_queue(good[i], false);
}

static void try_enable(int want, uint64_t desc, uint64_t avail_gpa, uint64_t used_gpa)
{
	f.vq = (struct virtqueue){ .mem = &f.mem, .size = 256, .desc_gpa = desc,
				   .avail_gpa = avail_gpa, .used_gpa = used_gpa };
	if (vq_enable(&f.vq) != want)
		fail_msg("vq_enable(desc %#llx, avail %#llx, used %#llx) != %d",
			 (unsigned long long)desc, (unsigned long long)avail_gpa,
			 (unsigned long long)used_gpa, want);
	assert_int_equal(f.vq.ready, want == 0);
}

static void test_enable_alignment(void **state)
{
	try_enable(-EINVAL, DESC_GPA + 8, AVAIL_GPA, USED_GPA);
	try_enable(-EINVAL, DESC_GPA + 1, AVAIL_GPA, USED_GPA);
	try_enable(-EINVAL, DESC_GPA, AVAIL_GPA + 1, USED_GPA);
	try_enable(-EINVAL, DESC_GPA, AVAIL_GPA, USED_GPA + 2);
	try_enable(-EINVAL, DESC_GPA, AVAIL_GPA, USED_GPA + 1);
	/* The spec's minimum alignments are enough. */
	try_enable(0, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4);
}

static void test_enable_outside_ram(void **state)
{
	uint64_t avail_size = 6 + 2 * 256, used_size = 6 + 8 * 256;

	try_enable(-EINVAL, RAM_GPA - 0x1000, AVAIL_GPA, USED_GPA);
	try_enable(-EINVAL, DESC_GPA, RAM_END, USED_GPA);
	try_enable(-EINVAL, DESC_GPA, AVAIL_GPA, 0);
	try_enable(-EINVAL, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3);
	/* Straddling the end of RAM by one byte: the event fields count. */
	try_enable(-EINVAL, RAM_END - 256 * 16 + 16, AVAIL_GPA, USED_GPA);
	try_enable(-EINVAL, DESC_GPA, RAM_END - avail_size + 2, USED_GPA);
	try_enable(-EINVAL, DESC_GPA, AVAIL_GPA, ((RAM_END - used_size) & ~3ULL) + 4);
	/* Exactly up to the end is fine. */
	try_enable(0, RAM_END - 256 * 16, AVAIL_GPA, USED_GPA);
	try_enable(0, DESC_GPA, RAM_END - avail_size, USED_GPA);
	try_enable(0, DESC_GPA, AVAIL_GPA, (RAM_END - used_size) & ~3ULL);
}

static void test_reset(void **state)
{
	setup_queue(8, true);
	f.vq.last_avail_idx = 5;
	f.vq.used_idx = 4;
	f.vq.signalled_used_valid = true;
	vq_reset(&f.vq);
	assert_ptr_equal(f.vq.mem, &f.mem);
	assert_false(f.vq.ready);
	assert_false(f.vq.event_idx);
	assert_int_equal(f.vq.last_avail_idx, 0);
	assert_int_equal(f.vq.used_idx, 0);
	assert_false(f.vq.signalled_used_valid);
	assert_int_equal(f.vq.desc_gpa, 0);
}

static void test_not_ready(void **state)
{
	f.vq.mem = &f.mem;
	f.vq.size = 8;
	set_desc(DESC_GPA, 0, DATA_GPA, 16, 0, 0);
	avail()->ring[0] = 0;
	avail()->idx = 1;
	f.vq.desc_gpa = DESC_GPA;
	f.vq.avail_gpa = AVAIL_GPA;
	f.vq.used_gpa = USED_GPA;
	assert_int_equal(vq_pop(&f.vq, f.elem), 0);
	assert_int_equal(vq_push(&f.vq, f.elem, 0), -EINVAL);
	assert_false(vq_should_notify(&f.vq));
	assert_false(vq_enable_notify(&f.vq));
}

/* ---- chains ---- */

static void test_empty(void **state)
{
	setup_queue(8, false);
	assert_int_equal(vq_pop(&f.vq, f.elem), 0);
	assert_int_equal(f.vq.last_avail_idx, 0);
}

static void test_simple_chain(void **state)
{
	setup_queue(8, false);
	/* A virtio-blk style request: header, data out, status in. */
	set_desc(DESC_GPA, 5, DATA_GPA, 16, VRING_DESC_F_NEXT, 2);
	set_desc(DESC_GPA, 2, DATA_GPA + 0x100, 512, VRING_DESC_F_NEXT, 7);
	set_desc(DESC_GPA, 7, DATA_GPA + 0x400, 1, VRING_DESC_F_WRITE, 0);
	avail_add(5);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->head, 5);
	assert_int_equal(f.elem->out_num, 2);
	assert_int_equal(f.elem->in_num, 1);
	assert_int_equal(f.elem->out_len, 528);
	assert_int_equal(f.elem->in_len, 1);
	assert_iov(&f.elem->out[0], DATA_GPA, 16);
	assert_iov(&f.elem->out[1], DATA_GPA + 0x100, 512);
	assert_iov(&f.elem->in[0], DATA_GPA + 0x400, 1);
	assert_int_equal(vq_pop(&f.vq, f.elem), 0);

	assert_int_equal(vq_push(&f.vq, f.elem, 1), 0);
	assert_int_equal(used()->idx, 1);
	assert_used(0, 5, 1);
	assert_int_equal(f.vq.used_idx, 1);
}

/*
 * A push logs, for a running migration, what the device wrote: the first
 * len bytes of the writable segments (here across a page boundary and into
 * a second segment, but not the rest of it) and the used ring. Nothing
 * while logging is off, nor for the readable segments.
 */
static void test_push_logs_written_pages(void **state)
{
	struct written_log wl;
	uint64_t words[1] = { 0 };
	const uint64_t page = 4096, data = DATA_GPA - RAM_GPA;

	assert_int_equal(written_log_init(&wl, RAM_SIZE / page, 12), 0);
	f.mem.written = &wl;
	setup_queue(8, false);
	set_desc(DESC_GPA, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, DATA_GPA + page - 8, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(DESC_GPA, 2, DATA_GPA + 3 * page, 2 * page, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	avail_add(0);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(vq_push(&f.vq, f.elem, 20), 0);
	assert_int_equal(written_log_take(&wl, words), 0);

	written_log_set(&wl, true);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(vq_push(&f.vq, f.elem, 20), 0);
	assert_int_equal(written_log_take(&wl, words), 4);
	assert_int_equal(words[0], 1ULL << (data / page) | 1ULL << (data / page + 1) |
				   1ULL << (data / page + 3) |
				   1ULL << ((USED_GPA - RAM_GPA) / page));
	assert_int_equal(written_log_take(&wl, words), 0);
	f.mem.written = NULL;
	written_log_free(&wl);
}

static void test_several_chains(void **state)
{
	setup_queue(4, false);
	set_desc(DESC_GPA, 0, DATA_GPA, 100, VRING_DESC_F_WRITE, 0);
	set_desc(DESC_GPA, 1, DATA_GPA + 0x100, 200, 0, 0);
	set_desc(DESC_GPA, 2, DATA_GPA + 0x200, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	set_desc(DESC_GPA, 3, DATA_GPA + 0x300, 20, VRING_DESC_F_WRITE, 0);
	avail_add(1);
	avail_add(0);
	avail_add(2);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->head, 1);
	assert_int_equal(f.elem->out_num, 1);
	assert_int_equal(f.elem->in_num, 0);
	assert_int_equal(vq_push(&f.vq, f.elem, 0), 0);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->head, 0);
	assert_int_equal(f.elem->out_num, 0);
	assert_int_equal(f.elem->in_num, 1);
	assert_int_equal(f.elem->in_len, 100);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->head, 2);
	assert_int_equal(f.elem->in_num, 2);
	assert_int_equal(f.elem->in_len, 30);
	assert_iov(&f.elem->in[1], DATA_GPA + 0x300, 20);
	assert_int_equal(vq_push(&f.vq, f.elem, 25), 0);

	assert_int_equal(vq_pop(&f.vq, f.elem), 0);
	assert_int_equal(used()->idx, 2);
	assert_used(0, 1, 0);
	assert_used(1, 2, 25);
}

/* The whole ring available at once (avail->idx exactly size ahead). */
static void test_full_ring(void **state)
{
	setup_queue(4, false);
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(DESC_GPA, i, DATA_GPA + i * 0x100, 64, 0, 0);
		avail_add(3 - i);
	}
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(&f.vq, f.elem), 1);
		assert_int_equal(f.elem->head, 3 - i);
	}
	assert_int_equal(vq_pop(&f.vq, f.elem), 0);
}

/* Chains that use every descriptor of the table are not loops. */
static void test_longest_chain(void **state)
{
	setup_queue(16, false);
	for (uint16_t i = 0; i < 16; i++)
		set_desc(DESC_GPA, i, DATA_GPA + i, 1,
			 i < 15 ? VRING_DESC_F_NEXT : VRING_DESC_F_WRITE, (uint16_t)(i + 1));
	avail_add(0);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->out_num, 15);
	assert_int_equal(f.elem->in_num, 1);
}

static void test_indirect(void **state)
{
	setup_queue(8, false);
	set_desc(TABLE_GPA, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, 2);
	set_desc(TABLE_GPA, 2, DATA_GPA + 0x100, 4096, VRING_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, DATA_GPA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	set_desc(DESC_GPA, 3, TABLE_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(3);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->head, 3);
	assert_int_equal(f.elem->out_num, 2);
	assert_int_equal(f.elem->in_num, 1);
	assert_int_equal(f.elem->out_len, 16 + 4096);
	assert_iov(&f.elem->out[0], DATA_GPA, 16);
	assert_iov(&f.elem->out[1], DATA_GPA + 0x100, 4096);
	assert_iov(&f.elem->in[0], DATA_GPA + 0x2000, 1);
	assert_int_equal(vq_push(&f.vq, f.elem, 1), 0);
	assert_used(0, 3, 1);
}

/* The WRITE flag of the descriptor naming the table is ignored (2.7.5.3.2);
 * a chain may end in an indirect descriptor after direct ones. */
static void test_indirect_after_direct(void **state)
{
	setup_queue(8, false);
	set_desc(TABLE_GPA, 1, DATA_GPA + 0x200, 8, VRING_DESC_F_WRITE, 0);
	set_desc(TABLE_GPA, 0, DATA_GPA + 0x100, 32, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, TABLE_GPA, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	avail_add(0);

	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->out_num, 2);
	assert_int_equal(f.elem->in_num, 1);
	assert_iov(&f.elem->out[0], DATA_GPA, 16);
	assert_iov(&f.elem->out[1], DATA_GPA + 0x100, 32);
	assert_iov(&f.elem->in[0], DATA_GPA + 0x200, 8);
}

/* The largest indirect table: VQ_MAX_SIZE entries, all used. */
static void test_indirect_max(void **state)
{
	setup_queue(2, false);
	for (uint16_t i = 0; i < VQ_MAX_SIZE; i++)
		set_desc(TABLE_GPA, i, DATA_GPA + i, 1,
			 i + 1 < VQ_MAX_SIZE ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(DESC_GPA, 1, TABLE_GPA, VQ_MAX_SIZE * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(1);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->out_num, VQ_MAX_SIZE);
	assert_int_equal(f.elem->out_len, VQ_MAX_SIZE);
	assert_iov(&f.elem->out[VQ_MAX_SIZE - 1], DATA_GPA + VQ_MAX_SIZE - 1, 1);
}

/* 16-bit indices wrap: avail, used and the ring slots they select. */
static void test_index_wraparound(void **state)
{
	setup_queue(4, false);
	f.avail_idx = 65533;
	avail()->idx = 65533;
	used()->idx = 65533;
	f.vq.last_avail_idx = 65533;
	f.vq.used_idx = 65533;
	for (uint16_t i = 0; i < 4; i++)
		set_desc(DESC_GPA, i, DATA_GPA + i * 0x100, 0x10 * (i + 1), VRING_DESC_F_WRITE, 0);
	for (uint16_t i = 0; i < 4; i++)
		avail_add(i);
	assert_int_equal(avail()->idx, 1);
	/* 65533 & 3 = 1: the entries landed in slots 1, 2, 3, 0. */
	assert_int_equal(avail()->ring[1], 0);
	assert_int_equal(avail()->ring[0], 3);

	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(&f.vq, f.elem), 1);
		assert_int_equal(f.elem->head, i);
		assert_int_equal(vq_push(&f.vq, f.elem, 0x10 * (i + 1)), 0);
	}
	assert_int_equal(vq_pop(&f.vq, f.elem), 0);
	assert_int_equal(f.vq.last_avail_idx, 1);
	assert_int_equal(used()->idx, 1);
	assert_used(1, 0, 0x10);
	assert_used(2, 1, 0x20);
	assert_used(3, 2, 0x30);
	assert_used(0, 3, 0x40);

	/* And a jump larger than the size across the wrap is still caught. */
	f.avail_idx += 5;
	avail()->idx = f.avail_idx;
	assert_int_equal(vq_pop(&f.vq, f.elem), -EINVAL);
}

/* ---- notifications ---- */

static void pop_push(uint16_t head)
{
	set_desc(DESC_GPA, head, DATA_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(head);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(vq_push(&f.vq, f.elem, 8), 0);
}

static void test_notify_no_interrupt(void **state)
{
	setup_queue(8, false);
	pop_push(0);
	assert_true(vq_should_notify(&f.vq));
	/* Nothing new since the last interrupt. */
	assert_false(vq_should_notify(&f.vq));

	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	pop_push(1);
	assert_false(vq_should_notify(&f.vq));

	avail()->flags = 0;
	pop_push(2);
	assert_true(vq_should_notify(&f.vq));
	/* used_event means nothing without EVENT_IDX. */
	*used_event() = 100;
	pop_push(3);
	assert_true(vq_should_notify(&f.vq));
}

static void test_notify_event_idx(void **state)
{
	setup_queue(8, true);
	/* The first interrupt is always sent. */
	*used_event() = 50;
	pop_push(0);
	assert_true(vq_should_notify(&f.vq));
	assert_false(vq_should_notify(&f.vq));

	/* The driver wants an interrupt when used->idx passes 2 (used_event 2):
	 * pushing entry 1 (idx 1 -> 2) does not cross it, entry 2 does. */
	*used_event() = 2;
	pop_push(1);
	assert_false(vq_should_notify(&f.vq));
	pop_push(2);
	assert_true(vq_should_notify(&f.vq));

	/* Several pushes between checks: crossing anywhere in them counts. */
	*used_event() = 4;
	pop_push(3);
	pop_push(4);
	pop_push(5);
	assert_true(vq_should_notify(&f.vq));

	/* used_event behind: no interrupt (the driver has not caught up). */
	*used_event() = 1;
	pop_push(6);
	assert_false(vq_should_notify(&f.vq));

	/* NO_INTERRUPT is ignored with EVENT_IDX (2.7.7.2). */
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event() = 7;
	pop_push(7);
	assert_true(vq_should_notify(&f.vq));
}

static void test_notify_event_idx_wraps(void **state)
{
	setup_queue(8, true);
	f.avail_idx = 65534;
	avail()->idx = 65534;
	f.vq.last_avail_idx = 65534;
	f.vq.used_idx = 65534;
	f.vq.signalled_used = 65534;
	f.vq.signalled_used_valid = true;
	*used_event() = 65535;
	pop_push(0);		/* used 65534 -> 65535: not past 65535 */
	assert_false(vq_should_notify(&f.vq));
	pop_push(1);		/* 65535 -> 0 */
	assert_true(vq_should_notify(&f.vq));
	*used_event() = 1;
	pop_push(2);		/* 0 -> 1 */
	assert_false(vq_should_notify(&f.vq));
	pop_push(3);		/* 1 -> 2 */
	assert_true(vq_should_notify(&f.vq));
}

static void test_enable_notify(void **state)
{
	setup_queue(8, true);
	pop_push(0);
	pop_push(1);
	assert_false(vq_enable_notify(&f.vq));
	assert_int_equal(avail_event(), 2);

	/* A buffer made available before the device looked again: process it. */
	set_desc(DESC_GPA, 2, DATA_GPA, 8, 0, 0);
	avail_add(2);
	assert_true(vq_enable_notify(&f.vq));
	assert_int_equal(avail_event(), 2);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_false(vq_enable_notify(&f.vq));
	assert_int_equal(avail_event(), 3);

	/* Without EVENT_IDX the used ring's event field is left alone. */
	memset(f.mem.hva, 0, RAM_SIZE);
	f.avail_idx = 0;
	vq_reset(&f.vq);
	setup_queue(8, false);
	pop_push(0);
	assert_false(vq_enable_notify(&f.vq));
	assert_int_equal(avail_event(), 0);
	avail_add(0);
	assert_true(vq_enable_notify(&f.vq));
}

/* ---- iov helpers ---- */

static void test_iov_copy(void **state)
{
	uint8_t a[3], b[1], c[5], out[16];
	const struct iovec iov[] = {
		{ a, sizeof(a) }, { b, 0 }, { b, sizeof(b) }, { c, sizeof(c) },
	};

	memcpy(a, "abc", 3);
	memcpy(b, "d", 1);
	memcpy(c, "efghi", 5);

	memset(out, 0, sizeof(out));
	assert_int_equal(iov_to_buf(iov, 4, 0, out, sizeof(out)), 9);
	assert_memory_equal(out, "abcdefghi", 9);
	/* Starting inside the first segment, across two boundaries. */
	assert_int_equal(iov_to_buf(iov, 4, 2, out, 4), 4);
	assert_memory_equal(out, "cdef", 4);
	/* Starting exactly at a boundary. */
	assert_int_equal(iov_to_buf(iov, 4, 3, out, 2), 2);
	assert_memory_equal(out, "de", 2);
	assert_int_equal(iov_to_buf(iov, 4, 4, out, 16), 5);
	assert_memory_equal(out, "efghi", 5);
	/* Past the end, or nothing asked. */
	assert_int_equal(iov_to_buf(iov, 4, 9, out, 16), 0);
	assert_int_equal(iov_to_buf(iov, 4, 100, out, 16), 0);
	assert_int_equal(iov_to_buf(iov, 4, 0, out, 0), 0);
	assert_int_equal(iov_to_buf(iov, 0, 0, out, 16), 0);
	/* Only the first n segments count. */
	assert_int_equal(iov_to_buf(iov, 2, 1, out, 16), 2);

	assert_int_equal(iov_from_buf(iov, 4, 1, "XYZW", 4), 4);
	assert_memory_equal(a, "aXY", 3);
	assert_memory_equal(b, "Z", 1);
	assert_memory_equal(c, "Wfghi", 5);
	assert_int_equal(iov_from_buf(iov, 4, 7, "1234", 4), 2);
	assert_memory_equal(c, "Wfg12", 5);
	assert_int_equal(iov_from_buf(iov, 4, 9, "1234", 4), 0);
}

/* ---- rules: every invalid input and its error ---- */

/* Pops, expects @err, and checks the queue stays stuck on it. */
static void assert_pop_fails(int err)
{
	uint16_t last = f.vq.last_avail_idx;

	assert_int_equal(vq_pop(&f.vq, f.elem), err);
	assert_int_equal(f.vq.last_avail_idx, last);
	assert_int_equal(vq_pop(&f.vq, f.elem), err);
}

static void test_avail_idx_jump(void **state)
{
	setup_queue(8, false);
	avail()->idx = 9;
	assert_pop_fails(-EINVAL);
	avail()->idx = 0xffff;	/* "behind" the device: a jump of 65535 */
	assert_pop_fails(-EINVAL);
}

static void test_head_out_of_range(void **state)
{
	setup_queue(8, false);
	avail_add(8);
	assert_pop_fails(-EINVAL);
	avail()->ring[0] = 0xffff;
	assert_pop_fails(-EINVAL);
}

static void test_next_out_of_range(void **state)
{
	setup_queue(8, false);
	set_desc(DESC_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 8);
	avail_add(0);
	assert_pop_fails(-EINVAL);
}

static void test_loop(void **state)
{
	setup_queue(8, false);
	set_desc(DESC_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 0);
	avail_add(0);
	assert_pop_fails(-EINVAL);

	set_desc(DESC_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, DATA_GPA, 8, VRING_DESC_F_NEXT, 2);
	set_desc(DESC_GPA, 2, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	assert_pop_fails(-EINVAL);
}

static void test_loop_in_indirect(void **state)
{
	setup_queue(8, false);
	set_desc(TABLE_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, DATA_GPA, 8, VRING_DESC_F_NEXT, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	assert_pop_fails(-EINVAL);
	/* next beyond the indirect table (but inside the queue's). */
	set_desc(TABLE_GPA, 1, DATA_GPA, 8, VRING_DESC_F_NEXT, 2);
	assert_pop_fails(-EINVAL);
}

/* More than VQ_MAX_SEGS buffers: direct descriptors plus a full indirect table. */
static void test_chain_too_long(void **state)
{
	setup_queue(4, false);
	for (uint16_t i = 0; i < VQ_MAX_SIZE; i++)
		set_desc(TABLE_GPA, i, DATA_GPA, 1,
			 i + 1 < VQ_MAX_SIZE ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(DESC_GPA, 0, DATA_GPA, 1, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, TABLE_GPA, VQ_MAX_SIZE * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	assert_pop_fails(-EINVAL);
	/* One entry fewer in the table fits exactly. */
	set_desc(TABLE_GPA, VQ_MAX_SIZE - 2, DATA_GPA, 1, 0, 0);
	set_desc(DESC_GPA, 1, TABLE_GPA, (VQ_MAX_SIZE - 1) * 16, VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->out_num, VQ_MAX_SEGS);
}

static void try_indirect(int err, uint64_t addr, uint32_t len, uint16_t flags)
{
	set_desc(DESC_GPA, 0, addr, len, VRING_DESC_F_INDIRECT | flags, 1);
	set_desc(DESC_GPA, 1, DATA_GPA, 8, 0, 0);
	assert_pop_fails(err);
}

static void test_indirect_bad(void **state)
{
	setup_queue(8, false);
	set_desc(TABLE_GPA, 0, DATA_GPA, 8, 0, 0);
	avail_add(0);
	try_indirect(-EINVAL, TABLE_GPA, 0, 0);
	try_indirect(-EINVAL, TABLE_GPA, 24, 0);
	try_indirect(-EINVAL, TABLE_GPA, 15, 0);
	try_indirect(-EINVAL, TABLE_GPA, (VQ_MAX_SIZE + 1) * 16, 0);
	try_indirect(-EINVAL, TABLE_GPA, 0xfffffff0, 0);
	try_indirect(-EINVAL, TABLE_GPA, 16, VRING_DESC_F_NEXT);
	/* The table outside RAM, or straddling its end. */
	try_indirect(-EFAULT, RAM_GPA - 0x1000, 16, 0);
	try_indirect(-EFAULT, RAM_END, 16, 0);
	try_indirect(-EFAULT, RAM_END - 16, 32, 0);
	try_indirect(-EFAULT, UINT64_MAX - 15, 16, 0);
	/* And right: the same table, well formed. */
	set_desc(DESC_GPA, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
}

static void test_indirect_nested(void **state)
{
	setup_queue(8, false);
	set_desc(TABLE_GPA + 0x100, 0, DATA_GPA, 8, 0, 0);
	set_desc(TABLE_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	assert_pop_fails(-EINVAL);
}

static void try_buffer(int err, uint64_t addr, uint32_t len)
{
	set_desc(DESC_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, addr, len, VRING_DESC_F_WRITE, 0);
	assert_pop_fails(err);
}

static void test_buffer_outside_ram(void **state)
{
	setup_queue(8, false);
	avail_add(0);
	try_buffer(-EFAULT, 0, 8);
	try_buffer(-EFAULT, RAM_GPA - 8, 8);
	try_buffer(-EFAULT, RAM_GPA - 4, 8);	/* straddles the start */
	try_buffer(-EFAULT, RAM_END, 1);
	try_buffer(-EFAULT, RAM_END - 4, 8);	/* straddles the end */
	try_buffer(-EFAULT, RAM_GPA, 0xffffffff);
	try_buffer(-EFAULT, UINT64_MAX - 3, 8);	/* addr + len wraps */
	/* In an indirect table too. */
	set_desc(TABLE_GPA, 0, RAM_END - 1, 2, VRING_DESC_F_WRITE, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	assert_pop_fails(-EFAULT);
	/* Ending exactly at the end of RAM is inside it. */
	set_desc(TABLE_GPA, 0, RAM_END - 100, 100, VRING_DESC_F_WRITE, 0);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_iov(&f.elem->in[0], RAM_END - 100, 100);
}

static void test_writable_then_readable(void **state)
{
	setup_queue(8, false);
	set_desc(DESC_GPA, 0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, DATA_GPA + 8, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(DESC_GPA, 2, DATA_GPA + 16, 8, 0, 0);
	avail_add(0);
	assert_pop_fails(-EINVAL);

	set_desc(TABLE_GPA, 0, DATA_GPA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, DATA_GPA + 8, 8, 0, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	assert_pop_fails(-EINVAL);

	/* A writable direct descriptor, then readable ones in the table. */
	set_desc(TABLE_GPA, 0, DATA_GPA, 8, 0, 0);
	set_desc(DESC_GPA, 0, DATA_GPA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	assert_pop_fails(-EINVAL);
}

/* A bad chain does not hide behind a good one, nor corrupt the one before. */
static void test_error_after_good_chain(void **state)
{
	setup_queue(8, false);
	set_desc(DESC_GPA, 0, DATA_GPA, 8, 0, 0);
	set_desc(DESC_GPA, 1, RAM_END, 8, 0, 0);
	avail_add(0);
	avail_add(1);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);
	assert_int_equal(f.elem->head, 0);
	assert_pop_fails(-EFAULT);
	assert_int_equal(f.vq.last_avail_idx, 1);
	/* After a reset and re-enable the queue works again. */
	memset(f.mem.hva, 0, RAM_SIZE);
	f.avail_idx = 0;
	vq_reset(&f.vq);
	setup_queue(8, false);
	pop_push(4);
}

/* ---- snapshot state ---- */

/* Loads @w into a fresh queue on the same RAM; the reader's message out. */
static int load_into(struct virtqueue *vq, const struct state_writer *w, char *msg)
{
	struct state_reader r;
	int ret;

	*vq = (struct virtqueue){ .mem = &f.mem };
	sr_init(&r, w->buf, w->len);
	ret = vq_load(vq, VQ_MAX_SIZE, 3, &r);
	if (!ret)
		ret = sr_finish(&r);
	strcpy(msg, r.msg);
	return ret;
}

/* A held chain (popped, not used) goes back to the ring in the state, and
 * the restored queue pops it again; the rest comes back as it was. */
static void test_state_round_trip(void **state)
{
	struct state_writer w;
	struct virtqueue vq;
	char msg[STATE_MSG_MAX];

	setup_queue(8, true);
	pop_push(0);
	pop_push(1);
	assert_true(vq_should_notify(&f.vq));
	set_desc(DESC_GPA, 2, DATA_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(2);
	assert_int_equal(vq_pop(&f.vq, f.elem), 1);

	sw_init(&w);
	vq_save(&f.vq, 1, &w);
	assert_int_equal(load_into(&vq, &w, msg), 0);
	assert_true(vq.ready);
	assert_true(vq.event_idx);
	assert_int_equal(vq.size, 8);
	assert_int_equal(vq.used_gpa, USED_GPA);
	assert_int_equal(vq.last_avail_idx, 2);
	assert_int_equal(vq.used_idx, 2);
	assert_int_equal(vq.signalled_used, 2);
	assert_true(vq.signalled_used_valid);
	assert_int_equal(vq_pop(&vq, f.elem), 1);
	assert_int_equal(f.elem->head, 2);
	sw_free(&w);
}

/* What the transport would not have taken, and indices in flight. */
static void test_state_refusals(void **state)
{
	static const struct {
		uint16_t size;
		uint64_t desc, avail;
		uint16_t last, used;
		bool ready;
		const char *why;
	} bad[] = {
		{ 6, DESC_GPA, AVAIL_GPA, 0, 0, false, "queue 3: size 6 is not a power of two" },
		{ 2048, DESC_GPA, AVAIL_GPA, 0, 0, false, "size 2048" },
		{ 8, DESC_GPA + 8, AVAIL_GPA, 0, 0, true, "descriptor table at 0x40000008" },
		{ 8, DESC_GPA, RAM_END - 8, 0, 0, true, "available ring" },
		{ 8, DESC_GPA, AVAIL_GPA, 5, 4, true, "last_avail_idx 5 but used_idx 4" },
		{ 8, DESC_GPA, AVAIL_GPA, 1, 1, false, "not enabled, yet its indices moved" },
	};
	char msg[STATE_MSG_MAX];
	struct virtqueue vq;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct virtqueue src = {
			.mem = &f.mem, .size = bad[i].size, .ready = bad[i].ready,
			.desc_gpa = bad[i].desc, .avail_gpa = bad[i].avail, .used_gpa = USED_GPA,
			.last_avail_idx = bad[i].last, .used_idx = bad[i].used,
		};
		struct state_writer w;

		sw_init(&w);
		vq_save(&src, 0, &w);
		assert_int_equal(load_into(&vq, &w, msg), -EBADMSG);
		if (!strstr(msg, bad[i].why))
			fail_msg("case %u refused with \"%s\"", i, msg);
		/* Refused: the queue is as it was. */
		assert_false(vq.ready);
		assert_int_equal(vq.size, 0);
		sw_free(&w);
	}
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_enable_sizes),
		T(test_enable_alignment),
		T(test_enable_outside_ram),
		T(test_reset),
		T(test_not_ready),
		T(test_empty),
		T(test_simple_chain),
		T(test_push_logs_written_pages),
		T(test_several_chains),
		T(test_full_ring),
		T(test_longest_chain),
		T(test_indirect),
		T(test_indirect_after_direct),
		T(test_indirect_max),
		T(test_index_wraparound),
		T(test_notify_no_interrupt),
		T(test_notify_event_idx),
		T(test_notify_event_idx_wraps),
		T(test_enable_notify),
		T(test_iov_copy),
		T(test_avail_idx_jump),
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_loop),
		T(test_loop_in_indirect),
		T(test_chain_too_long),
		T(test_indirect_bad),
		T(test_indirect_nested),
		T(test_buffer_outside_ram),
		T(test_writable_then_readable),
		T(test_error_after_good_chain),
		T(test_state_round_trip),
		T(test_state_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
