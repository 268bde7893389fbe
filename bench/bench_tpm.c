/*
 * attex-bench-tpm: TPM 2.0 quote attestation costs.
 *
 * Rows:
 *   - quotes per second against a swtpm this program starts (in-process
 *     ESAPI over the swtpm TCTI on loopback; each quote is a whole session:
 *     connect, load or create the AK, TPM2_Quote, TPM2_PCR_Read, encode),
 *     with an ECDSA P-256 AK created as a primary key and with an RSA 2048
 *     AK at a persistent handle; wall-clock time, since the TPM is another
 *     process;
 *   - TPM evidence appraisals per second (attex_tpm_evidence_appraise:
 *     decode, parse, pinned-AK lookup, signature, extraData, pcrDigest,
 *     reference values, claims JSON) for both evidence kinds;
 *   - the baseline: one ECDSA P-256 signature verification (SHA-256 over a
 *     183-byte message, as large as the quote's TPMS_ATTEST) with libcrypto.
 *
 * Appraisals and the baseline are interleaved (round robin, a slice each)
 * and timed with the process CPU clock, so machine drift hits both alike.
 * Goal: an ECDSA appraisal costs at most 1.5 P-256 verifications.
 *
 *   attex-bench-tpm [--seconds X | --smoke]
 *
 * --smoke runs a few iterations of each (a ctest): it checks that every
 * operation succeeds, not how fast it is. Every return code is checked; a
 * failure makes the run fail (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <attex/tpm.h>

#include "testutil.h"

#define GOAL_RATIO 1.5
#define RSA_HANDLE 0x81010078u
#define PCRS "sha256:0,1,2,3,4,5,6,7"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct row {
    const char *name;
    unsigned long iters;
    double seconds;
} row;

static void print_row(const row *r, const char *note)
{
    double mean_us = r->iters ? r->seconds / (double)r->iters * 1e6 : 0;
    double ops = r->seconds > 0 ? (double)r->iters / r->seconds : 0;
    printf("| %s | %lu | %.0f | %.1f | %s |\n", r->name, r->iters, ops, mean_us, note);
}

static void fail(const char *what, const attex_error *err)
{
    fprintf(stderr, "attex-bench-tpm: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

/* ---- the baseline: one P-256 verification ------------------------------- */

typedef struct p256 {
    EVP_PKEY *key;
    uint8_t msg[183];
    uint8_t sig[80];
    size_t sig_len;
} p256;

static void p256_verify_once(const p256 *b)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, b->key, NULL) != 1 ||
        EVP_DigestVerify(ctx, b->sig, b->sig_len, b->msg, sizeof(b->msg)) != 1)
        fail("P-256 verification", NULL);
    EVP_MD_CTX_free(ctx);
}

/* ---- appraisals ---------------------------------------------------------- */

typedef struct appraisal_case {
    attex_verifier *v;
    attex_buf ev;
    uint8_t rd[64];
} appraisal_case;

static void appraise_once(const appraisal_case *c)
{
    attex_appraisal ap;
    attex_error err;
    if (attex_tpm_evidence_appraise(c->v, c->ev.data, c->ev.len, c->rd, &ap, &err) != ATTEX_OK ||
        ap.verdict != ATTEX_VERDICT_AFFIRMING)
        fail("appraisal", &err);
    attex_appraisal_clear(&ap);
}

static attex_verifier *verifier_for(attex_attester *a, const char *tcti)
{
    attex_buf pem = ATTEX_BUF_INIT, refs = ATTEX_BUF_INIT;
    attex_error err;
    if (attex_tpm_attester_ak_pem(a, &pem, &err) != ATTEX_OK ||
        attex_tpm_reference_values(tcti, PCRS, &refs, &err) != ATTEX_OK)
        fail("AK or reference values", &err);
    BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    EVP_PKEY *ak = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    char *json = calloc(1, refs.len + 1);
    memcpy(json, refs.data, refs.len);
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_aks = &ak;
    vc.num_trusted_aks = 1;
    vc.reference_values_json = json;
    attex_verifier *v = attex_tpm_verifier_new(&vc, &err);
    if (v == NULL)
        fail("verifier", &err);
    EVP_PKEY_free(ak);
    free(json);
    attex_buf_free(&pem);
    attex_buf_free(&refs);
    return v;
}

