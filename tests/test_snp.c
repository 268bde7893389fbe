/*
 * Tests of the SEV-SNP verifier (src/snp.c, docs/snp.md).
 *
 * Two sources of reports:
 *  - the real AMD-signed Milan report of tests/vectors/snp/ (README there):
 *    known answers, tampering, truncation, wrong roots, policy per field;
 *  - reports made here, signed by a test chain (ARK and ASK RSA-PSS, VCEK
 *    P-384 with the AMD extensions) that the verifier is told to trust: the
 *    rules that come after the signature (TCB and chip of the VCEK, versions,
 *    VLEK, Turin layout, reserved fields...) need reports whose signed fields
 *    can be chosen.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <attex/snp.h>

#include "internal.h"
#include "snp_internal.h"
#include "testutil.h"

/* 2023-11-14T22:13:20Z: inside the validity of every sample certificate. */
#define SAMPLE_TIME 1700000000

static const uint8_t guid_ark[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                     0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};
static const uint8_t guid_ask[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                     0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
static const uint8_t guid_vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                      0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t guid_vlek[16] = {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                                      0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static char *vec_path(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/vectors/snp/%s", name);
    return strdup(tu_source_path(rel));
}

static attex_buf read_vec(const char *name)
{
    attex_buf b = ATTEX_BUF_INIT;
    char *path = vec_path(name);
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (set ATTEX_SOURCE_DIR)\n", path ? path : name);
        free(path);
        return b;
    }
    free(path);
    static uint8_t tmp[65536];
    size_t n = fread(tmp, 1, sizeof(tmp), f);
    fclose(f);
    b.data = malloc(n ? n : 1);
    if (b.data != NULL) {
        memcpy(b.data, tmp, n);
        b.len = n;
    }
    return b;
}

/* pem_ders returns the DER of the PEM certificates of vector `name` (up to 2). */
static size_t pem_ders(const char *name, attex_buf out[2])
{
    attex_buf pem = read_vec(name);
    BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    size_t n = 0;
    X509 *x;
    while (n < 2 && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        unsigned char *d = NULL;
        int len = i2d_X509(x, &d);
        out[n].data = malloc((size_t)len);
        memcpy(out[n].data, d, (size_t)len);
        out[n].len = (size_t)len;
        OPENSSL_free(d);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    attex_buf_free(&pem);
    return n;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct tbl_entry {
    const uint8_t *guid;
    const uint8_t *data;
    size_t len;
} tbl_entry;

/* make_table lays out a certificate table: entries, the zero entry, then the certificates. */
static attex_buf make_table(const tbl_entry *e, size_t n)
{
    size_t head = 24 * (n + 1), total = head;
    for (size_t i = 0; i < n; i++)
        total += e[i].len;
    attex_buf b = {calloc(1, total), total};
    size_t off = head;
    for (size_t i = 0; i < n; i++) {
        memcpy(b.data + 24 * i, e[i].guid, 16);
        put_le32(b.data + 24 * i + 16, (uint32_t)off);
        put_le32(b.data + 24 * i + 20, (uint32_t)e[i].len);
        memcpy(b.data + off, e[i].data, e[i].len);
        off += e[i].len;
    }
    return b;
}

static int has(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL) {
        fprintf(stderr, "  expected \"%s\" in: %s\n", needle, hay ? hay : "(null)");
        return 0;
    }
    return 1;
}

typedef struct outcome {
    int rc;
    attex_appraisal a;
    attex_error err;
} outcome;

static void run(attex_snp_verifier *v, const attex_buf *rep, const attex_buf *aux,
                const uint8_t *rd, outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->rc = attex_snp_appraise(v, rep->data, rep->len, aux ? aux->data : NULL,
                               aux ? aux->len : 0, rd, &o->a, &o->err);
    /* Contract (attest.h): errors are ATTEX_ERR_ATTESTATION with the reason = the message. */
    if (o->rc != ATTEX_OK && o->rc != ATTEX_ERR_ATTESTATION)
        fprintf(stderr, "  unexpected status %s: %s\n", attex_status_name(o->rc),
                o->err.message);
    CHECK(o->rc == ATTEX_OK || o->rc == ATTEX_ERR_ATTESTATION);
    if (o->rc != ATTEX_OK) {
        CHECK(o->a.verdict == ATTEX_VERDICT_CONTRAINDICATED);
        CHECK(strcmp(o->a.reason, o->err.message) == 0);
        CHECK(o->a.claims_json == NULL);
    }
}

static void done(outcome *o)
{
    attex_appraisal_clear(&o->a);
}

/* expect_error: the appraisal fails with a message naming `what`. */
static void expect_error(attex_snp_verifier *v, const attex_buf *rep, const attex_buf *aux,
                         const uint8_t *rd, const char *what)
{
    outcome o;
    run(v, rep, aux, rd, &o);
    CHECK_RC(o.rc, ATTEX_ERR_ATTESTATION, &o.err);
    CHECK(has(o.err.message, what));
    done(&o);
}

/* expect_verdict: the appraisal succeeds with `verdict`, its reason naming `what`. */
static void expect_verdict(attex_snp_verifier *v, const attex_buf *rep, const attex_buf *aux,
                           const uint8_t *rd, attex_verdict verdict, const char *what)
{
    outcome o;
    run(v, rep, aux, rd, &o);
    CHECK_RC(o.rc, ATTEX_OK, &o.err);
    CHECK(o.a.verdict == verdict);
    if (o.a.verdict != verdict)
        fprintf(stderr, "  verdict %s: %s\n", attex_verdict_name(o.a.verdict), o.a.reason);
    CHECK(has(o.a.reason, what));
    CHECK(o.a.claims_json != NULL);
    done(&o);
}

/* ---------------------------------------------------------------------- */
/* The real sample                                                        */

typedef struct sample {
    attex_buf report, vcek, milan[2], genoa[2];
    char *vcek_path, *milan_path, *genoa_path;
} sample;

static attex_snp_verifier *sample_verifier(const sample *s, const char *policy,
                                           const char *ask_path, int64_t when)
{
    attex_snp_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.vcek_path = s->vcek_path;
    cfg.ask_path = ask_path;
    cfg.policy_json = policy;
    cfg.validation_time = when;
    attex_error err;
    attex_snp_verifier *v = attex_snp_verifier_new(&cfg, &err);
    if (v == NULL)
        fprintf(stderr, "  verifier: %s\n", err.message);
    CHECK(v != NULL);
    return v;
}

static void test_sample_known_answers(const sample *s)
{
    uint8_t rd[64] = {1, 2, 3, 4, 5};
    /* README: the chain and signature verify; the guest policy has DEBUG set (0x0b0000). */
    attex_snp_verifier *v = sample_verifier(s, NULL, s->milan_path, SAMPLE_TIME);
    expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_CONTRAINDICATED, "POLICY.DEBUG");
    attex_snp_verifier_free(v);

    v = sample_verifier(s, "{\"allow_debug\": true}", s->milan_path, SAMPLE_TIME);
    outcome o;
    run(v, &s->report, NULL, rd, &o);
    CHECK_RC(o.rc, ATTEX_OK, &o.err);
    CHECK(o.a.verdict == ATTEX_VERDICT_AFFIRMING);
    CHECK(has(o.a.reason, "ARK-Milan"));
    json_t *claims = o.a.claims_json ? json_loads(o.a.claims_json, 0, NULL) : NULL;
    CHECK(claims != NULL);
    CHECK(json_integer_value(json_object_get(claims, "version")) == 2);
    CHECK(has(json_string_value(json_object_get(claims, "product")), "Milan"));
    CHECK(has(json_string_value(json_object_get(claims, "signing_key_product_name")),
              "Milan-B0"));
    CHECK(has(json_string_value(json_object_get(claims, "report_data")),
              "0102030405000000"));
    json_decref(claims);
    done(&o);
    /* The same twice: the second run takes the chain from the cache. */
    expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_AFFIRMING, "verified");
    /* NULL report_data skips the binding (offline inspection). */
    expect_verdict(v, &s->report, NULL, NULL, ATTEX_VERDICT_AFFIRMING, "verified");
    /* Binding: any other report_data is a binding failure, naming both values. */
    uint8_t other[64] = {1, 2, 3, 4, 6};
    expect_error(v, &s->report, NULL, other, "binding: REPORT_DATA is 0102030405");
    expect_error(v, &s->report, NULL, other, "expected 0102030406");
    uint8_t last[64] = {1, 2, 3, 4, 5};
    last[63] = 1;
    expect_error(v, &s->report, NULL, last, "binding");

    /* The certificate table path, DER and PEM entries. */
    tbl_entry e[3] = {{guid_vcek, s->vcek.data, s->vcek.len},
                      {guid_ask, s->milan[0].data, s->milan[0].len},
                      {guid_ark, s->milan[1].data, s->milan[1].len}};
    attex_buf t = make_table(e, 3);
    expect_verdict(v, &s->report, &t, rd, ATTEX_VERDICT_AFFIRMING, "verified");
    attex_buf t2 = make_table(e, 2); /* no ARK: the pinned one is used */
    expect_verdict(v, &s->report, &t2, rd, ATTEX_VERDICT_AFFIRMING, "verified");
    attex_buf_free(&t2);
    attex_buf json = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(attex_snp_cert_table_describe(t.data, t.len, &json, &err), ATTEX_OK, &err);
    CHECK(has((const char *)json.data, "\"name\":\"VCEK\""));
    CHECK(has((const char *)json.data, "CN=ARK-Milan"));
    attex_buf_free(&json);
    attex_buf_free(&t);
    attex_buf askpem = read_vec("ask_ark_milan.pem");
    /* A PEM entry holds the first certificate of its text. */
    tbl_entry ep[2] = {{guid_vcek, s->vcek.data, s->vcek.len},
                       {guid_ask, askpem.data, askpem.len}};
    t = make_table(ep, 2);
    expect_verdict(v, &s->report, &t, rd, ATTEX_VERDICT_AFFIRMING, "verified");
    attex_buf_free(&t);
    attex_buf_free(&askpem);
    attex_snp_verifier_free(v);

    /* Without a table and without configured certificates there is nothing to verify with. */
    attex_snp_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    v = attex_snp_verifier_new(&cfg, &err);
    CHECK(v != NULL);
    expect_error(v, &s->report, NULL, rd, "no VCEK file is configured");
    attex_snp_verifier_free(v);
}

