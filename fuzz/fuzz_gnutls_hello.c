/*
 * libFuzzer target: the GnuTLS adapter's ClientHello reader
 * (hello_parse_sigalgs, src/gnutls_hello.c), which sees every ClientHello a
 * GnuTLS server receives. Invariants: a failure leaves nothing behind; a
 * success reports at most `max` schemes, the same first ones whatever `max`,
 * and a found extension has at least one scheme.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "gnutls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t few[3], many[64];
    size_t n_few = 99, n_many = 99;
    int f_few = 7, f_many = 7;
    attex_error err;
    int a = hello_parse_sigalgs(data, size, few, 3, &n_few, &f_few, &err);
    int b = hello_parse_sigalgs(data, size, many, 64, &n_many, &f_many, NULL);
    FZ_CHECK(a == b);
    if (a != ATTEX_OK) {
        FZ_CHECK(n_few == 0 && n_many == 0 && !f_few && !f_many);
        FZ_CHECK(err.code == a && err.message[0] != 0);
        return 0;
    }
    FZ_CHECK(f_few == f_many);
    FZ_CHECK(n_few <= 3 && n_many <= 64);
    FZ_CHECK(f_many ? n_many >= 1 : n_many == 0);
    FZ_CHECK(n_few == (n_many < 3 ? n_many : 3));
    FZ_CHECK(memcmp(few, many, n_few * sizeof(uint16_t)) == 0);
    return 0;
}
