/*
 * attex: CBOR serialisation of CMWs (RFC 9999 s3, RFC 8949).
 *
 * Decoding runs in two passes. cbor_scan (cbor.c: over the raw bytes,
 * iterative, no recursion) checks that the input is exactly one
 * well-formed CBOR data item, bounds its nesting by the collection depth
 * limit, and rejects every tag outside the TN() range, all before libcbor
 * sees the bytes. That keeps libcbor away from what it handles badly: its
 * recursive free on deep nesting, allocations sized by untrusted counts, and
 * the one-byte tags 6..20 (0xc6..0xd4) that Debian's libcbor 0.8 cannot
 * decode. libcbor then builds the item, and a walk over it (recursion bounded
 * by the same limit) applies the CMW rules.
 *
 * Encoding (cbor_put_*) writes definite lengths and the shortest head for
 * every number (RFC 8949 s4.2.1 preferred serialisation), map entries in
 * tree order.
 */
#include "cmw_internal.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "internal.h"

/* ---- pass 1: well-formedness, nesting and tags on the raw bytes ---------- */

/*
 * A collection at depth max_depth holds records (arrays) whose strings may
 * be indefinite-length: max_depth + 2 open containers cover every valid CMW.
 */
_Static_assert(CMW_MAX_DEPTH_CAP + 2 <= CBOR_SCAN_MAX_DEPTH, "the CBOR scan stack is too small");

/* scan_fail words what cbor_scan or cbor_load_exact refused. */
static int scan_fail(const cmw_dec *d, const cbor_scan_result *s, size_t in_len)
{
    size_t off = s->offset;
    const char *what = cbor_major_name(s->major);
    unsigned long long val = (unsigned long long)s->value;
    switch (s->status) {
    case CBOR_SCAN_END:
        return cmw_fail_decode(d->err, "CMW: the CBOR ends early (after %zu bytes)", in_len);
    case CBOR_SCAN_HEAD:
        return cmw_fail_decode(d->err, "CMW: the CBOR ends inside the head at offset %zu", off);
    case CBOR_SCAN_BREAK:
        return cmw_fail_decode(d->err, "CMW: unexpected CBOR break (0xff) at offset %zu", off);
    case CBOR_SCAN_RESERVED:
        return cmw_fail_decode(d->err,
                               "CMW: CBOR byte 0x%02x at offset %zu uses reserved additional "
                               "information %u (RFC 8949 s3)",
                               s->byte, off, s->byte & 31u);
    case CBOR_SCAN_INDEF_MAJOR:
    case CBOR_SCAN_INDEF:
        return cmw_fail_decode(d->err,
                               "CMW: a CBOR %s cannot have indefinite length (byte 0x%02x at "
                               "offset %zu)",
                               what, s->byte, off);
    case CBOR_SCAN_CHUNK:
        return cmw_fail_decode(d->err,
                               "CMW: a chunk of the indefinite-length %s ending at offset %zu is "
                               "a %s%s",
                               cbor_major_name(s->outer), off,
                               s->indefinite ? "indefinite-length " : "", what);
    case CBOR_SCAN_STRING_LENGTH:
        return cmw_fail_decode(d->err,
                               "CMW: the CBOR %s at offset %zu announces %llu bytes; only %zu "
                               "remain",
                               what, off, val, s->remaining);
    case CBOR_SCAN_UTF8:
        return cmw_fail_decode(d->err,
                               "CMW: the CBOR text string at offset %zu is not valid UTF-8 (at "
                               "its byte %zu)",
                               off, s->utf8_at);
    case CBOR_SCAN_COUNT:
        return cmw_fail_decode(d->err,
                               "CMW: the CBOR %s at offset %zu announces %llu %s; the %zu "
                               "remaining bytes cannot hold them",
                               what, off, val, s->major == CBOR_MAJOR_MAP ? "pairs" : "items",
                               s->remaining);
    case CBOR_SCAN_DEPTH:
        return cmw_fail_decode(d->err,
                               "CMW: CBOR items are nested more than %d deep at offset %zu "
                               "(collections may nest at most %d levels)",
                               d->max_depth + 2, off, d->max_depth);
    case CBOR_SCAN_TAG:
        /*
         * RFC 9999 s3.2: a Tag CMW's number is TN(cf), in [1668546817,
         * 1668612095]. No other tag has a place in a CMW's own structure
         * (record values are byte strings, opaque here).
         */
        return cmw_fail_illegal(d->err,
                                "CMW: CBOR tag %llu at offset %zu is not a Tag CMW: RFC 9999 "
                                "s3.2 tags are TN() numbers in [%u, %u], and no other tag may "
                                "appear in a CMW's structure",
                                val, off, CMW_TN_BASE, CMW_TN_LAST);
    case CBOR_SCAN_SIMPLE_FORM:
    case CBOR_SCAN_SIMPLE:
        return cmw_fail_decode(d->err,
                               "CMW: CBOR simple value %llu at offset %zu uses the two-byte form "
                               "(not well-formed)",
                               val, off);
    case CBOR_SCAN_TRAILING:
        /* RFC 8949 s5.1: a CMW is exactly one data item; nothing may follow it. */
        return cmw_fail_decode(d->err, "CMW: %zu trailing bytes follow the %zu-byte CBOR item",
                               in_len - s->item_len, s->item_len);
    case CBOR_SCAN_NOMEM:
        return cmw_nomem(d->err);
    default:
        return cmw_fail_decode(d->err, "CMW: libcbor could not decode the CBOR (error %d)",
                               s->libcbor_error);
    }
}

