/*
 * attex: the GnuTLS binding of the ea layer's TLS interface, and the
 * attested channel over a GnuTLS session.
 *
 * Part of the separate library attex_gnutls (libattex itself links only
 * OpenSSL, libcbor and jansson). The exported authenticators attex makes
 * over a GnuTLS connection are the same as over OpenSSL: the certificate and
 * key of an attex_ea_identity are OpenSSL objects whatever the TLS stack,
 * because attex, not the TLS library, builds and signs the authenticator.
 *
 * Use, on each gnutls_session_t, before its handshake:
 *
 *   gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_TICKETS);    (or GNUTLS_CLIENT)
 *   attex_gnutls_configure_session(s, &err);               (TLS 1.3 only, ...)
 *   ... credentials, transport, gnutls_handshake() ...
 *   attex_ea_session *ea = attex_ea_session_new_gnutls(s, &err);
 *
 * attex observes the handshake through GnuTLS's handshake hook (see
 * attex_gnutls_prepare_session): a session must not replace that hook.
 */
#ifndef ATTEX_GNUTLS_H
#define ATTEX_GNUTLS_H

#include <stdint.h>

#include <gnutls/gnutls.h>

#include <attex/channel.h>
#include <attex/ea.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The TLS extension type under which attex keeps its per-session state on a
 * GnuTLS session (gnutls_session_ext_register; 65280 is "Reserved for
 * Private Use" in the IANA TLS ExtensionType registry). attex never sends it
 * and ignores it when a peer does; an application must not register it.
 */
#define ATTEX_GNUTLS_STATE_EXTENSION 65280

/**
 * attex_gnutls_prepare_session makes `s` observable by attex and changes no
 * TLS setting: it keeps attex's state on the session (freed by gnutls_deinit)
 * and installs a handshake hook (gnutls_handshake_set_hook_function) that
 * records the ClientHello's signature_algorithms (received on a server, sent
 * on a client) and when the handshake completes: on a server when GnuTLS has
 * read the client's Finished (it verifies it within the same gnutls_handshake
 * call, which fails if it is wrong: never use a session whose handshake
 * failed), on a client when its own Finished was sent. Call it before the handshake; calling it again is harmless. A QUIC
 * stack (ngtcp2) that sets its own priority string calls this instead of
 * attex_gnutls_configure_session.
 */
int attex_gnutls_prepare_session(gnutls_session_t s, attex_error *err);

/**
 * attex_gnutls_configure_session applies PROTOCOL.md s4 to `s` and prepares
 * it (attex_gnutls_prepare_session). It sets the priority string
 * "NORMAL:-VERS-ALL:+VERS-TLS1.3:%NO_TICKETS" (TLS 1.3 only; no session
 * ticket is sent, requested or used, so no resumption) and, on a server, a
 * maximum early data size of 0 (no 0-RTT; GnuTLS also needs the
 * GNUTLS_ENABLE_EARLY_DATA init flag for it, which attex never sets).
 * Initialise the session with GNUTLS_NO_TICKETS as well: init flags cannot
 * be changed afterwards. Call it before the handshake.
 */
int attex_gnutls_configure_session(gnutls_session_t s, attex_error *err);

/**
 * attex_gnutls_configure_session_priority is attex_gnutls_configure_session
 * with GnuTLS priority keywords appended to attex's string, e.g.
 * "-CIPHER-ALL:+AES-256-GCM" to allow only TLS_AES_256_GCM_SHA384, or
 * "%DISABLE_TLS13_COMPAT_MODE" for QUIC. `extra` may be NULL or "". It
 * must not re-enable an older TLS version; if it does, attex still refuses
 * every exported-authenticator operation on a connection that is not TLS 1.3.
 */
int attex_gnutls_configure_session_priority(gnutls_session_t s, const char *extra,
                                            attex_error *err);

/**
 * attex_gnutls_tls fills `out` with an attex_tls over `s`, which must
 * outlive every session or channel made from it and must have been prepared
 * (attex_gnutls_prepare_session or _configure_session) before its handshake;
 * otherwise every operation fails with ATTEX_ERR_TLS_STATE saying so.
 *
 * - exporter: gnutls_prf_rfc5705, which in TLS 1.3 is the RFC 8446 s7.5
 *   exporter (exporter_master_secret); refused before the handshake is
 *   complete and on any version but TLS 1.3;
 * - hash: the PRF hash of the suite (gnutls_prf_hash_get);
 * - version: the negotiated version in wire form (0x0304 for TLS 1.3,
 *   0x0303 for TLS 1.2, ...), so that the ea layer refuses anything older;
 * - ClientHello signature schemes: the ones the ClientHello carried, read
 *   from the message itself (first ATTEX_MAX_HELLO_SCHEMES); on a client
 *   these are exactly what GnuTLS offered under its priority string.
 */
void attex_gnutls_tls(gnutls_session_t s, attex_tls *out);

/**
 * attex_ea_session_new_gnutls is attex_ea_session_new over
 * attex_gnutls_tls(s).
 */
attex_ea_session *attex_ea_session_new_gnutls(gnutls_session_t s, attex_error *err);

/* ---------------------------------------------------------------------- */
/* Attested channels over GnuTLS                                          */

/**
 * attex_gnutls_channel_io does one round of a channel's I/O on `s` (its
 * transport a socket set with gnutls_transport_set_int, blocking or not):
 * it writes the channel's pending output, reads what TLS has (without
 * waiting), feeds it to the channel, and runs its timers. *want_write is set
 * when output is still pending (poll for POLLOUT too). Returns ATTEX_OK
 * while the connection lives, or the failure (the channel's, or TLS's) once
 * it is over; on a clean close by the peer (close_notify) it returns
 * ATTEX_ERR_TLS_STATE with the reason. Same contract as
 * attex_openssl_channel_io.
 */
int attex_gnutls_channel_io(gnutls_session_t s, attex_channel *ch, int *want_write,
                            attex_error *err);

/**
 * attex_gnutls_channel_establish runs the channel on `s` (its handshake
 * complete) until the attestations it requires are accepted: the peer's
 * when cfg.require_peer, and ours when the peer asked for it and answered.
 * It waits on the socket with poll() for at most `timeout_ms`.
 */
int attex_gnutls_channel_establish(gnutls_session_t s, attex_channel *ch, uint32_t timeout_ms,
                                   attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_GNUTLS_H */
