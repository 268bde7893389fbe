/*
 * attex: Intel TDX quotes: the parser, the PCK certificate, the verifier.
 *
 * Layouts: Intel TDX DCAP Quoting Library API, Appendix A ("TD Quote
 * format"): A.3 v4 (header, TD Quote Body, signature data), A.4 v5 (a body
 * descriptor: type 2 = TDX 1.0 body, 3 = TDX 1.5 body). All integers are
 * little-endian. The QE report is an SGX REPORT body (SGX SDK sgx_report_body_t).
 * The verification order follows Intel's Quote Verification Library.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <attex/tdx.h>

#include "bytes.h"
#include "crypto.h"
#include "internal.h"
#include "tdx_internal.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")
#define BAD(err, ...) attex_fail((err), ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE, __VA_ARGS__)
#define DECODE(err, ...) attex_fail((err), ATTEX_ERR_DECODE, ATTEX_ALERT_NONE, __VA_ARGS__)

#define CHAIN_CACHE_SIZE 16
#define MAX_POLICY 65536

/* The Intel SGX Root CA (the trust anchor of every PCK and TCB signing chain). */
static const char intel_sgx_root_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
    "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
    "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
    "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
    "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
    "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
    "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
    "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
    "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
    "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
    "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
    "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
    "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
    "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
    "-----END CERTIFICATE-----\n";

/* Intel's QE vendor ID (TDX DCAP Quoting Library API A.3.1). */
static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

/* ---------------------------------------------------------------------- */
/* Quote parser                                                           */

static int parse_body(attex_reader *b, uint16_t type, tdx_body *o)
{
    /* A.3.2 TD Quote Body (TDX 1.0); TDX 1.5 appends TEE_TCB_SVN2 and MRSERVICETD. */
    if (!rd_copy(b, o->tee_tcb_svn, 16) || !rd_copy(b, o->mrseam, 48) ||
        !rd_copy(b, o->mrsignerseam, 48) || !rd_copy(b, o->seam_attributes, 8) ||
        !rd_copy(b, o->td_attributes, 8) || !rd_copy(b, o->xfam, 8) ||
        !rd_copy(b, o->mrtd, 48) || !rd_copy(b, o->mrconfigid, 48) ||
        !rd_copy(b, o->mrowner, 48) || !rd_copy(b, o->mrownerconfig, 48))
        return 0;
    for (int i = 0; i < 4; i++)
        if (!rd_copy(b, o->rtmr[i], 48))
            return 0;
    if (!rd_copy(b, o->report_data, 64))
        return 0;
    if (type == TDX_BODY_TD15 &&
        (!rd_copy(b, o->tee_tcb_svn2, 16) || !rd_copy(b, o->mrservicetd, 48)))
        return 0;
    return rd_done(b);
}

static int parse_qe_report(attex_reader *r, tdx_qe_report *o)
{
    /* SGX REPORT body: CPUSVN, MISCSELECT, reserved, ATTRIBUTES, MRENCLAVE, reserved, MRSIGNER, ... */
    return rd_copy(r, o->cpusvn, 16) && rd_u32le(r, &o->miscselect) && rd_skip(r, 28) &&
           rd_copy(r, o->attributes, 16) && rd_copy(r, o->mrenclave, 32) && rd_skip(r, 32) &&
           rd_copy(r, o->mrsigner, 32) && rd_skip(r, 96) && rd_u16le(r, &o->isvprodid) &&
           rd_u16le(r, &o->isvsvn) && rd_skip(r, 60) && rd_copy(r, o->report_data, 64) &&
           rd_done(r);
}

int tdx_quote_parse(const uint8_t *p, size_t len, tdx_quote *q, attex_error *err)
{
    memset(q, 0, sizeof(*q));
    if (p == NULL && len > 0)
        return BAD(err, "no quote bytes");
    attex_reader r, h;
    rd_init(&r, p, len);
    if (!rd_sub(&r, 48, &h))
        return DECODE(err, "TDX quote: %zu bytes, shorter than the 48-byte header", len);
    if (!rd_u16le(&h, &q->version) || !rd_u16le(&h, &q->att_key_type) ||
        !rd_u32le(&h, &q->tee_type) || !rd_u16le(&h, &q->qe_svn) ||
        !rd_u16le(&h, &q->pce_svn) || !rd_copy(&h, q->qe_vendor_id, 16) ||
        !rd_copy(&h, q->user_data, 20) || !rd_done(&h))
        return DECODE(err, "TDX quote: unreadable header");
    /* A.3.1: the TEE type tells SGX (0) from TDX (0x81) quotes. */
    if (q->tee_type == TDX_TEE_TYPE_SGX)
        return DECODE(err, "TDX quote: TEE type 0x00000000 is an SGX enclave quote, not a TDX "
                           "quote (TEE type 0x00000081)");
    if (q->tee_type != TDX_TEE_TYPE_TDX)
        return DECODE(err, "TDX quote: unknown TEE type 0x%08x (TDX is 0x00000081)",
                      q->tee_type);
    if (q->version != 4 && q->version != 5)
        return DECODE(err, "TDX quote: version %u; only versions 4 and 5 carry TDX quotes",
                      q->version);
    /* A.3.1: attestation key type 2 = ECDSA-256-with-P-256 curve (3 = P-384 is reserved). */
    if (q->att_key_type != 2)
        return DECODE(err, "TDX quote: attestation key type %u; only 2 (ECDSA P-256) is defined",
                      q->att_key_type);
    if (memcmp(q->qe_vendor_id, intel_qe_vendor_id, 16) != 0) {
        char got[33];
        util_hex(q->qe_vendor_id, 16, got);
        return DECODE(err, "TDX quote: QE vendor ID %s is not Intel's "
                           "939a7233f79c4ca9940a0db3957f0607", got);
    }
    if (q->version == 4) {
        q->body_type = TDX_BODY_TD10;
        q->body_size = TDX_BODY_TD10_SIZE;
    } else {
        /* A.4: v5 has a body descriptor: u16 type, u32 size. */
        if (!rd_u16le(&r, &q->body_type) || !rd_u32le(&r, &q->body_size))
            return DECODE(err, "TDX quote v5: truncated in the body descriptor");
        if (q->body_type == 1)
            return DECODE(err, "TDX quote v5: body type 1 is an SGX enclave report, not a TD "
                               "report");
        if (q->body_type != TDX_BODY_TD10 && q->body_type != TDX_BODY_TD15)
            return DECODE(err, "TDX quote v5: unknown body type %u (2 = TDX 1.0, 3 = TDX 1.5)",
                          q->body_type);
        uint32_t want = q->body_type == TDX_BODY_TD10 ? TDX_BODY_TD10_SIZE : TDX_BODY_TD15_SIZE;
        if (q->body_size != want)
            return DECODE(err, "TDX quote v5: body type %u has size %u, not %u", q->body_type,
                          q->body_size, want);
    }
    attex_reader b;
    if (!rd_sub(&r, q->body_size, &b))
        return DECODE(err, "TDX quote: truncated in the TD report body (%u bytes)",
                      q->body_size);
    if (!parse_body(&b, q->body_type, &q->body))
        return DECODE(err, "TDX quote: unreadable TD report body");
    /* A.3: the quote signature covers everything before the signature data size. */
    q->signed_part = p;
    q->signed_len = len - rd_len(&r);
    uint32_t sd_size;
    attex_reader sd;
    if (!rd_u32le(&r, &sd_size))
        return DECODE(err, "TDX quote: truncated before the signature data size");
    if (!rd_sub(&r, sd_size, &sd))
        return DECODE(err, "TDX quote: signature data size is %u but %zu bytes follow", sd_size,
                      rd_len(&r));
    /*
     * Bytes after the signature data are not signed and not read. Real quote
     * buffers carry padding there (configfs-tsm outblobs, GCE's fixed-size
     * buffer); they are counted and reported, never interpreted.
     */
    q->trailing = rd_len(&r);
    uint16_t cd_type;
    uint32_t cd_size;
    attex_reader cd;
    if (!rd_copy(&sd, q->quote_sig, 64) || !rd_copy(&sd, q->att_key, 64) ||
        !rd_u16le(&sd, &cd_type) || !rd_u32le(&sd, &cd_size))
        return DECODE(err, "TDX quote: truncated in the signature data (signature, attestation "
                           "key, certification data header)");
    /* A.3.8: TDX quotes carry certification data type 6 (QE Report Certification Data). */
    if (cd_type != 6)
        return DECODE(err, "TDX quote: certification data type %u, expected 6 (QE report "
                           "certification data)",
                      cd_type);
    if (!rd_sub(&sd, cd_size, &cd))
        return DECODE(err, "TDX quote: certification data size is %u but %zu bytes follow",
                      cd_size, rd_len(&sd));
    if (!rd_done(&sd))
        return DECODE(err, "TDX quote: %zu bytes after the certification data inside the "
                           "signature data",
                      rd_len(&sd));
    attex_reader qr, auth, chain;
    uint16_t auth_size, inner_type;
    uint32_t inner_size;
    q->qe_report_raw = rd_ptr(&cd);
    if (!rd_sub(&cd, TDX_QE_REPORT_SIZE, &qr) || !parse_qe_report(&qr, &q->qe))
        return DECODE(err, "TDX quote: truncated in the QE report (384 bytes)");
    if (!rd_copy(&cd, q->qe_report_sig, 64))
        return DECODE(err, "TDX quote: truncated in the QE report signature");
    if (!rd_u16le(&cd, &auth_size) || !rd_sub(&cd, auth_size, &auth))
        return DECODE(err, "TDX quote: QE authentication data size %u but %zu bytes follow",
                      auth_size, rd_len(&cd));
    q->qe_auth = rd_ptr(&auth);
    q->qe_auth_len = rd_len(&auth);
    if (!rd_u16le(&cd, &inner_type) || !rd_u32le(&cd, &inner_size))
        return DECODE(err, "TDX quote: truncated in the PCK certification data header");
    /* A.3.9/A.3.11: inside type 6, type 5 = the PCK leaf, its CA and the root, in PEM. */
    if (inner_type != 5)
        return DECODE(err, "TDX quote: QE certification data type %u, expected 5 (PCK "
                           "certificate chain); PPID-based types need a PCCS, not supported",
                      inner_type);
    if (!rd_sub(&cd, inner_size, &chain))
        return DECODE(err, "TDX quote: PCK chain size is %u but %zu bytes follow", inner_size,
                      rd_len(&cd));
    if (!rd_done(&cd))
        return DECODE(err, "TDX quote: %zu bytes after the PCK chain inside the QE "
                           "certification data",
                      rd_len(&cd));
    q->pck_chain = rd_ptr(&chain);
    q->pck_chain_len = rd_len(&chain);
    if (q->pck_chain_len == 0)
        return DECODE(err, "TDX quote: empty PCK certificate chain");
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* PCK certificate chain and SGX extensions                               */

/* der_next reads one DER TLV with a one-byte tag and a definite, minimal length. */
static int der_next(attex_reader *r, uint8_t *tag, attex_reader *content)
{
    uint8_t l0;
    if (!rd_u8(r, tag) || (*tag & 0x1F) == 0x1F || !rd_u8(r, &l0))
        return 0;
    size_t len = l0;
    if (l0 & 0x80) {
        size_t n = l0 & 0x7F;
        if (n == 0 || n > 3)
            return 0;
        len = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t v;
            if (!rd_u8(r, &v) || (i == 0 && v == 0))
                return 0;
            len = len << 8 | v;
        }
        if (len < 0x80)
            return 0;
    }
    return rd_sub(r, len, content);
}

