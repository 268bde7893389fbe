/*
 * attex: the Verifier as a network service (docs/verifier.md).
 *
 * libmicrohttpd runs a pool of worker threads, each with its own event loop;
 * a request's body is gathered (bounded) in a per-request context and the
 * request is routed once complete. The only shared mutable state is the
 * table of challenge-response sessions (one mutex), the access log (one
 * mutex) and the count of requests in flight (for a clean stop).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <attex/cmw.h>
#include <attex/ear.h>
#include <attex/service.h>

#include "crypto.h"
#include "internal.h"
#include "service_internal.h"
#include "util.h"

#define SVC_VERSION "0.1.0"
#define SVC_CMW_CBOR "application/cmw+cbor"
#define SVC_CMW_JSON "application/cmw+json"
#define SVC_PROBLEM "application/problem+json"
#define SVC_PEM_MAX (1u << 20)
#define SVC_PATH_LOG_MAX 200

enum { SESS_WAITING = 0, SESS_PROCESSING = 1, SESS_COMPLETE = 2 };

typedef struct svc_session {
    char id[37];
    uint8_t nonce[SVC_NONCE_MAX];
    size_t nonce_len;
    uint8_t aik[48];
    size_t aik_len;
    time_t expiry;
    int state;
    char *evidence_type;
    char *evidence_b64;
    char *result;
} svc_session;

struct attex_service {
    attex_service_config cfg;
    EVP_PKEY *ear_key;
    char *tls_cert, *tls_key;
    size_t tls_key_len;
    char developer[128], build[128];
    char *discovery; /* the discovery document, built once */
    char *jwk;
    json_t *accept_list; /* media types the challenge-response API accepts */
    char *accept_header; /* the same, for 415's Accept header */
    struct MHD_Daemon *daemon;
    int port;
    int stopping; /* set before draining: answers then close their connection */

    pthread_mutex_t appraise_lock;
    pthread_mutex_t log_lock;
    pthread_mutex_t flight_lock;
    pthread_cond_t flight_cond;
    unsigned in_flight;

    pthread_mutex_t sess_lock;
    svc_session **sessions;
    size_t num_sessions;
};

/* Per-request state, MHD's *con_cls. */
typedef struct svc_req {
    attex_service *svc;
    struct timespec start;
    char method[12];
    char path[SVC_PATH_LOG_MAX + 1];
    char remote[INET6_ADDRSTRLEN + 8];
    uint8_t *body;
    size_t body_len, body_cap;
    int too_big;
    int responded;
    unsigned status;
    size_t bytes;
} svc_req;

/* ---- small helpers ---------------------------------------------------- */

/* Reads a PEM file into a NUL-terminated string, as libmicrohttpd takes them. */
static int read_text(const char *path, const char *what, char **out, size_t *out_len,
                     attex_error *err)
{
    attex_buf b = ATTEX_BUF_INIT;
    int ret = util_read_file(path, what, SVC_PEM_MAX, &b, err);
    if (ret != ATTEX_OK)
        return ret;
    char *p = malloc(b.len + 1);
    if (p != NULL) {
        memcpy(p, b.data, b.len);
        p[b.len] = '\0';
    }
    crypto_zeroise(b.data, b.len);
    attex_buf_free(&b);
    if (p == NULL)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    *out = p;
    *out_len = strlen(p);
    return ATTEX_OK;
}

static char *dup_text(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    if (len != NULL)
        *len = n;
    return p;
}

static int is_p256_private(EVP_PKEY *key)
{
    char group[32];
    size_t glen = 0;
    BIGNUM *d = NULL;
    int ok = EVP_PKEY_is_a(key, "EC") &&
             EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), &glen) == 1 &&
             strcmp(group, "prime256v1") == 0 &&
             EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1;
    BN_clear_free(d);
    return ok;
}

