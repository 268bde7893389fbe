/*
 * attex: the ea layer's TLS interface over an OpenSSL 3 SSL object.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <attex/openssl.h>

#include "internal.h"

/* Client side: the schemes the ClientHello offered, if the caller told us. */
typedef struct hello_schemes {
    uint16_t schemes[ATTEX_MAX_HELLO_SCHEMES];
    size_t num;
} hello_schemes;

static CRYPTO_ONCE ex_once = CRYPTO_ONCE_STATIC_INIT;
static int ex_index = -1;

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                    void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

static void ex_init(void)
{
    ex_index = SSL_get_ex_new_index(0, (void *)"attex hello schemes", NULL, NULL, ex_free);
}

static int get_ex_index(void)
{
    if (!CRYPTO_THREAD_run_once(&ex_once, ex_init))
        return -1;
    return ex_index;
}

int attex_openssl_set_hello_schemes(SSL *ssl, const uint16_t *schemes, size_t num_schemes,
                                    attex_error *err)
{
    int idx = get_ex_index();
    if (ssl == NULL || (schemes == NULL && num_schemes) || num_schemes > ATTEX_MAX_HELLO_SCHEMES)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "give an SSL and at most %d schemes", ATTEX_MAX_HELLO_SCHEMES);
    if (idx < 0)
        return attex_fail_crypto(err, "allocating SSL ex_data");
    hello_schemes *h = SSL_get_ex_data(ssl, idx);
    if (h == NULL) {
        h = calloc(1, sizeof(*h));
        if (h == NULL || !SSL_set_ex_data(ssl, idx, h)) {
            free(h);
            return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                              "out of memory");
        }
    }
    if (num_schemes)
        memcpy(h->schemes, schemes, num_schemes * sizeof(uint16_t));
    h->num = num_schemes;
    return ATTEX_OK;
}

static int ossl_get_info(void *ctx, attex_tls_info *out, attex_error *err)
{
    SSL *ssl = ctx;
    memset(out, 0, sizeof(*out));
    out->version = (uint16_t)SSL_version(ssl);
    out->handshake_complete = SSL_is_init_finished(ssl);
    out->role = SSL_is_server(ssl) ? ATTEX_ROLE_SERVER : ATTEX_ROLE_CLIENT;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
    const EVP_MD *md = cipher ? SSL_CIPHER_get_handshake_digest(cipher) : NULL;
    if (md != NULL) {
        if (EVP_MD_get_type(md) == NID_sha256)
            out->hash = ATTEX_HASH_SHA256;
        else if (EVP_MD_get_type(md) == NID_sha384)
            out->hash = ATTEX_HASH_SHA384;
    }
    if (out->role == ATTEX_ROLE_SERVER) {
        /* On a server OpenSSL reports the peer's, i.e. the ClientHello's, signature_algorithms. */
        int n = SSL_get_sigalgs(ssl, -1, NULL, NULL, NULL, NULL, NULL);
        for (int i = 0; i < n && out->num_hello_schemes < ATTEX_MAX_HELLO_SCHEMES; i++) {
            unsigned char rsig = 0, rhash = 0;
            SSL_get_sigalgs(ssl, i, NULL, NULL, NULL, &rsig, &rhash);
            out->hello_schemes[out->num_hello_schemes++] = (uint16_t)((rhash << 8) | rsig);
        }
    } else {
        int idx = get_ex_index();
        hello_schemes *h = idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
        const uint16_t *list;
        size_t n;
        if (h != NULL) {
            list = h->schemes;
            n = h->num;
        } else {
            /* OpenSSL 3's default ClientHello offers every scheme attex supports. */
            list = attex_supported_schemes(&n);
        }
        memcpy(out->hello_schemes, list, n * sizeof(uint16_t));
        out->num_hello_schemes = n;
    }
    (void)err;
    return ATTEX_OK;
}

static int ossl_export(void *ctx, const char *label, const uint8_t *context, size_t context_len,
                       uint8_t *out, size_t out_len, attex_error *err)
{
    SSL *ssl = ctx;
    static const uint8_t none[1] = {0};
    /* RFC 9261 s5.1: the context_value is empty (zero length), but present. */
    if (SSL_export_keying_material(ssl, out, out_len, label, strlen(label),
                                   context ? context : none, context_len, 1) != 1)
        return attex_fail_crypto(err, "the TLS exporter");
    return ATTEX_OK;
}

void attex_openssl_tls(SSL *ssl, attex_tls *out)
{
    out->ctx = ssl;
    out->get_info = ossl_get_info;
    out->export_keying_material = ossl_export;
}

attex_ea_session *attex_ea_session_new_openssl(SSL *ssl, attex_error *err)
{
    if (ssl == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_ea_session_new_openssl needs an SSL");
        return NULL;
    }
    attex_tls tls;
    attex_openssl_tls(ssl, &tls);
    return attex_ea_session_new(&tls, err);
}
