/*
 * attex: RATS Conceptual Message Wrappers (RFC 9999): the tree, its
 * constructors and accessors, the rules shared by both serialisations, and
 * the decode/encode entry points.
 */
#include "bytes.h"
#include "cmw_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- errors ---------------------------------------------------------------- */

static int vfail(attex_error *err, int code, uint8_t alert, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int vfail(attex_error *err, int code, uint8_t alert, const char *fmt, va_list ap)
{
    char msg[ATTEX_ERROR_MESSAGE_SIZE];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return attex_fail(err, code, alert, "%s", msg);
}

int cmw_fail_decode(attex_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = vfail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR, fmt, ap);
    va_end(ap);
    return ret;
}

int cmw_fail_illegal(attex_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = vfail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER, fmt, ap);
    va_end(ap);
    return ret;
}

int cmw_fail_arg(attex_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = vfail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE, fmt, ap);
    va_end(ap);
    return ret;
}

int cmw_nomem(attex_error *err)
{
    return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
}

/* ---- printable excerpts and paths ---------------------------------------- */

void cmw_quote(char *buf, size_t n, const char *s, size_t len)
{
    /* Labels and media types come from the peer: never copy control bytes into a message. */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (n < 8) {
        if (n)
            buf[0] = '\0';
        return;
    }
    buf[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[4];
        size_t t = 0;
        if (c == '"' || c == '\\') {
            tmp[t++] = '\\';
            tmp[t++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[t++] = (char)c;
        } else {
            tmp[t++] = '\\';
            tmp[t++] = 'x';
            tmp[t++] = hex[c >> 4];
            tmp[t++] = hex[c & 15];
        }
        /* Keep room for this piece, or for "..." and the closing quote. */
        if (o + t + 5 > n) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, tmp, t);
        o += t;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

static size_t path_append(cmw_path *p, const char *piece)
{
    size_t old = p->len;
    const char *lead = p->len == 0 ? " at " : "";
    size_t need = strlen(lead) + strlen(piece);
    if (p->len + need < sizeof(p->buf)) {
        snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", lead, piece);
        p->len += need;
    } else if (p->len + 4 < sizeof(p->buf) &&
               (p->len < 3 || strcmp(p->buf + p->len - 3, "...") != 0)) {
        memcpy(p->buf + p->len, "...", 4);
        p->len += 3;
    }
    return old;
}

size_t cmw_path_push_text(cmw_path *p, const char *s, size_t len)
{
    char q[48], piece[52];
    cmw_quote(q, sizeof(q), s, len);
    snprintf(piece, sizeof(piece), "[%s]", q);
    return path_append(p, piece);
}

size_t cmw_path_push_int(cmw_path *p, int64_t v)
{
    char piece[32];
    snprintf(piece, sizeof(piece), "[%lld]", (long long)v);
    return path_append(p, piece);
}

void cmw_path_pop(cmw_path *p, size_t old_len)
{
    if (old_len < sizeof(p->buf)) {
        p->len = old_len;
        p->buf[old_len] = '\0';
    }
}

const char *cmw_path_at(const cmw_path *p) { return p->len ? p->buf : ""; }

/* ---- syntax: media types (RFC 9193 s2 Content-Type / RFC 6838 s4.2) ------- */

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void describe_char(char *buf, size_t n, unsigned char c)
{
    if (c > 0x20 && c < 0x7f && c != '\'')
        snprintf(buf, n, "'%c'", c);
    else if (c == ' ')
        snprintf(buf, n, "a space");
    else
        snprintf(buf, n, "byte 0x%02x", c);
}

/* RFC 6838 s4.2 restricted-name-chars, including "." (facets) and "+" (suffixes). */
static int restricted_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$&-^_.+", c) != NULL);
}

/* RFC 9110 s5.6.2 tchar. */
static int tchar(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Reads a restricted-name at *i; `which` is "type" or "subtype". */
static int restricted_name(const char *s, size_t len, size_t *i, const char *which, char *why,
                           size_t why_len)
{
    size_t start = *i;
    char c[16];
    if (*i >= len) {
        snprintf(why, why_len, "the %s name is missing", which);
        return 0;
    }
    if (!is_alpha((unsigned char)s[*i]) && !is_digit((unsigned char)s[*i])) {
        describe_char(c, sizeof(c), (unsigned char)s[*i]);
        snprintf(why, why_len, "the %s name starts with %s, not a letter or digit", which, c);
        return 0;
    }
    while (*i < len && restricted_char((unsigned char)s[*i]))
        (*i)++;
    /* RFC 6838 s4.2: restricted-name-first *126restricted-name-chars. */
    if (*i - start > 127) {
        snprintf(why, why_len, "the %s name is %zu characters long, more than 127", which,
                 *i - start);
        return 0;
    }
    return 1;
}

int cmw_media_type_ok(const char *s, size_t len, char *why, size_t why_len)
{
    size_t i = 0;
    char c[16];
    if (len == 0) {
        snprintf(why, why_len, "it is empty");
        return 0;
    }
    if (!restricted_name(s, len, &i, "type", why, why_len))
        return 0;
    if (i == len) {
        snprintf(why, why_len, "it has no '/' between type and subtype");
        return 0;
    }
    if (s[i] != '/') {
        describe_char(c, sizeof(c), (unsigned char)s[i]);
        snprintf(why, why_len, "%s at offset %zu is not allowed in a type name", c, i);
        return 0;
    }
    i++;
    if (!restricted_name(s, len, &i, "subtype", why, why_len))
        return 0;
    /* RFC 9193 s2: Content-Type = Media-Type-Name *( *SP ";" *SP parameter ). */
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i == len) {
            snprintf(why, why_len, "it ends with a space");
            return 0;
        }
        if (s[i] != ';') {
            describe_char(c, sizeof(c), (unsigned char)s[i]);
            snprintf(why, why_len,
                     "%s at offset %zu is not allowed there (only ';' and a parameter may follow "
                     "the subtype)",
                     c, i);
            return 0;
        }
        i++;
        while (i < len && s[i] == ' ')
            i++;
        size_t name = i;
        while (i < len && tchar((unsigned char)s[i]))
            i++;
        if (i == name) {
            snprintf(why, why_len, "the parameter at offset %zu has no name", name);
            return 0;
        }
        if (i == len || s[i] != '=') {
            snprintf(why, why_len, "the parameter at offset %zu has no '=' and value", name);
            return 0;
        }
        i++;
        if (i < len && s[i] == '"') {
            /* qdtext = SP / %x21 / %x23-5B / %x5D-7E; quoted-pair = "\" (SP / VCHAR). */
            size_t open = i++;
            for (;;) {
                if (i == len) {
                    snprintf(why, why_len, "the quoted string at offset %zu is not closed", open);
                    return 0;
                }
                unsigned char q = (unsigned char)s[i];
                if (q == '"') {
                    i++;
                    break;
                }
                if (q == '\\') {
                    if (i + 1 == len || (unsigned char)s[i + 1] < 0x20 ||
                        (unsigned char)s[i + 1] > 0x7e) {
                        snprintf(why, why_len, "the backslash at offset %zu escapes nothing valid",
                                 i);
                        return 0;
                    }
                    i += 2;
                    continue;
                }
                if (q < 0x20 || q > 0x7e) {
                    describe_char(c, sizeof(c), q);
                    snprintf(why, why_len, "%s at offset %zu is not allowed in a quoted string", c,
                             i);
                    return 0;
                }
                i++;
            }
        } else {
            size_t value = i;
            while (i < len && tchar((unsigned char)s[i]))
                i++;
            if (i == value) {
                snprintf(why, why_len, "the parameter at offset %zu has an empty or invalid value",
                         name);
                return 0;
            }
        }
    }
    return 1;
}

