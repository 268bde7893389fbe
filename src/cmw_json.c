/*
 * attex: JSON serialisation of CMWs (RFC 9999 s3, RFC 8259).
 *
 * jansson parses (rejecting duplicate object keys and anything but
 * whitespace after the value) and prints (compact, members in tree order).
 * Record values are base64url without padding (RFC 4648 s5); the decoder
 * accepts exactly the strings the encoder can produce, so a value has one
 * spelling only.
 */
#include "cmw_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "b64.h"
#include "bytes.h"
#include "internal.h"

/* ---- base64url (RFC 4648 s5, no padding) ----------------------------------- */

static int b64url_value(cmw_dec *d, const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    const char *at = cmw_path_at(&d->path);
    char why[B64_WHY_SIZE];
    int ret;
    /* RFC 9999 s3.1: base64url-string = text .regexp "[A-Za-z0-9_-]+". */
    if ((ret = cmw_dec_value_len(d, "record", len)) != ATTEX_OK)
        return ret;
    if (!b64url_decode(s, len, 0, len, out, out_len, why, sizeof(why)))
        return cmw_fail_decode(d->err, "CMW record%s: the value %s", at, why);
    return ATTEX_OK;
}

/* ---- decoding ---------------------------------------------------------------- */

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "non-integer number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int jdec_node(cmw_dec *d, json_t *j, int depth, attex_cmw **out);

static int jdec_record(cmw_dec *d, json_t *j, attex_cmw **out)
{
    const char *at = cmw_path_at(&d->path);
    size_t n = json_array_size(j);
    /* RFC 9999 s3.1: json-record = [type, value, ? ind]. */
    if (n != 2 && n != 3)
        return cmw_fail_decode(d->err,
                               "CMW record%s has %zu elements; RFC 9999 s3.1 wants [type, value] "
                               "or [type, value, ind]",
                               at, n);
    const json_t *type = json_array_get(j, 0), *value = json_array_get(j, 1);
    if (json_is_integer(type))
        return cmw_fail_decode(d->err,
                               "CMW record%s: type is a number; Content-Format numbers are "
                               "CBOR-only, a JSON record's type is a media type string (RFC 9999 "
                               "s3.1)",
                               at);
    if (!json_is_string(type))
        return cmw_fail_decode(d->err,
                               "CMW record%s: type is a JSON %s; RFC 9999 s3.1 wants a media type "
                               "string",
                               at, json_kind(type));
    if (!json_is_string(value))
        return cmw_fail_decode(d->err,
                               "CMW record%s: value is a JSON %s; RFC 9999 s3.1 wants a base64url "
                               "string",
                               at, json_kind(value));
    attex_cmw *c = cmw_node_new(ATTEX_CMW_RECORD, d->format);
    if (c == NULL)
        return cmw_nomem(d->err);
    int ret;
    if ((ret = cmw_dec_media_type(d, json_string_value(type), json_string_length(type),
                                  &c->media_type)) != ATTEX_OK ||
        (ret = b64url_value(d, json_string_value(value), json_string_length(value), &c->value,
                             &c->value_len)) != ATTEX_OK)
        goto fail;
    if (n == 3) {
        const json_t *ind = json_array_get(j, 2);
        if (!json_is_integer(ind) || json_integer_value(ind) < 0) {
            ret = cmw_fail_decode(d->err,
                                  "CMW record%s: ind is a %s%s; RFC 9999 s3.1 wants an unsigned "
                                  "integer",
                                  at, json_is_integer(ind) ? "negative " : "JSON ",
                                  json_kind(ind));
            goto fail;
        }
        if ((ret = cmw_dec_ind(d, (uint64_t)json_integer_value(ind), &c->ind)) != ATTEX_OK)
            goto fail;
    }
    *out = c;
    return ATTEX_OK;
fail:
    attex_cmw_free(c);
    return ret;
}

