/*
 * attex: attested channels over QUIC (ngtcp2 + GnuTLS), PROTOCOL.md s4-s5.
 *
 * An attex_quic_endpoint is one UDP socket with its QUIC connections: a
 * server endpoint accepts many connections (told apart by Destination
 * Connection ID), a client endpoint makes one. Each connection runs the
 * attested channel of <attex/channel.h> on the first client-initiated
 * bidirectional stream (stream 0): the same REQUEST / AUTHENTICATOR /
 * VERDICT / DATA frames, gate and re-attestation as over TCP.
 *
 * The API is made for a poll() loop, without threads:
 *
 *   ep = attex_quic_server_new(&cfg, &err);      (or attex_quic_client_new)
 *   loop:
 *     poll attex_quic_endpoint_fd(ep) for POLLIN, with the timeout
 *       attex_quic_endpoint_timeout_ms(ep);
 *     attex_quic_endpoint_process(ep, readable, &err);
 *     while ((c = attex_quic_endpoint_accept(ep)) != NULL) keep c;
 *     for each kept c: attex_quic_conn_read / _write / _state, and
 *       attex_quic_conn_release(c) once done with it.
 *
 * Simple clients can use attex_quic_conn_establish, which runs that loop
 * until the attestations the policy requires are accepted.
 *
 * Supported: QUIC version 1 (RFC 9000/9001), ALPN ATTEX_QUIC_ALPN, TLS 1.3
 * with AES-GCM or ChaCha20-Poly1305. Not supported: 0-RTT, session tickets
 * and resumption (PROTOCOL.md s4), connection migration, Retry, version
 * negotiation, other streams. See docs/quic.md.
 */
#ifndef ATTEX_QUIC_H
#define ATTEX_QUIC_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <openssl/types.h>

#include <attex/channel.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ALPN protocol identifier of attested QUIC connections. */
#define ATTEX_QUIC_ALPN "attex/1"

/** How an endpoint behaves. Zero-initialise, then set what you need. */
typedef struct attex_quic_config {
    /** Server: address to bind ("127.0.0.1", "::1"; NULL: any, IPv6 and IPv4). Client: the server's address or name. */
    const char *host;
    /** Server: port to bind ("0" for any, see attex_quic_endpoint_port). Client: the server's port. */
    const char *port;

    /* TLS (the QUIC handshake). */
    /** Server: its TLS certificate (required). Ignored by clients. */
    X509 *cert;
    /** Server: certificates sent after `cert`, in order. */
    X509 *const *chain;
    size_t num_chain;
    /** Server: the private key of `cert` (required). */
    EVP_PKEY *key;
    /** Client: trust anchors for the server's certificate (with or instead of ca_file). */
    X509 *const *ca_certs;
    size_t num_ca_certs;
    /** Client: a PEM file of trust anchors; with no ca_certs and no ca_file, the system's. */
    const char *ca_file;
    /** Client: nonzero to skip verifying the server's certificate (the attestation still binds to the connection). */
    int no_verify_cert;
    /** Client: the name sent as SNI and verified in the certificate; NULL for `host`. */
    const char *server_name;

    /**
     * The attested channel of every connection. Its `tls` member is
     * ignored (each connection sets its own); every pointer in it must
     * outlive the endpoint.
     */
    attex_channel_config channel;

    /**
     * Nonzero when the peer will ask for our attestation (its policy
     * requires it): attex_quic_conn_establish then also waits until the peer
     * accepted it, so that the application's first bytes cannot arrive
     * before our AUTHENTICATOR (PROTOCOL.md s5).
     */
    int expect_request;

    /** Close a connection silent for this long, ms; 0 for 30000. */
    uint32_t idle_timeout_ms;
    /** Give up a QUIC handshake after this long, ms; 0 for 10000. */
    uint32_t handshake_timeout_ms;
    /**
     * RTT assumed before the first measurement, ms; 0 for RFC 9002's 333.
     * Packets are paced by it until then: set it low on a known fast path.
     */
    uint32_t initial_rtt_ms;
    /** Server: most connections alive at once (beyond: new ones are dropped); 0 for 4096. */
    size_t max_connections;
    /** Application bytes buffered per connection in each direction, bytes; 0 for 1 MiB. */
    size_t max_buffer;
    /**
     * Nonzero: the peer's FIN on stream 0 ends only its direction, as a TCP
     * FIN or a TLS close_notify does: we may still write (an answer, what a
     * backend sends back) until attex_quic_conn_shutdown; the connection
     * closes once both directions ended. attex_quic_conn_peer_ended tells
     * when the peer's FIN came. 0 (default): the peer's FIN closes the
     * connection as soon as our last frames are flushed.
     */
    int half_close;
} attex_quic_config;

