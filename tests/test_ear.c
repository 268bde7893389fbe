/*
 * EAR (draft-ietf-rats-ear) JWTs: issue/validate round trip, the deployed
 * Veraison sample (known answer), JWTs crafted with both claim-name
 * generations, and a negative test for every rule of attex_ear_validate;
 * then the EAR verifier plug-in end to end over real TLS 1.3 (passport
 * model without HTTP: the attester issues the EAR itself).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <attex/ear.h>

#include "b64.h"
#include "ear_internal.h"
#include "testutil.h"

static EVP_PKEY *vkey, *other_key;
static attex_error err;

#define NOW 1800000000LL

/* ---- crafting JWTs ------------------------------------------------------ */

/* sign_raw makes an ES256 signature r || s over msg. */
static void sign_raw(EVP_PKEY *k, const char *msg, size_t len, uint8_t sig[64])
{
    uint8_t der[80];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k, NULL);
    EVP_DigestSign(ctx, der, &der_len, (const uint8_t *)msg, len);
    EVP_MD_CTX_free(ctx);
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(s, sig + 32, 32);
    ECDSA_SIG_free(es);
}

/* make_jwt signs header.payload (JSON texts) with k; malloc'd string. */
static char *make_jwt(const char *header, const char *payload, EVP_PKEY *k)
{
    char *h = b64_encode((const uint8_t *)header, strlen(header), 1);
    char *p = b64_encode((const uint8_t *)payload, strlen(payload), 1);
    size_t n = strlen(h) + strlen(p) + 100;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s", h, p);
    uint8_t sig[64];
    sign_raw(k, out, strlen(out), sig);
    char *s = b64_encode(sig, sizeof(sig), 1);
    strcat(out, ".");
    strcat(out, s);
    free(h);
    free(p);
    free(s);
    return out;
}

static const char hdr_ok[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
static const uint8_t nonce16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
#define NONCE16_B64 "AQIDBAUGBwgJCgsMDQ4PEA"

/* A claims set in the current draft's names, with a hole for extra top-level text. */
static char *draft_claims(const char *status, long long iat, long long exp, const char *extra)
{
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"iat\":%lld,\"exp\":%lld,"
             "\"ear_verifier_id\":{\"developer\":\"https://attex.dev\",\"build\":\"t 1\"},"
             "\"eat_nonce\":\"" NONCE16_B64 "\",\"submods\":{\"cpu\":{\"ear_status\":\"%s\","
             "\"ear_trustworthiness_vector\":{\"instance-identity\":2,\"hardware\":-1},"
             "\"ear_appraisal_policy_ids\":[\"p/1\",\"p/2\"]}}%s}",
             iat, exp, status, extra ? extra : "");
    return out;
}

static int validate_s(const char *jwt, const uint8_t *nonce, size_t nonce_len, attex_ear *out)
{
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    EVP_PKEY *keys[1] = {vkey};
    o.keys = keys;
    o.num_keys = 1;
    o.now = NOW;
    o.nonce = nonce;
    o.nonce_len = nonce_len;
    attex_ear tmp;
    return attex_ear_validate((const uint8_t *)jwt, strlen(jwt), &o, out ? out : &tmp, &err);
}

/* check_payload signs `payload` (with hdr_ok) and expects `want`. */
static void check_payload(const char *payload, int want, const char *why_substr, int line)
{
    char *jwt = make_jwt(hdr_ok, payload, vkey);
    int rc = validate_s(jwt, NULL, 0, NULL);
    if (rc != want || (why_substr && strstr(err.message, why_substr) == NULL)) {
        fprintf(stderr, "line %d: got %s (%s), want %s with \"%s\"\n", line,
                attex_status_name(rc), err.message, attex_status_name(want),
                why_substr ? why_substr : "");
        tu_failed++;
    } else {
        tu_passed++;
    }
    free(jwt);
}
#define PAYLOAD(p, want, sub) check_payload((p), (want), (sub), __LINE__)

/* ---- round trip ------------------------------------------------------------ */

static void fill_ear(attex_ear *e)
{
    memset(e, 0, sizeof(*e));
    e->iat = NOW - 10;
    e->exp = NOW + 300;
    snprintf(e->verifier_developer, sizeof(e->verifier_developer), "https://attex.dev");
    snprintf(e->verifier_build, sizeof(e->verifier_build), "attex-verifier 0.1");
    memcpy(e->nonce, nonce16, sizeof(nonce16));
    e->nonce_len = sizeof(nonce16);
    e->num_submods = 2;
    snprintf(e->submods[0].name, sizeof(e->submods[0].name), "sample");
    e->submods[0].status = ATTEX_VERDICT_AFFIRMING;
    e->submods[0].tv[ATTEX_EAR_TV_INSTANCE_IDENTITY] = 2;
    e->submods[0].tv[ATTEX_EAR_TV_EXECUTABLES] = 3;
    e->submods[0].tv_present = 1u << ATTEX_EAR_TV_INSTANCE_IDENTITY | 1u << ATTEX_EAR_TV_EXECUTABLES;
    snprintf(e->submods[0].policy_id, sizeof(e->submods[0].policy_id), "attex/sample/1");
    snprintf(e->submods[1].name, sizeof(e->submods[1].name), "tpm");
    e->submods[1].status = ATTEX_VERDICT_WARNING;
    e->submods[1].tv[ATTEX_EAR_TV_SOURCED_DATA] = -128;
    e->submods[1].tv[ATTEX_EAR_TV_HARDWARE] = 127;
    e->submods[1].tv_present = 1u << ATTEX_EAR_TV_SOURCED_DATA | 1u << ATTEX_EAR_TV_HARDWARE;
}

