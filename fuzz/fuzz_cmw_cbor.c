/*
 * libFuzzer target: CBOR CMW decoding (RFC 9999) and re-encoding.
 *
 * Feeds the input to attex_cmw_decode (inputs that start like JSON are left
 * to fuzz_cmw_json). A failure must come with a proper error (code, alert,
 * message) and no tree. A success must give a tree whose every accessor
 * answers within the rules the decoder enforces (record values non-empty,
 * ind 1..31 or absent, tags TN()-derived, collections of 1..64 entries and
 * at most 8 levels); encoding it as CBOR must succeed, decoding that must
 * give the same tree, and encoding again the same bytes. JSON is tried too:
 * it must either succeed and round-trip, or refuse with
 * ATTEX_ERR_INVALID_ARGUMENT exactly when the tree holds something
 * CBOR-only (a tag, a Content-Format type, an integer label).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <attex/cmw.h>
#include <attex/error.h>

#include "fuzz_common.h"

#define FUZZ_FORMAT ATTEX_CMW_CBOR
#define OTHER_FORMAT ATTEX_CMW_JSON

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Default attex_cmw_limits. */
enum { MAX_DEPTH = 8, MAX_ENTRIES = 64 };

/*
 * Checks one node and everything under it (`above` collections enclose it);
 * returns 1 if the subtree has a CBOR-only part.
 */
static int walk(const attex_cmw *c, int format, int above)
{
    FZ_CHECK(above <= MAX_DEPTH);
    FZ_CHECK(attex_cmw_decoded_format(c) == format);
    attex_cmw_kind kind = attex_cmw_kind_of(c);
    const char *mt = attex_cmw_media_type(c);
    uint16_t cf = 0;
    int has_cf = attex_cmw_content_format(c, &cf);
    size_t len = 1234;
    const uint8_t *v = attex_cmw_value(c, &len);
    uint32_t ind = attex_cmw_ind(c);
    const char *ct = attex_cmw_collection_type(c);
    size_t n = attex_cmw_collection_size(c);
    if (kind == ATTEX_CMW_COLLECTION) {
        FZ_CHECK(mt == NULL && !has_cf && v == NULL && len == 0 && ind == 0);
        FZ_CHECK(above + 1 <= MAX_DEPTH && n >= 1 && n <= MAX_ENTRIES);
        if (ct != NULL)
            fz_touch((const uint8_t *)ct, strlen(ct) + 1);
        int cbor_only = 0;
        for (size_t i = 0; i < n; i++) {
            const char *tl = "unset";
            int64_t il = 77;
            const attex_cmw *e = attex_cmw_collection_entry(c, i, &tl, &il);
            FZ_CHECK(e != NULL);
            if (tl != NULL) {
                FZ_CHECK(il == 0 && tl[0] != '\0' && strcmp(tl, "__cmwc_t") != 0);
                fz_touch((const uint8_t *)tl, strlen(tl) + 1);
                /* Labels are unique. */
                for (size_t k = 0; k < i; k++) {
                    const char *tk;
                    attex_cmw_collection_entry(c, k, &tk, NULL);
                    FZ_CHECK(tk == NULL || strcmp(tk, tl) != 0);
                }
            } else {
                cbor_only = 1;
                for (size_t k = 0; k < i; k++) {
                    const char *tk;
                    int64_t ik;
                    attex_cmw_collection_entry(c, k, &tk, &ik);
                    FZ_CHECK(tk != NULL || ik != il);
                }
            }
            cbor_only |= walk(e, format, above + 1);
        }
        const char *tl = "unset";
        FZ_CHECK(attex_cmw_collection_entry(c, n, &tl, NULL) == NULL && tl == NULL);
        return cbor_only;
    }
    FZ_CHECK(ct == NULL && n == 0 && v != NULL && len > 0);
    fz_touch(v, len);
    if (kind == ATTEX_CMW_TAG) {
        FZ_CHECK(has_cf && mt == NULL && ind == 0);
        FZ_CHECK(attex_cmw_tn(cf) != 0);
        return 1;
    }
    FZ_CHECK(kind == ATTEX_CMW_RECORD);
    FZ_CHECK((mt != NULL) != (has_cf != 0));
    FZ_CHECK(ind <= 31);
    if (mt != NULL)
        fz_touch((const uint8_t *)mt, strlen(mt) + 1);
    return has_cf;
}

