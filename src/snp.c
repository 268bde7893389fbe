/*
 * attex: AMD SEV-SNP attestation report verifier (docs/snp.md).
 *
 * References: AMD SEV-SNP ABI specification 56860 ("ABI" below), tables
 * ATTESTATION_REPORT, TCB_VERSION and GUEST_POLICY; AMD "Versioned Chip
 * Endorsement Key (VCEK) Certificate and KDS Interface Specification" 57230
 * ("KDS" below) for the certificate extensions; GHCB specification 56421
 * s4.1.8.1 for the certificate table of extended guest requests (the
 * configfs-tsm auxblob).
 *
 * Order of checks: structure, signature key selection, certificates (ARK
 * pinned, ASK by ARK, VCEK/VLEK by ASK, validity), the report signature,
 * then only authenticated fields: VCEK TCB and chip against the report,
 * REPORT_DATA, and the policy. Nothing unauthenticated decides a verdict.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <attex/snp.h>

#include "bytes.h"
#include "crypto.h"
#include "internal.h"
#include "snp_internal.h"
#include "snp_roots.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* Bounds on what a verifier keeps and reads. */
#define SNP_MAX_ANCHORS 16
#define SNP_ASK_CACHE 8
#define SNP_VCEK_CACHE 64
#define SNP_MAX_CERT_LEN (64 * 1024)
#define SNP_MAX_POLICY_LEN (256 * 1024)
#define SNP_MAX_HEX_VALUES 64

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* ---------------------------------------------------------------------- */
/* Report parser (ABI 56860, ATTESTATION_REPORT)                          */

unsigned snp_signing_key(const snp_report *r)
{
    return (unsigned)((r->signer_info >> 2) & 7);
}

static size_t offset_of(const attex_reader *rd, size_t total)
{
    return total - rd_len(rd);
}

/* Reserved ("MBZ") bytes must be zero: a report that sets them is not one this parser knows. */
static int reserved_zero(attex_reader *rd, size_t total, size_t n, attex_error *err)
{
    size_t start = offset_of(rd, total);
    attex_reader sub;
    if (!rd_sub(rd, n, &sub))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report ends inside the reserved bytes at 0x%03zx", start);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = 0;
        if (!rd_u8(&sub, &b))
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP report is truncated at 0x%03zx", start + i);
        if (b != 0)
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP report has byte 0x%02x at reserved offset 0x%03zx "
                              "(reserved 0x%03zx..0x%03zx must be zero, ABI 56860)",
                              b, start + i, start, start + n - 1);
    }
    return ATTEX_OK;
}

/* A signature component: 72 bytes little-endian, zero above the 48 bytes of a P-384 integer. */
static int read_sig_component(attex_reader *rd, size_t total, const char *name,
                              uint8_t out[SNP_SIG_COMPONENT_LEN], attex_error *err)
{
    uint8_t le[SNP_SIG_FIELD_LEN];
    size_t start = offset_of(rd, total);
    if (!rd_copy(rd, le, sizeof(le)))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report ends inside signature %s at 0x%03zx", name, start);
    /* ABI 56860, ECDSA P-384 signature format: R and S zero-extended little-endian. */
    if (!all_zero(le + SNP_SIG_COMPONENT_LEN, SNP_SIG_FIELD_LEN - SNP_SIG_COMPONENT_LEN))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP signature %s (at 0x%03zx) is not a P-384 integer: bytes "
                          "48..71 of its 72-byte little-endian field must be zero",
                          name, start);
    for (size_t i = 0; i < SNP_SIG_COMPONENT_LEN; i++)
        out[i] = le[SNP_SIG_COMPONENT_LEN - 1 - i];
    return ATTEX_OK;
}

#define RD(call, what)                                                                    \
    do {                                                                                  \
        if (!(call))                                                                      \
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,                    \
                              "the SEV-SNP report is truncated at 0x%03zx (%s)",          \
                              offset_of(&rd, n), what);                                   \
    } while (0)

int snp_report_parse(const uint8_t *p, size_t n, snp_report *r, attex_error *err)
{
    if (r == NULL || (p == NULL && n > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "snp_report_parse needs a report and a result");
    memset(r, 0, sizeof(*r));
    attex_reader rd;
    rd_init(&rd, p, n);
    r->signed_part = rd_ptr(&rd);
    RD(rd_u32le(&rd, &r->version), "VERSION");
    /* ABI 56860: versions 2 and 3 share this layout; 3 adds the CPUID fields. */
    if (r->version != 2 && r->version != 3)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the SEV-SNP report has VERSION %u; this verifier supports versions 2 "
                          "and 3 only",
                          r->version);
    if (n != ATTEX_SNP_REPORT_SIZE)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report is %zu bytes; a version %u report is exactly %d "
                          "(0x4A0) bytes",
                          n, r->version, ATTEX_SNP_REPORT_SIZE);
    uint32_t reserved32 = 0;
    RD(rd_u32le(&rd, &r->guest_svn), "GUEST_SVN");
    RD(rd_u64le(&rd, &r->policy), "POLICY");
    RD(rd_copy(&rd, r->family_id, sizeof(r->family_id)), "FAMILY_ID");
    RD(rd_copy(&rd, r->image_id, sizeof(r->image_id)), "IMAGE_ID");
    RD(rd_u32le(&rd, &r->vmpl), "VMPL");
    RD(rd_u32le(&rd, &r->signature_algo), "SIGNATURE_ALGO");
    RD(rd_u64le(&rd, &r->current_tcb), "CURRENT_TCB");
    RD(rd_u64le(&rd, &r->platform_info), "PLATFORM_INFO");
    RD(rd_u32le(&rd, &r->signer_info), "signer info");
    RD(rd_u32le(&rd, &reserved32), "reserved 0x04C");
    RD(rd_copy(&rd, r->report_data, sizeof(r->report_data)), "REPORT_DATA");
    RD(rd_copy(&rd, r->measurement, sizeof(r->measurement)), "MEASUREMENT");
    RD(rd_copy(&rd, r->host_data, sizeof(r->host_data)), "HOST_DATA");
    RD(rd_copy(&rd, r->id_key_digest, sizeof(r->id_key_digest)), "ID_KEY_DIGEST");
    RD(rd_copy(&rd, r->author_key_digest, sizeof(r->author_key_digest)), "AUTHOR_KEY_DIGEST");
    RD(rd_copy(&rd, r->report_id, sizeof(r->report_id)), "REPORT_ID");
    RD(rd_copy(&rd, r->report_id_ma, sizeof(r->report_id_ma)), "REPORT_ID_MA");
    RD(rd_u64le(&rd, &r->reported_tcb), "REPORTED_TCB");
    int ret;
    if (r->version >= 3) {
        RD(rd_u8(&rd, &r->cpuid_fam_id), "CPUID_FAM_ID");
        RD(rd_u8(&rd, &r->cpuid_mod_id), "CPUID_MOD_ID");
        RD(rd_u8(&rd, &r->cpuid_step), "CPUID_STEP");
        if ((ret = reserved_zero(&rd, n, 0x1A0 - 0x18B, err)) != ATTEX_OK)
            return ret;
    } else if ((ret = reserved_zero(&rd, n, 0x1A0 - 0x188, err)) != ATTEX_OK) {
        return ret;
    }
    RD(rd_copy(&rd, r->chip_id, sizeof(r->chip_id)), "CHIP_ID");
    RD(rd_u64le(&rd, &r->committed_tcb), "COMMITTED_TCB");
    RD(rd_u8(&rd, &r->current_build), "CURRENT_BUILD");
    RD(rd_u8(&rd, &r->current_minor), "CURRENT_MINOR");
    RD(rd_u8(&rd, &r->current_major), "CURRENT_MAJOR");
    if ((ret = reserved_zero(&rd, n, 1, err)) != ATTEX_OK)
        return ret;
    RD(rd_u8(&rd, &r->committed_build), "COMMITTED_BUILD");
    RD(rd_u8(&rd, &r->committed_minor), "COMMITTED_MINOR");
    RD(rd_u8(&rd, &r->committed_major), "COMMITTED_MAJOR");
    if ((ret = reserved_zero(&rd, n, 1, err)) != ATTEX_OK)
        return ret;
    RD(rd_u64le(&rd, &r->launch_tcb), "LAUNCH_TCB");
    if ((ret = reserved_zero(&rd, n, SNP_SIGNED_LEN - 0x1F8, err)) != ATTEX_OK)
        return ret;
    if ((ret = read_sig_component(&rd, n, "R", r->sig_r, err)) != ATTEX_OK ||
        (ret = read_sig_component(&rd, n, "S", r->sig_s, err)) != ATTEX_OK ||
        (ret = reserved_zero(&rd, n, rd_len(&rd), err)) != ATTEX_OK)
        return ret;
    if (!rd_done(&rd))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report has trailing bytes");

    if (reserved32 != 0)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report has 0x%08x in reserved bytes 0x04C..0x04F; they "
                          "must be zero",
                          reserved32);
    /* ABI 56860: bits 31:5 of the signer information word are reserved. */
    if ((r->signer_info & ~UINT32_C(0x1F)) != 0)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report's signer information (0x048) is 0x%08x; bits 31:5 "
                          "are reserved and must be zero",
                          r->signer_info);
    /* ABI 56860: SIGNATURE_ALGO 1 = ECDSA P-384 with SHA-384, the only algorithm defined. */
    if (r->signature_algo != 1)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the SEV-SNP report's SIGNATURE_ALGO is %u; expected 1 (ECDSA P-384 "
                          "with SHA-384)",
                          r->signature_algo);
    unsigned key = snp_signing_key(r);
    if (key == SNP_KEY_NONE)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the SEV-SNP report's SIGNING_KEY is 7 (none): the report is unsigned");
    if (key != SNP_KEY_VCEK && key != SNP_KEY_VLEK)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the SEV-SNP report's SIGNING_KEY is %u; expected 0 (VCEK) or 1 "
                          "(VLEK)",
                          key);
    /* ABI 56860: with MASK_CHIP_KEY set the VCEK does not sign; the signature is zero. */
    if (key == SNP_KEY_VCEK && (r->signer_info & 2) != 0)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the SEV-SNP report has MASK_CHIP_KEY set: the VCEK did not sign it");
    return ATTEX_OK;
}