static void test_round_trip(void)
{
    attex_ear e, got;
    fill_ear(&e);
    attex_buf jwt = ATTEX_BUF_INIT;
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_OK, &err);
    char *s = calloc(1, jwt.len + 1);
    memcpy(s, jwt.data, jwt.len);
    /* The header is exactly the fixed one, base64url without padding. */
    CHECK(strncmp(s, "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0);
    CHECK(strchr(s, '=') == NULL);
    CHECK_RC(validate_s(s, nonce16, sizeof(nonce16), &got), ATTEX_OK, &err);
    CHECK(strcmp(got.profile, ATTEX_EAR_PROFILE) == 0);
    CHECK(got.iat == e.iat && got.exp == e.exp);
    CHECK(strcmp(got.verifier_developer, "https://attex.dev") == 0);
    CHECK(strcmp(got.verifier_build, "attex-verifier 0.1") == 0);
    CHECK(got.nonce_len == 16 && memcmp(got.nonce, nonce16, 16) == 0);
    CHECK(got.num_submods == 2);
    for (size_t i = 0; i < got.num_submods; i++) {
        const attex_ear_submod *g = &got.submods[i];
        const attex_ear_submod *w = strcmp(g->name, "tpm") == 0 ? &e.submods[1] : &e.submods[0];
        CHECK(strcmp(g->name, w->name) == 0);
        CHECK(g->status == w->status);
        CHECK(g->tv_present == w->tv_present);
        CHECK(memcmp(g->tv, w->tv, sizeof(g->tv)) == 0);
        CHECK(strcmp(g->policy_id, w->policy_id) == 0);
    }
    CHECK(attex_ear_worst(&got) == ATTEX_VERDICT_WARNING);
    /* The claims use the current draft's names. */
    attex_buf pl = ATTEX_BUF_INIT;
    char *dot1 = strchr(s, '.'), *dot2 = strrchr(s, '.');
    uint8_t payload[2048];
    size_t pl_len = 0;
    char why[B64_WHY_SIZE];
    CHECK(b64url_decode_to(dot1 + 1, (size_t)(dot2 - dot1 - 1), 0, payload, sizeof(payload) - 1,
                           &pl_len, why, sizeof(why)));
    payload[pl_len] = 0;
    CHECK(strstr((char *)payload, "\"ear_status\":\"affirming\"") != NULL);
    CHECK(strstr((char *)payload, "\"ear_verifier_id\"") != NULL);
    CHECK(strstr((char *)payload, "\"ear_appraisal_policy_ids\":[\"attex/sample/1\"]") != NULL);
    CHECK(strstr((char *)payload, "\"eat_nonce\":\"" NONCE16_B64 "\"") != NULL);
    attex_buf_free(&pl);

    /* Every single-character change anywhere in the JWT is refused. */
    int all_refused = 1;
    for (size_t i = 0; i < jwt.len; i++) {
        char saved = s[i];
        s[i] = saved == 'A' ? 'B' : (saved == '.' ? 'A' : 'A');
        if (validate_s(s, nonce16, sizeof(nonce16), NULL) == ATTEX_OK) {
            fprintf(stderr, "change at %zu accepted\n", i);
            all_refused = 0;
        }
        s[i] = saved;
    }
    CHECK(all_refused);
    /* Every truncation is refused. */
    int trunc_refused = 1;
    for (size_t n = 0; n < jwt.len; n++) {
        attex_ear_validate_opts o;
        memset(&o, 0, sizeof(o));
        EVP_PKEY *keys[1] = {vkey};
        o.keys = keys;
        o.num_keys = 1;
        o.now = NOW;
        if (attex_ear_validate(jwt.data, n, &o, &got, &err) == ATTEX_OK)
            trunc_refused = 0;
    }
    CHECK(trunc_refused);
    /* A second key in the list that verifies is enough; order does not matter. */
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    EVP_PKEY *keys2[2] = {other_key, vkey};
    o.keys = keys2;
    o.num_keys = 2;
    o.now = NOW;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_OK, &err);
    o.num_keys = 1; /* only other_key */
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_ERR_BAD_SIGNATURE,
             &err);
    /* Nonce for another connection. */
    uint8_t other[16];
    memcpy(other, nonce16, 16);
    other[15] ^= 1;
    CHECK_RC(validate_s(s, other, 16, &got), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "eat_nonce does not match") != NULL);
    CHECK(strstr(err.message, "0102030405060708090a0b0c0d0e0f11") != NULL);
    CHECK_RC(validate_s(s, nonce16, 15, &got), ATTEX_ERR_ATTESTATION, &err);
    /* Time: expired, in the future, too old, with skew. */
    memset(&o, 0, sizeof(o));
    o.keys = keys2 + 1;
    o.num_keys = 1;
    o.now = e.exp + 60; /* exactly at the skew's end: expired */
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "expired") != NULL);
    o.now = e.exp + 59;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_OK, &err);
    o.skew = 5;
    o.now = e.exp + 5;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_ERR_ATTESTATION, &err);
    o.skew = 0;
    o.now = e.iat - 61;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "future") != NULL);
    o.now = e.iat - 60;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_OK, &err);
    o.now = e.iat + 100;
    o.max_age = 30;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_ERR_ATTESTATION, &err);
    o.max_age = 40;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_OK, &err);
    /* No key at all is a usage error, not an acceptance. */
    o.num_keys = 0;
    CHECK_RC(attex_ear_validate(jwt.data, jwt.len, &o, &got, &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    free(s);
    attex_buf_free(&jwt);
}

static void test_issue_negative(void)
{
    attex_ear e;
    attex_buf jwt = ATTEX_BUF_INIT;
    fill_ear(&e);
    e.num_submods = 0;
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    e.nonce_len = 7;
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    e.exp = e.iat;
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    e.submods[1].name[0] = 0;
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    snprintf(e.submods[1].name, sizeof(e.submods[1].name), "sample");
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    e.submods[0].status = (attex_verdict)5;
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    snprintf(e.profile, sizeof(e.profile), "tag:example.com,2026:other");
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    fill_ear(&e);
    EVP_PKEY *p384 = tu_key("p384");
    CHECK_RC(attex_ear_issue(&e, p384, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    EVP_PKEY_free(p384);
    /* The Veraison profile may be issued too, and validates. */
    snprintf(e.profile, sizeof(e.profile), ATTEX_EAR_PROFILE_VERAISON);
    CHECK_RC(attex_ear_issue(&e, vkey, &jwt, &err), ATTEX_OK, &err);
    attex_buf_free(&jwt);
}

/* ---- known answer: the deployed Veraison sample ----------------------------- */

static char *slurp(const char *rel)
{
    FILE *f = fopen(tu_source_path(rel), "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 8192);
    size_t n = fread(buf, 1, 8191, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return buf;
}

static void test_veraison_kat(void)
{
    char *jwt = slurp("tests/vectors/ear/veraison_c_ear.jwt");
    char *pem = slurp("tests/vectors/ear/veraison_pkey.pem");
    CHECK(jwt != NULL && pem != NULL);
    if (jwt == NULL || pem == NULL) {
        free(jwt);
        free(pem);
        return;
    }
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *vk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    CHECK(vk != NULL);
    EVP_PKEY *keys[1] = {vk};
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = keys;
    o.num_keys = 1;
    o.now = 1677247879 + 100; /* after its nbf */
    attex_ear e;
    size_t len = strlen(jwt);
    CHECK_RC(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err), ATTEX_OK, &err);
    CHECK(strcmp(e.profile, ATTEX_EAR_PROFILE_VERAISON) == 0);
    CHECK(e.iat == 1666529184); /* written as 1.666529184e+09 */
    CHECK(e.exp == 0);
    CHECK(e.nonce_len == 0);
    CHECK(strcmp(e.verifier_developer, "https://veraison-project.org") == 0);
    CHECK(strcmp(e.verifier_build, "vts 0.0.1") == 0);
    CHECK(e.num_submods == 1);
    CHECK(strcmp(e.submods[0].name, "PARSEC_TPM") == 0);
    CHECK(e.submods[0].status == ATTEX_VERDICT_AFFIRMING);
    CHECK(e.submods[0].tv_present == (1u << ATTEX_EAR_TV_INSTANCE_IDENTITY |
                                      1u << ATTEX_EAR_TV_EXECUTABLES | 1u << ATTEX_EAR_TV_HARDWARE));
    CHECK(e.submods[0].tv[ATTEX_EAR_TV_HARDWARE] == 2);
    CHECK(strcmp(e.submods[0].policy_id, "https://veraison.example/policy/1/60a0068d") == 0);
    /* Before its nbf: not valid yet. */
    o.now = 1677247879 - 100;
    CHECK_RC(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err), ATTEX_ERR_ATTESTATION,
             &err);
    o.now = 1677247879 + 100;
    /* It has no eat_nonce, so it cannot be for this connection. */
    o.nonce = nonce16;
    o.nonce_len = 16;
    CHECK_RC(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err), ATTEX_ERR_ATTESTATION,
             &err);
    o.nonce = NULL;
    /* max_age: issued months before nbf. */
    o.max_age = 3600;
    CHECK_RC(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err), ATTEX_ERR_ATTESTATION,
             &err);
    o.max_age = 0;
    /* Under another key. */
    keys[0] = vkey;
    CHECK_RC(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err), ATTEX_ERR_BAD_SIGNATURE,
             &err);
    keys[0] = vk;
    /* A changed byte in each part: header, payload, signature. */
    const char *dot1 = strchr(jwt, '.'), *dot2 = strrchr(jwt, '.');
    size_t at[3] = {5, (size_t)(dot1 - jwt) + 40, (size_t)(dot2 - jwt) + 10};
    for (int i = 0; i < 3; i++) {
        char saved = jwt[at[i]];
        jwt[at[i]] = saved == 'x' ? 'y' : 'x';
        CHECK(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err) != ATTEX_OK);
        jwt[at[i]] = saved;
    }
    CHECK_RC(attex_ear_validate((const uint8_t *)jwt, len, &o, &e, &err), ATTEX_OK, &err);
    EVP_PKEY_free(vk);
    free(jwt);
    free(pem);
}

