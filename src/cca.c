/*
 * attex: the Arm CCA attestation token verifier (include/attex/cca.h).
 *
 * References: Arm CCA Security Model / RME system architecture (DEN0137)
 * "Attestation token" chapter, draft-ffm-rats-cca-token (claim keys and
 * profiles), RFC 9052/9053 (COSE_Sign1, ES256/ES384), PROTOCOL.md s3
 * (the realm challenge carries attex_binding.report_data).
 *
 * All decoding goes through cbor_load_exact (bounded pre-scan) and the
 * COSE code in cose.c. Nothing from the platform token is interpreted for
 * appraisal before its signature has verified; the realm token's claims
 * are read before its signature is checked because its key (RAK) is one of
 * them: its authority comes from the platform token's challenge = H(RAK).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <attex/cca.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "cca_internal.h"
#include "cose.h"
#include "crypto.h"
#include "internal.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* Bounds on configuration files and reference values. */
#define CCA_MAX_TEXT_FILE ((size_t)1 << 20)
#define CCA_MAX_REF_VALUES 64
#define CCA_MAX_DIGEST 64
#define CCA_MAX_KEYS 64

/* The profiles this verifier knows (legacy CCA-SSD; draft-ffm-rats-cca-token). */
static const char profile_legacy[] = "http://arm.com/CCA-SSD/1.0.0";
static const char profile_platform[] = "tag:arm.com,2023:cca_platform#1.0.0";
static const char profile_realm[] = "tag:arm.com,2023:realm#1.0.0";

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

/* hex_short writes at most 64 bytes of p as hex, with "..." when longer (for messages). */
static void hex_short(const uint8_t *p, size_t n, char out[2 * 64 + 4])
{
    size_t m = n > 64 ? 64 : n;
    util_hex(p, m, out);
    if (n > m)
        memcpy(out + 2 * m, "...", 4);
}

/* from_hex decodes an even-length hex string of at most 2*max digits; returns 1 on success. */
static int from_hex(const char *s, size_t s_len, uint8_t *out, size_t max, size_t *n)
{
    if (s_len == 0 || s_len % 2 != 0 || s_len / 2 > max || !util_unhex(s, s_len, out, s_len / 2))
        return 0;
    *n = s_len / 2;
    return 1;
}


static int why_fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return 0;
}

static int item_int64(const cbor_item_t *it, int64_t *out)
{
    if (!cbor_isa_uint(it) && !cbor_isa_negint(it))
        return 0;
    uint64_t v = cbor_get_int(it);
    if (v > (uint64_t)INT64_MAX)
        return 0;
    *out = cbor_isa_uint(it) ? (int64_t)v : -1 - (int64_t)v;
    return 1;
}

static int bytes_eq_str(cca_bytes b, const char *s)
{
    return b.p != NULL && b.n == strlen(s) && memcmp(b.p, s, b.n) == 0;
}

/*
 * IANA Named Information Hash Algorithm Registry names, as the CCA token
 * uses them for its hash-algo-id claims; returns the OpenSSL digest name.
 */
static const char *hash_algo_md(cca_bytes b)
{
    if (bytes_eq_str(b, "sha-256"))
        return "SHA256";
    if (bytes_eq_str(b, "sha-384"))
        return "SHA384";
    if (bytes_eq_str(b, "sha-512"))
        return "SHA512";
    return NULL;
}

const char *cca_lifecycle_name(uint64_t lc)
{
    /* PSA attestation token (RFC 9783 s4.3.1), as the CCA platform token uses it. */
    switch (lc >> 8) {
    case 0x00: return "unknown";
    case 0x10: return "assembly-and-test";
    case 0x20: return "psa-rot-provisioning";
    case 0x30: return "secured";
    case 0x40: return "non-psa-rot-debug";
    case 0x50: return "recoverable-psa-rot-debug";
    case 0x60: return "decommissioned";
    default: return "invalid";
    }
}

/* ---------------------------------------------------------------------- */
/* Decoding                                                               */

void cca_token_free(cca_token *t)
{
    if (t == NULL)
        return;
    if (t->collection != NULL)
        cbor_decref(&t->collection);
    if (t->platform_claims != NULL)
        cbor_decref(&t->platform_claims);
    if (t->realm_claims != NULL)
        cbor_decref(&t->realm_claims);
    cose_sign1_free(&t->platform);
    cose_sign1_free(&t->realm);
    free(t->sw);
    EVP_PKEY_free(t->rak);
    memset(t, 0, sizeof(*t));
}

/* collection_entry finds the bstr token under `key` in either collection form. */
static int collection_entry(const cca_token *t, uint64_t key, const char *name, cca_bytes *out,
                            char *why, size_t why_size)
{
    struct cbor_pair *pairs = cbor_map_handle(t->collection);
    const cbor_item_t *val = NULL;
    for (size_t i = 0; i < cbor_map_size(t->collection); i++) {
        if (cbor_isa_uint(pairs[i].key) && cbor_get_int(pairs[i].key) == key) {
            if (val != NULL)
                return why_fail(why, why_size, "the collection has the %s token (%llu) twice",
                                name, (unsigned long long)key);
            val = pairs[i].value;
        }
    }
    if (val == NULL)
        return why_fail(why, why_size, "the collection lacks the %s token (key %llu)", name,
                        (unsigned long long)key);
    if (t->tag == CCA_TAG_CMW_COLLECTION) {
        /* RFC 9999 s3.1: a CMW record [type, value]; type 263 = application/eat+cwt. */
        if (!cbor_isa_array(val) || cbor_array_size(val) != 2 ||
            !cbor_isa_uint(cbor_array_handle(val)[0]) ||
            cbor_get_int(cbor_array_handle(val)[0]) != CCA_CF_EAT_CWT)
            return why_fail(why, why_size, "the %s entry of the tag-907 collection is not a CMW "
                                           "record [263, bstr]",
                            name);
        val = cbor_array_handle(val)[1];
    }
    if (!cbor_isa_bytestring(val))
        return why_fail(why, why_size, "the %s token (key %llu) is not a byte string", name,
                        (unsigned long long)key);
    out->p = cbor_bytestring_handle(val);
    out->n = cbor_bytestring_length(val);
    return 1;
}