static void test_sample_describe(const sample *s)
{
    attex_buf json = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(attex_snp_describe(s->report.data, s->report.len, &json, &err), ATTEX_OK, &err);
    json_t *o = json.data ? json_loads((const char *)json.data, 0, NULL) : NULL;
    CHECK(o != NULL);
    json_t *tcb = json_object_get(o, "reported_tcb");
    /* REPORTED_TCB 02 00 00 00 00 00 05 44: bootloader 2, tee 0, snp 5, microcode 0x44. */
    CHECK(json_integer_value(json_object_get(tcb, "bootloader")) == 2);
    CHECK(json_integer_value(json_object_get(tcb, "tee")) == 0);
    CHECK(json_integer_value(json_object_get(tcb, "snp")) == 5);
    CHECK(json_integer_value(json_object_get(tcb, "microcode")) == 0x44);
    CHECK(json_is_true(json_object_get(json_object_get(o, "policy"), "debug")));
    CHECK(has(json_string_value(json_object_get(o, "signing_key")), "vcek"));
    CHECK(has(json_string_value(json_object_get(o, "measurement")), "b07af9620f3b839b"));
    CHECK(has(json_string_value(json_object_get(o, "chip_id")), "3ac3fe21e13fb099"));
    CHECK(json_integer_value(json_object_get(o, "vmpl")) == 0);
    json_decref(o);
    attex_buf_free(&json);
}

static void test_sample_tamper(const sample *s)
{
    attex_snp_verifier *v = sample_verifier(s, "{\"allow_debug\": true}", s->milan_path,
                                            SAMPLE_TIME);
    attex_buf r = {malloc(s->report.len), s->report.len};
    /* A flipped bit in each signed field breaks the signature (MEASUREMENT, REPORTED_TCB...). */
    static const size_t signed_offsets[] = {0x004, 0x008, 0x010, 0x038, 0x050, 0x090,
                                            0x0C0, 0x140, 0x180, 0x1A0, 0x1E0, 0x1F0};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(signed_offsets); i++) {
        memcpy(r.data, s->report.data, r.len);
        r.data[signed_offsets[i]] ^= 0x01;
        expect_error(v, &r, NULL, NULL, "signature");
    }
    memcpy(r.data, s->report.data, r.len);
    r.data[0x090] ^= 0x80;
    expect_error(v, &r, NULL, NULL, "does not verify with the VCEK (CN=SEV-VCEK, ARK-Milan)");
    /* ... and in the signature R and S. */
    memcpy(r.data, s->report.data, r.len);
    r.data[0x2A0] ^= 0x01;
    expect_error(v, &r, NULL, NULL, "does not verify");
    memcpy(r.data, s->report.data, r.len);
    r.data[0x2E8 + 47] ^= 0x40;
    expect_error(v, &r, NULL, NULL, "does not verify");
    /* Bytes above a P-384 integer in the 72-byte fields, and the reserved tail. */
    memcpy(r.data, s->report.data, r.len);
    r.data[0x2A0 + 48] = 1;
    expect_error(v, &r, NULL, NULL, "signature R (at 0x2a0) is not a P-384 integer");
    memcpy(r.data, s->report.data, r.len);
    r.data[0x49F] = 1;
    expect_error(v, &r, NULL, NULL, "reserved offset 0x49f");
    /* Reserved bytes in the signed part are refused before any signature work. */
    memcpy(r.data, s->report.data, r.len);
    r.data[0x200] = 7;
    expect_error(v, &r, NULL, NULL, "reserved offset 0x200");
    /* Wrong versions. */
    static const uint32_t versions[] = {0, 1, 4, 5, 0x100};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(versions); i++) {
        memcpy(r.data, s->report.data, r.len);
        put_le32(r.data, versions[i]);
        char want[64];
        snprintf(want, sizeof(want), "VERSION %u; this verifier supports versions 2 and 3",
                 versions[i]);
        expect_error(v, &r, NULL, NULL, want);
    }
    /* Version 3 on this v2 report: the signature covers VERSION. */
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data, 3);
    expect_error(v, &r, NULL, NULL, "does not verify");
    /* SIGNATURE_ALGO and SIGNING_KEY. */
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data + 0x34, 2);
    expect_error(v, &r, NULL, NULL, "SIGNATURE_ALGO is 2");
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data + 0x48, 7u << 2);
    expect_error(v, &r, NULL, NULL, "SIGNING_KEY is 7");
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data + 0x48, 3u << 2);
    expect_error(v, &r, NULL, NULL, "SIGNING_KEY is 3");
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data + 0x48, 2);
    expect_error(v, &r, NULL, NULL, "MASK_CHIP_KEY");
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data + 0x48, 1u << 5);
    expect_error(v, &r, NULL, NULL, "bits 31:5");
    /* A VLEK-signed report needs a VLEK: the table has a VCEK only. */
    memcpy(r.data, s->report.data, r.len);
    put_le32(r.data + 0x48, 1u << 2);
    tbl_entry e[2] = {{guid_vcek, s->vcek.data, s->vcek.len},
                      {guid_ask, s->milan[0].data, s->milan[0].len}};
    attex_buf t = make_table(e, 2);
    expect_error(v, &r, &t, NULL, "no VLEK entry");
    attex_buf_free(&t);
    free(r.data);

    /* Truncation at every length, and one byte too many. */
    attex_buf cut = {NULL, 0};
    uint8_t *copy = malloc(s->report.len + 1);
    memcpy(copy, s->report.data, s->report.len);
    copy[s->report.len] = 0;
    int all_fail = 1, all_named = 1;
    for (size_t n = 0; n <= s->report.len + 1; n++) {
        if (n == s->report.len)
            continue;
        /* A fresh allocation of exactly n bytes, so that ASan sees any overread. */
        cut.data = malloc(n ? n : 1);
        memcpy(cut.data, copy, n);
        cut.len = n;
        outcome o;
        run(v, &cut, NULL, NULL, &o);
        if (o.rc != ATTEX_ERR_ATTESTATION)
            all_fail = 0;
        if (n >= 4 && strstr(o.err.message, "exactly 1184") == NULL)
            all_named = 0;
        done(&o);
        attex_buf json = ATTEX_BUF_INIT;
        attex_error err;
        if (attex_snp_describe(cut.data, cut.len, &json, &err) == ATTEX_OK)
            all_fail = 0;
        attex_buf_free(&json);
        free(cut.data);
    }
    CHECK(all_fail);
    CHECK(all_named);
    free(copy);
    attex_snp_verifier_free(v);
}