#undef RD

void snp_tcb_split(uint64_t tcb, int turin, snp_tcb_parts *out)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(tcb >> (8 * i));
    /*
     * ABI 56860 TCB_VERSION: Milan/Genoa [0] BL, [1] TEE, [6] SNP, [7] UCODE;
     * Turin [0] FMC, [1] BL, [2] TEE, [3] SNP, [7] UCODE.
     */
    if (turin) {
        out->fmc = b[0];
        out->bootloader = b[1];
        out->tee = b[2];
        out->snp = b[3];
    } else {
        out->fmc = -1;
        out->bootloader = b[0];
        out->tee = b[1];
        out->snp = b[6];
    }
    out->microcode = b[7];
}

/* ---------------------------------------------------------------------- */
/* Certificate table (GHCB 56421 s4.1.8.1; Linux uapi sev-guest.h)        */

/* GUIDs in the byte order they are written (the table stores them so). */
static const uint8_t snp_guids[SNP_CERT_KINDS][16] = {
    /* ARK c0b406a4-a803-4952-9743-3fb6014cd0ae */
    {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
     0xae},
    /* ASK 4ab7b379-bbac-4fe4-a02f-05aef327c782 */
    {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
     0x82},
    /* VCEK 63da758d-e664-4564-adc5-f4b93be8accd */
    {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
     0xcd},
    /* VLEK a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
    {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
     0xa1},
};

const char *snp_cert_kind_name(int kind)
{
    static const char *const names[SNP_CERT_KINDS] = {"ARK", "ASK", "VCEK", "VLEK"};
    return kind >= 0 && kind < SNP_CERT_KINDS ? names[kind] : "unknown";
}

static void guid_text(const uint8_t g[16], char out[37])
{
    char h[33];
    util_hex(g, 16, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

#define SNP_TABLE_ENTRY_LEN 24

int snp_cert_table_parse(const uint8_t *p, size_t n, snp_cert_table *t, attex_error *err)
{
    if (t == NULL || (p == NULL && n > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "snp_cert_table_parse needs a table and a result");
    memset(t, 0, sizeof(*t));
    attex_reader rd;
    rd_init(&rd, p, n);
    for (size_t i = 0;; i++) {
        attex_reader e;
        uint8_t guid[16];
        uint32_t off = 0, len = 0;
        if (!rd_sub(&rd, SNP_TABLE_ENTRY_LEN, &e))
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table (%zu bytes) ends inside entry %zu "
                              "without the all-zero terminator entry",
                              n, i);
        if (!rd_copy(&e, guid, sizeof(guid)) || !rd_u32le(&e, &off) || !rd_u32le(&e, &len) ||
            !rd_done(&e))
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table entry %zu is malformed", i);
        /* GHCB 56421: the table ends with an entry whose GUID, offset and length are all zero. */
        if (all_zero(guid, sizeof(guid)) && off == 0 && len == 0)
            break;
        char gt[37];
        guid_text(guid, gt);
        int kind = -1;
        for (int k = 0; k < SNP_CERT_KINDS; k++)
            if (memcmp(guid, snp_guids[k], 16) == 0)
                kind = k;
        if (kind < 0)
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table entry %zu has GUID %s, which is not "
                              "the ARK, ASK, VCEK or VLEK GUID",
                              i, gt);
        if (t->by_kind[kind] != NULL)
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table has two %s entries (GUID %s)",
                              snp_cert_kind_name(kind), gt);
        if (t->count == SNP_CERT_TABLE_MAX)
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table has more than %d entries",
                              SNP_CERT_TABLE_MAX);
        snp_cert_entry *ce = &t->entries[t->count++];
        ce->kind = kind;
        ce->offset = off;
        ce->length = len;
        t->by_kind[kind] = ce;
    }
    size_t table_end = offset_of(&rd, n);
    for (size_t i = 0; i < t->count; i++) {
        snp_cert_entry *ce = &t->entries[i];
        const char *name = snp_cert_kind_name(ce->kind);
        if (ce->length == 0)
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table's %s entry has length 0", name);
        if (ce->offset < table_end)
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table's %s entry has offset %u, inside "
                              "the table itself (which ends at %zu)",
                              name, ce->offset, table_end);
        attex_reader all, sub;
        rd_init(&all, p, n);
        if (!rd_skip(&all, ce->offset) || !rd_sub(&all, ce->length, &sub))
            return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                              "the SEV-SNP certificate table's %s entry (offset %u, length %u) "
                              "runs past the end of the %zu-byte blob",
                              name, ce->offset, ce->length, n);
        ce->data = rd_ptr(&sub);
        for (size_t j = 0; j < i; j++) {
            const snp_cert_entry *o = &t->entries[j];
            if ((uint64_t)ce->offset < (uint64_t)o->offset + o->length &&
                (uint64_t)o->offset < (uint64_t)ce->offset + ce->length)
                return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                                  "the SEV-SNP certificate table's %s entry (offset %u, length "
                                  "%u) overlaps its %s entry (offset %u, length %u)",
                                  name, ce->offset, ce->length, snp_cert_kind_name(o->kind),
                                  o->offset, o->length);
        }
    }
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Certificates                                                           */

/* A certificate as DER bytes, taken from PEM or DER input; `owned` is what to free. */
typedef struct cert_der {
    const uint8_t *der;
    size_t len;
    uint8_t *owned;
} cert_der;

static void cert_der_free(cert_der *c)
{
    OPENSSL_free(c->owned);
    memset(c, 0, sizeof(*c));
}

static int starts_with_pem(const uint8_t *p, size_t n)
{
    static const char begin[] = "-----BEGIN ";
    return n >= sizeof(begin) - 1 && memcmp(p, begin, sizeof(begin) - 1) == 0;
}

/* cert_der_from gives the DER of the one certificate in p (PEM "CERTIFICATE" or DER). */
static int cert_der_from(const uint8_t *p, size_t n, const char *what, cert_der *out,
                         attex_error *err)
{
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > SNP_MAX_CERT_LEN)
        return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                          "the %s certificate is %zu bytes; expected 1..%d", what, n,
                          SNP_MAX_CERT_LEN);
    if (!starts_with_pem(p, n)) {
        out->der = p;
        out->len = n;
        return ATTEX_OK;
    }
    BIO *bio = BIO_new_mem_buf(p, (int)n);
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    int ok = bio != NULL && PEM_read_bio(bio, &name, &header, &data, &len) == 1 &&
             strcmp(name, "CERTIFICATE") == 0 && len > 0;
    BIO_free(bio);
    OPENSSL_free(name);
    OPENSSL_free(header);
    ERR_clear_error();
    if (!ok) {
        OPENSSL_free(data);
        return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                          "the %s certificate is neither DER nor a PEM CERTIFICATE block", what);
    }
    out->der = data;
    out->len = (size_t)len;
    out->owned = data;
    return ATTEX_OK;
}

/* parse_der decodes DER strictly: exactly one certificate, nothing after it. */
static X509 *parse_der(const cert_der *c, const char *what, attex_error *err)
{
    const unsigned char *q = c->der;
    X509 *x = d2i_X509(NULL, &q, (long)c->len);
    if (x == NULL || (size_t)(q - c->der) != c->len) {
        X509_free(x);
        char why[160];
        attex_openssl_reason(why, sizeof(why), "trailing bytes after the certificate");
        attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                   "the %s certificate does not decode as one X.509 certificate: %s", what, why);
        return NULL;
    }
    return x;
}

static void name_text(const X509_NAME *n, char *out, size_t out_len)
{
    char cn[128] = "";
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    const ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)) : NULL;
    if (s != NULL) {
        int len = ASN1_STRING_length(s);
        const unsigned char *d = ASN1_STRING_get0_data(s);
        size_t k = 0;
        for (int j = 0; j < len && k + 1 < sizeof(cn); j++)
            cn[k++] = d[j] >= 0x20 && d[j] < 0x7f ? (char)d[j] : '?';
        cn[k] = '\0';
    }
    snprintf(out, out_len, "CN=%s", cn[0] ? cn : "(none)");
}

