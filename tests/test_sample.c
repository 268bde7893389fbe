/*
 * Tests for the sample attester and verifier (docs/sample.md).
 *
 * The evidence is made and appraised through the internal functions of
 * src/sample_internal.h, so that each rule can be hit on its own: forged
 * evidence is re-signed with the trusted key wherever the rule under test is
 * not the signature, so only that rule can reject it. The CMW path
 * (attest() / appraise()) is tested at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bytes.h"
#include "crypto.h"
#include "sample_internal.h"
#include "testutil.h"

static char tmpdir[64];
static EVP_PKEY *key;       /* the attestation key */
static EVP_PKEY *other_key; /* a P-256 key nobody trusts */

/* ---- helpers ---------------------------------------------------------- */

static const char *tmp_path(const char *name)
{
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
    return p;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    int ok = fwrite(text, 1, strlen(text), f) == strlen(text);
    return fclose(f) == 0 && ok;
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void sha256_hex(const char *text, char out[65])
{
    uint8_t d[32];
    CHECK(crypto_digest(ATTEX_HASH_SHA256, (const uint8_t *)text, strlen(text), d, NULL) ==
          ATTEX_OK);
    hex_of(d, 32, out);
}

static void file_hex(const char *path, char out[65])
{
    uint8_t d[32];
    attex_error err;
    CHECK_RC(sample_measure_file(path, d, &err), ATTEX_OK, &err);
    hex_of(d, 32, out);
}

/* A binding filled by hand: fixed, distinct patterns (PROTOCOL.md s3 shapes). */
static attex_binding make_binding(attex_hash hash, uint8_t seed)
{
    attex_binding b;
    memset(&b, 0, sizeof(b));
    b.hash = hash;
    b.hash_len = attex_hash_len(hash);
    for (size_t i = 0; i < sizeof(b.exported); i++)
        b.exported[i] = (uint8_t)(seed + i);
    for (size_t i = 0; i < b.hash_len; i++) {
        b.aik_pub_hash[i] = (uint8_t)(0xA0 ^ (seed + 3 * i));
        b.binder[i] = (uint8_t)(0x50 ^ (seed + 5 * i));
    }
    return b;
}

/* A tiny CBOR writer for hand-made (mostly malformed) evidence. */
static void t_head(attex_writer *w, unsigned major, uint64_t v)
{
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        wr_u8(w, (uint8_t)(mt | v));
    } else if (v <= 0xff) {
        wr_u8(w, mt | 24);
        wr_u8(w, (uint8_t)v);
    } else if (v <= 0xffff) {
        wr_u8(w, mt | 25);
        wr_u16(w, (uint16_t)v);
    } else {
        wr_u8(w, mt | 26);
        wr_u32(w, (uint32_t)v);
    }
}

static void t_int(attex_writer *w, int64_t v)
{
    if (v >= 0)
        t_head(w, 0, (uint64_t)v);
    else
        t_head(w, 1, (uint64_t)(-1 - v));
}

static void t_bstr(attex_writer *w, const uint8_t *p, size_t n)
{
    t_head(w, 2, n);
    if (n)
        wr_bytes(w, p, n);
}

static void t_tstr(attex_writer *w, const char *s)
{
    t_head(w, 3, strlen(s));
    wr_bytes(w, (const uint8_t *)s, strlen(s));
}

static attex_buf t_finish(attex_writer *w)
{
    attex_buf b = ATTEX_BUF_INIT;
    CHECK(wr_finish(w, &b));
    return b;
}

/* ---- the fixture: two measured files, an attester, a verifier ---------- */

typedef struct fixture {
    const char *f1, *f2;
    attex_attester *att;
    attex_verifier *ver;
    attex_buf refs;
    attex_binding b;
} fixture;

static void fixture_open(fixture *fx)
{
    attex_error err;
    memset(fx, 0, sizeof(*fx));
    fx->f1 = strdup(tmp_path("app.conf"));
    fx->f2 = strdup(tmp_path("policy.json"));
    CHECK(write_file(fx->f1, "listen = 443\n"));
    CHECK(write_file(fx->f2, "{\"debug\": false}\n"));
    const char *files[] = {fx->f1, fx->f2};
    attex_sample_attester_config ac = {0};
    ac.key = key;
    ac.files = files;
    ac.num_files = 2;
    fx->att = attex_sample_attester_new(&ac, &err);
    CHECK(fx->att != NULL);
    if (fx->att == NULL)
        fprintf(stderr, "attester: %s\n", err.message);
    CHECK_RC(attex_sample_reference_values(&ac, &fx->refs, &err), ATTEX_OK, &err);
    attex_sample_verifier_config vc = {0};
    vc.trusted_keys = &key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = (const char *)fx->refs.data;
    fx->ver = attex_sample_verifier_new(&vc, &err);
    CHECK(fx->ver != NULL);
    if (fx->ver == NULL)
        fprintf(stderr, "verifier: %s\n", err.message);
    fx->b = make_binding(ATTEX_HASH_SHA256, 1);
}

static void fixture_close(fixture *fx)
{
    attex_sample_attester_free(fx->att);
    attex_sample_verifier_free(fx->ver);
    attex_buf_free(&fx->refs);
    unlink(fx->f1);
    unlink(fx->f2);
    free((void *)(uintptr_t)fx->f1);
    free((void *)(uintptr_t)fx->f2);
}

static attex_buf evidence(fixture *fx, const attex_binding *b)
{
    attex_buf ev = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(sample_attester_evidence(fx->att->ctx, b, &ev, &err), ATTEX_OK, &err);
    return ev;
}

/*
 * expect_reject appraises `ev` and checks it is refused as unusable with a
 * reason containing `want` and the same sentence in the error. Returns 1 if
 * the appraisal still reported claims (only authentic, decodable evidence has them).
 */
static int expect_reject_with(attex_verifier *ver, const uint8_t *ev, size_t len,
                              const attex_binding *b, const char *want, int line)
{
    attex_appraisal ap;
    attex_error err;
    memset(&ap, 0x5A, sizeof(ap)); /* appraise must initialise every field it reports */
    attex_error_clear(&err);
    int rc = sample_evidence_appraise(ver->ctx, ev, len, b, &ap, &err);
    int ok = rc == ATTEX_ERR_ATTESTATION && err.code == rc &&
             ap.verdict == ATTEX_VERDICT_CONTRAINDICATED && strstr(ap.reason, want) != NULL &&
             strncmp(ap.reason, "sample evidence: ", 17) == 0 &&
             strncmp(err.message, ap.reason, sizeof(err.message) - 1) == 0;
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  line %d: rc %s, verdict %d, reason \"%s\", error \"%s\"; wanted \"%s\"\n",
                line, attex_status_name(rc), (int)ap.verdict, ap.reason, err.message, want);
    int had_claims = ap.claims_json != NULL;
    free(ap.claims_json);
    return had_claims;
}
#define expect_reject(ver, ev, len, b, want) expect_reject_with(ver, ev, len, b, want, __LINE__)

/* appraise_ok appraises `ev`, expects ATTEX_OK and the verdict; returns the appraisal. */
static attex_appraisal appraise_ok(attex_verifier *ver, const uint8_t *ev, size_t len,
                                   const attex_binding *b, attex_verdict want)
{
    attex_appraisal ap;
    attex_error err;
    memset(&ap, 0x5A, sizeof(ap));
    attex_error_clear(&err);
    CHECK_RC(sample_evidence_appraise(ver->ctx, ev, len, b, &ap, &err), ATTEX_OK, &err);
    CHECK(ap.verdict == want);
    if (ap.verdict != want)
        fprintf(stderr, "  verdict %d, reason \"%s\"\n", (int)ap.verdict, ap.reason);
    return ap;
}

/* Signs a hand-made claims payload with the trusted key under {1: -7}. */
static attex_buf sign_claims(const attex_buf *payload)
{
    static const uint8_t prot[] = {0xA1, 0x01, 0x26};
    attex_buf ev = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(sample_cose_sign1(key, prot, sizeof(prot), payload->data, payload->len, &ev, &err),
             ATTEX_OK, &err);
    return ev;
}

/* ---- tests ------------------------------------------------------------ */

