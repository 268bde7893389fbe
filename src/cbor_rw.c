/*
 * attex: the CBOR writer and the bounded pre-scan shared by the CMW codec
 * and the sample attester/verifier (RFC 8949). See cbor.h.
 */
#include "cbor_rw.h"

#include <string.h>

const char *cbor_major_name(unsigned major)
{
    static const char *const names[] = {"unsigned integer", "negative integer", "byte string",
                                        "text string",      "array",            "map",
                                        "tag",              "simple value or float"};
    return names[major & 7];
}

/* ---- writing ------------------------------------------------------------- */

/* RFC 8949 s3 / s4.2.1: the shortest head that holds v. */
void cbor_put_head(attex_writer *w, unsigned major, uint64_t v)
{
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        wr_u8(w, (uint8_t)(mt | v));
    } else if (v <= 0xff) {
        wr_u8(w, mt | 24);
        wr_u8(w, (uint8_t)v);
    } else if (v <= 0xffff) {
        wr_u8(w, mt | 25);
        wr_u16(w, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        wr_u8(w, mt | 26);
        wr_u32(w, (uint32_t)v);
    } else {
        wr_u8(w, mt | 27);
        wr_u32(w, (uint32_t)(v >> 32));
        wr_u32(w, (uint32_t)v);
    }
}

void cbor_put_int(attex_writer *w, int64_t v)
{
    /* RFC 8949 s3.1: major type 1 carries -1 - n. */
    if (v >= 0)
        cbor_put_head(w, CBOR_MAJOR_UINT, (uint64_t)v);
    else
        cbor_put_head(w, CBOR_MAJOR_NEGINT, (uint64_t)(-(v + 1)));
}

void cbor_put_bytes(attex_writer *w, const uint8_t *p, size_t n)
{
    cbor_put_head(w, CBOR_MAJOR_BYTES, n);
    if (n)
        wr_bytes(w, p, n);
}

void cbor_put_text(attex_writer *w, const char *s, size_t n)
{
    cbor_put_head(w, CBOR_MAJOR_TEXT, n);
    if (n)
        wr_bytes(w, (const uint8_t *)s, n);
}

/* ---- reading ------------------------------------------------------------- */

/* One open container: what it still expects. */
typedef struct scan_frame {
    uint64_t left;     /* items still expected by a definite-length container */
    uint8_t indef;     /* ends with a break (0xff) */
    uint8_t str_major; /* indefinite-length string: 2 or 3; else 0 */
} scan_frame;

/* Reads the argument of a head whose additional information is ai, 24..27 (RFC 8949 s3). */
static int scan_argument(attex_reader *r, unsigned ai, uint64_t *val)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < (1u << (ai - 24)); i++) {
        uint8_t byte;
        if (!rd_u8(r, &byte))
            return 0;
        v = v << 8 | byte;
    }
    *val = v;
    return 1;
}

static cbor_scan_status scan_stop(cbor_scan_result *res, cbor_scan_status st)
{
    res->status = st;
    return st;
}