/* OID 1.2.840.113741.1.13.1 (Intel SGX extensions), DER content octets. */
static const uint8_t sgx_oid[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};

/* oid_is returns 1 if `oid` is sgx_oid followed by the arcs a (and b when nonzero). */
static int oid_is(const attex_reader *oid, uint8_t a, uint8_t b)
{
    uint8_t want[sizeof(sgx_oid) + 2];
    memcpy(want, sgx_oid, sizeof(sgx_oid));
    size_t n = sizeof(sgx_oid);
    want[n++] = a;
    if (b != 0)
        want[n++] = b;
    return rd_len(oid) == n && memcmp(rd_ptr(oid), want, n) == 0;
}

static int der_uint(attex_reader *v, uint8_t tag, uint32_t max, uint32_t *out)
{
    /* X.690 8.3: INTEGER, here non-negative; at most 3 content octets for 16-bit values. */
    if (tag != 0x02 && tag != 0x0A)
        return 0;
    size_t n = rd_len(v);
    if (n == 0 || n > 3)
        return 0;
    uint32_t x = 0;
    uint8_t first;
    if (!rd_peek_u8(v, &first) || (first & 0x80))
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c;
        if (!rd_u8(v, &c))
            return 0;
        x = x << 8 | c;
    }
    if (x > max)
        return 0;
    *out = x;
    return 1;
}

static int der_octets(attex_reader *v, uint8_t tag, uint8_t *out, size_t n)
{
    return tag == 0x04 && rd_len(v) == n && rd_copy(v, out, n);
}

int tdx_pck_ext_parse(X509 *pck, tdx_pck_ext *out, attex_error *err)
{
    memset(out, 0, sizeof(*out));
    const ASN1_OCTET_STRING *data = NULL;
    int count = 0;
    for (int i = 0; i < X509_get_ext_count(pck); i++) {
        X509_EXTENSION *ext = X509_get_ext(pck, i);
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
        unsigned char *der = NULL;
        int dl = i2d_ASN1_OBJECT(obj, &der);
        /* i2d gives 06 len content: compare the content with the SGX extension OID. */
        if (dl == (int)sizeof(sgx_oid) + 2 && memcmp(der + 2, sgx_oid, sizeof(sgx_oid)) == 0) {
            data = X509_EXTENSION_get_data(ext);
            count++;
        }
        OPENSSL_free(der);
    }
    if (count != 1 || data == NULL)
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "PCK certificate: the Intel SGX extension (1.2.840.113741.1.13.1), "
                          "which carries FMSPC and TCB, %s",
                          count == 0 ? "is missing" : "appears more than once");
    attex_reader r, seq;
    uint8_t tag;
    rd_init(&r, ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data));
    unsigned seen = 0, comps = 0;
    if (!der_next(&r, &tag, &seq) || tag != 0x30 || !rd_done(&r))
        goto bad;
    /* PCK Certificate and CRL Profile, SGX extensions: SEQUENCE OF SEQUENCE { OID, value }. */
    while (rd_len(&seq) > 0) {
        attex_reader item, oid, val;
        uint8_t t1, t2;
        if (!der_next(&seq, &tag, &item) || tag != 0x30 || !der_next(&item, &t1, &oid) ||
            t1 != 0x06 || !der_next(&item, &t2, &val) || !rd_done(&item))
            goto bad;
        if (oid_is(&oid, 1, 0)) {
            if (!der_octets(&val, t2, out->ppid, 16))
                goto bad;
            seen |= 1;
        } else if (oid_is(&oid, 2, 0)) {
            if (t2 != 0x30)
                goto bad;
            while (rd_len(&val) > 0) {
                attex_reader ci, coid, cval;
                uint8_t ct, cvt;
                if (!der_next(&val, &ct, &ci) || ct != 0x30 || !der_next(&ci, &ct, &coid) ||
                    ct != 0x06 || !der_next(&ci, &cvt, &cval) || !rd_done(&ci))
                    goto bad;
                uint32_t x;
                int matched = 0;
                for (uint8_t k = 1; k <= 16 && !matched; k++)
                    if (oid_is(&coid, 2, k)) {
                        if (!der_uint(&cval, cvt, 255, &x))
                            goto bad;
                        out->comp_svn[k - 1] = (uint8_t)x;
                        comps |= 1u << (k - 1);
                        matched = 1;
                    }
                if (matched)
                    continue;
                if (oid_is(&coid, 2, 17)) {
                    if (!der_uint(&cval, cvt, 65535, &x))
                        goto bad;
                    out->pcesvn = (uint16_t)x;
                    comps |= 1u << 16;
                } else if (oid_is(&coid, 2, 18)) {
                    if (!der_octets(&cval, cvt, out->cpusvn, 16))
                        goto bad;
                    comps |= 1u << 17;
                }
            }
            seen |= 2;
        } else if (oid_is(&oid, 3, 0)) {
            if (!der_octets(&val, t2, out->pceid, 2))
                goto bad;
            seen |= 4;
        } else if (oid_is(&oid, 4, 0)) {
            if (!der_octets(&val, t2, out->fmspc, 6))
                goto bad;
            seen |= 8;
        }
    }
    if ((seen & 0xE) != 0xE || comps != 0x3FFFFu)
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "PCK certificate: the SGX extension lacks %s",
                          !(seen & 8)   ? "the FMSPC"
                          : !(seen & 4) ? "the PCE-ID"
                                        : "TCB components (16 SVNs, PCESVN and CPUSVN)");
    return ATTEX_OK;
