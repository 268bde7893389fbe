/*
 * attex: error reporting.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include <attex/attex.h>

const char *attex_version(void) { return ATTEX_VERSION_STRING; }

void attex_error_clear(attex_error *err)
{
    if (err == NULL)
        return;
    err->code = ATTEX_OK;
    err->alert = ATTEX_ALERT_NONE;
    err->message[0] = '\0';
}

int attex_fail(attex_error *err, int code, uint8_t alert, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        err->alert = alert;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

void attex_openssl_reason(char *out, size_t out_len, const char *none)
{
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, out, out_len);
    else
        snprintf(out, out_len, "%s", none);
    ERR_clear_error();
}

int attex_fail_crypto(attex_error *err, const char *what)
{
    char detail[160];
    attex_openssl_reason(detail, sizeof(detail), "no detail");
    return attex_fail(err, ATTEX_ERR_CRYPTO, ATTEX_ALERT_INTERNAL_ERROR, "%s failed (%s)", what,
                      detail);
}

const char *attex_status_name(int code)
{
    switch (code) {
    case ATTEX_OK: return "ATTEX_OK";
    case ATTEX_ERR_INVALID_ARGUMENT: return "ATTEX_ERR_INVALID_ARGUMENT";
    case ATTEX_ERR_NO_MEMORY: return "ATTEX_ERR_NO_MEMORY";
    case ATTEX_ERR_TLS_STATE: return "ATTEX_ERR_TLS_STATE";
    case ATTEX_ERR_DECODE: return "ATTEX_ERR_DECODE";
    case ATTEX_ERR_ILLEGAL_PARAMETER: return "ATTEX_ERR_ILLEGAL_PARAMETER";
    case ATTEX_ERR_UNSUPPORTED_EXTENSION: return "ATTEX_ERR_UNSUPPORTED_EXTENSION";
    case ATTEX_ERR_MISSING_EXTENSION: return "ATTEX_ERR_MISSING_EXTENSION";
    case ATTEX_ERR_BAD_SIGNATURE: return "ATTEX_ERR_BAD_SIGNATURE";
    case ATTEX_ERR_BAD_FINISHED: return "ATTEX_ERR_BAD_FINISHED";
    case ATTEX_ERR_BAD_CERTIFICATE: return "ATTEX_ERR_BAD_CERTIFICATE";
    case ATTEX_ERR_UNKNOWN_CONTEXT: return "ATTEX_ERR_UNKNOWN_CONTEXT";
    case ATTEX_ERR_CONTEXT_REUSED: return "ATTEX_ERR_CONTEXT_REUSED";
    case ATTEX_ERR_NO_COMMON_SCHEME: return "ATTEX_ERR_NO_COMMON_SCHEME";
    case ATTEX_ERR_REFUSED: return "ATTEX_ERR_REFUSED";
    case ATTEX_ERR_UNEXPECTED_MESSAGE: return "ATTEX_ERR_UNEXPECTED_MESSAGE";
    case ATTEX_ERR_CRYPTO: return "ATTEX_ERR_CRYPTO";
    case ATTEX_ERR_UNSUPPORTED: return "ATTEX_ERR_UNSUPPORTED";
    case ATTEX_ERR_ATTESTATION: return "ATTEX_ERR_ATTESTATION";
    case ATTEX_ERR_IO: return "ATTEX_ERR_IO";
    case ATTEX_ERR_UNAVAILABLE: return "ATTEX_ERR_UNAVAILABLE";
    default: return "ATTEX_ERR_UNKNOWN";
    }
}

const char *attex_alert_name(uint8_t alert)
{
    switch (alert) {
    case ATTEX_ALERT_NONE: return "none";
    case ATTEX_ALERT_UNEXPECTED_MESSAGE: return "unexpected_message";
    case ATTEX_ALERT_HANDSHAKE_FAILURE: return "handshake_failure";
    case ATTEX_ALERT_BAD_CERTIFICATE: return "bad_certificate";
    case ATTEX_ALERT_UNSUPPORTED_CERTIFICATE: return "unsupported_certificate";
    case ATTEX_ALERT_CERTIFICATE_EXPIRED: return "certificate_expired";
    case ATTEX_ALERT_CERTIFICATE_UNKNOWN: return "certificate_unknown";
    case ATTEX_ALERT_ILLEGAL_PARAMETER: return "illegal_parameter";
    case ATTEX_ALERT_UNKNOWN_CA: return "unknown_ca";
    case ATTEX_ALERT_DECODE_ERROR: return "decode_error";
    case ATTEX_ALERT_DECRYPT_ERROR: return "decrypt_error";
    case ATTEX_ALERT_INTERNAL_ERROR: return "internal_error";
    case ATTEX_ALERT_MISSING_EXTENSION: return "missing_extension";
    case ATTEX_ALERT_UNSUPPORTED_EXTENSION: return "unsupported_extension";
    default: return "unknown_alert";
    }
}