static int jdec_collection(cmw_dec *d, json_t *j, int depth, attex_cmw **out)
{
    const char *at = cmw_path_at(&d->path);
    int ret;
    if ((ret = cmw_dec_depth(d, depth)) != ATTEX_OK)
        return ret;
    size_t n = json_object_size(j);
    if (n > d->max_entries && (ret = cmw_dec_collection_size(d, n - 1)) != ATTEX_OK)
        return ret;
    attex_cmw *c = cmw_node_new(ATTEX_CMW_COLLECTION, d->format);
    if (c == NULL)
        return cmw_nomem(d->err);
    const char *key;
    json_t *val;
    /* jansson keeps members in document order, which re-encoding preserves. */
    json_object_foreach(j, key, val) {
        size_t len = strlen(key); /* jansson rejects \u0000 without JSON_ALLOW_NUL */
        if (len == 8 && memcmp(key, "__cmwc_t", 8) == 0) {
            if (!json_is_string(val)) {
                ret = cmw_fail_decode(d->err,
                                      "CMW collection%s: \"__cmwc_t\" is a JSON %s; RFC 9999 s3.3 "
                                      "wants a string (an absolute URI or an OID)",
                                      at, json_kind(val));
                goto fail;
            }
            if ((ret = cmw_dec_ctype(d, json_string_value(val), json_string_length(val),
                                     &c->ctype)) != ATTEX_OK)
                goto fail;
            c->ctype_pos = c->num_entries;
            continue;
        }
        if ((ret = cmw_dec_label(d, key, len)) != ATTEX_OK ||
            (ret = cmw_dec_collection_size(d, c->num_entries + 1)) != ATTEX_OK)
            goto fail;
        char *text = malloc(len + 1);
        if (text == NULL) {
            ret = cmw_nomem(d->err);
            goto fail;
        }
        memcpy(text, key, len + 1);
        size_t mark = cmw_path_push_text(&d->path, key, len);
        attex_cmw *child = NULL;
        ret = jdec_node(d, val, depth, &child);
        cmw_path_pop(&d->path, mark);
        if (ret != ATTEX_OK) {
            free(text);
            goto fail;
        }
        if (!cmw_append(c, text, 0, child)) {
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
static int jdec_node(cmw_dec *d, json_t *j, int depth, attex_cmw **out)
{
    if (json_is_array(j))
        return jdec_record(d, j, out);
    if (json_is_object(j))
        return jdec_collection(d, j, depth + 1, out);
    return cmw_fail_decode(d->err,
                           "CMW%s: a JSON %s is not a CMW; RFC 9999 s3 wants an array (Record) or "
                           "an object (Collection)",
                           cmw_path_at(&d->path), json_kind(j));
}

/*
 * Pulls the token jansson cites as "... near '<token>'" out of its message
 * (it does so for short tokens only) and quotes it; a JSON string token
 * loses its own quotes, so a duplicate key "a" reads "a", escapes as written.
 */
static void near_token(const json_error_t *e, char *buf, size_t n)
{
    const char *p = strstr(e->text, "near '");
    buf[0] = '\0';
    if (p == NULL)
        return;
    p += 6;
    size_t len = strlen(p);
    if (len > 0 && p[len - 1] == '\'')
        len--;
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p++;
        len -= 2;
    }
    cmw_quote(buf, n, p, len);
}

int cmw_decode_json(cmw_dec *d, const uint8_t *in, size_t in_len, attex_cmw **out)
{
    json_error_t e;
    /*
     * JSON_REJECT_DUPLICATES: RFC 9999 s3.3 labels are unique (RFC 8259 s4
     * leaves duplicate names unspecified). The end-of-input check stays on:
     * only whitespace may follow the value.
     */
    json_t *root = json_loadb((const char *)in, in_len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        char tok[64];
        near_token(&e, tok, sizeof(tok));
        switch (json_error_code(&e)) {
        case json_error_duplicate_key:
            if (tok[0] != '\0')
                return cmw_fail_illegal(d->err,
                                        "CMW collection: duplicate label %s (JSON line %d, column "
                                        "%d)",
                                        tok, e.line, e.column);
            return cmw_fail_illegal(d->err, "CMW collection: duplicate label (JSON line %d, "
                                            "column %d)",
                                    e.line, e.column);
        case json_error_end_of_input_expected:
            return cmw_fail_decode(d->err,
                                   "CMW: trailing bytes after the JSON value (line %d, column %d)",
                                   e.line, e.column);
        case json_error_out_of_memory:
            return cmw_nomem(d->err);
        default:
            return cmw_fail_decode(d->err, "CMW: malformed JSON at line %d, column %d: %s",
                                   e.line, e.column, e.text);
        }
    }
    int ret = jdec_node(d, root, 0, out);
    json_decref(root);
    return ret;
}

/* ---- encoding -------------------------------------------------------------------- */

static int jenc_node(const attex_cmw *c, cmw_path *path, int depth, json_t **out,
                     attex_error *err)
{
    const char *at = cmw_path_at(path);
    if (depth > CMW_MAX_DEPTH_CAP)
        return cmw_fail_arg(err, "CMW%s: collections nest more than %d levels", at,
                            CMW_MAX_DEPTH_CAP);
    if (c->kind == ATTEX_CMW_TAG)
        return cmw_fail_arg(err,
                            "CMW tag%s cannot be written as JSON: Tag CMWs are CBOR-only (RFC "
                            "9999 s3.2)",
                            at);
    if (c->kind == ATTEX_CMW_RECORD) {
        if (c->media_type == NULL)
            return cmw_fail_arg(err,
                                "CMW record%s is typed by Content-Format %u, which JSON cannot "
                                "carry (RFC 9999 s3.1)",
                                at, c->cf);
        char *b64 = b64_encode(c->value, c->value_len, 1);
        json_t *a = json_array();
        if (b64 == NULL || a == NULL ||
            json_array_append_new(a, json_string(c->media_type)) != 0 ||
            json_array_append_new(a, json_string_nocheck(b64)) != 0 ||
            (c->ind != 0 && json_array_append_new(a, json_integer(c->ind)) != 0)) {
            free(b64);
            json_decref(a);
            return cmw_nomem(err);
        }
        free(b64);
        *out = a;
        return ATTEX_OK;
    }
    if (c->kind != ATTEX_CMW_COLLECTION)
        return cmw_fail_arg(err, "CMW%s: unknown node kind %d", at, (int)c->kind);
    if (c->num_entries == 0)
        return cmw_fail_arg(err,
                            "CMW collection%s has no entries; RFC 9999 s3.3 requires at least one",
                            at);
    json_t *o = json_object();
    if (o == NULL)
        return cmw_nomem(err);
    size_t pos = c->ctype_pos < c->num_entries ? c->ctype_pos : c->num_entries;
    int ret = ATTEX_OK;
    for (size_t i = 0; i <= c->num_entries; i++) {
        if (c->ctype != NULL && i == pos &&
            json_object_set_new(o, "__cmwc_t", json_string(c->ctype)) != 0) {
            ret = cmw_nomem(err);
            break;
        }
        if (i == c->num_entries)
            break;
        const cmw_entry *e = &c->entries[i];
        if (e->text == NULL) {
            ret = cmw_fail_arg(err,
                               "CMW collection%s has integer label %lld, which JSON cannot carry "
                               "(RFC 9999 s3.3)",
                               at, (long long)e->num);
            break;
        }
        size_t mark = cmw_path_push_text(path, e->text, strlen(e->text));
        json_t *child = NULL;
        ret = jenc_node(e->item, path, depth + 1, &child, err);
        cmw_path_pop(path, mark);
        if (ret != ATTEX_OK)
            break;
        if (json_object_set_new(o, e->text, child) != 0) {
            ret = cmw_nomem(err);
            break;
        }
    }
    if (ret != ATTEX_OK) {
        json_decref(o);
        return ret;
    }
    *out = o;
    return ATTEX_OK;
}

int cmw_encode_json(const attex_cmw *cmw, attex_buf *out, attex_error *err)
{
    cmw_path path;
    memset(&path, 0, sizeof(path));
    json_t *root = NULL;
    int ret = jenc_node(cmw, &path, 0, &root, err);
    if (ret != ATTEX_OK)
        return ret;
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (s == NULL)
        return cmw_nomem(err);
    attex_writer w;
    wr_init(&w, SIZE_MAX / 2);
    wr_bytes(&w, (const uint8_t *)s, strlen(s));
    free(s);
    if (!wr_finish(&w, out))
        return cmw_nomem(err);
    return ATTEX_OK;
}
