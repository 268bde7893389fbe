/*
 * attex: Exported Authenticators (RFC 9261) for TLS 1.3.
 *
 * This layer knows nothing of any TLS library: it reaches the connection only
 * through attex_tls (an exporter, and a few facts about the handshake). The
 * OpenSSL binding is in <attex/openssl.h>.
 *
 * Flow, for a relying party that wants the peer to authenticate:
 *
 *   attex_ea_request_create()            -> request bytes, sent to the peer
 *   peer: attex_ea_authenticator_create() -> authenticator bytes, sent back
 *   attex_ea_authenticator_validate()    -> validated identity, or a failure
 *
 * All byte strings exchanged are complete TLS handshake messages (4-byte
 * header included) without record framing, exactly as RFC 9261 s4 and s5.2.4
 * define them. Carrying them between peers is the application's job.
 *
 * A session (attex_ea_session) is bound to one connection and remembers the
 * certificate_request_context values issued, answered and validated on it, so
 * that a context is never reused and an authenticator made for one request or
 * one connection is never accepted for another.
 */
#ifndef ATTEX_EA_H
#define ATTEX_EA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Constants                                                              */

/** TLS handshake types used by RFC 9261. */
enum {
    ATTEX_HS_CERTIFICATE = 11,
    ATTEX_HS_CERTIFICATE_REQUEST = 13,
    ATTEX_HS_CERTIFICATE_VERIFY = 15,
    ATTEX_HS_CLIENT_CERTIFICATE_REQUEST = 17,
    ATTEX_HS_FINISHED = 20
};

/** TLS extension types attex itself interprets. */
enum {
    ATTEX_EXT_SERVER_NAME = 0,
    ATTEX_EXT_SIGNATURE_ALGORITHMS = 13,
    ATTEX_EXT_SIGNATURE_ALGORITHMS_CERT = 50
};

/** The TLS 1.3 SignatureScheme values attex can sign and verify (RFC 8446 s4.2.3). */
enum {
    ATTEX_SCHEME_ECDSA_SECP256R1_SHA256 = 0x0403,
    ATTEX_SCHEME_ECDSA_SECP384R1_SHA384 = 0x0503,
    ATTEX_SCHEME_ECDSA_SECP521R1_SHA512 = 0x0603,
    ATTEX_SCHEME_ED25519 = 0x0807,
    ATTEX_SCHEME_ED448 = 0x0808,
    ATTEX_SCHEME_RSA_PSS_RSAE_SHA256 = 0x0804,
    ATTEX_SCHEME_RSA_PSS_RSAE_SHA384 = 0x0805,
    ATTEX_SCHEME_RSA_PSS_RSAE_SHA512 = 0x0806,
    ATTEX_SCHEME_RSA_PSS_PSS_SHA256 = 0x0809,
    ATTEX_SCHEME_RSA_PSS_PSS_SHA384 = 0x080a,
    ATTEX_SCHEME_RSA_PSS_PSS_SHA512 = 0x080b
};

/** Largest certificate_request_context (RFC 9261 s4: opaque <0..2^8-1>). */
#define ATTEX_EA_MAX_CONTEXT 255

/** Length of the contexts attex generates when the caller supplies none. */
#define ATTEX_EA_DEFAULT_CONTEXT_LEN 32

/** Largest authenticator or request attex accepts or produces (bytes). */
#define ATTEX_EA_MAX_MESSAGE (1u << 20)

/** Our role on the TLS connection. */
typedef enum attex_role {
    ATTEX_ROLE_CLIENT = 0,
    ATTEX_ROLE_SERVER = 1
} attex_role;

/** The authenticator hash: the hash of the negotiated TLS 1.3 cipher suite. */
typedef enum attex_hash {
    ATTEX_HASH_SHA256 = 1,
    ATTEX_HASH_SHA384 = 2
} attex_hash;

/** attex_hash_len returns the output length of `hash` in bytes (32 or 48), or 0. */
size_t attex_hash_len(attex_hash hash);

/**
 * attex_scheme_name returns the RFC 8446 name of SignatureScheme `scheme`
 * ("ecdsa_secp256r1_sha256"), or NULL when attex does not support it.
 */
const char *attex_scheme_name(uint16_t scheme);

/**
 * attex_supported_schemes returns the TLS 1.3 signature schemes attex
 * supports, in its default preference order, and sets *out_num.
 */
const uint16_t *attex_supported_schemes(size_t *out_num);

/* ---------------------------------------------------------------------- */
/* The TLS connection, as the ea layer sees it                            */

