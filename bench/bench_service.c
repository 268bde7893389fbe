/*
 * attex-bench-service: appraisals per second through the Verifier service's
 * HTTP APIs (libcurl keep-alive clients over loopback), next to the
 * in-process cost of the same work (the sample plug-in alone, then plug-in +
 * EAR issue) measured in the same run. Prints a markdown table.
 *
 *   attex-bench-service [--smoke] [--seconds S]     (S per trial; best of 3 trials)
 *
 * --smoke runs a few iterations of each row and fails on a wrong answer
 * (registered as a ctest); it asserts nothing about time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <attex/attex.h>
#include <attex/sample.h>
#include <attex/service.h>
#include <attex/tpm.h>

#include "service_internal.h"
#include "testutil.h"

static attex_attester *attester;
static attex_verifier *verifier;
static attex_binding binding;
static attex_buf cmw;
static uint8_t *raw;
static size_t raw_len;
static char *one_shot_body;
static int port;
/* TPM quote evidence captured from swtpm (tests/vectors/tpm), its verifier and binding. */
static attex_verifier *tpm_verifier;
static attex_binding tpm_binding;
static attex_buf tpm_cmw;
static char *tpm_body;
static int smoke;
static double seconds = 1.0; /* per trial */
static int wrong;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- HTTP client -------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t n;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
    body *b = u;
    size_t add = size * n;
    char *q = realloc(b->p, b->n + add + 1);
    if (q == NULL)
        return 0;
    memcpy(q + b->n, p, add);
    b->n += add;
    q[b->n] = '\0';
    b->p = q;
    return add;
}

static char location[128];

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
    (void)u;
    size_t len = size * n;
    if (len > 10 && strncmp(p, "Location: ", 10) == 0) {
        size_t e = len;
        while (e > 10 && (p[e - 1] == '\r' || p[e - 1] == '\n'))
            e--;
        snprintf(location, sizeof(location), "%.*s", (int)(e - 10), p + 10);
    }
    return len;
}

static long post(CURL *h, const char *path, const char *ctype, const void *data, size_t len,
                 body *out, int want_location)
{
    char url[512], ct[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (want_location)
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    if (ctype != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, ct);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (data != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    long st = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hdrs);
    return st;
}

static int affirming(const body *b, const char *member)
{
    json_t *j = b->p ? json_loads(b->p, 0, NULL) : NULL;
    int ok = j != NULL && json_is_string(json_object_get(j, member));
    if (ok && strcmp(member, "ear") == 0)
        ok = strcmp(json_string_value(json_object_get(j, "status")), "affirming") == 0;
    json_decref(j);
    return ok;
}

/* ---- the rows ----------------------------------------------------------- */

typedef int (*op_fn)(void *ctx);

static int op_plugin(void *ctx)
{
    (void)ctx;
    attex_cmw *c = NULL;
    attex_appraisal a;
    memset(&a, 0, sizeof(a));
    int ok = attex_cmw_decode(cmw.data, cmw.len, NULL, &c, NULL) == ATTEX_OK &&
             verifier->appraise(verifier->ctx, c, &binding, &a, NULL) == ATTEX_OK &&
             a.verdict == ATTEX_VERDICT_AFFIRMING;
    attex_appraisal_clear(&a);
    attex_cmw_free(c);
    return ok;
}

static int op_in_process(void *ctx)
{
    attex_service_result r;
    int ok = attex_service_appraise(ctx, cmw.data, cmw.len, &binding, binding.binder, 32, &r,
                                    NULL) == ATTEX_OK &&
             r.status == ATTEX_VERDICT_AFFIRMING;
    if (ok)
        attex_service_result_clear(&r);
    return ok;
}

static int op_one_shot(void *ctx)
{
    body b = {NULL, 0};
    int ok = post(ctx, ATTEX_SERVICE_APPRAISE_PATH, "application/json", one_shot_body,
                  strlen(one_shot_body), &b, 0) == 200 &&
             affirming(&b, "ear");
    free(b.p);
    return ok;
}

static int op_plugin_tpm(void *ctx)
{
    (void)ctx;
    attex_cmw *c = NULL;
    attex_appraisal a;
    memset(&a, 0, sizeof(a));
    int ok = attex_cmw_decode(tpm_cmw.data, tpm_cmw.len, NULL, &c, NULL) == ATTEX_OK &&
             tpm_verifier->appraise(tpm_verifier->ctx, c, &tpm_binding, &a, NULL) == ATTEX_OK &&
             a.verdict == ATTEX_VERDICT_AFFIRMING;
    attex_appraisal_clear(&a);
    attex_cmw_free(c);
    return ok;
}

static int op_one_shot_tpm(void *ctx)
{
    body b = {NULL, 0};
    int ok = post(ctx, ATTEX_SERVICE_APPRAISE_PATH, "application/json", tpm_body,
                  strlen(tpm_body), &b, 0) == 200 &&
             affirming(&b, "ear");
    free(b.p);
    return ok;
}

/* one_shot_json is the one-shot request body for a CMW and a SHA-256 binding. */
static char *one_shot_json(const attex_buf *c, const attex_binding *b)
{
    char *cb = b64_encode(c->data, c->len, 1), *rd = b64_encode(b->report_data, 64, 1),
         *bi = b64_encode(b->binder, 32, 1), *ak = b64_encode(b->aik_pub_hash, 32, 1);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "cmw", cb, "report_data", rd, "binder", bi,
                          "aik_pub_hash", ak, "hash", "sha256");
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(cb);
    free(rd);
    free(bi);
    free(ak);
    return out;
}