/* The claims encoding, byte for byte, against a hand-derived RFC 8949 encoding. */
static void test_claims_known_answer(void)
{
    uint8_t nonce[8], aik[8];
    memset(nonce, 0x01, sizeof(nonce));
    memset(aik, 0x02, sizeof(aik));
    sample_measurement m[2] = {{"zz", {0}}, {"exe", {0}}};
    memset(m[1].digest, 0xEE, 32);
    sample_claims c = {"p", 1, nonce, sizeof(nonce), aik, sizeof(aik), m, 2};
    attex_buf out = ATTEX_BUF_INIT, want = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(sample_claims_encode(&c, &out, &err), ATTEX_OK, &err);
    /*
     * A5                       map(5), keys in RFC 8949 s4.2.1 order
     * 06 01                    iat: 1
     * 0A 48 01*8               eat_nonce: h'0101..'
     * 19 0109 61 70            eat_profile (265): "p"
     * 3A 00011170 48 02*8      -70001: h'0202..'
     * 3A 00011171 A2           -70002: map(2), shorter name first
     *   62 7A7A 58 20 00*32    "zz": h'00..'
     *   63 657865 58 20 EE*32  "exe": h'EE..'
     */
    CHECK(tu_hex("a50601"
                 "0a480101010101010101"
                 "1901096170"
                 "3a00011170480202020202020202"
                 "3a00011171a2"
                 "627a7a5820"
                 "0000000000000000000000000000000000000000000000000000000000000000"
                 "636578655820"
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                 &want));
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    attex_buf_free(&out);
    attex_buf_free(&want);

    /* RFC 9052 s4.4: the Sig_structure of protected {1:-7} and payload h'AB'. */
    static const uint8_t prot[] = {0xA1, 0x01, 0x26}, payload[] = {0xAB};
    CHECK_RC(sample_sig_structure(prot, 3, payload, 1, &out, &err), ATTEX_OK, &err);
    CHECK(tu_hex("846a5369676e617475726531" "43a10126" "40" "41ab", &want));
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    attex_buf_free(&out);
    attex_buf_free(&want);
}

/*
 * The evidence verified independently of sample.c's decoder: the layout is
 * located by hand, the Sig_structure rebuilt by hand and r || s turned into
 * DER here, so a format error shared by signer and verifier would show.
 */
static void test_independent_verification(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_buf ev = evidence(&fx, &fx.b);
    static const uint8_t head[] = {0xD2, 0x84, 0x43, 0xA1, 0x01, 0x26, 0xA0};
    CHECK(ev.len > 80 && memcmp(ev.data, head, sizeof(head)) == 0);
    size_t pos = sizeof(head), plen = 0;
    if (ev.data[pos] == 0x59) {
        plen = (size_t)ev.data[pos + 1] << 8 | ev.data[pos + 2];
        pos += 3;
    } else if (ev.data[pos] == 0x58) {
        plen = ev.data[pos + 1];
        pos += 2;
    }
    CHECK(plen > 0 && pos + plen + 2 + 64 == ev.len);
    CHECK(ev.data[pos + plen] == 0x58 && ev.data[pos + plen + 1] == 0x40);
    if (plen > 0 && pos + plen + 2 + 64 == ev.len) {
        const uint8_t *payload = ev.data + pos, *sig = ev.data + pos + plen + 2;
        attex_writer w;
        wr_init(&w, 1 << 20);
        wr_bytes(&w, (const uint8_t *)"\x84\x6aSignature1\x43\xa1\x01\x26\x40", 17);
        t_bstr(&w, payload, plen);
        attex_buf tbs = t_finish(&w);
        ECDSA_SIG *es = ECDSA_SIG_new();
        CHECK(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)) == 1);
        uint8_t *der = NULL;
        int der_len = i2d_ECDSA_SIG(es, &der);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        CHECK(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
        CHECK(EVP_DigestVerify(ctx, der, (size_t)der_len, tbs.data, tbs.len) == 1);
        /* And the hand-rebuilt Sig_structure is exactly what sample.c signs. */
        attex_buf mine = ATTEX_BUF_INIT;
        CHECK(sample_sig_structure((const uint8_t *)"\xa1\x01\x26", 3, payload, plen, &mine,
                                   NULL) == ATTEX_OK);
        CHECK(mine.len == tbs.len && memcmp(mine.data, tbs.data, tbs.len) == 0);
        attex_buf_free(&mine);
        EVP_MD_CTX_free(ctx);
        OPENSSL_free(der);
        ECDSA_SIG_free(es);
        attex_buf_free(&tbs);
    }
    attex_buf_free(&ev);
    fixture_close(&fx);
}