static void time_text(const ASN1_TIME *t, char *out, size_t out_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;
    if (b != NULL && ASN1_TIME_print(b, t) == 1)
        n = BIO_read(b, out, (int)out_len - 1);
    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

/* check_validity: not before <= time <= not after (time: 0 for now). */
static int check_validity(X509 *x, const char *what, int64_t when, attex_error *err)
{
    time_t t = (time_t)when;
    time_t *tp = when != 0 ? &t : NULL;
    char nb[64], na[64], subj[160];
    if (X509_cmp_time(X509_get0_notBefore(x), tp) <= 0 &&
        X509_cmp_time(X509_get0_notAfter(x), tp) >= 0)
        return ATTEX_OK;
    time_text(X509_get0_notBefore(x), nb, sizeof(nb));
    time_text(X509_get0_notAfter(x), na, sizeof(na));
    name_text(X509_get_subject_name(x), subj, sizeof(subj));
    ERR_clear_error();
    return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                      "the %s certificate (%s) is not valid at %s%lld: valid from %s to %s",
                      what, subj, when != 0 ? "" : "now, ",
                      (long long)(when != 0 ? when : (int64_t)time(NULL)), nb, na);
}

/* KDS 57230: AMD signs ARK, ASK, VCEK and VLEK with RSASSA-PSS (SHA-384, salt 48). */
static int check_pss_signed(X509 *x, const char *what, attex_error *err)
{
    if (X509_get_signature_nid(x) == NID_rsassaPss)
        return ATTEX_OK;
    char subj[160];
    name_text(X509_get_subject_name(x), subj, sizeof(subj));
    return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                      "the %s certificate (%s) is signed with %s; AMD certificates are signed "
                      "with RSASSA-PSS",
                      what, subj, OBJ_nid2sn(X509_get_signature_nid(x)));
}

/* issued_by: x's issuer is issuer's subject and issuer's key verifies x's signature. */
static int issued_by(X509 *x, X509 *issuer)
{
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(issuer)) != 0)
        return 0;
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    int ok = k != NULL && X509_verify(x, k) == 1;
    ERR_clear_error();
    return ok;
}

static int sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    return crypto_digest(ATTEX_HASH_SHA256, p, n, out, NULL) == ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* VCEK / VLEK extensions (KDS 57230 s3)                                  */

typedef struct vcek_info {
    int bl, tee, snp, ucode, fmc; /* -1: absent */
    uint8_t hwid[64];
    size_t hwid_len;
    char product_name[32];
} vcek_info;

/* find_ext returns the extension named by `oid`, NULL when absent; -1 in *dup when repeated. */
static X509_EXTENSION *find_ext(X509 *x, const char *oid, int *dup)
{
    X509_EXTENSION *found = NULL;
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        char txt[64];
        if (OBJ_obj2txt(txt, sizeof(txt), X509_EXTENSION_get_object(e), 1) > 0 &&
            strcmp(txt, oid) == 0) {
            if (found != NULL)
                *dup = 1;
            found = e;
        }
    }
    return found;
}

/* ext_spl reads an SPL extension: a DER INTEGER 0..255 in the extension value. */
static int ext_spl(X509 *x, const char *oid, const char *name, int *out, attex_error *err)
{
    int dup = 0;
    *out = -1;
    X509_EXTENSION *e = find_ext(x, oid, &dup);
    if (e == NULL)
        return ATTEX_OK;
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
    const unsigned char *d = ASN1_STRING_get0_data(v), *q = d;
    long len = ASN1_STRING_length(v);
    ASN1_INTEGER *ai = dup ? NULL : d2i_ASN1_INTEGER(NULL, &q, len);
    int64_t val = -1;
    int ok = ai != NULL && q - d == len && ASN1_INTEGER_get_int64(&val, ai) == 1 && val >= 0 &&
             val <= 255;
    ASN1_INTEGER_free(ai);
    ERR_clear_error();
    if (!ok)
        return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                          "the VCEK extension %s (%s) is %s; expected one DER INTEGER 0..255",
                          oid, name, dup ? "repeated" : "malformed");
    *out = (int)val;
    return ATTEX_OK;
}

static int vcek_extensions(X509 *x, vcek_info *vi, attex_error *err)
{
    memset(vi, 0, sizeof(*vi));
    int ret;
    /* KDS 57230 Table "VCEK certificate extensions": 1.3.6.1.4.1.3704.1.3.x hold the SPLs. */
    if ((ret = ext_spl(x, "1.3.6.1.4.1.3704.1.3.1", "blSPL", &vi->bl, err)) != ATTEX_OK ||
        (ret = ext_spl(x, "1.3.6.1.4.1.3704.1.3.2", "teeSPL", &vi->tee, err)) != ATTEX_OK ||
        (ret = ext_spl(x, "1.3.6.1.4.1.3704.1.3.3", "snpSPL", &vi->snp, err)) != ATTEX_OK ||
        (ret = ext_spl(x, "1.3.6.1.4.1.3704.1.3.8", "ucodeSPL", &vi->ucode, err)) != ATTEX_OK ||
        (ret = ext_spl(x, "1.3.6.1.4.1.3704.1.3.9", "fmcSPL", &vi->fmc, err)) != ATTEX_OK)
        return ret;
    /* 1.3.6.1.4.1.3704.1.4 hwID: the raw CHIP_ID bytes (64; Turin: 8) in the extension value. */
    int dup = 0;
    X509_EXTENSION *e = find_ext(x, "1.3.6.1.4.1.3704.1.4", &dup);
    if (e != NULL) {
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
        size_t len = (size_t)ASN1_STRING_length(v);
        if (dup || len == 0 || len > sizeof(vi->hwid))
            return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                              "the VCEK hwID extension (1.3.6.1.4.1.3704.1.4) is %s (%zu bytes); "
                              "expected one of 8 or 64 bytes",
                              dup ? "repeated" : "of the wrong size", len);
        memcpy(vi->hwid, ASN1_STRING_get0_data(v), len);
        vi->hwid_len = len;
    }
    /* 1.3.6.1.4.1.3704.1.2 productName: IA5String such as "Milan-B0" (informative). */
    e = find_ext(x, "1.3.6.1.4.1.3704.1.2", &dup);
    if (e != NULL) {
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
        const unsigned char *d = ASN1_STRING_get0_data(v), *q = d;
        long len = ASN1_STRING_length(v);
        ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &q, len);
        if (s != NULL && q - d == len) {
            size_t k = 0;
            const unsigned char *sd = ASN1_STRING_get0_data(s);
            for (int j = 0; j < ASN1_STRING_length(s) && k + 1 < sizeof(vi->product_name); j++)
                vi->product_name[k++] = sd[j] >= 0x20 && sd[j] < 0x7f ? (char)sd[j] : '?';
            vi->product_name[k] = '\0';
        }
        ASN1_IA5STRING_free(s);
        ERR_clear_error();
    }
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Policy                                                                 */

typedef struct hex_set {
    const char *name; /* JSON member and report field */
    size_t len;
    size_t n;      /* 0: not constrained */
    uint8_t *vals; /* n * len bytes */
} hex_set;

enum {
    HS_MEASUREMENT,
    HS_HOST_DATA,
    HS_ID_KEY_DIGEST,
    HS_AUTHOR_KEY_DIGEST,
    HS_FAMILY_ID,
    HS_IMAGE_ID,
    HS_CHIP_ID,
    HS_REPORT_DATA,
    HS_COUNT
};

enum { PRODUCT_MILAN = 1, PRODUCT_GENOA = 2, PRODUCT_TURIN = 4 };

typedef struct snp_policy {
    int allow_debug, allow_migrate_ma, allow_smt, require_single_socket;
    int signing_key; /* -1 any, else SNP_KEY_VCEK / SNP_KEY_VLEK */
    unsigned products; /* 0: any */
    int vmpl;          /* -1: any */
    int64_t min_guest_svn;
    snp_tcb_parts min_tcb; /* -1 members: no minimum */
    hex_set hs[HS_COUNT];
} snp_policy;

static void policy_init(snp_policy *p)
{
    static const struct {
        const char *name;
        size_t len;
    } fields[HS_COUNT] = {{"measurement", 48},   {"host_data", 32},   {"id_key_digest", 48},
                          {"author_key_digest", 48}, {"family_id", 16}, {"image_id", 16},
                          {"chip_id", 64},       {"report_data", 64}};
    memset(p, 0, sizeof(*p));
    p->allow_smt = 1;
    p->signing_key = -1;
    p->vmpl = -1;
    p->min_guest_svn = -1;
    p->min_tcb.fmc = p->min_tcb.bootloader = p->min_tcb.tee = p->min_tcb.snp =
        p->min_tcb.microcode = -1;
    for (int i = 0; i < HS_COUNT; i++) {
        p->hs[i].name = fields[i].name;
        p->hs[i].len = fields[i].len;
    }
}

static void policy_free(snp_policy *p)
{
    for (int i = 0; i < HS_COUNT; i++)
        free(p->hs[i].vals);
}

static int policy_bad(attex_error *err, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int policy_bad(attex_error *err, const char *origin, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                      "the SEV-SNP policy (%s): %s", origin, why);
}

static int parse_hex_set(json_t *v, hex_set *hs, const char *origin, attex_error *err)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return policy_bad(err, origin, "\"%s\" must be a hex string or an array of them",
                          hs->name);
    if (n == 0 || n > SNP_MAX_HEX_VALUES)
        return policy_bad(err, origin, "\"%s\" must list 1..%d values", hs->name,
                          SNP_MAX_HEX_VALUES);
    hs->vals = malloc(n * hs->len);
    if (hs->vals == NULL)
        return NOMEM(err);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s) ||
            !util_unhex(json_string_value(s), json_string_length(s), hs->vals + i * hs->len,
                        hs->len))
            return policy_bad(err, origin, "\"%s\" values must be %zu hex digits (%zu bytes)",
                              hs->name, 2 * hs->len, hs->len);
    }
    hs->n = n;
    return ATTEX_OK;
}

