/*
 * Tests of the Intel TDX quote appraisal (src/tdx.c, src/tdx_collateral.c)
 * on real Intel-signed quotes and collateral (tests/vectors/tdx/README.md),
 * at the times where the vectors' expected results hold, plus one negative
 * test per rule: a flipped byte in each signed region, a wrong root,
 * collateral outside its validity, truncation and corrupt length fields,
 * SGX quotes and wrong TEE types, a wrong binding, policy mismatches by
 * field, and the TCB level algorithm on synthetic TCB Info.
 *
 * Temporary collateral directories are made in the working directory
 * (ctest runs tests in the build directory).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include <attex/attex.h>
#include <attex/tdx.h>

#include "tdx_internal.h"
#include "testutil.h"

#define V4 "tests/vectors/tdx/tdx_prod_quote_SPR_E4.dat"
#define V5 "tests/vectors/tdx/quote_v5_sample.dat"
#define DIR2023 "tests/vectors/tdx/collateral-2023"
#define DIR2026 "tests/vectors/tdx/collateral-2026"
#define V4_END 4935 /* end of the v4 sample's signature data; 39 unsigned bytes follow */

static uint8_t *load(const char *rel, size_t *len)
{
    const char *path = tu_source_path(rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (set ATTEX_SOURCE_DIR)\n", path);
        exit(1);
    }
    uint8_t *buf = malloc(1 << 20);
    if (buf == NULL)
        exit(1);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static char *source_dir(const char *rel)
{
    return strdup(tu_source_path(rel));
}

static int64_t at(const char *s)
{
    int64_t t = 0;
    attex_error err;
    if (attex_tdx_parse_time(s, &t, &err) != ATTEX_OK) {
        fprintf(stderr, "bad time %s\n", s);
        exit(1);
    }
    return t;
}

static attex_tdx_verifier *make(const char *dir, const char *time, int incomplete,
                                const char *policy, attex_error *err)
{
    attex_tdx_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.collateral_dir = dir;
    cfg.time = at(time);
    cfg.allow_incomplete_collateral = incomplete;
    cfg.policy_json = policy;
    return attex_tdx_verifier_new(&cfg, err);
}

/* appraise runs one appraisal; returns the status and leaves verdict/reason/claims in *a. */
static int appraise(attex_tdx_verifier *v, const uint8_t *q, size_t len, const uint8_t *rd,
                    attex_appraisal *a, attex_error *err)
{
    attex_error_clear(err);
    int ret = attex_tdx_appraise(v, q, len, NULL, 0, rd, a, err);
    if (getenv("ATTEX_TEST_VERBOSE") != NULL)
        fprintf(stderr, "[%s] %s: %s\n  claims: %s\n", attex_status_name(ret),
                attex_verdict_name(a->verdict), a->reason, a->claims_json ? a->claims_json : "-");
    if (ret != ATTEX_OK && strcmp(a->reason, err->message) != 0) {
        fprintf(stderr, "reason and error differ: %s / %s\n", a->reason, err->message);
        tu_failed++;
    }
    return ret;
}

static int has(const char *text, const char *needle)
{
    if (text != NULL && strstr(text, needle) != NULL)
        return 1;
    fprintf(stderr, "  expected \"%s\" in: %s\n", needle, text ? text : "(null)");
    return 0;
}

/* claim returns the string at a dotted path in the claims JSON ("tcb.platform.status"). */
static char *claim(const char *claims, const char *path)
{
    json_t *root = json_loads(claims ? claims : "", 0, NULL), *cur = root;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok(buf, "."); tok != NULL && cur != NULL; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    char *out = json_is_string(cur) ? strdup(json_string_value(cur)) : NULL;
    json_decref(root);
    return out;
}

static int claim_is(const char *claims, const char *path, const char *want)
{
    char *got = claim(claims, path);
    int ok = got != NULL && strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "  claim %s is %s, want %s\n", path, got ? got : "(none)", want);
    free(got);
    return ok;
}

/* ---- parsing ----------------------------------------------------------- */

static void test_parse(void)
{
    size_t n4, n5;
    uint8_t *q4 = load(V4, &n4), *q5 = load(V5, &n5);
    tdx_quote q;
    attex_error err;
    CHECK_RC(tdx_quote_parse(q4, n4, &q, &err), ATTEX_OK, &err);
    CHECK(q.version == 4 && q.body_type == TDX_BODY_TD10 && q.signed_len == 632);
    CHECK(q.trailing == 39);
    CHECK(q.qe_auth_len == 32 && q.pck_chain_len == 3677);
    CHECK(q.qe.isvprodid == 2 && q.qe.isvsvn == 4);
    CHECK(q.body.tee_tcb_svn[0] == 3 && q.body.tee_tcb_svn[2] == 4);
    CHECK_RC(tdx_quote_parse(q5, n5, &q, &err), ATTEX_OK, &err);
    CHECK(q.version == 5 && q.body_type == TDX_BODY_TD15 && q.body_size == 648);
    CHECK(q.signed_len == 702 && q.trailing == 0);
    CHECK(q.pck_chain_len == 3678 && q.qe.isvsvn == 7);
    CHECK(q.body.tee_tcb_svn2[0] == 0x0d);

    /* describe: JSON with the decoded fields */
    attex_buf js = ATTEX_BUF_INIT;
    CHECK_RC(attex_tdx_describe(q4, n4, &js, &err), ATTEX_OK, &err);
    char *text = strndup((const char *)js.data, js.len);
    CHECK(claim_is(text, "td_report.tee_tcb_svn", "03000400000000000000000000000000"));
    CHECK(claim_is(text, "body_type", "TD10"));
    CHECK(claim_is(text, "qe_report.mrsigner",
                   "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"));
    CHECK(has(text, "\"fmspc\":\"50806f000000\""));
    CHECK(has(text, "Intel SGX PCK Certificate"));
    CHECK(has(text, "\"trailing_bytes\":39"));
    free(text);
    attex_buf_free(&js);
    CHECK_RC(attex_tdx_describe(q5, n5, &js, &err), ATTEX_OK, &err);
    text = strndup((const char *)js.data, js.len);
    CHECK(claim_is(text, "body_type", "TD15"));
    CHECK(has(text, "\"fmspc\":\"90c06f000000\""));
    CHECK(has(text, "mrservicetd"));
    free(text);
    attex_buf_free(&js);
    free(q4);
    free(q5);
}

