/*
 * attex: the sample software attester and its verifier.
 *
 * Evidence (docs/sample.md): an EAT claims set (RFC 9711) in CBOR, signed as
 * a tagged COSE_Sign1 (RFC 9052) with ES256, carried as the value of a CMW
 * Record of type ATTEX_SAMPLE_MEDIA_TYPE with ind = evidence.
 *
 * Encoding is done here with cbor_put_* on attex_writer (so the signed
 * bytes are exactly the deterministic encoding). Decoding uses libcbor, but
 * only after cbor_scan (cbor.c) has checked the bytes: libcbor 0.8 allocates
 * a declared array or map size before the items are present (6 bytes can ask
 * for 32 GiB), it accepts indefinite lengths, and it cannot decode the
 * one-byte tags 6..20, among them COSE_Sign1's 0xD2, which is therefore
 * checked and skipped here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attex/sample.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "cose.h"
#include "crypto.h"
#include "internal.h"
#include "sample_internal.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* RFC 9052 s3.1 / RFC 9053 s2.1: the only protected header sample evidence uses, {1: -7}. */
static const uint8_t es256_protected[] = {0xA1, 0x01, 0x26};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

/*
 * RFC 8949 s3.1: text strings are UTF-8. Measurement names and the profile
 * also become C and JSON strings, so for them NUL is refused too.
 */
static int utf8_valid(const uint8_t *s, size_t n)
{
    return (n == 0 || memchr(s, 0, n) == NULL) && bytes_utf8_valid(s, n);
}


static int valid_binding(const attex_binding *b)
{
    /* attest.h: the binding's hash is SHA-256 or SHA-384; the arrays hold 48 bytes. */
    return b != NULL && (b->hash_len == 32 || b->hash_len == 48);
}

/* ---------------------------------------------------------------------- */
/* Files                                                                  */

int sample_measure_file(const char *path, uint8_t out[SAMPLE_DIGEST_LEN], attex_error *err)
{
    if (path == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "sample_measure_file needs a path and an output");
    int fd;
    uint64_t size;
    int ret = util_open_regular(path, "measured file", &fd, &size, err);
    if (ret != ATTEX_OK)
        return ret;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        close(fd);
        EVP_MD_CTX_free(md);
        return attex_fail_crypto(err, "starting SHA-256 of a measured file");
    }
    /* Bounded, buffered: the file is streamed through a fixed buffer, never held whole. */
    uint8_t buf[16384];
    uint64_t total = 0;
    for (;;) {
        ssize_t r = util_read_some(fd, buf, sizeof(buf));
        if (r < 0) {
            int e = errno;
            ret = attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                             "cannot read measured file \"%s\": %s", path, strerror(e));
            break;
        }
        if (r == 0)
            break;
        total += (uint64_t)r;
        if (total > SAMPLE_MAX_MEASURED_FILE) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "measured file \"%s\" is larger than 4 GiB, the most the sample "
                             "attester hashes",
                             path);
            break;
        }
        if (EVP_DigestUpdate(md, buf, (size_t)r) != 1) {
            ret = attex_fail_crypto(err, "hashing a measured file");
            break;
        }
    }
    close(fd);
    if (ret == ATTEX_OK && EVP_DigestFinal_ex(md, out, NULL) != 1)
        ret = attex_fail_crypto(err, "finishing SHA-256 of a measured file");
    EVP_MD_CTX_free(md);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Keys                                                                   */

/* RFC 9053 s2.1: ES256 is ECDSA on P-256 with SHA-256. */
static int is_p256(EVP_PKEY *key)
{
    return crypto_key_can_use(key, ATTEX_SCHEME_ECDSA_SECP256R1_SHA256);
}

/* can_sign makes one throwaway signature: the only test that works for every provider's keys. */
static int can_sign(EVP_PKEY *key)
{
    uint8_t sig[SAMPLE_ES256_SIG_LEN];
    int ok = sample_es256_sign(key, (const uint8_t *)"attex", 5, sig, NULL) == ATTEX_OK;
    ERR_clear_error();
    return ok;
}

static int load_private_key(const char *path, EVP_PKEY **out, attex_error *err)
{
    int ret = util_load_private_key(path, "attestation key file", out, err);
    if (ret != ATTEX_OK)
        return ret;
    if (!is_p256(*out)) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attestation key file \"%s\" holds a key that is not EC P-256; sample "
                          "evidence is signed with ES256",
                          path);
    }
    return ATTEX_OK;
}

static int load_public_key(const char *path, EVP_PKEY **out, attex_error *err)
{
    int ret = util_load_public_key(path, "trusted key file", out, err);
    if (ret != ATTEX_OK)
        return ret;
    if (!is_p256(*out)) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "trusted key file \"%s\" holds a key that is not EC P-256; sample "
                          "evidence is signed with ES256",
                          path);
    }
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* ES256 and COSE_Sign1                                                   */

int sample_es256_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                      uint8_t sig[SAMPLE_ES256_SIG_LEN], attex_error *err)
{
    /* RFC 9053 s2.1: ES256 is ECDSA on P-256 with SHA-256, signature r || s. */
    if (key == NULL || !is_p256(key))
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the attestation key is not EC P-256; sample evidence is signed "
                          "with ES256");
    return crypto_ecdsa_sign_raw(key, ATTEX_HASH_SHA256, msg, msg_len, sig,
                                 SAMPLE_ES256_SIG_LEN, err);
}

int sample_es256_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                        const uint8_t sig[SAMPLE_ES256_SIG_LEN])
{
    return is_p256(key) &&
           crypto_ecdsa_verify_raw(key, ATTEX_HASH_SHA256, msg, msg_len, sig,
                                   SAMPLE_ES256_SIG_LEN);
}

static int writer_done(attex_writer *w, attex_buf *out, const char *what, attex_error *err)
{
    if (!wr_finish(w, out))
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                          "out of memory or over the %d-byte limit while encoding %s",
                          SAMPLE_MAX_EVIDENCE, what);
    return ATTEX_OK;
}

int sample_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                         size_t payload_len, attex_buf *out, attex_error *err)
{
    /* RFC 9052 s4.4, with no external_aad: the binding travels in the claims. One encoder (cose.c). */
    return cose_sig_structure(prot, prot_len, payload, payload_len, out, err);
}

int sample_cose_sign1(EVP_PKEY *key, const uint8_t *prot, size_t prot_len,
                      const uint8_t *payload, size_t payload_len, attex_buf *out,
                      attex_error *err)
{
    attex_buf tbs = ATTEX_BUF_INIT;
    uint8_t sig[SAMPLE_ES256_SIG_LEN];
    int ret = sample_sig_structure(prot, prot_len, payload, payload_len, &tbs, err);
    if (ret != ATTEX_OK)
        return ret;
    ret = sample_es256_sign(key, tbs.data, tbs.len, sig, err);
    attex_buf_free(&tbs);
    if (ret != ATTEX_OK)
        return ret;
    attex_writer w;
    wr_init(&w, SAMPLE_MAX_EVIDENCE);
    /* RFC 9052 s4.2: COSE_Sign1_Tagged = #6.18([protected, unprotected, payload, signature]). */
    wr_u8(&w, SAMPLE_COSE_SIGN1_TAG_BYTE);
    cbor_put_head(&w, CBOR_MAJOR_ARRAY, 4);
    cbor_put_bytes(&w, prot, prot_len);
    cbor_put_head(&w, CBOR_MAJOR_MAP, 0);
    cbor_put_bytes(&w, payload, payload_len);
    cbor_put_bytes(&w, sig, sizeof(sig));
    return writer_done(&w, out, "the sample evidence", err);
}