static int json_bool_member(json_t *v, const char *key, int *out, const char *origin,
                            attex_error *err)
{
    if (!json_is_boolean(v))
        return policy_bad(err, origin, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return ATTEX_OK;
}

static int json_int_member(json_t *v, const char *key, int64_t lo, int64_t hi, int64_t *out,
                           const char *origin, attex_error *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return policy_bad(err, origin, "\"%s\" must be an integer %lld..%lld", key,
                          (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return ATTEX_OK;
}

static int parse_min_tcb(json_t *o, snp_tcb_parts *t, const char *origin, attex_error *err)
{
    if (!json_is_object(o))
        return policy_bad(err, origin, "\"minimum_tcb\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int *slot = strcmp(key, "bootloader") == 0 ? &t->bootloader
                    : strcmp(key, "tee") == 0      ? &t->tee
                    : strcmp(key, "snp") == 0      ? &t->snp
                    : strcmp(key, "microcode") == 0 ? &t->microcode
                    : strcmp(key, "fmc") == 0       ? &t->fmc
                                                   : NULL;
        int64_t val = 0;
        if (slot == NULL)
            return policy_bad(err, origin, "\"minimum_tcb\" has unknown member \"%s\" (known: "
                                           "bootloader, tee, snp, microcode, fmc)",
                              key);
        int ret = json_int_member(v, key, 0, 255, &val, origin, err);
        if (ret != ATTEX_OK)
            return ret;
        *slot = (int)val;
    }
    return ATTEX_OK;
}

static int parse_products(json_t *v, unsigned *out, const char *origin, attex_error *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return policy_bad(err, origin, "\"products\" must be a non-empty array of \"Milan\", "
                                       "\"Genoa\", \"Turin\"");
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        const char *t = json_string_value(s);
        if (t != NULL && strcasecmp(t, "Milan") == 0)
            *out |= PRODUCT_MILAN;
        else if (t != NULL && strcasecmp(t, "Genoa") == 0)
            *out |= PRODUCT_GENOA;
        else if (t != NULL && strcasecmp(t, "Turin") == 0)
            *out |= PRODUCT_TURIN;
        else
            return policy_bad(err, origin, "\"products\" entry %zu is not \"Milan\", \"Genoa\" "
                                           "or \"Turin\"",
                              i);
    }
    return ATTEX_OK;
}

static int policy_parse(const char *text, size_t len, const char *origin, snp_policy *p,
                        attex_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return policy_bad(err, origin, "not valid JSON at line %d column %d: %s", jerr.line,
                          jerr.column, jerr.text);
    int ret = ATTEX_OK;
    if (!json_is_object(root)) {
        ret = policy_bad(err, origin, "the policy must be a JSON object");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        int64_t val = 0;
        int hs = -1;
        for (int i = 0; i < HS_COUNT; i++)
            if (strcmp(key, p->hs[i].name) == 0)
                hs = i;
        if (hs >= 0)
            ret = parse_hex_set(v, &p->hs[hs], origin, err);
        else if (strcmp(key, "allow_debug") == 0)
            ret = json_bool_member(v, key, &p->allow_debug, origin, err);
        else if (strcmp(key, "allow_migrate_ma") == 0)
            ret = json_bool_member(v, key, &p->allow_migrate_ma, origin, err);
        else if (strcmp(key, "allow_smt") == 0)
            ret = json_bool_member(v, key, &p->allow_smt, origin, err);
        else if (strcmp(key, "require_single_socket") == 0)
            ret = json_bool_member(v, key, &p->require_single_socket, origin, err);
        else if (strcmp(key, "vmpl") == 0) {
            ret = json_int_member(v, key, 0, 3, &val, origin, err);
            p->vmpl = (int)val;
        } else if (strcmp(key, "min_guest_svn") == 0) {
            ret = json_int_member(v, key, 0, UINT32_MAX, &val, origin, err);
            p->min_guest_svn = val;
        } else if (strcmp(key, "minimum_tcb") == 0)
            ret = parse_min_tcb(v, &p->min_tcb, origin, err);
        else if (strcmp(key, "products") == 0)
            ret = parse_products(v, &p->products, origin, err);
        else if (strcmp(key, "signing_key") == 0) {
            const char *s = json_string_value(v);
            if (s != NULL && strcmp(s, "vcek") == 0)
                p->signing_key = SNP_KEY_VCEK;
            else if (s != NULL && strcmp(s, "vlek") == 0)
                p->signing_key = SNP_KEY_VLEK;
            else if (s != NULL && strcmp(s, "any") == 0)
                p->signing_key = -1;
            else
                ret = policy_bad(err, origin, "\"signing_key\" must be \"vcek\", \"vlek\" or "
                                              "\"any\"");
        } else
            ret = policy_bad(err, origin, "unknown member \"%s\" (docs/snp.md lists the "
                                          "members)",
                             key);
        if (ret != ATTEX_OK)
            goto done;
    }
done:
    json_decref(root);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* The verifier object                                                    */

typedef struct snp_anchor {
    X509 *cert;
    char product[16];
    unsigned product_bit; /* PRODUCT_*, 0 when the CN names another product */
    uint8_t der_hash[32];
} snp_anchor;

typedef struct ask_entry {
    uint8_t hash[32];
    X509 *cert;
    size_t anchor;
} ask_entry;

typedef struct vcek_entry {
    uint8_t hash[32];
    uint8_t ask_hash[32];
    X509 *cert;
    vcek_info info;
} vcek_entry;

struct attex_snp_verifier {
    snp_anchor anchors[SNP_MAX_ANCHORS];
    size_t num_anchors;
    uint8_t *cfg_vcek, *cfg_ask, *cfg_ark; /* DER, from the configured files */
    size_t cfg_vcek_len, cfg_ask_len, cfg_ark_len;
    snp_policy policy;
    int64_t validation_time;
    pthread_mutex_t lock;
    ask_entry asks[SNP_ASK_CACHE];
    size_t num_asks, next_ask;
    vcek_entry vceks[SNP_VCEK_CACHE];
    size_t num_vceks, next_vcek;
};

static int add_anchor(attex_snp_verifier *v, X509 *x, const char *origin, attex_error *err)
{
    char subj[160];
    name_text(X509_get_subject_name(x), subj, sizeof(subj));
    if (v->num_anchors == SNP_MAX_ANCHORS) {
        X509_free(x);
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "too many trusted ARKs with %s (at most %d)", origin,
                          SNP_MAX_ANCHORS);
    }
    snp_anchor *a = &v->anchors[v->num_anchors];
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    int ok = len > 0 && sha256(der, (size_t)len, a->der_hash);
    OPENSSL_free(der);
    if (!ok) {
        X509_free(x);
        return attex_fail_crypto(err, "encoding an ARK");
    }
    a->cert = x;
    /* The product is the ARK's CN, "ARK-<product>" (KDS 57230). */
    const char *cn = strncmp(subj, "CN=ARK-", 7) == 0 ? subj + 7 : subj + 3;
    size_t k = 0;
    for (; cn[k] != '\0' && k + 1 < sizeof(a->product); k++)
        a->product[k] = cn[k];
    a->product[k] = '\0';
    a->product_bit = strcmp(a->product, "Milan") == 0   ? PRODUCT_MILAN
                     : strcmp(a->product, "Genoa") == 0 ? PRODUCT_GENOA
                     : strcmp(a->product, "Turin") == 0 ? PRODUCT_TURIN
                                                        : 0;
    v->num_anchors++;
    return ATTEX_OK;
}

static int add_anchors_pem(attex_snp_verifier *v, const char *pem, size_t len,
                           const char *origin, attex_error *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return NOMEM(err);
    size_t count = 0;
    int ret = ATTEX_OK;
    X509 *x;
    while (ret == ATTEX_OK && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        /* KDS 57230: the ARK is self-signed; others (an ASK in a cert_chain file) are not roots. */
        if (!issued_by(x, x)) {
            X509_free(x);
            continue;
        }
        ret = add_anchor(v, x, origin, err);
        count++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (ret == ATTEX_OK && count == 0)
        ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                         "%s holds no self-signed (ARK) PEM certificate", origin);
    return ret;
}

/*
 * load_cert_file reads `path` (PEM or DER): the first certificate's DER goes
 * to *der, a second one's (when der2 is not NULL) to *der2.
 */
static int load_cert_file(const char *path, const char *what, uint8_t **der, size_t *der_len,
                          uint8_t **der2, size_t *der2_len, attex_error *err)
{
    attex_buf file = ATTEX_BUF_INIT;
    int ret = util_read_file(path, what, SNP_MAX_CERT_LEN, &file, err);
    if (ret != ATTEX_OK)
        return ret;
    X509 *x[2] = {NULL, NULL};
    if (starts_with_pem(file.data, file.len)) {
        BIO *bio = BIO_new_mem_buf(file.data, (int)file.len);
        for (int i = 0; i < 2 && bio != NULL; i++)
            x[i] = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        cert_der c = {file.data, file.len, NULL};
        x[0] = parse_der(&c, what, NULL);
    }
    ERR_clear_error();
    attex_buf_free(&file);
    if (x[0] == NULL || (der2 == NULL && x[1] != NULL)) {
        X509_free(x[0]);
        X509_free(x[1]);
        return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                          "%s \"%s\" must hold %s certificate (PEM or DER)", what, path,
                          der2 == NULL ? "exactly one" : "one or two");
    }
    for (int i = 0; i < 2 && ret == ATTEX_OK; i++) {
        if (x[i] == NULL)
            continue;
        unsigned char *d = NULL;
        int len = i2d_X509(x[i], &d);
        if (len <= 0) {
            ret = attex_fail_crypto(err, "encoding a certificate");
            continue;
        }
        *(i == 0 ? der : der2) = d;
        *(i == 0 ? der_len : der2_len) = (size_t)len;
    }
    X509_free(x[0]);
    X509_free(x[1]);
    return ret;
}

attex_snp_verifier *attex_snp_verifier_new(const attex_snp_verifier_config *cfg,
                                           attex_error *err)
{
    attex_snp_verifier_config none;
    if (cfg == NULL) {
        memset(&none, 0, sizeof(none));
        cfg = &none;
    }
    attex_snp_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        NOMEM(err);
        return NULL;
    }
    policy_init(&v->policy);
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        policy_free(&v->policy);
        free(v);
        attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                   "cannot create the SEV-SNP verifier's lock");
        return NULL;
    }
    v->validation_time = cfg->validation_time;
    int ret = ATTEX_OK;
    if (!cfg->no_builtin_arks) {
        static const struct {
            const char *pem;
            size_t len;
        } builtin[] = {{snp_ark_milan_pem, sizeof(snp_ark_milan_pem) - 1},
                       {snp_ark_genoa_pem, sizeof(snp_ark_genoa_pem) - 1},
                       {snp_ark_turin_pem, sizeof(snp_ark_turin_pem) - 1}};
        for (size_t i = 0; i < ATTEX_ARRAY_LEN(builtin) && ret == ATTEX_OK; i++)
            ret = add_anchors_pem(v, builtin[i].pem, builtin[i].len, "the built-in ARKs", err);
    }
    for (size_t i = 0; i < cfg->num_ark_paths && ret == ATTEX_OK; i++) {
        attex_buf file = ATTEX_BUF_INIT;
        if (cfg->ark_paths == NULL || cfg->ark_paths[i] == NULL)
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "ark_paths[%zu] is NULL", i);
        else if ((ret = util_read_file(cfg->ark_paths[i], "the SEV-SNP ARK file",
                                       SNP_MAX_CERT_LEN * 4, &file, err)) == ATTEX_OK)
            ret = add_anchors_pem(v, (const char *)file.data, file.len, cfg->ark_paths[i], err);
        attex_buf_free(&file);
    }
    if (ret == ATTEX_OK && cfg->ark_pem != NULL)
        ret = add_anchors_pem(v, cfg->ark_pem, strlen(cfg->ark_pem), "ark_pem", err);
    if (ret == ATTEX_OK && v->num_anchors == 0)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "the SEV-SNP verifier trusts no ARK: no_builtin_arks is set and "
                         "neither ark_paths nor ark_pem is given");
    if (ret == ATTEX_OK && cfg->vcek_path != NULL)
        ret = load_cert_file(cfg->vcek_path, "the SEV-SNP VCEK file", &v->cfg_vcek,
                             &v->cfg_vcek_len, NULL, NULL, err);
    if (ret == ATTEX_OK && cfg->ask_path != NULL)
        ret = load_cert_file(cfg->ask_path, "the SEV-SNP ASK file", &v->cfg_ask, &v->cfg_ask_len,
                             &v->cfg_ark, &v->cfg_ark_len, err);
    if (ret == ATTEX_OK && (cfg->vcek_path != NULL) != (cfg->ask_path != NULL))
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "the SEV-SNP verifier needs vcek_path and ask_path together");
    if (ret == ATTEX_OK && (cfg->policy_json != NULL || cfg->policy_path != NULL)) {
        attex_buf text = ATTEX_BUF_INIT;
        if (cfg->policy_json != NULL)
            ret = policy_parse(cfg->policy_json, strlen(cfg->policy_json), "policy_json",
                               &v->policy, err);
        else if ((ret = util_read_file(cfg->policy_path, "the SEV-SNP policy file",
                                       SNP_MAX_POLICY_LEN, &text, err)) == ATTEX_OK)
            ret = policy_parse((const char *)text.data, text.len, cfg->policy_path, &v->policy,
                               err);
        attex_buf_free(&text);
    }
    if (ret != ATTEX_OK) {
        attex_snp_verifier_free(v);
        return NULL;
    }
    return v;
}