static void test_affirming(void)
{
    fixture fx;
    fixture_open(&fx);

    /* The reference values name the executable and both files, with their SHA-256. */
    json_error_t jerr;
    json_t *refs = json_loads((const char *)fx.refs.data, 0, &jerr);
    CHECK(refs != NULL && fx.refs.data[fx.refs.len - 1] == '\n');
    json_t *rm = json_object_get(refs, "measurements");
    char h1[65], h2[65], hexe[65];
    sha256_hex("listen = 443\n", h1);
    sha256_hex("{\"debug\": false}\n", h2);
    file_hex("/proc/self/exe", hexe);
    CHECK(json_object_size(rm) == 3);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(rm, fx.f1), 0)), h1) == 0);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(rm, fx.f2), 0)), h2) == 0);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(rm, "exe"), 0)), hexe) == 0);
    json_decref(refs);

    attex_buf ev = evidence(&fx, &fx.b);
    time_t now = time(NULL);
    attex_appraisal ap = appraise_ok(fx.ver, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    CHECK(strcmp(ap.reason, "all 3 measurements match reference values") == 0);

    /* The claims, as the appraisal reports them. */
    json_t *claims = ap.claims_json ? json_loads(ap.claims_json, 0, &jerr) : NULL;
    CHECK(claims != NULL);
    char nonce_hex[97], aik_hex[97];
    hex_of(fx.b.binder, 32, nonce_hex);
    hex_of(fx.b.aik_pub_hash, 32, aik_hex);
    CHECK(strcmp(json_string_value(json_object_get(claims, "eat_profile")),
                 ATTEX_SAMPLE_PROFILE) == 0);
    CHECK(strcmp(json_string_value(json_object_get(claims, "eat_nonce")), nonce_hex) == 0);
    CHECK(strcmp(json_string_value(json_object_get(claims, "aik_pub_hash")), aik_hex) == 0);
    json_int_t iat = json_integer_value(json_object_get(claims, "iat"));
    CHECK(iat > 0 && iat <= (json_int_t)now && iat >= (json_int_t)now - 60);
    json_t *cm = json_object_get(claims, "measurements");
    CHECK(json_object_size(cm) == 3);
    CHECK(strcmp(json_string_value(json_object_get(cm, fx.f1)), h1) == 0);
    CHECK(strcmp(json_string_value(json_object_get(cm, "exe")), hexe) == 0);
    CHECK(json_string_length(json_object_get(claims, "attestation_key_spki_sha256")) == 64);
    json_decref(claims);
    free(ap.claims_json);

    /* SHA-384 bindings: 48-byte nonce and AIK hash. */
    attex_binding b384 = make_binding(ATTEX_HASH_SHA384, 9);
    attex_buf ev384 = evidence(&fx, &b384);
    ap = appraise_ok(fx.ver, ev384.data, ev384.len, &b384, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);
    /* ... which is no good for a SHA-256 binding, and vice versa. */
    expect_reject(fx.ver, ev384.data, ev384.len, &fx.b, "eat_nonce does not match");
    expect_reject(fx.ver, ev.data, ev.len, &b384, "eat_nonce does not match");
    attex_buf_free(&ev384);

    /* Unknown claims are ignored (RFC 8392 s3). */
    attex_writer w;
    wr_init(&w, 1 << 16);
    uint8_t exe_d[32];
    CHECK(sample_measure_file("/proc/self/exe", exe_d, NULL) == ATTEX_OK);
    uint8_t d1[32], d2[32];
    CHECK(sample_measure_file(fx.f1, d1, NULL) == ATTEX_OK);
    CHECK(sample_measure_file(fx.f2, d2, NULL) == ATTEX_OK);
    t_head(&w, 5, 7);
    t_int(&w, 1); /* iss */
    t_tstr(&w, "someone");
    t_int(&w, SAMPLE_CLAIM_PROFILE);
    t_tstr(&w, ATTEX_SAMPLE_PROFILE);
    t_int(&w, SAMPLE_CLAIM_IAT);
    t_int(&w, 1700000000);
    t_int(&w, SAMPLE_CLAIM_NONCE);
    t_bstr(&w, fx.b.binder, 32);
    t_int(&w, SAMPLE_CLAIM_AIK_PUB_HASH);
    t_bstr(&w, fx.b.aik_pub_hash, 32);
    t_int(&w, SAMPLE_CLAIM_MEASUREMENTS);
    t_head(&w, 5, 3);
    t_tstr(&w, "exe");
    t_bstr(&w, exe_d, 32);
    t_tstr(&w, fx.f1);
    t_bstr(&w, d1, 32);
    t_tstr(&w, fx.f2);
    t_bstr(&w, d2, 32);
    t_tstr(&w, "note"); /* a text-keyed claim, also unknown */
    wr_u8(&w, 0xF5);    /* true */
    attex_buf payload = t_finish(&w);
    attex_buf ev2 = sign_claims(&payload);
    ap = appraise_ok(fx.ver, ev2.data, ev2.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    CHECK(ap.claims_json != NULL && strstr(ap.claims_json, "1700000000") != NULL);
    free(ap.claims_json);
    attex_buf_free(&ev2);
    attex_buf_free(&payload);

    attex_buf_free(&ev);
    fixture_close(&fx);
}

static void test_signature_and_keys(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_buf ev = evidence(&fx, &fx.b);
    const char *bad_sig = "signature does not verify with any of the 1 trusted";

    /* A tampered claims byte: the last byte of the payload (inside the last digest). */
    size_t claims_end = ev.len - 66;
    ev.data[claims_end - 1] ^= 0x01;
    expect_reject(fx.ver, ev.data, ev.len, &fx.b, bad_sig);
    ev.data[claims_end - 1] ^= 0x01;
    /* ... a tampered signature byte, and a tampered protected-header-free byte of r. */
    ev.data[ev.len - 1] ^= 0x80;
    expect_reject(fx.ver, ev.data, ev.len, &fx.b, bad_sig);
    ev.data[ev.len - 1] ^= 0x80;
    ev.data[ev.len - 64] ^= 0x01;
    expect_reject(fx.ver, ev.data, ev.len, &fx.b, bad_sig);
    ev.data[ev.len - 64] ^= 0x01;
    /* Restored: accepted again, so it was the signature check that refused. */
    attex_appraisal ap = appraise_ok(fx.ver, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);

    /* An untrusted key: a verifier trusting only another key refuses. */
    attex_error err;
    attex_sample_verifier_config vc = {0};
    vc.trusted_keys = &other_key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = (const char *)fx.refs.data;
    attex_verifier *v_other = attex_sample_verifier_new(&vc, &err);
    CHECK(v_other != NULL);
    expect_reject(v_other, ev.data, ev.len, &fx.b, bad_sig);
    /* Any trusted key may have signed: with both, it passes. */
    EVP_PKEY *both[] = {other_key, key};
    vc.trusted_keys = both;
    vc.num_trusted_keys = 2;
    attex_verifier *v_both = attex_sample_verifier_new(&vc, &err);
    CHECK(v_both != NULL);
    ap = appraise_ok(v_both, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);
    /* Evidence signed by the untrusted key, otherwise perfect, is refused by fx.ver. */
    attex_sample_attester_config ac = {0};
    const char *files[] = {fx.f1, fx.f2};
    ac.key = other_key;
    ac.files = files;
    ac.num_files = 2;
    attex_attester *rogue = attex_sample_attester_new(&ac, &err);
    attex_buf ev_rogue = ATTEX_BUF_INIT;
    CHECK_RC(sample_attester_evidence(rogue->ctx, &fx.b, &ev_rogue, &err), ATTEX_OK, &err);
    expect_reject(fx.ver, ev_rogue.data, ev_rogue.len, &fx.b, bad_sig);
    ap = appraise_ok(v_both, ev_rogue.data, ev_rogue.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);
    attex_buf_free(&ev_rogue);
    attex_sample_attester_free(rogue);
    attex_sample_verifier_free(v_other);
    attex_sample_verifier_free(v_both);

    attex_buf_free(&ev);
    fixture_close(&fx);
}

static void test_binding(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_buf ev = evidence(&fx, &fx.b);

    /* Replay: evidence made for another connection's binder. */
    attex_binding other = make_binding(ATTEX_HASH_SHA256, 2);
    memcpy(other.aik_pub_hash, fx.b.aik_pub_hash, sizeof(other.aik_pub_hash));
    expect_reject(fx.ver, ev.data, ev.len, &other,
                  "eat_nonce does not match this connection's binder: evidence replayed from "
                  "another connection or request");
    /* A single differing byte anywhere in the binder is enough: first and last. */
    attex_binding b1 = fx.b;
    b1.binder[0] ^= 1;
    expect_reject(fx.ver, ev.data, ev.len, &b1, "eat_nonce does not match");
    b1 = fx.b;
    b1.binder[31] ^= 0x80;
    expect_reject(fx.ver, ev.data, ev.len, &b1, "eat_nonce does not match");
    /* Bytes beyond hash_len are not part of the binder. */
    b1 = fx.b;
    b1.binder[40] ^= 0xFF;
    attex_appraisal ap = appraise_ok(fx.ver, ev.data, ev.len, &b1, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);

    /* Another AIK: same binder, other key hash. */
    attex_binding b2 = fx.b;
    b2.aik_pub_hash[7] ^= 0x10;
    expect_reject(fx.ver, ev.data, ev.len, &b2,
                  "aik_pub_hash does not match the certificate's key");
    /* The claims of rejected-but-authentic evidence are still reported, for diagnosis. */
    attex_error err;
    CHECK(sample_evidence_appraise(fx.ver->ctx, ev.data, ev.len, &b2, &ap, &err) ==
          ATTEX_ERR_ATTESTATION);
    CHECK(ap.claims_json != NULL && strstr(ap.claims_json, "aik_pub_hash") != NULL);
    free(ap.claims_json);

    /* A bad binding (not SHA-256/384) is the caller's error, not the evidence's. */
    attex_binding bad = fx.b;
    bad.hash_len = 20;
    CHECK(sample_evidence_appraise(fx.ver->ctx, ev.data, ev.len, &bad, &ap, &err) ==
          ATTEX_ERR_INVALID_ARGUMENT);
    attex_buf ev_bad = ATTEX_BUF_INIT;
    CHECK(sample_attester_evidence(fx.att->ctx, &bad, &ev_bad, &err) ==
          ATTEX_ERR_INVALID_ARGUMENT);

    attex_buf_free(&ev);
    fixture_close(&fx);
}

static void test_measurements(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_error err;
    char hexe[65], h1[65], h1_new[65];
    file_hex("/proc/self/exe", hexe);
    file_hex(fx.f1, h1);
    const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
    const char *ones = "1111111111111111111111111111111111111111111111111111111111111111";
    attex_buf ev = evidence(&fx, &fx.b);

    /* A wrong reference for "exe": appraised (ATTEX_OK), contraindicated, named, got vs expected. */
    char json[1024], want[512];
    snprintf(json, sizeof(json), "{\"measurements\": {\"exe\": [\"%s\"], \"%s\": [\"%s\"]}}",
             zero, fx.f1, h1);
    attex_sample_verifier_config vc = {0};
    vc.trusted_keys = &key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = json;
    attex_verifier *v = attex_sample_verifier_new(&vc, &err);
    CHECK(v != NULL);
    attex_appraisal ap = appraise_ok(v, ev.data, ev.len, &fx.b, ATTEX_VERDICT_CONTRAINDICATED);
    snprintf(want, sizeof(want), "measurement \"exe\": got %s, expected one of %s", hexe, zero);
    CHECK(strcmp(ap.reason, want) == 0);
    if (strcmp(ap.reason, want) != 0)
        fprintf(stderr, "  reason: %s\n  wanted: %s\n", ap.reason, want);
    CHECK(ap.claims_json != NULL);
    free(ap.claims_json);
    attex_sample_verifier_free(v);

    /* Several accepted values: the right one among them passes. */
    snprintf(json, sizeof(json), "{\"measurements\": {\"exe\": [\"%s\", \"%s\"]}}", zero, hexe);
    v = attex_sample_verifier_new(&vc, &err);
    ap = appraise_ok(v, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    CHECK(strcmp(ap.reason, "all 1 measurements match reference values") == 0);
    free(ap.claims_json);
    attex_sample_verifier_free(v);

    /* Uppercase hex is the same value. */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(hexe[i] >= 'a' && hexe[i] <= 'f' ? hexe[i] - 32 : hexe[i]);
    snprintf(json, sizeof(json), "{\"measurements\": {\"exe\": [\"%s\"]}}", upper);
    v = attex_sample_verifier_new(&vc, &err);
    ap = appraise_ok(v, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);
    attex_sample_verifier_free(v);

    /* A reference the evidence lacks; and two mismatches at once. */
    snprintf(json, sizeof(json),
             "{\"measurements\": {\"/etc/absent\": [\"%s\"], \"exe\": [\"%s\", \"%s\"]}}", ones,
             zero, ones);
    v = attex_sample_verifier_new(&vc, &err);
    ap = appraise_ok(v, ev.data, ev.len, &fx.b, ATTEX_VERDICT_CONTRAINDICATED);
    snprintf(want, sizeof(want),
             "measurement \"/etc/absent\": missing from the evidence, expected one of %s (and 1 "
             "more measurements do not match)",
             ones);
    CHECK(strcmp(ap.reason, want) == 0);
    if (strcmp(ap.reason, want) != 0)
        fprintf(stderr, "  reason: %s\n  wanted: %s\n", ap.reason, want);
    free(ap.claims_json);
    attex_sample_verifier_free(v);

    /* A measured file changed after the reference values were taken. */
    CHECK(write_file(fx.f1, "listen = 8443\n"));
    sha256_hex("listen = 8443\n", h1_new);
    attex_buf ev2 = evidence(&fx, &fx.b);
    ap = appraise_ok(fx.ver, ev2.data, ev2.len, &fx.b, ATTEX_VERDICT_CONTRAINDICATED);
    snprintf(want, sizeof(want), "measurement \"%s\": got %s, expected one of %s", fx.f1, h1_new,
             h1);
    CHECK(strcmp(ap.reason, want) == 0);
    if (strcmp(ap.reason, want) != 0)
        fprintf(stderr, "  reason: %s\n  wanted: %s\n", ap.reason, want);
    free(ap.claims_json);
    attex_buf_free(&ev2);
    /* Put back: affirming again. */
    CHECK(write_file(fx.f1, "listen = 443\n"));
    ev2 = evidence(&fx, &fx.b);
    ap = appraise_ok(fx.ver, ev2.data, ev2.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);
    attex_buf_free(&ev2);

    /* A measured file that disappeared: attest fails, naming it. */
    CHECK(unlink(fx.f2) == 0);
    ev2.data = NULL;
    int rc = sample_attester_evidence(fx.att->ctx, &fx.b, &ev2, &err);
    CHECK(rc == ATTEX_ERR_ATTESTATION && strstr(err.message, fx.f2) != NULL &&
          strstr(err.message, "No such file") != NULL);
    CHECK(ev2.data == NULL);
    CHECK(write_file(fx.f2, "{\"debug\": false}\n"));

    attex_buf_free(&ev);
    fixture_close(&fx);
}

/* Builds [prot, unprot, payload, sig] (+ extra items) by hand, tagged or not. */
static attex_buf build_cose(int tagged, size_t n_items, const uint8_t *prot, size_t prot_len,
                            const uint8_t *payload, size_t payload_len, const uint8_t *sig,
                            size_t sig_len)
{
    attex_writer w;
    wr_init(&w, 1 << 20);
    if (tagged)
        wr_u8(&w, 0xD2);
    t_head(&w, 4, n_items);
    const size_t have = 4;
    for (size_t i = 0; i < n_items; i++) {
        switch (i) {
        case 0: t_bstr(&w, prot, prot_len); break;
        case 1: t_head(&w, 5, 0); break;
        case 2: t_bstr(&w, payload, payload_len); break;
        case 3: t_bstr(&w, sig, sig_len); break;
        default: wr_u8(&w, 0xF6); break; /* null */
        }
    }
    (void)have;
    return t_finish(&w);
}

/* Splits real evidence into its payload and signature (deterministic layout). */
static void split(const attex_buf *ev, const uint8_t **payload, size_t *plen, const uint8_t **sig)
{
    size_t pos = 7;
    if (ev->data[pos] == 0x59) {
        *plen = (size_t)ev->data[pos + 1] << 8 | ev->data[pos + 2];
        pos += 3;
    } else {
        *plen = ev->data[pos + 1];
        pos += 2;
    }
    *payload = ev->data + pos;
    *sig = ev->data + ev->len - 64;
}

static void test_malformed_cose(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_buf ev = evidence(&fx, &fx.b);
    const uint8_t *payload, *sig;
    size_t plen;
    split(&ev, &payload, &plen, &sig);
    static const uint8_t prot[] = {0xA1, 0x01, 0x26};
    attex_buf x;

    /* The hand builder reproduces the real evidence exactly (so the cases below differ in one thing). */
    x = build_cose(1, 4, prot, 3, payload, plen, sig, 64);
    CHECK(x.len == ev.len && memcmp(x.data, ev.data, ev.len) == 0);
    attex_buf_free(&x);

    x = build_cose(1, 3, prot, 3, payload, plen, sig, 64);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "must be an array of 4 items");
    attex_buf_free(&x);
    x = build_cose(1, 5, prot, 3, payload, plen, sig, 64);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "got an array of 5");
    attex_buf_free(&x);
    x = build_cose(1, 4, prot, 3, payload, plen, sig, 63);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "signature is 63 bytes");
    attex_buf_free(&x);
    x = build_cose(1, 4, prot, 3, payload, plen, sig, 0);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "signature is 0 bytes");
    attex_buf_free(&x);
    {
        /* The right signature with a byte appended: 65 bytes is not an ES256 signature. */
        uint8_t sig65[65];
        memcpy(sig65, sig, 64);
        sig65[64] = 0x00;
        x = build_cose(1, 4, prot, 3, payload, plen, sig65, 65);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "signature is 65 bytes");
        attex_buf_free(&x);
    }
    /* 0xD2 missing: the untagged COSE_Sign1 is not accepted. */
    expect_reject(fx.ver, ev.data + 1, ev.len - 1, &fx.b, "first byte is 0x84");
    /* Tag 18 in its two-byte form is not the encoding the profile uses. */
    {
        attex_writer w;
        wr_init(&w, 1 << 20);
        wr_u8(&w, 0xD8);
        wr_u8(&w, 0x12);
        wr_bytes(&w, ev.data + 1, ev.len - 1);
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "first byte is 0xd8");
        attex_buf_free(&x);
    }
    /* Another tag (COSE_Mac0 = 17, 0xD1). */
    ev.data[0] = 0xD1;
    expect_reject(fx.ver, ev.data, ev.len, &fx.b, "first byte is 0xd1");
    ev.data[0] = 0xD2;
    /* A trailing byte, and a truncation. */
    {
        attex_writer w;
        wr_init(&w, 1 << 20);
        wr_bytes(&w, ev.data, ev.len);
        wr_u8(&w, 0x00);
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "bytes follow the CBOR item");
        attex_buf_free(&x);
    }
    expect_reject(fx.ver, ev.data, ev.len - 1, &fx.b, "not well-formed CBOR");
    expect_reject(fx.ver, ev.data, 0, &fx.b, "the evidence is empty");
    expect_reject(fx.ver, ev.data, 1, &fx.b, "ends in the middle of an item");

    /* Protected header alg -35 (ES384), properly signed: only the algorithm rule refuses it. */
    static const uint8_t prot_es384[] = {0xA1, 0x01, 0x38, 0x22};
    attex_error err;
    CHECK_RC(sample_cose_sign1(key, prot_es384, sizeof(prot_es384), payload, plen, &x, &err),
             ATTEX_OK, &err);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "algorithm is -35; sample evidence must use ES256");
    attex_buf_free(&x);
    /* {1: -7, 4: h'01'} (a kid), {} and h'' : the header must be exactly {1: -7}. */
    static const uint8_t prot_kid[] = {0xA2, 0x01, 0x26, 0x04, 0x41, 0x01};
    CHECK(sample_cose_sign1(key, prot_kid, sizeof(prot_kid), payload, plen, &x, NULL) == ATTEX_OK);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "must be exactly {1: -7}");
    attex_buf_free(&x);
    static const uint8_t prot_empty_map[] = {0xA0};
    CHECK(sample_cose_sign1(key, prot_empty_map, 1, payload, plen, &x, NULL) == ATTEX_OK);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "must be exactly {1: -7}");
    attex_buf_free(&x);
    static const uint8_t prot_label4[] = {0xA1, 0x04, 0x26};
    CHECK(sample_cose_sign1(key, prot_label4, 3, payload, plen, &x, NULL) == ATTEX_OK);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "must be exactly {1: -7}");
    attex_buf_free(&x);
    x = build_cose(1, 4, prot, 0, payload, plen, sig, 64);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "protected header is empty");
    attex_buf_free(&x);
    /* A protected header with trailing bytes inside its bstr. */
    static const uint8_t prot_trail[] = {0xA1, 0x01, 0x26, 0x00};
    CHECK(sample_cose_sign1(key, prot_trail, 4, payload, plen, &x, NULL) == ATTEX_OK);
    expect_reject(fx.ver, x.data, x.len, &fx.b, "protected header is not well-formed CBOR");
    attex_buf_free(&x);

    /* Structural types: unprotected not a map, alg unprotected, payload nil, sig not bstr. */
    {
        attex_writer w;
        wr_init(&w, 1 << 20);
        wr_u8(&w, 0xD2);
        t_head(&w, 4, 4);
        t_bstr(&w, prot, 3);
        t_head(&w, 4, 0); /* [] */
        t_bstr(&w, payload, plen);
        t_bstr(&w, sig, 64);
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "unprotected header is not a map");
        attex_buf_free(&x);

        wr_init(&w, 1 << 20);
        wr_u8(&w, 0xD2);
        t_head(&w, 4, 4);
        t_bstr(&w, prot, 3);
        wr_bytes(&w, (const uint8_t *)"\xa1\x01\x26", 3); /* {1: -7} unprotected */
        t_bstr(&w, payload, plen);
        t_bstr(&w, sig, 64);
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "unprotected header carries alg");
        attex_buf_free(&x);

        wr_init(&w, 1 << 20);
        wr_u8(&w, 0xD2);
        t_head(&w, 4, 4);
        t_bstr(&w, prot, 3);
        t_head(&w, 5, 0);
        wr_u8(&w, 0xF6); /* nil: detached payload */
        t_bstr(&w, sig, 64);
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "payload is not a byte string");
        attex_buf_free(&x);

        wr_init(&w, 1 << 20);
        wr_u8(&w, 0xD2);
        t_head(&w, 4, 4);
        t_bstr(&w, prot, 3);
        t_head(&w, 5, 0);
        t_bstr(&w, payload, plen);
        t_tstr(&w, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "signature is not a byte string");
        attex_buf_free(&x);

        /* A map instead of the array. */
        wr_init(&w, 1 << 20);
        wr_u8(&w, 0xD2);
        t_head(&w, 5, 0);
        x = t_finish(&w);
        expect_reject(fx.ver, x.data, x.len, &fx.b, "got another CBOR type");
        attex_buf_free(&x);
    }

    /* CBOR the scanner refuses before libcbor sees it. */
    static const struct {
        const char *hex, *why;
    } raw[] = {
        /* indefinite-length array */
        {"d29f43a10126a040584000ff", "indefinite-length"},
        /* an array declaring 2^32 items in 9 bytes: must not allocate 32 GiB */
        {"d29b0000000100000000", "declares more items"},
        {"d29a7fffffff00", "declares more items"},
        {"d2bb000000010000000000", "declares more items"},
        /* a string longer than the input */
        {"d2845affffffff", "longer than the bytes that remain"},
        /* a tag inside */
        {"d284c143a10126a0404100", "CBOR tag inside"},
        /* reserved additional information */
        {"d29c", "reserved value"},
        /* a bare break */
        {"d2ff", "break code"},
        /* simple value 0 (ai 24 form) */
        {"d2f800", "simple value"},
        /* deep nesting */
        {"d2818181818181818181818180", "nests too deeply"},
    };
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        attex_buf b = ATTEX_BUF_INIT;
        CHECK(tu_hex(raw[i].hex, &b));
        expect_reject(fx.ver, b.data, b.len, &fx.b, raw[i].why);
        attex_buf_free(&b);
    }
    /* Larger than the cmw_attestation extension can carry. */
    {
        uint8_t *big = calloc(1, SAMPLE_MAX_EVIDENCE + 1);
        big[0] = 0xD2;
        expect_reject(fx.ver, big, SAMPLE_MAX_EVIDENCE + 1, &fx.b, "more than the 65535");
        free(big);
    }

    attex_buf_free(&ev);
    fixture_close(&fx);
}

