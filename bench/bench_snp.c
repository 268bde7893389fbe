/*
 * attex-bench-snp: CPU cost of verifying an SEV-SNP report (docs/snp.md)
 * next to the one ECDSA P-384 verification that no verifier can avoid.
 *
 * Input: the real Milan report of tests/vectors/snp/ (found through
 * ATTEX_SOURCE_DIR), verified at a fixed time inside its certificates'
 * validity, with the policy {"allow_debug": true} so that it is affirming.
 *
 * Rows:
 *   - baseline: one ECDSA P-384/SHA-384 verification of the report's
 *     signature over its 672 signed bytes with the VCEK key (EVP_DigestVerify,
 *     signature converted to DER once, outside the timing);
 *   - attex_snp_appraise with the certificates in a certificate table
 *     (auxblob, DER), one verifier for the whole run: the ASK/ARK and the
 *     VCEK were checked on the first call and are taken from the cache;
 *   - the same with the certificates from configured files (no auxblob);
 *   - cold: a new verifier per report (built-in ARKs loaded and checked,
 *     ASK and VCEK verified): what the cache saves.
 *
 * Measurements are interleaved (round robin, a slice of CPU time each) so
 * that drifts in machine speed touch every row alike. CPU time of this
 * process (CLOCK_PROCESS_CPUTIME_ID). Every call's result is checked; a
 * failure fails the run (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attex/snp.h>

#include "snp_internal.h"
#include "testutil.h"

#define SAMPLE_TIME 1700000000 /* 2023-11-14: inside the sample certificates' validity */
#define GOAL_RATIO 1.3         /* cached full verification vs one ECDSA P-384 verify */
#define DEFAULT_SECONDS 1.0
#define SLICE_SECONDS 0.05
#define SMOKE_ITERS 3UL

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct ctx {
    attex_buf report, table;
    EVP_PKEY *vcek_key;
    unsigned char *sig_der;
    size_t sig_der_len;
    attex_snp_verifier *cached_table, *cached_files;
    attex_snp_verifier_config files_cfg, table_cfg;
    uint8_t report_data[64];
    char *vcek_path, *ask_path;
} ctx;

typedef int (*op_fn)(ctx *c);

static int op_ecdsa(ctx *c)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL && EVP_DigestVerifyInit(m, NULL, EVP_sha384(), NULL, c->vcek_key) == 1 &&
             EVP_DigestVerify(m, c->sig_der, c->sig_der_len, c->report.data, SNP_SIGNED_LEN) ==
                 1;
    EVP_MD_CTX_free(m);
    return ok;
}

static int appraise(attex_snp_verifier *v, ctx *c, const attex_buf *table)
{
    attex_appraisal a;
    attex_error err;
    int rc = attex_snp_appraise(v, c->report.data, c->report.len, table ? table->data : NULL,
                                table ? table->len : 0, c->report_data, &a, &err);
    int ok = rc == ATTEX_OK && a.verdict == ATTEX_VERDICT_AFFIRMING;
    if (!ok)
        fprintf(stderr, "attex-bench-snp: appraisal failed: %s\n",
                rc == ATTEX_OK ? a.reason : err.message);
    attex_appraisal_clear(&a);
    return ok;
}

static int op_table(ctx *c)
{
    return appraise(c->cached_table, c, &c->table);
}

static int op_files(ctx *c)
{
    return appraise(c->cached_files, c, NULL);
}

static int op_cold(ctx *c)
{
    attex_error err;
    attex_snp_verifier *v = attex_snp_verifier_new(&c->table_cfg, &err);
    int ok = v != NULL && appraise(v, c, &c->table);
    attex_snp_verifier_free(v);
    return ok;
}

typedef struct row {
    const char *name;
    op_fn fn;
    double secs;
    unsigned long iters;
} row;