/* Truncation anywhere inside the signed data fails cleanly, naming the place. */
static void test_truncation(void)
{
    size_t n4, n5;
    uint8_t *q4 = load(V4, &n4), *q5 = load(V5, &n5);
    attex_error err;
    tdx_quote q;
    int all4 = 1, all5 = 1;
    for (size_t l = 0; l < V4_END; l++) {
        /* an exact-size heap copy, so that ASan sees any overread */
        uint8_t *c = malloc(l ? l : 1);
        memcpy(c, q4, l);
        all4 &= tdx_quote_parse(c, l, &q, &err) == ATTEX_ERR_DECODE;
        free(c);
    }
    CHECK(all4);
    for (size_t l = 0; l < n5; l++) {
        uint8_t *c = malloc(l ? l : 1);
        memcpy(c, q5, l);
        all5 &= tdx_quote_parse(c, l, &q, &err) == ATTEX_ERR_DECODE;
        free(c);
    }
    CHECK(all5);
    /* the messages name the length field */
    CHECK(tdx_quote_parse(q4, 47, &q, &err) == ATTEX_ERR_DECODE && has(err.message, "header"));
    CHECK(tdx_quote_parse(q4, 600, &q, &err) == ATTEX_ERR_DECODE && has(err.message, "body"));
    CHECK(tdx_quote_parse(q4, 634, &q, &err) == ATTEX_ERR_DECODE &&
          has(err.message, "signature data size"));
    CHECK(tdx_quote_parse(q5, 50, &q, &err) == ATTEX_ERR_DECODE &&
          has(err.message, "body descriptor"));
    /* the v4 sample's unsigned trailing bytes may be cut: the quote still parses */
    CHECK_RC(tdx_quote_parse(q4, V4_END, &q, &err), ATTEX_OK, &err);
    CHECK(q.trailing == 0);

    /* corrupt length fields (little-endian u32/u16 at known offsets) */
    struct {
        size_t off;
        int width;
        uint32_t delta;
        const char *msg;
    } cases[] = {
        {632, 4, 1, "signature data size"},                /* signature data size + 1 (v4 has 39 extra bytes: see below) */
        {632 + 4 + 128 + 2, 4, 1, "certification data size"}, /* type-6 size + 1 */
        {632 + 4 + 128 + 6 + 384 + 64, 2, 4000, "QE authentication data size"},
        {632 + 4 + 128 + 6 + 384 + 64 + 2 + 32 + 2, 4, 1, "PCK chain size"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *c = malloc(V4_END);
        memcpy(c, q4, V4_END);
        uint32_t v = 0;
        for (int k = cases[i].width - 1; k >= 0; k--)
            v = v << 8 | c[cases[i].off + (size_t)k];
        v += cases[i].delta;
        for (int k = 0; k < cases[i].width; k++)
            c[cases[i].off + (size_t)k] = (uint8_t)(v >> (8 * k));
        CHECK(tdx_quote_parse(c, V4_END, &q, &err) == ATTEX_ERR_DECODE &&
              has(err.message, cases[i].msg));
        free(c);
    }
    /* a shorter type-6 size leaves bytes in the signature data */
    {
        uint8_t *c = malloc(V4_END);
        memcpy(c, q4, V4_END);
        c[632 + 4 + 128 + 2] -= 1;
        CHECK(tdx_quote_parse(c, V4_END, &q, &err) == ATTEX_ERR_DECODE &&
              has(err.message, "after the certification data"));
        free(c);
    }
    /* v5 body size that does not fit its type */
    {
        uint8_t *c = malloc(n5);
        memcpy(c, q5, n5);
        c[50] = 0x48; /* 648 -> 584 with type 3 */
        c[51] = 0x02;
        CHECK(tdx_quote_parse(c, n5, &q, &err) == ATTEX_ERR_DECODE && has(err.message, "size"));
        free(c);
    }
    free(q4);
    free(q5);
}

/* SGX quotes, other TEE types, versions, key types, certification data types. */
static void test_wrong_types(void)
{
    size_t n4, n5;
    uint8_t *q4 = load(V4, &n4), *q5 = load(V5, &n5);
    attex_error err;
    tdx_quote q;
    uint8_t *c = malloc(n4);
    struct {
        size_t off;
        uint8_t val;
        const char *msg;
    } cases[] = {
        {4, 0x00, "SGX enclave quote"},  /* TEE type 0x00000000 */
        {4, 0x82, "unknown TEE type"},   /* 0x00000082 */
        {0, 3, "version 3"},             /* an SGX v3 quote */
        {2, 3, "attestation key type 3"}, /* P-384 */
        {12, 0x94, "QE vendor ID"},
        {632 + 4 + 128, 5, "certification data type 5"},
        {632 + 4 + 128 + 6 + 384 + 64 + 2 + 32, 3, "QE certification data type 3"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(c, q4, n4);
        c[cases[i].off] = cases[i].val;
        CHECK(tdx_quote_parse(c, n4, &q, &err) == ATTEX_ERR_DECODE &&
              has(err.message, cases[i].msg));
    }
    free(c);
    c = malloc(n5);
    memcpy(c, q5, n5);
    c[48] = 1; /* v5 body type 1 = SGX */
    CHECK(tdx_quote_parse(c, n5, &q, &err) == ATTEX_ERR_DECODE && has(err.message, "SGX"));
    c[48] = 9;
    CHECK(tdx_quote_parse(c, n5, &q, &err) == ATTEX_ERR_DECODE &&
          has(err.message, "unknown body type 9"));
    free(c);

    /* through the appraisal: a decode failure is an attestation failure */
    attex_tdx_verifier *v = make(tu_source_path(DIR2023), "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v != NULL);
    c = malloc(n4);
    memcpy(c, q4, n4);
    c[4] = 0;
    attex_appraisal a;
    CHECK_RC(appraise(v, c, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "SGX"));
    attex_appraisal_clear(&a);
    free(c);
    attex_tdx_verifier_free(v);
    free(q4);
    free(q5);
}

/* ---- the samples at their times ----------------------------------------- */

static void test_samples(void)
{
    size_t n4, n5;
    uint8_t *q4 = load(V4, &n4), *q5 = load(V5, &n5);
    attex_error err;
    attex_appraisal a;
    char *d23 = source_dir(DIR2023), *d26 = source_dir(DIR2026);

    /* README: v4 at 2023-07-01T01:00:00Z: everything verifies, no TCB level matches. */
    attex_tdx_verifier *v = make(d23, "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v != NULL);
    if (v == NULL)
        fprintf(stderr, "  %s\n", err.message);
    CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_OK, &err);
    CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(has(a.reason, "no TCB level"));
    CHECK(claim_is(a.claims_json, "tcb.status", "NoMatchingTcbLevel"));
    CHECK(claim_is(a.claims_json, "tcb.platform.status", "NoMatchingTcbLevel"));
    CHECK(claim_is(a.claims_json, "tcb.qe.status", "UpToDate"));
    CHECK(claim_is(a.claims_json, "pck.fmspc", "50806f000000"));
    CHECK(claim_is(a.claims_json, "validation_time", "2023-07-01T01:00:00Z"));
    attex_appraisal_clear(&a);
    /* the second appraisal takes the cached chain: same result */
    CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_OK, &err);
    CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "no TCB level"));
    attex_appraisal_clear(&a);
    /* without its trailing bytes too */
    CHECK_RC(appraise(v, q4, V4_END, NULL, &a, &err), ATTEX_OK, &err);
    attex_appraisal_clear(&a);

    /* binding: the sample's own REPORTDATA passes; any other value fails */
    tdx_quote q;
    CHECK_RC(tdx_quote_parse(q4, n4, &q, &err), ATTEX_OK, &err);
    uint8_t rd[64];
    memcpy(rd, q.body.report_data, 64);
    CHECK_RC(appraise(v, q4, n4, rd, &a, &err), ATTEX_OK, &err);
    attex_appraisal_clear(&a);
    for (int pos = 0; pos < 64; pos += 63) {
        rd[pos] ^= 1;
        CHECK_RC(appraise(v, q4, n4, rd, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "binding") &&
              has(a.reason, "REPORTDATA"));
        attex_appraisal_clear(&a);
        rd[pos] ^= 1;
    }
    /* v5 against 2023 collateral: its FMSPC has no TCB Info there */
    CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(has(a.reason, "no TCB Info for the platform's FMSPC 90c06f000000"));
    attex_appraisal_clear(&a);
    attex_tdx_verifier_free(v);

    /*
     * README: v5 with its TCB Info at a time inside its validity: quote, QE
     * report and PCK chain verify, platform UpToDate. No QE Identity or CRLs
     * of 2026 exist in the vectors and the TCB signing certificate of the
     * vectors expired on 2025-05-21, so strict collateral rules refuse it...
     */
    v = make(d26, "2026-02-15T00:00:00Z", 0, NULL, &err);
    CHECK(v != NULL);
    CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(has(a.reason, "CRL is not in the collateral"));
    attex_appraisal_clear(&a);
    attex_tdx_verifier_free(v);
    /* ... and with allow_incomplete_collateral, the TCB is UpToDate, capped at warning. */
    v = make(d26, "2026-02-15T00:00:00Z", 1, NULL, &err);
    CHECK(v != NULL);
    CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_OK, &err);
    CHECK(a.verdict == ATTEX_VERDICT_WARNING);
    CHECK(claim_is(a.claims_json, "tcb.status", "UpToDate"));
    CHECK(claim_is(a.claims_json, "tcb.platform.status", "UpToDate"));
    CHECK(claim_is(a.claims_json, "tcb.tdx_module.status", "UpToDate"));
    CHECK(claim_is(a.claims_json, "tcb.tdx_module.id", "TDX_01"));
    CHECK(has(a.reason, "TCB signing certificate is valid from 2018-05-21T10:50:10Z to "
                        "2025-05-21T10:50:10Z"));
    CHECK(has(a.reason, "no QE Identity"));
    CHECK(has(a.claims_json, "collateral_gaps"));
    attex_appraisal_clear(&a);
    /* v4 against 2026 collateral */
    CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(has(a.reason, "FMSPC 50806f000000"));
    attex_appraisal_clear(&a);
    attex_tdx_verifier_free(v);
    free(d23);
    free(d26);
    free(q4);
    free(q5);
}