void attex_snp_verifier_free(attex_snp_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->num_anchors; i++)
        X509_free(v->anchors[i].cert);
    for (size_t i = 0; i < v->num_asks; i++)
        X509_free(v->asks[i].cert);
    for (size_t i = 0; i < v->num_vceks; i++)
        X509_free(v->vceks[i].cert);
    OPENSSL_free(v->cfg_vcek);
    OPENSSL_free(v->cfg_ask);
    OPENSSL_free(v->cfg_ark);
    policy_free(&v->policy);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

/* ---------------------------------------------------------------------- */
/* Chain                                                                  */

/* What one appraisal uses of the chain: references owned by the caller. */
typedef struct chain_view {
    const snp_anchor *anchor;
    X509 *ask;
    X509 *vcek;
    vcek_info info;
    uint8_t vcek_hash[32];
} chain_view;

static void chain_view_free(chain_view *c)
{
    X509_free(c->ask);
    X509_free(c->vcek);
    memset(c, 0, sizeof(*c));
}

/* verify_ask finds the pinned ARK that signed the ASK (cached by the ASK's DER hash). */
static int verify_ask(attex_snp_verifier *v, const cert_der *ask_der, const cert_der *ark_der,
                      const char *ask_name, chain_view *cv, attex_error *err)
{
    uint8_t h[32];
    if (!sha256(ask_der->der, ask_der->len, h))
        return attex_fail_crypto(err, "hashing the ASK");
    /* An ARK that comes with the evidence must be one of ours (KDS 57230: the ARK is the root). */
    const snp_anchor *sent_ark = NULL;
    if (ark_der != NULL) {
        uint8_t ah[32];
        if (!sha256(ark_der->der, ark_der->len, ah))
            return attex_fail_crypto(err, "hashing the ARK");
        for (size_t i = 0; i < v->num_anchors && sent_ark == NULL; i++)
            if (memcmp(ah, v->anchors[i].der_hash, 32) == 0)
                sent_ark = &v->anchors[i];
        if (sent_ark == NULL) {
            char subj[160] = "undecodable", hx[65];
            X509 *x = parse_der(ark_der, "ARK", NULL);
            if (x != NULL)
                name_text(X509_get_subject_name(x), subj, sizeof(subj));
            X509_free(x);
            util_hex(ah, 32, hx);
            return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                              "the ARK that came with the report (%s, SHA-256 %s) is not one "
                              "of the %zu pinned ARKs",
                              subj, hx, v->num_anchors);
        }
    }
    pthread_mutex_lock(&v->lock);
    /* First match only: two threads that missed at once may both have cached the same ASK. */
    for (size_t i = 0; i < v->num_asks && cv->ask == NULL; i++)
        if (memcmp(v->asks[i].hash, h, 32) == 0) {
            cv->anchor = &v->anchors[v->asks[i].anchor];
            cv->ask = v->asks[i].cert;
            X509_up_ref(cv->ask);
        }
    pthread_mutex_unlock(&v->lock);
    if (cv->ask == NULL) {
        X509 *ask = parse_der(ask_der, ask_name, err);
        if (ask == NULL)
            return ATTEX_ERR_BAD_CERTIFICATE;
        int ret = check_pss_signed(ask, ask_name, err);
        size_t found = v->num_anchors;
        for (size_t i = 0; i < v->num_anchors && found == v->num_anchors && ret == ATTEX_OK; i++)
            if (issued_by(ask, v->anchors[i].cert))
                found = i;
        if (ret == ATTEX_OK && found == v->num_anchors) {
            char subj[160], iss[160];
            name_text(X509_get_subject_name(ask), subj, sizeof(subj));
            name_text(X509_get_issuer_name(ask), iss, sizeof(iss));
            ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                             "the %s (%s, issuer %s) is not signed by any of the %zu pinned "
                             "ARKs",
                             ask_name, subj, iss, v->num_anchors);
        }
        if (ret != ATTEX_OK) {
            X509_free(ask);
            return ret;
        }
        cv->anchor = &v->anchors[found];
        cv->ask = ask;
        pthread_mutex_lock(&v->lock);
        ask_entry *e = &v->asks[v->next_ask];
        if (v->num_asks < SNP_ASK_CACHE)
            v->num_asks++;
        else
            X509_free(e->cert);
        memcpy(e->hash, h, 32);
        e->cert = ask;
        X509_up_ref(ask);
        e->anchor = found;
        v->next_ask = (v->next_ask + 1) % SNP_ASK_CACHE;
        pthread_mutex_unlock(&v->lock);
    }
    if (sent_ark != NULL && sent_ark != cv->anchor)
        return attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                          "the report came with ARK-%s but its %s is signed by ARK-%s",
                          sent_ark->product, ask_name, cv->anchor->product);
    return ATTEX_OK;
}

int snp_verifier_check_intermediate(attex_snp_verifier *v, const uint8_t *der, size_t len,
                                    const char **product, attex_error *err)
{
    cert_der c = {der, len, NULL};
    chain_view cv;
    memset(&cv, 0, sizeof(cv));
    int ret = verify_ask(v, &c, NULL, "ASK", &cv, err);
    if (ret == ATTEX_OK && product != NULL)
        *product = cv.anchor->product;
    chain_view_free(&cv);
    return ret;
}

