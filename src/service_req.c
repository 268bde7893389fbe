/*
 * attex: the Verifier service's request parsers (docs/verifier.md). Every
 * byte here comes from an unauthenticated network client.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "binding_internal.h"
#include "crypto.h"
#include "internal.h"
#include "service_internal.h"

static int bad(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t why_len, const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return 0;
}

/* ---- one-shot appraisal body ------------------------------------------ */

void svc_appraise_req_clear(svc_appraise_req *r)
{
    if (r == NULL)
        return;
    free(r->cmw);
    attex_binding_clear(&r->binding);
    memset(r, 0, sizeof(*r));
}

/* Decodes member `name` of `root`, a base64url string of exactly `want` bytes (any if 0). */
static int member_b64(json_t *root, const char *name, size_t want, size_t max, uint8_t **out,
                      size_t *out_len, char *why, size_t why_len)
{
    json_t *v = json_object_get(root, name);
    if (v == NULL)
        return bad(why, why_len, "member \"%s\" is missing", name);
    if (!json_is_string(v))
        return bad(why, why_len, "member \"%s\" must be a base64url string", name);
    char inner[SVC_WHY_SIZE];
    if (!b64url_decode(json_string_value(v), json_string_length(v), 0, max, out, out_len, inner,
                       sizeof(inner)))
        return bad(why, why_len, "member \"%s\" %s", name, inner);
    if (want != 0 && *out_len != want) {
        size_t got = *out_len;
        free(*out);
        *out = NULL;
        return bad(why, why_len, "member \"%s\" is %zu bytes; it must be %zu", name, got, want);
    }
    return 1;
}

int svc_parse_appraise(const uint8_t *body, size_t len, svc_appraise_req *out, char *why,
                       size_t why_len)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    /* RFC 8259 s4: duplicate names would make the request ambiguous. */
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return bad(why, why_len, "the body is not valid JSON (line %d, column %d): %s", jerr.line,
                   jerr.column, jerr.text);
    int ok = 0;
    uint8_t *rd = NULL, *binder = NULL, *aik = NULL;
    size_t rd_len = 0, binder_len = 0, aik_len = 0;
    if (!json_is_object(root)) {
        bad(why, why_len, "the body must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "cmw") != 0 && strcmp(key, "report_data") != 0 &&
            strcmp(key, "binder") != 0 && strcmp(key, "aik_pub_hash") != 0 &&
            strcmp(key, "hash") != 0) {
            char shown[40];
            size_t i = 0;
            for (; key[i] != '\0' && i + 1 < sizeof(shown); i++)
                shown[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
            shown[i] = '\0';
            bad(why, why_len,
                "unknown member \"%s\"; the members are cmw, report_data, binder, aik_pub_hash "
                "and hash",
                shown);
            goto out;
        }
    }
    json_t *h = json_object_get(root, "hash");
    attex_hash hash;
    if (!json_is_string(h)) {
        bad(why, why_len, "member \"hash\" must be \"sha256\" or \"sha384\"");
        goto out;
    }
    if (strcmp(json_string_value(h), "sha256") == 0 && json_string_length(h) == 6)
        hash = ATTEX_HASH_SHA256;
    else if (strcmp(json_string_value(h), "sha384") == 0 && json_string_length(h) == 6)
        hash = ATTEX_HASH_SHA384;
    else {
        bad(why, why_len, "member \"hash\" must be \"sha256\" or \"sha384\"");
        goto out;
    }
    size_t hl = attex_hash_len(hash);
    /* PROTOCOL.md s3: binder and aik_pub_hash are H outputs; report_data is 64 bytes. */
    if (!member_b64(root, "binder", hl, 64, &binder, &binder_len, why, why_len) ||
        !member_b64(root, "aik_pub_hash", hl, 64, &aik, &aik_len, why, why_len) ||
        !member_b64(root, "report_data", 64, 64, &rd, &rd_len, why, why_len) ||
        !member_b64(root, "cmw", 0, (size_t)1 << 24, &out->cmw, &out->cmw_len, why, why_len))
        goto out;
    if (out->cmw_len == 0) {
        bad(why, why_len, "member \"cmw\" is empty");
        goto out;
    }
    attex_binding *b = &out->binding;
    b->hash = hash;
    b->hash_len = hl;
    memcpy(b->binder, binder, hl);
    memcpy(b->aik_pub_hash, aik, hl);
    if (binding_report_data(hash, binder, aik, b->report_data, NULL) != ATTEX_OK) {
        bad(why, why_len, "could not compute the report data");
        goto out;
    }
    /* PROTOCOL.md s3: report_data is a function of binder and aik_pub_hash; a client that
     * sends another one has mixed up two bindings. */
    if (!crypto_equal(b->report_data, rd, 64)) {
        bad(why, why_len,
            "member \"report_data\" is not the PROTOCOL.md s3 derivation from binder and "
            "aik_pub_hash (%s)",
            hash == ATTEX_HASH_SHA256 ? "binder || aik_pub_hash" : "SHA-512(binder || aik_pub_hash)");
        goto out;
    }
    ok = 1;
out:
    free(rd);
    free(binder);
    free(aik);
    json_decref(root);
    if (!ok)
        svc_appraise_req_clear(out);
    return ok;
}

