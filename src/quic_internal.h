/*
 * attex internal: test hooks of the QUIC driver (src/quic.c). Not part of
 * the public API.
 */
#ifndef ATTEX_QUIC_INTERNAL_H
#define ATTEX_QUIC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/quic.h>

/*
 * A filter that sees (and may change) every piece of channel output of
 * `ep`'s connections before it is queued on stream 0: lets the tests tamper
 * with frames after the channel made them. NULL removes it.
 */
typedef void (*quic_output_filter)(uint8_t *data, size_t len, void *arg);
void quic_set_output_filter(attex_quic_endpoint *ep, quic_output_filter f, void *arg);

/* quic_conn_tls returns the connection's GnuTLS session (tests check its settings). */
#include <gnutls/gnutls.h>
gnutls_session_t quic_conn_tls(attex_quic_conn *c);

#endif /* ATTEX_QUIC_INTERNAL_H */
