/*
 * A fake attex_tls for the fuzz targets and fuzz/make_seeds.c (header only).
 *
 * get_info reports a completed TLS 1.3 handshake with SHA-256, the role
 * given in the fz_fake_tls, and attex_supported_schemes() as the ClientHello
 * schemes. export_keying_material is deterministic: every output byte is the
 * length of the label. Both ends of a "connection" therefore derive the same
 * exporter values, so an authenticator made by a fake server session
 * validates (even with the crypto checks on) on a fake client session.
 *
 * FZ_CONTEXT_* and fz_request_params() describe the one request every
 * fuzz_validate run issues: context 00..1f, default schemes, extensions
 * 0xFF00 and 0x0005 (both empty). The seeds for fuzz_validate answer it.
 */
#ifndef ATTEX_FUZZ_TLS_STUB_H
#define ATTEX_FUZZ_TLS_STUB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <attex/ea.h>
#include <attex/error.h>

typedef struct fz_fake_tls {
    attex_role role;
    attex_hash hash;
} fz_fake_tls;

static inline int fz_fake_get_info(void *ctx, attex_tls_info *out, attex_error *err)
{
    const fz_fake_tls *t = ctx;
    size_t n = 0;
    const uint16_t *schemes = attex_supported_schemes(&n);
    (void)err;
    memset(out, 0, sizeof(*out));
    out->version = 0x0304;
    out->handshake_complete = 1;
    out->role = t->role;
    out->hash = t->hash;
    if (n > ATTEX_MAX_HELLO_SCHEMES)
        n = ATTEX_MAX_HELLO_SCHEMES;
    memcpy(out->hello_schemes, schemes, n * sizeof(*schemes));
    out->num_hello_schemes = n;
    return ATTEX_OK;
}

static inline int fz_fake_export(void *ctx, const char *label, const uint8_t *context,
                                 size_t context_len, uint8_t *out, size_t out_len,
                                 attex_error *err)
{
    (void)ctx;
    (void)context;
    (void)context_len;
    (void)err;
    memset(out, (int)(strlen(label) & 0xff), out_len);
    return ATTEX_OK;
}

static inline attex_tls fz_fake_tls_iface(fz_fake_tls *t)
{
    attex_tls tls = {t, fz_fake_get_info, fz_fake_export};
    return tls;
}

#define FZ_CONTEXT_LEN 32

static inline void fz_fixed_context(uint8_t ctx[FZ_CONTEXT_LEN])
{
    for (size_t i = 0; i < FZ_CONTEXT_LEN; i++)
        ctx[i] = (uint8_t)i;
}

/* Points params at the fixed request; ctx and exts must outlive the call. */
static inline void fz_request_params(attex_ea_request_params *p, uint8_t ctx[FZ_CONTEXT_LEN],
                                     attex_extension exts[2])
{
    static const uint8_t nothing[1] = {0};
    fz_fixed_context(ctx);
    exts[0].type = 0xff00;
    exts[0].data = nothing;
    exts[0].len = 0;
    exts[1].type = 0x0005;
    exts[1].data = nothing;
    exts[1].len = 0;
    memset(p, 0, sizeof(*p));
    p->context = ctx;
    p->context_len = FZ_CONTEXT_LEN;
    p->extensions = exts;
    p->num_extensions = 2;
}

#endif /* ATTEX_FUZZ_TLS_STUB_H */
