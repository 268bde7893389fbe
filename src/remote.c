/*
 * attex: a remote Verifier over HTTP(S) with libcurl (docs/verifier.md).
 *
 * Fail closed everywhere: a Verifier that cannot be reached, is slow, answers
 * with an error or with anything but a well-formed, validly signed EAR for
 * this binder yields an error. Requests are bounded in time (connect and
 * total timeouts) and in size (ATTEX_REMOTE_MAX_RESPONSE), redirects are not
 * followed, and only http and https are spoken.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <attex/remote.h>
#include <attex/sample.h>

#include "crypto.h"
#include "b64.h"
#include "ear_internal.h"
#include "internal.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

#define REMOTE_MAX_URL 2048
#define REMOTE_MAX_TYPES 16

/* The evidence types attex produces that a Verifier appraises. */
static const char *const default_types[] = {
    ATTEX_SAMPLE_MEDIA_TYPE, "application/vnd.veraison.tsm-report+cbor",
    "application/eat-collection; profile=\"http://arm.com/CCA-SSD/1.0.0\""};

/* ---------------------------------------------------------------------- */
/* HTTP                                                                   */

typedef struct body {
    uint8_t *data;
    size_t len;
    int too_big;
} body;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    body *b = ud;
    size_t add = size * n;
    if (add > ATTEX_REMOTE_MAX_RESPONSE - b->len) {
        b->too_big = 1;
        return 0; /* libcurl aborts the transfer with CURLE_WRITE_ERROR */
    }
    uint8_t *q = realloc(b->data, b->len + add + 1);
    if (q == NULL)
        return 0;
    memcpy(q + b->len, p, add);
    b->data = q;
    b->len += add;
    b->data[b->len] = 0;
    return add;
}

static int check_http(const attex_http_opts *h, attex_error *err)
{
    if (h == NULL || h->url == NULL || h->url[0] == '\0')
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the remote Verifier needs a URL (http://host:port or https://...)");
    if (strncasecmp(h->url, "http://", 7) != 0 && strncasecmp(h->url, "https://", 8) != 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the Verifier URL \"%.200s\" must start with http:// or https://",
                          h->url);
    if (strlen(h->url) > REMOTE_MAX_URL - 64)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the Verifier URL is longer than %d bytes", REMOTE_MAX_URL - 64);
    return ATTEX_OK;
}

/* join_url appends `path` to the base URL, without doubling a '/'. */
static void join_url(const char *base, const char *path, char *out, size_t out_size)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    snprintf(out, out_size, "%.*s%s", (int)n, base, path);
}

/* problem_text extracts RFC 9457 problem details (title, detail) for a message. */
static void problem_text(const body *b, char *out, size_t out_size)
{
    out[0] = '\0';
    if (b->data == NULL)
        return;
    json_t *o = json_loadb((const char *)b->data, b->len, 0, NULL);
    json_t *title = json_object_get(o, "title"), *detail = json_object_get(o, "detail");
    char t[120] = "", d[240] = "";
    if (json_is_string(title))
        util_safe_text(json_string_value(title), json_string_length(title), t, sizeof(t));
    if (json_is_string(detail))
        util_safe_text(json_string_value(detail), json_string_length(detail), d, sizeof(d));
    if (t[0] || d[0])
        snprintf(out, out_size, ": %s%s%s", t, t[0] && d[0] ? " " : "", d);
    json_decref(o);
}

/*
 * http_call performs one request (POST when `post` is not NULL, else GET)
 * and returns the body of a 200 answer whose Content-Type starts with
 * `want_type`. Everything else is an error naming the URL.
 */
