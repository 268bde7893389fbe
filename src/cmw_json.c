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

#include "bytes.h"
#include "internal.h"

/* ---- base64url (RFC 4648 s5, no padding) ----------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static int b64url_decode(cmw_dec *d, const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    const char *at = cmw_path_at(&d->path);
    int ret;
    /* RFC 9999 s3.1: base64url-string = text .regexp "[A-Za-z0-9_-]+". */
    if ((ret = cmw_dec_value_len(d, "record", len)) != ATTEX_OK)
        return ret;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (b64url_digit(c) >= 0)
            continue;
        if (c == '=')
            return cmw_fail_decode(d->err,
                                   "CMW record%s: the value has base64 padding ('=' at offset "
                                   "%zu); RFC 9999 s3.1 requires base64url without padding",
                                   at, i);
        if (c == '+' || c == '/')
            return cmw_fail_decode(d->err,
                                   "CMW record%s: the value has '%c' at offset %zu, from the "
                                   "standard base64 alphabet; RFC 9999 s3.1 requires base64url "
                                   "('-' and '_')",
                                   at, c, i);
        if (c > 0x20 && c < 0x7f)
            return cmw_fail_decode(d->err,
                                   "CMW record%s: the value has '%c' at offset %zu, which is not "
                                   "a base64url character",
                                   at, c, i);
        return cmw_fail_decode(d->err,
                               "CMW record%s: the value has byte 0x%02x at offset %zu, which is "
                               "not a base64url character",
                               at, c, i);
    }
    /* RFC 4648 s5: unpadded groups are 4, 2 or 3 characters; a lone character encodes nothing. */
    if (len % 4 == 1)
        return cmw_fail_decode(d->err,
                               "CMW record%s: the value is %zu base64url characters long; no "
                               "byte string has an unpadded encoding of length 4n+1",
                               at, len);
    /* RFC 4648 s3.5: the bits below the last whole byte are zero in the one canonical spelling. */
    int last = b64url_digit((unsigned char)s[len - 1]);
    if ((len % 4 == 2 && (last & 0x0f) != 0) || (len % 4 == 3 && (last & 0x03) != 0))
        return cmw_fail_decode(d->err,
                               "CMW record%s: the value's last character '%c' has non-zero "
                               "unused bits (non-canonical base64url, RFC 4648 s3.5)",
                               at, s[len - 1]);
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    uint8_t *p = malloc(n);
    if (p == NULL)
        return cmw_nomem(d->err);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 6) | (uint32_t)b64url_digit((unsigned char)s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = p;
    *out_len = o;
    return ATTEX_OK;
}

static char *b64url_encode(const uint8_t *p, size_t n)
{
    size_t len = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        s[o++] = b64url_alphabet[v >> 18];
        s[o++] = b64url_alphabet[(v >> 12) & 63];
        s[o++] = b64url_alphabet[(v >> 6) & 63];
        s[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        s[o++] = b64url_alphabet[v >> 18];
        s[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        s[o++] = b64url_alphabet[v >> 18];
        s[o++] = b64url_alphabet[(v >> 12) & 63];
        s[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    s[o] = '\0';
    return s;
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
        (ret = b64url_decode(d, json_string_value(value), json_string_length(value), &c->value,
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
        char *b64 = b64url_encode(c->value, c->value_len);
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
