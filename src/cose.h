/*
 * attex internal: COSE_Sign1 (RFC 9052 s4.2) decoding and ECDSA verification
 * (RFC 9053 s2.1: ES256, ES384), for evidence signed by someone else
 * (Arm CCA tokens).
 *
 * Decoding runs the bounded pre-scan (cbor_load_exact) before libcbor sees
 * the bytes. libcbor 0.8 cannot decode the one-byte tag 18 (0xD2) of
 * COSE_Sign1_Tagged, so the tag byte is checked and skipped here, as
 * sample.c does.
 */
#ifndef ATTEX_COSE_H
#define ATTEX_COSE_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>
#include <openssl/types.h>

#include <attex/buf.h>
#include <attex/ea.h>
#include <attex/error.h>

/* RFC 9052 s4.2: the one-byte encoding of tag 18 (COSE_Sign1_Tagged). */
#define COSE_SIGN1_TAG_BYTE 0xD2
/* RFC 9052 s3.1: header labels. */
#define COSE_HDR_ALG 1
#define COSE_HDR_CRIT 2
/* RFC 9053 s2.1: ECDSA algorithm identifiers. */
#define COSE_ALG_ES256 (-7)
#define COSE_ALG_ES384 (-35)
/* Largest COSE_Sign1 decoded (the cmw_attestation extension carries at most 65535 bytes). */
#define COSE_MAX_LEN 65535

/* A decoded COSE_Sign1: views into `root` (and `prot` into the input). */
typedef struct cose_sign1 {
    cbor_item_t *root;
    const uint8_t *prot;
    size_t prot_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *sig;
    size_t sig_len;
    int64_t alg;
} cose_sign1;

/*
 * cose_sign1_decode decodes a COSE_Sign1, tagged (0xD2 first) or untagged,
 * strictly: an array of 4, protected header a bstr holding a map with `alg`
 * ES256 or ES384 (the hashes attex_hash has) and no `crit`, unprotected header a map without
 * `alg`, payload a bstr, signature a bstr of the algorithm's length. On
 * failure it writes a phrase saying what is wrong to why[why_size] and
 * returns 0; on success 1 (free with cose_sign1_free in both cases).
 */
int cose_sign1_decode(const uint8_t *in, size_t len, cose_sign1 *out, char *why,
                      size_t why_size);

/* The CBOR accepted inside COSE structures and CCA claims: definite lengths, no tags. */
extern const struct cbor_scan_limits cose_cbor_limits;

/* cose_scan_why says, as a phrase, why cbor_load_exact refused (a cbor_scan_status). */
const char *cose_scan_why(int status);

/* cose_sign1_free releases c's items and resets it. */
void cose_sign1_free(cose_sign1 *c);

/* cose_alg_name returns "ES256", "ES384" or "?". */
const char *cose_alg_name(int64_t alg);

/* cose_alg_hash sets *h to the hash of an ECDSA COSE algorithm; returns 0 if it is not one. */
int cose_alg_hash(int64_t alg, attex_hash *h);

/* cose_sig_structure writes RFC 9052 s4.4 ["Signature1", protected, h'', payload]. */
int cose_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                       size_t payload_len, attex_buf *out, attex_error *err);

/*
 * cose_sign1_verify returns 1 if c's signature verifies with `key` (an EC
 * key on the curve that c->alg names), else 0. Never fails loudly: a wrong
 * key type, an odd signature or an allocation failure all give 0.
 */
int cose_sign1_verify(const cose_sign1 *c, EVP_PKEY *key);

#endif /* ATTEX_COSE_H */