/* ---------------------------------------------------------------------- */
/* Claims encoding                                                        */

/*
 * RFC 8949 s4.2.1: deterministic map order is by encoded key bytes; for text
 * keys with shortest heads that is shorter first, then bytewise.
 */
static int measurement_order(const void *a, const void *b)
{
    const sample_measurement *x = a, *y = b;
    size_t lx = strlen(x->name), ly = strlen(y->name);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return memcmp(x->name, y->name, lx);
}

int sample_claims_encode(const sample_claims *c, attex_buf *out, attex_error *err)
{
    if (c == NULL || out == NULL || c->profile == NULL ||
        (c->num_measurements > 0 && c->measurements == NULL) ||
        c->num_measurements > SAMPLE_MAX_MEASUREMENTS)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "sample_claims_encode: incomplete claims");
    sample_measurement *sorted = NULL;
    if (c->num_measurements > 0) {
        sorted = malloc(c->num_measurements * sizeof(*sorted));
        if (sorted == NULL)
            return NOMEM(err);
        memcpy(sorted, c->measurements, c->num_measurements * sizeof(*sorted));
        qsort(sorted, c->num_measurements, sizeof(*sorted), measurement_order);
    }
    attex_writer w;
    wr_init(&w, SAMPLE_MAX_EVIDENCE);
    /* Keys in deterministic order: 6, 10, 265, -70001, -70002 (RFC 8949 s4.2.1). */
    cbor_put_head(&w, CBOR_MAJOR_MAP, 5);
    cbor_put_int(&w, SAMPLE_CLAIM_IAT);
    cbor_put_head(&w, CBOR_MAJOR_UINT, c->iat);
    cbor_put_int(&w, SAMPLE_CLAIM_NONCE);
    cbor_put_bytes(&w, c->nonce, c->nonce_len);
    cbor_put_int(&w, SAMPLE_CLAIM_PROFILE);
    cbor_put_text(&w, c->profile, strlen(c->profile));
    cbor_put_int(&w, SAMPLE_CLAIM_AIK_PUB_HASH);
    cbor_put_bytes(&w, c->aik_pub_hash, c->aik_pub_hash_len);
    cbor_put_int(&w, SAMPLE_CLAIM_MEASUREMENTS);
    cbor_put_head(&w, CBOR_MAJOR_MAP, c->num_measurements);
    for (size_t i = 0; i < c->num_measurements; i++) {
        cbor_put_text(&w, sorted[i].name, strlen(sorted[i].name));
        cbor_put_bytes(&w, sorted[i].digest, SAMPLE_DIGEST_LEN);
    }
    free(sorted);
    return writer_done(&w, out, "the sample claims", err);
}

int sample_evidence_make(EVP_PKEY *key, const attex_binding *b, uint64_t iat,
                         const sample_measurement *m, size_t num_m, attex_buf *out,
                         attex_error *err)
{
    if (key == NULL || out == NULL || !valid_binding(b))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "sample evidence needs a key, an output and a binding with a "
                          "SHA-256 or SHA-384 hash length");
    /* RFC 9711 s4.1: eat_nonce is the binder, so the evidence is fresh for this request. */
    sample_claims c = {ATTEX_SAMPLE_PROFILE, iat, b->binder, b->hash_len,
                       b->aik_pub_hash, b->hash_len, m, num_m};
    attex_buf payload = ATTEX_BUF_INIT;
    int ret = sample_claims_encode(&c, &payload, err);
    if (ret == ATTEX_OK)
        ret = sample_cose_sign1(key, es256_protected, sizeof(es256_protected), payload.data,
                                payload.len, out, err);
    attex_buf_free(&payload);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Bounded CBOR checking before libcbor                                   */

/*
 * Inside the COSE_Sign1, sample evidence is a subset of CBOR: definite
 * lengths only (RFC 8949 s3.2 indefinite lengths refused), no tags, no simple
 * values but false, true, null and undefined, nesting at most
 * SAMPLE_MAX_DEPTH.
 */
static const cbor_scan_limits evidence_cbor = {
    .max_depth = SAMPLE_MAX_DEPTH,
    .indefinite = 0,
    .tag_min = 1,
    .tag_max = 0, /* no tags */
    .utf8 = 1,
    .plain_simple = 1,
    .trailing = 0,
};

/* scan_why says, as a phrase, why cbor_load_exact refused. */
static const char *scan_why(cbor_scan_status st)
{
    switch (st) {
    case CBOR_SCAN_END: return "the CBOR ends in the middle of an item";
    case CBOR_SCAN_HEAD: return "the CBOR ends in the middle of an item head";
    case CBOR_SCAN_BREAK: return "a CBOR break code appears outside an indefinite-length item";
    case CBOR_SCAN_INDEF_MAJOR:
    case CBOR_SCAN_INDEF:
        return "an indefinite-length CBOR item (sample evidence uses definite lengths only)";
    case CBOR_SCAN_RESERVED: return "a CBOR item head uses a reserved value (28..30)";
    case CBOR_SCAN_STRING_LENGTH: return "a CBOR string is longer than the bytes that remain";
    case CBOR_SCAN_UTF8: return "a CBOR text string is not valid UTF-8";
    case CBOR_SCAN_DEPTH: return "the CBOR nests too deeply";
    case CBOR_SCAN_COUNT:
        return "a CBOR array or map declares more items than the bytes that remain";
    case CBOR_SCAN_TAG: return "a CBOR tag inside the COSE_Sign1 (sample evidence uses none there)";
    case CBOR_SCAN_SIMPLE_FORM:
    case CBOR_SCAN_SIMPLE:
        return "a CBOR simple value that is not false, true, null or undefined";
    case CBOR_SCAN_TRAILING: return "bytes follow the CBOR item";
    case CBOR_SCAN_NOMEM: return "out of memory decoding CBOR";
    default: return "the CBOR does not decode";
    }
}

/* load_evidence_cbor decodes exactly one item filling [p, p+n), or says why not. */
static cbor_item_t *load_evidence_cbor(const uint8_t *p, size_t n, const char **why)
{
    cbor_scan_result res;
    cbor_item_t *item = cbor_load_exact(p, n, &evidence_cbor, &res);
    *why = item == NULL ? scan_why(res.status) : NULL;
    return item;
}

/* item_int64 reads an integer item that fits int64_t; returns 1 on success. */
static int item_int64(const cbor_item_t *it, int64_t *out)
{
    if (cbor_isa_uint(it)) {
        uint64_t v = cbor_get_int(it);
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)v;
        return 1;
    }
    if (cbor_isa_negint(it)) {
        uint64_t v = cbor_get_int(it);
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = -1 - (int64_t)v;
        return 1;
    }
    return 0;
}

/* Bytes of a definite byte or text string (evidence_cbor allows no other). */
static const uint8_t *item_bytes(const cbor_item_t *it, size_t *len)
{
    if (cbor_isa_bytestring(it)) {
        *len = cbor_bytestring_length(it);
        return cbor_bytestring_handle(it);
    }
    *len = cbor_string_length(it);
    return cbor_string_handle(it);
}

/* ---------------------------------------------------------------------- */
/* Appraisal                                                              */

typedef struct ref_entry {
    char *name;
    size_t name_len;
    uint8_t (*digests)[SAMPLE_DIGEST_LEN];
    size_t num_digests;
} ref_entry;

