/*
 * attex: the Linux configfs-tsm attester and the tsm-report verifier.
 *
 * Linux (v6.7+, Documentation/ABI/testing/configfs-tsm-report) exposes the
 * confidential-computing guest's report interface under
 * /sys/kernel/config/tsm/report: a process creates a directory there, writes
 * its 64 bytes of report data to `inblob`, and reads the report from
 * `outblob` (plus `auxblob`, provider-specific supplemental data, and
 * `provider`, the name of the TEE driver). `generation` counts writes, so a
 * reader can notice that another process changed the request under it.
 *
 * Evidence (the project's contract): for tdx_guest and sev_guest a CMW
 * Record (ind 4) of type ATTEX_TSM_REPORT_MEDIA_TYPE whose value is the
 * CBOR map {"provider": tstr, "outblob": bstr, ? "auxblob": bstr} (ratsd's
 * tsm-report); for arm_cca_guest a Record of type ATTEX_CCA_MEDIA_TYPE
 * whose value is the token itself.
 *
 * Only file I/O is done here; appraisal is dispatched by provider to the
 * TEE verifiers' attex_tee_appraise_fn.
 */
#ifndef ATTEX_TSM_H
#define ATTEX_TSM_H

#include <stddef.h>
#include <stdint.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The CMW media type of a configfs-tsm report (Veraison / ratsd). */
#define ATTEX_TSM_REPORT_MEDIA_TYPE "application/vnd.veraison.tsm-report+cbor"

/** Where Linux exposes configfs-tsm reports. */
#define ATTEX_TSM_DEFAULT_ROOT "/sys/kernel/config/tsm/report"

/** Largest outblob and auxblob read (each); a CMW must fit a 65535-byte extension anyway. */
#define ATTEX_TSM_MAX_BLOB 65535

/** The TEE families a provider name is matched to (loosely: drivers get renamed). */
typedef enum attex_tsm_kind {
    ATTEX_TSM_UNKNOWN = 0,
    ATTEX_TSM_TDX = 1, /**< "tdx_guest" */
    ATTEX_TSM_SNP = 2, /**< "sev_guest" */
    ATTEX_TSM_CCA = 3  /**< "arm_cca_guest" (also "arm-cca-guest", "cca_guest") */
} attex_tsm_kind;

/**
 * attex_tsm_provider_kind classifies a provider name (without its newline):
 * a name starting "tdx" is TDX, containing "sev" or "snp" is SEV-SNP,
 * containing "cca" is CCA; anything else is unknown.
 */
attex_tsm_kind attex_tsm_provider_kind(const char *provider, size_t len);

/** Configuration of the configfs-tsm attester. Zero-initialise, then set what you need. */
typedef struct attex_tsm_attester_config {
    /** The report directory; NULL for ATTEX_TSM_DEFAULT_ROOT. */
    const char *root;
    /** How many times to run the request when another writer intervenes; 0 for 3. */
    unsigned attempts;
} attex_tsm_attester_config;

/** One report read from configfs-tsm. Release with attex_tsm_report_clear. */
typedef struct attex_tsm_report {
    char provider[64]; /**< without the trailing newline */
    attex_tsm_kind kind;
    attex_buf outblob;
    attex_buf auxblob; /**< empty when the provider has none */
} attex_tsm_report;

/** attex_tsm_report_clear frees the blobs and resets `r`. */
void attex_tsm_report_clear(attex_tsm_report *r);

/**
 * attex_tsm_report_decode decodes a tsm-report (the value of an
 * ATTEX_TSM_REPORT_MEDIA_TYPE Record) strictly into `out` (copies; release
 * with attex_tsm_report_clear), for tools that show or re-appraise one.
 * ATTEX_ERR_DECODE with the reason when it is malformed.
 */
int attex_tsm_report_decode(const uint8_t *in, size_t len, attex_tsm_report *out,
                            attex_error *err);

/**
 * attex_tsm_report_get runs one configfs-tsm request: mkdir a unique entry
 * under cfg->root, write report_data (64 bytes) to inblob in one write(),
 * read outblob, auxblob (if present) and provider, checking after each
 * read that `generation` has not moved (else the whole request is retried,
 * cfg->attempts times at most, then fails), and rmdir the entry whatever
 * happens. Errors say what to do: ATTEX_ERR_UNAVAILABLE when configfs-tsm
 * is absent (no TEE guest driver, or configfs not mounted) or another
 * writer kept changing the entry; ATTEX_ERR_IO for permission denied (needs
 * root or write access to the root) and other file errors;
 * ATTEX_ERR_UNSUPPORTED for an unknown provider or a blob larger than
 * ATTEX_TSM_MAX_BLOB.
 *
 * When the root is not on configfs (a test tree driven by an emulator, as
 * go-configfs-tsm's faketsm does), attribute files that do not exist yet are
 * waited for (10 s at most) and the entry's files are removed before rmdir.
 */
int attex_tsm_report_get(const attex_tsm_attester_config *cfg, const uint8_t report_data[64],
                         attex_tsm_report *out, attex_error *err);

/**
 * attex_tsm_report_encode writes the tsm-report CBOR map {"provider",
 * "outblob", ? "auxblob"} (deterministic encoding, RFC 8949 s4.2.1; auxblob
 * left out when empty).
 */
int attex_tsm_report_encode(const char *provider, const uint8_t *outblob, size_t outblob_len,
                            const uint8_t *auxblob, size_t auxblob_len, attex_buf *out,
                            attex_error *err);

/**
 * attex_tsm_evidence makes the encoded CMW (CBOR) for a report: a CCA token
 * as an ATTEX_CCA_MEDIA_TYPE Record, anything else as a tsm-report Record.
 */
int attex_tsm_evidence(const attex_tsm_report *r, attex_buf *cmw, attex_error *err);

/**
 * attex_tsm_attester_new returns an attester whose attest() runs
 * attex_tsm_report_get with the binding's report_data and returns
 * attex_tsm_evidence. It checks now that the root exists. Free with
 * attex_tsm_attester_free.
 */
attex_attester *attex_tsm_attester_new(const attex_tsm_attester_config *cfg, attex_error *err);

/** attex_tsm_attester_free releases `a`. Accepts NULL. */
void attex_tsm_attester_free(attex_attester *a);

/** One provider the tsm-report verifier dispatches to. */
typedef struct attex_tsm_provider {
    /** A provider name ("tdx_guest", "sev_guest", "arm_cca_guest"), matched by kind. */
    const char *provider;
    /** The TEE verifier's raw appraisal function and its context. */
    attex_tee_appraise_fn appraise;
    void *ctx;
} attex_tsm_provider;

/** Configuration of the tsm-report verifier. */
typedef struct attex_tsm_verifier_config {
    const attex_tsm_provider *providers;
    size_t num_providers;
} attex_tsm_verifier_config;

/**
 * attex_tsm_verifier_new returns a verifier for ATTEX_TSM_REPORT_MEDIA_TYPE
 * Records: it decodes the tsm-report strictly (a definite map of text keys
 * provider, outblob and optionally auxblob; nothing else) and hands outblob,
 * auxblob and the binding's report_data to the function registered for the
 * provider's kind. A provider with no function is an error naming it. The
 * providers' contexts are borrowed: keep them alive longer than the verifier.
 */
attex_verifier *attex_tsm_verifier_new(const attex_tsm_verifier_config *cfg, attex_error *err);

/** attex_tsm_verifier_free releases `v`. Accepts NULL. */
void attex_tsm_verifier_free(attex_verifier *v);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_TSM_H */
