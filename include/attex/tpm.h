/*
 * attex: TPM 2.0 quote attester and verifier (docs/tpm.md).
 *
 * Evidence: a CBOR map (ATTEX_TPM_MEDIA_TYPE) holding the TPMS_ATTEST of a
 * TPM2_Quote whose qualifyingData is the binding's report_data (PROTOCOL.md
 * s3), its TPMT_SIGNATURE, the attestation key (AK) as a DER
 * SubjectPublicKeyInfo, optionally the AK's certificate chain, and the quoted
 * PCR values; carried in a CMW Record with ind = evidence.
 *
 * Two libraries:
 *  - the verifier is in the core library (libattex: OpenSSL only);
 *  - the attester, the swtpm helper and the AK provisioning functions are in
 *    libattex_tpm, which links the tpm2-tss ESAPI (tss2-esys, -mu, -rc,
 *    -tctildr). Their declarations below are marked "(attex_tpm)".
 */
#ifndef ATTEX_TPM_H
#define ATTEX_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The CMW media type of TPM quote evidence. No registered type exists for a
 * TPM2 quote (none with IANA or the TCG), so attex uses a vendor-tree type.
 */
#define ATTEX_TPM_MEDIA_TYPE "application/vnd.attex.tpm2-quote+cbor"

/** Largest evidence the verifier accepts (what a cmw_attestation extension can carry). */
#define ATTEX_TPM_MAX_EVIDENCE 65535

/* ---------------------------------------------------------------------- */
/* Verifier (core library)                                                */

/** Configuration of the TPM verifier. Zero-initialise, then set what you need. */
typedef struct attex_tpm_verifier_config {
    /**
     * Pinned AK public keys (EC P-256/P-384 or RSA >= 2048): evidence whose
     * AK is one of them is trusted. Reference taken.
     */
    EVP_PKEY *const *trusted_aks;
    size_t num_trusted_aks;
    /** PEM files with pinned AK public keys (-----BEGIN PUBLIC KEY-----). */
    const char *const *trusted_ak_paths;
    size_t num_trusted_ak_paths;
    /**
     * PEM file of root certificates: evidence that carries an AK certificate
     * chain (leaf first) that validates to one of them, whose leaf key is
     * the AK, is trusted too. NULL: only pinned AKs are trusted.
     */
    const char *ak_roots_path;
    /**
     * Reference values, JSON text, or NULL to load reference_values_path:
     * {"pcrs": {"<bank>": {"<index>": ["<hex>", ...], ...}, ...}} with bank
     * "sha1", "sha256", "sha384" or "sha512" and index 0..23. Every PCR named
     * must be in the quote with one of its listed values.
     */
    const char *reference_values_json;
    const char *reference_values_path;
} attex_tpm_verifier_config;

/**
 * attex_tpm_verifier_new returns a verifier for ATTEX_TPM_MEDIA_TYPE (free
 * with attex_tpm_verifier_free), or NULL with `err` saying why. It needs at
 * least one trust anchor (a pinned AK or roots) and reference values.
 */
attex_verifier *attex_tpm_verifier_new(const attex_tpm_verifier_config *cfg, attex_error *err);

/** attex_tpm_verifier_free releases `v`. Accepts NULL. */
void attex_tpm_verifier_free(attex_verifier *v);

/**
 * attex_tpm_evidence_appraise appraises raw evidence bytes (the CMW Record's
 * value) with verifier `v`, for tools. `report_data` (64 bytes) is what the
 * quote's extraData must equal; NULL skips that check (offline inspection
 * only: such an appraisal proves nothing about freshness). Same contract as
 * attex_verifier.appraise.
 */
int attex_tpm_evidence_appraise(const attex_verifier *v, const uint8_t *evidence,
                                size_t evidence_len, const uint8_t *report_data,
                                attex_appraisal *out, attex_error *err);

/* ---------------------------------------------------------------------- */
/* Attester (attex_tpm)                                                   */

/** Kinds of attestation key attex creates. */
typedef enum attex_tpm_ak_type {
    ATTEX_TPM_AK_ECC_P256 = 1, /**< ECDSA P-256 with SHA-256 */
    ATTEX_TPM_AK_RSA_2048 = 2  /**< RSASSA-PKCS1-v1_5 2048 with SHA-256 */
} attex_tpm_ak_type;

/** Default PCR selection: SHA-256 bank, PCRs 0 to 7 (firmware and boot loader). */
#define ATTEX_TPM_DEFAULT_PCRS "sha256:0,1,2,3,4,5,6,7"

/** Default bound on one TPM command, in milliseconds. */
#define ATTEX_TPM_DEFAULT_TIMEOUT_MS 30000