/* ---- syntax: "__cmwc_t" (RFC 9999 s3.3: absolute URI or dotted-decimal OID) ---- */

static int oid_ok(const char *s, size_t len, char *why, size_t why_len)
{
    /* RFC 9999 oid = text .regexp "([0-2])((\.0)|(\.[1-9][0-9]*))*" */
    if (s[0] > '2') {
        snprintf(why, why_len, "an OID's first arc must be 0, 1 or 2");
        return 0;
    }
    size_t i = 1;
    while (i < len) {
        if (s[i] != '.' || i + 1 == len || !is_digit((unsigned char)s[i + 1])) {
            snprintf(why, why_len,
                     "it is not a dotted-decimal OID: arcs are decimal numbers separated by single "
                     "dots (offset %zu)",
                     i);
            return 0;
        }
        i++;
        size_t arc = i;
        while (i < len && is_digit((unsigned char)s[i]))
            i++;
        if (s[arc] == '0' && i - arc > 1) {
            snprintf(why, why_len, "the OID arc at offset %zu has a leading zero", arc);
            return 0;
        }
    }
    return 1;
}

/* RFC 3986 s2.2-2.3: unreserved / sub-delims. */
static int uri_plain(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL);
}

static int uri_ok(const char *s, size_t len, char *why, size_t why_len)
{
    char c[16];
    size_t i = 0;
    /* RFC 3986 s3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
    if (!is_alpha((unsigned char)s[0])) {
        describe_char(c, sizeof(c), (unsigned char)s[0]);
        snprintf(why, why_len,
                 "it starts with %s: it is neither a dotted-decimal OID nor an absolute URI", c);
        return 0;
    }
    while (i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
                       s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i == len || s[i] != ':') {
        snprintf(why, why_len, "it is not an absolute URI: there is no ':' after the scheme");
        return 0;
    }
    i++;
    /* RFC 3986 s4.3: absolute-URI = scheme ":" hier-part [ "?" query ] */
    int in_authority = 0, in_query = 0;
    if (len - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        in_authority = 1;
        i += 2;
    }
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '#') {
            snprintf(why, why_len,
                     "it has a fragment ('#' at offset %zu): RFC 9999 s3.3 wants the absolute "
                     "form (RFC 3986 s4.3), which has none",
                     i);
            return 0;
        }
        if (ch == '%') {
            if (len - i < 3 || !is_hex((unsigned char)s[i + 1]) ||
                !is_hex((unsigned char)s[i + 2])) {
                snprintf(why, why_len, "the '%%' at offset %zu is not followed by two hex digits",
                         i);
                return 0;
            }
            i += 2;
            continue;
        }
        if (ch == '/' || ch == '?') {
            in_authority = 0;
            if (ch == '?')
                in_query = 1;
            continue;
        }
        if (uri_plain(ch) || ch == ':' || ch == '@')
            continue;
        /* '[' and ']' only delimit an IP-literal host (RFC 3986 s3.2.2). */
        if ((ch == '[' || ch == ']') && in_authority)
            continue;
        describe_char(c, sizeof(c), ch);
        snprintf(why, why_len, "%s at offset %zu is not allowed in a URI %s", c, i,
                 in_query ? "query" : in_authority ? "authority" : "path");
        return 0;
    }
    return 1;
}