typedef struct trusted_key {
    EVP_PKEY *key;
    char spki_sha256[2 * SAMPLE_DIGEST_LEN + 1];
} trusted_key;

typedef struct sample_verifier {
    attex_verifier v; /* first: the public handle is this struct */
    trusted_key *keys;
    size_t num_keys;
    ref_entry *refs;
    size_t num_refs;
} sample_verifier;

typedef struct meas_view {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *digest;
} meas_view;

/* Decoded evidence: pointers into libcbor items owned by cose_root / claims_root. */
typedef struct evidence_view {
    cbor_item_t *cose_root;
    cbor_item_t *claims_root;
    const uint8_t *prot;
    size_t prot_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *sig;
    const trusted_key *signer;
    const uint8_t *profile;
    size_t profile_len;
    uint64_t iat;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *aik;
    size_t aik_len;
    meas_view *meas;
    size_t num_meas;
} evidence_view;

static void evidence_view_free(evidence_view *e)
{
    if (e->cose_root != NULL)
        cbor_decref(&e->cose_root);
    if (e->claims_root != NULL)
        cbor_decref(&e->claims_root);
    free(e->meas);
    memset(e, 0, sizeof(*e));
}

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
    snprintf(out->reason, sizeof(out->reason), "sample evidence: %s", why);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "%s", out->reason);
}

/* RFC 9052 s4.2 / s3: the COSE_Sign1 structure, strictly. */
static int decode_cose(const uint8_t *ev, size_t ev_len, evidence_view *e, attex_appraisal *out,
                       attex_error *err)
{
    if (ev_len == 0)
        return reject(out, err, "the evidence is empty");
    if (ev_len > SAMPLE_MAX_EVIDENCE)
        return reject(out, err, "the evidence is %zu bytes, more than the %d a cmw_attestation "
                                "extension can carry",
                      ev_len, SAMPLE_MAX_EVIDENCE);
    /*
     * RFC 9052 s4.2: COSE_Sign1_Tagged, tag 18 in its one-byte form. libcbor
     * 0.8 cannot decode tags 6..20 itself, so the tag is checked and skipped.
     */
    if (ev[0] != SAMPLE_COSE_SIGN1_TAG_BYTE)
        return reject(out, err, "not a tagged COSE_Sign1: the first byte is 0x%02x, expected "
                                "0xd2 (CBOR tag 18)",
                      ev[0]);
    const char *why = NULL;
    e->cose_root = load_evidence_cbor(ev + 1, ev_len - 1, &why);
    if (e->cose_root == NULL)
        return reject(out, err, "the COSE_Sign1 is not well-formed CBOR: %s", why);
    cbor_item_t *a = e->cose_root;
    if (!cbor_isa_array(a) || cbor_array_size(a) != 4)
        return reject(out, err, "the COSE_Sign1 must be an array of 4 items (protected, "
                                "unprotected, payload, signature); got %s of %zu",
                      cbor_isa_array(a) ? "an array" : "another CBOR type",
                      cbor_isa_array(a) ? cbor_array_size(a) : (size_t)0);
    cbor_item_t **items = cbor_array_handle(a);

    /* RFC 9052 s3: the protected header is a bstr wrapping a header map. */
    if (!cbor_isa_bytestring(items[0]))
        return reject(out, err, "the COSE_Sign1 protected header is not a byte string");
    e->prot = item_bytes(items[0], &e->prot_len);
    if (e->prot_len == 0)
        return reject(out, err, "the COSE_Sign1 protected header is empty; it must be {1: -7} "
                                "(alg ES256)");
    cbor_item_t *ph = load_evidence_cbor(e->prot, e->prot_len, &why);
    if (ph == NULL)
        return reject(out, err, "the COSE_Sign1 protected header is not well-formed CBOR: %s",
                      why);
    int64_t label = 0, alg = 0;
    int ph_ok = cbor_isa_map(ph) && cbor_map_size(ph) == 1;
    int have_alg = ph_ok && item_int64(cbor_map_handle(ph)[0].key, &label) &&
                   label == SAMPLE_COSE_HDR_ALG && item_int64(cbor_map_handle(ph)[0].value, &alg);
    cbor_decref(&ph);
    if (!ph_ok || !have_alg)
        return reject(out, err, "the COSE_Sign1 protected header must be exactly {1: -7} (alg "
                                "ES256)");
    /* RFC 9053 s2.1: ES256 is -7; anything else (ES384 -35, ...) is not what the key signs. */
    if (alg != SAMPLE_COSE_ALG_ES256)
        return reject(out, err, "the COSE_Sign1 algorithm is %lld; sample evidence must use "
                                "ES256 (-7)",
                      (long long)alg);

    /* RFC 9052 s3: a header parameter must not be both protected and unprotected. */
    if (!cbor_isa_map(items[1]))
        return reject(out, err, "the COSE_Sign1 unprotected header is not a map");
    struct cbor_pair *up = cbor_map_handle(items[1]);
    for (size_t i = 0; i < cbor_map_size(items[1]); i++)
        if (item_int64(up[i].key, &label) && label == SAMPLE_COSE_HDR_ALG)
            return reject(out, err, "the COSE_Sign1 unprotected header carries alg; it may "
                                    "only be protected");

    /* Detached payloads (nil) are not used: the claims travel inside the evidence. */
    if (!cbor_isa_bytestring(items[2]))
        return reject(out, err, "the COSE_Sign1 payload is not a byte string");
    e->payload = item_bytes(items[2], &e->payload_len);

    size_t sig_len;
    if (!cbor_isa_bytestring(items[3]))
        return reject(out, err, "the COSE_Sign1 signature is not a byte string");
    e->sig = item_bytes(items[3], &sig_len);
    /* RFC 9053 s2.1: an ES256 signature is r || s, exactly 64 bytes. */
    if (sig_len != SAMPLE_ES256_SIG_LEN)
        return reject(out, err, "the COSE_Sign1 signature is %zu bytes; ES256 signatures are "
                                "exactly 64 (r || s)",
                      sig_len);
    return ATTEX_OK;
}

static int verify_signature(const sample_verifier *v, evidence_view *e, attex_appraisal *out,
                            attex_error *err)
{
    attex_buf tbs = ATTEX_BUF_INIT;
    int ret = sample_sig_structure(e->prot, e->prot_len, e->payload, e->payload_len, &tbs, err);
    if (ret != ATTEX_OK) {
        snprintf(out->reason, sizeof(out->reason), "%s", err ? err->message : "out of memory");
        out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
        return ret;
    }
    /* Any trusted key may have signed: the evidence names none, so try each. */
    for (size_t i = 0; i < v->num_keys && e->signer == NULL; i++)
        if (sample_es256_verify(v->keys[i].key, tbs.data, tbs.len, e->sig))
            e->signer = &v->keys[i];
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    /* Fuzz builds only (docs/security.md): let mutated claims reach the claims decoder. */
    if (e->signer == NULL)
        e->signer = &v->keys[0];
#endif
    attex_buf_free(&tbs);
    if (e->signer == NULL)
        return reject(out, err, "the COSE_Sign1 signature does not verify with any of the %zu "
                                "trusted key(s): altered, or signed by an untrusted key",
                      v->num_keys);
    return ATTEX_OK;
}