static void rfc3339(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *verifier_label(const attex_verifier *v)
{
    return v->name != NULL && v->name[0] != '\0' ? v->name : "verifier";
}

/* ---- the EAR key as a JWK (RFC 7517, RFC 7518 s6.2.1) ------------------ */

static int build_jwk(attex_service *svc, attex_error *err)
{
    attex_buf text = ATTEX_BUF_INIT;
    int ret = attex_ear_key_to_jwk(svc->ear_key, &text, err);
    if (ret != ATTEX_OK)
        return ret;
    json_t *j = json_loadb((const char *)text.data, text.len, 0, NULL);
    attex_buf_free(&text);
    const char *x = json_string_value(json_object_get(j, "x"));
    const char *y = json_string_value(json_object_get(j, "y"));
    if (x == NULL || y == NULL) {
        json_decref(j);
        return attex_fail(err, ATTEX_ERR_CRYPTO, ATTEX_ALERT_NONE,
                          "the EAR key's JWK has no coordinates");
    }
    /* RFC 7638 s3.2: the thumbprint input has the required members in lexicographic order. */
    char thumb_in[256];
    snprintf(thumb_in, sizeof(thumb_in), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
             x, y);
    uint8_t digest[32];
    char *kid = NULL;
    if ((ret = crypto_digest(ATTEX_HASH_SHA256, (const uint8_t *)thumb_in, strlen(thumb_in),
                             digest, err)) == ATTEX_OK) {
        kid = b64_encode(digest, sizeof(digest), 1);
        if (kid == NULL || json_object_set_new(j, "use", json_string("sig")) != 0 ||
            json_object_set_new(j, "kid", json_string(kid)) != 0 ||
            (svc->jwk = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
            ret = attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    }
    free(kid);
    json_decref(j);
    return ret;
}

static int build_discovery(attex_service *svc, attex_error *err)
{
    svc->accept_list = json_array();
    if (svc->accept_list == NULL)
        goto nomem;
    size_t hlen = 0;
    for (size_t i = 0; i < svc->cfg.num_verifiers; i++) {
        const attex_verifier *v = svc->cfg.verifiers[i];
        if (v->media_type == NULL)
            continue;
        if (json_array_append_new(svc->accept_list, json_string(v->media_type)) != 0)
            goto nomem;
        hlen += strlen(v->media_type) + 2;
    }
    if (json_array_append_new(svc->accept_list, json_string(SVC_CMW_CBOR)) != 0 ||
        json_array_append_new(svc->accept_list, json_string(SVC_CMW_JSON)) != 0)
        goto nomem;
    hlen += sizeof(SVC_CMW_CBOR) + sizeof(SVC_CMW_JSON) + 4;
    svc->accept_header = malloc(hlen + 1);
    if (svc->accept_header == NULL)
        goto nomem;
    svc->accept_header[0] = '\0';
    size_t i;
    json_t *t;
    json_array_foreach(svc->accept_list, i, t) {
        if (i > 0)
            strcat(svc->accept_header, ", ");
        strcat(svc->accept_header, json_string_value(t));
    }
    json_t *jwk = json_loads(svc->jwk, 0, NULL);
    json_t *d = json_pack("{s:o,s:O,s:s,s:s,s:{s:s,s:s}}", "ear-verification-key", jwk,
                          "media-types", svc->accept_list, "version", SVC_VERSION,
                          "service-state", "READY", "api-endpoints",
                          "newChallengeResponseSession", "/challenge-response/v1/newSession",
                          "attexAppraise", ATTEX_SERVICE_APPRAISE_PATH);
    svc->discovery = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (svc->discovery == NULL)
        goto nomem;
    return ATTEX_OK;
nomem:
    return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
}

int attex_service_ear_jwk(const attex_service *svc, char **out, attex_error *err)
{
    if (svc == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_service_ear_jwk needs a service and an output pointer");
    *out = dup_text(svc->jwk, NULL);
    return *out ? ATTEX_OK
                : attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
}

/* ---- construction ----------------------------------------------------- */

attex_service *attex_service_new(const attex_service_config *cfg, attex_error *err)
{
    if (cfg == NULL || (cfg->num_verifiers > 0 && cfg->verifiers == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the service needs a configuration");
        return NULL;
    }
    for (size_t i = 0; i < cfg->num_verifiers; i++) {
        const attex_verifier *v = cfg->verifiers[i];
        if (v == NULL || v->appraise == NULL || (v->media_type == NULL && v->content_format == 0)) {
            attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                       "verifier %zu has no appraise function or no type to match", i);
            return NULL;
        }
    }
    if ((cfg->tls_cert_pem != NULL || cfg->tls_cert_path != NULL) !=
        (cfg->tls_key_pem != NULL || cfg->tls_key_path != NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "HTTPS needs both a certificate and its private key");
        return NULL;
    }
    attex_service *svc = calloc(1, sizeof(*svc));
    if (svc == NULL) {
        attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        return NULL;
    }
    svc->cfg = *cfg;
    attex_service_config *c = &svc->cfg;
    if (c->address == NULL)
        c->address = "127.0.0.1";
    if (c->ear_lifetime == 0)
        c->ear_lifetime = 300;
    if (c->max_connections == 0)
        c->max_connections = 64;
    if (c->connection_timeout == 0)
        c->connection_timeout = 10;
    if (c->max_body == 0)
        c->max_body = 256 * 1024;
    if (c->session_ttl == 0)
        c->session_ttl = 150;
    if (c->max_sessions == 0)
        c->max_sessions = 1024;
    snprintf(svc->developer, sizeof(svc->developer), "%s",
             c->verifier_developer ? c->verifier_developer : "attex");
    snprintf(svc->build, sizeof(svc->build), "%s",
             c->verifier_build ? c->verifier_build : "attex-service/" SVC_VERSION);
    pthread_mutex_init(&svc->appraise_lock, NULL);
    pthread_mutex_init(&svc->log_lock, NULL);
    pthread_mutex_init(&svc->flight_lock, NULL);
    pthread_mutex_init(&svc->sess_lock, NULL);
    pthread_cond_init(&svc->flight_cond, NULL);

    if (c->ear_key != NULL) {
        if (EVP_PKEY_up_ref(c->ear_key) != 1) {
            attex_fail_crypto(err, "taking a reference to the EAR key");
            goto fail;
        }
        svc->ear_key = c->ear_key;
    } else if (c->ear_key_path != NULL) {
        if (util_load_private_key(c->ear_key_path, "the EAR signing key", &svc->ear_key, err) !=
            ATTEX_OK)
            goto fail;
    } else {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the service needs an EAR signing key (ear_key or ear_key_path)");
        goto fail;
    }
    /* draft-ietf-rats-ear / Veraison: EARs are signed with ES256. */
    if (!is_p256_private(svc->ear_key)) {
        attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                   "the EAR signing key must be an EC P-256 private key (EARs are ES256 JWTs)");
        goto fail;
    }
    if (c->tls_cert_pem != NULL || c->tls_cert_path != NULL) {
        size_t n;
        if (c->tls_cert_pem != NULL)
            svc->tls_cert = dup_text(c->tls_cert_pem, &n);
        else if (read_text(c->tls_cert_path, "TLS certificate", &svc->tls_cert, &n, err) !=
                 ATTEX_OK)
            goto fail;
        if (c->tls_key_pem != NULL)
            svc->tls_key = dup_text(c->tls_key_pem, &svc->tls_key_len);
        else if (read_text(c->tls_key_path, "TLS private key", &svc->tls_key, &svc->tls_key_len,
                           err) != ATTEX_OK)
            goto fail;
        if (svc->tls_cert == NULL || svc->tls_key == NULL) {
            attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
            goto fail;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                       "this libmicrohttpd was built without TLS; HTTPS is not available");
            goto fail;
        }
    }
    if (build_jwk(svc, err) != ATTEX_OK || build_discovery(svc, err) != ATTEX_OK)
        goto fail;
    return svc;
fail:
    attex_service_free(svc);
    return NULL;
}

/* ---- appraisal -------------------------------------------------------- */

static const attex_verifier *find_verifier(const attex_service *svc, const attex_cmw *leaf)
{
    const char *mt = attex_cmw_media_type(leaf);
    uint16_t cf;
    int has_cf = attex_cmw_content_format(leaf, &cf);
    for (size_t i = 0; i < svc->cfg.num_verifiers; i++) {
        const attex_verifier *v = svc->cfg.verifiers[i];
        /* RFC 9110 s8.3.1: type, subtype and parameter names are case-insensitive. */
        if (mt != NULL && v->media_type != NULL && svc_media_type_equal(mt, v->media_type))
            return v;
        if (has_cf && v->content_format != 0 && v->content_format == cf)
            return v;
    }
    return NULL;
}

typedef struct leaf_list {
    const attex_cmw *leaf[ATTEX_EAR_MAX_SUBMODS];
    const attex_verifier *v[ATTEX_EAR_MAX_SUBMODS];
    size_t n;
} leaf_list;

/* Collects the Records and Tags of a CMW tree with their verifiers, depth first. */
static int collect(const attex_service *svc, const attex_cmw *node, leaf_list *l,
                   attex_error *err)
{
    if (attex_cmw_kind_of(node) == ATTEX_CMW_COLLECTION) {
        size_t n = attex_cmw_collection_size(node);
        for (size_t i = 0; i < n; i++) {
            const char *tl;
            int64_t il;
            int ret = collect(svc, attex_cmw_collection_entry(node, i, &tl, &il), l, err);
            if (ret != ATTEX_OK)
                return ret;
        }
        return ATTEX_OK;
    }
    const attex_verifier *v = find_verifier(svc, node);
    if (v == NULL) {
        uint16_t cf;
        const char *mt = attex_cmw_media_type(node);
        if (mt != NULL)
            return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                              "no verifier is registered for CMW type \"%.200s\"", mt);
        if (attex_cmw_content_format(node, &cf))
            return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                              "no verifier is registered for CMW content-format %u", cf);
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the CMW has an untyped entry");
    }
    if (l->n == ATTEX_EAR_MAX_SUBMODS)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the CMW has more than %d entries; an EAR holds at most %d submodules",
                          ATTEX_EAR_MAX_SUBMODS, ATTEX_EAR_MAX_SUBMODS);
    l->leaf[l->n] = node;
    l->v[l->n] = v;
    l->n++;
    return ATTEX_OK;
}

