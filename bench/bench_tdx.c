/*
 * attex-bench-tdx: CPU cost of appraising an Intel TDX quote, next to the
 * cost of the signature verifications no verifier can avoid.
 *
 * Input: the real v4 quote and its 2023 collateral from tests/vectors/tdx
 * (found through ATTEX_SOURCE_DIR, default "."), validated at
 * 2023-07-01T01:00:00Z, with the quote's own REPORTDATA as the expected
 * report data. Its verdict is contraindicated (no TCB level matches), but
 * every check runs: the result does not shorten the work.
 *
 * Rows:
 *   - full appraisal (attex_tdx_appraise), verifier made once: collateral
 *     and the PCK chain cached, as in a running verifier;
 *   - baseline: the two ECDSA P-256/SHA-256 verifications every quote needs
 *     whatever is cached (quote signature by the attestation key, QE report
 *     signature by the PCK key), keys already imported, DER signatures ready;
 *   - for reference: the quote signature alone (the one verification a
 *     quote from a known platform needs when its QE report, which a QE signs
 *     once per attestation key, was verified before); those two plus the PCK
 *     leaf's signature by its CA (what a verifier without a chain cache pays
 *     at least); the quote parser alone; making a verifier (reading and
 *     verifying the collateral).
 *
 * Measurements are interleaved (round robin, a slice each) on the process
 * CPU clock, so that drifts in machine speed touch all rows alike. Every
 * return code is checked in every mode; a failure makes the run fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attex/attex.h>
#include <attex/tdx.h>

#include "tdx_internal.h"
#include "testutil.h"

#define QUOTE "tests/vectors/tdx/tdx_prod_quote_SPR_E4.dat"
#define COLLATERAL "tests/vectors/tdx/collateral-2023"
#define WHEN "2023-07-01T01:00:00Z"
#define GOAL_US 1000.0
#define GOAL_RATIO 1.3

enum { ROW_FULL, ROW_BASE2, ROW_BASE1, ROW_BASE3, ROW_PARSE, ROW_NEW, ROWS };
static const char *const row_names[ROWS] = {
    "full appraisal (collateral and PCK chain cached)",
    "baseline: 2 ECDSA P-256 verifies (quote, QE report)",
    "reference: 1 ECDSA P-256 verify (quote signature only)",
    "reference: 3 ECDSA P-256 verifies (+ PCK leaf by its CA)",
    "reference: quote parser only",
    "reference: attex_tdx_verifier_new (load + verify collateral)"};

typedef struct ctx {
    uint8_t *quote;
    size_t quote_len;
    uint8_t report_data[64];
    attex_tdx_verifier *v;
    attex_tdx_verifier_config cfg;
    EVP_PKEY *att_key, *pck_key, *ca_key;
    const uint8_t *signed_part, *qe_report;
    size_t signed_len;
    uint8_t qsig_der[80], qesig_der[80];
    size_t qsig_len, qesig_len;
    X509 *leaf;
} ctx;

static double now_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        perror("attex-bench-tdx: clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const attex_error *err)
{
    fprintf(stderr, "attex-bench-tdx: %s failed%s%s\n", what, err ? ": " : "",
            err ? err->message : "");
    exit(1);
}

static size_t raw_to_der(const uint8_t sig[64], uint8_t *out, size_t cap)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    if (s == NULL || r == NULL || ss == NULL || ECDSA_SIG_set0(s, r, ss) != 1)
        die("ECDSA_SIG", NULL);
    int n = i2d_ECDSA_SIG(s, NULL);
    unsigned char *p = out;
    if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(s, &p) != n)
        die("i2d_ECDSA_SIG", NULL);
    ECDSA_SIG_free(s);
    return (size_t)n;
}

static int verify_der(EVP_PKEY *k, const uint8_t *msg, size_t len, const uint8_t *sig,
                      size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, msg, len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void setup(ctx *c)
{
    const char *path = tu_source_path(QUOTE);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "attex-bench-tdx: cannot open %s (set ATTEX_SOURCE_DIR)\n", path);
        exit(1);
    }
    c->quote = malloc(65536);
    if (c->quote == NULL)
        die("malloc", NULL);
    c->quote_len = fread(c->quote, 1, 65536, f);
    fclose(f);
    attex_error err;
    tdx_quote q;
    if (tdx_quote_parse(c->quote, c->quote_len, &q, &err) != ATTEX_OK)
        die("parsing the quote", &err);
    memcpy(c->report_data, q.body.report_data, 64);
    memset(&c->cfg, 0, sizeof(c->cfg));
    c->cfg.collateral_dir = strdup(tu_source_path(COLLATERAL));
    if (attex_tdx_parse_time(WHEN, &c->cfg.time, &err) != ATTEX_OK)
        die("time", &err);
    c->v = attex_tdx_verifier_new(&c->cfg, &err);
    if (c->v == NULL)
        die("attex_tdx_verifier_new", &err);

    /* keys and DER signatures for the baseline rows */
    uint8_t point[65] = {0x04};
    memcpy(point + 1, q.att_key, 64);
    BIO *b = BIO_new_mem_buf(q.pck_chain, (int)q.pck_chain_len);
    c->leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (c->leaf == NULL || ca == NULL)
        die("reading the PCK chain", NULL);
    c->pck_key = X509_get_pubkey(c->leaf);
    c->ca_key = X509_get_pubkey(ca);
    X509_free(ca);
    {
        EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM params[3] = {
            OSSL_PARAM_construct_utf8_string("group", (char *)"prime256v1", 0),
            OSSL_PARAM_construct_octet_string("pub", point, sizeof(point)), OSSL_PARAM_END};
        if (kc == NULL || EVP_PKEY_fromdata_init(kc) != 1 ||
            EVP_PKEY_fromdata(kc, &c->att_key, EVP_PKEY_PUBLIC_KEY, params) != 1)
            die("importing the attestation key", NULL);
        EVP_PKEY_CTX_free(kc);
    }
    c->signed_part = q.signed_part;
    c->signed_len = q.signed_len;
    c->qe_report = q.qe_report_raw;
    c->qsig_len = raw_to_der(q.quote_sig, c->qsig_der, sizeof(c->qsig_der));
    c->qesig_len = raw_to_der(q.qe_report_sig, c->qesig_der, sizeof(c->qesig_der));
}

