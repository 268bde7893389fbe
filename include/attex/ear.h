/*
 * attex: EAT Attestation Results (draft-ietf-rats-ear) as signed JWTs.
 *
 * A Verifier appraises Evidence and issues an EAR: a JWT (JWS compact, ES256)
 * over a JSON claims set with eat_profile, iat, exp, the verifier's identity,
 * the appraised evidence's nonce and, per submodule, a status (trust tier)
 * and a trustworthiness vector. attex issues the current draft's claim names
 * (ear_status, ear_verifier_id, ...) and accepts the deployed Veraison ones
 * (ear.status, ear.verifier-id, ...) too.
 *
 * In an authenticator an EAR travels as a CMW Record with ind = 8 (an
 * attestation result) and type ATTEX_EAR_MEDIA_TYPE.
 */
#ifndef ATTEX_EAR_H
#define ATTEX_EAR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The eat_profile attex issues (draft-ietf-rats-ear). */
#define ATTEX_EAR_PROFILE "tag:ietf.org,2026:rats/ear#03"
/** The deployed Veraison profile, accepted on validation. */
#define ATTEX_EAR_PROFILE_VERAISON "tag:github.com,2023:veraison/ear"
/** The CMW media type of an EAR (RFC 9782 application/eat+jwt with the EAR profile). */
#define ATTEX_EAR_MEDIA_TYPE \
    "application/eat+jwt; eat_profile=\"tag:ietf.org,2026:rats/ear#03\""
/** The CMW media type of an EAR with the deployed Veraison profile. */
#define ATTEX_EAR_MEDIA_TYPE_VERAISON \
    "application/eat+jwt; eat_profile=\"tag:github.com,2023:veraison/ear\""

/** Longest compact JWT attex_ear_validate reads (bytes). */
#define ATTEX_EAR_MAX_JWT 65536

/** Most submodules in one EAR. */
#define ATTEX_EAR_MAX_SUBMODS 16

/** The eight trustworthiness claims of draft-ietf-rats-ear, in key order 0..7. */
typedef enum attex_ear_tv_claim {
    ATTEX_EAR_TV_INSTANCE_IDENTITY = 0,
    ATTEX_EAR_TV_CONFIGURATION = 1,
    ATTEX_EAR_TV_EXECUTABLES = 2,
    ATTEX_EAR_TV_FILE_SYSTEM = 3,
    ATTEX_EAR_TV_HARDWARE = 4,
    ATTEX_EAR_TV_RUNTIME_OPAQUE = 5,
    ATTEX_EAR_TV_STORAGE_OPAQUE = 6,
    ATTEX_EAR_TV_SOURCED_DATA = 7,
    ATTEX_EAR_TV_COUNT = 8
} attex_ear_tv_claim;

/** One submodule's appraisal. */
typedef struct attex_ear_submod {
    /** The submodule's label (UTF-8, NUL-terminated, non-empty). */
    char name[64];
    /** Its status (trust tier). */
    attex_verdict status;
    /** Trustworthiness vector; only claims whose bit is set in tv_present are present. */
    int8_t tv[ATTEX_EAR_TV_COUNT];
    uint8_t tv_present;
    /** Appraisal policy id, or "" for none. */
    char policy_id[128];
} attex_ear_submod;

/** The claims of an EAR. */
typedef struct attex_ear {
    /** eat_profile (ATTEX_EAR_PROFILE when issuing). */
    char profile[128];
    /**
     * Issued-at and expiry, seconds since the Unix epoch. exp is 0 when the
     * EAR has none (deployed Veraison omits it; freshness then rests on
     * eat_nonce and on max_age); attex_ear_issue requires exp > iat.
     */
    int64_t iat;
    int64_t exp;
    /** ear_verifier_id: developer and build. */
    char verifier_developer[128];
    char verifier_build[128];
    /**
     * eat_nonce: the nonce of the appraised evidence (8..64 bytes; for attex
     * the binder). nonce_len is 0 when the EAR has none.
     */
    uint8_t nonce[64];
    size_t nonce_len;
    /** Per-submodule appraisals (at least one). */
    attex_ear_submod submods[ATTEX_EAR_MAX_SUBMODS];
    size_t num_submods;
} attex_ear;

/**
 * attex_ear_issue signs `ear` as a JWT (ES256; `key` is an EC P-256 private
 * key) with the current draft's claim names, and writes the compact
 * serialisation (ASCII, no NUL) to `jwt`. Fails on claims it could not
 * validate back (no submodule, empty name, nonce not 8..64 bytes, exp <= iat).
 */
