/*
 * attex internal: TPM 2.0 structures (TCG TPM 2.0 Library, Part 2) and the
 * TPM evidence codec, shared by the verifier (core), the attester
 * (attex_tpm), the tests and the fuzz targets.
 */
#ifndef ATTEX_TPM_INTERNAL_H
#define ATTEX_TPM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include <attex/buf.h>
#include <attex/error.h>

/* Part 2 s6.2: TPM_GENERATED_VALUE; s6.9: TPM_ST_ATTEST_QUOTE. */
#define TPM_GENERATED 0xFF544347u
#define TPM_ST_QUOTE 0x8018u

/* Part 2 s6.3: TPM_ALG_ID values attex knows. */
#define TPM_ALG_SHA1_ID 0x0004u
#define TPM_ALG_SHA256_ID 0x000Bu
#define TPM_ALG_SHA384_ID 0x000Cu
#define TPM_ALG_SHA512_ID 0x000Du
#define TPM_ALG_RSASSA_ID 0x0014u
#define TPM_ALG_RSAPSS_ID 0x0016u
#define TPM_ALG_ECDSA_ID 0x0018u

/* Banks (hash algorithms) a quote may select, and PCRs per bank (PC Client: 24). */
#define TPM_MAX_BANKS 4
#define TPM_NUM_PCRS 24
#define TPM_MAX_PCR_VALUES (TPM_MAX_BANKS * TPM_NUM_PCRS)
/* Certificates an AK chain may hold in evidence. */
#define TPM_MAX_CHAIN 8
/* Part 2 s10.4: TPM2B_DIGEST/TPM2B_DATA hold at most sizeof(TPMU_HA) = 64 bytes. */
#define TPM_MAX_DIGEST 64

/* tpm_hash_size returns the digest size of TPM hash algorithm `alg`, 0 if unknown. */
size_t tpm_hash_size(uint16_t alg);
/* tpm_hash_name returns "sha1", "sha256", "sha384", "sha512", or NULL. */
const char *tpm_hash_name(uint16_t alg);
/* tpm_hash_from_name is the inverse of tpm_hash_name; 0 if unknown. */
uint16_t tpm_hash_from_name(const char *name, size_t len);

/* Part 2 s10.6.2: TPMS_PCR_SELECTION. */
typedef struct tpm_pcr_selection {
    uint16_t hash;
    uint8_t size_of_select;
    uint8_t select[4];
} tpm_pcr_selection;

/* TPMS_ATTEST of a quote, as views into the parsed bytes. */
typedef struct tpm_quote {
    const uint8_t *signer; /* qualifiedSigner (TPM2B_NAME) */
    size_t signer_len;
    const uint8_t *extra; /* extraData (TPM2B_DATA) */
    size_t extra_len;
    uint64_t clock;
    uint32_t reset_count, restart_count;
    uint8_t safe;
    uint64_t firmware;
    uint32_t num_banks;
    tpm_pcr_selection banks[TPM_MAX_BANKS];
    const uint8_t *pcr_digest;
    size_t pcr_digest_len;
} tpm_quote;

/*
 * tpm_quote_parse parses a TPMS_ATTEST (Part 2 s10.12.12) that must be a
 * quote: ATTEX_OK, or ATTEX_ERR_DECODE / ATTEX_ERR_ILLEGAL_PARAMETER with a
 * sentence in err.
 */
int tpm_quote_parse(const uint8_t *p, size_t n, tpm_quote *q, attex_error *err);

/* tpm_quote_num_pcrs counts the PCRs q selects (over all banks). */
size_t tpm_quote_num_pcrs(const tpm_quote *q);

/* Part 2 s11.3.4: TPMT_SIGNATURE, for ECDSA, RSASSA and RSAPSS. */
typedef struct tpm_signature {
    uint16_t sig_alg;
    uint16_t hash;
    const uint8_t *r, *s; /* ECDSA */
    size_t r_len, s_len;
    const uint8_t *sig; /* RSA */
    size_t sig_len;
} tpm_signature;

/* tpm_signature_parse parses a TPMT_SIGNATURE: ATTEX_OK or an error as above. */
int tpm_signature_parse(const uint8_t *p, size_t n, tpm_signature *s, attex_error *err);

/* The evidence's parts (docs/tpm.md); views into `root` when decoded. */
typedef struct tpm_evidence {
    cbor_item_t *root;
    const uint8_t *attest;
    size_t attest_len;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *ak; /* DER SubjectPublicKeyInfo */
    size_t ak_len;
    const uint8_t *chain[TPM_MAX_CHAIN]; /* DER certificates, leaf first */
    size_t chain_len[TPM_MAX_CHAIN];
    size_t num_chain;
    const uint8_t *pcrs[TPM_MAX_PCR_VALUES]; /* in selection order */
    size_t pcr_len[TPM_MAX_PCR_VALUES];
    size_t num_pcrs;
} tpm_evidence;

/* tpm_evidence_decode decodes evidence strictly: ATTEX_OK or ATTEX_ERR_DECODE. */
int tpm_evidence_decode(const uint8_t *p, size_t n, tpm_evidence *e, attex_error *err);
/* tpm_evidence_free releases what tpm_evidence_decode allocated. */
void tpm_evidence_free(tpm_evidence *e);
/* tpm_evidence_encode writes e's parts (root unused) as deterministic CBOR. */
int tpm_evidence_encode(const tpm_evidence *e, attex_buf *out, attex_error *err);

#endif /* ATTEX_TPM_INTERNAL_H */
