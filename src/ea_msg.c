/*
 * attex internal: RFC 9261 message codecs.
 */
#include "ea_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DECODE_FAIL(err, ...) \
    attex_fail((err), ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR, __VA_ARGS__)

void ea_extensions_free(ea_extensions *e)
{
    free(e->items);
    e->items = NULL;
    e->num = 0;
}

int ea_extensions_find(const ea_extensions *e, uint16_t type, attex_extension *out)
{
    for (size_t i = 0; i < e->num; i++) {
        if (e->items[i].type == type) {
            if (out)
                *out = e->items[i];
            return 1;
        }
    }
    return 0;
}

/*
 * Decodes a block of Extension structures (RFC 8446 s4.2) that fills
 * `block` exactly. `where` names the block in error messages.
 */
static int decode_extensions(attex_reader block, const char *where, ea_extensions *out,
                             attex_error *err)
{
    attex_reader scan = block;
    size_t count = 0;
    out->items = NULL;
    out->num = 0;
    while (!rd_done(&scan)) {
        uint16_t type;
        attex_reader data;
        if (!rd_u16(&scan, &type) || !rd_prefixed16(&scan, &data))
            return DECODE_FAIL(err, "%s: extension %zu is truncated or its length is wrong",
                               where, count);
        count++;
    }
    if (count == 0)
        return ATTEX_OK;
    out->items = calloc(count, sizeof(*out->items));
    /* One bit per extension type: duplicate detection in linear time. */
    uint8_t *seen = calloc(65536 / 8, 1);
    if (out->items == NULL || seen == NULL) {
        free(seen);
        ea_extensions_free(out);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        uint16_t type;
        attex_reader data;
        if (!rd_u16(&block, &type) || !rd_prefixed16(&block, &data)) {
            free(seen);
            ea_extensions_free(out);
            return DECODE_FAIL(err, "%s: extension %zu is truncated", where, i);
        }
        /* RFC 8446 s4.2: no more than one extension of the same type in a block. */
        if (seen[type >> 3] & (1u << (type & 7))) {
            free(seen);
            ea_extensions_free(out);
            return attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                              "%s: extension type 0x%04x appears twice", where, type);
        }
        seen[type >> 3] |= (uint8_t)(1u << (type & 7));
        out->items[i].type = type;
        out->items[i].data = rd_ptr(&data);
        out->items[i].len = rd_len(&data);
        out->num++;
    }
    free(seen);
    return ATTEX_OK;
}

/* Reads one handshake message: its type, its body, and the whole message span. */
static int read_handshake(attex_reader *r, uint8_t *type, attex_reader *body,
                          attex_reader *whole)
{
    attex_reader start = *r;
    if (!rd_u8(r, type) || !rd_prefixed24(r, body)) {
        *r = start;
        return 0;
    }
    return rd_sub(&start, 4 + rd_len(body), whole);
}

void attex_ea_request_free(attex_ea_request *req)
{
    if (req == NULL)
        return;
    ea_extensions_free(&req->exts);
    free(req->schemes);
    free(req->raw);
    free(req);
}

