/*
 * attex: the shim framing (PROTOCOL.md s5). No I/O: bytes in, frames out.
 */
#include <stdlib.h>
#include <string.h>

#include <attex/frame.h>

#include "bytes.h"
#include "internal.h"

#define FRAME_FAIL(err, ...) \
    attex_fail((err), ATTEX_ERR_DECODE, ATTEX_ALERT_NONE, __VA_ARGS__)

int attex_frame_decoder_init(attex_frame_decoder *d, size_t max_payload, attex_error *err)
{
    memset(d, 0, sizeof(*d));
    if (max_payload == 0)
        max_payload = ATTEX_FRAME_DEFAULT_MAX_PAYLOAD;
    if (max_payload > ATTEX_FRAME_LIMIT_MAX_PAYLOAD)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the maximum frame payload can be at most %u bytes, not %zu",
                          ATTEX_FRAME_LIMIT_MAX_PAYLOAD, max_payload);
    d->max_payload = max_payload;
    return ATTEX_OK;
}

void attex_frame_decoder_free(attex_frame_decoder *d)
{
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

size_t attex_frame_decoder_pending(const attex_frame_decoder *d) { return d->len - d->start; }

static int decoder_failed(attex_frame_decoder *d, int code, attex_error *err, const char *what)
{
    d->failed = 1;
    return attex_fail(err, code, ATTEX_ALERT_NONE, "%s", what);
}

int attex_frame_decoder_feed(attex_frame_decoder *d, const uint8_t *in, size_t in_len,
                             attex_error *err)
{
    if (d->failed)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the frame stream already failed; the connection must be closed");
    if (in_len == 0)
        return ATTEX_OK;
    size_t pending = d->len - d->start;
    size_t limit = ATTEX_FRAME_HEADER_LEN + d->max_payload;
    /* Bounded memory: never hold more than one maximal frame that is not yet decoded. */
    if (in_len > limit || pending > limit - in_len)
        return decoder_failed(d, ATTEX_ERR_DECODE, err,
                              "the peer sent more than one maximal frame of undecoded bytes "
                              "(a frame longer than the maximum)");
    if (d->start > 0 && d->len + in_len > d->cap) {
        memmove(d->buf, d->buf + d->start, pending);
        d->len = pending;
        d->start = 0;
    }
    if (d->len + in_len > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + in_len)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        uint8_t *p = realloc(d->buf, cap);
        if (p == NULL)
            return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                              "out of memory");
        d->buf = p;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, in, in_len);
    d->len += in_len;
    return ATTEX_OK;
}

int attex_frame_decoder_next(attex_frame_decoder *d, attex_frame *out, attex_error *err)
{
    if (d->failed)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the frame stream already failed; the connection must be closed");
    attex_reader r, payload;
    uint8_t type;
    uint32_t len;
    rd_init(&r, d->buf ? d->buf + d->start : NULL, d->len - d->start);
    if (!rd_u8(&r, &type))
        return 0;
    /* PROTOCOL.md s5: any other type closes the connection. */
    if (type < ATTEX_FRAME_REQUEST || type > ATTEX_FRAME_DATA) {
        d->failed = 1;
        return FRAME_FAIL(err, "unknown frame type 0x%02x", type);
    }
    if (!rd_u32(&r, &len))
        return 0;
    /* PROTOCOL.md s5: a length above the configured maximum closes the connection. */
    if (len > d->max_payload) {
        d->failed = 1;
        return FRAME_FAIL(err, "frame of type 0x%02x announces %u bytes; the maximum is %zu",
                          type, len, d->max_payload);
    }
    /* PROTOCOL.md s5: DATA carries at least one byte. */
    if (type == ATTEX_FRAME_DATA && len == 0) {
        d->failed = 1;
        return FRAME_FAIL(err, "empty DATA frame");
    }
    if (!rd_sub(&r, len, &payload))
        return 0;
    out->type = type;
    out->payload = rd_ptr(&payload);
    out->len = rd_len(&payload);
    d->start += ATTEX_FRAME_HEADER_LEN + (size_t)len;
    if (d->start == d->len)
        d->start = d->len = 0;
    return 1;
}