/* Claims sets built by hand, each signed with the trusted key: one rule broken per case. */
enum {
    C_OK,
    C_PROFILE,
    C_PROFILE_BYTES,
    C_NO_NONCE,
    C_NO_MEAS,
    C_NONCE_ARRAY,
    C_DUP_NONCE,
    C_DUP_NONCE_LONGFORM,
    C_IAT_NEG,
    C_DIGEST_31,
    C_NAME_UTF8,
    C_NAME_NUL,
    C_NAME_EMPTY,
    C_PROFILE_NUL,
    C_NAME_DUP,
    C_NAME_INT,
    C_MEAS_ARRAY,
    C_AIK_TEXT,
    C_NONCE_SHORT,
    C_NONCE_LONG,
    C_AIK_LONG,
    C_DIGEST_33,
    C_PROFILE_SAME_LEN
};

static attex_buf claims_case(int c, const attex_binding *b, const uint8_t exe_d[32])
{
    attex_writer w;
    wr_init(&w, 1 << 16);
    size_t n = 5 + (c == C_DUP_NONCE || c == C_DUP_NONCE_LONGFORM) -
               (c == C_NO_NONCE || c == C_NO_MEAS);
    t_head(&w, 5, n);
    t_int(&w, SAMPLE_CLAIM_PROFILE);
    if (c == C_PROFILE_BYTES)
        t_bstr(&w, (const uint8_t *)"x", 1);
    else if (c == C_PROFILE_NUL)
        wr_bytes(&w, (const uint8_t *)"\x62p\x00", 3);
    else
        t_tstr(&w, c == C_PROFILE            ? "tag:attex.dev,2026:sample-evidence-v2\n\x1b[1m"
                   : c == C_PROFILE_SAME_LEN ? "tag:attex.dev,2026:sample-evidence-v2"
                                             : ATTEX_SAMPLE_PROFILE);
    t_int(&w, SAMPLE_CLAIM_IAT);
    t_int(&w, c == C_IAT_NEG ? -1 : 1700000000);
    if (c != C_NO_NONCE) {
        t_int(&w, SAMPLE_CLAIM_NONCE);
        if (c == C_NONCE_ARRAY) {
            t_head(&w, 4, 1);
            t_bstr(&w, b->binder, b->hash_len);
        } else if (c == C_NONCE_LONG) {
            /* The right binder followed by one more byte: still not this binder. */
            t_head(&w, 2, b->hash_len + 1);
            wr_bytes(&w, b->binder, b->hash_len);
            wr_u8(&w, 0x00);
        } else {
            t_bstr(&w, b->binder, c == C_NONCE_SHORT ? b->hash_len - 1 : b->hash_len);
        }
    }
    if (c == C_DUP_NONCE) {
        t_int(&w, SAMPLE_CLAIM_NONCE);
        t_bstr(&w, b->binder, b->hash_len);
    }
    if (c == C_DUP_NONCE_LONGFORM) {
        wr_u8(&w, 0x18); /* 10 in a non-shortest head: still key 10 */
        wr_u8(&w, 0x0A);
        t_bstr(&w, b->binder, b->hash_len);
    }
    t_int(&w, SAMPLE_CLAIM_AIK_PUB_HASH);
    if (c == C_AIK_TEXT) {
        t_tstr(&w, "aik");
    } else if (c == C_AIK_LONG) {
        t_head(&w, 2, b->hash_len + 1);
        wr_bytes(&w, b->aik_pub_hash, b->hash_len);
        wr_u8(&w, 0x00);
    }
    else
        t_bstr(&w, b->aik_pub_hash, b->hash_len);
    if (c != C_NO_MEAS) {
        t_int(&w, SAMPLE_CLAIM_MEASUREMENTS);
        if (c == C_MEAS_ARRAY) {
            t_head(&w, 4, 0);
        } else {
            t_head(&w, 5, c == C_NAME_DUP ? 2 : 1);
            if (c == C_NAME_UTF8) {
                t_head(&w, 3, 2);
                wr_u8(&w, 0xC3);
                wr_u8(&w, 0x28);
            } else if (c == C_NAME_NUL) {
                wr_bytes(&w, (const uint8_t *)"\x63" "e\x00e", 4);
            } else if (c == C_NAME_EMPTY) {
                t_tstr(&w, "");
            } else if (c == C_NAME_INT) {
                t_int(&w, 1);
            } else {
                t_tstr(&w, "exe");
            }
            if (c == C_DIGEST_33) {
                t_head(&w, 2, 33); /* the right digest, one byte too long */
                wr_bytes(&w, exe_d, 32);
                wr_u8(&w, 0x00);
            } else {
                t_bstr(&w, exe_d, c == C_DIGEST_31 ? 31 : 32);
            }
            if (c == C_NAME_DUP) {
                t_tstr(&w, "exe");
                t_bstr(&w, exe_d, 32);
            }
        }
    }
    attex_buf payload = t_finish(&w);
    attex_buf ev = sign_claims(&payload);
    attex_buf_free(&payload);
    return ev;
}

