/*
 * attex: Exported Authenticators (RFC 9261), the logic.
 *
 * Message structure lives in ea_msg.c; this file decides what the values
 * must be: which request an authenticator answers, which contexts are still
 * fresh, which extensions and schemes were offered, and whether the
 * CertificateVerify and Finished are right for this connection.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <attex/ea.h>

#include "bytes.h"
#include "crypto.h"
#include "ea_msg.h"
#include "internal.h"

/* RFC 9261 s5.1: exporter labels, chosen by the role of the authenticator's sender. */
static const char *const label_hs_context[2] = {
    "EXPORTER-client authenticator handshake context",
    "EXPORTER-server authenticator handshake context",
};
static const char *const label_finished_key[2] = {
    "EXPORTER-client authenticator finished key",
    "EXPORTER-server authenticator finished key",
};

/* RFC 9261 s5.2.2: the CertificateVerify content prefix. */
static const char cv_context_string[] = "Exported Authenticator";
#define CV_PAD_LEN 64

typedef struct ctx_entry {
    uint8_t bytes[ATTEX_EA_MAX_CONTEXT];
    size_t len;
} ctx_entry;

typedef struct ctx_set {
    ctx_entry *items;
    size_t num, cap;
} ctx_set;

typedef struct issued_request {
    uint8_t *raw;
    size_t raw_len;
    ctx_entry context;
    int answered;
} issued_request;

/* Exporter outputs for one sender role: secret, zeroised when dropped. */
typedef struct ea_keys {
    int ready;
    attex_hash hash;
    uint8_t handshake_context[ATTEX_MAX_HASH];
    uint8_t finished_key[ATTEX_MAX_HASH];
} ea_keys;

struct attex_ea_session {
    attex_tls tls;
    issued_request *issued;
    size_t num_issued, cap_issued;
    ctx_set answered;        /* peer request contexts we built authenticators for */
    ctx_set spontaneous_out; /* contexts of our spontaneous authenticators */
    ctx_set spontaneous_in;  /* contexts of validated spontaneous authenticators */
    ea_keys keys[2];         /* indexed by sender role */
};

struct attex_ea_authenticator {
    uint8_t *raw; /* copy of the authenticator; extension pointers refer into it */
    size_t raw_len;
    ea_auth_msgs msgs;
    X509 **certs;
    size_t num_certs;
    uint8_t context[ATTEX_EA_MAX_CONTEXT];
    size_t context_len;
    uint16_t scheme;
    int spontaneous;
};

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* ---------------------------------------------------------------------- */
/* Context sets                                                           */

/* Once answered, only a request's context matters (for uniqueness): drop its bytes. */
static void mark_answered(issued_request *ir)
{
    ir->answered = 1;
    free(ir->raw);
    ir->raw = NULL;
    ir->raw_len = 0;
}

static int ctx_equal(const ctx_entry *e, const uint8_t *ctx, size_t len)
{
    return e->len == len && memcmp(e->bytes, ctx, len) == 0;
}

static int ctx_set_has(const ctx_set *s, const uint8_t *ctx, size_t len)
{
    for (size_t i = 0; i < s->num; i++)
        if (ctx_equal(&s->items[i], ctx, len))
            return 1;
    return 0;
}

static int ctx_set_add(ctx_set *s, const uint8_t *ctx, size_t len)
{
    if (s->num == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        ctx_entry *p = realloc(s->items, cap * sizeof(*p));
        if (p == NULL)
            return 0;
        s->items = p;
        s->cap = cap;
    }
    memcpy(s->items[s->num].bytes, ctx, len);
    s->items[s->num].len = len;
    s->num++;
    return 1;
}

static void ctx_set_free(ctx_set *s)
{
    free(s->items);
    memset(s, 0, sizeof(*s));
}

static issued_request *find_issued(attex_ea_session *s, const uint8_t *ctx, size_t len)
{
    for (size_t i = 0; i < s->num_issued; i++)
        if (ctx_equal(&s->issued[i].context, ctx, len))
            return &s->issued[i];
    return NULL;
}

/* A context is fresh if no request, answer or spontaneous authenticator used it. */
static int context_in_use(attex_ea_session *s, const uint8_t *ctx, size_t len)
{
    return find_issued(s, ctx, len) != NULL || ctx_set_has(&s->spontaneous_out, ctx, len) ||
           ctx_set_has(&s->spontaneous_in, ctx, len);
}

/* ---------------------------------------------------------------------- */
/* Sessions                                                               */

attex_ea_session *attex_ea_session_new(const attex_tls *tls, attex_error *err)
{
    if (tls == NULL || tls->get_info == NULL || tls->export_keying_material == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_ea_session_new needs a TLS interface with get_info and "
                   "export_keying_material");
        return NULL;
    }
    attex_ea_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        NOMEM(err);
        return NULL;
    }
    s->tls = *tls;
    return s;
}

void attex_ea_session_free(attex_ea_session *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->num_issued; i++)
        free(s->issued[i].raw);
    free(s->issued);
    ctx_set_free(&s->answered);
    ctx_set_free(&s->spontaneous_out);
    ctx_set_free(&s->spontaneous_in);
    crypto_zeroise(s->keys, sizeof(s->keys));
    free(s);
}

const attex_tls *attex_ea_session_tls(const attex_ea_session *s) { return &s->tls; }

