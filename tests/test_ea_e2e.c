/*
 * End to end over real TLS 1.3 connections on loopback TCP (OpenSSL both
 * sides): requests and authenticators travel inside the TLS connection,
 * in both directions, for every signature scheme and both suite hashes.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testutil.h"

typedef struct scheme_case {
    uint16_t scheme;
    const char *key_kind;
} scheme_case;

static const scheme_case cases[] = {
    {ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, "p256"},
    {ATTEX_SCHEME_ECDSA_SECP384R1_SHA384, "p384"},
    {ATTEX_SCHEME_ECDSA_SECP521R1_SHA512, "p521"},
    {ATTEX_SCHEME_ED25519, "ed25519"},
    {ATTEX_SCHEME_ED448, "ed448"},
    {ATTEX_SCHEME_RSA_PSS_RSAE_SHA256, "rsa2048"},
    {ATTEX_SCHEME_RSA_PSS_RSAE_SHA384, "rsa2048"},
    {ATTEX_SCHEME_RSA_PSS_RSAE_SHA512, "rsa2048"},
    {ATTEX_SCHEME_RSA_PSS_PSS_SHA256, "rsapss2048"},
    {ATTEX_SCHEME_RSA_PSS_PSS_SHA384, "rsapss2048"},
    {ATTEX_SCHEME_RSA_PSS_PSS_SHA512, "rsapss2048"},
};

static const char *const key_kinds[] = {"p256",  "p384",    "p521",      "ed25519",
                                        "ed448", "rsa2048", "rsapss2048"};
static EVP_PKEY *keys[7];
static X509 *certs[7];

static int kind_index(const char *kind)
{
    for (int i = 0; i < 7; i++)
        if (strcmp(key_kinds[i], kind) == 0)
            return i;
    return -1;
}

static const char *const suites[2] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

/*
 * One exchange: `asker` requests with only `scheme` offered, the other side
 * answers with identity `id` (NULL: refuse), the asker validates.
 * Everything crosses the TLS connection.
 */
static int exchange(tu_pair *p, attex_ea_session *cs, attex_ea_session *ss, int server_asks,
                    const uint16_t *schemes, size_t num_schemes, const attex_extension *offer,
                    size_t num_offer, const attex_ea_identity *id,
                    const attex_ea_validate_opts *vo, attex_ea_authenticator **out,
                    attex_error *err)
{
    attex_ea_session *asker = server_asks ? ss : cs;
    attex_ea_session *answerer = server_asks ? cs : ss;
    attex_ea_request_params rp;
    memset(&rp, 0, sizeof(rp));
    rp.schemes = schemes;
    rp.num_schemes = num_schemes;
    rp.extensions = offer;
    rp.num_extensions = num_offer;
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    int rc = attex_ea_request_create(asker, &rp, &req, err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!tu_transfer(p, server_asks, req.data, req.len, &req_rx))
        goto out;
    rc = attex_ea_authenticator_create(answerer, req_rx.data, req_rx.len, id, &auth, err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!tu_transfer(p, !server_asks, auth.data, auth.len, &auth_rx))
        goto out;
    rc = attex_ea_authenticator_validate(asker, req.data, req.len, auth_rx.data, auth_rx.len, vo,
                                         out, err);
out:
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static void test_every_scheme(void)
{
    attex_error err;
    for (int h = 0; h < 2; h++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            tu_pair_opts po = {suites[h], 0, 0, 0};
            tu_pair p;
            if (!tu_pair_open(&p, &po)) {
                CHECK(!"TLS pair");
                continue;
            }
            CHECK(strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(p.client)), suites[h]) == 0);
            attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
            attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
            int k = kind_index(cases[i].key_kind);
            attex_ea_identity id;
            memset(&id, 0, sizeof(id));
            id.cert = certs[k];
            id.key = keys[k];
            for (int server_asks = 0; server_asks < 2; server_asks++) {
                attex_ea_authenticator *a = NULL;
                int rc = exchange(&p, cs, ss, server_asks, &cases[i].scheme, 1, NULL, 0, &id,
                                  NULL, &a, &err);
                if (rc != ATTEX_OK)
                    fprintf(stderr, "scheme 0x%04x suite %s server_asks=%d: %s\n",
                            cases[i].scheme, suites[h], server_asks, err.message);
                CHECK_RC(rc, ATTEX_OK, &err);
                if (a != NULL) {
                    CHECK(attex_ea_authenticator_scheme(a) == cases[i].scheme);
                    CHECK(X509_cmp(attex_ea_authenticator_cert(a, 0), certs[k]) == 0);
                    CHECK(attex_ea_authenticator_num_certs(a) == 1);
                }
                attex_ea_authenticator_free(a);
            }
            attex_ea_session_free(cs);
            attex_ea_session_free(ss);
            tu_pair_close(&p);
        }
    }
}

