/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CHANNEL_SEC_H
#define TERN_CHANNEL_SEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * How a migration channel is protected (README, "Migration security"):
 *   tcp:   TLS 1.3 with a pre-shared key (tls_psk=FILE) or X.509
 *          (tls_creds=DIR, optional tls_hostname=NAME), or plain TCP only
 *          with insecure=on;
 *   unix:  plain (a local socket, created 0600), no options.
 * The destination writes them after its URI, comma-separated
 * ("tcp:0.0.0.0:4444,tls_psk=/etc/tern/psk"); the source gives them as
 * 'migrate' arguments. Nothing here touches a socket: unit-tested natively.
 */
#define CHANNEL_URI_MAX		256
#define CHANNEL_PATH_MAX	256
#define CHANNEL_PSK_MIN		32	/* bytes: 256 bits */
#define CHANNEL_PSK_MAX		64
#define CHANNEL_TOKEN_LEN	32	/* the session token of post-copy's connections */

/* Files of a tls_creds directory. */
#define CHANNEL_CA_FILE		"ca.pem"	/* the CA that signed both sides */
#define CHANNEL_CERT_FILE	"cert.pem"	/* this side's certificate (chain) */
#define CHANNEL_KEY_FILE	"key.pem"	/* its private key: mode 0600 or 0400 */

struct tls_creds;

struct channel_sec {
	char tls_psk[CHANNEL_PATH_MAX];		/* "": none */
	char tls_creds[CHANNEL_PATH_MAX];	/* "": none */
	char tls_hostname[CHANNEL_PATH_MAX];	/* "": the peer's name is not checked */
	bool insecure;				/* tcp: plain, asked for explicitly */
	struct tls_creds *creds;		/* the files' contents: tls_creds_load */
};

struct channel_spec {
	char uri[CHANNEL_URI_MAX];
	struct channel_sec sec;
};

/* "URI[,tls_psk=FILE][,tls_creds=DIR][,tls_hostname=NAME][,insecure=on|off]"
 * into @spec, then channel_sec_check. -EINVAL with the reason in @err. */
int channel_spec_parse(const char *arg, struct channel_spec *spec, char *err, size_t errlen);

/* One option by name ("tls_psk", ...) into @sec. -EINVAL: unknown name or
 * bad value. */
int channel_sec_set(struct channel_sec *sec, const char *key, const char *value, char *err,
		    size_t errlen);

/* The combination fits @uri: tcp: needs TLS (one of tls_psk, tls_creds) or
 * insecure=on; unix: takes none. The key files are read and checked (PSK
 * format and size; no key readable by group or others). -EINVAL for
 * any of these, the reason in @err. */
int channel_sec_check(const char *uri, const struct channel_sec *sec, char *err, size_t errlen);

static inline bool channel_sec_tls(const struct channel_sec *sec)
{
	return sec->tls_psk[0] || sec->tls_creds[0];
}

/* The key of a PSK file's text (hex on one line, an optional final newline),
 * CHANNEL_PSK_MIN..CHANNEL_PSK_MAX bytes. Its length, or -EINVAL. */
int channel_psk_parse(const char *text, size_t len, uint8_t key[CHANNEL_PSK_MAX], char *err,
		      size_t errlen);
/* Reads and parses @path, refusing a file group or others may read (or
 * that is not a regular file). Its length, or -errno. */
int channel_psk_load(const char *path, uint8_t key[CHANNEL_PSK_MAX], char *err, size_t errlen);
/* 0 if @path exists as a regular file that only its owner may read, else
 * -errno with the reason (a private key). */
int channel_check_private(const char *path, char *err, size_t errlen);

/* A fresh session token from getrandom(). -errno. */
int channel_token_new(uint8_t token[CHANNEL_TOKEN_LEN]);
/* Compares in constant time. */
bool channel_token_equal(const uint8_t a[CHANNEL_TOKEN_LEN], const uint8_t b[CHANNEL_TOKEN_LEN]);

#endif
