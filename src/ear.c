/*
 * attex: EAT Attestation Results (draft-ietf-rats-ear) as JWTs.
 *
 * An EAR is a JWS compact serialisation (RFC 7515 s7.1) signed with ES256
 * (RFC 7518 s3.4: r || s, 32 bytes each) over a JSON claims set (RFC 7519).
 * attex issues the current draft's claim names and reads both generations
 * (NOTES: deployed Veraison writes ear.status, ear.verifier-id, ...).
 *
 * Parsing order: the compact form is split and decoded strictly, the header
 * checked (alg ES256 only), the signature verified, and only then is the
 * payload JSON parsed, so that an unauthenticated payload never reaches the
 * claims decoder (except in the fuzzing build, which skips the signature).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <attex/ear.h>

#include "b64.h"
#include "bytes.h"
#include "crypto.h"
#include "ear_internal.h"
#include "internal.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

#define EAR_SIG_LEN 64
#define EAR_MAX_HEADER 1024     /* decoded JWS header bytes */
#define EAR_DEFAULT_SKEW 60
#define EAR_MAX_POLICY_IDS 16
/* RFC 7519 s2 NumericDate; 2^53, beyond which a JSON number loses integers. */
#define EAR_MAX_TIME 9007199254740992LL

/* The JWS header attex writes (RFC 7515 s4.1.1, RFC 7519 s5.1). */
static const char jws_header[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";

static const char *const tv_names[ATTEX_EAR_TV_COUNT] = {
    "instance-identity", "configuration",  "executables",    "file-system",
    "hardware",          "runtime-opaque", "storage-opaque", "sourced-data"};


/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */


const char *ear_status_name(attex_verdict v)
{
    switch (v) {
    case ATTEX_VERDICT_AFFIRMING:
        return "affirming";
    case ATTEX_VERDICT_WARNING:
        return "warning";
    case ATTEX_VERDICT_CONTRAINDICATED:
        return "contraindicated";
    default:
        return "none";
    }
}

/* draft-ietf-rats-ear s3.2: trust tiers, as JSON strings. */
static int status_from_name(const char *s, attex_verdict *out)
{
    static const attex_verdict all[] = {ATTEX_VERDICT_NONE, ATTEX_VERDICT_AFFIRMING,
                                        ATTEX_VERDICT_WARNING, ATTEX_VERDICT_CONTRAINDICATED};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(all); i++)
        if (strcmp(s, ear_status_name(all[i])) == 0) {
            *out = all[i];
            return 1;
        }
    return 0;
}

static int valid_status(attex_verdict v)
{
    return v == ATTEX_VERDICT_NONE || v == ATTEX_VERDICT_AFFIRMING ||
           v == ATTEX_VERDICT_WARNING || v == ATTEX_VERDICT_CONTRAINDICATED;
}

/* badness orders the tiers: affirming < warning < contraindicated < none (attex_ear_worst). */
static int badness(attex_verdict v)
{
    switch (v) {
    case ATTEX_VERDICT_AFFIRMING:
        return 0;
    case ATTEX_VERDICT_WARNING:
        return 1;
    case ATTEX_VERDICT_CONTRAINDICATED:
        return 2;
    default:
        return 3;
    }
}

attex_verdict attex_ear_worst(const attex_ear *ear)
{
    if (ear == NULL || ear->num_submods == 0)
        return ATTEX_VERDICT_NONE;
    attex_verdict w = ATTEX_VERDICT_AFFIRMING;
    for (size_t i = 0; i < ear->num_submods && i < ATTEX_EAR_MAX_SUBMODS; i++)
        if (badness(ear->submods[i].status) > badness(w))
            w = ear->submods[i].status;
    return w;
}

static int known_profile(const char *p)
{
    return strcmp(p, ATTEX_EAR_PROFILE) == 0 || strcmp(p, ATTEX_EAR_PROFILE_VERAISON) == 0;
}

/* RFC 7518 s3.4: ES256 is ECDSA P-256 with SHA-256. */
static int is_p256(EVP_PKEY *key)
{
    return key != NULL && crypto_key_can_use(key, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256);
}

/* RFC 7518 s3.4: an ES256 signature is r || s, 32 bytes each, over SHA-256; the key is P-256. */
static int es256_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                        const uint8_t sig[EAR_SIG_LEN])
{
    return is_p256(key) &&
           crypto_ecdsa_verify_raw(key, ATTEX_HASH_SHA256, msg, msg_len, sig, EAR_SIG_LEN) == 1;
}

/* ---------------------------------------------------------------------- */
/* Decoding                                                               */

static int bad(attex_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(attex_error *err, const char *fmt, ...)
{
    char why[ATTEX_ERROR_MESSAGE_SIZE - 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE, "EAR: %s", why);
}

static int stale(attex_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int stale(attex_error *err, const char *fmt, ...)
{
    char why[ATTEX_ERROR_MESSAGE_SIZE - 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "EAR: %s", why);
}

/*
 * RFC 7519 s2 NumericDate. Integers only, except that a JSON number with an
 * exponent or fraction is taken when its value is a whole number: old
 * Veraison serialised iat as 1.666529184e+09 (NOTES s7.1). A real fraction
 * is refused: a time is a count of seconds here.
 */
static int numeric_date(const json_t *v, const char *name, int64_t *out, attex_error *err)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > EAR_MAX_TIME)
            return bad(err, "%s is %lld, outside 0..2^53", name, (long long)i);
        *out = (int64_t)i;
        return ATTEX_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0.0 && d <= (double)EAR_MAX_TIME))
            return bad(err, "%s is %g, outside 0..2^53", name, d);
        int64_t i = (int64_t)d;
        if ((double)i != d)
            return bad(err, "%s is %.3f, not a whole number of seconds", name, d);
        *out = i;
        return ATTEX_OK;
    }
    return bad(err, "%s is not a number (RFC 7519 s2 NumericDate)", name);
}