/* RFC 9261 s7: the APIs fail before the handshake completes and on TLS < 1.3. */
static int session_ready(attex_ea_session *s, attex_tls_info *info, attex_error *err)
{
    memset(info, 0, sizeof(*info));
    int ret = s->tls.get_info(s->tls.ctx, info, err);
    if (ret != ATTEX_OK)
        return ret;
    if (info->version != 0x0304)
        /* Profile (PROTOCOL.md s1): TLS 1.2 is out of scope, even with extended master secret. */
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "exported authenticators need TLS 1.3; this connection negotiated "
                          "version 0x%04x",
                          info->version);
    if (!info->handshake_complete)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the TLS handshake is not complete; exported authenticators can only "
                          "be made or checked after it");
    if (attex_hash_len(info->hash) == 0)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the cipher suite's hash is not SHA-256 or SHA-384");
    return ATTEX_OK;
}

/* RFC 9261 s5.1: handshake context and finished key, empty exporter context, Hash.length. */
static int session_keys(attex_ea_session *s, const attex_tls_info *info, attex_role sender,
                        const ea_keys **out, attex_error *err)
{
    ea_keys *k = &s->keys[sender == ATTEX_ROLE_SERVER];
    size_t n = attex_hash_len(info->hash);
    if (!k->ready || k->hash != info->hash) {
        static const uint8_t empty[1] = {0};
        int ret = s->tls.export_keying_material(s->tls.ctx, label_hs_context[sender], empty, 0,
                                                k->handshake_context, n, err);
        if (ret == ATTEX_OK)
            ret = s->tls.export_keying_material(s->tls.ctx, label_finished_key[sender], empty, 0,
                                                k->finished_key, n, err);
        if (ret != ATTEX_OK) {
            crypto_zeroise(k, sizeof(*k));
            return ret;
        }
        k->ready = 1;
        k->hash = info->hash;
    }
    *out = k;
    return ATTEX_OK;
}

/*
 * RFC 8446 s4.2: an extension an implementation recognises in a message it
 * is not specified for MUST be rejected with illegal_parameter. These are the
 * TLS 1.3 extensions (IANA "TLS 1.3" column) that may not appear in a
 * Certificate ("CT": only status_request and signed_certificate_timestamp
 * may). A request always carries signature_algorithms, so "offered by the
 * request" alone would let it into the Certificate. Unknown and private-use
 * types (cmw_attestation among them) are judged by the offer alone.
 */
static int forbidden_in_certificate(uint16_t type)
{
    static const uint16_t forbidden[] = {
        0,  /* server_name */
        1,  /* max_fragment_length */
        10, /* supported_groups */
        13, /* signature_algorithms */
        14, /* use_srtp */
        15, /* heartbeat */
        16, /* application_layer_protocol_negotiation */
        19, /* client_certificate_type */
        20, /* server_certificate_type */
        21, /* padding */
        27, /* compress_certificate */
        41, /* pre_shared_key */
        42, /* early_data */
        43, /* supported_versions */
        44, /* cookie */
        45, /* psk_key_exchange_modes */
        47, /* certificate_authorities */
        48, /* oid_filters */
        49, /* post_handshake_auth */
        50, /* signature_algorithms_cert */
        51, /* key_share */
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(forbidden); i++)
        if (forbidden[i] == type)
            return 1;
    return 0;
}

static int scheme_listed(const uint16_t *list, size_t n, uint16_t scheme)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == scheme)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Requests                                                               */

int attex_ea_request_create(attex_ea_session *s, const attex_ea_request_params *params,
                            attex_buf *out, attex_error *err)
{
    static const attex_ea_request_params defaults;
    if (s == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ea_request_create needs a session and an output buffer");
    if (params == NULL)
        params = &defaults;

    attex_tls_info info;
    int ret = session_ready(s, &info, err);
    if (ret != ATTEX_OK)
        return ret;

    uint8_t context[ATTEX_EA_MAX_CONTEXT];
    size_t context_len;
    if (params->context != NULL) {
        /* Profile (PROTOCOL.md s1): 1..255 bytes. */
        if (params->context_len == 0 || params->context_len > ATTEX_EA_MAX_CONTEXT)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "a certificate_request_context must be 1 to 255 bytes, not %zu",
                              params->context_len);
        memcpy(context, params->context, params->context_len);
        context_len = params->context_len;
    } else {
        context_len = ATTEX_EA_DEFAULT_CONTEXT_LEN;
        if ((ret = crypto_random(context, context_len, err)) != ATTEX_OK)
            return ret;
    }
    /* RFC 9261 s4: the context MUST be unique for each request on a connection. */
    if (context_in_use(s, context, context_len))
        return attex_fail(err, ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_NONE,
                          "this certificate_request_context was already used on this "
                          "connection; each request needs a fresh one");

    const uint16_t *schemes = params->schemes;
    size_t num_schemes = params->num_schemes;
    if (schemes == NULL)
        schemes = attex_supported_schemes(&num_schemes);
    if (num_schemes == 0 || num_schemes > 32767)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "offer between 1 and 32767 signature schemes, not %zu", num_schemes);
    for (size_t i = 0; i < params->num_extensions; i++) {
        uint16_t t = params->extensions[i].type;
        if (t == ATTEX_EXT_SIGNATURE_ALGORITHMS)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "signature_algorithms is built from params->schemes; do not pass "
                              "it as an extra extension");
        for (size_t j = 0; j < i; j++)
            if (params->extensions[j].type == t)
                return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                  "extension 0x%04x is listed twice", t);
    }

    /* RFC 9261 s4: the server asks with CertificateRequest, the client with ClientCertificateRequest. */
    uint8_t type = info.role == ATTEX_ROLE_SERVER ? ATTEX_HS_CERTIFICATE_REQUEST
                                                  : ATTEX_HS_CLIENT_CERTIFICATE_REQUEST;
    attex_writer w;
    wr_init(&w, ATTEX_EA_MAX_MESSAGE);
    ea_encode_request(&w, type, context, context_len, schemes, num_schemes, params->extensions,
                      params->num_extensions);
    attex_buf bytes = ATTEX_BUF_INIT;
    if (!wr_finish(&w, &bytes))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the request does not fit its length fields (an extension is larger "
                          "than 65535 bytes?) or memory ran out");

    if (s->num_issued == s->cap_issued) {
        size_t cap = s->cap_issued ? s->cap_issued * 2 : 4;
        issued_request *p = realloc(s->issued, cap * sizeof(*p));
        if (p == NULL) {
            attex_buf_free(&bytes);
            return NOMEM(err);
        }
        s->issued = p;
        s->cap_issued = cap;
    }
    issued_request *ir = &s->issued[s->num_issued];
    ir->raw = malloc(bytes.len);
    if (ir->raw == NULL) {
        attex_buf_free(&bytes);
        return NOMEM(err);
    }
    memcpy(ir->raw, bytes.data, bytes.len);
    ir->raw_len = bytes.len;
    memcpy(ir->context.bytes, context, context_len);
    ir->context.len = context_len;
    ir->answered = 0;
    s->num_issued++;
    *out = bytes;
    return ATTEX_OK;
}

