/*
 * attex: errors.
 *
 * Every fallible attex function returns ATTEX_OK (0) or a negative attex
 * status code, and fills an optional attex_error with the code, the TLS alert
 * the caller should send to the peer (for protocol failures), and a sentence
 * that says what went wrong in terms a user can act on.
 */
#ifndef ATTEX_ERROR_H
#define ATTEX_ERROR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. ATTEX_OK is success; every other value is negative. */
typedef enum attex_status {
    ATTEX_OK = 0,
    /** The caller passed an invalid argument (a programming error). */
    ATTEX_ERR_INVALID_ARGUMENT = -1,
    /** An allocation failed. */
    ATTEX_ERR_NO_MEMORY = -2,
    /** The TLS connection cannot be used: not TLS 1.3, or handshake not complete. */
    ATTEX_ERR_TLS_STATE = -3,
    /** Received bytes are malformed (bad length, truncation, trailing bytes). */
    ATTEX_ERR_DECODE = -4,
    /** Received bytes are well-formed but carry a forbidden value. */
    ATTEX_ERR_ILLEGAL_PARAMETER = -5,
    /** An extension appears that was not offered. */
    ATTEX_ERR_UNSUPPORTED_EXTENSION = -6,
    /** A mandatory extension is missing. */
    ATTEX_ERR_MISSING_EXTENSION = -7,
    /** A CertificateVerify signature does not verify. */
    ATTEX_ERR_BAD_SIGNATURE = -8,
    /** A Finished MAC does not match. */
    ATTEX_ERR_BAD_FINISHED = -9,
    /** A certificate is unusable or its chain does not validate. */
    ATTEX_ERR_BAD_CERTIFICATE = -10,
    /** The certificate_request_context does not belong to a request we issued. */
    ATTEX_ERR_UNKNOWN_CONTEXT = -11,
    /** The certificate_request_context was already used on this connection. */
    ATTEX_ERR_CONTEXT_REUSED = -12,
    /** No signature scheme is acceptable to both sides. */
    ATTEX_ERR_NO_COMMON_SCHEME = -13,
    /**
     * The peer sent a well-formed, authentic empty authenticator: it refused
     * to authenticate. Never a success.
     */
    ATTEX_ERR_REFUSED = -14,
    /** A message of the wrong handshake type was received. */
    ATTEX_ERR_UNEXPECTED_MESSAGE = -15,
    /** The cryptographic library failed unexpectedly. */
    ATTEX_ERR_CRYPTO = -16,
    /** The operation is not supported (e.g. an unusable key type). */
    ATTEX_ERR_UNSUPPORTED = -17,
    /**
     * Attestation is missing, or was appraised and not accepted (bad
     * evidence, binding mismatch, no verifier for its type, verdict below
     * the policy's minimum). The message says which.
     */
    ATTEX_ERR_ATTESTATION = -18,
    /** A file or device could not be opened, read or written (the message names it). */
    ATTEX_ERR_IO = -19,
    /**
     * Something the operation needs is unreachable, busy or did not answer
     * in time: a TPM, a Verifier service, a TEE interface. Retrying later may
     * help; the message says what and how long was waited.
     */
    ATTEX_ERR_UNAVAILABLE = -20
} attex_status;

/** TLS AlertDescription values (RFC 8446 s6) that attex reports. */
enum {
    ATTEX_ALERT_NONE = 0, /* no alert: close_notify is never used as an error */
    ATTEX_ALERT_UNEXPECTED_MESSAGE = 10,
    ATTEX_ALERT_HANDSHAKE_FAILURE = 40,
    ATTEX_ALERT_BAD_CERTIFICATE = 42,
    ATTEX_ALERT_UNSUPPORTED_CERTIFICATE = 43,
    ATTEX_ALERT_CERTIFICATE_EXPIRED = 45,
    ATTEX_ALERT_CERTIFICATE_UNKNOWN = 46,
    ATTEX_ALERT_ILLEGAL_PARAMETER = 47,
    ATTEX_ALERT_UNKNOWN_CA = 48,
    ATTEX_ALERT_DECODE_ERROR = 50,
    ATTEX_ALERT_DECRYPT_ERROR = 51,
    ATTEX_ALERT_INTERNAL_ERROR = 80,
    ATTEX_ALERT_MISSING_EXTENSION = 109,
    ATTEX_ALERT_UNSUPPORTED_EXTENSION = 110
};

/** Size of attex_error.message, including the terminating NUL. */
#define ATTEX_ERROR_MESSAGE_SIZE 512

/**
 * attex_error is filled by a failing call. `code` is the status returned,
 * `alert` the TLS alert to send to the peer (ATTEX_ALERT_NONE when the
 * failure is local), `message` a NUL-terminated explanation.
 */
typedef struct attex_error {
    int code;
    uint8_t alert;
    char message[ATTEX_ERROR_MESSAGE_SIZE];
} attex_error;

/** attex_error_clear resets `err` to success. Accepts NULL. */
void attex_error_clear(attex_error *err);

/** attex_status_name returns a short stable name for `code` ("ATTEX_ERR_DECODE"). */
const char *attex_status_name(int code);

/** attex_alert_name returns the RFC 8446 name of TLS alert `alert` ("decode_error"). */
const char *attex_alert_name(uint8_t alert);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_ERROR_H */