/** A UDP socket with its QUIC connections (opaque). */
typedef struct attex_quic_endpoint attex_quic_endpoint;

/** One attested QUIC connection (opaque). */
typedef struct attex_quic_conn attex_quic_conn;

/** Where a connection is. */
typedef enum attex_quic_state {
    /** The QUIC / TLS handshake is running. */
    ATTEX_QUIC_HANDSHAKE = 0,
    /** Handshake done; the attestations the policy requires are being exchanged. */
    ATTEX_QUIC_ATTESTING = 1,
    /** Every required attestation was accepted: application data flows. */
    ATTEX_QUIC_OPEN = 2,
    /** Closing: we are flushing our last frames (a VERDICT, a FIN) before CONNECTION_CLOSE. */
    ATTEX_QUIC_CLOSING = 3,
    /** Closed; attex_quic_conn_status says how. */
    ATTEX_QUIC_CLOSED = 4
} attex_quic_state;

/**
 * attex_quic_server_new binds a UDP socket to cfg->host:cfg->port and
 * returns a server endpoint (the configuration is copied, the objects it
 * points to are not), or NULL with `err` filled.
 */
attex_quic_endpoint *attex_quic_server_new(const attex_quic_config *cfg, attex_error *err);

/**
 * attex_quic_client_new opens a UDP socket and starts one QUIC connection
 * to cfg->host:cfg->port (the first flight is sent here). Its connection is
 * attex_quic_endpoint_client_conn. Returns NULL with `err` filled on failure.
 */
attex_quic_endpoint *attex_quic_client_new(const attex_quic_config *cfg, attex_error *err);

/**
 * attex_quic_endpoint_free sends CONNECTION_CLOSE on every live connection
 * (without waiting) and frees `ep` with all its connections, accepted ones
 * included: no attex_quic_conn of `ep` may be used afterwards. Accepts NULL.
 */
void attex_quic_endpoint_free(attex_quic_endpoint *ep);

/** attex_quic_endpoint_fd returns the UDP socket to poll for POLLIN. */
int attex_quic_endpoint_fd(const attex_quic_endpoint *ep);

/** attex_quic_endpoint_port returns the local UDP port (after binding "0"). */
uint16_t attex_quic_endpoint_port(const attex_quic_endpoint *ep);

/**
 * attex_quic_endpoint_timeout_ms returns how long poll() may wait before
 * attex_quic_endpoint_process has timer work: 0 for now, -1 for no timer.
 */
int attex_quic_endpoint_timeout_ms(const attex_quic_endpoint *ep);

/**
 * attex_quic_endpoint_process does the endpoint's work: when `readable`,
 * it reads every waiting datagram and hands it to its connection (a
 * server makes a connection for a new client Initial); then it runs the
 * expired QUIC and channel timers and sends what the connections have to
 * send. Failures of single connections close them (see their state); it
 * returns an error only when the socket itself failed.
 */
int attex_quic_endpoint_process(attex_quic_endpoint *ep, int readable, attex_error *err);

/**
 * attex_quic_endpoint_accept (servers) returns the next connection whose
 * QUIC handshake completed and which the application has not taken yet, or
 * NULL. The application owns it from then on: attex_quic_conn_release it.
 * Connections never taken are freed by the endpoint once closed.
 */
attex_quic_conn *attex_quic_endpoint_accept(attex_quic_endpoint *ep);

/** attex_quic_endpoint_client_conn (clients) returns the endpoint's connection (owned by the endpoint). */
attex_quic_conn *attex_quic_endpoint_client_conn(attex_quic_endpoint *ep);

/** attex_quic_endpoint_num_conns returns how many connections the endpoint holds (any state). */
size_t attex_quic_endpoint_num_conns(const attex_quic_endpoint *ep);

/** attex_quic_conn_state returns where `c` is. */
attex_quic_state attex_quic_conn_state(const attex_quic_conn *c);

/**
 * attex_quic_conn_status returns, once the connection is closed or
 * closing, ATTEX_OK for a clean end or the failure, and sets *reason (if
 * not NULL) to a sentence saying why (valid while `c` lives). Before that
 * it returns ATTEX_OK and sets *reason to NULL.
 */
