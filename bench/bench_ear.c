/*
 * attex-bench-ear: CPU cost of EAR validation and issuing, next to the cost
 * of the one ES256 verification (and signature) each contains, measured in
 * the same run.
 *
 * Rows:
 *   - ES256 verify (baseline): EVP_DigestVerify of one P-256 signature over
 *     the EAR's signing input (DER signature prepared beforehand);
 *   - attex_ear_validate: a two-submodule EAR (current draft names) with
 *     eat_nonce checked, one trusted key;
 *   - attex_ear_validate with 4 trusted keys, the right one last (the cost of
 *     trying keys in turn);
 *   - ES256 sign (baseline) and attex_ear_issue.
 * The measurements are interleaved (round robin, a slice of CPU time each)
 * so that drifts in machine speed touch every row alike. Every return code
 * is checked: a failing operation fails the run (exit 1).
 *
 *   attex-bench-ear [--seconds X | --smoke]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include <attex/ear.h>

#include "testutil.h"

#define NROWS 5

typedef struct ctx {
    EVP_PKEY *key, *others[3];
    attex_ear ear;
    attex_buf jwt;
    size_t signing_len;
    uint8_t der[80];
    size_t der_len;
    uint8_t nonce[32];
} ctx;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const attex_error *e)
{
    fprintf(stderr, "attex-bench-ear: %s failed%s%s\n", what, e ? ": " : "",
            e ? e->message : "");
    exit(1);
}

static void op_verify(ctx *c)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (m == NULL || EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, c->key, NULL) != 1 ||
        EVP_DigestVerify(m, c->der, c->der_len, c->jwt.data, c->signing_len) != 1)
        die("ES256 verify", NULL);
    EVP_MD_CTX_free(m);
}

static void op_validate(ctx *c, int many)
{
    EVP_PKEY *keys[4] = {c->others[0], c->others[1], c->others[2], c->key};
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = many ? keys : keys + 3;
    o.num_keys = many ? 4 : 1;
    o.now = c->ear.iat;
    o.nonce = c->nonce;
    o.nonce_len = sizeof(c->nonce);
    attex_ear out;
    attex_error e;
    if (attex_ear_validate(c->jwt.data, c->jwt.len, &o, &out, &e) != ATTEX_OK)
        die("attex_ear_validate", &e);
}

static void op_sign(ctx *c)
{
    uint8_t der[80];
    size_t n = sizeof(der);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (m == NULL || EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, c->key, NULL) != 1 ||
        EVP_DigestSign(m, der, &n, c->jwt.data, c->signing_len) != 1)
        die("ES256 sign", NULL);
    EVP_MD_CTX_free(m);
}

static void op_issue(ctx *c)
{
    attex_buf jwt = ATTEX_BUF_INIT;
    attex_error e;
    if (attex_ear_issue(&c->ear, c->key, &jwt, &e) != ATTEX_OK)
        die("attex_ear_issue", &e);
    attex_buf_free(&jwt);
}

static void run(ctx *c, int row)
{
    switch (row) {
    case 0:
        op_verify(c);
        break;
    case 1:
        op_validate(c, 0);
        break;
    case 2:
        op_validate(c, 1);
        break;
    case 3:
        op_sign(c);
        break;
    default:
        op_issue(c);
        break;
    }
}

int main(int argc, char **argv)
{
    int smoke = 0;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end != 0 || !(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "attex-bench-ear: --seconds wants a number in (0, 3600]\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: attex-bench-ear [--seconds X | --smoke]\n");
            return 2;
        }
    }
    ctx c;
    memset(&c, 0, sizeof(c));
    c.key = tu_key("p256");
    for (int i = 0; i < 3; i++)
        c.others[i] = tu_key("p256");
    if (c.key == NULL || c.others[2] == NULL)
        die("key generation", NULL);
    c.ear.iat = 1800000000;
    c.ear.exp = c.ear.iat + 300;
    snprintf(c.ear.verifier_developer, sizeof(c.ear.verifier_developer), "https://attex.dev");
    snprintf(c.ear.verifier_build, sizeof(c.ear.verifier_build), "attex 0.1");
    for (size_t i = 0; i < sizeof(c.nonce); i++)
        c.nonce[i] = (uint8_t)i;
    memcpy(c.ear.nonce, c.nonce, sizeof(c.nonce));
    c.ear.nonce_len = sizeof(c.nonce);
    c.ear.num_submods = 2;
    snprintf(c.ear.submods[0].name, sizeof(c.ear.submods[0].name), "sample");
    c.ear.submods[0].status = ATTEX_VERDICT_AFFIRMING;
    c.ear.submods[0].tv_present = 0x15;
    c.ear.submods[0].tv[0] = 2;
    c.ear.submods[0].tv[2] = 2;
    c.ear.submods[0].tv[4] = 2;
    snprintf(c.ear.submods[0].policy_id, sizeof(c.ear.submods[0].policy_id), "attex/sample/1");
    snprintf(c.ear.submods[1].name, sizeof(c.ear.submods[1].name), "tpm");
    c.ear.submods[1].status = ATTEX_VERDICT_AFFIRMING;
    attex_error e;
    if (attex_ear_issue(&c.ear, c.key, &c.jwt, &e) != ATTEX_OK)
        die("attex_ear_issue", &e);
    /* The signing input is everything before the last '.'. */
    for (size_t i = c.jwt.len; i > 0; i--)
        if (c.jwt.data[i - 1] == '.') {
            c.signing_len = i - 1;
            break;
        }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    c.der_len = sizeof(c.der);
    if (m == NULL || EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, c.key, NULL) != 1 ||
        EVP_DigestSign(m, c.der, &c.der_len, c.jwt.data, c.signing_len) != 1)
        die("ES256 sign", NULL);
    EVP_MD_CTX_free(m);

    static const char *const names[NROWS] = {
        "ES256 verify (baseline)", "attex_ear_validate, 1 key", "attex_ear_validate, 4 keys (last)",
        "ES256 sign (baseline)", "attex_ear_issue"};
    double total[NROWS] = {0};
    unsigned long iters[NROWS] = {0};
    /* Warm-up, untimed; then round robin in slices of ~10 ms (one op in smoke mode). */
    for (int r = 0; r < NROWS; r++)
        run(&c, r);
    double slice = smoke ? 0 : 0.01, budget = smoke ? 0 : seconds;
    do {
        for (int r = 0; r < NROWS; r++) {
            double t0 = cpu_now(), t;
            do {
                run(&c, r);
                iters[r]++;
                t = cpu_now();
            } while (t - t0 < slice);
            total[r] += t - t0;
        }
    } while (!smoke && total[0] < budget);

    printf("| operation | ops/s | mean µs | vs ES256 verify |\n|---|---:|---:|---:|\n");
    double base = total[0] / (double)iters[0];
    for (int r = 0; r < NROWS; r++) {
        double mean = total[r] / (double)iters[r];
        printf("| %s | %.0f | %.1f | %.2fx |\n", names[r], mean > 0 ? 1.0 / mean : 0.0,
               mean * 1e6, base > 0 ? mean / base : 0.0);
    }
    printf("\nEAR: %zu bytes, 2 submodules; %s\n", c.jwt.len,
           smoke ? "(smoke run: not a measurement)" : "process CPU time, interleaved rows");
    attex_buf_free(&c.jwt);
    EVP_PKEY_free(c.key);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(c.others[i]);
    return 0;
}