/* The first scheme of the request's list that the key can use is chosen. */
static void test_scheme_choice(void)
{
    attex_error err;
    tu_pair p;
    if (!tu_pair_open(&p, NULL)) {
        CHECK(!"TLS pair");
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    struct {
        const char *kind;
        uint16_t offer[3];
        uint16_t want;
    } t[] = {
        {"p256", {ATTEX_SCHEME_ED25519, ATTEX_SCHEME_ECDSA_SECP384R1_SHA384,
                  ATTEX_SCHEME_ECDSA_SECP256R1_SHA256},
         ATTEX_SCHEME_ECDSA_SECP256R1_SHA256},
        {"rsa2048", {ATTEX_SCHEME_RSA_PSS_PSS_SHA256, ATTEX_SCHEME_RSA_PSS_RSAE_SHA512,
                     ATTEX_SCHEME_RSA_PSS_RSAE_SHA256},
         ATTEX_SCHEME_RSA_PSS_RSAE_SHA512},
        {"rsapss2048", {ATTEX_SCHEME_RSA_PSS_RSAE_SHA256, ATTEX_SCHEME_RSA_PSS_PSS_SHA384,
                        ATTEX_SCHEME_RSA_PSS_PSS_SHA256},
         ATTEX_SCHEME_RSA_PSS_PSS_SHA384},
    };
    for (size_t i = 0; i < 3; i++) {
        int k = kind_index(t[i].kind);
        attex_ea_identity id = {certs[k], NULL, 0, keys[k], NULL, 0, NULL, 0};
        attex_ea_authenticator *a = NULL;
        CHECK_RC(exchange(&p, cs, ss, 0, t[i].offer, 3, NULL, 0, &id, NULL, &a, &err), ATTEX_OK,
                 &err);
        CHECK(a && attex_ea_authenticator_scheme(a) == t[i].want);
        attex_ea_authenticator_free(a);
    }
    /* No usable scheme: the answerer cannot build an authenticator. */
    int k = kind_index("ed448");
    attex_ea_identity id = {certs[k], NULL, 0, keys[k], NULL, 0, NULL, 0};
    attex_ea_authenticator *a = NULL;
    uint16_t only_p256 = ATTEX_SCHEME_ECDSA_SECP256R1_SHA256;
    CHECK_RC(exchange(&p, cs, ss, 1, &only_p256, 1, NULL, 0, &id, NULL, &a, &err),
             ATTEX_ERR_NO_COMMON_SCHEME, &err);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    tu_pair_close(&p);
}

/* Extensions, chains with path validation, refusal, spontaneous, default request. */
static void test_features(int sha384)
{
    attex_error err;
    tu_pair_opts po = {suites[sha384], 0, 0, 0};
    tu_pair p;
    if (!tu_pair_open(&p, &po)) {
        CHECK(!"TLS pair");
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);

    /* A three-certificate chain, validated to the root. */
    EVP_PKEY *root_key = tu_key("p384"), *int_key = tu_key("p256"), *leaf_key = tu_key("p256");
    X509 *root = tu_cert(root_key, "attex test root", NULL, NULL, 1, 30);
    X509 *inter = tu_cert(int_key, "attex test intermediate", root, root_key, 1, 30);
    X509 *leaf = tu_cert(leaf_key, "attex test leaf", inter, int_key, 0, 30);
    X509 *chain[1] = {inter};
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, root);
    attex_ea_validate_opts vo;
    memset(&vo, 0, sizeof(vo));
    vo.trust_store = store;

    static const uint8_t payload[] = {0x00, 0x03, 0xd2, 0x84, 0x40};
    attex_extension offer[2] = {{0xFF00, NULL, 0}, {0x0005, NULL, 0}};
    attex_extension answer[1] = {{0xFF00, payload, sizeof(payload)}};
    attex_ea_identity id;
    memset(&id, 0, sizeof(id));
    id.cert = leaf;
    id.chain = chain;
    id.num_chain = 1;
    id.key = leaf_key;
    id.extensions = answer;
    id.num_extensions = 1;
    for (int server_asks = 0; server_asks < 2; server_asks++) {
        attex_ea_authenticator *a = NULL;
        CHECK_RC(exchange(&p, cs, ss, server_asks, NULL, 0, offer, 2, &id, &vo, &a, &err),
                 ATTEX_OK, &err);
        if (a != NULL) {
            attex_extension got;
            CHECK(attex_ea_authenticator_num_certs(a) == 2);
            CHECK(X509_cmp(attex_ea_authenticator_cert(a, 1), inter) == 0);
            CHECK(attex_ea_authenticator_find_extension(a, 0xFF00, &got) == 1);
            CHECK(got.len == sizeof(payload) && memcmp(got.data, payload, sizeof(payload)) == 0);
            CHECK(attex_ea_authenticator_num_extensions(a) == 1);
            CHECK(attex_ea_authenticator_extension(a, 0).type == 0xFF00);
        }
        attex_ea_authenticator_free(a);
    }

    /* Without the intermediate the path does not validate. */
    id.num_chain = 0;
    attex_ea_authenticator *a = NULL;
    CHECK_RC(exchange(&p, cs, ss, 0, NULL, 0, offer, 2, &id, &vo, &a, &err),
             ATTEX_ERR_BAD_CERTIFICATE, &err);
    CHECK(err.alert == ATTEX_ALERT_UNKNOWN_CA);
    id.num_chain = 1;

    /* Refusal in both directions. */
    for (int server_asks = 0; server_asks < 2; server_asks++) {
        a = NULL;
        CHECK_RC(exchange(&p, cs, ss, server_asks, NULL, 0, NULL, 0, NULL, NULL, &a, &err),
                 ATTEX_ERR_REFUSED, &err);
        CHECK(a == NULL);
    }

    /* Spontaneous server authenticator, caller-chosen and random contexts. */
    static const uint8_t sctx[] = "spontaneous-1";
    attex_ea_identity sid;
    memset(&sid, 0, sizeof(sid));
    sid.cert = leaf;
    sid.chain = chain;
    sid.num_chain = 1;
    sid.key = leaf_key;
    sid.context = sctx;
    sid.context_len = sizeof(sctx) - 1;
    for (int round = 0; round < 2; round++) {
        attex_buf auth = ATTEX_BUF_INIT, rx = ATTEX_BUF_INIT;
        CHECK_RC(attex_ea_authenticator_create(ss, NULL, 0, &sid, &auth, &err), ATTEX_OK, &err);
        CHECK(tu_transfer(&p, 1, auth.data, auth.len, &rx));
        a = NULL;
        CHECK_RC(attex_ea_authenticator_validate(cs, NULL, 0, rx.data, rx.len, &vo, &a, &err),
                 ATTEX_OK, &err);
        if (a != NULL) {
            size_t n;
            const uint8_t *c = attex_ea_authenticator_context(a, &n);
            CHECK(attex_ea_authenticator_is_spontaneous(a));
            if (round == 0)
                CHECK(n == sizeof(sctx) - 1 && memcmp(c, sctx, n) == 0);
            else
                CHECK(n == ATTEX_EA_DEFAULT_CONTEXT_LEN);
        }
        attex_ea_authenticator_free(a);
        /* The same spontaneous authenticator again: its context is used up. */
        a = NULL;
        CHECK_RC(attex_ea_authenticator_validate(cs, NULL, 0, rx.data, rx.len, &vo, &a, &err),
                 ATTEX_ERR_CONTEXT_REUSED, &err);
        attex_buf_free(&auth);
        attex_buf_free(&rx);
        sid.context = NULL; /* second round: random context */
    }
    /* The server does not reuse its own spontaneous context either. */
    sid.context = sctx;
    attex_buf auth = ATTEX_BUF_INIT;
    CHECK_RC(attex_ea_authenticator_create(ss, NULL, 0, &sid, &auth, &err),
             ATTEX_ERR_CONTEXT_REUSED, &err);
    /* Clients cannot authenticate spontaneously. */
    CHECK_RC(attex_ea_authenticator_create(cs, NULL, 0, &sid, &auth, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);

    /* A default request offers every supported scheme and a fresh 32-byte context. */
    attex_buf r1 = ATTEX_BUF_INIT, r2 = ATTEX_BUF_INIT;
    CHECK_RC(attex_ea_request_create(cs, NULL, &r1, &err), ATTEX_OK, &err);
    CHECK_RC(attex_ea_request_create(cs, NULL, &r2, &err), ATTEX_OK, &err);
    attex_ea_request *pr = NULL;
    CHECK_RC(attex_ea_request_parse(r1.data, r1.len, &pr, &err), ATTEX_OK, &err);
    if (pr != NULL) {
        size_t n, ns, nsup;
        attex_ea_request_context(pr, &n);
        const uint16_t *sch = attex_ea_request_schemes(pr, &ns);
        const uint16_t *sup = attex_supported_schemes(&nsup);
        CHECK(n == 32);
        CHECK(ns == nsup && memcmp(sch, sup, ns * sizeof(uint16_t)) == 0);
        CHECK(attex_ea_request_type(pr) == ATTEX_HS_CLIENT_CERTIFICATE_REQUEST);
    }
    attex_ea_request_free(pr);
    CHECK(r1.len == r2.len && memcmp(r1.data + 5, r2.data + 5, 32) != 0);
    attex_buf_free(&r1);
    attex_buf_free(&r2);

    X509_STORE_free(store);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(leaf_key);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    tu_pair_close(&p);
}

/* TLS 1.2, and calls before the handshake completes, fail with a clear error. */
static void test_tls_state(void)
{
    attex_error err;
    tu_pair p;
    tu_pair_opts po12 = {NULL, TLS1_2_VERSION, 0, 0};
    if (tu_pair_open(&p, &po12)) {
        attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
        attex_buf r = ATTEX_BUF_INIT;
        CHECK(SSL_version(p.client) == TLS1_2_VERSION);
        CHECK_RC(attex_ea_request_create(cs, NULL, &r, &err), ATTEX_ERR_TLS_STATE, &err);
        CHECK(strstr(err.message, "TLS 1.3") != NULL);
        attex_ea_session_free(cs);
        tu_pair_close(&p);
    } else {
        CHECK(!"TLS 1.2 pair");
    }
    tu_pair_opts pre = {NULL, 0, 1, 0};
    if (tu_pair_open(&p, &pre)) {
        attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
        attex_buf r = ATTEX_BUF_INIT;
        CHECK_RC(attex_ea_request_create(ss, NULL, &r, &err), ATTEX_ERR_TLS_STATE, &err);
        CHECK(strstr(err.message, "not complete") != NULL);
        attex_ea_session_free(ss);
        tu_pair_close(&p);
    } else {
        CHECK(!"unstarted pair");
    }
}

int main(void)
{
    for (int i = 0; i < 7; i++) {
        keys[i] = tu_key(key_kinds[i]);
        certs[i] = keys[i] ? tu_cert(keys[i], key_kinds[i], NULL, NULL, 0, 1) : NULL;
        if (certs[i] == NULL) {
            fprintf(stderr, "cannot make a %s key/cert\n", key_kinds[i]);
            return 2;
        }
    }
    test_every_scheme();
    test_scheme_choice();
    test_features(0);
    test_features(1);
    test_tls_state();
    for (int i = 0; i < 7; i++) {
        X509_free(certs[i]);
        EVP_PKEY_free(keys[i]);
    }
    return tu_finish("test_ea_e2e");
}