/** Configuration of the TPM attester. Zero-initialise, then set what you need. */
typedef struct attex_tpm_attester_config {
    /**
     * TCTI configuration string as tctildr takes it: "device:/dev/tpmrm0",
     * "swtpm:host=127.0.0.1,port=2321", "mssim:...", "tabrmd:...". NULL:
     * tctildr's default (the TPM2TOOLS_TCTI or TCTI environment is NOT read).
     */
    const char *tcti;
    /**
     * Persistent handle (0x81000000..0x81FFFFFF) of an AK the operator
     * provisioned (attex_tpm_ak_provision). 0: create a restricted signing
     * AK of ak_type as a primary key in the endorsement hierarchy (the same
     * key each time for a given TPM, until its endorsement seed changes).
     */
    uint32_t ak_handle;
    /** Kind of AK to create when ak_handle is 0; 0 means ATTEX_TPM_AK_ECC_P256. */
    attex_tpm_ak_type ak_type;
    /** PCR selection "bank:i,j,...[+bank:...]"; NULL for ATTEX_TPM_DEFAULT_PCRS. */
    const char *pcrs;
    /** PEM file with the AK certificate chain (leaf first) to carry; NULL for none. */
    const char *ak_cert_chain_path;
    /** Bound on one TPM command (and on connecting), ms; 0 for ATTEX_TPM_DEFAULT_TIMEOUT_MS. */
    unsigned timeout_ms;
} attex_tpm_attester_config;

/**
 * attex_tpm_attester_new connects to the TPM, loads or creates the AK and
 * returns an attester (free with attex_tpm_attester_free), or NULL with
 * `err` saying why: TPM absent or unreachable, busy, or the TPM's response
 * code decoded. (attex_tpm) An attester is not safe to use from two threads
 * at once.
 */
attex_attester *attex_tpm_attester_new(const attex_tpm_attester_config *cfg, attex_error *err);

/** attex_tpm_attester_free releases `a` (and flushes a transient AK). Accepts NULL. (attex_tpm) */
void attex_tpm_attester_free(attex_attester *a);

/** attex_tpm_attester_ak_pem writes the attester's AK public key as PEM to `out`. (attex_tpm) */
int attex_tpm_attester_ak_pem(const attex_attester *a, attex_buf *out, attex_error *err);

/**
 * attex_tpm_attester_evidence makes raw evidence (the CMW Record's value)
 * for `report_data` (64 bytes): for tools and benchmarks. (attex_tpm)
 */
int attex_tpm_attester_evidence(attex_attester *a, const uint8_t report_data[64],
                                attex_buf *out, attex_error *err);

/**
 * attex_tpm_ak_provision creates a restricted signing AK of `type` in the
 * endorsement hierarchy of the TPM at `tcti` (see the config above), makes
 * it persistent at `persist_handle` when that is not 0 (failing if the
 * handle is taken), and writes its public key as PEM to `pem_out`. With
 * `persist_handle` 0 nothing is stored: the PEM is then that of the AK an
 * attester with ak_handle 0 and the same type creates (a primary key is
 * derived from the endorsement seed), to pin on the verifier. (attex_tpm)
 */
int attex_tpm_ak_provision(const char *tcti, attex_tpm_ak_type type, uint32_t persist_handle,
                           attex_buf *pem_out, attex_error *err);

/**
 * attex_tpm_ak_evict removes the persistent object at `persist_handle`
 * (owner hierarchy, empty authorisation). (attex_tpm)
 */
int attex_tpm_ak_evict(const char *tcti, uint32_t persist_handle, attex_error *err);

/**
 * attex_tpm_reference_values reads the PCRs of `pcrs` (NULL for the
 * default) now and writes reference values JSON (the verifier's format,
 * one accepted value per PCR) to `out`. (attex_tpm)
 */
int attex_tpm_reference_values(const char *tcti, const char *pcrs, attex_buf *out,
                               attex_error *err);

/**
 * attex_tpm_pcr_extend extends PCR `index` of every active bank with the
 * digest of `data` (TPM2_PCR_Event), as a measured component would. For
 * tests and demos. (attex_tpm)
 */
int attex_tpm_pcr_extend(const char *tcti, unsigned index, const uint8_t *data, size_t len,
                         attex_error *err);

/* ---------------------------------------------------------------------- */
/* swtpm helper (attex_tpm), for tests and demos                          */

/** A running swtpm process (software TPM 2.0), owned by the caller. */
typedef struct attex_swtpm attex_swtpm;

/**
 * attex_swtpm_start runs `swtpm socket --tpm2` (found on PATH) on two free
 * loopback TCP ports (commands on P, control on P+1), with its state in a
 * new temporary directory, flags not-need-init,startup-clear, and waits
 * until it answers, at most `timeout_ms` (0: 10 s). On success *out is set;
 * stop it with attex_swtpm_stop. (attex_tpm)
 */
int attex_swtpm_start(unsigned timeout_ms, attex_swtpm **out, attex_error *err);

/** attex_swtpm_tcti returns the TCTI string for `s`: "swtpm:host=127.0.0.1,port=P". (attex_tpm) */
const char *attex_swtpm_tcti(const attex_swtpm *s);

/**
 * attex_swtpm_pause stops (SIGSTOP, paused nonzero) or resumes (SIGCONT) the
 * swtpm process, to test how a TPM that accepts connections but never
 * answers is handled. (attex_tpm)
 */
int attex_swtpm_pause(attex_swtpm *s, int paused, attex_error *err);

/**
 * attex_swtpm_stop kills the swtpm process (SIGTERM, then SIGKILL after a
 * second), reaps it, removes its state directory and frees `s`. Accepts
 * NULL. (attex_tpm)
 */
void attex_swtpm_stop(attex_swtpm *s);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_TPM_H */
