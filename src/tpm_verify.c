/*
 * attex: TPM 2.0 quote evidence, decoding and appraisal (docs/tpm.md).
 *
 * OpenSSL only: the TPM structures are parsed here with the bounds-checked
 * reader (TCG TPM 2.0 Library Part 2; all integers big-endian), the
 * signature is checked with libcrypto. Appraisal order: decode, parse,
 * trust the AK, verify the signature over TPMS_ATTEST, and only then look
 * at what the quote says (extraData = report_data, pcrDigest = the digest
 * of the PCR values carried, PCR values = reference values).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <attex/cmw.h>
#include <attex/tpm.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "crypto.h"
#include "internal.h"
#include "tpm_internal.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* Limits of the verifier's own inputs. */
#define TPM_MAX_TEXT_FILE (1024 * 1024)
#define TPM_MAX_REF_VALUES 16

/* ---------------------------------------------------------------------- */
/* Hash algorithms                                                        */

static const struct {
    uint16_t alg;
    const char *name;
    size_t size;
    const char *md;
} hashes[] = {
    {TPM_ALG_SHA1_ID, "sha1", 20, "SHA1"},
    {TPM_ALG_SHA256_ID, "sha256", 32, "SHA256"},
    {TPM_ALG_SHA384_ID, "sha384", 48, "SHA384"},
    {TPM_ALG_SHA512_ID, "sha512", 64, "SHA512"},
};

size_t tpm_hash_size(uint16_t alg)
{
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(hashes); i++)
        if (hashes[i].alg == alg)
            return hashes[i].size;
    return 0;
}

const char *tpm_hash_name(uint16_t alg)
{
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(hashes); i++)
        if (hashes[i].alg == alg)
            return hashes[i].name;
    return NULL;
}

static const char *tpm_hash_md(uint16_t alg)
{
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(hashes); i++)
        if (hashes[i].alg == alg)
            return hashes[i].md;
    return NULL;
}

uint16_t tpm_hash_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(hashes); i++)
        if (strlen(hashes[i].name) == len && memcmp(hashes[i].name, name, len) == 0)
            return hashes[i].alg;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* TPMS_ATTEST and TPMT_SIGNATURE                                         */

#define DECODE(err, ...) attex_fail((err), ATTEX_ERR_DECODE, ATTEX_ALERT_NONE, __VA_ARGS__)
#define ILLEGAL(err, ...) \
    attex_fail((err), ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_NONE, __VA_ARGS__)

/* rd_tpm2b reads a TPM2B (u16 size, then size bytes) of at most `max` bytes. */
static int rd_tpm2b(attex_reader *r, size_t max, const uint8_t **p, size_t *n, const char *what,
                    attex_error *err)
{
    attex_reader sub;
    if (!rd_prefixed16(r, &sub))
        return DECODE(err, "TPMS_ATTEST/TPMT_SIGNATURE ends inside %s (its u16 size or its "
                           "bytes are missing)",
                      what);
    if (rd_len(&sub) > max)
        return ILLEGAL(err, "%s is %zu bytes, more than the %zu its type allows", what,
                       rd_len(&sub), max);
    *p = rd_ptr(&sub);
    *n = rd_len(&sub);
    return ATTEX_OK;
}

int tpm_quote_parse(const uint8_t *p, size_t n, tpm_quote *q, attex_error *err)
{
    attex_reader r;
    uint32_t magic;
    uint16_t type;
    int ret;
    memset(q, 0, sizeof(*q));
    rd_init(&r, p, n);
    if (!rd_u32(&r, &magic))
        return DECODE(err, "TPMS_ATTEST is %zu bytes, too short for its magic", n);
    /* Part 2 s10.12.12: magic is TPM_GENERATED_VALUE for anything the TPM signed itself. */
    if (magic != TPM_GENERATED)
        return ILLEGAL(err, "TPMS_ATTEST magic is 0x%08x, not TPM_GENERATED_VALUE 0xff544347: "
                            "not produced by a TPM",
                       magic);
    if (!rd_u16(&r, &type))
        return DECODE(err, "TPMS_ATTEST ends before its type");
    /* Part 2 s6.9: only TPM_ST_ATTEST_QUOTE; a certify or other attestation is not a quote. */
    if (type != TPM_ST_QUOTE)
        return ILLEGAL(err, "TPMS_ATTEST type is 0x%04x, not TPM_ST_ATTEST_QUOTE (0x8018)", type);
    /* Part 2 s10.5.3: TPM2B_NAME holds a TPMT_HA (2 + 64 bytes) at most. */
    if ((ret = rd_tpm2b(&r, 2 + TPM_MAX_DIGEST, &q->signer, &q->signer_len,
                        "qualifiedSigner", err)) != ATTEX_OK)
        return ret;
    if ((ret = rd_tpm2b(&r, TPM_MAX_DIGEST, &q->extra, &q->extra_len, "extraData", err)) !=
        ATTEX_OK)
        return ret;
    /* Part 2 s10.11.1: TPMS_CLOCK_INFO = clock u64, resetCount u32, restartCount u32, safe. */
    if (!rd_u64(&r, &q->clock) || !rd_u32(&r, &q->reset_count) ||
        !rd_u32(&r, &q->restart_count) || !rd_u8(&r, &q->safe))
        return DECODE(err, "TPMS_ATTEST ends inside clockInfo");
    if (q->safe > 1)
        return ILLEGAL(err, "TPMS_ATTEST clockInfo.safe is %u; a TPMI_YES_NO is 0 or 1",
                       q->safe);
    if (!rd_u64(&r, &q->firmware))
        return DECODE(err, "TPMS_ATTEST ends inside firmwareVersion");
    /* Part 2 s10.12.1 TPMS_QUOTE_INFO: TPML_PCR_SELECTION then pcrDigest. */
    uint32_t count;
    if (!rd_u32(&r, &count))
        return DECODE(err, "TPMS_ATTEST ends inside the PCR selection count");
    if (count == 0 || count > TPM_MAX_BANKS)
        return ILLEGAL(err, "the quote selects %u PCR banks; attex accepts 1 to %d", count,
                       TPM_MAX_BANKS);
    for (uint32_t i = 0; i < count; i++) {
        tpm_pcr_selection *s = &q->banks[i];
        attex_reader sel;
        if (!rd_u16(&r, &s->hash) || !rd_prefixed8(&r, &sel))
            return DECODE(err, "TPMS_ATTEST ends inside PCR selection %u", i);
        if (tpm_hash_size(s->hash) == 0)
            return ILLEGAL(err, "PCR selection %u names hash algorithm 0x%04x; attex knows "
                                "sha1, sha256, sha384 and sha512",
                           i, s->hash);
        for (uint32_t j = 0; j < i; j++)
            if (q->banks[j].hash == s->hash)
                return ILLEGAL(err, "the PCR selection names bank %s twice",
                               tpm_hash_name(s->hash));
        /* Part 2 s10.6.2: sizeofSelect >= PCR_SELECT_MIN (3 for 24 PCRs). */
        s->size_of_select = (uint8_t)rd_len(&sel);
        if (s->size_of_select < 3 || s->size_of_select > 4)
            return ILLEGAL(err, "PCR selection %u has sizeofSelect %u; expected 3 or 4", i,
                           s->size_of_select);
        if (!rd_copy(&sel, s->select, s->size_of_select))
            return DECODE(err, "PCR selection %u is truncated", i);
        if (s->size_of_select == 4 && s->select[3] != 0)
            return ILLEGAL(err, "PCR selection %u selects a PCR above 23", i);
    }
    q->num_banks = count;
    if ((ret = rd_tpm2b(&r, TPM_MAX_DIGEST, &q->pcr_digest, &q->pcr_digest_len, "pcrDigest",
                        err)) != ATTEX_OK)
        return ret;
    if (!rd_done(&r))
        return DECODE(err, "%zu bytes follow the TPMS_ATTEST of a quote", rd_len(&r));
    return ATTEX_OK;
}