int attex_quic_conn_status(const attex_quic_conn *c, const char **reason);

/** attex_quic_conn_remote returns the peer's UDP address and sets *len (for logs). */
const struct sockaddr *attex_quic_conn_remote(const attex_quic_conn *c, socklen_t *len);

/** attex_quic_conn_channel returns the connection's attested channel (NULL during the handshake), for attex_channel_reattest, _peer_result, ... */
attex_channel *attex_quic_conn_channel(attex_quic_conn *c);

/** attex_quic_conn_peer_attestations returns how many times the peer's attestation was accepted. */
unsigned attex_quic_conn_peer_attestations(const attex_quic_conn *c);

/** attex_quic_conn_self_accepted returns 1 once the peer accepted our attestation. */
int attex_quic_conn_self_accepted(const attex_quic_conn *c);

/**
 * attex_quic_conn_answered_peer returns 1 once we answered a peer's
 * attestation request (our AUTHENTICATOR is on its way) or the peer accepted
 * our attestation. A peer that requires our attestation treats DATA before
 * that as a protocol error (PROTOCOL.md s5); DATA sent after our
 * AUTHENTICATOR is in order on the stream, so it may follow at once.
 */
int attex_quic_conn_answered_peer(const attex_quic_conn *c);

/**
 * attex_quic_conn_read copies up to `cap` application bytes received from
 * the peer into `buf` and sets *n (0: nothing waiting). Only attested bytes
 * ever arrive here (the gate). Returns ATTEX_OK, or once the connection is
 * closed and nothing is left, its status (ATTEX_OK with *n 0 and state
 * CLOSED/CLOSING means the peer ended the stream cleanly).
 */
int attex_quic_conn_read(attex_quic_conn *c, uint8_t *buf, size_t cap, size_t *n,
                         attex_error *err);

/**
 * attex_quic_conn_write queues up to `len` application bytes and sets
 * *written (fewer when the buffer is full: write the rest later). Bytes
 * leave as DATA frames once the peer's required attestation is accepted;
 * bytes written during the handshake wait for it too (they are not 0-RTT
 * data), so a client's request can leave in the flight after the
 * attestation. A client the server will ask to attest must not write before
 * attex_quic_conn_answered_peer (see there). Returns ATTEX_ERR_TLS_STATE
 * once the connection is closing or closed.
 */
int attex_quic_conn_write(attex_quic_conn *c, const uint8_t *data, size_t len, size_t *written,
                          attex_error *err);

/**
 * attex_quic_conn_peer_ended returns 1 once the peer ended its direction
 * (its FIN on stream 0) on a half_close endpoint: nothing more will be
 * read after what is buffered; shut down our side when done writing.
 */
int attex_quic_conn_peer_ended(const attex_quic_conn *c);

/**
 * attex_quic_conn_shutdown ends our side cleanly: the queued bytes are
 * sent, then the stream's FIN; the peer's channel then ends and the
 * connection closes.
 */
int attex_quic_conn_shutdown(attex_quic_conn *c, attex_error *err);

/**
 * attex_quic_conn_establish drives the connection's endpoint (blocking in
 * poll()) until the attestations the channel requires are accepted: the
 * peer's when channel.require_peer, ours once the peer asked for it, and
 * ours in any case when cfg.expect_request. Other connections of the same
 * endpoint are served meanwhile. Gives up after `timeout_ms`. Returns
 * ATTEX_OK or the failure.
 */
int attex_quic_conn_establish(attex_quic_conn *c, uint32_t timeout_ms, attex_error *err);

/**
 * attex_quic_conn_release (server connections) hands `c` back: it is
 * closed if still open (CONNECTION_CLOSE, no error) and freed by the
 * endpoint. `c` must not be used afterwards. Client connections are freed
 * with their endpoint; release closes them too.
 */
void attex_quic_conn_release(attex_quic_conn *c);

/* ---------------------------------------------------------------------- */
/* Statistics, for tests and benchmarks                                   */

/** Counters of one connection. */
typedef struct attex_quic_conn_stats {
    /** UDP datagrams sent and received. */
    uint64_t datagrams_sent, datagrams_received;
    /** Smoothed RTT estimate, µs. */
    uint64_t srtt_us;
} attex_quic_conn_stats;

/** attex_quic_conn_get_stats fills *out. */
void attex_quic_conn_get_stats(const attex_quic_conn *c, attex_quic_conn_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_QUIC_H */