/*
 * The trustworthiness vector derived from a plug-in's outcome (docs/verifier.md,
 * "Trustworthiness vector"; values from draft-ietf-rats-ar4si s2.3): evidence a
 * plug-in rejects failed its cryptographic, freshness or binding checks; evidence it
 * appraised comes from a recognised instance, and its verdict is about what runs.
 */
static void tv_from_outcome(attex_ear_submod *s, int usable)
{
    memset(s->tv, 0, sizeof(s->tv));
    s->tv_present = 0;
    if (!usable) {
        s->tv[ATTEX_EAR_TV_INSTANCE_IDENTITY] = 99; /* cryptographic validation failed */
        s->tv_present = 1u << ATTEX_EAR_TV_INSTANCE_IDENTITY;
        return;
    }
    int8_t exe;
    switch (s->status) {
    case ATTEX_VERDICT_AFFIRMING:
        exe = 2; /* approved executables */
        break;
    case ATTEX_VERDICT_WARNING:
        exe = 32; /* executables known, not approved */
        break;
    case ATTEX_VERDICT_CONTRAINDICATED:
        exe = 96; /* contraindicated executables */
        break;
    default:
        return; /* none: no claim */
    }
    s->tv[ATTEX_EAR_TV_INSTANCE_IDENTITY] = 2; /* recognised, trustworthy instance */
    s->tv[ATTEX_EAR_TV_EXECUTABLES] = exe;
    s->tv_present = (1u << ATTEX_EAR_TV_INSTANCE_IDENTITY) | (1u << ATTEX_EAR_TV_EXECUTABLES);
}

static attex_verdict worse(attex_verdict a, attex_verdict b)
{
    /* draft-ietf-rats-ear: none is worse than contraindicated, then warning, then affirming. */
    if (a == ATTEX_VERDICT_NONE || b == ATTEX_VERDICT_NONE)
        return ATTEX_VERDICT_NONE;
    return a > b ? a : b;
}

static int appraise_tree(attex_service *svc, const attex_cmw *cmw, const attex_binding *expected,
                         const uint8_t *nonce, size_t nonce_len, attex_service_result *res,
                         attex_error *err)
{
    memset(res, 0, sizeof(*res));
    if (nonce == NULL || nonce_len < SVC_NONCE_MIN || nonce_len > SVC_NONCE_MAX)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "an EAR's eat_nonce must be 8 to 64 bytes, not %zu", nonce_len);
    leaf_list l;
    memset(&l, 0, sizeof(l));
    int ret = collect(svc, cmw, &l, err);
    if (ret != ATTEX_OK)
        return ret;
    if (l.n == 0)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the CMW collection holds no evidence");
    attex_ear *ear = calloc(1, sizeof(*ear));
    if (ear == NULL)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    snprintf(ear->profile, sizeof(ear->profile), "%s", ATTEX_EAR_PROFILE);
    snprintf(ear->verifier_developer, sizeof(ear->verifier_developer), "%s", svc->developer);
    snprintf(ear->verifier_build, sizeof(ear->verifier_build), "%s", svc->build);
    memcpy(ear->nonce, nonce, nonce_len);
    ear->nonce_len = nonce_len;
    res->status = ATTEX_VERDICT_AFFIRMING;
    for (size_t i = 0; i < l.n; i++) {
        attex_ear_submod *s = &ear->submods[i];
        attex_service_submod *r = &res->submods[i];
        /* Submodule names are keys of one JSON object: make repeats unique. */
        const char *base = verifier_label(l.v[i]);
        snprintf(s->name, sizeof(s->name), "%.50s", base);
        for (unsigned k = 2; k < 100; k++) {
            int dup = 0;
            for (size_t j = 0; j < i; j++)
                dup |= strcmp(ear->submods[j].name, s->name) == 0;
            if (!dup)
                break;
            snprintf(s->name, sizeof(s->name), "%.50s-%u", base, k);
        }
        attex_appraisal a;
        memset(&a, 0, sizeof(a));
        attex_error verr;
        attex_error_clear(&verr);
        if (svc->cfg.serialize_appraisal)
            pthread_mutex_lock(&svc->appraise_lock);
        int vret = l.v[i]->appraise(l.v[i]->ctx, l.leaf[i], expected, &a, &verr);
        if (svc->cfg.serialize_appraisal)
            pthread_mutex_unlock(&svc->appraise_lock);
        if (vret != ATTEX_OK) {
            /* attest.h: an error means unusable evidence: never better than contraindicated. */
            s->status = ATTEX_VERDICT_CONTRAINDICATED;
            snprintf(r->reason, sizeof(r->reason), "%s",
                     a.reason[0] ? a.reason : verr.message[0] ? verr.message : "rejected");
        } else {
            s->status = a.verdict;
            snprintf(r->reason, sizeof(r->reason), "%s", a.reason);
        }
        /* The appraised claims are only meaningful when the plug-in could appraise. */
        if (vret == ATTEX_OK) {
            r->claims_json = a.claims_json;
            a.claims_json = NULL;
        }
        attex_appraisal_clear(&a);
        tv_from_outcome(s, vret == ATTEX_OK);
        memcpy(r->name, s->name, sizeof(r->name));
        r->status = s->status;
        res->status = worse(res->status, s->status);
    }
    ear->num_submods = l.n;
    res->num_submods = l.n;
    time_t now = time(NULL);
    ear->iat = (int64_t)now;
    ear->exp = (int64_t)now + svc->cfg.ear_lifetime;
    ret = attex_ear_issue(ear, svc->ear_key, &res->ear, err);
    free(ear);
    if (ret != ATTEX_OK)
        attex_service_result_clear(res);
    return ret;
}