int ea_decode_request(const uint8_t *in, size_t in_len, attex_ea_request **out,
                      attex_error *err)
{
    *out = NULL;
    if (in == NULL || in_len == 0)
        return DECODE_FAIL(err, "the authenticator request is empty");
    if (in_len > ATTEX_EA_MAX_MESSAGE)
        return DECODE_FAIL(err, "the authenticator request is larger than %u bytes",
                           ATTEX_EA_MAX_MESSAGE);
    attex_ea_request *req = calloc(1, sizeof(*req));
    if (req == NULL || (req->raw = malloc(in_len)) == NULL) {
        free(req);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    }
    memcpy(req->raw, in, in_len);
    req->raw_len = in_len;

    int ret;
    attex_reader r, body, whole, context, exts_block;
    rd_init(&r, req->raw, req->raw_len);
    if (!read_handshake(&r, &req->type, &body, &whole)) {
        ret = DECODE_FAIL(err, "the authenticator request's handshake header or length is wrong");
        goto fail;
    }
    /* RFC 9261 s4: a request is a CertificateRequest or a ClientCertificateRequest. */
    if (req->type != ATTEX_HS_CERTIFICATE_REQUEST &&
        req->type != ATTEX_HS_CLIENT_CERTIFICATE_REQUEST) {
        ret = attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                         "handshake type %u is not an authenticator request (13 or 17)",
                         req->type);
        goto fail;
    }
    if (!rd_done(&r)) {
        ret = DECODE_FAIL(err, "%zu bytes trail the authenticator request", rd_len(&r));
        goto fail;
    }
    if (!rd_prefixed8(&body, &context) || !rd_prefixed16(&body, &exts_block) || !rd_done(&body)) {
        ret = DECODE_FAIL(err, "the authenticator request's body lengths are inconsistent");
        goto fail;
    }
    /* Profile (PROTOCOL.md s1): contexts are 1..255 bytes and unpredictable. */
    if (rd_len(&context) == 0) {
        ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                         "the authenticator request has an empty certificate_request_context");
        goto fail;
    }
    req->context_len = rd_len(&context);
    if (!rd_copy(&context, req->context, req->context_len)) {
        ret = DECODE_FAIL(err, "internal: context copy");
        goto fail;
    }
    if ((ret = decode_extensions(exts_block, "authenticator request", &req->exts, err)) !=
        ATTEX_OK)
        goto fail;

    /* RFC 9261 s4 / RFC 8446 s4.3.2: signature_algorithms MUST be present. */
    attex_extension sa;
    if (!ea_extensions_find(&req->exts, ATTEX_EXT_SIGNATURE_ALGORITHMS, &sa)) {
        ret = attex_fail(err, ATTEX_ERR_MISSING_EXTENSION, ATTEX_ALERT_MISSING_EXTENSION,
                         "the authenticator request has no signature_algorithms extension");
        goto fail;
    }
    attex_reader sa_r, list;
    rd_init(&sa_r, sa.data, sa.len);
    /* RFC 8446 s4.2.3: supported_signature_algorithms<2..2^16-2>. */
    if (!rd_prefixed16(&sa_r, &list) || !rd_done(&sa_r) || rd_len(&list) < 2 ||
        rd_len(&list) % 2 != 0) {
        ret = DECODE_FAIL(err, "the signature_algorithms extension is malformed");
        goto fail;
    }
    req->num_schemes = rd_len(&list) / 2;
    req->schemes = calloc(req->num_schemes, sizeof(uint16_t));
    if (req->schemes == NULL) {
        ret = attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < req->num_schemes; i++) {
        if (!rd_u16(&list, &req->schemes[i])) {
            ret = DECODE_FAIL(err, "internal: scheme list");
            goto fail;
        }
    }
    *out = req;
    return ATTEX_OK;
fail:
    attex_ea_request_free(req);
    return ret;
}

int ea_decode_certificate(attex_reader body, ea_auth_msgs *out, attex_error *err)
{
    attex_reader list;
    /* RFC 8446 s4.4.2: context<0..2^8-1>, certificate_list<0..2^24-1>. */
    if (!rd_prefixed8(&body, &out->context) || !rd_prefixed24(&body, &list) || !rd_done(&body))
        return DECODE_FAIL(err, "the Certificate message's lengths are inconsistent");

    attex_reader scan = list;
    size_t count = 0;
    while (!rd_done(&scan)) {
        attex_reader cert, exts;
        if (!rd_prefixed24(&scan, &cert) || !rd_prefixed16(&scan, &exts))
            return DECODE_FAIL(err, "CertificateEntry %zu is truncated or its length is wrong",
                               count);
        /* RFC 8446 s4.4.2: cert_data<1..2^24-1>. */
        if (rd_len(&cert) == 0)
            return DECODE_FAIL(err, "CertificateEntry %zu has an empty certificate", count);
        count++;
    }
    if (count == 0)
        return ATTEX_OK;
    out->entries = calloc(count, sizeof(*out->entries));
    if (out->entries == NULL)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    for (size_t i = 0; i < count; i++) {
        attex_reader exts;
        char where[48];
        if (!rd_prefixed24(&list, &out->entries[i].cert_der) || !rd_prefixed16(&list, &exts))
            return DECODE_FAIL(err, "internal: certificate entry");
        out->num_entries++;
        snprintf(where, sizeof(where), "CertificateEntry %zu", i);
        int ret = decode_extensions(exts, where, &out->entries[i].exts, err);
        if (ret != ATTEX_OK)
            return ret;
    }
    return ATTEX_OK;
}

