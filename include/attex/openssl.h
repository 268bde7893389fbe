/*
 * attex: the OpenSSL 3 binding of the ea layer's TLS interface.
 */
#ifndef ATTEX_OPENSSL_H
#define ATTEX_OPENSSL_H

#include <openssl/ssl.h>

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

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_OPENSSL_H */
