/*
 * Tests for the Arm CCA token verifier (include/attex/cca.h).
 *
 * Known answers on the real TF-RMM sample (tests/vectors/cca/README.md),
 * tampering of each signed region of the sample, truncation at every
 * length; then tokens built here with keys of our own (a platform key and a
 * RAK, both P-384, ES384) so that each rule can be broken alone while every
 * signature stays valid: binding, claims, profiles, lifecycle, reference
 * values per field, both collection forms, both RAK encodings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <attex/cca.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "cca_internal.h"
#include "cose.h"
#include "internal.h"
#include "testutil.h"

static uint8_t *sample;
static size_t sample_len;
static char sample_key_path[512];
static EVP_PKEY *plat_key, *rak_key, *other_key;
static uint8_t rd_ab[64];

/* ---- files ------------------------------------------------------------ */

static uint8_t *read_vector(const char *name, size_t *len)
{
    const char *dir = getenv("ATTEX_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/vectors/cca/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

static attex_verifier *make_verifier(EVP_PKEY *key, const char *policy, int any_lc)
{
    attex_error err;
    attex_cca_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    EVP_PKEY *keys[1] = {key};
    const char *paths[1] = {sample_key_path};
    if (key != NULL) {
        cfg.platform_keys = keys;
        cfg.num_platform_keys = 1;
    } else {
        cfg.platform_key_paths = paths;
        cfg.num_platform_key_paths = 1;
    }
    cfg.policy_json = policy;
    cfg.allow_any_lifecycle = any_lc;
    attex_verifier *v = attex_cca_verifier_new(&cfg, &err);
    if (v == NULL)
        fprintf(stderr, "verifier: %s\n", err.message);
    return v;
}

/* appraise runs attex_cca_appraise; returns the rc and leaves the reason in `a`. */
static int appraise(attex_verifier *v, const uint8_t *tok, size_t len, const uint8_t *rd,
                    attex_appraisal *a)
{
    attex_error err;
    memset(&err, 0, sizeof(err));
    int rc = attex_cca_appraise(v->ctx, tok, len, NULL, 0, rd, a, &err);
    if (rc != ATTEX_OK && strcmp(err.message, a->reason) != 0) {
        fprintf(stderr, "error and reason differ: %s / %s\n", err.message, a->reason);
        tu_failed++;
    }
    return rc;
}

/* expect_fail checks rc is an attestation error whose reason contains `what`. */
static void expect_fail(attex_verifier *v, const uint8_t *tok, size_t len, const uint8_t *rd,
                        const char *what, int line)
{
    attex_appraisal a;
    int rc = appraise(v, tok, len, rd, &a);
    if (rc == ATTEX_ERR_ATTESTATION && a.verdict == ATTEX_VERDICT_CONTRAINDICATED &&
        strstr(a.reason, what) != NULL) {
        tu_passed++;
    } else {
        tu_failed++;
        fprintf(stderr, "line %d: want failure with \"%s\", got rc %d: %s\n", line, what, rc,
                a.reason);
    }
    attex_appraisal_clear(&a);
}
#define EXPECT_FAIL(v, t, n, rd, what) expect_fail(v, t, n, rd, what, __LINE__)

/* expect_verdict checks rc OK, the verdict, and that the reason contains `what`. */
static void expect_verdict(attex_verifier *v, const uint8_t *tok, size_t len, const uint8_t *rd,
                           attex_verdict want, const char *what, int line)
{
    attex_appraisal a;
    int rc = appraise(v, tok, len, rd, &a);
    if (rc == ATTEX_OK && a.verdict == want && strstr(a.reason, what) != NULL &&
        a.claims_json != NULL) {
        tu_passed++;
    } else {
        tu_failed++;
        fprintf(stderr, "line %d: want rc 0, verdict %s with \"%s\"; got rc %d, %s: %s\n", line,
                attex_verdict_name(want), what, rc, attex_verdict_name(a.verdict), a.reason);
    }
    attex_appraisal_clear(&a);
}
#define EXPECT_VERDICT(v, t, n, rd, w, what) expect_verdict(v, t, n, rd, w, what, __LINE__)

/* ---- the sample ------------------------------------------------------- */

/* The sample's values, as its README and a hex dump show them. */
static const char sample_policy[] =
    "{\"platform\": {\"implementation_id\": "
    "\"7f454c4602010100000000000000000003003e00010000005058000000000000\","
    " \"instance_id\": [\"0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918\"],"
    " \"sw_components\": [{\"type\": \"BL\", \"version\": \"3.4.2\", \"measurement\": "
    "\"0706050403020100" "0f0e0d0c0b0a0908" "1716151413121110" "1f1e1d1c1b1a1918\"}]},"
    " \"realm\": {\"initial_measurement\": "
    "\"0000000000000000000000000000000000000000000000000000000000000000\","
    " \"extensible_measurements\": [[\"" 
    "0000000000000000000000000000000000000000000000000000000000000000\", \""
    "0000000000000000000000000000000000000000000000000000000000000000\", \""
    "0000000000000000000000000000000000000000000000000000000000000000\", \""
    "0000000000000000000000000000000000000000000000000000000000000000\"]]}}";

static void test_sample(void)
{
    attex_verifier *v = make_verifier(NULL, NULL, 0);
    CHECK(v != NULL);
    if (v == NULL)
        return;
    CHECK(strcmp(v->media_type, ATTEX_CCA_MEDIA_TYPE) == 0);
    /* README: all signatures verify, bound; no reference values -> warning. */
    EXPECT_VERDICT(v, sample, sample_len, rd_ab, ATTEX_VERDICT_WARNING, "realm challenge");
    EXPECT_VERDICT(v, sample, sample_len, NULL, ATTEX_VERDICT_WARNING, "no reference values");
    attex_appraisal a;
    CHECK_RC(appraise(v, sample, sample_len, rd_ab, &a), ATTEX_OK, &(attex_error){0});
    CHECK(a.claims_json != NULL && strstr(a.claims_json, "\"lifecycle\":12291") != NULL);
    CHECK(a.claims_json != NULL && strstr(a.claims_json, "\"lifecycle_state\":\"secured\""));
    CHECK(a.claims_json != NULL && strstr(a.claims_json, "\"signature_alg\":\"ES384\""));
    CHECK(a.claims_json != NULL && strstr(a.claims_json, "whatever.com"));
    attex_appraisal_clear(&a);
    /* Any other report data: binding failure. */
    for (int i = 0; i < 64; i += 9) {
        uint8_t rd[64];
        memcpy(rd, rd_ab, 64);
        rd[i] ^= 0x01;
        EXPECT_FAIL(v, sample, sample_len, rd, "binding: realm challenge (10)");
    }
    uint8_t zero[64] = {0};
    EXPECT_FAIL(v, sample, sample_len, zero, "expected report data 0000");
    attex_cca_verifier_free(v);

    /* Reference values taken from the sample: affirming; each field altered: named. */
    v = make_verifier(NULL, sample_policy, 0);
    CHECK(v != NULL);
    if (v != NULL)
        EXPECT_VERDICT(v, sample, sample_len, rd_ab, ATTEX_VERDICT_AFFIRMING,
                       "all 5 reference value fields match");
    attex_cca_verifier_free(v);

    /* Wrong platform key. */
    v = make_verifier(other_key, NULL, 0);
    if (v != NULL)
        EXPECT_FAIL(v, sample, sample_len, rd_ab, "platform token signature (ES384)");
    attex_cca_verifier_free(v);
}

/* Flipping any byte of either signed token makes the appraisal fail. */
static void test_sample_tamper(void)
{
    attex_verifier *v = make_verifier(NULL, NULL, 0);
    if (v == NULL)
        return;
    cca_token t;
    char why[400];
    CHECK(cca_token_decode(sample, sample_len, &t, why, sizeof(why)) == 1);
    struct {
        const uint8_t *p;
        size_t n;
        const char *name;
    } regions[] = {
        {t.platform.prot, t.platform.prot_len, "platform protected"},
        {t.platform.payload, t.platform.payload_len, "platform payload"},
        {t.platform.sig, t.platform.sig_len, "platform signature"},
        {t.realm.prot, t.realm.prot_len, "realm protected"},
        {t.realm.payload, t.realm.payload_len, "realm payload"},
        {t.realm.sig, t.realm.sig_len, "realm signature"},
    };
    uint8_t *copy = malloc(sample_len);
    for (size_t r = 0; r < ATTEX_ARRAY_LEN(regions) && copy != NULL; r++) {
        /* Offsets into the sample: the views point into the collection's libcbor copy, so
         * find each region in the original bytes. */
        const uint8_t *at = NULL;
        for (size_t i = 0; i + regions[r].n <= sample_len && at == NULL; i++)
            if (memcmp(sample + i, regions[r].p, regions[r].n) == 0)
                at = sample + i;
        CHECK(at != NULL);
        if (at == NULL)
            continue;
        size_t off = (size_t)(at - sample), bad = 0;
        for (size_t i = 0; i < regions[r].n; i++) {
            memcpy(copy, sample, sample_len);
            copy[off + i] ^= 0x01;
            attex_appraisal a;
            if (appraise(v, copy, sample_len, rd_ab, &a) == ATTEX_OK) {
                bad++;
                fprintf(stderr, "%s byte %zu flipped: accepted\n", regions[r].name, i);
            }
            attex_appraisal_clear(&a);
        }
        CHECK(bad == 0);
    }
    /* A flip inside string contents keeps the CBOR valid: the signature check catches it. */
    if (copy != NULL) {
        size_t pos = 0;
        for (size_t i = 0; i + 12 <= sample_len; i++)
            if (memcmp(sample + i, "whatever.com", 12) == 0)
                pos = i;
        memcpy(copy, sample, sample_len);
        copy[pos] ^= 0x01;
        EXPECT_FAIL(v, copy, sample_len, rd_ab, "platform token signature");
        for (size_t i = 0; i + 9 <= sample_len; i++)
            if (memcmp(sample + i, "The quick", 9) == 0)
                pos = i;
        memcpy(copy, sample, sample_len);
        copy[pos] ^= 0x01;
        EXPECT_FAIL(v, copy, sample_len, rd_ab, "realm token signature (ES384)");
        /* A RAK that is not a point on P-384 is refused before any signature check. */
        cca_token t2;
        CHECK(cca_token_decode(sample, sample_len, &t2, why, sizeof(why)) == 1);
        for (size_t i = 0; i + t2.r_rak.n <= sample_len; i++)
            if (memcmp(sample + i, t2.r_rak.p, t2.r_rak.n) == 0)
                pos = i + t2.r_rak.n - 1;
        cca_token_free(&t2);
        memcpy(copy, sample, sample_len);
        copy[pos] ^= 0x01;
        EXPECT_FAIL(v, copy, sample_len, rd_ab, "public-key (44237) is not a valid P-384 point");
        /* The realm signature ends the token. */
        memcpy(copy, sample, sample_len);
        copy[sample_len - 1] ^= 0x80;
        EXPECT_FAIL(v, copy, sample_len, rd_ab, "realm token signature");
    }
    free(copy);
    cca_token_free(&t);
    attex_cca_verifier_free(v);
}

static void test_sample_truncated(void)
{
    attex_verifier *v = make_verifier(NULL, NULL, 0);
    if (v == NULL)
        return;
    size_t accepted = 0;
    for (size_t n = 0; n < sample_len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, sample, n);
        attex_appraisal a;
        if (appraise(v, p, n, rd_ab, &a) != ATTEX_ERR_ATTESTATION)
            accepted++;
        attex_appraisal_clear(&a);
        free(p);
    }
    CHECK(accepted == 0);
    /* One byte more: trailing bytes refused. */
    uint8_t *p = malloc(sample_len + 1);
    memcpy(p, sample, sample_len);
    p[sample_len] = 0;
    EXPECT_FAIL(v, p, sample_len + 1, rd_ab, "bytes follow");
    free(p);
    attex_cca_verifier_free(v);
}

static void test_describe(void)
{
    attex_buf out = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(attex_cca_describe(sample, sample_len, &out, &err), ATTEX_OK, &err);
    CHECK(out.data != NULL &&
          strstr((char *)out.data, "\"platform_challenge_is_rak_hash\": true") != NULL);
    CHECK(out.data != NULL &&
          strstr((char *)out.data, "\"realm_signature_verifies_with_rak\": true") != NULL);
    CHECK(out.data != NULL && strstr((char *)out.data, "abababab") != NULL);
    CHECK(out.data != NULL && strstr((char *)out.data, "\"collection_tag\": 399") != NULL);
    attex_buf_free(&out);
    CHECK_RC(attex_cca_describe(sample, 10, &out, &err), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "not well-formed") != NULL);
    CHECK_RC(attex_cca_describe(NULL, 0, &out, &err), ATTEX_ERR_DECODE, &err);
}

