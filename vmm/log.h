/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_LOG_H
#define TERN_LOG_H

/*
 * Messages to stderr, prefixed "tern: ". Library code reports and returns
 * -errno; only main() decides to exit.
 */
#define pr_err(...)	log_msg("error: ", __VA_ARGS__)
#define pr_warn(...)	log_msg("warning: ", __VA_ARGS__)
#define pr_info(...)	log_msg("", __VA_ARGS__)

void log_msg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