static void test_sample_roots(const sample *s)
{
    uint8_t rd[64] = {1, 2, 3, 4, 5};
    const char *pol = "{\"allow_debug\": true}";
    /* The Genoa chain for a Milan report: the VCEK is not the Genoa ASK's. */
    attex_snp_verifier *v = sample_verifier(s, pol, s->genoa_path, SAMPLE_TIME);
    expect_error(v, &s->report, NULL, rd,
                 "the VCEK (CN=SEV-VCEK, issuer CN=SEV-Milan) is not signed by the ASK "
                 "(CN=SEV-Genoa, under ARK-Genoa)");
    tbl_entry e[3] = {{guid_vcek, s->vcek.data, s->vcek.len},
                      {guid_ask, s->genoa[0].data, s->genoa[0].len},
                      {guid_ark, s->genoa[1].data, s->genoa[1].len}};
    attex_buf t = make_table(e, 3);
    expect_error(v, &s->report, &t, rd, "not signed by the ASK (CN=SEV-Genoa");
    attex_buf_free(&t);
    /* Milan ASK with the Genoa ARK in the table: the table's ARK must be the ASK's. */
    e[1].data = s->milan[0].data;
    e[1].len = s->milan[0].len;
    t = make_table(e, 3);
    expect_error(v, &s->report, &t, rd, "came with ARK-Genoa but its ASK is signed by ARK-Milan");
    attex_buf_free(&t);
    /* An ARK that is not pinned (here: the ASK in the ARK slot). */
    e[2].data = s->milan[0].data;
    e[2].len = s->milan[0].len;
    t = make_table(e, 3);
    expect_error(v, &s->report, &t, rd, "is not one of the 3 pinned ARKs");
    attex_buf_free(&t);
    /* The VCEK in the ASK slot: not signed by any ARK. */
    tbl_entry e2[2] = {{guid_vcek, s->vcek.data, s->vcek.len},
                       {guid_ask, s->vcek.data, s->vcek.len}};
    t = make_table(e2, 2);
    expect_error(v, &s->report, &t, rd, "ASK (CN=SEV-VCEK, issuer CN=SEV-Milan) is not signed "
                                        "by any of the 3 pinned ARKs");
    attex_buf_free(&t);
    attex_snp_verifier_free(v);

    /* Only the Genoa ARK trusted (from a KDS cert_chain file: its ASK is skipped). */
    attex_snp_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    const char *arks[1] = {s->genoa_path};
    cfg.ark_paths = arks;
    cfg.num_ark_paths = 1;
    cfg.no_builtin_arks = 1;
    cfg.vcek_path = s->vcek_path;
    cfg.ask_path = s->milan_path;
    cfg.policy_json = pol;
    cfg.validation_time = SAMPLE_TIME;
    attex_error err;
    v = attex_snp_verifier_new(&cfg, &err);
    CHECK(v != NULL);
    /* The configured chain file carries ARK-Milan, which is not pinned here. */
    expect_error(v, &s->report, NULL, rd, "is not one of the 1 pinned ARKs");
    tbl_entry e3[2] = {{guid_vcek, s->vcek.data, s->vcek.len},
                       {guid_ask, s->milan[0].data, s->milan[0].len}};
    t = make_table(e3, 2);
    expect_error(v, &s->report, &t, rd, "not signed by any of the 1 pinned ARKs");
    attex_buf_free(&t);
    attex_snp_verifier_free(v);
    /* And only Milan: passes. */
    arks[0] = s->milan_path;
    v = attex_snp_verifier_new(&cfg, &err);
    CHECK(v != NULL);
    expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_AFFIRMING, "ARK-Milan");
    attex_snp_verifier_free(v);
    cfg.num_ark_paths = 0;
    CHECK(attex_snp_verifier_new(&cfg, &err) == NULL);
    CHECK(has(err.message, "trusts no ARK"));

    /* Validity: the VCEK runs 2022-09-24..2029-09-24. */
    v = sample_verifier(s, pol, s->milan_path, 1640000000); /* 2021-12 */
    expect_error(v, &s->report, NULL, rd, "the VCEK certificate (CN=SEV-VCEK) is not valid at "
                                          "1640000000");
    attex_snp_verifier_free(v);
    v = sample_verifier(s, pol, s->milan_path, 1900000000); /* 2030-03 */
    expect_error(v, &s->report, NULL, rd, "Sep 24 00:55:28 2029 GMT");
    attex_snp_verifier_free(v);

    /* Built-in roots: Genoa's ASK and Turin's ASVK chain to them (Turin has no report here). */
    memset(&cfg, 0, sizeof(cfg));
    v = attex_snp_verifier_new(&cfg, &err);
    attex_buf turin[2] = {ATTEX_BUF_INIT, ATTEX_BUF_INIT};
    CHECK(pem_ders("ask_ark_turin_vlek.pem", turin) == 2);
    const char *product = NULL;
    CHECK_RC(snp_verifier_check_intermediate(v, turin[0].data, turin[0].len, &product, &err),
             ATTEX_OK, &err);
    CHECK(product != NULL && strcmp(product, "Turin") == 0);
    CHECK_RC(snp_verifier_check_intermediate(v, s->genoa[0].data, s->genoa[0].len, &product,
                                             &err),
             ATTEX_OK, &err);
    CHECK(product != NULL && strcmp(product, "Genoa") == 0);
    CHECK_RC(snp_verifier_check_intermediate(v, s->milan[0].data, s->milan[0].len, &product,
                                             &err),
             ATTEX_OK, &err);
    CHECK(product != NULL && strcmp(product, "Milan") == 0);
    /* The shipped ARKs are the built-in ones: a table ARK equal to them is accepted. */
    tbl_entry e4[3] = {{guid_vcek, s->vcek.data, s->vcek.len},
                       {guid_ask, s->milan[0].data, s->milan[0].len},
                       {guid_ark, s->milan[1].data, s->milan[1].len}};
    t = make_table(e4, 3);
    attex_snp_verifier_free(v);
    cfg.validation_time = SAMPLE_TIME;
    cfg.policy_json = pol;
    v = attex_snp_verifier_new(&cfg, &err);
    expect_verdict(v, &s->report, &t, rd, ATTEX_VERDICT_AFFIRMING, "ARK-Milan");
    attex_buf_free(&t);
    /* The Turin ARK and ASVK as a table chain for the Milan VCEK: wrong issuer. */
    tbl_entry e5[3] = {{guid_vcek, s->vcek.data, s->vcek.len},
                       {guid_ask, turin[0].data, turin[0].len},
                       {guid_ark, turin[1].data, turin[1].len}};
    t = make_table(e5, 3);
    expect_error(v, &s->report, &t, rd, "under ARK-Turin");
    attex_buf_free(&t);
    attex_buf_free(&turin[0]);
    attex_buf_free(&turin[1]);
    attex_snp_verifier_free(v);
}