int attex_ea_request_parse(const uint8_t *in, size_t in_len, attex_ea_request **out,
                           attex_error *err)
{
    if (out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ea_request_parse needs an output pointer");
    return ea_decode_request(in, in_len, out, err);
}

uint8_t attex_ea_request_type(const attex_ea_request *r) { return r->type; }

const uint8_t *attex_ea_request_context(const attex_ea_request *r, size_t *out_len)
{
    *out_len = r->context_len;
    return r->context;
}

const uint16_t *attex_ea_request_schemes(const attex_ea_request *r, size_t *out_num)
{
    *out_num = r->num_schemes;
    return r->schemes;
}

size_t attex_ea_request_num_extensions(const attex_ea_request *r) { return r->exts.num; }

attex_extension attex_ea_request_extension(const attex_ea_request *r, size_t i)
{
    attex_extension none = {0, NULL, 0};
    return i < r->exts.num ? r->exts.items[i] : none;
}

int attex_ea_request_find_extension(const attex_ea_request *r, uint16_t type,
                                    attex_extension *out)
{
    return ea_extensions_find(&r->exts, type, out);
}

const uint8_t *attex_ea_request_bytes(const attex_ea_request *r, size_t *out_len)
{
    *out_len = r->raw_len;
    return r->raw;
}

/*
 * RFC 9261 s6: the empty authenticator's Finished is the HMAC over the
 * transcript so far plus a Certificate with the context and no entries.
 */
static int empty_finished(attex_transcript *th, const ea_keys *keys, attex_hash hash,
                          const uint8_t *context, size_t context_len, uint8_t *out,
                          attex_error *err)
{
    attex_writer cw;
    attex_buf cert_msg = ATTEX_BUF_INIT;
    uint8_t digest[ATTEX_MAX_HASH];
    size_t hlen = attex_hash_len(hash);
    wr_init(&cw, ATTEX_EA_MAX_MESSAGE);
    ea_encode_certificate(&cw, context, context_len, NULL, 0, NULL, 0);
    if (!wr_finish(&cw, &cert_msg))
        return NOMEM(err);
    int ret = transcript_update(th, cert_msg.data, cert_msg.len, err);
    attex_buf_free(&cert_msg);
    if (ret == ATTEX_OK)
        ret = transcript_peek(th, digest, err);
    if (ret == ATTEX_OK)
        ret = crypto_hmac(hash, keys->finished_key, hlen, digest, hlen, out, err);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Creating authenticators                                                */

/* The CertificateVerify content (RFC 9261 s5.2.2) over transcript hash th. */
static size_t cv_content(uint8_t *out, const uint8_t *th, size_t th_len)
{
    memset(out, 0x20, CV_PAD_LEN);
    memcpy(out + CV_PAD_LEN, cv_context_string, sizeof(cv_context_string)); /* with the 0 */
    memcpy(out + CV_PAD_LEN + sizeof(cv_context_string), th, th_len);
    return CV_PAD_LEN + sizeof(cv_context_string) + th_len;
}

#define CV_CONTENT_MAX (CV_PAD_LEN + sizeof(cv_context_string) + ATTEX_MAX_HASH)

static int der_of(X509 *cert, attex_buf *out, attex_error *err)
{
    int n = i2d_X509(cert, NULL);
    if (n <= 0)
        return attex_fail_crypto(err, "encoding a certificate");
    out->data = malloc((size_t)n);
    if (out->data == NULL)
        return NOMEM(err);
    uint8_t *p = out->data;
    if (i2d_X509(cert, &p) != n) {
        attex_buf_free(out);
        return attex_fail_crypto(err, "encoding a certificate");
    }
    out->len = (size_t)n;
    return ATTEX_OK;
}

int attex_ea_authenticator_create(attex_ea_session *s, const uint8_t *request,
                                  size_t request_len, const attex_ea_identity *id,
                                  attex_buf *out, attex_error *err)
{
    if (s == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ea_authenticator_create needs a session and an output buffer");
    attex_tls_info info;
    int ret = session_ready(s, &info, err);
    if (ret != ATTEX_OK)
        return ret;

    attex_ea_request *req = NULL;
    attex_buf *ders = NULL;
    size_t num_ders = 0;
    attex_buf sig = ATTEX_BUF_INIT;
    attex_transcript th = {NULL, ATTEX_HASH_SHA256};
    attex_writer w;
    wr_init(&w, ATTEX_EA_MAX_MESSAGE);
    uint8_t context[ATTEX_EA_MAX_CONTEXT];
    size_t context_len = 0;
    const uint16_t *offered;
    size_t num_offered;
    int empty = (id == NULL || id->cert == NULL);
    size_t hlen = attex_hash_len(info.hash);

    if (request != NULL) {
        if ((ret = ea_decode_request(request, request_len, &req, err)) != ATTEX_OK)
            goto out;
        /* RFC 9261 s4: a server answers ClientCertificateRequest, a client CertificateRequest. */
        uint8_t want = info.role == ATTEX_ROLE_SERVER ? ATTEX_HS_CLIENT_CERTIFICATE_REQUEST
                                                      : ATTEX_HS_CERTIFICATE_REQUEST;
        if (req->type != want) {
            ret = attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                             "a %s must be asked with handshake type %u, but the request has "
                             "type %u",
                             info.role == ATTEX_ROLE_SERVER ? "server" : "client", want,
                             req->type);
            goto out;
        }
        /* RFC 9261 s5.2: never answer the same context twice. */
        if (ctx_set_has(&s->answered, req->context, req->context_len)) {
            ret = attex_fail(err, ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_ILLEGAL_PARAMETER,
                             "an authenticator for this certificate_request_context was already "
                             "made on this connection");
            goto out;
        }
        memcpy(context, req->context, req->context_len);
        context_len = req->context_len;
        offered = req->schemes;
        num_offered = req->num_schemes;
    } else {
        /* RFC 9261 s5: only servers may authenticate without a request. */
        if (info.role != ATTEX_ROLE_SERVER) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "a client must not send an authenticator without a request");
            goto out;
        }
        if (empty) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "an empty authenticator answers a request; there is none");
            goto out;
        }
        if (id->context != NULL) {
            if (id->context_len == 0 || id->context_len > ATTEX_EA_MAX_CONTEXT) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "a certificate_request_context must be 1 to 255 bytes, not %zu",
                                 id->context_len);
                goto out;
            }
            memcpy(context, id->context, id->context_len);
            context_len = id->context_len;
        } else {
            context_len = ATTEX_EA_DEFAULT_CONTEXT_LEN;
            if ((ret = crypto_random(context, context_len, err)) != ATTEX_OK)
                goto out;
        }
        /* RFC 9261 s5.2.1: unique within the connection. */
        if (context_in_use(s, context, context_len)) {
            ret = attex_fail(err, ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_NONE,
                             "this certificate_request_context was already used on this "
                             "connection");
            goto out;
        }
        offered = info.hello_schemes;
        num_offered = info.num_hello_schemes;
    }

    const ea_keys *keys;
    if ((ret = session_keys(s, &info, info.role, &keys, err)) != ATTEX_OK)
        goto out;
    if ((ret = transcript_init(&th, info.hash, err)) != ATTEX_OK ||
        (ret = transcript_update(&th, keys->handshake_context, hlen, err)) != ATTEX_OK ||
        (ret = transcript_update(&th, request, request ? request_len : 0, err)) != ATTEX_OK)
        goto out;

    uint8_t digest[ATTEX_MAX_HASH];
    uint8_t verify_data[ATTEX_MAX_HASH];
    if (empty) {
        /* RFC 9261 s6: no Certificate or CertificateVerify is sent. */
        if ((ret = empty_finished(&th, keys, info.hash, context, context_len, verify_data,
                                  err)) != ATTEX_OK)
            goto out;
        ea_encode_finished(&w, verify_data, hlen);
        crypto_zeroise(verify_data, sizeof(verify_data));
    } else {
        if (id->key == NULL) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "the identity has a certificate but no private key");
            goto out;
        }
        if (X509_check_private_key(id->cert, id->key) != 1) {
            ERR_clear_error();
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "the private key does not belong to the certificate");
            goto out;
        }
        /* RFC 9261 s5.2.1: only extensions that the request (or ClientHello) carried. */
        for (size_t i = 0; i < id->num_extensions; i++) {
            uint16_t t = id->extensions[i].type;
            if (forbidden_in_certificate(t)) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "extension 0x%04x is not allowed in a Certificate message "
                                 "(RFC 8446 s4.2)",
                                 t);
                goto out;
            }
            if (req == NULL || !ea_extensions_find(&req->exts, t, NULL)) {
                ret = attex_fail(err, ATTEX_ERR_UNSUPPORTED_EXTENSION, ATTEX_ALERT_NONE,
                                 "extension 0x%04x was not offered by the %s, so the "
                                 "Certificate cannot carry it",
                                 t, req ? "request" : "ClientHello");
                goto out;
            }
            for (size_t j = 0; j < i; j++)
                if (id->extensions[j].type == t) {
                    ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                     "extension 0x%04x is listed twice", t);
                    goto out;
                }
        }
        /* RFC 9261 s5.2.2: a TLS 1.3 scheme the request (or ClientHello) offered. */
        uint16_t scheme = 0;
        for (size_t i = 0; i < num_offered && scheme == 0; i++)
            if (crypto_key_can_use(id->key, offered[i]))
                scheme = offered[i];
        if (scheme == 0) {
            ret = attex_fail(err, ATTEX_ERR_NO_COMMON_SCHEME, ATTEX_ALERT_NONE,
                             "none of the %zu signature schemes the peer offered can be used "
                             "with this key",
                             num_offered);
            goto out;
        }
        num_ders = 1 + id->num_chain;
        ders = calloc(num_ders, sizeof(*ders));
        if (ders == NULL) {
            ret = NOMEM(err);
            goto out;
        }
        for (size_t i = 0; i < num_ders; i++) {
            X509 *c = i == 0 ? id->cert : id->chain[i - 1];
            if (c == NULL) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "chain certificate %zu is NULL", i);
                goto out;
            }
            if ((ret = der_of(c, &ders[i], err)) != ATTEX_OK)
                goto out;
        }
        ea_encode_certificate(&w, context, context_len, ders, num_ders, id->extensions,
                              id->num_extensions);
        if (!wr_ok(&w)) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "the Certificate message does not fit its length fields (an "
                             "extension over 65535 bytes, or over %u bytes in all)",
                             ATTEX_EA_MAX_MESSAGE);
            goto out;
        }
        size_t cert_len = w.len;
        uint8_t content[CV_CONTENT_MAX];
        if ((ret = transcript_update(&th, w.data, cert_len, err)) != ATTEX_OK ||
            (ret = transcript_peek(&th, digest, err)) != ATTEX_OK)
            goto out;
        size_t content_len = cv_content(content, digest, hlen);
        if ((ret = crypto_sign(scheme, id->key, content, content_len, &sig, err)) != ATTEX_OK)
            goto out;
        ea_encode_certificate_verify(&w, scheme, sig.data, sig.len);
        if (!wr_ok(&w)) {
            ret = NOMEM(err);
            goto out;
        }
        if ((ret = transcript_update(&th, w.data + cert_len, w.len - cert_len, err)) !=
                ATTEX_OK ||
            (ret = transcript_peek(&th, digest, err)) != ATTEX_OK ||
            (ret = crypto_hmac(info.hash, keys->finished_key, hlen, digest, hlen, verify_data,
                               err)) != ATTEX_OK)
            goto out;
        ea_encode_finished(&w, verify_data, hlen);
        crypto_zeroise(verify_data, sizeof(verify_data));
    }

    if (!wr_finish(&w, out)) {
        ret = NOMEM(err);
        goto out;
    }
    if (!ctx_set_add(req ? &s->answered : &s->spontaneous_out, context, context_len)) {
        attex_buf_free(out);
        ret = NOMEM(err);
        goto out;
    }
    ret = ATTEX_OK;