/** Most ClientHello signature schemes remembered by attex_tls_info. */
#define ATTEX_MAX_HELLO_SCHEMES 64

/** Facts about the TLS connection, filled by attex_tls.get_info. */
typedef struct attex_tls_info {
    /** Negotiated protocol version (0x0304 for TLS 1.3). */
    uint16_t version;
    /**
     * Nonzero once the handshake is complete: for a server, the client
     * Finished was verified; for a client, its Finished was sent.
     */
    int handshake_complete;
    /** Our role on the connection. */
    attex_role role;
    /** The cipher suite's hash. */
    attex_hash hash;
    /**
     * The signature_algorithms the ClientHello offered, in order. A server
     * chooses the scheme of a spontaneous authenticator from these; a client
     * checks a spontaneous authenticator against them (RFC 9261 s5.2.2).
     */
    uint16_t hello_schemes[ATTEX_MAX_HELLO_SCHEMES];
    size_t num_hello_schemes;
} attex_tls_info;

/**
 * attex_tls is the interface between the ea layer and a TLS stack.
 * `get_info` fills an attex_tls_info; `export_keying_material` computes
 * TLS-Exporter(label, context, out_len) (RFC 8446 s7.5) from the
 * exporter_master_secret. Both return ATTEX_OK or an attex status, and may
 * fill `err`.
 */
typedef struct attex_tls {
    void *ctx;
    int (*get_info)(void *ctx, attex_tls_info *out, attex_error *err);
    int (*export_keying_material)(void *ctx, const char *label, const uint8_t *context,
                                  size_t context_len, uint8_t *out, size_t out_len,
                                  attex_error *err);
} attex_tls;

/* ---------------------------------------------------------------------- */
/* Extensions                                                             */

/** A TLS extension as carried in a request or a CertificateEntry. */
typedef struct attex_extension {
    uint16_t type;
    const uint8_t *data;
    size_t len;
} attex_extension;

/* ---------------------------------------------------------------------- */
/* Sessions                                                               */

/** attex_ea_session holds the exported-authenticator state of one connection. */
typedef struct attex_ea_session attex_ea_session;

/**
 * attex_ea_session_new returns a session over `tls` (copied; tls->ctx must
 * outlive the session), or NULL with `err` filled. The connection is checked
 * for TLS 1.3 at each operation, not here, so a session may be created
 * before the handshake completes.
 */
attex_ea_session *attex_ea_session_new(const attex_tls *tls, attex_error *err);

/** attex_ea_session_free releases `s` and zeroises what it held. Accepts NULL. */
void attex_ea_session_free(attex_ea_session *s);

/** attex_ea_session_tls returns the TLS interface the session was made with. */
const attex_tls *attex_ea_session_tls(const attex_ea_session *s);

/* ---------------------------------------------------------------------- */
/* Authenticator requests (RFC 9261 s4)                                   */

/** Parameters of attex_ea_request_create. Zero-initialise, then set what you need. */
typedef struct attex_ea_request_params {
    /**
     * certificate_request_context, 1..255 bytes, e.g. a Verifier's nonce;
     * NULL for 32 bytes from the CSPRNG.
     */
    const uint8_t *context;
    size_t context_len;
    /** Schemes to offer, in preference order; NULL for attex_supported_schemes(). */
    const uint16_t *schemes;
    size_t num_schemes;
    /** Extra extensions, sent after signature_algorithms in this order. */
    const attex_extension *extensions;
    size_t num_extensions;
} attex_ea_request_params;

/**
 * attex_ea_request_create builds an authenticator request on session `s`: a
 * CertificateRequest when we are the server, a ClientCertificateRequest when
 * we are the client (RFC 9261 s4). `params` may be NULL. The request is
 * remembered so that the answer can be validated and the context is never
 * reused. The bytes go to `out`.
 */
int attex_ea_request_create(attex_ea_session *s, const attex_ea_request_params *params,
                            attex_buf *out, attex_error *err);

/** A parsed authenticator request. */
typedef struct attex_ea_request attex_ea_request;

/**
 * attex_ea_request_parse decodes a received request (either type, with its
 * handshake header) strictly: every length must match, nothing may trail,
 * signature_algorithms must be present and well-formed, no extension type may
 * repeat. On success *out owns a copy of the bytes.
 */
int attex_ea_request_parse(const uint8_t *in, size_t in_len, attex_ea_request **out,
                           attex_error *err);

/** attex_ea_request_free releases `r`. Accepts NULL. */
void attex_ea_request_free(attex_ea_request *r);