static void test_sample_policy(const sample *s)
{
    uint8_t rd[64] = {1, 2, 3, 4, 5};
    static const char meas[] = "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b"
                               "6bdf8a9ece31a5a608eb0cf2e4872b01";
    char zero96[97], zero64[65], zero32[33], zero128[129], good[512];
    memset(zero96, '0', 96);
    zero96[96] = '\0';
    memset(zero64, '0', 64);
    zero64[64] = '\0';
    memset(zero32, '0', 32);
    zero32[32] = '\0';
    memset(zero128, '0', 128);
    zero128[128] = '\0';
    /* Every reference value the sample has, as a policy that holds. */
    snprintf(good, sizeof(good),
             "{\"allow_debug\": true, \"measurement\": [\"%s\", \"%s\"], \"host_data\": \"%s\", "
             "\"vmpl\": 0, \"signing_key\": \"vcek\", \"products\": [\"Milan\"], "
             "\"minimum_tcb\": {\"bootloader\": 2, \"snp\": 5, \"microcode\": 68}, "
             "\"family_id\": \"%s\", \"min_guest_svn\": 0}",
             zero96, meas, zero64, zero32);
    attex_snp_verifier *v = sample_verifier(s, good, s->milan_path, SAMPLE_TIME);
    expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_AFFIRMING, "policy holds");
    attex_snp_verifier_free(v);

    static const struct {
        const char *member;
        const char *value;
        const char *named;
    } cases[] = {
        {"measurement", "\"Z96\"", "measurement: expected 000000"},
        {"host_data", "\"1111111111111111111111111111111111111111111111111111111111111111\"",
         "host_data: expected 1111"},
        {"id_key_digest", "[\"0Z96\"]", "id_key_digest: expected"},
        {"author_key_digest", "\"0Z96\"", "author_key_digest: expected"},
        {"family_id", "\"ffffffffffffffffffffffffffffffff\"", "family_id: expected ffff"},
        {"image_id", "\"ffffffffffffffffffffffffffffffff\"", "image_id: expected ffff"},
        {"chip_id", "\"Z128\"", "chip_id: expected 0000"},
        {"report_data", "\"Z128\"", "report_data: expected 0000"},
        {"vmpl", "1", "vmpl: expected 1, got 0"},
        {"min_guest_svn", "1", "min_guest_svn: GUEST_SVN 0 is below the minimum 1"},
        {"minimum_tcb", "{\"snp\": 6}", "minimum_tcb.snp: REPORTED_TCB has snp SPL 5"},
        {"minimum_tcb", "{\"bootloader\": 3}", "minimum_tcb.bootloader"},
        {"minimum_tcb", "{\"tee\": 1}", "minimum_tcb.tee"},
        {"minimum_tcb", "{\"microcode\": 69}", "minimum_tcb.microcode"},
        {"signing_key", "\"vlek\"", "signing_key: expected vlek, got vcek"},
        {"products", "[\"Genoa\", \"Turin\"]", "products: the report is from a Milan"},
        {"allow_smt", "false", "POLICY.SMT (bit 16)"},
        {"require_single_socket", "true", "POLICY.SINGLE_SOCKET (bit 20)"},
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(cases); i++) {
        char value[300], pol[400];
        if (strcmp(cases[i].value, "\"Z96\"") == 0)
            snprintf(value, sizeof(value), "\"%s\"", zero96);
        else if (strcmp(cases[i].value, "[\"0Z96\"]") == 0)
            snprintf(value, sizeof(value), "[\"1%s\"]", zero96 + 1);
        else if (strcmp(cases[i].value, "\"0Z96\"") == 0)
            snprintf(value, sizeof(value), "\"1%s\"", zero96 + 1);
        else if (strcmp(cases[i].value, "\"Z128\"") == 0)
            snprintf(value, sizeof(value), "\"%s\"", zero128);
        else
            snprintf(value, sizeof(value), "%s", cases[i].value);
        snprintf(pol, sizeof(pol), "{\"allow_debug\": true, \"%s\": %s}", cases[i].member,
                 value);
        v = sample_verifier(s, pol, s->milan_path, SAMPLE_TIME);
        if (v == NULL)
            continue;
        expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_CONTRAINDICATED, cases[i].named);
        attex_snp_verifier_free(v);
    }
    /* The same kind of policy from a file (tests/vectors/snp/policy_sample.json). */
    {
        attex_snp_verifier_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        char *pp = vec_path("policy_sample.json");
        cfg.vcek_path = s->vcek_path;
        cfg.ask_path = s->milan_path;
        cfg.policy_path = pp;
        cfg.validation_time = SAMPLE_TIME;
        attex_error err;
        v = attex_snp_verifier_new(&cfg, &err);
        CHECK(v != NULL);
        if (v != NULL)
            expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_AFFIRMING, "policy holds");
        attex_snp_verifier_free(v);
        cfg.policy_path = "no-such-policy.json";
        CHECK(attex_snp_verifier_new(&cfg, &err) == NULL);
        CHECK(has(err.message, "cannot open the SEV-SNP policy file \"no-such-policy.json\""));
        free(pp);
    }
    /* Several failures: the first is named, the rest counted. */
    v = sample_verifier(s, "{\"vmpl\": 2, \"allow_smt\": false}", s->milan_path, SAMPLE_TIME);
    expect_verdict(v, &s->report, NULL, rd, ATTEX_VERDICT_CONTRAINDICATED,
                   "(and 2 more policy checks failed)");
    attex_snp_verifier_free(v);

    /* Bad policies are refused when the verifier is made, naming the member. */
    static const struct {
        const char *json;
        const char *named;
    } bad[] = {
        {"{\"allow_debug\": 1}", "\"allow_debug\" must be true or false"},
        {"{\"measurement\": \"00\"}", "\"measurement\" values must be 96 hex digits"},
        {"{\"measurement\": []}", "\"measurement\" must list 1..64 values"},
        {"{\"vmpl\": 4}", "\"vmpl\" must be an integer 0..3"},
        {"{\"minimum_tcb\": {\"bl\": 1}}", "unknown member \"bl\""},
        {"{\"minimum_tcb\": {\"snp\": 256}}", "\"snp\" must be an integer 0..255"},
        {"{\"products\": [\"Rome\"]}", "\"products\" entry 0"},
        {"{\"signing_key\": \"ask\"}", "\"signing_key\" must be"},
        {"{\"debug\": false}", "unknown member \"debug\""},
        {"{\"vmpl\": 0, \"vmpl\": 1}", "not valid JSON"},
        {"[]", "must be a JSON object"},
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(bad); i++) {
        attex_snp_verifier_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.policy_json = bad[i].json;
        attex_error err;
        attex_snp_verifier *b = attex_snp_verifier_new(&cfg, &err);
        CHECK(b == NULL);
        CHECK(has(err.message, bad[i].named));
        attex_snp_verifier_free(b);
    }
}