static int load(ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->report_data[0] = 1, c->report_data[1] = 2, c->report_data[2] = 3;
    c->report_data[3] = 4, c->report_data[4] = 5;
    c->vcek_path = strdup(tu_source_path("tests/vectors/snp/vcek.der"));
    c->ask_path = strdup(tu_source_path("tests/vectors/snp/ask_ark_milan.pem"));
    const char *rp = tu_source_path("tests/vectors/snp/attestation.bin");
    FILE *f = fopen(rp, "rb");
    if (f == NULL) {
        fprintf(stderr, "attex-bench-snp: cannot open %s (set ATTEX_SOURCE_DIR)\n", rp);
        return 0;
    }
    c->report.data = malloc(ATTEX_SNP_REPORT_SIZE + 1);
    c->report.len = fread(c->report.data, 1, ATTEX_SNP_REPORT_SIZE + 1, f);
    fclose(f);
    snp_report r;
    attex_error err;
    if (snp_report_parse(c->report.data, c->report.len, &r, &err) != ATTEX_OK) {
        fprintf(stderr, "attex-bench-snp: %s\n", err.message);
        return 0;
    }
    /* The VCEK and the ASK/ARK, as DER, for the key and the table. */
    X509 *vcek = NULL, *ask = NULL, *ark = NULL;
    f = fopen(c->vcek_path, "rb");
    if (f != NULL) {
        vcek = d2i_X509_fp(f, NULL);
        fclose(f);
    }
    f = fopen(c->ask_path, "r");
    if (f != NULL) {
        ask = PEM_read_X509(f, NULL, NULL, NULL);
        ark = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (vcek == NULL || ask == NULL || ark == NULL) {
        fprintf(stderr, "attex-bench-snp: cannot read the sample certificates\n");
        X509_free(vcek);
        X509_free(ask);
        X509_free(ark);
        return 0;
    }
    c->vcek_key = X509_get_pubkey(vcek);
    X509 *certs[3] = {vcek, ask, ark};
    static const uint8_t guids[3][16] = {
        {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8,
         0xac, 0xcd},
        {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27,
         0xc7, 0x82},
        {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c,
         0xd0, 0xae}};
    unsigned char *der[3] = {NULL, NULL, NULL};
    int len[3];
    size_t total = 24 * 4;
    for (int i = 0; i < 3; i++) {
        len[i] = i2d_X509(certs[i], &der[i]);
        total += (size_t)len[i];
    }
    c->table.data = calloc(1, total);
    c->table.len = total;
    size_t off = 24 * 4;
    for (int i = 0; i < 3; i++) {
        memcpy(c->table.data + 24 * i, guids[i], 16);
        for (int b = 0; b < 4; b++) {
            c->table.data[24 * i + 16 + b] = (uint8_t)(off >> (8 * b));
            c->table.data[24 * i + 20 + b] = (uint8_t)((size_t)len[i] >> (8 * b));
        }
        memcpy(c->table.data + off, der[i], (size_t)len[i]);
        off += (size_t)len[i];
        OPENSSL_free(der[i]);
        X509_free(certs[i]);
    }
    /* The signature as DER, once. */
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(r.sig_r, 48, NULL), BN_bin2bn(r.sig_s, 48, NULL));
    unsigned char *sd = NULL;
    int sl = i2d_ECDSA_SIG(sig, &sd);
    ECDSA_SIG_free(sig);
    c->sig_der = sd;
    c->sig_der_len = sl > 0 ? (size_t)sl : 0;

    c->table_cfg.policy_json = "{\"allow_debug\": true}";
    c->table_cfg.validation_time = SAMPLE_TIME;
    c->files_cfg = c->table_cfg;
    c->files_cfg.vcek_path = c->vcek_path;
    c->files_cfg.ask_path = c->ask_path;
    c->cached_table = attex_snp_verifier_new(&c->table_cfg, &err);
    if (c->cached_table == NULL) {
        fprintf(stderr, "attex-bench-snp: %s\n", err.message);
        return 0;
    }
    c->cached_files = attex_snp_verifier_new(&c->files_cfg, &err);
    if (c->cached_files == NULL) {
        fprintf(stderr, "attex-bench-snp: %s\n", err.message);
        return 0;
    }
    return 1;
}