bad:
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                      "PCK certificate: malformed Intel SGX extension");
}

/* pem_chain reads the PEM certificates of a quote's type-5 data. */
static STACK_OF(X509) *pem_chain(const uint8_t *pem, size_t len)
{
    /* Some QEs NUL-terminate the PEM text: one final NUL is allowed. */
    attex_reader r;
    rd_init(&r, pem, len);
    if (len > 0 && pem[len - 1] == '\0') {
        attex_reader body;
        if (!rd_sub(&r, len - 1, &body))
            return NULL;
        r = body;
    }
    if (rd_len(&r) > INT32_MAX)
        return NULL;
    if (memchr(rd_ptr(&r), 0, rd_len(&r)) != NULL)
        return NULL;
    BIO *b = BIO_new_mem_buf(rd_ptr(&r), (int)rd_len(&r));
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (b == NULL || sk == NULL) {
        BIO_free(b);
        sk_X509_free(sk);
        return NULL;
    }
    X509 *x;
    while (sk_X509_num(sk) <= TDX_MAX_CHAIN && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    BIO_free(b);
    ERR_clear_error();
    return sk;
}

/* ---------------------------------------------------------------------- */
/* The verifier                                                           */

enum { REF_MRTD, REF_RTMR0, REF_RTMR1, REF_RTMR2, REF_RTMR3, REF_MRCONFIGID, REF_MROWNER,
       REF_MROWNERCONFIG, REF_MRSEAM, REF_COUNT };
static const char *const ref_names[REF_COUNT] = {"mrtd",       "rtmr0",   "rtmr1",
                                                 "rtmr2",      "rtmr3",   "mrconfigid",
                                                 "mrowner",    "mrownerconfig", "mrseam"};

typedef struct ref_list {
    uint8_t (*vals)[48];
    size_t n;
} ref_list;

typedef struct tdx_policy {
    ref_list refs[REF_COUNT];
    int has_td_attributes, has_xfam, allow_debug;
    uint8_t td_attributes[8], xfam[8];
} tdx_policy;

/* A verified PCK chain, keyed by its exact PEM bytes. */
typedef struct chain_entry {
    uint8_t *pem;
    size_t pem_len;
    EVP_PKEY *leaf_key;
    tdx_pck_ext ext;
    int64_t not_before, not_after; /* intersection of the leaf's and its CA's windows */
    const tdx_crl_entry *pck_crl;  /* NULL when missing (tolerated) */
    uint64_t last_use;
    /*
     * A QE signs its QE report once per attestation key, so quotes from one
     * platform repeat it byte for byte: the last QE report (and signature)
     * verified with this PCK key, and the last attestation key imported.
     */
    int qe_ok;
    uint8_t qe_signed[TDX_QE_REPORT_SIZE + 64];
    uint8_t att_raw[64];
    EVP_PKEY *att_key;
} chain_entry;

struct attex_tdx_verifier {
    attex_tdx_verifier_config cfg;
    X509 *root;
    unsigned char *root_der;
    size_t root_der_len;
    tdx_collateral col;
    tdx_policy policy;
    pthread_mutex_t lock;
    chain_entry cache[CHAIN_CACHE_SIZE];
    uint64_t clock;
};

static void chain_entry_clear(chain_entry *e);

static void policy_clear(tdx_policy *p)
{
    for (size_t i = 0; i < REF_COUNT; i++)
        free(p->refs[i].vals);
    memset(p, 0, sizeof(*p));
}

static int policy_parse(const char *text, size_t len, tdx_policy *p, attex_error *err)
{
    memset(p, 0, sizeof(*p));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return BAD(err, "TDX policy: invalid JSON at line %d: %s", je.line, je.text);
    int ret = ATTEX_OK;
    if (!json_is_object(root)) {
        ret = BAD(err, "TDX policy: not a JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        size_t i;
        for (i = 0; i < REF_COUNT && strcmp(k, ref_names[i]) != 0; i++)
            ;
        if (i < REF_COUNT) {
            size_t n = json_is_array(v) ? json_array_size(v) : 1;
            if ((!json_is_array(v) && !json_is_string(v)) || n == 0 || n > 1024) {
                ret = BAD(err, "TDX policy: \"%s\" must be a hex string or a non-empty array of "
                               "them",
                          k);
                goto out;
            }
            p->refs[i].vals = calloc(n, 48);
            if (p->refs[i].vals == NULL) {
                ret = NOMEM(err);
                goto out;
            }
            p->refs[i].n = n;
            for (size_t j = 0; j < n; j++) {
                json_t *s = json_is_array(v) ? json_array_get(v, j) : v;
                if (!json_is_string(s) || !util_unhex(json_string_value(s), json_string_length(s),
                                                     p->refs[i].vals[j], 48)) {
                    ret = BAD(err, "TDX policy: \"%s\" values must be 48 bytes in hex (96 "
                                   "digits)",
                              k);
                    goto out;
                }
            }
        } else if (strcmp(k, "td_attributes") == 0 || strcmp(k, "xfam") == 0) {
            int td = k[0] == 't';
            if (!json_is_string(v) ||
                !util_unhex(json_string_value(v), json_string_length(v),
                           td ? p->td_attributes : p->xfam, 8)) {
                ret = BAD(err, "TDX policy: \"%s\" must be 8 bytes in hex, as in the quote", k);
                goto out;
            }
            if (td)
                p->has_td_attributes = 1;
            else
                p->has_xfam = 1;
        } else if (strcmp(k, "allow_debug") == 0) {
            if (!json_is_boolean(v)) {
                ret = BAD(err, "TDX policy: \"allow_debug\" must be true or false");
                goto out;
            }
            p->allow_debug = json_is_true(v);
        } else {
            ret = BAD(err, "TDX policy: unknown key \"%.40s\" (known: mrtd, rtmr0..rtmr3, "
                           "mrconfigid, mrowner, mrownerconfig, mrseam, td_attributes, xfam, "
                           "allow_debug)",
                      k);
            goto out;
        }
    }
out:
    json_decref(root);
    if (ret != ATTEX_OK)
        policy_clear(p);
    return ret;
}

void attex_tdx_verifier_free(attex_tdx_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < CHAIN_CACHE_SIZE; i++)
        chain_entry_clear(&v->cache[i]);
    tdx_collateral_clear(&v->col);
    X509_free(v->root);
    OPENSSL_free(v->root_der);
    policy_clear(&v->policy);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

attex_tdx_verifier *attex_tdx_verifier_new(const attex_tdx_verifier_config *cfg,
                                           attex_error *err)
{
    if (cfg == NULL || cfg->collateral_dir == NULL) {
        BAD(err, "the TDX verifier needs a configuration with a collateral directory");
        return NULL;
    }
    if (cfg->needs_action_verdict != ATTEX_VERDICT_NONE &&
        cfg->needs_action_verdict != ATTEX_VERDICT_AFFIRMING &&
        cfg->needs_action_verdict != ATTEX_VERDICT_WARNING &&
        cfg->needs_action_verdict != ATTEX_VERDICT_CONTRAINDICATED) {
        BAD(err, "TDX verifier: needs_action_verdict must be 0 or an attex_verdict value");
        return NULL;
    }
    attex_tdx_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        NOMEM(err);
        return NULL;
    }
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        free(v);
        NOMEM(err);
        return NULL;
    }
    v->cfg = *cfg;
    /* The paths are not kept: everything is loaded now. */
    v->cfg.collateral_dir = v->cfg.root_ca_pem_path = NULL;
    v->cfg.policy_json = v->cfg.policy_path = NULL;
    int ret = ATTEX_OK;
    BIO *b = cfg->root_ca_pem_path != NULL
                 ? BIO_new_file(cfg->root_ca_pem_path, "r")
                 : BIO_new_mem_buf(intel_sgx_root_ca_pem, (int)sizeof(intel_sgx_root_ca_pem) - 1);
    if (b != NULL)
        v->root = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (v->root == NULL) {
        ret = BAD(err, "cannot read the root CA certificate (PEM) \"%s\"",
                  cfg->root_ca_pem_path != NULL ? cfg->root_ca_pem_path : "(built in)");
        goto fail;
    }
    int dl = i2d_X509(v->root, &v->root_der);
    if (dl <= 0) {
        ret = attex_fail_crypto(err, "encoding the root CA certificate");
        goto fail;
    }
    v->root_der_len = (size_t)dl;
    if ((ret = tdx_collateral_load(cfg->collateral_dir, v->root, &v->col, err)) != ATTEX_OK)
        goto fail;
    if (cfg->policy_json != NULL) {
        ret = policy_parse(cfg->policy_json, strlen(cfg->policy_json), &v->policy, err);
    } else if (cfg->policy_path != NULL) {
        attex_buf text = ATTEX_BUF_INIT;
        if ((ret = util_read_file(cfg->policy_path, "TDX policy", MAX_POLICY, &text, err)) ==
            ATTEX_OK)
            ret = policy_parse((const char *)text.data, text.len, &v->policy, err);
        attex_buf_free(&text);
    }
    if (ret != ATTEX_OK)
        goto fail;
    return v;
fail:
    attex_tdx_verifier_free(v);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Appraisal                                                              */

/* An appraisal in progress: what gets reported. */
typedef struct run {
    attex_appraisal *out;
    attex_error *err;
    char gaps[400]; /* collateral gaps tolerated under allow_incomplete_collateral */
} run;

static int reject(run *rn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reject(run *rn, const char *fmt, ...)
{
    char why[sizeof(rn->out->reason) - 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(rn->out->reason, sizeof(rn->out->reason), "TDX quote: %s", why);
    rn->out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(rn->err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "%s", rn->out->reason);
}

/* reject_err turns a failure already described in *err into a rejection. */
static int reject_err(run *rn, int ret)
{
    if (ret == ATTEX_ERR_NO_MEMORY) {
        snprintf(rn->out->reason, sizeof(rn->out->reason), "TDX quote: out of memory");
        rn->out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
        return ret;
    }
    char msg[ATTEX_ERROR_MESSAGE_SIZE];
    snprintf(msg, sizeof(msg), "%s", rn->err != NULL ? rn->err->message : "failed");
    const char *m = msg;
    if (strncmp(m, "TDX quote: ", 11) == 0)
        m += 11;
    return reject(rn, "%s", m);
}

/* gap records a tolerated gap, or rejects when incomplete collateral is not allowed. */
static int gap(const attex_tdx_verifier *v, run *rn, const char *what)
{
    if (!v->cfg.allow_incomplete_collateral)
        return reject(rn, "%s (allow_incomplete_collateral is off)", what);
    size_t l = strlen(rn->gaps);
    snprintf(rn->gaps + l, sizeof(rn->gaps) - l, "%s%s", l ? "; " : "", what);
    return ATTEX_OK;
}

static int in_window(int64_t t, int64_t from, int64_t to) { return t >= from && t <= to; }

static int window(const attex_tdx_verifier *v, run *rn, int64_t t, int64_t from, int64_t to,
                  const char *what, int tolerable)
{
    if (in_window(t, from, to))
        return ATTEX_OK;
    char a[32], b[32], now[32], msg[200];
    tdx_time_format(from, a);
    tdx_time_format(to, b);
    tdx_time_format(t, now);
    snprintf(msg, sizeof(msg), "%s is valid from %s to %s, not at the validation time %s", what,
             a, b, now);
    if (tolerable)
        return gap(v, rn, msg);
    return reject(rn, "%s", msg);
}

static EVP_PKEY *raw_p256_key(const uint8_t xy[64])
{
    uint8_t point[65];
    point[0] = 0x04; /* SEC 1 2.3.3: uncompressed point */
    memcpy(point + 1, xy, 64);
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1",
                                                 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return key;
}

static void chain_entry_clear(chain_entry *e)
{
    free(e->pem);
    EVP_PKEY_free(e->leaf_key);
    EVP_PKEY_free(e->att_key);
    memset(e, 0, sizeof(*e));
}

/*
 * verify_chain checks a quote's PCK chain (PEM): exactly leaf, CA, root;
 * the root is the pinned one; signatures and extensions by X509_verify_cert
 * (times checked per appraisal); the CA not on the root CA's CRL and the
 * leaf not on its CA's CRL. Fills `e` (not the key fields of the cache).
 */
static int verify_chain(attex_tdx_verifier *v, run *rn, const uint8_t *pem, size_t pem_len,
                        chain_entry *e)
{
    STACK_OF(X509) *sk = pem_chain(pem, pem_len);
    int ret = ATTEX_OK;
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = NULL;
    unsigned char *der = NULL;
    if (sk == NULL)
        return reject(rn, "PCK chain: unreadable PEM (out of memory or a NUL inside)");
    /* Intel PCK profile: the chain is the PCK leaf, the PCK Platform/Processor CA, the root. */
    if (sk_X509_num(sk) != 3) {
        ret = reject(rn, "PCK chain: %d certificates, expected 3 (PCK, PCK CA, Intel SGX Root "
                         "CA)",
                     sk_X509_num(sk));
        goto out;
    }
    X509 *leaf = sk_X509_value(sk, 0), *ca = sk_X509_value(sk, 1), *root = sk_X509_value(sk, 2);
    int dl = i2d_X509(root, &der);
    if (dl <= 0 || (size_t)dl != v->root_der_len || memcmp(der, v->root_der, v->root_der_len) != 0) {
        char subj[160];
        X509_NAME_oneline(X509_get_subject_name(root), subj, sizeof(subj));
        ret = reject(rn, "PCK chain: its root \"%s\" is not the pinned trust anchor", subj);
        goto out;
    }
    st = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (st == NULL || ctx == NULL || untrusted == NULL || X509_STORE_add_cert(st, v->root) != 1 ||
        !sk_X509_push(untrusted, ca) || X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
        sk_X509_free(untrusted);
        ret = attex_fail_crypto(rn->err, "setting up PCK chain verification");
        reject_err(rn, ret);
        goto out;
    }
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
    int ok = X509_verify_cert(ctx);
    int verr = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (ok != 1) {
        ret = reject(rn, "PCK chain: does not verify to the Intel SGX Root CA (%s, at depth %d)",
                     X509_verify_cert_error_string(verr), depth);
        goto out;
    }
    int64_t nb1, na1, nb2, na2;
    if (!tdx_asn1_time(X509_get0_notBefore(leaf), &nb1) ||
        !tdx_asn1_time(X509_get0_notAfter(leaf), &na1) ||
        !tdx_asn1_time(X509_get0_notBefore(ca), &nb2) ||
        !tdx_asn1_time(X509_get0_notAfter(ca), &na2)) {
        ret = reject(rn, "PCK chain: unreadable validity dates");
        goto out;
    }
    e->not_before = nb1 > nb2 ? nb1 : nb2;
    e->not_after = na1 < na2 ? na1 : na2;
    /* The pinned root's own validity bounds the chain too. */
    int64_t nb3, na3;
    if (!tdx_asn1_time(X509_get0_notBefore(v->root), &nb3) ||
        !tdx_asn1_time(X509_get0_notAfter(v->root), &na3)) {
        ret = reject(rn, "the root CA certificate has unreadable validity dates");
        goto out;
    }
    e->not_before = e->not_before > nb3 ? e->not_before : nb3;
    e->not_after = e->not_after < na3 ? e->not_after : na3;
    /* Revocation: the root CA's CRL lists PCK CAs, the PCK CA's CRL lists PCK certificates. */
    X509_REVOKED *rev = NULL;
    const tdx_crl_entry *root_crl = tdx_find_crl(&v->col, v->root);
    if (root_crl != NULL && X509_CRL_get0_by_cert(root_crl->crl, &rev, ca) == 1) {
        ret = reject(rn, "PCK chain: the PCK CA certificate is revoked by the root CA's CRL");
        goto out;
    }
    e->pck_crl = tdx_find_crl(&v->col, ca);
    if (e->pck_crl != NULL && X509_CRL_get0_by_cert(e->pck_crl->crl, &rev, leaf) == 1) {
        char serial[80] = "?";
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
        char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
        if (hex != NULL)
            snprintf(serial, sizeof(serial), "%s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
        ret = reject(rn, "PCK chain: the PCK certificate (serial %s) is revoked by its CA's CRL",
                     serial);
        goto out;
    }
    if ((ret = tdx_pck_ext_parse(leaf, &e->ext, rn->err)) != ATTEX_OK) {
        reject_err(rn, ret);
        goto out;
    }
    e->leaf_key = X509_get_pubkey(leaf);
    if (e->leaf_key == NULL || EVP_PKEY_get_base_id(e->leaf_key) != EVP_PKEY_EC) {
        ret = reject(rn, "PCK certificate: its key is not an EC P-256 key");
        goto out;
    }
out:
    OPENSSL_free(der);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return ret;
}

/*
 * pck_for finds the quote's PCK chain in the cache or verifies and caches
 * it, and copies out what the appraisal needs (with a reference on the key).
 */
static int pck_for(attex_tdx_verifier *v, run *rn, const tdx_quote *q, chain_entry *use)
{
    memset(use, 0, sizeof(*use));
    pthread_mutex_lock(&v->lock);
    v->clock++;
    for (size_t i = 0; i < CHAIN_CACHE_SIZE; i++) {
        chain_entry *e = &v->cache[i];
        if (e->pem != NULL && e->pem_len == q->pck_chain_len &&
            memcmp(e->pem, q->pck_chain, e->pem_len) == 0) {
            e->last_use = v->clock;
            *use = *e;
            use->pem = NULL;
            EVP_PKEY_up_ref(use->leaf_key);
            if (use->att_key != NULL)
                EVP_PKEY_up_ref(use->att_key);
            pthread_mutex_unlock(&v->lock);
            return ATTEX_OK;
        }
    }
    pthread_mutex_unlock(&v->lock);
    chain_entry fresh;
    memset(&fresh, 0, sizeof(fresh));
    int ret = verify_chain(v, rn, q->pck_chain, q->pck_chain_len, &fresh);
    if (ret != ATTEX_OK) {
        chain_entry_clear(&fresh);
        return ret;
    }
    *use = fresh;
    EVP_PKEY_up_ref(use->leaf_key);
    fresh.pem = malloc(q->pck_chain_len);
    if (fresh.pem == NULL) { /* not cached, still usable */
        chain_entry_clear(&fresh);
        return ATTEX_OK;
    }
    memcpy(fresh.pem, q->pck_chain, q->pck_chain_len);
    fresh.pem_len = q->pck_chain_len;
    pthread_mutex_lock(&v->lock);
    size_t victim = 0;
    for (size_t i = 1; i < CHAIN_CACHE_SIZE; i++)
        if (v->cache[i].last_use < v->cache[victim].last_use)
            victim = i;
    chain_entry_clear(&v->cache[victim]);
    fresh.last_use = ++v->clock;
    v->cache[victim] = fresh;
    pthread_mutex_unlock(&v->lock);
    return ATTEX_OK;
}

/* remember stores a verified QE report and the imported attestation key with their chain. */
static void remember(attex_tdx_verifier *v, const tdx_quote *q, EVP_PKEY *att)
{
    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < CHAIN_CACHE_SIZE; i++) {
        chain_entry *e = &v->cache[i];
        if (e->pem == NULL || e->pem_len != q->pck_chain_len ||
            memcmp(e->pem, q->pck_chain, e->pem_len) != 0)
            continue;
        memcpy(e->qe_signed, q->qe_report_raw, TDX_QE_REPORT_SIZE);
        memcpy(e->qe_signed + TDX_QE_REPORT_SIZE, q->qe_report_sig, 64);
        e->qe_ok = 1;
        if (e->att_key != att) {
            EVP_PKEY_free(e->att_key);
            EVP_PKEY_up_ref(att);
            e->att_key = att;
            memcpy(e->att_raw, q->att_key, 64);
        }
        break;
    }
    pthread_mutex_unlock(&v->lock);
}

/* ---- JSON of a decoded quote ------------------------------------------ */

/*
 * A small JSON writer on attex_writer: the claims are mostly hex strings,
 * and building them as a jansson tree then dumping it cost a quarter of a
 * cached appraisal. Keys are literals of this file; string values are
 * escaped (they come from verified collateral, escaped all the same).
 */
typedef struct jw {
    attex_writer w;
    int depth;
    int first[8];
} jw;

static void jw_raw(jw *j, const char *s) { wr_bytes(&j->w, (const uint8_t *)s, strlen(s)); }

static void jw_key(jw *j, const char *k)
{
    if (!j->first[j->depth])
        wr_u8(&j->w, ',');
    j->first[j->depth] = 0;
    if (k != NULL) {
        wr_u8(&j->w, '"');
        jw_raw(j, k);
        jw_raw(j, "\":");
    }
}

static void jw_open(jw *j, const char *k, char bracket)
{
    if (j->depth > 0 || !j->first[0])
        jw_key(j, k);
    wr_u8(&j->w, (uint8_t)bracket);
    if (j->depth + 1 < (int)ATTEX_ARRAY_LEN(j->first)) {
        j->depth++;
        j->first[j->depth] = 1;
    } else {
        j->w.failed = 1;
    }
}

static void jw_close(jw *j, char bracket)
{
    wr_u8(&j->w, (uint8_t)bracket);
    if (j->depth > 0)
        j->depth--;
}

static void jw_hex(jw *j, const char *k, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    jw_key(j, k);
    wr_u8(&j->w, '"');
    for (size_t i = 0; i < n; i++) {
        wr_u8(&j->w, (uint8_t)digits[p[i] >> 4]);
        wr_u8(&j->w, (uint8_t)digits[p[i] & 15]);
    }
    wr_u8(&j->w, '"');
}

static void jw_int(jw *j, const char *k, long long v)
{
    char buf[32];
    jw_key(j, k);
    snprintf(buf, sizeof(buf), "%lld", v);
    jw_raw(j, buf);
}

static void jw_bool(jw *j, const char *k, int v)
{
    jw_key(j, k);
    jw_raw(j, v ? "true" : "false");
}

static void jw_str(jw *j, const char *k, const char *s)
{
    jw_key(j, k);
    wr_u8(&j->w, '"');
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            wr_u8(&j->w, '\\');
            wr_u8(&j->w, *c);
        } else if (*c < 0x20 || *c >= 0x7F) {
            /* Control and non-ASCII bytes: as escapes, so that the output is always valid. */
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", *c);
            jw_raw(j, esc);
        } else {
            wr_u8(&j->w, *c);
        }
    }
    wr_u8(&j->w, '"');
}

/* jw_init starts a document whose top level is an object. */
static void jw_init(jw *j)
{
    memset(j, 0, sizeof(*j));
    wr_init(&j->w, 1u << 20);
    j->first[0] = 1;
    jw_open(j, NULL, '{');
}

/* jw_take closes the top-level object and returns the text (malloc'd, NUL-terminated), or NULL. */
static char *jw_take(jw *j, size_t *len)
{
    jw_close(j, '}');
    wr_u8(&j->w, '\0');
    attex_buf b = ATTEX_BUF_INIT;
    if (!wr_finish(&j->w, &b))
        return NULL;
    *len = b.len - 1;
    return (char *)b.data;
}

/* quote_json writes the decoded fields of `q` as members of the open object. */
static void quote_json(jw *j, const tdx_quote *q)
{
    const tdx_body *b = &q->body;
    jw_int(j, "version", q->version);
    jw_int(j, "att_key_type", q->att_key_type);
    jw_int(j, "tee_type", q->tee_type);
    jw_int(j, "qe_svn", q->qe_svn);
    jw_int(j, "pce_svn", q->pce_svn);
    jw_hex(j, "qe_vendor_id", q->qe_vendor_id, 16);
    jw_hex(j, "user_data", q->user_data, 20);
    jw_str(j, "body_type", q->body_type == TDX_BODY_TD15 ? "TD15" : "TD10");
    jw_open(j, "td_report", '{');
    jw_hex(j, "tee_tcb_svn", b->tee_tcb_svn, 16);
    jw_hex(j, "mrseam", b->mrseam, 48);
    jw_hex(j, "mrsignerseam", b->mrsignerseam, 48);
    jw_hex(j, "seam_attributes", b->seam_attributes, 8);
    jw_hex(j, "td_attributes", b->td_attributes, 8);
    jw_bool(j, "debug", b->td_attributes[0] & 1);
    jw_hex(j, "xfam", b->xfam, 8);
    jw_hex(j, "mrtd", b->mrtd, 48);
    jw_hex(j, "mrconfigid", b->mrconfigid, 48);
    jw_hex(j, "mrowner", b->mrowner, 48);
    jw_hex(j, "mrownerconfig", b->mrownerconfig, 48);
    jw_hex(j, "rtmr0", b->rtmr[0], 48);
    jw_hex(j, "rtmr1", b->rtmr[1], 48);
    jw_hex(j, "rtmr2", b->rtmr[2], 48);
    jw_hex(j, "rtmr3", b->rtmr[3], 48);
    jw_hex(j, "report_data", b->report_data, 64);
    if (q->body_type == TDX_BODY_TD15) {
        jw_hex(j, "tee_tcb_svn2", b->tee_tcb_svn2, 16);
        jw_hex(j, "mrservicetd", b->mrservicetd, 48);
    }
    jw_close(j, '}');
    jw_open(j, "qe_report", '{');
    jw_hex(j, "cpusvn", q->qe.cpusvn, 16);
    jw_int(j, "miscselect", q->qe.miscselect);
    jw_hex(j, "attributes", q->qe.attributes, 16);
    jw_hex(j, "mrenclave", q->qe.mrenclave, 32);
    jw_hex(j, "mrsigner", q->qe.mrsigner, 32);
    jw_int(j, "isvprodid", q->qe.isvprodid);
    jw_int(j, "isvsvn", q->qe.isvsvn);
    jw_hex(j, "report_data", q->qe.report_data, 64);
    jw_close(j, '}');
    jw_int(j, "trailing_bytes", (long long)q->trailing);
}

static void ext_json(jw *j, const char *k, const tdx_pck_ext *x)
{
    jw_open(j, k, '{');
    jw_hex(j, "fmspc", x->fmspc, 6);
    jw_hex(j, "pce_id", x->pceid, 2);
    jw_hex(j, "cpusvn", x->cpusvn, 16);
    jw_hex(j, "tcb_comp_svn", x->comp_svn, 16);
    jw_int(j, "pcesvn", x->pcesvn);
    jw_close(j, '}');
}

int attex_tdx_describe(const uint8_t *quote, size_t len, attex_buf *json, attex_error *err)
{
    if (json == NULL)
        return BAD(err, "attex_tdx_describe needs an output buffer");
    json->data = NULL;
    json->len = 0;
    tdx_quote q;
    int ret = tdx_quote_parse(quote, len, &q, err);
    if (ret != ATTEX_OK)
        return ret;
    jw j;
    jw_init(&j);
    quote_json(&j, &q);
    jw_hex(&j, "signature", q.quote_sig, 64);
    jw_hex(&j, "attestation_key", q.att_key, 64);
    jw_hex(&j, "qe_report_signature", q.qe_report_sig, 64);
    jw_hex(&j, "qe_auth_data", q.qe_auth, q.qe_auth_len);
    /* Not verified here: what the chain says, for a person to read. */
    jw_open(&j, "pck_chain", '[');
    STACK_OF(X509) *sk = pem_chain(q.pck_chain, q.pck_chain_len);
    for (int i = 0; sk != NULL && i < sk_X509_num(sk); i++) {
        X509 *x = sk_X509_value(sk, i);
        char subj[256], nb[32], na[32];
        int64_t t1 = 0, t2 = 0;
        X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
        if (!tdx_asn1_time(X509_get0_notBefore(x), &t1) ||
            !tdx_asn1_time(X509_get0_notAfter(x), &t2))
            t1 = t2 = 0;
        tdx_time_format(t1, nb);
        tdx_time_format(t2, na);
        jw_open(&j, NULL, '{');
        jw_str(&j, "subject", subj);
        jw_str(&j, "not_before", nb);
        jw_str(&j, "not_after", na);
        tdx_pck_ext ext;
        attex_error ignored;
        if (i == 0 && tdx_pck_ext_parse(x, &ext, &ignored) == ATTEX_OK)
            ext_json(&j, "sgx_extensions", &ext);
        jw_close(&j, '}');
    }
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    jw_close(&j, ']');
    size_t n = 0;
    char *s = jw_take(&j, &n);
    if (s == NULL)
        return NOMEM(err);
    json->data = (uint8_t *)s;
    json->len = n;
    return ATTEX_OK;
}

/* ---- policy ----------------------------------------------------------- */

/* check_policy writes the first mismatch into `why`; returns 1 if everything matches. */
static int check_policy(const tdx_policy *p, const tdx_body *b, char *why, size_t why_len)
{
    const uint8_t *vals[REF_COUNT] = {b->mrtd,    b->rtmr[0],   b->rtmr[1],
                                      b->rtmr[2], b->rtmr[3],   b->mrconfigid,
                                      b->mrowner, b->mrownerconfig, b->mrseam};
    /* TDX Module ABI, TDATTRIBUTES bit 0 (DEBUG): the host can read and change the TD. */
    if ((b->td_attributes[0] & 1) && !p->allow_debug) {
        char got[17];
        util_hex(b->td_attributes, 8, got);
        snprintf(why, why_len,
                 "policy: TD attributes %s have DEBUG set (the host can read and change a debug "
                 "TD); allow_debug is false",
                 got);
        return 0;
    }
    for (size_t i = 0; i < REF_COUNT; i++) {
        const ref_list *r = &p->refs[i];
        if (r->n == 0)
            continue;
        int match = 0;
        for (size_t k = 0; k < r->n; k++)
            match |= crypto_equal(r->vals[k], vals[i], 48);
        if (match)
            continue;
        char got[97], want[97];
        util_hex(vals[i], 48, got);
        util_hex(r->vals[0], 48, want);
        snprintf(why, why_len, "policy: %s is %s, expected %s%s", ref_names[i], got, want,
                 r->n > 1 ? " (or one of the other listed values)" : "");
        return 0;
    }
    if (p->has_td_attributes && memcmp(p->td_attributes, b->td_attributes, 8) != 0) {
        char got[17], want[17];
        util_hex(b->td_attributes, 8, got);
        util_hex(p->td_attributes, 8, want);
        snprintf(why, why_len, "policy: td_attributes is %s, expected %s", got, want);
        return 0;
    }
    if (p->has_xfam && memcmp(p->xfam, b->xfam, 8) != 0) {
        char got[17], want[17];
        util_hex(b->xfam, 8, got);
        util_hex(p->xfam, 8, want);
        snprintf(why, why_len, "policy: xfam is %s, expected %s", got, want);
        return 0;
    }
    return 1;
}

attex_verdict tdx_verdict_for(tdx_tcb_status s, attex_verdict needs_action)
{
    switch (s) {
    case TDX_TCB_UP_TO_DATE:
        return ATTEX_VERDICT_AFFIRMING;
    case TDX_TCB_SW_HARDENING_NEEDED:
    case TDX_TCB_CONFIGURATION_NEEDED:
    case TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED:
        return needs_action != ATTEX_VERDICT_NONE ? needs_action : ATTEX_VERDICT_WARNING;
    default: /* OutOfDate*, Revoked, no matching level */
        return ATTEX_VERDICT_CONTRAINDICATED;
    }
}

int tdx_policy_check_json(const char *policy_json, const tdx_body *b, char *why, size_t why_len,
                          attex_error *err)
{
    tdx_policy p;
    int ret = policy_parse(policy_json, strlen(policy_json), &p, err);
    if (ret != ATTEX_OK)
        return ret;
    ret = check_policy(&p, b, why, why_len) ? ATTEX_OK : ATTEX_ERR_ATTESTATION;
    policy_clear(&p);
    return ret;
}

/* ---- the appraisal ---------------------------------------------------- */

static void level_json(jw *j, const char *k, const tdx_tcb_level *l, tdx_tcb_status st,
                       const char *id)
{
    jw_open(j, k, '{');
    if (id != NULL)
        jw_str(j, "id", id);
    jw_str(j, "status", tdx_tcb_status_name(st));
    if (l != NULL) {
        jw_str(j, "tcb_date", l->tcb_date);
        if (l->advisories != NULL) {
            size_t i;
            json_t *a;
            jw_open(j, "advisory_ids", '[');
            json_array_foreach(l->advisories, i, a)
            {
                jw_str(j, NULL, json_string_value(a));
            }
            jw_close(j, ']');
        }
    }
    jw_close(j, '}');
}

int attex_tdx_appraise(void *verifier_ctx, const uint8_t *outblob, size_t outblob_len,
                       const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                       attex_appraisal *out, attex_error *err)
{
    attex_tdx_verifier *v = verifier_ctx;
    (void)auxblob;
    (void)auxblob_len;
    if (out != NULL) {
        out->verdict = ATTEX_VERDICT_NONE;
        out->reason[0] = '\0';
        out->claims_json = NULL;
    }
    if (v == NULL || out == NULL || (outblob == NULL && outblob_len > 0))
        return BAD(err, "attex_tdx_appraise needs a TDX verifier, the quote and an appraisal to "
                        "fill");
    run rn;
    memset(&rn, 0, sizeof(rn));
    rn.out = out;
    rn.err = err;
    int64_t t = v->cfg.time != 0 ? v->cfg.time : (int64_t)time(NULL);
    tdx_quote q;
    int ret = tdx_quote_parse(outblob, outblob_len, &q, err);
    if (ret != ATTEX_OK)
        return reject_err(&rn, ret);

    /* 1. The PCK chain, for the PCK key (cached per exact chain bytes). */
    chain_entry pck;
    if ((ret = pck_for(v, &rn, &q, &pck)) != ATTEX_OK)
        return ret;
    EVP_PKEY *att = NULL;
    jw claims;
    memset(&claims, 0, sizeof(claims));
    char buf[400];

    /*
     * 2. The QE report, signed by the PCK key (A.3.10), unless these very
     * bytes were verified with this very key before.
     */
    int qe_cached = pck.qe_ok && memcmp(pck.qe_signed, q.qe_report_raw, TDX_QE_REPORT_SIZE) == 0 &&
                    memcmp(pck.qe_signed + TDX_QE_REPORT_SIZE, q.qe_report_sig, 64) == 0;
    if (!qe_cached && !tdx_ecdsa_verify_raw(pck.leaf_key, q.qe_report_raw, TDX_QE_REPORT_SIZE,
                              q.qe_report_sig)) {
        char fm[13];
        util_hex(pck.ext.fmspc, 6, fm);
        ret = reject(&rn, "QE report signature: does not verify with the PCK certificate's key "
                          "(FMSPC %s)",
                     fm);
        goto done;
    }
    /* 3. A.3.10: QE REPORTDATA = SHA-256(attestation key || QE auth data) || 32 zero bytes. */
    {
        uint8_t want[64];
        memset(want, 0, sizeof(want));
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(md, q.att_key, 64) == 1 &&
                 EVP_DigestUpdate(md, q.qe_auth, q.qe_auth_len) == 1 &&
                 EVP_DigestFinal_ex(md, want, NULL) == 1;
        EVP_MD_CTX_free(md);
        if (!ok) {
            ret = attex_fail_crypto(err, "SHA-256 of the attestation key");
            reject_err(&rn, ret);
            goto done;
        }
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
        /* Fuzzing builds only: a mutated attestation key must reach the quote signature path. */
        memcpy(want, q.qe.report_data, 64);
#endif
        if (!crypto_equal(want, q.qe.report_data, 64)) {
            char got[129], exp[129];
            util_hex(q.qe.report_data, 64, got);
            util_hex(want, 64, exp);
            ret = reject(&rn, "QE report data: got %s, expected SHA-256(attestation key || QE "
                              "authentication data) || zeros = %s",
                         got, exp);
            goto done;
        }
    }
    /* 4. The quote signature by the attestation key over header || body. */
    if (pck.att_key != NULL && memcmp(pck.att_raw, q.att_key, 64) == 0) {
        att = pck.att_key;
        pck.att_key = NULL;
    } else {
        att = raw_p256_key(q.att_key);
    }
    if (att == NULL) {
        util_hex(q.att_key, 64, buf);
        ret = reject(&rn, "attestation key: %s is not a P-256 point", buf);
        goto done;
    }
    if (!tdx_ecdsa_verify_raw(att, q.signed_part, q.signed_len, q.quote_sig)) {
        util_hex(q.att_key, 64, buf);
        ret = reject(&rn, "quote signature: does not verify with the attestation key %s over "
                          "the %zu-byte header and body",
                     buf, q.signed_len);
        goto done;
    }
    remember(v, &q, att);
    /* 5. Validity windows at the validation time. */
    const tdx_tcb_info *ti = NULL;
    for (size_t i = 0; i < v->col.num_tcb_infos; i++)
        if (memcmp(v->col.tcb_infos[i].fmspc, pck.ext.fmspc, 6) == 0)
            ti = &v->col.tcb_infos[i];
    if (ti == NULL) {
        char fm[13];
        util_hex(pck.ext.fmspc, 6, fm);
        ret = reject(&rn, "collateral: no TCB Info for the platform's FMSPC %s", fm);
        goto done;
    }
    if ((ret = window(v, &rn, t, pck.not_before, pck.not_after, "the PCK chain (PCK, its CA, the root)", 0)) != ATTEX_OK ||
        (ret = window(v, &rn, t, ti->issue_date, ti->next_update, "the TCB Info", 0)) != ATTEX_OK)
        goto done;
    if (v->col.has_qe_identity &&
        (ret = window(v, &rn, t, v->col.qe_identity.issue_date, v->col.qe_identity.next_update,
                      "the QE Identity", 0)) != ATTEX_OK)
        goto done;
    {
        const tdx_crl_entry *rc = tdx_find_crl(&v->col, v->root);
        const tdx_crl_entry *crls[2] = {rc, pck.pck_crl};
        const char *names[2] = {"the root CA's CRL", "the PCK CA's CRL"};
        for (int i = 0; i < 2; i++) {
            if (crls[i] == NULL) {
                snprintf(buf, sizeof(buf), "%s is not in the collateral", names[i]);
                if ((ret = gap(v, &rn, buf)) != ATTEX_OK)
                    goto done;
                continue;
            }
            int64_t from = crls[i]->this_update > crls[i]->issuer_not_before
                               ? crls[i]->this_update
                               : crls[i]->issuer_not_before;
            int64_t to = crls[i]->next_update < crls[i]->issuer_not_after
                             ? crls[i]->next_update
                             : crls[i]->issuer_not_after;
            if ((ret = window(v, &rn, t, from, to, names[i], 1)) != ATTEX_OK)
                goto done;
        }
    }
    if ((ret = window(v, &rn, t, v->col.signer_not_before, v->col.signer_not_after,
                      "the TCB signing certificate", 1)) != ATTEX_OK)
        goto done;
    /* 6. PROTOCOL.md s3: REPORTDATA carries the binding; constant-time comparison. */
    if (report_data != NULL && !crypto_equal(report_data, q.body.report_data, 64)) {
        char got[129], exp[129];
        util_hex(q.body.report_data, 64, got);
        util_hex(report_data, 64, exp);
        ret = reject(&rn, "binding: REPORTDATA is %s, expected %s (evidence made for another "
                          "connection, request or key)",
                     got, exp);
        goto done;
    }
    /* 7. The QE against its identity, the platform and TDX module against the TCB Info. */
    tdx_tcb_result res;
    memset(&res, 0, sizeof(res));
    res.qe = TDX_TCB_UP_TO_DATE;
    if (v->col.has_qe_identity) {
        if ((ret = tdx_qe_evaluate(&v->col.qe_identity, &q.qe, &res, err)) != ATTEX_OK) {
            reject_err(&rn, ret);
            goto done;
        }
    } else if ((ret = gap(v, &rn, "no QE Identity in the collateral")) != ATTEX_OK) {
        goto done;
    }
    if (memcmp(ti->pceid, pck.ext.pceid, 2) != 0) {
        char a[5], b[5];
        util_hex(pck.ext.pceid, 2, a);
        util_hex(ti->pceid, 2, b);
        ret = reject(&rn, "PCE-ID %s of the PCK certificate differs from the TCB Info's %s", a, b);
        goto done;
    }
    if ((ret = tdx_tcb_evaluate(ti, &pck.ext, &q.body, &res, err)) != ATTEX_OK) {
        reject_err(&rn, ret);
        goto done;
    }
    res.final = tdx_converge(tdx_converge(res.platform, res.module), res.qe);

    /* 8. Verdict: reference values first, then the TCB status. */
    char why[sizeof(out->reason) - 16];
    char status_text[200];
    snprintf(status_text, sizeof(status_text), "TCB status %s (platform %s, TDX module %s%s%s, QE %s)",
             tdx_tcb_status_name(res.final), tdx_tcb_status_name(res.platform),
             res.module_id[0] ? res.module_id : "", res.module_id[0] ? " " : "",
             res.module_id[0] ? tdx_tcb_status_name(res.module) : "checked against tdxModule",
             v->col.has_qe_identity ? tdx_tcb_status_name(res.qe) : "not evaluated");
    if (!check_policy(&v->policy, &q.body, why, sizeof(why))) {
        out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
        snprintf(out->reason, sizeof(out->reason), "TDX quote: %s", why);
    } else {
        out->verdict = tdx_verdict_for(res.final, v->cfg.needs_action_verdict);
        if (res.platform == TDX_TCB_NO_MATCH)
            snprintf(out->reason, sizeof(out->reason),
                     "TDX quote: no TCB level of the TCB Info (FMSPC %02x%02x%02x%02x%02x%02x) "
                     "is met by the platform (PCESVN %u) and TEE_TCB_SVN; %s",
                     pck.ext.fmspc[0], pck.ext.fmspc[1], pck.ext.fmspc[2], pck.ext.fmspc[3],
                     pck.ext.fmspc[4], pck.ext.fmspc[5], pck.ext.pcesvn, status_text);
        else
            snprintf(out->reason, sizeof(out->reason), "TDX quote: %s", status_text);
    }
    /* Tolerated collateral gaps cap the verdict: a skipped check cannot affirm. */
    if (rn.gaps[0] != '\0') {
        if (out->verdict == ATTEX_VERDICT_AFFIRMING)
            out->verdict = ATTEX_VERDICT_WARNING;
        size_t l = strlen(out->reason);
        snprintf(out->reason + l, sizeof(out->reason) - l, "; collateral gaps tolerated: %s",
                 rn.gaps);
    }
    /* Claims: the decoded quote and the evaluation. */
    jw_init(&claims);
    quote_json(&claims, &q);
    ext_json(&claims, "pck", &pck.ext);
    jw_open(&claims, "tcb", '{');
    jw_str(&claims, "status", tdx_tcb_status_name(res.final));
    level_json(&claims, "platform", res.platform_level, res.platform, NULL);
    if (res.module_id[0] != '\0')
        level_json(&claims, "tdx_module", res.module_level, res.module, res.module_id);
    if (v->col.has_qe_identity)
        level_json(&claims, "qe", res.qe_level, res.qe, NULL);
    jw_int(&claims, "tcb_evaluation_data_number", ti->eval_number);
    jw_close(&claims, '}');
    if (rn.gaps[0] != '\0')
        jw_str(&claims, "collateral_gaps", rn.gaps);
    {
        char vt[32];
        tdx_time_format(t, vt);
        jw_str(&claims, "validation_time", vt);
    }
    jw_str(&claims, "verdict", attex_verdict_name(out->verdict));
    size_t claims_len;
    out->claims_json = jw_take(&claims, &claims_len);
    if (out->claims_json == NULL) {
        ret = NOMEM(err);
        reject_err(&rn, ret);
        goto done;
    }
    ret = ATTEX_OK;
done:
    wr_cleanup(&claims.w);
    EVP_PKEY_free(att);
    EVP_PKEY_free(pck.leaf_key);
    EVP_PKEY_free(pck.att_key);
    return ret;
}
