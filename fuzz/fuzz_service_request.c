/*
 * libFuzzer target: the Verifier service's request parsers (src/service_req.c),
 * everything a network client controls before any plug-in runs. The first
 * byte picks the parser:
 *
 *   0: the one-shot JSON body (svc_parse_appraise)
 *   1: newSession's query: nonce, nonceSize, aik_pub_hash, NUL-separated, each
 *      absent when its presence bit (byte 2) is clear; then the session binding
 *   2: a media type and an Accept header (NUL-separated) against each other
 *   3: base64url (byte 2 bit 0: padding allowed), round-tripped
 *   4: a session id
 *   5: a configuration file's "service" settings (attex_service_settings_parse)
 *
 * Invariants: accepted one-shot bodies have a 64-byte report data equal to
 * the PROTOCOL.md s3 derivation; accepted nonces are 8..64 bytes and map to
 * a binding; decoded base64url re-encodes to its input (less padding).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <attex/service.h>

#include "binding_internal.h"
#include "fuzz_common.h"
#include "service_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits data into up to 3 NUL-terminated strings (malloc'd copies). */
static size_t split3(const uint8_t *data, size_t size, char *out[3])
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 3; i++) {
        if (i == size || data[i] == 0) {
            out[n] = malloc(i - start + 1);
            FZ_CHECK(out[n] != NULL);
            memcpy(out[n], data + start, i - start);
            out[n][i - start] = '\0';
            n++;
            start = i + 1;
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t which = data[0], flags = data[1];
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    char why[SVC_WHY_SIZE];
    switch (which % 6) {
    case 0: {
        svc_appraise_req r;
        if (svc_parse_appraise(in, n, &r, why, sizeof(why))) {
            FZ_CHECK(r.cmw != NULL && r.cmw_len > 0);
            FZ_CHECK(r.binding.hash_len == 32 || r.binding.hash_len == 48);
            uint8_t rd[64];
            FZ_CHECK(binding_report_data(r.binding.hash, r.binding.binder,
                                         r.binding.aik_pub_hash, rd, NULL) == 0);
            FZ_CHECK(memcmp(rd, r.binding.report_data, 64) == 0);
            fz_touch(r.cmw, r.cmw_len);
            svc_appraise_req_clear(&r);
        } else {
            FZ_CHECK(strlen(why) > 0);
        }
        break;
    }
    case 1: {
        char *s[3] = {NULL, NULL, NULL};
        size_t k = split3(in, n, s);
        svc_session_req q;
        const char *nonce = (flags & 1) && k > 0 ? s[0] : NULL;
        const char *size_s = (flags & 2) && k > 1 ? s[1] : NULL;
        const char *aik = (flags & 4) && k > 2 ? s[2] : NULL;
        if (svc_parse_session_query(nonce, size_s, aik, &q, why, sizeof(why))) {
            FZ_CHECK(q.nonce_len >= SVC_NONCE_MIN && q.nonce_len <= SVC_NONCE_MAX);
            if (!q.nonce_given)
                memset(q.nonce, 0x5a, q.nonce_len);
            attex_binding b;
            FZ_CHECK(svc_session_binding(q.nonce, q.nonce_len, q.aik_pub_hash, q.aik_len, &b,
                                         why, sizeof(why)));
            FZ_CHECK(b.hash_len == 32 || b.hash_len == 48);
        }
        for (size_t i = 0; i < k; i++)
            free(s[i]);
        break;
    }
    case 2: {
        char *s[3] = {NULL, NULL, NULL};
        size_t k = split3(in, n, s);
        if (k >= 2) {
            int eq = svc_media_type_equal(s[0], s[1]);
            FZ_CHECK(eq == svc_media_type_equal(s[1], s[0]));
            if (eq)
                FZ_CHECK(svc_media_type_equal(s[0], s[0]));
            (void)svc_accept_allows(s[1], s[0]);
        }
        for (size_t i = 0; i < k; i++)
            free(s[i]);
        break;
    }
    case 3: {
        uint8_t *p = NULL;
        size_t len = 0;
        if (b64url_decode(in, n, flags & 1, 1u << 16, &p, &len, why,
                              sizeof(why))) {
            char *e = b64_encode(p, len, 1);
            FZ_CHECK(e != NULL);
            size_t el = strlen(e);
            FZ_CHECK(el <= n && memcmp(e, in, el) == 0);
            for (size_t i = el; i < n; i++)
                FZ_CHECK(in[i] == '=');
            free(e);
            free(p);
        }
        break;
    }
    case 5: {
        attex_service_settings *st = NULL;
        attex_error err;
        if (attex_service_settings_parse((const char *)in, n, "fuzz", "base", &st, &err) == 0) {
            attex_service_config c;
            memset(&c, 0, sizeof(c));
            attex_service_settings_apply(st, &c);
            FZ_CHECK((c.tls_cert_path == NULL) == (c.tls_key_path == NULL));
            attex_service_settings_free(st);
        } else {
            FZ_CHECK(st == NULL && strlen(err.message) > 0);
        }
        break;
    }
    default:
        if (svc_session_id_valid((const char *)in, n))
            FZ_CHECK(n == 36);
        break;
    }
    return 0;
}