static void run_op(ctx *c, int row)
{
    attex_error err;
    switch (row) {
    case ROW_FULL: {
        attex_appraisal a;
        int ret = attex_tdx_appraise(c->v, c->quote, c->quote_len, NULL, 0, c->report_data, &a,
                                     &err);
        /* The sample's documented outcome: appraised, no TCB level matches. */
        if (ret != ATTEX_OK || a.verdict != ATTEX_VERDICT_CONTRAINDICATED)
            die("attex_tdx_appraise", &err);
        attex_appraisal_clear(&a);
        break;
    }
    case ROW_BASE3:
        if (X509_verify(c->leaf, c->ca_key) != 1)
            die("PCK leaf signature", NULL);
        /* fall through */
    case ROW_BASE2:
        if (!verify_der(c->att_key, c->signed_part, c->signed_len, c->qsig_der, c->qsig_len) ||
            !verify_der(c->pck_key, c->qe_report, 384, c->qesig_der, c->qesig_len))
            die("baseline verification", NULL);
        break;
    case ROW_BASE1:
        if (!verify_der(c->att_key, c->signed_part, c->signed_len, c->qsig_der, c->qsig_len))
            die("baseline verification", NULL);
        break;
    case ROW_PARSE: {
        tdx_quote q;
        if (tdx_quote_parse(c->quote, c->quote_len, &q, &err) != ATTEX_OK)
            die("tdx_quote_parse", &err);
        break;
    }
    case ROW_NEW: {
        attex_tdx_verifier *v = attex_tdx_verifier_new(&c->cfg, &err);
        if (v == NULL)
            die("attex_tdx_verifier_new", &err);
        attex_tdx_verifier_free(v);
        break;
    }
    default:
        break;
    }
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    int smoke = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
            if (!(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "attex-bench-tdx: --seconds must be in (0, 3600]\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: attex-bench-tdx [--seconds X | --smoke]\n"
                            "  --seconds X  CPU time budget of the whole run (default 2)\n"
                            "  --smoke      a few iterations of each row: checks that every\n"
                            "               operation succeeds, times nothing meaningful\n");
            return 2;
        }
    }
    ctx c;
    memset(&c, 0, sizeof(c));
    setup(&c);
    double total[ROWS] = {0};
    unsigned long iters[ROWS] = {0};
    /* Slices: the verifier-making row is slow, so it gets fewer iterations per slice. */
    const unsigned long slice[ROWS] = {50, 50, 50, 50, 500, 2};
    for (int r = 0; r < ROWS; r++) /* warm-up, untimed */
        run_op(&c, r);
    double start = now_s();
    for (unsigned long round = 0;; round++) {
        for (int r = 0; r < ROWS; r++) {
            unsigned long n = smoke ? 2 : slice[r];
            double t0 = now_s();
            for (unsigned long k = 0; k < n; k++)
                run_op(&c, r);
            total[r] += now_s() - t0;
            iters[r] += n;
        }
        if (smoke ? round >= 1 : now_s() - start >= seconds)
            break;
    }
    printf("## attex-bench-tdx (%s)\n\n", smoke ? "smoke run: timings not meaningful" : "CPU time");
    printf("Quote: %s, collateral %s at %s\n\n", QUOTE, COLLATERAL, WHEN);
    printf("| operation | ops/s | mean µs | × baseline |\n|---|---:|---:|---:|\n");
    double base = total[ROW_BASE2] / (double)iters[ROW_BASE2];
    for (int r = 0; r < ROWS; r++) {
        double mean = total[r] / (double)iters[r];
        printf("| %s | %.0f | %.1f | %.2f |\n", row_names[r], 1.0 / mean, mean * 1e6, mean / base);
    }
    double full = total[ROW_FULL] / (double)iters[ROW_FULL];
    printf("\nGoal: full appraisal under %.0f µs and within %.1f× the baseline: %s "
           "(%.1f µs, %.2f×)\n",
           GOAL_US, GOAL_RATIO,
           smoke ? "not judged in a smoke run"
                 : (full * 1e6 < GOAL_US && full / base <= GOAL_RATIO ? "met" : "NOT met"),
           full * 1e6, full / base);
    attex_tdx_verifier_free(c.v);
    free((void *)(uintptr_t)c.cfg.collateral_dir);
    free(c.quote);
    EVP_PKEY_free(c.att_key);
    EVP_PKEY_free(c.pck_key);
    EVP_PKEY_free(c.ca_key);
    X509_free(c.leaf);
    return 0;
}
