/*
 * Negative tests: every rule attex enforces on requests and authenticators,
 * each broken on purpose. Most forgeries are built with a correct Finished
 * (the test knows the fake connection's exporter values), so that only the
 * rule under test can reject them, and each test checks the exact status and
 * alert.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "bytes.h"
#include "crypto.h"
#include "ea_msg.h"
#include "testutil.h"

/* ---- a fake connection whose exporter values the test knows ----------- */

typedef struct fake_tls {
    attex_role role;
    attex_hash hash;
    uint8_t seed; /* makes different "connections" */
} fake_tls;

static void fake_value(const fake_tls *f, const char *label, uint8_t *out, size_t n)
{
    /* Distinct for each label and connection; not secret, this is a test. */
    uint8_t x = (uint8_t)(f->seed * 31u + (uint8_t)strlen(label) + (uint8_t)label[9]);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(x + i * 7u);
}

/* When set, the fake ClientHello offered ecdsa_secp256r1_sha256 only. */
static int hello_p256_only;

static int fake_info(void *ctx, attex_tls_info *out, attex_error *err)
{
    fake_tls *f = ctx;
    size_t n;
    const uint16_t *all = attex_supported_schemes(&n);
    if (hello_p256_only)
        n = 1; /* attex_supported_schemes() starts with ecdsa_secp256r1_sha256 */
    (void)err;
    memset(out, 0, sizeof(*out));
    out->version = 0x0304;
    out->handshake_complete = 1;
    out->role = f->role;
    out->hash = f->hash;
    memcpy(out->hello_schemes, all, n * sizeof(uint16_t));
    out->num_hello_schemes = n;
    return ATTEX_OK;
}

static int fake_export(void *ctx, const char *label, const uint8_t *context, size_t context_len,
                       uint8_t *out, size_t out_len, attex_error *err)
{
    (void)context, (void)context_len, (void)err;
    fake_value(ctx, label, out, out_len);
    return ATTEX_OK;
}

static attex_ea_session *session(fake_tls *f)
{
    attex_tls tls = {f, fake_info, fake_export};
    return attex_ea_session_new(&tls, NULL);
}

/* ---- forging authenticators ------------------------------------------ */

typedef struct entry {
    const uint8_t *der; /* NULL: use cert */
    size_t der_len;
    X509 *cert;
    const attex_extension *exts;
    size_t num_exts;
} entry;

typedef struct forge {
    const fake_tls *conn; /* whose server-side exporter values to use */
    const uint8_t *request;
    size_t request_len;
    const uint8_t *context;
    size_t context_len;
    const entry *entries;
    size_t num_entries;
    uint16_t sign_scheme;  /* scheme used to sign (0: no real signature) */
    uint16_t label_scheme; /* scheme written in CertificateVerify */
    EVP_PKEY *key;
    const char *cv_string; /* NULL for "Exported Authenticator" */
} forge;

static void der(X509 *c, attex_buf *out)
{
    out->data = NULL;
    int n = i2d_X509(c, &out->data);
    out->len = n > 0 ? (size_t)n : 0;
}

