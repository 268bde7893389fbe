/*
 * attex: Intel TDX quote appraisal (docs/tdx.md).
 *
 * A TDX quote (versions 4 and 5, Intel TDX DCAP Quote Generation Library
 * and Quote Verification spec) is verified offline against collateral in
 * Intel PCS response format read from a local directory once, when the
 * verifier is made: TCB Info (TDX, version 3), TD QE Identity, the Intel SGX
 * Root CA CRL, the PCK CA CRL(s) and the PEM issuer chains of those.
 *
 * Appraisal checks, in this order: the quote's structure; the quote
 * signature by the attestation key; the QE report signature by the PCK
 * certificate; the QE report data (SHA-256 of the attestation key and the QE
 * authentication data); the PCK chain up to the pinned Intel SGX Root CA,
 * with revocation; the validity windows of every certificate, CRL and
 * collateral document at the validation time; the TD's REPORTDATA against
 * the expected report data; the QE against the QE Identity; the TCB level
 * (Intel's algorithm, TDX module identity included); then the reference
 * values of the policy. The verdict maps the TCB status:
 *
 *   UpToDate                                        -> affirming
 *   SWHardeningNeeded, ConfigurationNeeded,
 *   ConfigurationAndSWHardeningNeeded               -> needs_action_verdict (warning by default)
 *   OutOfDate, OutOfDateConfigurationNeeded,
 *   Revoked, no matching TCB level                  -> contraindicated (ATTEX_OK)
 *   a reference value or TD attribute mismatch      -> contraindicated (ATTEX_OK)
 *
 * Unusable evidence (malformed, a signature or chain that does not verify,
 * report data that is not the expected one, collateral missing or outside
 * its validity window) is ATTEX_ERR_ATTESTATION with a contraindicated
 * verdict and the same sentence in the appraisal and the error.
 */
#ifndef ATTEX_TDX_H
#define ATTEX_TDX_H

#include <stddef.h>
#include <stdint.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The configfs-tsm provider name of TDX guests (Linux ABI configfs-tsm-report). */
#define ATTEX_TDX_PROVIDER "tdx_guest"

/** Configuration of a TDX verifier. Zero-initialise, then set what you need. */
typedef struct attex_tdx_verifier_config {
    /**
     * Directory of collateral in Intel PCS response format (required). Every
     * regular file is read and recognised by its content: TCB Info JSON
     * ({"tcbInfo":...,"signature":...}, one per FMSPC), QE Identity JSON
     * ({"enclaveIdentity":...}), CRLs (DER or PEM), PEM certificate chains
     * (the TCB signing chain, the PCK CRL issuer chain). Files named
     * README* or *.md and hidden files are skipped; any other file is an error.
     */
    const char *collateral_dir;
    /** PEM file of the trusted root, or NULL for the built-in Intel SGX Root CA. */
    const char *root_ca_pem_path;
    /**
     * Policy JSON text, or NULL to load policy_path (NULL too: no reference
     * values, debug TDs refused). Keys (all optional, unknown keys refused):
     * "mrtd", "rtmr0".."rtmr3", "mrconfigid", "mrowner", "mrownerconfig",
     * "mrseam": a hex string or an array of accepted hex strings (48 bytes);
     * "td_attributes", "xfam": 8 bytes in hex as in the quote (little-endian);
     * "allow_debug": true to accept TDATTRIBUTES.DEBUG.
     */
    const char *policy_json;
    const char *policy_path;
    /** Validation time, seconds since the Unix epoch; 0 for the current time at each appraisal. */
    int64_t time;
    /**
     * The verdict given for SWHardeningNeeded, ConfigurationNeeded and
     * ConfigurationAndSWHardeningNeeded: 0 for ATTEX_VERDICT_WARNING;
     * ATTEX_VERDICT_AFFIRMING lets them pass a default relying-party policy;
     * ATTEX_VERDICT_CONTRAINDICATED refuses them.
     */
    attex_verdict needs_action_verdict;
    /**
     * Nonzero: tolerate incomplete collateral, for offline study of old
     * samples: no QE Identity, no CRLs, and collateral signing certificates
     * or CRLs outside their validity at the validation time. Each tolerated
     * gap is named in the appraisal's reason and claims, and the verdict is
     * at best ATTEX_VERDICT_WARNING. Never set it in production.
     */
    int allow_incomplete_collateral;
} attex_tdx_verifier_config;

/**
 * A TDX verifier: the pinned root, the verified collateral and a cache of
 * verified PCK chains. Safe to use from several threads at once.
 */
typedef struct attex_tdx_verifier attex_tdx_verifier;

/**
 * attex_tdx_verifier_new loads and verifies the collateral of `cfg`
 * (signatures, issuer chains to the root) and the policy. Validity windows
 * are checked at each appraisal, against the validation time. Returns NULL
 * with `err` filled on failure.
 */
attex_tdx_verifier *attex_tdx_verifier_new(const attex_tdx_verifier_config *cfg,
                                           attex_error *err);

/** attex_tdx_verifier_free releases `v`. Accepts NULL. */
void attex_tdx_verifier_free(attex_tdx_verifier *v);

/**
 * attex_tdx_appraise appraises the TDX quote `outblob` with the verifier
 * `verifier_ctx` (an attex_tdx_verifier *). `auxblob` is ignored (TDX
 * quotes carry their PCK chain). `report_data` (64 bytes) must equal the
 * quote's REPORTDATA; NULL skips that check. An attex_tee_appraise_fn: see
 * attest.h for the contract, and this file's top comment for the verdicts.
 * On ATTEX_OK, out->claims_json holds the decoded quote, the PCK's FMSPC
 * and TCB, the TCB evaluation ("tcb": status, platform/tdx_module/qe
 * levels with advisory IDs), any tolerated collateral gaps and the verdict.
 */
int attex_tdx_appraise(void *verifier_ctx, const uint8_t *outblob, size_t outblob_len,
                       const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                       attex_appraisal *out, attex_error *err);

/**
 * attex_tdx_describe decodes a quote without verifying anything and writes
 * its fields as a JSON object (hex strings for byte fields, the PCK chain's
 * subjects, validity and SGX extensions) to `json` (not NUL-terminated).
 * Fails with ATTEX_ERR_DECODE on a malformed quote.
 */
int attex_tdx_describe(const uint8_t *quote, size_t len, attex_buf *json, attex_error *err);

/**
 * attex_tdx_parse_time parses an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SSZ"
 * (the form Intel collateral uses) into seconds since the Unix epoch.
 * Returns ATTEX_OK or ATTEX_ERR_INVALID_ARGUMENT.
 */
int attex_tdx_parse_time(const char *text, int64_t *out, attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_TDX_H */
