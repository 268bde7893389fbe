/*
 * libFuzzer target: the shim frame decoder (PROTOCOL.md s5) and the VERDICT
 * parser. The first input byte picks how the rest is split into feeds (as
 * TCP may split it); the decoded frames must not depend on the split, and
 * re-encoding them must give back the consumed bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <attex/buf.h>
#include <attex/frame.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes `data` fed in chunks of `chunk` bytes; re-encodes every frame into *out. */
static int run(const uint8_t *data, size_t size, size_t chunk, attex_buf *out)
{
    attex_frame_decoder d;
    attex_error err;
    attex_frame f;
    int status = 0;
    if (attex_frame_decoder_init(&d, 4096, &err) != ATTEX_OK)
        abort();
    for (size_t off = 0; off < size && status >= 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (attex_frame_decoder_feed(&d, data + off, n, &err) != ATTEX_OK) {
            status = -1;
            break;
        }
        int r;
        while ((r = attex_frame_decoder_next(&d, &f, &err)) == 1) {
            if (f.type < ATTEX_FRAME_REQUEST || f.type > ATTEX_FRAME_DATA || f.len > 4096)
                abort();
            if (attex_frame_encode(out, f.type, f.payload, f.len, &err) != ATTEX_OK)
                abort();
            if (f.type == ATTEX_FRAME_VERDICT) {
                attex_verdict_frame v;
                if (attex_frame_verdict_parse(f.payload, f.len, &v, &err) == ATTEX_OK) {
                    attex_buf again = ATTEX_BUF_INIT;
                    char *reason = malloc(v.reason_len + 1);
                    if (v.reason_len)
                        memcpy(reason, v.reason, v.reason_len);
                    reason[v.reason_len] = 0;
                    /* A parsed VERDICT re-encodes to the same frame (unless it held a NUL). */
                    if (v.reason_len == 0 || memchr(v.reason, 0, v.reason_len) == NULL) {
                        if (attex_frame_verdict_encode(&again, v.accepted, v.context,
                                                       v.context_len, reason, &err) != ATTEX_OK ||
                            again.len != 5 + f.len || memcmp(again.data + 5, f.payload, f.len))
                            abort();
                    }
                    free(reason);
                    attex_buf_free(&again);
                }
            }
        }
        if (r < 0)
            status = -1;
    }
    if (status == 0 && attex_frame_decoder_finish(&d, &err) != ATTEX_OK)
        status = 1;
    attex_frame_decoder_free(&d);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++, size--;
    attex_buf whole = ATTEX_BUF_INIT, split = ATTEX_BUF_INIT;
    int a = run(data, size, size ? size : 1, &whole);
    int b = run(data, size, chunk, &split);
    /* The frames decoded before any failure are the same, however the bytes arrived. */
    size_t n = whole.len < split.len ? whole.len : split.len;
    if (memcmp(whole.data ? whole.data : (const uint8_t *)"", split.data ? split.data : (const uint8_t *)"", n) != 0)
        abort();
    if (a == 0 && b == 0 &&
        (whole.len != split.len || whole.len != size || (size && memcmp(whole.data, data, size))))
        abort();
    attex_buf_free(&whole);
    attex_buf_free(&split);
    return 0;
}