int cmw_ctype_ok(const char *s, size_t len, char *why, size_t why_len)
{
    if (len == 0) {
        snprintf(why, why_len, "it is empty");
        return 0;
    }
    /* A URI scheme starts with a letter, an OID with a digit: the first byte decides. */
    if (is_digit((unsigned char)s[0]))
        return oid_ok(s, len, why, why_len);
    return uri_ok(s, len, why, why_len);
}

/* ---- syntax: labels (RFC 9999 text-label: RFC 9839 Unicode Assignables) ---- */

/* RFC 9839 s4.3: scalars minus controls other than HT/LF/CR, minus noncharacters. */
static int assignable(uint32_t cp)
{
    if (cp == 0x9 || cp == 0xa || cp == 0xd)
        return 1;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    if (cp >= 0xfdd0 && cp <= 0xfdef)
        return 0;
    if ((cp & 0xfffe) == 0xfffe)
        return 0;
    return cp <= 0x10ffff;
}

int cmw_label_ok(const char *s, size_t len, char *why, size_t why_len)
{
    if (len == 0) {
        snprintf(why, why_len, "it is empty");
        return 0;
    }
    /* RFC 9999 s3.3: "__cmwc_t" MUST NOT be used for anything but the collection type. */
    if (len == 8 && memcmp(s, "__cmwc_t", 8) == 0) {
        snprintf(why, why_len, "\"__cmwc_t\" is reserved for the collection type");
        return 0;
    }
    attex_reader r;
    rd_init(&r, (const uint8_t *)s, len);
    while (!rd_done(&r)) {
        size_t at = len - rd_len(&r);
        uint32_t cp;
        if (!rd_utf8(&r, &cp)) {
            snprintf(why, why_len, "it is not valid UTF-8 (offset %zu)", at);
            return 0;
        }
        if (!assignable(cp)) {
            snprintf(why, why_len,
                     "U+%04X at offset %zu is not a Unicode Assignable (RFC 9839 s4.3: no "
                     "controls but HT/LF/CR, no noncharacters)",
                     (unsigned)cp, at);
            return 0;
        }
    }
    return 1;
}

/* ---- TN() (RFC 9277 App. B) ---------------------------------------------- */

uint64_t attex_cmw_tn(uint16_t cf)
{
    if (cf > CMW_CF_TN_MAX)
        return 0;
    return (uint64_t)CMW_TN_BASE + (uint64_t)(cf / 255) * 256 + cf % 255;
}

