/*
 * attex internal: bounds-checked reader and growable writer.
 */
#include "bytes.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void rd_init(attex_reader *r, const uint8_t *data, size_t len)
{
    r->data = len ? data : NULL;
    r->len = data ? len : 0;
}

size_t rd_len(const attex_reader *r) { return r->len; }

const uint8_t *rd_ptr(const attex_reader *r) { return r->data; }

int rd_done(const attex_reader *r) { return r->len == 0; }

int rd_skip(attex_reader *r, size_t n)
{
    if (r->len < n)
        return 0;
    r->data = (n == r->len) ? NULL : r->data + n;
    r->len -= n;
    return 1;
}

int rd_sub(attex_reader *r, size_t n, attex_reader *out)
{
    if (r->len < n)
        return 0;
    out->data = n ? r->data : NULL;
    out->len = n;
    return rd_skip(r, n);
}

int rd_copy(attex_reader *r, uint8_t *out, size_t n)
{
    if (r->len < n)
        return 0;
    if (n)
        memcpy(out, r->data, n);
    return rd_skip(r, n);
}

static int rd_uint(attex_reader *r, int nbytes, uint32_t *out)
{
    uint32_t v = 0;
    if (r->len < (size_t)nbytes)
        return 0;
    for (int i = 0; i < nbytes; i++)
        v = (v << 8) | r->data[i];
    *out = v;
    return rd_skip(r, (size_t)nbytes);
}

int rd_u8(attex_reader *r, uint8_t *out)
{
    uint32_t v;
    if (!rd_uint(r, 1, &v))
        return 0;
    *out = (uint8_t)v;
    return 1;
}

int rd_u16(attex_reader *r, uint16_t *out)
{
    uint32_t v;
    if (!rd_uint(r, 2, &v))
        return 0;
    *out = (uint16_t)v;
    return 1;
}

int rd_u24(attex_reader *r, uint32_t *out) { return rd_uint(r, 3, out); }

int rd_u32(attex_reader *r, uint32_t *out) { return rd_uint(r, 4, out); }

/* Evidence formats disagree on byte order: TPM structures are big-endian,
 * TDX quotes and SNP reports little-endian. One reader serves both. */
static int rd_uint64(attex_reader *r, int nbytes, int little, uint64_t *out)
{
    uint64_t v = 0;
    if (r->len < (size_t)nbytes)
        return 0;
    for (int i = 0; i < nbytes; i++) {
        uint8_t b = r->data[little ? nbytes - 1 - i : i];
        v = (v << 8) | b;
    }
    *out = v;
    return rd_skip(r, (size_t)nbytes);
}

int rd_u64(attex_reader *r, uint64_t *out) { return rd_uint64(r, 8, 0, out); }

int rd_u16le(attex_reader *r, uint16_t *out)
{
    uint64_t v;
    if (!rd_uint64(r, 2, 1, &v))
        return 0;
    *out = (uint16_t)v;
    return 1;
}

int rd_u32le(attex_reader *r, uint32_t *out)
{
    uint64_t v;
    if (!rd_uint64(r, 4, 1, &v))
        return 0;
    *out = (uint32_t)v;
    return 1;
}

int rd_u64le(attex_reader *r, uint64_t *out) { return rd_uint64(r, 8, 1, out); }

int rd_peek_u8(const attex_reader *r, uint8_t *out)
{
    if (r->len < 1)
        return 0;
    *out = r->data[0];
    return 1;
}

static int rd_prefixed(attex_reader *r, int nbytes, attex_reader *out)
{
    attex_reader save = *r;
    uint32_t n;
    if (!rd_uint(r, nbytes, &n) || !rd_sub(r, n, out)) {
        *r = save;
        return 0;
    }
    return 1;
}

int rd_prefixed8(attex_reader *r, attex_reader *out) { return rd_prefixed(r, 1, out); }
int rd_prefixed16(attex_reader *r, attex_reader *out) { return rd_prefixed(r, 2, out); }
int rd_prefixed24(attex_reader *r, attex_reader *out) { return rd_prefixed(r, 3, out); }

/* ---------------------------------------------------------------------- */

void wr_init(attex_writer *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
}

int wr_ok(const attex_writer *w) { return !w->failed; }