static attex_buf make(const forge *f)
{
    attex_writer w;
    attex_transcript th;
    uint8_t hc[ATTEX_MAX_HASH], fk[ATTEX_MAX_HASH], d[ATTEX_MAX_HASH], fin[ATTEX_MAX_HASH];
    size_t hl = attex_hash_len(f->conn->hash);
    attex_buf out = ATTEX_BUF_INIT, sig = ATTEX_BUF_INIT;
    fake_value(f->conn, "EXPORTER-server authenticator handshake context", hc, hl);
    fake_value(f->conn, "EXPORTER-server authenticator finished key", fk, hl);

    wr_init(&w, 1 << 20);
    wr_u8(&w, ATTEX_HS_CERTIFICATE);
    attex_wr_mark body = wr_open(&w, 3);
    attex_wr_mark ctx = wr_open(&w, 1);
    wr_bytes(&w, f->context, f->context_len);
    wr_close(&w, ctx);
    attex_wr_mark list = wr_open(&w, 3);
    for (size_t i = 0; i < f->num_entries; i++) {
        const entry *e = &f->entries[i];
        attex_buf d1 = ATTEX_BUF_INIT;
        if (e->der == NULL)
            der(e->cert, &d1);
        attex_wr_mark c = wr_open(&w, 3);
        wr_bytes(&w, e->der ? e->der : d1.data, e->der ? e->der_len : d1.len);
        wr_close(&w, c);
        OPENSSL_free(d1.data);
        attex_wr_mark ex = wr_open(&w, 2);
        for (size_t j = 0; j < e->num_exts; j++) {
            wr_u16(&w, e->exts[j].type);
            attex_wr_mark x = wr_open(&w, 2);
            wr_bytes(&w, e->exts[j].data, e->exts[j].len);
            wr_close(&w, x);
        }
        wr_close(&w, ex);
    }
    wr_close(&w, list);
    wr_close(&w, body);
    size_t cert_len = w.len;

    transcript_init(&th, f->conn->hash, NULL);
    transcript_update(&th, hc, hl, NULL);
    transcript_update(&th, f->request, f->request ? f->request_len : 0, NULL);
    transcript_update(&th, w.data, cert_len, NULL);
    transcript_peek(&th, d, NULL);
    uint8_t content[200];
    const char *s = f->cv_string ? f->cv_string : "Exported Authenticator";
    memset(content, 0x20, 64);
    memcpy(content + 64, s, strlen(s) + 1);
    memcpy(content + 64 + strlen(s) + 1, d, hl);
    if (f->sign_scheme != 0)
        crypto_sign(f->sign_scheme, f->key, content, 64 + strlen(s) + 1 + hl, &sig, NULL);
    if (sig.data == NULL) {
        sig.data = malloc(8);
        memset(sig.data, 0x5a, 8);
        sig.len = 8;
    }
    ea_encode_certificate_verify(&w, f->label_scheme, sig.data, sig.len);
    transcript_update(&th, w.data + cert_len, w.len - cert_len, NULL);
    transcript_peek(&th, d, NULL);
    crypto_hmac(f->conn->hash, fk, hl, d, hl, fin, NULL);
    ea_encode_finished(&w, fin, hl);
    transcript_cleanup(&th);
    attex_buf_free(&sig);
    if (!wr_finish(&w, &out))
        fprintf(stderr, "forge: writer failed\n");
    return out;
}

/* ---- fixtures --------------------------------------------------------- */

static EVP_PKEY *k_p256, *k_ed, *k_rsa1024, *k_rsa;
static X509 *c_p256, *c_ed, *c_rsa1024, *c_rsa;
static attex_error err;

static const uint8_t CTX[] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint16_t OFFER_P256_ED[] = {ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
                                         ATTEX_SCHEME_ED25519};

/* A client session on connection `conn` with one request issued. */
static attex_ea_session *asker(fake_tls *conn, const uint16_t *schemes, size_t ns,
                               const attex_extension *offer, size_t no, attex_buf *req)
{
    attex_ea_session *s = session(conn);
    attex_ea_request_params rp = {CTX, sizeof(CTX), schemes, ns, offer, no};
    int rc = attex_ea_request_create(s, &rp, req, &err);
    CHECK_RC(rc, ATTEX_OK, &err);
    return s;
}

static int validate(attex_ea_session *s, const attex_buf *req, const attex_buf *auth)
{
    attex_ea_authenticator *a = NULL;
    int rc = attex_ea_authenticator_validate(s, req ? req->data : NULL, req ? req->len : 0,
                                             auth->data, auth->len, NULL, &a, &err);
    if (rc == ATTEX_OK)
        CHECK(a != NULL);
    else
        CHECK(a == NULL);
    attex_ea_authenticator_free(a);
    return rc;
}

#define EXPECT(rc_expr, want_rc, want_alert)                                             \
    do {                                                                                 \
        int rc__ = (rc_expr);                                                            \
        CHECK_RC(rc__, want_rc, &err);                                                   \
        if (rc__ != ATTEX_OK && (want_alert) >= 0 && err.alert != (want_alert)) {        \
            tu_failed++;                                                                 \
            fprintf(stderr, "%s:%d: alert %s, want %s\n", __FILE__, __LINE__,            \
                    attex_alert_name(err.alert), attex_alert_name((uint8_t)(want_alert))); \
        }                                                                                \
    } while (0)

/* The forged baseline is accepted: proves the forge is right, so rejections below are the rule's. */
static void test_baseline(void)
{
    fake_tls conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 1};
    attex_buf req;
    attex_ea_session *s = asker(&conn, OFFER_P256_ED, 2, NULL, 0, &req);
    entry e = {NULL, 0, c_p256, NULL, 0};
    forge f = {&conn, req.data, req.len, CTX, sizeof(CTX), &e, 1,
               ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
               k_p256, NULL};
    attex_buf a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_OK, -1);
    attex_buf_free(&a);
    attex_buf_free(&req);
    attex_ea_session_free(s);

    /* And with SHA-384. */
    fake_tls c384 = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA384, 2};
    s = asker(&c384, OFFER_P256_ED, 2, NULL, 0, &req);
    f.conn = &c384;
    f.request = req.data;
    f.request_len = req.len;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_OK, -1);
    attex_buf_free(&a);
    attex_buf_free(&req);
    attex_ea_session_free(s);
}

