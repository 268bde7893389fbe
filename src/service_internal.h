/*
 * attex: the Verifier service's request parsers. Pure functions with no
 * network code, so that the fuzz target and the tests reach them directly.
 * Each returns 1 when the input is acceptable and 0 otherwise, with a
 * sentence for the client's problem+json "detail" in `why`.
 */
#ifndef ATTEX_SERVICE_INTERNAL_H
#define ATTEX_SERVICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/attest.h>

#include "b64.h"

/* Size of the `why` buffers the parsers fill. */
#define SVC_WHY_SIZE 256

/* Challenge-response nonce bounds (Veraison: 8..64 bytes) and default size. */
#define SVC_NONCE_MIN 8
#define SVC_NONCE_MAX 64
#define SVC_NONCE_DEFAULT 64


/* A parsed one-shot appraisal request. */
typedef struct svc_appraise_req {
    uint8_t *cmw; /* malloc'd */
    size_t cmw_len;
    attex_binding binding;
} svc_appraise_req;

/*
 * svc_parse_appraise parses the one-shot body (docs/verifier.md):
 * {"cmw","report_data","binder","aik_pub_hash","hash"}, with every length and
 * report_data = PROTOCOL.md s3(binder, aik_pub_hash) checked. On success
 * release with svc_appraise_req_clear.
 */
int svc_parse_appraise(const uint8_t *body, size_t len, svc_appraise_req *out, char *why,
                       size_t why_len);
void svc_appraise_req_clear(svc_appraise_req *r);

/* What newSession was asked for. */
typedef struct svc_session_req {
    uint8_t nonce[SVC_NONCE_MAX];
    size_t nonce_len;
    int nonce_given;           /* 0: the server draws nonce_len random bytes */
    uint8_t aik_pub_hash[48];
    size_t aik_len;            /* 0: no aik_pub_hash parameter */
} svc_session_req;

/*
 * svc_parse_session_query checks newSession's query parameters (each NULL
 * when absent): nonce (base64url 8..64 bytes, padding tolerated as Veraison
 * clients send it) xor nonceSize (8..64), and attex's aik_pub_hash
 * (base64url 32 or 48 bytes). It does not decide the binding: see
 * svc_session_binding.
 */
int svc_parse_session_query(const char *nonce, const char *nonce_size, const char *aik,
                            svc_session_req *out, char *why, size_t why_len);

/*
 * svc_session_binding maps a session nonce onto an attex_binding
 * (docs/verifier.md, "Nonces"): with an AIK hash the nonce is the binder (same
 * length, which picks SHA-256 or SHA-384) and report_data is derived; without
 * one, a 64-byte nonce is a SHA-256 report_data = binder || aik_pub_hash.
 */
int svc_session_binding(const uint8_t *nonce, size_t nonce_len, const uint8_t *aik,
                        size_t aik_len, attex_binding *out, char *why, size_t why_len);

/*
 * svc_media_type_equal compares two media types as RFC 9110 s8.3.1 allows:
 * type, subtype and parameter names case-insensitively, optional whitespace
 * around ';' and '=' ignored, parameter values (quoted or not) exactly.
 */
int svc_media_type_equal(const char *a, const char *b);

/*
 * svc_accept_allows says whether an Accept header (RFC 9110 s12.5.1; NULL or
 * empty means anything) accepts `type`: an exact media type, "type/ *" or
 * "* / *" (without spaces) whose q is not 0.
 */
int svc_accept_allows(const char *accept, const char *type);

/* svc_session_id_valid checks a session id: a canonical lowercase UUID (36 characters). */
int svc_session_id_valid(const char *s, size_t len);

#endif /* ATTEX_SERVICE_INTERNAL_H */
