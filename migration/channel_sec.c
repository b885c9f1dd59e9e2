// SPDX-License-Identifier: GPL-2.0-only
/* Migration channel options, the PSK file and the session token. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "migration/channel_sec.h"

#define PSK_FILE_MAX	4096

static int einval(char *err, size_t errlen, const char *what, const char *value)
{
	snprintf(err, errlen, "%s '%s'", what, value);
	return -EINVAL;
}

static int set_string(char *dst, const char *key, const char *value, char *err, size_t errlen)
{
	if (!*value || strlen(value) >= CHANNEL_PATH_MAX) {
		snprintf(err, errlen, "%s: give 1 to %d bytes", key, CHANNEL_PATH_MAX - 1);
		return -EINVAL;
	}
	strcpy(dst, value);
	return 0;
}

int channel_sec_set(struct channel_sec *sec, const char *key, const char *value, char *err,
		    size_t errlen)
{
	if (!strcmp(key, "tls_psk"))
		return set_string(sec->tls_psk, key, value, err, errlen);
	if (!strcmp(key, "tls_creds"))
		return set_string(sec->tls_creds, key, value, err, errlen);
	if (!strcmp(key, "tls_hostname"))
		return set_string(sec->tls_hostname, key, value, err, errlen);
	if (!strcmp(key, "insecure")) {
		if (strcmp(value, "on") && strcmp(value, "off"))
			return einval(err, errlen, "insecure takes on or off, not", value);
		sec->insecure = !strcmp(value, "on");
		return 0;
	}
	return einval(err, errlen, "unknown migration channel option (tls_psk, tls_creds, "
		      "tls_hostname, insecure):", key);
}

int channel_spec_parse(const char *arg, struct channel_spec *spec, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ','), *p;
	size_t ulen = comma ? (size_t)(comma - arg) : strlen(arg);
	char opt[CHANNEL_PATH_MAX + 32];

	memset(spec, 0, sizeof(*spec));
	if (!ulen || ulen >= sizeof(spec->uri)) {
		snprintf(err, errlen, "the migration URI must be 1 to %d bytes", CHANNEL_URI_MAX - 1);
		return -EINVAL;
	}
	memcpy(spec->uri, arg, ulen);
	for (p = comma; p; p = comma) {
		const char *start = p + 1;
		char *eq;
		size_t olen;
		int ret;

		comma = strchr(start, ',');
		olen = comma ? (size_t)(comma - start) : strlen(start);
		if (olen >= sizeof(opt))
			return einval(err, errlen, "migration channel option too long:", start);
		memcpy(opt, start, olen);
		opt[olen] = 0;
		eq = strchr(opt, '=');
		if (!eq)
			return einval(err, errlen, "migration channel option is not KEY=VALUE:", opt);
		*eq = 0;
		ret = channel_sec_set(&spec->sec, opt, eq + 1, err, errlen);
		if (ret)
			return ret;
	}
	return channel_sec_check(spec->uri, &spec->sec, err, errlen);
}

static int check_tcp(const struct channel_sec *sec, char *err, size_t errlen)
{
	if (sec->tls_psk[0] && sec->tls_creds[0]) {
		snprintf(err, errlen, "give tls_psk or tls_creds, not both");
		return -EINVAL;
	}
	if (sec->insecure && channel_sec_tls(sec)) {
		snprintf(err, errlen, "insecure=on turns TLS off: it cannot go with tls_psk or "
			 "tls_creds");
		return -EINVAL;
	}
	if (sec->tls_hostname[0] && !sec->tls_creds[0]) {
		snprintf(err, errlen, "tls_hostname checks the peer's certificate: it needs "
			 "tls_creds=DIR");
		return -EINVAL;
	}
	if (!sec->insecure && !channel_sec_tls(sec)) {
		snprintf(err, errlen, "tcp: migration needs TLS, tls_psk=FILE (a pre-shared key) "
			 "or tls_creds=DIR (X.509: %s, %s, %s), the same on both sides; or "
			 "insecure=on on both sides for plain TCP on a network you trust",
			 CHANNEL_CA_FILE, CHANNEL_CERT_FILE, CHANNEL_KEY_FILE);
		return -EINVAL;
	}
	return 0;
}

/* A confined tern (Landlock) reads keys only where its command line pointed. */
static const char *confined_hint(int err)
{
	return err == EACCES ? " (a confined tern reads migration keys at start only: "
	       "give them with --migrate-to URI,tls_psk=FILE or tls_creds=DIR)" : "";
}

static int check_creds(const char *dir, char *err, size_t errlen)
{
	static const char *const public[] = { CHANNEL_CA_FILE, CHANNEL_CERT_FILE };
	char path[CHANNEL_PATH_MAX + 16];

	for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, public[i]);
		if (access(path, R_OK)) {
			snprintf(err, errlen, "tls_creds: cannot read %s: %s%s", path,
				 strerror(errno), confined_hint(errno));
			return -errno;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", dir, CHANNEL_KEY_FILE);
	return channel_check_private(path, err, errlen);
}