/* load_tpm sets up the TPM rows from the captured vectors; 0 when they are not found. */
static int load_tpm(void)
{
    const char *src = getenv("ATTEX_SOURCE_DIR");
    char ev_path[1024], ak_path[1024], refs_path[1024], rd_path[1024];
    if (src == NULL)
        src = ".";
    snprintf(ev_path, sizeof(ev_path), "%s/tests/vectors/tpm/evidence_ecdsa.cbor", src);
    snprintf(ak_path, sizeof(ak_path), "%s/tests/vectors/tpm/ak_ecdsa.pem", src);
    snprintf(refs_path, sizeof(refs_path), "%s/tests/vectors/tpm/reference_values.json", src);
    snprintf(rd_path, sizeof(rd_path), "%s/tests/vectors/tpm/report_data.bin", src);
    uint8_t ev[4096], rd[64];
    FILE *f = fopen(ev_path, "rb");
    size_t ev_len = f ? fread(ev, 1, sizeof(ev), f) : 0;
    if (f)
        fclose(f);
    f = fopen(rd_path, "rb");
    size_t rd_len = f ? fread(rd, 1, sizeof(rd), f) : 0;
    if (f)
        fclose(f);
    if (ev_len == 0 || rd_len != sizeof(rd))
        return 0;
    const char *aks[1] = {ak_path};
    attex_tpm_verifier_config tc;
    memset(&tc, 0, sizeof(tc));
    tc.trusted_ak_paths = aks;
    tc.num_trusted_ak_paths = 1;
    tc.reference_values_path = refs_path;
    attex_error err;
    tpm_verifier = attex_tpm_verifier_new(&tc, &err);
    attex_cmw *c = attex_cmw_record_new(ATTEX_TPM_MEDIA_TYPE, ev, ev_len, ATTEX_CMW_IND_EVIDENCE,
                                        &err);
    if (tpm_verifier == NULL || c == NULL || attex_cmw_encode(c, ATTEX_CMW_CBOR, &tpm_cmw, &err) != ATTEX_OK) {
        attex_cmw_free(c);
        fprintf(stderr, "attex-bench-service: TPM rows: %s\n", err.message);
        return 0;
    }
    attex_cmw_free(c);
    /* PROTOCOL.md s3, SHA-256: report_data = binder || aik_pub_hash. */
    tpm_binding.hash = ATTEX_HASH_SHA256;
    tpm_binding.hash_len = 32;
    memcpy(tpm_binding.binder, rd, 32);
    memcpy(tpm_binding.aik_pub_hash, rd + 32, 32);
    memcpy(tpm_binding.report_data, rd, 64);
    tpm_body = one_shot_json(&tpm_cmw, &tpm_binding);
    return 1;
}