out:
    wr_cleanup(&w);
    transcript_cleanup(&th);
    attex_buf_free(&sig);
    for (size_t i = 0; i < num_ders; i++)
        attex_buf_free(&ders[i]);
    free(ders);
    attex_ea_request_free(req);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Validating authenticators                                              */

void attex_ea_authenticator_free(attex_ea_authenticator *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->num_certs; i++)
        X509_free(a->certs[i]);
    free(a->certs);
    ea_auth_msgs_free(&a->msgs);
    free(a->raw);
    free(a);
}

static uint8_t path_alert(int x509_error)
{
    switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return ATTEX_ALERT_CERTIFICATE_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return ATTEX_ALERT_UNKNOWN_CA;
    default:
        return ATTEX_ALERT_BAD_CERTIFICATE;
    }
}

static int validate_path(attex_ea_authenticator *a, const attex_ea_validate_opts *opts,
                         attex_error *err)
{
    X509_STORE_CTX *sctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int ret = ATTEX_OK;
    if (sctx == NULL || untrusted == NULL) {
        ret = NOMEM(err);
        goto out;
    }
    for (size_t i = 1; i < a->num_certs; i++)
        if (!sk_X509_push(untrusted, a->certs[i])) {
            ret = NOMEM(err);
            goto out;
        }
    if (X509_STORE_CTX_init(sctx, opts->trust_store, a->certs[0], untrusted) != 1) {
        ret = attex_fail_crypto(err, "starting certificate path validation");
        goto out;
    }
    if (opts->verify_time != 0)
        X509_STORE_CTX_set_time(sctx, 0, opts->verify_time);
    if (opts->no_time_check)
        X509_STORE_CTX_set_flags(sctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(sctx) != 1) {
        int e = X509_STORE_CTX_get_error(sctx);
        ERR_clear_error();
        ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, path_alert(e),
                         "the authenticator's certificate chain does not validate: %s (at "
                         "depth %d)",
                         X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(sctx));
    }