int channel_sec_check(const char *uri, const struct channel_sec *sec, char *err, size_t errlen)
{
	uint8_t key[CHANNEL_PSK_MAX];
	int ret;

	if (!strncmp(uri, "unix:", 5)) {
		if (!channel_sec_tls(sec) && !sec->insecure && !sec->tls_hostname[0])
			return 0;
		snprintf(err, errlen, "'%s': a unix: socket is local and plain (created 0600); "
			 "tls_psk, tls_creds, tls_hostname and insecure apply to tcp: only", uri);
		return -EINVAL;
	}
	if (strncmp(uri, "tcp:", 4)) {
		snprintf(err, errlen, "'%s' is neither unix:PATH nor tcp:HOST:PORT", uri);
		return -EINVAL;
	}
	ret = check_tcp(sec, err, errlen);
	/* Loaded keys were checked as they were read (tls_creds_load). */
	if (!ret && sec->tls_psk[0] && !sec->creds) {
		ret = channel_psk_load(sec->tls_psk, key, err, errlen);
		OPENSSL_cleanse(key, sizeof(key));
		ret = ret < 0 ? ret : 0;
	}
	if (!ret && sec->tls_creds[0] && !sec->creds)
		ret = check_creds(sec->tls_creds, err, errlen);
	/* Every one of these is the user's to fix: a usage error. */
	return ret ? -EINVAL : 0;
}

int channel_psk_parse(const char *text, size_t len, uint8_t key[CHANNEL_PSK_MAX], char *err,
		      size_t errlen)
{
	size_t n = len;

	if (n && text[n - 1] == '\n')
		n--;
	for (size_t i = 0; i < n; i++) {
		if (OPENSSL_hexchar2int((unsigned char)text[i]) < 0) {
			snprintf(err, errlen, "the key file holds a byte that is not a hex digit "
				 "(%#04x at offset %zu): it must be the key as hex on one line, "
				 "e.g. from 'head -c 32 /dev/urandom | xxd -p -c 64'",
				 (unsigned char)text[i], i);
			return -EINVAL;
		}
	}
	if (n % 2) {
		snprintf(err, errlen, "the key file holds an odd number of hex digits (%zu)", n);
		return -EINVAL;
	}
	if (n / 2 < CHANNEL_PSK_MIN || n / 2 > CHANNEL_PSK_MAX) {
		snprintf(err, errlen, "the key is %zu bytes: it must be %d to %d bytes (%d to %d hex "
			 "digits)", n / 2, CHANNEL_PSK_MIN, CHANNEL_PSK_MAX, 2 * CHANNEL_PSK_MIN,
			 2 * CHANNEL_PSK_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n / 2; i++)
		key[i] = (uint8_t)(OPENSSL_hexchar2int((unsigned char)text[2 * i]) << 4 |
				  OPENSSL_hexchar2int((unsigned char)text[2 * i + 1]));
	return (int)(n / 2);
}

static int check_mode(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return -EINVAL;
	}
	if (st->st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s is open to group or others (mode %04o): a secret key "
			 "must be readable by its owner only (chmod 600 %s)", path,
			 (unsigned int)(st->st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int channel_check_private(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st)) {
		snprintf(err, errlen, "cannot read %s: %s%s", path, strerror(errno),
			 confined_hint(errno));
		return -errno;
	}
	return check_mode(path, &st, err, errlen);
}

int channel_psk_load(const char *path, uint8_t key[CHANNEL_PSK_MAX], char *err, size_t errlen)
{
	char text[PSK_FILE_MAX + 1];
	char why[320];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	if (fd < 0) {
		snprintf(err, errlen, "tls_psk: cannot open %s: %s%s", path, strerror(errno),
			 confined_hint(errno));
		return -errno;
	}
	ret = fstat(fd, &st) ? -errno : check_mode(path, &st, why, sizeof(why));
	if (ret) {
		close(fd);
		snprintf(err, errlen, "tls_psk: %s", ret == -EINVAL || ret == -EPERM ? why :
			 strerror(-ret));
		return ret;
	}
	n = read(fd, text, sizeof(text));
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret) {
		snprintf(err, errlen, "tls_psk: reading %s: %s", path, strerror(-ret));
		return ret;
	}
	if ((size_t)n > PSK_FILE_MAX) {
		snprintf(err, errlen, "tls_psk: %s is over %d bytes: not a key file", path,
			 PSK_FILE_MAX);
		return -EINVAL;
	}
	ret = channel_psk_parse(text, (size_t)n, key, why, sizeof(why));
	OPENSSL_cleanse(text, sizeof(text));
	if (ret < 0)
		snprintf(err, errlen, "tls_psk %s: %s", path, why);
	return ret;
}

int channel_token_new(uint8_t token[CHANNEL_TOKEN_LEN])
{
	ssize_t n;

	do
		n = getrandom(token, CHANNEL_TOKEN_LEN, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == CHANNEL_TOKEN_LEN ? 0 : -EIO;
}

bool channel_token_equal(const uint8_t a[CHANNEL_TOKEN_LEN], const uint8_t b[CHANNEL_TOKEN_LEN])
{
	return CRYPTO_memcmp(a, b, CHANNEL_TOKEN_LEN) == 0;
}
