/*
 * attex: attestation in Exported Authenticators (draft-fossati-seat-expat).
 *
 * A relying party offers the `cmw_attestation` extension (empty) in its
 * authenticator request. An attester answers with an authenticator whose
 * first CertificateEntry carries `cmw_attestation` = u16 length || CMW, where
 * the CMW holds Evidence (ind 4) or an Attestation Result (ind 8) bound to
 * this connection and to the end-entity key (the binding below). The
 * relying party recomputes the binding from its own exporter and the
 * certificate it received, and hands the CMW to the verifier registered for
 * its type.
 */
#ifndef ATTEX_ATTEST_H
#define ATTEX_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/buf.h>
#include <attex/cmw.h>
#include <attex/ea.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default `cmw_attestation` code point (PROTOCOL.md s2; not yet assigned by IANA). */
#define ATTEX_CMW_ATTESTATION_DEFAULT 0xFFFF

/** Exporter label and length of the binding (draft-fossati-seat-expat, binding section). */
#define ATTEX_BINDING_EXPORTER_LABEL "Attestation"
#define ATTEX_BINDING_EXPORTED_LEN 32

/* ---------------------------------------------------------------------- */
/* Binding (PROTOCOL.md s3)                                               */

/**
 * The values that tie attestation to one connection, one request and one key:
 *
 *   exported     = TLS-Exporter("Attestation", certificate_request_context, 32)
 *   aik_pub_hash = H(SPKI)             SPKI: DER SubjectPublicKeyInfo of the end-entity cert
 *   binder       = H(SPKI || exported)
 *   report_data  = binder || aik_pub_hash           (H = SHA-256: exactly 64 bytes)
 *                = SHA-512(binder || aik_pub_hash)  (H = SHA-384)
 *
 * H is the cipher suite's hash; hash_len is its length.
 */
typedef struct attex_binding {
    attex_hash hash;
    size_t hash_len;
    uint8_t exported[ATTEX_BINDING_EXPORTED_LEN];
    uint8_t aik_pub_hash[48];
    uint8_t binder[48];
    uint8_t report_data[64];
} attex_binding;

/**
 * attex_binding_derive computes the binding from an exporter output and an
 * SPKI (DER). Pure function: every attester and verifier goes through it.
 */
int attex_binding_derive(attex_hash hash, const uint8_t exported[ATTEX_BINDING_EXPORTED_LEN],
                         const uint8_t *spki, size_t spki_len, attex_binding *out,
                         attex_error *err);

/**
 * attex_binding_compute runs the exporter of session `s`'s connection for
 * `context` and derives the binding for certificate `cert`'s key.
 */
int attex_binding_compute(attex_ea_session *s, const uint8_t *context, size_t context_len,
                          X509 *cert, attex_binding *out, attex_error *err);

/** attex_binding_clear zeroises `b`. */
void attex_binding_clear(attex_binding *b);

/* ---------------------------------------------------------------------- */
/* Plug-ins                                                               */

/** Appraisal outcomes (trust tiers of draft-ietf-rats-ear, with its numeric values). */
typedef enum attex_verdict {
    ATTEX_VERDICT_NONE = 0,
    ATTEX_VERDICT_AFFIRMING = 2,
    ATTEX_VERDICT_WARNING = 32,
    ATTEX_VERDICT_CONTRAINDICATED = 96
} attex_verdict;

/** attex_verdict_name returns "affirming", "warning", "contraindicated" or "none". */
const char *attex_verdict_name(attex_verdict v);

/**
 * The result of appraising a CMW. `reason` says why in words a user can act
 * on (which check, expected vs got); `claims_json` is the appraised claims as
 * a JSON object text (malloc'd, may be NULL). Release with
 * attex_appraisal_clear.
 */
typedef struct attex_appraisal {
    attex_verdict verdict;
    char reason[512];
    char *claims_json;
} attex_appraisal;

/** attex_appraisal_clear frees the claims and resets `a`. */
void attex_appraisal_clear(attex_appraisal *a);

/**
 * An attester: given the binding values computed for this request and key,
 * produce an encoded CMW (evidence ind 4, or attestation result ind 8).
 */
typedef struct attex_attester {
    const char *name;
    void *ctx;
    int (*attest)(void *ctx, const attex_binding *binding, attex_buf *cmw, attex_error *err);
} attex_attester;

/**
 * A verifier for one CMW Record type, matched by media type (compared
 * case-insensitively, parameters included) or by CoAP Content-Format (a
 * Record typed by number, or a Tag). `appraise` receives the Record and the
 * binding the relying party computed itself, and fills `out`. It returns
 * ATTEX_OK when it could appraise (whatever the verdict), or an error when
 * the evidence is unusable (bad signature, malformed, binder mismatch...):
 * both are reported; only an affirming verdict passes the default policy.
 */