static int pcr_selected(const tpm_pcr_selection *s, unsigned i)
{
    return (s->select[i / 8] >> (i % 8)) & 1;
}

size_t tpm_quote_num_pcrs(const tpm_quote *q)
{
    size_t n = 0;
    for (uint32_t b = 0; b < q->num_banks; b++)
        for (unsigned i = 0; i < TPM_NUM_PCRS; i++)
            n += (size_t)pcr_selected(&q->banks[b], i);
    return n;
}

int tpm_signature_parse(const uint8_t *p, size_t n, tpm_signature *s, attex_error *err)
{
    attex_reader r;
    int ret;
    memset(s, 0, sizeof(*s));
    rd_init(&r, p, n);
    if (!rd_u16(&r, &s->sig_alg) || !rd_u16(&r, &s->hash))
        return DECODE(err, "TPMT_SIGNATURE is %zu bytes, too short for its algorithms", n);
    if (tpm_hash_size(s->hash) == 0)
        return ILLEGAL(err, "TPMT_SIGNATURE uses hash algorithm 0x%04x; attex knows sha1, "
                            "sha256, sha384 and sha512",
                       s->hash);
    switch (s->sig_alg) {
    case TPM_ALG_ECDSA_ID:
        /* Part 2 s11.3.1 TPMS_SIGNATURE_ECDSA: TPM2B_ECC_PARAMETER r, s (P-521: 66 bytes). */
        if ((ret = rd_tpm2b(&r, 66, &s->r, &s->r_len, "ECDSA r", err)) != ATTEX_OK ||
            (ret = rd_tpm2b(&r, 66, &s->s, &s->s_len, "ECDSA s", err)) != ATTEX_OK)
            return ret;
        if (s->r_len == 0 || s->s_len == 0)
            return ILLEGAL(err, "TPMT_SIGNATURE has an empty ECDSA r or s");
        break;
    case TPM_ALG_RSASSA_ID:
    case TPM_ALG_RSAPSS_ID:
        /* Part 2 s11.2.4.5 TPM2B_PUBLIC_KEY_RSA: at most 512 bytes (4096-bit keys). */
        if ((ret = rd_tpm2b(&r, 512, &s->sig, &s->sig_len, "RSA signature", err)) != ATTEX_OK)
            return ret;
        if (s->sig_len == 0)
            return ILLEGAL(err, "TPMT_SIGNATURE has an empty RSA signature");
        break;
    default:
        return ILLEGAL(err, "TPMT_SIGNATURE algorithm is 0x%04x; attex accepts ECDSA (0x0018), "
                            "RSASSA (0x0014) and RSAPSS (0x0016)",
                       s->sig_alg);
    }
    if (!rd_done(&r))
        return DECODE(err, "%zu bytes follow the TPMT_SIGNATURE", rd_len(&r));
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Evidence CBOR                                                          */

/*
 * docs/tpm.md: a map with text keys, definite lengths, no tags, nesting 2
 * (the map, then the arrays of byte strings).
 */
static const cbor_scan_limits evidence_cbor = {
    .max_depth = 2,
    .indefinite = 0,
    .tag_min = 1,
    .tag_max = 0,
    .utf8 = 1,
    .plain_simple = 1,
    .trailing = 0,
};

static const char *scan_why(cbor_scan_status st)
{
    switch (st) {
    case CBOR_SCAN_END:
    case CBOR_SCAN_HEAD: return "the CBOR ends in the middle of an item";
    case CBOR_SCAN_INDEF_MAJOR:
    case CBOR_SCAN_INDEF: return "an indefinite-length CBOR item (TPM evidence uses definite lengths)";
    case CBOR_SCAN_STRING_LENGTH: return "a CBOR string is longer than the bytes that remain";
    case CBOR_SCAN_COUNT: return "a CBOR array or map declares more items than the bytes hold";
    case CBOR_SCAN_DEPTH: return "the CBOR nests deeper than a map of arrays";
    case CBOR_SCAN_TAG: return "a CBOR tag (TPM evidence uses none)";
    case CBOR_SCAN_TRAILING: return "bytes follow the CBOR map";
    case CBOR_SCAN_NOMEM: return "out of memory decoding CBOR";
    default: return "the CBOR is not well-formed";
    }
}

static int key_is(const cbor_item_t *k, const char *name)
{
    size_t n = strlen(name);
    return cbor_isa_string(k) && cbor_string_length(k) == n &&
           memcmp(cbor_string_handle(k), name, n) == 0;
}

/* bstr_array fills ptrs/lens from an array of byte strings of 1..max entries (0 allowed if min 0). */
static int bstr_array(const cbor_item_t *a, size_t min, size_t max, const uint8_t **ptrs,
                      size_t *lens, size_t *num, const char *what, attex_error *err)
{
    if (!cbor_isa_array(a))
        return DECODE(err, "TPM evidence: \"%s\" is not an array", what);
    size_t n = cbor_array_size(a);
    if (n < min || n > max)
        return DECODE(err, "TPM evidence: \"%s\" has %zu entries; expected %zu to %zu", what, n,
                      min, max);
    cbor_item_t **items = cbor_array_handle(a);
    for (size_t i = 0; i < n; i++) {
        if (!cbor_isa_bytestring(items[i]))
            return DECODE(err, "TPM evidence: \"%s\" entry %zu is not a byte string", what, i);
        ptrs[i] = cbor_bytestring_handle(items[i]);
        lens[i] = cbor_bytestring_length(items[i]);
    }
    *num = n;
    return ATTEX_OK;
}

int tpm_evidence_decode(const uint8_t *p, size_t n, tpm_evidence *e, attex_error *err)
{
    memset(e, 0, sizeof(*e));
    if (n == 0)
        return DECODE(err, "TPM evidence is empty");
    if (n > ATTEX_TPM_MAX_EVIDENCE)
        return DECODE(err, "TPM evidence is %zu bytes, more than %d", n, ATTEX_TPM_MAX_EVIDENCE);
    cbor_scan_result res;
    e->root = cbor_load_exact(p, n, &evidence_cbor, &res);
    if (e->root == NULL) {
        if (res.status == CBOR_SCAN_NOMEM)
            return NOMEM(err);
        return DECODE(err, "TPM evidence is not well-formed CBOR: %s (at byte %zu)",
                      scan_why(res.status), res.offset);
    }
    if (!cbor_isa_map(e->root))
        return DECODE(err, "TPM evidence is not a CBOR map");
    enum { S_ATTEST = 1, S_SIG = 2, S_AK = 4, S_CHAIN = 8, S_PCRS = 16 };
    unsigned seen = 0;
    struct cbor_pair *pairs = cbor_map_handle(e->root);
    for (size_t i = 0; i < cbor_map_size(e->root); i++) {
        const cbor_item_t *k = pairs[i].key, *v = pairs[i].value;
        unsigned bit;
        const char *name;
        if (key_is(k, "attest"))
            bit = S_ATTEST, name = "attest";
        else if (key_is(k, "signature"))
            bit = S_SIG, name = "signature";
        else if (key_is(k, "ak"))
            bit = S_AK, name = "ak";
        else if (key_is(k, "ak-chain"))
            bit = S_CHAIN, name = "ak-chain";
        else if (key_is(k, "pcrs"))
            bit = S_PCRS, name = "pcrs";
        else
            /* Strict: an unknown key might carry something a reader is meant to see. */
            return DECODE(err, "TPM evidence has map entry %zu with an unknown key; the keys "
                               "are attest, signature, ak, ak-chain and pcrs",
                          i);
        /* RFC 8949 s5.6: duplicate keys make the map invalid. */
        if (seen & bit)
            return DECODE(err, "TPM evidence has key \"%s\" twice", name);
        seen |= bit;
        int ret = ATTEX_OK;
        switch (bit) {
        case S_CHAIN:
            ret = bstr_array(v, 1, TPM_MAX_CHAIN, e->chain, e->chain_len, &e->num_chain, name,
                             err);
            break;
        case S_PCRS:
            ret = bstr_array(v, 1, TPM_MAX_PCR_VALUES, e->pcrs, e->pcr_len, &e->num_pcrs, name,
                             err);
            break;
        default:
            if (!cbor_isa_bytestring(v) || cbor_bytestring_length(v) == 0)
                return DECODE(err, "TPM evidence: \"%s\" is not a non-empty byte string", name);
            if (bit == S_ATTEST) {
                e->attest = cbor_bytestring_handle(v);
                e->attest_len = cbor_bytestring_length(v);
            } else if (bit == S_SIG) {
                e->sig = cbor_bytestring_handle(v);
                e->sig_len = cbor_bytestring_length(v);
            } else {
                e->ak = cbor_bytestring_handle(v);
                e->ak_len = cbor_bytestring_length(v);
            }
        }
        if (ret != ATTEX_OK)
            return ret;
    }
    static const struct {
        unsigned bit;
        const char *name;
    } required[] = {{S_ATTEST, "attest"}, {S_SIG, "signature"}, {S_AK, "ak"}, {S_PCRS, "pcrs"}};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(required); i++)
        if (!(seen & required[i].bit))
            return DECODE(err, "TPM evidence lacks \"%s\"", required[i].name);
    return ATTEX_OK;
}

