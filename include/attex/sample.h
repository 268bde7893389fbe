/*
 * attex: the "sample" software attester and its verifier.
 *
 * For tests and demos, with real cryptography. The evidence is an EAT
 * (RFC 9711) claims set in CBOR, signed as COSE_Sign1 with ES256 by an
 * attestation key the attester owns, wrapped in a CMW Record of type
 * ATTEX_SAMPLE_MEDIA_TYPE with ind = evidence. Claims: eat_profile
 * (ATTEX_SAMPLE_PROFILE), iat, eat_nonce = binder, the AIK hash, and
 * measurements: SHA-256 of the running executable and of files the operator
 * lists. It proves nothing about hardware: it is a software attester.
 *
 * Files are measured at each attestation; a digest is reused only while the
 * file's device, inode, size, mtime and ctime are unchanged and its ctime is
 * more than two seconds older than the hashing. An attester object is not
 * safe to use from two threads at once (make one per thread).
 */
#ifndef ATTEX_SAMPLE_H
#define ATTEX_SAMPLE_H

#include <stddef.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The eat_profile of sample evidence. */
#define ATTEX_SAMPLE_PROFILE "tag:attex.dev,2026:sample-evidence-v1"

/** The CMW media type of sample evidence (RFC 9782 application/eat+cwt with its profile). */
#define ATTEX_SAMPLE_MEDIA_TYPE \
    "application/eat+cwt; eat_profile=\"tag:attex.dev,2026:sample-evidence-v1\""

/** Configuration of the sample attester. Zero-initialise, then set what you need. */
typedef struct attex_sample_attester_config {
    /** The attestation key (EC P-256), or NULL to load key_path. Reference taken. */
    EVP_PKEY *key;
    /** PEM file with the attestation private key, when `key` is NULL. */
    const char *key_path;
    /** Files to measure (SHA-256) besides the running executable. */
    const char *const *files;
    size_t num_files;
    /** The executable to measure as "exe"; NULL for the running one (/proc/self/exe). */
    const char *exe_path;
} attex_sample_attester_config;

/** attex_sample_attester_new returns an attester (free with attex_sample_attester_free), or NULL. */
attex_attester *attex_sample_attester_new(const attex_sample_attester_config *cfg,
                                          attex_error *err);

/** attex_sample_attester_free releases `a`. Accepts NULL. */
void attex_sample_attester_free(attex_attester *a);

/** Configuration of the sample verifier. Zero-initialise, then set what you need. */
typedef struct attex_sample_verifier_config {
    /** Trusted attestation public keys, or NULL to load trusted_key_paths. */
    EVP_PKEY *const *trusted_keys;
    size_t num_trusted_keys;
    /** PEM files with trusted attestation public keys. */
    const char *const *trusted_key_paths;
    size_t num_trusted_key_paths;
    /**
     * Reference values, JSON text, or NULL to load reference_values_path:
     * {"measurements": {"<name>": ["<hex sha256>", ...], ...}}. Every named
     * measurement must be present in the evidence with one of the listed values.
     */
    const char *reference_values_json;
    const char *reference_values_path;
} attex_sample_verifier_config;

/** attex_sample_verifier_new returns a verifier (free with attex_sample_verifier_free), or NULL. */
attex_verifier *attex_sample_verifier_new(const attex_sample_verifier_config *cfg,
                                          attex_error *err);

/** attex_sample_verifier_free releases `v`. Accepts NULL. */
void attex_sample_verifier_free(attex_verifier *v);

/** attex_sample_keygen writes a new P-256 attestation key pair as PEM files. */
int attex_sample_keygen(const char *private_path, const char *public_path, attex_error *err);

/**
 * attex_sample_reference_values measures what `cfg` names (the executable
 * and the files) and writes reference values JSON (the verifier's format)
 * to `out`.
 */
int attex_sample_reference_values(const attex_sample_attester_config *cfg, attex_buf *out,
                                  attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_SAMPLE_H */