/* ---- built tokens ----------------------------------------------------- */

/* es384 signs msg with key (P-384) and writes r || s (96 bytes). */
static int es_sign(EVP_PKEY *key, const char *md, size_t half, const uint8_t *msg, size_t n,
                   uint8_t *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[160];
    size_t der_len = sizeof(der);
    int ok = ctx && EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, key, NULL) > 0 &&
             EVP_DigestSign(ctx, der, &der_len, msg, n) > 0;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return 0;
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    if (es == NULL)
        return 0;
    ECDSA_SIG_get0(es, &r, &s);
    ok = BN_bn2binpad(r, sig, (int)half) == (int)half &&
         BN_bn2binpad(s, sig + half, (int)half) == (int)half;
    ECDSA_SIG_free(es);
    return ok;
}

/* cose_make writes a tagged COSE_Sign1 of payload with {1: alg} signed by key. */
static void cose_make(attex_writer *w, EVP_PKEY *key, int64_t alg, const uint8_t *payload,
                      size_t n)
{
    attex_writer ph;
    wr_init(&ph, 64);
    cbor_put_head(&ph, CBOR_MAJOR_MAP, 1);
    cbor_put_int(&ph, 1);
    cbor_put_int(&ph, alg);
    attex_buf prot = ATTEX_BUF_INIT, tbs = ATTEX_BUF_INIT;
    if (!wr_finish(&ph, &prot))
        return;
    uint8_t sig[96];
    CHECK(cose_sig_structure(prot.data, prot.len, payload, n, &tbs, NULL) == ATTEX_OK);
    CHECK(es_sign(key, "SHA384", 48, tbs.data, tbs.len, sig) == 1);
    wr_u8(w, 0xD2);
    cbor_put_head(w, CBOR_MAJOR_ARRAY, 4);
    cbor_put_bytes(w, prot.data, prot.len);
    cbor_put_head(w, CBOR_MAJOR_MAP, 0);
    cbor_put_bytes(w, payload, n);
    cbor_put_bytes(w, sig, sizeof(sig));
    attex_buf_free(&prot);
    attex_buf_free(&tbs);
}