static int http_call(const attex_http_opts *h, const char *path, const char *post,
                     const char *want_type, body *out, attex_error *err)
{
    char url[REMOTE_MAX_URL], ebuf[CURL_ERROR_SIZE] = "";
    join_url(h->url, path, url, sizeof(url));
    uint32_t cto = h->connect_timeout_ms ? h->connect_timeout_ms
                                         : ATTEX_REMOTE_DEFAULT_CONNECT_TIMEOUT_MS;
    uint32_t to = h->timeout_ms ? h->timeout_ms : ATTEX_REMOTE_DEFAULT_TIMEOUT_MS;
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    if (c == NULL)
        return NOMEM(err);
    /* A small body: no "Expect: 100-continue" round trip. */
    static const char *const lines[] = {"Accept: application/json, application/problem+json",
                                        "Content-Type: application/json", "Expect:"};
    CURLcode rc = CURLE_OK;
    for (size_t i = 0; i < (post != NULL ? 3 : 1) && rc == CURLE_OK; i++) {
        struct curl_slist *more = curl_slist_append(hdrs, lines[i]);
        if (more == NULL)
            rc = CURLE_OUT_OF_MEMORY;
        else
            hdrs = more;
    }
    int ret = ATTEX_OK;
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cto);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)to);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (rc == CURLE_OK && h->ca_file != NULL)
        rc = curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    if (rc == CURLE_OK && post != NULL) {
        rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    }
    if (rc != CURLE_OK) {
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "cannot prepare the request to the Verifier at %.200s: %s", url,
                         curl_easy_strerror(rc));
        goto out;
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        const char *detail = ebuf[0] ? ebuf : curl_easy_strerror(rc);
        /* Unreachable or slow: retryable, and never an acceptance. */
        if (rc == CURLE_OPERATION_TIMEDOUT)
            ret = attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                             "the Verifier at %.200s did not answer in time (connect timeout "
                             "%u ms, total %u ms): %s",
                             url, cto, to, detail);
        else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
            ret = attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                             "cannot connect to the Verifier at %.200s: %s (is it running, and "
                             "is the URL right?)",
                             url, detail);
        else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
            /* A trust failure, not an outage: retrying will not help. */
            ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                             "the Verifier at %.200s is not trusted: %s (give the CA file that "
                             "issued its certificate)",
                             url, detail);
        else if (out->too_big)
            ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                             "the Verifier at %.200s answered more than %d bytes", url,
                             ATTEX_REMOTE_MAX_RESPONSE);
        else
            ret = attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                             "the request to the Verifier at %.200s failed: %s", url, detail);
        goto out;
    }
    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    if (status != 200) {
        char prob[400];
        problem_text(out, prob, sizeof(prob));
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "the Verifier at %.200s answered HTTP %ld%s", url, status,
                         prob[0] ? prob : " (no problem details)");
        goto out;
    }
    if (ctype == NULL || strncasecmp(ctype, want_type, strlen(want_type)) != 0) {
        char shown[80] = "(none)";
        if (ctype != NULL)
            util_safe_text(ctype, strlen(ctype), shown, sizeof(shown));
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "the Verifier at %.200s answered Content-Type %s, not %s", url, shown,
                         want_type);
        goto out;
    }
    if (out->data == NULL) {
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "the Verifier at %.200s answered an empty body", url);
        goto out;
    }
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return ret;
}

static int add_b64(json_t *o, const char *name, const uint8_t *p, size_t n)
{
    char *s = b64_encode(p, n, 1);
    int ok = s != NULL && json_object_set_new(o, name, json_string(s)) == 0;
    free(s);
    return ok;
}