static const char *claim_name(int64_t key)
{
    switch (key) {
    case SAMPLE_CLAIM_IAT: return "iat (6)";
    case SAMPLE_CLAIM_NONCE: return "eat_nonce (10)";
    case SAMPLE_CLAIM_PROFILE: return "eat_profile (265)";
    case SAMPLE_CLAIM_AIK_PUB_HASH: return "aik_pub_hash (-70001)";
    case SAMPLE_CLAIM_MEASUREMENTS: return "measurements (-70002)";
    default: return "?";
    }
}

static int decode_measurements(const cbor_item_t *m, evidence_view *e, attex_appraisal *out,
                               attex_error *err)
{
    size_t n = cbor_map_size(m);
    if (n > SAMPLE_MAX_MEASUREMENTS)
        return reject(out, err, "the evidence has %zu measurements, more than %d", n,
                      SAMPLE_MAX_MEASUREMENTS);
    e->meas = calloc(n ? n : 1, sizeof(*e->meas));
    if (e->meas == NULL) {
        reject(out, err, "out of memory");
        return NOMEM(err);
    }
    struct cbor_pair *pairs = cbor_map_handle(m);
    for (size_t i = 0; i < n; i++) {
        meas_view *mv = &e->meas[i];
        size_t dlen;
        if (!cbor_isa_string(pairs[i].key))
            return reject(out, err, "measurement %zu has a name that is not a text string", i);
        mv->name = item_bytes(pairs[i].key, &mv->name_len);
        if (mv->name_len == 0 || mv->name_len > SAMPLE_MAX_NAME ||
            !utf8_valid(mv->name, mv->name_len))
            return reject(out, err, "measurement %zu has an empty name, a name over %d bytes, "
                                    "or one containing NUL",
                          i, SAMPLE_MAX_NAME);
        if (!cbor_isa_bytestring(pairs[i].value) ||
            (mv->digest = item_bytes(pairs[i].value, &dlen), dlen != SAMPLE_DIGEST_LEN))
            return reject(out, err, "measurement %zu is not a 32-byte SHA-256 byte string", i);
        /* RFC 8949 s5.6: a map with duplicate keys is invalid; a name must mean one value. */
        for (size_t j = 0; j < i; j++)
            if (e->meas[j].name_len == mv->name_len &&
                memcmp(e->meas[j].name, mv->name, mv->name_len) == 0)
                return reject(out, err, "measurement %zu repeats an earlier name", i);
    }
    e->num_meas = n;
    return ATTEX_OK;
}

/* RFC 9711 / RFC 8392: the claims set is a map from integer keys; ours are all required. */
static int decode_claims(evidence_view *e, attex_appraisal *out, attex_error *err)
{
    const char *why = NULL;
    e->claims_root = load_evidence_cbor(e->payload, e->payload_len, &why);
    if (e->claims_root == NULL)
        return reject(out, err, "the claims are not well-formed CBOR: %s", why);
    if (!cbor_isa_map(e->claims_root))
        return reject(out, err, "the claims are not a CBOR map");
    enum { SEEN_PROFILE = 1, SEEN_IAT = 2, SEEN_NONCE = 4, SEEN_AIK = 8, SEEN_MEAS = 16 };
    unsigned seen = 0;
    const cbor_item_t *meas = NULL;
    struct cbor_pair *pairs = cbor_map_handle(e->claims_root);
    for (size_t i = 0; i < cbor_map_size(e->claims_root); i++) {
        int64_t key;
        unsigned bit;
        /* RFC 8392 s3: claims a recipient does not understand are ignored. */
        if (!item_int64(pairs[i].key, &key))
            continue;
        const cbor_item_t *val = pairs[i].value;
        switch (key) {
        case SAMPLE_CLAIM_PROFILE: bit = SEEN_PROFILE; break;
        case SAMPLE_CLAIM_IAT: bit = SEEN_IAT; break;
        case SAMPLE_CLAIM_NONCE: bit = SEEN_NONCE; break;
        case SAMPLE_CLAIM_AIK_PUB_HASH: bit = SEEN_AIK; break;
        case SAMPLE_CLAIM_MEASUREMENTS: bit = SEEN_MEAS; break;
        default: continue;
        }
        /* RFC 8949 s5.6: duplicate keys would let two readers see different claims. */
        if (seen & bit)
            return reject(out, err, "claim %s appears twice", claim_name(key));
        seen |= bit;
        switch (key) {
        case SAMPLE_CLAIM_PROFILE:
            /* RFC 9711 s4.3.2: a profile is a URI (text) or an OID (bytes); ours is text. */
            if (!cbor_isa_string(val))
                return reject(out, err, "claim eat_profile (265) is not a text string");
            e->profile = item_bytes(val, &e->profile_len);
            if (!utf8_valid(e->profile, e->profile_len))
                return reject(out, err, "claim eat_profile (265) contains NUL");
            break;
        case SAMPLE_CLAIM_IAT:
            /* RFC 8392 s3.1.6: NumericDate; sample evidence uses whole seconds. */
            if (!cbor_isa_uint(val) || cbor_get_int(val) > (uint64_t)INT64_MAX)
                return reject(out, err, "claim iat (6) is not a non-negative integer of "
                                        "seconds");
            e->iat = cbor_get_int(val);
            break;
        case SAMPLE_CLAIM_NONCE:
            /* RFC 9711 s4.1: a bstr or an array of them; sample evidence carries one. */
            if (!cbor_isa_bytestring(val))
                return reject(out, err, "claim eat_nonce (10) is not a single byte string");
            e->nonce = item_bytes(val, &e->nonce_len);
            break;
        case SAMPLE_CLAIM_AIK_PUB_HASH:
            if (!cbor_isa_bytestring(val))
                return reject(out, err, "claim aik_pub_hash (-70001) is not a byte string");
            e->aik = item_bytes(val, &e->aik_len);
            break;
        default:
            if (!cbor_isa_map(val))
                return reject(out, err, "claim measurements (-70002) is not a map");
            meas = val;
            break;
        }
    }
    static const int64_t required[] = {SAMPLE_CLAIM_PROFILE, SAMPLE_CLAIM_IAT,
                                       SAMPLE_CLAIM_NONCE, SAMPLE_CLAIM_AIK_PUB_HASH,
                                       SAMPLE_CLAIM_MEASUREMENTS};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(required); i++)
        if (!(seen & (1u << i)))
            return reject(out, err, "the claims lack %s, which sample evidence requires",
                          claim_name(required[i]));
    return decode_measurements(meas, e, out, err);
}

/* claims_to_json renders the decoded claims for the appraisal; NULL when out of memory. */
static char *claims_to_json(const evidence_view *e)
{
    json_t *root = json_object(), *meas = json_object();
    char *nonce = util_hex_dup(e->nonce, e->nonce_len), *aik = util_hex_dup(e->aik, e->aik_len);
    char *text = NULL;
    int ok = root != NULL && meas != NULL && nonce != NULL && aik != NULL &&
             json_object_set_new(root, "eat_profile",
                                 json_stringn((const char *)e->profile, e->profile_len)) == 0 &&
             json_object_set_new(root, "iat", json_integer((json_int_t)e->iat)) == 0 &&
             json_object_set_new(root, "eat_nonce", json_string(nonce)) == 0 &&
             json_object_set_new(root, "aik_pub_hash", json_string(aik)) == 0;
    for (size_t i = 0; ok && i < e->num_meas; i++) {
        char hex[2 * SAMPLE_DIGEST_LEN + 1];
        char *name = malloc(e->meas[i].name_len + 1);
        if (name == NULL) {
            ok = 0;
            break;
        }
        memcpy(name, e->meas[i].name, e->meas[i].name_len);
        name[e->meas[i].name_len] = '\0';
        util_hex(e->meas[i].digest, SAMPLE_DIGEST_LEN, hex);
        ok = json_object_set_new(meas, name, json_string(hex)) == 0;
        free(name);
    }
    if (ok && json_object_set(root, "measurements", meas) == 0 &&
        json_object_set_new(root, "attestation_key_spki_sha256",
                            json_string(e->signer->spki_sha256)) == 0)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(meas);
    json_decref(root);
    free(nonce);
    free(aik);
    return text;
}