static int verify_vcek(attex_snp_verifier *v, const cert_der *vcek_der, const char *key_name,
                       const char *ask_name, const uint8_t ask_hash[32], chain_view *cv,
                       attex_error *err)
{
    if (!sha256(vcek_der->der, vcek_der->len, cv->vcek_hash))
        return attex_fail_crypto(err, "hashing the VCEK");
    pthread_mutex_lock(&v->lock);
    /* First match only: two threads that missed at once may both have cached the same VCEK. */
    for (size_t i = 0; i < v->num_vceks && cv->vcek == NULL; i++)
        if (memcmp(v->vceks[i].hash, cv->vcek_hash, 32) == 0 &&
            memcmp(v->vceks[i].ask_hash, ask_hash, 32) == 0) {
            cv->vcek = v->vceks[i].cert;
            X509_up_ref(cv->vcek);
            cv->info = v->vceks[i].info;
        }
    pthread_mutex_unlock(&v->lock);
    if (cv->vcek != NULL)
        return ATTEX_OK;
    X509 *x = parse_der(vcek_der, key_name, err);
    if (x == NULL)
        return ATTEX_ERR_BAD_CERTIFICATE;
    int ret = check_pss_signed(x, key_name, err);
    char subj[160], iss[160], ask_subj[160];
    if (ret == ATTEX_OK && !issued_by(x, cv->ask)) {
        name_text(X509_get_subject_name(x), subj, sizeof(subj));
        name_text(X509_get_issuer_name(x), iss, sizeof(iss));
        name_text(X509_get_subject_name(cv->ask), ask_subj, sizeof(ask_subj));
        ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                         "the %s (%s, issuer %s) is not signed by the %s (%s, under ARK-%s)",
                         key_name, subj, iss, ask_name, ask_subj, cv->anchor->product);
    }
    /* KDS 57230: the VCEK/VLEK key is ECDSA P-384. */
    EVP_PKEY *k = ret == ATTEX_OK ? X509_get0_pubkey(x) : NULL;
    char curve[64] = "";
    size_t cl = 0;
    if (ret == ATTEX_OK &&
        (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
         EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), &cl) != 1 ||
         strcmp(curve, "secp384r1") != 0))
        ret = attex_fail(err, ATTEX_ERR_BAD_CERTIFICATE, ATTEX_ALERT_NONE,
                         "the %s key is %s%s; it must be ECDSA P-384 (secp384r1)", key_name,
                         k == NULL ? "missing" : OBJ_nid2sn(EVP_PKEY_get_base_id(k)),
                         curve[0] ? curve : "");
    ERR_clear_error();
    if (ret == ATTEX_OK)
        ret = vcek_extensions(x, &cv->info, err);
    if (ret != ATTEX_OK) {
        X509_free(x);
        return ret;
    }
    cv->vcek = x;
    pthread_mutex_lock(&v->lock);
    vcek_entry *e = &v->vceks[v->next_vcek];
    if (v->num_vceks < SNP_VCEK_CACHE)
        v->num_vceks++;
    else
        X509_free(e->cert);
    memcpy(e->hash, cv->vcek_hash, 32);
    memcpy(e->ask_hash, ask_hash, 32);
    e->cert = x;
    X509_up_ref(x);
    e->info = cv->info;
    v->next_vcek = (v->next_vcek + 1) % SNP_VCEK_CACHE;
    pthread_mutex_unlock(&v->lock);
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Signature                                                              */

/* ABI 56860: ECDSA P-384 with SHA-384 over bytes 0x000..0x29F; r, s converted to big-endian. */
static int verify_report_signature(EVP_PKEY *key, const snp_report *r)
{
    uint8_t sig[2 * SNP_SIG_COMPONENT_LEN];
    memcpy(sig, r->sig_r, SNP_SIG_COMPONENT_LEN);
    memcpy(sig + SNP_SIG_COMPONENT_LEN, r->sig_s, SNP_SIG_COMPONENT_LEN);
    int ok = crypto_ecdsa_verify_raw(key, ATTEX_HASH_SHA384, r->signed_part, SNP_SIGNED_LEN,
                                     sig, sizeof(sig));
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    /* Fuzz builds only (docs/security.md): let mutated reports reach the checks after it. */
    ok = 1;
#endif
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Describe                                                               */

static int jset(json_t *o, const char *k, json_t *v)
{
    return v != NULL && json_object_set_new(o, k, v) == 0;
}

static json_t *jhex(const uint8_t *p, size_t n)
{
    char h[2 * 64 + 1];
    util_hex(p, n, h);
    return json_string(h);
}

static json_t *ju64hex(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "0x%016llx", (unsigned long long)v);
    return json_string(b);
}