/* copy_text copies a JSON string into a fixed field, refusing what does not fit or holds NUL. */
static int copy_text(const json_t *v, const char *name, char *out, size_t out_size,
                     attex_error *err)
{
    if (!json_is_string(v))
        return bad(err, "%s is not a string", name);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= out_size || strlen(s) != n)
        return bad(err, "%s is %zu bytes; attex reads at most %zu, without NUL", name, n,
                   out_size - 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return ATTEX_OK;
}

/*
 * either_claim returns the claim under its current-draft name or its
 * Veraison name (NOTES s0 item 6). Both at once is ambiguous and refused.
 */
static int either_claim(const json_t *obj, const char *draft, const char *veraison,
                        const char *where, json_t **out, attex_error *err)
{
    json_t *a = json_object_get(obj, draft), *b = json_object_get(obj, veraison);
    if (a != NULL && b != NULL)
        return bad(err, "%s has both %s and %s; an EAR uses one generation of names", where,
                   draft, veraison);
    *out = a != NULL ? a : b;
    return ATTEX_OK;
}

static int decode_status(const json_t *v, const char *where, attex_verdict *out,
                         attex_error *err)
{
    if (!json_is_string(v) || !status_from_name(json_string_value(v), out)) {
        char shown[64] = "(not a string)";
        if (json_is_string(v))
            util_safe_text(json_string_value(v), json_string_length(v), shown, sizeof(shown));
        return bad(err, "%s status is %s; draft-ietf-rats-ear s3.2 allows \"affirming\", "
                        "\"warning\", \"contraindicated\" or \"none\"",
                   where, shown);
    }
    return ATTEX_OK;
}

static int decode_tv(json_t *tv, const char *where, attex_ear_submod *sm, attex_error *err)
{
    if (!json_is_object(tv))
        return bad(err, "%s trustworthiness vector is not an object", where);
    const char *key;
    json_t *val;
    json_object_foreach(tv, key, val) {
        size_t k = 0;
        while (k < ATTEX_EAR_TV_COUNT && strcmp(key, tv_names[k]) != 0)
            k++;
        if (k == ATTEX_EAR_TV_COUNT) {
            char shown[64];
            util_safe_text(key, strlen(key), shown, sizeof(shown));
            return bad(err, "%s trustworthiness vector has the unknown claim %s "
                            "(draft-ietf-rats-ear s3.1 defines eight)",
                       where, shown);
        }
        /* draft-ietf-rats-ear s3.1: trustworthiness claims are int8 (-128..127). */
        if (!json_is_integer(val) || json_integer_value(val) < -128 ||
            json_integer_value(val) > 127)
            return bad(err, "%s trustworthiness claim %s is not an integer in -128..127", where,
                       tv_names[k]);
        sm->tv[k] = (int8_t)json_integer_value(val);
        sm->tv_present = (uint8_t)(sm->tv_present | (1u << k));
    }
    return ATTEX_OK;
}

static int decode_policy(const json_t *obj, const char *where, attex_ear_submod *sm,
                         attex_error *err)
{
    json_t *ids = json_object_get(obj, "ear_appraisal_policy_ids");
    json_t *id = json_object_get(obj, "ear.appraisal-policy-id");
    if (ids != NULL && id != NULL)
        return bad(err, "%s has both ear_appraisal_policy_ids and ear.appraisal-policy-id",
                   where);
    char name[160];
    if (id != NULL) {
        /* Veraison: one policy id, a string. */
        snprintf(name, sizeof(name), "%s ear.appraisal-policy-id", where);
        return copy_text(id, name, sm->policy_id, sizeof(sm->policy_id), err);
    }
    if (ids == NULL)
        return ATTEX_OK;
    /* draft-ietf-rats-ear s3.3: ear_appraisal_policy_ids is an array of strings. */
    size_t n = json_is_array(ids) ? json_array_size(ids) : 0;
    if (n == 0 || n > EAR_MAX_POLICY_IDS)
        return bad(err, "%s ear_appraisal_policy_ids must be an array of 1 to %d strings", where,
                   EAR_MAX_POLICY_IDS);
    char scratch[sizeof(sm->policy_id)];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s ear_appraisal_policy_ids[%zu]", where, i);
        int ret = copy_text(json_array_get(ids, i), name, i == 0 ? sm->policy_id : scratch,
                            sizeof(scratch), err);
        if (ret != ATTEX_OK)
            return ret;
    }
    return ATTEX_OK;
}