static void test_cert_table_malformed(const sample *s)
{
    attex_snp_verifier *v = sample_verifier(s, "{\"allow_debug\": true}", s->milan_path,
                                            SAMPLE_TIME);
    tbl_entry e[2] = {{guid_vcek, s->vcek.data, s->vcek.len},
                      {guid_ask, s->milan[0].data, s->milan[0].len}};
    attex_buf good = make_table(e, 2);
    attex_buf t = {malloc(good.len), good.len};
    /* Sanity: the table as made passes. */
    memcpy(t.data, good.data, t.len);
    expect_verdict(v, &s->report, &t, NULL, ATTEX_VERDICT_AFFIRMING, "verified");
    /* Unknown GUID. */
    memcpy(t.data, good.data, t.len);
    t.data[24 + 15] ^= 1;
    expect_error(v, &s->report, &t, NULL, "has GUID 4ab7b379-bbac-4fe4-a02f-05aef327c783");
    /* Zero GUID with a nonzero offset/length: not the terminator, not a known GUID. */
    memcpy(t.data, good.data, t.len);
    memset(t.data + 24, 0, 16);
    expect_error(v, &s->report, &t, NULL, "GUID 00000000-0000-0000-0000-000000000000");
    /* Offset inside the table. */
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 16, 24);
    expect_error(v, &s->report, &t, NULL, "VCEK entry has offset 24, inside the table");
    /* Offset past the end. */
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 16, (uint32_t)t.len);
    expect_error(v, &s->report, &t, NULL, "runs past the end");
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 16, 0xFFFFFFF0u);
    expect_error(v, &s->report, &t, NULL, "runs past the end");
    /* Length past the end, length zero. */
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 24 + 20, (uint32_t)s->milan[0].len + 1);
    expect_error(v, &s->report, &t, NULL, "ASK entry (offset");
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 20, 0);
    expect_error(v, &s->report, &t, NULL, "VCEK entry has length 0");
    /* Overlapping entries. */
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 24 + 16, 72);
    expect_error(v, &s->report, &t, NULL, "overlaps");
    /* A wrong length cuts the certificate: it no longer decodes. */
    memcpy(t.data, good.data, t.len);
    put_le32(t.data + 20, (uint32_t)s->vcek.len - 1);
    expect_error(v, &s->report, &t, NULL, "does not decode as one X.509 certificate");
    /* Duplicate kinds. */
    memcpy(t.data, good.data, t.len);
    memcpy(t.data + 24, guid_vcek, 16);
    expect_error(v, &s->report, &t, NULL, "two VCEK entries");
    /* No terminator: the blob ends in the entries. */
    attex_buf head = {malloc(48), 48};
    memcpy(head.data, good.data, 48);
    expect_error(v, &s->report, &head, NULL, "without the all-zero terminator");
    /* Truncated at every length inside the table header. */
    int all = 1;
    for (size_t n = 1; n < 72; n++) {
        attex_buf c = {malloc(n), n};
        memcpy(c.data, good.data, n);
        outcome o;
        run(v, &s->report, &c, NULL, &o);
        if (o.rc != ATTEX_ERR_ATTESTATION)
            all = 0;
        done(&o);
        free(c.data);
    }
    CHECK(all);
    /* An empty table (terminator only): no VCEK entry. */
    uint8_t zero[24] = {0};
    attex_buf empty = {zero, sizeof(zero)};
    expect_error(v, &s->report, &empty, NULL, "no VCEK entry");
    /* Garbage in a certificate slot. */
    memcpy(t.data, good.data, t.len);
    memset(t.data + 72, 'x', 16);
    expect_error(v, &s->report, &t, NULL, "VCEK certificate");
    memcpy(t.data, good.data, t.len);
    memcpy(t.data + 72, "-----BEGIN X", 12);
    expect_error(v, &s->report, &t, NULL, "neither DER nor a PEM CERTIFICATE");
    free(head.data);
    free(t.data);
    attex_buf_free(&good);
    attex_snp_verifier_free(v);
}

/* ---------------------------------------------------------------------- */
/* A test chain, for reports made here                                    */

typedef struct chain {
    EVP_PKEY *ark_key, *ask_key, *vcek_key;
    X509 *ark, *ask;
    char *ark_pem;
} chain;

/* SPL extensions of a test VCEK: -1 leaves one out. */
typedef struct vcek_ext {
    int bl, tee, snp, ucode, fmc;
    const uint8_t *hwid;
    size_t hwid_len;
} vcek_ext;

static void add_ext(X509 *x, const char *oid, const uint8_t *val, size_t len)
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING_set(os, val, (int)len);
    X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(os);
}

static void add_int_ext(X509 *x, const char *oid, int v)
{
    if (v < 0)
        return;
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    ASN1_INTEGER_set(ai, v);
    unsigned char *der = NULL;
    int len = i2d_ASN1_INTEGER(ai, &der);
    add_ext(x, oid, der, (size_t)len);
    OPENSSL_free(der);
    ASN1_INTEGER_free(ai);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       int pss, const vcek_ext *ext)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_set_pubkey(x, key);
    if (ext != NULL) {
        add_int_ext(x, "1.3.6.1.4.1.3704.1.3.1", ext->bl);
        add_int_ext(x, "1.3.6.1.4.1.3704.1.3.2", ext->tee);
        add_int_ext(x, "1.3.6.1.4.1.3704.1.3.3", ext->snp);
        add_int_ext(x, "1.3.6.1.4.1.3704.1.3.8", ext->ucode);
        add_int_ext(x, "1.3.6.1.4.1.3704.1.3.9", ext->fmc);
        if (ext->hwid != NULL)
            add_ext(x, "1.3.6.1.4.1.3704.1.4", ext->hwid, ext->hwid_len);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    EVP_DigestSignInit(ctx, &pctx, EVP_sha384(), NULL, issuer_key);
    if (pss) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48);
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384());
    }
    CHECK(X509_sign_ctx(x, ctx) > 0);
    EVP_MD_CTX_free(ctx);
    return x;
}

static void chain_make(chain *c, const char *product)
{
    char ark_cn[32], ask_cn[32];
    snprintf(ark_cn, sizeof(ark_cn), "ARK-%s", product);
    snprintf(ask_cn, sizeof(ask_cn), "SEV-%s", product);
    c->ark_key = tu_key("rsa2048");
    c->ask_key = tu_key("rsa2048");
    c->vcek_key = tu_key("p384");
    c->ark = make_cert(ark_cn, c->ark_key, NULL, c->ark_key, 1, NULL);
    c->ask = make_cert(ask_cn, c->ask_key, c->ark, c->ark_key, 1, NULL);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, c->ark);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    c->ark_pem = malloc((size_t)n + 1);
    memcpy(c->ark_pem, p, (size_t)n);
    c->ark_pem[n] = '\0';
    BIO_free(b);
}

static void chain_free(chain *c)
{
    EVP_PKEY_free(c->ark_key);
    EVP_PKEY_free(c->ask_key);
    EVP_PKEY_free(c->vcek_key);
    X509_free(c->ark);
    X509_free(c->ask);
    free(c->ark_pem);
}