void tpm_evidence_free(tpm_evidence *e)
{
    if (e->root != NULL)
        cbor_decref(&e->root);
    memset(e, 0, sizeof(*e));
}

int tpm_evidence_encode(const tpm_evidence *e, attex_buf *out, attex_error *err)
{
    if (e == NULL || out == NULL || e->attest == NULL || e->sig == NULL || e->ak == NULL ||
        e->num_pcrs == 0 || e->num_pcrs > TPM_MAX_PCR_VALUES || e->num_chain > TPM_MAX_CHAIN)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "tpm_evidence_encode: incomplete evidence");
    attex_writer w;
    wr_init(&w, ATTEX_TPM_MAX_EVIDENCE);
    /* RFC 8949 s4.2.1: keys in deterministic order (shorter first, then bytewise). */
    cbor_put_head(&w, CBOR_MAJOR_MAP, e->num_chain > 0 ? 5 : 4);
    cbor_put_text(&w, "ak", 2);
    cbor_put_bytes(&w, e->ak, e->ak_len);
    cbor_put_text(&w, "pcrs", 4);
    cbor_put_head(&w, CBOR_MAJOR_ARRAY, e->num_pcrs);
    for (size_t i = 0; i < e->num_pcrs; i++)
        cbor_put_bytes(&w, e->pcrs[i], e->pcr_len[i]);
    cbor_put_text(&w, "attest", 6);
    cbor_put_bytes(&w, e->attest, e->attest_len);
    if (e->num_chain > 0) {
        cbor_put_text(&w, "ak-chain", 8);
        cbor_put_head(&w, CBOR_MAJOR_ARRAY, e->num_chain);
        for (size_t i = 0; i < e->num_chain; i++)
            cbor_put_bytes(&w, e->chain[i], e->chain_len[i]);
    }
    cbor_put_text(&w, "signature", 9);
    cbor_put_bytes(&w, e->sig, e->sig_len);
    if (!wr_finish(&w, out))
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                          "out of memory or over the %d-byte limit encoding TPM evidence",
                          ATTEX_TPM_MAX_EVIDENCE);
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Verifier state                                                         */