/* ---- flipped bytes in every signed region -------------------------------- */

static void test_flipped(void)
{
    size_t n4;
    uint8_t *q4 = load(V4, &n4);
    attex_error err;
    attex_appraisal a;
    tdx_quote q;
    CHECK_RC(tdx_quote_parse(q4, n4, &q, &err), ATTEX_OK, &err);
    size_t qe_off = (size_t)(q.qe_report_raw - q4), auth_off = (size_t)(q.qe_auth - q4),
           chain_off = (size_t)(q.pck_chain - q4);
    attex_tdx_verifier *v = make(tu_source_path(DIR2023), "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v != NULL);
    /*
     * The genuine quote first: its chain, QE report and attestation key are
     * then cached, and every tampered copy below must still be caught.
     */
    CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_OK, &err);
    attex_appraisal_clear(&a);
    struct {
        size_t off;
        const char *msg;
    } cases[] = {
        {0x1C, "quote signature"},                 /* header: user data */
        {0x0A, "quote signature"},                 /* header: QE SVN */
        {0x30 + 0x88, "quote signature"},          /* body: MRTD */
        {0x30 + 0x208, "quote signature"},         /* body: REPORTDATA */
        {0x27C + 5, "quote signature"},            /* the quote signature itself */
        {0x27C + 64 + 3, "QE report data"},        /* the attestation key */
        {qe_off + 0x40, "QE report signature"},    /* QE report: MRENCLAVE */
        {qe_off + 0x140, "QE report signature"},   /* QE report: REPORTDATA */
        {qe_off + 384 + 7, "QE report signature"}, /* its signature */
        {auth_off + 1, "QE report data"},          /* QE authentication data */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *c = malloc(n4);
        memcpy(c, q4, n4);
        c[cases[i].off] ^= 0x01;
        CHECK_RC(appraise(v, c, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, cases[i].msg));
        attex_appraisal_clear(&a);
        free(c);
    }
    /* PCK chain: change one base64 character of the leaf's signature, and of the CA */
    size_t chain_spots[] = {1200, 2000};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *c = malloc(n4);
        memcpy(c, q4, n4);
        size_t o = chain_off + chain_spots[i];
        while (c[o] == '\n' || c[o] == '-')
            o++;
        c[o] = c[o] == 'A' ? 'B' : 'A';
        CHECK_RC(appraise(v, c, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "PCK chain"));
        attex_appraisal_clear(&a);
        free(c);
    }
    /* and the unmodified quote still passes after all that (no poisoned cache) */
    CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_OK, &err);
    attex_appraisal_clear(&a);
    attex_tdx_verifier_free(v);
    free(q4);
}