typedef struct attex_verifier {
    const char *name;
    const char *media_type;  /* NULL: match by content_format only */
    uint16_t content_format; /* 0: match by media_type only */
    void *ctx;
    int (*appraise)(void *ctx, const attex_cmw *record, const attex_binding *expected,
                    attex_appraisal *out, attex_error *err);
} attex_verifier;

/**
 * The common shape of the TEE appraisal functions (TDX, SEV-SNP, CCA): appraise
 * one raw report/quote/token `outblob` with its provider's supplemental data
 * `auxblob` (may be empty), requiring its report data to equal `report_data`
 * (64 bytes; NULL skips that check, for offline inspection of a sample).
 * Same contract as attex_verifier.appraise. The configfs-tsm verifier
 * dispatches to these by provider.
 */
typedef int (*attex_tee_appraise_fn)(void *verifier_ctx, const uint8_t *outblob,
                                     size_t outblob_len, const uint8_t *auxblob,
                                     size_t auxblob_len, const uint8_t *report_data,
                                     attex_appraisal *out, attex_error *err);

/* ---------------------------------------------------------------------- */
/* The relying party's policy                                             */

/** What a relying party requires. Zero-initialise, then set what you need. */
typedef struct attex_attest_policy {
    /** cmw_attestation code point; 0 for ATTEX_CMW_ATTESTATION_DEFAULT. */
    uint16_t code_point;
    /** Verifiers, by CMW type. A CMW of a type none matches is rejected. */
    const attex_verifier *const *verifiers;
    size_t num_verifiers;
    /** Nonzero: the peer must attest; a plain or empty authenticator is a failure. */
    int require;
    /** Lowest verdict accepted; 0 for ATTEX_VERDICT_AFFIRMING. */
    attex_verdict minimum;
    /** Accepted `ind` values of the top-level Record(s); 0 for evidence or results (4 or 8). */
    uint32_t accepted_ind;
} attex_attest_policy;

/* ---------------------------------------------------------------------- */
/* The three steps                                                        */

/**
 * attex_attest_request_create is attex_ea_request_create with the
 * `cmw_attestation` offer (an empty extension) added to `params` (may be NULL).
 */
int attex_attest_request_create(attex_ea_session *s, const attex_attest_policy *policy,
                                const attex_ea_request_params *params, attex_buf *out,
                                attex_error *err);

/**
 * attex_attest_answer answers `request`. If the request offers
 * `cmw_attestation` (at `code_point`, 0 for the default) and `attester` is
 * not NULL, it computes the binding for id->cert, asks the attester for a
 * CMW and puts it in the first CertificateEntry; otherwise it makes a plain
 * authenticator (or a refusal when id->cert is NULL). Extensions already in
 * id->extensions are kept.
 */
int attex_attest_answer(attex_ea_session *s, const uint8_t *request, size_t request_len,
                        const attex_ea_identity *id, const attex_attester *attester,
                        uint16_t code_point, attex_buf *out, attex_error *err);

/** A validated, appraised authenticator. */
typedef struct attex_attest_result attex_attest_result;

/**
 * attex_attest_validate validates authenticator `in` for `request` (see
 * attex_ea_authenticator_validate), then applies the draft's rules for
 * `cmw_attestation` and the policy: the extension only in the first entry,
 * exactly one u16-length CMW, a CMW that decodes, the binding recomputed
 * here, a registered verifier for every Record, and a verdict at least
 * policy->minimum for each. Returns ATTEX_OK only when all hold (or when no
 * attestation was required and none was sent); *out is filled on ATTEX_OK
 * and, for diagnostics, on appraisal failures (ATTEX_ERR_ATTESTATION).
 */
int attex_attest_validate(attex_ea_session *s, const uint8_t *request, size_t request_len,
                          const uint8_t *in, size_t in_len, const attex_ea_validate_opts *opts,
                          const attex_attest_policy *policy, attex_attest_result **out,
                          attex_error *err);

/** attex_attest_result_free releases `r`. Accepts NULL. */
void attex_attest_result_free(attex_attest_result *r);

/** attex_attest_result_authenticator returns the validated authenticator. */
const attex_ea_authenticator *attex_attest_result_authenticator(const attex_attest_result *r);

/** attex_attest_result_attested returns 1 if the peer sent attestation. */
int attex_attest_result_attested(const attex_attest_result *r);

/** attex_attest_result_cmw returns the decoded CMW, or NULL. */
const attex_cmw *attex_attest_result_cmw(const attex_attest_result *r);

/** attex_attest_result_binding returns the binding the relying party computed. */
const attex_binding *attex_attest_result_binding(const attex_attest_result *r);

/** attex_attest_result_num_appraisals returns how many Records were appraised. */
size_t attex_attest_result_num_appraisals(const attex_attest_result *r);

/** attex_attest_result_appraisal returns appraisal `i` (in CMW order) and its verifier's name. */
const attex_appraisal *attex_attest_result_appraisal(const attex_attest_result *r, size_t i,
                                                     const char **verifier_name);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_ATTEST_H */