int ea_decode_certificate_verify(attex_reader body, ea_auth_msgs *out, attex_error *err)
{
    /* RFC 8446 s4.4.3: SignatureScheme algorithm; opaque signature<0..2^16-1>. */
    if (!rd_u16(&body, &out->scheme) || !rd_prefixed16(&body, &out->signature) ||
        !rd_done(&body))
        return DECODE_FAIL(err, "the CertificateVerify message's lengths are inconsistent");
    return ATTEX_OK;
}

int ea_decode_finished(attex_reader body, size_t hash_len, ea_auth_msgs *out, attex_error *err)
{
    /* RFC 8446 s4.4.4: verify_data is exactly Hash.length bytes. */
    if (rd_len(&body) != hash_len)
        return DECODE_FAIL(err, "the Finished message is %zu bytes; the suite hash needs %zu",
                           rd_len(&body), hash_len);
    out->finished = body;
    return ATTEX_OK;
}

void ea_auth_msgs_free(ea_auth_msgs *m)
{
    for (size_t i = 0; i < m->num_entries; i++)
        ea_extensions_free(&m->entries[i].exts);
    free(m->entries);
    memset(m, 0, sizeof(*m));
}

int ea_decode_authenticator(const uint8_t *in, size_t in_len, size_t hash_len,
                            ea_auth_msgs *out, attex_error *err)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL || in_len == 0)
        return DECODE_FAIL(err, "the authenticator is empty");
    if (in_len > ATTEX_EA_MAX_MESSAGE)
        return DECODE_FAIL(err, "the authenticator is larger than %u bytes", ATTEX_EA_MAX_MESSAGE);

    attex_reader r, body, whole;
    uint8_t type;
    int ret;
    rd_init(&r, in, in_len);
    if (!read_handshake(&r, &type, &body, &whole))
        return DECODE_FAIL(err, "the authenticator's first handshake header or length is wrong");

    if (type == ATTEX_HS_FINISHED) {
        /* RFC 9261 s6: the empty authenticator is a lone Finished. */
        out->empty = 1;
        if ((ret = ea_decode_finished(body, hash_len, out, err)) != ATTEX_OK)
            return ret;
        if (!rd_done(&r))
            return DECODE_FAIL(err, "%zu bytes trail the empty authenticator", rd_len(&r));
        return ATTEX_OK;
    }
    /* RFC 9261 s5.2.4: Certificate || CertificateVerify || Finished. */
    if (type != ATTEX_HS_CERTIFICATE)
        return attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                          "an authenticator starts with Certificate (11) or Finished (20), "
                          "not handshake type %u",
                          type);
    out->certificate = whole;
    if ((ret = ea_decode_certificate(body, out, err)) != ATTEX_OK)
        goto fail;
    if (out->num_entries == 0) {
        /* RFC 9261 s6: a refusal omits Certificate and CertificateVerify altogether. */
        ret = DECODE_FAIL(err, "the Certificate message has no certificates; a refusal must be "
                               "an empty authenticator (Finished only)");
        goto fail;
    }

    if (!read_handshake(&r, &type, &body, &whole)) {
        ret = DECODE_FAIL(err, "the CertificateVerify header or length is wrong or missing");
        goto fail;
    }
    if (type != ATTEX_HS_CERTIFICATE_VERIFY) {
        ret = attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                         "expected CertificateVerify (15) after Certificate, got type %u", type);
        goto fail;
    }
    out->certificate_verify = whole;
    if ((ret = ea_decode_certificate_verify(body, out, err)) != ATTEX_OK)
        goto fail;

    if (!read_handshake(&r, &type, &body, &whole)) {
        ret = DECODE_FAIL(err, "the Finished header or length is wrong or missing");
        goto fail;
    }
    if (type != ATTEX_HS_FINISHED) {
        ret = attex_fail(err, ATTEX_ERR_UNEXPECTED_MESSAGE, ATTEX_ALERT_UNEXPECTED_MESSAGE,
                         "expected Finished (20) after CertificateVerify, got type %u", type);
        goto fail;
    }
    if ((ret = ea_decode_finished(body, hash_len, out, err)) != ATTEX_OK)
        goto fail;
    if (!rd_done(&r)) {
        ret = DECODE_FAIL(err, "%zu bytes trail the authenticator", rd_len(&r));
        goto fail;
    }
    return ATTEX_OK;
