/*
 * attex internal: the one base64 codec (RFC 4648), for CMW JSON, JWTs, the
 * Verifier service's API and its client.
 *
 * Decoding is strict, for input from the network: the base64url alphabet
 * only, no whitespace, '=' padding only where the caller allows it and then
 * exactly completing the last quantum, no length of the form 4n+1, and zero
 * unused bits in the last character (the one canonical spelling, RFC 4648
 * s3.5). A failure writes a phrase to `why` that continues the caller's
 * subject ("the value " + "has '+' at offset 3, ...").
 */
#ifndef ATTEX_B64_H
#define ATTEX_B64_H

#include <stddef.h>
#include <stdint.h>

/* Room for any phrase b64url_decode writes. */
#define B64_WHY_SIZE 160

/* b64url_is_char returns 1 when c is in the base64url alphabet (RFC 4648 s5, no '='). */
int b64url_is_char(uint8_t c);

/*
 * b64_encode returns base64url without padding (RFC 4648 s5) when `url`,
 * else base64 with padding (s4), NUL-terminated and malloc'd; NULL when out
 * of memory.
 */
char *b64_encode(const uint8_t *p, size_t n, int url);

/*
 * b64url_decode_to decodes `len` characters at `s` into out (room for
 * out_max bytes) and sets *out_len. Returns 1, or 0 with `why` filled.
 */
int b64url_decode_to(const void *s, size_t len, int allow_pad, uint8_t *out, size_t out_max,
                     size_t *out_len, char *why, size_t why_len);

/*
 * b64url_decode is b64url_decode_to into a malloc'd buffer (*out, at least
 * one byte allocated) of at most max_out bytes; *out is NULL on failure.
 */
int b64url_decode(const void *s, size_t len, int allow_pad, size_t max_out, uint8_t **out,
                  size_t *out_len, char *why, size_t why_len);

#endif /* ATTEX_B64_H */
