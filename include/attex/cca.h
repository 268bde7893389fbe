/*
 * attex: the Arm CCA attestation token verifier.
 *
 * An Arm CCA token (Arm RME system architecture spec DEN0137, "CCA
 * attestation token"; draft-ffm-rats-cca-token) is a collection of two
 * COSE_Sign1 tokens: the platform token, signed by the platform attestation
 * key (CPAK), and the realm token, signed by the realm attestation key (RAK)
 * that the token itself carries. The platform vouches for the RAK: its
 * challenge is the hash of the RAK. The realm's challenge is the caller's
 * report data (PROTOCOL.md s3: attex_binding.report_data).
 *
 * Accepted encodings: the legacy tag-399 collection {44234: bstr, 44241:
 * bstr} (TF-RMM, RMM 1.0) and the CMW collection tag 907 {44234: [263,
 * bstr], 44241: [263, bstr]}. Signatures: ES256, ES384. Evidence
 * travels as a CMW Record (ind 4) of type ATTEX_CCA_MEDIA_TYPE whose value
 * is the token.
 */
#ifndef ATTEX_CCA_H
#define ATTEX_CCA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The CMW media type of an Arm CCA token (Veraison's, for the CCA-SSD profile). */
#define ATTEX_CCA_MEDIA_TYPE \
    "application/eat-collection; profile=\"http://arm.com/CCA-SSD/1.0.0\""

/** The largest token accepted (the cmw_attestation extension carries at most 65535 bytes). */
#define ATTEX_CCA_MAX_TOKEN 65535

/** Configuration of the CCA verifier. Zero-initialise, then set what you need. */
typedef struct attex_cca_verifier_config {
    /** Trusted platform attestation public keys (CPAK), references taken. */
    EVP_PKEY *const *platform_keys;
    size_t num_platform_keys;
    /** PEM files (-----BEGIN PUBLIC KEY-----) with trusted platform keys; added to the above. */
    const char *const *platform_key_paths;
    size_t num_platform_key_paths;
    /**
     * Reference values, JSON text, or NULL to load policy_path (or none):
     *   {"platform": {"implementation_id": [hex...], "instance_id": [hex...],
     *                 "config": [hex...],
     *                 "sw_components": [{"type": s, "measurement": hex,
     *                                    "signer_id": hex, "version": s}, ...]},
     *    "realm": {"initial_measurement": [hex...],
     *              "extensible_measurements": [[hex, hex, hex, hex], ...],
     *              "personalization_value": [hex...]}}
     * Every field is optional; a list means "one of"; each sw_components
     * entry must be matched by one component of the token on every field it
     * gives. Without reference values the best verdict is warning.
     */
    const char *policy_json;
    const char *policy_path;
    /**
     * Nonzero: accept any security lifecycle state. Zero: the platform must
     * be "secured" (0x3000..0x30FF), else the verdict is contraindicated.
     */
    int allow_any_lifecycle;
} attex_cca_verifier_config;

/**
 * attex_cca_verifier_new returns a verifier for ATTEX_CCA_MEDIA_TYPE Records
 * (free with attex_cca_verifier_free), or NULL. At least one platform key
 * is required. Its appraise() requires the realm challenge to equal the
 * binding's report_data.
 */
attex_verifier *attex_cca_verifier_new(const attex_cca_verifier_config *cfg, attex_error *err);

/** attex_cca_verifier_free releases `v`. Accepts NULL. */
void attex_cca_verifier_free(attex_verifier *v);

/**
 * attex_cca_appraise appraises a raw CCA token (an attex_tee_appraise_fn):
 * `verifier_ctx` is the ctx of a verifier made by attex_cca_verifier_new,
 * `outblob` the token, `auxblob` ignored, `report_data` the 64 bytes the
 * realm challenge must equal (NULL skips that check). Checks, in order:
 * the collection's shape; the realm COSE_Sign1 with the RAK it carries;
 * the platform COSE_Sign1 with a trusted platform key; platform challenge
 * == H(RAK) (H per the realm's public-key hash algorithm); realm challenge
 * == report_data; profiles; lifecycle; reference values. Returns as
 * attex_verifier.appraise does: an error (verdict contraindicated) for
 * unusable or unbound evidence, ATTEX_OK with the verdict otherwise. The
 * reason names the failed check with the values (hex).
 */
int attex_cca_appraise(void *verifier_ctx, const uint8_t *outblob, size_t outblob_len,
                       const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                       attex_appraisal *out, attex_error *err);

/**
 * attex_cca_describe decodes a token without trusting it, for `attex
 * inspect`: writes a JSON object (NUL-terminated after json->len) with both
 * tokens' claims, their signature algorithms, whether the realm signature
 * verifies with its own RAK and whether the platform challenge equals the
 * RAK's hash. The platform signature is not checked (no trust anchor).
 */
int attex_cca_describe(const uint8_t *token, size_t len, attex_buf *json, attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_CCA_H */