int attex_ear_issue(const attex_ear *ear, EVP_PKEY *key, attex_buf *jwt, attex_error *err);

/** How a relying party validates an EAR. Zero-initialise, then set what you need. */
typedef struct attex_ear_validate_opts {
    /** Trusted Verifier public keys (EC P-256); the JWT must verify under one. */
    EVP_PKEY *const *keys;
    size_t num_keys;
    /** The time to validate at (seconds since the epoch); 0 for now. */
    int64_t now;
    /** Allowed clock skew in seconds for iat and exp; 0 for the default (60 s). */
    uint32_t skew;
    /** When not NULL, eat_nonce must equal these bytes (the recomputed binder). */
    const uint8_t *nonce;
    size_t nonce_len;
    /** When not 0, iat must be at most this many seconds (plus skew) before now. */
    uint32_t max_age;
} attex_ear_validate_opts;

/**
 * attex_ear_validate checks a compact JWT: strict JWS parsing (header alg
 * ES256, base64url without padding), the signature under one of opts->keys,
 * iat not in the future and exp not past (with skew), eat_nonce when asked,
 * a known profile and well-formed submodules (either claim-name generation).
 * On ATTEX_OK fills *out. Does not judge the statuses: that is policy.
 * Decisions (docs/ear.md): iat may be a JSON number with a fraction part
 * only if it is integral (old Veraison wrote 1.666529184e+09); exp and nbf
 * are optional; eat_nonce may carry base64url padding (Veraison pads it);
 * unknown claims are ignored, unknown trustworthiness claims are refused.
 * Fails with ATTEX_ERR_DECODE (malformed), ATTEX_ERR_BAD_SIGNATURE (no key
 * verifies it) or ATTEX_ERR_ATTESTATION (stale, future, other nonce,
 * unknown profile).
 */
int attex_ear_validate(const uint8_t *jwt, size_t jwt_len, const attex_ear_validate_opts *opts,
                       attex_ear *out, attex_error *err);

/**
 * attex_ear_worst returns the worst status among the submodules (none is
 * worse than contraindicated is worse than warning is worse than affirming).
 */
attex_verdict attex_ear_worst(const attex_ear *ear);

/** Configuration of the EAR verifier plug-in (the passport model's relying party). */
typedef struct attex_ear_verifier_config {
    /** Trusted Verifier keys, or NULL to load key_paths (PEM public keys). */
    EVP_PKEY *const *keys;
    size_t num_keys;
    const char *const *key_paths;
    size_t num_key_paths;
    /** Allowed clock skew in seconds; 0 for 60. */
    uint32_t skew;
    /** When not 0, the EAR's iat must be at most this many seconds old. */
    uint32_t max_age;
    /**
     * The media type the verifier is registered for: NULL for
     * ATTEX_EAR_MEDIA_TYPE; ATTEX_EAR_MEDIA_TYPE_VERAISON for EARs of a
     * deployed Veraison. Either profile is accepted inside the JWT.
     */
    const char *media_type;
} attex_ear_verifier_config;

/**
 * attex_ear_verifier_new returns a verifier for CMW Records of type
 * ATTEX_EAR_MEDIA_TYPE (and the Veraison profile's type): it validates the
 * JWT with eat_nonce = the relying party's recomputed binder and reports the
 * worst submodule status as the verdict, naming each submodule's status in
 * the reason. Free with attex_ear_verifier_free.
 */
attex_verifier *attex_ear_verifier_new(const attex_ear_verifier_config *cfg, attex_error *err);

/** attex_ear_verifier_free releases `v`. Accepts NULL. */
void attex_ear_verifier_free(attex_verifier *v);

/**
 * attex_ear_key_to_jwk writes the public part of an EC P-256 key as a JWK
 * (RFC 7517, RFC 7518 s6.2: {"kty":"EC","crv":"P-256","x":...,"y":...,
 * "alg":"ES256"}), JSON text without NUL: what a Verifier publishes as
 * "ear-verification-key" in its discovery document.
 */
int attex_ear_key_to_jwk(EVP_PKEY *key, attex_buf *jwk, attex_error *err);

/**
 * attex_ear_key_from_jwk reads a P-256 public JWK (JSON text) into *key
 * (free with EVP_PKEY_free). Refuses other key types and curves, a private
 * part ("d"), an "alg" other than ES256, and points not on the curve.
 */
int attex_ear_key_from_jwk(const char *jwk, size_t jwk_len, EVP_PKEY **key, attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_EAR_H */
