/*
 * attex: COSE_Sign1 decoding and ECDSA verification for evidence signed by
 * others (RFC 9052, RFC 9053). See cose.h.
 */
#include "cose.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "crypto.h"
#include "internal.h"

/*
 * Inside a COSE_Sign1 and the claims it signs: definite lengths only, no
 * tags (the outer tag is handled by the caller), UTF-8 text, plain simple
 * values, shallow nesting (CCA claims nest 3 deep: claims, sw-components,
 * component).
 */
const cbor_scan_limits cose_cbor_limits = {
    .max_depth = 8,
    .indefinite = 0,
    .tag_min = 1,
    .tag_max = 0, /* no tags */
    .utf8 = 1,
    .plain_simple = 1,
    .trailing = 0,
};

const char *cose_scan_why(int status)
{
    switch ((cbor_scan_status)status) {
    case CBOR_SCAN_END: return "the CBOR ends in the middle of an item";
    case CBOR_SCAN_HEAD: return "the CBOR ends in the middle of an item head";
    case CBOR_SCAN_BREAK: return "a CBOR break code appears outside an indefinite-length item";
    case CBOR_SCAN_INDEF_MAJOR:
    case CBOR_SCAN_INDEF: return "an indefinite-length CBOR item (only definite lengths are accepted)";
    case CBOR_SCAN_RESERVED: return "a CBOR item head uses a reserved value (28..30)";
    case CBOR_SCAN_STRING_LENGTH: return "a CBOR string is longer than the bytes that remain";
    case CBOR_SCAN_UTF8: return "a CBOR text string is not valid UTF-8";
    case CBOR_SCAN_DEPTH: return "the CBOR nests too deeply";
    case CBOR_SCAN_COUNT: return "a CBOR array or map declares more items than the bytes that remain";
    case CBOR_SCAN_TAG: return "a CBOR tag where none is expected";
    case CBOR_SCAN_SIMPLE_FORM:
    case CBOR_SCAN_SIMPLE: return "a CBOR simple value that is not false, true, null or undefined";
    case CBOR_SCAN_TRAILING: return "bytes follow the CBOR item";
    case CBOR_SCAN_NOMEM: return "out of memory decoding CBOR";
    default: return "the CBOR does not decode";
    }
}

const char *cose_alg_name(int64_t alg)
{
    switch (alg) {
    case COSE_ALG_ES256: return "ES256";
    case COSE_ALG_ES384: return "ES384";
    default: return "?";
    }
}

int cose_alg_hash(int64_t alg, attex_hash *h)
{
    switch (alg) {
    case COSE_ALG_ES256: *h = ATTEX_HASH_SHA256; return 1;
    case COSE_ALG_ES384: *h = ATTEX_HASH_SHA384; return 1;
    default: return 0;
    }
}

/* RFC 9053 s2.1: r || s, each the size of the curve's order in bytes. */
static size_t alg_sig_len(int64_t alg)
{
    switch (alg) {
    case COSE_ALG_ES256: return 64;
    case COSE_ALG_ES384: return 96;
    default: return 0;
    }
}