out:
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(sctx);
    return ret;
}

/* RFC 9261 s5.2.1: X.509 certificates only; each must be one complete DER structure. */
static int parse_certs(attex_ea_authenticator *a, attex_error *err)
{
    const ea_auth_msgs *m = &a->msgs;
    if (m->num_entries == 0)
        return ATTEX_OK;
    a->certs = calloc(m->num_entries, sizeof(X509 *));
    if (a->certs == NULL)
        return NOMEM(err);
    for (size_t i = 0; i < m->num_entries; i++) {
        const unsigned char *p = rd_ptr(&m->entries[i].cert_der);
        long n = (long)rd_len(&m->entries[i].cert_der);
        X509 *c = d2i_X509(NULL, &p, n);
        if (c == NULL || p != rd_ptr(&m->entries[i].cert_der) + n) {
            X509_free(c);
            ERR_clear_error();
            return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_BAD_CERTIFICATE,
                              "certificate %zu is not a valid DER X.509 certificate", i);
        }
        a->certs[a->num_certs++] = c;
    }
    return ATTEX_OK;
}

int attex_ea_authenticator_validate(attex_ea_session *s, const uint8_t *request,
                                    size_t request_len, const uint8_t *in, size_t in_len,
                                    const attex_ea_validate_opts *opts,
                                    attex_ea_authenticator **out, attex_error *err)
{
    static const attex_ea_validate_opts default_opts;
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ea_authenticator_validate needs a session and an output pointer");
    if (opts == NULL)
        opts = &default_opts;
    attex_tls_info info;
    int ret = session_ready(s, &info, err);
    if (ret != ATTEX_OK)
        return ret;
    size_t hlen = attex_hash_len(info.hash);
    attex_role sender = info.role == ATTEX_ROLE_SERVER ? ATTEX_ROLE_CLIENT : ATTEX_ROLE_SERVER;

    issued_request *ir = NULL;
    attex_ea_request *req = NULL;
    attex_ea_authenticator *a = NULL;
    attex_transcript th = {NULL, ATTEX_HASH_SHA256};
    uint8_t digest[ATTEX_MAX_HASH];
    uint8_t expected[ATTEX_MAX_HASH];

    if (request != NULL) {
        if ((ret = ea_decode_request(request, request_len, &req, err)) != ATTEX_OK)
            goto out;
        ir = find_issued(s, req->context, req->context_len);
        /* RFC 9261 s7.4: fail if the context was used by a previously validated authenticator. */
        if (ir != NULL && ir->answered) {
            ret = attex_fail(err, ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_ILLEGAL_PARAMETER,
                             "this request was already answered on this connection (replayed "
                             "authenticator?)");
            goto out;
        }
        if (ir == NULL || ir->raw_len != request_len || memcmp(ir->raw, request, request_len)) {
            ret = attex_fail(err, ATTEX_ERR_UNKNOWN_CONTEXT, ATTEX_ALERT_NONE,
                             "the request given was not issued on this connection");
            goto out;
        }
    } else if (info.role != ATTEX_ROLE_CLIENT) {
        /* RFC 9261 s5: clients MUST NOT send an authenticator without a request. */
        ret = attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                         "the client sent an authenticator that answers no request");
        goto out;
    }

    a = calloc(1, sizeof(*a));
    if (a == NULL || in == NULL || (a->raw = malloc(in_len ? in_len : 1)) == NULL) {
        ret = in == NULL ? attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR,
                                      "the authenticator is empty")
                         : NOMEM(err);
        goto out;
    }
    if (in_len)
        memcpy(a->raw, in, in_len);
    a->raw_len = in_len;
    if ((ret = ea_decode_authenticator(a->raw, a->raw_len, hlen, &a->msgs, err)) != ATTEX_OK)
        goto out;
    ea_auth_msgs *m = &a->msgs;

    const ea_keys *keys;
    if ((ret = session_keys(s, &info, sender, &keys, err)) != ATTEX_OK)
        goto out;
    if ((ret = transcript_init(&th, info.hash, err)) != ATTEX_OK ||
        (ret = transcript_update(&th, keys->handshake_context, hlen, err)) != ATTEX_OK ||
        (ret = transcript_update(&th, request, request ? request_len : 0, err)) != ATTEX_OK)
        goto out;

    if (m->empty) {
        if (req == NULL) {
            ret = attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                             "an empty authenticator must answer a request");
            goto out;
        }
        if ((ret = empty_finished(&th, keys, info.hash, req->context, req->context_len,
                                  expected, err)) != ATTEX_OK)
            goto out;
