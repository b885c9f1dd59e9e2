// SPDX-License-Identifier: GPL-2.0-only
/* TLS 1.3 handshakes with OpenSSL, records in kernel TLS (migration/tls.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/tls.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "migration/tls.h"

#ifndef SOL_TLS
#define SOL_TLS		282
#endif
#ifndef TCP_ULP
#define TCP_ULP		31
#endif
#ifndef TLS_RX_EXPECT_NO_PAD
#define TLS_RX_EXPECT_NO_PAD	4
#endif

#define PSK_IDENTITY	"tern-migration"
#define CIPHER_SUITE	"TLS_AES_128_GCM_SHA256"
#define SECRET_MAX	48
#define TLS_RECORD_HANDSHAKE	0x16

/* What one handshake collects: the key it uses, the traffic secrets. */
struct session {
	uint8_t psk[CHANNEL_PSK_MAX];
	int psk_len;
	uint8_t client_secret[SECRET_MAX], server_secret[SECRET_MAX];
	size_t client_len, server_len;
	bool psk_identity_wrong;
};

static struct session *session_of(SSL *ssl)
{
	return SSL_get_app_data(ssl);
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int byte;

	while (n < max && sscanf(hex + 2 * n, "%2x", &byte) == 1)
		out[n++] = (uint8_t)byte;
	return n;
}

/* The traffic secrets, from OpenSSL's key log lines ("LABEL RANDOM SECRET"):
 * the one way OpenSSL 3.0 gives them out, and kernel TLS needs them. */
static void keylog(const SSL *ssl, const char *line)
{
	struct session *s = session_of((SSL *)ssl);
	const char *secret = strrchr(line, ' ');

	if (!s || !secret)
		return;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		s->client_len = unhex(secret + 1, s->client_secret, SECRET_MAX);
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		s->server_len = unhex(secret + 1, s->server_secret, SECRET_MAX);
}