static int decode_submod(const char *label, const json_t *obj, attex_ear_submod *sm,
                         attex_error *err)
{
    char where[96];
    char shown[80];
    util_safe_text(label, strlen(label), shown, sizeof(shown));
    snprintf(where, sizeof(where), "submodule %s", shown);
    size_t n = strlen(label);
    if (n == 0 || n >= sizeof(sm->name))
        return bad(err, "%s: submodule names must be 1 to %zu bytes", where,
                   sizeof(sm->name) - 1);
    memcpy(sm->name, label, n + 1);
    if (!json_is_object(obj))
        return bad(err, "%s is not an object", where);
    json_t *st, *tv;
    int ret = either_claim(obj, "ear_status", "ear.status", where, &st, err);
    if (ret != ATTEX_OK)
        return ret;
    /* draft-ietf-rats-ear s3.2: ear_status is mandatory in every appraisal. */
    if (st == NULL)
        return bad(err, "%s has no ear_status (or ear.status)", where);
    if ((ret = decode_status(st, where, &sm->status, err)) != ATTEX_OK)
        return ret;
    ret = either_claim(obj, "ear_trustworthiness_vector", "ear.trustworthiness-vector", where,
                       &tv, err);
    if (ret == ATTEX_OK && tv != NULL)
        ret = decode_tv(tv, where, sm, err);
    if (ret == ATTEX_OK)
        ret = decode_policy(obj, where, sm, err);
    return ret;
}

static int decode_claims(const json_t *c, attex_ear *out, attex_error *err)
{
    if (!json_is_object(c))
        return bad(err, "the JWT payload is not a JSON object (RFC 7519 s7.2)");
    /* draft-ietf-rats-ear s3: eat_profile names the claims' meaning; only known ones are read. */
    json_t *prof = json_object_get(c, "eat_profile");
    if (prof == NULL)
        return bad(err, "no eat_profile claim");
    if (!json_is_string(prof) || !known_profile(json_string_value(prof))) {
        char shown[96] = "(not a string)";
        if (json_is_string(prof))
            util_safe_text(json_string_value(prof), json_string_length(prof), shown,
                          sizeof(shown));
        return stale(err, "unknown eat_profile %s (attex reads \"%s\" and \"%s\")", shown,
                     ATTEX_EAR_PROFILE, ATTEX_EAR_PROFILE_VERAISON);
    }
    snprintf(out->profile, sizeof(out->profile), "%s", json_string_value(prof));
    int ret;
    json_t *iat = json_object_get(c, "iat"), *exp = json_object_get(c, "exp");
    if (iat == NULL)
        return bad(err, "no iat claim (draft-ietf-rats-ear s3: mandatory)");
    if ((ret = numeric_date(iat, "iat", &out->iat, err)) != ATTEX_OK)
        return ret;
    out->exp = 0;
    if (exp != NULL) {
        if ((ret = numeric_date(exp, "exp", &out->exp, err)) != ATTEX_OK)
            return ret;
        if (out->exp <= out->iat)
            return bad(err, "exp (%lld) is not after iat (%lld)", (long long)out->exp,
                       (long long)out->iat);
    }
    json_t *vid;
    if ((ret = either_claim(c, "ear_verifier_id", "ear.verifier-id", "the EAR", &vid, err)) !=
        ATTEX_OK)
        return ret;
    /* draft-ietf-rats-ear s3: ear_verifier_id {developer, build} is mandatory. */
    if (vid == NULL || !json_is_object(vid))
        return bad(err, "no ear_verifier_id (or ear.verifier-id) object");
    if ((ret = copy_text(json_object_get(vid, "developer"), "ear_verifier_id developer",
                         out->verifier_developer, sizeof(out->verifier_developer), err)) !=
            ATTEX_OK ||
        (ret = copy_text(json_object_get(vid, "build"), "ear_verifier_id build",
                         out->verifier_build, sizeof(out->verifier_build), err)) != ATTEX_OK)
        return ret;
    out->nonce_len = 0;
    json_t *nonce = json_object_get(c, "eat_nonce");
    if (nonce != NULL) {
        /* RFC 9711 s4.1: eat_nonce is 8..64 bytes; in JSON base64url. Veraison pads it. */
        char why[B64_WHY_SIZE];
        if (!json_is_string(nonce))
            return bad(err, "eat_nonce is not a string (attex reads a single nonce)");
        if (!b64url_decode_to(json_string_value(nonce), json_string_length(nonce), 1,
                              out->nonce, sizeof(out->nonce), &out->nonce_len, why,
                              sizeof(why)))
            return bad(err, "eat_nonce %s", why);
        if (out->nonce_len < 8)
            return bad(err, "eat_nonce is %zu bytes; RFC 9711 s4.1 requires 8 to 64",
                       out->nonce_len);
    }
    json_t *subs = json_object_get(c, "submods");
    size_t ns = json_is_object(subs) ? json_object_size(subs) : 0;
    if (ns == 0 || ns > ATTEX_EAR_MAX_SUBMODS)
        return bad(err, "submods must be an object with 1 to %d appraisals (it has %zu)",
                   ATTEX_EAR_MAX_SUBMODS, ns);
    const char *label;
    json_t *sv;
    out->num_submods = 0;
    json_object_foreach(subs, label, sv) {
        attex_ear_submod *sm = &out->submods[out->num_submods];
        memset(sm, 0, sizeof(*sm));
        if ((ret = decode_submod(label, sv, sm, err)) != ATTEX_OK)
            return ret;
        out->num_submods++;
    }
    /* An overall status, where present, must be no better than the worst submodule. */
    json_t *overall;
    if ((ret = either_claim(c, "ear_status", "ear.status", "the EAR", &overall, err)) !=
        ATTEX_OK)
        return ret;
    if (overall != NULL) {
        attex_verdict ov;
        if ((ret = decode_status(overall, "the overall", &ov, err)) != ATTEX_OK)
            return ret;
        attex_verdict w = attex_ear_worst(out);
        if (badness(ov) < badness(w))
            return bad(err, "the overall status %s is better than the worst submodule's (%s)",
                       ear_status_name(ov), ear_status_name(w));
    }
    return ATTEX_OK;
}