int attex_remote_appraise(const attex_http_opts *http, const uint8_t *cmw, size_t cmw_len,
                          const attex_binding *binding, attex_buf *jwt, attex_error *err)
{
    int ret = check_http(http, err);
    if (ret != ATTEX_OK)
        return ret;
    if (cmw == NULL || cmw_len == 0 || binding == NULL || jwt == NULL ||
        (binding->hash_len != 32 && binding->hash_len != 48))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_remote_appraise needs a CMW, a binding (SHA-256 or SHA-384) and "
                          "an output");
    /* docs/verifier.md: the CMW travels in CBOR; a JSON CMW is decoded and re-encoded. */
    attex_cmw *dec = NULL;
    attex_buf cbor = ATTEX_BUF_INIT;
    if ((ret = attex_cmw_decode(cmw, cmw_len, NULL, &dec, err)) != ATTEX_OK)
        return ret;
    if (attex_cmw_decoded_format(dec) != ATTEX_CMW_CBOR)
        ret = attex_cmw_encode(dec, ATTEX_CMW_CBOR, &cbor, err);
    attex_cmw_free(dec);
    if (ret != ATTEX_OK)
        return ret;
    const uint8_t *send = cbor.data ? cbor.data : cmw;
    size_t send_len = cbor.data ? cbor.len : cmw_len;
    json_t *req = json_object();
    int ok = req != NULL && add_b64(req, "cmw", send, send_len) &&
             add_b64(req, "report_data", binding->report_data, sizeof(binding->report_data)) &&
             add_b64(req, "binder", binding->binder, binding->hash_len) &&
             add_b64(req, "aik_pub_hash", binding->aik_pub_hash, binding->hash_len) &&
             json_object_set_new(req, "hash",
                                 json_string(binding->hash_len == 48 ? "sha384" : "sha256")) == 0;
    char *text = ok ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    attex_buf_free(&cbor);
    if (text == NULL)
        return NOMEM(err);
    body b = {NULL, 0, 0};
    ret = http_call(http, ATTEX_REMOTE_APPRAISE_PATH, text, "application/json", &b, err);
    free(text);
    if (ret == ATTEX_OK) {
        json_t *o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *ear = json_object_get(o, "ear");
        if (!json_is_string(ear) || json_string_length(ear) == 0 ||
            json_string_length(ear) > ATTEX_EAR_MAX_JWT) {
            ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                             "the Verifier at %.200s answered without an \"ear\" string (expected "
                             "{\"ear\": \"<JWT>\"}, docs/verifier.md)",
                             http->url);
        } else if ((jwt->data = malloc(json_string_length(ear))) == NULL) {
            ret = NOMEM(err);
        } else {
            jwt->len = json_string_length(ear);
            memcpy(jwt->data, json_string_value(ear), jwt->len);
        }
        json_decref(o);
    }
    free(b.data);
    return ret;
}

int attex_remote_fetch_key(const attex_http_opts *http, EVP_PKEY **key, attex_error *err)
{
    int ret = check_http(http, err);
    if (ret != ATTEX_OK)
        return ret;
    if (key == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_remote_fetch_key needs an output");
    body b = {NULL, 0, 0};
    /* NOTES s7.2: application/vnd.veraison.discovery+json; any JSON type is read. */
    ret = http_call(http, ATTEX_REMOTE_DISCOVERY_PATH, NULL, "application/", &b, err);
    if (ret == ATTEX_OK) {
        json_t *o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *jwk = json_object_get(o, "ear-verification-key");
        char *text = json_is_object(jwk) ? json_dumps(jwk, JSON_COMPACT) : NULL;
        if (text == NULL)
            ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                             "the Verifier at %.200s has no \"ear-verification-key\" JWK in its "
                             "discovery document",
                             http->url);
        else
            ret = attex_ear_key_from_jwk(text, strlen(text), key, err);
        free(text);
        json_decref(o);
    }
    free(b.data);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Shared configuration                                                    */

typedef struct http_conf {
    char *url, *ca_file;
    attex_http_opts opts;
} http_conf;

static int http_conf_copy(http_conf *c, const attex_http_opts *in, attex_error *err)
{
    int ret = check_http(in, err);
    if (ret != ATTEX_OK)
        return ret;
    c->url = strdup(in->url);
    c->ca_file = in->ca_file ? strdup(in->ca_file) : NULL;
    if (c->url == NULL || (in->ca_file != NULL && c->ca_file == NULL))
        return NOMEM(err);
    c->opts = *in;
    c->opts.url = c->url;
    c->opts.ca_file = c->ca_file;
    return ATTEX_OK;
}

static void http_conf_free(http_conf *c)
{
    free(c->url);
    free(c->ca_file);
}

/* RFC 7518 s3.4: ES256 keys are P-256 (not merely 256-bit curves). */
static int is_p256(EVP_PKEY *k)
{
    return k != NULL && crypto_key_can_use(k, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256);
}

/* take_keys copies (with a reference) or loads the trusted EAR keys into keys[]. */
static int take_keys(EVP_PKEY *const *in, size_t n_in, const char *const *paths, size_t n_paths,
                     EVP_PKEY **keys, size_t *n, attex_error *err)
{
    for (size_t i = 0; i < n_in; i++) {
        if (!is_p256(in[i]) || EVP_PKEY_up_ref(in[i]) != 1)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "Verifier key %zu is missing or not EC P-256; EARs are signed "
                              "with ES256",
                              i);
        keys[(*n)++] = in[i];
    }
    for (size_t i = 0; i < n_paths; i++) {
        EVP_PKEY *k = NULL;
        int ret = paths[i] ? util_load_public_key(paths[i], "Verifier key file", &k, err)
                           : attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                        "Verifier key path %zu is NULL", i);
        if (ret != ATTEX_OK)
            return ret;
        if (!is_p256(k)) {
            EVP_PKEY_free(k);
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "the Verifier key file \"%.200s\" holds a key that is not EC "
                              "P-256; EARs are signed with ES256",
                              paths[i]);
        }
        keys[(*n)++] = k;
    }
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Background-check model: the relying party's verifier                   */