/* What to change in a built token. */
typedef struct tb {
    int64_t omit_p, omit_r;     /* claim key to leave out (0: none) */
    int64_t dup_r;              /* realm claim to write twice */
    const char *p_profile;      /* NULL: the legacy profile */
    const char *r_profile;      /* NULL: none */
    uint64_t lifecycle;         /* 0: 0x3000 */
    int bad_p_challenge;        /* platform challenge not H(RAK) */
    int rak_cose_key;           /* 44237 as a COSE_Key */
    int tag907;                 /* the CMW-collection form */
    int64_t realm_alg;          /* 0: ES384 */
    const char *rak_hash_algo;  /* NULL: sha-256 */
    uint8_t rim_byte, perso_byte, rem3_byte, impl_byte, sw_meas_byte;
    uint8_t ueid_type;          /* 0: 0x01 (RAND) */
    int sw_no_signer;           /* first component without signer-id */
    int rem_count;              /* 0: 4 */
    uint64_t big_lifecycle;     /* nonzero: this lifecycle, unchecked */
} tb;

static size_t rak_point(uint8_t pt[97])
{
    size_t n = 0;
    EVP_PKEY_get_octet_string_param(rak_key, OSSL_PKEY_PARAM_PUB_KEY, pt, 97, &n);
    return n;
}

#define CLAIM(key_) (o->omit_p != (key_) && ++np)
#define RCLAIM(key_) (o->omit_r != (key_) && ++nr)