/* RFC 7515 s4.1: the JOSE header. attex accepts ES256 alone. */
static int check_header(const uint8_t *h, size_t n, attex_error *err)
{
    json_error_t jerr;
    json_t *hdr = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, &jerr);
    if (hdr == NULL || !json_is_object(hdr)) {
        json_decref(hdr);
        return bad(err, "the JWS header is not a JSON object (RFC 7515 s4)");
    }
    int ret = ATTEX_OK;
    json_t *alg = json_object_get(hdr, "alg");
    if (!json_is_string(alg)) {
        ret = bad(err, "the JWS header has no alg (RFC 7515 s4.1.1)");
    } else if (strcmp(json_string_value(alg), "ES256") != 0) {
        /* RFC 8725 s2.1/s3.1: the algorithm is fixed here, never taken from the token
         * ("none" would skip the signature, HS256 would use the public key as a MAC key). */
        char shown[48];
        util_safe_text(json_string_value(alg), json_string_length(alg), shown, sizeof(shown));
        ret = stale(err, "the JWS alg is %s; attex accepts EARs signed with ES256 only", shown);
    } else if (json_object_get(hdr, "crit") != NULL) {
        /* RFC 7515 s4.1.11: critical extensions attex does not understand. */
        ret = bad(err, "the JWS header has crit, naming extensions attex does not implement");
    } else if (json_object_get(hdr, "typ") != NULL && !json_is_string(json_object_get(hdr, "typ"))) {
        ret = bad(err, "the JWS header's typ is not a string");
    }
    /* A "jwk" or "kid" header is ignored: the key comes from configuration, never the token. */
    json_decref(hdr);
    return ret;
}