int cmw_cf_from_tn(uint64_t tn, uint16_t *cf)
{
    if (tn < CMW_TN_BASE || tn > CMW_TN_LAST)
        return 0;
    uint64_t x = tn - CMW_TN_BASE;
    /* RFC 9277 App. B: TN() never produces a tag with low byte 255 above the base. */
    if (x % 256 == 255)
        return 0;
    *cf = (uint16_t)(x - x / 256);
    return 1;
}

/* ---- the tree ---------------------------------------------------------------- */

attex_cmw *cmw_node_new(attex_cmw_kind kind, int format)
{
    attex_cmw *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->kind = kind;
        c->format = format;
        /* A collection is one level of nesting even before it has members. */
        c->height = kind == ATTEX_CMW_COLLECTION ? 1 : 0;
    }
    return c;
}

int cmw_append(attex_cmw *coll, char *text, int64_t num, attex_cmw *item)
{
    if (coll->num_entries == coll->cap_entries) {
        size_t cap = coll->cap_entries ? coll->cap_entries * 2 : 4;
        cmw_entry *e = realloc(coll->entries, cap * sizeof(*e));
        if (e == NULL)
            return 0;
        coll->entries = e;
        coll->cap_entries = cap;
    }
    cmw_entry *e = &coll->entries[coll->num_entries++];
    e->text = text;
    e->num = text ? 0 : num;
    e->item = item;
    item->parent = coll;
    /* Heights only grow: propagate towards the root while they change. */
    int h = item->height + 1;
    for (attex_cmw *n = coll; n != NULL && n->height < h; n = n->parent, h++)
        n->height = h;
    return 1;
}

void attex_cmw_free(attex_cmw *cmw)
{
    if (cmw == NULL)
        return;
    /* Recursion depth is the tree's height, which CMW_MAX_DEPTH_CAP bounds. */
    for (size_t i = 0; i < cmw->num_entries; i++) {
        free(cmw->entries[i].text);
        attex_cmw_free(cmw->entries[i].item);
    }
    free(cmw->entries);
    free(cmw->media_type);
    free(cmw->value);
    free(cmw->ctype);
    free(cmw);
}

