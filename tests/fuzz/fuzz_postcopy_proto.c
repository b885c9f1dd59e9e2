// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the post-copy messages a source reads from its
 * destination: the input is cut into 16-byte messages, each decoded
 * against a RAM size taken from the input's first bytes. Besides the
 * sanitizers it checks that an accepted request lies inside RAM in whole
 * pages, that an accepted DONE is empty, and that every refusal has a
 * message. The first 8 bytes of each message are also decoded as the main
 * stream's POSTCOPY payload: accepted only with a timeout in range.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/postcopy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE	4096u
#define check(cond) do { if (!(cond)) abort(); } while (0)

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t ram_size = 1ULL << 30;

	if (size >= 8) {
		memcpy(&ram_size, data, 8);
		ram_size &= ~(uint64_t)(PAGE - 1);
		data += 8;
		size -= 8;
	}
	for (; size >= PC_MSG_BYTES; data += PC_MSG_BYTES, size -= PC_MSG_BYTES)
		check_one(data, ram_size);
	return 0;
}
