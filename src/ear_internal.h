/*
 * attex internal: EAR helpers shared by the core (ear.c), the HTTP client
 * (remote.c) and the Verifier service.
 */
#ifndef ATTEX_EAR_INTERNAL_H
#define ATTEX_EAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/ear.h>
#include <attex/error.h>

/*
 * ear_b64url_encode returns base64url (RFC 4648 s5) of p without padding,
 * NUL-terminated, malloc'd; NULL when out of memory.
 */
char *ear_b64url_encode(const uint8_t *p, size_t n);

/*
 * ear_b64url_decode decodes `len` characters of base64url into out (room for
 * out_max bytes) and sets *out_len. With allow_pad, '=' padding to a
 * multiple of four characters is accepted too. Refuses any other character,
 * a length no encoding has, and non-zero unused bits (RFC 4648 s3.5).
 * Returns 1 on success; on failure 0 and *why (a static phrase).
 */
int ear_b64url_decode(const uint8_t *s, size_t len, int allow_pad, uint8_t *out,
                      size_t out_max, size_t *out_len, const char **why);

/*
 * ear_decode is attex_ear_validate with the signature check optional
 * (check_signature = 0 skips it: for the passport attester, which only
 * checks that what the Verifier returned is a well-formed EAR for its
 * binder, and for the fuzzer). When claims_json is not NULL it receives
 * the payload re-serialised compactly (malloc'd).
 */
int ear_decode(const uint8_t *jwt, size_t jwt_len, const attex_ear_validate_opts *opts,
               int check_signature, attex_ear *out, char **claims_json, attex_error *err);

/* ear_status_name returns the EAR JSON name of a status ("affirming", ...). */
const char *ear_status_name(attex_verdict v);

/* ear_safe_text copies peer text for a message: printable ASCII only, quoted, truncated. */
void ear_safe_text(const char *p, size_t n, char *out, size_t out_size);

/* ear_reason names the Verifier and each submodule's status, for an appraisal's reason. */
void ear_reason(const attex_ear *e, char *out, size_t out_size);

#endif /* ATTEX_EAR_INTERNAL_H */
