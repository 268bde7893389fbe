/*
 * attex: the Verifier as a network service (libattex_service, libmicrohttpd).
 *
 * The service appraises CMW evidence with the registered attex_verifier
 * plug-ins and answers with an EAR (draft-ietf-rats-ear, attex_ear_issue)
 * signed by its ES256 key. It speaks HTTP/1.1, over TLS when given a
 * certificate and key, and offers three APIs (docs/verifier.md):
 *
 *   POST /attex/v1/appraise                    one-shot appraisal (JSON in, EAR out)
 *   POST /challenge-response/v1/newSession      Veraison challenge-response sessions,
 *   POST|GET|DELETE /challenge-response/v1/session/<id>
 *   GET  /.well-known/veraison/verification    discovery, with the EAR key as a JWK
 *
 * It keeps no state but short-lived challenge-response sessions. Plug-ins'
 * appraise functions are called from several threads at once unless
 * `serialize_appraisal` is set.
 */
#ifndef ATTEX_SERVICE_H
#define ATTEX_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/ear.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Path of the one-shot appraisal endpoint. */
#define ATTEX_SERVICE_APPRAISE_PATH "/attex/v1/appraise"
/** Veraison's challenge-response session media type. */
#define ATTEX_SERVICE_SESSION_MEDIA_TYPE "application/vnd.veraison.challenge-response-session+json"
/** Veraison's discovery document media type. */
#define ATTEX_SERVICE_DISCOVERY_MEDIA_TYPE "application/vnd.veraison.discovery+json"

/**
 * An access-log sink: called once per finished request with one JSON object
 * text (no newline) {"time","method","path","status","bytes","duration_us","remote"}.
 * Called from worker threads, possibly at the same time.
 */
typedef void (*attex_service_log_fn)(void *ctx, const char *json_line);

/** Configuration of a service. Zero-initialise, then set what you need. */
typedef struct attex_service_config {
    /** Listening address (IPv4 or IPv6 literal); NULL for 127.0.0.1. */
    const char *address;
    /** TCP port; 0 for one the system chooses (attex_service_start returns it). */
    uint16_t port;

    /**
     * TLS server certificate chain and private key, PEM text in memory, or
     * NULL to read tls_cert_path / tls_key_path. With neither, the service
     * speaks plain HTTP: only for tests and loopback use.
     */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    const char *tls_cert_path;
    const char *tls_key_path;

    /** EAR signing key (EC P-256 private key; reference taken), or NULL to load ear_key_path (PEM). */
    EVP_PKEY *ear_key;
    const char *ear_key_path;
    /** ear_verifier_id: developer and build; NULL for "attex" and "attex-service/<version>". */
    const char *verifier_developer;
    const char *verifier_build;
    /** EAR lifetime (exp - iat) in seconds; 0 for 300. */
    uint32_t ear_lifetime;

    /** The verifier plug-ins, matched to CMW Records by type (see attex_verifier). Not owned. */
    const attex_verifier *const *verifiers;
    size_t num_verifiers;
    /** Nonzero: call at most one plug-in at a time (for plug-ins that are not thread-safe). */
    int serialize_appraisal;

    /**
     * 0 (default): one thread per connection (at most max_connections), so that a slow
     * appraisal delays no other client. N > 0: a pool of N threads over which connections
     * are spread as they are accepted (a connection's requests wait for the other
     * connections of its thread).
     */
    unsigned threads;
    /** Most concurrent connections; 0 for 64. */
    unsigned max_connections;
    /** Idle/slow connection timeout in seconds; 0 for 10. */
    unsigned connection_timeout;
    /** Largest request body in bytes (413 above); 0 for 256 KiB. */
    size_t max_body;

    /** Challenge-response session lifetime in seconds; 0 for 150 (Veraison's 2m30s). */
    unsigned session_ttl;
    /** Most live sessions (newSession answers 503 when full); 0 for 1024. */
    size_t max_sessions;

    /** Access log: a FILE (one JSON line per request) and/or a callback; both may be NULL. */
    FILE *access_log;
    attex_service_log_fn log_fn;
    void *log_ctx;
} attex_service_config;

/** A Verifier service (opaque). */
typedef struct attex_service attex_service;

/**
 * attex_service_new checks `cfg`, loads the keys and certificates it names
 * and returns a service that is not yet listening, or NULL with `err` set.
 * `cfg` and the verifiers it points to must outlive the service.
 */
attex_service *attex_service_new(const attex_service_config *cfg, attex_error *err);

