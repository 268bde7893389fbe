/*
 * attex: a remote Verifier over HTTP(S), for both RATS models (RFC 9334 s5).
 *
 * Background-check model: the relying party forwards the attester's
 * evidence, with the binding it recomputed itself, to a Verifier and
 * accepts the EAR (attestation result) that comes back, after validating
 * it locally: signature under a configured Verifier key, eat_nonce = the
 * binder. attex_remote_verifier_new makes that relying-party plug-in.
 *
 * Passport model: the attester sends its own evidence to the Verifier, and
 * presents the EAR it receives in its authenticator (a CMW Record, ind 8).
 * attex_passport_attester_new wraps any attester (sample, TPM, ...) so.
 *
 * Both use the one-shot endpoint of docs/verifier.md:
 *   POST {url}/attex/v1/appraise (application/json) -> {"ear": "<JWT>"}.
 * Every request is bounded (connect and total timeouts); any failure is an
 * error, never an acceptance. This is the attex_http library (libcurl).
 */
#ifndef ATTEX_REMOTE_H
#define ATTEX_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/ear.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The one-shot appraisal path, relative to the Verifier's base URL. */
#define ATTEX_REMOTE_APPRAISE_PATH "/attex/v1/appraise"
/** The Veraison discovery document's path. */
#define ATTEX_REMOTE_DISCOVERY_PATH "/.well-known/veraison/verification"
/** Default timeouts (milliseconds). */
#define ATTEX_REMOTE_DEFAULT_CONNECT_TIMEOUT_MS 3000
#define ATTEX_REMOTE_DEFAULT_TIMEOUT_MS 10000
/** Largest response body read from a Verifier (bytes). */
#define ATTEX_REMOTE_MAX_RESPONSE (256 * 1024)

/** How to reach a Verifier. Zero-initialise, then set what you need. */
typedef struct attex_http_opts {
    /** Base URL, "http://host:port" or "https://host:port/prefix" (no trailing path needed). */
    const char *url;
    /** PEM file of trust anchors for HTTPS; NULL for the system's. */
    const char *ca_file;
    /** Connect timeout and total timeout per request, ms; 0 for the defaults above. */
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;
} attex_http_opts;

/**
 * attex_remote_appraise makes one call to the one-shot endpoint: it posts
 * `cmw` (an encoded CMW; sent as CBOR, re-encoded if it is JSON) with the
 * binding's report_data, binder, aik_pub_hash and hash, and returns the
 * EAR JWT the Verifier answered in *jwt. It does not validate the JWT.
 * Errors name the URL and what failed: connection refused, timeout (and
 * after how long), HTTP status with the problem details' title and detail,
 * a malformed answer.
 */
int attex_remote_appraise(const attex_http_opts *http, const uint8_t *cmw, size_t cmw_len,
                          const attex_binding *binding, attex_buf *jwt, attex_error *err);

/**
 * attex_remote_fetch_key reads the Verifier's EAR verification key from its
 * discovery document (GET {url}/.well-known/veraison/verification,
 * "ear-verification-key", a P-256 JWK). Trust on first use: only call it
 * when the operator asked for that.
 */
int attex_remote_fetch_key(const attex_http_opts *http, EVP_PKEY **key, attex_error *err);

/** Configuration of the background-check relying party. Zero-initialise. */
typedef struct attex_remote_verifier_config {
    /** The Verifier. */
    attex_http_opts http;
    /** Trusted EAR keys (EC P-256), and/or PEM files with them. */
    EVP_PKEY *const *keys;
    size_t num_keys;
    const char *const *key_paths;
    size_t num_key_paths;
    /**
     * Nonzero, and no key given: fetch the key from the discovery document
     * once, at creation (trust on first use). Off by default.
     */
    int trust_on_first_use;
    /**
     * The evidence media types to forward (one attex_verifier each, see
     * attex_remote_verifier_at); NULL for the defaults: the sample type,
     * application/vnd.veraison.tsm-report+cbor and the Arm CCA type.
     */
    const char *const *media_types;
    size_t num_media_types;
    /** Clock skew for the EAR's iat/exp, seconds; 0 for 60. */
    uint32_t skew;
} attex_remote_verifier_config;

/**
 * attex_remote_verifier_new returns a verifier that forwards Records of the
 * first media type to the Verifier (see attex_remote_verifier_at for the
 * others), validates the EAR locally (keys, eat_nonce = binder, times) and
 * reports the worst submodule status as the verdict. Free with
 * attex_remote_verifier_free.
 */
attex_verifier *attex_remote_verifier_new(const attex_remote_verifier_config *cfg,
                                          attex_error *err);

/** attex_remote_verifier_count returns how many media types `v` forwards. */
size_t attex_remote_verifier_count(const attex_verifier *v);

/**
 * attex_remote_verifier_at returns the verifier for media type `i`
 * (0 is `v` itself), sharing v's configuration; NULL when out of range.
 * Register all of them in the policy. Valid until `v` is freed.
 */
const attex_verifier *attex_remote_verifier_at(const attex_verifier *v, size_t i);

/** attex_remote_verifier_free releases `v` (the one attex_remote_verifier_new returned). */
void attex_remote_verifier_free(attex_verifier *v);

/** Configuration of the passport-model attester. Zero-initialise. */
typedef struct attex_passport_attester_config {
    /** The Verifier. */
    attex_http_opts http;
    /** The attester whose evidence is appraised (not owned; must outlive this one). */
    const attex_attester *inner;
    /**
     * Optional Verifier keys: when given, the EAR's signature is checked
     * before it is presented (the relying party checks it in any case).
     */
    EVP_PKEY *const *keys;
    size_t num_keys;
} attex_passport_attester_config;

/**
 * attex_passport_attester_new returns an attester that runs `inner` for the
 * binding, sends the evidence to the Verifier, checks that the EAR is well
 * formed and its eat_nonce is this binder, and answers with a CMW Record
 * (ind 8) of type ATTEX_EAR_MEDIA_TYPE (ATTEX_EAR_MEDIA_TYPE_VERAISON for an
 * EAR of the Veraison profile) carrying the JWT, in CBOR.
 */
attex_attester *attex_passport_attester_new(const attex_passport_attester_config *cfg,
                                            attex_error *err);

/** attex_passport_attester_free releases `a`. Accepts NULL. */
void attex_passport_attester_free(attex_attester *a);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_REMOTE_H */
