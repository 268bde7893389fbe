/*
 * libFuzzer target: the whole attex_ea_authenticator_validate path.
 *
 * The connection is a fake attex_tls (fuzz_tls_stub.h): TLS 1.3, handshake
 * complete, we are the CLIENT, SHA-256, a deterministic exporter. The library
 * is attex_fuzzlib, built with ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO, so the
 * Finished and CertificateVerify checks are skipped and a well-formed
 * authenticator with a real DER certificate reaches the X.509 parsing, the
 * path validation and the success path.
 *
 * For each input:
 *  1. a fresh session issues the fixed request (context 00..1f, extensions
 *     0xFF00 and 0x0005) and validates the input against it; a second
 *     validation must then fail with CONTEXT_REUSED if the first used the
 *     context up (success or refusal), or fail the same way otherwise;
 *  2. if that succeeded, another fresh session validates it again with a
 *     trust store holding the last certificate of the chain: path
 *     validation may pass or fail, nothing else may change;
 *  3. a fresh session validates the input as a spontaneous authenticator
 *     (request NULL, extension 0xFF00 allowed from the "ClientHello"); on
 *     success the context is used up for later validations and requests.
 * Every accepted authenticator is walked through all its accessors.
 *
 * Extensions in an accepted Certificate: only those the request offered
 * (RFC 9261 s5.2.1), and never signature_algorithms, which RFC 8446 s4.2
 * allows in ClientHello and CertificateRequest only (a recognised extension
 * in the wrong message MUST be rejected with illegal_parameter), although
 * every request carries it. attex once accepted it: the reproducers are in
 * fuzz/regressions/fuzz_validate/ and the target must reject them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <attex/ea.h>
#include <attex/error.h>

#include "fuzz_common.h"
#include "fuzz_tls_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fz_fake_tls client_conn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256};
static attex_tls client_tls;
static int initialised;

static const uint16_t spontaneous_exts[] = {0xff00};


static void init_once(void)
{
    if (initialised)
        return;
    client_tls = fz_fake_tls_iface(&client_conn);
    initialised = 1;
}

/* May a validated Certificate's entry carry extension `type`? */
static int entry_extension_allowed(uint16_t type, int spontaneous)
{
    if (spontaneous)
        return type == 0xff00; /* opts.spontaneous_extensions */
    if (type == 0xff00 || type == 0x0005)
        return 1; /* the request's extra extensions; status_request may appear in Certificate */
    /* The request's signature_algorithms is "offered", but forbidden in a Certificate. */
    return 0;
}

/* A fresh session that has issued the fixed request, whose bytes go to *req. */
static attex_ea_session *session_with_request(attex_buf *req)
{
    attex_error err;
    attex_ea_session *s = attex_ea_session_new(&client_tls, &err);
    FZ_CHECK(s != NULL);
    uint8_t ctx[FZ_CONTEXT_LEN];
    attex_extension exts[2];
    attex_ea_request_params p;
    fz_request_params(&p, ctx, exts);
    FZ_CHECK(attex_ea_request_create(s, &p, req, &err) == ATTEX_OK);
    FZ_CHECK(req->len > 4 && req->data[0] == ATTEX_HS_CLIENT_CERTIFICATE_REQUEST);
    return s;
}

static int scheme_supported(uint16_t scheme)
{
    size_t n = 0;
    const uint16_t *list = attex_supported_schemes(&n);
    for (size_t i = 0; i < n; i++)
        if (list[i] == scheme)
            return 1;
    return 0;
}

