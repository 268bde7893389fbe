/*
 * Known-answer test: replays the RFC 9261 vector made by an independent
 * implementation (tests/vectors/ea/, see its README). TLS secrets are not
 * available, so the two exporter outputs of the vector are fed in through a
 * fake attex_tls; everything else is computed by attex and compared byte for
 * byte, or validated.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "ea_msg.h"
#include "testutil.h"

static const char *vec_path;

typedef struct fake_tls {
    attex_role role;
    attex_buf hc, fk; /* server handshake context and finished key */
    int exports;      /* how many times the exporter was called */
} fake_tls;

static int fake_info(void *ctx, attex_tls_info *out, attex_error *err)
{
    fake_tls *f = ctx;
    (void)err;
    memset(out, 0, sizeof(*out));
    out->version = 0x0304;
    out->handshake_complete = 1;
    out->role = f->role;
    out->hash = ATTEX_HASH_SHA256; /* the vector's suite is 0x1301 */
    return ATTEX_OK;
}

static int fake_export(void *ctx, const char *label, const uint8_t *context, size_t context_len,
                       uint8_t *out, size_t out_len, attex_error *err)
{
    fake_tls *f = ctx;
    (void)context;
    f->exports++;
    /* RFC 9261 s5.1: empty context, Hash.length output. */
    if (context_len != 0 || out_len != 32) {
        snprintf(err->message, sizeof(err->message), "bad exporter call");
        return ATTEX_ERR_CRYPTO;
    }
    if (strcmp(label, "EXPORTER-server authenticator handshake context") == 0) {
        memcpy(out, f->hc.data, 32);
        return ATTEX_OK;
    }
    if (strcmp(label, "EXPORTER-server authenticator finished key") == 0) {
        memcpy(out, f->fk.data, 32);
        return ATTEX_OK;
    }
    err->code = ATTEX_ERR_CRYPTO;
    snprintf(err->message, sizeof(err->message), "unexpected exporter label %s", label);
    return ATTEX_ERR_CRYPTO;
}

static attex_buf field(const char *key)
{
    attex_buf b = ATTEX_BUF_INIT;
    char *hex = tu_file_field(vec_path, key);
    if (hex == NULL || !tu_hex(hex, &b)) {
        fprintf(stderr, "vector field %s missing or not hex\n", key);
        exit(2);
    }
    free(hex);
    return b;
}

static attex_ea_session *fake_session(fake_tls *f, attex_role role)
{
    attex_tls tls = {f, fake_info, fake_export};
    f->role = role;
    return attex_ea_session_new(&tls, NULL);
}