/* ---- challenge-response sessions -------------------------------------- */

/* docs/verifier.md "Nonces": which nonce lengths map onto a binding, with or without AIK hash. */
static int nonce_len_ok(size_t nonce_len, size_t aik_len, char *why, size_t why_len)
{
    if (aik_len != 0) {
        if (nonce_len != aik_len)
            return bad(why, why_len,
                       "with aik_pub_hash (%zu bytes) the nonce is the binder and must be %zu "
                       "bytes too, not %zu",
                       aik_len, aik_len, nonce_len);
        return 1;
    }
    if (nonce_len != 64)
        return bad(why, why_len,
                   "a %zu-byte nonce without aik_pub_hash cannot be mapped onto an attex binding: "
                   "use a 64-byte nonce (the report data binder || aik_pub_hash), or a 32/48-byte "
                   "binder with the aik_pub_hash parameter",
                   nonce_len);
    return 1;
}

int svc_parse_session_query(const char *nonce, const char *nonce_size, const char *aik,
                            svc_session_req *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    char inner[SVC_WHY_SIZE];
    if (aik != NULL) {
        uint8_t *p;
        size_t n;
        if (!b64url_decode(aik, strlen(aik), 1, 48, &p, &n, inner, sizeof(inner)))
            return bad(why, why_len, "parameter aik_pub_hash %s", inner);
        if (n != 32 && n != 48) {
            free(p);
            return bad(why, why_len,
                       "parameter aik_pub_hash is %zu bytes; it must be 32 (SHA-256) or 48 "
                       "(SHA-384)",
                       n);
        }
        memcpy(out->aik_pub_hash, p, n);
        out->aik_len = n;
        free(p);
    }
    /* Veraison challenge-response API: nonce and nonceSize are mutually exclusive. */
    if (nonce != NULL && nonce_size != NULL)
        return bad(why, why_len, "give either nonce or nonceSize, not both");
    if (nonce != NULL) {
        uint8_t *p;
        size_t n;
        if (!b64url_decode(nonce, strlen(nonce), 1, SVC_NONCE_MAX, &p, &n, inner, sizeof(inner)))
            return bad(why, why_len, "parameter nonce %s", inner);
        if (n < SVC_NONCE_MIN) {
            free(p);
            return bad(why, why_len, "parameter nonce is %zu bytes; it must be 8 to 64", n);
        }
        memcpy(out->nonce, p, n);
        out->nonce_len = n;
        out->nonce_given = 1;
        free(p);
    } else if (nonce_size != NULL) {
        size_t n = 0, i = 0;
        for (; nonce_size[i] != '\0' && i < 3; i++) {
            if (nonce_size[i] < '0' || nonce_size[i] > '9')
                break;
            n = n * 10 + (size_t)(nonce_size[i] - '0');
        }
        if (i == 0 || nonce_size[i] != '\0' || n < SVC_NONCE_MIN || n > SVC_NONCE_MAX)
            return bad(why, why_len, "parameter nonceSize must be a decimal number 8 to 64");
        out->nonce_len = n;
    } else {
        out->nonce_len = out->aik_len ? out->aik_len : SVC_NONCE_DEFAULT;
    }
    return nonce_len_ok(out->nonce_len, out->aik_len, why, why_len);
}