/** attex_ea_request_type returns ATTEX_HS_CERTIFICATE_REQUEST or ATTEX_HS_CLIENT_CERTIFICATE_REQUEST. */
uint8_t attex_ea_request_type(const attex_ea_request *r);

/** attex_ea_request_context returns the certificate_request_context and sets *out_len. */
const uint8_t *attex_ea_request_context(const attex_ea_request *r, size_t *out_len);

/** attex_ea_request_schemes returns the offered signature schemes and sets *out_num. */
const uint16_t *attex_ea_request_schemes(const attex_ea_request *r, size_t *out_num);

/** attex_ea_request_num_extensions returns the number of extensions in `r`. */
size_t attex_ea_request_num_extensions(const attex_ea_request *r);

/** attex_ea_request_extension returns extension `i` of `r` (in wire order). */
attex_extension attex_ea_request_extension(const attex_ea_request *r, size_t i);

/**
 * attex_ea_request_find_extension sets *out to the extension of type `type`
 * and returns 1, or returns 0 if `r` does not carry it.
 */
int attex_ea_request_find_extension(const attex_ea_request *r, uint16_t type,
                                    attex_extension *out);

/** attex_ea_request_bytes returns the encoded request and sets *out_len. */
const uint8_t *attex_ea_request_bytes(const attex_ea_request *r, size_t *out_len);

/* ---------------------------------------------------------------------- */
/* Authenticators (RFC 9261 s5, s6)                                       */

/** Parameters of attex_ea_authenticator_create. Zero-initialise, then set what you need. */
typedef struct attex_ea_identity {
    /** End-entity certificate; NULL to build an empty authenticator (a refusal, RFC 9261 s6). */
    X509 *cert;
    /** Supporting certificates, in order after the end-entity one. */
    X509 *const *chain;
    size_t num_chain;
    /** Private key of `cert`: EC P-256/384/521, Ed25519, Ed448, RSA or RSA-PSS. */
    EVP_PKEY *key;
    /** Extensions for the first CertificateEntry; each must have been offered. */
    const attex_extension *extensions;
    size_t num_extensions;
    /**
     * Spontaneous server authenticators only: the certificate_request_context
     * (1..255 bytes), NULL for 32 bytes from the CSPRNG.
     */
    const uint8_t *context;
    size_t context_len;
} attex_ea_identity;

/**
 * attex_ea_authenticator_create answers authenticator request `request`
 * (received from the peer) with Certificate || CertificateVerify || Finished
 * (RFC 9261 s5.2), or with an empty authenticator when id->cert is NULL
 * (s6). With `request` NULL it makes a spontaneous server authenticator
 * (servers only). The signature scheme is the first one of the request (or,
 * spontaneously, of the ClientHello) that `id->key` can use. A request whose
 * context this session already answered is refused (s5.2).
 */
int attex_ea_authenticator_create(attex_ea_session *s, const uint8_t *request,
                                  size_t request_len, const attex_ea_identity *id,
                                  attex_buf *out, attex_error *err);

/** Options of attex_ea_authenticator_validate. Zero-initialise, then set what you need. */
typedef struct attex_ea_validate_opts {
    /**
     * Trust anchors for X.509 path validation of the received chain. NULL:
     * no path validation; the caller then judges the returned chain itself.
     */
    X509_STORE *trust_store;
    /** Path validation time; 0 for now. */
    time_t verify_time;
    /** Nonzero to skip validity-period checks in path validation. */
    int no_time_check;
    /**
     * Spontaneous authenticators only: extension types the ClientHello
     * carried that may appear in the Certificate (RFC 9261 s5.2.1). By
     * default none may.
     */
    const uint16_t *spontaneous_extensions;
    size_t num_spontaneous_extensions;
} attex_ea_validate_opts;

/** A validated authenticator: the peer's identity. */
typedef struct attex_ea_authenticator attex_ea_authenticator;

/**
 * attex_ea_authenticator_validate checks authenticator `in` received from
 * the peer against `request`, which must be a request this session issued
 * (byte for byte) and not yet had answered, or NULL for a spontaneous server
 * authenticator (clients only). It checks the structure of every message,
 * that the context is the request's, that entry extensions were offered,
 * that the CertificateVerify scheme was offered and matches the key, the
 * signature, the Finished MAC (constant time) and, with opts->trust_store,
 * the certificate path. `opts` may be NULL.
 *
 * Returns ATTEX_OK and *out on success. A well-formed empty authenticator
 * with a correct Finished returns ATTEX_ERR_REFUSED and no *out. Either way
 * the context is then used up.
 */
