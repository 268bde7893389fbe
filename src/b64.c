/*
 * attex internal: base64 and base64url (RFC 4648), strict on input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "bytes.h"

static const char alphabet_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char alphabet_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int digit_url(uint8_t c)
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

int b64url_is_char(uint8_t c) { return digit_url(c) >= 0; }

char *b64_encode(const uint8_t *p, size_t n, int url)
{
    const char *a = url ? alphabet_url : alphabet_std;
    size_t len = n / 3 * 4 + (n % 3 ? (url ? n % 3 + 1 : 4) : 0);
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    attex_reader r;
    rd_init(&r, p, n);
    size_t o = 0;
    while (rd_len(&r) > 0) {
        uint8_t b[3] = {0, 0, 0};
        size_t k = rd_len(&r) < 3 ? rd_len(&r) : 3;
        if (!rd_copy(&r, b, k))
            break;
        uint32_t v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
        s[o++] = a[v >> 18];
        s[o++] = a[(v >> 12) & 63];
        /* RFC 4648 s5 as JWS and CMW use it (RFC 7515 s2, RFC 9999 s3.1): no padding. */
        if (k > 1 || !url)
            s[o++] = k > 1 ? a[(v >> 6) & 63] : '=';
        if (k > 2 || !url)
            s[o++] = k > 2 ? a[v & 63] : '=';
    }
    s[o] = '\0';
    return s;
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t why_len,
                                                      const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return 0;
}

/* check validates the text and returns the number of bytes it encodes, or fails. */
static int check(const uint8_t *s, size_t len, int allow_pad, size_t *digits, size_t *bytes,
                 char *why, size_t why_len)
{
    size_t pad = 0;
    while (allow_pad && pad < len && s[len - 1 - pad] == '=')
        pad++;
    size_t n = len - pad;
    attex_reader r;
    rd_init(&r, s, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = 0;
        if (!rd_u8(&r, &c))
            return fail(why, why_len, "ends early");
        if (digit_url(c) >= 0)
            continue;
        if (c == '=' && allow_pad)
            return fail(why, why_len, "has '=' padding before the end (offset %zu)", i);
        if (c == '=')
            return fail(why, why_len,
                        "has base64 padding ('=' at offset %zu); base64url here is unpadded "
                        "(RFC 4648 s5)",
                        i);
        if (c == '+' || c == '/')
            return fail(why, why_len,
                        "has '%c' at offset %zu, from the standard base64 alphabet; base64url "
                        "uses '-' and '_' (RFC 4648 s5)",
                        c, i);
        if (c > 0x20 && c < 0x7f)
            return fail(why, why_len, "has '%c' at offset %zu, which is not a base64url character",
                        c, i);
        return fail(why, why_len, "has byte 0x%02x at offset %zu, which is not a base64url character",
                    c, i);
    }
    /* RFC 4648 s4: a final quantum of one character encodes no whole byte. */
    if (n % 4 == 1)
        return fail(why, why_len,
                    "is %zu base64url characters long; no byte string has an unpadded encoding "
                    "of length 4n+1",
                    n);
    /* RFC 4648 s3.2: padding completes the last quantum to four characters, no more. */
    if (pad > 0 && (pad > 2 || (n + pad) % 4 != 0))
        return fail(why, why_len,
                    "has %zu '=' after %zu characters: padding that does not complete a quantum "
                    "of four",
                    pad, n);
    /* RFC 4648 s3.5: the bits below the last whole byte are zero in the canonical spelling. */
    if (n > 0) {
        int last = digit_url(s[n - 1]);
        if ((n % 4 == 2 && (last & 0x0f) != 0) || (n % 4 == 3 && (last & 0x03) != 0))
            return fail(why, why_len,
                        "has non-zero unused bits in its last character '%c' (non-canonical "
                        "base64url, RFC 4648 s3.5)",
                        s[n - 1]);
    }
    *digits = n;
    *bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    return 1;
}

int b64url_decode_to(const void *s, size_t len, int allow_pad, uint8_t *out, size_t out_max,
                     size_t *out_len, char *why, size_t why_len)
{
    size_t digits = 0, bytes = 0;
    *out_len = 0;
    if (!check(s, len, allow_pad, &digits, &bytes, why, why_len))
        return 0;
    if (bytes > out_max)
        return fail(why, why_len, "decodes to %zu bytes, at most %zu allowed", bytes, out_max);
    attex_reader r;
    rd_init(&r, s, digits);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    uint8_t c;
    while (rd_u8(&r, &c)) {
        acc = (acc << 6) | (uint32_t)digit_url(c);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_len = o;
    return 1;
}

int b64url_decode(const void *s, size_t len, int allow_pad, size_t max_out, uint8_t **out,
                  size_t *out_len, char *why, size_t why_len)
{
    size_t digits = 0, bytes = 0;
    *out = NULL;
    *out_len = 0;
    if (!check(s, len, allow_pad, &digits, &bytes, why, why_len))
        return 0;
    if (bytes > max_out)
        return fail(why, why_len, "decodes to %zu bytes, at most %zu allowed", bytes, max_out);
    uint8_t *p = malloc(bytes ? bytes : 1);
    if (p == NULL)
        return fail(why, why_len, "cannot be decoded: out of memory");
    if (!b64url_decode_to(s, len, allow_pad, p, bytes, out_len, why, why_len)) {
        free(p);
        return 0;
    }
    *out = p;
    return 1;
}
