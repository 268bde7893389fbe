/*
 * make_seeds: writes the seed corpora of the attex fuzz targets.
 *
 * Not built by CMake. From the repository root:
 *
 *   cmake -S . -B build -G Ninja && ninja -C build attex_static attex_testutil
 *   gcc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Iinclude -Isrc -Itests/util -Ifuzz \
 *       fuzz/make_seeds.c -o build/make_seeds \
 *       build/libattex_testutil.a build/libattex.a -lssl -lcrypto
 *   ./build/make_seeds            # or: ./build/make_seeds REPO_ROOT
 *
 * It (re)writes fuzz/corpus/{fuzz_request,fuzz_authenticator,fuzz_validate}/
 * under REPO_ROOT (default "."), one small binary file per seed:
 *
 *  fuzz_request        requests of both types with assorted contexts, schemes
 *                      and extensions; the known-answer vector's request and
 *                      request_empty; a few near-misses (duplicate extension,
 *                      no signature_algorithms, empty context, trailing byte,
 *                      odd scheme list); one authenticator (for get_context).
 *  fuzz_authenticator  real authenticators made with
 *                      attex_ea_authenticator_create on real TLS 1.3
 *                      connections (tu_pair_open), SHA-256 and SHA-384 suites:
 *                      P-256, P-384, Ed25519, Ed448, RSA (rsae), RSA-PSS, a
 *                      two-certificate chain, a spontaneous one, a client's
 *                      answer, empty authenticators; the vector's
 *                      authenticator and empty_authenticator.
 *  fuzz_validate       authenticators answering the one request fuzz_validate
 *                      issues (context 00..1f, extensions 0xFF00 and 0x0005),
 *                      made by a fake-TLS server session with the same
 *                      deterministic exporter (fuzz/fuzz_tls_stub.h), so they
 *                      validate for real; a spontaneous one; an empty one; the
 *                      vector's authenticator and empty_authenticator.
 *
 * It also writes fuzz/regressions/fuzz_validate/cert_entry_signature_algorithms,
 * the hand-made reproducer of a bug fuzz_validate found (see
 * regression_files() below).
 *
 * Keys and certificates are fresh on each run, so the files change every
 * time; only their structure matters. Each authenticator made here is
 * checked by attex_ea_authenticator_validate with the crypto checks on
 * before it is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <attex/attex.h>

#include "bytes.h"
#include "ea_msg.h"
#include "fuzz_tls_stub.h"
#include "testutil.h"

#define MAX_SEED 4096

static const char *root = ".";
static int failures;

static void fail(const char *what, const attex_error *err)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, err ? err->message : "failed");
    ERR_print_errors_fp(stderr);
    failures++;
}

/* Creates root/fuzz/<rel> and its parents below root/fuzz. */
static void mkdirs(const char *rel)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/fuzz/%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof(path))
        return;
    size_t base = strlen(root) + strlen("/fuzz/");
    for (size_t i = base; path[i] != 0; i++) {
        if (path[i] != '/')
            continue;
        path[i] = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            perror(path);
        path[i] = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        perror(path);
}

/* Writes root/fuzz/<rel>/<name>. */
static void write_file(const char *rel, const char *name, const uint8_t *data, size_t len)
{
    char path[4096];
    if (len == 0 || len >= MAX_SEED) {
        fprintf(stderr, "make_seeds: %s/%s is %zu bytes; seeds must be 1..%d bytes\n", rel,
                name, len, MAX_SEED - 1);
        failures++;
        return;
    }
    mkdirs(rel);
    snprintf(path, sizeof(path), "%s/fuzz/%s/%s", root, rel, name);
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(data, 1, len, f) == len;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok) {
        perror(path);
        failures++;
        return;
    }
    printf("%-64s %5zu bytes\n", path, len);
}

static void write_seed(const char *target, const char *name, const uint8_t *data, size_t len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "corpus/%s", target);
    write_file(rel, name, data, len);
}

static void write_buf(const char *target, const char *name, const attex_buf *b)
{
    write_seed(target, name, b->data, b->len);
}