/* ---- crafted JWTs: both generations and every rule ---------------------------- */

static void test_crafted(void)
{
    char *p;
    attex_ear e;
    /* Current draft names. */
    p = draft_claims("affirming", NOW, NOW + 60, NULL);
    char *jwt = make_jwt(hdr_ok, p, vkey);
    CHECK_RC(validate_s(jwt, nonce16, 16, &e), ATTEX_OK, &err);
    CHECK(strcmp(e.submods[0].policy_id, "p/1") == 0);
    CHECK(e.submods[0].tv[ATTEX_EAR_TV_HARDWARE] == -1);
    free(jwt);
    free(p);
    /* Veraison names, padded nonce (deployed Veraison pads eat_nonce). */
    static const char veraison[] =
        "{\"eat_profile\":\"" ATTEX_EAR_PROFILE_VERAISON "\",\"iat\":1800000000,"
        "\"ear.verifier-id\":{\"developer\":\"https://veraison-project.org\",\"build\":\"x\"},"
        "\"eat_nonce\":\"" NONCE16_B64 "==\",\"submods\":{\"SEVSNP\":{\"ear.status\":\"warning\","
        "\"ear.trustworthiness-vector\":{\"configuration\":32},"
        "\"ear.appraisal-policy-id\":\"policy:SEVSNP\",\"ear.veraison.annotated-evidence\":{}}},"
        "\"ear.veraison.tee-info\":{}}";
    jwt = make_jwt(hdr_ok, veraison, vkey);
    CHECK_RC(validate_s(jwt, nonce16, 16, &e), ATTEX_OK, &err);
    CHECK(e.submods[0].status == ATTEX_VERDICT_WARNING);
    CHECK(e.submods[0].tv[ATTEX_EAR_TV_CONFIGURATION] == 32);
    CHECK(strcmp(e.submods[0].policy_id, "policy:SEVSNP") == 0);
    CHECK(e.nonce_len == 16);
    free(jwt);
    /* Header variants: no typ, a jwk (ignored: never a source of trust). */
    p = draft_claims("affirming", NOW, NOW + 60, NULL);
    jwt = make_jwt("{\"alg\":\"ES256\"}", p, vkey);
    CHECK_RC(validate_s(jwt, NULL, 0, NULL), ATTEX_OK, &err);
    free(jwt);
    jwt = make_jwt("{\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\"}}", p, other_key);
    CHECK_RC(validate_s(jwt, NULL, 0, NULL), ATTEX_ERR_BAD_SIGNATURE, &err);
    free(jwt);
    /* Header negatives. */
    static const char *const bad_headers[] = {
        "{\"alg\":\"none\"}", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"alg\":\"ES384\"}",
        "{\"alg\":\"es256\"}", "{\"typ\":\"JWT\"}", "[\"ES256\"]", "{\"alg\":\"ES256\"",
        "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", "{\"alg\":\"ES256\",\"crit\":[\"b64\"]}",
        "{\"alg\":\"ES256\",\"typ\":7}", "{\"alg\":256}"};
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        jwt = make_jwt(bad_headers[i], p, vkey);
        int rc = validate_s(jwt, NULL, 0, NULL);
        CHECK(rc == ATTEX_ERR_DECODE || rc == ATTEX_ERR_ATTESTATION);
        if (i < 2)
            CHECK(strstr(err.message, "ES256 only") != NULL);
        free(jwt);
    }
    /* alg none with an empty signature, as an attacker would send it. */
    char *h = b64_encode((const uint8_t *)"{\"alg\":\"none\"}", 14, 1);
    char *pl = b64_encode((const uint8_t *)p, strlen(p), 1);
    char none_jwt[4096];
    snprintf(none_jwt, sizeof(none_jwt), "%s.%s.", h, pl);
    CHECK(validate_s(none_jwt, NULL, 0, NULL) != ATTEX_OK);
    /* Syntax: padding, wrong alphabet, extra part, two parts, whitespace. */
    jwt = make_jwt(hdr_ok, p, vkey);
    char buf[8192];
    snprintf(buf, sizeof(buf), "%s", jwt);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_OK, &err);
    snprintf(buf, sizeof(buf), "%s.AAAA", jwt);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "more than three parts") != NULL);
    snprintf(buf, sizeof(buf), "%s.%s", h, pl);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    snprintf(buf, sizeof(buf), "%s=", jwt);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "padding") != NULL);
    snprintf(buf, sizeof(buf), "%s\n", jwt);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    snprintf(buf, sizeof(buf), "%s", jwt);
    char *slash = strchr(buf, '.') + 3;
    *slash = '+';
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    snprintf(buf, sizeof(buf), ".%s", jwt);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    /* Signature one byte short (a 63-byte value) and one byte long. */
    snprintf(buf, sizeof(buf), "%s", jwt);
    char *sig = strrchr(buf, '.') + 1;
    uint8_t sig_bytes[65] = {0};
    char *s63 = b64_encode(sig_bytes, 63, 1), *s65 = b64_encode(sig_bytes, 65, 1);
    snprintf(sig, sizeof(buf) - (size_t)(sig - buf), "%s", s63);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    snprintf(sig, sizeof(buf) - (size_t)(sig - buf), "%s", s65);
    CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    free(s63);
    free(s65);
    /* Non-canonical last character of the signature (unused bits set). */
    snprintf(buf, sizeof(buf), "%s", jwt);
    char *last = buf + strlen(buf) - 1;
    int canon = (strchr("AQgw", *last) != NULL);
    *last = canon ? (char)(*last + 1) : *last;
    if (canon)
        CHECK_RC(validate_s(buf, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    /* Too long. */
    size_t big = ATTEX_EAR_MAX_JWT + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = 0;
    CHECK_RC(validate_s(huge, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
    free(huge);
    free(jwt);
    free(h);
    free(pl);
    free(p);

    /* Claims rules (all signed by the trusted key). */
    p = draft_claims("affirming", NOW, NOW + 60, ",\"nbf\":1800000000");
    PAYLOAD(p, ATTEX_OK, NULL);
    free(p);
    p = draft_claims("affirming", NOW - 600, NOW - 120, NULL);
    PAYLOAD(p, ATTEX_ERR_ATTESTATION, "expired");
    free(p);
    p = draft_claims("affirming", NOW + 600, NOW + 900, NULL);
    PAYLOAD(p, ATTEX_ERR_ATTESTATION, "future");
    free(p);
    p = draft_claims("affirming", NOW, NOW + 60, ",\"nbf\":1800000600");
    PAYLOAD(p, ATTEX_ERR_ATTESTATION, "not valid yet");
    free(p);
    p = draft_claims("affirming", NOW, NOW, NULL);
    PAYLOAD(p, ATTEX_ERR_DECODE, "not after iat");
    free(p);
    p = draft_claims("maybe", NOW, NOW + 60, NULL);
    PAYLOAD(p, ATTEX_ERR_DECODE, "status");
    free(p);
    /* An overall status better than the worst submodule. */
    p = draft_claims("warning", NOW, NOW + 60, ",\"ear_status\":\"affirming\"");
    PAYLOAD(p, ATTEX_ERR_DECODE, "better than");
    free(p);
    p = draft_claims("warning", NOW, NOW + 60, ",\"ear.status\":\"contraindicated\"");
    PAYLOAD(p, ATTEX_OK, NULL);
    free(p);
    /* Duplicate claim. */
    p = draft_claims("affirming", NOW, NOW + 60, ",\"iat\":1800000000");
    PAYLOAD(p, ATTEX_ERR_DECODE, "not JSON");
    free(p);
    static const char base[] =
        "\"ear_verifier_id\":{\"developer\":\"d\",\"build\":\"b\"},\"iat\":1800000000";
    char q[2048];
#define CLAIMS(fmt, ...) snprintf(q, sizeof(q), "{" fmt "}", __VA_ARGS__)
    CLAIMS("\"eat_profile\":\"tag:example.com,2026:other\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\"}}",
           base);
    PAYLOAD(q, ATTEX_ERR_ATTESTATION, "unknown eat_profile");
    CLAIMS("%s,\"submods\":{\"a\":{\"ear_status\":\"affirming\"}}", base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "no eat_profile");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s", base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "submods");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{}", base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "submods");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":[1]", base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "submods");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{}}", base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "no ear_status");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"\":{\"ear_status\":"
           "\"affirming\"}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "names must be");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear.status\":\"affirming\"}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "both");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":2}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "status");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_trustworthiness_vector\":{\"hardware\":128}}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "-128..127");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_trustworthiness_vector\":{\"hardware\":-129}}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "-128..127");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_trustworthiness_vector\":{\"hardware\":-128,\"storage-opaque\":"
           "127}}}",
           base);
    PAYLOAD(q, ATTEX_OK, NULL);
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_trustworthiness_vector\":{\"hardware\":1.5}}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "-128..127");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_trustworthiness_vector\":{\"firmware\":2}}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "unknown claim");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_appraisal_policy_ids\":\"p\"}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "ear_appraisal_policy_ids");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_appraisal_policy_ids\":[]}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "ear_appraisal_policy_ids");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear.appraisal-policy-id\":[\"p\"]}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "not a string");
    /* Verifier identity and times. */
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"iat\":1800000000,\"submods\":{\"a\":{"
           "\"ear_status\":\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "ear_verifier_id");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"iat\":1800000000,\"ear_verifier_id\":{"
           "\"developer\":\"d\"},\"submods\":{\"a\":{\"ear_status\":\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "build");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"ear.verifier-id\":{\"developer\":"
           "\"d\",\"build\":\"b\"},\"submods\":{\"a\":{\"ear_status\":\"affirming\"}}",
           base);
    PAYLOAD(q, ATTEX_ERR_DECODE, "both");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"ear_verifier_id\":{\"developer\":\"d\","
           "\"build\":\"b\"},\"submods\":{\"a\":{\"ear_status\":\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "no iat");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"ear_verifier_id\":{\"developer\":\"d\","
           "\"build\":\"b\"},\"iat\":1.8e9,\"submods\":{\"a\":{\"ear_status\":\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_OK, NULL);
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"ear_verifier_id\":{\"developer\":\"d\","
           "\"build\":\"b\"},\"iat\":1799999999.5,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "whole number");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"ear_verifier_id\":{\"developer\":\"d\","
           "\"build\":\"b\"},\"iat\":\"1800000000\",\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "not a number");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"ear_verifier_id\":{\"developer\":\"d\","
           "\"build\":\"b\"},\"iat\":-1,\"submods\":{\"a\":{\"ear_status\":\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "outside");
    /* Nonces: too short, non-canonical, standard alphabet, wrong padding, an array. */
    static const char *const bad_nonces[] = {"\"AQIDBAUGBw\"", "\"AQIDBAUGBwgJCgsMDQ4PEB\"",
                                             "\"AQIDBAUGBwgJCgsMDQ4PE+\"",
                                             "\"AQIDBAUGBwgJCgsMDQ4PEA=\"",
                                             "\"AQIDBAUGBwgJCgsMDQ4PEA===\"",
                                             "\"AQIDBAUG=BwgJCgsMDQ4PEA==\"",
                                             "[\"AQIDBAUGBwgJCgsMDQ4PEA\"]"};
    for (size_t i = 0; i < sizeof(bad_nonces) / sizeof(bad_nonces[0]); i++) {
        CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"eat_nonce\":%s,\"submods\":{"
               "\"a\":{\"ear_status\":\"affirming\"}}",
               base, bad_nonces[i]);
        PAYLOAD(q, ATTEX_ERR_DECODE, "eat_nonce");
    }
    /* Lengths at and past the fields' bounds: names 63, policy ids and developer 127 bytes. */
    char longs[200];
    memset(longs, 'n', sizeof(longs));
    longs[63] = 0;
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"%s\":{\"ear_status\":"
           "\"affirming\"}}",
           base, longs);
    PAYLOAD(q, ATTEX_OK, NULL);
    longs[63] = 'n';
    longs[64] = 0;
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"%s\":{\"ear_status\":"
           "\"affirming\"}}",
           base, longs);
    PAYLOAD(q, ATTEX_ERR_DECODE, "names must be");
    longs[64] = 'n';
    longs[127] = 0;
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_appraisal_policy_ids\":[\"p\",\"%s\"]}}",
           base, longs);
    PAYLOAD(q, ATTEX_OK, NULL);
    longs[127] = 'n';
    longs[128] = 0;
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\",\"ear_appraisal_policy_ids\":[\"p\",\"%s\"]}}",
           base, longs);
    PAYLOAD(q, ATTEX_ERR_DECODE, "at most 127");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"iat\":1800000000,\"ear_verifier_id\":{"
           "\"developer\":\"%s\",\"build\":\"b\"},\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\"}}",
           longs);
    PAYLOAD(q, ATTEX_ERR_DECODE, "at most 127");
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",\"iat\":1800000000,\"ear_verifier_id\":{"
           "\"developer\":\"d\\u0000x\",\"build\":\"b\"},\"submods\":{\"a\":{\"ear_status\":"
           "\"affirming\"}}%s",
           "");
    PAYLOAD(q, ATTEX_ERR_DECODE, "not JSON");
    /* A header beyond 1024 bytes. */
    {
        char big_hdr[1200];
        snprintf(big_hdr, sizeof(big_hdr), "{\"alg\":\"ES256\",\"kid\":\"%0*d\"}", 1050, 0);
        char *pp = draft_claims("affirming", NOW, NOW + 60, NULL);
        char *j = make_jwt(big_hdr, pp, vkey);
        CHECK_RC(validate_s(j, NULL, 0, NULL), ATTEX_ERR_DECODE, &err);
        CHECK(strstr(err.message, "header") != NULL);
        free(j);
        free(pp);
    }
    /* 17 submodules. */
    char subs[2048] = "";
    for (int i = 0; i < 17; i++) {
        char one[64];
        snprintf(one, sizeof(one), "%s\"m%d\":{\"ear_status\":\"affirming\"}", i ? "," : "", i);
        strcat(subs, one);
    }
    CLAIMS("\"eat_profile\":\"" ATTEX_EAR_PROFILE "\",%s,\"submods\":{%s}", base, subs);
    PAYLOAD(q, ATTEX_ERR_DECODE, "submods");
    /* Payload not an object; not JSON at all. */
    PAYLOAD("[1,2]", ATTEX_ERR_DECODE, "not a JSON object");
    PAYLOAD("\x01\x02", ATTEX_ERR_DECODE, "not JSON");