static int decode_collection(const uint8_t *in, size_t len, cca_token *t, cca_bytes *plat,
                             cca_bytes *realm, char *why, size_t why_size)
{
    if (in == NULL || len == 0)
        return why_fail(why, why_size, "the token is empty");
    if (len > ATTEX_CCA_MAX_TOKEN)
        return why_fail(why, why_size, "the token is %zu bytes, more than %d", len,
                        ATTEX_CCA_MAX_TOKEN);
    attex_reader r;
    uint8_t b0;
    uint16_t tag;
    rd_init(&r, in, len);
    /* RFC 8949 s3.4: a tag 256..65535 has the head 0xD9 and a 2-byte number. */
    if (!rd_u8(&r, &b0) || b0 != 0xD9 || !rd_u16(&r, &tag) ||
        (tag != CCA_TAG_LEGACY && tag != CCA_TAG_CMW_COLLECTION))
        return why_fail(why, why_size, "not a CCA token: it must start with CBOR tag 399 (d9 01 "
                                       "8f) or 907 (d9 03 8b); the first bytes are %02x%s",
                        in[0], len > 1 ? "..." : "");
    t->tag = tag;
    cbor_scan_result res;
    t->collection = cbor_load_exact(rd_ptr(&r), rd_len(&r), &cose_cbor_limits, &res);
    if (t->collection == NULL)
        return why_fail(why, why_size, "the token collection is not well-formed: %s",
                        cose_scan_why(res.status));
    if (!cbor_isa_map(t->collection) || cbor_map_size(t->collection) != 2)
        return why_fail(why, why_size, "the token collection must be a map of exactly two "
                                       "entries: platform (44234) and realm (44241)");
    return collection_entry(t, CCA_KEY_PLATFORM, "platform", plat, why, why_size) &&
           collection_entry(t, CCA_KEY_REALM, "realm", realm, why, why_size);
}

/* What one claim must look like. */
enum claim_kind { K_BYTES, K_TEXT, K_UINT, K_SW, K_REM };

typedef struct claim_spec {
    int64_t key;
    const char *name;
    enum claim_kind kind;
    int required;
    size_t min_len, max_len; /* K_BYTES, K_TEXT */
} claim_spec;

static const claim_spec platform_claims[] = {
    {CCA_P_PROFILE, "profile (265)", K_TEXT, 1, 1, 256},
    {CCA_P_CHALLENGE, "challenge (10)", K_BYTES, 1, 32, 64},
    {CCA_P_IMPL_ID, "implementation-id (2396)", K_BYTES, 1, 32, 32},
    {CCA_P_INSTANCE_ID, "instance-id (256)", K_BYTES, 1, 33, 33},
    {CCA_P_CONFIG, "config (2401)", K_BYTES, 1, 0, 4096},
    {CCA_P_LIFECYCLE, "security-lifecycle (2395)", K_UINT, 1, 0, 0},
    {CCA_P_SW_COMPONENTS, "sw-components (2399)", K_SW, 1, 0, 0},
    {CCA_P_VSI, "verification-service (2400)", K_TEXT, 0, 0, 1024},
    {CCA_P_HASH_ALGO, "hash-algo-id (2402)", K_TEXT, 1, 1, 64},
};

static const claim_spec realm_claims[] = {
    {CCA_R_CHALLENGE, "challenge (10)", K_BYTES, 1, 64, 64},
    {CCA_R_PERSO, "personalization-value (44235)", K_BYTES, 1, 64, 64},
    {CCA_R_HASH_ALGO, "hash-algo-id (44236)", K_TEXT, 1, 1, 64},
    {CCA_R_RAK, "public-key (44237)", K_BYTES, 1, 1, 1024},
    {CCA_R_RIM, "initial-measurement (44238)", K_BYTES, 1, 32, 64},
    {CCA_R_REM, "extensible-measurements (44239)", K_REM, 1, 32, 64},
    {CCA_R_RAK_HASH_ALGO, "public-key-hash-algo-id (44240)", K_TEXT, 1, 1, 64},
    {CCA_R_PROFILE, "profile (265)", K_TEXT, 0, 1, 256},
};

static int get_string(const cbor_item_t *v, enum claim_kind kind, cca_bytes *out)
{
    if (kind == K_BYTES && cbor_isa_bytestring(v)) {
        out->p = cbor_bytestring_handle(v);
        out->n = cbor_bytestring_length(v);
        return 1;
    }
    if (kind == K_TEXT && cbor_isa_string(v)) {
        out->p = cbor_string_handle(v);
        out->n = cbor_string_length(v);
        /* Text becomes C and JSON strings: NUL is refused (the scan checked UTF-8). */
        return out->n == 0 || memchr(out->p, 0, out->n) == NULL;
    }
    return 0;
}

/* PSA token (RFC 9783 s4.4.1) software component, as the CCA platform token uses it. */
static int decode_sw(const cbor_item_t *arr, cca_token *t, char *why, size_t why_size)
{
    size_t n = cbor_array_size(arr);
    if (n > CCA_MAX_SW_COMPONENTS)
        return why_fail(why, why_size, "platform sw-components (2399) lists %zu components, "
                                       "more than %d",
                        n, CCA_MAX_SW_COMPONENTS);
    t->sw = calloc(n ? n : 1, sizeof(*t->sw));
    if (t->sw == NULL)
        return why_fail(why, why_size, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const cbor_item_t *c = cbor_array_handle(arr)[i];
        cca_swcomp *s = &t->sw[i];
        if (!cbor_isa_map(c))
            return why_fail(why, why_size, "platform sw-component %zu is not a map", i);
        unsigned seen = 0;
        for (size_t k = 0; k < cbor_map_size(c); k++) {
            int64_t key;
            const cbor_item_t *v = cbor_map_handle(c)[k].value;
            if (!item_int64(cbor_map_handle(c)[k].key, &key) || key < 1 || key > 6)
                continue; /* RFC 9783: unknown component fields are ignored */
            if (seen & (1u << key))
                return why_fail(why, why_size, "platform sw-component %zu repeats field %lld", i,
                                (long long)key);
            seen |= 1u << key;
            cca_bytes *dst = NULL;
            enum claim_kind kind = K_TEXT;
            switch (key) {
            case 1: dst = &s->type; break;
            case 2: dst = &s->measurement; kind = K_BYTES; break;
            case 4: dst = &s->version; break;
            case 5: dst = &s->signer_id; kind = K_BYTES; break;
            case 6: dst = &s->hash_algo; break;
            default: continue; /* 3: reserved */
            }
            if (!get_string(v, kind, dst) || dst->n > 1024)
                return why_fail(why, why_size, "platform sw-component %zu field %lld is not a %s "
                                               "string of at most 1024 bytes",
                                i, (long long)key, kind == K_BYTES ? "byte" : "text");
        }
        /* RFC 9783 s4.4.1: measurement-value and signer-id are mandatory. */
        if (s->measurement.p == NULL || s->signer_id.p == NULL)
            return why_fail(why, why_size, "platform sw-component %zu lacks its %s", i,
                            s->measurement.p == NULL ? "measurement-value (2)" : "signer-id (5)");
    }
    t->num_sw = n;
    return 1;
}

