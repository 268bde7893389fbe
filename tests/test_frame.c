/*
 * The shim frame codec (PROTOCOL.md s5): encoding, incremental decoding
 * byte by byte and in bulk, VERDICT payloads, and every rejection.
 */
#include <stdlib.h>
#include <string.h>

#include <attex/frame.h>

#include "testutil.h"

static attex_error err;

static void test_roundtrip(void)
{
    attex_buf wire = ATTEX_BUF_INIT;
    static const uint8_t req[] = {0x11, 0, 0, 1, 7};
    static const uint8_t ctx[] = {1, 2, 3};
    CHECK_RC(attex_frame_encode(&wire, ATTEX_FRAME_REQUEST, req, sizeof(req), &err), ATTEX_OK,
             &err);
    CHECK_RC(attex_frame_encode(&wire, ATTEX_FRAME_AUTHENTICATOR, NULL, 0, &err), ATTEX_OK, &err);
    CHECK_RC(attex_frame_verdict_encode(&wire, 1, ctx, sizeof(ctx), "ok: affirming", &err),
             ATTEX_OK, &err);
    CHECK_RC(attex_frame_encode(&wire, ATTEX_FRAME_DATA, (const uint8_t *)"hello", 5, &err),
             ATTEX_OK, &err);
    /* Exact bytes of the first frame: type, u32 length, payload. */
    static const uint8_t first[] = {0x01, 0, 0, 0, 5, 0x11, 0, 0, 1, 7};
    CHECK(wire.len > sizeof(first) && memcmp(wire.data, first, sizeof(first)) == 0);
    CHECK(wire.len == 10 + 5 + (5 + 1 + 1 + 3 + 13) + (5 + 5));

    /* Fed in one piece, and byte by byte: the same four frames. */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        attex_frame_decoder d;
        attex_frame f;
        CHECK_RC(attex_frame_decoder_init(&d, 0, &err), ATTEX_OK, &err);
        int got = 0, bad = 0;
        uint8_t types[4] = {0};
        for (size_t i = 0; i < wire.len; i += bytewise ? 1 : wire.len) {
            size_t n = bytewise ? 1 : wire.len;
            if (attex_frame_decoder_feed(&d, wire.data + i, n, &err) != ATTEX_OK)
                bad++;
            int r;
            while ((r = attex_frame_decoder_next(&d, &f, &err)) == 1) {
                if (got < 4)
                    types[got] = f.type;
                if (f.type == ATTEX_FRAME_VERDICT) {
                    attex_verdict_frame v;
                    if (attex_frame_verdict_parse(f.payload, f.len, &v, &err) != ATTEX_OK ||
                        !v.accepted || v.context_len != 3 || v.reason_len != 13 ||
                        memcmp(v.reason, "ok: affirming", 13) != 0)
                        bad++;
                }
                if (f.type == ATTEX_FRAME_DATA && (f.len != 5 || memcmp(f.payload, "hello", 5)))
                    bad++;
                got++;
            }
            if (r < 0)
                bad++;
        }
        CHECK(got == 4 && bad == 0);
        CHECK(types[0] == ATTEX_FRAME_REQUEST && types[1] == ATTEX_FRAME_AUTHENTICATOR &&
              types[2] == ATTEX_FRAME_VERDICT && types[3] == ATTEX_FRAME_DATA);
        CHECK(attex_frame_decoder_pending(&d) == 0);
        CHECK_RC(attex_frame_decoder_finish(&d, &err), ATTEX_OK, &err);
        attex_frame_decoder_free(&d);
    }
    attex_buf_free(&wire);
}

/* One decoder fed `bytes`: the first failure's status, or 1 if a frame came out, 0 if none. */
static int decode(const uint8_t *bytes, size_t n, size_t max)
{
    attex_frame_decoder d;
    attex_frame f;
    int r = attex_frame_decoder_init(&d, max, &err);
    if (r == ATTEX_OK)
        r = attex_frame_decoder_feed(&d, bytes, n, &err);
    if (r == ATTEX_OK)
        r = attex_frame_decoder_next(&d, &f, &err);
    if (r == 0)
        r = attex_frame_decoder_finish(&d, &err) == ATTEX_OK ? 0 : ATTEX_ERR_DECODE;
    attex_frame_decoder_free(&d);
    return r;
}