fail:
    ea_auth_msgs_free(out);
    return ret;
}

/* ---------------------------------------------------------------------- */

static void encode_extensions(attex_writer *w, const attex_extension *exts, size_t num)
{
    attex_wr_mark block = wr_open(w, 2);
    for (size_t i = 0; i < num; i++) {
        wr_u16(w, exts[i].type);
        attex_wr_mark data = wr_open(w, 2);
        wr_bytes(w, exts[i].data, exts[i].len);
        wr_close(w, data);
    }
    wr_close(w, block);
}

void ea_encode_request(attex_writer *w, uint8_t type, const uint8_t *context,
                       size_t context_len, const uint16_t *schemes, size_t num_schemes,
                       const attex_extension *exts, size_t num_exts)
{
    wr_u8(w, type);
    attex_wr_mark body = wr_open(w, 3);
    attex_wr_mark ctx = wr_open(w, 1);
    wr_bytes(w, context, context_len);
    wr_close(w, ctx);
    attex_wr_mark block = wr_open(w, 2);
    wr_u16(w, ATTEX_EXT_SIGNATURE_ALGORITHMS);
    attex_wr_mark sa = wr_open(w, 2);
    attex_wr_mark list = wr_open(w, 2);
    for (size_t i = 0; i < num_schemes; i++)
        wr_u16(w, schemes[i]);
    wr_close(w, list);
    wr_close(w, sa);
    for (size_t i = 0; i < num_exts; i++) {
        wr_u16(w, exts[i].type);
        attex_wr_mark data = wr_open(w, 2);
        wr_bytes(w, exts[i].data, exts[i].len);
        wr_close(w, data);
    }
    wr_close(w, block);
    wr_close(w, body);
}

void ea_encode_certificate(attex_writer *w, const uint8_t *context, size_t context_len,
                           const attex_buf *certs, size_t num_certs,
                           const attex_extension *exts, size_t num_exts)
{
    wr_u8(w, ATTEX_HS_CERTIFICATE);
    attex_wr_mark body = wr_open(w, 3);
    attex_wr_mark ctx = wr_open(w, 1);
    wr_bytes(w, context, context_len);
    wr_close(w, ctx);
    attex_wr_mark list = wr_open(w, 3);
    for (size_t i = 0; i < num_certs; i++) {
        attex_wr_mark cert = wr_open(w, 3);
        wr_bytes(w, certs[i].data, certs[i].len);
        wr_close(w, cert);
        encode_extensions(w, i == 0 ? exts : NULL, i == 0 ? num_exts : 0);
    }
    wr_close(w, list);
    wr_close(w, body);
}

void ea_encode_certificate_verify(attex_writer *w, uint16_t scheme, const uint8_t *sig,
                                  size_t sig_len)
{
    wr_u8(w, ATTEX_HS_CERTIFICATE_VERIFY);
    attex_wr_mark body = wr_open(w, 3);
    wr_u16(w, scheme);
    attex_wr_mark s = wr_open(w, 2);
    wr_bytes(w, sig, sig_len);
    wr_close(w, s);
    wr_close(w, body);
}

void ea_encode_finished(attex_writer *w, const uint8_t *verify_data, size_t len)
{
    wr_u8(w, ATTEX_HS_FINISHED);
    attex_wr_mark body = wr_open(w, 3);
    wr_bytes(w, verify_data, len);
    wr_close(w, body);
}