/*
 * decode_claims decodes one claims set against its spec: known claims with
 * their types and sizes, each at most once (RFC 8949 s5.6), required ones
 * present; unknown claims are ignored (RFC 8392 s3).
 */
static int decode_claims(const char *which, const cose_sign1 *c, const claim_spec *spec,
                         size_t nspec, cbor_item_t **root, cca_token *t, cca_bytes *dst[],
                         char *why, size_t why_size)
{
    cbor_scan_result res;
    *root = cbor_load_exact(c->payload, c->payload_len, &cose_cbor_limits, &res);
    if (*root == NULL)
        return why_fail(why, why_size, "the %s claims are not well-formed: %s", which,
                        cose_scan_why(res.status));
    if (!cbor_isa_map(*root))
        return why_fail(why, why_size, "the %s claims are not a CBOR map", which);
    unsigned seen = 0;
    struct cbor_pair *pairs = cbor_map_handle(*root);
    for (size_t i = 0; i < cbor_map_size(*root); i++) {
        int64_t key;
        if (!item_int64(pairs[i].key, &key))
            continue;
        size_t s = 0;
        while (s < nspec && spec[s].key != key)
            s++;
        if (s == nspec)
            continue;
        if (seen & (1u << s))
            return why_fail(why, why_size, "%s claim %s appears twice", which, spec[s].name);
        seen |= 1u << s;
        const cbor_item_t *v = pairs[i].value;
        switch (spec[s].kind) {
        case K_BYTES:
        case K_TEXT:
            if (!get_string(v, spec[s].kind, dst[s]) || dst[s]->n < spec[s].min_len ||
                dst[s]->n > spec[s].max_len)
                return why_fail(why, why_size, "%s claim %s is not a %s string of %zu..%zu bytes",
                                which, spec[s].name, spec[s].kind == K_BYTES ? "byte" : "text",
                                spec[s].min_len, spec[s].max_len);
            break;
        case K_UINT:
            if (!cbor_isa_uint(v) || cbor_get_int(v) > 0xFFFF)
                return why_fail(why, why_size, "%s claim %s is not an integer 0..65535", which,
                                spec[s].name);
            t->p_lifecycle = cbor_get_int(v);
            break;
        case K_SW:
            if (!cbor_isa_array(v))
                return why_fail(why, why_size, "%s claim %s is not an array", which,
                                spec[s].name);
            if (!decode_sw(v, t, why, why_size))
                return 0;
            break;
        case K_REM:
            if (!cbor_isa_array(v) || cbor_array_size(v) != CCA_NUM_REM)
                return why_fail(why, why_size, "%s claim %s is not an array of %d byte strings",
                                which, spec[s].name, CCA_NUM_REM);
            for (size_t k = 0; k < CCA_NUM_REM; k++)
                if (!get_string(cbor_array_handle(v)[k], K_BYTES, &t->r_rem[k]) ||
                    t->r_rem[k].n < spec[s].min_len || t->r_rem[k].n > spec[s].max_len)
                    return why_fail(why, why_size, "%s claim %s entry %zu is not a byte string "
                                                   "of %zu..%zu bytes",
                                    which, spec[s].name, k, spec[s].min_len, spec[s].max_len);
            break;
        }
    }
    for (size_t s = 0; s < nspec; s++)
        if (spec[s].required && !(seen & (1u << s)))
            return why_fail(why, why_size, "the %s token lacks claim %s", which, spec[s].name);
    return 1;
}