/* RFC 9053 s2.1: each ECDSA algorithm is bound to one curve. */
static uint16_t alg_scheme(int64_t alg)
{
    switch (alg) {
    case COSE_ALG_ES256: return ATTEX_SCHEME_ECDSA_SECP256R1_SHA256;
    case COSE_ALG_ES384: return ATTEX_SCHEME_ECDSA_SECP384R1_SHA384;
    default: return 0;
    }
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

int cose_sign1_decode(const uint8_t *in, size_t len, cose_sign1 *out, char *why,
                      size_t why_size)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL || len == 0)
        return why_fail(why, why_size, "the COSE_Sign1 is empty");
    if (len > COSE_MAX_LEN)
        return why_fail(why, why_size, "the COSE_Sign1 is %zu bytes, more than %d", len,
                        COSE_MAX_LEN);
    attex_reader r;
    uint8_t first;
    rd_init(&r, in, len);
    /*
     * RFC 9052 s4.2: COSE_Sign1_Tagged is tag 18 in its one-byte form;
     * libcbor 0.8 cannot decode tags 6..20, so the tag is skipped here.
     */
    if (rd_peek_u8(&r, &first) && first == COSE_SIGN1_TAG_BYTE && !rd_skip(&r, 1))
        return why_fail(why, why_size, "the COSE_Sign1 is truncated");
    cbor_scan_result res;
    out->root = cbor_load_exact(rd_ptr(&r), rd_len(&r), &cose_cbor_limits, &res);
    if (out->root == NULL)
        return why_fail(why, why_size, "the COSE_Sign1 is not well-formed: %s",
                        cose_scan_why(res.status));
    cbor_item_t *a = out->root;
    if (!cbor_isa_array(a) || cbor_array_size(a) != 4)
        return why_fail(why, why_size, "the COSE_Sign1 is not an array of 4 items (protected, "
                                       "unprotected, payload, signature)");
    cbor_item_t **items = cbor_array_handle(a);
    /* RFC 9052 s3: the protected header is a bstr wrapping a header map. */
    if (!cbor_isa_bytestring(items[0]) || cbor_bytestring_length(items[0]) == 0)
        return why_fail(why, why_size, "the COSE_Sign1 protected header is not a non-empty "
                                       "byte string (it must carry alg)");
    out->prot = cbor_bytestring_handle(items[0]);
    out->prot_len = cbor_bytestring_length(items[0]);
    cbor_item_t *ph = cbor_load_exact(out->prot, out->prot_len, &cose_cbor_limits, &res);
    if (ph == NULL)
        return why_fail(why, why_size, "the COSE_Sign1 protected header is not well-formed: %s",
                        cose_scan_why(res.status));
    int have_alg = 0, bad = 0;
    if (!cbor_isa_map(ph)) {
        bad = 1;
    } else {
        struct cbor_pair *p = cbor_map_handle(ph);
        for (size_t i = 0; i < cbor_map_size(ph) && !bad; i++) {
            int64_t label;
            if (!item_int64(p[i].key, &label))
                continue;
            if (label == COSE_HDR_ALG) {
                /* RFC 8949 s5.6: a repeated label would let readers disagree. */
                bad = have_alg || !item_int64(p[i].value, &out->alg);
                have_alg = 1;
            } else if (label == COSE_HDR_CRIT) {
                /* RFC 9052 s3.1: crit names parameters we must understand; we know none. */
                bad = 2;
            }
        }
    }
    cbor_decref(&ph);
    if (bad == 2)
        return why_fail(why, why_size, "the COSE_Sign1 protected header has crit (2): critical "
                                       "parameters this verifier does not understand");
    if (bad || !have_alg)
        return why_fail(why, why_size, "the COSE_Sign1 protected header is not a map with one "
                                       "integer alg (1)");
    size_t want_sig = alg_sig_len(out->alg);
    if (want_sig == 0)
        return why_fail(why, why_size, "the COSE_Sign1 algorithm is %lld; accepted are ES256 "
                                       "(-7) and ES384 (-35)",
                        (long long)out->alg);
    /* RFC 9052 s3: a parameter must not be both protected and unprotected; alg is protected. */
    if (!cbor_isa_map(items[1]))
        return why_fail(why, why_size, "the COSE_Sign1 unprotected header is not a map");
    struct cbor_pair *up = cbor_map_handle(items[1]);
    for (size_t i = 0; i < cbor_map_size(items[1]); i++) {
        int64_t label;
        if (item_int64(up[i].key, &label) && (label == COSE_HDR_ALG || label == COSE_HDR_CRIT))
            return why_fail(why, why_size, "the COSE_Sign1 unprotected header carries %s; it "
                                           "may only be protected",
                            label == COSE_HDR_ALG ? "alg (1)" : "crit (2)");
    }
    /* A detached payload (nil) is not accepted: the claims travel inside. */
    if (!cbor_isa_bytestring(items[2]))
        return why_fail(why, why_size, "the COSE_Sign1 payload is not a byte string");
    out->payload = cbor_bytestring_handle(items[2]);
    out->payload_len = cbor_bytestring_length(items[2]);
    if (!cbor_isa_bytestring(items[3]))
        return why_fail(why, why_size, "the COSE_Sign1 signature is not a byte string");
    out->sig = cbor_bytestring_handle(items[3]);
    out->sig_len = cbor_bytestring_length(items[3]);
    if (out->sig_len != want_sig)
        return why_fail(why, why_size, "the COSE_Sign1 signature is %zu bytes; %s signatures "
                                       "are exactly %zu (r || s)",
                        out->sig_len, cose_alg_name(out->alg), want_sig);
    return 1;
}

void cose_sign1_free(cose_sign1 *c)
{
    if (c->root != NULL)
        cbor_decref(&c->root);
    memset(c, 0, sizeof(*c));
}

int cose_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                       size_t payload_len, attex_buf *out, attex_error *err)
{
    attex_writer w;
    wr_init(&w, 2 * COSE_MAX_LEN);
    /* RFC 9052 s4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload]. */
    cbor_put_head(&w, CBOR_MAJOR_ARRAY, 4);
    cbor_put_text(&w, "Signature1", 10);
    cbor_put_bytes(&w, prot, prot_len);
    cbor_put_bytes(&w, NULL, 0);
    cbor_put_bytes(&w, payload, payload_len);
    if (!wr_finish(&w, out))
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                          "out of memory encoding a COSE Sig_structure");
    return ATTEX_OK;
}

int cose_sign1_verify(const cose_sign1 *c, EVP_PKEY *key)
{
    if (c == NULL || key == NULL || alg_sig_len(c->alg) == 0 ||
        c->sig_len != alg_sig_len(c->alg) || !crypto_key_can_use(key, alg_scheme(c->alg)))
        return 0;
    attex_buf tbs = ATTEX_BUF_INIT;
    if (cose_sig_structure(c->prot, c->prot_len, c->payload, c->payload_len, &tbs, NULL) !=
        ATTEX_OK)
        return 0;
    attex_hash h = ATTEX_HASH_SHA256;
    int ok = cose_alg_hash(c->alg, &h) &&
             crypto_ecdsa_verify_raw(key, h, tbs.data, tbs.len, c->sig, c->sig_len) == 1;
    attex_buf_free(&tbs);
    return ok;
}