#undef CLAIMS
}

/* ---- base64url ---------------------------------------------------------------- */

static void test_b64url(void)
{
    static const struct {
        const char *in;
        int pad, ok;
        const char *out;
    } v[] = {{"", 0, 1, ""},          {"Zg", 0, 1, "f"},       {"Zm8", 0, 1, "fo"},
             {"Zm9v", 0, 1, "foo"},   {"Zg==", 1, 1, "f"},     {"Zg==", 0, 0, NULL},
             {"Zm8=", 1, 1, "fo"},    {"Zg=", 1, 0, NULL},     {"Z", 0, 0, NULL},
             {"Zh", 0, 0, NULL},      {"Zm9v\n", 0, 0, NULL},  {"Zm+v", 0, 0, NULL},
             {"Z=g=", 1, 0, NULL},    {"Zm9vYg", 0, 1, "foob"}, {"_-8", 0, 1, "\xff\xef"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t out[16];
        size_t n = 0;
        char why[B64_WHY_SIZE];
        int ok = b64url_decode_to(v[i].in, strlen(v[i].in), v[i].pad, out, sizeof(out), &n, why,
                                  sizeof(why));
        CHECK(ok == v[i].ok);
        if (ok && v[i].out)
            CHECK(n == strlen(v[i].out) && memcmp(out, v[i].out, n) == 0);
        if (ok && v[i].out && !v[i].pad) {
            char *e = b64_encode(out, n, 1);
            CHECK(strcmp(e, v[i].in) == 0);
            free(e);
        }
    }
    uint8_t small[2];
    size_t n;
    char why[B64_WHY_SIZE];
    CHECK(!b64url_decode_to("Zm9v", 4, 0, small, sizeof(small), &n, why, sizeof(why)));
    CHECK(strstr(why, "at most 2") != NULL);
    /* Standard base64 with padding, as the service's evidence field uses it. */
    char *std = b64_encode((const uint8_t *)"\xfb\xff", 2, 0);
    CHECK(strcmp(std, "+/8=") == 0);
    free(std);
}

/* ---- the verifier plug-in, end to end over TLS ----------------------------------- */

static attex_verdict issue_status = ATTEX_VERDICT_AFFIRMING;
static int issue_wrong_nonce;
static const char *issue_type = ATTEX_EAR_MEDIA_TYPE;
static uint32_t issue_ind = ATTEX_CMW_IND_ATTESTATION_RESULTS;

/* An attester that plays the Verifier in-process: it issues an EAR for the binder. */
static int ear_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *e)
{
    (void)ctx;
    attex_ear ear;
    fill_ear(&ear);
    ear.iat = time(NULL);
    ear.exp = ear.iat + 60;
    ear.num_submods = 1;
    ear.submods[0].status = issue_status;
    memcpy(ear.nonce, b->binder, b->hash_len);
    ear.nonce_len = b->hash_len;
    if (issue_wrong_nonce)
        ear.nonce[0] ^= 1;
    attex_buf jwt = ATTEX_BUF_INIT;
    int rc = attex_ear_issue(&ear, vkey, &jwt, e);
    if (rc != ATTEX_OK)
        return rc;
    attex_cmw *rec = attex_cmw_record_new(issue_type, jwt.data, jwt.len, issue_ind, e);
    attex_buf_free(&jwt);
    if (rec == NULL)
        return e->code;
    rc = attex_cmw_encode(rec, ATTEX_CMW_CBOR, cmw, e);
    attex_cmw_free(rec);
    return rc;
}