/* ec_point_key builds an EC public key from an uncompressed SEC1 point on `group`. */
static EVP_PKEY *ec_point_key(const char *group, const uint8_t *pt, size_t pt_len)
{
    EVP_PKEY *key = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (bld == NULL || ctx == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, pt_len) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        key = NULL;
    /*
     * EVP_PKEY_fromdata does not check that the point is on the curve; the
     * quick check does. SEC1 s3.2.2.1: with cofactor 1 (P-256, P-384,
     * P-521) a point on the curve is in the group, so the costly order
     * check of EVP_PKEY_public_check adds nothing.
     */
    if (key != NULL) {
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (chk == NULL || EVP_PKEY_public_check_quick(chk) != 1) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    ERR_clear_error();
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static const char *curve_for_point_len(size_t n)
{
    /* SEC1 s2.3.3: uncompressed point = 0x04 || X || Y. */
    switch (n) {
    case 65: return "P-256";
    case 97: return "P-384";
    case 133: return "P-521";
    default: return NULL;
    }
}

/*
 * decode_rak builds the RAK from claim 44237: a raw uncompressed point
 * (legacy, RMM 1.0) or a COSE_Key (RFC 9052 s7, EC2: {1: 2, -1: crv, -2: x,
 * -3: y}) as the realm#1.0.0 profile carries it.
 */
static int decode_rak(cca_token *t, char *why, size_t why_size)
{
    const cca_bytes *b = &t->r_rak;
    const char *group = NULL;
    if (b->n > 0 && b->p[0] == 0x04) {
        group = curve_for_point_len(b->n);
        if (group != NULL)
            t->rak = ec_point_key(group, b->p, b->n);
    } else {
        cbor_scan_result res;
        cbor_item_t *k = cbor_load_exact(b->p, b->n, &cose_cbor_limits, &res);
        int64_t kty = 0, crv = 0;
        cca_bytes x = {NULL, 0}, y = {NULL, 0};
        for (size_t i = 0; k != NULL && cbor_isa_map(k) && i < cbor_map_size(k); i++) {
            int64_t label, v;
            const cbor_item_t *val = cbor_map_handle(k)[i].value;
            if (!item_int64(cbor_map_handle(k)[i].key, &label))
                continue;
            if (label == 1 && item_int64(val, &v))
                kty = v;
            else if (label == -1 && item_int64(val, &v))
                crv = v;
            else if (label == -2)
                (void)get_string(val, K_BYTES, &x);
            else if (label == -3)
                (void)get_string(val, K_BYTES, &y);
        }
        /* RFC 9053 s7.1: crv 1 P-256, 2 P-384, 3 P-521; kty 2 = EC2. */
        size_t clen = crv == 1 ? 32 : crv == 2 ? 48 : crv == 3 ? 66 : 0;
        group = crv == 1 ? "P-256" : crv == 2 ? "P-384" : crv == 3 ? "P-521" : NULL;
        if (kty == 2 && clen != 0 && x.n == clen && y.n == clen) {
            uint8_t pt[1 + 2 * 66];
            pt[0] = 0x04;
            memcpy(pt + 1, x.p, clen);
            memcpy(pt + 1 + clen, y.p, clen);
            t->rak = ec_point_key(group, pt, 1 + 2 * clen);
        } else {
            group = NULL;
        }
        if (k != NULL)
            cbor_decref(&k);
    }
    if (group == NULL)
        return why_fail(why, why_size, "realm claim public-key (44237) is neither an uncompressed "
                                       "P-256/P-384/P-521 point (65, 97 or 133 bytes starting 04) "
                                       "nor an EC2 COSE_Key; it is %zu bytes",
                        b->n);
    if (t->rak == NULL)
        return why_fail(why, why_size, "realm claim public-key (44237) is not a valid %s point",
                        group);
    return 1;
}

int cca_token_decode(const uint8_t *in, size_t len, cca_token *t, char *why, size_t why_size)
{
    memset(t, 0, sizeof(*t));
    cca_bytes plat, realm;
    char inner[300];
    if (!decode_collection(in, len, t, &plat, &realm, why, why_size))
        return 0;
    if (!cose_sign1_decode(realm.p, realm.n, &t->realm, inner, sizeof(inner)))
        return why_fail(why, why_size, "realm token: %s", inner);
    if (!cose_sign1_decode(plat.p, plat.n, &t->platform, inner, sizeof(inner)))
        return why_fail(why, why_size, "platform token: %s", inner);
    cca_bytes *pdst[] = {&t->p_profile, &t->p_challenge, &t->p_impl_id,
                         &t->p_instance_id, &t->p_config, NULL,
                         NULL, &t->p_vsi, &t->p_hash_algo};
    cca_bytes *rdst[] = {&t->r_challenge, &t->r_perso, &t->r_hash_algo, &t->r_rak,
                         &t->r_rim, NULL, &t->r_rak_hash_algo, &t->r_profile};
    if (!decode_claims("realm", &t->realm, realm_claims, ATTEX_ARRAY_LEN(realm_claims),
                       &t->realm_claims, t, rdst, why, why_size) ||
        !decode_claims("platform", &t->platform, platform_claims,
                       ATTEX_ARRAY_LEN(platform_claims), &t->platform_claims, t, pdst, why,
                       why_size))
        return 0;
    /* PSA token (RFC 9783 s4.2.2): the instance id is a UEID of type RAND (0x01). */
    if (t->p_instance_id.p[0] != 0x01)
        return why_fail(why, why_size, "platform claim instance-id (256) does not start with "
                                       "0x01 (UEID type RAND); it starts with 0x%02x",
                        t->p_instance_id.p[0]);
    return decode_rak(t, why, why_size);
}

/* ---------------------------------------------------------------------- */
/* JSON rendering                                                         */

static int set_hex(json_t *o, const char *name, cca_bytes b)
{
    if (b.p == NULL)
        return 1;
    char *h = util_hex_dup(b.p, b.n);
    int ok = h != NULL && json_object_set_new(o, name, json_string(h)) == 0;
    free(h);
    return ok;
}

static int set_text(json_t *o, const char *name, cca_bytes b)
{
    if (b.p == NULL)
        return 1;
    return json_object_set_new(o, name, json_stringn((const char *)b.p, b.n)) == 0;
}

/* claims_json renders both claims sets; NULL when out of memory. */
static json_t *claims_json(const cca_token *t)
{
    json_t *root = json_object(), *p = json_object(), *r = json_object(), *sw = json_array(),
           *rem = json_array();
    int ok = root && p && r && sw && rem && json_object_set(root, "platform", p) == 0 &&
             json_object_set(root, "realm", r) == 0 &&
             json_object_set_new(root, "collection_tag", json_integer(t->tag)) == 0 &&
             set_text(p, "profile", t->p_profile) && set_hex(p, "challenge", t->p_challenge) &&
             set_hex(p, "implementation_id", t->p_impl_id) &&
             set_hex(p, "instance_id", t->p_instance_id) && set_hex(p, "config", t->p_config) &&
             json_object_set_new(p, "lifecycle", json_integer((json_int_t)t->p_lifecycle)) == 0 &&
             json_object_set_new(p, "lifecycle_state",
                                 json_string(cca_lifecycle_name(t->p_lifecycle))) == 0 &&
             set_text(p, "verification_service", t->p_vsi) &&
             set_text(p, "hash_algo", t->p_hash_algo) &&
             json_object_set_new(p, "signature_alg",
                                 json_string(cose_alg_name(t->platform.alg))) == 0 &&
             json_object_set(p, "sw_components", sw) == 0;
    for (size_t i = 0; ok && i < t->num_sw; i++) {
        json_t *c = json_object();
        const cca_swcomp *s = &t->sw[i];
        ok = c != NULL && set_text(c, "type", s->type) &&
             set_hex(c, "measurement", s->measurement) && set_text(c, "version", s->version) &&
             set_hex(c, "signer_id", s->signer_id) && set_text(c, "hash_algo", s->hash_algo) &&
             json_array_append(sw, c) == 0;
        json_decref(c);
    }
    for (size_t i = 0; ok && i < CCA_NUM_REM; i++) {
        char *h = util_hex_dup(t->r_rem[i].p, t->r_rem[i].n);
        ok = h != NULL && json_array_append_new(rem, json_string(h)) == 0;
        free(h);
    }
    ok = ok && set_text(r, "profile", t->r_profile) && set_hex(r, "challenge", t->r_challenge) &&
         set_hex(r, "personalization_value", t->r_perso) &&
         set_text(r, "hash_algo", t->r_hash_algo) && set_hex(r, "public_key", t->r_rak) &&
         set_text(r, "public_key_hash_algo", t->r_rak_hash_algo) &&
         set_hex(r, "initial_measurement", t->r_rim) &&
         json_object_set(r, "extensible_measurements", rem) == 0 &&
         json_object_set_new(r, "signature_alg", json_string(cose_alg_name(t->realm.alg))) == 0;
    json_decref(p);
    json_decref(r);
    json_decref(sw);
    json_decref(rem);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---------------------------------------------------------------------- */
/* Reference values                                                       */

typedef struct ref_list {
    uint8_t (*v)[CCA_MAX_DIGEST];
    size_t *len;
    size_t n;
} ref_list;

typedef struct ref_sw {
    char *type, *version;
    uint8_t measurement[CCA_MAX_DIGEST], signer_id[CCA_MAX_DIGEST];
    size_t measurement_len, signer_id_len;
} ref_sw;

typedef struct cca_policy {
    ref_list impl_id, instance_id, config, rim, perso;
    uint8_t (*rem)[CCA_NUM_REM][CCA_MAX_DIGEST];
    size_t (*rem_len)[CCA_NUM_REM];
    size_t num_rem;
    ref_sw *sw;
    size_t num_sw;
    size_t num_checks; /* fields given */
} cca_policy;

typedef struct cca_verifier {
    attex_verifier v; /* first: the public handle is this struct */
    EVP_PKEY **keys;
    size_t num_keys;
    cca_policy policy;
    int have_policy;
    int allow_any_lifecycle;
} cca_verifier;

static void ref_list_free(ref_list *l)
{
    free(l->v);
    free(l->len);
    memset(l, 0, sizeof(*l));
}

static void policy_free(cca_policy *p)
{
    ref_list_free(&p->impl_id);
    ref_list_free(&p->instance_id);
    ref_list_free(&p->config);
    ref_list_free(&p->rim);
    ref_list_free(&p->perso);
    free(p->rem);
    free(p->rem_len);
    for (size_t i = 0; i < p->num_sw; i++) {
        free(p->sw[i].type);
        free(p->sw[i].version);
    }
    free(p->sw);
    memset(p, 0, sizeof(*p));
}

static int policy_hex(const json_t *s, uint8_t *out, size_t *len)
{
    return json_is_string(s) &&
           from_hex(json_string_value(s), json_string_length(s), out, CCA_MAX_DIGEST, len);
}

/* parse_ref_list reads "name": "hex" or ["hex", ...] (1..CCA_MAX_REF_VALUES). */
static int parse_ref_list(const json_t *obj, const char *section, const char *name,
                          ref_list *l, cca_policy *p, attex_error *err)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL)
        return ATTEX_OK;
    size_t n = json_is_array(v) ? json_array_size(v) : json_is_string(v) ? 1 : 0;
    if (n == 0 || n > CCA_MAX_REF_VALUES)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "CCA policy: %s.%s must be a hex string or an array of 1 to %d",
                          section, name, CCA_MAX_REF_VALUES);
    l->v = calloc(n, sizeof(*l->v));
    l->len = calloc(n, sizeof(*l->len));
    if (l->v == NULL || l->len == NULL)
        return NOMEM(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *h = json_is_array(v) ? json_array_get(v, i) : v;
        if (!policy_hex(h, l->v[i], &l->len[i]))
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "CCA policy: %s.%s value %zu is not 1 to %d bytes of hex",
                              section, name, i + 1, CCA_MAX_DIGEST);
    }
    l->n = n;
    p->num_checks++;
    return ATTEX_OK;
}

