// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the split virtqueue, device side. The input is a queue
 * setup, a few driver writes to apply between requests, and a guest RAM image
 * (descriptor table, rings, indirect tables, buffers):
 *
 *   u8  size       queue size: 1 << size below 11, else taken as it is
 *   u8  flags      bit 0: EVENT_IDX negotiated
 *   u16 start      last_avail_idx and used_idx to start from
 *   u32 desc, avail, used   ring addresses: RAM_GPA + value - 0x100
 *   u8  nr_ops, then nr_ops * { u16 offset; u16 value }   16-bit guest writes
 *   ...            the RAM image (its length is the RAM size)
 *
 * The device pops (a bounded number of times), reads every readable segment,
 * fills every writable one and pushes. Besides the sanitizers (the RAM is a
 * heap block of exactly its size), it checks that every segment lies inside
 * RAM, that the element's counts and totals add up, and that errors are only
 * the documented ones and stick until reset.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtqueue.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_GPA		0x10000ULL
#define RAM_MAX		(256 * 1024)
#define MAX_POPS	64

struct header {
	uint8_t size;
	uint8_t flags;
	uint16_t start;
	uint32_t desc, avail, used;
} __attribute__((packed));

struct op {
	uint16_t offset;
	uint16_t value;
} __attribute__((packed));

static struct vq_elem elem;
static uint8_t scratch[64 * 1024];

static void check_segments(const struct iovec *iov, unsigned int n, uint64_t total,
			   const struct guest_memory *mem)
{
	uint64_t sum = 0;

	check(n <= VQ_MAX_SEGS);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;

		check(p >= mem->hva && p <= mem->hva + mem->size);
		check(iov[i].iov_len <= (size_t)(mem->hva + mem->size - p));
		sum += iov[i].iov_len;
	}
	check(sum == total);
}

/* What a device does with a request: read it all, write its reply. */
static uint32_t serve(const struct guest_memory *mem)
{
	size_t off = 0, n, written;

	check_segments(elem.out, elem.out_num, elem.out_len, mem);
	check_segments(elem.in, elem.in_num, elem.in_len, mem);
	check(elem.out_num + elem.in_num <= VQ_MAX_SEGS);
	while ((n = iov_to_buf(elem.out, elem.out_num, off, scratch, sizeof(scratch))) > 0)
		off += n;
	check(off == elem.out_len);
	memset(scratch, 0xa5, sizeof(scratch));
	written = iov_from_buf(elem.in, elem.in_num, 0, scratch, sizeof(scratch));
	check(written == (elem.in_len < sizeof(scratch) ? elem.in_len : sizeof(scratch)));
	return (uint32_t)written;
}

static void apply_op(const struct op *op, struct guest_memory *mem)
{
	size_t at = op->offset % mem->size;

	if (at + sizeof(op->value) <= mem->size)
		memcpy(mem->hva + at, &op->value, sizeof(op->value));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_memory mem = { .gpa = RAM_GPA };
	struct virtqueue vq = { .mem = &mem };
	const struct op *ops;
	struct header h;
	unsigned int nr_ops, next_op = 0;

	if (size < sizeof(h) + 1)
		return 0;
	memcpy(&h, data, sizeof(h));
	nr_ops = data[sizeof(h)];
	data += sizeof(h) + 1;
	size -= sizeof(h) + 1;
	if (size < nr_ops * sizeof(*ops))
		return 0;
	ops = (const struct op *)data;
	data += nr_ops * sizeof(*ops);
	size -= nr_ops * sizeof(*ops);
	if (!size || size > RAM_MAX)
		return 0;

	mem.size = size;
	mem.hva = malloc(size);
	check(mem.hva);
	memcpy(mem.hva, data, size);

	vq_reset(&vq);
	vq.size = h.size < 11 ? (uint16_t)(1u << h.size) : h.size;
	vq.event_idx = h.flags & 1;
	vq.desc_gpa = RAM_GPA + h.desc - 0x100;
	vq.avail_gpa = RAM_GPA + h.avail - 0x100;
	vq.used_gpa = RAM_GPA + h.used - 0x100;
	vq.last_avail_idx = vq.used_idx = h.start;
	if (vq_enable(&vq)) {
		check(!vq.ready);
		goto out;
	}
	check(vq.ready);

	for (unsigned int i = 0; i < MAX_POPS; i++) {
		int ret = vq_pop(&vq, &elem);

		if (ret < 0) {
			uint16_t last = vq.last_avail_idx;

			check(ret == -EINVAL || ret == -EFAULT);
			/* Sticks: the same entry fails the same way. */
			check(vq_pop(&vq, &elem) == ret);
			check(vq.last_avail_idx == last);
			break;
		}
		if (ret == 0) {
			if (!vq_enable_notify(&vq) && next_op >= nr_ops)
				break;
		} else {
			check(ret == 1);
			check(elem.head < vq.size);
			check(vq_push(&vq, &elem, serve(&mem)) == 0);
			vq_should_notify(&vq);
		}
		/* The driver writes something between requests. */
		if (next_op < nr_ops) {
			struct op op;

			memcpy(&op, &ops[next_op++], sizeof(op));
			apply_op(&op, &mem);
		}
	}
	vq_reset(&vq);
	check(vq.mem == &mem && !vq.ready);
	check(vq_pop(&vq, &elem) == 0);
out:
	free(mem.hva);
	return 0;
}