void attex_service_result_clear(attex_service_result *r)
{
    if (r == NULL)
        return;
    attex_buf_free(&r->ear);
    for (size_t i = 0; i < ATTEX_EAR_MAX_SUBMODS; i++)
        free(r->submods[i].claims_json);
    memset(r, 0, sizeof(*r));
}

int attex_service_appraise(attex_service *svc, const uint8_t *cmw, size_t cmw_len,
                           const attex_binding *expected, const uint8_t *nonce, size_t nonce_len,
                           attex_service_result *result, attex_error *err)
{
    if (svc == NULL || cmw == NULL || cmw_len == 0 || expected == NULL || result == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_service_appraise needs a service, a CMW, the expected binding "
                          "and a result to fill");
    attex_cmw_limits lim;
    memset(&lim, 0, sizeof(lim));
    lim.max_size = svc->cfg.max_body;
    attex_cmw *c = NULL;
    int ret = attex_cmw_decode(cmw, cmw_len, &lim, &c, err);
    if (ret != ATTEX_OK) {
        memset(result, 0, sizeof(*result));
        return ret;
    }
    ret = appraise_tree(svc, c, expected, nonce, nonce_len, result, err);
    attex_cmw_free(c);
    return ret;
}

/* ---- responses -------------------------------------------------------- */

static enum MHD_Result send_body(struct MHD_Connection *conn, svc_req *rq, unsigned status,
                                 const char *ctype, const char *body, size_t len,
                                 const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (ctype != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (hname != NULL)
        MHD_add_response_header(r, hname, hvalue);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    /* While stopping, a kept-alive connection serves no further request. */
    pthread_mutex_lock(&rq->svc->flight_lock);
    int stopping = rq->svc->stopping;
    pthread_mutex_unlock(&rq->svc->flight_lock);
    if (stopping)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    rq->responded = 1;
    rq->status = status;
    rq->bytes = len;
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, svc_req *rq, unsigned status,
                                 const char *ctype, json_t *j, const char *hname,
                                 const char *hvalue)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        static const char oom[] = "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                                  "\"status\":500,\"detail\":\"out of memory\"}";
        return send_body(conn, rq, 500, SVC_PROBLEM, oom, sizeof(oom) - 1, NULL, NULL);
    }
    enum MHD_Result ok = send_body(conn, rq, status, ctype, text, strlen(text), hname, hvalue);
    free(text);
    return ok;
}