static void put_claims_p(attex_writer *w, const tb *o, const uint8_t *rak, size_t rak_len,
                         size_t *count)
{
    size_t np = 0;
    uint8_t buf[64];
    if (CLAIM(265)) {
        const char *prof = o->p_profile ? o->p_profile : "http://arm.com/CCA-SSD/1.0.0";
        cbor_put_int(w, 265);
        cbor_put_text(w, prof, strlen(prof));
    }
    if (CLAIM(10)) {
        unsigned int hl = 0;
        EVP_Digest(rak, rak_len, buf, &hl, EVP_sha256(), NULL);
        if (o->bad_p_challenge)
            buf[5] ^= 0x40;
        cbor_put_int(w, 10);
        cbor_put_bytes(w, buf, 32);
    }
    if (CLAIM(2396)) {
        memset(buf, o->impl_byte ? o->impl_byte : 0x11, 32);
        cbor_put_int(w, 2396);
        cbor_put_bytes(w, buf, 32);
    }
    if (CLAIM(256)) {
        memset(buf, 0x22, 33);
        buf[0] = o->ueid_type ? o->ueid_type : 0x01;
        cbor_put_int(w, 256);
        cbor_put_bytes(w, buf, 33);
    }
    if (CLAIM(2401)) {
        cbor_put_int(w, 2401);
        cbor_put_bytes(w, (const uint8_t *)"\xcf", 1);
    }
    if (CLAIM(2395)) {
        cbor_put_int(w, 2395);
        cbor_put_int(w, (int64_t)(o->big_lifecycle ? o->big_lifecycle
                                  : o->lifecycle ? o->lifecycle : 0x3000));
    }
    if (CLAIM(2399)) {
        cbor_put_int(w, 2399);
        cbor_put_head(w, CBOR_MAJOR_ARRAY, 2);
        for (int i = 0; i < 2; i++) {
            int no_signer = i == 0 && o->sw_no_signer;
            cbor_put_head(w, CBOR_MAJOR_MAP, no_signer ? 3 : 4);
            cbor_put_int(w, 1);
            cbor_put_text(w, i ? "RMM" : "BL", i ? 3 : 2);
            cbor_put_int(w, 2);
            memset(buf, i ? 0x44 : (o->sw_meas_byte ? o->sw_meas_byte : 0x33), 32);
            cbor_put_bytes(w, buf, 32);
            cbor_put_int(w, 4);
            cbor_put_text(w, "1.0", 3);
            if (no_signer)
                continue;
            cbor_put_int(w, 5);
            memset(buf, 0x55, 32);
            cbor_put_bytes(w, buf, 32);
        }
    }
    if (CLAIM(2402)) {
        cbor_put_int(w, 2402);
        cbor_put_text(w, "sha-256", 7);
    }
    *count = np;
}

static void put_claims_r(attex_writer *w, const tb *o, const uint8_t *rak, size_t rak_len,
                         size_t *count)
{
    size_t nr = 0;
    uint8_t buf[64];
    if (RCLAIM(10)) {
        cbor_put_int(w, 10);
        cbor_put_bytes(w, rd_ab, 64);
    }
    if (RCLAIM(44235)) {
        memset(buf, o->perso_byte ? o->perso_byte : 0x66, 64);
        cbor_put_int(w, 44235);
        cbor_put_bytes(w, buf, 64);
    }
    if (RCLAIM(44236)) {
        cbor_put_int(w, 44236);
        cbor_put_text(w, "sha-256", 7);
    }
    if (RCLAIM(44237)) {
        cbor_put_int(w, 44237);
        cbor_put_bytes(w, rak, rak_len);
    }
    if (RCLAIM(44238)) {
        memset(buf, o->rim_byte ? o->rim_byte : 0x77, 32);
        cbor_put_int(w, 44238);
        cbor_put_bytes(w, buf, 32);
    }
    if (RCLAIM(44239)) {
        int nrem = o->rem_count ? o->rem_count : 4;
        cbor_put_int(w, 44239);
        cbor_put_head(w, CBOR_MAJOR_ARRAY, (uint64_t)nrem);
        for (int i = 0; i < nrem; i++) {
            memset(buf, i == 3 && o->rem3_byte ? o->rem3_byte : 0x88 + i, 32);
            cbor_put_bytes(w, buf, 32);
        }
    }
    if (RCLAIM(44240)) {
        const char *h = o->rak_hash_algo ? o->rak_hash_algo : "sha-256";
        cbor_put_int(w, 44240);
        cbor_put_text(w, h, strlen(h));
    }
    if (o->r_profile != NULL) {
        nr++;
        cbor_put_int(w, 265);
        cbor_put_text(w, o->r_profile, strlen(o->r_profile));
    }
    if (o->dup_r != 0) {
        nr++;
        cbor_put_int(w, o->dup_r);
        cbor_put_bytes(w, rd_ab, 64);
    }
    *count = nr;
}