static void test_malformed_claims(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_error err;
    uint8_t exe_d[32];
    CHECK(sample_measure_file("/proc/self/exe", exe_d, NULL) == ATTEX_OK);
    char exe_hex[65];
    hex_of(exe_d, 32, exe_hex);
    char json[256];
    snprintf(json, sizeof(json), "{\"measurements\": {\"exe\": [\"%s\"]}}", exe_hex);
    attex_sample_verifier_config vc = {0};
    vc.trusted_keys = &key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = json;
    attex_verifier *v = attex_sample_verifier_new(&vc, &err);
    CHECK(v != NULL);

    /* The baseline hand-made claims pass: each case below differs from it in one rule. */
    attex_buf ev = claims_case(C_OK, &fx.b, exe_d);
    attex_appraisal ap = appraise_ok(v, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
    free(ap.claims_json);
    attex_buf_free(&ev);

    static const struct {
        int c;
        const char *why;
    } cases[] = {
        {C_PROFILE, "eat_profile is \"tag:attex.dev,2026:sample-evidence-v2??[1m\", not"},
        {C_PROFILE_BYTES, "eat_profile (265) is not a text string"},
        {C_NO_NONCE, "the claims lack eat_nonce (10)"},
        {C_NO_MEAS, "the claims lack measurements (-70002)"},
        {C_NONCE_ARRAY, "eat_nonce (10) is not a single byte string"},
        {C_DUP_NONCE, "claim eat_nonce (10) appears twice"},
        {C_DUP_NONCE_LONGFORM, "claim eat_nonce (10) appears twice"},
        {C_IAT_NEG, "claim iat (6) is not a non-negative integer"},
        {C_DIGEST_31, "measurement 0 is not a 32-byte SHA-256"},
        {C_NAME_UTF8, "the claims are not well-formed CBOR: a CBOR text string is not valid UTF-8"},
        {C_NAME_NUL, "measurement 0 has an empty name, a name over 4096 bytes, or one containing NUL"},
        {C_NAME_EMPTY, "measurement 0 has an empty name"},
        {C_PROFILE_NUL, "claim eat_profile (265) contains NUL"},
        {C_NAME_DUP, "measurement 1 repeats an earlier name"},
        {C_NAME_INT, "measurement 0 has a name that is not a text string"},
        {C_MEAS_ARRAY, "claim measurements (-70002) is not a map"},
        {C_AIK_TEXT, "claim aik_pub_hash (-70001) is not a byte string"},
        {C_NONCE_SHORT, "eat_nonce does not match this connection's binder"},
        {C_NONCE_LONG, "eat_nonce does not match this connection's binder"},
        {C_AIK_LONG, "aik_pub_hash does not match the certificate's key"},
        {C_DIGEST_33, "measurement 0 is not a 32-byte SHA-256"},
        {C_PROFILE_SAME_LEN, "eat_profile is \"tag:attex.dev,2026:sample-evidence-v2\", not"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ev = claims_case(cases[i].c, &fx.b, exe_d);
        expect_reject(v, ev.data, ev.len, &fx.b, cases[i].why);
        attex_buf_free(&ev);
    }

    /* Bounds: 256 measurements pass the decoder, 257 do not; names up to 4096 bytes. */
    for (size_t count = 256; count <= 257; count++) {
        for (size_t name_len = 4096; name_len <= 4097; name_len++) {
            if (count == 257 && name_len == 4097)
                continue;
            attex_writer w;
            wr_init(&w, 1 << 20);
            t_head(&w, 5, 5);
            t_int(&w, SAMPLE_CLAIM_PROFILE);
            t_tstr(&w, ATTEX_SAMPLE_PROFILE);
            t_int(&w, SAMPLE_CLAIM_IAT);
            t_int(&w, 1);
            t_int(&w, SAMPLE_CLAIM_NONCE);
            t_bstr(&w, fx.b.binder, 32);
            t_int(&w, SAMPLE_CLAIM_AIK_PUB_HASH);
            t_bstr(&w, fx.b.aik_pub_hash, 32);
            t_int(&w, SAMPLE_CLAIM_MEASUREMENTS);
            t_head(&w, 5, count);
            t_tstr(&w, "exe");
            t_bstr(&w, exe_d, 32);
            char *long_name = malloc(name_len + 1);
            memset(long_name, 'n', name_len);
            long_name[name_len] = '\0';
            t_tstr(&w, long_name);
            t_bstr(&w, exe_d, 32);
            free(long_name);
            for (size_t i = 2; i < count; i++) {
                char name[16];
                snprintf(name, sizeof(name), "m%zu", i);
                t_tstr(&w, name);
                t_bstr(&w, exe_d, 32);
            }
            attex_buf payload = t_finish(&w);
            ev = sign_claims(&payload);
            if (count == 256 && name_len == 4096) {
                ap = appraise_ok(v, ev.data, ev.len, &fx.b, ATTEX_VERDICT_AFFIRMING);
                free(ap.claims_json);
            } else if (count == 257) {
                expect_reject(v, ev.data, ev.len, &fx.b, "the evidence has 257 measurements, "
                                                         "more than 256");
            } else {
                expect_reject(v, ev.data, ev.len, &fx.b,
                              "measurement 1 has an empty name, a name over 4096 bytes");
            }
            attex_buf_free(&ev);
            attex_buf_free(&payload);
        }
    }

    /* Claims that are not a map, or not CBOR at all (signed, so only decoding refuses). */
    static const uint8_t not_map[] = {0x80}, junk[] = {0xFF, 0x00};
    attex_buf p = {(uint8_t *)(uintptr_t)not_map, 1};
    ev = sign_claims(&p);
    expect_reject(v, ev.data, ev.len, &fx.b, "the claims are not a CBOR map");
    attex_buf_free(&ev);
    p.data = (uint8_t *)(uintptr_t)junk;
    p.len = 2;
    ev = sign_claims(&p);
    expect_reject(v, ev.data, ev.len, &fx.b, "the claims are not well-formed CBOR");
    attex_buf_free(&ev);
    p.len = 0;
    ev = sign_claims(&p);
    expect_reject(v, ev.data, ev.len, &fx.b, "the claims are not well-formed CBOR");
    attex_buf_free(&ev);

    attex_sample_verifier_free(v);
    fixture_close(&fx);
}

static void expect_verifier_error(const attex_sample_verifier_config *vc, const char *want,
                                  int line)
{
    attex_error err;
    attex_error_clear(&err);
    attex_verifier *v = attex_sample_verifier_new(vc, &err);
    int ok = v == NULL && err.code != ATTEX_OK && strstr(err.message, want) != NULL;
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  line %d: got \"%s\", wanted \"%s\"\n", line, err.message, want);
    attex_sample_verifier_free(v);
}

static void test_reference_values_errors(void)
{
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"not json", "not valid JSON at line 1"},
        {"{\"measurements\": {\"exe\": [\"00\"]", "not valid JSON"},
        {"[]", "expected exactly {\"measurements\""},
        {"{}", "expected exactly {\"measurements\""},
        {"{\"measurements\": []}", "expected exactly"},
        {"{\"measurements\": {\"exe\": [\"" "0000000000000000000000000000000000000000000000000000000000000000"
         "\"]}, \"extra\": 1}",
         "expected exactly"},
        {"{\"measurements\": {}}", "names 0 measurements"},
        {"{\"measurements\": {\"exe\": \"00\"}}", "must list 1 to 64"},
        {"{\"measurements\": {\"exe\": []}}", "must list 1 to 64"},
        {"{\"measurements\": {\"exe\": [\"00\"]}}", "value 1 is not 64 hex digits"},
        {"{\"measurements\": {\"exe\": [\"" "000000000000000000000000000000000000000000000000000000000000000g"
         "\"]}}",
         "value 1 is not 64 hex digits"},
        {"{\"measurements\": {\"exe\": [\"" "0000000000000000000000000000000000000000000000000000000000000000"
         "\", 7]}}",
         "value 2 is not 64 hex digits"},
        {"{\"measurements\": {\"\": [\"" "0000000000000000000000000000000000000000000000000000000000000000"
         "\"]}}",
         "names must be 1 to"},
        /* RFC 8259 allows duplicate names; the verifier does not. */
        {"{\"measurements\": {\"exe\": [\"" "0000000000000000000000000000000000000000000000000000000000000000"
         "\"], \"exe\": [\"" "1111111111111111111111111111111111111111111111111111111111111111" "\"]}}",
         "duplicate object key"},
    };
    attex_sample_verifier_config vc = {0};
    vc.trusted_keys = &key;
    vc.num_trusted_keys = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vc.reference_values_json = cases[i].json;
        expect_verifier_error(&vc, cases[i].why, __LINE__ * 1000 + (int)i);
    }

    /* From a file: a parse error names the file; a missing file says so. */
    const char *bad = tmp_path("bad-refs.json");
    CHECK(write_file(bad, "{\"measurements\": 3}"));
    vc.reference_values_json = NULL;
    vc.reference_values_path = bad;
    expect_verifier_error(&vc, "bad-refs.json", __LINE__);
    vc.reference_values_path = tmp_path("absent.json");
    expect_verifier_error(&vc, "absent.json\": No such file or directory", __LINE__);
    vc.reference_values_path = tmpdir;
    expect_verifier_error(&vc, "is not a regular file", __LINE__);
    unlink(bad);
    /* A good file loads. */
    const char *good = tmp_path("refs.json");
    CHECK(write_file(good, "{\"measurements\": {\"exe\": [\""
                           "0000000000000000000000000000000000000000000000000000000000000000\"]}}"));
    vc.reference_values_path = good;
    attex_error err;
    attex_verifier *v = attex_sample_verifier_new(&vc, &err);
    CHECK(v != NULL && strcmp(v->media_type, ATTEX_SAMPLE_MEDIA_TYPE) == 0 &&
          v->content_format == 0 && v->appraise != NULL && v->ctx != NULL);
    attex_sample_verifier_free(v);

    /* Both or neither source; no trusted key; an unusable trusted key. */
    vc.reference_values_json = "{}";
    expect_verifier_error(&vc, "exactly one of reference_values_json", __LINE__);
    vc.reference_values_json = NULL;
    vc.reference_values_path = NULL;
    expect_verifier_error(&vc, "exactly one of reference_values_json", __LINE__);
    vc.reference_values_path = good;
    vc.trusted_keys = NULL;
    vc.num_trusted_keys = 0;
    expect_verifier_error(&vc, "at least one trusted attestation public key", __LINE__);
    EVP_PKEY *p384 = tu_key("p384");
    vc.trusted_keys = &p384;
    vc.num_trusted_keys = 1;
    expect_verifier_error(&vc, "not EC P-256", __LINE__);
    EVP_PKEY_free(p384);
    vc.trusted_keys = NULL;
    vc.num_trusted_keys = 0;
    const char *paths[] = {tmp_path("no-such-key.pem")};
    vc.trusted_key_paths = paths;
    vc.num_trusted_key_paths = 1;
    expect_verifier_error(&vc, "no-such-key.pem\": No such file or directory", __LINE__);
    const char *garbage = tmp_path("garbage.pem");
    CHECK(write_file(garbage, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"));
    paths[0] = garbage;
    expect_verifier_error(&vc, "garbage.pem\" holds no PEM public key", __LINE__);
    unlink(garbage);
    unlink(good);
    expect_verifier_error(NULL, "needs a configuration", __LINE__);
}

static void test_keygen_and_files(void)
{
    attex_error err;
    const char *priv = strdup(tmp_path("attest.key"));
    const char *pub = strdup(tmp_path("attest.pub"));
    CHECK_RC(attex_sample_keygen(priv, pub, &err), ATTEX_OK, &err);
    struct stat st;
    CHECK(stat(priv, &st) == 0 && (st.st_mode & 0777) == 0600);
    char head[64] = {0};
    FILE *f = fopen(priv, "r");
    CHECK(f != NULL && fgets(head, sizeof(head), f) != NULL);
    if (f)
        fclose(f);
    CHECK(strcmp(head, "-----BEGIN PRIVATE KEY-----\n") == 0); /* PKCS#8 */
    f = fopen(pub, "r");
    CHECK(f != NULL && fgets(head, sizeof(head), f) != NULL);
    if (f)
        fclose(f);
    CHECK(strcmp(head, "-----BEGIN PUBLIC KEY-----\n") == 0); /* SubjectPublicKeyInfo */

    /* Round trip: an attester from the private file, a verifier trusting the public file. */
    attex_sample_attester_config ac = {0};
    ac.key_path = priv;
    ac.exe_path = "/proc/self/exe";
    attex_attester *att = attex_sample_attester_new(&ac, &err);
    CHECK(att != NULL);
    attex_buf refs = ATTEX_BUF_INIT;
    CHECK_RC(attex_sample_reference_values(&ac, &refs, &err), ATTEX_OK, &err);
    attex_sample_verifier_config vc = {0};
    const char *paths[] = {pub};
    vc.trusted_key_paths = paths;
    vc.num_trusted_key_paths = 1;
    vc.reference_values_json = (const char *)refs.data;
    attex_verifier *ver = attex_sample_verifier_new(&vc, &err);
    CHECK(ver != NULL);
    if (att != NULL && ver != NULL) {
        attex_binding b = make_binding(ATTEX_HASH_SHA256, 7);
        attex_buf ev = ATTEX_BUF_INIT;
        CHECK_RC(sample_attester_evidence(att->ctx, &b, &ev, &err), ATTEX_OK, &err);
        attex_appraisal ap = appraise_ok(ver, ev.data, ev.len, &b, ATTEX_VERDICT_AFFIRMING);
        CHECK(strcmp(ap.reason, "all 1 measurements match reference values") == 0);
        free(ap.claims_json);
        /* A second key pair is a different key: its verifier refuses this evidence. */
        const char *priv2 = tmp_path("k2.key"), *pub2 = tmp_path("k2.pub");
        CHECK_RC(attex_sample_keygen(priv2, pub2, &err), ATTEX_OK, &err);
        paths[0] = pub2;
        attex_verifier *ver2 = attex_sample_verifier_new(&vc, &err);
        CHECK(ver2 != NULL);
        if (ver2)
            expect_reject(ver2, ev.data, ev.len, &b, "does not verify");
        attex_sample_verifier_free(ver2);
        unlink(priv2);
        unlink(pub2);
        attex_buf_free(&ev);
    }
    attex_sample_verifier_free(ver);
    attex_sample_attester_free(att);
    attex_buf_free(&refs);

    /* Keys are never overwritten; the original stays. */
    CHECK(stat(priv, &st) == 0);
    off_t size = st.st_size;
    CHECK(attex_sample_keygen(priv, tmp_path("other.pub"), &err) == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "attest.key\": the file exists") != NULL);
    CHECK(stat(priv, &st) == 0 && st.st_size == size);
    CHECK(access(tmp_path("other.pub"), F_OK) != 0);
    /* When the public file cannot be written, no private file is left behind. */
    const char *lone = tmp_path("lone.key");
    CHECK(attex_sample_keygen(lone, "/nonexistent-dir/x.pub", &err) ==
          ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "/nonexistent-dir/x.pub") != NULL);
    CHECK(access(lone, F_OK) != 0);
    CHECK(attex_sample_keygen(lone, lone, &err) == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "are the same") != NULL);
    CHECK(attex_sample_keygen(NULL, lone, &err) == ATTEX_ERR_INVALID_ARGUMENT);

    /* Attester key loading errors name the file and the reason. */
    ac.key_path = tmp_path("missing.key");
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "missing.key\": No such file or directory") != NULL);
    ac.key_path = pub; /* a public key is not a private key */
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "attest.pub\" holds no unencrypted PEM private key") != NULL);
    const char *p384_path = tmp_path("p384.key");
    EVP_PKEY *p384 = tu_key("p384");
    f = fopen(p384_path, "w");
    CHECK(f != NULL && PEM_write_PrivateKey(f, p384, NULL, NULL, 0, NULL, NULL) == 1);
    if (f)
        fclose(f);
    ac.key_path = p384_path;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "p384.key\" holds a key that is not EC P-256") != NULL);
    /* An encrypted key fails without prompting. */
    const char *enc_path = tmp_path("enc.key");
    f = fopen(enc_path, "w");
    CHECK(f != NULL && PEM_write_PKCS8PrivateKey(f, key, EVP_aes_128_cbc(), NULL, 0, NULL,
                                                 (void *)(uintptr_t)"secret") == 1);
    if (f)
        fclose(f);
    ac.key_path = enc_path;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "no unencrypted PEM private key") != NULL);
    unlink(enc_path);
    unlink(p384_path);

    /* A public-only key object cannot sign. */
    f = fopen(pub, "r");
    EVP_PKEY *pubkey = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    CHECK(pubkey != NULL);
    ac.key_path = NULL;
    ac.key = pubkey;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "cannot sign") != NULL);
    EVP_PKEY_free(pubkey);
    ac.key = p384;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "not EC P-256") != NULL);
    EVP_PKEY_free(p384);
    ac.key = key;
    ac.key_path = priv;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "exactly one of key and key_path") != NULL);
    ac.key_path = NULL;

    /* What is measured: existing regular files, each once, none called "exe". */
    const char *files[2];
    ac.files = files;
    ac.num_files = 1;
    files[0] = tmp_path("nope.conf");
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "nope.conf\": No such file or directory") != NULL);
    files[0] = tmpdir;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "is not a regular file") != NULL);
    attex_buf out = ATTEX_BUF_INIT;
    CHECK(attex_sample_reference_values(&ac, &out, &err) == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "is not a regular file") != NULL && out.data == NULL);
    files[0] = "exe";
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "cannot be named \"exe\"") != NULL);
    files[0] = files[1] = priv;
    ac.num_files = 2;
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "is listed twice") != NULL);
    ac.num_files = 0;
    ac.exe_path = tmp_path("no-exe");
    CHECK(attex_sample_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "no-exe\": No such file or directory") != NULL);
    CHECK(attex_sample_reference_values(&ac, &out, &err) == ATTEX_ERR_IO);
    CHECK(strstr(err.message, "no-exe\"") != NULL);
    CHECK(attex_sample_attester_new(NULL, &err) == NULL);

    unlink(priv);
    unlink(pub);
    free((void *)(uintptr_t)priv);
    free((void *)(uintptr_t)pub);
}

