/*
 * libFuzzer target: authenticator request parsing (RFC 9261 s4).
 *
 * Feeds the input to attex_ea_request_parse and, when it is accepted, walks
 * every accessor and checks what the parsed request must satisfy: the stored
 * bytes are the input, the context is 1..255 bytes and is the one on the
 * wire, signature_algorithms is present and matches the scheme list, no
 * extension type repeats, every extension lies inside the stored bytes, and
 * (when signature_algorithms comes first, as attex writes it) re-encoding
 * with the internal encoder gives back the input. attex_ea_get_context must
 * agree with the parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <attex/ea.h>
#include <attex/error.h>

#include "bytes.h"
#include "ea_msg.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ext_equal(attex_extension a, attex_extension b)
{
    return a.type == b.type && a.data == b.data && a.len == b.len;
}

static void check_extensions(const attex_ea_request *r, const uint8_t *raw, size_t raw_len)
{
    size_t n = attex_ea_request_num_extensions(r);
    FZ_CHECK(n >= 1); /* signature_algorithms at least */
    for (size_t i = 0; i < n; i++) {
        attex_extension e = attex_ea_request_extension(r, i);
        FZ_CHECK(fz_within(e.data, e.len, raw, raw_len));
        FZ_CHECK(e.len <= 0xffff);
        fz_touch(e.data, e.len);
        attex_extension f = {0xabcd, NULL, 7};
        FZ_CHECK(attex_ea_request_find_extension(r, e.type, &f) == 1);
        FZ_CHECK(ext_equal(e, f)); /* types are unique, so the first match is this one */
        FZ_CHECK(attex_ea_request_find_extension(r, e.type, NULL) == 1);
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(attex_ea_request_extension(r, j).type != e.type);
    }
    /* Out of range: the zero extension. */
    attex_extension none = attex_ea_request_extension(r, n);
    FZ_CHECK(none.type == 0 && none.data == NULL && none.len == 0);
    none = attex_ea_request_extension(r, SIZE_MAX);
    FZ_CHECK(none.type == 0 && none.data == NULL && none.len == 0);

    /* find_extension agrees with a linear scan, present or not. */
    static const uint16_t probes[] = {0x0000, 0x0005, 0x000d, 0x0032, 0xff00, 0xffff};
    for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
        int want = 0;
        for (size_t i = 0; i < n; i++)
            if (attex_ea_request_extension(r, i).type == probes[k])
                want = 1;
        attex_extension f;
        FZ_CHECK(attex_ea_request_find_extension(r, probes[k], &f) == want);
    }
}

static void check_schemes(const attex_ea_request *r)
{
    size_t ns = 0;
    const uint16_t *schemes = attex_ea_request_schemes(r, &ns);
    FZ_CHECK(ns >= 1 && ns <= 32767);
    FZ_CHECK(schemes != NULL);
    attex_extension sa;
    FZ_CHECK(attex_ea_request_find_extension(r, ATTEX_EXT_SIGNATURE_ALGORITHMS, &sa) == 1);
    /* RFC 8446 s4.2.3: supported_signature_algorithms<2..2^16-2>, exactly filling the extension. */
    FZ_CHECK(sa.len == 2 + 2 * ns);
    FZ_CHECK(((size_t)sa.data[0] << 8 | sa.data[1]) == 2 * ns);
    for (size_t i = 0; i < ns; i++) {
        FZ_CHECK(schemes[i] == ((uint16_t)(sa.data[2 + 2 * i] << 8 | sa.data[3 + 2 * i])));
        const char *name = attex_scheme_name(schemes[i]);
        if (name != NULL)
            fz_sink = (uint8_t)(fz_sink + (uint8_t)name[0]);
    }
}

