/*
 * attex: the OpenSSL 3 binding of the ea layer's TLS interface.
 */
#ifndef ATTEX_OPENSSL_H
#define ATTEX_OPENSSL_H

#include <openssl/ssl.h>

#include <attex/channel.h>
#include <attex/ea.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * attex_openssl_tls fills `out` with an attex_tls over connection `ssl`,
 * which must outlive every session made from it. The exporter is OpenSSL's
 * SSL_export_keying_material (TLS 1.3 exporter_master_secret).
 *
 * The ClientHello's signature schemes: a server reads them from OpenSSL; a
 * client, which cannot ask OpenSSL what it offered, assumes the schemes of
 * attex_supported_schemes() that OpenSSL offers by default. A client that
 * restricted its signature algorithms should list them with
 * attex_openssl_set_hello_schemes.
 */
void attex_openssl_tls(SSL *ssl, attex_tls *out);

/**
 * attex_openssl_set_hello_schemes records, on `ssl`, the signature schemes
 * its ClientHello offered (clients that configured their own list). Returns
 * ATTEX_OK or an error.
 */
int attex_openssl_set_hello_schemes(SSL *ssl, const uint16_t *schemes, size_t num_schemes,
                                    attex_error *err);

/**
 * attex_ea_session_new_openssl is attex_ea_session_new over
 * attex_openssl_tls(ssl).
 */
attex_ea_session *attex_ea_session_new_openssl(SSL *ssl, attex_error *err);

/* ---------------------------------------------------------------------- */
/* Attested channels over OpenSSL                                         */

/**
 * attex_openssl_configure_ctx applies PROTOCOL.md s4 to `ctx`: TLS 1.3
 * only; no session tickets sent (num_tickets 0); no early data; no session
 * cache; tickets received are discarded.
 */
int attex_openssl_configure_ctx(SSL_CTX *ctx, attex_error *err);

/** attex_monotonic_ms returns a monotonic clock in milliseconds (for channel timers). */
uint64_t attex_monotonic_ms(void);

/**
 * attex_openssl_channel_io does one round of a channel's I/O on `ssl`
 * (blocking or not): it writes the channel's pending output, reads what
 * TLS has (on a non-blocking SSL, without waiting), feeds it to the
 * channel, and runs its timers. *want_write is set when output is still
 * pending (poll for POLLOUT too). Returns ATTEX_OK while the connection
 * lives, or the failure (the channel's, or TLS's) once it is over; on a
 * clean close by the peer it returns ATTEX_ERR_TLS_STATE with the reason.
 */
int attex_openssl_channel_io(SSL *ssl, attex_channel *ch, int *want_write, attex_error *err);

/**
 * attex_openssl_channel_establish runs the channel on `ssl` (its handshake
 * complete) until the attestations it requires are accepted: the peer's
 * when cfg.require_peer, and ours when the peer asked for it and answered.
 * It waits on the socket with poll() for at most `timeout_ms`.
 */
int attex_openssl_channel_establish(SSL *ssl, attex_channel *ch, uint32_t timeout_ms,
                                    attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_OPENSSL_H */