static void unload(ctx *c)
{
    attex_buf_free(&c->report);
    attex_buf_free(&c->table);
    EVP_PKEY_free(c->vcek_key);
    OPENSSL_free(c->sig_der);
    attex_snp_verifier_free(c->cached_table);
    attex_snp_verifier_free(c->cached_files);
    free(c->vcek_path);
    free(c->ask_path);
}

int main(int argc, char **argv)
{
    int smoke = 0;
    double seconds = DEFAULT_SECONDS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end = NULL;
            seconds = strtod(argv[++i], &end);
            if (end == NULL || *end != '\0' || !(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "attex-bench-snp: --seconds wants a number in (0, 3600]\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: attex-bench-snp [--seconds X | --smoke]\n"
                            "  --seconds X  CPU seconds per row (default %.1f)\n"
                            "  --smoke      a few iterations per row: checks, no numbers\n",
                    DEFAULT_SECONDS);
            return 2;
        }
    }
    ctx c;
    if (!load(&c)) {
        unload(&c);
        return 1;
    }
    row rows[] = {{"ECDSA P-384 verify (baseline)", op_ecdsa, 0, 0},
                  {"attex_snp_appraise, table, cached chain", op_table, 0, 0},
                  {"attex_snp_appraise, files, cached chain", op_files, 0, 0},
                  {"attex_snp_appraise, cold (new verifier)", op_cold, 0, 0}};
    size_t nrows = sizeof(rows) / sizeof(rows[0]);
    /* Warm-up, untimed: fills the caches and checks every row works. */
    for (size_t r = 0; r < nrows; r++)
        if (!rows[r].fn(&c)) {
            fprintf(stderr, "attex-bench-snp: %s failed\n", rows[r].name);
            unload(&c);
            return 1;
        }
    int failed = 0;
    if (smoke) {
        for (size_t r = 0; r < nrows && !failed; r++)
            for (unsigned long i = 0; i < SMOKE_ITERS && !failed; i++) {
                double t0 = cpu_now();
                failed = !rows[r].fn(&c);
                rows[r].secs += cpu_now() - t0;
                rows[r].iters++;
            }
    } else {
        int remaining = 1;
        while (remaining && !failed) {
            remaining = 0;
            for (size_t r = 0; r < nrows && !failed; r++) {
                if (rows[r].secs >= seconds)
                    continue;
                remaining = 1;
                double t0 = cpu_now(), t = t0;
                while (t - t0 < SLICE_SECONDS && !failed) {
                    failed = !rows[r].fn(&c);
                    rows[r].iters++;
                    t = cpu_now();
                }
                rows[r].secs += t - t0;
            }
        }
    }
    if (failed) {
        fprintf(stderr, "attex-bench-snp: an operation failed; no numbers\n");
        unload(&c);
        return 1;
    }
    printf("# attex-bench-snp%s\n\n", smoke ? " (smoke run: not a measurement)" : "");
    printf("%s, one thread, CPU time; Milan sample report, 1184 bytes\n\n",
           OpenSSL_version(OPENSSL_VERSION));
    printf("| operation | ops/s | mean µs | vs ECDSA P-384 verify |\n");
    printf("|---|---:|---:|---:|\n");
    double base = rows[0].secs / (double)rows[0].iters;
    for (size_t r = 0; r < nrows; r++) {
        double mean = rows[r].secs / (double)rows[r].iters;
        printf("| %s | %.0f | %.1f | %.2fx |\n", rows[r].name, 1.0 / mean, mean * 1e6,
               mean / base);
    }
    double ratio = (rows[1].secs / (double)rows[1].iters) / base;
    printf("\nGoal: cached full verification within %.1fx of one ECDSA P-384 verify: %s "
           "(%.2fx)\n",
           GOAL_RATIO,
           smoke ? "not measured in a smoke run" : ratio <= GOAL_RATIO ? "met" : "NOT met",
           ratio);
    unload(&c);
    return 0;
}
