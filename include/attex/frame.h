/*
 * attex: the shim framing (PROTOCOL.md s5).
 *
 * After the TLS handshake every byte in both directions is a frame:
 *
 *   frame = type:u8 || length:u32 (network order) || payload[length]
 *
 *   0x01 REQUEST        payload = authenticator request
 *   0x02 AUTHENTICATOR  payload = authenticator or empty authenticator
 *   0x03 VERDICT        payload = status:u8 (1 accepted, 0 rejected)
 *                                 || context_len:u8 || certificate_request_context
 *                                 || reason (UTF-8, rest of payload, may be empty)
 *   0x04 DATA           payload = application bytes (length >= 1)
 *
 * The decoder is incremental (bytes in as they arrive, frames out) and does
 * no I/O, so a TCP driver and a QUIC driver share it. It never buffers more
 * than one frame header plus the configured maximum payload, and rejects an
 * oversized length as soon as the header is complete.
 */
#ifndef ATTEX_FRAME_H
#define ATTEX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Frame types. */
enum {
    ATTEX_FRAME_REQUEST = 0x01,
    ATTEX_FRAME_AUTHENTICATOR = 0x02,
    ATTEX_FRAME_VERDICT = 0x03,
    ATTEX_FRAME_DATA = 0x04
};

/** Bytes in a frame header. */
#define ATTEX_FRAME_HEADER_LEN 5

/** Default and largest allowed maximum payload (PROTOCOL.md s5: default 1 MiB). */
#define ATTEX_FRAME_DEFAULT_MAX_PAYLOAD (1u << 20)
#define ATTEX_FRAME_LIMIT_MAX_PAYLOAD (64u << 20)

/** A decoded frame. `payload` points into the decoder and lives until its next call. */
typedef struct attex_frame {
    uint8_t type;
    const uint8_t *payload;
    size_t len;
} attex_frame;

/** An incremental frame decoder (see attex_frame_decoder_init). */
typedef struct attex_frame_decoder {
    uint8_t *buf;
    size_t len, cap, start;
    size_t max_payload;
    int failed;
} attex_frame_decoder;

/**
 * attex_frame_decoder_init prepares `d` to accept payloads up to
 * `max_payload` bytes (0 for the default; at most
 * ATTEX_FRAME_LIMIT_MAX_PAYLOAD).
 */
int attex_frame_decoder_init(attex_frame_decoder *d, size_t max_payload, attex_error *err);

/**
 * attex_frame_decoder_feed appends received bytes. It fails once the
 * decoder has failed, or when the bytes pending exceed one header plus the
 * maximum payload (the peer sent a frame longer than allowed).
 */
int attex_frame_decoder_feed(attex_frame_decoder *d, const uint8_t *in, size_t in_len,
                             attex_error *err);

/**
 * attex_frame_decoder_next returns 1 and sets *out to the next complete
 * frame, 0 when more bytes are needed, or a negative status: an unknown
 * type, a length above the maximum, or an empty DATA frame. After a failure
 * every later call fails: the connection must be closed.
 */
int attex_frame_decoder_next(attex_frame_decoder *d, attex_frame *out, attex_error *err);

/**
 * attex_frame_decoder_finish is called at the end of the stream: it fails
 * if part of a frame is still pending (a truncated frame).
 */
int attex_frame_decoder_finish(const attex_frame_decoder *d, attex_error *err);

/** attex_frame_decoder_pending returns the number of buffered, undecoded bytes. */
size_t attex_frame_decoder_pending(const attex_frame_decoder *d);

/** attex_frame_decoder_free releases the decoder's buffer. */
void attex_frame_decoder_free(attex_frame_decoder *d);

/**
 * attex_frame_encode appends one frame to `out` (which may already hold
 * bytes; it is grown). DATA must carry at least one byte.
 */
int attex_frame_encode(attex_buf *out, uint8_t type, const uint8_t *payload, size_t len,
                       attex_error *err);

/** A VERDICT payload, parsed. Pointers refer into the payload. */
typedef struct attex_verdict_frame {
    int accepted;
    const uint8_t *context;
    size_t context_len;
    const char *reason; /* not NUL-terminated */
    size_t reason_len;
} attex_verdict_frame;

/**
 * attex_frame_verdict_parse decodes a VERDICT payload strictly: status 0 or
 * 1, a 1..255-byte context that fits, and a reason that is valid UTF-8
 * without control characters other than tab.
 */
int attex_frame_verdict_parse(const uint8_t *payload, size_t len, attex_verdict_frame *out,
                              attex_error *err);

/**
 * attex_frame_verdict_encode appends a VERDICT frame to `out`. A reason
 * longer than fits, or with invalid UTF-8, is an invalid argument.
 */
int attex_frame_verdict_encode(attex_buf *out, int accepted, const uint8_t *context,
                               size_t context_len, const char *reason, attex_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_FRAME_H */