/* Two trees describe the same CMW. */
static int same(const attex_cmw *a, const attex_cmw *b, int depth)
{
    if (depth > MAX_DEPTH + 1 || attex_cmw_kind_of(a) != attex_cmw_kind_of(b))
        return 0;
    if (attex_cmw_kind_of(a) == ATTEX_CMW_COLLECTION) {
        const char *ta = attex_cmw_collection_type(a), *tb = attex_cmw_collection_type(b);
        size_t n = attex_cmw_collection_size(a);
        if ((ta == NULL) != (tb == NULL) || (ta != NULL && strcmp(ta, tb) != 0) ||
            n != attex_cmw_collection_size(b))
            return 0;
        for (size_t i = 0; i < n; i++) {
            const char *la, *lb;
            int64_t ia, ib;
            const attex_cmw *ea = attex_cmw_collection_entry(a, i, &la, &ia);
            const attex_cmw *eb = attex_cmw_collection_entry(b, i, &lb, &ib);
            if ((la == NULL) != (lb == NULL) || (la != NULL && strcmp(la, lb) != 0) || ia != ib ||
                !same(ea, eb, depth + 1))
                return 0;
        }
        return 1;
    }
    const char *ma = attex_cmw_media_type(a), *mb = attex_cmw_media_type(b);
    uint16_t ca = 0, cb = 0;
    size_t la = 0, lb = 0;
    const uint8_t *va = attex_cmw_value(a, &la), *vb = attex_cmw_value(b, &lb);
    return (ma == NULL) == (mb == NULL) && (ma == NULL || strcmp(ma, mb) == 0) &&
           attex_cmw_content_format(a, &ca) == attex_cmw_content_format(b, &cb) && ca == cb &&
           attex_cmw_ind(a) == attex_cmw_ind(b) && la == lb && va != NULL && vb != NULL &&
           memcmp(va, vb, la) == 0;
}

/* Encodes `a` as `format`, decodes it, compares, and checks the encoding is a fixed point. */
static void round_trip(const attex_cmw *a, attex_cmw_format format)
{
    attex_error err;
    attex_buf enc = ATTEX_BUF_INIT, enc2 = ATTEX_BUF_INIT;
    /* Re-encoding never grows a CMW much, but the size limit is not what is tested here. */
    attex_cmw_limits roomy = {SIZE_MAX, 0, 0};
    FZ_CHECK(attex_cmw_encode(a, format, &enc, &err) == ATTEX_OK);
    attex_cmw *b = NULL;
    int rc = attex_cmw_decode(enc.data, enc.len, &roomy, &b, &err);
    if (rc != ATTEX_OK)
        fprintf(stderr, "re-decoding failed: %s\n", err.message);
    FZ_CHECK(rc == ATTEX_OK);
    FZ_CHECK(attex_cmw_decoded_format(b) == (int)format);
    FZ_CHECK(same(a, b, 0));
    FZ_CHECK(attex_cmw_encode(b, format, &enc2, &err) == ATTEX_OK);
    FZ_CHECK(enc2.len == enc.len && memcmp(enc2.data, enc.data, enc.len) == 0);
    attex_cmw_free(b);
    attex_buf_free(&enc);
    attex_buf_free(&enc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* JSON-looking inputs belong to fuzz_cmw_json. */
    if (size > 0 && (data[0] == '[' || data[0] == '{'))
        return 0;
    attex_error err;
    attex_error_clear(&err);
    attex_cmw *a = NULL;
    int rc = attex_cmw_decode(data, size, NULL, &a, &err);
    if (rc != ATTEX_OK) {
        fz_check_error(&err, rc);
        FZ_CHECK(a == NULL);
        FZ_CHECK((rc == ATTEX_ERR_DECODE && err.alert == ATTEX_ALERT_DECODE_ERROR) ||
                 (rc == ATTEX_ERR_ILLEGAL_PARAMETER &&
                  err.alert == ATTEX_ALERT_ILLEGAL_PARAMETER));
        return 0;
    }
    FZ_CHECK(a != NULL && size > 0 && size <= 65535);
    FZ_CHECK(attex_cmw_decoded_format(a) == FUZZ_FORMAT);
    int cbor_only = walk(a, FUZZ_FORMAT, 0);
    round_trip(a, FUZZ_FORMAT);

    /* The other serialisation: it works, or refuses exactly the CBOR-only parts. */
    attex_buf other = ATTEX_BUF_INIT;
    rc = attex_cmw_encode(a, OTHER_FORMAT, &other, &err);
    if (OTHER_FORMAT == ATTEX_CMW_JSON && cbor_only) {
        FZ_CHECK(rc == ATTEX_ERR_INVALID_ARGUMENT && other.data == NULL);
        fz_check_error(&err, rc);
    } else {
        FZ_CHECK(rc == ATTEX_OK);
        attex_buf_free(&other);
        round_trip(a, OTHER_FORMAT);
    }
    attex_cmw_free(a);
    return 0;
}