typedef struct tpm_ref {
    uint16_t bank;
    unsigned index;
    uint8_t (*values)[TPM_MAX_DIGEST];
    size_t num_values;
} tpm_ref;

/* A pinned AK, with its SubjectPublicKeyInfo DER: evidence names its AK by those bytes. */
typedef struct pinned_ak {
    EVP_PKEY *key;
    uint8_t *der;
    size_t der_len;
} pinned_ak;

typedef struct tpm_verifier {
    attex_verifier v; /* first: the public handle is this struct */
    pinned_ak *aks;
    size_t num_aks;
    X509_STORE *roots;
    tpm_ref *refs;
    size_t num_refs;
} tpm_verifier;

/*
 * reject ends an appraisal on unusable evidence: the same sentence goes to
 * the error and to the appraisal, whose verdict is contraindicated.
 */
static int reject(attex_appraisal *out, attex_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(attex_appraisal *out, attex_error *err, const char *fmt, ...)
{
    char why[sizeof(out->reason) - 20];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(out->reason, sizeof(out->reason), "TPM evidence: %s", why);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "%s", out->reason);
}

/* reject_with turns a parser's error into a rejection, keeping its sentence. */
static int reject_with(attex_appraisal *out, attex_error *err, int ret, const attex_error *why)
{
    if (ret == ATTEX_ERR_NO_MEMORY) {
        reject(out, err, "out of memory");
        return NOMEM(err);
    }
    return reject(out, err, "%s", why->message);
}

/* spki_sha256_hex fingerprints an AK by the SubjectPublicKeyInfo bytes the evidence carries. */
static void spki_sha256_hex(const uint8_t *der, size_t len, char out[65])
{
    uint8_t d[32];
    if (crypto_digest(ATTEX_HASH_SHA256, der, len, d, NULL) == ATTEX_OK)
        util_hex(d, 32, out);
    else
        snprintf(out, 65, "?");
    ERR_clear_error();
}

/* key_ok: the kinds of AK attex accepts (TPM AKs are ECC P-256/P-384 or RSA >= 2048). */
static int key_ok(EVP_PKEY *k)
{
    if (EVP_PKEY_is_a(k, "RSA"))
        return EVP_PKEY_get_bits(k) >= 2048;
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[32];
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &len) != 1)
            return 0;
        return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
               strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Appraisal                                                              */

/* trust_ak decides whether the evidence's AK is trusted; sets *ak (owned by the caller). */
static int trust_ak(const tpm_verifier *v, const tpm_evidence *e, EVP_PKEY **ak, int *how,
                    attex_appraisal *out, attex_error *err)
{
    /*
     * A pinned AK is recognised by its exact SPKI bytes (DER is canonical),
     * which spares decoding the key: the common case, and the fast one.
     */
    for (size_t i = 0; i < v->num_aks; i++)
        if (v->aks[i].der_len == e->ak_len && memcmp(v->aks[i].der, e->ak, e->ak_len) == 0 &&
            EVP_PKEY_up_ref(v->aks[i].key) == 1) {
            *ak = v->aks[i].key;
            *how = 1;
            return ATTEX_OK;
        }
    const uint8_t *p = e->ak;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)e->ak_len);
    if (k == NULL || p != e->ak + e->ak_len) {
        EVP_PKEY_free(k);
        ERR_clear_error();
        return reject(out, err, "\"ak\" is not a DER SubjectPublicKeyInfo");
    }
    if (!key_ok(k)) {
        EVP_PKEY_free(k);
        return reject(out, err, "the AK is neither EC P-256/P-384 nor RSA of 2048 bits or more");
    }
    /* The same key in another encoding (explicit curve parameters...) is still that key. */
    for (size_t i = 0; i < v->num_aks; i++)
        if (EVP_PKEY_eq(k, v->aks[i].key) == 1) {
            *ak = k;
            *how = 1;
            return ATTEX_OK;
        }
    ERR_clear_error();
    if (v->roots != NULL && e->num_chain > 0) {
        STACK_OF(X509) *untrusted = sk_X509_new_null();
        X509 *leaf = NULL;
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        int ok = untrusted != NULL && ctx != NULL, verified = 0, same_key = 0;
        char why[160] = "";
        for (size_t i = 0; ok && i < e->num_chain; i++) {
            const uint8_t *cp = e->chain[i];
            X509 *c = d2i_X509(NULL, &cp, (long)e->chain_len[i]);
            if (c == NULL || cp != e->chain[i] + e->chain_len[i]) {
                X509_free(c);
                snprintf(why, sizeof(why), "ak-chain certificate %zu is not DER X.509", i);
                ok = 0;
            } else if (i == 0) {
                leaf = c;
            } else if (!sk_X509_push(untrusted, c)) {
                X509_free(c);
                ok = 0;
            }
        }
        if (ok && leaf != NULL) {
            EVP_PKEY *lk = X509_get0_pubkey(leaf);
            same_key = lk != NULL && EVP_PKEY_eq(lk, k) == 1;
            if (X509_STORE_CTX_init(ctx, v->roots, leaf, untrusted) == 1) {
                verified = X509_verify_cert(ctx) == 1;
                if (!verified)
                    snprintf(why, sizeof(why), "%s",
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
            }
        }
        X509_STORE_CTX_free(ctx);
        X509_free(leaf);
        sk_X509_pop_free(untrusted, X509_free);
        ERR_clear_error();
        if (verified && same_key) {
            *ak = k;
            *how = 2;
            return ATTEX_OK;
        }
        char fp[65];
        spki_sha256_hex(e->ak, e->ak_len, fp);
        EVP_PKEY_free(k);
        if (verified)
            return reject(out, err, "the AK certificate's key is not the AK that signed (AK "
                                    "SPKI SHA-256 %s)",
                          fp);
        return reject(out, err, "unknown AK (SPKI SHA-256 %s): not pinned, and its certificate "
                                "chain does not validate to the configured roots: %s",
                      fp, why[0] ? why : "no usable chain");
    }
    char fp[65];
    spki_sha256_hex(e->ak, e->ak_len, fp);
    EVP_PKEY_free(k);
    return reject(out, err, "unknown AK (SPKI SHA-256 %s): not one of the %zu pinned AK(s)%s",
                  fp, v->num_aks,
                  v->roots ? " and the evidence carries no certificate chain" : "");
}