/* Flip every byte; truncate at every length; append a byte. */
static void test_mutations(void)
{
    fake_tls conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 3};
    attex_extension offer = {0xFF00, NULL, 0};
    static const uint8_t payload[] = {0, 2, 0xa1, 0x01};
    attex_extension ans = {0xFF00, payload, sizeof(payload)};
    attex_buf req;
    attex_ea_session *s = asker(&conn, OFFER_P256_ED, 2, &offer, 1, &req);
    entry e = {NULL, 0, c_p256, &ans, 1};
    forge f = {&conn, req.data, req.len, CTX, sizeof(CTX), &e, 1,
               ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
               k_p256, NULL};
    attex_buf a = make(&f);
    int accepted = 0, wrong_trunc = 0;
    for (size_t i = 0; i < a.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            a.data[i] ^= (uint8_t)(1u << bit);
            if (validate(s, &req, &a) == ATTEX_OK)
                accepted++;
            a.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK(accepted == 0);
    for (size_t n = 0; n < a.len; n++) {
        attex_buf t = {a.data, n};
        attex_ea_authenticator *out = NULL;
        int rc = attex_ea_authenticator_validate(s, req.data, req.len, n ? t.data : NULL, n,
                                                 NULL, &out, &err);
        if (rc != ATTEX_ERR_DECODE || err.alert != ATTEX_ALERT_DECODE_ERROR)
            wrong_trunc++;
        attex_ea_authenticator_free(out);
    }
    CHECK(wrong_trunc == 0);
    attex_buf longer = {malloc(a.len + 1), a.len + 1};
    memcpy(longer.data, a.data, a.len);
    longer.data[a.len] = 0;
    EXPECT(validate(s, &req, &longer), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    /* The untouched one still validates (nothing above used the context up). */
    EXPECT(validate(s, &req, &a), ATTEX_OK, -1);
    attex_buf_free(&longer);
    attex_buf_free(&a);
    attex_buf_free(&req);
    attex_ea_session_free(s);
}

/* An authenticator made on connection A is rejected on connection B, same context. */
static void test_other_connection(void)
{
    fake_tls a_conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 4};
    fake_tls b_conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 5};
    attex_buf ra, rb;
    attex_ea_session *sa = asker(&a_conn, OFFER_P256_ED, 2, NULL, 0, &ra);
    attex_ea_session *sb = asker(&b_conn, OFFER_P256_ED, 2, NULL, 0, &rb);
    CHECK(ra.len == rb.len && memcmp(ra.data, rb.data, ra.len) == 0); /* same request bytes */
    entry e = {NULL, 0, c_p256, NULL, 0};
    forge f = {&a_conn, ra.data, ra.len, CTX, sizeof(CTX), &e, 1,
               ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
               k_p256, NULL};
    attex_buf auth = make(&f);
    EXPECT(validate(sb, &rb, &auth), ATTEX_ERR_BAD_FINISHED, ATTEX_ALERT_DECRYPT_ERROR);
    EXPECT(validate(sa, &ra, &auth), ATTEX_OK, -1);
    /* Replay on A after acceptance. */
    EXPECT(validate(sa, &ra, &auth), ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&auth);
    attex_buf_free(&ra);
    attex_buf_free(&rb);
    attex_ea_session_free(sa);
    attex_ea_session_free(sb);
}

