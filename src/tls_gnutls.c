/*
 * attex: the ea layer's TLS interface over a GnuTLS session.
 *
 * GnuTLS has no public "is the handshake complete" or "which role" query, and
 * cannot give the ClientHello's signature_algorithms in wire form, so a
 * handshake hook watches the handshake and records those facts in a state
 * object kept on the session as the private data of an extension that is
 * never sent (so that gnutls_deinit frees it, and the session's user pointer
 * stays the application's: ngtcp2 uses it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include <attex/gnutls.h>

#include "gnutls_hello.h"
#include "internal.h"

typedef struct gt_state {
    int role_known;
    attex_role role;
    int complete;
    /* The ClientHello's signature_algorithms (none if it could not be parsed). */
    uint16_t schemes[ATTEX_MAX_HELLO_SCHEMES];
    size_t num_schemes;
} gt_state;

static gt_state *state_of(gnutls_session_t s)
{
    gnutls_ext_priv_data_t p = NULL;
    if (s == NULL || gnutls_ext_get_data(s, ATTEX_GNUTLS_STATE_EXTENSION, &p) < 0)
        return NULL;
    return p;
}

static void state_free(gnutls_ext_priv_data_t p) { free(p); }

/* The state extension is never sent, and ignored when received. */
static int state_recv(gnutls_session_t s, const unsigned char *data, size_t len)
{
    (void)s, (void)data, (void)len;
    return 0;
}

static int state_send(gnutls_session_t s, gnutls_buffer_t extdata)
{
    (void)s, (void)extdata;
    return 0;
}

static void record_hello(gt_state *st, const gnutls_datum_t *msg)
{
    int found = 0;
    /* After a HelloRetryRequest the second ClientHello replaces the first (RFC 8446 s4.1.2).
     * One that does not parse leaves no scheme: a spontaneous authenticator then finds none
     * in common, and the handshake's fate is GnuTLS's to decide. */
    (void)hello_parse_sigalgs(msg->data, msg->size, st->schemes, ATTEX_MAX_HELLO_SCHEMES,
                              &st->num_schemes, &found, NULL);
}

static int hook(gnutls_session_t s, unsigned int htype, unsigned when, unsigned int incoming,
                const gnutls_datum_t *msg)
{
    gt_state *st = state_of(s);
    if (st == NULL)
        return 0;
    if (htype == GNUTLS_HANDSHAKE_CLIENT_HELLO) {
        /* Who sends the ClientHello is the client. */
        st->role_known = 1;
        st->role = incoming ? ATTEX_ROLE_SERVER : ATTEX_ROLE_CLIENT;
        if (when == GNUTLS_HOOK_PRE && msg != NULL)
            record_hello(st, msg);
        return 0;
    }
    /* The handshake is complete for a server once it has the client's Finished, for a
     * client once it sent its own (RFC 8446 s4.4.4; RFC 9261 s7: not before). GnuTLS calls
     * the hook when it has read the message and checks the MAC right after, in the same
     * gnutls_handshake call: if that fails, the call fails and the session is dead (no
     * application runs attex on a session whose handshake failed). */
    if (htype == GNUTLS_HANDSHAKE_FINISHED && when == GNUTLS_HOOK_POST && st->role_known &&
        (incoming ? st->role == ATTEX_ROLE_SERVER : st->role == ATTEX_ROLE_CLIENT))
        st->complete = 1;
    return 0;
}

int attex_gnutls_prepare_session(gnutls_session_t s, attex_error *err)
{
    if (s == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_gnutls_prepare_session needs a gnutls_session_t");
    if (state_of(s) == NULL) {
        int r = gnutls_session_ext_register(s, "attex-state", ATTEX_GNUTLS_STATE_EXTENSION,
                                            GNUTLS_EXT_TLS, state_recv, state_send, state_free,
                                            NULL, NULL, GNUTLS_EXT_FLAG_CLIENT_HELLO);
        if (r < 0)
            return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                              "cannot keep attex's state on the GnuTLS session (extension "
                              "type %u): %s",
                              (unsigned)ATTEX_GNUTLS_STATE_EXTENSION, gnutls_strerror(r));
        gt_state *st = calloc(1, sizeof(*st));
        if (st == NULL)
            return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                              "out of memory");
        gnutls_ext_set_data(s, ATTEX_GNUTLS_STATE_EXTENSION, st);
        if (state_of(s) != st) {
            free(st);
            return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                              "GnuTLS did not keep attex's state on the session");
        }
    }
    gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_BOTH, hook);
    return ATTEX_OK;
}

/* PROTOCOL.md s4: TLS 1.3 only, no tickets (so no resumption). */
#define ATTEX_GNUTLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:%NO_TICKETS"