int ear_decode(const uint8_t *jwt, size_t jwt_len, const attex_ear_validate_opts *opts,
               int check_signature, attex_ear *out, char **claims_json, attex_error *err)
{
    if (jwt == NULL || opts == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ear_validate needs a JWT, options and an output");
    if (claims_json != NULL)
        *claims_json = NULL;
    if (opts->nonce != NULL && (opts->nonce_len == 0 || opts->nonce_len > 64))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the expected eat_nonce must be 1 to 64 bytes, not %zu",
                          opts->nonce_len);
    if (check_signature && (opts->num_keys == 0 || opts->keys == NULL))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "validating an EAR needs at least one trusted Verifier key");
    if (jwt_len == 0 || jwt_len > ATTEX_EAR_MAX_JWT)
        return bad(err, "the JWT is %zu bytes; attex reads 1 to %d", jwt_len, ATTEX_EAR_MAX_JWT);

    /* RFC 7515 s7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature). */
    attex_reader r, seg[3];
    rd_init(&r, jwt, jwt_len);
    size_t start = 0, nseg = 0, pos = 0;
    attex_reader all = r;
    while (rd_len(&r) > 0) {
        uint8_t c;
        if (!rd_u8(&r, &c))
            break;
        if (c == '.') {
            if (nseg == 2)
                return bad(err, "the JWT has more than three parts (RFC 7515 s7.1 compact "
                                "serialisation)");
            if (!rd_sub(&all, pos - start, &seg[nseg]) || !rd_skip(&all, 1))
                return bad(err, "the JWT could not be split");
            nseg++;
            start = pos + 1;
        } else if (!b64url_is_char(c)) {
            return bad(err, "the JWT has %s at offset %zu; its parts are base64url without "
                            "padding (RFC 7515 s2)",
                       c == '=' ? "'=' padding" : "a byte that is not base64url", pos);
        }
        pos++;
    }
    if (nseg != 2)
        return bad(err, "the JWT has %zu parts, not three (RFC 7515 s7.1)", nseg + 1);
    seg[2] = all;
    static const char *const part[3] = {"header", "payload", "signature"};
    for (int i = 0; i < 3; i++)
        if (rd_len(&seg[i]) == 0)
            return bad(err, "the JWT's %s is empty", part[i]);

    char why[B64_WHY_SIZE];
    uint8_t header[EAR_MAX_HEADER];
    size_t header_len = 0;
    if (!b64url_decode_to(rd_ptr(&seg[0]), rd_len(&seg[0]), 0, header, sizeof(header),
                          &header_len, why, sizeof(why)))
        return bad(err, "the JWS header %s", why);
    int ret = check_header(header, header_len, err);
    if (ret != ATTEX_OK)
        return ret;

    uint8_t sig[EAR_SIG_LEN + 1];
    size_t sig_len = 0;
    if (!b64url_decode_to(rd_ptr(&seg[2]), rd_len(&seg[2]), 0, sig, sizeof(sig), &sig_len, why,
                          sizeof(why)))
        return bad(err, "the JWS signature %s (ES256 signatures are 64 bytes)", why);
    /* RFC 7518 s3.4: an ES256 signature is exactly 64 bytes. */
    if (sig_len != EAR_SIG_LEN)
        return bad(err, "the JWS signature is %zu bytes; ES256 signatures are 64 (RFC 7518 "
                        "s3.4)",
                   sig_len);
    if (check_signature) {
        /* RFC 7515 s5.2: the signing input is the first two parts with their dot. */
        size_t input_len = rd_len(&seg[0]) + 1 + rd_len(&seg[1]);
        int verified = 0;
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
        verified = 1;
#endif
        for (size_t i = 0; !verified && i < opts->num_keys; i++)
            verified = opts->keys[i] != NULL && es256_verify(opts->keys[i], jwt, input_len, sig);
        if (!verified)
            return attex_fail(err, ATTEX_ERR_BAD_SIGNATURE, ATTEX_ALERT_NONE,
                              "EAR: the JWT's signature does not verify under any of the %zu "
                              "trusted Verifier key(s): it was signed by another Verifier or "
                              "altered",
                              opts->num_keys);
    }

    size_t pl_cap = rd_len(&seg[1]) / 4 * 3 + 3, pl_len = 0;
    uint8_t *payload = malloc(pl_cap);
    if (payload == NULL)
        return NOMEM(err);
    json_t *claims = NULL;
    if (!b64url_decode_to(rd_ptr(&seg[1]), rd_len(&seg[1]), 0, payload, pl_cap, &pl_len, why,
                          sizeof(why))) {
        ret = bad(err, "the JWT payload %s", why);
        goto out;
    }
    json_error_t jerr;
    /* RFC 7519 s4: duplicate claim names make the meaning ambiguous; refused. */
    claims = json_loadb((const char *)payload, pl_len, JSON_REJECT_DUPLICATES, &jerr);
    if (claims == NULL) {
        ret = bad(err, "the JWT payload is not JSON (line %d, column %d: %s)", jerr.line,
                  jerr.column, jerr.text);
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if ((ret = decode_claims(claims, out, err)) != ATTEX_OK)
        goto out;

    /* RFC 7519 s4.1.4-s4.1.6: expiry, not-before and issued-at, with clock skew. */
    int64_t now = opts->now != 0 ? opts->now : (int64_t)time(NULL);
    int64_t skew = opts->skew != 0 ? opts->skew : EAR_DEFAULT_SKEW;
    if (out->iat > now + skew) {
        ret = stale(err, "iat %lld is %lld s in the future (allowed skew %lld s): check the "
                         "clocks of the Verifier and of this host",
                    (long long)out->iat, (long long)(out->iat - now), (long long)skew);
        goto out;
    }
    if (out->exp != 0 && now - skew >= out->exp) {
        ret = stale(err, "expired: exp %lld is %lld s ago (allowed skew %lld s); ask the "
                         "Verifier for a new EAR",
                    (long long)out->exp, (long long)(now - out->exp), (long long)skew);
        goto out;
    }
    json_t *nbf = json_object_get(claims, "nbf");
    int64_t nbf_v = 0;
    if (nbf != NULL) {
        if ((ret = numeric_date(nbf, "nbf", &nbf_v, err)) != ATTEX_OK)
            goto out;
        if (nbf_v > now + skew) {
            ret = stale(err, "not valid yet: nbf %lld is %lld s in the future",
                        (long long)nbf_v, (long long)(nbf_v - now));
            goto out;
        }
    }
    if (opts->max_age != 0 && now - out->iat > (int64_t)opts->max_age + skew) {
        ret = stale(err, "issued %lld s ago, more than the allowed %u s", (long long)(now - out->iat),
                    opts->max_age);
        goto out;
    }
    if (opts->nonce != NULL) {
        /* PROTOCOL.md s3: the EAR must be about evidence bound to this connection (binder). */
        char want[2 * 64 + 1], got[2 * 64 + 1];
        util_hex(opts->nonce, opts->nonce_len, want);
        util_hex(out->nonce, out->nonce_len, got);
        if (out->nonce_len == 0) {
            ret = stale(err, "no eat_nonce, but one was required (expected %s)", want);
            goto out;
        }
        if (out->nonce_len != opts->nonce_len ||
            !crypto_equal(out->nonce, opts->nonce, opts->nonce_len)) {
            ret = stale(err, "eat_nonce does not match: expected %s, got %s (the EAR is about "
                             "evidence for another connection or request)",
                        want, got);
            goto out;
        }
    }
    if (claims_json != NULL &&
        (*claims_json = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        ret = NOMEM(err);
out:
    json_decref(claims);
    free(payload);
    return ret;
}

int attex_ear_validate(const uint8_t *jwt, size_t jwt_len, const attex_ear_validate_opts *opts,
                       attex_ear *out, attex_error *err)
{
    return ear_decode(jwt, jwt_len, opts, 1, out, NULL, err);
}

/* ---------------------------------------------------------------------- */
/* Issuing                                                                */

static int check_issue(const attex_ear *ear, attex_error *err)
{
    const char *p = ear->profile[0] ? ear->profile : ATTEX_EAR_PROFILE;
    if (memchr(ear->profile, 0, sizeof(ear->profile)) == NULL || !known_profile(p))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "EAR to issue: the profile must be empty, \"%s\" or \"%s\"",
                          ATTEX_EAR_PROFILE, ATTEX_EAR_PROFILE_VERAISON);
    if (ear->iat < 0 || ear->iat > EAR_MAX_TIME || ear->exp <= ear->iat || ear->exp > EAR_MAX_TIME)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "EAR to issue: iat must be 0..2^53 and exp after it");
    if (ear->nonce_len < 8 || ear->nonce_len > sizeof(ear->nonce))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "EAR to issue: eat_nonce must be 8 to 64 bytes (RFC 9711 s4.1), not "
                          "%zu",
                          ear->nonce_len);
    if (memchr(ear->verifier_developer, 0, sizeof(ear->verifier_developer)) == NULL ||
        memchr(ear->verifier_build, 0, sizeof(ear->verifier_build)) == NULL ||
        !ear->verifier_developer[0] || !ear->verifier_build[0])
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "EAR to issue: ear_verifier_id needs a developer and a build");
    if (ear->num_submods == 0 || ear->num_submods > ATTEX_EAR_MAX_SUBMODS)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "EAR to issue: it needs 1 to %d submodules, not %zu",
                          ATTEX_EAR_MAX_SUBMODS, ear->num_submods);
    for (size_t i = 0; i < ear->num_submods; i++) {
        const attex_ear_submod *sm = &ear->submods[i];
        if (memchr(sm->name, 0, sizeof(sm->name)) == NULL || !sm->name[0] ||
            memchr(sm->policy_id, 0, sizeof(sm->policy_id)) == NULL || !valid_status(sm->status))
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "EAR to issue: submodule %zu needs a name (1 to 63 bytes), a "
                              "valid status and a policy id of at most 127 bytes",
                              i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(ear->submods[j].name, sm->name) == 0)
                return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                  "EAR to issue: two submodules are named \"%s\"", sm->name);
    }
    return ATTEX_OK;
}