static int buf_eq(const attex_buf *a, const attex_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

int main(void)
{
    vec_path = tu_source_path("tests/vectors/ea/tls13-aes128gcm-sha256-server.txt");
    fake_tls f;
    memset(&f, 0, sizeof(f));
    f.hc = field("server_hs_context");
    f.fk = field("server_finished_key");
    attex_buf v_request = field("request"), v_auth = field("authenticator"),
              v_request_empty = field("request_empty"), v_empty = field("empty_authenticator"),
              v_spki = field("leaf_spki");
    attex_error err;
    attex_error_clear(&err);

    uint8_t ctx[32];
    for (int i = 0; i < 32; i++)
        ctx[i] = (uint8_t)i;
    static const uint16_t p256[] = {ATTEX_SCHEME_ECDSA_SECP256R1_SHA256};
    attex_extension offer = {0xFF00, NULL, 0};

    /* 1. The client builds the request: byte-identical to the vector's. */
    attex_ea_session *client = fake_session(&f, ATTEX_ROLE_CLIENT);
    CHECK(client != NULL);
    attex_ea_request_params rp = {ctx, sizeof(ctx), p256, 1, &offer, 1};
    attex_buf req = ATTEX_BUF_INIT;
    CHECK_RC(attex_ea_request_create(client, &rp, &req, &err), ATTEX_OK, &err);
    CHECK(buf_eq(&req, &v_request));

    /* 2. The vector's authenticator validates against it. */
    attex_ea_authenticator *a = NULL;
    CHECK_RC(attex_ea_authenticator_validate(client, req.data, req.len, v_auth.data, v_auth.len,
                                             NULL, &a, &err),
             ATTEX_OK, &err);
    CHECK(a != NULL);
    if (a != NULL) {
        size_t clen;
        const uint8_t *c = attex_ea_authenticator_context(a, &clen);
        CHECK(clen == 32 && memcmp(c, ctx, 32) == 0);
        CHECK(attex_ea_authenticator_scheme(a) == ATTEX_SCHEME_ECDSA_SECP256R1_SHA256);
        CHECK(attex_ea_authenticator_num_certs(a) == 1);
        CHECK(!attex_ea_authenticator_is_spontaneous(a));
        attex_extension ext;
        CHECK(attex_ea_authenticator_num_extensions(a) == 1);
        CHECK(attex_ea_authenticator_find_extension(a, 0xFF00, &ext) == 1);
        /* The extension is opaque at this layer: u16 length || 243 bytes of JSON. */
        CHECK(ext.len == 245 && ext.data[0] == 0x00 && ext.data[1] == 0xf3 && ext.data[2] == '{');
        CHECK(attex_ea_authenticator_find_extension(a, 0x0005, &ext) == 0);
        /* The leaf's SPKI is the one the vector states. */
        uint8_t *spki = NULL;
        int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(attex_ea_authenticator_cert(a, 0)), &spki);
        CHECK(n > 0 && (size_t)n == v_spki.len && memcmp(spki, v_spki.data, v_spki.len) == 0);
        OPENSSL_free(spki);

        /* Our Certificate encoder rebuilds the vector's Certificate message exactly. */
        size_t der_len;
        const uint8_t *der = attex_ea_authenticator_cert_der(a, 0, &der_len);
        attex_buf der_buf = {(uint8_t *)(uintptr_t)der, der_len};
        attex_writer w;
        attex_buf cert_msg = ATTEX_BUF_INIT;
        wr_init(&w, 1 << 20);
        ea_encode_certificate(&w, ctx, 32, &der_buf, 1, &ext, 0);
        attex_extension first = attex_ea_authenticator_extension(a, 0);
        wr_cleanup(&w);
        wr_init(&w, 1 << 20);
        ea_encode_certificate(&w, ctx, 32, &der_buf, 1, &first, 1);
        CHECK(wr_finish(&w, &cert_msg));
        CHECK(cert_msg.len == 4 + 0x27a && cert_msg.len < v_auth.len &&
              memcmp(cert_msg.data, v_auth.data, cert_msg.len) == 0);
        attex_buf_free(&cert_msg);

        /* 3. Path validation with the leaf as its own anchor, inside and outside its window. */
        X509_STORE *store = X509_STORE_new();
        X509_STORE_add_cert(store, attex_ea_authenticator_cert(a, 0));
        attex_ea_authenticator_free(a);
        a = NULL;

        /* A fresh request on a fresh session (contexts are single-use). */
        attex_ea_validate_opts vo;
        memset(&vo, 0, sizeof(vo));
        vo.trust_store = store;
        vo.verify_time = 1795737600; /* 2026-11-27T00:00:00Z, inside the window */
        attex_ea_session *c2 = fake_session(&f, ATTEX_ROLE_CLIENT);
        attex_buf req2 = ATTEX_BUF_INIT;
        CHECK_RC(attex_ea_request_create(c2, &rp, &req2, &err), ATTEX_OK, &err);
        CHECK_RC(attex_ea_authenticator_validate(c2, req2.data, req2.len, v_auth.data, v_auth.len,
                                                 &vo, &a, &err),
                 ATTEX_OK, &err);
        attex_ea_authenticator_free(a);
        a = NULL;
        attex_ea_session_free(c2);
        attex_buf_free(&req2);

        vo.verify_time = 1798416000; /* 2026-12-28: expired */
        c2 = fake_session(&f, ATTEX_ROLE_CLIENT);
        CHECK_RC(attex_ea_request_create(c2, &rp, &req2, &err), ATTEX_OK, &err);
        CHECK_RC(attex_ea_authenticator_validate(c2, req2.data, req2.len, v_auth.data, v_auth.len,
                                                 &vo, &a, &err),
                 ATTEX_ERR_BAD_CERTIFICATE, &err);
        CHECK(err.alert == ATTEX_ALERT_CERTIFICATE_EXPIRED);
        CHECK(a == NULL);
        attex_ea_session_free(c2);
        attex_buf_free(&req2);

        /* An empty trust store: unknown CA. */
        X509_STORE *empty_store = X509_STORE_new();
        vo.trust_store = empty_store;
        vo.verify_time = 1795737600;
        c2 = fake_session(&f, ATTEX_ROLE_CLIENT);
        CHECK_RC(attex_ea_request_create(c2, &rp, &req2, &err), ATTEX_OK, &err);
        CHECK_RC(attex_ea_authenticator_validate(c2, req2.data, req2.len, v_auth.data, v_auth.len,
                                                 &vo, &a, &err),
                 ATTEX_ERR_BAD_CERTIFICATE, &err);
        CHECK(err.alert == ATTEX_ALERT_UNKNOWN_CA);
        attex_ea_session_free(c2);
        attex_buf_free(&req2);
        X509_STORE_free(empty_store);
        X509_STORE_free(store);
    }

    /* 4. Replaying the same authenticator on the same request: the context is used up. */
    CHECK_RC(attex_ea_authenticator_validate(client, req.data, req.len, v_auth.data, v_auth.len,
                                             NULL, &a, &err),
             ATTEX_ERR_CONTEXT_REUSED, &err);

    /* 5. The empty request variant, then the empty authenticator is a refusal. */
    ctx[0] = 0xff;
    attex_ea_request_params rpe = {ctx, sizeof(ctx), p256, 1, NULL, 0};
    attex_buf reqe = ATTEX_BUF_INIT;
    CHECK_RC(attex_ea_request_create(client, &rpe, &reqe, &err), ATTEX_OK, &err);
    CHECK(buf_eq(&reqe, &v_request_empty));
    CHECK_RC(attex_ea_authenticator_validate(client, reqe.data, reqe.len, v_empty.data,
                                             v_empty.len, NULL, &a, &err),
             ATTEX_ERR_REFUSED, &err);
    CHECK(a == NULL);
    CHECK(err.alert == ATTEX_ALERT_NONE);
    /* A refusal also uses the context up. */
    CHECK_RC(attex_ea_authenticator_validate(client, reqe.data, reqe.len, v_empty.data,
                                             v_empty.len, NULL, &a, &err),
             ATTEX_ERR_CONTEXT_REUSED, &err);

    /* 6. The server builds the empty authenticator for that request: byte-identical. */
    attex_ea_session *server = fake_session(&f, ATTEX_ROLE_SERVER);
    attex_buf empty = ATTEX_BUF_INIT;
    CHECK_RC(attex_ea_authenticator_create(server, v_request_empty.data, v_request_empty.len,
                                           NULL, &empty, &err),
             ATTEX_OK, &err);
    CHECK(buf_eq(&empty, &v_empty));
    /* And refuses to answer the same context twice. */
    attex_buf again = ATTEX_BUF_INIT;
    CHECK_RC(attex_ea_authenticator_create(server, v_request_empty.data, v_request_empty.len,
                                           NULL, &again, &err),
             ATTEX_ERR_CONTEXT_REUSED, &err);

    /* 7. get_context on request, authenticator and empty authenticator (RFC 9261 s7.2). */
    uint8_t got[ATTEX_EA_MAX_CONTEXT];
    size_t got_len = 0;
    CHECK_RC(attex_ea_get_context(v_request.data, v_request.len, got, &got_len, &err), ATTEX_OK,
             &err);
    CHECK(got_len == 32 && got[0] == 0 && got[31] == 31);
    CHECK_RC(attex_ea_get_context(v_auth.data, v_auth.len, got, &got_len, &err), ATTEX_OK, &err);
    CHECK(got_len == 32 && got[0] == 0 && got[31] == 31);
    CHECK_RC(attex_ea_get_context(v_empty.data, v_empty.len, got, &got_len, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);

    /* 8. Parsing without a connection (for tools): the same structure, nothing verified. */
    attex_ea_authenticator *pa = NULL;
    CHECK_RC(attex_ea_authenticator_parse(v_auth.data, v_auth.len, 0, &pa, &err), ATTEX_OK, &err);
    if (pa != NULL) {
        size_t n;
        attex_ea_authenticator_context(pa, &n);
        CHECK(n == 32 && !attex_ea_authenticator_is_empty(pa));
        CHECK(attex_ea_authenticator_num_certs(pa) == 1 &&
              attex_ea_authenticator_scheme(pa) == ATTEX_SCHEME_ECDSA_SECP256R1_SHA256);
        const uint8_t *sig = attex_ea_authenticator_signature(pa, &n);
        CHECK(sig != NULL && n == 70);
        const uint8_t *fin = attex_ea_authenticator_finished(pa, &n);
        CHECK(n == 32 && fin[0] == 0x4b && fin[31] == 0xd7);
    }
    attex_ea_authenticator_free(pa);
    pa = NULL;
    CHECK_RC(attex_ea_authenticator_parse(v_empty.data, v_empty.len, 0, &pa, &err), ATTEX_OK,
             &err);
    CHECK(pa && attex_ea_authenticator_is_empty(pa) && attex_ea_authenticator_num_certs(pa) == 0);
    attex_ea_authenticator_free(pa);
    pa = NULL;
    /* With the wrong suite hash length, and truncated: the decoder's errors. */
    CHECK_RC(attex_ea_authenticator_parse(v_auth.data, v_auth.len, 48, &pa, &err),
             ATTEX_ERR_DECODE, &err);
    CHECK_RC(attex_ea_authenticator_parse(v_auth.data, v_auth.len - 1, 0, &pa, &err),
             ATTEX_ERR_DECODE, &err);
    CHECK(pa == NULL);

    /* 9. The exporter ran once per label per session (values are cached). */
    CHECK(f.exports > 0 && f.exports <= 2 * 5);

    attex_buf_free(&empty);
    attex_buf_free(&req);
    attex_buf_free(&reqe);
    attex_ea_session_free(client);
    attex_ea_session_free(server);
    attex_buf_free(&f.hc);
    attex_buf_free(&f.fk);
    attex_buf_free(&v_request);
    attex_buf_free(&v_auth);
    attex_buf_free(&v_request_empty);
    attex_buf_free(&v_empty);
    attex_buf_free(&v_spki);
    return tu_finish("test_ea_kat");
}