static EVP_PKEY *g_srv_key;
static X509 *g_srv_cert;

static int exchange(tu_pair *p, attex_ea_session *cs, attex_ea_session *ss,
                    const attex_attest_policy *pol, const attex_attester *a,
                    attex_attest_result **r)
{
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    int rc = attex_attest_request_create(cs, pol, NULL, &req, &err);
    if (rc == ATTEX_OK && tu_transfer(p, 0, req.data, req.len, &req_rx)) {
        attex_ea_identity id;
        memset(&id, 0, sizeof(id));
        id.cert = g_srv_cert;
        id.key = g_srv_key;
        rc = attex_attest_answer(ss, req_rx.data, req_rx.len, &id, a, 0, &auth, &err);
        if (rc == ATTEX_OK && tu_transfer(p, 1, auth.data, auth.len, &auth_rx))
            rc = attex_attest_validate(cs, req.data, req.len, auth_rx.data, auth_rx.len, NULL,
                                       pol, r, &err);
        else if (rc == ATTEX_OK)
            rc = ATTEX_ERR_CRYPTO;
    }
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static void test_verifier_e2e(void)
{
    g_srv_key = tu_key("p256");
    g_srv_cert = tu_cert(g_srv_key, "server", NULL, NULL, 0, 1);
    EVP_PKEY *keys[1] = {vkey};
    attex_ear_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.keys = keys;
    vc.num_keys = 1;
    attex_verifier *v = attex_ear_verifier_new(&vc, &err);
    CHECK(v != NULL);
    vc.media_type = ATTEX_EAR_MEDIA_TYPE_VERAISON;
    attex_verifier *vv = attex_ear_verifier_new(&vc, &err);
    CHECK(vv != NULL);
    const attex_verifier *vs[2] = {v, vv};
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = vs;
    pol.num_verifiers = 2;
    pol.require = 1;
    attex_attester a = {"ear-inproc", NULL, ear_attest};
    static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};
    for (int si = 0; si < 2; si++) {
        tu_pair p;
        tu_pair_opts po = {suites[si], 0, 0, 0};
        if (!tu_pair_open(&p, &po)) {
            CHECK(!"pair");
            continue;
        }
        attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
        attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
        attex_attest_result *r = NULL;
        issue_status = ATTEX_VERDICT_AFFIRMING;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_OK, &err);
        if (r != NULL) {
            const char *vn = NULL;
            const attex_appraisal *ap = attex_attest_result_appraisal(r, 0, &vn);
            CHECK(ap && ap->verdict == ATTEX_VERDICT_AFFIRMING);
            CHECK(ap && strstr(ap->reason, "submodule \"sample\" affirming") != NULL);
            CHECK(ap && ap->claims_json && strstr(ap->claims_json, "eat_nonce") != NULL);
            CHECK(vn && strcmp(vn, "ear") == 0);
        }
        attex_attest_result_free(r);
        r = NULL;
        /* The Veraison-profile media type goes to the second verifier. */
        issue_type = ATTEX_EAR_MEDIA_TYPE_VERAISON;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_OK, &err);
        attex_attest_result_free(r);
        r = NULL;
        issue_type = ATTEX_EAR_MEDIA_TYPE;
        /* Contraindicated and warning: refused by the default policy. */
        issue_status = ATTEX_VERDICT_CONTRAINDICATED;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strstr(err.message, "contraindicated") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        issue_status = ATTEX_VERDICT_WARNING;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_ERR_ATTESTATION, &err);
        attex_attest_result_free(r);
        r = NULL;
        pol.minimum = ATTEX_VERDICT_WARNING;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_OK, &err);
        attex_attest_result_free(r);
        r = NULL;
        pol.minimum = 0;
        issue_status = ATTEX_VERDICT_NONE;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_ERR_ATTESTATION, &err);
        attex_attest_result_free(r);
        r = NULL;
        issue_status = ATTEX_VERDICT_AFFIRMING;
        /* An EAR for another connection. */
        issue_wrong_nonce = 1;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strstr(err.message, "eat_nonce does not match") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        issue_wrong_nonce = 0;
        /* An EAR marked as evidence (ind 4). */
        issue_ind = ATTEX_CMW_IND_EVIDENCE;
        CHECK(exchange(&p, cs, ss, &pol, &a, &r) != ATTEX_OK);
        attex_attest_result_free(r);
        r = NULL;
        issue_ind = ATTEX_CMW_IND_ATTESTATION_RESULTS;
        /* Signed by a Verifier the relying party does not trust. */
        EVP_PKEY *saved = vkey;
        vkey = other_key;
        CHECK_RC(exchange(&p, cs, ss, &pol, &a, &r), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strstr(err.message, "signature") != NULL);
        vkey = saved;
        attex_attest_result_free(r);
        attex_ea_session_free(cs);
        attex_ea_session_free(ss);
        tu_pair_close(&p);
    }
    attex_ear_verifier_free(v);
    attex_ear_verifier_free(vv);
    /* Configuration errors. */
    memset(&vc, 0, sizeof(vc));
    CHECK(attex_ear_verifier_new(&vc, &err) == NULL);
    EVP_PKEY *p384 = tu_key("p384");
    EVP_PKEY *bad[1] = {p384};
    vc.keys = bad;
    vc.num_keys = 1;
    CHECK(attex_ear_verifier_new(&vc, &err) == NULL);
    EVP_PKEY_free(p384);
    const char *paths[1] = {tu_source_path("tests/vectors/ear/veraison_pkey.pem")};
    memset(&vc, 0, sizeof(vc));
    vc.key_paths = paths;
    vc.num_key_paths = 1;
    v = attex_ear_verifier_new(&vc, &err);
    CHECK(v != NULL);
    attex_ear_verifier_free(v);
    const char *nopath[1] = {"no/such/key.pem"};
    vc.key_paths = nopath;
    CHECK(attex_ear_verifier_new(&vc, &err) == NULL);
    CHECK(strstr(err.message, "no/such/key.pem") != NULL);
    X509_free(g_srv_cert);
    EVP_PKEY_free(g_srv_key);
}