/* ---- collateral: tampering, wrong root, windows --------------------------- */

/* copy_dir copies a vectors directory into ./name, editing file `edit` with (find -> repl). */
static int copy_dir(const char *src_rel, const char *name, const char *edit, const char *find,
                    const char *repl)
{
    char *src = source_dir(src_rel);
    mkdir(name, 0700);
    DIR *d = opendir(src);
    if (d == NULL)
        return 0;
    struct dirent *de;
    int edited = edit == NULL;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char in[1024], outp[1024];
        snprintf(in, sizeof(in), "%s/%s", src, de->d_name);
        snprintf(outp, sizeof(outp), "%s/%s", name, de->d_name);
        FILE *f = fopen(in, "rb");
        if (f == NULL)
            continue;
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (edit != NULL && strcmp(edit, de->d_name) == 0) {
            char *p = strstr(buf, find);
            if (p != NULL && strlen(find) == strlen(repl)) {
                memcpy(p, repl, strlen(repl));
                edited = 1;
            }
        }
        FILE *o = fopen(outp, "wb");
        if (o == NULL)
            continue;
        fwrite(buf, 1, n, o);
        fclose(o);
    }
    closedir(d);
    free(src);
    return edited;
}

static void remove_dir(const char *name)
{
    DIR *d = opendir(name);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", name, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(name);
}

static void test_collateral(void)
{
    size_t n4;
    uint8_t *q4 = load(V4, &n4);
    attex_error err;
    attex_appraisal a;
    attex_tdx_verifier *v;

    /* a flipped byte in the TCB Info and in the QE Identity: their signatures fail */
    CHECK(copy_dir(DIR2023, "tdx-col-tcb", "sample_tcbInfo_response",
                   "\"tcbEvaluationDataNumber\":15", "\"tcbEvaluationDataNumber\":16"));
    v = make("tdx-col-tcb", "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v == NULL && has(err.message, "sample_tcbInfo_response") &&
          has(err.message, "TCB Info signature"));
    attex_tdx_verifier_free(v);
    remove_dir("tdx-col-tcb");
    CHECK(copy_dir(DIR2023, "tdx-col-qe", "sample_qeIdentity_response", "\"isvsvn\":4",
                   "\"isvsvn\":3"));
    v = make("tdx-col-qe", "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v == NULL && has(err.message, "sample_qeIdentity_response") &&
          has(err.message, "QE Identity signature"));
    attex_tdx_verifier_free(v);
    remove_dir("tdx-col-qe");
    /* a flipped signature hex digit */
    CHECK(copy_dir(DIR2023, "tdx-col-sig", "sample_tcbInfo_response", "\"signature\":\"f6",
                   "\"signature\":\"f7"));
    v = make("tdx-col-sig", "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v == NULL && has(err.message, "does not verify"));
    remove_dir("tdx-col-sig");
    /* a CRL with a flipped byte (in its signature) */
    {
        copy_dir(DIR2023, "tdx-col-crl", NULL, NULL, NULL);
        FILE *f = fopen("tdx-col-crl/rootcrl.der", "r+b");
        CHECK(f != NULL);
        if (f != NULL) {
            fseek(f, 280, SEEK_SET);
            int ch = fgetc(f);
            fseek(f, 280, SEEK_SET);
            fputc(ch ^ 1, f);
            fclose(f);
        }
        v = make("tdx-col-crl", "2023-07-01T01:00:00Z", 0, NULL, &err);
        CHECK(v == NULL && has(err.message, "CRL"));
        attex_tdx_verifier_free(v);
        remove_dir("tdx-col-crl");
    }
    /* an unknown file, and a TCB signing chain that is missing */
    copy_dir(DIR2023, "tdx-col-extra", NULL, NULL, NULL);
    {
        FILE *f = fopen("tdx-col-extra/notes.txt", "wb");
        if (f != NULL) {
            fputs("hello\n", f);
            fclose(f);
        }
    }
    v = make("tdx-col-extra", "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v == NULL && has(err.message, "notes.txt"));
    remove_dir("tdx-col-extra");
    copy_dir(DIR2023, "tdx-col-nosigner", NULL, NULL, NULL);
    unlink("tdx-col-nosigner/tcb_signing_chain.pem");
    v = make("tdx-col-nosigner", "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v == NULL && has(err.message, "TCB signing chain"));
    remove_dir("tdx-col-nosigner");

    /* the same document twice: ambiguous collateral is refused */
    {
        const char *twice[][2] = {{"sample_tcbInfo_response", "a second TCB Info for FMSPC 50806f000000"},
                                  {"sample_qeIdentity_response", "a second QE Identity"},
                                  {"pckcrl", "two CRLs of"}};
        for (size_t i = 0; i < 3; i++) {
            copy_dir(DIR2023, "tdx-col-twice", NULL, NULL, NULL);
            char in[256], outp[256];
            snprintf(in, sizeof(in), "tdx-col-twice/%s", twice[i][0]);
            snprintf(outp, sizeof(outp), "tdx-col-twice/%s.copy", twice[i][0]);
            FILE *f = fopen(in, "rb"), *o = fopen(outp, "wb");
            char data[4096];
            size_t n = f ? fread(data, 1, sizeof(data), f) : 0;
            if (o != NULL)
                fwrite(data, 1, n, o);
            if (f != NULL)
                fclose(f);
            if (o != NULL)
                fclose(o);
            v = make("tdx-col-twice", "2023-07-01T01:00:00Z", 0, NULL, &err);
            CHECK(v == NULL && has(err.message, twice[i][1]));
            attex_tdx_verifier_free(v);
            remove_dir("tdx-col-twice");
        }
    }

    /* wrong root: the collateral does not chain to it */
    {
        EVP_PKEY *k = tu_key("p256");
        X509 *x = tu_cert(k, "Not Intel SGX Root CA", NULL, NULL, 1, 30);
        FILE *f = fopen("tdx-wrong-root.pem", "wb");
        CHECK(f != NULL && PEM_write_X509(f, x) == 1);
        if (f != NULL)
            fclose(f);
        attex_tdx_verifier_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.collateral_dir = tu_source_path(DIR2023);
        cfg.root_ca_pem_path = "tdx-wrong-root.pem";
        cfg.time = at("2023-07-01T01:00:00Z");
        v = attex_tdx_verifier_new(&cfg, &err);
        CHECK(v == NULL && has(err.message, "does not chain to the trusted root"));
        /* with no collateral at all, the quote's own chain is refused by the pinned root */
        mkdir("tdx-col-empty", 0700);
        cfg.collateral_dir = "tdx-col-empty";
        cfg.allow_incomplete_collateral = 1;
        v = attex_tdx_verifier_new(&cfg, &err);
        CHECK(v != NULL);
        CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "is not the pinned trust anchor"));
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
        /* the real root from a file, same empty collateral: now the TCB Info is missing */
        cfg.root_ca_pem_path = tu_source_path("tests/vectors/tdx/intel_sgx_root_ca.pem");
        v = attex_tdx_verifier_new(&cfg, &err);
        CHECK(v != NULL);
        CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "no TCB Info"));
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
        rmdir("tdx-col-empty");
        unlink("tdx-wrong-root.pem");
        X509_free(x);
        EVP_PKEY_free(k);
    }

    /* validity windows at the validation time */
    struct {
        const char *time;
        const char *msg;
    } w[] = {
        {"2023-06-10T00:00:00Z", "the TCB Info is valid from 2023-06-18T08:42:58Z"},
        {"2023-07-18T09:00:00Z", "the TCB Info is valid from"},
        {"2023-07-08T08:00:00Z", "the QE Identity is valid from"},
        {"2030-01-01T00:00:00Z", "the PCK chain (PCK, its CA, the root) is valid from"},
        {"2022-01-01T00:00:00Z", "the PCK chain (PCK, its CA, the root) is valid from"},
    };
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        v = make(tu_source_path(DIR2023), w[i].time, 0, NULL, &err);
        CHECK(v != NULL);
        CHECK_RC(appraise(v, q4, n4, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, w[i].msg));
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
    }
    /* a CRL outside its window: the 2023 CRLs next to the 2026 TCB Info */
    {
        size_t n5;
        uint8_t *q5 = load(V5, &n5);
        copy_dir(DIR2026, "tdx-col-oldcrl", NULL, NULL, NULL);
        char *d23 = source_dir(DIR2023);
        const char *files[] = {"rootcrl.der", "pckcrl", "pck_crl_issuer_chain.pem"};
        for (size_t i = 0; i < 3; i++) {
            char in[1024], outp[256];
            snprintf(in, sizeof(in), "%s/%s", d23, files[i]);
            snprintf(outp, sizeof(outp), "tdx-col-oldcrl/%s", files[i]);
            FILE *f = fopen(in, "rb"), *o = fopen(outp, "wb");
            char buf[4096];
            size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
            if (o != NULL)
                fwrite(buf, 1, n, o);
            if (f != NULL)
                fclose(f);
            if (o != NULL)
                fclose(o);
        }
        free(d23);
        v = make("tdx-col-oldcrl", "2026-02-15T00:00:00Z", 0, NULL, &err);
        CHECK(v != NULL);
        CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "the root CA's CRL is valid from 2023-04-03T10:22:51Z to "
                            "2024-04-02T10:22:51Z, not at the validation time "
                            "2026-02-15T00:00:00Z"));
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
        remove_dir("tdx-col-oldcrl");
        free(q5);
    }
    free(q4);
}