static char *dup_text(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        if (len)
            memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static attex_cmw *leaf_new(attex_cmw_kind kind, const uint8_t *value, size_t value_len,
                           const char *who, attex_error *err)
{
    /* RFC 9999 s3.1: a JSON value is a base64url-string (1+ chars); attex asks the same of CBOR. */
    if (value == NULL || value_len == 0) {
        cmw_fail_arg(err, "%s: the value is empty: a CMW %s carries at least one byte", who,
                     kind == ATTEX_CMW_TAG ? "tag" : "record");
        return NULL;
    }
    attex_cmw *c = cmw_node_new(kind, 0);
    if (c == NULL || (c->value = malloc(value_len)) == NULL) {
        free(c);
        cmw_nomem(err);
        return NULL;
    }
    memcpy(c->value, value, value_len);
    c->value_len = value_len;
    return c;
}

static int ind_ok(uint32_t ind, const char *who, attex_error *err)
{
    if ((ind & ~CMW_IND_REGISTERED) != 0)
        return cmw_fail_arg(err,
                            "%s: ind 0x%x sets bits beyond the five registered ones (0x1f); "
                            "RFC 9999 s3.1 currently allows 1 to 31",
                            who, (unsigned)ind);
    return ATTEX_OK;
}

attex_cmw *attex_cmw_record_new(const char *media_type, const uint8_t *value, size_t value_len,
                                uint32_t ind, attex_error *err)
{
    static const char who[] = "attex_cmw_record_new";
    char why[160], q[64];
    if (media_type == NULL) {
        cmw_fail_arg(err, "%s: the media type is NULL", who);
        return NULL;
    }
    if (!cmw_media_type_ok(media_type, strlen(media_type), why, sizeof(why))) {
        cmw_quote(q, sizeof(q), media_type, strlen(media_type));
        cmw_fail_arg(err, "%s: media type %s is not an RFC 9193 Content-Type: %s", who, q, why);
        return NULL;
    }
    if (ind_ok(ind, who, err) != ATTEX_OK)
        return NULL;
    attex_cmw *c = leaf_new(ATTEX_CMW_RECORD, value, value_len, who, err);
    if (c == NULL)
        return NULL;
    if ((c->media_type = dup_text(media_type, strlen(media_type))) == NULL) {
        attex_cmw_free(c);
        cmw_nomem(err);
        return NULL;
    }
    c->ind = ind;
    return c;
}

attex_cmw *attex_cmw_record_new_cf(uint16_t cf, const uint8_t *value, size_t value_len,
                                   uint32_t ind, attex_error *err)
{
    static const char who[] = "attex_cmw_record_new_cf";
    if (ind_ok(ind, who, err) != ATTEX_OK)
        return NULL;
    attex_cmw *c = leaf_new(ATTEX_CMW_RECORD, value, value_len, who, err);
    if (c == NULL)
        return NULL;
    c->has_cf = 1;
    c->cf = cf;
    c->ind = ind;
    return c;
}

attex_cmw *attex_cmw_tag_new(uint16_t cf, const uint8_t *value, size_t value_len,
                             attex_error *err)
{
    static const char who[] = "attex_cmw_tag_new";
    if (cf > CMW_CF_TN_MAX) {
        cmw_fail_arg(err, "%s: Content-Format %u has no TN() tag (RFC 9277 App. B: at most %u)",
                     who, cf, CMW_CF_TN_MAX);
        return NULL;
    }
    attex_cmw *c = leaf_new(ATTEX_CMW_TAG, value, value_len, who, err);
    if (c == NULL)
        return NULL;
    c->has_cf = 1;
    c->cf = cf;
    return c;
}

attex_cmw *attex_cmw_collection_new(const char *ctype, attex_error *err)
{
    char why[160], q[64];
    if (ctype != NULL && !cmw_ctype_ok(ctype, strlen(ctype), why, sizeof(why))) {
        cmw_quote(q, sizeof(q), ctype, strlen(ctype));
        cmw_fail_arg(err, "attex_cmw_collection_new: \"__cmwc_t\" %s is not valid: %s", q, why);
        return NULL;
    }
    attex_cmw *c = cmw_node_new(ATTEX_CMW_COLLECTION, 0);
    if (c == NULL || (ctype != NULL && (c->ctype = dup_text(ctype, strlen(ctype))) == NULL)) {
        free(c);
        cmw_nomem(err);
        return NULL;
    }
    return c;
}

/* Shared by both add functions: is_text says which label kind; text may be NULL (misuse). */
static int collection_add(attex_cmw *coll, int is_text, const char *text, int64_t num,
                          attex_cmw *item, attex_error *err)
{
    static const char who[] = "attex_cmw_collection_add";
    char why[160], q[64];
    if (item == NULL)
        return cmw_fail_arg(err, "%s: the item is NULL", who);
    /*
     * Ownership passes even on failure, except when the item is already part
     * of a tree (or is the target's ancestor): freeing it then would free
     * memory that its owner, or the target itself, still uses.
     */
    if (item->parent != NULL)
        return cmw_fail_arg(err, "%s: the item already belongs to a collection", who);
    for (const attex_cmw *a = coll; a != NULL; a = a->parent)
        if (a == item)
            return cmw_fail_arg(err,
                                "%s: adding a collection to itself or to one of its members "
                                "would make a cycle",
                                who);
    int ret;
    if (coll == NULL || coll->kind != ATTEX_CMW_COLLECTION) {
        ret = cmw_fail_arg(err, "%s: the target is not a collection", who);
        goto fail;
    }
    if (is_text && text == NULL) {
        ret = cmw_fail_arg(err, "%s: the label is NULL", who);
        goto fail;
    }
    if (is_text && !cmw_label_ok(text, strlen(text), why, sizeof(why))) {
        cmw_quote(q, sizeof(q), text, strlen(text));
        ret = cmw_fail_arg(err, "%s: label %s is not valid: %s", who, q, why);
        goto fail;
    }
    /* RFC 9999 s3.3: each label is unique within its collection. */
    for (size_t i = 0; i < coll->num_entries; i++) {
        const cmw_entry *e = &coll->entries[i];
        if (is_text ? (e->text != NULL && strcmp(e->text, text) == 0)
                    : (e->text == NULL && e->num == num)) {
            if (is_text) {
                cmw_quote(q, sizeof(q), text, strlen(text));
                ret = cmw_fail_arg(err, "CMW collection: duplicate label %s", q);
            } else {
                ret = cmw_fail_arg(err, "CMW collection: duplicate label %lld", (long long)num);
            }
            goto fail;
        }
    }
    int above = 0;
    for (const attex_cmw *a = coll->parent; a != NULL; a = a->parent)
        above++;
    if (above + 1 + item->height > CMW_MAX_DEPTH_CAP) {
        ret = cmw_fail_arg(err, "%s: collections would nest more than %d levels deep", who,
                           CMW_MAX_DEPTH_CAP);
        goto fail;
    }
    char *label = NULL;
    if (is_text && (label = dup_text(text, strlen(text))) == NULL) {
        ret = cmw_nomem(err);
        goto fail;
    }
    if (!cmw_append(coll, label, num, item)) {
        free(label);
        ret = cmw_nomem(err);
        goto fail;
    }
    return ATTEX_OK;
fail:
    attex_cmw_free(item);
    return ret;
}

int attex_cmw_collection_add(attex_cmw *collection, const char *label, attex_cmw *item,
                             attex_error *err)
{
    return collection_add(collection, 1, label, 0, item, err);
}

int attex_cmw_collection_add_int(attex_cmw *collection, int64_t label, attex_cmw *item,
                                 attex_error *err)
{
    return collection_add(collection, 0, NULL, label, item, err);
}

/* ---- accessors ------------------------------------------------------------- */

attex_cmw_kind attex_cmw_kind_of(const attex_cmw *cmw)
{
    return cmw != NULL ? cmw->kind : (attex_cmw_kind)0;
}

int attex_cmw_decoded_format(const attex_cmw *cmw) { return cmw != NULL ? cmw->format : 0; }

const char *attex_cmw_media_type(const attex_cmw *cmw)
{
    return cmw != NULL && cmw->kind == ATTEX_CMW_RECORD ? cmw->media_type : NULL;
}

int attex_cmw_content_format(const attex_cmw *cmw, uint16_t *out)
{
    if (cmw == NULL || cmw->kind == ATTEX_CMW_COLLECTION || !cmw->has_cf)
        return 0;
    if (out != NULL)
        *out = cmw->cf;
    return 1;
}

const uint8_t *attex_cmw_value(const attex_cmw *cmw, size_t *out_len)
{
    if (cmw == NULL || cmw->kind == ATTEX_CMW_COLLECTION) {
        if (out_len != NULL)
            *out_len = 0;
        return NULL;
    }
    if (out_len != NULL)
        *out_len = cmw->value_len;
    return cmw->value;
}

uint32_t attex_cmw_ind(const attex_cmw *cmw)
{
    return cmw != NULL && cmw->kind == ATTEX_CMW_RECORD ? cmw->ind : 0;
}

const char *attex_cmw_collection_type(const attex_cmw *cmw)
{
    return cmw != NULL && cmw->kind == ATTEX_CMW_COLLECTION ? cmw->ctype : NULL;
}

size_t attex_cmw_collection_size(const attex_cmw *cmw)
{
    return cmw != NULL && cmw->kind == ATTEX_CMW_COLLECTION ? cmw->num_entries : 0;
}

const attex_cmw *attex_cmw_collection_entry(const attex_cmw *cmw, size_t i,
                                            const char **text_label, int64_t *int_label)
{
    if (text_label != NULL)
        *text_label = NULL;
    if (int_label != NULL)
        *int_label = 0;
    if (cmw == NULL || cmw->kind != ATTEX_CMW_COLLECTION || i >= cmw->num_entries)
        return NULL;
    const cmw_entry *e = &cmw->entries[i];
    if (text_label != NULL)
        *text_label = e->text;
    if (int_label != NULL && e->text == NULL)
        *int_label = e->num;
    return e->item;
}

/* ---- checks shared by the decoders ----------------------------------------- */

int cmw_dec_media_type(cmw_dec *d, const char *s, size_t len, char **out)
{
    char why[160], q[64];
    if (!cmw_media_type_ok(s, len, why, sizeof(why))) {
        cmw_quote(q, sizeof(q), s, len);
        /* RFC 9999 s3.1: type is a Content-Type (RFC 9193 s2 ABNF). */
        return cmw_fail_illegal(d->err, "CMW record%s: type %s is not a media type: %s",
                                cmw_path_at(&d->path), q, why);
    }
    if ((*out = dup_text(s, len)) == NULL)
        return cmw_nomem(d->err);
    return ATTEX_OK;
}

int cmw_dec_content_format(cmw_dec *d, uint64_t cf, uint16_t *out)
{
    /* RFC 9999 s3.1: coap-content-format-type = uint .size 2. */
    if (cf > 0xffff)
        return cmw_fail_illegal(d->err,
                                "CMW record%s: type %llu is not a CoAP Content-Format (at most "
                                "65535)",
                                cmw_path_at(&d->path), (unsigned long long)cf);
    *out = (uint16_t)cf;
    return ATTEX_OK;
}

int cmw_dec_ind(cmw_dec *d, uint64_t ind, uint32_t *out)
{
    /* RFC 9999 s3.1: "The value MUST be non-zero"; absence is said by omitting ind. */
    if (ind == 0)
        return cmw_fail_illegal(d->err,
                                "CMW record%s: ind is 0; RFC 9999 s3.1 requires a non-zero ind "
                                "(omit it to say nothing)",
                                cmw_path_at(&d->path));
    /* RFC 9999 s3.1: "a bitmap with a maximum size of 4 bytes". */
    if (ind > 0xffffffffu)
        return cmw_fail_illegal(d->err, "CMW record%s: ind %llu does not fit in 4 bytes",
                                cmw_path_at(&d->path), (unsigned long long)ind);
    /*
     * RFC 9999 s3.1: "Only five bits are registered ... the acceptable values
     * are currently limited to 1 to 31" (ind is uint .bits cm-type).
     */
    if ((ind & ~(uint64_t)CMW_IND_REGISTERED) != 0)
        return cmw_fail_illegal(d->err,
                                "CMW record%s: ind 0x%llx sets bits beyond the five registered "
                                "ones (0x1f); RFC 9999 s3.1 currently allows 1 to 31",
                                cmw_path_at(&d->path), (unsigned long long)ind);
    *out = (uint32_t)ind;
    return ATTEX_OK;
}

int cmw_dec_value_len(cmw_dec *d, const char *what, size_t len)
{
    if (len == 0)
        return cmw_fail_illegal(d->err,
                                "CMW %s%s: the value is empty; a conceptual message has at least "
                                "one byte",
                                what, cmw_path_at(&d->path));
    return ATTEX_OK;
}

int cmw_dec_ctype(cmw_dec *d, const char *s, size_t len, char **out)
{
    char why[200], q[64];
    if (!cmw_ctype_ok(s, len, why, sizeof(why))) {
        cmw_quote(q, sizeof(q), s, len);
        return cmw_fail_illegal(d->err,
                                "CMW collection%s: \"__cmwc_t\" %s is not an absolute URI or a "
                                "dotted-decimal OID: %s",
                                cmw_path_at(&d->path), q, why);
    }
    if ((*out = dup_text(s, len)) == NULL)
        return cmw_nomem(d->err);
    return ATTEX_OK;
}

int cmw_dec_label(cmw_dec *d, const char *s, size_t len)
{
    char why[160], q[64];
    if (!cmw_label_ok(s, len, why, sizeof(why))) {
        cmw_quote(q, sizeof(q), s, len);
        return cmw_fail_illegal(d->err, "CMW collection%s: label %s is not valid: %s",
                                cmw_path_at(&d->path), q, why);
    }
    return ATTEX_OK;
}

int cmw_dec_collection_size(cmw_dec *d, size_t entries)
{
    if (entries > d->max_entries)
        return cmw_fail_decode(d->err, "CMW collection%s has more than %zu entries (the limit)",
                               cmw_path_at(&d->path), d->max_entries);
    return ATTEX_OK;
}

int cmw_dec_depth(cmw_dec *d, int depth)
{
    /* RFC 9999 s3.3: "implementations MAY limit the allowed depth of nesting". */
    if (depth > d->max_depth)
        return cmw_fail_decode(d->err,
                               "CMW collection%s is nested %d levels deep, more than the limit "
                               "of %d",
                               cmw_path_at(&d->path), depth, d->max_depth);
    return ATTEX_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    const cmw_entry *x = *(const cmw_entry *const *)a;
    const cmw_entry *y = *(const cmw_entry *const *)b;
    if ((x->text == NULL) != (y->text == NULL))
        return x->text == NULL ? -1 : 1;
    if (x->text == NULL)
        return (x->num > y->num) - (x->num < y->num);
    return strcmp(x->text, y->text);
}

int cmw_dec_finish_collection(cmw_dec *d, const attex_cmw *coll)
{
    /* RFC 9999 s3.3: "A Collection MUST have at least one CMW entry." */
    if (coll->num_entries == 0)
        return cmw_fail_illegal(d->err,
                                "CMW collection%s has no entries; RFC 9999 s3.3 requires at least "
                                "one besides \"__cmwc_t\"",
                                cmw_path_at(&d->path));
    if (coll->num_entries == 1)
        return ATTEX_OK;
    /* RFC 9999 s3.3: labels are unique. Sorting keeps this O(n log n) for large limits. */
    const cmw_entry **v = malloc(coll->num_entries * sizeof(*v));
    if (v == NULL)
        return cmw_nomem(d->err);
    for (size_t i = 0; i < coll->num_entries; i++)
        v[i] = &coll->entries[i];
    qsort(v, coll->num_entries, sizeof(*v), entry_cmp);
    int ret = ATTEX_OK;
    for (size_t i = 1; i < coll->num_entries; i++) {
        if (entry_cmp(&v[i - 1], &v[i]) != 0)
            continue;
        if (v[i]->text != NULL) {
            char q[64];
            cmw_quote(q, sizeof(q), v[i]->text, strlen(v[i]->text));
            ret = cmw_fail_illegal(d->err, "CMW collection%s: duplicate label %s",
                                   cmw_path_at(&d->path), q);
        } else {
            ret = cmw_fail_illegal(d->err, "CMW collection%s: duplicate label %lld",
                                   cmw_path_at(&d->path), (long long)v[i]->num);
        }
        break;
    }
    free(v);
    return ret;
}

/* ---- entry points ------------------------------------------------------------ */

int attex_cmw_decode(const uint8_t *in, size_t in_len, const attex_cmw_limits *limits,
                     attex_cmw **out, attex_error *err)
{
    if (out == NULL)
        return cmw_fail_arg(err, "attex_cmw_decode: out is NULL");
    *out = NULL;
    if (in == NULL && in_len != 0)
        return cmw_fail_arg(err, "attex_cmw_decode: the input is NULL");
    cmw_dec d;
    memset(&d, 0, sizeof(d));
    d.err = err;
    d.max_size = CMW_DEFAULT_MAX_SIZE;
    d.max_depth = CMW_DEFAULT_MAX_DEPTH;
    d.max_entries = CMW_DEFAULT_MAX_ENTRIES;
    if (limits != NULL) {
        if (limits->max_depth < 0 || limits->max_depth > CMW_MAX_DEPTH_CAP)
            return cmw_fail_arg(err, "attex_cmw_decode: max_depth %d is outside 0..%d",
                                limits->max_depth, CMW_MAX_DEPTH_CAP);
        if (limits->max_size != 0)
            d.max_size = limits->max_size;
        if (limits->max_depth != 0)
            d.max_depth = limits->max_depth;
        if (limits->max_entries != 0)
            d.max_entries = limits->max_entries;
    }
    if (in_len == 0)
        return cmw_fail_decode(err, "CMW: the input is empty");
    if (in_len > d.max_size)
        return cmw_fail_decode(err, "CMW: the input is %zu bytes, more than the %zu-byte limit",
                               in_len, d.max_size);
    /*
     * RFC 9999 s3.5: one byte of look-ahead tells the serialisations apart.
     * CBOR: arrays 0x80-0x9f (Record), maps 0xa0-0xbf (Collection), tags
     * 0xc0-0xdb (Tag); other lengths and reserved values get a precise
     * error from the CBOR decoder. JSON: '[' (Record) or '{' (Collection).
     */
    uint8_t b = in[0];
    if (b >= 0x80 && b <= 0xdb) {
        d.format = ATTEX_CMW_CBOR;
        return cmw_decode_cbor(&d, in, in_len, out);
    }
    if (b == '[' || b == '{') {
        d.format = ATTEX_CMW_JSON;
        return cmw_decode_json(&d, in, in_len, out);
    }
    return cmw_fail_decode(err,
                           "CMW: first byte 0x%02x starts neither a CBOR CMW (array, map or tag) "
                           "nor a JSON CMW ('[' or '{') (RFC 9999 s3.5)",
                           b);
}

int attex_cmw_encode(const attex_cmw *cmw, attex_cmw_format format, attex_buf *out,
                     attex_error *err)
{
    if (out == NULL)
        return cmw_fail_arg(err, "attex_cmw_encode: out is NULL");
    if (cmw == NULL)
        return cmw_fail_arg(err, "attex_cmw_encode: the CMW is NULL");
    if (format == ATTEX_CMW_CBOR)
        return cmw_encode_cbor(cmw, out, err);
    if (format == ATTEX_CMW_JSON)
        return cmw_encode_json(cmw, out, err);
    return cmw_fail_arg(err, "attex_cmw_encode: unknown format %d", (int)format);
}