static const meas_view *find_measurement(const evidence_view *e, const ref_entry *r)
{
    for (size_t i = 0; i < e->num_meas; i++)
        if (e->meas[i].name_len == r->name_len && memcmp(e->meas[i].name, r->name, r->name_len) == 0)
            return &e->meas[i];
    return NULL;
}

/* expected_list writes up to three reference digests, then how many more there are. */
static void expected_list(const ref_entry *r, char *out, size_t out_size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->num_digests && i < 3; i++) {
        char hex[2 * SAMPLE_DIGEST_LEN + 1];
        util_hex(r->digests[i], SAMPLE_DIGEST_LEN, hex);
        int n = snprintf(out + o, out_size - o, "%s%s", i ? ", " : "", hex);
        if (n < 0 || (size_t)n >= out_size - o)
            return;
        o += (size_t)n;
    }
    if (r->num_digests > 3)
        snprintf(out + o, out_size - o, " (and %zu more)", r->num_digests - 3);
}

/* Reference values: every named measurement present, with one of its listed values. */
static void appraise_measurements(const sample_verifier *v, const evidence_view *e,
                                  attex_appraisal *out)
{
    size_t bad = 0;
    for (size_t i = 0; i < v->num_refs; i++) {
        const ref_entry *r = &v->refs[i];
        const meas_view *m = find_measurement(e, r);
        int match = 0;
        for (size_t k = 0; m != NULL && k < r->num_digests; k++)
            match |= crypto_equal(m->digest, r->digests[k], SAMPLE_DIGEST_LEN);
        if (match)
            continue;
        if (bad++ > 0)
            continue;
        /* The name printed is the reference's (trusted), never the evidence's. */
        char want[4 * (2 * SAMPLE_DIGEST_LEN + 2) + 32];
        expected_list(r, want, sizeof(want));
        char shown[160];
        util_safe_text((const uint8_t *)r->name, r->name_len, shown, sizeof(shown));
        if (m == NULL) {
            snprintf(out->reason, sizeof(out->reason),
                     "measurement %s: missing from the evidence, expected one of %s", shown,
                     want);
        } else {
            char got[2 * SAMPLE_DIGEST_LEN + 1];
            util_hex(m->digest, SAMPLE_DIGEST_LEN, got);
            snprintf(out->reason, sizeof(out->reason),
                     "measurement %s: got %s, expected one of %s", shown, got, want);
        }
    }
    if (bad == 0) {
        out->verdict = ATTEX_VERDICT_AFFIRMING;
        snprintf(out->reason, sizeof(out->reason),
                 "all %zu measurements match reference values", v->num_refs);
        return;
    }
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    if (bad > 1) {
        size_t len = strlen(out->reason);
        snprintf(out->reason + len, sizeof(out->reason) - len,
                 " (and %zu more measurements do not match)", bad - 1);
    }
}

int sample_evidence_appraise(void *verifier_ctx, const uint8_t *ev, size_t ev_len,
                             const attex_binding *expected, attex_appraisal *out,
                             attex_error *err)
{
    const sample_verifier *v = verifier_ctx;
    if (out != NULL) {
        out->verdict = ATTEX_VERDICT_NONE;
        out->reason[0] = '\0';
        out->claims_json = NULL;
    }
    if (v == NULL || out == NULL || (ev == NULL && ev_len > 0) || !valid_binding(expected))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the sample verifier needs its context, the evidence, an appraisal "
                          "to fill and a binding with a SHA-256 or SHA-384 hash length");
    evidence_view e;
    memset(&e, 0, sizeof(e));
    int ret;
    /* Signature before claims: nothing unauthenticated is interpreted or shown. */
    if ((ret = decode_cose(ev, ev_len, &e, out, err)) != ATTEX_OK ||
        (ret = verify_signature(v, &e, out, err)) != ATTEX_OK ||
        (ret = decode_claims(&e, out, err)) != ATTEX_OK)
        goto done;
    out->claims_json = claims_to_json(&e);
    if (out->claims_json == NULL) {
        reject(out, err, "out of memory rendering the claims");
        ret = NOMEM(err);
        goto done;
    }
    if (e.profile_len != strlen(ATTEX_SAMPLE_PROFILE) ||
        memcmp(e.profile, ATTEX_SAMPLE_PROFILE, e.profile_len) != 0) {
        char shown[120];
        util_safe_text(e.profile, e.profile_len, shown, sizeof(shown));
        ret = reject(out, err, "eat_profile is %s, not " ATTEX_SAMPLE_PROFILE, shown);
        goto done;
    }
    /*
     * RFC 9711 s4.1 / PROTOCOL.md s3: eat_nonce must be this connection's
     * binder, compared in constant time over the binder's length.
     */
    if (e.nonce_len != expected->hash_len ||
        !crypto_equal(e.nonce, expected->binder, expected->hash_len)) {
        ret = reject(out, err, "eat_nonce does not match this connection's binder: evidence "
                               "replayed from another connection or request");
        goto done;
    }
    /* PROTOCOL.md s3: the evidence must vouch for the key in the certificate it rides in. */
    if (e.aik_len != expected->hash_len ||
        !crypto_equal(e.aik, expected->aik_pub_hash, expected->hash_len)) {
        ret = reject(out, err, "aik_pub_hash does not match the certificate's key: the evidence "
                               "was made for another key");
        goto done;
    }
    appraise_measurements(v, &e, out);
    ret = ATTEX_OK;
done:
    evidence_view_free(&e);
    return ret;
}

static int sample_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                           attex_appraisal *out, attex_error *err)
{
    if (out == NULL || record == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the sample verifier needs a CMW record and an appraisal to fill");
    out->verdict = ATTEX_VERDICT_NONE;
    out->reason[0] = '\0';
    out->claims_json = NULL;
    if (attex_cmw_kind_of(record) != ATTEX_CMW_RECORD)
        return reject(out, err, "the CMW is not a Record; sample evidence travels as a Record "
                                "of type " ATTEX_SAMPLE_MEDIA_TYPE);
    /* RFC 9999 s3.1: this verifier appraises evidence, nothing else the Record may claim. */
    uint32_t ind = attex_cmw_ind(record);
    if (ind != ATTEX_CMW_IND_EVIDENCE)
        return reject(out, err, "the CMW record's ind is %u, not 4 (evidence)", ind);
    size_t len = 0;
    const uint8_t *value = attex_cmw_value(record, &len);
    if (value == NULL)
        return reject(out, err, "the CMW record has no value");
    return sample_evidence_appraise(ctx, value, len, expected, out, err);
}

/* ---------------------------------------------------------------------- */
/* Verifier construction                                                  */

static void refs_free(ref_entry *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(refs[i].name);
        free(refs[i].digests);
    }
    free(refs);
}

