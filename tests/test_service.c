/*
 * Tests of the Verifier service (src/service.c, src/service_req.c): its
 * request parsers directly, then the three HTTP APIs over loopback with a
 * libcurl client, the sample plug-in and real EARs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <attex/attex.h>
#include <attex/ear.h>
#include <attex/remote.h>
#include <attex/sample.h>
#include <attex/service.h>

#include "service_internal.h"
#include "testutil.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fixture ----------------------------------------------------------- */

typedef struct fixture {
    EVP_PKEY *ear_key, *att_key, *aik_key;
    attex_attester *attester;
    attex_verifier *verifier;     /* reference values of this executable: affirming */
    attex_verifier *bad_refs;     /* reference values that never match: contraindicated */
    attex_binding b;              /* SHA-256 binding the evidence is made for */
    attex_buf cmw;                /* CBOR CMW of sample evidence for b */
    uint8_t *raw;                 /* the evidence itself (the Record's value) */
    size_t raw_len;
} fixture;

static fixture fx;

static void make_binding(attex_hash h, attex_binding *out)
{
    uint8_t exported[ATTEX_BINDING_EXPORTED_LEN];
    for (size_t i = 0; i < sizeof(exported); i++)
        exported[i] = (uint8_t)(rand() & 0xff);
    uint8_t *spki = NULL;
    int n = i2d_PUBKEY(fx.aik_key, &spki);
    attex_error err;
    CHECK(n > 0);
    CHECK_RC(attex_binding_derive(h, exported, spki, (size_t)n, out, &err), ATTEX_OK, &err);
    OPENSSL_free(spki);
}

static void attest(const attex_binding *b, attex_buf *out)
{
    attex_error err;
    CHECK_RC(fx.attester->attest(fx.attester->ctx, b, out, &err), ATTEX_OK, &err);
}

static int fixture_init(void)
{
    attex_error err;
    fx.ear_key = tu_key("p256");
    fx.att_key = tu_key("p256");
    fx.aik_key = tu_key("p256");
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = fx.att_key;
    fx.attester = attex_sample_attester_new(&ac, &err);
    attex_buf refs = ATTEX_BUF_INIT;
    if (fx.attester == NULL || attex_sample_reference_values(&ac, &refs, &err) != ATTEX_OK) {
        fprintf(stderr, "fixture: %s\n", err.message);
        return 0;
    }
    char *refs_text = calloc(1, refs.len + 1);
    memcpy(refs_text, refs.data, refs.len);
    attex_buf_free(&refs);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &fx.att_key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refs_text;
    fx.verifier = attex_sample_verifier_new(&vc, &err);
    free(refs_text);
    vc.reference_values_json =
        "{\"measurements\": {\"exe\": "
        "[\"0000000000000000000000000000000000000000000000000000000000000000\"]}}";
    fx.bad_refs = attex_sample_verifier_new(&vc, &err);
    if (fx.verifier == NULL || fx.bad_refs == NULL) {
        fprintf(stderr, "fixture: %s\n", err.message);
        return 0;
    }
    make_binding(ATTEX_HASH_SHA256, &fx.b);
    attest(&fx.b, &fx.cmw);
    attex_cmw *c = NULL;
    if (attex_cmw_decode(fx.cmw.data, fx.cmw.len, NULL, &c, &err) != ATTEX_OK)
        return 0;
    const uint8_t *v = attex_cmw_value(c, &fx.raw_len);
    fx.raw = malloc(fx.raw_len);
    memcpy(fx.raw, v, fx.raw_len);
    attex_cmw_free(c);
    return 1;
}

static void fixture_free(void)
{
    attex_sample_attester_free(fx.attester);
    attex_sample_verifier_free(fx.verifier);
    attex_sample_verifier_free(fx.bad_refs);
    EVP_PKEY_free(fx.ear_key);
    EVP_PKEY_free(fx.att_key);
    EVP_PKEY_free(fx.aik_key);
    attex_buf_free(&fx.cmw);
    free(fx.raw);
}

/* A plug-in wrapping the sample verifier that takes its time: for the clean-stop test. */
typedef struct slow_ctx {
    const attex_verifier *inner;
    unsigned delay_ms;
    pthread_mutex_t lock;
    int entered;
    int active, max_active; /* plug-in calls running at once */
} slow_ctx;

static int slow_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                         attex_appraisal *out, attex_error *err)
{
    slow_ctx *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->entered++;
    if (++s->active > s->max_active)
        s->max_active = s->active;
    pthread_mutex_unlock(&s->lock);
    struct timespec ts = {(time_t)(s->delay_ms / 1000), (long)(s->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_mutex_unlock(&s->lock);
    return s->inner->appraise(s->inner->ctx, record, expected, out, err);
}

/* ---- a small HTTP client ------------------------------------------------ */

typedef struct http_resp {
    long status;
    char *body;
    size_t len;
    char ctype[256];
    char location[256];
    char accept[1024];
    char allow[64];
} http_resp;

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
    http_resp *r = u;
    size_t add = size * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->len, p, add);
    r->len += add;
    b[r->len] = '\0';
    r->body = b;
    return add;
}

static void take_header(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0)
        return;
    size_t i = nl;
    while (i < n && line[i] == ' ')
        i++;
    size_t e = n;
    while (e > i && (line[e - 1] == '\r' || line[e - 1] == '\n'))
        e--;
    snprintf(out, cap, "%.*s", (int)(e - i), line + i);
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
    http_resp *r = u;
    size_t len = size * n;
    take_header(p, len, "Content-Type:", r->ctype, sizeof(r->ctype));
    take_header(p, len, "Location:", r->location, sizeof(r->location));
    take_header(p, len, "Accept:", r->accept, sizeof(r->accept));
    take_header(p, len, "Allow:", r->allow, sizeof(r->allow));
    return len;
}

static const char *ca_pem; /* set for HTTPS */
static int port;
static const char *scheme = "http";

