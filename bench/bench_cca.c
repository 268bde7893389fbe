/*
 * attex-bench-cca: CPU cost of appraising an Arm CCA token, next to the
 * cost it cannot avoid: the two ECDSA P-384 signature verifications
 * (platform token with the platform key, realm token with the RAK).
 *
 * Rows (the real TF-RMM sample of tests/vectors/cca, report data 64 x 0xAB):
 *   - attex_cca_appraise with reference values: decode, RAK import (with the
 *     on-curve check), both signatures, binding, policy, claims JSON;
 *   - baseline: two EVP_DigestVerify calls (SHA-384, P-384) with keys
 *     already imported and the Sig_structures already built;
 *   - the decoding alone (cca_token_decode), for information;
 *   - tsm-report decode and dispatch to a stub provider, for information.
 * Measurements are interleaved (round robin, slices of CPU time) and timed
 * with the process CPU clock, so that the ratio holds on a busy machine.
 * Goal: full appraisal within 1.3x the baseline.
 *
 *   attex-bench-cca [--seconds X | --smoke]
 *
 * ATTEX_SOURCE_DIR locates the sample (default: the current directory).
 * Every call's result is checked: a failure ends the run with exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <attex/cca.h>
#include <attex/tsm.h>

#include "cca_internal.h"
#include "cose.h"

#define GOAL_RATIO 1.3
#define SLICE_SECONDS 0.02

static uint8_t token[65536];
static size_t token_len;
static uint8_t report_data[64];
static attex_verifier *verifier, *tsm_verifier;
static EVP_PKEY *plat_key, *rak_key;
static attex_buf tbs[2];
static uint8_t *der_sig[2];
static size_t der_len[2];
static attex_buf tsm_value;
static attex_cmw *tsm_rec;

static void die(const char *what)
{
    fprintf(stderr, "attex-bench-cca: %s\n", what);
    exit(1);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the operations ---------------------------------------------------- */

static void op_full(void)
{
    attex_appraisal a;
    attex_error err;
    if (attex_cca_appraise(verifier->ctx, token, token_len, NULL, 0, report_data, &a, &err) !=
            ATTEX_OK ||
        a.verdict != ATTEX_VERDICT_AFFIRMING)
        die(a.reason);
    attex_appraisal_clear(&a);
}

static void op_baseline(void)
{
    EVP_PKEY *keys[2] = {plat_key, rak_key};
    for (int i = 0; i < 2; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (ctx == NULL || EVP_DigestVerifyInit_ex(ctx, NULL, "SHA384", NULL, NULL, keys[i],
                                                   NULL) <= 0 ||
            EVP_DigestVerify(ctx, der_sig[i], der_len[i], tbs[i].data, tbs[i].len) != 1)
            die("baseline ECDSA verification failed");
        EVP_MD_CTX_free(ctx);
    }
}

static void op_decode(void)
{
    cca_token t;
    char why[300];
    if (!cca_token_decode(token, token_len, &t, why, sizeof(why)))
        die(why);
    cca_token_free(&t);
}

static int stub(void *ctx, const uint8_t *outblob, size_t outblob_len, const uint8_t *auxblob,
                size_t auxblob_len, const uint8_t *rd, attex_appraisal *out, attex_error *err)
{
    (void)ctx;
    (void)outblob;
    (void)auxblob;
    (void)auxblob_len;
    (void)rd;
    (void)err;
    out->verdict = outblob_len > 0 ? ATTEX_VERDICT_AFFIRMING : ATTEX_VERDICT_CONTRAINDICATED;
    snprintf(out->reason, sizeof(out->reason), "stub");
    out->claims_json = NULL;
    return ATTEX_OK;
}

static void op_tsm(void)
{
    attex_binding b;
    memset(&b, 0, sizeof(b));
    attex_appraisal a;
    attex_error err;
    if (tsm_verifier->appraise(tsm_verifier->ctx, tsm_rec, &b, &a, &err) != ATTEX_OK)
        die(err.message);
    attex_appraisal_clear(&a);
}

/* ---- setup ------------------------------------------------------------- */

static size_t read_file(const char *name, uint8_t *buf, size_t max)
{
    const char *dir = getenv("ATTEX_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/vectors/cca/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open the CCA sample (set ATTEX_SOURCE_DIR to the source tree)");
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

/* raw_to_der turns a COSE r || s signature into DER, as libcrypto verifies it. */
static void raw_to_der(const uint8_t *sig, size_t len, uint8_t **der, size_t *der_n)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL), *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        die("signature conversion");
    *der = NULL;
    int n = i2d_ECDSA_SIG(es, der);
    if (n <= 0)
        die("signature conversion");
    *der_n = (size_t)n;
    ECDSA_SIG_free(es);
}