int svc_session_binding(const uint8_t *nonce, size_t nonce_len, const uint8_t *aik,
                        size_t aik_len, attex_binding *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!nonce_len_ok(nonce_len, aik_len, why, why_len))
        return 0;
    if (aik_len != 0) {
        out->hash = aik_len == 32 ? ATTEX_HASH_SHA256 : ATTEX_HASH_SHA384;
        out->hash_len = aik_len;
        memcpy(out->binder, nonce, nonce_len);
        memcpy(out->aik_pub_hash, aik, aik_len);
        if (binding_report_data(out->hash, out->binder, out->aik_pub_hash, out->report_data,
                                NULL) != ATTEX_OK)
            return bad(why, why_len, "could not compute the report data");
        return 1;
    }
    /* PROTOCOL.md s3: for SHA-256, report_data = binder || aik_pub_hash, so a 64-byte nonce
     * used as report data splits back into both halves. */
    out->hash = ATTEX_HASH_SHA256;
    out->hash_len = 32;
    memcpy(out->binder, nonce, 32);
    memcpy(out->aik_pub_hash, nonce + 32, 32);
    memcpy(out->report_data, nonce, 64);
    return 1;
}

/* ---- media types and Accept ------------------------------------------- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Normalises a media type (see svc_media_type_equal) into out; 0 if it does not fit. */
static int media_normalise(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    int in_value = 0, quoted = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!in_value) {
            if (is_ows(c))
                continue;
            if (c == ';') {
                if (o + 1 >= cap)
                    return 0;
                out[o++] = ';';
                continue;
            }
            if (c == '=') {
                in_value = 1;
                while (i + 1 < len && is_ows(s[i + 1]))
                    i++;
            }
            if (o + 1 >= cap)
                return 0;
            out[o++] = (char)tolower((unsigned char)c);
            continue;
        }
        if (c == '"') {
            quoted = !quoted;
        } else if (c == '\\' && quoted && i + 1 < len) {
            if (o + 2 >= cap)
                return 0;
            out[o++] = c;
            c = s[++i];
        } else if (!quoted && c == ';') {
            while (o > 0 && is_ows(out[o - 1]))
                o--;
            in_value = 0;
        }
        if (o + 1 >= cap)
            return 0;
        out[o++] = c;
    }
    while (o > 0 && is_ows(out[o - 1]))
        o--;
    out[o] = '\0';
    return o > 0 && !quoted;
}

int svc_media_type_equal(const char *a, const char *b)
{
    char na[512], nb[512];
    if (a == NULL || b == NULL || !media_normalise(a, strlen(a), na, sizeof(na)) ||
        !media_normalise(b, strlen(b), nb, sizeof(nb)))
        return 0;
    return strcmp(na, nb) == 0;
}

/* Whether the q parameter text says 0 (RFC 9110 s12.4.2: qvalue = "0" [ "." 0*3DIGIT ]). */
static int qvalue_zero(const char *s, size_t len)
{
    if (len == 0 || s[0] != '0')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (s[i] != '.' && s[i] != '0')
            return 0;
    return 1;
}

int svc_accept_allows(const char *accept, const char *type)
{
    if (accept == NULL)
        return 1;
    size_t alen = strlen(accept), i = 0;
    int any_range = 0;
    char nt[512];
    if (!media_normalise(type, strlen(type), nt, sizeof(nt)))
        return 0;
    size_t nt_base = strcspn(nt, ";");
    while (i < alen) {
        size_t start = i;
        int quoted = 0;
        while (i < alen && (quoted || accept[i] != ',')) {
            if (accept[i] == '"')
                quoted = !quoted;
            i++;
        }
        size_t end = i++;
        char range[512];
        if (!media_normalise(accept + start, end - start, range, sizeof(range)))
            continue;
        any_range = 1;
        /* RFC 9110 s12.5.1: the q parameter separates media-range parameters from accept-ext. */
        char *q = strstr(range, ";q=");
        if (q != NULL) {
            char *qv = q + 3;
            if (qvalue_zero(qv, strcspn(qv, ";")))
                continue;
            *q = '\0';
        }
        size_t rbase = strcspn(range, ";");
        if (strcmp(range, "*/*") == 0)
            return 1;
        if (rbase >= 2 && range[rbase - 1] == '*' && range[rbase - 2] == '/' && range[rbase] == '\0') {
            if (strncmp(range, nt, rbase - 1) == 0)
                return 1;
            continue;
        }
        /* A range without parameters matches the type whatever its parameters. */
        if (range[rbase] == '\0') {
            if (rbase == nt_base && strncmp(range, nt, rbase) == 0)
                return 1;
        } else if (strcmp(range, nt) == 0) {
            return 1;
        }
    }
    return !any_range;
}

int svc_session_id_valid(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}