/* Sends one request on handle h (kept alive between calls); returns the status, 0 on failure. */
static long http(CURL *h, const char *method, const char *path, const char *ctype,
                 const char *accept, const void *body, size_t len, http_resp *r)
{
    memset(r, 0, sizeof(*r));
    char url[1024];
    snprintf(url, sizeof(url), "%s://localhost:%d%s", scheme, port, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    /* localhost is the certificate's name; the service listens on 127.0.0.1 only. */
    char resolve[64];
    snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", port);
    struct curl_slist *res = curl_slist_append(NULL, resolve);
    curl_easy_setopt(h, CURLOPT_RESOLVE, res);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (ca_pem != NULL) {
        struct curl_blob blob = {(void *)(uintptr_t)ca_pem, strlen(ca_pem), CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    char line[512];
    if (ctype != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (accept != NULL) {
        snprintf(line, sizeof(line), "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(res);
    if (rc != CURLE_OK)
        return 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return r->status;
}

static void resp_free(http_resp *r)
{
    free(r->body);
    r->body = NULL;
}

static char *b64u(const uint8_t *p, size_t n)
{
    return b64_encode(p, n, 1);
}

/* The one-shot body for CMW `cmw` and binding `b`, with fields overridable for negative tests. */
static char *appraise_body(const uint8_t *cmw, size_t cmw_len, const attex_binding *b)
{
    char *c = b64u(cmw, cmw_len), *rd = b64u(b->report_data, 64),
         *bi = b64u(b->binder, b->hash_len), *ak = b64u(b->aik_pub_hash, b->hash_len);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "cmw", c, "report_data", rd, "binder", bi,
                          "aik_pub_hash", ak, "hash",
                          b->hash == ATTEX_HASH_SHA256 ? "sha256" : "sha384");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(c);
    free(rd);
    free(bi);
    free(ak);
    return s;
}

/* Checks a problem+json answer: status, content type and the four members. */
static void check_problem(const http_resp *r, long want)
{
    CHECK(r->status == want);
    CHECK(strcmp(r->ctype, "application/problem+json") == 0);
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    CHECK(j != NULL);
    CHECK(json_is_string(json_object_get(j, "type")));
    CHECK(json_is_string(json_object_get(j, "title")));
    CHECK(json_integer_value(json_object_get(j, "status")) == want);
    CHECK(json_string_length(json_object_get(j, "detail")) > 0);
    if (r->status != want)
        fprintf(stderr, "  (got %ld: %s)\n", r->status, r->body ? r->body : "");
    json_decref(j);
}

/* The EAR key from a JWK, the way attex's relying party reads it (attex_ear_key_from_jwk). */
static EVP_PKEY *key_from_jwk(json_t *jwk)
{
    char *text = jwk ? json_dumps(jwk, JSON_COMPACT) : NULL;
    EVP_PKEY *key = NULL;
    attex_error err;
    if (text == NULL || attex_ear_key_from_jwk(text, strlen(text), &key, &err) != ATTEX_OK)
        key = NULL;
    free(text);
    return key;
}

static EVP_PKEY *discovered_key;

/* Validates an EAR against the discovered key and nonce; returns the worst status or -1. */
static int check_ear(const char *jwt, const uint8_t *nonce, size_t nonce_len, attex_ear *out)
{
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = &discovered_key;
    o.num_keys = 1;
    o.nonce = nonce;
    o.nonce_len = nonce_len;
    attex_error err;
    int ret = attex_ear_validate((const uint8_t *)jwt, strlen(jwt), &o, out, &err);
    CHECK_RC(ret, ATTEX_OK, &err);
    if (ret != ATTEX_OK)
        return -1;
    CHECK(strcmp(out->profile, ATTEX_EAR_PROFILE) == 0);
    CHECK(out->exp - out->iat == 300);
    CHECK(strcmp(out->verifier_developer, "attex-test") == 0);
    return (int)attex_ear_worst(out);
}

/* ---- parser unit tests -------------------------------------------------- */

static void test_parsers(void)
{
    uint8_t *p = NULL;
    size_t n = 0;
    char why[SVC_WHY_SIZE];
    CHECK(b64url_decode("AQID", 4, 0, 8, &p, &n, why, sizeof(why)) && n == 3 && p[2] == 3);
    free(p);
    CHECK(b64url_decode("AQ", 2, 0, 8, &p, &n, why, sizeof(why)) && n == 1 && p[0] == 1);
    free(p);
    CHECK(!b64url_decode("AR", 2, 0, 8, &p, &n, why, sizeof(why)));     /* unused bits */
    CHECK(!b64url_decode("AQ==", 4, 0, 8, &p, &n, why, sizeof(why)));   /* no padding */
    CHECK(b64url_decode("AQ==", 4, 1, 8, &p, &n, why, sizeof(why)) && n == 1);
    free(p);
    CHECK(!b64url_decode("AQ=", 3, 1, 8, &p, &n, why, sizeof(why)));    /* short pad */
    CHECK(!b64url_decode("AQI==", 5, 1, 8, &p, &n, why, sizeof(why)));
    CHECK(!b64url_decode("AQID=", 5, 1, 8, &p, &n, why, sizeof(why)));
    CHECK(!b64url_decode("A+ID", 4, 0, 8, &p, &n, why, sizeof(why)));   /* std alphabet */
    CHECK(!b64url_decode("AQIDB", 5, 0, 8, &p, &n, why, sizeof(why)));  /* 4n+1 */
    CHECK(!b64url_decode("AQIDBA", 6, 0, 3, &p, &n, why, sizeof(why))); /* too long */
    CHECK(strstr(why, "at most 3") != NULL);
    char *e = b64_encode((const uint8_t *)"\xfb\xff", 2, 0);
    CHECK(strcmp(e, "+/8=") == 0);
    free(e);
    e = b64_encode((const uint8_t *)"\xfb\xff", 2, 1);
    CHECK(strcmp(e, "-_8") == 0);
    free(e);

    CHECK(svc_media_type_equal(ATTEX_SAMPLE_MEDIA_TYPE,
                               "Application/EAT+CWT ; EAT_PROFILE = "
                               "\"tag:attex.dev,2026:sample-evidence-v1\""));
    CHECK(!svc_media_type_equal(ATTEX_SAMPLE_MEDIA_TYPE,
                                "application/eat+cwt; eat_profile=\"TAG:attex.dev,2026:sample-"
                                "evidence-v1\""));
    CHECK(!svc_media_type_equal("application/cmw+cbor", "application/cmw+json"));
    CHECK(!svc_media_type_equal("application/cmw+cbor", ""));
    CHECK(!svc_media_type_equal("a/b; x=\"unterminated", "a/b; x=\"unterminated"));

    const char *st = ATTEX_SERVICE_SESSION_MEDIA_TYPE;
    CHECK(svc_accept_allows(NULL, st));
    CHECK(svc_accept_allows("", st));
    CHECK(svc_accept_allows("*/*", st));
    CHECK(svc_accept_allows("application/*", st));
    CHECK(svc_accept_allows("text/html, " ATTEX_SERVICE_SESSION_MEDIA_TYPE ";q=0.5", st));
    CHECK(!svc_accept_allows("text/html", st));
    CHECK(!svc_accept_allows("text/*", st));
    CHECK(!svc_accept_allows(ATTEX_SERVICE_SESSION_MEDIA_TYPE ";q=0", st));
    CHECK(!svc_accept_allows("*/*;q=0.000", st));
    CHECK(svc_accept_allows("application/eat+cwt", ATTEX_SAMPLE_MEDIA_TYPE));
    CHECK(!svc_accept_allows("application/eat+cwt; eat_profile=other", ATTEX_SAMPLE_MEDIA_TYPE));

    CHECK(svc_session_id_valid("0f8fad5b-d9cb-469f-a165-70867728950e", 36));
    CHECK(!svc_session_id_valid("0F8FAD5B-D9CB-469F-A165-70867728950E", 36));
    CHECK(!svc_session_id_valid("0f8fad5b-d9cb-469f-a165-70867728950", 35));
    CHECK(!svc_session_id_valid("0f8fad5bxd9cb-469f-a165-70867728950e", 36));

    /* Session nonce -> binding (docs/verifier.md "Nonces"). */
    uint8_t nonce[64], aik[48];
    for (size_t i = 0; i < 64; i++)
        nonce[i] = (uint8_t)i;
    memset(aik, 0xa5, sizeof(aik));
    attex_binding b;
    CHECK(svc_session_binding(nonce, 64, NULL, 0, &b, why, sizeof(why)));
    CHECK(b.hash == ATTEX_HASH_SHA256 && memcmp(b.binder, nonce, 32) == 0 &&
          memcmp(b.aik_pub_hash, nonce + 32, 32) == 0 && memcmp(b.report_data, nonce, 64) == 0);
    CHECK(!svc_session_binding(nonce, 32, NULL, 0, &b, why, sizeof(why)));
    CHECK(!svc_session_binding(nonce, 32, aik, 48, &b, why, sizeof(why)));
    CHECK(svc_session_binding(nonce, 48, aik, 48, &b, why, sizeof(why)));
    CHECK(b.hash == ATTEX_HASH_SHA384 && memcmp(b.binder, nonce, 48) == 0);
    /* PROTOCOL.md s3: SHA-384 report data is SHA-512(binder || aik). */
    uint8_t both[96], rd[64];
    memcpy(both, nonce, 48);
    memcpy(both + 48, aik, 48);
    EVP_Digest(both, 96, rd, NULL, EVP_sha512(), NULL);
    CHECK(memcmp(b.report_data, rd, 64) == 0);

    svc_session_req q;
    CHECK(svc_parse_session_query(NULL, NULL, NULL, &q, why, sizeof(why)) && q.nonce_len == 64 &&
          !q.nonce_given);
    CHECK(svc_parse_session_query(NULL, "64", NULL, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query(NULL, "32", NULL, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query(NULL, "65", NULL, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query(NULL, "6a", NULL, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query(NULL, "", NULL, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query("AAAAAAAAAAA", "8", NULL, &q, why, sizeof(why)));
    char *a32 = b64u(aik, 32), *n5 = b64u(nonce, 5), *n32 = b64u(nonce, 32);
    CHECK(svc_parse_session_query(NULL, NULL, a32, &q, why, sizeof(why)) && q.nonce_len == 32 &&
          q.aik_len == 32);
    CHECK(svc_parse_session_query(n32, NULL, a32, &q, why, sizeof(why)) && q.nonce_given &&
          memcmp(q.nonce, nonce, 32) == 0);
    CHECK(!svc_parse_session_query(n5, NULL, a32, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query(n32, NULL, NULL, &q, why, sizeof(why)));
    CHECK(!svc_parse_session_query(NULL, NULL, n5, &q, why, sizeof(why)));
    free(a32);
    free(n5);
    free(n32);

    /* One-shot bodies: the good one, then one rule broken at a time. */
    char *good = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
    svc_appraise_req r;
    CHECK(svc_parse_appraise((const uint8_t *)good, strlen(good), &r, why, sizeof(why)));
    CHECK(r.cmw_len == fx.cmw.len && memcmp(r.binding.report_data, fx.b.report_data, 64) == 0);
    svc_appraise_req_clear(&r);
    json_t *base = json_loads(good, 0, NULL);
    static const struct {
        const char *member, *value, *why;
    } cases[] = {
        {"hash", "sha512", "\"hash\""},
        {"binder", "AAAA", "\"binder\" is 3 bytes"},
        {"aik_pub_hash", "AA", "\"aik_pub_hash\" is 1 bytes"},
        {"report_data", "AA", "\"report_data\" is 1 bytes"},
        {"cmw", "", "\"cmw\" is empty"},
        {"cmw", "a+b/", "standard base64"},
        {"extra", "x", "unknown member"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        json_t *j = json_deep_copy(base);
        json_object_set_new(j, cases[i].member, json_string(cases[i].value));
        char *s = json_dumps(j, JSON_COMPACT);
        CHECK(!svc_parse_appraise((const uint8_t *)s, strlen(s), &r, why, sizeof(why)));
        CHECK(strstr(why, cases[i].why) != NULL);
        if (strstr(why, cases[i].why) == NULL)
            fprintf(stderr, "  case %zu: %s\n", i, why);
        free(s);
        json_decref(j);
    }
    /* report_data of another binding: consistent lengths, wrong derivation. */
    {
        json_t *j = json_deep_copy(base);
        uint8_t other[64];
        memcpy(other, fx.b.report_data, 64);
        other[63] ^= 1;
        char *o = b64u(other, 64);
        json_object_set_new(j, "report_data", json_string(o));
        char *s = json_dumps(j, JSON_COMPACT);
        CHECK(!svc_parse_appraise((const uint8_t *)s, strlen(s), &r, why, sizeof(why)));
        CHECK(strstr(why, "derivation") != NULL);
        free(s);
        free(o);
        json_decref(j);
    }
    /* A missing member, a non-string member, a non-object, bad JSON, a duplicate. */
    {
        json_t *j = json_deep_copy(base);
        json_object_del(j, "binder");
        char *s = json_dumps(j, JSON_COMPACT);
        CHECK(!svc_parse_appraise((const uint8_t *)s, strlen(s), &r, why, sizeof(why)));
        CHECK(strstr(why, "missing") != NULL);
        free(s);
        json_object_set_new(j, "binder", json_integer(1));
        s = json_dumps(j, JSON_COMPACT);
        CHECK(!svc_parse_appraise((const uint8_t *)s, strlen(s), &r, why, sizeof(why)));
        free(s);
        json_decref(j);
    }
    CHECK(!svc_parse_appraise((const uint8_t *)"[]", 2, &r, why, sizeof(why)));
    CHECK(!svc_parse_appraise((const uint8_t *)"{\"cmw\":", 7, &r, why, sizeof(why)));
    CHECK(!svc_parse_appraise((const uint8_t *)"{\"hash\":\"sha256\",\"hash\":\"sha256\"}", 33, &r,
                              why, sizeof(why)));
    json_decref(base);
    free(good);
}

/* ---- in-process appraisal: verdict -> EAR mapping ------------------------ */

static void test_in_process(void)
{
    attex_error err;
    const attex_verifier *vs[] = {fx.bad_refs};
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.ear_key = fx.ear_key;
    c.verifier_developer = "attex-test";
    c.verifiers = vs;
    c.num_verifiers = 1;
    attex_service *svc = attex_service_new(&c, &err);
    CHECK(svc != NULL);
    if (svc == NULL)
        return;
    char *jwk = NULL;
    CHECK_RC(attex_service_ear_jwk(svc, &jwk, &err), ATTEX_OK, &err);
    json_t *jj = json_loads(jwk, 0, NULL);
    discovered_key = key_from_jwk(jj);
    CHECK(discovered_key != NULL && EVP_PKEY_eq(discovered_key, fx.ear_key) == 1);
    CHECK(strcmp(json_string_value(json_object_get(jj, "alg")), "ES256") == 0);
    /* RFC 7638: kid is the base64url SHA-256 thumbprint (43 characters). */
    CHECK(json_string_length(json_object_get(jj, "kid")) == 43);
    CHECK(strcmp(json_string_value(json_object_get(jj, "use")), "sig") == 0);
    json_decref(jj);
    free(jwk);

    /* Signed, fresh evidence whose measurement is not the reference: contraindicated, but
     * from a recognised instance. */
    attex_service_result res;
    CHECK_RC(attex_service_appraise(svc, fx.cmw.data, fx.cmw.len, &fx.b, fx.b.binder, 32, &res,
                                    &err),
             ATTEX_OK, &err);
    CHECK(res.status == ATTEX_VERDICT_CONTRAINDICATED && res.num_submods == 1);
    CHECK(strstr(res.submods[0].reason, "measurement \"exe\"") != NULL);
    attex_ear ear;
    char *jwt = calloc(1, res.ear.len + 1);
    memcpy(jwt, res.ear.data, res.ear.len);
    CHECK(check_ear(jwt, fx.b.binder, 32, &ear) == ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(ear.num_submods == 1 && strcmp(ear.submods[0].name, "sample") == 0);
    CHECK(ear.submods[0].tv_present ==
          ((1u << ATTEX_EAR_TV_INSTANCE_IDENTITY) | (1u << ATTEX_EAR_TV_EXECUTABLES)));
    CHECK(ear.submods[0].tv[ATTEX_EAR_TV_INSTANCE_IDENTITY] == 2);
    CHECK(ear.submods[0].tv[ATTEX_EAR_TV_EXECUTABLES] == 96);
    free(jwt);
    attex_service_result_clear(&res);

    /* A collection of two records: two submodules with unique names. */
    attex_cmw *col = attex_cmw_collection_new(NULL, &err);
    attex_cmw *r1 = attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, fx.raw, fx.raw_len, 4, &err);
    attex_cmw *r2 = attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, fx.raw, fx.raw_len, 4, &err);
    CHECK_RC(attex_cmw_collection_add(col, "a", r1, &err), ATTEX_OK, &err);
    CHECK_RC(attex_cmw_collection_add(col, "b", r2, &err), ATTEX_OK, &err);
    attex_buf enc = ATTEX_BUF_INIT;
    CHECK_RC(attex_cmw_encode(col, ATTEX_CMW_JSON, &enc, &err), ATTEX_OK, &err);
    attex_cmw_free(col);
    CHECK_RC(attex_service_appraise(svc, enc.data, enc.len, &fx.b, fx.b.binder, 32, &res, &err),
             ATTEX_OK, &err);
    CHECK(res.num_submods == 2 && strcmp(res.submods[1].name, "sample-2") == 0);
    attex_service_result_clear(&res);
    attex_buf_free(&enc);

    /* Unsupported type, undecodable CMW, bad nonce length. */
    attex_cmw *u = attex_cmw_record_new("application/x-unknown", fx.raw, fx.raw_len, 4, &err);
    CHECK_RC(attex_cmw_encode(u, ATTEX_CMW_CBOR, &enc, &err), ATTEX_OK, &err);
    attex_cmw_free(u);
    CHECK(attex_service_appraise(svc, enc.data, enc.len, &fx.b, fx.b.binder, 32, &res, &err) ==
          ATTEX_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "application/x-unknown") != NULL);
    attex_buf_free(&enc);
    CHECK(attex_service_appraise(svc, (const uint8_t *)"\xff\x00", 2, &fx.b, fx.b.binder, 32,
                                 &res, &err) == ATTEX_ERR_DECODE);
    CHECK(attex_service_appraise(svc, fx.cmw.data, fx.cmw.len, &fx.b, fx.b.binder, 7, &res,
                                 &err) == ATTEX_ERR_INVALID_ARGUMENT);
    attex_service_free(svc);

    /* Matching by CoAP Content-Format: a Tag goes to the plug-in registered for its number
     * (the sample plug-in then rejects a Tag: contraindicated, not 'unsupported'). */
    attex_verifier by_cf = {"by-cf", NULL, 10000, fx.verifier->ctx, fx.verifier->appraise};
    const attex_verifier *cfv[] = {&by_cf};
    c.verifiers = cfv;
    svc = attex_service_new(&c, &err);
    CHECK(svc != NULL);
    attex_cmw *tag = attex_cmw_tag_new(10000, fx.raw, fx.raw_len, &err);
    CHECK_RC(attex_cmw_encode(tag, ATTEX_CMW_CBOR, &enc, &err), ATTEX_OK, &err);
    attex_cmw_free(tag);
    CHECK_RC(attex_service_appraise(svc, enc.data, enc.len, &fx.b, fx.b.binder, 32, &res, &err),
             ATTEX_OK, &err);
    CHECK(res.num_submods == 1 && strcmp(res.submods[0].name, "by-cf") == 0 &&
          res.status == ATTEX_VERDICT_CONTRAINDICATED);
    attex_service_result_clear(&res);
    attex_buf_free(&enc);
    attex_service_free(svc);
    c.verifiers = vs;

    /* Construction errors: no key, a key that is not P-256, TLS half-configured. */
    c.ear_key = NULL;
    CHECK(attex_service_new(&c, &err) == NULL && err.code == ATTEX_ERR_INVALID_ARGUMENT);
    EVP_PKEY *p384 = tu_key("p384");
    c.ear_key = p384;
    CHECK(attex_service_new(&c, &err) == NULL && err.code == ATTEX_ERR_UNSUPPORTED);
    EVP_PKEY_free(p384);
    c.ear_key = fx.ear_key;
    c.tls_cert_pem = "x";
    CHECK(attex_service_new(&c, &err) == NULL && strstr(err.message, "both") != NULL);
}

/* ---- HTTP tests --------------------------------------------------------- */

typedef struct log_sink {
    pthread_mutex_t lock;
    unsigned lines;
    unsigned ok_fields;
} log_sink;

static void on_log(void *ctx, const char *line)
{
    log_sink *s = ctx;
    json_t *j = json_loads(line, 0, NULL);
    int ok = j != NULL && json_is_string(json_object_get(j, "time")) &&
             json_is_string(json_object_get(j, "method")) &&
             json_is_string(json_object_get(j, "path")) &&
             json_is_integer(json_object_get(j, "status")) &&
             json_is_integer(json_object_get(j, "bytes")) &&
             json_is_integer(json_object_get(j, "duration_us")) &&
             strcmp(json_string_value(json_object_get(j, "remote")), "127.0.0.1") == 0;
    json_decref(j);
    pthread_mutex_lock(&s->lock);
    s->lines++;
    s->ok_fields += ok;
    pthread_mutex_unlock(&s->lock);
}

static attex_service *start(attex_service_config *c, const attex_verifier *const *vs, size_t n)
{
    attex_error err;
    c->ear_key = fx.ear_key;
    c->verifier_developer = "attex-test";
    c->verifiers = vs;
    c->num_verifiers = n;
    attex_service *svc = attex_service_new(c, &err);
    CHECK(svc != NULL);
    if (svc == NULL) {
        fprintf(stderr, "  %s\n", err.message);
        return NULL;
    }
    int p = attex_service_start(svc, &err);
    CHECK(p > 0);
    if (p <= 0) {
        fprintf(stderr, "  %s\n", err.message);
        attex_service_free(svc);
        return NULL;
    }
    port = p;
    return svc;
}

static void test_discovery(CURL *h)
{
    http_resp r;
    CHECK(http(h, "GET", "/.well-known/veraison/verification", NULL, NULL, NULL, 0, &r) == 200);
    CHECK(strcmp(r.ctype, ATTEX_SERVICE_DISCOVERY_MEDIA_TYPE) == 0);
    json_t *j = json_loads(r.body, 0, NULL);
    EVP_PKEY *k = key_from_jwk(json_object_get(j, "ear-verification-key"));
    CHECK(k != NULL && EVP_PKEY_eq(k, fx.ear_key) == 1);
    EVP_PKEY_free(k);
    CHECK(json_array_size(json_object_get(j, "media-types")) == 3);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(j, "media-types"), 0)),
                 ATTEX_SAMPLE_MEDIA_TYPE) == 0);
    CHECK(json_is_string(json_object_get(j, "version")));
    CHECK(strcmp(json_string_value(json_object_get(j, "service-state")), "READY") == 0);
    CHECK(strcmp(json_string_value(json_object_get(
                     json_object_get(j, "api-endpoints"), "newChallengeResponseSession")),
                 "/challenge-response/v1/newSession") == 0);
    json_decref(j);
    resp_free(&r);
    CHECK(http(h, "GET", "/.well-known/veraison/verification", NULL, "text/html", NULL, 0, &r) ==
          406);
    check_problem(&r, 406);
    resp_free(&r);
    CHECK(http(h, "POST", "/.well-known/veraison/verification", "text/plain", NULL, "x", 1, &r) ==
          405);
    CHECK(strcmp(r.allow, "GET") == 0);
    resp_free(&r);
    CHECK(http(h, "GET", "/nothing/here", NULL, NULL, NULL, 0, &r) == 404);
    check_problem(&r, 404);
    resp_free(&r);
}

/* POSTs a one-shot appraisal; returns the status and fills *status_name and *ear (malloc'd). */
static long one_shot(CURL *h, const char *body, char **status_name, char **ear)
{
    http_resp r;
    long st = http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, body,
                   strlen(body), &r);
    *status_name = NULL;
    *ear = NULL;
    if (st == 200) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *s = json_string_value(json_object_get(j, "status"));
        const char *e = json_string_value(json_object_get(j, "ear"));
        *status_name = s ? strdup(s) : NULL;
        *ear = e ? strdup(e) : NULL;
        json_decref(j);
    }
    resp_free(&r);
    return st;
}

static void test_one_shot(CURL *h)
{
    char *status, *ear;
    attex_ear e;
    char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
    CHECK(one_shot(h, body, &status, &ear) == 200);
    CHECK(status && strcmp(status, "affirming") == 0);
    CHECK(ear && check_ear(ear, fx.b.binder, 32, &e) == ATTEX_VERDICT_AFFIRMING);
    CHECK(e.num_submods == 1 && strcmp(e.submods[0].name, "sample") == 0);
    CHECK(e.submods[0].tv[ATTEX_EAR_TV_EXECUTABLES] == 2);
    free(status);
    free(ear);
    free(body);

    /* SHA-384 binding. */
    attex_binding b384;
    attex_buf cmw384 = ATTEX_BUF_INIT;
    make_binding(ATTEX_HASH_SHA384, &b384);
    attest(&b384, &cmw384);
    body = appraise_body(cmw384.data, cmw384.len, &b384);
    CHECK(one_shot(h, body, &status, &ear) == 200);
    CHECK(status && strcmp(status, "affirming") == 0);
    CHECK(ear && check_ear(ear, b384.binder, 48, &e) == ATTEX_VERDICT_AFFIRMING);
    free(status);
    free(ear);
    free(body);

    /* Tampered evidence (last byte of the COSE signature): a contraindicated EAR whose
     * instance-identity says cryptographic validation failed, and the reason. */
    attex_buf t = ATTEX_BUF_INIT;
    t.data = malloc(fx.cmw.len);
    t.len = fx.cmw.len;
    memcpy(t.data, fx.cmw.data, t.len);
    t.data[t.len - 2] ^= 0x01;
    body = appraise_body(t.data, t.len, &fx.b);
    http_resp r;
    CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, body,
               strlen(body), &r) == 200);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(strcmp(json_string_value(json_object_get(j, "status")), "contraindicated") == 0);
    const char *reason = json_string_value(
        json_object_get(json_object_get(json_object_get(j, "submods"), "sample"), "reason"));
    CHECK(reason != NULL && strstr(reason, "signature") != NULL);
    /* Claims of evidence that could not be appraised are not reported. */
    CHECK(json_object_get(json_object_get(json_object_get(j, "submods"), "sample"), "claims") ==
          NULL);
    CHECK(check_ear(json_string_value(json_object_get(j, "ear")), fx.b.binder, 32, &e) ==
          ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(e.submods[0].tv_present == (1u << ATTEX_EAR_TV_INSTANCE_IDENTITY) &&
          e.submods[0].tv[ATTEX_EAR_TV_INSTANCE_IDENTITY] == 99);
    json_decref(j);
    resp_free(&r);
    free(body);
    attex_buf_free(&t);

    /* Evidence for another binding (replay onto this request): contraindicated. */
    body = appraise_body(cmw384.data, cmw384.len, &fx.b);
    CHECK(one_shot(h, body, &status, &ear) == 200);
    CHECK(status && strcmp(status, "contraindicated") == 0);
    free(status);
    free(ear);
    free(body);
    attex_buf_free(&cmw384);

    /* Malformed requests: 400/405/415/422 problems. */
    static const char *bad_bodies[] = {
        "{", "[1]", "{\"cmw\":\"AA\"}", "\"text\"",
    };
    for (size_t i = 0; i < N_ELEMS(bad_bodies); i++) {
        CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL,
                   bad_bodies[i], strlen(bad_bodies[i]), &r) == 400);
        check_problem(&r, 400);
        resp_free(&r);
    }
    char *good_text = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
    json_t *base = json_loads(good_text, 0, NULL);
    free(good_text);
    {
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "binder", json_string("not*base64"));
        char *s = json_dumps(m, JSON_COMPACT);
        CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, s,
                   strlen(s), &r) == 400);
        check_problem(&r, 400);
        CHECK(strstr(r.body, "binder") != NULL);
        resp_free(&r);
        free(s);
        json_object_set_new(m, "binder", json_string("AAAA"));
        s = json_dumps(m, JSON_COMPACT);
        CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, s,
                   strlen(s), &r) == 400);
        check_problem(&r, 400);
        resp_free(&r);
        free(s);
        /* A CMW that is valid base64url but not a CMW. */
        json_decref(m);
        m = json_deep_copy(base);
        json_object_set_new(m, "cmw", json_string("_wA"));
        s = json_dumps(m, JSON_COMPACT);
        CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, s,
                   strlen(s), &r) == 400);
        check_problem(&r, 400);
        resp_free(&r);
        free(s);
        /* A CMW of a type no plug-in handles. */
        attex_error err;
        attex_cmw *u = attex_cmw_record_new("application/x-unknown", fx.raw, fx.raw_len, 4, &err);
        attex_buf enc = ATTEX_BUF_INIT;
        attex_cmw_encode(u, ATTEX_CMW_CBOR, &enc, &err);
        attex_cmw_free(u);
        char *c = b64u(enc.data, enc.len);
        json_object_set_new(m, "cmw", json_string(c));
        s = json_dumps(m, JSON_COMPACT);
        CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, s,
                   strlen(s), &r) == 422);
        check_problem(&r, 422);
        resp_free(&r);
        free(s);
        free(c);
        attex_buf_free(&enc);
        json_decref(m);
    }
    char *good = json_dumps(base, JSON_COMPACT);
    json_decref(base);
    CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "text/plain", NULL, good, strlen(good),
               &r) == 415);
    check_problem(&r, 415);
    CHECK(strcmp(r.accept, "application/json") == 0);
    resp_free(&r);
    CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json; charset=utf-8",
               "text/html", good, strlen(good), &r) == 406);
    resp_free(&r);
    CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json; charset=utf-8", NULL,
               good, strlen(good), &r) == 200);
    {
        /* The plug-in's appraised claims travel in the response, next to its reason. */
        json_t *j2 = json_loads(r.body, 0, NULL);
        json_t *sub = json_object_get(json_object_get(j2, "submods"), "sample");
        CHECK(strcmp(json_string_value(json_object_get(sub, "status")), "affirming") == 0);
        CHECK(json_is_object(json_object_get(sub, "claims")) &&
              json_object_size(json_object_get(sub, "claims")) > 0);
        json_decref(j2);
    }
    resp_free(&r);
    CHECK(http(h, "GET", ATTEX_SERVICE_APPRAISE_PATH, NULL, NULL, NULL, 0, &r) == 405);
    check_problem(&r, 405);
    CHECK(strcmp(r.allow, "POST") == 0);
    resp_free(&r);
    free(good);

    /* Oversize: 413 (the limit is 256 KiB by default). */
    size_t big = 300 * 1024;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    CHECK(http(h, "POST", ATTEX_SERVICE_APPRAISE_PATH, "application/json", NULL, huge, big, &r) ==
          413);
    check_problem(&r, 413);
    resp_free(&r);
    free(huge);
}