/* Walks every accessor of a validated authenticator and checks what it promises. */
static void check_authenticator(const attex_ea_authenticator *a, int spontaneous,
                                const uint8_t *data, size_t size)
{
    size_t ctx_len = 0;
    const uint8_t *ctx = attex_ea_authenticator_context(a, &ctx_len);
    FZ_CHECK(ctx != NULL && ctx_len >= 1 && ctx_len <= ATTEX_EA_MAX_CONTEXT);
    fz_touch(ctx, ctx_len);
    if (!spontaneous) {
        uint8_t want[FZ_CONTEXT_LEN];
        fz_fixed_context(want);
        FZ_CHECK(ctx_len == FZ_CONTEXT_LEN && memcmp(ctx, want, FZ_CONTEXT_LEN) == 0);
    }
    /* The Certificate's context sits right after its header. */
    FZ_CHECK(size > 5 + ctx_len && data[4] == ctx_len && memcmp(data + 5, ctx, ctx_len) == 0);
    FZ_CHECK(attex_ea_authenticator_is_spontaneous(a) == spontaneous);

    uint16_t scheme = attex_ea_authenticator_scheme(a);
    FZ_CHECK(attex_scheme_name(scheme) != NULL);
    FZ_CHECK(scheme_supported(scheme)); /* the request and the ClientHello offer all of them */

    size_t n = attex_ea_authenticator_num_certs(a);
    FZ_CHECK(n >= 1);
    for (size_t i = 0; i < n; i++) {
        X509 *c = attex_ea_authenticator_cert(a, i);
        FZ_CHECK(c != NULL);
        size_t der_len = 0;
        const uint8_t *der = attex_ea_authenticator_cert_der(a, i, &der_len);
        FZ_CHECK(der != NULL && der_len >= 1);
        /* The DER is a copy held by a, not the caller's input. */
        FZ_CHECK(!fz_within(der, 1, data, size));
        fz_touch(der, der_len);
        fz_sink = (uint8_t)(fz_sink + (uint8_t)X509_get_version(c));
    }
    FZ_CHECK(X509_get0_pubkey(attex_ea_authenticator_cert(a, 0)) != NULL);
    FZ_CHECK(attex_ea_authenticator_cert(a, n) == NULL);
    size_t none_len = 7;
    FZ_CHECK(attex_ea_authenticator_cert_der(a, n, &none_len) == NULL && none_len == 0);

    size_t ne = attex_ea_authenticator_num_extensions(a);
    FZ_CHECK(ne == attex_ea_authenticator_num_entry_extensions(a, 0));
    for (size_t i = 0; i < ne; i++) {
        attex_extension e = attex_ea_authenticator_extension(a, i);
        attex_extension e0 = attex_ea_authenticator_entry_extension(a, 0, i);
        FZ_CHECK(e.type == e0.type && e.data == e0.data && e.len == e0.len);
        attex_extension f = {0, NULL, 0};
        FZ_CHECK(attex_ea_authenticator_find_extension(a, e.type, &f) == 1);
        FZ_CHECK(f.type == e.type && f.data == e.data && f.len == e.len);
    }
    /* Every entry: only what was offered, and allowed in a Certificate (RFC 9261 s5.2.1,
     * RFC 8446 s4.2). The extension data lies inside the authenticator's own copy. */
    for (size_t c = 0; c < n; c++) {
        size_t der_len = 0;
        const uint8_t *der = attex_ea_authenticator_cert_der(a, c, &der_len);
        size_t nx = attex_ea_authenticator_num_entry_extensions(a, c);
        for (size_t i = 0; i < nx; i++) {
            attex_extension e = attex_ea_authenticator_entry_extension(a, c, i);
            FZ_CHECK(entry_extension_allowed(e.type, spontaneous));
            FZ_CHECK(e.len == 0 || e.data > der); /* after its certificate */
            fz_touch(e.data, e.len);
            for (size_t j = 0; j < i; j++)
                FZ_CHECK(attex_ea_authenticator_entry_extension(a, c, j).type != e.type);
        }
        attex_extension none = attex_ea_authenticator_entry_extension(a, c, nx);
        FZ_CHECK(none.type == 0 && none.data == NULL && none.len == 0);
    }
    FZ_CHECK(attex_ea_authenticator_num_entry_extensions(a, n) == 0);
    attex_extension none = attex_ea_authenticator_extension(a, ne);
    FZ_CHECK(none.type == 0 && none.data == NULL && none.len == 0);
    attex_extension f;
    FZ_CHECK(attex_ea_authenticator_find_extension(a, ATTEX_EXT_SIGNATURE_ALGORITHMS, &f) == 0);
}

static int validate(attex_ea_session *s, const attex_buf *req, const uint8_t *data, size_t size,
                    const attex_ea_validate_opts *opts, attex_ea_authenticator **out)
{
    attex_error err;
    memset(&err, 0, sizeof(err));
    *out = (attex_ea_authenticator *)&err; /* any non-NULL value: must be reset */
    int ret = attex_ea_authenticator_validate(s, req ? req->data : NULL, req ? req->len : 0,
                                              data, size, opts, out, &err);
    if (ret == ATTEX_OK) {
        FZ_CHECK(*out != NULL);
    } else {
        FZ_CHECK(*out == NULL);
        fz_check_error(&err, ret);
        /* Crypto checks are compiled out: these cannot happen here. */
        FZ_CHECK(ret != ATTEX_ERR_BAD_FINISHED && ret != ATTEX_ERR_BAD_SIGNATURE);
    }
    return ret;
}

