/*
 * attex: AMD SEV-SNP attestation report verifier (docs/snp.md).
 *
 * An SEV-SNP attestation report (AMD SEV-SNP ABI specification 56860,
 * Table "ATTESTATION_REPORT", versions 2 and 3, 1184 bytes) is signed with
 * ECDSA P-384/SHA-384 by the chip's VCEK (or by a VLEK), whose certificate
 * is signed by the product's ASK (ASVK for a VLEK), which is signed by the
 * AMD Root Key (ARK) of the product: Milan, Genoa or Turin. The verifier
 * checks the report's structure, its signature, the certificate chain up to
 * a pinned ARK, that the VCEK was issued for the report's REPORTED_TCB and
 * CHIP_ID, the binding (REPORT_DATA) and an appraisal policy (guest policy
 * bits and reference values).
 *
 * The certificates come from the report's certificate table (the
 * configfs-tsm `auxblob`, the extended report's GUID-indexed table) when
 * one is given, otherwise from files named in the configuration.
 *
 * A verifier caches what does not change from one report to the next: an
 * ASK is checked against its ARK once, a VCEK/VLEK once (by the SHA-256 of
 * its DER encoding). A verifier may be used from several threads at once.
 */
#ifndef ATTEX_SNP_H
#define ATTEX_SNP_H

#include <stddef.h>
#include <stdint.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size of an SEV-SNP attestation report (ABI 56860: 0x4A0 bytes). */
#define ATTEX_SNP_REPORT_SIZE 1184

/** Length of REPORT_DATA, the guest-chosen data the report carries (the binding). */
#define ATTEX_SNP_REPORT_DATA_SIZE 64

/** The configfs-tsm provider name of SEV-SNP evidence (without the trailing newline). */
#define ATTEX_SNP_TSM_PROVIDER "sev_guest"

/** Configuration of an SEV-SNP verifier. Zero-initialise, then set what you need. */
typedef struct attex_snp_verifier_config {
    /**
     * PEM files with additional trusted ARK certificates (self-signed roots),
     * each pinned whole: a chain is accepted only if its ASK is signed by one
     * of them. The product is taken from the ARK's common name ("ARK-<product>").
     */
    const char *const *ark_paths;
    size_t num_ark_paths;
    /**
     * PEM text of additional trusted ARKs, like ark_paths (NULL: none). In
     * files and in this text, certificates that are not self-signed (the ASK
     * of a KDS `cert_chain` file) are skipped; at least one must be an ARK.
     */
    const char *ark_pem;
    /** Nonzero: do not trust the built-in AMD ARKs (Milan, Genoa, Turin); use ark_paths only. */
    int no_builtin_arks;
    /**
     * The VCEK or VLEK certificate (PEM or DER) to use when the report comes
     * without a certificate table (auxblob empty). NULL: a table is required.
     */
    const char *vcek_path;
    /**
     * The ASK (or ASVK) certificate, PEM, optionally followed by the ARK (the
     * layout of AMD KDS `cert_chain` files). Used with vcek_path. A trailing
     * ARK must be one of the trusted ARKs.
     */
    const char *ask_path;
    /**
     * Appraisal policy, JSON text, or NULL to load policy_path; neither: the
     * default policy (debug not allowed, migration agent not allowed, no
     * reference values). docs/snp.md lists the members: "allow_debug",
     * "allow_migrate_ma", "allow_smt", "require_single_socket",
     * "signing_key" ("vcek", "vlek" or "any"), "products", "vmpl",
     * "min_guest_svn", "minimum_tcb" {"bootloader","tee","snp","microcode","fmc"},
     * "measurement", "host_data", "id_key_digest", "author_key_digest",
     * "family_id", "image_id", "chip_id", "report_data" (hex strings, or
     * arrays of accepted hex strings). Unknown members are rejected.
     */
    const char *policy_json;
    const char *policy_path;
    /** Time at which certificates must be valid (seconds since the epoch); 0 for now. */
    int64_t validation_time;
} attex_snp_verifier_config;

/** An SEV-SNP verifier: trust anchors, policy and the certificate cache. */
typedef struct attex_snp_verifier attex_snp_verifier;

/**
 * attex_snp_verifier_new loads the trusted ARKs, the configured certificates
 * and the policy (`cfg` NULL: the built-in ARKs, the default policy, no
 * configured certificates, validation at the current time). Returns NULL (with `err` saying which input is wrong) on
 * failure. Free with attex_snp_verifier_free.
 */
attex_snp_verifier *attex_snp_verifier_new(const attex_snp_verifier_config *cfg,
                                           attex_error *err);

/** attex_snp_verifier_free releases `v`. Accepts NULL. */
void attex_snp_verifier_free(attex_snp_verifier *v);

/**
 * attex_snp_appraise appraises the SEV-SNP report `outblob` with the
 * certificate table `auxblob` (may be empty: then the configured
 * certificates are used), requiring REPORT_DATA to equal `report_data` (64
 * bytes; NULL skips the check unless the policy names "report_data").
 * `verifier_ctx` is an attex_snp_verifier. It has the attex_tee_appraise_fn
 * signature (attest.h) so that the configfs-tsm verifier dispatches
 * provider "sev_guest" to it.
 *
 * Returns ATTEX_ERR_ATTESTATION (verdict contraindicated, `out->reason` =
 * err->message) when the evidence is unusable: malformed report or table,
 * unsupported version, bad signature, chain not ending at a pinned ARK,
 * VCEK not issued for this TCB or chip, REPORT_DATA not the expected one.
 * Returns ATTEX_OK when it could appraise: verdict affirming when the policy
 * holds, contraindicated otherwise, with `out->reason` naming the first
 * failed check (field, expected and got, hex). `out->claims_json` (on
 * ATTEX_OK) is the attex_snp_describe object plus "product" (of the ARK),
 * "signing_key_cert_sha256" and "signing_key_product_name" (the VCEK's
 * productName, when present). Release `out` with attex_appraisal_clear.
 */
int attex_snp_appraise(void *verifier_ctx, const uint8_t *outblob, size_t outblob_len,
                       const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                       attex_appraisal *out, attex_error *err);

/**
 * attex_snp_describe decodes the report `report` (strictly, as the verifier
 * does, without checking its signature) into a JSON object text in `json`
 * (NUL-terminated; json->len excludes the NUL): every field by its ABI name
 * in lower case, byte fields in hex, TCB versions split into their SPLs.
 * For `attex inspect`. Release with attex_buf_free.
 */
int attex_snp_describe(const uint8_t *report, size_t len, attex_buf *json, attex_error *err);

/**
 * attex_snp_cert_table_describe decodes a certificate table (`auxblob`)
 * into a JSON array text of its entries ({"guid", "name", "offset",
 * "length", "subject"}), strictly. For `attex inspect`.
 */
int attex_snp_cert_table_describe(const uint8_t *table, size_t len, attex_buf *json,
                                  attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_SNP_H */