static json_t *session_doc(const http_resp *r)
{
    CHECK(strcmp(r->ctype, ATTEX_SERVICE_SESSION_MEDIA_TYPE) == 0);
    return r->body ? json_loads(r->body, 0, NULL) : NULL;
}

/* Creates a session with `query`; returns its path (malloc'd) and nonce, or NULL. */
static char *new_session(CURL *h, const char *query, uint8_t nonce[64], size_t *nonce_len)
{
    char path[512];
    snprintf(path, sizeof(path), "/challenge-response/v1/newSession%s", query);
    http_resp r;
    long st = http(h, "POST", path, NULL, ATTEX_SERVICE_SESSION_MEDIA_TYPE, NULL, 0, &r);
    CHECK(st == 201);
    char *out = NULL;
    if (st == 201) {
        json_t *j = session_doc(&r);
        CHECK(strcmp(json_string_value(json_object_get(j, "status")), "waiting") == 0);
        CHECK(json_is_string(json_object_get(j, "expiry")));
        CHECK(json_array_size(json_object_get(j, "accept")) == 3);
        const char *n = json_string_value(json_object_get(j, "nonce"));
        uint8_t *p = NULL;
        char why[SVC_WHY_SIZE];
        CHECK(n && b64url_decode(n, strlen(n), 0, 64, &p, nonce_len, why, sizeof(why)));
        if (p)
            memcpy(nonce, p, *nonce_len);
        free(p);
        json_decref(j);
        CHECK(strncmp(r.location, "session/", 8) == 0 &&
              svc_session_id_valid(r.location + 8, strlen(r.location + 8)));
        size_t len = strlen(r.location) + 32;
        out = malloc(len);
        snprintf(out, len, "/challenge-response/v1/%s", r.location);
    } else {
        fprintf(stderr, "  newSession%s: %ld %s\n", query, st, r.body ? r.body : "");
    }
    resp_free(&r);
    return out;
}

