/*
 * Unit tests for the crypto layer: known answers for hash and HMAC, the
 * scheme/key matrix, and sign/verify for every scheme.
 */
#include <string.h>

#include "crypto.h"
#include "testutil.h"

static int hex_eq(const uint8_t *got, size_t n, const char *hex)
{
    attex_buf want = ATTEX_BUF_INIT;
    int ok = tu_hex(hex, &want) && want.len == n && memcmp(got, want.data, n) == 0;
    attex_buf_free(&want);
    return ok;
}

static void test_known_answers(void)
{
    uint8_t out[ATTEX_MAX_HASH];
    /* FIPS 180-2 "abc"; cross-checked with: printf abc | openssl dgst -sha256 / -sha384 */
    CHECK(crypto_digest(ATTEX_HASH_SHA256, (const uint8_t *)"abc", 3, out, NULL) == ATTEX_OK);
    CHECK(hex_eq(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(crypto_digest(ATTEX_HASH_SHA384, (const uint8_t *)"abc", 3, out, NULL) == ATTEX_OK);
    CHECK(hex_eq(out, 48,
                 "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                 "8086072ba1e7cc2358baeca134c825a7"));
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    const char *data = "what do ya want for nothing?";
    CHECK(crypto_hmac(ATTEX_HASH_SHA256, (const uint8_t *)"Jefe", 4, (const uint8_t *)data,
                      strlen(data), out, NULL) == ATTEX_OK);
    CHECK(hex_eq(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    CHECK(crypto_hmac(ATTEX_HASH_SHA384, (const uint8_t *)"Jefe", 4, (const uint8_t *)data,
                      strlen(data), out, NULL) == ATTEX_OK);
    CHECK(hex_eq(out, 48,
                 "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                 "8e2240ca5e69e2c78b3239ecfab21649"));
    /* The running transcript equals the one-shot hash at each point. */
    attex_transcript t;
    uint8_t a[ATTEX_MAX_HASH];
    CHECK(transcript_init(&t, ATTEX_HASH_SHA256, NULL) == ATTEX_OK);
    CHECK(transcript_update(&t, (const uint8_t *)"a", 1, NULL) == ATTEX_OK);
    CHECK(transcript_peek(&t, a, NULL) == ATTEX_OK);
    CHECK(transcript_update(&t, (const uint8_t *)"bc", 2, NULL) == ATTEX_OK);
    CHECK(transcript_peek(&t, out, NULL) == ATTEX_OK);
    CHECK(hex_eq(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(hex_eq(a, 32, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"));
    transcript_cleanup(&t);

    CHECK(crypto_equal((const uint8_t *)"abc", (const uint8_t *)"abc", 3));
    CHECK(!crypto_equal((const uint8_t *)"abc", (const uint8_t *)"abd", 3));
    CHECK(attex_hash_len(ATTEX_HASH_SHA256) == 32 && attex_hash_len(ATTEX_HASH_SHA384) == 48);
    CHECK(attex_hash_len((attex_hash)0) == 0);
}

static void test_schemes(void)
{
    size_t n;
    const uint16_t *all = attex_supported_schemes(&n);
    CHECK(n == 11);
    for (size_t i = 0; i < n; i++)
        CHECK(attex_scheme_name(all[i]) != NULL);
    /* RFC 8446 s4.2.3: PKCS#1 v1.5 and SHA-1 schemes are not TLS 1.3 signature schemes. */
    CHECK(attex_scheme_name(0x0401) == NULL && attex_scheme_name(0x0201) == NULL &&
          attex_scheme_name(0x0203) == NULL);
    CHECK(strcmp(attex_scheme_name(ATTEX_SCHEME_RSA_PSS_PSS_SHA384), "rsa_pss_pss_sha384") == 0);

    const char *kinds[] = {"p256", "p384", "p521", "ed25519", "ed448", "rsa2048", "rsapss2048"};
    EVP_PKEY *keys[7];
    for (int k = 0; k < 7; k++)
        keys[k] = tu_key(kinds[k]);
    /* Exactly the expected (key, scheme) pairs are usable. */
    const char *fits[11] = {"p256", "p384", "p521", "ed25519", "ed448", "rsa2048",
                            "rsa2048", "rsa2048", "rsapss2048", "rsapss2048", "rsapss2048"};
    uint8_t msg[100];
    memset(msg, 0x42, sizeof(msg));
    for (size_t s = 0; s < n; s++) {
        for (int k = 0; k < 7; k++) {
            int want = strcmp(kinds[k], fits[s]) == 0;
            CHECK(crypto_key_can_use(keys[k], all[s]) == want);
            if (!want)
                continue;
            attex_buf sig = ATTEX_BUF_INIT;
            attex_error err;
            CHECK_RC(crypto_sign(all[s], keys[k], msg, sizeof(msg), &sig, &err), ATTEX_OK, &err);
            CHECK_RC(crypto_verify(all[s], keys[k], msg, sizeof(msg), sig.data, sig.len, &err),
                     ATTEX_OK, &err);
            msg[0] ^= 1;
            CHECK_RC(crypto_verify(all[s], keys[k], msg, sizeof(msg), sig.data, sig.len, &err),
                     ATTEX_ERR_BAD_SIGNATURE, &err);
            msg[0] ^= 1;
            sig.data[sig.len / 2] ^= 0x10;
            CHECK_RC(crypto_verify(all[s], keys[k], msg, sizeof(msg), sig.data, sig.len, &err),
                     ATTEX_ERR_BAD_SIGNATURE, &err);
            attex_buf_free(&sig);
        }
    }
    /* A key of the right type but wrong size or curve. */
    EVP_PKEY *small = tu_key("rsa1024");
    CHECK(!crypto_key_can_use(small, ATTEX_SCHEME_RSA_PSS_RSAE_SHA256));
    CHECK(!crypto_key_can_use(keys[1], ATTEX_SCHEME_ECDSA_SECP256R1_SHA256));
    CHECK(!crypto_key_can_use(NULL, ATTEX_SCHEME_ED25519));
    EVP_PKEY_free(small);
    for (int k = 0; k < 7; k++)
        EVP_PKEY_free(keys[k]);
}

static void test_errors(void)
{
    attex_error e;
    attex_error_clear(&e);
    CHECK(e.code == ATTEX_OK && e.alert == ATTEX_ALERT_NONE && e.message[0] == 0);
    attex_error_clear(NULL);
    CHECK(strcmp(attex_status_name(ATTEX_ERR_REFUSED), "ATTEX_ERR_REFUSED") == 0);
    CHECK(strcmp(attex_status_name(ATTEX_ERR_IO), "ATTEX_ERR_IO") == 0);
    CHECK(strcmp(attex_status_name(ATTEX_ERR_UNAVAILABLE), "ATTEX_ERR_UNAVAILABLE") == 0);
    CHECK(strcmp(attex_alert_name(ATTEX_ALERT_UNSUPPORTED_EXTENSION), "unsupported_extension") ==
          0);
    CHECK(strcmp(attex_version(), ATTEX_VERSION_STRING) == 0);
    uint8_t r1[32], r2[32];
    CHECK(crypto_random(r1, 32, NULL) == ATTEX_OK && crypto_random(r2, 32, NULL) == ATTEX_OK);
    CHECK(memcmp(r1, r2, 32) != 0);
}

/* Raw r || s ECDSA, as COSE, JWS and TDX quotes carry it. */
static void test_ecdsa_raw(void)
{
    EVP_PKEY *p256 = tu_key("p256"), *p384 = tu_key("p384"), *ed = tu_key("ed25519");
    const uint8_t msg[] = "attex raw ecdsa";
    uint8_t sig[96];
    CHECK(p256 && p384 && ed);
    CHECK(crypto_ecdsa_sign_raw(p256, ATTEX_HASH_SHA256, msg, sizeof(msg), sig, 64, NULL) ==
          ATTEX_OK);
    CHECK(crypto_ecdsa_verify_raw(p256, ATTEX_HASH_SHA256, msg, sizeof(msg), sig, 64) == 1);
    CHECK(crypto_ecdsa_verify_raw(p256, ATTEX_HASH_SHA384, msg, sizeof(msg), sig, 64) == 0);
    CHECK(crypto_ecdsa_verify_raw(p256, ATTEX_HASH_SHA256, msg, sizeof(msg) - 1, sig, 64) == 0);
    CHECK(crypto_ecdsa_verify_raw(p256, ATTEX_HASH_SHA256, msg, sizeof(msg), sig, 63) == 0);
    sig[40] ^= 1;
    CHECK(crypto_ecdsa_verify_raw(p256, ATTEX_HASH_SHA256, msg, sizeof(msg), sig, 64) == 0);
    CHECK(crypto_ecdsa_sign_raw(p384, ATTEX_HASH_SHA384, msg, sizeof(msg), sig, 96, NULL) ==
          ATTEX_OK);
    CHECK(crypto_ecdsa_verify_raw(p384, ATTEX_HASH_SHA384, msg, sizeof(msg), sig, 96) == 1);
    CHECK(crypto_ecdsa_verify_raw(p256, ATTEX_HASH_SHA384, msg, sizeof(msg), sig, 96) == 0);
    /* A P-384 signature cannot be squeezed into 32-byte halves; Ed25519 is not ECDSA. */
    CHECK(crypto_ecdsa_sign_raw(p384, ATTEX_HASH_SHA384, msg, sizeof(msg), sig, 64, NULL) !=
          ATTEX_OK);
    CHECK(crypto_ecdsa_sign_raw(ed, ATTEX_HASH_SHA256, msg, sizeof(msg), sig, 64, NULL) !=
          ATTEX_OK);
    CHECK(crypto_ecdsa_verify_raw(ed, ATTEX_HASH_SHA256, msg, sizeof(msg), sig, 64) == 0);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

int main(void)
{
    test_ecdsa_raw();
    test_known_answers();
    test_schemes();
    test_errors();
    return tu_finish("test_crypto");
}