static void test_rejections(void)
{
    static const uint8_t unknown[] = {0x05, 0, 0, 0, 1, 0};
    static const uint8_t zero[] = {0x00, 0, 0, 0, 0};
    static const uint8_t empty_data[] = {0x04, 0, 0, 0, 0};
    static const uint8_t big[] = {0x04, 0, 0x10, 0, 1}; /* 1 MiB + 1 */
    static const uint8_t at_limit_hdr[] = {0x02, 0, 0, 0, 16};
    static const uint8_t truncated[] = {0x01, 0, 0, 0, 4, 1, 2};
    CHECK_RC(decode(unknown, sizeof(unknown), 0), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "unknown frame type 0x05") != NULL);
    CHECK_RC(decode(zero, sizeof(zero), 0), ATTEX_ERR_DECODE, &err);
    CHECK_RC(decode(empty_data, sizeof(empty_data), 0), ATTEX_ERR_DECODE, &err);
    CHECK_RC(decode(big, sizeof(big), 0), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "maximum") != NULL);
    /* The limit is configurable and checked from the header alone. */
    CHECK_RC(decode(at_limit_hdr, sizeof(at_limit_hdr), 15), ATTEX_ERR_DECODE, &err);
    CHECK_RC(decode(at_limit_hdr, sizeof(at_limit_hdr), 15), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "maximum") != NULL);
    /* At the limit the header is fine; the stream then ends before the payload. */
    CHECK_RC(decode(at_limit_hdr, sizeof(at_limit_hdr), 16), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "truncated") != NULL);
    /* End of stream inside a frame, and inside a header. */
    CHECK_RC(decode(truncated, sizeof(truncated), 0), ATTEX_ERR_DECODE, &err);
    CHECK(strstr(err.message, "truncated") != NULL);
    CHECK_RC(decode(truncated, 3, 0), ATTEX_ERR_DECODE, &err);
    CHECK(decode(truncated, 0, 0) == 0);

    /* Feeding more than one maximal frame of undecoded bytes fails, and failure sticks. */
    attex_frame_decoder d;
    attex_frame f;
    uint8_t junk[64] = {0x02, 0, 0, 0, 40};
    CHECK_RC(attex_frame_decoder_init(&d, 40, &err), ATTEX_OK, &err);
    CHECK_RC(attex_frame_decoder_feed(&d, junk, 45, &err), ATTEX_OK, &err);
    CHECK_RC(attex_frame_decoder_feed(&d, junk, 1, &err), ATTEX_ERR_DECODE, &err);
    CHECK_RC(attex_frame_decoder_next(&d, &f, &err), ATTEX_ERR_DECODE, &err);
    CHECK_RC(attex_frame_decoder_feed(&d, junk, 1, &err), ATTEX_ERR_DECODE, &err);
    attex_frame_decoder_free(&d);
    CHECK_RC(attex_frame_decoder_init(&d, 0, &err), ATTEX_OK, &err);
    CHECK_RC(attex_frame_decoder_feed(&d, unknown, sizeof(unknown), &err), ATTEX_OK, &err);
    CHECK_RC(attex_frame_decoder_next(&d, &f, &err), ATTEX_ERR_DECODE, &err);
    CHECK_RC(attex_frame_decoder_next(&d, &f, &err), ATTEX_ERR_DECODE, &err);
    attex_frame_decoder_free(&d);
    CHECK_RC(attex_frame_decoder_init(&d, ATTEX_FRAME_LIMIT_MAX_PAYLOAD + 1, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);

    /* Encoder misuse. */
    attex_buf b = ATTEX_BUF_INIT;
    CHECK_RC(attex_frame_encode(&b, ATTEX_FRAME_DATA, NULL, 0, &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    CHECK_RC(attex_frame_encode(&b, 9, NULL, 0, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(b.len == 0);
}

static void test_verdicts(void)
{
    attex_verdict_frame v;
    static const uint8_t ok[] = {0, 2, 0xaa, 0xbb, 'n', 'o', '\t', 0xc3, 0xa9};
    CHECK_RC(attex_frame_verdict_parse(ok, sizeof(ok), &v, &err), ATTEX_OK, &err);
    CHECK(!v.accepted && v.context_len == 2 && v.reason_len == 5);
    static const uint8_t no_reason[] = {1, 1, 0x01};
    CHECK_RC(attex_frame_verdict_parse(no_reason, sizeof(no_reason), &v, &err), ATTEX_OK, &err);
    CHECK(v.accepted && v.reason_len == 0);
    static const uint8_t status2[] = {2, 1, 0x01};
    static const uint8_t no_ctx[] = {1, 0};
    static const uint8_t short_ctx[] = {1, 3, 0x01};
    static const uint8_t bad_utf8[] = {1, 1, 0x01, 0xc3};
    static const uint8_t overlong[] = {1, 1, 0x01, 0xc0, 0xaf};
    static const uint8_t surrogate[] = {1, 1, 0x01, 0xed, 0xa0, 0x80};
    static const uint8_t control[] = {1, 1, 0x01, 'a', '\n'};
    const struct {
        const uint8_t *p;
        size_t n;
    } bad[] = {{status2, sizeof(status2)},     {no_ctx, sizeof(no_ctx)},
               {short_ctx, sizeof(short_ctx)}, {bad_utf8, sizeof(bad_utf8)},
               {overlong, sizeof(overlong)},   {surrogate, sizeof(surrogate)},
               {control, sizeof(control)},     {ok, 1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_RC(attex_frame_verdict_parse(bad[i].p, bad[i].n, &v, &err), ATTEX_ERR_DECODE, &err);
    attex_buf b = ATTEX_BUF_INIT;
    static const uint8_t ctx[] = {9};
    CHECK_RC(attex_frame_verdict_encode(&b, 0, ctx, 1, "bad\nreason", &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_frame_verdict_encode(&b, 0, ctx, 0, "x", &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    CHECK_RC(attex_frame_verdict_encode(&b, 0, ctx, 1, NULL, &err), ATTEX_OK, &err);
    static const uint8_t want[] = {0x03, 0, 0, 0, 3, 0, 1, 9};
    CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);
    attex_buf_free(&b);
}

int main(void)
{
    attex_error_clear(&err);
    test_roundtrip();
    test_rejections();
    test_verdicts();
    return tu_finish("test_frame");
}