/* Step 2: the same input again, with X.509 path validation. */
static void validate_with_store(const attex_ea_authenticator *first, const uint8_t *data,
                                size_t size)
{
    X509_STORE *store = X509_STORE_new();
    FZ_CHECK(store != NULL);
    size_t n = attex_ea_authenticator_num_certs(first);
    if (X509_STORE_add_cert(store, attex_ea_authenticator_cert(first, n - 1)) != 1)
        ERR_clear_error();
    attex_buf req = ATTEX_BUF_INIT;
    attex_ea_session *s = session_with_request(&req);
    attex_ea_validate_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.trust_store = store;
    if (size & 1)
        opts.no_time_check = 1;
    else
        opts.verify_time = 1800000000; /* 2027-01-15: fixed, so runs reproduce */
    attex_ea_authenticator *a = NULL;
    int ret = validate(s, &req, data, size, &opts, &a);
    FZ_CHECK(ret == ATTEX_OK || ret == ATTEX_ERR_BAD_CERTIFICATE);
    if (ret == ATTEX_OK)
        check_authenticator(a, 0, data, size);
    attex_ea_authenticator_free(a);
    attex_ea_session_free(s);
    attex_buf_free(&req);
    X509_STORE_free(store);
    ERR_clear_error();
}

/* Steps 1 and 2. */
static void run_with_request(const uint8_t *data, size_t size)
{
    attex_buf req = ATTEX_BUF_INIT;
    attex_ea_session *s = session_with_request(&req);
    attex_ea_authenticator *a = NULL, *again = NULL;
    int ret = validate(s, &req, data, size, NULL, &a);
    if (ret == ATTEX_OK)
        check_authenticator(a, 0, data, size);

    int ret2 = validate(s, &req, data, size, NULL, &again);
    if (ret == ATTEX_OK || ret == ATTEX_ERR_REFUSED)
        FZ_CHECK(ret2 == ATTEX_ERR_CONTEXT_REUSED); /* RFC 9261 s7.4: used up */
    else if (ret != ATTEX_ERR_NO_MEMORY)
        FZ_CHECK(ret2 == ret); /* a failure leaves the session as it was */
    attex_ea_authenticator_free(again);

    if (ret == ATTEX_OK)
        validate_with_store(a, data, size);
    attex_ea_authenticator_free(a);
    attex_ea_session_free(s);
    attex_buf_free(&req);
}

/* Step 3. */
static void run_spontaneous(const uint8_t *data, size_t size)
{
    attex_error err;
    attex_ea_session *s = attex_ea_session_new(&client_tls, &err);
    FZ_CHECK(s != NULL);
    attex_ea_validate_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.spontaneous_extensions = spontaneous_exts;
    opts.num_spontaneous_extensions = sizeof(spontaneous_exts) / sizeof(spontaneous_exts[0]);
    attex_ea_authenticator *a = NULL, *again = NULL;
    int ret = validate(s, NULL, data, size, &opts, &a);
    /* A refusal answers a request; there is none. */
    FZ_CHECK(ret != ATTEX_ERR_REFUSED);
    if (ret == ATTEX_OK) {
        check_authenticator(a, 1, data, size);
        /* RFC 9261 s5.2.1: the context is unique within the connection. */
        FZ_CHECK(validate(s, NULL, data, size, &opts, &again) == ATTEX_ERR_CONTEXT_REUSED);
        size_t ctx_len = 0;
        const uint8_t *ctx = attex_ea_authenticator_context(a, &ctx_len);
        attex_ea_request_params p;
        memset(&p, 0, sizeof(p));
        p.context = ctx;
        p.context_len = ctx_len;
        attex_buf req = ATTEX_BUF_INIT;
        FZ_CHECK(attex_ea_request_create(s, &p, &req, &err) == ATTEX_ERR_CONTEXT_REUSED);
        FZ_CHECK(req.data == NULL);
    }
    attex_ea_authenticator_free(again);
    attex_ea_authenticator_free(a);
    attex_ea_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    run_with_request(data, size);
    run_spontaneous(data, size);
    ERR_clear_error();
    return 0;
}