/* ---------------------------------------------------------------------- */
/* The known-answer vector                                                */

static void kat_seed(const char *field, const char *target, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/vectors/ea/tls13-aes128gcm-sha256-server.txt", root);
    char *hex = tu_file_field(path, field);
    attex_buf b = ATTEX_BUF_INIT;
    if (hex == NULL || !tu_hex(hex, &b)) {
        fprintf(stderr, "make_seeds: cannot read field %s of %s\n", field, path);
        failures++;
    } else {
        write_buf(target, name, &b);
    }
    attex_buf_free(&b);
    free(hex);
}

/* ---------------------------------------------------------------------- */
/* Identities                                                             */

typedef struct ident {
    EVP_PKEY *key;
    X509 *cert;
    EVP_PKEY *ca_key; /* chain identities only */
    X509 *ca;
} ident;

static int ident_make(ident *id, const char *kind, int with_ca)
{
    memset(id, 0, sizeof(*id));
    if (with_ca) {
        id->ca_key = tu_key("p256");
        id->ca = id->ca_key ? tu_cert(id->ca_key, "attex fuzz CA", NULL, NULL, 1, 3650) : NULL;
        if (id->ca == NULL)
            return 0;
    }
    id->key = tu_key(kind);
    id->cert = id->key ? tu_cert(id->key, "attex fuzz leaf", id->ca, id->ca_key, 0, 3650) : NULL;
    return id->cert != NULL;
}

static void ident_free(ident *id)
{
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
    X509_free(id->ca);
    EVP_PKEY_free(id->ca_key);
    memset(id, 0, sizeof(*id));
}

static void ident_params(const ident *id, attex_ea_identity *p, const attex_extension *exts,
                         size_t num_exts)
{
    memset(p, 0, sizeof(*p));
    p->cert = id->cert;
    p->key = id->key;
    p->chain = id->ca ? &id->ca : NULL;
    p->num_chain = id->ca ? 1 : 0;
    p->extensions = exts;
    p->num_extensions = num_exts;
}

static const uint8_t evidence[] = "{\"evidence\":\"opaque attestation payload for fuzzing\"}";
static const uint8_t ocsp_req[] = {0x01, 0x00, 0x00, 0x00, 0x00}; /* status_request: ocsp, empty */

/* ---------------------------------------------------------------------- */
/* fuzz_request                                                           */

static int fake_request(attex_role role, const attex_ea_request_params *p, attex_buf *out)
{
    fz_fake_tls conn = {role, ATTEX_HASH_SHA256};
    attex_tls tls = fz_fake_tls_iface(&conn);
    attex_error err;
    attex_ea_session *s = attex_ea_session_new(&tls, &err);
    int ok = s != NULL && attex_ea_request_create(s, p, out, &err) == ATTEX_OK;
    if (!ok)
        fail("attex_ea_request_create", &err);
    attex_ea_session_free(s);
    return ok;
}

/* Encodes a request directly, for the malformed near-misses. */
static void encode_request(attex_buf *out, uint8_t type, const uint8_t *ctx, size_t ctx_len,
                           const uint16_t *schemes, size_t ns, const attex_extension *exts,
                           size_t ne)
{
    attex_writer w;
    wr_init(&w, ATTEX_EA_MAX_MESSAGE);
    ea_encode_request(&w, type, ctx, ctx_len, schemes, ns, exts, ne);
    if (!wr_finish(&w, out))
        fail("ea_encode_request", NULL);
}