static json_t *claims_json_new(const attex_ear *ear)
{
    json_t *c = json_object(), *vid = json_object(), *subs = json_object();
    char *nonce = b64_encode(ear->nonce, ear->nonce_len, 1);
    int ok = c != NULL && vid != NULL && subs != NULL && nonce != NULL;
    ok = ok &&
         json_object_set_new(c, "eat_profile",
                             json_string(ear->profile[0] ? ear->profile : ATTEX_EAR_PROFILE)) ==
             0 &&
         json_object_set_new(c, "iat", json_integer(ear->iat)) == 0 &&
         json_object_set_new(c, "exp", json_integer(ear->exp)) == 0 &&
         json_object_set_new(vid, "developer", json_string(ear->verifier_developer)) == 0 &&
         json_object_set_new(vid, "build", json_string(ear->verifier_build)) == 0 &&
         json_object_set(c, "ear_verifier_id", vid) == 0 &&
         json_object_set_new(c, "eat_nonce", json_string(nonce)) == 0 &&
         json_object_set(c, "submods", subs) == 0;
    for (size_t i = 0; ok && i < ear->num_submods; i++) {
        const attex_ear_submod *sm = &ear->submods[i];
        json_t *s = json_object(), *tv = json_object(), *pol = NULL;
        ok = s != NULL && tv != NULL &&
             json_object_set_new(s, "ear_status", json_string(ear_status_name(sm->status))) == 0;
        for (int k = 0; ok && k < ATTEX_EAR_TV_COUNT; k++)
            if (sm->tv_present & (1u << k))
                ok = json_object_set_new(tv, tv_names[k], json_integer(sm->tv[k])) == 0;
        if (ok && json_object_size(tv) > 0)
            ok = json_object_set(s, "ear_trustworthiness_vector", tv) == 0;
        if (ok && sm->policy_id[0]) {
            pol = json_array();
            ok = pol != NULL && json_array_append_new(pol, json_string(sm->policy_id)) == 0 &&
                 json_object_set(s, "ear_appraisal_policy_ids", pol) == 0;
        }
        ok = ok && json_object_set(subs, sm->name, s) == 0;
        json_decref(pol);
        json_decref(tv);
        json_decref(s);
    }
    free(nonce);
    json_decref(vid);
    json_decref(subs);
    if (!ok) {
        json_decref(c);
        return NULL;
    }
    return c;
}

int attex_ear_issue(const attex_ear *ear, EVP_PKEY *key, attex_buf *jwt, attex_error *err)
{
    if (ear == NULL || jwt == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ear_issue needs claims and an output");
    if (!is_p256(key))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the EAR signing key is missing or not EC P-256 (ES256)");
    int ret = check_issue(ear, err);
    if (ret != ATTEX_OK)
        return ret;
    json_t *c = claims_json_new(ear);
    char *payload = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    char *h64 = b64_encode((const uint8_t *)jws_header, sizeof(jws_header) - 1, 1);
    char *p64 = payload ? b64_encode((const uint8_t *)payload, strlen(payload), 1) : NULL;
    char *s64 = NULL;
    attex_writer w;
    wr_init(&w, ATTEX_EAR_MAX_JWT);
    uint8_t sig[EAR_SIG_LEN];
    if (h64 == NULL || p64 == NULL) {
        ret = NOMEM(err);
        goto out;
    }
    wr_bytes(&w, (const uint8_t *)h64, strlen(h64));
    wr_u8(&w, '.');
    wr_bytes(&w, (const uint8_t *)p64, strlen(p64));
    if (!wr_ok(&w)) {
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "the EAR would be longer than %d bytes", ATTEX_EAR_MAX_JWT);
        goto out;
    }
    if ((ret = crypto_ecdsa_sign_raw(key, ATTEX_HASH_SHA256, w.data, w.len, sig, sizeof(sig),
                                     err)) != ATTEX_OK)
        goto out;
    if ((s64 = b64_encode(sig, sizeof(sig), 1)) == NULL) {
        ret = NOMEM(err);
        goto out;
    }
    wr_u8(&w, '.');
    wr_bytes(&w, (const uint8_t *)s64, strlen(s64));
    if (!wr_ok(&w) || !wr_finish(&w, jwt))
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "the EAR would be longer than %d bytes", ATTEX_EAR_MAX_JWT);
out:
    wr_cleanup(&w);
    free(payload);
    free(h64);
    free(p64);
    free(s64);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* The verifier plug-in (passport model: the relying party's side)       */

typedef struct ear_verifier {
    attex_verifier v;
    EVP_PKEY **keys;
    size_t num_keys;
    uint32_t skew, max_age;
    char *media_type;
} ear_verifier;

/* ear_reject ends an appraisal of an unusable EAR: same sentence in the error and the reason. */
static int ear_reject(attex_appraisal *out, const char *msg, attex_error *err)
{
    snprintf(out->reason, sizeof(out->reason), "%s", msg);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "%s", msg);
}