static const char *status_title(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* RFC 9457: problem details, with a type URI per kind of problem. */
static enum MHD_Result problem(struct MHD_Connection *conn, svc_req *rq, unsigned status,
                               const char *kind, const char *hname, const char *hvalue,
                               const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static enum MHD_Result problem(struct MHD_Connection *conn, svc_req *rq, unsigned status,
                               const char *kind, const char *hname, const char *hvalue,
                               const char *fmt, ...)
{
    char detail[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    char type[96];
    snprintf(type, sizeof(type), "tag:attex.dev,2026:verifier:%s", kind);
    /* json_string refuses invalid UTF-8; plug-in reasons are sanitised text, but be safe. */
    json_t *d = json_string(detail);
    if (d == NULL)
        d = json_string("(detail not valid UTF-8)");
    json_t *j = json_pack("{s:s,s:s,s:i,s:o}", "type", type, "title", status_title(status),
                          "status", (int)status, "detail", d);
    return send_json(conn, rq, status, SVC_PROBLEM, j, hname, hvalue);
}

/* ---- one-shot API ------------------------------------------------------ */

static json_t *submods_json(const attex_service_result *res)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < res->num_submods; i++) {
        json_t *reason = json_string(res->submods[i].reason);
        if (reason == NULL)
            reason = json_string("(reason not valid UTF-8)");
        json_t *sub = json_pack("{s:s,s:o}", "status",
                                attex_verdict_name(res->submods[i].status), "reason", reason);
        /* The plug-in's claims, when they are a JSON object, for people and logs. */
        json_t *claims = res->submods[i].claims_json
                             ? json_loads(res->submods[i].claims_json, JSON_REJECT_DUPLICATES,
                                          NULL)
                             : NULL;
        if (sub != NULL && json_is_object(claims))
            json_object_set(sub, "claims", claims);
        json_decref(claims);
        json_object_set_new(o, res->submods[i].name, sub);
    }
    return o;
}

static enum MHD_Result appraise_failed(struct MHD_Connection *conn, svc_req *rq,
                                       const attex_error *err)
{
    if (err->code == ATTEX_ERR_DECODE || err->code == ATTEX_ERR_ILLEGAL_PARAMETER)
        return problem(conn, rq, 400, "bad-cmw", NULL, NULL, "the CMW does not decode: %s",
                       err->message);
    if (err->code == ATTEX_ERR_UNSUPPORTED)
        return problem(conn, rq, 422, "unsupported-evidence", NULL, NULL, "%s", err->message);
    return problem(conn, rq, 500, "internal", NULL, NULL, "appraisal failed: %s", err->message);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result handle_appraise(attex_service *svc, struct MHD_Connection *conn,
                                       svc_req *rq)
{
    if (strcmp(rq->method, "POST") != 0)
        return problem(conn, rq, 405, "method-not-allowed", MHD_HTTP_HEADER_ALLOW, "POST",
                       "%s takes POST", ATTEX_SERVICE_APPRAISE_PATH);
    const char *ct = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    char base[64];
    snprintf(base, sizeof(base), "%.*s", ct ? (int)strcspn(ct, ";") : 0, ct ? ct : "");
    while (strlen(base) > 0 && (base[strlen(base) - 1] == ' ' || base[strlen(base) - 1] == '\t'))
        base[strlen(base) - 1] = '\0';
    if (ct == NULL || strcasecmp(base, "application/json") != 0)
        return problem(conn, rq, 415, "unsupported-media-type", "Accept", "application/json",
                       "the request body must be application/json");
    if (!svc_accept_allows(header(conn, MHD_HTTP_HEADER_ACCEPT), "application/json"))
        return problem(conn, rq, 406, "not-acceptable", NULL, NULL,
                       "the response is application/json, which the Accept header excludes");
    char why[SVC_WHY_SIZE];
    svc_appraise_req req;
    if (!svc_parse_appraise(rq->body, rq->body_len, &req, why, sizeof(why)))
        return problem(conn, rq, 400, "bad-request", NULL, NULL, "%s", why);
    attex_service_result res;
    attex_error err;
    attex_error_clear(&err);
    /* PROTOCOL.md s3: claims-based evidence and the EAR carry eat_nonce = binder. */
    int ret = attex_service_appraise(svc, req.cmw, req.cmw_len, &req.binding, req.binding.binder,
                                     req.binding.hash_len, &res, &err);
    svc_appraise_req_clear(&req);
    if (ret != ATTEX_OK)
        return appraise_failed(conn, rq, &err);
    json_t *ear = json_stringn((const char *)res.ear.data, res.ear.len);
    json_t *j = json_pack("{s:o,s:s,s:o}", "ear", ear, "status", attex_verdict_name(res.status),
                          "submods", submods_json(&res));
    attex_service_result_clear(&res);
    return send_json(conn, rq, 200, "application/json", j, NULL, NULL);
}

/* ---- challenge-response API ------------------------------------------- */

static void session_free(svc_session *s)
{
    if (s == NULL)
        return;
    free(s->evidence_type);
    free(s->evidence_b64);
    free(s->result);
    free(s);
}

/* Drops expired sessions. Caller holds sess_lock. */
static void purge_expired(attex_service *svc, time_t now)
{
    size_t o = 0;
    for (size_t i = 0; i < svc->num_sessions; i++) {
        svc_session *s = svc->sessions[i];
        /* A session being appraised stays until its appraisal ends. */
        if (s->expiry <= now && s->state != SESS_PROCESSING)
            session_free(s);
        else
            svc->sessions[o++] = s;
    }
    svc->num_sessions = o;
}

/* Finds a live session. Caller holds sess_lock. */
static svc_session *session_find(attex_service *svc, const char *id, size_t *index)
{
    purge_expired(svc, time(NULL));
    for (size_t i = 0; i < svc->num_sessions; i++)
        if (strcmp(svc->sessions[i]->id, id) == 0) {
            if (index)
                *index = i;
            return svc->sessions[i];
        }
    return NULL;
}

/* The Veraison session document. Caller holds sess_lock (or owns s). */
static json_t *session_json(const attex_service *svc, const svc_session *s)
{
    char *nonce = b64_encode(s->nonce, s->nonce_len, 1);
    char expiry[32];
    rfc3339(s->expiry, expiry);
    json_t *j = nonce ? json_pack("{s:s,s:s,s:s,s:O}", "status",
                                  s->state == SESS_COMPLETE ? "complete"
                                  : s->state == SESS_PROCESSING ? "processing"
                                                                : "waiting",
                                  "nonce", nonce, "expiry", expiry, "accept", svc->accept_list)
                      : NULL;
    free(nonce);
    if (j != NULL && s->state == SESS_COMPLETE) {
        json_object_set_new(j, "evidence",
                            json_pack("{s:s,s:s}", "type", s->evidence_type, "value",
                                      s->evidence_b64));
        json_object_set_new(j, "result", json_string(s->result));
    }
    return j;
}

static void uuid4(const uint8_t r[16], char out[37])
{
    uint8_t b[16];
    memcpy(b, r, 16);
    /* RFC 9562 s5.4: version 4, variant 10. */
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static enum MHD_Result handle_new_session(attex_service *svc, struct MHD_Connection *conn,
                                          svc_req *rq)
{
    if (strcmp(rq->method, "POST") != 0)
        return problem(conn, rq, 405, "method-not-allowed", MHD_HTTP_HEADER_ALLOW, "POST",
                       "newSession takes POST");
    if (!svc_accept_allows(header(conn, MHD_HTTP_HEADER_ACCEPT), ATTEX_SERVICE_SESSION_MEDIA_TYPE))
        return problem(conn, rq, 406, "not-acceptable", NULL, NULL,
                       "sessions are " ATTEX_SERVICE_SESSION_MEDIA_TYPE
                       ", which the Accept header excludes");
    svc_session_req q;
    char why[SVC_WHY_SIZE];
    if (!svc_parse_session_query(
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "nonce"),
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "nonceSize"),
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "aik_pub_hash"), &q, why,
            sizeof(why)))
        return problem(conn, rq, 400, "bad-request", NULL, NULL, "%s", why);
    svc_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return problem(conn, rq, 500, "internal", NULL, NULL, "out of memory");
    uint8_t rnd[16];
    if (crypto_random(rnd, sizeof(rnd), NULL) != ATTEX_OK ||
        (!q.nonce_given && crypto_random(q.nonce, q.nonce_len, NULL) != ATTEX_OK)) {
        session_free(s);
        return problem(conn, rq, 500, "internal", NULL, NULL, "no random bytes");
    }
    uuid4(rnd, s->id);
    memcpy(s->nonce, q.nonce, q.nonce_len);
    s->nonce_len = q.nonce_len;
    memcpy(s->aik, q.aik_pub_hash, q.aik_len);
    s->aik_len = q.aik_len;
    time_t now = time(NULL);
    s->expiry = now + (time_t)svc->cfg.session_ttl;
    pthread_mutex_lock(&svc->sess_lock);
    purge_expired(svc, now);
    if (svc->num_sessions >= svc->cfg.max_sessions) {
        pthread_mutex_unlock(&svc->sess_lock);
        session_free(s);
        return problem(conn, rq, 503, "too-many-sessions", "Retry-After", "5",
                       "%zu sessions are open, the most this service keeps; retry later",
                       svc->cfg.max_sessions);
    }
    svc_session **grown = realloc(svc->sessions, (svc->num_sessions + 1) * sizeof(*grown));
    if (grown == NULL) {
        pthread_mutex_unlock(&svc->sess_lock);
        session_free(s);
        return problem(conn, rq, 500, "internal", NULL, NULL, "out of memory");
    }
    svc->sessions = grown;
    svc->sessions[svc->num_sessions++] = s;
    json_t *j = session_json(svc, s);
    char location[64];
    snprintf(location, sizeof(location), "session/%s", s->id);
    pthread_mutex_unlock(&svc->sess_lock);
    return send_json(conn, rq, 201, ATTEX_SERVICE_SESSION_MEDIA_TYPE, j,
                     MHD_HTTP_HEADER_LOCATION, location);
}