static void test_veraison(CURL *h)
{
    http_resp r;
    uint8_t nonce[64];
    size_t nonce_len = 0;
    attex_ear e;

    /* 1. A 64-byte nonce = report_data; raw evidence with its media type. */
    char *rd = b64u(fx.b.report_data, 64), q[256];
    snprintf(q, sizeof(q), "?nonce=%s", rd);
    free(rd);
    char *path = new_session(h, q, nonce, &nonce_len);
    CHECK(nonce_len == 64 && memcmp(nonce, fx.b.report_data, 64) == 0);
    if (path != NULL) {
        CHECK(http(h, "GET", path, NULL, NULL, NULL, 0, &r) == 200);
        json_t *j = session_doc(&r);
        CHECK(strcmp(json_string_value(json_object_get(j, "status")), "waiting") == 0);
        json_decref(j);
        resp_free(&r);
        CHECK(http(h, "POST", path, ATTEX_SAMPLE_MEDIA_TYPE, ATTEX_SERVICE_SESSION_MEDIA_TYPE,
                   fx.raw, fx.raw_len, &r) == 200);
        j = session_doc(&r);
        CHECK(strcmp(json_string_value(json_object_get(j, "status")), "complete") == 0);
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "evidence"), "type")),
                     ATTEX_SAMPLE_MEDIA_TYPE) == 0);
        char *ev = b64_encode(fx.raw, fx.raw_len, 0);
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "evidence"), "value")),
                     ev) == 0);
        free(ev);
        const char *res = json_string_value(json_object_get(j, "result"));
        /* Veraison: eat_nonce is the session nonce. */
        CHECK(res && check_ear(res, nonce, 64, &e) == ATTEX_VERDICT_AFFIRMING);
        json_decref(j);
        resp_free(&r);
        /* GET now shows the result; a second POST is a conflict. */
        CHECK(http(h, "GET", path, NULL, ATTEX_SERVICE_SESSION_MEDIA_TYPE, NULL, 0, &r) == 200);
        j = session_doc(&r);
        CHECK(strcmp(json_string_value(json_object_get(j, "status")), "complete") == 0);
        CHECK(json_is_string(json_object_get(j, "result")));
        json_decref(j);
        resp_free(&r);
        CHECK(http(h, "POST", path, ATTEX_SAMPLE_MEDIA_TYPE, NULL, fx.raw, fx.raw_len, &r) == 409);
        check_problem(&r, 409);
        resp_free(&r);
        CHECK(http(h, "DELETE", path, NULL, NULL, NULL, 0, &r) == 204);
        CHECK(r.len == 0);
        resp_free(&r);
        CHECK(http(h, "GET", path, NULL, NULL, NULL, 0, &r) == 404);
        check_problem(&r, 404);
        resp_free(&r);
        CHECK(http(h, "DELETE", path, NULL, NULL, NULL, 0, &r) == 404);
        resp_free(&r);
        free(path);
    }

    /* 2. nonce = binder with aik_pub_hash; a CMW body (application/cmw+cbor). */
    char *bi = b64u(fx.b.binder, 32), *ak = b64u(fx.b.aik_pub_hash, 32);
    snprintf(q, sizeof(q), "?nonce=%s&aik_pub_hash=%s", bi, ak);
    path = new_session(h, q, nonce, &nonce_len);
    if (path != NULL) {
        /* 415 first: an unknown media type leaves the session waiting, with Accept. */
        CHECK(http(h, "POST", path, "application/x-unknown", NULL, fx.raw, fx.raw_len, &r) ==
              415);
        check_problem(&r, 415);
        CHECK(strstr(r.accept, ATTEX_SAMPLE_MEDIA_TYPE) != NULL &&
              strstr(r.accept, "application/cmw+cbor") != NULL);
        resp_free(&r);
        /* A JSON CMW labelled CBOR is a 400 and leaves the session waiting too. */
        CHECK(http(h, "POST", path, "application/cmw+cbor", NULL, "[\"a/b\",\"AA\"]", 12, &r) ==
              400);
        check_problem(&r, 400);
        resp_free(&r);
        CHECK(http(h, "POST", path, "application/cmw+cbor", NULL, fx.cmw.data, fx.cmw.len, &r) ==
              200);
        json_t *j = session_doc(&r);
        const char *res = json_string_value(json_object_get(j, "result"));
        CHECK(res && check_ear(res, fx.b.binder, 32, &e) == ATTEX_VERDICT_AFFIRMING);
        json_decref(j);
        resp_free(&r);
        free(path);
    }
    /* Evidence for another binder: a complete session with a contraindicated EAR. */
    snprintf(q, sizeof(q), "?aik_pub_hash=%s", ak);
    path = new_session(h, q, nonce, &nonce_len);
    CHECK(nonce_len == 32);
    if (path != NULL) {
        CHECK(http(h, "POST", path, "application/cmw+cbor", NULL, fx.cmw.data, fx.cmw.len, &r) ==
              200);
        json_t *j = session_doc(&r);
        const char *res = json_string_value(json_object_get(j, "result"));
        CHECK(res && check_ear(res, nonce, 32, &e) == ATTEX_VERDICT_CONTRAINDICATED);
        json_decref(j);
        resp_free(&r);
        free(path);
    }
    free(bi);
    free(ak);

    /* 3. A server-chosen 64-byte nonce, used as report data by the attester. */
    path = new_session(h, "?nonceSize=64", nonce, &nonce_len);
    if (path != NULL) {
        attex_binding b;
        char why[SVC_WHY_SIZE];
        CHECK(svc_session_binding(nonce, nonce_len, NULL, 0, &b, why, sizeof(why)));
        attex_buf cmw = ATTEX_BUF_INIT;
        attest(&b, &cmw);
        CHECK(http(h, "POST", path, "application/cmw+cbor", NULL, cmw.data, cmw.len, &r) == 200);
        json_t *j = session_doc(&r);
        const char *res = json_string_value(json_object_get(j, "result"));
        CHECK(res && check_ear(res, nonce, 64, &e) == ATTEX_VERDICT_AFFIRMING);
        json_decref(j);
        resp_free(&r);
        attex_buf_free(&cmw);
        free(path);
    }

    /* newSession errors. */
    static const char *bad_q[] = {
        "?nonce=AAAAAAA", "?nonce=AAAAAAAAAAA&nonceSize=8", "?nonceSize=7", "?nonceSize=32",
        "?nonce=a+b", "?aik_pub_hash=AAAA",
    };
    for (size_t i = 0; i < N_ELEMS(bad_q); i++) {
        char p[256];
        snprintf(p, sizeof(p), "/challenge-response/v1/newSession%s", bad_q[i]);
        CHECK(http(h, "POST", p, NULL, NULL, NULL, 0, &r) == 400);
        check_problem(&r, 400);
        resp_free(&r);
    }
    CHECK(http(h, "POST", "/challenge-response/v1/newSession", NULL, "text/html", NULL, 0, &r) ==
          406);
    check_problem(&r, 406);
    resp_free(&r);
    CHECK(http(h, "GET", "/challenge-response/v1/newSession", NULL, NULL, NULL, 0, &r) == 405);
    resp_free(&r);
    /* Unknown and malformed session ids. */
    CHECK(http(h, "GET", "/challenge-response/v1/session/0f8fad5b-d9cb-469f-a165-70867728950e",
               NULL, NULL, NULL, 0, &r) == 404);
    check_problem(&r, 404);
    resp_free(&r);
    CHECK(http(h, "POST", "/challenge-response/v1/session/0f8fad5b-d9cb-469f-a165-70867728950e",
               ATTEX_SAMPLE_MEDIA_TYPE, NULL, fx.raw, fx.raw_len, &r) == 404);
    resp_free(&r);
    CHECK(http(h, "GET", "/challenge-response/v1/session/..%2F..", NULL, NULL, NULL, 0, &r) ==
          404);
    resp_free(&r);
    /* 406 on a session, and an empty evidence body. */
    path = new_session(h, "", nonce, &nonce_len);
    if (path != NULL) {
        CHECK(http(h, "GET", path, NULL, "text/html", NULL, 0, &r) == 406);
        resp_free(&r);
        CHECK(http(h, "POST", path, ATTEX_SAMPLE_MEDIA_TYPE, NULL, NULL, 0, &r) == 400);
        check_problem(&r, 400);
        resp_free(&r);
        CHECK(http(h, "PUT", path, NULL, NULL, NULL, 0, &r) == 405);
        resp_free(&r);
        free(path);
    }
}