/* only_keys refuses unknown names, so that a misspelt reference value is not silently unused. */
static int only_keys(const json_t *obj, const char *section, const char *const *names,
                     size_t n, attex_error *err)
{
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)(uintptr_t)obj, key, val) {
        (void)val;
        size_t i = 0;
        while (i < n && strcmp(key, names[i]) != 0)
            i++;
        if (i == n)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "CCA policy: unknown field %s.%s", section, key);
    }
    return ATTEX_OK;
}

static int parse_sw(const json_t *arr, cca_policy *p, attex_error *err)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n == 0 || n > CCA_MAX_SW_COMPONENTS)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "CCA policy: platform.sw_components must be an array of 1 to %d "
                          "objects",
                          CCA_MAX_SW_COMPONENTS);
    if ((p->sw = calloc(n, sizeof(*p->sw))) == NULL)
        return NOMEM(err);
    static const char *const names[] = {"type", "measurement", "signer_id", "version"};
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(arr, i);
        ref_sw *s = &p->sw[p->num_sw++];
        char section[64];
        snprintf(section, sizeof(section), "platform.sw_components[%zu]", i);
        if (!json_is_object(c) || json_object_size(c) == 0)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "CCA policy: %s must be a non-empty object", section);
        int ret = only_keys(c, section, names, ATTEX_ARRAY_LEN(names), err);
        if (ret != ATTEX_OK)
            return ret;
        const json_t *type = json_object_get(c, "type"), *ver = json_object_get(c, "version"),
                     *m = json_object_get(c, "measurement"), *sid = json_object_get(c, "signer_id");
        if ((type != NULL && !json_is_string(type)) || (ver != NULL && !json_is_string(ver)) ||
            (m != NULL && !policy_hex(m, s->measurement, &s->measurement_len)) ||
            (sid != NULL && !policy_hex(sid, s->signer_id, &s->signer_id_len)))
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "CCA policy: in %s, type and version must be strings, measurement "
                              "and signer_id 1 to %d bytes of hex",
                              section, CCA_MAX_DIGEST);
        if ((type != NULL && (s->type = strdup(json_string_value(type))) == NULL) ||
            (ver != NULL && (s->version = strdup(json_string_value(ver))) == NULL))
            return NOMEM(err);
    }
    p->num_checks++;
    return ATTEX_OK;
}

static int parse_rem(const json_t *arr, cca_policy *p, attex_error *err)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n == 0 || n > CCA_MAX_REF_VALUES)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "CCA policy: realm.extensible_measurements must be an array of 1 to %d "
                          "arrays of 4 hex strings",
                          CCA_MAX_REF_VALUES);
    p->rem = calloc(n, sizeof(*p->rem));
    p->rem_len = calloc(n, sizeof(*p->rem_len));
    if (p->rem == NULL || p->rem_len == NULL)
        return NOMEM(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *set = json_array_get(arr, i);
        int ok = json_is_array(set) && json_array_size(set) == CCA_NUM_REM;
        for (size_t k = 0; ok && k < CCA_NUM_REM; k++)
            ok = policy_hex(json_array_get(set, k), p->rem[i][k], &p->rem_len[i][k]);
        if (!ok)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "CCA policy: realm.extensible_measurements[%zu] is not an array of "
                              "4 hex strings",
                              i);
    }
    p->num_rem = n;
    p->num_checks++;
    return ATTEX_OK;
}