/* The public plug-in path: attest() makes a CMW Record, appraise() reads one. */
static void test_cmw_path(void)
{
    fixture fx;
    fixture_open(&fx);
    attex_error err;
    attex_buf cmw = ATTEX_BUF_INIT;
    CHECK(strcmp(fx.att->name, "sample") == 0 && fx.att->attest != NULL);
    CHECK_RC(fx.att->attest(fx.att->ctx, &fx.b, &cmw, &err), ATTEX_OK, &err);
    attex_cmw *rec = NULL;
    if (cmw.data != NULL)
        CHECK_RC(attex_cmw_decode(cmw.data, cmw.len, NULL, &rec, &err), ATTEX_OK, &err);
    CHECK(rec != NULL);
    if (rec != NULL) {
        /* RFC 9999 s3.1: CBOR Record [type, value, ind] with ind = evidence. */
        CHECK(cmw.data[0] == 0x83);
        CHECK(attex_cmw_kind_of(rec) == ATTEX_CMW_RECORD);
        CHECK(attex_cmw_media_type(rec) != NULL &&
              strcmp(attex_cmw_media_type(rec), ATTEX_SAMPLE_MEDIA_TYPE) == 0);
        CHECK(attex_cmw_ind(rec) == ATTEX_CMW_IND_EVIDENCE);
        size_t vlen = 0;
        const uint8_t *value = attex_cmw_value(rec, &vlen);
        CHECK(value != NULL && vlen > 0 && value[0] == 0xD2);

        attex_appraisal ap;
        memset(&ap, 0x5A, sizeof(ap));
        CHECK_RC(fx.ver->appraise(fx.ver->ctx, rec, &fx.b, &ap, &err), ATTEX_OK, &err);
        CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING && ap.claims_json != NULL);
        free(ap.claims_json);
        /* The replay check holds through the CMW path as well. */
        attex_binding other = make_binding(ATTEX_HASH_SHA256, 3);
        CHECK(fx.ver->appraise(fx.ver->ctx, rec, &other, &ap, &err) == ATTEX_ERR_ATTESTATION);
        CHECK(ap.verdict == ATTEX_VERDICT_CONTRAINDICATED &&
              strstr(ap.reason, "eat_nonce does not match") != NULL);
        free(ap.claims_json);

        /* The same evidence claiming to be an attestation result (ind 8) is refused. */
        attex_cmw *r8 = attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, value, vlen,
                                             ATTEX_CMW_IND_ATTESTATION_RESULTS, &err);
        CHECK(r8 != NULL);
        if (r8 != NULL) {
            CHECK(fx.ver->appraise(fx.ver->ctx, r8, &fx.b, &ap, &err) == ATTEX_ERR_ATTESTATION);
            CHECK(ap.verdict == ATTEX_VERDICT_CONTRAINDICATED &&
                  strstr(ap.reason, "ind is 8, not 4 (evidence)") != NULL &&
                  strstr(err.message, "ind is 8") != NULL);
        }
        attex_cmw_free(r8);
        attex_cmw *r0 =
            attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, value, vlen, 0, &err);
        if (r0 != NULL) {
            CHECK(fx.ver->appraise(fx.ver->ctx, r0, &fx.b, &ap, &err) == ATTEX_ERR_ATTESTATION);
            CHECK(strstr(ap.reason, "ind is 0") != NULL);
        }
        attex_cmw_free(r0);
        /* A Tag CMW carries no ind: it is not the Record sample evidence travels in. */
        attex_cmw *tag = attex_cmw_tag_new(ATTEX_CF_CMW_CBOR, value, vlen, &err);
        CHECK(tag != NULL);
        if (tag != NULL) {
            CHECK(fx.ver->appraise(fx.ver->ctx, tag, &fx.b, &ap, &err) == ATTEX_ERR_ATTESTATION);
            CHECK(strstr(ap.reason, "the CMW is not a Record") != NULL);
        }
        attex_cmw_free(tag);
    }
    attex_cmw_free(rec);
    attex_buf_free(&cmw);
    fixture_close(&fx);
}