void ear_reason(const attex_ear *e, char *out, size_t out_size)
{
    char dev[80], build[48];
    util_safe_text(e->verifier_developer, strlen(e->verifier_developer), dev, sizeof(dev));
    util_safe_text(e->verifier_build, strlen(e->verifier_build), build, sizeof(build));
    int n = snprintf(out, out_size, "EAR from Verifier %s build %s:", dev, build);
    for (size_t i = 0; i < e->num_submods && n > 0 && (size_t)n < out_size; i++) {
        char name[72];
        util_safe_text(e->submods[i].name, strlen(e->submods[i].name), name, sizeof(name));
        n += snprintf(out + n, out_size - (size_t)n, "%s submodule %s %s", i ? "," : "", name,
                      ear_status_name(e->submods[i].status));
    }
}

static int ear_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                        attex_appraisal *out, attex_error *err)
{
    ear_verifier *v = ctx;
    if (out == NULL || record == NULL || expected == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the EAR verifier needs a CMW record, a binding and an appraisal");
    out->verdict = ATTEX_VERDICT_NONE;
    out->reason[0] = '\0';
    out->claims_json = NULL;
    if (attex_cmw_kind_of(record) != ATTEX_CMW_RECORD)
        return ear_reject(out, "EAR: the CMW is not a Record; an EAR travels as a Record of "
                                  "type application/eat+jwt",
                          err);
    /* RFC 9999 s3.1: an EAR is an attestation result, ind 8. */
    if (attex_cmw_ind(record) != ATTEX_CMW_IND_ATTESTATION_RESULTS) {
        char msg[128];
        snprintf(msg, sizeof(msg), "EAR: the CMW record's ind is %u, not 8 (attestation results)",
                 attex_cmw_ind(record));
        return ear_reject(out, msg, err);
    }
    if (expected->hash_len != 32 && expected->hash_len != 48)
        return ear_reject(out, "EAR: the binding's hash length is not 32 or 48", err);
    size_t len = 0;
    const uint8_t *value = attex_cmw_value(record, &len);
    if (value == NULL)
        return ear_reject(out, "EAR: the CMW record has no value", err);
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = v->keys;
    o.num_keys = v->num_keys;
    o.skew = v->skew;
    o.max_age = v->max_age;
    /* PROTOCOL.md s3: the Verifier appraised evidence whose nonce is this binder. */
    o.nonce = expected->binder;
    o.nonce_len = expected->hash_len;
    attex_ear *e = malloc(sizeof(*e));
    if (e == NULL)
        return NOMEM(err);
    attex_error local;
    attex_error *ep = err ? err : &local;
    char *claims = NULL;
    int ret = ear_decode(value, len, &o, 1, e, &claims, ep);
    if (ret != ATTEX_OK) {
        char msg[ATTEX_ERROR_MESSAGE_SIZE];
        snprintf(msg, sizeof(msg), "%s", ep->message);
        free(e);
        return ear_reject(out, msg, err);
    }
    /* The verdict is the worst submodule's status (draft-ietf-rats-ear s3.2). */
    out->verdict = attex_ear_worst(e);
    ear_reason(e, out->reason, sizeof(out->reason));
    out->claims_json = claims;
    free(e);
    return ATTEX_OK;
}

static int add_key(ear_verifier *v, EVP_PKEY *k, const char *what, attex_error *err)
{
    if (!is_p256(k))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "%s is missing or not an EC P-256 public key; EARs are signed with "
                          "ES256",
                          what);
    v->keys[v->num_keys++] = k;
    return ATTEX_OK;
}

attex_verifier *attex_ear_verifier_new(const attex_ear_verifier_config *cfg, attex_error *err)
{
    if (cfg == NULL || (cfg->num_keys > 0 && cfg->keys == NULL) ||
        (cfg->num_key_paths > 0 && cfg->key_paths == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_ear_verifier_new needs a configuration whose key arrays match their "
                   "counts");
        return NULL;
    }
    size_t n = cfg->num_keys + cfg->num_key_paths;
    if (n == 0) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the EAR verifier needs at least one trusted Verifier public key (keys or "
                   "key_paths)");
        return NULL;
    }
    ear_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->keys = calloc(n, sizeof(*v->keys))) == NULL ||
        (v->media_type = strdup(cfg->media_type ? cfg->media_type : ATTEX_EAR_MEDIA_TYPE)) ==
            NULL) {
        if (v != NULL)
            free(v->keys);
        free(v);
        NOMEM(err);
        return NULL;
    }
    v->v.name = "ear";
    v->v.media_type = v->media_type;
    v->v.content_format = 0;
    v->v.ctx = v;
    v->v.appraise = ear_appraise;
    v->skew = cfg->skew;
    v->max_age = cfg->max_age;
    int ret = ATTEX_OK;
    for (size_t i = 0; ret == ATTEX_OK && i < cfg->num_keys; i++) {
        EVP_PKEY *k = cfg->keys[i];
        if (k != NULL && EVP_PKEY_up_ref(k) != 1) {
            ret = attex_fail_crypto(err, "taking a reference to a Verifier key");
            break;
        }
        if ((ret = add_key(v, k, "a trusted Verifier key", err)) != ATTEX_OK)
            EVP_PKEY_free(k);
    }
    for (size_t i = 0; ret == ATTEX_OK && i < cfg->num_key_paths; i++) {
        EVP_PKEY *k = NULL;
        if ((ret = util_load_public_key(cfg->key_paths[i], "Verifier key file", &k, err)) ==
                ATTEX_OK &&
            (ret = add_key(v, k, cfg->key_paths[i], err)) != ATTEX_OK)
            EVP_PKEY_free(k);
    }
    if (ret != ATTEX_OK) {
        attex_ear_verifier_free(&v->v);
        return NULL;
    }
    return &v->v;
}