static attex_buf der_of(X509 *x)
{
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);
    attex_buf b = {malloc((size_t)n), (size_t)n};
    memcpy(b.data, d, (size_t)n);
    OPENSSL_free(d);
    return b;
}

/* leaf_table: a table with the leaf (VCEK or VLEK slot), the chain's ASK and ARK. */
static attex_buf leaf_table(const chain *c, X509 *leaf, int vlek)
{
    attex_buf l = der_of(leaf), a = der_of(c->ask), r = der_of(c->ark);
    tbl_entry e[3] = {{vlek ? guid_vlek : guid_vcek, l.data, l.len},
                      {guid_ask, a.data, a.len},
                      {guid_ark, r.data, r.len}};
    attex_buf t = make_table(e, 3);
    attex_buf_free(&l);
    attex_buf_free(&a);
    attex_buf_free(&r);
    return t;
}

typedef struct report_opts {
    uint32_t version;
    uint64_t policy;
    uint64_t reported_tcb;
    uint8_t chip_id[64];
    unsigned signing_key;
    uint32_t vmpl;
    uint8_t fam;
    size_t poke_off; /* a byte to set before signing (0: none) */
    uint8_t poke_val;
} report_opts;

static void report_opts_default(report_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->version = 2;
    o->policy = 0x30000; /* SMT, reserved 1 */
    /* Milan layout: bootloader 3, tee 0, snp 8, microcode 0x73. */
    o->reported_tcb = UINT64_C(0x7308000000000003);
    memset(o->chip_id, 0xC1, sizeof(o->chip_id));
}

