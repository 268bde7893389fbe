/*
 * attex internal: TDX quote structures, the collateral cache and the TCB
 * evaluation, shared by src/tdx.c, src/tdx_collateral.c and the tests.
 */
#ifndef ATTEX_TDX_INTERNAL_H
#define ATTEX_TDX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include <attex/tdx.h>

#include "util.h"

#define TDX_TEE_TYPE_SGX 0x00000000u
#define TDX_TEE_TYPE_TDX 0x00000081u
#define TDX_BODY_TD10 2
#define TDX_BODY_TD15 3
#define TDX_BODY_TD10_SIZE 584
#define TDX_BODY_TD15_SIZE 648
#define TDX_QE_REPORT_SIZE 384
#define TDX_MAX_CHAIN 4

/* The TD report body (TD10 fields, plus the TD15 ones when body_type is 3). */
typedef struct tdx_body {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[48];
} tdx_body;

/* The QE report (an SGX REPORT body). */
typedef struct tdx_qe_report {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t attributes[16];
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint8_t report_data[64];
} tdx_qe_report;

/* A decoded quote. Spans point into the caller's quote bytes. */
typedef struct tdx_quote {
    uint16_t version;
    uint16_t att_key_type;
    uint32_t tee_type;
    uint16_t qe_svn;
    uint16_t pce_svn;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    uint16_t body_type; /* v4: TDX_BODY_TD10 */
    uint32_t body_size;
    tdx_body body;
    const uint8_t *signed_part; /* header || (v5: descriptor ||) body */
    size_t signed_len;
    uint8_t quote_sig[64];
    uint8_t att_key[64];
    const uint8_t *qe_report_raw;
    tdx_qe_report qe;
    uint8_t qe_report_sig[64];
    const uint8_t *qe_auth;
    size_t qe_auth_len;
    const uint8_t *pck_chain; /* PEM text */
    size_t pck_chain_len;
    size_t trailing; /* bytes after the signed data (unsigned, ignored) */
} tdx_quote;

/* tdx_quote_parse decodes a quote strictly; ATTEX_ERR_DECODE names the field on failure. */
int tdx_quote_parse(const uint8_t *p, size_t len, tdx_quote *q, attex_error *err);

/* What the PCK certificate's SGX extensions (OID 1.2.840.113741.1.13.1) say. */
typedef struct tdx_pck_ext {
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint8_t cpusvn[16];
    uint8_t comp_svn[16];
    uint16_t pcesvn;
    uint8_t ppid[16];
} tdx_pck_ext;

/* tdx_pck_ext_parse reads the SGX extensions of a PCK certificate. */
int tdx_pck_ext_parse(X509 *pck, tdx_pck_ext *out, attex_error *err);

/* ---- TCB evaluation ------------------------------------------------- */

typedef enum tdx_tcb_status {
    TDX_TCB_UP_TO_DATE,
    TDX_TCB_SW_HARDENING_NEEDED,
    TDX_TCB_CONFIGURATION_NEEDED,
    TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    TDX_TCB_OUT_OF_DATE,
    TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    TDX_TCB_REVOKED,
    TDX_TCB_NO_MATCH
} tdx_tcb_status;

const char *tdx_tcb_status_name(tdx_tcb_status s);

/* One parsed tcbLevel of a TCB Info, or of a module identity (isvsvn only). */
typedef struct tdx_tcb_level {
    uint8_t sgx_svn[16];
    uint16_t pcesvn;
    uint8_t tdx_svn[16];
    uint16_t isvsvn;
    tdx_tcb_status status;
    char *tcb_date;
    json_t *advisories; /* array or NULL */
} tdx_tcb_level;

typedef struct tdx_module_identity {
    uint8_t major; /* from "TDX_%02X" */
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    tdx_tcb_level *levels;
    size_t num_levels;
} tdx_module_identity;

typedef struct tdx_tcb_info {
    uint8_t fmspc[6];
    uint8_t pceid[2];
    int64_t issue_date, next_update;
    int64_t eval_number;
    uint8_t module_mrsigner[48];
    uint8_t module_attributes[8];
    uint8_t module_attributes_mask[8];
    tdx_module_identity *modules;
    size_t num_modules;
    int has_module_identities;
    tdx_tcb_level *levels;
    size_t num_levels;
} tdx_tcb_info;

typedef struct tdx_qe_identity {
    int64_t issue_date, next_update;
    int64_t eval_number;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    tdx_tcb_level *levels;
    size_t num_levels;
} tdx_qe_identity;

/*
 * tdx_tcb_info_parse / tdx_qe_identity_parse parse the signed inner object
 * (the value of "tcbInfo" / "enclaveIdentity"), strictly. No signature here.
 */