#ifndef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
        if (!crypto_equal(expected, rd_ptr(&m->finished), hlen)) {
            ret = attex_fail(err, ATTEX_ERR_BAD_FINISHED, ATTEX_ALERT_DECRYPT_ERROR,
                             "the empty authenticator's Finished does not match this "
                             "connection and request");
            goto out;
        }
#endif
        mark_answered(ir);
        ret = attex_fail(err, ATTEX_ERR_REFUSED, ATTEX_ALERT_NONE,
                         "the peer refused to authenticate (valid empty authenticator)");
        goto out;
    }

    /* RFC 9261 s5.2.1: the Certificate echoes the request's context. */
    a->context_len = rd_len(&m->context);
    if (a->context_len > 0 && !rd_copy(&m->context, a->context, a->context_len)) {
        ret = attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR, "internal: context");
        goto out;
    }
    if (req != NULL) {
        if (!ctx_equal(&ir->context, a->context, a->context_len)) {
            ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                             "the authenticator's certificate_request_context is not the "
                             "request's");
            goto out;
        }
    } else {
        a->spontaneous = 1;
        if (a->context_len == 0) {
            ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                             "a spontaneous authenticator needs a non-empty, unpredictable "
                             "certificate_request_context");
            goto out;
        }
        /* RFC 9261 s5.2.1: unique within the scope of the connection. */
        if (context_in_use(s, a->context, a->context_len)) {
            ret = attex_fail(err, ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_ILLEGAL_PARAMETER,
                             "the spontaneous authenticator reuses a certificate_request_context "
                             "already seen on this connection");
            goto out;
        }
    }

    /* RFC 9261 s5.2.1: the Certificate MUST contain only extensions the request carried
     * (spontaneous: the ClientHello). RFC 8446 s4.2: otherwise unsupported_extension. */
    for (size_t i = 0; i < m->num_entries; i++) {
        for (size_t j = 0; j < m->entries[i].exts.num; j++) {
            uint16_t t = m->entries[i].exts.items[j].type;
            if (forbidden_in_certificate(t)) {
                ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                                 "CertificateEntry %zu carries extension 0x%04x, which TLS 1.3 "
                                 "does not allow in a Certificate",
                                 i, t);
                goto out;
            }
            int offered_ext = req ? ea_extensions_find(&req->exts, t, NULL)
                                  : scheme_listed(opts->spontaneous_extensions,
                                                  opts->num_spontaneous_extensions, t);
            if (!offered_ext) {
                ret = attex_fail(err, ATTEX_ERR_UNSUPPORTED_EXTENSION,
                                 ATTEX_ALERT_UNSUPPORTED_EXTENSION,
                                 "CertificateEntry %zu carries extension 0x%04x, which the %s "
                                 "did not offer",
                                 i, t, req ? "request" : "ClientHello");
                goto out;
            }
        }
    }

    /* RFC 9261 s5.2.2: a valid TLS 1.3 scheme, one the request (or ClientHello) offered. */
    const attex_scheme_info *si = crypto_scheme(m->scheme);
    const uint16_t *offered = req ? req->schemes : info.hello_schemes;
    size_t num_offered = req ? req->num_schemes : info.num_hello_schemes;
    if (si == NULL) {
        ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                         "signature scheme 0x%04x is not a TLS 1.3 scheme attex accepts",
                         m->scheme);
        goto out;
    }
    if (!scheme_listed(offered, num_offered, m->scheme)) {
        ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                         "signature scheme %s was not offered by the %s", si->name,
                         req ? "request" : "ClientHello");
        goto out;
    }

    if ((ret = parse_certs(a, err)) != ATTEX_OK)
        goto out;
    EVP_PKEY *leaf_key = X509_get0_pubkey(a->certs[0]);
    if (leaf_key == NULL) {
        ERR_clear_error();
        ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_UNSUPPORTED_CERTIFICATE,
                         "the end-entity certificate's public key cannot be decoded");
        goto out;
    }
    /* Whether the scheme fits the key (curve, RSA size) is crypto_verify's first check. */

    /* RFC 9261 s5.2.3: Finished = HMAC(finished key, H(hc || request || Certificate || CV)).
     * Checked before the signature: it is cheaper and proves the sender has this connection. */
    uint8_t cv_digest[ATTEX_MAX_HASH];
    if ((ret = transcript_update(&th, rd_ptr(&m->certificate), rd_len(&m->certificate), err)) !=
            ATTEX_OK ||
        (ret = transcript_peek(&th, cv_digest, err)) != ATTEX_OK ||
        (ret = transcript_update(&th, rd_ptr(&m->certificate_verify),
                                 rd_len(&m->certificate_verify), err)) != ATTEX_OK ||
        (ret = transcript_peek(&th, digest, err)) != ATTEX_OK ||
        (ret = crypto_hmac(info.hash, keys->finished_key, hlen, digest, hlen, expected, err)) !=
            ATTEX_OK)
        goto out;