static void test_expiry_and_limits(CURL *h)
{
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.session_ttl = 1;
    c.max_sessions = 2;
    const attex_verifier *vs[] = {fx.verifier};
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL)
        return;
    http_resp r;
    uint8_t nonce[64];
    size_t nl;
    char *p1 = new_session(h, "", nonce, &nl);
    char *p2 = new_session(h, "", nonce, &nl);
    /* Bounded number of sessions: the third is refused while two live. */
    CHECK(http(h, "POST", "/challenge-response/v1/newSession", NULL, NULL, NULL, 0, &r) == 503);
    check_problem(&r, 503);
    resp_free(&r);
    struct timespec ts = {2, 200000000L};
    nanosleep(&ts, NULL);
    /* Expired: gone, evidence refused, and their slots free again. */
    if (p1 != NULL) {
        CHECK(http(h, "GET", p1, NULL, NULL, NULL, 0, &r) == 404);
        resp_free(&r);
    }
    if (p2 != NULL) {
        CHECK(http(h, "POST", p2, ATTEX_SAMPLE_MEDIA_TYPE, NULL, fx.raw, fx.raw_len, &r) == 404);
        resp_free(&r);
    }
    char *p3 = new_session(h, "", nonce, &nl);
    CHECK(p3 != NULL);
    free(p1);
    free(p2);
    free(p3);
    attex_service_free(svc);
}

/* ---- concurrency and shutdown ------------------------------------------- */

typedef struct worker {
    pthread_t t;
    int requests;
    const char *body;
    int ok, failed, refused;
    int stop_tolerant; /* the service may go away underneath */
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    CURL *h = curl_easy_init();
    for (int i = 0; i < w->requests; i++) {
        char *status = NULL, *ear = NULL;
        long st = one_shot(h, w->body, &status, &ear);
        if (st == 200 && status && strcmp(status, "affirming") == 0 && ear != NULL) {
            attex_ear e;
            attex_ear_validate_opts o;
            memset(&o, 0, sizeof(o));
            o.keys = &discovered_key;
            o.num_keys = 1;
            o.nonce = fx.b.binder;
            o.nonce_len = 32;
            attex_error err;
            if (attex_ear_validate((const uint8_t *)ear, strlen(ear), &o, &e, &err) == ATTEX_OK &&
                attex_ear_worst(&e) == ATTEX_VERDICT_AFFIRMING)
                w->ok++;
            else
                w->failed++;
        } else if (st == 0 && w->stop_tolerant) {
            w->refused++;
        } else {
            w->failed++;
        }
        free(status);
        free(ear);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void test_concurrent(void)
{
    log_sink sink;
    memset(&sink, 0, sizeof(sink));
    pthread_mutex_init(&sink.lock, NULL);
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.log_fn = on_log;
    c.log_ctx = &sink;
    const attex_verifier *vs[] = {fx.verifier};
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL)
        return;
    char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
    worker w[8];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 8; i++) {
        w[i].requests = 50;
        w[i].body = body;
        pthread_create(&w[i].t, NULL, worker_main, &w[i]);
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(w[i].t, NULL);
        ok += w[i].ok;
        failed += w[i].failed;
    }
    CHECK(ok == 400 && failed == 0);
    if (ok != 400)
        fprintf(stderr, "  concurrent: %d ok, %d failed\n", ok, failed);
    /* Once stopped, every request has been logged: one well-formed line each. */
    attex_service_free(svc);
    CHECK(sink.lines == 400 && sink.ok_fields == 400);
    if (sink.lines != 400)
        fprintf(stderr, "  access log: %u lines for 400 requests\n", sink.lines);
    pthread_mutex_destroy(&sink.lock);
    free(body);
}