static uint8_t *wr_reserve(attex_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > w->max || w->len > w->max - n) {
        w->failed = 1;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *p = malloc(cap);
        if (p == NULL) {
            w->failed = 1;
            return NULL;
        }
        if (w->len)
            memcpy(p, w->data, w->len);
        /* The old buffer may hold secrets (transcripts): wipe before release. */
        if (w->data) {
            OPENSSL_cleanse(w->data, w->cap);
            free(w->data);
        }
        w->data = p;
        w->cap = cap;
    }
    uint8_t *out = w->data + w->len;
    w->len += n;
    return out;
}

static void wr_uint(attex_writer *w, int nbytes, uint32_t v)
{
    uint8_t *p = wr_reserve(w, (size_t)nbytes);
    if (p == NULL)
        return;
    for (int i = nbytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void wr_u8(attex_writer *w, uint8_t v) { wr_uint(w, 1, v); }
void wr_u16(attex_writer *w, uint16_t v) { wr_uint(w, 2, v); }
void wr_u24(attex_writer *w, uint32_t v)
{
    if (v > 0xffffffu)
        w->failed = 1;
    wr_uint(w, 3, v);
}
void wr_u32(attex_writer *w, uint32_t v) { wr_uint(w, 4, v); }

void wr_bytes(attex_writer *w, const uint8_t *p, size_t n)
{
    uint8_t *dst = wr_reserve(w, n);
    if (dst != NULL && n)
        memcpy(dst, p, n);
}

attex_wr_mark wr_open(attex_writer *w, int prefix)
{
    attex_wr_mark m = {w->len, prefix};
    wr_uint(w, prefix, 0);
    return m;
}

void wr_close(attex_writer *w, attex_wr_mark m)
{
    if (w->failed)
        return;
    size_t body = w->len - m.pos - (size_t)m.prefix;
    size_t limit = ((size_t)1 << (8 * m.prefix)) - 1;
    if (body > limit) {
        w->failed = 1;
        return;
    }
    for (int i = m.prefix - 1; i >= 0; i--) {
        w->data[m.pos + (size_t)i] = (uint8_t)body;
        body >>= 8;
    }
}

void wr_adopt(attex_writer *w, attex_buf *buf, size_t max)
{
    wr_init(w, max);
    if (buf->len > max) {
        w->failed = 1;
        return;
    }
    w->data = buf->data;
    w->len = w->cap = buf->len;
    buf->data = NULL;
    buf->len = 0;
}

int wr_finish(attex_writer *w, attex_buf *out)
{
    if (w->failed) {
        wr_cleanup(w);
        return 0;
    }
    out->data = w->data;
    out->len = w->len;
    w->data = NULL;
    w->len = w->cap = 0;
    return 1;
}

void wr_cleanup(attex_writer *w)
{
    if (w->data) {
        OPENSSL_cleanse(w->data, w->cap);
        free(w->data);
    }
    w->data = NULL;
    w->len = w->cap = 0;
}

void attex_buf_free(attex_buf *buf)
{
    if (buf == NULL)
        return;
    if (buf->data) {
        OPENSSL_cleanse(buf->data, buf->len);
        free(buf->data);
    }
    buf->data = NULL;
    buf->len = 0;
}

int rd_utf8(attex_reader *r, uint32_t *cp)
{
    attex_reader save = *r;
    uint8_t b0, b;
    if (!rd_u8(r, &b0))
        return 0;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t more;
    uint32_t v, min;
    if ((b0 & 0xe0) == 0xc0) {
        more = 1, v = b0 & 0x1fu, min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        more = 2, v = b0 & 0x0fu, min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        more = 3, v = b0 & 0x07u, min = 0x10000;
    } else {
        *r = save;
        return 0;
    }
    for (size_t i = 0; i < more; i++) {
        if (!rd_u8(r, &b) || (b & 0xc0) != 0x80) {
            *r = save;
            return 0;
        }
        v = (v << 6) | (b & 0x3fu);
    }
    /* RFC 3629 s3: overlong forms, surrogates and values above U+10FFFF are invalid. */
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *r = save;
        return 0;
    }
    *cp = v;
    return 1;
}

size_t bytes_utf8_invalid_at(const uint8_t *p, size_t n)
{
    attex_reader r;
    uint32_t cp;
    rd_init(&r, p, n);
    while (!rd_done(&r))
        if (!rd_utf8(&r, &cp))
            return n - rd_len(&r);
    return n;
}

int bytes_utf8_valid(const uint8_t *p, size_t n) { return bytes_utf8_invalid_at(p, n) == n; }