int tdx_tcb_info_parse(const json_t *obj, tdx_tcb_info *out, attex_error *err);
void tdx_tcb_info_clear(tdx_tcb_info *t);
int tdx_qe_identity_parse(const json_t *obj, tdx_qe_identity *out, attex_error *err);
void tdx_qe_identity_clear(tdx_qe_identity *q);

/* The outcome of a TCB evaluation. */
typedef struct tdx_tcb_result {
    tdx_tcb_status platform; /* from tcbLevels */
    tdx_tcb_status module;   /* from the module identity, UpToDate when none applies */
    tdx_tcb_status qe;       /* from the QE Identity, UpToDate when not evaluated */
    tdx_tcb_status final;    /* converged */
    const tdx_tcb_level *platform_level;
    const tdx_tcb_level *module_level;
    const tdx_tcb_level *qe_level;
    char module_id[8];       /* "TDX_01", or "" */
} tdx_tcb_result;

/*
 * tdx_tcb_evaluate applies Intel's TCB level matching to the quote's TEE
 * TCB SVN and the PCK's SGX components. Returns ATTEX_OK with the result
 * (including TDX_TCB_NO_MATCH), or ATTEX_ERR_ATTESTATION when the quote's
 * TDX module does not match the TCB Info (named in err).
 */
int tdx_tcb_evaluate(const tdx_tcb_info *ti, const tdx_pck_ext *pck, const tdx_body *body,
                     tdx_tcb_result *out, attex_error *err);

/* tdx_qe_evaluate checks the QE report against a QE Identity and finds its TCB level. */
int tdx_qe_evaluate(const tdx_qe_identity *qi, const tdx_qe_report *qe, tdx_tcb_result *out,
                    attex_error *err);

/* tdx_converge combines platform, module and QE statuses (Intel QVL convergence). */
tdx_tcb_status tdx_converge(tdx_tcb_status platform, tdx_tcb_status other);

/* tdx_verdict_for maps a converged TCB status to a verdict (attex/tdx.h top comment). */
attex_verdict tdx_verdict_for(tdx_tcb_status s, attex_verdict needs_action);

/*
 * tdx_policy_check_json checks a TD report body against policy JSON (the
 * verifier's format): ATTEX_OK when it matches, ATTEX_ERR_ATTESTATION with
 * the first mismatch in `why`, or the policy's parse error.
 */
int tdx_policy_check_json(const char *policy_json, const tdx_body *b, char *why, size_t why_len,
                          attex_error *err);

/* ---- collateral ------------------------------------------------------ */

typedef struct tdx_crl_entry {
    X509_CRL *crl;
    int64_t this_update, next_update;
    int64_t issuer_not_before, issuer_not_after; /* the CRL issuer's own window */
} tdx_crl_entry;

typedef struct tdx_collateral {
    X509 *root;
    unsigned char *root_der;
    size_t root_der_len;
    tdx_tcb_info *tcb_infos;
    size_t num_tcb_infos;
    int has_qe_identity;
    tdx_qe_identity qe_identity;
    /* validity window of the TCB signing chain (below the root) */
    int64_t signer_not_before, signer_not_after;
    int has_signer;
    tdx_crl_entry *crls;
    size_t num_crls;
    X509 **intermediates; /* certificates met in collateral chains, verified to the root */
    size_t num_intermediates;
} tdx_collateral;

/* tdx_collateral_load reads and verifies a collateral directory against `root`. */
int tdx_collateral_load(const char *dir, X509 *root, tdx_collateral *out, attex_error *err);
void tdx_collateral_clear(tdx_collateral *c);

/* One collateral document in memory (a file's name and content). */
typedef struct tdx_collateral_file {
    const char *name;
    const uint8_t *data;
    size_t len;
} tdx_collateral_file;

/* tdx_collateral_load_mem is tdx_collateral_load on documents already read (tests, fuzzing). */
int tdx_collateral_load_mem(const tdx_collateral_file *files, size_t n, X509 *root,
                            tdx_collateral *out, attex_error *err);

/* tdx_find_crl returns the CRL issued by `issuer`'s subject, or NULL. */
const tdx_crl_entry *tdx_find_crl(const tdx_collateral *c, X509 *issuer);

/* tdx_time_parse parses "YYYY-MM-DDTHH:MM:SSZ"; 1 ok, 0 bad. */
int tdx_time_parse(const char *s, int64_t *out);
/* tdx_time_format writes "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL). */
void tdx_time_format(int64_t t, char out[32]);
/* tdx_asn1_time converts an ASN1_TIME; 1 ok. */
int tdx_asn1_time(const ASN1_TIME *t, int64_t *out);

/* tdx_ecdsa_verify_raw verifies ECDSA P-256/SHA-256 signature r||s (32 bytes each); 1 ok. */
int tdx_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t sig[64]);


#endif /* ATTEX_TDX_INTERNAL_H */