/* ---- policy ------------------------------------------------------------- */

static void test_policy(void)
{
    size_t n5;
    uint8_t *q5 = load(V5, &n5);
    attex_error err;
    attex_appraisal a;
    tdx_quote q;
    CHECK_RC(tdx_quote_parse(q5, n5, &q, &err), ATTEX_OK, &err);
    const tdx_body *b = &q.body;
    const uint8_t *vals[] = {b->mrtd,    b->rtmr[0], b->rtmr[1],      b->rtmr[2], b->rtmr[3],
                             b->mrconfigid, b->mrowner, b->mrownerconfig, b->mrseam};
    const char *names[] = {"mrtd",       "rtmr0",   "rtmr1",         "rtmr2", "rtmr3",
                           "mrconfigid", "mrowner", "mrownerconfig", "mrseam"};
    char hex[9][97], tda[17], xf[17];
    for (size_t i = 0; i < 9; i++)
        util_hex(vals[i], 48, hex[i]);
    util_hex(b->td_attributes, 8, tda);
    util_hex(b->xfam, 8, xf);
    char policy[2048];
    /* every field at the quote's value: passes (warning: the 2026 collateral is incomplete) */
    snprintf(policy, sizeof(policy),
             "{\"mrtd\":\"%s\",\"rtmr0\":\"%s\",\"rtmr1\":\"%s\",\"rtmr2\":\"%s\",\"rtmr3\":\"%s\","
             "\"mrconfigid\":\"%s\",\"mrowner\":\"%s\",\"mrownerconfig\":\"%s\",\"mrseam\":[\"%s\"],"
             "\"td_attributes\":\"%s\",\"xfam\":\"%s\",\"allow_debug\":false}",
             hex[0], hex[1], hex[2], hex[3], hex[4], hex[5], hex[6], hex[7], hex[8], tda, xf);
    attex_tdx_verifier *v = make(tu_source_path(DIR2026), "2026-02-15T00:00:00Z", 1, policy, &err);
    CHECK(v != NULL);
    CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_OK, &err);
    CHECK(a.verdict == ATTEX_VERDICT_WARNING);
    attex_appraisal_clear(&a);
    attex_tdx_verifier_free(v);
    /* each field wrong on its own: contraindicated, naming the field */
    for (size_t i = 0; i < 9; i++) {
        char wrong[97];
        memcpy(wrong, hex[i], sizeof(wrong));
        wrong[0] = wrong[0] == '0' ? '1' : '0';
        /* a list: the quote's value is not in it */
        snprintf(policy, sizeof(policy), "{\"%s\":[\"%s\"]}", names[i], wrong);
        v = make(tu_source_path(DIR2026), "2026-02-15T00:00:00Z", 1, policy, &err);
        CHECK(v != NULL);
        CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_OK, &err);
        char want[256];
        snprintf(want, sizeof(want), "policy: %.20s is %.96s", names[i], hex[i]);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, want));
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
        /* a list where it is: passes */
        snprintf(policy, sizeof(policy), "{\"%s\":[\"%s\",\"%s\"]}", names[i], wrong, hex[i]);
        v = make(tu_source_path(DIR2026), "2026-02-15T00:00:00Z", 1, policy, &err);
        CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_WARNING);
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
    }
    const char *eight[] = {"td_attributes", "xfam"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(policy, sizeof(policy), "{\"%s\":\"ffffffffffffffff\"}", eight[i]);
        v = make(tu_source_path(DIR2026), "2026-02-15T00:00:00Z", 1, policy, &err);
        CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, eight[i]));
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
    }
    /* the policy from a file, and a policy file that is missing */
    {
        FILE *f = fopen("tdx-policy.json", "wb");
        CHECK(f != NULL);
        if (f != NULL) {
            fprintf(f, "{\"mrtd\":\"%s\"}\n", hex[0]);
            fclose(f);
        }
        attex_tdx_verifier_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.collateral_dir = tu_source_path(DIR2026);
        cfg.time = at("2026-02-15T00:00:00Z");
        cfg.allow_incomplete_collateral = 1;
        cfg.policy_path = "tdx-policy.json";
        v = attex_tdx_verifier_new(&cfg, &err);
        CHECK(v != NULL);
        CHECK_RC(appraise(v, q5, n5, NULL, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_WARNING);
        attex_appraisal_clear(&a);
        attex_tdx_verifier_free(v);
        unlink("tdx-policy.json");
        v = attex_tdx_verifier_new(&cfg, &err);
        CHECK(v == NULL && has(err.message, "tdx-policy.json"));
    }
    /* DEBUG: refused by default, accepted with allow_debug */
    tdx_body dbg = q.body;
    char why[300];
    dbg.td_attributes[0] |= 1;
    CHECK(tdx_policy_check_json("{}", &q.body, why, sizeof(why), &err) == ATTEX_OK);
    CHECK(tdx_policy_check_json("{}", &dbg, why, sizeof(why), &err) == ATTEX_ERR_ATTESTATION &&
          has(why, "DEBUG"));
    CHECK(tdx_policy_check_json("{\"allow_debug\":true}", &dbg, why, sizeof(why), &err) ==
          ATTEX_OK);
    /* malformed policies are refused when the verifier is made */
    const char *bad[] = {"[]", "{\"mrtd\":\"00\"}", "{\"nope\":1}", "{\"allow_debug\":1}",
                         "{\"mrtd\":[]}", "{\"xfam\":\"0011\"}", "{\"mrtd\":\"x\",\"mrtd\":\"y\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = make(tu_source_path(DIR2026), "2026-02-15T00:00:00Z", 1, bad[i], &err);
        CHECK(v == NULL && has(err.message, "TDX policy"));
    }
    free(q5);
}