typedef struct slow_req {
    pthread_t t;
    const char *body;
    long status;
    char *verdict;
} slow_req;

static void *slow_main(void *arg)
{
    slow_req *s = arg;
    CURL *h = curl_easy_init();
    char *ear = NULL;
    s->status = one_shot(h, s->body, &s->verdict, &ear);
    free(ear);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_clean_stop(void)
{
    slow_ctx sc;
    memset(&sc, 0, sizeof(sc));
    pthread_mutex_init(&sc.lock, NULL);
    sc.inner = fx.verifier;
    sc.delay_ms = 400;
    attex_verifier slow = {"sample", ATTEX_SAMPLE_MEDIA_TYPE, 0, &sc, slow_appraise};
    const attex_verifier *vs[] = {&slow};
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL)
        return;
    char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
    slow_req s[2];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 2; i++) {
        s[i].body = body;
        pthread_create(&s[i].t, NULL, slow_main, &s[i]);
    }
    /* Wait until both are inside the plug-in, then stop: both must still get their answer. */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&sc.lock);
        int n = sc.entered;
        pthread_mutex_unlock(&sc.lock);
        if (n == 2)
            break;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    attex_service_stop(svc);
    /* The worker threads appraise in parallel unless told otherwise. */
    CHECK(sc.max_active == 2);
    for (int i = 0; i < 2; i++) {
        pthread_join(s[i].t, NULL);
        CHECK(s[i].status == 200 && s[i].verdict && strcmp(s[i].verdict, "affirming") == 0);
        free(s[i].verdict);
    }
    /* Stopped: no one is listening any more. */
    CURL *h = curl_easy_init();
    http_resp r;
    CHECK(http(h, "GET", "/.well-known/veraison/verification", NULL, NULL, NULL, 0, &r) == 0);
    resp_free(&r);
    curl_easy_cleanup(h);
    attex_service_stop(svc); /* idempotent */
    attex_service_free(svc);

    /* Stop under load from 4 clients: every answer received is complete and right. */
    memset(&c, 0, sizeof(c));
    vs[0] = fx.verifier;
    svc = start(&c, vs, 1);
    if (svc != NULL) {
        worker w[4];
        memset(w, 0, sizeof(w));
        for (int i = 0; i < 4; i++) {
            w[i].requests = 1000;
            w[i].body = body;
            w[i].stop_tolerant = 1;
            pthread_create(&w[i].t, NULL, worker_main, &w[i]);
        }
        struct timespec ts = {0, 300000000L};
        nanosleep(&ts, NULL);
        attex_service_free(svc);
        int ok = 0, failed = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(w[i].t, NULL);
            ok += w[i].ok;
            failed += w[i].failed;
        }
        CHECK(ok > 0 && failed == 0);
        if (failed != 0)
            fprintf(stderr, "  stop under load: %d ok, %d failed\n", ok, failed);
    }
    free(body);
    pthread_mutex_destroy(&sc.lock);
}

/* ---- HTTPS -------------------------------------------------------------- */

static char *pem_of(int (*write)(BIO *, void *), void *obj)
{
    BIO *b = BIO_new(BIO_s_mem());
    write(b, obj);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *out = calloc(1, (size_t)n + 1);
    memcpy(out, p, (size_t)n);
    BIO_free(b);
    return out;
}

static int write_cert(BIO *b, void *x)
{
    return PEM_write_bio_X509(b, x);
}

static int write_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static void test_https(void)
{
    EVP_PKEY *k = tu_key("p256");
    X509 *x = tu_cert(k, "localhost", NULL, NULL, 0, 1);
    char *cert = pem_of(write_cert, x), *key = pem_of(write_key, k);
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.tls_cert_pem = cert;
    c.tls_key_pem = key;
    const attex_verifier *vs[] = {fx.verifier};
    attex_service *svc = start(&c, vs, 1);
    if (svc != NULL) {
        scheme = "https";
        ca_pem = cert;
        CURL *h = curl_easy_init();
        char *status, *ear;
        char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
        CHECK(one_shot(h, body, &status, &ear) == 200);
        CHECK(status && strcmp(status, "affirming") == 0);
        free(status);
        free(ear);
        /* A client that does not trust the certificate gets nothing. */
        ca_pem = NULL;
        CHECK(one_shot(h, body, &status, &ear) == 0);
        free(body);
        curl_easy_cleanup(h);
        scheme = "http";
        attex_service_free(svc);
    }
    free(cert);
    free(key);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ---- options: serialised plug-ins, access-log FILE, chunked bodies, files ---- */

typedef struct feed {
    size_t left;
} feed;

static size_t on_read(char *buf, size_t size, size_t n, void *u)
{
    feed *f = u;
    size_t k = size * n < f->left ? size * n : f->left;
    memset(buf, ' ', k);
    f->left -= k;
    return k;
}

/* POSTs `len` spaces with chunked transfer coding (no Content-Length); returns the status. */
static long post_chunked(size_t len)
{
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, ATTEX_SERVICE_APPRAISE_PATH);
    feed f = {len};
    http_resp r;
    memset(&r, 0, sizeof(r));
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &f);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long st = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(r.body);
    return st;
}