typedef struct remote_verifier {
    attex_verifier vs[REMOTE_MAX_TYPES]; /* first member: &vs[0] is the object */
    size_t num_types;
    char *types[REMOTE_MAX_TYPES];
    http_conf http;
    EVP_PKEY **keys;
    size_t num_keys;
    uint32_t skew;
    int curl_inited;
} remote_verifier;

/* remote_reject ends an appraisal that failed; a Verifier that did not answer stays UNAVAILABLE. */
static int remote_reject(attex_appraisal *out, int code, const char *msg, attex_error *err)
{
    snprintf(out->reason, sizeof(out->reason), "%s", msg);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, code == ATTEX_ERR_UNAVAILABLE ? code : ATTEX_ERR_ATTESTATION,
                      ATTEX_ALERT_NONE, "%s", msg);
}

static int remote_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                           attex_appraisal *out, attex_error *err)
{
    remote_verifier *v = ctx;
    if (out == NULL || record == NULL || expected == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the remote verifier needs a CMW record, a binding and an appraisal");
    out->verdict = ATTEX_VERDICT_NONE;
    out->reason[0] = '\0';
    out->claims_json = NULL;
    attex_error local;
    attex_error *e = err ? err : &local;
    attex_buf cbor = ATTEX_BUF_INIT, jwt = ATTEX_BUF_INIT;
    char msg[ATTEX_ERROR_MESSAGE_SIZE];
    /* RFC 9334 s5.2: the relying party forwards the evidence as it received it. */
    int ret = attex_cmw_encode(record, ATTEX_CMW_CBOR, &cbor, e);
    if (ret == ATTEX_OK)
        ret = attex_remote_appraise(&v->http.opts, cbor.data, cbor.len, expected, &jwt, e);
    attex_buf_free(&cbor);
    if (ret != ATTEX_OK) {
        snprintf(msg, sizeof(msg), "%s", e->message);
        return remote_reject(out, ret, msg, err);
    }
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = v->keys;
    o.num_keys = v->num_keys;
    o.skew = v->skew;
    /* PROTOCOL.md s3: the Verifier must have appraised this connection's evidence. */
    o.nonce = expected->binder;
    o.nonce_len = expected->hash_len;
    attex_ear *ear = malloc(sizeof(*ear));
    char *claims = NULL;
    if (ear == NULL) {
        attex_buf_free(&jwt);
        return NOMEM(err);
    }
    ret = ear_decode(jwt.data, jwt.len, &o, 1, ear, &claims, e);
    attex_buf_free(&jwt);
    if (ret != ATTEX_OK) {
        snprintf(msg, sizeof(msg), "the Verifier's answer was refused: %.470s", e->message);
        free(ear);
        return remote_reject(out, ret, msg, err);
    }
    /* The verdict is the worst submodule's status (draft-ietf-rats-ear s3.2). */
    out->verdict = attex_ear_worst(ear);
    ear_reason(ear, out->reason, sizeof(out->reason));
    out->claims_json = claims;
    free(ear);
    return ATTEX_OK;
}

attex_verifier *attex_remote_verifier_new(const attex_remote_verifier_config *cfg,
                                          attex_error *err)
{
    if (cfg == NULL || (cfg->num_keys > 0 && cfg->keys == NULL) ||
        (cfg->num_key_paths > 0 && cfg->key_paths == NULL) ||
        (cfg->num_media_types > 0 && cfg->media_types == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_remote_verifier_new needs a configuration whose arrays match their "
                   "counts");
        return NULL;
    }
    size_t nk = cfg->num_keys + cfg->num_key_paths;
    if (nk == 0 && !cfg->trust_on_first_use) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the remote verifier needs the Verifier's EAR public key (keys or "
                   "key_paths), or trust_on_first_use to fetch it from the Verifier");
        return NULL;
    }
    const char *const *types = cfg->media_types ? cfg->media_types : default_types;
    size_t nt = cfg->media_types ? cfg->num_media_types : ATTEX_ARRAY_LEN(default_types);
    if (nt == 0 || nt > REMOTE_MAX_TYPES) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the remote verifier forwards 1 to %d media types, not %zu", REMOTE_MAX_TYPES,
                   nt);
        return NULL;
    }
    remote_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->keys = calloc(nk ? nk : 1, sizeof(*v->keys))) == NULL) {
        free(v);
        NOMEM(err);
        return NULL;
    }
    int ret = http_conf_copy(&v->http, &cfg->http, err);
    if (ret == ATTEX_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        ret = attex_fail(err, ATTEX_ERR_CRYPTO, ATTEX_ALERT_NONE, "libcurl cannot start");
    else if (ret == ATTEX_OK)
        v->curl_inited = 1;
    v->skew = cfg->skew;
    for (size_t i = 0; ret == ATTEX_OK && i < nt; i++) {
        if (types[i] == NULL || types[i][0] == '\0') {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "media type %zu of the remote verifier is empty", i);
            break;
        }
        if ((v->types[i] = strdup(types[i])) == NULL) {
            ret = NOMEM(err);
            break;
        }
        v->num_types++;
        v->vs[i].name = "remote";
        v->vs[i].media_type = v->types[i];
        v->vs[i].content_format = 0;
        v->vs[i].ctx = v;
        v->vs[i].appraise = remote_appraise;
    }
    if (ret == ATTEX_OK)
        ret = take_keys(cfg->keys, cfg->num_keys, cfg->key_paths, cfg->num_key_paths, v->keys,
                        &v->num_keys, err);
    if (ret == ATTEX_OK && v->num_keys == 0) {
        /* Trust on first use, asked for explicitly: the key of whoever answers now. */
        EVP_PKEY *k = NULL;
        ret = attex_remote_fetch_key(&v->http.opts, &k, err);
        if (ret == ATTEX_OK)
            v->keys[v->num_keys++] = k;
    }
    if (ret != ATTEX_OK) {
        attex_remote_verifier_free(&v->vs[0]);
        return NULL;
    }
    return &v->vs[0];
}