void attex_ear_verifier_free(attex_verifier *verifier)
{
    if (verifier == NULL)
        return;
    ear_verifier *v = (ear_verifier *)verifier;
    for (size_t i = 0; i < v->num_keys; i++)
        EVP_PKEY_free(v->keys[i]);
    free(v->keys);
    free(v->media_type);
    free(v);
}

/* ---------------------------------------------------------------------- */
/* JWK (RFC 7517; EC keys RFC 7518 s6.2)                                  */

int attex_ear_key_to_jwk(EVP_PKEY *key, attex_buf *jwk, attex_error *err)
{
    if (jwk == NULL || !is_p256(key))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ear_key_to_jwk needs an EC P-256 key and an output");
    uint8_t pt[65];
    size_t pt_len = 0;
    /* SEC 1 s2.3.3: the uncompressed point is 0x04 || x || y. */
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
                                        &pt_len) != 1 ||
        pt_len != sizeof(pt) || pt[0] != 0x04)
        return attex_fail_crypto(err, "reading the EC public point of the EAR key");
    char *x = b64_encode(pt + 1, 32, 1), *y = b64_encode(pt + 33, 32, 1);
    json_t *o = json_object();
    char *text = NULL;
    if (x != NULL && y != NULL && o != NULL &&
        json_object_set_new(o, "kty", json_string("EC")) == 0 &&
        json_object_set_new(o, "crv", json_string("P-256")) == 0 &&
        json_object_set_new(o, "x", json_string(x)) == 0 &&
        json_object_set_new(o, "y", json_string(y)) == 0 &&
        json_object_set_new(o, "alg", json_string("ES256")) == 0)
        text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    free(x);
    free(y);
    if (text == NULL)
        return NOMEM(err);
    jwk->len = strlen(text);
    jwk->data = (uint8_t *)text;
    return ATTEX_OK;
}

int attex_ear_key_from_jwk(const char *jwk, size_t jwk_len, EVP_PKEY **key, attex_error *err)
{
    if (jwk == NULL || key == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_ear_key_from_jwk needs a JWK and an output");
    json_error_t jerr;
    json_t *o = json_loadb(jwk, jwk_len, JSON_REJECT_DUPLICATES, &jerr);
    int ret = ATTEX_OK;
    uint8_t pt[65];
    size_t xl = 0, yl = 0;
    char why[B64_WHY_SIZE];
    json_t *kty = json_object_get(o, "kty"), *crv = json_object_get(o, "crv"),
           *x = json_object_get(o, "x"), *y = json_object_get(o, "y"),
           *alg = json_object_get(o, "alg");
    if (!json_is_object(o)) {
        ret = bad(err, "the Verifier key is not a JSON object (RFC 7517 s4)");
    } else if (!json_is_string(kty) || strcmp(json_string_value(kty), "EC") != 0 ||
               !json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0) {
        ret = bad(err, "the Verifier key is not an EC P-256 JWK (kty \"EC\", crv \"P-256\")");
    } else if (json_object_get(o, "d") != NULL) {
        ret = bad(err, "the Verifier key JWK has a private part (\"d\"); publish the public "
                       "key only");
    } else if (alg != NULL &&
               (!json_is_string(alg) || strcmp(json_string_value(alg), "ES256") != 0)) {
        ret = bad(err, "the Verifier key JWK's alg is not ES256");
    } else if (!json_is_string(x) || !json_is_string(y) ||
               !b64url_decode_to(json_string_value(x), json_string_length(x), 0, pt + 1, 32,
                                 &xl, why, sizeof(why)) ||
               !b64url_decode_to(json_string_value(y), json_string_length(y), 0, pt + 33, 32,
                                 &yl, why, sizeof(why)) ||
               xl != 32 || yl != 32) {
        /* RFC 7518 s6.2.1.2: x and y are the full 32-byte coordinates, base64url. */
        ret = bad(err, "the Verifier key JWK's x and y must be 32-byte base64url coordinates");
    }
    json_decref(o);
    if (ret != ATTEX_OK)
        return ret;
    pt[0] = 0x04;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    char group[] = "P-256";
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
    params[2] = OSSL_PARAM_construct_end();
    EVP_PKEY *k = NULL;
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1 || !is_p256(k)) {
        EVP_PKEY_free(k);
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        return bad(err, "the Verifier key JWK's point is not on P-256");
    }
    /* EVP_PKEY_fromdata does not check the point; a public key check does. */
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    int on_curve = chk != NULL && EVP_PKEY_public_check(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (!on_curve) {
        EVP_PKEY_free(k);
        return bad(err, "the Verifier key JWK's point is not on P-256");
    }
    *key = k;
    return ATTEX_OK;
}
