/*
 * Helpers shared by the attex libFuzzer targets (header only).
 *
 * FZ_CHECK aborts when an invariant of the library does not hold, so that
 * libFuzzer records the input as a crash. fz_touch reads every byte of a
 * span (ASan then reports a span that is not all live memory) and folds it
 * into a sink the optimiser cannot drop.
 */
#ifndef ATTEX_FUZZ_COMMON_H
#define ATTEX_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attex/error.h>

#define FZ_CHECK(cond)                                                                  \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static volatile uint8_t fz_sink;

static inline void fz_touch(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    FZ_CHECK(n == 0 || p != NULL);
    for (size_t i = 0; i < n; i++)
        acc = (uint8_t)(acc ^ p[i]);
    fz_sink = (uint8_t)(fz_sink + acc);
}

/* fz_within returns 1 if [p, p+n) lies inside [base, base+len). */
static inline int fz_within(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
    if (n == 0)
        return 1;
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && a - b <= len && n <= len - (a - b);
}

/*
 * fz_check_error checks what a failing call left in `err`: the code it
 * returned, a known status, and a NUL-terminated, non-empty message.
 */
static inline void fz_check_error(const attex_error *err, int ret)
{
    FZ_CHECK(ret < 0);
    FZ_CHECK(err->code == ret);
    FZ_CHECK(memchr(err->message, 0, sizeof(err->message)) != NULL);
    FZ_CHECK(err->message[0] != 0);
    FZ_CHECK(strcmp(attex_status_name(ret), "ATTEX_ERR_UNKNOWN") != 0); /* a known status */
    FZ_CHECK(strcmp(attex_alert_name(err->alert), "unknown_alert") != 0);
    fz_sink = (uint8_t)(fz_sink + (uint8_t)strlen(err->message) + err->alert);
}

#endif /* ATTEX_FUZZ_COMMON_H */