static SSL_SESSION *psk_session(SSL *ssl, const struct session *s)
{
	static const unsigned char aes128gcm[] = { 0x13, 0x01 };
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *sess = SSL_SESSION_new();

	if (!sess || !cipher || !SSL_SESSION_set1_master_key(sess, s->psk, (size_t)s->psk_len) ||
	    !SSL_SESSION_set_cipher(sess, cipher) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	*sess = psk_session(ssl, session_of(ssl));
	*id = (const unsigned char *)PSK_IDENTITY;
	*idlen = strlen(PSK_IDENTITY);
	return *sess != NULL;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	struct session *s = session_of(ssl);

	*sess = NULL;
	if (idlen != strlen(PSK_IDENTITY) || memcmp(id, PSK_IDENTITY, idlen)) {
		s->psk_identity_wrong = true;
		return 1;
	}
	*sess = psk_session(ssl, s);
	return *sess != NULL;
}

static int ctx_fail(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();

	snprintf(err, errlen, "%s: %s", what, e ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
	return -EINVAL;
}

static int load_creds(SSL_CTX *ctx, const struct channel_sec *sec, char *err, size_t errlen)
{
	char path[CHANNEL_PATH_MAX + 16], what[CHANNEL_PATH_MAX + 64];
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", sec->tls_creds, CHANNEL_CERT_FILE);
	snprintf(what, sizeof(what), "tls_creds: the certificate %s", path);
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
		return ctx_fail(err, errlen, what);
	snprintf(path, sizeof(path), "%s/%s", sec->tls_creds, CHANNEL_KEY_FILE);
	ret = channel_check_private(path, err, errlen);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "tls_creds: the private key %s", path);
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(err, errlen, what);
	snprintf(path, sizeof(path), "%s/%s", sec->tls_creds, CHANNEL_CA_FILE);
	snprintf(what, sizeof(what), "tls_creds: the CA %s", path);
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
		return ctx_fail(err, errlen, what);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static SSL_CTX *make_ctx(const struct channel_sec *sec, bool server, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx) {
		ctx_fail(err, errlen, "TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, CIPHER_SUITE) || !SSL_CTX_set_num_tickets(ctx, 0)) {
		ctx_fail(err, errlen, "TLS 1.3 settings");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Nothing but the handshake may pass through OpenSSL: records after it
	 * are the kernel's, which starts at sequence number 0. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_keylog_callback(ctx, keylog);
	if (sec->tls_psk[0]) {
		if (server)
			SSL_CTX_set_psk_find_session_callback(ctx, psk_find);
		else
			SSL_CTX_set_psk_use_session_callback(ctx, psk_use);
	} else if (load_creds(ctx, sec, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* What a channel's handshakes use, read once from the files (tls.h). */
struct tls_creds {
	SSL_CTX *ctx;
	uint8_t psk[CHANNEL_PSK_MAX];
	int psk_len;
};

/* Before any other OpenSSL call: no openssl.cnf, nor any other file, is
 * read later behind tern's back, so a confined thread can run a handshake. */
static void tls_library_init(void)
{
	/* Certificate times go through gmtime_r, whose first call anywhere in
	 * the process reads /etc/localtime (glibc's tzset): done here. */
	tzset();
	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS |
			 OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}

int tls_creds_load(struct channel_sec *sec, bool server, char *err, size_t errlen)
{
	struct tls_creds *c;
	int ret;

	sec->creds = NULL;
	if (!channel_sec_tls(sec))
		return 0;
	tls_library_init();
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (sec->tls_psk[0]) {
		c->psk_len = channel_psk_load(sec->tls_psk, c->psk, err, errlen);
		if (c->psk_len < 0) {
			ret = c->psk_len;
			goto fail;
		}
	}
	c->ctx = make_ctx(sec, server, err, errlen);
	if (!c->ctx) {
		ret = -EINVAL;
		goto fail;
	}
	sec->creds = c;
	return 0;
fail:
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	return ret;
}

void tls_creds_free(struct channel_sec *sec)
{
	struct tls_creds *c = sec->creds;

	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	sec->creds = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for @fd to become readable (or writable) by @deadline. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = now_ms();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* The server's first look: a TLS client starts with a handshake record. */
static int peek_first_byte(int fd, uint64_t deadline, unsigned char *c)
{
	int ret = wait_fd(fd, POLLIN, deadline);
	ssize_t n;

	if (ret)
		return ret;
	n = recv(fd, c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	return n == 0 ? -EPIPE : 0;
}

static int explain(SSL *ssl, const struct session *s, bool server, int ssl_err, char *err,
		   size_t errlen)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	long verify = SSL_get_verify_result(ssl);
	const char *peer = server ? "source" : "destination";

	ERR_clear_error();
	if (verify != X509_V_OK) {
		snprintf(err, errlen, "the %s's certificate is refused: %s (tls_creds: is it signed "
			 "by our %s, for tls_hostname?)", peer,
			 X509_verify_cert_error_string(verify), CHANNEL_CA_FILE);
		return -EACCES;
	}
	if (reason == SSL_R_BINDER_DOES_NOT_VERIFY || reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR) {
		snprintf(err, errlen, "wrong pre-shared key: the %s's tls_psk differs from ours",
			 peer);
		return -EACCES;
	}
	/* OpenSSL answers a binder that does not verify with this alert. */
	if (!server && s->psk_len > 0 && reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER) {
		snprintf(err, errlen, "the destination refused our key (illegal_parameter alert): "
			 "most likely a wrong pre-shared key, the destination's tls_psk differs");
		return -EACCES;
	}
	if (s->psk_identity_wrong || (server && reason == SSL_R_NO_SHARED_CIPHER)) {
		snprintf(err, errlen, "the %s offered no pre-shared key of ours: does it use "
			 "tls_psk too?", peer);
		return -EACCES;
	}
	if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
	    reason == SSL_R_RECORD_LENGTH_MISMATCH) {
		snprintf(err, errlen, "the %s does not speak TLS (plain text: insecure=on there?)",
			 peer);
		return -EPROTO;
	}
	if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN ||
	    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		snprintf(err, errlen, "the %s closed the connection during the TLS handshake (it "
			 "refused us: see its log; are its tls_psk/tls_creds/insecure the same?)",
			 peer);
		return -ECONNRESET;
	}
	snprintf(err, errlen, "TLS handshake with the %s failed: %s (are tls_psk/tls_creds the "
		 "same kind on both sides?)", peer, e ? ERR_reason_error_string(e) : "no reason");
	return -EACCES;
}

static int run_handshake(SSL *ssl, int fd, const struct session *s, bool server,
			 uint64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		int r = SSL_do_handshake(ssl), e, ret;

		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			ret = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (ret) {
				snprintf(err, errlen, "TLS handshake with the %s: %s",
					 server ? "source" : "destination",
					 ret == -ETIMEDOUT ? "no progress within the timeout" :
					 strerror(-ret));
				return ret;
			}
			continue;
		}
		return explain(ssl, s, server, e, err, errlen);
	}
}

/* RFC 8446 7.1 HKDF-Expand-Label(secret, label, "", len), SHA-256. */
static int expand_label(const uint8_t *secret, size_t slen, const char *label, uint8_t *out,
			size_t len)
{
	uint8_t info[64];
	size_t llen = 6 + strlen(label), ilen = 0, outlen = len;
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok;

	info[ilen++] = (uint8_t)(len >> 8);
	info[ilen++] = (uint8_t)len;
	info[ilen++] = (uint8_t)llen;
	memcpy(info + ilen, "tls13 ", 6);
	memcpy(info + ilen + 6, label, llen - 6);
	ilen += llen;
	info[ilen++] = 0;
	ok = pctx && EVP_PKEY_derive_init(pctx) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_mode(pctx, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(pctx, secret, (int)slen) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(pctx, info, (int)ilen) > 0 &&
	     EVP_PKEY_derive(pctx, out, &outlen) > 0 && outlen == len;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -EIO;
}

static int derive_keys(const struct session *s, bool server, struct tls_keys *k)
{
	const uint8_t *tx = server ? s->server_secret : s->client_secret;
	const uint8_t *rx = server ? s->client_secret : s->server_secret;
	size_t txlen = server ? s->server_len : s->client_len;
	size_t rxlen = server ? s->client_len : s->server_len;

	if (txlen != 32 || rxlen != 32)
		return -EIO;
	if (expand_label(tx, txlen, "key", k->tx_key, sizeof(k->tx_key)) ||
	    expand_label(tx, txlen, "iv", k->tx_iv, sizeof(k->tx_iv)) ||
	    expand_label(rx, rxlen, "key", k->rx_key, sizeof(k->rx_key)) ||
	    expand_label(rx, rxlen, "iv", k->rx_iv, sizeof(k->rx_iv)))
		return -EIO;
	return 0;
}

static int set_hostname(SSL *ssl, const struct channel_sec *sec)
{
	if (!sec->tls_hostname[0])
		return 0;
	return X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), sec->tls_hostname, 0) == 1 ?
	       0 : -EINVAL;
}

static int handshake_on(const struct tls_creds *c, int fd, const struct channel_sec *sec,
			bool server, uint64_t deadline, struct tls_keys *keys, char *err,
			size_t errlen)
{
	struct session s = { .psk_len = c->psk_len };
	SSL *ssl = SSL_new(c->ctx);
	int ret = -ENOMEM;

	memcpy(s.psk, c->psk, sizeof(s.psk));
	if (!ssl || !SSL_set_app_data(ssl, &s) || !SSL_set_fd(ssl, fd) ||
	    set_hostname(ssl, sec)) {
		snprintf(err, errlen, "cannot set up TLS");
		goto out;
	}
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	ret = run_handshake(ssl, fd, &s, server, deadline, err, errlen);
	if (!ret && SSL_has_pending(ssl)) {
		snprintf(err, errlen, "the peer sent data OpenSSL already read: not a tern");
		ret = -EPROTO;
	}
	if (!ret && derive_keys(&s, server, keys)) {
		snprintf(err, errlen, "cannot derive the TLS traffic keys");
		ret = -EIO;
	}
out:
	SSL_free(ssl);
	OPENSSL_cleanse(&s, sizeof(s));
	return ret;
}

int tls_handshake(int fd, const struct channel_sec *sec, bool server, unsigned int timeout_s,
		  struct tls_keys *keys, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	int flags = fcntl(fd, F_GETFL), ret;
	unsigned char first;

	if (server) {
		ret = peek_first_byte(fd, deadline, &first);
		if (ret) {
			snprintf(err, errlen, "the source sent no TLS handshake: %s",
				 ret == -ETIMEDOUT ? "nothing within the timeout" : ret == -EPIPE ?
				 "it closed the connection" : strerror(-ret));
			return ret;
		}
		if (first != TLS_RECORD_HANDSHAKE) {
			snprintf(err, errlen, "the source speaks plain text, not TLS: give its "
				 "migrate the same tls_psk or tls_creds as here");
			return -EPROTO;
		}
	}
	if (!sec->creds) {
		snprintf(err, errlen, "internal error: TLS credentials were not loaded");
		return -EINVAL;
	}
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		return -errno;
	}
	ret = handshake_on(sec->creds, fd, sec, server, deadline, keys, err, errlen);
	fcntl(fd, F_SETFL, flags);
	ERR_clear_error();
	return ret;
}

static void crypto_info(struct tls12_crypto_info_aes_gcm_128 *ci, const uint8_t *key,
			const uint8_t *iv)
{
	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
	memcpy(ci->key, key, sizeof(ci->key));
	/* The 12-byte TLS 1.3 IV: 4 bytes of salt, then 8 (tls.rst). */
	memcpy(ci->salt, iv, sizeof(ci->salt));
	memcpy(ci->iv, iv + sizeof(ci->salt), sizeof(ci->iv));
}

/*
 * The peer is tern, whose kernel TLS never pads a record, and it has just
 * authenticated: so a TLS 1.3 record may be decrypted straight into the
 * reader's buffer, guest RAM for a RAM section, instead of into a kernel
 * buffer and copied (Documentation/networking/tls.rst, TLS_RX_EXPECT_NO_PAD:
 * a padded record is decrypted again the slow way, so a peer breaking the
 * promise costs at most twice the cipher, never correctness). Kernels
 * before 6.0 lack the option and keep the copy.
 */
static void expect_no_padding(int fd)
{
	int one = 1;

	(void)setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one));
}