/* build writes a token following o into out. */
static void build(const tb *o, attex_buf *out)
{
    uint8_t pt[97], rak[200];
    size_t pt_len = rak_point(pt), rak_len = pt_len;
    memcpy(rak, pt, pt_len);
    if (o->rak_cose_key) {
        attex_writer k;
        attex_buf kb = ATTEX_BUF_INIT;
        wr_init(&k, sizeof(rak));
        cbor_put_head(&k, CBOR_MAJOR_MAP, 4);
        cbor_put_int(&k, 1);
        cbor_put_int(&k, 2);
        cbor_put_int(&k, -1);
        cbor_put_int(&k, 2);
        cbor_put_int(&k, -2);
        cbor_put_bytes(&k, pt + 1, 48);
        cbor_put_int(&k, -3);
        cbor_put_bytes(&k, pt + 49, 48);
        CHECK(wr_finish(&k, &kb) == 1);
        memcpy(rak, kb.data, kb.len);
        rak_len = kb.len;
        attex_buf_free(&kb);
    }
    attex_writer body, w, tok;
    attex_buf claims = ATTEX_BUF_INIT, pbuf = ATTEX_BUF_INIT, rbuf = ATTEX_BUF_INIT;
    size_t n;
    /* platform */
    wr_init(&body, 4096);
    put_claims_p(&body, o, rak, rak_len, &n);
    wr_init(&w, 4096);
    cbor_put_head(&w, CBOR_MAJOR_MAP, n);
    wr_bytes(&w, body.data, body.len);
    wr_cleanup(&body);
    CHECK(wr_finish(&w, &claims) == 1);
    wr_init(&w, 8192);
    cose_make(&w, plat_key, COSE_ALG_ES384, claims.data, claims.len);
    CHECK(wr_finish(&w, &pbuf) == 1);
    attex_buf_free(&claims);
    /* realm */
    wr_init(&body, 4096);
    put_claims_r(&body, o, rak, rak_len, &n);
    wr_init(&w, 4096);
    cbor_put_head(&w, CBOR_MAJOR_MAP, n);
    wr_bytes(&w, body.data, body.len);
    wr_cleanup(&body);
    CHECK(wr_finish(&w, &claims) == 1);
    wr_init(&w, 8192);
    cose_make(&w, rak_key, o->realm_alg ? o->realm_alg : COSE_ALG_ES384, claims.data,
              claims.len);
    CHECK(wr_finish(&w, &rbuf) == 1);
    attex_buf_free(&claims);
    /* collection */
    wr_init(&tok, 16384);
    wr_u8(&tok, 0xD9);
    wr_u16(&tok, o->tag907 ? 907 : 399);
    cbor_put_head(&tok, CBOR_MAJOR_MAP, 2);
    cbor_put_int(&tok, 44234);
    if (o->tag907) {
        cbor_put_head(&tok, CBOR_MAJOR_ARRAY, 2);
        cbor_put_int(&tok, 263);
    }
    cbor_put_bytes(&tok, pbuf.data, pbuf.len);
    cbor_put_int(&tok, 44241);
    if (o->tag907) {
        cbor_put_head(&tok, CBOR_MAJOR_ARRAY, 2);
        cbor_put_int(&tok, 263);
    }
    cbor_put_bytes(&tok, rbuf.data, rbuf.len);
    CHECK(wr_finish(&tok, out) == 1);
    attex_buf_free(&pbuf);
    attex_buf_free(&rbuf);
}

static const char built_policy[] =
    "{\"platform\": {\"implementation_id\": ["
    "\"1111111111111111111111111111111111111111111111111111111111111111\"],"
    " \"instance_id\": \"012222222222222222222222222222222222222222222222222222222222222222\","
    " \"config\": \"cf\","
    " \"sw_components\": [{\"type\": \"BL\", \"measurement\": "
    "\"3333333333333333333333333333333333333333333333333333333333333333\", \"signer_id\": "
    "\"5555555555555555555555555555555555555555555555555555555555555555\", \"version\": "
    "\"1.0\"}, {\"type\": \"RMM\"}]},"
    " \"realm\": {\"initial_measurement\": ["
    "\"7777777777777777777777777777777777777777777777777777777777777777\"],"
    " \"personalization_value\": \"" 
    "66666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
    "666666666666666666666666666666666666666666\","
    " \"extensible_measurements\": [[\""
    "8888888888888888888888888888888888888888888888888888888888888888\", \""
    "8989898989898989898989898989898989898989898989898989898989898989\", \""
    "8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a\", \""
    "8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b\"]]}}";