#ifndef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    /* RFC 9261 s5.2.4: constant-time comparison. */
    if (!crypto_equal(expected, rd_ptr(&m->finished), hlen)) {
        ret = attex_fail(err, ATTEX_ERR_BAD_FINISHED, ATTEX_ALERT_DECRYPT_ERROR,
                         "the authenticator's Finished does not match: it was made on another "
                         "connection, for another request, or altered");
        goto out;
    }
    /* RFC 9261 s5.2.2: signature over 0x20*64 || "Exported Authenticator" || 0 || H(...). */
    uint8_t content[CV_CONTENT_MAX];
    size_t content_len = cv_content(content, cv_digest, hlen);
    if ((ret = crypto_verify(m->scheme, leaf_key, content, content_len, rd_ptr(&m->signature),
                             rd_len(&m->signature), err)) != ATTEX_OK)
        goto out;
#endif

    if (opts->trust_store != NULL && (ret = validate_path(a, opts, err)) != ATTEX_OK)
        goto out;

    a->scheme = m->scheme;
    if (req != NULL) {
        mark_answered(ir);
    } else if (!ctx_set_add(&s->spontaneous_in, a->context, a->context_len)) {
        ret = NOMEM(err);
        goto out;
    }
    *out = a;
    a = NULL;
    ret = ATTEX_OK;
out:
    crypto_zeroise(expected, sizeof(expected));
    transcript_cleanup(&th);
    attex_ea_authenticator_free(a);
    attex_ea_request_free(req);
    return ret;
}

const uint8_t *attex_ea_authenticator_context(const attex_ea_authenticator *a, size_t *out_len)
{
    *out_len = a->context_len;
    return a->context;
}

uint16_t attex_ea_authenticator_scheme(const attex_ea_authenticator *a) { return a->scheme; }

int attex_ea_authenticator_is_spontaneous(const attex_ea_authenticator *a)
{
    return a->spontaneous;
}

size_t attex_ea_authenticator_num_certs(const attex_ea_authenticator *a) { return a->num_certs; }

X509 *attex_ea_authenticator_cert(const attex_ea_authenticator *a, size_t i)
{
    return i < a->num_certs ? a->certs[i] : NULL;
}

const uint8_t *attex_ea_authenticator_cert_der(const attex_ea_authenticator *a, size_t i,
                                               size_t *out_len)
{
    if (i >= a->msgs.num_entries) {
        *out_len = 0;
        return NULL;
    }
    *out_len = rd_len(&a->msgs.entries[i].cert_der);
    return rd_ptr(&a->msgs.entries[i].cert_der);
}