static attex_buf make_report(const report_opts *o, EVP_PKEY *key)
{
    attex_buf b = {calloc(1, ATTEX_SNP_REPORT_SIZE), ATTEX_SNP_REPORT_SIZE};
    uint8_t *r = b.data;
    put_le32(r + 0x000, o->version);
    put_le32(r + 0x004, 1);
    put_le64(r + 0x008, o->policy);
    put_le32(r + 0x030, o->vmpl);
    put_le32(r + 0x034, 1);
    put_le64(r + 0x038, o->reported_tcb);
    put_le32(r + 0x048, o->signing_key << 2);
    memset(r + 0x050, 0xAB, 64); /* REPORT_DATA */
    memset(r + 0x090, 0x5A, 48); /* MEASUREMENT */
    put_le64(r + 0x180, o->reported_tcb);
    if (o->version >= 3) {
        r[0x188] = o->fam;
        r[0x189] = 0x01;
    }
    memcpy(r + 0x1A0, o->chip_id, 64);
    put_le64(r + 0x1E0, o->reported_tcb);
    put_le64(r + 0x1F0, o->reported_tcb);
    if (o->poke_off != 0)
        r[o->poke_off] = o->poke_val;
    /* ABI 56860: ECDSA P-384/SHA-384 over 0x000..0x29F, r and s little-endian in 72 bytes. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t der_len = sizeof(der);
    CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, key) == 1 &&
          EVP_DigestSign(ctx, der, &der_len, r, SNP_SIGNED_LEN) == 1);
    EVP_MD_CTX_free(ctx);
    const unsigned char *q = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
    CHECK(sig != NULL);
    if (sig != NULL) {
        BN_bn2lebinpad(ECDSA_SIG_get0_r(sig), r + 0x2A0, 72);
        BN_bn2lebinpad(ECDSA_SIG_get0_s(sig), r + 0x2E8, 72);
    }
    ECDSA_SIG_free(sig);
    return b;
}

static attex_snp_verifier *chain_verifier(const chain *c, const char *policy)
{
    attex_snp_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.no_builtin_arks = 1;
    cfg.ark_pem = c->ark_pem;
    cfg.policy_json = policy;
    attex_error err;
    attex_snp_verifier *v = attex_snp_verifier_new(&cfg, &err);
    if (v == NULL)
        fprintf(stderr, "  verifier: %s\n", err.message);
    CHECK(v != NULL);
    return v;
}

static void test_synthetic_milan(void)
{
    chain c;
    chain_make(&c, "Milan");
    report_opts o;
    report_opts_default(&o);
    vcek_ext ext = {3, 0, 8, 0x73, -1, o.chip_id, 64};
    X509 *vcek = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &ext);
    attex_buf t = leaf_table(&c, vcek, 0);
    attex_snp_verifier *v = chain_verifier(&c, NULL);
    uint8_t rd[64];
    memset(rd, 0xAB, sizeof(rd));

    attex_buf rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, rd, ATTEX_VERDICT_AFFIRMING, "verified (VCEK, ARK-Milan)");
    attex_buf_free(&rep);
    /* Version 3 with the Milan family passes; with Turin's family it contradicts the chain. */
    o.version = 3;
    o.fam = 0x19;
    rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, rd, ATTEX_VERDICT_AFFIRMING, "verified");
    attex_buf json = ATTEX_BUF_INIT;
    attex_error err;
    CHECK_RC(attex_snp_describe(rep.data, rep.len, &json, &err), ATTEX_OK, &err);
    CHECK(has((const char *)json.data, "\"cpuid_fam_id\":25"));
    attex_buf_free(&json);
    attex_buf_free(&rep);
    o.fam = 0x1A;
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, rd, "CPUID_FAM_ID is 0x1a but its chain is ARK-Milan");
    attex_buf_free(&rep);
    /* Version 3 reserved bytes after the CPUID fields. */
    o.fam = 0x19;
    o.poke_off = 0x18B;
    o.poke_val = 1;
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, rd, "reserved offset 0x18b");
    attex_buf_free(&rep);
    o.version = 2;
    o.poke_off = 0x188; /* a CPUID byte in a version 2 report is reserved */
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, rd, "reserved offset 0x188");
    attex_buf_free(&rep);
    o.poke_off = 0x1EB;
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, rd, "reserved offset 0x1eb");
    attex_buf_free(&rep);
    o.poke_off = 0x04C;
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, rd, "reserved bytes 0x04C..0x04F");
    attex_buf_free(&rep);
    o.poke_off = 0;

    /* VCEK TCB not matching REPORTED_TCB, one SPL at a time. */
    static const struct {
        int which;
        const char *named;
    } spl[] = {{0, "blSPL 4"}, {1, "teeSPL 1"}, {2, "snpSPL 9"}, {3, "ucodeSPL 116"}};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(spl); i++) {
        vcek_ext e2 = ext;
        int *slot = spl[i].which == 0 ? &e2.bl : spl[i].which == 1 ? &e2.tee
                                             : spl[i].which == 2 ? &e2.snp
                                                                 : &e2.ucode;
        *slot += 1;
        X509 *other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &e2);
        attex_buf t2 = leaf_table(&c, other, 0);
        rep = make_report(&o, c.vcek_key);
        expect_error(v, &rep, &t2, rd, spl[i].named);
        expect_error(v, &rep, &t2, rd, "REPORTED_TCB (0x7308000000000003)");
        attex_buf_free(&rep);
        attex_buf_free(&t2);
        X509_free(other);
    }
    /* A missing SPL extension, a missing hwID, a hwID of another chip. */
    vcek_ext e3 = ext;
    e3.snp = -1;
    X509 *other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &e3);
    attex_buf t3 = leaf_table(&c, other, 0);
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t3, rd, "has no snpSPL extension");
    attex_buf_free(&t3);
    X509_free(other);
    e3 = ext;
    e3.hwid = NULL;
    other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &e3);
    t3 = leaf_table(&c, other, 0);
    expect_error(v, &rep, &t3, rd, "has no hwID extension");
    attex_buf_free(&t3);
    X509_free(other);
    uint8_t chip2[64];
    memset(chip2, 0xC2, sizeof(chip2));
    e3 = ext;
    e3.hwid = chip2;
    other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &e3);
    t3 = leaf_table(&c, other, 0);
    expect_error(v, &rep, &t3, rd, "hwID c2c2");
    expect_error(v, &rep, &t3, rd, "is not the report's CHIP_ID c1c1");
    attex_buf_free(&t3);
    X509_free(other);
    /* A malformed SPL extension value. */
    other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &ext);
    add_ext(other, "1.3.6.1.4.1.3704.1.3.2", (const uint8_t *)"\x04\x01\x00", 3);
    {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        EVP_DigestSignInit(ctx, &pctx, EVP_sha384(), NULL, c.ask_key);
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48);
        X509_sign_ctx(other, ctx);
        EVP_MD_CTX_free(ctx);
    }
    t3 = leaf_table(&c, other, 0);
    expect_error(v, &rep, &t3, rd, "teeSPL) is repeated");
    attex_buf_free(&t3);
    X509_free(other);
    /* A VCEK signed with PKCS#1 v1.5 rather than PSS; a P-256 VCEK. */
    other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 0, &ext);
    t3 = leaf_table(&c, other, 0);
    expect_error(v, &rep, &t3, rd, "AMD certificates are signed with RSASSA-PSS");
    attex_buf_free(&t3);
    X509_free(other);
    EVP_PKEY *p256 = tu_key("p256");
    other = make_cert("SEV-VCEK", p256, c.ask, c.ask_key, 1, &ext);
    t3 = leaf_table(&c, other, 0);
    expect_error(v, &rep, &t3, rd, "must be ECDSA P-384");
    attex_buf_free(&t3);
    X509_free(other);
    EVP_PKEY_free(p256);
    /* A VCEK signed by the ARK instead of the ASK. */
    other = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ark_key, 1, &ext);
    t3 = leaf_table(&c, other, 0);
    expect_error(v, &rep, &t3, rd, "is not signed by the ASK");
    attex_buf_free(&t3);
    X509_free(other);
    /* Signed by another P-384 key than the VCEK's. */
    EVP_PKEY *k2 = tu_key("p384");
    attex_buf rep2 = make_report(&o, k2);
    expect_error(v, &rep2, &t, rd, "does not verify with the VCEK");
    attex_buf_free(&rep2);
    EVP_PKEY_free(k2);
    attex_buf_free(&rep);

    /* Debug policy, VMPL, MASK_CHIP_KEY on signed reports. */
    o.policy = 0x30000 | (UINT64_C(1) << 19);
    rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, rd, ATTEX_VERDICT_CONTRAINDICATED,
                   "POLICY.DEBUG (bit 19) is set in POLICY 0x00000000000b0000");
    attex_buf_free(&rep);
    o.policy = 0x30000 | (UINT64_C(1) << 18);
    rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, rd, ATTEX_VERDICT_CONTRAINDICATED, "POLICY.MIGRATE_MA");
    attex_buf_free(&rep);
    o.policy = 0x30000;
    o.vmpl = 4;
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, rd, "VMPL is 4");
    attex_buf_free(&rep);
    o.vmpl = 0;

    attex_snp_verifier_free(v);
    /* Debug allowed by policy: the same report passes. */
    v = chain_verifier(&c, "{\"allow_debug\": true, \"allow_migrate_ma\": true}");
    o.policy = 0x30000 | (UINT64_C(1) << 19) | (UINT64_C(1) << 18);
    rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, rd, ATTEX_VERDICT_AFFIRMING, "verified");
    attex_buf_free(&rep);
    attex_snp_verifier_free(v);
    o.policy = 0x30000;

    /* VLEK: signed by a VLEK under the ASVK slot; no hwID needed; CHIP_ID zero. */
    v = chain_verifier(&c, "{\"signing_key\": \"vlek\"}");
    vcek_ext ve = ext;
    ve.hwid = NULL;
    X509 *vlek = make_cert("SEV-VLEK", c.vcek_key, c.ask, c.ask_key, 1, &ve);
    attex_buf tv = leaf_table(&c, vlek, 1);
    report_opts vo = o;
    vo.signing_key = 1;
    memset(vo.chip_id, 0, sizeof(vo.chip_id));
    rep = make_report(&vo, c.vcek_key);
    expect_verdict(v, &rep, &tv, rd, ATTEX_VERDICT_AFFIRMING, "verified (VLEK, ARK-Milan)");
    /* The VLEK report with the VCEK table: no VLEK entry. */
    expect_error(v, &rep, &t, rd, "no VLEK entry");
    attex_buf_free(&rep);
    /* The VCEK report with the VLEK-only table: no VCEK entry; and the policy wants VLEK. */
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &tv, rd, "no VCEK entry");
    expect_verdict(v, &rep, &t, rd, ATTEX_VERDICT_CONTRAINDICATED, "signing_key: expected vlek");
    attex_buf_free(&rep);
    attex_buf_free(&tv);
    X509_free(vlek);
    attex_snp_verifier_free(v);

    /* The cache holds several VCEKs under one ASK; the results do not leak across them. */
    v = chain_verifier(&c, NULL);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++) {
            report_opts oi = o;
            memset(oi.chip_id, 0xD0 + i, sizeof(oi.chip_id));
            vcek_ext ei = ext;
            ei.hwid = oi.chip_id;
            EVP_PKEY *ki = tu_key("p384");
            X509 *ci = make_cert("SEV-VCEK", ki, c.ask, c.ask_key, 1, &ei);
            attex_buf ti = leaf_table(&c, ci, 0);
            attex_buf ri = make_report(&oi, ki);
            expect_verdict(v, &ri, &ti, rd, ATTEX_VERDICT_AFFIRMING, "verified");
            /* This chip's report with the first VCEK: wrong key and wrong chip. */
            expect_error(v, &ri, &t, rd, "does not verify");
            attex_buf_free(&ri);
            attex_buf_free(&ti);
            X509_free(ci);
            EVP_PKEY_free(ki);
        }
    }
    attex_snp_verifier_free(v);

    /* An ASK signed with PKCS#1 v1.5 by the ARK: AMD signs with PSS only. */
    X509 *ask15 = make_cert("SEV-Milan", c.ask_key, c.ark, c.ark_key, 0, NULL);
    X509 *saved = c.ask;
    c.ask = ask15;
    attex_buf t15 = leaf_table(&c, vcek, 0);
    c.ask = saved;
    v = chain_verifier(&c, NULL);
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t15, rd, "the ASK certificate (CN=SEV-Milan) is signed with");
    attex_buf_free(&rep);
    attex_buf_free(&t15);
    X509_free(ask15);
    attex_snp_verifier_free(v);

    attex_buf_free(&t);
    X509_free(vcek);
    chain_free(&c);
}