static void request_seeds(void)
{
    const char *T = "fuzz_request";
    attex_buf b = ATTEX_BUF_INIT;
    attex_ea_request_params p;

    /* The fixed request of fuzz_validate: ClientCertificateRequest, all schemes, 2 extensions. */
    uint8_t fctx[FZ_CONTEXT_LEN];
    attex_extension fexts[2];
    fz_request_params(&p, fctx, fexts);
    if (fake_request(ATTEX_ROLE_CLIENT, &p, &b))
        write_buf(T, "req17_fixed_ctx_ff00_0005", &b);
    attex_buf_free(&b);

    /* CertificateRequest (server), default schemes, no extra extension. */
    uint8_t ctx32[32];
    for (size_t i = 0; i < sizeof(ctx32); i++)
        ctx32[i] = (uint8_t)(0xa0 + i);
    memset(&p, 0, sizeof(p));
    p.context = ctx32;
    p.context_len = sizeof(ctx32);
    if (fake_request(ATTEX_ROLE_SERVER, &p, &b))
        write_buf(T, "req13_default_schemes", &b);
    attex_buf_free(&b);

    /* One-byte context, one scheme. */
    static const uint8_t ctx1[1] = {0x42};
    static const uint16_t ed[] = {ATTEX_SCHEME_ED25519};
    memset(&p, 0, sizeof(p));
    p.context = ctx1;
    p.context_len = 1;
    p.schemes = ed;
    p.num_schemes = 1;
    if (fake_request(ATTEX_ROLE_CLIENT, &p, &b))
        write_buf(T, "req17_ctx1_ed25519", &b);
    attex_buf_free(&b);

    /* 255-byte context, many extensions with content. */
    uint8_t ctx255[255];
    for (size_t i = 0; i < sizeof(ctx255); i++)
        ctx255[i] = (uint8_t)(i * 7 + 3);
    static const uint16_t two[] = {ATTEX_SCHEME_ECDSA_SECP256R1_SHA256,
                                   ATTEX_SCHEME_RSA_PSS_RSAE_SHA256};
    static const uint8_t sni[] = {0x00, 0x0e, 0x00, 0x00, 0x0b, 'e', 'x', 'a', 'm',
                                  'p',  'l',  'e',  '.',  'c',  'o', 'm'};
    static const uint8_t sa_cert[] = {0x00, 0x04, 0x04, 0x03, 0x08, 0x04};
    attex_extension many[] = {
        {ATTEX_EXT_SERVER_NAME, sni, sizeof(sni)},
        {0x0005, ocsp_req, sizeof(ocsp_req)},
        {ATTEX_EXT_SIGNATURE_ALGORITHMS_CERT, sa_cert, sizeof(sa_cert)},
        {0x0030, NULL, 0}, /* oid_filters, empty */
        {0xff00, evidence, sizeof(evidence) - 1},
    };
    memset(&p, 0, sizeof(p));
    p.context = ctx255;
    p.context_len = sizeof(ctx255);
    p.schemes = two;
    p.num_schemes = 2;
    p.extensions = many;
    p.num_extensions = sizeof(many) / sizeof(many[0]);
    if (fake_request(ATTEX_ROLE_SERVER, &p, &b))
        write_buf(T, "req13_ctx255_many_exts", &b);
    attex_buf_free(&b);

    /* Schemes attex does not know (TLS 1.2 or made up): still a valid request. */
    static const uint16_t odd[] = {0x0201, 0x0401, 0xfefe, ATTEX_SCHEME_ED448};
    memset(&p, 0, sizeof(p));
    p.context = ctx32;
    p.context_len = 16;
    p.schemes = odd;
    p.num_schemes = 4;
    if (fake_request(ATTEX_ROLE_CLIENT, &p, &b))
        write_buf(T, "req17_unknown_schemes", &b);
    attex_buf_free(&b);

    /* The known-answer vector. */
    kat_seed("request", T, "kat_request");
    kat_seed("request_empty", T, "kat_request_empty");

    /* Near-misses: each breaks one rule of the parser. */
    static const uint16_t p256[] = {ATTEX_SCHEME_ECDSA_SECP256R1_SHA256};
    attex_extension dup[] = {{0xff00, NULL, 0}, {0xff00, ocsp_req, 1}};
    encode_request(&b, ATTEX_HS_CLIENT_CERTIFICATE_REQUEST, ctx32, 8, p256, 1, dup, 2);
    write_buf(T, "bad_duplicate_extension", &b);
    attex_buf_free(&b);

    encode_request(&b, ATTEX_HS_CERTIFICATE_REQUEST, ctx32, 0, p256, 1, NULL, 0);
    write_buf(T, "bad_empty_context", &b);
    attex_buf_free(&b);

    /* signature_algorithms renamed to 0x000e: missing. */
    encode_request(&b, ATTEX_HS_CLIENT_CERTIFICATE_REQUEST, ctx32, 8, p256, 1, NULL, 0);
    if (b.len > 4 + 1 + 8 + 2 + 2) {
        b.data[4 + 1 + 8 + 2 + 1] = 0x0e;
        write_buf(T, "bad_no_signature_algorithms", &b);
    }
    attex_buf_free(&b);

    /* A trailing byte after the message. */
    encode_request(&b, ATTEX_HS_CERTIFICATE_REQUEST, ctx32, 8, p256, 1, NULL, 0);
    if (b.data != NULL) {
        uint8_t tmp[64];
        if (b.len < sizeof(tmp)) {
            memcpy(tmp, b.data, b.len);
            tmp[b.len] = 0x00;
            write_seed(T, "bad_trailing_byte", tmp, b.len + 1);
        }
    }
    attex_buf_free(&b);

    /* An odd-length scheme list: 00 03 04 03 08 inside signature_algorithms. */
    static const uint8_t odd_list[] = {
        ATTEX_HS_CLIENT_CERTIFICATE_REQUEST, 0x00, 0x00, 0x0d, 0x01, 0x77, 0x00, 0x09,
        0x00, 0x0d, 0x00, 0x05, 0x00, 0x03, 0x04, 0x03, 0x08};
    write_seed(T, "bad_odd_scheme_list", odd_list, sizeof(odd_list));
}