int attex_frame_decoder_finish(const attex_frame_decoder *d, attex_error *err)
{
    size_t pending = d->len - d->start;
    if (pending != 0)
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "the stream ended inside a frame (%zu bytes of a truncated frame)",
                          pending);
    return ATTEX_OK;
}

int attex_frame_encode(attex_buf *out, uint8_t type, const uint8_t *payload, size_t len,
                       attex_error *err)
{
    if (out == NULL || type < ATTEX_FRAME_REQUEST || type > ATTEX_FRAME_DATA ||
        (len && payload == NULL) || len > ATTEX_FRAME_LIMIT_MAX_PAYLOAD)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_frame_encode needs an output, a known type and at most %u "
                          "payload bytes",
                          ATTEX_FRAME_LIMIT_MAX_PAYLOAD);
    if (type == ATTEX_FRAME_DATA && len == 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "a DATA frame carries at least one byte");
    attex_writer w;
    wr_adopt(&w, out, SIZE_MAX);
    wr_u8(&w, type);
    wr_u32(&w, (uint32_t)len);
    wr_bytes(&w, payload, len);
    if (!wr_finish(&w, out))
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    return ATTEX_OK;
}

/* Reasons are shown to people: well-formed UTF-8, no control characters but tab. */
static int reason_ok(const uint8_t *p, size_t n)
{
    if (!bytes_utf8_valid(p, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return 0;
    return 1;
}

int attex_frame_verdict_parse(const uint8_t *payload, size_t len, attex_verdict_frame *out,
                              attex_error *err)
{
    attex_reader r, ctx;
    uint8_t status;
    rd_init(&r, payload, len);
    if (!rd_u8(&r, &status) || !rd_prefixed8(&r, &ctx))
        return FRAME_FAIL(err, "VERDICT frame too short for its status and context");
    if (status > 1)
        return FRAME_FAIL(err, "VERDICT status %u is neither 0 (rejected) nor 1 (accepted)",
                          status);
    /* PROTOCOL.md s1: contexts are 1..255 bytes. */
    if (rd_len(&ctx) == 0)
        return FRAME_FAIL(err, "VERDICT frame with an empty context");
    if (!reason_ok(rd_ptr(&r), rd_len(&r)))
        return FRAME_FAIL(err, "VERDICT reason is not printable UTF-8");
    out->accepted = status;
    out->context = rd_ptr(&ctx);
    out->context_len = rd_len(&ctx);
    out->reason = (const char *)rd_ptr(&r);
    out->reason_len = rd_len(&r);
    return ATTEX_OK;
}

int attex_frame_verdict_encode(attex_buf *out, int accepted, const uint8_t *context,
                               size_t context_len, const char *reason, attex_error *err)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (out == NULL || context == NULL || context_len == 0 || context_len > 255)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "a VERDICT needs a 1..255-byte context");
    if (!reason_ok((const uint8_t *)reason, rlen) || rlen > ATTEX_FRAME_DEFAULT_MAX_PAYLOAD - 257)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "a VERDICT reason must be printable UTF-8 and fit in a frame");
    attex_writer w;
    attex_buf payload = ATTEX_BUF_INIT;
    wr_init(&w, ATTEX_FRAME_DEFAULT_MAX_PAYLOAD);
    wr_u8(&w, accepted ? 1 : 0);
    attex_wr_mark m = wr_open(&w, 1);
    wr_bytes(&w, context, context_len);
    wr_close(&w, m);
    wr_bytes(&w, (const uint8_t *)reason, rlen);
    if (!wr_finish(&w, &payload))
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    int ret = attex_frame_encode(out, ATTEX_FRAME_VERDICT, payload.data, payload.len, err);
    attex_buf_free(&payload);
    return ret;
}
