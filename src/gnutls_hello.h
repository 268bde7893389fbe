/*
 * attex internal: the ClientHello parser of the GnuTLS adapter.
 *
 * GnuTLS cannot tell a server which signature_algorithms the ClientHello
 * offered in TLS wire form, nor a client what it offered itself, so the
 * adapter sees the ClientHello as it passes (a handshake hook) and reads the
 * extension here. No GnuTLS dependency, so that it can be fuzzed alone.
 */
#ifndef ATTEX_GNUTLS_HELLO_H
#define ATTEX_GNUTLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

#include <attex/error.h>

/*
 * hello_parse_sigalgs decodes a ClientHello body (RFC 8446 s4.1.2: the
 * handshake message without its 4-byte header) strictly: every length must
 * match, nothing may trail, no extension type may repeat. It copies the
 * first `max` schemes of signature_algorithms (RFC 8446 s4.2.3) to `out`
 * and sets *num (0 when the extension is absent) and *found (1 when present).
 * Returns ATTEX_OK or ATTEX_ERR_DECODE / ATTEX_ERR_ILLEGAL_PARAMETER.
 */
int hello_parse_sigalgs(const uint8_t *msg, size_t len, uint16_t *out, size_t max, size_t *num,
                        int *found, attex_error *err);

#endif /* ATTEX_GNUTLS_HELLO_H */
