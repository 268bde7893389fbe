/*
 * The binding (PROTOCOL.md s3): known answers for SHA-256 and SHA-384
 * suites, and agreement of both ends of a real TLS 1.3 connection.
 *
 * Expected values were computed independently with the openssl command
 * line, from spki.bin (the DER SPKI below) and exp.bin (the exported value):
 *   aik_pub_hash = openssl dgst -sha256 spki.bin      (SHA-384: -sha384)
 *   binder       = cat spki.bin exp.bin | openssl dgst -sha256   (-sha384)
 *   report_data  = binder || aik_pub_hash (SHA-256), or
 *                  printf binder384||aik384 | xxd -r -p | openssl dgst -sha512
 * The SHA-256 aik_pub_hash and binder also equal those that an independent
 * implementation recorded in tests/vectors/ea/ (aik_pub_hash, binding).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "testutil.h"

static const char *SPKI =
    "3059301306072a8648ce3d020106082a8648ce3d030107034200041fc6dd1be8360cb2744d38ecb8c50a3e"
    "ca34ed53331bd88f5514e2c195ad59102836e4b65eb792cb7d519ac1b3933b0f2b9e764f2fa263b251f4c7"
    "816764a8b5";
static const char *EXPORTED = "9caff9c1ba46b746069d7086e8a7aef048801cb83f95d16d2babe251a44c16f6";

static int eq_hex(const uint8_t *p, size_t n, const char *hex)
{
    attex_buf b = ATTEX_BUF_INIT;
    int ok = tu_hex(hex, &b) && b.len == n && memcmp(p, b.data, n) == 0;
    attex_buf_free(&b);
    return ok;
}

static void test_known_answers(void)
{
    attex_buf spki = ATTEX_BUF_INIT, exp = ATTEX_BUF_INIT;
    attex_binding b;
    attex_error err;
    CHECK(tu_hex(SPKI, &spki) && tu_hex(EXPORTED, &exp) && exp.len == 32);

    CHECK_RC(attex_binding_derive(ATTEX_HASH_SHA256, exp.data, spki.data, spki.len, &b, &err),
             ATTEX_OK, &err);
    CHECK(b.hash_len == 32);
    CHECK(eq_hex(b.aik_pub_hash, 32,
                 "3c2b329e343c78674b52992dd0095ebafb3d675f5c07e402b5471fc0924f0676"));
    CHECK(eq_hex(b.binder, 32,
                 "be4e4cc33b3e32f75bffae73007b2d340b7700ef3b8461f3bfcf7b92de96330d"));
    CHECK(eq_hex(b.report_data, 64,
                 "be4e4cc33b3e32f75bffae73007b2d340b7700ef3b8461f3bfcf7b92de96330d"
                 "3c2b329e343c78674b52992dd0095ebafb3d675f5c07e402b5471fc0924f0676"));
    CHECK(memcmp(b.exported, exp.data, 32) == 0);

    CHECK_RC(attex_binding_derive(ATTEX_HASH_SHA384, exp.data, spki.data, spki.len, &b, &err),
             ATTEX_OK, &err);
    CHECK(b.hash_len == 48);
    CHECK(eq_hex(b.aik_pub_hash, 48,
                 "697b98b6ff997361ca7c2c7422799e693b441d58fd0276b56c3ce2240d70adbf"
                 "9916c6694443c213839e14fae6bc56d5"));
    CHECK(eq_hex(b.binder, 48,
                 "a8fbb34f554aa2289d0dbb802352d60763d73846f4f320bcfc4d7c9fabb88e08"
                 "5b4dea104793e42bf832889223a33e66"));
    CHECK(eq_hex(b.report_data, 64,
                 "551a62916aeae47aec35757f7f8e684d5ff64cb7e1bd05e4a8ed12633169beb0"
                 "3851b12d26540afa0f4b480c3d8ee9fd98a329ea041a26eaead485cec45cde08"));

    /* Bad arguments. */
    CHECK_RC(attex_binding_derive((attex_hash)0, exp.data, spki.data, spki.len, &b, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_binding_derive(ATTEX_HASH_SHA256, exp.data, spki.data, 0, &b, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    attex_binding_clear(&b);
    uint8_t zero[sizeof(b)];
    memset(zero, 0, sizeof(zero));
    CHECK(memcmp(&b, zero, sizeof(b)) == 0);
    attex_buf_free(&spki);
    attex_buf_free(&exp);
}

/* Both ends of one connection agree; anything else changes the binding. */
static void test_connection(const char *suite, size_t want_len)
{
    tu_pair p, q;
    tu_pair_opts po = {suite, 0, 0, 0};
    attex_error err;
    if (!tu_pair_open(&p, &po) || !tu_pair_open(&q, &po)) {
        CHECK(!"TLS pairs");
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    attex_ea_session *qs = attex_ea_session_new_openssl(q.client, &err);
    EVP_PKEY *k1 = tu_key("p256"), *k2 = tu_key("ed25519");
    X509 *c1 = tu_cert(k1, "one", NULL, NULL, 0, 1), *c2 = tu_cert(k2, "two", NULL, NULL, 0, 1);
    static const uint8_t ctx1[] = "context-1", ctx2[] = "context-2";
    attex_binding a, b, c;
    CHECK_RC(attex_binding_compute(cs, ctx1, 9, c1, &a, &err), ATTEX_OK, &err);
    CHECK_RC(attex_binding_compute(ss, ctx1, 9, c1, &b, &err), ATTEX_OK, &err);
    CHECK(a.hash_len == want_len && memcmp(&a, &b, sizeof(a)) == 0);
    /* The exported value is the connection's exporter, computed independently here. */
    uint8_t direct[32];
    CHECK(SSL_export_keying_material(p.server, direct, 32, "Attestation", 11, ctx1, 9, 1) == 1);
    CHECK(memcmp(direct, a.exported, 32) == 0);
    CHECK_RC(attex_binding_compute(cs, ctx2, 9, c1, &c, &err), ATTEX_OK, &err);
    CHECK(memcmp(c.binder, a.binder, a.hash_len) != 0 &&
          memcmp(c.aik_pub_hash, a.aik_pub_hash, a.hash_len) == 0);
    CHECK_RC(attex_binding_compute(cs, ctx1, 9, c2, &c, &err), ATTEX_OK, &err);
    CHECK(memcmp(c.binder, a.binder, a.hash_len) != 0 &&
          memcmp(c.aik_pub_hash, a.aik_pub_hash, a.hash_len) != 0);
    CHECK_RC(attex_binding_compute(qs, ctx1, 9, c1, &c, &err), ATTEX_OK, &err);
    CHECK(memcmp(c.binder, a.binder, a.hash_len) != 0 &&
          memcmp(c.report_data, a.report_data, 64) != 0);
    CHECK_RC(attex_binding_compute(cs, ctx1, 0, c1, &c, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    X509_free(c1);
    X509_free(c2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    attex_ea_session_free(qs);
    tu_pair_close(&p);
    tu_pair_close(&q);
}

int main(void)
{
    test_known_answers();
    test_connection("TLS_AES_128_GCM_SHA256", 32);
    test_connection("TLS_AES_256_GCM_SHA384", 48);
    return tu_finish("test_binding");
}
