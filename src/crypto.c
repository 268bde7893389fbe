/*
 * attex internal: cryptography over libcrypto.
 */
#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "internal.h"

/*
 * RFC 8446 s4.2.3: only these schemes are valid in TLS 1.3 signatures; the
 * order is attex's default preference (small, fast signatures first).
 */
static const attex_scheme_info schemes[] = {
    {ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, "ecdsa_secp256r1_sha256", EVP_PKEY_EC,
     NID_X9_62_prime256v1, "SHA256"},
    {ATTEX_SCHEME_ECDSA_SECP384R1_SHA384, "ecdsa_secp384r1_sha384", EVP_PKEY_EC, NID_secp384r1,
     "SHA384"},
    {ATTEX_SCHEME_ECDSA_SECP521R1_SHA512, "ecdsa_secp521r1_sha512", EVP_PKEY_EC, NID_secp521r1,
     "SHA512"},
    {ATTEX_SCHEME_ED25519, "ed25519", EVP_PKEY_ED25519, NID_undef, NULL},
    {ATTEX_SCHEME_ED448, "ed448", EVP_PKEY_ED448, NID_undef, NULL},
    {ATTEX_SCHEME_RSA_PSS_RSAE_SHA256, "rsa_pss_rsae_sha256", EVP_PKEY_RSA, NID_undef, "SHA256"},
    {ATTEX_SCHEME_RSA_PSS_RSAE_SHA384, "rsa_pss_rsae_sha384", EVP_PKEY_RSA, NID_undef, "SHA384"},
    {ATTEX_SCHEME_RSA_PSS_RSAE_SHA512, "rsa_pss_rsae_sha512", EVP_PKEY_RSA, NID_undef, "SHA512"},
    {ATTEX_SCHEME_RSA_PSS_PSS_SHA256, "rsa_pss_pss_sha256", EVP_PKEY_RSA_PSS, NID_undef,
     "SHA256"},
    {ATTEX_SCHEME_RSA_PSS_PSS_SHA384, "rsa_pss_pss_sha384", EVP_PKEY_RSA_PSS, NID_undef,
     "SHA384"},
    {ATTEX_SCHEME_RSA_PSS_PSS_SHA512, "rsa_pss_pss_sha512", EVP_PKEY_RSA_PSS, NID_undef,
     "SHA512"},
};

static const uint16_t scheme_codes[] = {
    ATTEX_SCHEME_ECDSA_SECP256R1_SHA256, ATTEX_SCHEME_ECDSA_SECP384R1_SHA384,
    ATTEX_SCHEME_ECDSA_SECP521R1_SHA512, ATTEX_SCHEME_ED25519,
    ATTEX_SCHEME_ED448,                  ATTEX_SCHEME_RSA_PSS_RSAE_SHA256,
    ATTEX_SCHEME_RSA_PSS_RSAE_SHA384,    ATTEX_SCHEME_RSA_PSS_RSAE_SHA512,
    ATTEX_SCHEME_RSA_PSS_PSS_SHA256,     ATTEX_SCHEME_RSA_PSS_PSS_SHA384,
    ATTEX_SCHEME_RSA_PSS_PSS_SHA512,
};

/* Smallest RSA modulus attex signs or accepts. */
#define ATTEX_MIN_RSA_BITS 2048

const uint16_t *attex_supported_schemes(size_t *out_num)
{
    if (out_num)
        *out_num = ATTEX_ARRAY_LEN(scheme_codes);
    return scheme_codes;
}

const attex_scheme_info *crypto_scheme(uint16_t code)
{
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(schemes); i++)
        if (schemes[i].code == code)
            return &schemes[i];
    return NULL;
}

const char *attex_scheme_name(uint16_t scheme)
{
    const attex_scheme_info *s = crypto_scheme(scheme);
    return s ? s->name : NULL;
}

size_t attex_hash_len(attex_hash hash)
{
    switch (hash) {
    case ATTEX_HASH_SHA256: return 32;
    case ATTEX_HASH_SHA384: return 48;
    default: return 0;
    }
}

const EVP_MD *crypto_md(attex_hash h)
{
    switch (h) {
    case ATTEX_HASH_SHA256: return EVP_sha256();
    case ATTEX_HASH_SHA384: return EVP_sha384();
    default: return NULL;
    }
}