static json_t *tcb_json(uint64_t tcb, int turin)
{
    snp_tcb_parts t;
    snp_tcb_split(tcb, turin, &t);
    json_t *o = json_object();
    int ok = o != NULL && jset(o, "raw", ju64hex(tcb)) &&
             (!turin || jset(o, "fmc", json_integer(t.fmc))) &&
             jset(o, "bootloader", json_integer(t.bootloader)) &&
             jset(o, "tee", json_integer(t.tee)) && jset(o, "snp", json_integer(t.snp)) &&
             jset(o, "microcode", json_integer(t.microcode));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *policy_json(uint64_t p)
{
    json_t *o = json_object();
    int ok = o != NULL && jset(o, "raw", ju64hex(p)) &&
             jset(o, "abi_minor", json_integer((json_int_t)(p & 0xFF))) &&
             jset(o, "abi_major", json_integer((json_int_t)((p >> 8) & 0xFF))) &&
             jset(o, "smt", json_boolean(p & SNP_POLICY_SMT)) &&
             jset(o, "migrate_ma", json_boolean(p & SNP_POLICY_MIGRATE_MA)) &&
             jset(o, "debug", json_boolean(p & SNP_POLICY_DEBUG)) &&
             jset(o, "single_socket", json_boolean(p & SNP_POLICY_SINGLE_SOCKET));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *version_json(uint8_t major, uint8_t minor, uint8_t build)
{
    char b[24];
    snprintf(b, sizeof(b), "%u.%u.%u", major, minor, build);
    return json_string(b);
}

/* Turin reports have CPUID family 0x1A (version 3 reports only say so). */
static int report_is_turin(const snp_report *r)
{
    return r->version >= 3 && r->cpuid_fam_id == 0x1A;
}

static json_t *report_json(const snp_report *r, int turin)
{
    json_t *o = json_object();
    uint8_t sig[2 * SNP_SIG_COMPONENT_LEN];
    memcpy(sig, r->sig_r, SNP_SIG_COMPONENT_LEN);
    memcpy(sig + SNP_SIG_COMPONENT_LEN, r->sig_s, SNP_SIG_COMPONENT_LEN);
    unsigned key = snp_signing_key(r);
    int ok = o != NULL && jset(o, "version", json_integer(r->version)) &&
             jset(o, "guest_svn", json_integer(r->guest_svn)) &&
             jset(o, "policy", policy_json(r->policy)) &&
             jset(o, "family_id", jhex(r->family_id, sizeof(r->family_id))) &&
             jset(o, "image_id", jhex(r->image_id, sizeof(r->image_id))) &&
             jset(o, "vmpl", json_integer(r->vmpl)) &&
             jset(o, "signature_algo", json_integer(r->signature_algo)) &&
             jset(o, "current_tcb", tcb_json(r->current_tcb, turin)) &&
             jset(o, "platform_info", ju64hex(r->platform_info)) &&
             jset(o, "author_key_en", json_boolean(r->signer_info & 1)) &&
             jset(o, "mask_chip_key", json_boolean(r->signer_info & 2)) &&
             jset(o, "signing_key", json_string(key == SNP_KEY_VCEK ? "vcek" : "vlek")) &&
             jset(o, "report_data", jhex(r->report_data, sizeof(r->report_data))) &&
             jset(o, "measurement", jhex(r->measurement, sizeof(r->measurement))) &&
             jset(o, "host_data", jhex(r->host_data, sizeof(r->host_data))) &&
             jset(o, "id_key_digest", jhex(r->id_key_digest, sizeof(r->id_key_digest))) &&
             jset(o, "author_key_digest",
                  jhex(r->author_key_digest, sizeof(r->author_key_digest))) &&
             jset(o, "report_id", jhex(r->report_id, sizeof(r->report_id))) &&
             jset(o, "report_id_ma", jhex(r->report_id_ma, sizeof(r->report_id_ma))) &&
             jset(o, "reported_tcb", tcb_json(r->reported_tcb, turin)) &&
             (r->version < 3 || (jset(o, "cpuid_fam_id", json_integer(r->cpuid_fam_id)) &&
                                 jset(o, "cpuid_mod_id", json_integer(r->cpuid_mod_id)) &&
                                 jset(o, "cpuid_step", json_integer(r->cpuid_step)))) &&
             jset(o, "chip_id", jhex(r->chip_id, sizeof(r->chip_id))) &&
             jset(o, "committed_tcb", tcb_json(r->committed_tcb, turin)) &&
             jset(o, "current_version",
                  version_json(r->current_major, r->current_minor, r->current_build)) &&
             jset(o, "committed_version",
                  version_json(r->committed_major, r->committed_minor, r->committed_build)) &&
             jset(o, "launch_tcb", tcb_json(r->launch_tcb, turin)) &&
             jset(o, "tcb_layout", json_string(turin ? "turin" : "milan/genoa")) &&
             jset(o, "signature_r", jhex(sig, SNP_SIG_COMPONENT_LEN)) &&
             jset(o, "signature_s", jhex(sig + SNP_SIG_COMPONENT_LEN, SNP_SIG_COMPONENT_LEN));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int dump_json(json_t *o, attex_buf *out, attex_error *err)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return NOMEM(err);
    out->data = (uint8_t *)text;
    out->len = strlen(text);
    return ATTEX_OK;
}

int attex_snp_describe(const uint8_t *report, size_t len, attex_buf *json, attex_error *err)
{
    if (json == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_snp_describe needs a buffer for the JSON");
    json->data = NULL;
    json->len = 0;
    snp_report r;
    int ret = snp_report_parse(report, len, &r, err);
    if (ret != ATTEX_OK)
        return ret;
    return dump_json(report_json(&r, report_is_turin(&r)), json, err);
}

int attex_snp_cert_table_describe(const uint8_t *table, size_t len, attex_buf *json,
                                  attex_error *err)
{
    if (json == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_snp_cert_table_describe needs a buffer for the JSON");
    json->data = NULL;
    json->len = 0;
    snp_cert_table t;
    int ret = snp_cert_table_parse(table, len, &t, err);
    if (ret != ATTEX_OK)
        return ret;
    json_t *arr = json_array();
    for (size_t i = 0; i < t.count && arr != NULL; i++) {
        const snp_cert_entry *e = &t.entries[i];
        char gt[37], subj[160] = "undecodable";
        guid_text(snp_guids[e->kind], gt);
        cert_der c;
        if (cert_der_from(e->data, e->length, snp_cert_kind_name(e->kind), &c, NULL) ==
            ATTEX_OK) {
            X509 *x = parse_der(&c, "table", NULL);
            if (x != NULL)
                name_text(X509_get_subject_name(x), subj, sizeof(subj));
            X509_free(x);
            cert_der_free(&c);
        }
        json_t *o = json_object();
        if (o == NULL || !jset(o, "guid", json_string(gt)) ||
            !jset(o, "name", json_string(snp_cert_kind_name(e->kind))) ||
            !jset(o, "offset", json_integer(e->offset)) ||
            !jset(o, "length", json_integer(e->length)) ||
            !jset(o, "subject", json_string(subj)) || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return dump_json(arr, json, err);
}

/* ---------------------------------------------------------------------- */
/* Appraisal                                                              */

/*
 * reject ends an appraisal on unusable evidence: the same sentence goes to
 * the error and to the appraisal, whose verdict is contraindicated.
 */
static int reject(attex_appraisal *out, attex_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reject(attex_appraisal *out, attex_error *err, int code, const char *fmt, ...)
{
    char why[sizeof(out->reason) - 20];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(out->reason, sizeof(out->reason), "SEV-SNP: %s", why);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, code == ATTEX_ERR_NO_MEMORY ? code : ATTEX_ERR_ATTESTATION,
                      code == ATTEX_ERR_NO_MEMORY ? ATTEX_ALERT_INTERNAL_ERROR : ATTEX_ALERT_NONE,
                      "%s", out->reason);
}

/* The first policy failure is the reason; later ones are counted. */
typedef struct findings {
    attex_appraisal *out;
    size_t count;
} findings;

static void finding(findings *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void finding(findings *f, const char *fmt, ...)
{
    if (f->count++ > 0)
        return;
    char why[sizeof(f->out->reason) - 60];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(f->out->reason, sizeof(f->out->reason), "SEV-SNP policy: %s", why);
}

static void check_hex_set(findings *f, const hex_set *hs, const uint8_t *got)
{
    if (hs->n == 0)
        return;
    for (size_t i = 0; i < hs->n; i++)
        if (crypto_equal(hs->vals + i * hs->len, got, hs->len))
            return;
    char g[129], w[129];
    util_hex(got, hs->len, g);
    util_hex(hs->vals, hs->len, w);
    finding(f, "%s: expected %s%s, got %s", hs->name, w,
            hs->n > 1 ? " (or one of the other listed values)" : "", g);
}

static void check_min(findings *f, const char *name, int want, int got)
{
    if (want >= 0 && got < want)
        finding(f, "minimum_tcb.%s: REPORTED_TCB has %s SPL %d, below the minimum %d", name,
                name, got, want);
}

static void appraise_policy(const snp_policy *p, const snp_report *r, const snp_anchor *anchor,
                            int turin, findings *f)
{
    /* ABI 56860 GUEST_POLICY: DEBUG lets the hypervisor read and write guest memory. */
    if (!p->allow_debug && (r->policy & SNP_POLICY_DEBUG))
        finding(f, "POLICY.DEBUG (bit 19) is set in POLICY 0x%016llx; debugging is not allowed "
                   "(set \"allow_debug\" to accept)",
                (unsigned long long)r->policy);
    if (!p->allow_migrate_ma && (r->policy & SNP_POLICY_MIGRATE_MA))
        finding(f, "POLICY.MIGRATE_MA (bit 18) is set in POLICY 0x%016llx; a migration agent is "
                   "not allowed (set \"allow_migrate_ma\" to accept)",
                (unsigned long long)r->policy);
    if (!p->allow_smt && (r->policy & SNP_POLICY_SMT))
        finding(f, "POLICY.SMT (bit 16) is set in POLICY 0x%016llx; SMT is not allowed",
                (unsigned long long)r->policy);
    if (p->require_single_socket && !(r->policy & SNP_POLICY_SINGLE_SOCKET))
        finding(f, "POLICY.SINGLE_SOCKET (bit 20) is clear in POLICY 0x%016llx; it is required",
                (unsigned long long)r->policy);
    unsigned key = snp_signing_key(r);
    if (p->signing_key >= 0 && (unsigned)p->signing_key != key)
        finding(f, "signing_key: expected %s, got %s",
                p->signing_key == SNP_KEY_VCEK ? "vcek" : "vlek",
                key == SNP_KEY_VCEK ? "vcek" : "vlek");
    if (p->products != 0 && (p->products & anchor->product_bit) == 0)
        finding(f, "products: the report is from a %s processor, not an allowed product",
                anchor->product);
    if (p->vmpl >= 0 && r->vmpl != (uint32_t)p->vmpl)
        finding(f, "vmpl: expected %d, got %u", p->vmpl, r->vmpl);
    if (p->min_guest_svn >= 0 && (int64_t)r->guest_svn < p->min_guest_svn)
        finding(f, "min_guest_svn: GUEST_SVN %u is below the minimum %lld", r->guest_svn,
                (long long)p->min_guest_svn);
    snp_tcb_parts t;
    snp_tcb_split(r->reported_tcb, turin, &t);
    check_min(f, "bootloader", p->min_tcb.bootloader, t.bootloader);
    check_min(f, "tee", p->min_tcb.tee, t.tee);
    check_min(f, "snp", p->min_tcb.snp, t.snp);
    check_min(f, "microcode", p->min_tcb.microcode, t.microcode);
    if (turin)
        check_min(f, "fmc", p->min_tcb.fmc, t.fmc);
    check_hex_set(f, &p->hs[HS_MEASUREMENT], r->measurement);
    check_hex_set(f, &p->hs[HS_HOST_DATA], r->host_data);
    check_hex_set(f, &p->hs[HS_ID_KEY_DIGEST], r->id_key_digest);
    check_hex_set(f, &p->hs[HS_AUTHOR_KEY_DIGEST], r->author_key_digest);
    check_hex_set(f, &p->hs[HS_FAMILY_ID], r->family_id);
    check_hex_set(f, &p->hs[HS_IMAGE_ID], r->image_id);
    check_hex_set(f, &p->hs[HS_CHIP_ID], r->chip_id);
    check_hex_set(f, &p->hs[HS_REPORT_DATA], r->report_data);
}

/* KDS 57230: the VCEK/VLEK is issued for one REPORTED_TCB (and a VCEK for one CHIP_ID). */
static int check_tcb(const chain_view *cv, const snp_report *r, int turin, const char *key_name,
                     attex_appraisal *out, attex_error *err)
{
    snp_tcb_parts t;
    snp_tcb_split(r->reported_tcb, turin, &t);
    const struct {
        const char *name, *oid;
        int cert, report;
    } spl[] = {{"blSPL", "1.3.6.1.4.1.3704.1.3.1", cv->info.bl, t.bootloader},
               {"teeSPL", "1.3.6.1.4.1.3704.1.3.2", cv->info.tee, t.tee},
               {"snpSPL", "1.3.6.1.4.1.3704.1.3.3", cv->info.snp, t.snp},
               {"ucodeSPL", "1.3.6.1.4.1.3704.1.3.8", cv->info.ucode, t.microcode},
               {"fmcSPL", "1.3.6.1.4.1.3704.1.3.9", cv->info.fmc, t.fmc}};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(spl); i++) {
        if (i == 4 && !turin)
            break;
        if (spl[i].cert < 0)
            return reject(out, err, ATTEX_ERR_ATTESTATION,
                          "the %s has no %s extension (%s); it cannot vouch for REPORTED_TCB",
                          key_name, spl[i].name, spl[i].oid);
        if (spl[i].cert != spl[i].report)
            return reject(out, err, ATTEX_ERR_ATTESTATION,
                          "the %s was issued for %s %d but the report's REPORTED_TCB "
                          "(0x%016llx) has %d: the certificate is for another TCB",
                          key_name, spl[i].name, spl[i].cert,
                          (unsigned long long)r->reported_tcb, spl[i].report);
    }
    if (snp_signing_key(r) != SNP_KEY_VCEK)
        return ATTEX_OK;
    /* KDS 57230: hwID is CHIP_ID (Turin: its first 8 bytes, the rest of CHIP_ID zero). */
    size_t n = cv->info.hwid_len;
    if (n == 0)
        return reject(out, err, ATTEX_ERR_ATTESTATION,
                      "the VCEK has no hwID extension (1.3.6.1.4.1.3704.1.4)");
    int same = (n == 64 || (turin && n == 8 && all_zero(r->chip_id + 8, 56))) &&
               crypto_equal(cv->info.hwid, r->chip_id, n);
    if (!same) {
        char w[129], g[129];
        util_hex(cv->info.hwid, n, w);
        util_hex(r->chip_id, sizeof(r->chip_id), g);
        return reject(out, err, ATTEX_ERR_ATTESTATION,
                      "the VCEK's hwID %s is not the report's CHIP_ID %s: the VCEK belongs to "
                      "another chip",
                      w, g);
    }
    return ATTEX_OK;
}

static char *claims_json(const snp_report *r, int turin, const chain_view *cv)
{
    json_t *o = report_json(r, turin);
    char vh[65];
    util_hex(cv->vcek_hash, 32, vh);
    if (o == NULL || !jset(o, "product", json_string(cv->anchor->product)) ||
        !jset(o, "signing_key_cert_sha256", json_string(vh)) ||
        (cv->info.product_name[0] &&
         !jset(o, "signing_key_product_name", json_string(cv->info.product_name)))) {
        json_decref(o);
        return NULL;
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

int attex_snp_appraise(void *verifier_ctx, const uint8_t *outblob, size_t outblob_len,
                       const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                       attex_appraisal *out, attex_error *err)
{
    attex_snp_verifier *v = verifier_ctx;
    if (out != NULL) {
        out->verdict = ATTEX_VERDICT_NONE;
        out->reason[0] = '\0';
        out->claims_json = NULL;
    }
    if (v == NULL || out == NULL || (outblob == NULL && outblob_len > 0) ||
        (auxblob == NULL && auxblob_len > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_snp_appraise needs its verifier, the report and an appraisal "
                          "to fill");
    snp_report r;
    attex_error perr;
    if (snp_report_parse(outblob, outblob_len, &r, &perr) != ATTEX_OK)
        return reject(out, err, perr.code, "%s", perr.message);
    unsigned key = snp_signing_key(&r);
    const char *key_name = key == SNP_KEY_VCEK ? "VCEK" : "VLEK";
    const char *ask_name = key == SNP_KEY_VCEK ? "ASK" : "ASVK";

    /* The certificates: from the table when there is one, else from the configuration. */
    cert_der vcek_der, ask_der, ark_der;
    memset(&vcek_der, 0, sizeof(vcek_der));
    memset(&ask_der, 0, sizeof(ask_der));
    memset(&ark_der, 0, sizeof(ark_der));
    int have_ark = 0, ret = ATTEX_OK;
    chain_view cv;
    memset(&cv, 0, sizeof(cv));
    if (auxblob_len > 0) {
        snp_cert_table t;
        const snp_cert_entry *ek, *ea, *er;
        if (snp_cert_table_parse(auxblob, auxblob_len, &t, &perr) != ATTEX_OK)
            return reject(out, err, perr.code, "%s", perr.message);
        ek = t.by_kind[key == SNP_KEY_VCEK ? SNP_CERT_VCEK : SNP_CERT_VLEK];
        ea = t.by_kind[SNP_CERT_ASK];
        er = t.by_kind[SNP_CERT_ARK];
        if (ek == NULL || ea == NULL)
            return reject(out, err, ATTEX_ERR_ATTESTATION,
                          "the certificate table has no %s entry; the report is signed by its "
                          "%s (SIGNING_KEY %u), which the table must carry with its ASK",
                          ek == NULL ? key_name : "ASK", key_name, key);
        if (cert_der_from(ek->data, ek->length, key_name, &vcek_der, &perr) != ATTEX_OK ||
            cert_der_from(ea->data, ea->length, ask_name, &ask_der, &perr) != ATTEX_OK ||
            (er != NULL &&
             cert_der_from(er->data, er->length, "ARK", &ark_der, &perr) != ATTEX_OK)) {
            ret = reject(out, err, perr.code, "%s", perr.message);
            goto done;
        }
        have_ark = er != NULL;
    } else {
        if (v->cfg_vcek == NULL) {
            ret = reject(out, err, ATTEX_ERR_ATTESTATION,
                         "the report came without a certificate table and no %s file is "
                         "configured (vcek_path, ask_path)",
                         key_name);
            goto done;
        }
        vcek_der.der = v->cfg_vcek;
        vcek_der.len = v->cfg_vcek_len;
        ask_der.der = v->cfg_ask;
        ask_der.len = v->cfg_ask_len;
        ark_der.der = v->cfg_ark;
        ark_der.len = v->cfg_ark_len;
        have_ark = v->cfg_ark != NULL;
    }
    uint8_t ask_hash[32];
    if (!sha256(ask_der.der, ask_der.len, ask_hash)) {
        ret = reject(out, err, ATTEX_ERR_CRYPTO, "hashing the ASK failed");
        goto done;
    }
    if (verify_ask(v, &ask_der, have_ark ? &ark_der : NULL, ask_name, &cv, &perr) != ATTEX_OK ||
        verify_vcek(v, &vcek_der, key_name, ask_name, ask_hash, &cv, &perr) != ATTEX_OK ||
        check_validity(cv.anchor->cert, "ARK", v->validation_time, &perr) != ATTEX_OK ||
        check_validity(cv.ask, ask_name, v->validation_time, &perr) != ATTEX_OK ||
        check_validity(cv.vcek, key_name, v->validation_time, &perr) != ATTEX_OK) {
        ret = reject(out, err, perr.code, "%s", perr.message);
        goto done;
    }
    int turin = cv.anchor->product_bit == PRODUCT_TURIN;
    if (!verify_report_signature(X509_get0_pubkey(cv.vcek), &r)) {
        char subj[160];
        name_text(X509_get_subject_name(cv.vcek), subj, sizeof(subj));
        ret = reject(out, err, ATTEX_ERR_BAD_SIGNATURE,
                     "the report signature (ECDSA P-384/SHA-384 over bytes 0x000..0x29F) does "
                     "not verify with the %s (%s, ARK-%s): the report was altered or signed by "
                     "another key",
                     key_name, subj, cv.anchor->product);
        goto done;
    }
    /* A version 3 report names its CPU family: it must be the ARK's product's. */
    if (r.version >= 3 && cv.anchor->product_bit != 0 &&
        r.cpuid_fam_id != (turin ? 0x1A : 0x19)) {
        ret = reject(out, err, ATTEX_ERR_ATTESTATION,
                     "the report's CPUID_FAM_ID is 0x%02x but its chain is ARK-%s (family "
                     "0x%02x)",
                     r.cpuid_fam_id, cv.anchor->product, turin ? 0x1A : 0x19);
        goto done;
    }
    if ((ret = check_tcb(&cv, &r, turin, key_name, out, err)) != ATTEX_OK)
        goto done;
    /* ABI 56860 VMPL: 0..3 for guest requests; other values are not a guest's report. */
    if (r.vmpl > 3) {
        ret = reject(out, err, ATTEX_ERR_ATTESTATION,
                     "the report's VMPL is %u; a guest-requested report has VMPL 0..3", r.vmpl);
        goto done;
    }
    /* PROTOCOL.md s3: REPORT_DATA must be exactly this connection's report_data. */
    if (report_data != NULL &&
        !crypto_equal(report_data, r.report_data, ATTEX_SNP_REPORT_DATA_SIZE)) {
        char w[129], g[129];
        util_hex(report_data, ATTEX_SNP_REPORT_DATA_SIZE, w);
        util_hex(r.report_data, ATTEX_SNP_REPORT_DATA_SIZE, g);
        ret = reject(out, err, ATTEX_ERR_ATTESTATION,
                     "binding: REPORT_DATA is %s, expected %s: the report was made for another "
                     "connection or request",
                     g, w);
        goto done;
    }
    out->claims_json = claims_json(&r, turin, &cv);
    if (out->claims_json == NULL) {
        ret = reject(out, err, ATTEX_ERR_NO_MEMORY, "out of memory rendering the claims");
        goto done;
    }
    findings f = {out, 0};
    appraise_policy(&v->policy, &r, cv.anchor, turin, &f);
    if (f.count == 0) {
        out->verdict = ATTEX_VERDICT_AFFIRMING;
        snprintf(out->reason, sizeof(out->reason),
                 "SEV-SNP report verified (%s, ARK-%s) and the policy holds", key_name,
                 cv.anchor->product);
    } else {
        out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
        if (f.count > 1) {
            size_t len = strlen(out->reason);
            snprintf(out->reason + len, sizeof(out->reason) - len,
                     " (and %zu more policy checks failed)", f.count - 1);
        }
    }
    ret = ATTEX_OK;
done:
    chain_view_free(&cv);
    if (vcek_der.owned != NULL)
        cert_der_free(&vcek_der);
    if (ask_der.owned != NULL)
        cert_der_free(&ask_der);
    if (ark_der.owned != NULL)
        cert_der_free(&ark_der);
    return ret;
}
