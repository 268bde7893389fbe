/*
 * libFuzzer target: the authenticator decoder (RFC 9261 s5.2.4, s6).
 *
 * Runs the internal decoder ea_decode_authenticator on the input with both
 * suite hash lengths (32 and 48), walks every CertificateEntry and extension
 * it returns and checks the structure it claims: every span lies where the
 * wire says, Certificate || CertificateVerify || Finished cover the input
 * exactly, extension types are unique per entry, and re-encoding with the
 * internal encoders gives the input back. attex_ea_get_context must agree
 * with the decoder.
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

static size_t be24(const uint8_t *p) { return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2]; }

static void check_extensions(const ea_extensions *e, const uint8_t *base, size_t len)
{
    FZ_CHECK(e->num == 0 || e->items != NULL);
    for (size_t i = 0; i < e->num; i++) {
        attex_extension x = e->items[i];
        FZ_CHECK(fz_within(x.data, x.len, base, len));
        FZ_CHECK(x.len <= 0xffff);
        fz_touch(x.data, x.len);
        /* Types are unique, so find returns this very extension. */
        attex_extension f = {0, NULL, 0};
        FZ_CHECK(ea_extensions_find(e, x.type, &f) == 1);
        FZ_CHECK(f.type == x.type && f.data == x.data && f.len == x.len);
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(e->items[j].type != x.type);
    }
}

/* Re-encodes the decoded messages with attex's encoders; they must match the input. */
static void check_reencode(const ea_auth_msgs *m, const uint8_t *data, size_t size,
                           size_t hash_len)
{
    /* ea_encode_certificate puts extensions in the first entry only. */
    for (size_t i = 1; i < m->num_entries; i++)
        if (m->entries[i].exts.num != 0)
            return;
    attex_buf *ders = calloc(m->num_entries, sizeof(*ders));
    FZ_CHECK(ders != NULL);
    for (size_t i = 0; i < m->num_entries; i++) {
        /* attex_buf holds a mutable pointer; the encoder only reads it. */
        const uint8_t *p = rd_ptr(&m->entries[i].cert_der);
        memcpy(&ders[i].data, &p, sizeof(p));
        ders[i].len = rd_len(&m->entries[i].cert_der);
    }
    attex_writer w;
    attex_buf out = ATTEX_BUF_INIT;
    wr_init(&w, ATTEX_EA_MAX_MESSAGE);
    ea_encode_certificate(&w, rd_ptr(&m->context), rd_len(&m->context), ders, m->num_entries,
                          m->entries[0].exts.items, m->entries[0].exts.num);
    ea_encode_certificate_verify(&w, m->scheme, rd_ptr(&m->signature), rd_len(&m->signature));
    ea_encode_finished(&w, rd_ptr(&m->finished), hash_len);
    FZ_CHECK(wr_finish(&w, &out));
    FZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
    attex_buf_free(&out);
    free(ders);
}