int attex_ea_authenticator_validate(attex_ea_session *s, const uint8_t *request,
                                    size_t request_len, const uint8_t *in, size_t in_len,
                                    const attex_ea_validate_opts *opts,
                                    attex_ea_authenticator **out, attex_error *err);

/**
 * attex_ea_authenticator_parse decodes an authenticator's structure without a
 * connection, for inspection and tools: NOTHING is verified (no request, no
 * Finished, no signature, no path). The decoding is the same strict one that
 * validation uses. `hash_len` is the suite's hash length (32 or 48), or 0 to
 * accept either. An empty authenticator parses, with no certificates and
 * no context (attex_ea_authenticator_is_empty).
 */
int attex_ea_authenticator_parse(const uint8_t *in, size_t in_len, size_t hash_len,
                                 attex_ea_authenticator **out, attex_error *err);

/** attex_ea_authenticator_is_empty returns 1 for an empty authenticator (Finished only). */
int attex_ea_authenticator_is_empty(const attex_ea_authenticator *a);

/** attex_ea_authenticator_signature returns the CertificateVerify signature and sets *out_len. */
const uint8_t *attex_ea_authenticator_signature(const attex_ea_authenticator *a, size_t *out_len);

/** attex_ea_authenticator_finished returns the Finished verify_data and sets *out_len. */
const uint8_t *attex_ea_authenticator_finished(const attex_ea_authenticator *a, size_t *out_len);

/** attex_ea_authenticator_free releases `a`. Accepts NULL. */
void attex_ea_authenticator_free(attex_ea_authenticator *a);

/** attex_ea_authenticator_context returns the certificate_request_context and sets *out_len. */
const uint8_t *attex_ea_authenticator_context(const attex_ea_authenticator *a, size_t *out_len);

/** attex_ea_authenticator_scheme returns the CertificateVerify signature scheme. */
uint16_t attex_ea_authenticator_scheme(const attex_ea_authenticator *a);

/** attex_ea_authenticator_is_spontaneous returns 1 if `a` answered no request. */
int attex_ea_authenticator_is_spontaneous(const attex_ea_authenticator *a);

/** attex_ea_authenticator_num_certs returns the number of certificates (>= 1). */
size_t attex_ea_authenticator_num_certs(const attex_ea_authenticator *a);

/** attex_ea_authenticator_cert returns certificate `i` (0 = end-entity), owned by `a`. */
X509 *attex_ea_authenticator_cert(const attex_ea_authenticator *a, size_t i);

/** attex_ea_authenticator_cert_der returns the DER of certificate `i` and sets *out_len. */
const uint8_t *attex_ea_authenticator_cert_der(const attex_ea_authenticator *a, size_t i,
                                               size_t *out_len);

/** attex_ea_authenticator_num_extensions returns the number of first-entry extensions. */
size_t attex_ea_authenticator_num_extensions(const attex_ea_authenticator *a);

/** attex_ea_authenticator_extension returns first-entry extension `i` (wire order). */
attex_extension attex_ea_authenticator_extension(const attex_ea_authenticator *a, size_t i);

/**
 * attex_ea_authenticator_find_extension sets *out to the first-entry
 * extension of type `type` and returns 1, or returns 0 if absent.
 */
int attex_ea_authenticator_find_extension(const attex_ea_authenticator *a, uint16_t type,
                                          attex_extension *out);

/** attex_ea_authenticator_num_entry_extensions returns the extension count of entry `entry`. */
size_t attex_ea_authenticator_num_entry_extensions(const attex_ea_authenticator *a, size_t entry);

/** attex_ea_authenticator_entry_extension returns extension `i` of entry `entry`. */
attex_extension attex_ea_authenticator_entry_extension(const attex_ea_authenticator *a,
                                                       size_t entry, size_t i);

/* ---------------------------------------------------------------------- */
/* The "get context" API (RFC 9261 s7.2)                                  */

/**
 * attex_ea_get_context copies the certificate_request_context of an
 * authenticator request or an authenticator into `out` (room for
 * ATTEX_EA_MAX_CONTEXT bytes) and sets *out_len. An empty authenticator
 * carries no context: that is an error, and the caller must use the request.
 */
int attex_ea_get_context(const uint8_t *in, size_t in_len,
                         uint8_t out[ATTEX_EA_MAX_CONTEXT], size_t *out_len,
                         attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_EA_H */