static void test_built(void)
{
    attex_verifier *v = make_verifier(plat_key, built_policy, 0);
    CHECK(v != NULL);
    if (v == NULL)
        return;
    attex_buf t = ATTEX_BUF_INIT;
    tb o;

#define BUILD(...)                                  \
    do {                                            \
        attex_buf_free(&t);                         \
        memset(&o, 0, sizeof(o));                   \
        __VA_ARGS__;                                \
        build(&o, &t);                              \
    } while (0)

    BUILD((void)0);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_AFFIRMING,
                   "all 7 reference value fields match");
    BUILD(o.tag907 = 1);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_AFFIRMING, "match");
    BUILD(o.rak_cose_key = 1; o.r_profile = "tag:arm.com,2023:realm#1.0.0";
          o.p_profile = "tag:arm.com,2023:cca_platform#1.0.0");
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_AFFIRMING, "match");

    /* Binding: platform challenge must be H(RAK). */
    BUILD(o.bad_p_challenge = 1);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "binding: platform challenge (10)");
    /* The hash named by 44240 is the one used: sha-512 of the RAK is not the challenge. */
    BUILD(o.rak_hash_algo = "sha-512");
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "binding: platform challenge (10)");
    BUILD(o.rak_hash_algo = "md5");
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "public-key-hash-algo-id (44240) is \"md5\"");
    /* Realm challenge vs report data. */
    BUILD((void)0);
    uint8_t rd[64];
    memset(rd, 0xAB, 64);
    rd[63] = 0;
    EXPECT_FAIL(v, t.data, t.len, rd, "binding: realm challenge (10)");

    /* Missing claims, each. */
    static const int64_t pkeys[] = {265, 10, 2396, 256, 2401, 2395, 2399, 2402};
    static const char *const pnames[] = {"profile (265)", "challenge (10)",
                                         "implementation-id (2396)", "instance-id (256)",
                                         "config (2401)", "security-lifecycle (2395)",
                                         "sw-components (2399)", "hash-algo-id (2402)"};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(pkeys); i++) {
        char want[120];
        BUILD(o.omit_p = pkeys[i]);
        snprintf(want, sizeof(want), "the platform token lacks claim %s", pnames[i]);
        EXPECT_FAIL(v, t.data, t.len, rd_ab, want);
    }
    static const int64_t rkeys[] = {10, 44235, 44236, 44237, 44238, 44239, 44240};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(rkeys); i++) {
        char want[120];
        BUILD(o.omit_r = rkeys[i]);
        snprintf(want, sizeof(want), "the realm token lacks claim");
        EXPECT_FAIL(v, t.data, t.len, rd_ab, want);
        snprintf(want, sizeof(want), "(%lld)", (long long)rkeys[i]);
        EXPECT_FAIL(v, t.data, t.len, rd_ab, want);
    }
    BUILD(o.dup_r = 10);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "realm claim challenge (10) appears twice");

    /* Profiles. */
    BUILD(o.p_profile = "http://example.com/other");
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "platform profile (265) is \"http://example.com/other\"");
    BUILD(o.r_profile = "tag:example.com,2024:x");
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "realm profile (265)");

    /* Realm alg does not fit the RAK (P-384 key, ES256 header, 96-byte sig). */
    BUILD(o.realm_alg = COSE_ALG_ES256);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "ES256 signatures are exactly 64");

    /* Claim shapes. */
    BUILD(o.ueid_type = 0x02);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "instance-id (256) does not start with 0x01");
    BUILD(o.sw_no_signer = 1);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "sw-component 0 lacks its signer-id (5)");
    BUILD(o.rem_count = 3);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "extensible-measurements (44239) is not an array of 4");
    BUILD(o.big_lifecycle = 0x10000);
    EXPECT_FAIL(v, t.data, t.len, rd_ab, "security-lifecycle (2395) is not an integer 0..65535");

    /* Lifecycle. */
    BUILD(o.lifecycle = 0x5000);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED,
                   "security-lifecycle (2395) is 0x5000 (recoverable-psa-rot-debug)");
    attex_verifier *any = make_verifier(plat_key, built_policy, 1);
    if (any != NULL)
        EXPECT_VERDICT(any, t.data, t.len, rd_ab, ATTEX_VERDICT_AFFIRMING, "match");
    attex_cca_verifier_free(any);

    /* Reference values, each field. */
    BUILD(o.impl_byte = 0x12);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED,
                   "platform implementation_id (2396) is 1212");
    BUILD(o.sw_meas_byte = 0x34);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED,
                   "platform sw_components[0] (type BL, version 1.0, measurement 3333");
    BUILD(o.rim_byte = 0x78);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED,
                   "realm initial_measurement (44238) is 7878");
    BUILD(o.perso_byte = 0x67);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED,
                   "realm personalization_value (44235) is 6767");
    BUILD(o.rem3_byte = 0x99);
    EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED,
                   "realm extensible_measurements (44239)");
    attex_cca_verifier_free(v);

    /* instance_id and config policy fields, via policies that differ from the token. */
    static const struct {
        const char *policy, *what;
    } pol[] = {
        {"{\"platform\": {\"instance_id\": \"01\"}}", "platform instance_id (256) is 0122"},
        {"{\"platform\": {\"config\": [\"ce\", \"cd\"]}}",
         "platform config (2401) is cf, expected one of ce, cd"},
        {"{\"platform\": {\"sw_components\": [{\"signer_id\": \"56\"}]}}",
         "signer_id 56) matches none of the token's 2"},
        {"{\"platform\": {\"sw_components\": [{\"version\": \"2.0\"}]}}", "version 2.0"},
        {"{\"platform\": {\"sw_components\": [{\"type\": \"TFA\"}]}}", "type TFA"},
    };
    BUILD((void)0);
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(pol); i++) {
        v = make_verifier(plat_key, pol[i].policy, 0);
        CHECK(v != NULL);
        if (v != NULL)
            EXPECT_VERDICT(v, t.data, t.len, rd_ab, ATTEX_VERDICT_CONTRAINDICATED, pol[i].what);
        attex_cca_verifier_free(v);
    }
    /* The sample's own platform key does not trust the built token. */
    v = make_verifier(NULL, NULL, 0);
    if (v != NULL)
        EXPECT_FAIL(v, t.data, t.len, rd_ab, "platform token signature");
    attex_cca_verifier_free(v);
    attex_buf_free(&t);
#undef BUILD
}

/* ---- COSE_Sign1 and collection shapes ----------------------------------- */

/* cose_with writes a COSE_Sign1 from raw parts: protected header map bytes, unprotected. */
static void cose_with(attex_buf *out, int tagged, const uint8_t *ph, size_t ph_len,
                      const uint8_t *uh, size_t uh_len, size_t sig_len)
{
    attex_writer w;
    uint8_t sig[200];
    memset(sig, 0x11, sizeof(sig));
    wr_init(&w, 4096);
    if (tagged)
        wr_u8(&w, 0xD2);
    cbor_put_head(&w, CBOR_MAJOR_ARRAY, 4);
    cbor_put_bytes(&w, ph, ph_len);
    wr_bytes(&w, uh, uh_len);
    cbor_put_bytes(&w, (const uint8_t *)"\xa0", 1);
    cbor_put_bytes(&w, sig, sig_len);
    CHECK(wr_finish(&w, out) == 1);
}

static void expect_cose(int tagged, const char *ph, size_t ph_len, const char *uh, size_t uh_len,
                        size_t sig_len, const char *want, int line)
{
    attex_buf b = ATTEX_BUF_INIT;
    cose_with(&b, tagged, (const uint8_t *)ph, ph_len, (const uint8_t *)uh, uh_len, sig_len);
    cose_sign1 c;
    char why[300] = "";
    int ok = cose_sign1_decode(b.data, b.len, &c, why, sizeof(why));
    cose_sign1_free(&c);
    attex_buf_free(&b);
    if (want == NULL ? ok == 1 : (ok == 0 && strstr(why, want) != NULL)) {
        tu_passed++;
    } else {
        tu_failed++;
        fprintf(stderr, "line %d: cose decode: want %s, got %d: %s\n", line,
                want ? want : "success", ok, why);
    }
}
#define EXPECT_COSE(tg, ph, uh, sl, want) \
    expect_cose(tg, ph, sizeof(ph) - 1, uh, sizeof(uh) - 1, sl, want, __LINE__)