size_t attex_ea_authenticator_num_extensions(const attex_ea_authenticator *a)
{
    return a->msgs.num_entries ? a->msgs.entries[0].exts.num : 0;
}

attex_extension attex_ea_authenticator_extension(const attex_ea_authenticator *a, size_t i)
{
    attex_extension none = {0, NULL, 0};
    if (a->msgs.num_entries == 0 || i >= a->msgs.entries[0].exts.num)
        return none;
    return a->msgs.entries[0].exts.items[i];
}

int attex_ea_authenticator_find_extension(const attex_ea_authenticator *a, uint16_t type,
                                          attex_extension *out)
{
    return a->msgs.num_entries && ea_extensions_find(&a->msgs.entries[0].exts, type, out);
}

size_t attex_ea_authenticator_num_entry_extensions(const attex_ea_authenticator *a, size_t entry)
{
    return entry < a->msgs.num_entries ? a->msgs.entries[entry].exts.num : 0;
}

attex_extension attex_ea_authenticator_entry_extension(const attex_ea_authenticator *a,
                                                       size_t entry, size_t i)
{
    attex_extension none = {0, NULL, 0};
    if (entry >= a->msgs.num_entries || i >= a->msgs.entries[entry].exts.num)
        return none;
    return a->msgs.entries[entry].exts.items[i];
}

int attex_ea_authenticator_parse(const uint8_t *in, size_t in_len, size_t hash_len,
                                 attex_ea_authenticator **out, attex_error *err)
{
    if (out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ea_authenticator_parse needs an output pointer");
    *out = NULL;
    if (hash_len != 0 && hash_len != 32 && hash_len != 48)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the hash length is 32 (SHA-256), 48 (SHA-384) or 0 for either");
    if (in == NULL || in_len == 0)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR,
                          "the authenticator is empty");
    attex_ea_authenticator *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->raw = malloc(in_len)) == NULL) {
        free(a);
        return NOMEM(err);
    }
    memcpy(a->raw, in, in_len);
    a->raw_len = in_len;
    /* The same decoder validation uses; the suite's hash length decides the Finished size. */
    attex_error first;
    int ret = ea_decode_authenticator(a->raw, a->raw_len, hash_len ? hash_len : 32, &a->msgs,
                                      hash_len ? err : &first);
    if (ret != ATTEX_OK && hash_len == 0) {
        ret = ea_decode_authenticator(a->raw, a->raw_len, 48, &a->msgs, NULL);
        if (ret != ATTEX_OK && err != NULL)
            *err = first;
        if (ret != ATTEX_OK)
            ret = first.code;
    }
    if (ret == ATTEX_OK) {
        a->context_len = rd_len(&a->msgs.context);
        if (a->context_len > 0)
            memcpy(a->context, rd_ptr(&a->msgs.context), a->context_len);
        a->scheme = a->msgs.scheme;
        ret = parse_certs(a, err);
    }
    if (ret != ATTEX_OK) {
        attex_ea_authenticator_free(a);
        return ret;
    }
    *out = a;
    return ATTEX_OK;
}

int attex_ea_authenticator_is_empty(const attex_ea_authenticator *a) { return a->msgs.empty; }

const uint8_t *attex_ea_authenticator_signature(const attex_ea_authenticator *a, size_t *out_len)
{
    *out_len = rd_len(&a->msgs.signature);
    return *out_len ? rd_ptr(&a->msgs.signature) : NULL;
}

const uint8_t *attex_ea_authenticator_finished(const attex_ea_authenticator *a, size_t *out_len)
{
    *out_len = rd_len(&a->msgs.finished);
    return rd_ptr(&a->msgs.finished);
}

/* RFC 9261 s7.2: the "get context" API. */
int attex_ea_get_context(const uint8_t *in, size_t in_len, uint8_t out[ATTEX_EA_MAX_CONTEXT],
                         size_t *out_len, attex_error *err)
{
    if (out == NULL || out_len == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ea_get_context needs output space");
    attex_reader r;
    uint8_t type;
    rd_init(&r, in, in_len);
    if (!rd_peek_u8(&r, &type))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR, "the input is empty");
    int ret;
    if (type == ATTEX_HS_CERTIFICATE_REQUEST || type == ATTEX_HS_CLIENT_CERTIFICATE_REQUEST) {
        attex_ea_request *req;
        if ((ret = ea_decode_request(in, in_len, &req, err)) != ATTEX_OK)
            return ret;
        memcpy(out, req->context, req->context_len);
        *out_len = req->context_len;
        attex_ea_request_free(req);
        return ATTEX_OK;
    }
    if (type == ATTEX_HS_FINISHED)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "an empty authenticator carries no context; take it from the request");
    /* The hash length is unknown here, so decode the Certificate alone. */
    ea_auth_msgs m;
    attex_reader body;
    memset(&m, 0, sizeof(m));
    if (type != ATTEX_HS_CERTIFICATE || !rd_u8(&r, &type) || !rd_prefixed24(&r, &body))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR,
                          "the input is neither an authenticator request nor an authenticator");
    if ((ret = ea_decode_certificate(body, &m, err)) == ATTEX_OK) {
        *out_len = rd_len(&m.context);
        if (!rd_copy(&m.context, out, *out_len))
            ret = attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR, "internal: context");
    }
    ea_auth_msgs_free(&m);
    return ret;
}