/* Builds the CMW a session's evidence POST stands for, or answers the problem itself. */
static int session_evidence(attex_service *svc, struct MHD_Connection *conn, svc_req *rq,
                            const char *ct, attex_cmw **out, enum MHD_Result *answered)
{
    attex_error err;
    attex_error_clear(&err);
    *out = NULL;
    if (svc_media_type_equal(ct, SVC_CMW_CBOR) || svc_media_type_equal(ct, SVC_CMW_JSON)) {
        attex_cmw_limits lim;
        memset(&lim, 0, sizeof(lim));
        lim.max_size = svc->cfg.max_body;
        int want = svc_media_type_equal(ct, SVC_CMW_CBOR) ? ATTEX_CMW_CBOR : ATTEX_CMW_JSON;
        if (attex_cmw_decode(rq->body, rq->body_len, &lim, out, &err) != ATTEX_OK) {
            *answered = problem(conn, rq, 400, "bad-cmw", NULL, NULL,
                                "the CMW does not decode: %s", err.message);
            return 0;
        }
        /* RFC 9999 s10: the media type names the serialisation. */
        if (attex_cmw_decoded_format(*out) != want) {
            attex_cmw_free(*out);
            *out = NULL;
            *answered = problem(conn, rq, 400, "bad-cmw", NULL, NULL,
                                "the body is a %s CMW but Content-Type says %s",
                                want == ATTEX_CMW_CBOR ? "JSON" : "CBOR", ct);
            return 0;
        }
        return 1;
    }
    for (size_t i = 0; i < svc->cfg.num_verifiers; i++) {
        const attex_verifier *v = svc->cfg.verifiers[i];
        if (v->media_type != NULL && svc_media_type_equal(ct, v->media_type)) {
            /* Veraison: raw evidence is appraised as if it were a Record of its media type. */
            *out = attex_cmw_record_new(v->media_type, rq->body, rq->body_len,
                                        ATTEX_CMW_IND_EVIDENCE, &err);
            if (*out == NULL) {
                *answered = problem(conn, rq, 400, "bad-request", NULL, NULL, "%s", err.message);
                return 0;
            }
            return 1;
        }
    }
    *answered = problem(conn, rq, 415, "unsupported-media-type", "Accept", svc->accept_header,
                        "no verifier is registered for evidence of type %.200s", ct);
    return 0;
}

static enum MHD_Result session_post(attex_service *svc, struct MHD_Connection *conn,
                                    svc_req *rq, const char *id)
{
    const char *ct = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL)
        return problem(conn, rq, 415, "unsupported-media-type", "Accept", svc->accept_header,
                       "the evidence needs a Content-Type naming its media type");
    if (rq->body_len == 0)
        return problem(conn, rq, 400, "bad-request", NULL, NULL, "the evidence body is empty");
    attex_cmw *cmw = NULL;
    enum MHD_Result answered = MHD_NO;
    if (!session_evidence(svc, conn, rq, ct, &cmw, &answered))
        return answered;

    pthread_mutex_lock(&svc->sess_lock);
    svc_session *s = session_find(svc, id, NULL);
    if (s == NULL || s->state != SESS_WAITING) {
        int missing = s == NULL;
        pthread_mutex_unlock(&svc->sess_lock);
        attex_cmw_free(cmw);
        if (missing)
            return problem(conn, rq, 404, "no-session", NULL, NULL,
                           "no session %s (unknown, deleted or expired)", id);
        return problem(conn, rq, 409, "session-used", NULL, NULL,
                       "session %s already has evidence; start a new session", id);
    }
    s->state = SESS_PROCESSING;
    uint8_t nonce[SVC_NONCE_MAX], aik[48];
    size_t nonce_len = s->nonce_len, aik_len = s->aik_len;
    memcpy(nonce, s->nonce, nonce_len);
    memcpy(aik, s->aik, aik_len);
    pthread_mutex_unlock(&svc->sess_lock);

    attex_binding b;
    char why[SVC_WHY_SIZE];
    attex_service_result res;
    attex_error err;
    attex_error_clear(&err);
    int ret = ATTEX_ERR_INVALID_ARGUMENT;
    if (!svc_session_binding(nonce, nonce_len, aik, aik_len, &b, why, sizeof(why)))
        snprintf(err.message, sizeof(err.message), "%s", why);
    else
        /* Veraison: the EAR's eat_nonce is the session nonce. */
        ret = appraise_tree(svc, cmw, &b, nonce, nonce_len, &res, &err);
    attex_binding_clear(&b);
    attex_cmw_free(cmw);

    char *ev = ret == ATTEX_OK ? b64_encode(rq->body, rq->body_len, 0) : NULL;
    char *type = ret == ATTEX_OK ? dup_text(ct, NULL) : NULL;
    char *jwt = NULL;
    if (ret == ATTEX_OK && (jwt = malloc(res.ear.len + 1)) != NULL) {
        memcpy(jwt, res.ear.data, res.ear.len);
        jwt[res.ear.len] = '\0';
    }
    if (ret == ATTEX_OK)
        attex_service_result_clear(&res);
    pthread_mutex_lock(&svc->sess_lock);
    s = NULL;
    for (size_t i = 0; i < svc->num_sessions; i++)
        if (strcmp(svc->sessions[i]->id, id) == 0)
            s = svc->sessions[i];
    json_t *j = NULL;
    int nomem = ret == ATTEX_OK && (ev == NULL || type == NULL || jwt == NULL);
    if (s != NULL) {
        if (ret != ATTEX_OK || nomem) {
            /* A request that could not be appraised leaves the session usable. */
            s->state = SESS_WAITING;
        } else {
            s->state = SESS_COMPLETE;
            s->evidence_b64 = ev;
            s->evidence_type = type;
            s->result = jwt;
            ev = type = jwt = NULL;
            j = session_json(svc, s);
        }
    }
    pthread_mutex_unlock(&svc->sess_lock);
    free(ev);
    free(type);
    free(jwt);
    if (ret != ATTEX_OK)
        return appraise_failed(conn, rq, &err);
    if (nomem)
        return problem(conn, rq, 500, "internal", NULL, NULL, "out of memory");
    if (s == NULL)
        return problem(conn, rq, 404, "no-session", NULL, NULL,
                       "session %s was deleted during the appraisal", id);
    return send_json(conn, rq, 200, ATTEX_SERVICE_SESSION_MEDIA_TYPE, j, NULL, NULL);
}