static int parse_policy(const char *text, size_t len, const char *origin, cca_policy *p,
                        attex_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "CCA policy (%s): not valid JSON at line %d, column %d: %s", origin,
                          jerr.line, jerr.column, jerr.text);
    static const char *const top[] = {"platform", "realm"};
    static const char *const pnames[] = {"implementation_id", "instance_id", "config",
                                         "sw_components"};
    static const char *const rnames[] = {"initial_measurement", "extensible_measurements",
                                         "personalization_value"};
    json_t *plat = json_object_get(root, "platform"), *realm = json_object_get(root, "realm");
    int ret = ATTEX_OK;
    if (!json_is_object(root) || (plat != NULL && !json_is_object(plat)) ||
        (realm != NULL && !json_is_object(realm)))
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "CCA policy (%s): expected {\"platform\": {...}, \"realm\": {...}}",
                         origin);
    if (ret == ATTEX_OK)
        ret = only_keys(root, "(top)", top, ATTEX_ARRAY_LEN(top), err);
    if (ret == ATTEX_OK && plat != NULL)
        ret = only_keys(plat, "platform", pnames, ATTEX_ARRAY_LEN(pnames), err);
    if (ret == ATTEX_OK && realm != NULL)
        ret = only_keys(realm, "realm", rnames, ATTEX_ARRAY_LEN(rnames), err);
    if (ret == ATTEX_OK && plat != NULL) {
        if ((ret = parse_ref_list(plat, "platform", "implementation_id", &p->impl_id, p, err)) ==
                ATTEX_OK &&
            (ret = parse_ref_list(plat, "platform", "instance_id", &p->instance_id, p, err)) ==
                ATTEX_OK &&
            (ret = parse_ref_list(plat, "platform", "config", &p->config, p, err)) == ATTEX_OK &&
            json_object_get(plat, "sw_components") != NULL)
            ret = parse_sw(json_object_get(plat, "sw_components"), p, err);
    }
    if (ret == ATTEX_OK && realm != NULL) {
        if ((ret = parse_ref_list(realm, "realm", "initial_measurement", &p->rim, p, err)) ==
                ATTEX_OK &&
            (ret = parse_ref_list(realm, "realm", "personalization_value", &p->perso, p, err)) ==
                ATTEX_OK &&
            json_object_get(realm, "extensible_measurements") != NULL)
            ret = parse_rem(json_object_get(realm, "extensible_measurements"), p, err);
    }
    if (ret == ATTEX_OK && p->num_checks == 0)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "CCA policy (%s) names no reference value; leave the policy out "
                         "instead (then the best verdict is warning)",
                         origin);
    json_decref(root);
    return ret;
}

static int list_has(const ref_list *l, cca_bytes b)
{
    int match = 0;
    for (size_t i = 0; i < l->n; i++)
        match |= l->len[i] == b.n && crypto_equal(l->v[i], b.p, b.n);
    return match;
}

/* list_text writes up to three accepted values, then how many more. */
static void list_text(const ref_list *l, char *out, size_t out_size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n && i < 3; i++) {
        char hex[2 * 64 + 4];
        hex_short(l->v[i], l->len[i], hex);
        int k = snprintf(out + o, out_size - o, "%s%s", i ? ", " : "", hex);
        if (k < 0 || (size_t)k >= out_size - o)
            return;
        o += (size_t)k;
    }
    if (l->n > 3)
        snprintf(out + o, out_size - o, " (and %zu more)", l->n - 3);
}

/* check_list fails `out` (first failure wins) when b is not one of l's values. */
static int check_list(const ref_list *l, const char *field, cca_bytes b, attex_appraisal *out)
{
    if (l->n == 0 || list_has(l, b))
        return 1;
    char got[2 * 64 + 4], want[400];
    hex_short(b.p, b.n, got);
    list_text(l, want, sizeof(want));
    snprintf(out->reason, sizeof(out->reason),
             "CCA reference values: %s is %s, expected one of %s", field, got, want);
    return 0;
}

static int sw_matches(const ref_sw *r, const cca_swcomp *c)
{
    if (r->type != NULL && !bytes_eq_str(c->type, r->type))
        return 0;
    if (r->version != NULL && !bytes_eq_str(c->version, r->version))
        return 0;
    if (r->measurement_len != 0 &&
        (c->measurement.n != r->measurement_len ||
         !crypto_equal(c->measurement.p, r->measurement, r->measurement_len)))
        return 0;
    if (r->signer_id_len != 0 && (c->signer_id.n != r->signer_id_len ||
                                  !crypto_equal(c->signer_id.p, r->signer_id, r->signer_id_len)))
        return 0;
    return 1;
}

/* appraise_policy sets the verdict from the reference values (the first mismatch is named). */
static void appraise_policy(const cca_verifier *v, const cca_token *t, attex_appraisal *out)
{
    const cca_policy *p = &v->policy;
    int ok = check_list(&p->impl_id, "platform implementation_id (2396)", t->p_impl_id, out) &&
             check_list(&p->instance_id, "platform instance_id (256)", t->p_instance_id, out) &&
             check_list(&p->config, "platform config (2401)", t->p_config, out);
    for (size_t i = 0; ok && i < p->num_sw; i++) {
        const ref_sw *r = &p->sw[i];
        size_t k = 0;
        while (k < t->num_sw && !sw_matches(r, &t->sw[k]))
            k++;
        if (k < t->num_sw)
            continue;
        char m[2 * 64 + 4] = "(any)", s[2 * 64 + 4] = "(any)";
        if (r->measurement_len)
            hex_short(r->measurement, r->measurement_len, m);
        if (r->signer_id_len)
            hex_short(r->signer_id, r->signer_id_len, s);
        snprintf(out->reason, sizeof(out->reason),
                 "CCA reference values: platform sw_components[%zu] (type %s, version %s, "
                 "measurement %s, signer_id %s) matches none of the token's %zu components",
                 i, r->type ? r->type : "(any)", r->version ? r->version : "(any)", m, s,
                 t->num_sw);
        ok = 0;
    }
    ok = ok && check_list(&p->rim, "realm initial_measurement (44238)", t->r_rim, out) &&
         check_list(&p->perso, "realm personalization_value (44235)", t->r_perso, out);
    if (ok && p->num_rem > 0) {
        int any = 0;
        for (size_t i = 0; i < p->num_rem && !any; i++) {
            int all = 1;
            for (size_t k = 0; k < CCA_NUM_REM; k++)
                all &= p->rem_len[i][k] == t->r_rem[k].n &&
                       crypto_equal(p->rem[i][k], t->r_rem[k].p, t->r_rem[k].n);
            any = all;
        }
        if (!any) {
            char h[CCA_NUM_REM][2 * 64 + 4];
            for (size_t k = 0; k < CCA_NUM_REM; k++)
                hex_short(t->r_rem[k].p, t->r_rem[k].n, h[k]);
            snprintf(out->reason, sizeof(out->reason),
                     "CCA reference values: realm extensible_measurements (44239) [%.40s..., "
                     "%.40s..., %.40s..., %.40s...] match none of the %zu accepted sets",
                     h[0], h[1], h[2], h[3], p->num_rem);
            ok = 0;
        }
    }
    if (ok) {
        out->verdict = ATTEX_VERDICT_AFFIRMING;
        snprintf(out->reason, sizeof(out->reason),
                 "CCA token verified (platform and realm signatures, RAK binding, realm "
                 "challenge) and all %zu reference value fields match",
                 p->num_checks);
    } else {
        out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    }
}

/* ---------------------------------------------------------------------- */
/* Appraisal                                                              */