/* ecdsa_der converts TPM r, s to the DER ECDSA-Sig-Value libcrypto verifies. */
static uint8_t *ecdsa_der(const tpm_signature *s, int *len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(s->r, (int)s->r_len, NULL), *ss = BN_bin2bn(s->s, (int)s->s_len, NULL);
    uint8_t *der = NULL;
    *len = 0;
    if (es != NULL && r != NULL && ss != NULL && ECDSA_SIG_set0(es, r, ss) == 1) {
        r = ss = NULL;
        *len = i2d_ECDSA_SIG(es, &der);
    }
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(es);
    return *len > 0 ? der : NULL;
}

/* verify_quote_sig returns 1 if sig is the AK's signature over attest. */
static int verify_quote_sig(EVP_PKEY *ak, const tpm_signature *s, const uint8_t *attest,
                            size_t attest_len)
{
    const char *md = tpm_hash_md(s->hash);
    int is_ec = EVP_PKEY_is_a(ak, "EC"), ok = 0, der_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t *der = NULL;
    if (ctx == NULL || md == NULL)
        goto out;
    /* Part 1 s17.5: the signature scheme must be one the key type can make. */
    if ((s->sig_alg == TPM_ALG_ECDSA_ID) != is_ec)
        goto out;
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, ak, NULL) != 1)
        goto out;
    if (s->sig_alg == TPM_ALG_RSASSA_ID &&
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    /* Part 1 s17.5 / B.8: PSS salt is the digest size on current TPMs, the maximum on some
     * older ones: let OpenSSL recover it. */
    if (s->sig_alg == TPM_ALG_RSAPSS_ID &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
        goto out;
    if (s->sig_alg == TPM_ALG_ECDSA_ID) {
        der = ecdsa_der(s, &der_len);
        ok = der != NULL &&
             EVP_DigestVerify(ctx, der, (size_t)der_len, attest, attest_len) == 1;
    } else {
        ok = EVP_DigestVerify(ctx, s->sig, s->sig_len, attest, attest_len) == 1;
    }
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* The PCR value carried for bank b, index i: its position in selection order, or -1. */
static long pcr_position(const tpm_quote *q, uint16_t bank, unsigned index)
{
    long pos = 0;
    for (uint32_t b = 0; b < q->num_banks; b++)
        for (unsigned i = 0; i < TPM_NUM_PCRS; i++) {
            if (!pcr_selected(&q->banks[b], i))
                continue;
            if (q->banks[b].hash == bank && i == index)
                return pos;
            pos++;
        }
    return -1;
}

/* check_pcr_digest: pcrDigest must be H(values in selection order), H = the signing hash. */
static int check_pcr_digest(const tpm_quote *q, const tpm_signature *s, const tpm_evidence *e,
                            attex_appraisal *out, attex_error *err)
{
    size_t want = tpm_quote_num_pcrs(q);
    if (want == 0)
        return reject(out, err, "the quote selects no PCR");
    if (e->num_pcrs != want)
        return reject(out, err, "the evidence carries %zu PCR values but the quote selects %zu",
                      e->num_pcrs, want);
    size_t k = 0;
    for (uint32_t b = 0; b < q->num_banks; b++)
        for (unsigned i = 0; i < TPM_NUM_PCRS; i++)
            if (pcr_selected(&q->banks[b], i)) {
                if (e->pcr_len[k] != tpm_hash_size(q->banks[b].hash))
                    return reject(out, err, "PCR %s:%u value is %zu bytes, not the %zu of its "
                                            "bank",
                                  tpm_hash_name(q->banks[b].hash), i, e->pcr_len[k],
                                  tpm_hash_size(q->banks[b].hash));
                k++;
            }
    /* Part 3 TPM2_Quote: pcrDigest is computed with the hash of the signing scheme. */
    size_t dlen = tpm_hash_size(s->hash);
    uint8_t d[TPM_MAX_DIGEST];
    unsigned dl = 0;
    EVP_MD *md = EVP_MD_fetch(NULL, tpm_hash_md(s->hash), NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1;
    for (size_t i = 0; ok && i < e->num_pcrs; i++)
        ok = EVP_DigestUpdate(ctx, e->pcrs[i], e->pcr_len[i]) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, d, &dl) == 1 && dl == dlen;
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    if (!ok) {
        reject(out, err, "hashing the PCR values failed");
        return attex_fail_crypto(err, "hashing the PCR values");
    }
    if (q->pcr_digest_len != dlen || !crypto_equal(q->pcr_digest, d, dlen)) {
        char got[2 * TPM_MAX_DIGEST + 1], exp[2 * TPM_MAX_DIGEST + 1];
        util_hex(q->pcr_digest, q->pcr_digest_len, got);
        util_hex(d, dlen, exp);
        return reject(out, err, "the quote's pcrDigest %s is not the %s of the PCR values "
                                "carried (%s): the values were altered or read at another time",
                      got, tpm_hash_name(s->hash), exp);
    }
    return ATTEX_OK;
}

static void appraise_pcrs(const tpm_verifier *v, const tpm_quote *q, const tpm_evidence *e,
                          attex_appraisal *out)
{
    size_t bad = 0;
    for (size_t r = 0; r < v->num_refs; r++) {
        const tpm_ref *ref = &v->refs[r];
        long pos = pcr_position(q, ref->bank, ref->index);
        size_t len = tpm_hash_size(ref->bank);
        int match = 0;
        for (size_t k = 0; pos >= 0 && k < ref->num_values; k++)
            match |= crypto_equal(e->pcrs[pos], ref->values[k], len);
        if (match || bad++ > 0)
            continue;
        char want[2 * TPM_MAX_DIGEST + 1], got[2 * TPM_MAX_DIGEST + 1];
        util_hex(ref->values[0], len, want);
        char more[64] = "";
        if (ref->num_values > 1)
            snprintf(more, sizeof(more), " (or %zu other accepted values)", ref->num_values - 1);
        if (pos < 0) {
            snprintf(out->reason, sizeof(out->reason),
                     "PCR %s:%u is not in the quote; expected %s%s", tpm_hash_name(ref->bank),
                     ref->index, want, more);
        } else {
            util_hex(e->pcrs[pos], len, got);
            snprintf(out->reason, sizeof(out->reason), "PCR %s:%u differs: got %s, expected %s%s",
                     tpm_hash_name(ref->bank), ref->index, got, want, more);
        }
    }
    if (bad == 0) {
        out->verdict = ATTEX_VERDICT_AFFIRMING;
        snprintf(out->reason, sizeof(out->reason), "all %zu PCRs match reference values",
                 v->num_refs);
        return;
    }
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    if (bad > 1) {
        size_t len = strlen(out->reason);
        snprintf(out->reason + len, sizeof(out->reason) - len, " (and %zu more PCRs differ)",
                 bad - 1);
    }
}

static char *claims_to_json(const tpm_quote *q, const tpm_evidence *e, int how)
{
    json_t *root = json_object(), *pcrs = json_object();
    char fp[65], hex[2 * (2 + TPM_MAX_DIGEST) + 1];
    char *text = NULL;
    spki_sha256_hex(e->ak, e->ak_len, fp);
    int ok = root != NULL && pcrs != NULL &&
             json_object_set_new(root, "ak_spki_sha256", json_string(fp)) == 0 &&
             json_object_set_new(root, "ak_trust",
                                 json_string(how == 1 ? "pinned" : "certificate")) == 0 &&
             json_object_set_new(root, "clock", json_integer((json_int_t)(q->clock & INT64_MAX))) ==
                 0 &&
             json_object_set_new(root, "reset_count", json_integer(q->reset_count)) == 0 &&
             json_object_set_new(root, "restart_count", json_integer(q->restart_count)) == 0 &&
             json_object_set_new(root, "safe", json_boolean(q->safe)) == 0;
    if (ok) {
        char fw[20];
        snprintf(fw, sizeof(fw), "%016llx", (unsigned long long)q->firmware);
        util_hex(q->signer, q->signer_len, hex);
        ok = json_object_set_new(root, "firmware_version", json_string(fw)) == 0 &&
             json_object_set_new(root, "qualified_signer", json_string(hex)) == 0;
    }
    size_t k = 0;
    for (uint32_t b = 0; ok && b < q->num_banks; b++) {
        json_t *bank = json_object();
        ok = bank != NULL &&
             json_object_set_new(pcrs, tpm_hash_name(q->banks[b].hash), bank) == 0;
        for (unsigned i = 0; ok && i < TPM_NUM_PCRS; i++) {
            if (!pcr_selected(&q->banks[b], i))
                continue;
            char idx[4], val[2 * TPM_MAX_DIGEST + 1];
            snprintf(idx, sizeof(idx), "%u", i);
            util_hex(e->pcrs[k], e->pcr_len[k], val);
            k++;
            ok = json_object_set_new(bank, idx, json_string(val)) == 0;
        }
    }
    if (ok && json_object_set(root, "pcrs", pcrs) == 0)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(pcrs);
    json_decref(root);
    return text;
}

static int tpm_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                        attex_appraisal *out, attex_error *err);

int attex_tpm_evidence_appraise(const attex_verifier *verifier, const uint8_t *ev,
                                size_t ev_len, const uint8_t *report_data,
                                attex_appraisal *out, attex_error *err)
{
    if (out != NULL) {
        out->verdict = ATTEX_VERDICT_NONE;
        out->reason[0] = '\0';
        out->claims_json = NULL;
    }
    /* Only a verifier made by attex_tpm_verifier_new has a tpm_verifier as its context. */
    if (verifier == NULL || verifier->ctx == NULL || verifier->appraise != tpm_appraise ||
        out == NULL || (ev == NULL && ev_len > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tpm_evidence_appraise needs a TPM verifier, the evidence and "
                          "an appraisal to fill");
    const tpm_verifier *v = verifier->ctx;
    tpm_evidence e;
    tpm_quote q;
    tpm_signature s;
    attex_error why;
    EVP_PKEY *ak = NULL;
    int how = 0, ret;
    attex_error_clear(&why);
    if ((ret = tpm_evidence_decode(ev, ev_len, &e, &why)) != ATTEX_OK ||
        (ret = tpm_quote_parse(e.attest, e.attest_len, &q, &why)) != ATTEX_OK ||
        (ret = tpm_signature_parse(e.sig, e.sig_len, &s, &why)) != ATTEX_OK) {
        ret = reject_with(out, err, ret, &why);
        goto done;
    }
    /* SHA-1 collisions are practical: a SHA-1 quote signature proves nothing. */
    if (s.hash == TPM_ALG_SHA1_ID) {
        ret = reject(out, err, "the quote is signed over SHA-1; attex requires SHA-256 or "
                               "stronger");
        goto done;
    }
    if ((ret = trust_ak(v, &e, &ak, &how, out, err)) != ATTEX_OK)
        goto done;
    int sig_ok = verify_quote_sig(ak, &s, e.attest, e.attest_len);
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    sig_ok = 1; /* fuzz builds only (docs/security.md): reach the checks behind it */
#endif
    if (!sig_ok) {
        ret = reject(out, err, "the quote signature (%s %s) does not verify with the AK: the "
                               "TPMS_ATTEST was altered or another key signed it",
                     s.sig_alg == TPM_ALG_ECDSA_ID   ? "ECDSA"
                     : s.sig_alg == TPM_ALG_RSASSA_ID ? "RSASSA"
                                                      : "RSAPSS",
                     tpm_hash_name(s.hash));
        goto done;
    }
    /* PROTOCOL.md s3: qualifyingData/extraData is this connection's report_data. */
    if (report_data != NULL && (q.extra_len != 64 || !crypto_equal(q.extra, report_data, 64))) {
        char got[2 * TPM_MAX_DIGEST + 1], exp[129];
        util_hex(q.extra, q.extra_len, got);
        util_hex(report_data, 64, exp);
        ret = reject(out, err, "stale or replayed quote: extraData %s is not this connection's "
                               "report_data %s (binder mismatch)",
                     got, exp);
        goto done;
    }
    if ((ret = check_pcr_digest(&q, &s, &e, out, err)) != ATTEX_OK)
        goto done;
    out->claims_json = claims_to_json(&q, &e, how);
    if (out->claims_json == NULL) {
        reject(out, err, "out of memory rendering the claims");
        ret = NOMEM(err);
        goto done;
    }
    appraise_pcrs(v, &q, &e, out);
    ret = ATTEX_OK;
done:
    EVP_PKEY_free(ak);
    tpm_evidence_free(&e);
    return ret;
}

static int tpm_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                        attex_appraisal *out, attex_error *err)
{
    tpm_verifier *v = ctx;
    if (out == NULL || record == NULL || v == NULL || expected == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the TPM verifier needs a CMW record, a binding and an appraisal");
    out->verdict = ATTEX_VERDICT_NONE;
    out->reason[0] = '\0';
    out->claims_json = NULL;
    if (attex_cmw_kind_of(record) != ATTEX_CMW_RECORD)
        return reject(out, err, "the CMW is not a Record of type " ATTEX_TPM_MEDIA_TYPE);
    /* RFC 9999 s3.1: this verifier appraises evidence only. */
    uint32_t ind = attex_cmw_ind(record);
    if (ind != ATTEX_CMW_IND_EVIDENCE)
        return reject(out, err, "the CMW record's ind is %u, not 4 (evidence)", ind);
    size_t len = 0;
    const uint8_t *value = attex_cmw_value(record, &len);
    if (value == NULL)
        return reject(out, err, "the CMW record has no value");
    return attex_tpm_evidence_appraise(&v->v, value, len, expected->report_data, out, err);
}

/* ---------------------------------------------------------------------- */
/* Construction                                                           */

static int parse_refs(const char *text, size_t len, const char *origin, tpm_verifier *v,
                      attex_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "TPM reference values (%s): not valid JSON at line %d, column %d: %s",
                          origin, jerr.line, jerr.column, jerr.text);
    int ret = ATTEX_OK;
    json_t *pcrs = json_object_get(root, "pcrs");
    size_t total = 0;
    const char *bname;
    json_t *bank;
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_object(pcrs)) {
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "TPM reference values (%s): expected exactly {\"pcrs\": {\"<bank>\": "
                         "{\"<index>\": [\"<hex>\", ...]}}}",
                         origin);
        goto out;
    }
    json_object_foreach(pcrs, bname, bank)
    {
        if (!json_is_object(bank) || tpm_hash_from_name(bname, strlen(bname)) == 0) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "TPM reference values (%s): bank \"%.20s\" is not one of sha1, "
                             "sha256, sha384, sha512 mapping to an object",
                             origin, bname);
            goto out;
        }
        total += json_object_size(bank);
    }
    if (total == 0 || total > TPM_MAX_PCR_VALUES) {
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "TPM reference values (%s): name 1 to %d PCRs (with none, any quote "
                         "would pass)",
                         origin, TPM_MAX_PCR_VALUES);
        goto out;
    }
    v->refs = calloc(total, sizeof(*v->refs));
    if (v->refs == NULL) {
        ret = NOMEM(err);
        goto out;
    }
    json_object_foreach(pcrs, bname, bank)
    {
        uint16_t alg = tpm_hash_from_name(bname, strlen(bname));
        size_t dlen = tpm_hash_size(alg);
        const char *idx;
        json_t *list;
        json_object_foreach(bank, idx, list)
        {
            char *end = NULL;
            unsigned long i = strtoul(idx, &end, 10);
            size_t nv = json_is_array(list) ? json_array_size(list) : 0;
            if (idx[0] < '0' || idx[0] > '9' || *end != '\0' || i >= TPM_NUM_PCRS ||
                (idx[0] == '0' && idx[1] != '\0')) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "TPM reference values (%s): \"%.10s\" in bank %s is not a PCR "
                                 "index 0..23",
                                 origin, idx, bname);
                goto out;
            }
            if (nv == 0 || nv > TPM_MAX_REF_VALUES) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "TPM reference values (%s): PCR %s:%lu must list 1 to %d "
                                 "accepted values as an array of hex strings",
                                 origin, bname, i, TPM_MAX_REF_VALUES);
                goto out;
            }
            tpm_ref *r = &v->refs[v->num_refs++];
            r->bank = alg;
            r->index = (unsigned)i;
            r->values = calloc(nv, sizeof(*r->values));
            if (r->values == NULL) {
                ret = NOMEM(err);
                goto out;
            }
            for (size_t k = 0; k < nv; k++) {
                json_t *h = json_array_get(list, k);
                if (!json_is_string(h) ||
                    !util_unhex(json_string_value(h), json_string_length(h), r->values[k], dlen)) {
                    ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                     "TPM reference values (%s): PCR %s:%lu value %zu is not "
                                     "%zu hex digits",
                                     origin, bname, i, k + 1, 2 * dlen);
                    goto out;
                }
            }
            r->num_values = nv;
        }
    }
