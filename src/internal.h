/*
 * attex internal: helpers shared by every module.
 */
#ifndef ATTEX_INTERNAL_H
#define ATTEX_INTERNAL_H

#include <stdint.h>

#include <attex/error.h>

/* attex_fail fills err (if any) and returns code. */
int attex_fail(attex_error *err, int code, uint8_t alert, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* attex_openssl_reason pops OpenSSL's latest error into out (or `none`) and clears the queue. */
void attex_openssl_reason(char *out, size_t out_len, const char *none);

/* attex_fail_crypto reports a libcrypto failure, with OpenSSL's reason. */
int attex_fail_crypto(attex_error *err, const char *what);

#define ATTEX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* ATTEX_INTERNAL_H */