static int reject(attex_appraisal *out, attex_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(attex_appraisal *out, attex_error *err, const char *fmt, ...)
{
    char why[sizeof(out->reason) - 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(out->reason, sizeof(out->reason), "CCA token: %s", why);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "%s", out->reason);
}

/* rak_hash computes H(claim 44237 bytes) with the realm's public-key hash algorithm. */
static int rak_hash(const cca_token *t, uint8_t *out, size_t *out_len)
{
    const char *md = hash_algo_md(t->r_rak_hash_algo);
    unsigned int n = 0;
    if (md == NULL)
        return 0;
    EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    int ok = m != NULL && EVP_Digest(t->r_rak.p, t->r_rak.n, out, &n, m, NULL) == 1;
    EVP_MD_free(m);
    ERR_clear_error();
    *out_len = n;
    return ok;
}

static int profile_known(cca_bytes b)
{
    return bytes_eq_str(b, profile_legacy) || bytes_eq_str(b, profile_platform);
}

int attex_cca_appraise(void *verifier_ctx, const uint8_t *outblob, size_t outblob_len,
                       const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                       attex_appraisal *out, attex_error *err)
{
    (void)auxblob; /* the CCA provider has no supplemental data */
    (void)auxblob_len;
    const cca_verifier *v = verifier_ctx;
    if (out != NULL) {
        out->verdict = ATTEX_VERDICT_NONE;
        out->reason[0] = '\0';
        out->claims_json = NULL;
    }
    if (v == NULL || out == NULL || (outblob == NULL && outblob_len > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_cca_appraise needs the verifier's ctx, the token and an "
                          "appraisal to fill");
    cca_token t;
    char why[400];
    int ret;
    if (!cca_token_decode(outblob, outblob_len, &t, why, sizeof(why))) {
        ret = reject(out, err, "%s", why);
        goto done;
    }
    /* (1) The realm token is signed by the RAK it carries. */
    int realm_ok = cose_sign1_verify(&t.realm, t.rak);
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    realm_ok = 1; /* fuzz builds only (docs/security.md): reach the later checks */
#endif
    if (!realm_ok) {
        ret = reject(out, err, "realm token signature (%s) does not verify with the realm "
                               "public key (44237) it carries: the realm token was altered",
                     cose_alg_name(t.realm.alg));
        goto done;
    }
    /* (2) The platform token is signed by a trusted platform key (CPAK). */
    int plat_ok = 0;
    for (size_t i = 0; i < v->num_keys && !plat_ok; i++)
        plat_ok = cose_sign1_verify(&t.platform, v->keys[i]);
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    plat_ok = 1;
#endif
    if (!plat_ok) {
        ret = reject(out, err, "platform token signature (%s) does not verify with any of the "
                               "%zu trusted platform key(s): altered, or from another platform",
                     cose_alg_name(t.platform.alg), v->num_keys);
        goto done;
    }
    /* (3) CCA: platform challenge = H_{44240}(RAK), binding the realm token to the platform. */
    uint8_t h[EVP_MAX_MD_SIZE];
    size_t h_len = 0;
    if (!rak_hash(&t, h, &h_len)) {
        char shown[80];
        util_safe_text(t.r_rak_hash_algo.p, t.r_rak_hash_algo.n, shown, sizeof(shown));
        ret = reject(out, err, "realm public-key-hash-algo-id (44240) is %s; supported are "
                               "sha-256, sha-384, sha-512",
                     shown);
        goto done;
    }
    if (t.p_challenge.n != h_len || !crypto_equal(t.p_challenge.p, h, h_len)) {
        char got[2 * 64 + 4], want[2 * 64 + 4];
        hex_short(t.p_challenge.p, t.p_challenge.n, got);
        hex_short(h, h_len, want);
        ret = reject(out, err, "binding: platform challenge (10) is %s, expected the %.*s of the "
                               "realm public key, %s: the realm token is not the one this "
                               "platform vouched for",
                     got, (int)t.r_rak_hash_algo.n, (const char *)t.r_rak_hash_algo.p, want);
        goto done;
    }
    /* (4) PROTOCOL.md s3: realm challenge = report_data (64 bytes). */
    if (report_data != NULL &&
        !crypto_equal(t.r_challenge.p, report_data, CCA_REALM_CHALLENGE_LEN)) {
        char got[2 * 64 + 4], want[2 * 64 + 4];
        hex_short(t.r_challenge.p, t.r_challenge.n, got);
        hex_short(report_data, CCA_REALM_CHALLENGE_LEN, want);
        ret = reject(out, err, "binding: realm challenge (10) is %s, expected report data %s: "
                               "token replayed or made for another connection",
                     got, want);
        goto done;
    }
    /* (5) Profiles this verifier knows the claims of. */
    if (!profile_known(t.p_profile) ||
        (t.r_profile.p != NULL && !bytes_eq_str(t.r_profile, profile_realm))) {
        char shown[300];
        int plat = !profile_known(t.p_profile);
        cca_bytes b = plat ? t.p_profile : t.r_profile;
        util_safe_text(b.p, b.n, shown, sizeof(shown));
        ret = reject(out, err, "%s profile (265) is %s, expected %s", plat ? "platform" : "realm",
                     shown, plat ? "http://arm.com/CCA-SSD/1.0.0 or "
                                   "tag:arm.com,2023:cca_platform#1.0.0"
                                 : profile_realm);
        goto done;
    }
    json_t *claims = claims_json(&t);
    out->claims_json = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    if (out->claims_json == NULL) {
        ret = reject(out, err, "out of memory rendering the claims");
        goto done;
    }
    ret = ATTEX_OK;
    /* (6) PSA/CCA security lifecycle: only a secured platform is trustworthy by default. */
    if (!v->allow_any_lifecycle && (t.p_lifecycle >> 8) != 0x30) {
        out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
        snprintf(out->reason, sizeof(out->reason),
                 "CCA token: platform security-lifecycle (2395) is 0x%04llx (%s), expected "
                 "secured (0x3000..0x30ff)",
                 (unsigned long long)t.p_lifecycle, cca_lifecycle_name(t.p_lifecycle));
        goto done;
    }
    /* (7) Reference values. */
    if (v->have_policy) {
        appraise_policy(v, &t, out);
    } else {
        out->verdict = ATTEX_VERDICT_WARNING;
        snprintf(out->reason, sizeof(out->reason),
                 "CCA token verified (platform and realm signatures, RAK binding%s); no "
                 "reference values configured, so measurements were not appraised",
                 report_data != NULL ? ", realm challenge" : "");
    }
done:
    cca_token_free(&t);
    return ret;
}

static int cca_verifier_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                                 attex_appraisal *out, attex_error *err)
{
    if (out == NULL || record == NULL || expected == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the CCA verifier needs a CMW record, a binding and an appraisal");
    out->verdict = ATTEX_VERDICT_NONE;
    out->reason[0] = '\0';
    out->claims_json = NULL;
    if (attex_cmw_kind_of(record) != ATTEX_CMW_RECORD)
        return reject(out, err, "the CMW is not a Record; CCA tokens travel as a Record of type "
                                ATTEX_CCA_MEDIA_TYPE);
    /* RFC 9999 s3.1: this verifier appraises evidence, nothing else the Record may claim. */
    uint32_t ind = attex_cmw_ind(record);
    if (ind != ATTEX_CMW_IND_EVIDENCE)
        return reject(out, err, "the CMW record's ind is %u, not 4 (evidence)", ind);
    size_t len = 0;
    const uint8_t *value = attex_cmw_value(record, &len);
    if (value == NULL)
        return reject(out, err, "the CMW record has no value");
    return attex_cca_appraise(ctx, value, len, NULL, 0, expected->report_data, out, err);
}

/* ---------------------------------------------------------------------- */
/* Construction                                                           */

static int platform_key_ok(EVP_PKEY *k)
{
    return crypto_key_can_use(k, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256) ||
           crypto_key_can_use(k, ATTEX_SCHEME_ECDSA_SECP384R1_SHA384);
}

attex_verifier *attex_cca_verifier_new(const attex_cca_verifier_config *cfg, attex_error *err)
{
    if (cfg == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_cca_verifier_new needs a configuration");
        return NULL;
    }
    size_t total = cfg->num_platform_keys + cfg->num_platform_key_paths;
    if (total == 0 || total > CCA_MAX_KEYS ||
        (cfg->num_platform_keys > 0 && cfg->platform_keys == NULL) ||
        (cfg->num_platform_key_paths > 0 && cfg->platform_key_paths == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the CCA verifier needs 1 to %d trusted platform attestation keys (keys or "
                   "PEM files); it has %zu",
                   CCA_MAX_KEYS, total);
        return NULL;
    }
    if (cfg->policy_json != NULL && cfg->policy_path != NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the CCA verifier takes the policy as JSON text or as a file, not both");
        return NULL;
    }
    cca_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->keys = calloc(total, sizeof(*v->keys))) == NULL) {
        free(v);
        NOMEM(err);
        return NULL;
    }
    v->v.name = "cca";
    v->v.media_type = ATTEX_CCA_MEDIA_TYPE;
    v->v.content_format = 0;
    v->v.ctx = v;
    v->v.appraise = cca_verifier_appraise;
    v->allow_any_lifecycle = cfg->allow_any_lifecycle;
    int ret = ATTEX_OK;
    for (size_t i = 0; ret == ATTEX_OK && i < total; i++) {
        EVP_PKEY *k = NULL;
        const char *what = "a trusted platform key";
        if (i < cfg->num_platform_keys) {
            k = cfg->platform_keys[i];
            if (k == NULL || EVP_PKEY_up_ref(k) != 1) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "trusted platform key %zu is NULL", i);
                break;
            }
        } else {
            what = cfg->platform_key_paths[i - cfg->num_platform_keys];
            if (what == NULL) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "trusted platform key path %zu is NULL",
                                 i - cfg->num_platform_keys);
                break;
            }
            ret = util_load_public_key(what, "platform key file", &k, err);
            if (ret != ATTEX_OK)
                break;
        }
        v->keys[v->num_keys++] = k;
        /* RFC 9053 s2.1: the platform signs with ES256 or ES384: the key is EC P-256 or P-384. */
        if (!platform_key_ok(k))
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "%s is not an EC P-256 or P-384 public key; CCA platform tokens "
                             "are signed with ES256 or ES384",
                             what);
    }
    if (ret == ATTEX_OK && (cfg->policy_json != NULL || cfg->policy_path != NULL)) {
        attex_buf text = ATTEX_BUF_INIT;
        if (cfg->policy_path != NULL)
            ret = util_read_file(cfg->policy_path, "CCA policy file", CCA_MAX_TEXT_FILE, &text,
                                 err);
        if (ret == ATTEX_OK)
            ret = parse_policy(text.data ? (const char *)text.data : cfg->policy_json,
                               text.data ? text.len : strlen(cfg->policy_json),
                               cfg->policy_path ? cfg->policy_path : "JSON text", &v->policy, err);
        attex_buf_free(&text);
        v->have_policy = ret == ATTEX_OK;
    }
    if (ret != ATTEX_OK) {
        attex_cca_verifier_free(&v->v);
        return NULL;
    }
    return &v->v;
}