/* Appraises fresh evidence from `att` with `ver`; returns the verdict (NONE on error). */
static attex_verdict attest_verdict(attex_attester *att, attex_verifier *ver, char *reason)
{
    attex_error err;
    attex_binding b = make_binding(ATTEX_HASH_SHA256, 9);
    attex_buf cmw = ATTEX_BUF_INIT;
    attex_cmw *rec = NULL;
    attex_appraisal ap;
    memset(&ap, 0, sizeof(ap));
    attex_verdict v = ATTEX_VERDICT_NONE;
    if (att->attest(att->ctx, &b, &cmw, &err) == ATTEX_OK &&
        attex_cmw_decode(cmw.data, cmw.len, NULL, &rec, &err) == ATTEX_OK) {
        ver->appraise(ver->ctx, rec, &b, &ap, &err);
        v = ap.verdict;
        snprintf(reason, 512, "%s", ap.reason);
    }
    free(ap.claims_json);
    attex_cmw_free(rec);
    attex_buf_free(&cmw);
    return v;
}

/*
 * Measurements are cached between attestations once a file is old enough; a
 * file changed afterwards, even to the same size, is measured again.
 */
static void test_measurement_cache(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/cached.txt", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("version one\n", f);
    fclose(f);
    /* Older than the "racy" window, so that its digest may be cached. */
    struct timespec wait = {3, 0};
    nanosleep(&wait, NULL);

    attex_error err;
    const char *files[1] = {path};
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = key;
    ac.files = files;
    ac.num_files = 1;
    attex_attester *att = attex_sample_attester_new(&ac, &err);
    attex_buf refs = ATTEX_BUF_INIT;
    CHECK(att != NULL);
    CHECK_RC(attex_sample_reference_values(&ac, &refs, &err), ATTEX_OK, &err);
    char *text = calloc(1, refs.len + 1);
    if (refs.len)
        memcpy(text, refs.data, refs.len);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = text;
    attex_verifier *ver = attex_sample_verifier_new(&vc, &err);
    CHECK(ver != NULL);
    char reason[512] = "";
    if (att != NULL && ver != NULL) {
        CHECK(attest_verdict(att, ver, reason) == ATTEX_VERDICT_AFFIRMING);
        CHECK(attest_verdict(att, ver, reason) == ATTEX_VERDICT_AFFIRMING); /* from the cache */
        f = fopen(path, "r+");
        if (f != NULL) {
            fputs("version two\n", f); /* same size */
            fclose(f);
        }
        CHECK(attest_verdict(att, ver, reason) == ATTEX_VERDICT_CONTRAINDICATED);
        CHECK(strstr(reason, "cached.txt") != NULL);
    }
    attex_sample_attester_free(att);
    attex_sample_verifier_free(ver);
    free(text);
    attex_buf_free(&refs);
    unlink(path);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/attex-sample-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    key = tu_key("p256");
    other_key = tu_key("p256");

    test_claims_known_answer();
    test_independent_verification();
    test_affirming();
    test_signature_and_keys();
    test_binding();
    test_measurements();
    test_malformed_cose();
    test_malformed_claims();
    test_reference_values_errors();
    test_keygen_and_files();
    test_cmw_path();
    test_measurement_cache();

    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    rmdir(tmpdir);
    return tu_finish("test_sample");
}