/* ---- TCB levels on synthetic TCB Info ------------------------------------ */

static const char *tcb_info_json(int with_modules)
{
    static char buf[8192];
    char sgx[5][512], td[5][512];
    for (int i = 0; i < 5; i++) {
        /* level i: SGX component 0 and TDX component 2 at 9 - i, the others fixed */
        int o1 = snprintf(sgx[i], sizeof(sgx[i]), "[{\"svn\":%d},{\"svn\":2}", 9 - i);
        int o2 = snprintf(td[i], sizeof(td[i]), "[{\"svn\":3},{\"svn\":0},{\"svn\":%d}", 9 - i);
        for (int k = 2; k < 16; k++)
            o1 += snprintf(sgx[i] + o1, sizeof(sgx[i]) - (size_t)o1, ",{\"svn\":0}");
        for (int k = 3; k < 16; k++)
            o2 += snprintf(td[i] + o2, sizeof(td[i]) - (size_t)o2, ",{\"svn\":0}");
        snprintf(sgx[i] + o1, sizeof(sgx[i]) - (size_t)o1, "]");
        snprintf(td[i] + o2, sizeof(td[i]) - (size_t)o2, "]");
    }
    const char *st[5] = {"UpToDate", "SWHardeningNeeded", "ConfigurationAndSWHardeningNeeded",
                         "OutOfDate", "Revoked"};
    int o = snprintf(buf, sizeof(buf),
                     "{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2024-01-01T00:00:00Z\","
                     "\"nextUpdate\":\"2024-02-01T00:00:00Z\",\"fmspc\":\"00906ed50000\","
                     "\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":1,"
                     "\"tdxModule\":{\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\","
                     "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},",
                     0);
    if (with_modules)
        o += snprintf(buf + o, sizeof(buf) - (size_t)o,
                      "\"tdxModuleIdentities\":[{\"id\":\"TDX_01\",\"mrsigner\":\"%096d\","
                      "\"attributes\":\"0000000000000000\",\"attributesMask\":"
                      "\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[{\"tcb\":{\"isvsvn\":6},\"tcbDate\":"
                      "\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},{\"tcb\":{\"isvsvn\":"
                      "4},\"tcbDate\":\"2023-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\"},"
                      "{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2022-01-01T00:00:00Z\","
                      "\"tcbStatus\":\"Revoked\"}]}],",
                      0);
    o += snprintf(buf + o, sizeof(buf) - (size_t)o, "\"tcbLevels\":[");
    for (int i = 0; i < 5; i++)
        o += snprintf(buf + o, sizeof(buf) - (size_t)o,
                      "%s{\"tcb\":{\"sgxtcbcomponents\":%s,\"pcesvn\":%d,\"tdxtcbcomponents\":%s},"
                      "\"tcbDate\":\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"%s\"%s}",
                      i ? "," : "", sgx[i], 10, td[i], st[i],
                      i == 3 ? ",\"advisoryIDs\":[\"INTEL-SA-00001\"]" : "");
    snprintf(buf + o, sizeof(buf) - (size_t)o, "]}");
    return buf;
}

