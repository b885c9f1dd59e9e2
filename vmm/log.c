// SPDX-License-Identifier: GPL-2.0-only
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void log_msg(const char *level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	/* One write per message, so lines from several threads never interleave. */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tern: %s%s\n", level, line);
}
