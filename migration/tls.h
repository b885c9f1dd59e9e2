/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/channel_sec.h"

/*
 * TLS 1.3 for migration channels (OpenSSL; README, "Migration security").
 * OpenSSL runs only the handshake: mutual authentication by a pre-shared
 * key or by X.509 certificates from one CA, one cipher suite
 * (TLS_AES_128_GCM_SHA256), no session tickets. The traffic keys it agreed
 * are then handed to the kernel (kernel TLS, Documentation/networking/tls.rst),
 * so the socket stays a plain fd for every reader and writer of the stream
 * and the page channel: records are sealed and opened in the kernel.
 */
#define TLS_HANDSHAKE_TIMEOUT_S	10

struct tls_keys {
	uint8_t tx_key[16], tx_iv[12];
	uint8_t rx_key[16], rx_iv[12];
};

/*
 * Reads @sec's key files (tls_psk, or tls_creds' ca/cert/key) for the
 * server or the client side into @sec->creds, once, in a thread that may
 * still open them: before tern confines itself (--incoming, --migrate-to),
 * or on the control thread for a 'migrate' naming its own keys. Handshakes
 * afterwards open no file, so confined threads run them. Nothing for a
 * plain channel. -errno with the reason in @err. The holder frees it with
 * tls_creds_free; copies of @sec borrow it and must not outlive the holder.
 */
int tls_creds_load(struct channel_sec *sec, bool server, char *err, size_t errlen);
void tls_creds_free(struct channel_sec *sec);

/*
 * The handshake on connected socket @fd, as the server (the destination)
 * or the client (the source), all of it within @timeout_s. The keys of
 * both directions in @keys. -errno with what went wrong in @err: a wrong
 * key, a certificate the CA did not sign, a peer speaking plain text, ...
 * (-EACCES for an authentication failure, -EPROTO for a peer not speaking
 * TLS, which a server found before any TLS byte was read, -ETIMEDOUT).
 */
int tls_handshake(int fd, const struct channel_sec *sec, bool server, unsigned int timeout_s,
		  struct tls_keys *keys, char *err, size_t errlen);

/* Hands @keys to the kernel's TLS for @fd (both directions, sequence 0). */
int tls_install_kernel(int fd, const struct tls_keys *keys, char *err, size_t errlen);

/*
 * A new connection made safe per @sec: TLS (handshake, then kernel TLS),
 * or nothing for insecure=on and unix:. A plain destination still refuses
 * a TLS ClientHello, with a message. -errno, reason in @err.
 */
int channel_secure(int fd, const struct channel_sec *sec, bool server, char *err,
		   size_t errlen);

#endif