cbor_scan_status cbor_scan(const uint8_t *in, size_t len, const cbor_scan_limits *lim,
                           cbor_scan_result *res)
{
    scan_frame stack[CBOR_SCAN_MAX_DEPTH];
    int max_depth = lim->max_depth < 0                     ? 0
                    : lim->max_depth > CBOR_SCAN_MAX_DEPTH ? CBOR_SCAN_MAX_DEPTH
                                                           : lim->max_depth;
    int top = 0;
    attex_reader r;
    memset(res, 0, sizeof(*res));
    rd_init(&r, in, len);
    for (;;) {
        uint8_t ib;
        res->offset = len - rd_len(&r);
        if (!rd_u8(&r, &ib))
            return scan_stop(res, CBOR_SCAN_END);
        unsigned major = ib >> 5, ai = ib & 31;
        uint64_t val = 0;
        int indef = 0, container = 0;
        res->byte = ib;
        res->major = major;
        res->indefinite = 0;
        res->value = 0;
        if (ib == 0xff) {
            /* RFC 8949 s3.2.1: a break only ends an indefinite-length item. */
            if (top == 0 || !stack[top - 1].indef)
                return scan_stop(res, CBOR_SCAN_BREAK);
            top--;
            goto completed;
        }
        /* RFC 8949 s3: additional information 28..30 is reserved (not well-formed). */
        if (ai >= 28 && ai <= 30)
            return scan_stop(res, CBOR_SCAN_RESERVED);
        if (ai == 31) {
            res->indefinite = 1;
            /* RFC 8949 s3.2: only strings, arrays and maps have indefinite lengths. */
            if (major < CBOR_MAJOR_BYTES || major > CBOR_MAJOR_MAP)
                return scan_stop(res, CBOR_SCAN_INDEF_MAJOR);
            if (!lim->indefinite)
                return scan_stop(res, CBOR_SCAN_INDEF);
            indef = 1;
        } else if (ai < 24) {
            val = ai;
        } else if (!scan_argument(&r, ai, &val)) {
            return scan_stop(res, CBOR_SCAN_HEAD);
        }
        res->value = val;
        res->remaining = rd_len(&r);
        /* RFC 8949 s3.2.3: chunks are definite-length strings of the same major type. */
        if (top > 0 && stack[top - 1].str_major != 0 &&
            (major != stack[top - 1].str_major || indef)) {
            res->outer = stack[top - 1].str_major;
            return scan_stop(res, CBOR_SCAN_CHUNK);
        }
        switch (major) {
        case CBOR_MAJOR_UINT:
        case CBOR_MAJOR_NEGINT:
            break;
        case CBOR_MAJOR_BYTES:
        case CBOR_MAJOR_TEXT:
            if (indef) {
                container = 1;
                break;
            }
            if (val > rd_len(&r))
                return scan_stop(res, CBOR_SCAN_STRING_LENGTH);
            /* RFC 8949 s3.1, s3.2.3: text (and each text chunk) is valid UTF-8. */
            if (major == CBOR_MAJOR_TEXT && lim->utf8) {
                res->utf8_at = bytes_utf8_invalid_at(rd_ptr(&r), (size_t)val);
                if (res->utf8_at != (size_t)val)
                    return scan_stop(res, CBOR_SCAN_UTF8);
            }
            if (!rd_skip(&r, (size_t)val))
                return scan_stop(res, CBOR_SCAN_STRING_LENGTH);
            break;
        case CBOR_MAJOR_ARRAY:
        case CBOR_MAJOR_MAP:
            container = 1;
            if (indef)
                break;
            /* Each item takes at least one byte: refuse counts the input cannot hold. */
            if (val > rd_len(&r) / (major == CBOR_MAJOR_MAP ? 2 : 1))
                return scan_stop(res, CBOR_SCAN_COUNT);
            val *= (major == CBOR_MAJOR_MAP ? 2 : 1);
            break;
        case CBOR_MAJOR_TAG:
            /* RFC 8949 s3.4: a tag number and one enclosed item. */
            if (val < lim->tag_min || val > lim->tag_max)
                return scan_stop(res, CBOR_SCAN_TAG);
            val = 1;
            container = 1;
            break;
        default:
            /* RFC 8949 s3.3: a two-byte simple value below 32 is not well-formed. */
            if (ai == 24 && val < 32)
                return scan_stop(res, CBOR_SCAN_SIMPLE_FORM);
            /* false, true, null, undefined (20..23); half, single, double floats (25..27). */
            if (lim->plain_simple && !((ai >= 20 && ai <= 23) || (ai >= 25 && ai <= 27)))
                return scan_stop(res, CBOR_SCAN_SIMPLE);
            break;
        }
        if (container) {
            if (top >= max_depth)
                return scan_stop(res, CBOR_SCAN_DEPTH);
            if (indef || val > 0) {
                stack[top].left = val;
                stack[top].indef = (uint8_t)indef;
                stack[top].str_major = (uint8_t)(indef && major <= CBOR_MAJOR_TEXT ? major : 0);
                top++;
                continue;
            }
        }
    completed:
        /* One item is complete: close every definite container it completes. */
        for (;;) {
            if (top == 0) {
                res->item_len = len - rd_len(&r);
                /* RFC 8949 s5.1: a stand-alone item is the whole input. */
                if (!lim->trailing && res->item_len != len) {
                    res->offset = res->item_len;
                    return scan_stop(res, CBOR_SCAN_TRAILING);
                }
                return scan_stop(res, CBOR_SCAN_OK);
            }
            scan_frame *f = &stack[top - 1];
            if (f->indef || --f->left > 0)
                break;
            top--;
        }
    }
}

cbor_item_t *cbor_load_exact(const uint8_t *in, size_t len, const cbor_scan_limits *lim,
                             cbor_scan_result *res)
{
    cbor_scan_limits exact = *lim;
    exact.trailing = 0;
    if (cbor_scan(in, len, &exact, res) != CBOR_SCAN_OK)
        return NULL;
    struct cbor_load_result lr;
    cbor_item_t *item = cbor_load(in, len, &lr);
    if (item != NULL && lr.error.code == CBOR_ERR_NONE && lr.read == len)
        return item;
    if (item != NULL)
        cbor_decref(&item);
    if (lr.error.code == CBOR_ERR_MEMERROR) {
        res->status = CBOR_SCAN_NOMEM;
    } else if (lr.error.code == CBOR_ERR_NONE) {
        /* libcbor stopped early though the scan saw one item fill the input. */
        res->status = CBOR_SCAN_TRAILING;
        res->item_len = lr.read;
        res->offset = lr.read;
    } else {
        res->status = CBOR_SCAN_LIBCBOR;
        res->libcbor_error = (int)lr.error.code;
    }
    return NULL;
}