static void test_options(void)
{
    slow_ctx sc;
    memset(&sc, 0, sizeof(sc));
    pthread_mutex_init(&sc.lock, NULL);
    sc.inner = fx.verifier;
    sc.delay_ms = 100;
    attex_verifier slow = {"sample", ATTEX_SAMPLE_MEDIA_TYPE, 0, &sc, slow_appraise};
    const attex_verifier *vs[] = {&slow};
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.threads = 3;
    c.serialize_appraisal = 1;
    c.max_body = 4096;
    FILE *log = tmpfile();
    c.access_log = log;
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL || log == NULL) {
        if (log)
            fclose(log);
        attex_service_free(svc);
        return;
    }
    char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
    slow_req s[3];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 3; i++) {
        s[i].body = body;
        pthread_create(&s[i].t, NULL, slow_main, &s[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(s[i].t, NULL);
        CHECK(s[i].status == 200 && s[i].verdict && strcmp(s[i].verdict, "affirming") == 0);
        free(s[i].verdict);
    }
    /* serialize_appraisal: never two plug-in calls at once. */
    CHECK(sc.entered == 3 && sc.max_active == 1);
    free(body);

    /* A chunked body that grows past max_body: 413 once it is all read; a small one is
     * read whole (and is not JSON). */
    CHECK(post_chunked(20000) == 413);
    CHECK(post_chunked(100) == 400);

    /* A padded Veraison nonce (percent-encoded '=') is accepted and echoed unpadded. */
    CURL *h = curl_easy_init();
    uint8_t nonce[64];
    size_t nl = 0;
    char *padded = b64_encode(fx.b.report_data, 64, 0);
    for (char *p = padded; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    char q[200];
    size_t pl = strlen(padded);
    CHECK(pl == 88 && padded[86] == '=' && padded[87] == '=');
    padded[86] = '\0';
    snprintf(q, sizeof(q), "?nonce=%s%%3D%%3D", padded);
    free(padded);
    char *path = new_session(h, q, nonce, &nl);
    CHECK(nl == 64 && memcmp(nonce, fx.b.report_data, 64) == 0);
    free(path);
    curl_easy_cleanup(h);
    attex_service_free(svc);

    /* The access log FILE: one JSON line per request (3 appraisals, 2 chunked, 1 session). */
    rewind(log);
    char line[2048];
    int lines = 0, good = 0;
    while (fgets(line, sizeof(line), log) != NULL) {
        lines++;
        json_t *j = json_loads(line, 0, NULL);
        good += j != NULL && json_integer_value(json_object_get(j, "status")) >= 200 &&
                json_integer_value(json_object_get(j, "duration_us")) >= 0;
        json_decref(j);
    }
    CHECK(lines == 6 && good == 6);
    fclose(log);
    pthread_mutex_destroy(&sc.lock);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

static void test_files_and_errors(void)
{
    /* Keys and certificates from files, in a scratch directory under the working directory. */
    char dir[] = "test_service_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ear_path[64], cert_path[64], key_path[64], bad_path[64];
    snprintf(ear_path, sizeof(ear_path), "%s/ear.pem", dir);
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    snprintf(bad_path, sizeof(bad_path), "%s/missing.pem", dir);
    EVP_PKEY *k = tu_key("p256");
    X509 *x = tu_cert(k, "localhost", NULL, NULL, 0, 1);
    char *cert = pem_of(write_cert, x), *key = pem_of(write_key, k),
         *ear = pem_of(write_key, fx.ear_key);
    CHECK(write_file(ear_path, ear) && write_file(cert_path, cert) && write_file(key_path, key));
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    const attex_verifier *vs[] = {fx.verifier};
    c.verifiers = vs;
    c.num_verifiers = 1;
    c.verifier_developer = "attex-test";
    c.ear_key_path = ear_path;
    c.tls_cert_path = cert_path;
    c.tls_key_path = key_path;
    attex_error err;
    attex_service *svc = attex_service_new(&c, &err);
    CHECK(svc != NULL);
    int p = svc ? attex_service_start(svc, &err) : -1;
    CHECK(p > 0);
    if (p > 0) {
        port = p;
        scheme = "https";
        ca_pem = cert;
        CURL *h = curl_easy_init();
        char *status, *jwt;
        char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
        CHECK(one_shot(h, body, &status, &jwt) == 200);
        attex_ear e;
        CHECK(jwt && check_ear(jwt, fx.b.binder, 32, &e) == ATTEX_VERDICT_AFFIRMING);
        free(status);
        free(jwt);
        free(body);
        curl_easy_cleanup(h);
        scheme = "http";
        ca_pem = NULL;
        /* The port is taken now. */
        attex_service_config c2;
        memset(&c2, 0, sizeof(c2));
        c2.ear_key = fx.ear_key;
        c2.port = (uint16_t)p;
        attex_service *svc2 = attex_service_new(&c2, &err);
        CHECK(svc2 != NULL && attex_service_start(svc2, &err) < 0);
        CHECK(strstr(err.message, "port") != NULL);
        attex_service_free(svc2);
    }
    attex_service_free(svc);

    /* Files that are missing or hold the wrong thing. */
    c.ear_key_path = bad_path;
    CHECK(attex_service_new(&c, &err) == NULL && strstr(err.message, "missing.pem") != NULL);
    c.ear_key_path = cert_path;
    CHECK(attex_service_new(&c, &err) == NULL && strstr(err.message, "PEM private key") != NULL);
    c.ear_key_path = ear_path;
    c.tls_key_path = bad_path;
    CHECK(attex_service_new(&c, &err) == NULL && strstr(err.message, "TLS private key") != NULL);
    /* A certificate and key that do not load fail at start. */
    c.tls_key_path = ear_path;
    c.tls_cert_path = ear_path;
    svc = attex_service_new(&c, &err);
    CHECK(svc != NULL && attex_service_start(svc, &err) < 0);
    attex_service_free(svc);
    /* An address that is not a literal; IPv6 loopback works. */
    memset(&c, 0, sizeof(c));
    c.ear_key = fx.ear_key;
    c.address = "localhost";
    svc = attex_service_new(&c, &err);
    CHECK(svc != NULL && attex_service_start(svc, &err) == ATTEX_ERR_INVALID_ARGUMENT);
    attex_service_free(svc);
    c.address = "::1";
    svc = attex_service_new(&c, &err);
    if (svc != NULL && attex_service_start(svc, &err) > 0)
        CHECK(1);
    else
        fprintf(stderr, "  (no IPv6 loopback here: %s)\n", err.message);
    attex_service_free(svc);
    /* A plug-in with nothing to match by. */
    attex_verifier untyped = {"x", NULL, 0, NULL, slow_appraise};
    const attex_verifier *uv[] = {&untyped};
    c.verifiers = uv;
    c.num_verifiers = 1;
    CHECK(attex_service_new(&c, &err) == NULL && err.code == ATTEX_ERR_INVALID_ARGUMENT);

    remove(ear_path);
    remove(cert_path);
    remove(key_path);
    rmdir(dir);
    free(cert);
    free(key);
    free(ear);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ---- connection bounds -------------------------------------------------- */

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the server closed fd within `ms` milliseconds (read gives EOF or an error). */
static int closed_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return 0;
    char c;
    return read(fd, &c, 1) <= 0;
}

static void test_connection_bounds(void)
{
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.max_connections = 2;
    c.connection_timeout = 1;
    const attex_verifier *vs[] = {fx.verifier};
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL)
        return;
    int a = tcp_connect(), b = tcp_connect();
    CHECK(a >= 0 && b >= 0);
    struct timespec ts = {0, 200000000L};
    nanosleep(&ts, NULL);
    /* A third connection is closed at once: the limit holds. */
    int extra = tcp_connect();
    CHECK(extra < 0 || closed_within(extra, 500));
    if (extra >= 0)
        close(extra);
    /* The idle ones are closed after the connection timeout. */
    CHECK(closed_within(a, 3000) && closed_within(b, 3000));
    close(a);
    close(b);
    nanosleep(&ts, NULL);
    /* Then there is room again. */
    CURL *h = curl_easy_init();
    http_resp r;
    CHECK(http(h, "GET", "/.well-known/veraison/verification", NULL, NULL, NULL, 0, &r) == 200);
    resp_free(&r);
    curl_easy_cleanup(h);
    attex_service_free(svc);
}

/* ---- the contract with attex's client (attex_http, docs/verifier.md) ----- */

static void test_client_contract(void)
{
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    const attex_verifier *vs[] = {fx.verifier};
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL)
        return;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    attex_http_opts http;
    memset(&http, 0, sizeof(http));
    http.url = url;
    attex_error err;

    /* Discovery: the client reads the key the service signs with. */
    EVP_PKEY *k = NULL;
    CHECK_RC(attex_remote_fetch_key(&http, &k, &err), ATTEX_OK, &err);
    CHECK(k != NULL && EVP_PKEY_eq(k, fx.ear_key) == 1);
    EVP_PKEY_free(k);

    /* One-shot, SHA-256 and SHA-384 bindings. */
    attex_buf jwt = ATTEX_BUF_INIT;
    attex_ear e;
    CHECK_RC(attex_remote_appraise(&http, fx.cmw.data, fx.cmw.len, &fx.b, &jwt, &err), ATTEX_OK,
             &err);
    char *text = calloc(1, jwt.len + 1);
    memcpy(text, jwt.data, jwt.len);
    CHECK(check_ear(text, fx.b.binder, 32, &e) == ATTEX_VERDICT_AFFIRMING);
    free(text);
    attex_buf_free(&jwt);
    attex_binding b384;
    attex_buf cmw384 = ATTEX_BUF_INIT;
    make_binding(ATTEX_HASH_SHA384, &b384);
    attest(&b384, &cmw384);
    CHECK_RC(attex_remote_appraise(&http, cmw384.data, cmw384.len, &b384, &jwt, &err), ATTEX_OK,
             &err);
    attex_buf_free(&jwt);

    /* Background check: the client's plug-in forwards the Record and judges the EAR. */
    attex_remote_verifier_config rc;
    memset(&rc, 0, sizeof(rc));
    rc.http = http;
    rc.keys = &fx.ear_key;
    rc.num_keys = 1;
    attex_verifier *rv = attex_remote_verifier_new(&rc, &err);
    CHECK(rv != NULL);
    const attex_verifier *sample_rv = NULL;
    for (size_t i = 0; rv != NULL && i < attex_remote_verifier_count(rv); i++) {
        const attex_verifier *v = attex_remote_verifier_at(rv, i);
        if (v->media_type && strcmp(v->media_type, ATTEX_SAMPLE_MEDIA_TYPE) == 0)
            sample_rv = v;
    }
    CHECK(sample_rv != NULL);
    if (sample_rv != NULL) {
        attex_cmw *rec = NULL;
        CHECK_RC(attex_cmw_decode(fx.cmw.data, fx.cmw.len, NULL, &rec, &err), ATTEX_OK, &err);
        attex_appraisal a;
        memset(&a, 0, sizeof(a));
        CHECK_RC(sample_rv->appraise(sample_rv->ctx, rec, &fx.b, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING);
        attex_appraisal_clear(&a);
        /* The same evidence against another connection's binding is not affirmed. */
        memset(&a, 0, sizeof(a));
        int ret = sample_rv->appraise(sample_rv->ctx, rec, &b384, &a, &err);
        CHECK(ret != ATTEX_OK || a.verdict != ATTEX_VERDICT_AFFIRMING);
        attex_appraisal_clear(&a);
        attex_cmw_free(rec);
    }
    attex_remote_verifier_free(rv);

    /* Passport: the attester gets an EAR from the service; the relying party's EAR plug-in
     * accepts it for this binding. */
    attex_passport_attester_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.http = http;
    pc.inner = fx.attester;
    pc.keys = &fx.ear_key;
    pc.num_keys = 1;
    attex_attester *pa = attex_passport_attester_new(&pc, &err);
    CHECK(pa != NULL);
    attex_ear_verifier_config ec;
    memset(&ec, 0, sizeof(ec));
    ec.keys = &fx.ear_key;
    ec.num_keys = 1;
    attex_verifier *ev = attex_ear_verifier_new(&ec, &err);
    CHECK(ev != NULL);
    if (pa != NULL && ev != NULL) {
        attex_buf out = ATTEX_BUF_INIT;
        CHECK_RC(pa->attest(pa->ctx, &fx.b, &out, &err), ATTEX_OK, &err);
        attex_cmw *rec = NULL;
        CHECK_RC(attex_cmw_decode(out.data, out.len, NULL, &rec, &err), ATTEX_OK, &err);
        CHECK(rec != NULL && attex_cmw_ind(rec) == ATTEX_CMW_IND_ATTESTATION_RESULTS);
        attex_appraisal a;
        memset(&a, 0, sizeof(a));
        if (rec != NULL) {
            CHECK_RC(ev->appraise(ev->ctx, rec, &fx.b, &a, &err), ATTEX_OK, &err);
            CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING);
        }
        attex_appraisal_clear(&a);
        attex_cmw_free(rec);
        attex_buf_free(&out);
    }
    attex_ear_verifier_free(ev);
    attex_passport_attester_free(pa);
    attex_buf_free(&cmw384);
    attex_service_free(svc);
}

/* ---- a session while its evidence is being appraised --------------------- */

typedef struct session_post {
    pthread_t t;
    const char *path;
    long status;
} session_post;

static void *session_post_main(void *arg)
{
    session_post *sp = arg;
    CURL *h = curl_easy_init();
    http_resp r;
    sp->status = http(h, "POST", sp->path, ATTEX_SAMPLE_MEDIA_TYPE, NULL, fx.raw, fx.raw_len, &r);
    resp_free(&r);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_session_processing(void)
{
    slow_ctx sc;
    memset(&sc, 0, sizeof(sc));
    pthread_mutex_init(&sc.lock, NULL);
    sc.inner = fx.verifier;
    sc.delay_ms = 1500;
    attex_verifier slow = {"sample", ATTEX_SAMPLE_MEDIA_TYPE, 0, &sc, slow_appraise};
    const attex_verifier *vs[] = {&slow};
    attex_service_config c;
    memset(&c, 0, sizeof(c));
    c.session_ttl = 1; /* expires during the appraisal, which must still complete */
    attex_service *svc = start(&c, vs, 1);
    if (svc == NULL)
        return;
    CURL *h = curl_easy_init();
    uint8_t nonce[64];
    size_t nl;
    char *rd = b64u(fx.b.report_data, 64), q[128];
    snprintf(q, sizeof(q), "?nonce=%s", rd);
    free(rd);
    char *path = new_session(h, q, nonce, &nl);
    if (path != NULL) {
        session_post sp = {0, path, 0};
        pthread_create(&sp.t, NULL, session_post_main, &sp);
        for (int i = 0; i < 300; i++) {
            pthread_mutex_lock(&sc.lock);
            int n = sc.entered;
            pthread_mutex_unlock(&sc.lock);
            if (n == 1)
                break;
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
        }
        http_resp r;
        CHECK(http(h, "GET", path, NULL, NULL, NULL, 0, &r) == 200);
        json_t *j = session_doc(&r);
        CHECK(strcmp(json_string_value(json_object_get(j, "status")), "processing") == 0);
        json_decref(j);
        resp_free(&r);
        CHECK(http(h, "DELETE", path, NULL, NULL, NULL, 0, &r) == 409);
        check_problem(&r, 409);
        resp_free(&r);
        CHECK(http(h, "POST", path, ATTEX_SAMPLE_MEDIA_TYPE, NULL, fx.raw, fx.raw_len, &r) == 409);
        resp_free(&r);
        pthread_join(sp.t, NULL);
        CHECK(sp.status == 200);
        free(path);
    }
    curl_easy_cleanup(h);
    attex_service_free(svc);
    pthread_mutex_destroy(&sc.lock);
}

/* ---- settings from a configuration file ---------------------------------- */

static int settings_fail(const char *service_json, const char *want)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"service\": %s, \"sample\": {}}", service_json);
    attex_service_settings *s = NULL;
    attex_error err;
    attex_error_clear(&err);
    int ret = attex_service_settings_parse(text, strlen(text), "test.json", NULL, &s, &err);
    attex_service_settings_free(s);
    int ok = ret == ATTEX_ERR_INVALID_ARGUMENT && s == NULL && strstr(err.message, want) != NULL &&
             strncmp(err.message, "test.json: ", 11) == 0;
    if (!ok)
        fprintf(stderr, "  settings %s: %s\n", service_json, err.message);
    return ok;
}

