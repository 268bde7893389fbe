/*
 * A UDP relay for the QUIC tests and benchmark: it sits between one client
 * and a server on loopback and drops, reorders and delays datagrams, with a
 * fixed seed so that every run sees the same losses. Not part of the library.
 */
#ifndef ATTEX_QUIC_RELAY_H
#define ATTEX_QUIC_RELAY_H

#include <poll.h>
#include <stdint.h>

typedef struct qr_relay qr_relay;

/*
 * qr_relay_new listens on a loopback port (qr_relay_port) for one client
 * and forwards to 127.0.0.1:server_port. Each datagram, in either
 * direction, is dropped with probability drop_pct %, held back 15 ms (so
 * that later ones overtake it) with probability reorder_pct %, and always
 * delayed by delay_ms. Returns NULL on failure.
 */
qr_relay *qr_relay_new(uint16_t server_port, int drop_pct, int reorder_pct, int delay_ms,
                       uint64_t seed);
void qr_relay_free(qr_relay *r);
uint16_t qr_relay_port(const qr_relay *r);

/* qr_relay_pollfds fills pf[0..1] (POLLIN on both sockets). */
void qr_relay_pollfds(const qr_relay *r, struct pollfd pf[2]);
/* qr_relay_timeout_ms returns when a held datagram is due (ms), or -1. */
int qr_relay_timeout_ms(const qr_relay *r);
/* qr_relay_process reads what pf says is readable and sends what is due. */
void qr_relay_process(qr_relay *r, const struct pollfd pf[2]);

/* qr_relay_rebind moves the server-facing socket to a new port (a NAT rebinding). */
int qr_relay_rebind(qr_relay *r);

typedef struct qr_stats {
    unsigned forwarded, dropped, reordered;
    /* Client flights: runs of client-to-server datagrams after server-to-client ones. */
    unsigned client_flights;
} qr_stats;
void qr_relay_stats(const qr_relay *r, qr_stats *out);

#endif /* ATTEX_QUIC_RELAY_H */
