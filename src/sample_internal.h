/*
 * attex internal: the sample attester and verifier below the CMW layer.
 *
 * sample.c wraps these in the public attex_attester / attex_verifier; the
 * tests and the fuzz target call them directly so that the evidence itself
 * (COSE_Sign1 over EAT claims, docs/sample.md) can be made, tampered with and
 * appraised without a CMW around it.
 */
#ifndef ATTEX_SAMPLE_INTERNAL_H
#define ATTEX_SAMPLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

/* RFC 9052 s4.2: the CBOR tag of COSE_Sign1, and its one-byte encoding. */
#define SAMPLE_COSE_SIGN1_TAG 18
#define SAMPLE_COSE_SIGN1_TAG_BYTE 0xD2
/* RFC 9052 s3.1: header label of `alg`; RFC 9053 s2.1: ES256. */
#define SAMPLE_COSE_HDR_ALG 1
#define SAMPLE_COSE_ALG_ES256 (-7)
/* RFC 9053 s2.1: ES256 signature = r || s, each 32 bytes. */
#define SAMPLE_ES256_SIG_LEN 64

/* Claim keys: RFC 8392 s3.1.6 (iat), RFC 9711 s4.1 (eat_nonce), s4.3.2 (eat_profile). */
#define SAMPLE_CLAIM_IAT 6
#define SAMPLE_CLAIM_NONCE 10
#define SAMPLE_CLAIM_PROFILE 265
/* RFC 8392 s9.1: integer claim keys below -65536 are private use. */
#define SAMPLE_CLAIM_AIK_PUB_HASH (-70001)
#define SAMPLE_CLAIM_MEASUREMENTS (-70002)

/* Measurements are SHA-256 digests. */
#define SAMPLE_DIGEST_LEN 32
/* The cmw_attestation extension carries at most 65535 bytes, so evidence can be no larger. */
#define SAMPLE_MAX_EVIDENCE 65535
/* Bounds on what evidence and reference values may name. */
#define SAMPLE_MAX_MEASUREMENTS 256
#define SAMPLE_MAX_NAME 4096
#define SAMPLE_MAX_REF_DIGESTS 64
/* CBOR nesting accepted in evidence (claims map -> measurements map is depth 2). */
#define SAMPLE_MAX_DEPTH 8
/* Largest file the attester hashes, and largest reference values / key file it reads. */
#define SAMPLE_MAX_MEASURED_FILE ((uint64_t)4 << 30)
#define SAMPLE_MAX_TEXT_FILE ((size_t)1 << 20)

/* One measurement: a name ("exe" or a file path) and its SHA-256. */
typedef struct sample_measurement {
    const char *name;
    uint8_t digest[SAMPLE_DIGEST_LEN];
} sample_measurement;

/* The claims of one piece of evidence, as sample_claims_encode writes them. */
typedef struct sample_claims {
    const char *profile;
    uint64_t iat;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *aik_pub_hash;
    size_t aik_pub_hash_len;
    const sample_measurement *measurements;
    size_t num_measurements;
} sample_claims;

/* sample_claims_encode writes the claims map (deterministic CBOR, RFC 8949 s4.2.1). */
int sample_claims_encode(const sample_claims *c, attex_buf *out, attex_error *err);

/* sample_sig_structure writes RFC 9052 s4.4 ["Signature1", protected, h'', payload]. */
int sample_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                         size_t payload_len, attex_buf *out, attex_error *err);

/* sample_es256_sign signs msg with ECDSA P-256 / SHA-256 and writes r || s to sig. */
int sample_es256_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                      uint8_t sig[SAMPLE_ES256_SIG_LEN], attex_error *err);

/* sample_es256_verify returns 1 if sig (r || s) is key's signature of msg, else 0. */
int sample_es256_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                        const uint8_t sig[SAMPLE_ES256_SIG_LEN]);

/*
 * sample_cose_sign1 signs `payload` under the protected header bytes `prot`
 * (not checked: tests use it to sign headers the verifier must refuse) and
 * writes the tagged COSE_Sign1 with an empty unprotected map.
 */
int sample_cose_sign1(EVP_PKEY *key, const uint8_t *prot, size_t prot_len,
                      const uint8_t *payload, size_t payload_len, attex_buf *out,
                      attex_error *err);

/* sample_evidence_make builds the evidence for binding `b` with the given iat and measurements. */
int sample_evidence_make(EVP_PKEY *key, const attex_binding *b, uint64_t iat,
                         const sample_measurement *m, size_t num_m, attex_buf *out,
                         attex_error *err);

/* sample_measure_file sets out to the SHA-256 of the regular file at `path`. */
int sample_measure_file(const char *path, uint8_t out[SAMPLE_DIGEST_LEN], attex_error *err);

/*
 * sample_attester_evidence is the attester's work without the CMW: measure
 * now, then sample_evidence_make. `attester_ctx` is the ctx of an attester
 * made by attex_sample_attester_new.
 */
int sample_attester_evidence(void *attester_ctx, const attex_binding *b, attex_buf *out,
                             attex_error *err);

/*
 * sample_evidence_appraise appraises raw evidence bytes (the CMW Record's
 * value) against `expected`; `verifier_ctx` is the ctx of a verifier made by
 * attex_sample_verifier_new. Outcomes as for the verifier's appraise().
 */
int sample_evidence_appraise(void *verifier_ctx, const uint8_t *ev, size_t ev_len,
                             const attex_binding *expected, attex_appraisal *out,
                             attex_error *err);

#endif /* ATTEX_SAMPLE_INTERNAL_H */