static int key_curve_nid(EVP_PKEY *key)
{
    char name[64];
    size_t len = 0;
    if (!EVP_PKEY_get_group_name(key, name, sizeof(name), &len))
        return NID_undef;
    int nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    return nid;
}

int crypto_key_can_use(EVP_PKEY *key, uint16_t scheme)
{
    const attex_scheme_info *s = crypto_scheme(scheme);
    if (s == NULL || key == NULL)
        return 0;
    int id = EVP_PKEY_get_base_id(key);
    if (id != s->key_type)
        return 0;
    switch (id) {
    case EVP_PKEY_EC:
        /* RFC 8446 s4.2.3: in TLS 1.3 each ECDSA scheme names its curve. */
        return key_curve_nid(key) == s->curve_nid;
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return EVP_PKEY_get_bits(key) >= ATTEX_MIN_RSA_BITS;
    default:
        return 1;
    }
}

/* RFC 8446 s4.2.3: RSASSA-PSS with MGF1 on the same hash and salt = hash length. */
static int set_pss(EVP_PKEY_CTX *pctx, const attex_scheme_info *s)
{
    if (s->key_type != EVP_PKEY_RSA && s->key_type != EVP_PKEY_RSA_PSS)
        return 1;
    const EVP_MD *md = EVP_get_digestbyname(s->md_name);
    return md != NULL && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
}

int crypto_sign(uint16_t scheme, EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                attex_buf *sig, attex_error *err)
{
    const attex_scheme_info *s = crypto_scheme(scheme);
    if (s == NULL || !crypto_key_can_use(key, scheme))
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the private key cannot sign with scheme 0x%04x", scheme);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    int ret = ATTEX_OK;
    if (ctx == NULL || EVP_DigestSignInit_ex(ctx, &pctx, s->md_name, NULL, NULL, key, NULL) <= 0 ||
        !set_pss(pctx, s) || EVP_DigestSign(ctx, NULL, &out_len, msg, msg_len) <= 0) {
        ret = attex_fail_crypto(err, "preparing the CertificateVerify signature");
        goto out;
    }
    out = malloc(out_len);
    if (out == NULL) {
        ret = attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    if (EVP_DigestSign(ctx, out, &out_len, msg, msg_len) <= 0) {
        free(out);
        ret = attex_fail_crypto(err, "signing the CertificateVerify");
        goto out;
    }
    sig->data = out;
    sig->len = out_len;
out:
    EVP_MD_CTX_free(ctx);
    return ret;
}

int crypto_verify(uint16_t scheme, EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                  const uint8_t *sig, size_t sig_len, attex_error *err)
{
    const attex_scheme_info *s = crypto_scheme(scheme);
    /* RFC 8446 s4.2.3: the scheme names the key type (and, for ECDSA, the curve). */
    if (s == NULL || !crypto_key_can_use(key, scheme))
        return attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                          "signature scheme %s (0x%04x) does not fit the end-entity "
                          "certificate's key",
                          s ? s->name : "unknown", scheme);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ret = ATTEX_OK;
    if (ctx == NULL ||
        EVP_DigestVerifyInit_ex(ctx, &pctx, s->md_name, NULL, NULL, key, NULL) <= 0 ||
        !set_pss(pctx, s)) {
        ret = attex_fail_crypto(err, "preparing CertificateVerify verification");
        goto out;
    }
    if (EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) != 1) {
        ERR_clear_error();
        ret = attex_fail(err, ATTEX_ERR_BAD_SIGNATURE, ATTEX_ALERT_DECRYPT_ERROR,
                         "the CertificateVerify signature (%s) does not verify with the "
                         "certificate's key",
                         s->name);
    }
out:
    EVP_MD_CTX_free(ctx);
    return ret;
}