/* ---- pass 2: libcbor item -> CMW tree ------------------------------------- */

static const char *item_name(const cbor_item_t *it)
{
    return cbor_major_name((unsigned)cbor_typeof(it));
}

/* Copies a byte or text string, joining the chunks of an indefinite-length one. */
static int string_copy(const cbor_item_t *it, int text, uint8_t **out, size_t *out_len)
{
    size_t total = 0;
    int definite = text ? cbor_string_is_definite(it) : cbor_bytestring_is_definite(it);
    size_t nchunks = definite ? 1
                     : text   ? cbor_string_chunk_count(it)
                              : cbor_bytestring_chunk_count(it);
    cbor_item_t **chunks = definite ? NULL
                           : text   ? cbor_string_chunks_handle(it)
                                    : cbor_bytestring_chunks_handle(it);
    for (size_t i = 0; i < nchunks; i++) {
        const cbor_item_t *c = definite ? it : chunks[i];
        total += text ? cbor_string_length(c) : cbor_bytestring_length(c);
    }
    uint8_t *p = malloc(total + 1);
    if (p == NULL)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < nchunks; i++) {
        const cbor_item_t *c = definite ? it : chunks[i];
        size_t n = text ? cbor_string_length(c) : cbor_bytestring_length(c);
        const uint8_t *h = text ? cbor_string_handle(c) : cbor_bytestring_handle(c);
        if (n)
            memcpy(p + o, h, n);
        o += n;
    }
    p[total] = '\0';
    *out = p;
    *out_len = total;
    return 1;
}

static int dec_node(cmw_dec *d, const cbor_item_t *it, int depth, attex_cmw **out);