/* Forgeries with a correct Finished: only the named rule can reject them. */
static void test_rules(void)
{
    fake_tls conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 6};
    attex_extension offer = {0xFF00, NULL, 0};
    static const uint8_t pl[] = {0, 1, 0x55};
    attex_extension ans = {0xFF00, pl, sizeof(pl)};
    attex_extension unoffered = {0x0012, pl, sizeof(pl)};
    attex_extension dup[2] = {{0xFF00, pl, sizeof(pl)}, {0xFF00, pl, sizeof(pl)}};
    static const uint16_t offer_with_pkcs1[] = {0x0401, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
                                                ATTEX_SCHEME_ED25519,
                                                ATTEX_SCHEME_RSA_PSS_RSAE_SHA256};
    attex_buf req;
    attex_ea_session *s = asker(&conn, offer_with_pkcs1, 4, &offer, 1, &req);
    const uint16_t P256 = ATTEX_SCHEME_ECDSA_SECP256R1_SHA256;
    entry good = {NULL, 0, c_p256, &ans, 1};
    forge base = {&conn, req.data, req.len, CTX, sizeof(CTX), &good, 1, P256, P256, k_p256,
                  NULL};
    attex_buf a;

    /* CertificateVerify signed by another key. */
    forge f = base;
    f.key = tu_key("p256");
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_BAD_SIGNATURE, ATTEX_ALERT_DECRYPT_ERROR);
    EVP_PKEY_free(f.key);
    attex_buf_free(&a);

    /* Signed over TLS 1.3's handshake context string instead of RFC 9261's. */
    f = base;
    f.cv_string = "TLS 1.3, server CertificateVerify";
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_BAD_SIGNATURE, ATTEX_ALERT_DECRYPT_ERROR);
    attex_buf_free(&a);

    /* Scheme that does not fit the certificate's key (Ed25519 cert, P-256 label). */
    entry ed = {NULL, 0, c_ed, NULL, 0};
    f = base;
    f.entries = &ed;
    f.key = k_ed;
    f.sign_scheme = ATTEX_SCHEME_ED25519;
    f.label_scheme = P256;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&a);

    /* A scheme not offered (ECDSA P-384), and a non-TLS-1.3 scheme (rsa_pkcs1_sha256). */
    f = base;
    f.label_scheme = ATTEX_SCHEME_ECDSA_SECP384R1_SHA384;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    CHECK(strstr(err.message, "not offered") != NULL);
    attex_buf_free(&a);
    entry rsa = {NULL, 0, c_rsa, NULL, 0};
    f = base;
    f.entries = &rsa;
    f.key = k_rsa;
    f.sign_scheme = ATTEX_SCHEME_RSA_PSS_RSAE_SHA256;
    f.label_scheme = 0x0401;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&a);

    /* RSA key below 2048 bits. */
    entry small = {NULL, 0, c_rsa1024, NULL, 0};
    f = base;
    f.entries = &small;
    f.sign_scheme = 0;
    f.label_scheme = ATTEX_SCHEME_RSA_PSS_RSAE_SHA256;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&a);

    /* Context differs from the request's. */
    static const uint8_t other_ctx[] = {1, 2, 3, 4, 5, 6, 7, 9};
    f = base;
    f.context = other_ctx;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&a);

    /* Unoffered extension in the first entry, and in a second entry. */
    entry bad1 = {NULL, 0, c_p256, &unoffered, 1};
    f = base;
    f.entries = &bad1;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_UNSUPPORTED_EXTENSION,
           ATTEX_ALERT_UNSUPPORTED_EXTENSION);
    attex_buf_free(&a);
    entry two[2] = {{NULL, 0, c_p256, &ans, 1}, {NULL, 0, c_ed, &unoffered, 1}};
    f = base;
    f.entries = two;
    f.num_entries = 2;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_UNSUPPORTED_EXTENSION,
           ATTEX_ALERT_UNSUPPORTED_EXTENSION);
    attex_buf_free(&a);
    /* ... while an offered one in the second entry is allowed (RFC 9261 s5.2.1). */
    entry two_ok[2] = {{NULL, 0, c_p256, NULL, 0}, {NULL, 0, c_ed, &ans, 1}};
    f = base;
    f.entries = two_ok;
    f.num_entries = 2;
    a = make(&f);
    attex_buf req_ok;
    attex_ea_session *s_ok = asker(&conn, offer_with_pkcs1, 4, &offer, 1, &req_ok);
    EXPECT(validate(s_ok, &req_ok, &a), ATTEX_OK, -1);
    attex_ea_session_free(s_ok);
    attex_buf_free(&req_ok);
    attex_buf_free(&a);

    /* signature_algorithms is always "offered" by a request, but RFC 8446 s4.2 forbids it
     * (and other recognised non-Certificate extensions) in a Certificate. */
    static const uint8_t sa_data[] = {0x00, 0x02, 0x04, 0x03};
    attex_extension sa_ext = {ATTEX_EXT_SIGNATURE_ALGORITHMS, sa_data, sizeof(sa_data)};
    entry sae = {NULL, 0, c_p256, &sa_ext, 1};
    f = base;
    f.entries = &sae;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    CHECK(strstr(err.message, "does not allow") != NULL);
    attex_buf_free(&a);

    /* Duplicate extension. */
    entry dupe = {NULL, 0, c_p256, dup, 2};
    f = base;
    f.entries = &dupe;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&a);

    /* Certificate bytes that are not DER X.509, and DER with trailing bytes. */
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    entry bad_der = {junk, sizeof(junk), NULL, NULL, 0};
    f = base;
    f.entries = &bad_der;
    f.sign_scheme = 0;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_BAD_CERTIFICATE);
    attex_buf_free(&a);
    attex_buf d;
    der(c_p256, &d);
    uint8_t *padded = malloc(d.len + 1);
    memcpy(padded, d.data, d.len);
    padded[d.len] = 0;
    entry trailing = {padded, d.len + 1, NULL, NULL, 0};
    f = base;
    f.entries = &trailing;
    a = make(&f);
    EXPECT(validate(s, &req, &a), ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_BAD_CERTIFICATE);
    attex_buf_free(&a);
    free(padded);
    OPENSSL_free(d.data);

    /* After all that, the honest one still validates: failures do not use the context up. */
    a = make(&base);
    EXPECT(validate(s, &req, &a), ATTEX_OK, -1);
    attex_buf_free(&a);
    attex_buf_free(&req);
    attex_ea_session_free(s);
}