static int parse_reference_values(const char *text, size_t text_len, const char *origin,
                                  sample_verifier *v, attex_error *err)
{
    json_error_t jerr;
    /* RFC 8259 s4: duplicate names are allowed by JSON but make the meaning ambiguous. */
    json_t *root = json_loadb(text, text_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "reference values (%s): not valid JSON at line %d, column %d: %s",
                          origin, jerr.line, jerr.column, jerr.text);
    int ret = ATTEX_OK;
    json_t *meas = json_object_get(root, "measurements");
    if (!json_is_object(root) || !json_is_object(meas) || json_object_size(root) != 1) {
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "reference values (%s): expected exactly {\"measurements\": {\"<name>\": "
                         "[\"<hex sha256>\", ...], ...}}",
                         origin);
        goto out;
    }
    size_t n = json_object_size(meas);
    if (n == 0 || n > SAMPLE_MAX_MEASUREMENTS) {
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "reference values (%s): \"measurements\" names %zu measurements; it "
                         "must name 1 to %d (with none, any signed evidence would pass)",
                         origin, n, SAMPLE_MAX_MEASUREMENTS);
        goto out;
    }
    v->refs = calloc(n, sizeof(*v->refs));
    if (v->refs == NULL) {
        ret = NOMEM(err);
        goto out;
    }
    void *it = json_object_iter(meas);
    for (; it != NULL; it = json_object_iter_next(meas, it)) {
        const char *name = json_object_iter_key(it);
        size_t name_len = json_object_iter_key_len(it);
        json_t *list = json_object_iter_value(it);
        if (name_len == 0 || name_len > SAMPLE_MAX_NAME || strlen(name) != name_len) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "reference values (%s): measurement names must be 1 to %d bytes "
                             "without NUL",
                             origin, SAMPLE_MAX_NAME);
            goto out;
        }
        size_t nd = json_is_array(list) ? json_array_size(list) : 0;
        if (nd == 0 || nd > SAMPLE_MAX_REF_DIGESTS) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "reference values (%s): measurement \"%s\" must list 1 to %d "
                             "accepted SHA-256 values as an array of hex strings",
                             origin, name, SAMPLE_MAX_REF_DIGESTS);
            goto out;
        }
        ref_entry *r = &v->refs[v->num_refs];
        r->name = strdup(name);
        r->name_len = name_len;
        r->digests = calloc(nd, sizeof(*r->digests));
        v->num_refs++;
        if (r->name == NULL || r->digests == NULL) {
            ret = NOMEM(err);
            goto out;
        }
        for (size_t k = 0; k < nd; k++) {
            json_t *h = json_array_get(list, k);
            if (!json_is_string(h) ||
                !util_unhex(json_string_value(h), json_string_length(h), r->digests[k],
                          SAMPLE_DIGEST_LEN)) {
                ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                 "reference values (%s): measurement \"%s\" value %zu is not "
                                 "64 hex digits (a SHA-256)",
                                 origin, name, k + 1);
                goto out;
            }
        }
        r->num_digests = nd;
    }
out:
    json_decref(root);
    return ret;
}

static int add_trusted_key(sample_verifier *v, EVP_PKEY *key, attex_error *err)
{
    uint8_t *der = NULL;
    uint8_t digest[SAMPLE_DIGEST_LEN];
    trusted_key *t = &v->keys[v->num_keys];
    int der_len = i2d_PUBKEY(key, &der);
    if (der_len <= 0 || crypto_digest(ATTEX_HASH_SHA256, der, (size_t)der_len, digest, err) !=
                            ATTEX_OK) {
        OPENSSL_free(der);
        return attex_fail_crypto(err, "encoding a trusted attestation key");
    }
    OPENSSL_free(der);
    /* Identifies the signer in the appraisal's claims: SHA-256 of its SubjectPublicKeyInfo. */
    util_hex(digest, sizeof(digest), t->spki_sha256);
    t->key = key;
    v->num_keys++;
    return ATTEX_OK;
}

attex_verifier *attex_sample_verifier_new(const attex_sample_verifier_config *cfg,
                                          attex_error *err)
{
    if (cfg == NULL || (cfg->num_trusted_keys > 0 && cfg->trusted_keys == NULL) ||
        (cfg->num_trusted_key_paths > 0 && cfg->trusted_key_paths == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_sample_verifier_new needs a configuration whose key arrays match "
                   "their counts");
        return NULL;
    }
    size_t nkeys = (cfg->trusted_keys ? cfg->num_trusted_keys : 0) +
                   (cfg->trusted_key_paths ? cfg->num_trusted_key_paths : 0);
    if (nkeys == 0) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the sample verifier needs at least one trusted attestation public key "
                   "(trusted_keys or trusted_key_paths)");
        return NULL;
    }
    if ((cfg->reference_values_json == NULL) == (cfg->reference_values_path == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the sample verifier needs reference values: give exactly one of "
                   "reference_values_json and reference_values_path");
        return NULL;
    }
    sample_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->keys = calloc(nkeys, sizeof(*v->keys))) == NULL) {
        free(v);
        NOMEM(err);
        return NULL;
    }
    v->v.name = "sample";
    v->v.media_type = ATTEX_SAMPLE_MEDIA_TYPE;
    v->v.content_format = 0;
    v->v.ctx = v;
    v->v.appraise = sample_appraise;
    int ret = ATTEX_OK;
    for (size_t i = 0; ret == ATTEX_OK && cfg->trusted_keys && i < cfg->num_trusted_keys; i++) {
        EVP_PKEY *k = cfg->trusted_keys[i];
        if (k == NULL || !is_p256(k))
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "trusted key %zu is missing or not EC P-256; sample evidence is "
                             "signed with ES256",
                             i);
        else if (EVP_PKEY_up_ref(k) != 1)
            ret = attex_fail_crypto(err, "taking a reference to a trusted key");
        else if ((ret = add_trusted_key(v, k, err)) != ATTEX_OK)
            EVP_PKEY_free(k);
    }
    for (size_t i = 0; ret == ATTEX_OK && cfg->trusted_key_paths && i < cfg->num_trusted_key_paths;
         i++) {
        EVP_PKEY *k = NULL;
        if (cfg->trusted_key_paths[i] == NULL)
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "trusted key path %zu is NULL", i);
        else if ((ret = load_public_key(cfg->trusted_key_paths[i], &k, err)) == ATTEX_OK &&
                 (ret = add_trusted_key(v, k, err)) != ATTEX_OK)
            EVP_PKEY_free(k);
    }
    if (ret == ATTEX_OK) {
        if (cfg->reference_values_json != NULL) {
            ret = parse_reference_values(cfg->reference_values_json,
                                         strlen(cfg->reference_values_json), "JSON text", v, err);
        } else {
            attex_buf text = ATTEX_BUF_INIT;
            ret = util_read_file(cfg->reference_values_path, "reference values file",
                                 SAMPLE_MAX_TEXT_FILE, &text, err);
            if (ret == ATTEX_OK) {
                char origin[200];
                snprintf(origin, sizeof(origin), "file \"%s\"", cfg->reference_values_path);
                ret = parse_reference_values((const char *)text.data, text.len, origin, v, err);
            }
            attex_buf_free(&text);
        }
    }
    if (ret != ATTEX_OK) {
        attex_sample_verifier_free(&v->v);
        return NULL;
    }
    return &v->v;
}

void attex_sample_verifier_free(attex_verifier *verifier)
{
    if (verifier == NULL)
        return;
    sample_verifier *v = (sample_verifier *)verifier;
    for (size_t i = 0; i < v->num_keys; i++)
        EVP_PKEY_free(v->keys[i].key);
    free(v->keys);
    refs_free(v->refs, v->num_refs);
    free(v);
}