static int op_veraison(void *ctx)
{
    char *rd = b64_encode(binding.report_data, 64, 1);
    char path[256];
    snprintf(path, sizeof(path), "/challenge-response/v1/newSession?nonce=%s", rd);
    free(rd);
    body b = {NULL, 0};
    int ok = post(ctx, path, NULL, "", 0, &b, 1) == 201;
    free(b.p);
    b.p = NULL;
    b.n = 0;
    snprintf(path, sizeof(path), "/challenge-response/v1/%s", location);
    ok = ok && post(ctx, path, ATTEX_SAMPLE_MEDIA_TYPE, raw, raw_len, &b, 0) == 200 &&
         affirming(&b, "result");
    free(b.p);
    b.p = NULL;
    ok = ok && post(ctx, path, NULL, NULL, 0, &b, 0) == 204;
    free(b.p);
    return ok;
}

typedef struct runner {
    pthread_t t;
    op_fn op;
    void *ctx;
    int http;
    long ops;
    double busy;
} runner;

static void *run(void *arg)
{
    runner *r = arg;
    CURL *h = r->http ? curl_easy_init() : NULL;
    void *ctx = r->http ? h : r->ctx;
    long target = smoke ? 5 : 0;
    double start = now_s(), end = start + seconds;
    for (;;) {
        if (!r->op(ctx)) {
            __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
        }
        r->ops++;
        if (smoke ? r->ops >= target : now_s() >= end)
            break;
    }
    r->busy = now_s() - start;
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* One timed trial of `op` by `clients` threads: aggregate ops/s and mean µs per op. */
static void trial(op_fn op, void *ctx, int http, int clients, double *rate, double *mean_us)
{
    runner rs[8];
    memset(rs, 0, sizeof(rs));
    double start = now_s();
    for (int i = 0; i < clients; i++) {
        rs[i].op = op;
        rs[i].ctx = ctx;
        rs[i].http = http;
        pthread_create(&rs[i].t, NULL, run, &rs[i]);
    }
    long ops = 0;
    double busy = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(rs[i].t, NULL);
        ops += rs[i].ops;
        busy += rs[i].busy;
    }
    *rate = (double)ops / (now_s() - start);
    *mean_us = busy / (double)ops * 1e6;
}