/* With signature_algorithms first, attex's own encoder must reproduce the input. */
static void check_reencode(const attex_ea_request *r, const uint8_t *data, size_t size)
{
    size_t n = attex_ea_request_num_extensions(r);
    if (attex_ea_request_extension(r, 0).type != ATTEX_EXT_SIGNATURE_ALGORITHMS)
        return;
    attex_extension *rest = NULL;
    if (n > 1) {
        rest = calloc(n - 1, sizeof(*rest));
        FZ_CHECK(rest != NULL);
        for (size_t i = 1; i < n; i++)
            rest[i - 1] = attex_ea_request_extension(r, i);
    }
    size_t ctx_len = 0, ns = 0;
    const uint8_t *ctx = attex_ea_request_context(r, &ctx_len);
    const uint16_t *schemes = attex_ea_request_schemes(r, &ns);
    attex_writer w;
    attex_buf out = ATTEX_BUF_INIT;
    wr_init(&w, ATTEX_EA_MAX_MESSAGE);
    ea_encode_request(&w, attex_ea_request_type(r), ctx, ctx_len, schemes, ns, rest, n - 1);
    FZ_CHECK(wr_finish(&w, &out));
    FZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
    attex_buf_free(&out);
    free(rest);
}

static void check_request(const attex_ea_request *r, const uint8_t *data, size_t size)
{
    uint8_t type = attex_ea_request_type(r);
    FZ_CHECK(type == ATTEX_HS_CERTIFICATE_REQUEST || type == ATTEX_HS_CLIENT_CERTIFICATE_REQUEST);
    FZ_CHECK(size >= 4 && type == data[0]);

    /* The stored bytes are an owned copy of the input. */
    size_t raw_len = 0;
    const uint8_t *raw = attex_ea_request_bytes(r, &raw_len);
    FZ_CHECK(raw != NULL && raw != data);
    FZ_CHECK(raw_len == size && memcmp(raw, data, size) == 0);
    FZ_CHECK(((size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]) == size - 4);

    /* The context: 1..255 bytes, the ones on the wire right after the header. */
    size_t ctx_len = 0;
    const uint8_t *ctx = attex_ea_request_context(r, &ctx_len);
    FZ_CHECK(ctx != NULL);
    FZ_CHECK(ctx_len >= 1 && ctx_len <= ATTEX_EA_MAX_CONTEXT);
    FZ_CHECK(size >= 5 + ctx_len && data[4] == ctx_len);
    FZ_CHECK(memcmp(ctx, data + 5, ctx_len) == 0);
    fz_touch(ctx, ctx_len);

    check_extensions(r, raw, raw_len);
    check_schemes(r);
    check_reencode(r, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static attex_ea_request sentinel; /* the parser must reset *out to NULL on failure */
    attex_error err;
    attex_ea_request *r = &sentinel;
    memset(&err, 0, sizeof(err));
    int ret = attex_ea_request_parse(data, size, &r, &err);
    if (ret == ATTEX_OK) {
        FZ_CHECK(r != NULL);
        check_request(r, data, size);
    } else {
        FZ_CHECK(r == NULL);
        fz_check_error(&err, ret);
    }

    /* attex_ea_get_context must agree with the parser on requests. */
    uint8_t ctx[ATTEX_EA_MAX_CONTEXT];
    size_t ctx_len = SIZE_MAX;
    attex_error gerr;
    memset(&gerr, 0, sizeof(gerr));
    int gret = attex_ea_get_context(data, size, ctx, &ctx_len, &gerr);
    if (ret == ATTEX_OK) {
        size_t want_len = 0;
        const uint8_t *want = attex_ea_request_context(r, &want_len);
        FZ_CHECK(gret == ATTEX_OK);
        FZ_CHECK(ctx_len == want_len && memcmp(ctx, want, want_len) == 0);
    } else if (size > 0 && (data[0] == ATTEX_HS_CERTIFICATE_REQUEST ||
                            data[0] == ATTEX_HS_CLIENT_CERTIFICATE_REQUEST)) {
        FZ_CHECK(gret == ret);
    }
    if (gret == ATTEX_OK)
        FZ_CHECK(ctx_len <= ATTEX_EA_MAX_CONTEXT);
    else
        fz_check_error(&gerr, gret);

    attex_ea_request_free(r);
    return 0;
}