size_t attex_remote_verifier_count(const attex_verifier *v)
{
    return v == NULL ? 0 : ((const remote_verifier *)v->ctx)->num_types;
}

const attex_verifier *attex_remote_verifier_at(const attex_verifier *v, size_t i)
{
    if (v == NULL)
        return NULL;
    const remote_verifier *r = v->ctx;
    return i < r->num_types ? &r->vs[i] : NULL;
}

void attex_remote_verifier_free(attex_verifier *verifier)
{
    if (verifier == NULL)
        return;
    remote_verifier *v = (remote_verifier *)verifier;
    for (size_t i = 0; i < v->num_keys; i++)
        EVP_PKEY_free(v->keys[i]);
    free(v->keys);
    for (size_t i = 0; i < v->num_types; i++)
        free(v->types[i]);
    http_conf_free(&v->http);
    if (v->curl_inited)
        curl_global_cleanup();
    free(v);
}

/* ---------------------------------------------------------------------- */
/* Passport model: the attester                                           */

typedef struct passport_attester {
    attex_attester a;
    const attex_attester *inner;
    http_conf http;
    EVP_PKEY **keys;
    size_t num_keys;
    int curl_inited;
} passport_attester;

static int passport_attest(void *ctx, const attex_binding *binding, attex_buf *cmw,
                           attex_error *err)
{
    passport_attester *p = ctx;
    if (binding == NULL || cmw == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the passport attester needs a binding and an output");
    attex_error local;
    attex_error *e = err ? err : &local;
    attex_buf ev = ATTEX_BUF_INIT, jwt = ATTEX_BUF_INIT;
    int ret = p->inner->attest(p->inner->ctx, binding, &ev, e);
    if (ret == ATTEX_OK)
        ret = attex_remote_appraise(&p->http.opts, ev.data, ev.len, binding, &jwt, e);
    attex_buf_free(&ev);
    if (ret != ATTEX_OK)
        return ret;
    /* Present only an EAR about this binder: anything else would fail at the relying party. */
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = p->keys;
    o.num_keys = p->num_keys;
    o.nonce = binding->binder;
    o.nonce_len = binding->hash_len;
    attex_ear *ear = malloc(sizeof(*ear));
    if (ear == NULL) {
        attex_buf_free(&jwt);
        return NOMEM(err);
    }
    ret = ear_decode(jwt.data, jwt.len, &o, p->num_keys > 0, ear, NULL, e);
    if (ret != ATTEX_OK) {
        char why[ATTEX_ERROR_MESSAGE_SIZE];
        snprintf(why, sizeof(why), "%s", e->message);
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "the Verifier at %.200s returned an unusable EAR: %s", p->http.url, why);
    }
    attex_cmw *rec = NULL;
    if (ret == ATTEX_OK) {
        /* RFC 9999 s3.1: an attestation result, ind 8, typed by its profile. */
        const char *type = strcmp(ear->profile, ATTEX_EAR_PROFILE_VERAISON) == 0
                               ? ATTEX_EAR_MEDIA_TYPE_VERAISON
                               : ATTEX_EAR_MEDIA_TYPE;
        attex_error_clear(e);
        rec = attex_cmw_record_new(type, jwt.data, jwt.len, ATTEX_CMW_IND_ATTESTATION_RESULTS, e);
        ret = rec ? attex_cmw_encode(rec, ATTEX_CMW_CBOR, cmw, e)
                  : (e->code != ATTEX_OK ? e->code : NOMEM(e));
    }
    attex_cmw_free(rec);
    attex_buf_free(&jwt);
    free(ear);
    return ret;
}