static enum MHD_Result handle_session(attex_service *svc, struct MHD_Connection *conn,
                                      svc_req *rq, const char *id)
{
    int is_get = strcmp(rq->method, "GET") == 0, is_post = strcmp(rq->method, "POST") == 0,
        is_delete = strcmp(rq->method, "DELETE") == 0;
    if (!is_get && !is_post && !is_delete)
        return problem(conn, rq, 405, "method-not-allowed", MHD_HTTP_HEADER_ALLOW,
                       "GET, POST, DELETE", "sessions take GET, POST and DELETE");
    if (!svc_session_id_valid(id, strlen(id)))
        return problem(conn, rq, 404, "no-session", NULL, NULL,
                       "session ids are lowercase UUIDs; there is no such session");
    if (!is_delete &&
        !svc_accept_allows(header(conn, MHD_HTTP_HEADER_ACCEPT), ATTEX_SERVICE_SESSION_MEDIA_TYPE))
        return problem(conn, rq, 406, "not-acceptable", NULL, NULL,
                       "sessions are " ATTEX_SERVICE_SESSION_MEDIA_TYPE
                       ", which the Accept header excludes");
    if (is_post)
        return session_post(svc, conn, rq, id);
    pthread_mutex_lock(&svc->sess_lock);
    size_t index = 0;
    svc_session *s = session_find(svc, id, &index);
    if (s == NULL) {
        pthread_mutex_unlock(&svc->sess_lock);
        return problem(conn, rq, 404, "no-session", NULL, NULL,
                       "no session %s (unknown, deleted or expired)", id);
    }
    if (is_get) {
        json_t *j = session_json(svc, s);
        pthread_mutex_unlock(&svc->sess_lock);
        return send_json(conn, rq, 200, ATTEX_SERVICE_SESSION_MEDIA_TYPE, j, NULL, NULL);
    }
    if (s->state == SESS_PROCESSING) {
        pthread_mutex_unlock(&svc->sess_lock);
        return problem(conn, rq, 409, "session-busy", NULL, NULL,
                       "session %s is being appraised; delete it afterwards", id);
    }
    session_free(s);
    svc->sessions[index] = svc->sessions[--svc->num_sessions];
    pthread_mutex_unlock(&svc->sess_lock);
    return send_body(conn, rq, 204, NULL, "", 0, NULL, NULL);
}

/* ---- discovery -------------------------------------------------------- */

static enum MHD_Result handle_discovery(attex_service *svc, struct MHD_Connection *conn,
                                        svc_req *rq)
{
    if (strcmp(rq->method, "GET") != 0)
        return problem(conn, rq, 405, "method-not-allowed", MHD_HTTP_HEADER_ALLOW, "GET",
                       "discovery takes GET");
    const char *accept = header(conn, MHD_HTTP_HEADER_ACCEPT);
    if (!svc_accept_allows(accept, ATTEX_SERVICE_DISCOVERY_MEDIA_TYPE) &&
        !svc_accept_allows(accept, "application/json"))
        return problem(conn, rq, 406, "not-acceptable", NULL, NULL,
                       "discovery is " ATTEX_SERVICE_DISCOVERY_MEDIA_TYPE
                       ", which the Accept header excludes");
    return send_body(conn, rq, 200, ATTEX_SERVICE_DISCOVERY_MEDIA_TYPE, svc->discovery,
                     strlen(svc->discovery), NULL, NULL);
}

/* ---- request plumbing ------------------------------------------------- */

static void flight_add(attex_service *svc, int delta)
{
    pthread_mutex_lock(&svc->flight_lock);
    if (delta > 0)
        svc->in_flight++;
    else if (svc->in_flight > 0 && --svc->in_flight == 0)
        pthread_cond_broadcast(&svc->flight_cond);
    pthread_mutex_unlock(&svc->flight_lock);
}

static enum MHD_Result route(attex_service *svc, struct MHD_Connection *conn, svc_req *rq,
                             const char *url)
{
    static const char session_prefix[] = "/challenge-response/v1/session/";
    if (rq->too_big)
        return problem(conn, rq, 413, "too-large", NULL, NULL,
                       "the request body is larger than %zu bytes", svc->cfg.max_body);
    if (strcmp(url, ATTEX_SERVICE_APPRAISE_PATH) == 0)
        return handle_appraise(svc, conn, rq);
    if (strcmp(url, "/challenge-response/v1/newSession") == 0)
        return handle_new_session(svc, conn, rq);
    if (strncmp(url, session_prefix, sizeof(session_prefix) - 1) == 0)
        return handle_session(svc, conn, rq, url + sizeof(session_prefix) - 1);
    if (strcmp(url, "/.well-known/veraison/verification") == 0)
        return handle_discovery(svc, conn, rq);
    return problem(conn, rq, 404, "not-found", NULL, NULL, "there is no resource %.200s", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    attex_service *svc = cls;
    svc_req *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        rq->svc = svc;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        snprintf(rq->method, sizeof(rq->method), "%s", method);
        snprintf(rq->path, sizeof(rq->path), "%s", url);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci != NULL && ci->client_addr != NULL) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET) {
                struct sockaddr_in sin;
                memcpy(&sin, sa, sizeof(sin));
                inet_ntop(AF_INET, &sin.sin_addr, rq->remote, sizeof(rq->remote));
            } else if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 sin6;
                memcpy(&sin6, sa, sizeof(sin6));
                inet_ntop(AF_INET6, &sin6.sin6_addr, rq->remote, sizeof(rq->remote));
            }
        }
        *con_cls = rq;
        flight_add(svc, 1);
        /* Refuse a declared oversize body before reading it. */
        const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > svc->cfg.max_body) {
                rq->too_big = 1;
                return route(svc, conn, rq, url);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->responded || rq->too_big)
            return MHD_YES;
        if (n > svc->cfg.max_body - rq->body_len) {
            /* A chunked body that grows past the limit: drop it and answer 413 at the end. */
            rq->too_big = 1;
            free(rq->body);
            rq->body = NULL;
            rq->body_len = rq->body_cap = 0;
            return MHD_YES;
        }
        if (rq->body_len + n > rq->body_cap) {
            size_t cap = rq->body_cap ? rq->body_cap : 4096;
            while (cap < rq->body_len + n)
                cap *= 2;
            if (cap > svc->cfg.max_body)
                cap = svc->cfg.max_body;
            uint8_t *p = realloc(rq->body, cap);
            if (p == NULL)
                return MHD_NO;
            rq->body = p;
            rq->body_cap = cap;
        }
        memcpy(rq->body + rq->body_len, upload_data, n);
        rq->body_len += n;
        return MHD_YES;
    }
    if (rq->responded)
        return MHD_YES;
    return route(svc, conn, rq, url);
}

