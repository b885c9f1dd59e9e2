// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's input side: bytes as a client sends them, cut into
 * lines by the line splitter, each line parsed as a request. Whatever the
 * bytes, nothing may crash, leak or read outside the buffers; a parsed
 * request is released.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/control_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_line(const char *line, size_t len)
{
	struct control_request req;
	char err[256];

	if (control_request_parse(line, len, &req, err, sizeof(err)) == 0)
		control_request_release(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_lines *lines = malloc(sizeof(*lines));	/* 64 KiB: not on the stack */
	size_t off = 0;
	char *line;
	size_t len;
	int ret = 0;

	if (!lines)
		return 0;
	/* The whole input as one line, then as a byte stream split into lines
	 * in uneven reads, as a socket delivers them. */
	parse_line((const char *)data, size);
	control_lines_init(lines);
	while (off < size && ret >= 0) {
		size_t room, n;
		char *dst = control_lines_room(lines, &room);

		if (!dst || room == 0)
			break;
		n = 1 + (off * 7 + size) % 97;
		if (n > size - off)
			n = size - off;
		if (n > room)
			n = room;
		memcpy(dst, data + off, n);
		control_lines_added(lines, n);
		off += n;
		while ((ret = control_lines_next(lines, &line, &len)) > 0)
			parse_line(line, len);
	}
	/* A line too long ends the connection: no last line then. */
	if (ret >= 0 && control_lines_rest(lines, &line, &len) > 0)
		parse_line(line, len);
	free(lines);
	return 0;
}