static void test_settings(void)
{
    attex_error err;
    attex_service_settings *s = NULL;
    attex_service_config c;

    /* Every setting, applied. */
    const char *all =
        "{\"service\": {\"listen\": \"[::1]:8443\", \"tls_cert\": \"c.pem\", "
        "\"tls_key\": \"/abs/k.pem\", \"ear_key\": \"ear.pem\", \"ear_lifetime\": 60, "
        "\"verifier_developer\": \"dev\", \"verifier_build\": \"b1\", \"threads\": 0, "
        "\"max_connections\": 5, \"connection_timeout\": 7, \"max_body\": 4096, "
        "\"session_ttl\": 9, \"max_sessions\": 11, \"serialize_appraisal\": true, "
        "\"access_log\": \"-\"}, \"tpm\": {\"anything\": 1}}";
    CHECK_RC(attex_service_settings_parse(all, strlen(all), "all", "conf", &s, &err), ATTEX_OK,
             &err);
    memset(&c, 0, sizeof(c));
    c.threads = 3;
    c.ear_key = fx.ear_key;
    attex_service_settings_apply(s, &c);
    CHECK(c.address && strcmp(c.address, "::1") == 0 && c.port == 8443);
    CHECK(c.tls_cert_path && strcmp(c.tls_cert_path, "conf/c.pem") == 0);
    CHECK(c.tls_key_path && strcmp(c.tls_key_path, "/abs/k.pem") == 0);
    CHECK(c.ear_key_path && strcmp(c.ear_key_path, "conf/ear.pem") == 0 &&
          c.ear_key == fx.ear_key);
    CHECK(c.ear_lifetime == 60 && c.threads == 0 && c.max_connections == 5 &&
          c.connection_timeout == 7 && c.max_body == 4096 && c.session_ttl == 9 &&
          c.max_sessions == 11 && c.serialize_appraisal == 1);
    CHECK(strcmp(c.verifier_developer, "dev") == 0 && strcmp(c.verifier_build, "b1") == 0);
    CHECK(strcmp(attex_service_settings_access_log(s), "-") == 0);
    attex_service_settings_free(s);

    /* Unset fields stay as they were; ":PORT" keeps the address. */
    const char *few = "{\"service\": {\"listen\": \":9000\"}}";
    CHECK_RC(attex_service_settings_parse(few, strlen(few), NULL, NULL, &s, &err), ATTEX_OK,
             &err);
    memset(&c, 0, sizeof(c));
    c.address = "127.0.0.2";
    c.max_body = 77;
    attex_service_settings_apply(s, &c);
    CHECK(strcmp(c.address, "127.0.0.2") == 0 && c.port == 9000 && c.max_body == 77 &&
          c.tls_cert_path == NULL && attex_service_settings_access_log(s) == NULL);
    attex_service_settings_free(s);

    /* Each rule, broken once. */
    CHECK(settings_fail("{\"listn\": \":1\"}", "unknown setting service.listn"));
    CHECK(settings_fail("{\"listen\": 8443}", "service.listen"));
    CHECK(settings_fail("{\"listen\": \"127.0.0.1\"}", "ADDRESS:PORT"));
    CHECK(settings_fail("{\"listen\": \"::1:8443\"}", "ADDRESS:PORT"));
    CHECK(settings_fail("{\"listen\": \"[::1]\"}", "ADDRESS:PORT"));
    CHECK(settings_fail("{\"listen\": \"h:65536\"}", "ADDRESS:PORT"));
    CHECK(settings_fail("{\"listen\": \"h:80x\"}", "ADDRESS:PORT"));
    CHECK(settings_fail("{\"threads\": 257}", "service.threads"));
    CHECK(settings_fail("{\"threads\": -1}", "service.threads"));
    CHECK(settings_fail("{\"max_body\": 100}", "service.max_body"));
    CHECK(settings_fail("{\"ear_lifetime\": 0}", "service.ear_lifetime"));
    CHECK(settings_fail("{\"session_ttl\": \"150\"}", "service.session_ttl"));
    CHECK(settings_fail("{\"max_connections\": 1.5}", "service.max_connections"));
    CHECK(settings_fail("{\"serialize_appraisal\": 1}", "true or false"));
    CHECK(settings_fail("{\"ear_key\": \"\"}", "non-empty"));
    CHECK(settings_fail("{\"ear_key\": \"a\\nb\"}", "control character"));
    CHECK(settings_fail("{\"tls_cert\": \"c.pem\"}", "go together"));
    CHECK(settings_fail("{\"threads\": 1, \"threads\": 2}", "not valid JSON"));
    CHECK(settings_fail("[]", "\"service\" object"));
    const char *none = "{\"sample\": {}}";
    CHECK(attex_service_settings_parse(none, strlen(none), "x", NULL, &s, &err) ==
              ATTEX_ERR_INVALID_ARGUMENT &&
          s == NULL);
    CHECK(attex_service_settings_parse("{", 1, "x", NULL, &s, &err) == ATTEX_ERR_INVALID_ARGUMENT);

    /* A file whose relative paths are relative to it; the service starts from it. */
    char dir[] = "test_service_cfg_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64], ear_path[64], missing[64];
    snprintf(path, sizeof(path), "%s/verifier.json", dir);
    snprintf(ear_path, sizeof(ear_path), "%s/ear.pem", dir);
    snprintf(missing, sizeof(missing), "%s/none.json", dir);
    char *ear = pem_of(write_key, fx.ear_key);
    CHECK(write_file(ear_path, ear));
    CHECK(write_file(path, "{\"service\": {\"listen\": \"127.0.0.1:0\", \"ear_key\": "
                           "\"ear.pem\", \"verifier_developer\": \"attex-test\"}}"));
    CHECK_RC(attex_service_settings_load(path, &s, &err), ATTEX_OK, &err);
    memset(&c, 0, sizeof(c));
    const attex_verifier *vs[] = {fx.verifier};
    c.verifiers = vs;
    c.num_verifiers = 1;
    attex_service_settings_apply(s, &c);
    CHECK(c.ear_key_path && strcmp(c.ear_key_path, ear_path) == 0);
    attex_service *svc = attex_service_new(&c, &err);
    CHECK(svc != NULL);
    int p = svc ? attex_service_start(svc, &err) : -1;
    CHECK(p > 0);
    if (p > 0) {
        port = p;
        CURL *h = curl_easy_init();
        char *status, *jwt;
        char *body = appraise_body(fx.cmw.data, fx.cmw.len, &fx.b);
        CHECK(one_shot(h, body, &status, &jwt) == 200);
        attex_ear e;
        CHECK(jwt && check_ear(jwt, fx.b.binder, 32, &e) == ATTEX_VERDICT_AFFIRMING);
        free(status);
        free(jwt);
        free(body);
        curl_easy_cleanup(h);
    }
    attex_service_free(svc);
    attex_service_settings_free(s);
    CHECK(attex_service_settings_load(missing, &s, &err) != ATTEX_OK && s == NULL &&
          strstr(err.message, "none.json") != NULL);
    remove(path);
    remove(ear_path);
    rmdir(dir);
    free(ear);
}

int main(void)
{
    srand(7);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!fixture_init()) {
        CHECK(0);
        return tu_finish("test_service");
    }
    test_parsers();
    test_in_process();
    if (discovered_key != NULL) {
        log_sink sink;
        memset(&sink, 0, sizeof(sink));
        pthread_mutex_init(&sink.lock, NULL);
        attex_service_config c;
        memset(&c, 0, sizeof(c));
        c.log_fn = on_log;
        c.log_ctx = &sink;
        c.threads = 4;
        const attex_verifier *vs[] = {fx.verifier};
        attex_service *svc = start(&c, vs, 1);
        if (svc != NULL) {
            CURL *h = curl_easy_init();
            test_discovery(h);
            test_one_shot(h);
            test_veraison(h);
            curl_easy_cleanup(h);
            attex_service_free(svc);
            CHECK(sink.lines > 50 && sink.ok_fields == sink.lines);
        }
        pthread_mutex_destroy(&sink.lock);
        test_concurrent();
        CURL *h = curl_easy_init();
        test_expiry_and_limits(h);
        curl_easy_cleanup(h);
        test_clean_stop();
        test_https();
        test_options();
        test_files_and_errors();
        test_connection_bounds();
        test_client_contract();
        test_session_processing();
        test_settings();
    }
    EVP_PKEY_free(discovered_key);
    fixture_free();
    curl_global_cleanup();
    return tu_finish("test_service");
}