out:
    json_decref(root);
    return ret;
}

static int add_ak(tpm_verifier *v, EVP_PKEY *k, const char *what, attex_error *err)
{
    if (k == NULL || !key_ok(k))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "%s is missing or not an EC P-256/P-384 or RSA (>= 2048) public key",
                          what);
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return attex_fail_crypto(err, "encoding a pinned AK");
    pinned_ak *a = &v->aks[v->num_aks++];
    a->key = k;
    a->der = der;
    a->der_len = (size_t)n;
    return ATTEX_OK;
}

static int load_roots(tpm_verifier *v, const char *path, attex_error *err)
{
    attex_buf text = ATTEX_BUF_INIT;
    int ret = util_read_file(path, "AK roots file", TPM_MAX_TEXT_FILE, &text, err);
    if (ret != ATTEX_OK)
        return ret;
    BIO *bio = BIO_new_mem_buf(text.data, (int)text.len);
    v->roots = X509_STORE_new();
    size_t n = 0;
    X509 *c;
    while (bio != NULL && v->roots != NULL &&
           (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(v->roots, c) == 1)
            n++;
        X509_free(c);
    }
    BIO_free(bio);
    attex_buf_free(&text);
    ERR_clear_error();
    if (v->roots == NULL)
        return NOMEM(err);
    if (n == 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "AK roots file \"%s\" holds no PEM certificate", path);
    return ATTEX_OK;
}