int attex_gnutls_configure_session_priority(gnutls_session_t s, const char *extra,
                                            attex_error *err)
{
    if (s == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_gnutls_configure_session needs a gnutls_session_t");
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t n = sizeof(ATTEX_GNUTLS_PRIORITY) + 1 + extra_len;
    char *prio = malloc(n);
    if (prio == NULL)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    snprintf(prio, n, "%s%s%s", ATTEX_GNUTLS_PRIORITY, extra_len ? ":" : "",
             extra_len ? extra : "");
    const char *where = NULL;
    int r = gnutls_priority_set_direct(s, prio, &where);
    if (r < 0) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "GnuTLS rejected the priority string \"%s\" at \"%s\": %s", prio,
                   where ? where : "?", gnutls_strerror(r));
        free(prio);
        return ATTEX_ERR_INVALID_ARGUMENT;
    }
    free(prio);
    /* PROTOCOL.md s4: no 0-RTT. Only a server has this limit; a client's call is refused,
     * and a client sends early data only with GNUTLS_ENABLE_EARLY_DATA and a resumed session. */
    (void)gnutls_record_set_max_early_data_size(s, 0);
    return attex_gnutls_prepare_session(s, err);
}

int attex_gnutls_configure_session(gnutls_session_t s, attex_error *err)
{
    return attex_gnutls_configure_session_priority(s, NULL, err);
}

static uint16_t wire_version(gnutls_protocol_t v)
{
    switch (v) {
    case GNUTLS_SSL3: return 0x0300;
    case GNUTLS_TLS1_0: return 0x0301;
    case GNUTLS_TLS1_1: return 0x0302;
    case GNUTLS_TLS1_2: return 0x0303;
    case GNUTLS_TLS1_3: return 0x0304;
    case GNUTLS_DTLS0_9: return 0x0100;
    case GNUTLS_DTLS1_0: return 0xfeff;
    case GNUTLS_DTLS1_2: return 0xfefd;
    default: return 0;
    }
}

static int not_prepared(attex_error *err)
{
    return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                      "the GnuTLS session was not prepared for attex: call "
                      "attex_gnutls_configure_session (or attex_gnutls_prepare_session) "
                      "before its handshake");
}

static int gt_get_info(void *ctx, attex_tls_info *out, attex_error *err)
{
    gnutls_session_t s = ctx;
    gt_state *st = state_of(s);
    memset(out, 0, sizeof(*out));
    if (st == NULL)
        return not_prepared(err);
    out->version = wire_version(gnutls_protocol_get_version(s));
    out->role = st->role;
    out->handshake_complete = st->complete;
    switch (gnutls_prf_hash_get(s)) {
    case GNUTLS_DIG_SHA256: out->hash = ATTEX_HASH_SHA256; break;
    case GNUTLS_DIG_SHA384: out->hash = ATTEX_HASH_SHA384; break;
    default: break; /* no usable hash: the ea layer refuses the connection */
    }
    memcpy(out->hello_schemes, st->schemes, st->num_schemes * sizeof(uint16_t));
    out->num_hello_schemes = st->num_schemes;
    return ATTEX_OK;
}

static int gt_export(void *ctx, const char *label, const uint8_t *context, size_t context_len,
                     uint8_t *out, size_t out_len, attex_error *err)
{
    gnutls_session_t s = ctx;
    gt_state *st = state_of(s);
    if (st == NULL)
        return not_prepared(err);
    /* RFC 9261 s7: no exporter value before the handshake is complete; and this adapter's
     * exporter is RFC 8446 s7.5's, which exists in TLS 1.3 only. */
    if (!st->complete)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the TLS exporter is not available before the handshake completes");
    if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_3)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the TLS exporter of this adapter needs TLS 1.3; the connection "
                          "negotiated version 0x%04x",
                          wire_version(gnutls_protocol_get_version(s)));
    /* RFC 9261 s5.1 asks for an empty context_value; RFC 8446 s7.5 hashes it either way. */
    int r = gnutls_prf_rfc5705(s, strlen(label), label, context_len,
                               (const char *)context, out_len, (char *)out);
    if (r < 0)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the GnuTLS exporter failed: %s", gnutls_strerror(r));
    return ATTEX_OK;
}

void attex_gnutls_tls(gnutls_session_t s, attex_tls *out)
{
    out->ctx = s;
    out->get_info = gt_get_info;
    out->export_keying_material = gt_export;
}

attex_ea_session *attex_ea_session_new_gnutls(gnutls_session_t s, attex_error *err)
{
    if (s == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_ea_session_new_gnutls needs a gnutls_session_t");
        return NULL;
    }
    attex_tls tls;
    attex_gnutls_tls(s, &tls);
    return attex_ea_session_new(&tls, err);
}