static void check_decoded(const ea_auth_msgs *m, const uint8_t *data, size_t size,
                          size_t hash_len)
{
    /* Finished is always last and exactly Hash.length bytes. */
    FZ_CHECK(size >= 4 + hash_len);
    FZ_CHECK(rd_len(&m->finished) == hash_len);
    FZ_CHECK(rd_ptr(&m->finished) == data + size - hash_len);
    FZ_CHECK(data[size - hash_len - 4] == ATTEX_HS_FINISHED);
    FZ_CHECK(be24(data + size - hash_len - 3) == hash_len);
    fz_touch(rd_ptr(&m->finished), hash_len);

    if (m->empty) {
        /* RFC 9261 s6: a lone Finished. */
        FZ_CHECK(size == 4 + hash_len);
        FZ_CHECK(m->num_entries == 0 && m->entries == NULL);
        FZ_CHECK(rd_len(&m->certificate) == 0 && rd_len(&m->certificate_verify) == 0);
        return;
    }

    /* Certificate: at the start, header included. */
    const uint8_t *cert = rd_ptr(&m->certificate);
    size_t cert_len = rd_len(&m->certificate);
    FZ_CHECK(cert == data && cert_len >= 4 + 1 + 3);
    FZ_CHECK(data[0] == ATTEX_HS_CERTIFICATE && be24(data + 1) == cert_len - 4);
    FZ_CHECK(rd_len(&m->context) <= ATTEX_EA_MAX_CONTEXT);
    FZ_CHECK(data[4] == rd_len(&m->context));
    FZ_CHECK(rd_len(&m->context) == 0 || rd_ptr(&m->context) == data + 5);
    fz_touch(rd_ptr(&m->context), rd_len(&m->context));

    FZ_CHECK(m->num_entries >= 1 && m->entries != NULL);
    size_t list_len = be24(data + 5 + rd_len(&m->context));
    FZ_CHECK(cert_len == 4 + 1 + rd_len(&m->context) + 3 + list_len);
    for (size_t i = 0; i < m->num_entries; i++) {
        const ea_cert_entry *e = &m->entries[i];
        FZ_CHECK(rd_len(&e->cert_der) >= 1);
        FZ_CHECK(fz_within(rd_ptr(&e->cert_der), rd_len(&e->cert_der), cert, cert_len));
        FZ_CHECK(be24(rd_ptr(&e->cert_der) - 3) == rd_len(&e->cert_der));
        fz_touch(rd_ptr(&e->cert_der), rd_len(&e->cert_der));
        check_extensions(&e->exts, cert, cert_len);
        /* Entries are in wire order and do not overlap. */
        if (i > 0)
            FZ_CHECK(rd_ptr(&e->cert_der) >=
                     rd_ptr(&m->entries[i - 1].cert_der) + rd_len(&m->entries[i - 1].cert_der));
    }

    /* CertificateVerify: right after the Certificate. */
    const uint8_t *cv = rd_ptr(&m->certificate_verify);
    size_t cv_len = rd_len(&m->certificate_verify);
    FZ_CHECK(cv == data + cert_len);
    FZ_CHECK(cv_len == 4 + 2 + 2 + rd_len(&m->signature));
    FZ_CHECK(cv[0] == ATTEX_HS_CERTIFICATE_VERIFY && be24(cv + 1) == cv_len - 4);
    FZ_CHECK(m->scheme == (uint16_t)(cv[4] << 8 | cv[5]));
    FZ_CHECK(rd_len(&m->signature) == 0 || rd_ptr(&m->signature) == cv + 8);
    fz_touch(rd_ptr(&m->signature), rd_len(&m->signature));
    const char *name = attex_scheme_name(m->scheme);
    if (name != NULL)
        fz_sink = (uint8_t)(fz_sink + (uint8_t)name[0]);

    /* Together the three messages are the input, nothing more. */
    FZ_CHECK(cert_len + cv_len + 4 + hash_len == size);

    check_reencode(m, data, size, hash_len);
}

/* Decodes with one hash length; returns 1 if the input was accepted. */
static int decode_one(const uint8_t *data, size_t size, size_t hash_len, ea_auth_msgs *keep)
{
    ea_auth_msgs m;
    attex_error err;
    memset(&err, 0, sizeof(err));
    memset(&m, 0xa5, sizeof(m)); /* the decoder must initialise everything */
    int ret = ea_decode_authenticator(data, size, hash_len, &m, &err);
    if (ret == ATTEX_OK) {
        check_decoded(&m, data, size, hash_len);
        *keep = m;
        return 1;
    }
    fz_check_error(&err, ret);
    /* A failed decode leaves nothing allocated. */
    FZ_CHECK(m.entries == NULL && m.num_entries == 0);
    ea_auth_msgs_free(&m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ea_auth_msgs m32, m48;
    memset(&m32, 0, sizeof(m32));
    memset(&m48, 0, sizeof(m48));
    int ok32 = decode_one(data, size, 32, &m32);
    int ok48 = decode_one(data, size, 48, &m48);
    /* Finished is exactly Hash.length bytes, so at most one length fits. */
    FZ_CHECK(!(ok32 && ok48));

    const ea_auth_msgs *m = ok32 ? &m32 : ok48 ? &m48 : NULL;
    uint8_t ctx[ATTEX_EA_MAX_CONTEXT];
    size_t ctx_len = SIZE_MAX;
    attex_error gerr;
    memset(&gerr, 0, sizeof(gerr));
    int gret = attex_ea_get_context(data, size, ctx, &ctx_len, &gerr);
    if (m != NULL && m->empty) {
        /* An empty authenticator carries no context (RFC 9261 s7.2). */
        FZ_CHECK(gret == ATTEX_ERR_INVALID_ARGUMENT);
    } else if (m != NULL) {
        FZ_CHECK(gret == ATTEX_OK);
        FZ_CHECK(ctx_len == rd_len(&m->context));
        FZ_CHECK(memcmp(ctx, rd_ptr(&m->context), ctx_len) == 0);
    }
    if (gret == ATTEX_OK)
        FZ_CHECK(ctx_len <= ATTEX_EA_MAX_CONTEXT);
    else
        fz_check_error(&gerr, gret);

    ea_auth_msgs_free(&m32);
    ea_auth_msgs_free(&m48);
    return 0;
}