/* ---------------------------------------------------------------------- */
/* fuzz_authenticator: real connections                                   */

/*
 * The client asks (ClientCertificateRequest with extension 0xFF00), the server
 * answers as `id` (NULL for an empty authenticator), the client validates.
 */
static void real_answer(tu_pair *pair, const char *name, const ident *id, int with_ext)
{
    attex_error err;
    attex_ea_session *cs = attex_ea_session_new_openssl(pair->client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(pair->server, &err);
    attex_buf req = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    attex_extension offer[] = {{0xff00, NULL, 0}};
    attex_extension give[] = {{0xff00, evidence, sizeof(evidence) - 1}};
    attex_ea_request_params p;
    memset(&p, 0, sizeof(p));
    p.extensions = offer;
    p.num_extensions = 1;
    attex_ea_identity ip;
    memset(&ip, 0, sizeof(ip));
    if (id != NULL)
        ident_params(id, &ip, give, with_ext ? 1 : 0);
    if (cs == NULL || ss == NULL || attex_ea_request_create(cs, &p, &req, &err) != ATTEX_OK ||
        attex_ea_authenticator_create(ss, req.data, req.len, &ip, &auth, &err) != ATTEX_OK) {
        fail(name, &err);
        goto out;
    }
    int ret = attex_ea_authenticator_validate(cs, req.data, req.len, auth.data, auth.len, NULL,
                                              &a, &err);
    if (ret != (id ? ATTEX_OK : ATTEX_ERR_REFUSED)) {
        fail(name, &err);
        goto out;
    }
    write_buf("fuzz_authenticator", name, &auth);
out:
    attex_ea_authenticator_free(a);
    attex_buf_free(&req);
    attex_buf_free(&auth);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
}

/* The server authenticates spontaneously; the client validates. */
static void real_spontaneous(tu_pair *pair, const char *name, const ident *id)
{
    attex_error err;
    attex_ea_session *cs = attex_ea_session_new_openssl(pair->client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(pair->server, &err);
    attex_buf auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    attex_ea_identity ip;
    ident_params(id, &ip, NULL, 0);
    if (cs == NULL || ss == NULL ||
        attex_ea_authenticator_create(ss, NULL, 0, &ip, &auth, &err) != ATTEX_OK ||
        attex_ea_authenticator_validate(cs, NULL, 0, auth.data, auth.len, NULL, &a, &err) !=
            ATTEX_OK) {
        fail(name, &err);
    } else {
        write_buf("fuzz_authenticator", name, &auth);
    }
    attex_ea_authenticator_free(a);
    attex_buf_free(&auth);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
}

/* The server asks (CertificateRequest), the client answers; the server validates. */
static void real_client_answer(tu_pair *pair, const char *name, const ident *id)
{
    attex_error err;
    attex_ea_session *cs = attex_ea_session_new_openssl(pair->client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(pair->server, &err);
    attex_buf req = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    attex_ea_identity ip;
    ident_params(id, &ip, NULL, 0);
    if (cs == NULL || ss == NULL || attex_ea_request_create(ss, NULL, &req, &err) != ATTEX_OK ||
        attex_ea_authenticator_create(cs, req.data, req.len, &ip, &auth, &err) != ATTEX_OK ||
        attex_ea_authenticator_validate(ss, req.data, req.len, auth.data, auth.len, NULL, &a,
                                        &err) != ATTEX_OK) {
        fail(name, &err);
    } else {
        write_buf("fuzz_authenticator", name, &auth);
    }
    attex_ea_authenticator_free(a);
    attex_buf_free(&req);
    attex_buf_free(&auth);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
}

static void authenticator_seeds(void)
{
    ident p256, p384, ed25519, ed448, rsa, rsapss, chain;
    if (!ident_make(&p256, "p256", 0) || !ident_make(&p384, "p384", 0) ||
        !ident_make(&ed25519, "ed25519", 0) || !ident_make(&ed448, "ed448", 0) ||
        !ident_make(&rsa, "rsa2048", 0) || !ident_make(&rsapss, "rsapss2048", 0) ||
        !ident_make(&chain, "p256", 1)) {
        fail("making keys and certificates", NULL);
        exit(1);
    }

    /* SHA-256 suite: 32-byte Finished. */
    tu_pair pair;
    tu_pair_opts o;
    memset(&o, 0, sizeof(o));
    o.ciphersuites = "TLS_AES_128_GCM_SHA256";
    if (!tu_pair_open(&pair, &o)) {
        fail("TLS pair (SHA-256)", NULL);
    } else {
        real_answer(&pair, "sha256_p256_ext", &p256, 1);
        real_answer(&pair, "sha256_ed25519", &ed25519, 0);
        real_answer(&pair, "sha256_rsapss", &rsapss, 1);
        real_answer(&pair, "sha256_chain_p256", &chain, 1);
        real_answer(&pair, "sha256_empty", NULL, 0);
        real_spontaneous(&pair, "sha256_spontaneous_p256", &p256);
        real_client_answer(&pair, "sha256_client_ed25519", &ed25519);
        tu_pair_close(&pair);
    }

    /* SHA-384 suite: 48-byte Finished. */
    o.ciphersuites = "TLS_AES_256_GCM_SHA384";
    if (!tu_pair_open(&pair, &o)) {
        fail("TLS pair (SHA-384)", NULL);
    } else {
        real_answer(&pair, "sha384_p384_ext", &p384, 1);
        real_answer(&pair, "sha384_ed448", &ed448, 0);
        real_answer(&pair, "sha384_rsa_rsae", &rsa, 0);
        real_answer(&pair, "sha384_empty", NULL, 0);
        tu_pair_close(&pair);
    }

    kat_seed("authenticator", "fuzz_authenticator", "kat_authenticator");
    kat_seed("empty_authenticator", "fuzz_authenticator", "kat_empty_authenticator");

    ident_free(&p256);
    ident_free(&p384);
    ident_free(&ed25519);
    ident_free(&ed448);
    ident_free(&rsa);
    ident_free(&rsapss);
    ident_free(&chain);
}

/* ---------------------------------------------------------------------- */
/* fuzz_validate: the fake connection of the fuzz target                  */

/*
 * A fake server answers the fixed request as `id` (NULL: empty) with extensions
 * `exts`; a fake client session that issued the request validates it with
 * the crypto checks on. Returns 1 if the authenticator was made (then in
 * *auth) and sets *validated to what validation returned.
 */
static int fake_answer_bytes(const char *name, const ident *id, const attex_extension *exts,
                             size_t num_exts, attex_buf *auth, int *validated,
                             attex_error *verr)
{
    fz_fake_tls cconn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256};
    fz_fake_tls sconn = {ATTEX_ROLE_SERVER, ATTEX_HASH_SHA256};
    attex_tls ctls = fz_fake_tls_iface(&cconn), stls = fz_fake_tls_iface(&sconn);
    attex_error err;
    attex_ea_session *cs = attex_ea_session_new(&ctls, &err);
    attex_ea_session *ss = attex_ea_session_new(&stls, &err);
    attex_buf req = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    uint8_t ctx[FZ_CONTEXT_LEN];
    attex_extension rexts[2];
    attex_ea_request_params p;
    int made = 0;
    fz_request_params(&p, ctx, rexts);
    attex_ea_identity ip;
    memset(&ip, 0, sizeof(ip));
    if (id != NULL)
        ident_params(id, &ip, exts, num_exts);
    if (cs == NULL || ss == NULL || attex_ea_request_create(cs, &p, &req, &err) != ATTEX_OK ||
        attex_ea_authenticator_create(ss, req.data, req.len, &ip, auth, &err) != ATTEX_OK) {
        fail(name, &err);
        goto out;
    }
    made = 1;
    memset(verr, 0, sizeof(*verr));
    *validated = attex_ea_authenticator_validate(cs, req.data, req.len, auth->data, auth->len,
                                                 NULL, &a, verr);
out:
    attex_ea_authenticator_free(a);
    attex_buf_free(&req);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    return made;
}

static void fake_answer(const char *name, const ident *id, const attex_extension *exts,
                        size_t num_exts)
{
    attex_buf auth = ATTEX_BUF_INIT;
    attex_error err;
    int ret = 0;
    if (fake_answer_bytes(name, id, exts, num_exts, &auth, &ret, &err)) {
        if (ret != (id ? ATTEX_OK : ATTEX_ERR_REFUSED))
            fail(name, &err);
        else
            write_buf("fuzz_validate", name, &auth);
    }
    attex_buf_free(&auth);
}

static void fake_spontaneous(const char *name, const ident *id)
{
    fz_fake_tls cconn = {ATTEX_ROLE_CLIENT, ATTEX_HASH_SHA256};
    fz_fake_tls sconn = {ATTEX_ROLE_SERVER, ATTEX_HASH_SHA256};
    attex_tls ctls = fz_fake_tls_iface(&cconn), stls = fz_fake_tls_iface(&sconn);
    attex_error err;
    attex_ea_session *cs = attex_ea_session_new(&ctls, &err);
    attex_ea_session *ss = attex_ea_session_new(&stls, &err);
    attex_buf auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    static const uint8_t sctx[16] = {0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
                                     0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf};
    attex_ea_identity ip;
    ident_params(id, &ip, NULL, 0);
    ip.context = sctx;
    ip.context_len = sizeof(sctx);
    if (cs == NULL || ss == NULL ||
        attex_ea_authenticator_create(ss, NULL, 0, &ip, &auth, &err) != ATTEX_OK ||
        attex_ea_authenticator_validate(cs, NULL, 0, auth.data, auth.len, NULL, &a, &err) !=
            ATTEX_OK) {
        fail(name, &err);
    } else {
        write_buf("fuzz_validate", name, &auth);
    }
    attex_ea_authenticator_free(a);
    attex_buf_free(&auth);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
}

static void validate_seeds(void)
{
    ident p256, p384, p521, ed25519, ed448, rsa, rsapss, chain;
    if (!ident_make(&p256, "p256", 0) || !ident_make(&p384, "p384", 0) ||
        !ident_make(&p521, "p521", 0) || !ident_make(&ed25519, "ed25519", 0) ||
        !ident_make(&ed448, "ed448", 0) || !ident_make(&rsa, "rsa2048", 0) ||
        !ident_make(&rsapss, "rsapss2048", 0) || !ident_make(&chain, "p256", 1)) {
        fail("making keys and certificates", NULL);
        exit(1);
    }
    attex_extension ev[] = {{0xff00, evidence, sizeof(evidence) - 1}};
    attex_extension both[] = {{0xff00, evidence, sizeof(evidence) - 1},
                              {0x0005, ocsp_req, sizeof(ocsp_req)}};

    fake_answer("fixed_p256_ff00", &p256, ev, 1);
    fake_answer("fixed_p384", &p384, NULL, 0);
    fake_answer("fixed_p521", &p521, NULL, 0);
    fake_answer("fixed_ed25519_ff00", &ed25519, ev, 1);
    fake_answer("fixed_ed448", &ed448, NULL, 0);
    fake_answer("fixed_rsa_rsae", &rsa, NULL, 0);
    fake_answer("fixed_rsapss_ff00_0005", &rsapss, both, 2);
    fake_answer("fixed_chain_p256_ff00_0005", &chain, both, 2);
    fake_answer("fixed_empty", NULL, NULL, 0);
    fake_spontaneous("spontaneous_p256", &p256);
    fake_spontaneous("spontaneous_chain_p256", &chain);

    /* Context 00..1f with extension 0xFF00 and scheme 0x0403: answers the fixed request too. */
    kat_seed("authenticator", "fuzz_validate", "kat_authenticator");
    kat_seed("empty_authenticator", "fuzz_validate", "kat_empty_authenticator");

    ident_free(&p256);
    ident_free(&p384);
    ident_free(&p521);
    ident_free(&ed25519);
    ident_free(&ed448);
    ident_free(&rsa);
    ident_free(&rsapss);
    ident_free(&chain);
}

/* ---------------------------------------------------------------------- */
/* fuzz/regressions: reproducers of library bugs the fuzzers found         */

/*
 * fuzz_validate: a CertificateEntry carrying signature_algorithms (13). RFC
 * 8446 s4.2 allows that extension in ClientHello and CertificateRequest only,
 * and a recognised extension in the wrong message MUST be rejected with
 * illegal_parameter. attex treats the request's own signature_algorithms as
 * "offered", so attex_ea_authenticator_create emits this and
 * attex_ea_authenticator_validate accepts it (crypto checks on). Written
 * whatever validation says, so the file stays when the library is fixed.
 */
static void regression_files(void)
{
    ident p256;
    if (!ident_make(&p256, "p256", 0)) {
        fail("making keys and certificates", NULL);
        return;
    }
    static const uint8_t sa[] = {0x00, 0x02, 0x04, 0x03};
    attex_extension ext[] = {{ATTEX_EXT_SIGNATURE_ALGORITHMS, sa, sizeof(sa)}};
    attex_buf auth = ATTEX_BUF_INIT;
    attex_error err;
    int ret = 0;
    if (fake_answer_bytes("regression: signature_algorithms in CertificateEntry", &p256, ext, 1,
                          &auth, &ret, &err)) {
        write_file("regressions/fuzz_validate", "cert_entry_signature_algorithms", auth.data,
                   auth.len);
        printf("    (attex_ea_authenticator_validate with crypto on: %s%s%s)\n",
               attex_status_name(ret), ret ? ": " : "", ret ? err.message : "");
    }
    attex_buf_free(&auth);
    ident_free(&p256);
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [REPO_ROOT]\n", argv[0]);
        return 2;
    }
    if (argc == 2)
        root = argv[1];
    request_seeds();
    authenticator_seeds();
    validate_seeds();
    regression_files();

    /* One authenticator in the request corpus, so get_context sees a Certificate there. */
    char src[4096];
    snprintf(src, sizeof(src), "%s/fuzz/corpus/fuzz_authenticator/sha256_p256_ext", root);
    FILE *in = fopen(src, "rb");
    if (in != NULL) {
        uint8_t buf[MAX_SEED];
        size_t n = fread(buf, 1, sizeof(buf), in);
        fclose(in);
        write_seed("fuzz_request", "auth_sha256_p256_ext", buf, n);
    } else {
        perror(src);
        failures++;
    }

    if (failures) {
        fprintf(stderr, "make_seeds: %d failure(s)\n", failures);
        return 1;
    }
    return 0;
}