/* ---------------------------------------------------------------------- */
/* Attester                                                               */

/*
 * A measurement kept between attestations. Hashing the executable on every
 * attest() dominated the cost of an attested connection, so a digest is
 * reused while the file is provably the same: same device, inode, size,
 * mtime and ctime (ctime cannot be set back by a writer). As in git's "racy"
 * index rule, a file whose ctime is within RACY_SECONDS of when it was
 * hashed is never reused: file timestamps can be as coarse as a clock tick,
 * so a quick second write of the same size could otherwise look unchanged.
 */
typedef struct measure_cache {
    int valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    uint8_t digest[SAMPLE_DIGEST_LEN];
} measure_cache;

#define RACY_SECONDS 2

typedef struct sample_attester {
    attex_attester a; /* first: the public handle is this struct */
    EVP_PKEY *key;
    char *exe_path;
    char **files;
    size_t num_files;
    measure_cache *cache; /* 1 + num_files entries: the executable, then the files */
} sample_attester;

#define SELF_EXE "/proc/self/exe"
#define EXE_NAME "exe"

/* check_targets validates what a configuration asks to measure. */
static int check_targets(const attex_sample_attester_config *cfg, attex_error *err)
{
    if (cfg->num_files > 0 && cfg->files == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "num_files is %zu but files is NULL", cfg->num_files);
    if (cfg->num_files >= SAMPLE_MAX_MEASUREMENTS)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the sample attester measures at most %d files besides the "
                          "executable; %zu were given",
                          SAMPLE_MAX_MEASUREMENTS - 1, cfg->num_files);
    if (cfg->exe_path != NULL && cfg->exe_path[0] == '\0')
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "exe_path is empty: give the executable's path, or NULL for the "
                          "running program");
    for (size_t i = 0; i < cfg->num_files; i++) {
        const char *f = cfg->files[i];
        if (f == NULL || f[0] == '\0' || strlen(f) > SAMPLE_MAX_NAME ||
            !utf8_valid((const uint8_t *)f, strlen(f)))
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "file %zu to measure has an empty, overlong or non-UTF-8 path "
                              "(its path is its measurement's name)",
                              i);
        if (strcmp(f, EXE_NAME) == 0)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "a file to measure cannot be named \"exe\": that name is the "
                              "executable's measurement; write it as \"./exe\"");
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->files[j], f) == 0)
                return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                  "file \"%s\" is listed twice", f);
    }
    return ATTEX_OK;
}

/* measure_all measures the executable and the files, now, into m (1 + num_files entries). */
static int measure_all(const char *exe_path, const char *const *files, size_t num_files,
                       sample_measurement *m, attex_error *err)
{
    m[0].name = EXE_NAME;
    int ret = sample_measure_file(exe_path ? exe_path : SELF_EXE, m[0].digest, err);
    for (size_t i = 0; ret == ATTEX_OK && i < num_files; i++) {
        m[i + 1].name = files[i];
        ret = sample_measure_file(files[i], m[i + 1].digest, err);
    }
    return ret;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* measure_cached measures `path` into `digest`, reusing `c` when the file is unchanged. */
static int measure_cached(const char *path, measure_cache *c, uint8_t *digest, attex_error *err)
{
    struct stat before, after;
    if (stat(path, &before) == 0 && c->valid && c->dev == before.st_dev &&
        c->ino == before.st_ino && c->size == before.st_size &&
        same_time(&c->mtim, &before.st_mtim) && same_time(&c->ctim, &before.st_ctim)) {
        memcpy(digest, c->digest, SAMPLE_DIGEST_LEN);
        return ATTEX_OK;
    }
    c->valid = 0;
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    int ret = sample_measure_file(path, digest, err);
    if (ret != ATTEX_OK)
        return ret;
    /* Cache only what did not change while it was hashed and is not "racy". */
    if (stat(path, &after) == 0 && after.st_dev == before.st_dev &&
        after.st_ino == before.st_ino && after.st_size == before.st_size &&
        same_time(&after.st_mtim, &before.st_mtim) && same_time(&after.st_ctim, &before.st_ctim) &&
        after.st_ctim.tv_sec + RACY_SECONDS < t0.tv_sec) {
        c->valid = 1;
        c->dev = after.st_dev;
        c->ino = after.st_ino;
        c->size = after.st_size;
        c->mtim = after.st_mtim;
        c->ctim = after.st_ctim;
        memcpy(c->digest, digest, SAMPLE_DIGEST_LEN);
    }
    return ATTEX_OK;
}

int sample_attester_evidence(void *attester_ctx, const attex_binding *b, attex_buf *out,
                             attex_error *err)
{
    sample_attester *a = attester_ctx;
    if (a == NULL || out == NULL || !valid_binding(b))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the sample attester needs its context, an output and a binding with "
                          "a SHA-256 or SHA-384 hash length");
    sample_measurement *m = calloc(1 + a->num_files, sizeof(*m));
    if (m == NULL)
        return NOMEM(err);
    /* Measured at every attest() (unchanged files from the cache): a file changed since
     * start-up shows in the evidence. */
    m[0].name = EXE_NAME;
    int ret = measure_cached(a->exe_path ? a->exe_path : SELF_EXE, &a->cache[0], m[0].digest, err);
    for (size_t i = 0; ret == ATTEX_OK && i < a->num_files; i++) {
        m[i + 1].name = a->files[i];
        ret = measure_cached(a->files[i], &a->cache[i + 1], m[i + 1].digest, err);
    }
    if (ret != ATTEX_OK) {
        /* Keep the file's name and the reason, and say what could not be done. */
        char why[ATTEX_ERROR_MESSAGE_SIZE];
        snprintf(why, sizeof(why), "%s", err ? err->message : "");
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "the sample attester cannot measure: %s", why);
    } else {
        time_t now = time(NULL);
        ret = sample_evidence_make(a->key, b, now > 0 ? (uint64_t)now : 0, m, 1 + a->num_files,
                                   out, err);
    }
    free(m);
    return ret;
}

static int sample_attest(void *ctx, const attex_binding *binding, attex_buf *cmw,
                         attex_error *err)
{
    if (cmw == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the sample attester needs an output buffer");
    attex_error local;
    attex_error *e = err ? err : &local;
    attex_buf ev = ATTEX_BUF_INIT;
    int ret = sample_attester_evidence(ctx, binding, &ev, e);
    if (ret != ATTEX_OK)
        return ret;
    /* RFC 9999 s3.1: [type, value, ind], ind 4 = evidence. */
    attex_error_clear(e);
    attex_cmw *rec =
        attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, ev.data, ev.len, ATTEX_CMW_IND_EVIDENCE, e);
    attex_buf_free(&ev);
    if (rec == NULL)
        return e->code != ATTEX_OK ? e->code
                                   : attex_fail(e, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                                                "making the sample evidence's CMW record failed");
    ret = attex_cmw_encode(rec, ATTEX_CMW_CBOR, cmw, e);
    attex_cmw_free(rec);
    return ret;
}