int tls_install_kernel(int fd, const struct tls_keys *keys, char *err, size_t errlen)
{
	struct tls12_crypto_info_aes_gcm_128 tx, rx;
	int ret = 0;

	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		snprintf(err, errlen, "kernel TLS is not available (%s): load the tls module "
			 "(modprobe tls) on both hosts", strerror(errno));
		return -errno;
	}
	crypto_info(&tx, keys->tx_key, keys->tx_iv);
	crypto_info(&rx, keys->rx_key, keys->rx_iv);
	if (setsockopt(fd, SOL_TLS, TLS_TX, &tx, sizeof(tx)) < 0 ||
	    setsockopt(fd, SOL_TLS, TLS_RX, &rx, sizeof(rx)) < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(err, errlen, "kernel TLS found no AES-128-GCM in the kernel's crypto "
				 "API: load the gcm module (modprobe gcm) on both hosts");
		else
			snprintf(err, errlen, "kernel TLS refused the keys: %s", strerror(-ret));
	}
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	if (!ret)
		expect_no_padding(fd);
	return ret;
}

/* A plain destination: a TLS ClientHello is refused by name, not read as a
 * broken stream header. Waits briefly only. */
static int refuse_tls_client(int fd, char *err, size_t errlen)
{
	unsigned char first;

	if (peek_first_byte(fd, now_ms() + TLS_HANDSHAKE_TIMEOUT_S * 1000, &first) ||
	    first != TLS_RECORD_HANDSHAKE)
		return 0;
	snprintf(err, errlen, "the source speaks TLS, but this destination is plain "
		 "(insecure=on): give both sides the same tls_psk or tls_creds");
	return -EPROTO;
}

int channel_secure(int fd, const struct channel_sec *sec, bool server, char *err,
		   size_t errlen)
{
	struct tls_keys keys;
	int ret;

	if (!channel_sec_tls(sec))
		return server && sec->insecure ? refuse_tls_client(fd, err, errlen) : 0;
	ret = tls_handshake(fd, sec, server, TLS_HANDSHAKE_TIMEOUT_S, &keys, err, errlen);
	if (!ret)
		ret = tls_install_kernel(fd, &keys, err, errlen);
	OPENSSL_cleanse(&keys, sizeof(keys));
	return ret;
}