static void test_cose_shapes(void)
{
    EXPECT_COSE(1, "\xa1\x01\x38\x22", "\xa0", 96, NULL);  /* ES384, tagged */
    EXPECT_COSE(0, "\xa1\x01\x26", "\xa0", 64, NULL);      /* ES256, untagged */
    EXPECT_COSE(1, "\xa2\x01\x38\x22\x04\x41\x01", "\xa1\x04\x41\x02", 96, NULL); /* kid */
    EXPECT_COSE(1, "\xa1\x01\x38\x23", "\xa0", 132, "algorithm is -36");
    EXPECT_COSE(1, "\xa1\x01\x38\x22", "\xa0", 64, "signature is 64 bytes; ES384");
    EXPECT_COSE(1, "\xa1\x01\x26", "\xa0", 96, "signature is 96 bytes; ES256");
    EXPECT_COSE(1, "\xa2\x01\x38\x22\x02\x81\x04", "\xa0", 96, "has crit (2)");
    EXPECT_COSE(1, "\xa1\x01\x38\x22", "\xa1\x01\x26", 96, "unprotected header carries alg");
    EXPECT_COSE(1, "\xa1\x01\x38\x22", "\xa1\x02\x80", 96, "unprotected header carries crit");
    EXPECT_COSE(1, "\xa1\x01\x65" "ES384", "\xa0", 96, "one integer alg");
    EXPECT_COSE(1, "\xa2\x01\x38\x22\x01\x38\x22", "\xa0", 96, "one integer alg");
    EXPECT_COSE(1, "\xa1\x04\x41\x01", "\xa0", 96, "one integer alg");
    EXPECT_COSE(1, "\x80", "\xa0", 96, "one integer alg");
    EXPECT_COSE(1, "\xa1\x01\x38\x22", "\x80", 96, "unprotected header is not a map");
    EXPECT_COSE(1, "\xa1\x01\x38\x22\x00", "\xa0", 96, "protected header is not well-formed");
    cose_sign1 c;
    char why[300];
    /* Another tag (COSE_Mac0, 0xD1) and a nil payload. */
    static const uint8_t mac0[] = {0xD1, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x40};
    CHECK(cose_sign1_decode(mac0, sizeof(mac0), &c, why, sizeof(why)) == 0 &&
          strstr(why, "a CBOR tag where none is expected") != NULL);
    cose_sign1_free(&c);
    static const uint8_t nil[] = {0xD2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xF6, 0x40};
    CHECK(cose_sign1_decode(nil, sizeof(nil), &c, why, sizeof(why)) == 0 &&
          strstr(why, "payload is not a byte string") != NULL);
    cose_sign1_free(&c);
    /* A P-256 key cannot verify ES384: refused before any arithmetic. */
    cca_token t;
    CHECK(cca_token_decode(sample, sample_len, &t, why, sizeof(why)) == 1);
    EVP_PKEY *p256 = tu_key("p256");
    CHECK(cose_sign1_verify(&t.realm, t.rak) == 1);
    CHECK(cose_sign1_verify(&t.realm, p256) == 0);
    CHECK(cose_sign1_verify(&t.realm, NULL) == 0);
    EVP_PKEY_free(p256);

    /* Collection shapes, from the sample's two tokens. */
    attex_verifier *v = make_verifier(NULL, NULL, 0);
    attex_writer w;
    attex_buf b = ATTEX_BUF_INIT;
    uint8_t *pc = malloc(65536), *rc = malloc(65536);
    size_t pn = 0, rn = 0;
    /* The views point into libcbor's copies; re-encode them as bstrs below. */
    CHECK(pc != NULL && rc != NULL);
    if (v != NULL && pc != NULL && rc != NULL) {
        const cbor_item_t *coll = t.collection;
        for (size_t i = 0; i < cbor_map_size(coll); i++) {
            const cbor_item_t *val = cbor_map_handle(coll)[i].value;
            uint64_t key = cbor_get_int(cbor_map_handle(coll)[i].key);
            memcpy(key == 44234 ? pc : rc, cbor_bytestring_handle(val),
                   cbor_bytestring_length(val));
            *(key == 44234 ? &pn : &rn) = cbor_bytestring_length(val);
        }
        static const struct {
            int shape;
            const char *want;
        } cases[] = {
            {0, "exactly two entries"},          /* realm only */
            {1, "has the platform token (44234) twice"},
            {2, "lacks the realm token (key 44241)"}, /* platform + other key */
            {3, "platform token (key 44234) is not a byte string"},
            {4, "not a CMW record [263, bstr]"}, /* tag 907 with plain bstrs */
            {5, "must start with CBOR tag 399"},  /* tag 400 */
            {6, "exactly two entries"},           /* three entries */
        };
        for (size_t k = 0; k < ATTEX_ARRAY_LEN(cases); k++) {
            int sh = cases[k].shape;
            wr_init(&w, 65536);
            wr_u8(&w, 0xD9);
            wr_u16(&w, sh == 4 ? 907 : sh == 5 ? 400 : 399);
            cbor_put_head(&w, CBOR_MAJOR_MAP, sh == 0 ? 1 : sh == 6 ? 3 : 2);
            if (sh != 0) {
                cbor_put_int(&w, 44234);
                if (sh == 3)
                    cbor_put_text(&w, "x", 1);
                else
                    cbor_put_bytes(&w, pc, pn);
            }
            cbor_put_int(&w, sh == 1 ? 44234 : sh == 2 ? 44242 : 44241);
            cbor_put_bytes(&w, rc, rn);
            if (sh == 6) {
                cbor_put_int(&w, 1);
                cbor_put_int(&w, 1);
            }
            CHECK(wr_finish(&w, &b) == 1);
            EXPECT_FAIL(v, b.data, b.len, rd_ab, cases[k].want);
            attex_buf_free(&b);
        }
        /* Platform and realm swapped: the platform claims fail as realm claims. */
        wr_init(&w, 65536);
        wr_u8(&w, 0xD9);
        wr_u16(&w, 399);
        cbor_put_head(&w, CBOR_MAJOR_MAP, 2);
        cbor_put_int(&w, 44234);
        cbor_put_bytes(&w, rc, rn);
        cbor_put_int(&w, 44241);
        cbor_put_bytes(&w, pc, pn);
        CHECK(wr_finish(&w, &b) == 1);
        EXPECT_FAIL(v, b.data, b.len, rd_ab, "realm claim challenge (10) is not a byte string of 64..64");
        attex_buf_free(&b);
    }
    free(pc);
    free(rc);
    cca_token_free(&t);
    attex_cca_verifier_free(v);
}

