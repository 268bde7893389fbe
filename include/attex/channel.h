/*
 * attex: the attested channel (PROTOCOL.md s4, s5).
 *
 * An attex_channel runs the attestation protocol over one established TLS
 * 1.3 connection: REQUEST / AUTHENTICATOR / VERDICT / DATA frames, mutual
 * attestation in one round trip, re-attestation with a deadline, and the
 * application-data gate: no application byte is delivered from, or sent to,
 * a peer whose required attestation has not been accepted.
 *
 * The channel does no I/O and reads no clock (like ngtcp2 or picotls): the
 * driver feeds it the plaintext it read from TLS (attex_channel_receive),
 * writes what it asks to send (attex_channel_output / _consume_output), passes
 * the time in milliseconds of a monotonic clock, and collects events. The
 * OpenSSL driver in <attex/openssl.h> does that for an SSL object, blocking
 * or with poll(); a QUIC driver can do the same on a stream.
 *
 * Every failure closes the channel: it queues a VERDICT (when a peer's
 * attestation was rejected), reports an ATTEX_EVENT_CLOSED with the reason,
 * and accepts nothing more.
 */
#ifndef ATTEX_CHANNEL_H
#define ATTEX_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/attest.h>
#include <attex/ea.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How a channel behaves. Zero-initialise, then set what you need. */
typedef struct attex_channel_config {
    /** The TLS connection (copied; tls->ctx must outlive the channel). */
    const attex_tls *tls;

    /* Our side: how we answer the peer's requests. */
    /** Our identity for authenticators; NULL: every request is refused (empty authenticator). */
    const attex_ea_identity *identity;
    /** Our attester; NULL: we authenticate without attestation. */
    const attex_attester *attester;

    /* The peer: what we require of it. */
    /** Nonzero: request the peer's attestation at start and gate data until it is accepted. */
    int require_peer;
    /** Verifiers and verdict policy for the peer's attestation (code_point included). */
    const attex_attest_policy *policy;
    /** RFC 9261 validation options (trust store, ...), may be NULL. */
    const attex_ea_validate_opts *validate_opts;
    /** Time allowed for the peer to answer each request, ms; 0 for 10000. */
    uint32_t deadline_ms;
    /** Re-attest the peer this often, ms; 0 for never (on demand only). */
    uint32_t reattest_interval_ms;
    /** Largest frame payload accepted, bytes; 0 for 1 MiB. */
    size_t max_frame;
    /** Application bytes buffered while the gate is closed; 0 for 1 MiB. */
    size_t max_pending_send;
    /** Largest number of peer requests answered per second before the peer is cut off; 0 for 64. */
    uint32_t max_requests_per_second;
} attex_channel_config;

/** Channel events. */
typedef enum attex_channel_event_type {
    /** The peer's attestation was accepted (first time or again); see `result`. */
    ATTEX_EVENT_PEER_ATTESTED = 1,
    /** The peer accepted our attestation (VERDICT accepted). */
    ATTEX_EVENT_SELF_ACCEPTED = 2,
    /** Application bytes from the peer, in `data` / `len`. */
    ATTEX_EVENT_DATA = 3,
    /** The channel is closed: `code` and `reason` say why (ATTEX_OK: the peer ended it). */
    ATTEX_EVENT_CLOSED = 4
} attex_channel_event_type;

/** An event. Pointers stay valid until the next attex_channel_next_event call. */
typedef struct attex_channel_event {
    attex_channel_event_type type;
    const uint8_t *data;
    size_t len;
    const attex_attest_result *result;
    int code;
    const char *reason;
} attex_channel_event;

/** An attested channel (opaque). */
typedef struct attex_channel attex_channel;

/** attex_channel_new makes a channel; call attex_channel_start once the handshake is complete. */
attex_channel *attex_channel_new(const attex_channel_config *cfg, attex_error *err);

/** attex_channel_free releases `ch`. Accepts NULL. */
void attex_channel_free(attex_channel *ch);

/**
 * attex_channel_start begins the protocol: when the peer must attest, it
 * queues a REQUEST offering cmw_attestation. `now_ms` is the current time.
 */
int attex_channel_start(attex_channel *ch, uint64_t now_ms, attex_error *err);

/**
 * attex_channel_receive feeds plaintext read from the TLS connection. It
 * processes every complete frame, queueing answers and events. A protocol
 * violation closes the channel and returns its status.
 */
int attex_channel_receive(attex_channel *ch, const uint8_t *in, size_t len, uint64_t now_ms,
                          attex_error *err);

/**
 * attex_channel_end tells the channel the peer closed the stream: a partial
 * frame is a truncation error, otherwise the channel closes cleanly.
 */
int attex_channel_end(attex_channel *ch, attex_error *err);

/**
 * attex_channel_send queues application bytes. They leave as DATA frames
 * once the peer's required attestation is accepted; until then they wait,
 * up to max_pending_send bytes (beyond: ATTEX_ERR_UNSUPPORTED, nothing queued).
 */
int attex_channel_send(attex_channel *ch, const uint8_t *data, size_t len, attex_error *err);

/** attex_channel_reattest sends a new REQUEST now (the data keeps flowing meanwhile). */
int attex_channel_reattest(attex_channel *ch, uint64_t now_ms, attex_error *err);

/**
 * attex_channel_authenticate_spontaneously (servers) queues a spontaneous
 * authenticator with our identity (RFC 9261 s5; no attestation: a
 * ClientHello offers no cmw_attestation).
 */
int attex_channel_authenticate_spontaneously(attex_channel *ch, attex_error *err);

/**
 * attex_channel_tick applies timers: a request past its deadline closes the
 * channel; the re-attestation interval queues a new REQUEST.
 */
int attex_channel_tick(attex_channel *ch, uint64_t now_ms, attex_error *err);

/** attex_channel_next_timer returns when attex_channel_tick next has work (ms), or 0 for never. */
uint64_t attex_channel_next_timer(const attex_channel *ch);

/** attex_channel_output returns the bytes waiting to be written to TLS and sets *len. */
const uint8_t *attex_channel_output(const attex_channel *ch, size_t *len);

/** attex_channel_consume_output drops the first `n` output bytes (they were written). */
void attex_channel_consume_output(attex_channel *ch, size_t n);

/** attex_channel_next_event returns 1 and fills *ev, or 0 when no event is pending. */
int attex_channel_next_event(attex_channel *ch, attex_channel_event *ev);

/** attex_channel_is_closed returns 1 once the channel is closed (flush the output, then close TLS). */
int attex_channel_is_closed(const attex_channel *ch);

/** attex_channel_peer_accepted returns 1 if the peer's attestation is accepted (or not required). */
int attex_channel_peer_accepted(const attex_channel *ch);

/** attex_channel_self_accepted returns 1 once the peer has accepted our attestation. */
int attex_channel_self_accepted(const attex_channel *ch);

/** attex_channel_peer_result returns the latest accepted peer attestation, or NULL. */
const attex_attest_result *attex_channel_peer_result(const attex_channel *ch);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_CHANNEL_H */