attex_attester *attex_passport_attester_new(const attex_passport_attester_config *cfg,
                                            attex_error *err)
{
    if (cfg == NULL || cfg->inner == NULL || cfg->inner->attest == NULL ||
        (cfg->num_keys > 0 && cfg->keys == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the passport attester needs a configuration with an inner attester (the "
                   "one whose evidence the Verifier appraises)");
        return NULL;
    }
    passport_attester *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->keys = calloc(cfg->num_keys ? cfg->num_keys : 1, sizeof(*p->keys))) ==
                         NULL) {
        free(p);
        NOMEM(err);
        return NULL;
    }
    p->a.name = "passport";
    p->a.ctx = p;
    p->a.attest = passport_attest;
    p->inner = cfg->inner;
    int ret = http_conf_copy(&p->http, &cfg->http, err);
    if (ret == ATTEX_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        ret = attex_fail(err, ATTEX_ERR_CRYPTO, ATTEX_ALERT_NONE, "libcurl cannot start");
    else if (ret == ATTEX_OK)
        p->curl_inited = 1;
    if (ret == ATTEX_OK)
        ret = take_keys(cfg->keys, cfg->num_keys, NULL, 0, p->keys, &p->num_keys, err);
    if (ret != ATTEX_OK) {
        attex_passport_attester_free(&p->a);
        return NULL;
    }
    return &p->a;
}

void attex_passport_attester_free(attex_attester *a)
{
    if (a == NULL)
        return;
    passport_attester *p = (passport_attester *)a;
    for (size_t i = 0; i < p->num_keys; i++)
        EVP_PKEY_free(p->keys[i]);
    free(p->keys);
    http_conf_free(&p->http);
    if (p->curl_inited)
        curl_global_cleanup();
    free(p);
}