/* The best of three trials: the machine is shared, and noise only ever slows a trial. */
static double row(const char *name, op_fn op, void *ctx, int http, int clients, double base_ops)
{
    double best = 0, best_mean = 0;
    for (int t = 0; t < (smoke ? 1 : 3); t++) {
        double rate, mean_us;
        trial(op, ctx, http, clients, &rate, &mean_us);
        if (rate > best) {
            best = rate;
            best_mean = mean_us;
        }
    }
    char rel[32] = "1.00x";
    if (base_ops > 0)
        snprintf(rel, sizeof(rel), "%.2fx", best / base_ops);
    printf("| %-46s | %7d | %9.0f | %9.1f | %8s |\n", name, clients, best, best_mean, rel);
    return best;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: attex-bench-service [--smoke] [--seconds S]\n");
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    attex_error err;
    EVP_PKEY *att = tu_key("p256"), *aik = tu_key("p256"), *ear = tu_key("p256");
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = att;
    attester = attex_sample_attester_new(&ac, &err);
    attex_buf refs = ATTEX_BUF_INIT;
    if (attester == NULL || attex_sample_reference_values(&ac, &refs, &err) != ATTEX_OK) {
        fprintf(stderr, "attex-bench-service: %s\n", err.message);
        return 1;
    }
    char *refs_text = calloc(1, refs.len + 1);
    memcpy(refs_text, refs.data, refs.len);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &att;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refs_text;
    verifier = attex_sample_verifier_new(&vc, &err);
    uint8_t exported[ATTEX_BINDING_EXPORTED_LEN] = {1, 2, 3};
    uint8_t *spki = NULL;
    int spki_len = i2d_PUBKEY(aik, &spki);
    if (verifier == NULL || spki_len <= 0 ||
        attex_binding_derive(ATTEX_HASH_SHA256, exported, spki, (size_t)spki_len, &binding,
                             &err) != ATTEX_OK ||
        attester->attest(attester->ctx, &binding, &cmw, &err) != ATTEX_OK) {
        fprintf(stderr, "attex-bench-service: %s\n", err.message);
        return 1;
    }
    attex_cmw *c = NULL;
    attex_cmw_decode(cmw.data, cmw.len, NULL, &c, &err);
    const uint8_t *v = attex_cmw_value(c, &raw_len);
    raw = malloc(raw_len);
    memcpy(raw, v, raw_len);
    attex_cmw_free(c);
    one_shot_body = one_shot_json(&cmw, &binding);
    int have_tpm = load_tpm();

    const attex_verifier *vs[] = {verifier, tpm_verifier};
    attex_service_config sc;
    memset(&sc, 0, sizeof(sc));
    sc.ear_key = ear;
    sc.verifiers = vs;
    sc.num_verifiers = have_tpm ? 2 : 1;
    attex_service *svc = attex_service_new(&sc, &err);
    if (svc == NULL || (port = attex_service_start(svc, &err)) <= 0) {
        fprintf(stderr, "attex-bench-service: %s\n", err.message);
        return 1;
    }

    printf("| operation (sample evidence, P-256, SHA-256 binding) | clients | ops/s | mean µs | vs plug-in |\n");
    printf("|---|---:|---:|---:|---:|\n");
    double base_rate = row("in-process: CMW decode + sample plug-in", op_plugin, NULL, 0, 1, 0);
    row("in-process: + EAR issue (attex_service_appraise)", op_in_process, svc, 0, 1, base_rate);
    row("HTTP one-shot /attex/v1/appraise, keep-alive", op_one_shot, NULL, 1, 1, base_rate);
    row("HTTP one-shot /attex/v1/appraise, keep-alive", op_one_shot, NULL, 1, 4, base_rate);
    row("HTTP Veraison newSession+evidence+DELETE", op_veraison, NULL, 1, 1, base_rate);
    if (have_tpm) {
        printf("\n| operation (TPM 2.0 quote evidence, ECDSA P-256 AK, 7 PCRs) | clients | ops/s | mean µs | vs plug-in |\n");
        printf("|---|---:|---:|---:|---:|\n");
        double tpm_rate = row("in-process: CMW decode + TPM plug-in", op_plugin_tpm, NULL, 0, 1, 0);
        row("HTTP one-shot /attex/v1/appraise, keep-alive", op_one_shot_tpm, NULL, 1, 1, tpm_rate);
        row("HTTP one-shot /attex/v1/appraise, keep-alive", op_one_shot_tpm, NULL, 1, 4, tpm_rate);
    } else {
        printf("\n(TPM rows skipped: set ATTEX_SOURCE_DIR to the source tree)\n");
    }

    attex_service_free(svc);
    attex_sample_attester_free(attester);
    attex_sample_verifier_free(verifier);
    attex_tpm_verifier_free(tpm_verifier);
    attex_buf_free(&tpm_cmw);
    free(tpm_body);
    EVP_PKEY_free(att);
    EVP_PKEY_free(aik);
    EVP_PKEY_free(ear);
    OPENSSL_free(spki);
    attex_buf_free(&cmw);
    attex_buf_free(&refs);
    free(refs_text);
    free(raw);
    free(one_shot_body);
    curl_global_cleanup();
    if (wrong != 0) {
        fprintf(stderr, "attex-bench-service: %d wrong answers\n", wrong);
        return 1;
    }
    return 0;
}