static void test_synthetic_turin(void)
{
    chain c;
    chain_make(&c, "Turin");
    report_opts o;
    report_opts_default(&o);
    o.version = 3;
    o.fam = 0x1A;
    /* Turin layout: [0] FMC 1, [1] BL 2, [2] TEE 3, [3] SNP 4, [7] UCODE 5. */
    o.reported_tcb = UINT64_C(0x0500000004030201);
    memset(o.chip_id, 0, sizeof(o.chip_id));
    memset(o.chip_id, 0xE7, 8);
    vcek_ext ext = {2, 3, 4, 5, 1, o.chip_id, 8};
    X509 *vcek = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &ext);
    attex_buf t = leaf_table(&c, vcek, 0);
    attex_snp_verifier *v = chain_verifier(&c, "{\"minimum_tcb\": {\"fmc\": 1}}");
    attex_buf rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, NULL, ATTEX_VERDICT_AFFIRMING, "ARK-Turin");
    attex_buf_free(&rep);
    attex_snp_verifier_free(v);
    v = chain_verifier(&c, "{\"minimum_tcb\": {\"fmc\": 2}}");
    rep = make_report(&o, c.vcek_key);
    expect_verdict(v, &rep, &t, NULL, ATTEX_VERDICT_CONTRAINDICATED, "minimum_tcb.fmc");
    attex_buf_free(&rep);
    /* Turin CHIP_ID beyond the 8 bytes of hwID must be zero. */
    o.chip_id[8] = 1;
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, NULL, "is not the report's CHIP_ID");
    attex_buf_free(&rep);
    o.chip_id[8] = 0;
    attex_buf_free(&t);
    X509_free(vcek);
    /* The FMC SPL is checked on Turin. */
    vcek_ext e2 = ext;
    e2.fmc = 7;
    vcek = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &e2);
    t = leaf_table(&c, vcek, 0);
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, NULL, "fmcSPL 7");
    attex_buf_free(&rep);
    attex_buf_free(&t);
    X509_free(vcek);
    /* A v3 report of the Milan family under the Turin ARK. */
    o.fam = 0x19;
    vcek = make_cert("SEV-VCEK", c.vcek_key, c.ask, c.ask_key, 1, &ext);
    t = leaf_table(&c, vcek, 0);
    rep = make_report(&o, c.vcek_key);
    expect_error(v, &rep, &t, NULL, "CPUID_FAM_ID is 0x19 but its chain is ARK-Turin");
    attex_buf_free(&rep);
    attex_buf_free(&t);
    X509_free(vcek);
    attex_snp_verifier_free(v);
    chain_free(&c);
}

/* ---------------------------------------------------------------------- */
/* Cache eviction and threads                                             */

#define CHIPS 70 /* more than the verifier's VCEK cache holds */

typedef struct chip {
    EVP_PKEY *key;
    attex_buf table, report;
} chip;

typedef struct thread_arg {
    attex_snp_verifier *v;
    chip *chips;
    size_t first;
    int failures;
} thread_arg;

static void *appraise_many(void *p)
{
    thread_arg *a = p;
    for (size_t i = 0; i < 40; i++) {
        chip *c = &a->chips[(a->first + 7 * i) % CHIPS];
        attex_appraisal ap;
        attex_error err;
        int rc = attex_snp_appraise(a->v, c->report.data, c->report.len, c->table.data,
                                    c->table.len, NULL, &ap, &err);
        if (rc != ATTEX_OK || ap.verdict != ATTEX_VERDICT_AFFIRMING)
            a->failures++;
        attex_appraisal_clear(&ap);
        /* A chip's report with another chip's table never passes, cached or not. */
        chip *o = &a->chips[(a->first + 7 * i + 1) % CHIPS];
        rc = attex_snp_appraise(a->v, c->report.data, c->report.len, o->table.data,
                                o->table.len, NULL, &ap, &err);
        if (rc != ATTEX_ERR_ATTESTATION)
            a->failures++;
        attex_appraisal_clear(&ap);
    }
    return NULL;
}

static void test_cache_and_threads(void)
{
    chain c;
    chain_make(&c, "Genoa");
    chip *chips = calloc(CHIPS, sizeof(*chips));
    for (size_t i = 0; i < CHIPS; i++) {
        report_opts o;
        report_opts_default(&o);
        memset(o.chip_id, (int)i, sizeof(o.chip_id));
        o.chip_id[0] = 0xEE;
        vcek_ext ext = {3, 0, 8, 0x73, -1, o.chip_id, 64};
        chips[i].key = tu_key("p384");
        X509 *x = make_cert("SEV-VCEK", chips[i].key, c.ask, c.ask_key, 1, &ext);
        chips[i].table = leaf_table(&c, x, 0);
        chips[i].report = make_report(&o, chips[i].key);
        X509_free(x);
    }
    attex_snp_verifier *v = chain_verifier(&c, "{\"products\": [\"Genoa\"]}");
    /* Fill the cache past its size, then come back to the first (evicted) chips. */
    for (size_t round = 0; round < 2; round++)
        for (size_t i = 0; i < CHIPS; i++)
            expect_verdict(v, &chips[i].report, &chips[i].table, NULL, ATTEX_VERDICT_AFFIRMING,
                           "ARK-Genoa");
    /* Four threads on one verifier, hitting and evicting entries of each other. */
    pthread_t th[4];
    thread_arg args[4];
    for (size_t i = 0; i < 4; i++) {
        args[i].v = v;
        args[i].chips = chips;
        args[i].first = 17 * i;
        args[i].failures = 0;
        CHECK(pthread_create(&th[i], NULL, appraise_many, &args[i]) == 0);
    }
    for (size_t i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].failures == 0);
    }
    attex_snp_verifier_free(v);
    for (size_t i = 0; i < CHIPS; i++) {
        EVP_PKEY_free(chips[i].key);
        attex_buf_free(&chips[i].table);
        attex_buf_free(&chips[i].report);
    }
    free(chips);
    chain_free(&c);
}

static void test_api_misuse(void)
{
    attex_error err;
    attex_appraisal a;
    uint8_t b[8] = {0};
    CHECK_RC(attex_snp_appraise(NULL, b, sizeof(b), NULL, 0, NULL, &a, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_snp_describe(b, sizeof(b), NULL, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    attex_snp_verifier_free(NULL);
    attex_snp_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.vcek_path = "no-such-file.der";
    cfg.ask_path = "no-such-file.pem";
    CHECK(attex_snp_verifier_new(&cfg, &err) == NULL);
    CHECK(has(err.message, "cannot open the SEV-SNP VCEK file \"no-such-file.der\""));
    /* The type matches the shared TEE appraisal signature (attest.h). */
    attex_tee_appraise_fn fn = attex_snp_appraise;
    CHECK(fn != NULL);
}

int main(void)
{
    sample s;
    memset(&s, 0, sizeof(s));
    s.report = read_vec("attestation.bin");
    s.vcek = read_vec("vcek.der");
    CHECK(s.report.len == ATTEX_SNP_REPORT_SIZE);
    CHECK(pem_ders("ask_ark_milan.pem", s.milan) == 2);
    CHECK(pem_ders("ask_ark_genoa.pem", s.genoa) == 2);
    s.vcek_path = vec_path("vcek.der");
    s.milan_path = vec_path("ask_ark_milan.pem");
    s.genoa_path = vec_path("ask_ark_genoa.pem");
    if (s.report.len == ATTEX_SNP_REPORT_SIZE) {
        test_sample_known_answers(&s);
        test_sample_describe(&s);
        test_sample_tamper(&s);
        test_sample_roots(&s);
        test_sample_policy(&s);
        test_cert_table_malformed(&s);
    }
    test_synthetic_milan();
    test_synthetic_turin();
    test_cache_and_threads();
    test_api_misuse();
    attex_buf_free(&s.report);
    attex_buf_free(&s.vcek);
    for (int i = 0; i < 2; i++) {
        attex_buf_free(&s.milan[i]);
        attex_buf_free(&s.genoa[i]);
    }
    free(s.vcek_path);
    free(s.milan_path);
    free(s.genoa_path);
    return tu_finish("test_snp");
}
