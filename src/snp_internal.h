/*
 * attex internal: SEV-SNP report and certificate table parsers, shared by
 * src/snp.c, its test and its fuzz target.
 */
#ifndef ATTEX_SNP_INTERNAL_H
#define ATTEX_SNP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/error.h>
#include <attex/snp.h>

/* AMD SEV-SNP ABI 56860, ATTESTATION_REPORT: the signed part is bytes 0x000..0x29F. */
#define SNP_SIGNED_LEN 0x2A0
/* ECDSA P-384: r and s are 48 bytes, stored as 72-byte little-endian fields. */
#define SNP_SIG_COMPONENT_LEN 48
#define SNP_SIG_FIELD_LEN 72

/* SIGNING_KEY values (report offset 0x48, bits 4:2). */
enum { SNP_KEY_VCEK = 0, SNP_KEY_VLEK = 1, SNP_KEY_NONE = 7 };

/* Guest policy bits (ABI 56860, GUEST_POLICY). */
#define SNP_POLICY_SMT (UINT64_C(1) << 16)
#define SNP_POLICY_RESERVED_ONE (UINT64_C(1) << 17)
#define SNP_POLICY_MIGRATE_MA (UINT64_C(1) << 18)
#define SNP_POLICY_DEBUG (UINT64_C(1) << 19)
#define SNP_POLICY_SINGLE_SOCKET (UINT64_C(1) << 20)

typedef struct snp_report {
    uint32_t version;
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo;
    uint64_t current_tcb;
    uint64_t platform_info;
    uint32_t signer_info; /* AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY */
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    uint64_t reported_tcb;
    uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step; /* version 3 */
    uint8_t chip_id[64];
    uint64_t committed_tcb;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_tcb;
    uint8_t sig_r[SNP_SIG_COMPONENT_LEN]; /* big-endian, converted from the report */
    uint8_t sig_s[SNP_SIG_COMPONENT_LEN];
    const uint8_t *signed_part; /* the SNP_SIGNED_LEN bytes the signature covers */
} snp_report;

/* snp_signing_key extracts SIGNING_KEY from signer_info. */
unsigned snp_signing_key(const snp_report *r);

/*
 * snp_report_parse decodes a report strictly: exact size, version 2 or 3,
 * SIGNATURE_ALGO 1, reserved fields zero, SIGNING_KEY VCEK or VLEK.
 * ATTEX_ERR_DECODE / ATTEX_ERR_UNSUPPORTED with a sentence naming the field.
 */
int snp_report_parse(const uint8_t *p, size_t n, snp_report *r, attex_error *err);

/* TCB_VERSION split into its SPLs; the layout depends on the product. */
typedef struct snp_tcb_parts {
    int fmc; /* Turin only; -1 elsewhere */
    int bootloader, tee, snp, microcode;
} snp_tcb_parts;

void snp_tcb_split(uint64_t tcb, int turin, snp_tcb_parts *out);

/* Certificate table entry kinds (GUIDs: GHCB spec / Linux sev-guest ABI). */
enum { SNP_CERT_ARK = 0, SNP_CERT_ASK, SNP_CERT_VCEK, SNP_CERT_VLEK, SNP_CERT_KINDS };

#define SNP_CERT_TABLE_MAX 16

typedef struct snp_cert_entry {
    int kind;
    uint32_t offset, length;
    const uint8_t *data; /* inside the table's buffer */
} snp_cert_entry;

typedef struct snp_cert_table {
    snp_cert_entry entries[SNP_CERT_TABLE_MAX];
    size_t count;
    const snp_cert_entry *by_kind[SNP_CERT_KINDS];
} snp_cert_table;

/*
 * snp_cert_table_parse decodes a certificate table strictly: 24-byte
 * entries {GUID, u32le offset, u32le length} ended by an all-zero entry,
 * known GUIDs only, each at most once, each certificate non-empty and inside
 * the blob after the table.
 */
int snp_cert_table_parse(const uint8_t *p, size_t n, snp_cert_table *t, attex_error *err);

/* snp_cert_kind_name returns "ARK", "ASK", "VCEK" or "VLEK". */
const char *snp_cert_kind_name(int kind);

/*
 * snp_verifier_check_intermediate checks that the DER certificate `der`
 * (an ASK or ASVK) is signed by one of v's pinned ARKs and names that ARK's
 * product in *product. For tests of the built-in roots.
 */
int snp_verifier_check_intermediate(attex_snp_verifier *v, const uint8_t *der, size_t len,
                                    const char **product, attex_error *err);

#endif /* ATTEX_SNP_INTERNAL_H */