/* Wrong message types and sequences. */
static void test_structure(void)
{
    fake_tls conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 7};
    attex_buf req;
    attex_ea_session *s = asker(&conn, OFFER_P256_ED, 2, NULL, 0, &req);
    entry e = {NULL, 0, c_p256, NULL, 0};
    forge f = {&conn, req.data, req.len, CTX, sizeof(CTX), &e, 1,
               ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
               k_p256, NULL};
    attex_buf a = make(&f);
    attex_reader r;
    uint8_t t;
    attex_reader body;
    rd_init(&r, a.data, a.len);
    CHECK(rd_u8(&r, &t) && rd_prefixed24(&r, &body));
    size_t cert_len = a.len - rd_len(&r);
    CHECK(rd_u8(&r, &t) && rd_prefixed24(&r, &body));
    size_t cv_end = a.len - rd_len(&r);

    /* CertificateVerify first. */
    attex_buf x = {a.data + cert_len, a.len - cert_len};
    EXPECT(validate(s, &req, &x), ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE);
    /* Certificate then Finished (CertificateVerify dropped). */
    attex_buf y = {malloc(a.len), 0};
    memcpy(y.data, a.data, cert_len);
    memcpy(y.data + cert_len, a.data + cv_end, a.len - cv_end);
    y.len = cert_len + a.len - cv_end;
    EXPECT(validate(s, &req, &y), ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE);
    /* A request given as an authenticator. */
    EXPECT(validate(s, &req, &req), ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE);
    /* A Finished of the wrong length (SHA-384 size on a SHA-256 connection). */
    uint8_t fin48[52] = {ATTEX_HS_FINISHED, 0, 0, 48};
    attex_buf z = {fin48, sizeof(fin48)};
    EXPECT(validate(s, &req, &z), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    /* An empty authenticator with a wrong MAC is not a refusal: it is a failure. */
    uint8_t fin32[36] = {ATTEX_HS_FINISHED, 0, 0, 32};
    attex_buf w = {fin32, sizeof(fin32)};
    EXPECT(validate(s, &req, &w), ATTEX_ERR_BAD_FINISHED, ATTEX_ALERT_DECRYPT_ERROR);
    /* An empty authenticator with no request. */
    EXPECT(validate(s, NULL, &w), ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE);
    /* A Certificate with an empty certificate_list followed by the rest. */
    forge none = f;
    none.num_entries = 0;
    attex_buf n = make(&none);
    EXPECT(validate(s, &req, &n), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    attex_buf_free(&n);
    /* A request this session never issued. */
    attex_buf other;
    fake_tls conn2 = conn;
    attex_ea_session *s2 = session(&conn2);
    attex_ea_request_params rp = {CTX + 1, sizeof(CTX) - 1, NULL, 0, NULL, 0};
    CHECK_RC(attex_ea_request_create(s2, &rp, &other, &err), ATTEX_OK, &err);
    EXPECT(validate(s, &other, &a), ATTEX_ERR_UNKNOWN_CONTEXT, -1);
    attex_buf_free(&other);
    attex_ea_session_free(s2);
    /* A client's authenticator without a request, validated by a server. */
    fake_tls sconn = {ATTEX_ROLE_SERVER, ATTEX_HASH_SHA256, 7};
    attex_ea_session *ss = session(&sconn);
    EXPECT(validate(ss, NULL, &a), ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE);
    /* A spontaneous authenticator may carry no extension the caller did not declare. */
    static const uint8_t pl[] = {0, 1, 7};
    attex_extension ext = {0xFF00, pl, sizeof(pl)};
    entry ee = {NULL, 0, c_p256, &ext, 1};
    static const uint8_t sctx[] = {9, 9, 9};
    forge sp = f;
    sp.request = NULL;
    sp.entries = &ee;
    sp.context = sctx;
    sp.context_len = sizeof(sctx);
    attex_buf spa = make(&sp);
    EXPECT(validate(s, NULL, &spa), ATTEX_ERR_UNSUPPORTED_EXTENSION,
           ATTEX_ALERT_UNSUPPORTED_EXTENSION);
    attex_ea_authenticator *out = NULL;
    uint16_t allowed = 0xFF00;
    attex_ea_validate_opts vo;
    memset(&vo, 0, sizeof(vo));
    vo.spontaneous_extensions = &allowed;
    vo.num_spontaneous_extensions = 1;
    CHECK_RC(attex_ea_authenticator_validate(s, NULL, 0, spa.data, spa.len, &vo, &out, &err),
             ATTEX_OK, &err);
    attex_ea_authenticator_free(out);
    /* RFC 9261 s5.2.2: a spontaneous authenticator's scheme comes from the ClientHello. */
    static const uint8_t sctx2[] = {8, 8, 8};
    entry ed_entry = {NULL, 0, c_ed, NULL, 0};
    forge sp3 = f;
    sp3.request = NULL;
    sp3.entries = &ed_entry;
    sp3.context = sctx2;
    sp3.context_len = sizeof(sctx2);
    sp3.key = k_ed;
    sp3.sign_scheme = ATTEX_SCHEME_ED25519;
    sp3.label_scheme = ATTEX_SCHEME_ED25519;
    attex_buf spc = make(&sp3);
    hello_p256_only = 1;
    EXPECT(validate(s, NULL, &spc), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    CHECK(strstr(err.message, "ClientHello") != NULL);
    hello_p256_only = 0;
    EXPECT(validate(s, NULL, &spc), ATTEX_OK, -1); /* the same, once Ed25519 was offered */
    attex_buf_free(&spc);
    /* A spontaneous authenticator reusing a context of one of our requests. */
    forge sp2 = f;
    sp2.request = NULL;
    attex_buf spb = make(&sp2);
    EXPECT(validate(s, NULL, &spb), ATTEX_ERR_CONTEXT_REUSED, ATTEX_ALERT_ILLEGAL_PARAMETER);
    attex_buf_free(&spa);
    attex_buf_free(&spb);
    attex_ea_session_free(ss);
    free(y.data);
    attex_buf_free(&a);
    attex_buf_free(&req);
    attex_ea_session_free(s);
}

/* Creation-side rules. */
static void test_create_rules(void)
{
    fake_tls cconn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 8};
    fake_tls sconn = {ATTEX_ROLE_SERVER, ATTEX_HASH_SHA256, 8};
    attex_buf req = ATTEX_BUF_INIT, out = ATTEX_BUF_INIT;
    attex_ea_session *cs = session(&cconn), *ss = session(&sconn);
    attex_ea_request_params rp = {CTX, sizeof(CTX), NULL, 0, NULL, 0};

    /* Context: reuse, empty, too long, and signature_algorithms passed by hand. */
    CHECK_RC(attex_ea_request_create(cs, &rp, &req, &err), ATTEX_OK, &err);
    CHECK_RC(attex_ea_request_create(cs, &rp, &out, &err), ATTEX_ERR_CONTEXT_REUSED, &err);
    rp.context_len = 0;
    CHECK_RC(attex_ea_request_create(cs, &rp, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    uint8_t big[256] = {0};
    rp.context = big;
    rp.context_len = 256;
    CHECK_RC(attex_ea_request_create(cs, &rp, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    attex_extension sa = {ATTEX_EXT_SIGNATURE_ALGORITHMS, NULL, 0};
    attex_ea_request_params rp2 = {NULL, 0, NULL, 0, &sa, 1};
    CHECK_RC(attex_ea_request_create(cs, &rp2, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);

    /* A client cannot answer a ClientCertificateRequest (its own kind). */
    attex_ea_identity id = {c_p256, NULL, 0, k_p256, NULL, 0, NULL, 0};
    CHECK_RC(attex_ea_authenticator_create(cs, req.data, req.len, &id, &out, &err),
             ATTEX_ERR_UNEXPECTED_MESSAGE, &err);
    /* Key and certificate that do not belong together. */
    attex_ea_identity mism = {c_p256, NULL, 0, k_ed, NULL, 0, NULL, 0};
    CHECK_RC(attex_ea_authenticator_create(ss, req.data, req.len, &mism, &out, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    /* signature_algorithms in a Certificate, though the request carried it. */
    static const uint8_t sa_data[] = {0x00, 0x02, 0x04, 0x03};
    attex_extension sa_ext = {ATTEX_EXT_SIGNATURE_ALGORITHMS, sa_data, sizeof(sa_data)};
    attex_ea_identity with_sa = {c_p256, NULL, 0, k_p256, &sa_ext, 1, NULL, 0};
    CHECK_RC(attex_ea_authenticator_create(ss, req.data, req.len, &with_sa, &out, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    /* An extension the request did not offer. */
    static const uint8_t pl[] = {0, 1, 7};
    attex_extension ext = {0xFF00, pl, sizeof(pl)};
    attex_ea_identity withext = {c_p256, NULL, 0, k_p256, &ext, 1, NULL, 0};
    CHECK_RC(attex_ea_authenticator_create(ss, req.data, req.len, &withext, &out, &err),
             ATTEX_ERR_UNSUPPORTED_EXTENSION, &err);
    /* A cert/key pair that fits: fine; twice: refused. */
    CHECK_RC(attex_ea_authenticator_create(ss, req.data, req.len, &id, &out, &err), ATTEX_OK,
             &err);
    attex_buf_free(&out);
    CHECK_RC(attex_ea_authenticator_create(ss, req.data, req.len, &id, &out, &err),
             ATTEX_ERR_CONTEXT_REUSED, &err);
    /* A spontaneous server authenticator cannot carry extensions (ClientHello unknown). */
    CHECK_RC(attex_ea_authenticator_create(ss, NULL, 0, &withext, &out, &err),
             ATTEX_ERR_UNSUPPORTED_EXTENSION, &err);
    /* RSA keys below 2048 bits cannot sign. */
    attex_buf req2 = ATTEX_BUF_INIT;
    rp.context = CTX + 2;
    rp.context_len = 3;
    CHECK_RC(attex_ea_request_create(cs, &rp, &req2, &err), ATTEX_OK, &err);
    attex_ea_identity small = {c_rsa1024, NULL, 0, k_rsa1024, NULL, 0, NULL, 0};
    CHECK_RC(attex_ea_authenticator_create(ss, req2.data, req2.len, &small, &out, &err),
             ATTEX_ERR_NO_COMMON_SCHEME, &err);
    attex_buf_free(&req2);
    attex_buf_free(&req);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
}

/* One attested validation on a fresh fake connection: request offering cmw_attestation,
 * then a forged authenticator with these entries and a correct Finished and signature. */
static int attest_attempt(const entry *entries, size_t num, attex_attest_result **r)
{
    fake_tls conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256, 9};
    attex_ea_session *s = session(&conn);
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    attex_ea_request_params rp = {CTX, sizeof(CTX), OFFER_P256_ED, 2, NULL, 0};
    attex_buf req = ATTEX_BUF_INIT;
    CHECK_RC(attex_attest_request_create(s, &pol, &rp, &req, &err), ATTEX_OK, &err);
    forge f = {&conn, req.data, req.len, CTX, sizeof(CTX), entries, num,
               ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, k_p256,
               NULL};
    attex_buf a = make(&f);
    int rc = attex_attest_validate(s, req.data, req.len, a.data, a.len, NULL, &pol, r, &err);
    attex_buf_free(&a);
    attex_buf_free(&req);
    attex_ea_session_free(s);
    return rc;
}

/* PROTOCOL.md s2: cmw_attestation only in the first CertificateEntry (illegal_parameter),
 * exactly one u16-length CMW (decode_error). */
static void test_cmw_attestation_rules(void)
{
    /* u16 6 || [60, h'aa', 4]: a CMW record typed by Content-Format 60. */
    static const uint8_t cmw[] = {0x00, 0x06, 0x83, 0x18, 0x3c, 0x41, 0xaa, 0x04, 0x00};
    attex_attest_result *r = NULL;
    attex_extension in_second = {ATTEX_CMW_ATTESTATION_DEFAULT, cmw, 8};
    entry two[2] = {{NULL, 0, c_p256, NULL, 0}, {NULL, 0, c_ed, &in_second, 1}};
    EXPECT(attest_attempt(two, 2, &r), ATTEX_ERR_ILLEGAL_PARAMETER,
           ATTEX_ALERT_ILLEGAL_PARAMETER);
    CHECK(r == NULL);
    /* A byte after the CMW inside the extension. */
    attex_extension trailing = {ATTEX_CMW_ATTESTATION_DEFAULT, cmw, 9};
    entry one[1] = {{NULL, 0, c_p256, &trailing, 1}};
    EXPECT(attest_attempt(one, 1, &r), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    CHECK(r == NULL);
    /* Correctly framed, in the first entry: it reaches the policy (no verifier: rejected). */
    attex_extension good = {ATTEX_CMW_ATTESTATION_DEFAULT, cmw, 8};
    entry ok1[1] = {{NULL, 0, c_p256, &good, 1}};
    EXPECT(attest_attempt(ok1, 1, &r), ATTEX_ERR_ATTESTATION, -1);
    CHECK(strstr(err.message, "no verifier") != NULL &&
          strstr(err.message, "content-format 60") != NULL);
    attex_attest_result_free(r);
}

/* Request parser. */
static void test_request_parser(void)
{
    /* type 17, context 01, signature_algorithms [0403] */
    static const uint8_t good[] = {0x11, 0, 0, 0x0c, 0x01, 0x01, 0x00, 0x08,
                                   0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03};
    attex_ea_request *r = NULL;
    CHECK_RC(attex_ea_request_parse(good, sizeof(good), &r, &err), ATTEX_OK, &err);
    attex_ea_request_free(r);
    int wrong = 0;
    for (size_t n = 0; n < sizeof(good); n++) {
        r = NULL;
        if (attex_ea_request_parse(good, n, &r, &err) != ATTEX_ERR_DECODE)
            wrong++;
        attex_ea_request_free(r);
    }
    CHECK(wrong == 0);
    uint8_t b[sizeof(good) + 8];
#define TRY(len, want, alert)                                                  \
    do {                                                                       \
        r = NULL;                                                              \
        EXPECT(attex_ea_request_parse(b, (len), &r, &err), want, alert);       \
        attex_ea_request_free(r);                                              \
    } while (0)
    /* trailing byte */
    memcpy(b, good, sizeof(good));
    b[sizeof(good)] = 0;
    TRY(sizeof(good) + 1, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    /* not a request type */
    memcpy(b, good, sizeof(good));
    b[0] = ATTEX_HS_CERTIFICATE;
    TRY(sizeof(good), ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE);
    /* empty context */
    static const uint8_t noctx[] = {0x0d, 0, 0, 0x0c, 0x00, 0x00, 0x08, 0x00,
                                    0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03};
    memcpy(b, noctx, sizeof(noctx));
    b[3] = 0x0b;
    TRY(sizeof(noctx), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
    /* no signature_algorithms (another extension instead) */
    memcpy(b, good, sizeof(good));
    b[9] = 0x0e;
    TRY(sizeof(good), ATTEX_ERR_MISSING_EXTENSION, ATTEX_ALERT_MISSING_EXTENSION);
    /* odd-length scheme list */
    memcpy(b, good, sizeof(good));
    b[13] = 0x01;
    TRY(sizeof(good), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    /* empty scheme list */
    static const uint8_t empty_list[] = {0x11, 0, 0, 0x0a, 0x01, 0x01, 0x00, 0x06,
                                         0x00, 0x0d, 0x00, 0x02, 0x00, 0x00};
    memcpy(b, empty_list, sizeof(empty_list));
    TRY(sizeof(empty_list), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR);
    /* duplicate extension */
    static const uint8_t dup[] = {0x11, 0, 0, 0x11, 0x01, 0x01, 0x00, 0x0c, 0x00, 0x0d,
                                  0x00, 0x04, 0x00, 0x02, 0x04, 0x03, 0xff, 0x00, 0x00,
                                  0x00, 0xff, 0x00, 0x00, 0x00};
    memcpy(b, dup, sizeof(dup));
    b[3] = 0x14;
    b[7] = 0x10;
    TRY(sizeof(dup), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER);
#undef TRY
}

int main(void)
{
    k_p256 = tu_key("p256");
    k_ed = tu_key("ed25519");
    k_rsa = tu_key("rsa2048");
    k_rsa1024 = tu_key("rsa1024");
    c_p256 = tu_cert(k_p256, "p256", NULL, NULL, 0, 1);
    c_ed = tu_cert(k_ed, "ed25519", NULL, NULL, 0, 1);
    c_rsa = tu_cert(k_rsa, "rsa", NULL, NULL, 0, 1);
    c_rsa1024 = tu_cert(k_rsa1024, "rsa1024", NULL, NULL, 0, 1);
    if (!c_p256 || !c_ed || !c_rsa || !c_rsa1024) {
        fprintf(stderr, "fixture keys/certs failed\n");
        return 2;
    }
    attex_error_clear(&err);
    test_baseline();
    test_mutations();
    test_other_connection();
    test_rules();
    test_structure();
    test_create_rules();
    test_cmw_attestation_rules();
    test_request_parser();
    X509_free(c_p256);
    X509_free(c_ed);
    X509_free(c_rsa);
    X509_free(c_rsa1024);
    EVP_PKEY_free(k_p256);
    EVP_PKEY_free(k_ed);
    EVP_PKEY_free(k_rsa);
    EVP_PKEY_free(k_rsa1024);
    return tu_finish("test_ea_negative");
}