void attex_cca_verifier_free(attex_verifier *verifier)
{
    if (verifier == NULL)
        return;
    cca_verifier *v = (cca_verifier *)verifier;
    for (size_t i = 0; i < v->num_keys; i++)
        EVP_PKEY_free(v->keys[i]);
    free(v->keys);
    policy_free(&v->policy);
    free(v);
}

/* ---------------------------------------------------------------------- */
/* Inspection                                                             */

int attex_cca_describe(const uint8_t *token, size_t len, attex_buf *json, attex_error *err)
{
    if (json == NULL || (token == NULL && len > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_cca_describe needs a token and an output");
    cca_token t;
    char why[400];
    int ret = ATTEX_OK;
    if (!cca_token_decode(token, len, &t, why, sizeof(why))) {
        ret = attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE, "CCA token: %s", why);
        cca_token_free(&t);
        return ret;
    }
    uint8_t h[EVP_MAX_MD_SIZE];
    size_t h_len = 0;
    int have_hash = rak_hash(&t, h, &h_len);
    int bound = have_hash && t.p_challenge.n == h_len && crypto_equal(t.p_challenge.p, h, h_len);
    json_t *root = claims_json(&t);
    char *text = NULL;
    if (root != NULL &&
        json_object_set_new(root, "realm_signature_verifies_with_rak",
                            json_boolean(cose_sign1_verify(&t.realm, t.rak))) == 0 &&
        json_object_set_new(root, "platform_challenge_is_rak_hash", json_boolean(bound)) == 0 &&
        json_object_set_new(root, "platform_signature",
                            json_string("not verified (no trusted platform key given)")) == 0)
        text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    cca_token_free(&t);
    if (text == NULL)
        return NOMEM(err);
    size_t n = strlen(text);
    json->data = malloc(n + 2);
    if (json->data == NULL) {
        free(text);
        return NOMEM(err);
    }
    memcpy(json->data, text, n);
    json->data[n] = '\n';
    json->data[n + 1] = '\0';
    json->len = n + 1;
    free(text);
    return ret;
}