int crypto_ecdsa_sign_raw(EVP_PKEY *key, attex_hash h, const uint8_t *msg, size_t msg_len,
                          uint8_t *sig, size_t sig_len, attex_error *err)
{
    const EVP_MD *md = crypto_md(h);
    size_t half = sig_len / 2;
    if (md == NULL || key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        sig_len % 2 != 0 || half == 0 || half > 66)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_INTERNAL_ERROR,
                          "raw ECDSA signing needs an EC key and an even signature length");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[160];
    size_t der_len = sizeof(der);
    ECDSA_SIG *es = NULL;
    int ret = ATTEX_OK;
    if (ctx == NULL || EVP_DigestSignInit_ex(ctx, NULL, EVP_MD_get0_name(md), NULL, NULL, key,
                                             NULL) <= 0 ||
        EVP_DigestSign(ctx, NULL, &der_len, msg, msg_len) <= 0 || der_len > sizeof(der) ||
        EVP_DigestSign(ctx, der, &der_len, msg, msg_len) <= 0) {
        ret = attex_fail_crypto(err, "ECDSA signing");
        goto out;
    }
    /* RFC 9053 s2.1, RFC 7518 s3.4: r and s as fixed-length big-endian integers, not DER. */
    const uint8_t *p = der;
    const BIGNUM *r, *s;
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (es == NULL) {
        ret = attex_fail_crypto(err, "decoding an ECDSA signature");
        goto out;
    }
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, (int)half) != (int)half ||
        BN_bn2binpad(s, sig + half, (int)half) != (int)half)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_INTERNAL_ERROR,
                         "the key's curve does not fit a %zu-byte raw ECDSA signature",
                         sig_len);
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(der, sizeof(der));
    return ret;
}

int crypto_ecdsa_verify_raw(EVP_PKEY *key, attex_hash h, const uint8_t *msg, size_t msg_len,
                            const uint8_t *sig, size_t sig_len)
{
    const EVP_MD *md = crypto_md(h);
    size_t half = sig_len / 2;
    if (md == NULL || key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        sig_len % 2 != 0 || half == 0 || half > 66)
        return 0;
    int ok = 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
    uint8_t *der = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (es == NULL || r == NULL || s == NULL || ctx == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by es now */
    int der_len = i2d_ECDSA_SIG(es, &der);
    if (der_len <= 0)
        goto out;
    ok = EVP_DigestVerifyInit_ex(ctx, NULL, EVP_MD_get0_name(md), NULL, NULL, key, NULL) > 0 &&
         EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_len) == 1;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    return ok;
}

int crypto_hmac(attex_hash h, const uint8_t *key, size_t key_len, const uint8_t *msg,
                size_t msg_len, uint8_t *out, attex_error *err)
{
    unsigned int out_len = 0;
    const EVP_MD *md = crypto_md(h);
    if (md == NULL || key_len > INT32_MAX ||
        HMAC(md, key, (int)key_len, msg, msg_len, out, &out_len) == NULL)
        return attex_fail_crypto(err, "HMAC");
    return ATTEX_OK;
}

int crypto_digest(attex_hash h, const uint8_t *msg, size_t msg_len, uint8_t *out,
                  attex_error *err)
{
    const EVP_MD *md = crypto_md(h);
    if (md == NULL || EVP_Digest(msg, msg_len, out, NULL, md, NULL) != 1)
        return attex_fail_crypto(err, "hashing");
    return ATTEX_OK;
}

int transcript_init(attex_transcript *t, attex_hash h, attex_error *err)
{
    t->hash = h;
    t->ctx = EVP_MD_CTX_new();
    const EVP_MD *md = crypto_md(h);
    if (t->ctx == NULL || md == NULL || EVP_DigestInit_ex(t->ctx, md, NULL) != 1) {
        EVP_MD_CTX_free(t->ctx);
        t->ctx = NULL;
        return attex_fail_crypto(err, "starting the transcript hash");
    }
    return ATTEX_OK;
}

int transcript_update(attex_transcript *t, const uint8_t *p, size_t n, attex_error *err)
{
    if (n && EVP_DigestUpdate(t->ctx, p, n) != 1)
        return attex_fail_crypto(err, "hashing the transcript");
    return ATTEX_OK;
}

int transcript_peek(attex_transcript *t, uint8_t *out, attex_error *err)
{
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    int ok = copy != NULL && EVP_MD_CTX_copy_ex(copy, t->ctx) == 1 &&
             EVP_DigestFinal_ex(copy, out, NULL) == 1;
    EVP_MD_CTX_free(copy);
    return ok ? ATTEX_OK : attex_fail_crypto(err, "finishing the transcript hash");
}

void transcript_cleanup(attex_transcript *t)
{
    EVP_MD_CTX_free(t->ctx);
    t->ctx = NULL;
}

int crypto_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void crypto_zeroise(void *p, size_t n) { OPENSSL_cleanse(p, n); }

int crypto_random(uint8_t *out, size_t n, attex_error *err)
{
    if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
        return attex_fail_crypto(err, "the random number generator");
    return ATTEX_OK;
}