static void log_request(attex_service *svc, const svc_req *rq)
{
    if (svc->cfg.access_log == NULL && svc->cfg.log_fn == NULL)
        return;
    struct timespec now, wall;
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_REALTIME, &wall);
    long long us = (long long)(now.tv_sec - rq->start.tv_sec) * 1000000 +
                   (now.tv_nsec - rq->start.tv_nsec) / 1000;
    char ts[64], day[32];
    struct tm tm;
    time_t secs = wall.tv_sec;
    gmtime_r(&secs, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof(ts), "%s.%06dZ", day, (int)(wall.tv_nsec / 1000 % 1000000));
    /* The path is client text: json_stringn escapes it, and refuses invalid UTF-8. */
    json_t *path = json_string(rq->path);
    if (path == NULL)
        path = json_string("(path not valid UTF-8)");
    json_t *j = json_pack("{s:s,s:s,s:o,s:i,s:I,s:I,s:s}", "time", ts, "method", rq->method,
                          "path", path, "status", (int)rq->status, "bytes",
                          (json_int_t)rq->bytes, "duration_us", (json_int_t)us, "remote",
                          rq->remote);
    char *line = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (line == NULL)
        return;
    if (svc->cfg.log_fn != NULL)
        svc->cfg.log_fn(svc->cfg.log_ctx, line);
    if (svc->cfg.access_log != NULL) {
        pthread_mutex_lock(&svc->log_lock);
        fprintf(svc->cfg.access_log, "%s\n", line);
        fflush(svc->cfg.access_log);
        pthread_mutex_unlock(&svc->log_lock);
    }
    free(line);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    attex_service *svc = cls;
    svc_req *rq = *con_cls;
    if (rq == NULL)
        return;
    *con_cls = NULL;
    log_request(svc, rq);
    free(rq->body);
    free(rq);
    flight_add(svc, -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    /* libmicrohttpd's own diagnostics (bad TLS handshakes, ...) are not access-log lines. */
    (void)cls;
    (void)fmt;
    (void)ap;
}

/* ---- start and stop --------------------------------------------------- */

int attex_service_start(attex_service *svc, attex_error *err)
{
    if (svc == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_service_start needs a service");
    if (svc->daemon != NULL)
        return svc->port;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, svc->cfg.address, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(svc->cfg.port);
    } else if (inet_pton(AF_INET6, svc->cfg.address, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(svc->cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the listening address %s is not an IPv4 or IPv6 literal",
                          svc->cfg.address);
    }
    if (svc->tls_cert != NULL)
        flags |= MHD_USE_TLS;
    /* A plug-in call blocks its thread: by default every connection gets its own thread
     * (bounded by max_connections), so a slow appraisal delays no other client. A pool
     * spreads connections over its threads as they are accepted. */
    if (svc->cfg.threads == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    struct MHD_OptionItem opts[12];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    if (svc->cfg.threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                            (intptr_t)svc->cfg.threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        (intptr_t)svc->cfg.max_connections, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)svc->cfg.connection_timeout, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, svc};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL};
    if (svc->tls_cert != NULL) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, svc->tls_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, svc->tls_key};
        /* RFC 8996 / RFC 9325 s3.1.1: TLS 1.2 or 1.3 only. */
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)(uintptr_t)"NORMAL:-VERS-ALL:+VERS-TLS1.3:"
                                                               "+VERS-TLS1.2"};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    svc->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, svc, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
    if (svc->daemon == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot serve on %s port %u: the port is taken, the address is not "
                          "local, or the TLS certificate and key do not load",
                          svc->cfg.address, (unsigned)svc->cfg.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(svc->daemon, MHD_DAEMON_INFO_BIND_PORT);
    svc->port = di != NULL ? (int)di->port : (int)svc->cfg.port;
    return svc->port;
}

void attex_service_stop(attex_service *svc)
{
    if (svc == NULL || svc->daemon == NULL)
        return;
    pthread_mutex_lock(&svc->flight_lock);
    svc->stopping = 1;
    pthread_mutex_unlock(&svc->flight_lock);
    /* Stop accepting; the listening socket is ours to close once quiesced. */
    MHD_socket lfd = MHD_quiesce_daemon(svc->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    /* Let the requests in flight finish, for at most one connection timeout. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)svc->cfg.connection_timeout;
    pthread_mutex_lock(&svc->flight_lock);
    while (svc->in_flight > 0)
        if (pthread_cond_timedwait(&svc->flight_cond, &svc->flight_lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&svc->flight_lock);
    MHD_stop_daemon(svc->daemon);
    svc->daemon = NULL;
    svc->stopping = 0;
}

void attex_service_free(attex_service *svc)
{
    if (svc == NULL)
        return;
    attex_service_stop(svc);
    for (size_t i = 0; i < svc->num_sessions; i++)
        session_free(svc->sessions[i]);
    free(svc->sessions);
    EVP_PKEY_free(svc->ear_key);
    free(svc->tls_cert);
    if (svc->tls_key != NULL) {
        crypto_zeroise(svc->tls_key, svc->tls_key_len);
        free(svc->tls_key);
    }
    free(svc->discovery);
    free(svc->jwk);
    free(svc->accept_header);
    json_decref(svc->accept_list);
    pthread_mutex_destroy(&svc->appraise_lock);
    pthread_mutex_destroy(&svc->log_lock);
    pthread_mutex_destroy(&svc->flight_lock);
    pthread_mutex_destroy(&svc->sess_lock);
    pthread_cond_destroy(&svc->flight_cond);
    free(svc);
}
