// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the post-copy messages a source reads from its
 * destination: the input is cut into 16-byte messages, each decoded
 * against a RAM size taken from the input's first bytes. Besides the
 * sanitizers it checks that an accepted request lies inside RAM in whole
 * pages, that an accepted DONE is empty, and that every refusal has a
 * message. The first 8 bytes of each message are also decoded as the main
 * stream's POSTCOPY payload: accepted only with a timeout in range.
 *
 * Each message also drives the destination's book of missing pages (at
 * most 4096 pages of the RAM) as the page channel does, checked against a
 * plain model: byte 0 picks marking a run missing at switch-over, guest
 * faults on a run (asked once, then waited for; a page not missing is a
 * zero page), a run arriving in a RAM or RAM_ZERO section (installed only
 * if missing, with a latency only if it was asked for), or a replaced
 * channel, after which every page asked for and still missing is asked
 * again; the run starts at the page in bytes 4-7, 1 + byte 1 % 8 long.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/postcopy_proto.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE	4096u
#define BOOK_MAX	4096u

static void check_params(const uint8_t *in)
{
	struct pc_params p;
	char err[256] = "";
	int ret = pc_params_decode(in, &p, err, sizeof(err));

	if (ret)
		check(ret == -EBADMSG && err[0]);
	else
		check(p.recovery_s >= 1 && p.recovery_s <= POSTCOPY_MAX_RECOVERY_S);
}

static void check_one(const uint8_t *in, uint64_t ram_size)
{
	struct pc_msg m;
	char err[256] = "";
	int ret = pc_msg_decode(in, ram_size, PAGE, &m, err, sizeof(err));

	check_params(in);
	if (ret) {
		check(ret == -EBADMSG && err[0]);
		return;
	}
	if (m.type == PC_MSG_DONE) {
		check(!m.npages && !m.offset);
		return;
	}
	check(m.type == PC_MSG_REQUEST);
	check(m.npages && m.offset % PAGE == 0);
	check(m.offset < ram_size && (unsigned __int128)m.offset +
	      (unsigned __int128)m.npages * PAGE <= ram_size);
}

/* The model: what the book must say. */
struct model {
	uint64_t nr, left, total, now;
	uint8_t missing[BOOK_MAX];
	uint8_t asked[BOOK_MAX];
};

static void book_page(struct pc_missing *pm, struct model *m, unsigned int op, uint64_t p)
{
	enum pc_fault_action a;
	uint64_t lat;
	bool in;

	switch (op) {
	case 0:
		check(pc_missing_mark(pm, p) == 0);
		if (!m->missing[p]) {
			m->missing[p] = 1;
			m->left++;
			m->total++;
		}
		break;
	case 1:
		a = pc_missing_fault(pm, p, m->now);
		check(a == (!m->missing[p] ? PC_FAULT_ZERO :
			    m->asked[p] ? PC_FAULT_WAIT : PC_FAULT_REQUEST));
		if (a == PC_FAULT_REQUEST)
			m->asked[p] = 1;
		break;
	default:
		in = pc_missing_arrived(pm, p, m->now, &lat);
		check(in == m->missing[p]);
		check(!lat || m->asked[p]);
		if (in) {
			m->missing[p] = m->asked[p] = 0;
			m->left--;
		}
		break;
	}
}

/* A replaced channel: the pages asked for and still missing, found as the
 * destination finds them to ask again. */
static void book_reconnect(struct pc_missing *pm, const struct model *m)
{
	uint64_t again = 0, want = 0;

	for (uint64_t p = 0; p < m->nr; p++) {
		if (pc_missing_test(pm, p) && pm->requested_ns[p])
			again++;
		want += m->missing[p] && m->asked[p];
	}
	check(again == want);
}

static void book_step(struct pc_missing *pm, struct model *m, const uint8_t *in)
{
	unsigned int op = in[0] % 4, n = 1 + in[1] % 8;
	uint64_t first = (in[4] | (uint64_t)in[5] << 8 | (uint64_t)in[6] << 16 |
			  (uint64_t)in[7] << 24) % m->nr;

	m->now += 1000 + in[2];
	if (op == 3) {
		book_reconnect(pm, m);
	} else {
		for (uint64_t p = first; p < first + n && p < m->nr; p++)
			book_page(pm, m, op, p);
	}
	check(pm->left == m->left && pm->total == m->total);
	check(pc_missing_mark(pm, m->nr) == -ERANGE && !pc_missing_test(pm, m->nr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct pc_missing pm;
	uint64_t ram_size = 1ULL << 30;

	if (size >= 8) {
		memcpy(&ram_size, data, 8);
		ram_size &= ~(uint64_t)(PAGE - 1);
		data += 8;
		size -= 8;
	}
	memset(&m, 0, sizeof(m));
	m.nr = ram_size / PAGE;
	if (!m.nr)
		m.nr = 1;
	if (m.nr > BOOK_MAX)
		m.nr = BOOK_MAX;
	if (pc_missing_init(&pm, m.nr))
		return 0;
	for (; size >= PC_MSG_BYTES; data += PC_MSG_BYTES, size -= PC_MSG_BYTES) {
		check_one(data, ram_size);
		book_step(&pm, &m, data);
	}
	pc_missing_free(&pm);
	return 0;
}