static void test_jwk(void)
{
    attex_buf jwk = ATTEX_BUF_INIT;
    CHECK_RC(attex_ear_key_to_jwk(vkey, &jwk, &err), ATTEX_OK, &err);
    EVP_PKEY *k = NULL;
    CHECK_RC(attex_ear_key_from_jwk((const char *)jwk.data, jwk.len, &k, &err), ATTEX_OK, &err);
    CHECK(k != NULL && EVP_PKEY_eq(k, vkey) == 1);
    EVP_PKEY_free(k);
    CHECK(jwk.data && strstr((const char *)jwk.data, "\"crv\":\"P-256\"") != NULL);
    attex_buf_free(&jwk);
    /* The Veraison key (veraison/ear arc/data/pkey.json coordinates) equals the PEM vector. */
    static const char veraison_jwk[] =
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4\"}";
    CHECK_RC(attex_ear_key_from_jwk(veraison_jwk, strlen(veraison_jwk), &k, &err), ATTEX_OK, &err);
    char *pem = slurp("tests/vectors/ear/veraison_pkey.pem");
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *vk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    CHECK(k != NULL && vk != NULL && EVP_PKEY_eq(k, vk) == 1);
    BIO_free(b);
    free(pem);
    EVP_PKEY_free(vk);
    EVP_PKEY_free(k);
    static const char *const bad[] = {
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4\",\"d\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4\",\"alg\":\"HS256\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX5\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX5\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8\","
        "\"y\":\"IBOL\"}",
        "[]", "{"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        k = NULL;
        CHECK_RC(attex_ear_key_from_jwk(bad[i], strlen(bad[i]), &k, &err), ATTEX_ERR_DECODE, &err);
        CHECK(k == NULL);
    }
}

int main(void)
{
    vkey = tu_key("p256");
    other_key = tu_key("p256");
    test_b64url();
    test_round_trip();
    test_issue_negative();
    test_veraison_kat();
    test_crafted();
    test_verifier_e2e();
    test_jwk();
    EVP_PKEY_free(vkey);
    EVP_PKEY_free(other_key);
    return tu_finish("test_ear");
}