static void setup(void)
{
    static const char policy[] =
        "{\"platform\": {\"implementation_id\": "
        "\"7f454c4602010100000000000000000003003e00010000005058000000000000\","
        " \"sw_components\": [{\"type\": \"BL\", \"version\": \"3.4.2\"}]},"
        " \"realm\": {\"initial_measurement\": "
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}}";
    uint8_t pem[4096];
    size_t pem_len = read_file("cca_platform.pub", pem, sizeof(pem));
    token_len = read_file("cca_token.cbor", token, sizeof(token));
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    plat_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (plat_key == NULL)
        die("cannot read the platform key");
    memset(report_data, 0xAB, sizeof(report_data));
    attex_cca_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.platform_keys = &plat_key;
    cfg.num_platform_keys = 1;
    cfg.policy_json = policy;
    attex_error err;
    verifier = attex_cca_verifier_new(&cfg, &err);
    if (verifier == NULL)
        die(err.message);
    /* The baseline's inputs, prepared once: RAK, Sig_structures, DER signatures. */
    cca_token t;
    char why[300];
    if (!cca_token_decode(token, token_len, &t, why, sizeof(why)))
        die(why);
    rak_key = t.rak;
    t.rak = NULL;
    const cose_sign1 *c[2] = {&t.platform, &t.realm};
    for (int i = 0; i < 2; i++) {
        if (cose_sig_structure(c[i]->prot, c[i]->prot_len, c[i]->payload, c[i]->payload_len,
                               &tbs[i], &err) != ATTEX_OK)
            die(err.message);
        raw_to_der(c[i]->sig, c[i]->sig_len, &der_sig[i], &der_len[i]);
    }
    cca_token_free(&t);
    static attex_tsm_provider provs[1] = {{"tdx_guest", stub, NULL}};
    attex_tsm_verifier_config tc = {provs, 1};
    tsm_verifier = attex_tsm_verifier_new(&tc, &err);
    static uint8_t quote[5000];
    memset(quote, 0x51, sizeof(quote));
    if (tsm_verifier == NULL ||
        attex_tsm_report_encode("tdx_guest", quote, sizeof(quote), quote, 3000, &tsm_value,
                                &err) != ATTEX_OK ||
        (tsm_rec = attex_cmw_record_new(ATTEX_TSM_REPORT_MEDIA_TYPE, tsm_value.data,
                                        tsm_value.len, ATTEX_CMW_IND_EVIDENCE, &err)) == NULL)
        die(err.message);
}

/* ---- measuring --------------------------------------------------------- */

typedef struct row {
    const char *name;
    void (*op)(void);
    unsigned long iters;
    double seconds;
} row;

int main(int argc, char **argv)
{
    int smoke = 0;
    double seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
            if (!(seconds > 0 && seconds <= 3600))
                die("--seconds takes a number of CPU seconds in (0, 3600]");
        } else {
            fprintf(stderr, "usage: attex-bench-cca [--seconds X | --smoke]\n");
            return 2;
        }
    }
    setup();
    row rows[] = {
        {"attex_cca_appraise (full verification, with reference values)", op_full, 0, 0},
        {"baseline: 2 x ECDSA P-384 verify (keys imported, Sig_structures built)", op_baseline,
         0, 0},
        {"cca_token_decode (decoding only)", op_decode, 0, 0},
        {"tsm-report decode + dispatch (stub provider, 8 KB report)", op_tsm, 0, 0},
    };
    size_t nrows = sizeof(rows) / sizeof(rows[0]);
    for (size_t r = 0; r < nrows; r++) /* warm-up, and a check that each works */
        for (int i = 0; i < (smoke ? 1 : 20); i++)
            rows[r].op();
    if (smoke) {
        for (size_t r = 0; r < nrows; r++)
            for (int i = 0; i < 3; i++)
                rows[r].op();
        printf("attex-bench-cca --smoke: every operation ran and succeeded\n");
        return 0;
    }
    /* Round robin: a slice of CPU time per row, until each has `seconds`. */
    for (int done = 0; !done;) {
        done = 1;
        for (size_t r = 0; r < nrows; r++) {
            if (rows[r].seconds >= seconds)
                continue;
            done = 0;
            double t0 = cpu_now(), t1;
            unsigned long n = 0;
            do {
                rows[r].op();
                n++;
                t1 = cpu_now();
            } while (t1 - t0 < SLICE_SECONDS);
            rows[r].iters += n;
            rows[r].seconds += t1 - t0;
        }
    }
    printf("| operation | ops/s | mean µs |\n|---|---:|---:|\n");
    for (size_t r = 0; r < nrows; r++)
        printf("| %s | %.0f | %.1f |\n", rows[r].name, rows[r].iters / rows[r].seconds,
               1e6 * rows[r].seconds / rows[r].iters);
    double full = rows[0].seconds / rows[0].iters, base = rows[1].seconds / rows[1].iters;
    printf("\nfull / baseline = %.2fx (goal: at most %.1fx) %s\n", full / base, GOAL_RATIO,
           full / base <= GOAL_RATIO ? "met" : "NOT met");
    return 0;
}