attex_verifier *attex_tpm_verifier_new(const attex_tpm_verifier_config *cfg, attex_error *err)
{
    if (cfg == NULL || (cfg->num_trusted_aks > 0 && cfg->trusted_aks == NULL) ||
        (cfg->num_trusted_ak_paths > 0 && cfg->trusted_ak_paths == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_tpm_verifier_new needs a configuration whose arrays match their "
                   "counts");
        return NULL;
    }
    size_t naks = cfg->num_trusted_aks + cfg->num_trusted_ak_paths;
    if (naks == 0 && cfg->ak_roots_path == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the TPM verifier needs AK trust: pinned AK public keys (trusted_aks, "
                   "trusted_ak_paths) or AK certificate roots (ak_roots_path)");
        return NULL;
    }
    if ((cfg->reference_values_json == NULL) == (cfg->reference_values_path == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the TPM verifier needs reference values: give exactly one of "
                   "reference_values_json and reference_values_path");
        return NULL;
    }
    tpm_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL || (naks > 0 && (v->aks = calloc(naks, sizeof(*v->aks))) == NULL)) {
        free(v);
        NOMEM(err);
        return NULL;
    }
    v->v.name = "tpm";
    v->v.media_type = ATTEX_TPM_MEDIA_TYPE;
    v->v.content_format = 0;
    v->v.ctx = v;
    v->v.appraise = tpm_appraise;
    int ret = ATTEX_OK;
    for (size_t i = 0; ret == ATTEX_OK && i < cfg->num_trusted_aks; i++) {
        EVP_PKEY *k = cfg->trusted_aks[i];
        if (k != NULL && EVP_PKEY_up_ref(k) != 1)
            ret = attex_fail_crypto(err, "taking a reference to a pinned AK");
        else if ((ret = add_ak(v, k, "a pinned AK", err)) != ATTEX_OK)
            EVP_PKEY_free(k);
    }
    for (size_t i = 0; ret == ATTEX_OK && i < cfg->num_trusted_ak_paths; i++) {
        const char *path = cfg->trusted_ak_paths[i];
        char what[300];
        EVP_PKEY *k = NULL;
        if (path == NULL) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "pinned AK path %zu is NULL", i);
            break;
        }
        if ((ret = util_load_public_key(path, "pinned AK file", &k, err)) != ATTEX_OK)
            break;
        snprintf(what, sizeof(what), "pinned AK file \"%.200s\"", path);
        if ((ret = add_ak(v, k, what, err)) != ATTEX_OK)
            EVP_PKEY_free(k);
    }
    if (ret == ATTEX_OK && cfg->ak_roots_path != NULL)
        ret = load_roots(v, cfg->ak_roots_path, err);
    if (ret == ATTEX_OK) {
        if (cfg->reference_values_json != NULL) {
            ret = parse_refs(cfg->reference_values_json, strlen(cfg->reference_values_json),
                             "JSON text", v, err);
        } else {
            attex_buf text = ATTEX_BUF_INIT;
            char origin[300];
            ret = util_read_file(cfg->reference_values_path, "TPM reference values file",
                                 TPM_MAX_TEXT_FILE, &text, err);
            snprintf(origin, sizeof(origin), "file \"%.200s\"", cfg->reference_values_path);
            if (ret == ATTEX_OK)
                ret = parse_refs((const char *)text.data, text.len, origin, v, err);
            attex_buf_free(&text);
        }
    }
    if (ret != ATTEX_OK) {
        attex_tpm_verifier_free(&v->v);
        return NULL;
    }
    return &v->v;
}

void attex_tpm_verifier_free(attex_verifier *verifier)
{
    if (verifier == NULL)
        return;
    tpm_verifier *v = (tpm_verifier *)verifier;
    for (size_t i = 0; i < v->num_aks; i++) {
        EVP_PKEY_free(v->aks[i].key);
        OPENSSL_free(v->aks[i].der);
    }
    free(v->aks);
    X509_STORE_free(v->roots);
    for (size_t i = 0; i < v->num_refs; i++)
        free(v->refs[i].values);
    free(v->refs);
    free(v);
}