static void test_tcb_levels(void)
{
    attex_error err;
    tdx_tcb_info ti;
    json_t *j = json_loads(tcb_info_json(0), 0, NULL);
    CHECK(j != NULL);
    CHECK_RC(tdx_tcb_info_parse(j, &ti, &err), ATTEX_OK, &err);
    json_decref(j);
    tdx_pck_ext pck;
    memset(&pck, 0, sizeof(pck));
    pck.pcesvn = 10;
    pck.comp_svn[1] = 2;
    tdx_body body;
    memset(&body, 0, sizeof(body));
    body.tee_tcb_svn[0] = 3;
    /* sgx comp 0 and tdx comp 2 both at level k's value: status of level k */
    const tdx_tcb_status want[6] = {TDX_TCB_UP_TO_DATE, TDX_TCB_SW_HARDENING_NEEDED,
                                    TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
                                    TDX_TCB_OUT_OF_DATE, TDX_TCB_REVOKED, TDX_TCB_NO_MATCH};
    for (int k = 0; k < 6; k++) {
        pck.comp_svn[0] = (uint8_t)(9 - k);
        body.tee_tcb_svn[2] = (uint8_t)(9 - k);
        tdx_tcb_result r;
        CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
        CHECK(r.platform == want[k] && r.final == want[k]);
    }
    /* one component short lowers the level: SGX comp 9 but TDX comp 8 -> level 1 */
    pck.comp_svn[0] = 9;
    body.tee_tcb_svn[2] = 8;
    tdx_tcb_result r;
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.platform == TDX_TCB_SW_HARDENING_NEEDED);
    /* PCESVN below every level: no match */
    pck.pcesvn = 9;
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.platform == TDX_TCB_NO_MATCH);
    pck.pcesvn = 10;
    /* TDX module: MRSIGNERSEAM and SEAMATTRIBUTES must match tdxModule */
    body.mrsignerseam[5] = 1;
    CHECK(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "MRSIGNERSEAM"));
    body.mrsignerseam[5] = 0;
    body.seam_attributes[0] = 1;
    CHECK(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "SEAMATTRIBUTES"));
    body.seam_attributes[0] = 0;
    tdx_tcb_info_clear(&ti);

    /* module identities: TEE_TCB_SVN[1] = 1 selects TDX_01, isvsvn = TEE_TCB_SVN[0] */
    j = json_loads(tcb_info_json(1), 0, NULL);
    CHECK_RC(tdx_tcb_info_parse(j, &ti, &err), ATTEX_OK, &err);
    json_decref(j);
    pck.comp_svn[0] = 9;
    body.tee_tcb_svn[1] = 1;
    body.tee_tcb_svn[2] = 9;
    body.tee_tcb_svn[0] = 6;
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.module == TDX_TCB_UP_TO_DATE && r.final == TDX_TCB_UP_TO_DATE &&
          strcmp(r.module_id, "TDX_01") == 0);
    body.tee_tcb_svn[0] = 5; /* module OutOfDate: converges to OutOfDate */
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.module == TDX_TCB_OUT_OF_DATE && r.platform == TDX_TCB_UP_TO_DATE &&
          r.final == TDX_TCB_OUT_OF_DATE);
    body.tee_tcb_svn[0] = 2;
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.final == TDX_TCB_REVOKED);
    body.tee_tcb_svn[0] = 1;
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.final == TDX_TCB_NO_MATCH);
    /* with module identities, TEE_TCB_SVN[0..1] are not compared with tdxtcbcomponents */
    body.tee_tcb_svn[0] = 6;
    CHECK_RC(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err), ATTEX_OK, &err);
    CHECK(r.platform == TDX_TCB_UP_TO_DATE);
    body.tee_tcb_svn[1] = 2; /* no TDX_02 identity */
    CHECK(tdx_tcb_evaluate(&ti, &pck, &body, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "TDX_02"));
    tdx_tcb_info_clear(&ti);

    /* convergence with the QE and module statuses (Intel QVL) */
    CHECK(tdx_converge(TDX_TCB_UP_TO_DATE, TDX_TCB_OUT_OF_DATE) == TDX_TCB_OUT_OF_DATE);
    CHECK(tdx_converge(TDX_TCB_SW_HARDENING_NEEDED, TDX_TCB_OUT_OF_DATE) == TDX_TCB_OUT_OF_DATE);
    CHECK(tdx_converge(TDX_TCB_CONFIGURATION_NEEDED, TDX_TCB_OUT_OF_DATE) ==
          TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED);
    CHECK(tdx_converge(TDX_TCB_UP_TO_DATE, TDX_TCB_REVOKED) == TDX_TCB_REVOKED);
    CHECK(tdx_converge(TDX_TCB_CONFIGURATION_NEEDED, TDX_TCB_UP_TO_DATE) ==
          TDX_TCB_CONFIGURATION_NEEDED);

    /* verdict mapping */
    CHECK(tdx_verdict_for(TDX_TCB_UP_TO_DATE, ATTEX_VERDICT_NONE) == ATTEX_VERDICT_AFFIRMING);
    CHECK(tdx_verdict_for(TDX_TCB_SW_HARDENING_NEEDED, ATTEX_VERDICT_NONE) ==
          ATTEX_VERDICT_WARNING);
    CHECK(tdx_verdict_for(TDX_TCB_CONFIGURATION_NEEDED, ATTEX_VERDICT_AFFIRMING) ==
          ATTEX_VERDICT_AFFIRMING);
    CHECK(tdx_verdict_for(TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
                          ATTEX_VERDICT_CONTRAINDICATED) == ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(tdx_verdict_for(TDX_TCB_OUT_OF_DATE, ATTEX_VERDICT_AFFIRMING) ==
          ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(tdx_verdict_for(TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED, ATTEX_VERDICT_NONE) ==
          ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(tdx_verdict_for(TDX_TCB_REVOKED, ATTEX_VERDICT_NONE) == ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(tdx_verdict_for(TDX_TCB_NO_MATCH, ATTEX_VERDICT_NONE) == ATTEX_VERDICT_CONTRAINDICATED);

    /* malformed TCB Info: each rule */
    const char *bad[][2] = {
        {"\"id\":\"TDX\"", "\"id\":\"SGX\""},
        {"\"version\":3", "\"version\":2"},
        {"\"fmspc\":\"00906ed50000\"", "\"fmspc\":\"00906ed500\"  "},
        {"\"tcbStatus\":\"Revoked\"", "\"tcbStatus\":\"Rotten\" "},
        {"\"issueDate\":\"2024-01-01T00:00:00Z\"", "\"issueDate\":\"2024-13-01T00:00:00Z\""},
        {"\"tcbType\":0", "\"tcbTypo\":0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = strdup(tcb_info_json(0));
        char *p = strstr(t, bad[i][0]);
        CHECK(p != NULL && strlen(bad[i][0]) == strlen(bad[i][1]));
        if (p != NULL)
            memcpy(p, bad[i][1], strlen(bad[i][1]));
        j = json_loads(t, 0, NULL);
        CHECK(j != NULL && tdx_tcb_info_parse(j, &ti, &err) == ATTEX_ERR_INVALID_ARGUMENT);
        json_decref(j);
        free(t);
    }

    /* QE Identity: identity checks and TCB levels */
    const char *qe_json =
        "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"2023-06-08T07:24:59Z\",\"nextUpdate\":"
        "\"2023-07-08T07:24:59Z\",\"tcbEvaluationDataNumber\":15,\"miscselect\":\"00000000\","
        "\"miscselectMask\":\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\","
        "\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":"
        "\"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5\",\"isvprodid\":2,"
        "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2023-02-15T00:00:00Z\","
        "\"tcbStatus\":\"UpToDate\"},{\"tcb\":{\"isvsvn\":2},\"tcbDate\":"
        "\"2022-02-15T00:00:00Z\",\"tcbStatus\":\"OutOfDate\"}]}";
    tdx_qe_identity qi;
    j = json_loads(qe_json, 0, NULL);
    CHECK_RC(tdx_qe_identity_parse(j, &qi, &err), ATTEX_OK, &err);
    json_decref(j);
    size_t n4;
    uint8_t *q4 = load(V4, &n4);
    tdx_quote q;
    CHECK_RC(tdx_quote_parse(q4, n4, &q, &err), ATTEX_OK, &err);
    CHECK_RC(tdx_qe_evaluate(&qi, &q.qe, &r, &err), ATTEX_OK, &err);
    CHECK(r.qe == TDX_TCB_UP_TO_DATE);
    q.qe.isvsvn = 3;
    CHECK_RC(tdx_qe_evaluate(&qi, &q.qe, &r, &err), ATTEX_OK, &err);
    CHECK(r.qe == TDX_TCB_OUT_OF_DATE);
    q.qe.isvsvn = 1;
    CHECK_RC(tdx_qe_evaluate(&qi, &q.qe, &r, &err), ATTEX_OK, &err);
    CHECK(r.qe == TDX_TCB_NO_MATCH);
    q.qe.isvprodid = 1;
    CHECK(tdx_qe_evaluate(&qi, &q.qe, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "ISVPRODID"));
    q.qe.isvprodid = 2;
    q.qe.mrsigner[0] ^= 1;
    CHECK(tdx_qe_evaluate(&qi, &q.qe, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "MRSIGNER"));
    q.qe.mrsigner[0] ^= 1;
    q.qe.attributes[0] ^= 0x02; /* DEBUG bit of the QE enclave: under the mask */
    CHECK(tdx_qe_evaluate(&qi, &q.qe, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "ATTRIBUTES"));
    q.qe.attributes[0] ^= 0x02;
    q.qe.miscselect = 1;
    CHECK(tdx_qe_evaluate(&qi, &q.qe, &r, &err) == ATTEX_ERR_ATTESTATION &&
          has(err.message, "MISCSELECT"));
    tdx_qe_identity_clear(&qi);
    free(q4);
}

/* One verifier shared by threads: the cache is guarded, every result is the sample's. */
typedef struct thread_arg {
    attex_tdx_verifier *v;
    const uint8_t *q;
    size_t len;
    int ok;
} thread_arg;

static void *appraise_many(void *p)
{
    thread_arg *t = p;
    t->ok = 1;
    for (int i = 0; i < 40; i++) {
        attex_appraisal a;
        attex_error err;
        int ret = attex_tdx_appraise(t->v, t->q, t->len, NULL, 0, NULL, &a, &err);
        t->ok &= ret == ATTEX_OK && a.verdict == ATTEX_VERDICT_CONTRAINDICATED &&
                 strstr(a.reason, "no TCB level") != NULL;
        attex_appraisal_clear(&a);
    }
    return NULL;
}

static void test_threads(void)
{
    size_t n4;
    uint8_t *q4 = load(V4, &n4);
    attex_error err;
    attex_tdx_verifier *v = make(tu_source_path(DIR2023), "2023-07-01T01:00:00Z", 0, NULL, &err);
    CHECK(v != NULL);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].v = v;
        args[i].q = q4;
        args[i].len = n4;
        args[i].ok = 0;
        CHECK(pthread_create(&th[i], NULL, appraise_many, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok);
    }
    attex_tdx_verifier_free(v);
    free(q4);
}

static void test_misc(void)
{
    attex_error err;
    int64_t t;
    char buf[32];
    CHECK_RC(attex_tdx_parse_time("2024-02-29T23:59:59Z", &t, &err), ATTEX_OK, &err);
    tdx_time_format(t, buf);
    CHECK(strcmp(buf, "2024-02-29T23:59:59Z") == 0);
    CHECK(attex_tdx_parse_time("2023-02-29T00:00:00Z", &t, &err) == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_tdx_parse_time("2023-01-01 00:00:00Z", &t, &err) == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_tdx_parse_time("2023-01-01T00:00:00", &t, &err) == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK_RC(attex_tdx_parse_time("1970-01-01T00:00:00Z", &t, &err), ATTEX_OK, &err);
    CHECK(t == 0);
    /* argument checks */
    attex_appraisal a;
    CHECK(attex_tdx_appraise(NULL, NULL, 0, NULL, 0, NULL, &a, &err) ==
          ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_tdx_verifier_new(NULL, &err) == NULL);
    attex_tdx_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.collateral_dir = "no-such-directory";
    CHECK(attex_tdx_verifier_new(&cfg, &err) == NULL && has(err.message, "no-such-directory"));
    attex_tdx_verifier_free(NULL);
    attex_buf js = ATTEX_BUF_INIT;
    CHECK(attex_tdx_describe((const uint8_t *)"x", 1, &js, &err) == ATTEX_ERR_DECODE);
}

int main(void)
{
    test_parse();
    test_truncation();
    test_wrong_types();
    test_samples();
    test_flipped();
    test_collateral();
    test_policy();
    test_tcb_levels();
    test_threads();
    test_misc();
    return tu_finish("test_tdx");
}