static int dec_record(cmw_dec *d, const cbor_item_t *it, attex_cmw **out)
{
    const char *at = cmw_path_at(&d->path);
    size_t n = cbor_array_size(it);
    /* RFC 9999 s3.1: cbor-record = [type, value, ? ind]. */
    if (n != 2 && n != 3)
        return cmw_fail_decode(d->err,
                               "CMW record%s has %zu elements; RFC 9999 s3.1 wants [type, value] "
                               "or [type, value, ind]",
                               at, n);
    cbor_item_t **el = cbor_array_handle(it);
    attex_cmw *c = cmw_node_new(ATTEX_CMW_RECORD, d->format);
    if (c == NULL)
        return cmw_nomem(d->err);
    int ret = ATTEX_OK;
    uint8_t *bytes;
    size_t len;
    if (cbor_isa_string(el[0])) {
        if (!string_copy(el[0], 1, &bytes, &len)) {
            ret = cmw_nomem(d->err);
            goto fail;
        }
        ret = cmw_dec_media_type(d, (const char *)bytes, len, &c->media_type);
        free(bytes);
        if (ret != ATTEX_OK)
            goto fail;
    } else if (cbor_isa_uint(el[0])) {
        if ((ret = cmw_dec_content_format(d, cbor_get_int(el[0]), &c->cf)) != ATTEX_OK)
            goto fail;
        c->has_cf = 1;
    } else {
        ret = cmw_fail_decode(d->err,
                              "CMW record%s: type is a CBOR %s; RFC 9999 s3.1 wants a media type "
                              "(text) or a CoAP Content-Format (unsigned integer)",
                              at, item_name(el[0]));
        goto fail;
    }
    if (!cbor_isa_bytestring(el[1])) {
        ret = cmw_fail_decode(d->err,
                              "CMW record%s: value is a CBOR %s; RFC 9999 s3.1 wants a byte string",
                              at, item_name(el[1]));
        goto fail;
    }
    if (!string_copy(el[1], 0, &c->value, &c->value_len)) {
        ret = cmw_nomem(d->err);
        goto fail;
    }
    if ((ret = cmw_dec_value_len(d, "record", c->value_len)) != ATTEX_OK)
        goto fail;
    if (n == 3) {
        if (!cbor_isa_uint(el[2])) {
            ret = cmw_fail_decode(d->err,
                                  "CMW record%s: ind is a CBOR %s; RFC 9999 s3.1 wants an "
                                  "unsigned integer",
                                  at, item_name(el[2]));
            goto fail;
        }
        if ((ret = cmw_dec_ind(d, cbor_get_int(el[2]), &c->ind)) != ATTEX_OK)
            goto fail;
    }
    *out = c;
    return ATTEX_OK;
fail:
    attex_cmw_free(c);
    return ret;
}

