/*
 * attex internal: cryptography over libcrypto.
 *
 * The ea layer never calls libcrypto's signing or MAC functions itself; it
 * goes through these, which speak in TLS terms (SignatureScheme, suite hash).
 */
#ifndef ATTEX_CRYPTO_H
#define ATTEX_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attex/buf.h>
#include <attex/ea.h>
#include <attex/error.h>

#define ATTEX_MAX_HASH 64

/* How a SignatureScheme signs (RFC 8446 s4.2.3). */
typedef struct attex_scheme_info {
    uint16_t code;
    const char *name;
    int key_type;        /* EVP_PKEY_EC, EVP_PKEY_ED25519, EVP_PKEY_ED448, EVP_PKEY_RSA, EVP_PKEY_RSA_PSS */
    int curve_nid;       /* for ECDSA: the curve TLS 1.3 binds to the scheme */
    const char *md_name; /* NULL for EdDSA */
} attex_scheme_info;

const EVP_MD *crypto_md(attex_hash h);
const attex_scheme_info *crypto_scheme(uint16_t code);

/* crypto_key_can_use returns 1 if `key` can produce/verify signatures of `scheme`. */
int crypto_key_can_use(EVP_PKEY *key, uint16_t scheme);

/* crypto_sign signs msg with key under scheme; the signature goes to `sig`. */
int crypto_sign(uint16_t scheme, EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                attex_buf *sig, attex_error *err);

/* crypto_verify returns ATTEX_OK if `sig` is a valid signature of msg, else ATTEX_ERR_BAD_SIGNATURE. */
int crypto_verify(uint16_t scheme, EVP_PKEY *key, const uint8_t *msg, size_t msg_len,
                  const uint8_t *sig, size_t sig_len, attex_error *err);

/*
 * Raw ECDSA: sig = r || s, big-endian, sig_len/2 bytes each (COSE, JWS, TDX
 * quotes), hashing msg with h. The key must be an EC key whose order fits
 * sig_len/2 bytes; the verifier checks the curve it needs itself.
 * crypto_ecdsa_sign_raw returns ATTEX_OK or an error; crypto_ecdsa_verify_raw
 * returns 1 when the signature verifies and 0 otherwise.
 */
int crypto_ecdsa_sign_raw(EVP_PKEY *key, attex_hash h, const uint8_t *msg, size_t msg_len,
                          uint8_t *sig, size_t sig_len, attex_error *err);
int crypto_ecdsa_verify_raw(EVP_PKEY *key, attex_hash h, const uint8_t *msg, size_t msg_len,
                            const uint8_t *sig, size_t sig_len);

/* crypto_hmac computes HMAC_H(key, msg) into out (attex_hash_len(h) bytes). */
int crypto_hmac(attex_hash h, const uint8_t *key, size_t key_len, const uint8_t *msg,
                size_t msg_len, uint8_t *out, attex_error *err);

/* crypto_digest computes H(msg) into out. */
int crypto_digest(attex_hash h, const uint8_t *msg, size_t msg_len, uint8_t *out,
                  attex_error *err);

/* A running hash over a transcript, whose value can be read at any point. */
typedef struct attex_transcript {
    EVP_MD_CTX *ctx;
    attex_hash hash;
} attex_transcript;

int transcript_init(attex_transcript *t, attex_hash h, attex_error *err);
int transcript_update(attex_transcript *t, const uint8_t *p, size_t n, attex_error *err);
/* transcript_peek writes the hash of everything so far, leaving t running. */
int transcript_peek(attex_transcript *t, uint8_t *out, attex_error *err);
void transcript_cleanup(attex_transcript *t);

/* crypto_equal compares in constant time; returns 1 if equal. */
int crypto_equal(const uint8_t *a, const uint8_t *b, size_t n);

void crypto_zeroise(void *p, size_t n);

int crypto_random(uint8_t *out, size_t n, attex_error *err);

#endif /* ATTEX_CRYPTO_H */