/**
 * attex_service_start binds and listens, then serves from worker threads.
 * Returns the bound TCP port (the chosen one when cfg->port was 0), or a
 * negative attex status with `err` set.
 */
int attex_service_start(attex_service *svc, attex_error *err);

/**
 * attex_service_stop stops accepting connections, lets the requests in
 * flight finish (waiting at most cfg->connection_timeout seconds), then
 * closes every connection and joins the workers. Idempotent.
 */
void attex_service_stop(attex_service *svc);

/** attex_service_free stops `svc` if needed and releases everything. Accepts NULL. */
void attex_service_free(attex_service *svc);

/** One appraised CMW Record, as reported by attex_service_appraise. */
typedef struct attex_service_submod {
    /** Submodule name in the EAR (the verifier's name, made unique). */
    char name[64];
    attex_verdict status;
    /** Why: the plug-in's reason, or the error that made the evidence unusable. */
    char reason[512];
    /** The plug-in's appraised claims (JSON object text, malloc'd), or NULL. */
    char *claims_json;
} attex_service_submod;

/** The outcome of attex_service_appraise. */
typedef struct attex_service_result {
    /** The EAR JWT (compact serialisation, ASCII, no NUL). */
    attex_buf ear;
    /** Worst submodule status. */
    attex_verdict status;
    attex_service_submod submods[ATTEX_EAR_MAX_SUBMODS];
    size_t num_submods;
} attex_service_result;

/**
 * attex_service_appraise is what the HTTP APIs do, in process: decode `cmw`
 * (CBOR or JSON, by its first byte), appraise every Record with the plug-in
 * registered for its type against `expected`, and issue an EAR whose
 * eat_nonce is `nonce` (nonce_len 8..64 bytes). Evidence a plug-in rejects
 * yields a contraindicated submodule, not an error. Errors:
 * ATTEX_ERR_DECODE (the CMW does not decode), ATTEX_ERR_UNSUPPORTED (no
 * plug-in for a Record's type, or more than ATTEX_EAR_MAX_SUBMODS Records), or a failure to
 * sign. On ATTEX_OK release the result with attex_service_result_clear.
 */
int attex_service_appraise(attex_service *svc, const uint8_t *cmw, size_t cmw_len,
                           const attex_binding *expected, const uint8_t *nonce, size_t nonce_len,
                           attex_service_result *result, attex_error *err);

/** attex_service_result_clear frees the EAR and the claims of `r` and zeroes it. Accepts NULL. */
void attex_service_result_clear(attex_service_result *r);

/**
 * attex_service_ear_jwk writes the EAR verification key as a JWK (JSON text,
 * NUL-terminated, malloc'd) to *out: what the discovery endpoint serves.
 */
int attex_service_ear_jwk(const attex_service *svc, char **out, attex_error *err);


/* ---------------------------------------------------------------------- */
/* Settings from a configuration file                                     */

/**
 * Service settings read from the "service" object of a JSON configuration
 * file (docs/verifier.md, "Configuration file"); owns its strings. The
 * file's other members (the plug-ins) are the caller's to read.
 */
typedef struct attex_service_settings attex_service_settings;

/**
 * attex_service_settings_parse reads settings from JSON text: the object
 * holding a "service" member (required). Strict: unknown members, wrong
 * types and out-of-range numbers are errors that name the member. Relative
 * paths are taken relative to `base_dir` (NULL: as given). `origin` names
 * the text in errors (e.g. the file name).
 */
int attex_service_settings_parse(const char *json, size_t len, const char *origin,
                                 const char *base_dir, attex_service_settings **out,
                                 attex_error *err);

/**
 * attex_service_settings_load reads the file `path` (at most 1 MiB) with
 * attex_service_settings_parse, relative paths being relative to the file's
 * directory.
 */
int attex_service_settings_load(const char *path, attex_service_settings **out,
                                attex_error *err);

/**
 * attex_service_settings_apply copies the settings into `cfg` (which keeps
 * pointers into `s`: free `s` after the service). Fields the file does not
 * set are left as they are; verifiers, keys given as objects, the access
 * log FILE and the log callback are never touched.
 */
void attex_service_settings_apply(const attex_service_settings *s, attex_service_config *cfg);

/**
 * attex_service_settings_access_log returns the "access_log" setting: a
 * path, "-" for standard output, or NULL when not set. Opening it is the
 * caller's business.
 */
const char *attex_service_settings_access_log(const attex_service_settings *s);

/** attex_service_settings_free releases `s`. Accepts NULL. */
void attex_service_settings_free(attex_service_settings *s);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_SERVICE_H */