static int dec_tag(cmw_dec *d, const cbor_item_t *it, attex_cmw **out)
{
    const char *at = cmw_path_at(&d->path);
    uint64_t tn = cbor_tag_value(it);
    uint16_t cf;
    /* The scan admitted only the TN() range; RFC 9277 App. B leaves holes in it. */
    if (!cmw_cf_from_tn(tn, &cf))
        return cmw_fail_illegal(d->err,
                                "CMW tag%s: tag %llu is not a TN() number (RFC 9277 App. B: "
                                "(tag - %u) mod 256 is never 255)",
                                at, (unsigned long long)tn, CMW_TN_BASE);
    cbor_item_t *content = cbor_tag_item(it); /* takes a reference */
    int ret = ATTEX_OK;
    attex_cmw *c = NULL;
    /* RFC 9999 s3.2: tag-cm-data / tag-cm-cbor wrap a byte string. */
    if (!cbor_isa_bytestring(content)) {
        ret = cmw_fail_decode(d->err, "CMW tag%s: tag %llu holds a CBOR %s, not a byte string", at,
                              (unsigned long long)tn, item_name(content));
        goto out;
    }
    if ((c = cmw_node_new(ATTEX_CMW_TAG, d->format)) == NULL ||
        !string_copy(content, 0, &c->value, &c->value_len)) {
        ret = cmw_nomem(d->err);
        goto out;
    }
    c->has_cf = 1;
    c->cf = cf;
    if ((ret = cmw_dec_value_len(d, "tag", c->value_len)) != ATTEX_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    attex_cmw_free(c);
    cbor_decref(&content);
    return ret;
}

static int dec_collection(cmw_dec *d, const cbor_item_t *it, int depth, attex_cmw **out)
{
    const char *at = cmw_path_at(&d->path);
    int ret;
    if ((ret = cmw_dec_depth(d, depth)) != ATTEX_OK)
        return ret;
    size_t n = cbor_map_size(it);
    /* One pair may be "__cmwc_t"; fail early on maps that are too large anyway. */
    if (n > d->max_entries && (ret = cmw_dec_collection_size(d, n - 1)) != ATTEX_OK)
        return ret;
    struct cbor_pair *pairs = cbor_map_handle(it);
    attex_cmw *c = cmw_node_new(ATTEX_CMW_COLLECTION, d->format);
    if (c == NULL)
        return cmw_nomem(d->err);
    for (size_t i = 0; i < n; i++) {
        const cbor_item_t *key = pairs[i].key, *val = pairs[i].value;
        char *text = NULL;
        int64_t num = 0;
        size_t len = 0, mark;
        if (cbor_isa_string(key)) {
            uint8_t *b;
            if (!string_copy(key, 1, &b, &len)) {
                ret = cmw_nomem(d->err);
                goto fail;
            }
            text = (char *)b;
            if (len == 8 && memcmp(text, "__cmwc_t", 8) == 0) {
                free(text);
                /* RFC 8949 s5.6: map keys are unique; "__cmwc_t" is one of them. */
                if (c->ctype != NULL) {
                    ret = cmw_fail_illegal(d->err, "CMW collection%s: duplicate label \"__cmwc_t\"",
                                           at);
                    goto fail;
                }
                if (!cbor_isa_string(val)) {
                    ret = cmw_fail_decode(d->err,
                                          "CMW collection%s: \"__cmwc_t\" is a CBOR %s; RFC 9999 "
                                          "s3.3 wants text (an absolute URI or an OID)",
                                          at, item_name(val));
                    goto fail;
                }
                uint8_t *v;
                size_t vlen;
                if (!string_copy(val, 1, &v, &vlen)) {
                    ret = cmw_nomem(d->err);
                    goto fail;
                }
                ret = cmw_dec_ctype(d, (const char *)v, vlen, &c->ctype);
                free(v);
                if (ret != ATTEX_OK)
                    goto fail;
                c->ctype_pos = c->num_entries;
                continue;
            }
            if ((ret = cmw_dec_label(d, text, len)) != ATTEX_OK ||
                (ret = cmw_dec_collection_size(d, c->num_entries + 1)) != ATTEX_OK) {
                free(text);
                goto fail;
            }
            mark = cmw_path_push_text(&d->path, text, len);
        } else if (cbor_isa_uint(key) || cbor_isa_negint(key)) {
            uint64_t raw = cbor_get_int(key);
            /* Labels are int64_t in the API; CBOR integers reach 2^64 - 1 and -2^64. */
            if (raw > (uint64_t)INT64_MAX) {
                ret = cmw_fail_illegal(d->err,
                                       "CMW collection%s: integer label %s%llu is outside the "
                                       "64-bit signed range",
                                       at, cbor_isa_negint(key) ? "-1-" : "",
                                       (unsigned long long)raw);
                goto fail;
            }
            num = cbor_isa_uint(key) ? (int64_t)raw : -1 - (int64_t)raw;
            if ((ret = cmw_dec_collection_size(d, c->num_entries + 1)) != ATTEX_OK)
                goto fail;
            mark = cmw_path_push_int(&d->path, num);
        } else {
            ret = cmw_fail_decode(d->err,
                                  "CMW collection%s: a label is a CBOR %s; RFC 9999 s3.3 labels "
                                  "are text or integers",
                                  at, item_name(key));
            goto fail;
        }
        attex_cmw *child = NULL;
        if ((ret = dec_node(d, val, depth, &child)) != ATTEX_OK) {
            cmw_path_pop(&d->path, mark);
            free(text);
            goto fail;
        }
        cmw_path_pop(&d->path, mark);
        if (!cmw_append(c, text, num, child)) {
            free(text);
            attex_cmw_free(child);
            ret = cmw_nomem(d->err);
            goto fail;
        }
    }
    if ((ret = cmw_dec_finish_collection(d, c)) != ATTEX_OK)
        goto fail;
    *out = c;
    return ATTEX_OK;
fail:
    attex_cmw_free(c);
    return ret;
}

/* `depth` is the number of collections above this node. */
static int dec_node(cmw_dec *d, const cbor_item_t *it, int depth, attex_cmw **out)
{
    switch (cbor_typeof(it)) {
    case CBOR_TYPE_ARRAY:
        return dec_record(d, it, out);
    case CBOR_TYPE_TAG:
        return dec_tag(d, it, out);
    case CBOR_TYPE_MAP:
        return dec_collection(d, it, depth + 1, out);
    default:
        return cmw_fail_decode(d->err,
                               "CMW%s: a CBOR %s is not a CMW; RFC 9999 s3 wants an array "
                               "(Record), a tag (Tag) or a map (Collection)",
                               cmw_path_at(&d->path), item_name(it));
    }
}

int cmw_decode_cbor(cmw_dec *d, const uint8_t *in, size_t in_len, attex_cmw **out)
{
    const cbor_scan_limits lim = {
        .max_depth = d->max_depth + 2,
        .indefinite = 1, /* RFC 9999 s3.5 names 0x9f: RFC 8949 s3.2 lengths are accepted */
        .tag_min = CMW_TN_BASE,
        .tag_max = CMW_TN_LAST,
        .utf8 = 1,
    };
    cbor_scan_result res;
    cbor_item_t *root = cbor_load_exact(in, in_len, &lim, &res);
    if (root == NULL)
        return scan_fail(d, &res, in_len);
    int ret = dec_node(d, root, 0, out);
    cbor_decref(&root);
    return ret;
}

/* ---- encoding -------------------------------------------------------------------- */

static int enc_node(attex_writer *w, const attex_cmw *c, cmw_path *path, int depth,
                    attex_error *err)
{
    if (depth > CMW_MAX_DEPTH_CAP)
        return cmw_fail_arg(err, "CMW%s: collections nest more than %d levels",
                            cmw_path_at(path), CMW_MAX_DEPTH_CAP);
    switch (c->kind) {
    case ATTEX_CMW_RECORD:
        cbor_put_head(w, CBOR_MAJOR_ARRAY, c->ind ? 3 : 2);
        if (c->media_type != NULL)
            cbor_put_text(w, c->media_type, strlen(c->media_type));
        else
            cbor_put_head(w, CBOR_MAJOR_UINT, c->cf);
        cbor_put_bytes(w, c->value, c->value_len);
        if (c->ind)
            cbor_put_head(w, CBOR_MAJOR_UINT, c->ind);
        return ATTEX_OK;
    case ATTEX_CMW_TAG:
        cbor_put_head(w, CBOR_MAJOR_TAG, attex_cmw_tn(c->cf));
        cbor_put_bytes(w, c->value, c->value_len);
        return ATTEX_OK;
    case ATTEX_CMW_COLLECTION:
        break;
    default:
        return cmw_fail_arg(err, "CMW%s: unknown node kind %d", cmw_path_at(path), (int)c->kind);
    }
    /* RFC 9999 s3.3: a Collection has at least one entry; do not write what we would reject. */
    if (c->num_entries == 0)
        return cmw_fail_arg(err,
                            "CMW collection%s has no entries; RFC 9999 s3.3 requires at least one",
                            cmw_path_at(path));
    size_t pos = c->ctype_pos < c->num_entries ? c->ctype_pos : c->num_entries;
    cbor_put_head(w, CBOR_MAJOR_MAP, c->num_entries + (c->ctype != NULL ? 1 : 0));
    for (size_t i = 0; i <= c->num_entries; i++) {
        if (c->ctype != NULL && i == pos) {
            cbor_put_text(w, "__cmwc_t", 8);
            cbor_put_text(w, c->ctype, strlen(c->ctype));
        }
        if (i == c->num_entries)
            break;
        const cmw_entry *e = &c->entries[i];
        size_t mark;
        if (e->text != NULL) {
            cbor_put_text(w, e->text, strlen(e->text));
            mark = cmw_path_push_text(path, e->text, strlen(e->text));
        } else {
            cbor_put_int(w, e->num);
            mark = cmw_path_push_int(path, e->num);
        }
        int ret = enc_node(w, e->item, path, depth + 1, err);
        cmw_path_pop(path, mark);
        if (ret != ATTEX_OK)
            return ret;
    }
    return ATTEX_OK;
}

int cmw_encode_cbor(const attex_cmw *cmw, attex_buf *out, attex_error *err)
{
    attex_writer w;
    cmw_path path;
    memset(&path, 0, sizeof(path));
    wr_init(&w, SIZE_MAX / 2);
    int ret = enc_node(&w, cmw, &path, 0, err);
    if (ret != ATTEX_OK) {
        wr_cleanup(&w);
        return ret;
    }
    if (!wr_finish(&w, out))
        return cmw_nomem(err);
    return ATTEX_OK;
}