attex_attester *attex_sample_attester_new(const attex_sample_attester_config *cfg,
                                          attex_error *err)
{
    if (cfg == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_sample_attester_new needs a configuration");
        return NULL;
    }
    if ((cfg->key == NULL) == (cfg->key_path == NULL)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the sample attester needs its attestation key: give exactly one of key "
                   "and key_path");
        return NULL;
    }
    if (check_targets(cfg, err) != ATTEX_OK)
        return NULL;
    sample_attester *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        NOMEM(err);
        return NULL;
    }
    a->a.name = "sample";
    a->a.ctx = a;
    a->a.attest = sample_attest;
    int ret = ATTEX_OK;
    if (cfg->key != NULL) {
        if (!is_p256(cfg->key))
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "the attestation key is not EC P-256; sample evidence is signed "
                             "with ES256");
        else if (EVP_PKEY_up_ref(cfg->key) != 1)
            ret = attex_fail_crypto(err, "taking a reference to the attestation key");
        else
            a->key = cfg->key;
    } else {
        ret = load_private_key(cfg->key_path, &a->key, err);
    }
    if (ret == ATTEX_OK && !can_sign(a->key))
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "the attestation key cannot sign: it has no private part");
    if (ret == ATTEX_OK && cfg->exe_path != NULL && (a->exe_path = strdup(cfg->exe_path)) == NULL)
        ret = NOMEM(err);
    if (ret == ATTEX_OK && cfg->num_files > 0 &&
        (a->files = calloc(cfg->num_files, sizeof(*a->files))) == NULL)
        ret = NOMEM(err);
    for (size_t i = 0; ret == ATTEX_OK && i < cfg->num_files; i++) {
        if ((a->files[i] = strdup(cfg->files[i])) == NULL)
            ret = NOMEM(err);
        else
            a->num_files++;
    }
    if (ret == ATTEX_OK && (a->cache = calloc(1 + a->num_files, sizeof(*a->cache))) == NULL)
        ret = NOMEM(err);
    /* Fail now on a path that cannot be measured, rather than at the first connection. */
    for (size_t i = 0; ret == ATTEX_OK && i <= a->num_files; i++) {
        int fd;
        uint64_t size;
        const char *p = i == 0 ? (a->exe_path ? a->exe_path : SELF_EXE) : a->files[i - 1];
        if ((ret = util_open_regular(p, i == 0 ? "executable" : "file to measure", &fd, &size, err)) ==
            ATTEX_OK)
            close(fd);
    }
    if (ret != ATTEX_OK) {
        attex_sample_attester_free(&a->a);
        return NULL;
    }
    return &a->a;
}

void attex_sample_attester_free(attex_attester *attester)
{
    if (attester == NULL)
        return;
    sample_attester *a = (sample_attester *)attester;
    EVP_PKEY_free(a->key);
    free(a->exe_path);
    for (size_t i = 0; i < a->num_files; i++)
        free(a->files[i]);
    free(a->files);
    free(a->cache);
    free(a);
}

/* ---------------------------------------------------------------------- */
/* Key generation and reference values                                    */

/*
 * write_new_file creates `path` (refusing to replace an existing file: an
 * attestation key is not overwritten by accident) with `mode` and writes data.
 */
static int write_new_file(const char *path, const char *what, const uint8_t *data, size_t len,
                          mode_t mode, attex_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0 && errno == EEXIST)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot write %s \"%s\": the file exists; remove it first (keys "
                          "are never overwritten)",
                          what, path);
    if (fd < 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot create %s \"%s\": %s", what, path, strerror(errno));
    int ret = ATTEX_OK;
    /* The umask may only narrow the mode; fchmod makes it exact. */
    if (fchmod(fd, mode) != 0)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "cannot set the mode of %s \"%s\": %s", what, path, strerror(errno));
    size_t off = 0;
    while (ret == ATTEX_OK && off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "cannot write %s \"%s\": %s", what, path,
                             w < 0 ? strerror(errno) : "short write");
        else
            off += (size_t)w;
    }
    if (ret == ATTEX_OK && fsync(fd) != 0)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "cannot write %s \"%s\": %s", what, path, strerror(errno));
    if (close(fd) != 0 && ret == ATTEX_OK)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "cannot write %s \"%s\": %s", what, path, strerror(errno));
    if (ret != ATTEX_OK)
        unlink(path);
    return ret;
}

int attex_sample_keygen(const char *private_path, const char *public_path, attex_error *err)
{
    if (private_path == NULL || public_path == NULL || !private_path[0] || !public_path[0])
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_sample_keygen needs a private key path and a public key path");
    if (strcmp(private_path, public_path) == 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the private and public key paths are the same (\"%s\")",
                          private_path);
    int ret = ATTEX_OK;
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *priv_data = NULL, *pub_data = NULL;
    long priv_len = 0, pub_len = 0;
    /* PKCS#8 (RFC 5958) for the private key, SubjectPublicKeyInfo (RFC 5280) for the public. */
    if (priv == NULL || pub == NULL || key == NULL ||
        PEM_write_bio_PKCS8PrivateKey(priv, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(pub, key) != 1 ||
        (priv_len = BIO_get_mem_data(priv, &priv_data)) <= 0 ||
        (pub_len = BIO_get_mem_data(pub, &pub_data)) <= 0) {
        ret = attex_fail_crypto(err, "generating the P-256 attestation key pair");
        goto out;
    }
    ret = write_new_file(private_path, "private key file", (const uint8_t *)priv_data,
                         (size_t)priv_len, 0600, err);
    if (ret == ATTEX_OK) {
        ret = write_new_file(public_path, "public key file", (const uint8_t *)pub_data,
                             (size_t)pub_len, 0644, err);
        /* Half a key pair is no use, and a stray private key is a liability. */
        if (ret != ATTEX_OK)
            unlink(private_path);
    }
out:
    if (priv_data != NULL && priv_len > 0)
        OPENSSL_cleanse(priv_data, (size_t)priv_len);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(key);
    return ret;
}

int attex_sample_reference_values(const attex_sample_attester_config *cfg, attex_buf *out,
                                  attex_error *err)
{
    if (cfg == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_sample_reference_values needs a configuration and an output");
    int ret = check_targets(cfg, err);
    if (ret != ATTEX_OK)
        return ret;
    sample_measurement *m = calloc(1 + cfg->num_files, sizeof(*m));
    if (m == NULL)
        return NOMEM(err);
    ret = measure_all(cfg->exe_path, cfg->files, cfg->num_files, m, err);
    json_t *root = NULL, *meas = NULL;
    char *text = NULL;
    if (ret == ATTEX_OK) {
        root = json_object();
        meas = json_object();
        int ok = root != NULL && meas != NULL && json_object_set(root, "measurements", meas) == 0;
        for (size_t i = 0; ok && i < 1 + cfg->num_files; i++) {
            char hex[2 * SAMPLE_DIGEST_LEN + 1];
            util_hex(m[i].digest, SAMPLE_DIGEST_LEN, hex);
            json_t *list = json_array();
            ok = list != NULL && json_array_append_new(list, json_string(hex)) == 0 &&
                 json_object_set_new(meas, m[i].name, list) == 0;
            if (!ok)
                json_decref(list);
        }
        if (ok)
            text = json_dumps(root, JSON_INDENT(2));
        if (text == NULL)
            ret = NOMEM(err);
    }
    if (ret == ATTEX_OK) {
        size_t len = strlen(text);
        /* A trailing newline for files and terminals; a NUL after it, outside len. */
        out->data = malloc(len + 2);
        if (out->data == NULL) {
            ret = NOMEM(err);
        } else {
            memcpy(out->data, text, len);
            out->data[len] = '\n';
            out->data[len + 1] = '\0';
            out->len = len + 1;
        }
    }
    free(text);
    json_decref(meas);
    json_decref(root);
    free(m);
    return ret;
}
