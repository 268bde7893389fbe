/*
 * attex: binding evidence to the connection and to the key (PROTOCOL.md s3,
 * draft-fossati-seat-expat binding section). One function computes it; every
 * attester and verifier calls it.
 */
#include <string.h>

#include <openssl/x509.h>

#include <attex/attest.h>

#include "binding_internal.h"
#include "crypto.h"
#include "internal.h"

int binding_report_data(attex_hash hash, const uint8_t *binder, const uint8_t *aik_pub_hash,
                        uint8_t out[64], attex_error *err)
{
    size_t hl = attex_hash_len(hash);
    if (hl == 0 || binder == NULL || aik_pub_hash == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the report data needs a SHA-256 or SHA-384 binder and AIK hash");
    /* PROTOCOL.md s3: 64-byte user-data fields get binder || aik_pub_hash, which is exactly
     * 64 bytes for SHA-256 suites and is hashed with SHA-512 to fit for SHA-384 suites. */
    uint8_t both[96];
    int ret = ATTEX_OK;
    memcpy(both, binder, hl);
    memcpy(both + hl, aik_pub_hash, hl);
    if (hash == ATTEX_HASH_SHA256)
        memcpy(out, both, 64);
    else if (EVP_Digest(both, 2 * hl, out, NULL, EVP_sha512(), NULL) != 1)
        ret = attex_fail_crypto(err, "SHA-512 of the report data");
    crypto_zeroise(both, sizeof(both));
    return ret;
}

void attex_binding_clear(attex_binding *b)
{
    if (b != NULL)
        crypto_zeroise(b, sizeof(*b));
}

int attex_binding_derive(attex_hash hash, const uint8_t exported[ATTEX_BINDING_EXPORTED_LEN],
                         const uint8_t *spki, size_t spki_len, attex_binding *out,
                         attex_error *err)
{
    size_t hl = attex_hash_len(hash);
    if (out == NULL || exported == NULL || spki == NULL || spki_len == 0 || hl == 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the binding needs a SHA-256 or SHA-384 suite, the exported value "
                          "and the end-entity SPKI");
    memset(out, 0, sizeof(*out));
    out->hash = hash;
    out->hash_len = hl;
    memcpy(out->exported, exported, ATTEX_BINDING_EXPORTED_LEN);

    /* aik_pub_hash = H(SPKI); binder = H(SPKI || exported). */
    attex_transcript t;
    int ret = crypto_digest(hash, spki, spki_len, out->aik_pub_hash, err);
    if (ret != ATTEX_OK || (ret = transcript_init(&t, hash, err)) != ATTEX_OK)
        goto fail;
    if ((ret = transcript_update(&t, spki, spki_len, err)) == ATTEX_OK &&
        (ret = transcript_update(&t, exported, ATTEX_BINDING_EXPORTED_LEN, err)) == ATTEX_OK)
        ret = transcript_peek(&t, out->binder, err);
    transcript_cleanup(&t);
    if (ret != ATTEX_OK)
        goto fail;

    if ((ret = binding_report_data(hash, out->binder, out->aik_pub_hash, out->report_data,
                                   err)) != ATTEX_OK)
        goto fail;
    return ATTEX_OK;
fail:
    attex_binding_clear(out);
    return ret;
}

int attex_binding_compute(attex_ea_session *s, const uint8_t *context, size_t context_len,
                          X509 *cert, attex_binding *out, attex_error *err)
{
    if (s == NULL || context == NULL || context_len == 0 || cert == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the binding needs a session, a certificate_request_context and the "
                          "end-entity certificate");
    const attex_tls *tls = attex_ea_session_tls(s);
    attex_tls_info info;
    int ret = tls->get_info(tls->ctx, &info, err);
    if (ret != ATTEX_OK)
        return ret;
    if (info.version != 0x0304 || !info.handshake_complete)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the binding needs a TLS 1.3 connection whose handshake is complete");

    /* draft-fossati-seat-expat: exported = TLS-Exporter("Attestation", crc, 32). */
    uint8_t exported[ATTEX_BINDING_EXPORTED_LEN];
    ret = tls->export_keying_material(tls->ctx, ATTEX_BINDING_EXPORTER_LABEL, context,
                                      context_len, exported, sizeof(exported), err);
    if (ret != ATTEX_OK)
        return ret;
    uint8_t *spki = NULL;
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
    if (spki_len <= 0) {
        crypto_zeroise(exported, sizeof(exported));
        return attex_fail_crypto(err, "encoding the end-entity SubjectPublicKeyInfo");
    }
    ret = attex_binding_derive(info.hash, exported, spki, (size_t)spki_len, out, err);
    crypto_zeroise(exported, sizeof(exported));
    OPENSSL_free(spki);
    return ret;
}