/* ---- plug-in and configuration --------------------------------------- */

static void test_plugin(void)
{
    attex_error err;
    attex_verifier *v = make_verifier(NULL, NULL, 0);
    if (v == NULL)
        return;
    attex_binding b;
    memset(&b, 0, sizeof(b));
    b.hash = ATTEX_HASH_SHA256;
    b.hash_len = 32;
    memcpy(b.report_data, rd_ab, 64);
    attex_cmw *rec = attex_cmw_record_new(ATTEX_CCA_MEDIA_TYPE, sample, sample_len,
                                          ATTEX_CMW_IND_EVIDENCE, &err);
    CHECK(rec != NULL);
    attex_appraisal a;
    CHECK_RC(v->appraise(v->ctx, rec, &b, &a, &err), ATTEX_OK, &err);
    CHECK(a.verdict == ATTEX_VERDICT_WARNING);
    attex_appraisal_clear(&a);
    b.report_data[0] ^= 1;
    CHECK_RC(v->appraise(v->ctx, rec, &b, &a, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(a.reason, "binding: realm challenge") != NULL);
    attex_appraisal_clear(&a);
    attex_cmw_free(rec);
    rec = attex_cmw_record_new(ATTEX_CCA_MEDIA_TYPE, sample, sample_len, 8, &err);
    CHECK_RC(v->appraise(v->ctx, rec, &b, &a, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(a.reason, "not 4 (evidence)") != NULL);
    attex_appraisal_clear(&a);
    attex_cmw_free(rec);
    attex_cca_verifier_free(v);
}

static void test_config(void)
{
    attex_error err;
    attex_cca_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    CHECK(attex_cca_verifier_new(&cfg, &err) == NULL);
    CHECK(strstr(err.message, "trusted platform attestation keys") != NULL);
    CHECK(attex_cca_verifier_new(NULL, &err) == NULL);
    const char *missing[1] = {"/nonexistent/cca.pub"};
    cfg.platform_key_paths = missing;
    cfg.num_platform_key_paths = 1;
    CHECK(attex_cca_verifier_new(&cfg, &err) == NULL);
    CHECK(strstr(err.message, "cannot open platform key file") != NULL);
    EVP_PKEY *ed = tu_key("ed25519");
    EVP_PKEY *keys[1] = {ed};
    memset(&cfg, 0, sizeof(cfg));
    cfg.platform_keys = keys;
    cfg.num_platform_keys = 1;
    CHECK(attex_cca_verifier_new(&cfg, &err) == NULL);
    CHECK(strstr(err.message, "not an EC P-256 or P-384") != NULL);
    EVP_PKEY_free(ed);
    static const char *const bad_policies[] = {
        "{", "[]", "{\"platform\": {}}", "{\"platfrom\": {\"config\": \"00\"}}",
        "{\"platform\": {\"config\": \"0\"}}", "{\"platform\": {\"config\": []}}",
        "{\"realm\": {\"extensible_measurements\": [[\"00\"]]}}",
        "{\"platform\": {\"sw_components\": [{\"colour\": \"red\"}]}}",
        "{\"platform\": {\"sw_components\": [{}]}}",
        "{\"realm\": {\"initial_measurement\": \"zz\"}}",
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(bad_policies); i++) {
        attex_verifier *v = make_verifier(plat_key, bad_policies[i], 0);
        CHECK(v == NULL);
        attex_cca_verifier_free(v);
    }
    attex_cca_verifier_free(NULL);
    /* Wrong arguments to the appraisal. */
    attex_appraisal a;
    CHECK(attex_cca_appraise(NULL, sample, sample_len, NULL, 0, NULL, &a, &err) ==
          ATTEX_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    sample = read_vector("cca_token.cbor", &sample_len);
    const char *dir = getenv("ATTEX_SOURCE_DIR");
    snprintf(sample_key_path, sizeof(sample_key_path), "%s/tests/vectors/cca/cca_platform.pub",
             dir ? dir : ".");
    CHECK(sample != NULL && sample_len == 1222);
    memset(rd_ab, 0xAB, sizeof(rd_ab));
    plat_key = tu_key("p384");
    rak_key = tu_key("p384");
    other_key = tu_key("p384");
    if (sample != NULL) {
        test_sample();
        test_sample_tamper();
        test_sample_truncated();
        test_describe();
        test_plugin();
        test_cose_shapes();
    }
    test_built();
    test_config();
    free(sample);
    EVP_PKEY_free(plat_key);
    EVP_PKEY_free(rak_key);
    EVP_PKEY_free(other_key);
    return tu_finish("test_cca");
}