int main(int argc, char **argv)
{
    int smoke = 0;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
            if (!(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "attex-bench-tpm: --seconds takes 0 < X <= 3600\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: attex-bench-tpm [--seconds X | --smoke]\n");
            return 2;
        }
    }
    setenv("TSS2_LOG", "all+none", 0);
    attex_error err;
    attex_swtpm *tpm = NULL;
    if (attex_swtpm_start(0, &tpm, &err) != ATTEX_OK)
        fail("starting swtpm (Debian package swtpm)", &err);
    const char *tcti = attex_swtpm_tcti(tpm);
    attex_tpm_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.tcti = tcti;
    ac.pcrs = PCRS;
    attex_attester *ecc = attex_tpm_attester_new(&ac, &err);
    if (ecc == NULL)
        fail("ECDSA attester", &err);
    attex_buf pem = ATTEX_BUF_INIT;
    if (attex_tpm_ak_provision(tcti, ATTEX_TPM_AK_RSA_2048, RSA_HANDLE, &pem, &err) != ATTEX_OK)
        fail("RSA AK provisioning", &err);
    attex_buf_free(&pem);
    ac.ak_handle = RSA_HANDLE;
    attex_attester *rsa = attex_tpm_attester_new(&ac, &err);
    if (rsa == NULL)
        fail("RSA attester", &err);

    appraisal_case cases[2];
    attex_attester *atts[2] = {ecc, rsa};
    row quotes[2] = {{"quote, ECDSA P-256 AK (created primary), swtpm", 0, 0},
                     {"quote, RSA 2048 AK (persistent handle), swtpm", 0, 0}};
    unsigned long min_quotes = smoke ? 2 : 20;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 64; i++)
            cases[k].rd[i] = (uint8_t)(i * 7 + k);
        cases[k].v = verifier_for(atts[k], tcti);
        cases[k].ev.data = NULL;
        cases[k].ev.len = 0;
        double t0 = clock_s(CLOCK_MONOTONIC);
        do {
            attex_buf_free(&cases[k].ev);
            if (attex_tpm_attester_evidence(atts[k], cases[k].rd, &cases[k].ev, &err) != ATTEX_OK)
                fail("quote", &err);
            quotes[k].iters++;
            quotes[k].seconds = clock_s(CLOCK_MONOTONIC) - t0;
        } while (quotes[k].iters < min_quotes || (!smoke && quotes[k].seconds < seconds));
    }

    /* The baseline's key and signature. */
    p256 base;
    base.key = tu_key("p256");
    for (size_t i = 0; i < sizeof(base.msg); i++)
        base.msg[i] = (uint8_t)i;
    base.sig_len = sizeof(base.sig);
    EVP_MD_CTX *sctx = EVP_MD_CTX_new();
    if (base.key == NULL || sctx == NULL ||
        EVP_DigestSignInit_ex(sctx, NULL, "SHA256", NULL, NULL, base.key, NULL) != 1 ||
        EVP_DigestSign(sctx, base.sig, &base.sig_len, base.msg, sizeof(base.msg)) != 1)
        fail("P-256 signing", NULL);
    EVP_MD_CTX_free(sctx);
    /* Convert to a public-only key, as a verifier holds. */
    uint8_t *der = NULL;
    int der_len = i2d_PUBKEY(base.key, &der);
    const uint8_t *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, der_len);
    OPENSSL_free(der);
    EVP_PKEY_free(base.key);
    base.key = pub;

    row rows[3] = {{"appraisal, ECDSA P-256 quote evidence", 0, 0},
                   {"appraisal, RSA 2048 quote evidence", 0, 0},
                   {"baseline: one ECDSA P-256 verify (SHA-256, 183 bytes)", 0, 0}};
    unsigned long slice = smoke ? 2 : 50;
    int rounds = smoke ? 1 : 20;
    for (int w = 0; w < (smoke ? 1 : 50); w++) { /* warm-up, untimed */
        appraise_once(&cases[0]);
        appraise_once(&cases[1]);
        p256_verify_once(&base);
    }
    for (int r = 0; r < rounds || (!smoke && rows[2].seconds < seconds); r++) {
        for (int k = 0; k < 3; k++) {
            double t0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            for (unsigned long i = 0; i < slice; i++) {
                if (k < 2)
                    appraise_once(&cases[k]);
                else
                    p256_verify_once(&base);
            }
            rows[k].seconds += clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
            rows[k].iters += slice;
        }
    }

    double ratio = (rows[0].seconds / (double)rows[0].iters) /
                   (rows[2].seconds / (double)rows[2].iters);
    printf("%s\n\n", smoke ? "attex-bench-tpm (smoke run: not a measurement)"
                           : "attex-bench-tpm: TPM 2.0 quote attestation");
    printf("| operation | iterations | ops/s | mean µs | note |\n");
    printf("|---|---:|---:|---:|---|\n");
    print_row(&quotes[0], "wall clock, 8 PCRs, includes swtpm");
    print_row(&quotes[1], "wall clock, 8 PCRs, includes swtpm");
    char note[96];
    snprintf(note, sizeof(note), "CPU; %.2fx the baseline (goal <= %.1fx)", ratio, GOAL_RATIO);
    print_row(&rows[0], note);
    snprintf(note, sizeof(note), "CPU; %.2fx the baseline",
             (rows[1].seconds / (double)rows[1].iters) / (rows[2].seconds / (double)rows[2].iters));
    print_row(&rows[1], note);
    print_row(&rows[2], "CPU; libcrypto only");
    printf("\nECDSA appraisal / P-256 verify = %.2f (goal <= %.1f): %s\n", ratio, GOAL_RATIO,
           smoke ? "not judged in a smoke run" : ratio <= GOAL_RATIO ? "met" : "NOT met");

    attex_tpm_verifier_free(cases[0].v);
    attex_tpm_verifier_free(cases[1].v);
    attex_buf_free(&cases[0].ev);
    attex_buf_free(&cases[1].ev);
    EVP_PKEY_free(base.key);
    attex_tpm_attester_free(ecc);
    attex_tpm_attester_free(rsa);
    attex_swtpm_stop(tpm);
    return 0;
}
