/*
 * attex-bench-quic: attested QUIC connections against plain QUIC
 * connections made with the same stack (ngtcp2 + GnuTLS, <attex/quic.h>), in
 * the same run.
 *
 * Each connection: a new client endpoint (UDP socket, QUIC + TLS 1.3
 * handshake), the client writes a 32-byte request as soon as its handshake
 * completes, the server echoes it, the client reads the echo; then both
 * sides release the connection. One thread drives the server, the client
 * and (for the delay table) a relay in one poll() loop.
 *
 * Rows:
 *   plain    no attestation on either side: QUIC + the shim's DATA frames;
 *   attex-s  the client requires the server's attestation (sample attester);
 *   attex-c  the server requires the client's;
 *   attex-m  mutual.
 *
 * Table 1 (loopback, no delay): connections per second and mean time per
 * connection; the modes take turns connection by connection. Table 2 (a relay delays every datagram by D ms each way, so
 * RTT = 2D): when the server's application gets the first request byte, and
 * when the client's gets the echo, in RTTs, plus the client's flights (runs
 * of client datagrams after server ones) seen by the relay. Attestation
 * adds exactly one round trip to the request: the client may send it only
 * once the server's AUTHENTICATOR arrived (PROTOCOL.md s4's gate).
 *
 * --smoke: a few connections, a short delay; checks every step, no timing.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <attex/quic.h>

#include "quic_relay.h"
#include "testutil.h"

#define MSG_LEN 32

static EVP_PKEY *ak, *srv_key, *cli_key;
static X509 *srv_cert, *cli_cert;
static attex_attester *attester;
static attex_verifier *verifier;
static const attex_verifier *verifiers[1];
static attex_attest_policy policy;
static attex_ea_identity srv_id, cli_id;

typedef struct mode {
    const char *name;
    int client_requires, server_requires;
} mode;

static const mode modes[] = {
    {"plain", 0, 0},
    {"attex-s", 1, 0},
    {"attex-c", 0, 1},
    {"attex-m", 1, 1},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static attex_quic_endpoint *make_server(const mode *m, uint32_t rtt_ms, attex_error *err)
{
    attex_quic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.port = "0";
    cfg.cert = srv_cert;
    cfg.key = srv_key;
    cfg.channel.identity = &srv_id;
    cfg.channel.attester = attester;
    cfg.channel.require_peer = m->server_requires;
    cfg.channel.policy = &policy;
    cfg.initial_rtt_ms = rtt_ms;
    return attex_quic_server_new(&cfg, err);
}

static attex_quic_endpoint *make_client(const mode *m, uint16_t port, uint32_t rtt_ms,
                                        attex_error *err)
{
    attex_quic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    cfg.host = "127.0.0.1";
    cfg.port = ps;
    cfg.server_name = "localhost";
    X509 *cas[1] = {srv_cert};
    cfg.ca_certs = cas;
    cfg.num_ca_certs = 1;
    cfg.channel.identity = &cli_id;
    cfg.channel.attester = attester;
    cfg.channel.require_peer = m->client_requires;
    cfg.channel.policy = &policy;
    cfg.initial_rtt_ms = rtt_ms;
    return attex_quic_client_new(&cfg, err);
}

typedef struct result {
    double t_first; /* server app got the first request byte, s after start */
    double t_done;  /* client app got the whole echo */
    unsigned client_flights;
} result;

/* One connection, request and echo. Returns 1 on success. */
static int one_connection(const mode *m, attex_quic_endpoint *sep, qr_relay *relay,
                          uint32_t rtt_ms, result *res)
{
    attex_error err;
    memset(&err, 0, sizeof(err));
    uint16_t port = relay ? qr_relay_port(relay) : attex_quic_endpoint_port(sep);
    double t0 = now_s();
    attex_quic_endpoint *cep = make_client(m, port, rtt_ms, &err);
    if (cep == NULL) {
        fprintf(stderr, "client: %s\n", err.message);
        return 0;
    }
    attex_quic_conn *c = attex_quic_endpoint_client_conn(cep), *s = NULL;
    attex_quic_state cs;
    uint8_t req[MSG_LEN], echo[MSG_LEN], at_server[MSG_LEN];
    memset(req, 'q', sizeof(req));
    size_t sent = 0, got_s = 0, got_c = 0, echoed = 0;
    int ok = 0;
    res->t_first = res->t_done = 0;
    double deadline = t0 + 10.0;
    while (now_s() < deadline) {
        /* The request is written at once and leaves when the gate allows; a client the
         * server will attest first answers it (PROTOCOL.md s5: DATA from a peer not yet
         * attested is a protocol error). */
        if (sent < sizeof(req) && (!m->server_requires || attex_quic_conn_answered_peer(c))) {
            size_t w = 0;
            if (attex_quic_conn_write(c, req + sent, sizeof(req) - sent, &w, &err) != ATTEX_OK)
                break;
            sent += w;
        }
        struct pollfd pf[4];
        pf[0].fd = attex_quic_endpoint_fd(sep);
        pf[1].fd = attex_quic_endpoint_fd(cep);
        pf[0].events = pf[1].events = POLLIN;
        pf[0].revents = pf[1].revents = 0;
        nfds_t n = 2;
        int wait = 100, t;
        if ((t = attex_quic_endpoint_timeout_ms(sep)) >= 0 && t < wait)
            wait = t;
        if ((t = attex_quic_endpoint_timeout_ms(cep)) >= 0 && t < wait)
            wait = t;
        if (relay) {
            qr_relay_pollfds(relay, pf + 2);
            n = 4;
            if ((t = qr_relay_timeout_ms(relay)) >= 0 && t < wait)
                wait = t;
        }
        poll(pf, n, wait);
        if (relay)
            qr_relay_process(relay, pf + 2);
        if (attex_quic_endpoint_process(sep, (pf[0].revents & POLLIN) != 0, &err) != ATTEX_OK ||
            attex_quic_endpoint_process(cep, (pf[1].revents & POLLIN) != 0, &err) != ATTEX_OK)
            break;
        if (s == NULL)
            s = attex_quic_endpoint_accept(sep);
        cs = attex_quic_conn_state(c);
        if (cs >= ATTEX_QUIC_CLOSING || (s && attex_quic_conn_state(s) >= ATTEX_QUIC_CLOSING)) {
            const char *why = NULL;
            attex_quic_conn_status(cs >= ATTEX_QUIC_CLOSING ? c : s, &why);
            fprintf(stderr, "%s: connection closed: %s\n", m->name, why ? why : "?");
            break;
        }
        if (s != NULL) {
            size_t r = 0;
            attex_quic_conn_read(s, at_server + got_s, sizeof(at_server) - got_s, &r, &err);
            if (r > 0 && got_s == 0)
                res->t_first = now_s() - t0;
            got_s += r;
            if (got_s > echoed) {
                size_t w = 0;
                attex_quic_conn_write(s, at_server + echoed, got_s - echoed, &w, &err);
                echoed += w;
            }
        }
        size_t r = 0;
        attex_quic_conn_read(c, echo + got_c, sizeof(echo) - got_c, &r, &err);
        got_c += r;
        if (got_c == sizeof(echo)) {
            res->t_done = now_s() - t0;
            ok = memcmp(echo, req, sizeof(req)) == 0;
            break;
        }
    }
    if (relay) {
        qr_stats st;
        qr_relay_stats(relay, &st);
        res->client_flights = st.client_flights;
    }
    if (s)
        attex_quic_conn_release(s);
    attex_quic_endpoint_free(cep);
    /* Let the server forget the connection. */
    attex_quic_endpoint_process(sep, 0, &err);
    if (!ok)
        fprintf(stderr, "%s: the request did not complete\n", m->name);
    return ok;
}

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    int conns = smoke ? 3 : 200, delayed = smoke ? 1 : 5, delay_ms = smoke ? 5 : 25;
    attex_error err;
    memset(&err, 0, sizeof(err));
    ak = tu_key("p256");
    srv_key = tu_key("p256");
    cli_key = tu_key("p256");
    srv_cert = tu_cert(srv_key, "localhost", NULL, NULL, 0, 1);
    cli_cert = tu_cert(cli_key, "bench client", NULL, NULL, 0, 1);
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = ak;
    attester = attex_sample_attester_new(&ac, &err);
    attex_buf rv = ATTEX_BUF_INIT;
    if (attester == NULL || attex_sample_reference_values(&ac, &rv, &err) != ATTEX_OK)
        return 1;
    char *refs = calloc(1, rv.len + 1);
    memcpy(refs, rv.data, rv.len);
    attex_buf_free(&rv);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &ak;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refs;
    verifier = attex_sample_verifier_new(&vc, &err);
    free(refs);
    if (verifier == NULL)
        return 1;
    verifiers[0] = verifier;
    policy.verifiers = verifiers;
    policy.num_verifiers = 1;
    srv_id.cert = srv_cert;
    srv_id.key = srv_key;
    cli_id.cert = cli_cert;
    cli_id.key = cli_key;

    int failed = 0;
    size_t nm = sizeof(modes) / sizeof(modes[0]);
    double rate[4] = {0}, mean_us[4] = {0}, total[4] = {0};
    /* The modes take turns connection by connection, so that a change in the machine's
     * load during the run weighs on every row alike. */
    attex_quic_endpoint *seps[4] = {NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < nm && !failed; i++) {
        seps[i] = make_server(&modes[i], 1, &err);
        if (seps[i] == NULL) {
            fprintf(stderr, "server: %s\n", err.message);
            failed = 1;
            break;
        }
        result r;
        failed = !one_connection(&modes[i], seps[i], NULL, 1, &r); /* warm-up */
    }
    for (int k = 0; k < conns && !failed; k++)
        for (size_t i = 0; i < nm && !failed; i++) {
            result r;
            double t0 = now_s();
            failed = !one_connection(&modes[i], seps[i], NULL, 1, &r);
            total[i] += now_s() - t0;
        }
    for (size_t i = 0; i < nm; i++) {
        attex_quic_endpoint_free(seps[i]);
        if (total[i] > 0) {
            rate[i] = conns / total[i];
            mean_us[i] = total[i] / conns * 1e6;
        }
    }
    double first[4] = {0}, done[4] = {0};
    unsigned flights[4] = {0};
    for (size_t i = 0; i < nm && !failed; i++) {
        attex_quic_endpoint *sep = make_server(&modes[i], (uint32_t)(2 * delay_ms), &err);
        if (sep == NULL)
            return 1;
        for (int k = 0; k < delayed && !failed; k++) {
            qr_relay *relay = qr_relay_new(attex_quic_endpoint_port(sep), 0, 0, delay_ms, 1);
            result r;
            failed = relay == NULL ||
                     !one_connection(&modes[i], sep, relay, (uint32_t)(2 * delay_ms), &r);
            first[i] += r.t_first / delayed;
            done[i] += r.t_done / delayed;
            flights[i] = r.client_flights;
            qr_relay_free(relay);
        }
        attex_quic_endpoint_free(sep);
    }
    if (!failed) {
        printf("## attested QUIC (ngtcp2 %s + GnuTLS), %d connections per row%s\n\n", "0.12",
               conns, smoke ? " (smoke)" : "");
        printf("| mode | conns/s | mean µs per connection | vs plain |\n");
        printf("|---|---:|---:|---:|\n");
        for (size_t i = 0; i < nm; i++)
            printf("| %s | %.0f | %.0f | %.2fx |\n", modes[i].name, rate[i], mean_us[i],
                   mean_us[i] / mean_us[0]);
        double rtt = 2.0 * delay_ms / 1000.0;
        printf("\n## round trips, relay delay %d ms each way (RTT %d ms), mean of %d\n\n", delay_ms,
               2 * delay_ms, delayed);
        printf("| mode | first request byte at server | echo at client | client flights "
               "| added RTTs |\n");
        printf("|---|---:|---:|---:|---:|\n");
        for (size_t i = 0; i < nm; i++)
            printf("| %s | %.1f ms = %.2f RTT | %.1f ms = %.2f RTT | %u | %+.2f |\n",
                   modes[i].name, first[i] * 1e3, first[i] / rtt, done[i] * 1e3, done[i] / rtt,
                   flights[i], (done[i] - done[0]) / rtt);
    }
    attex_sample_attester_free(attester);
    attex_sample_verifier_free(verifier);
    X509_free(srv_cert);
    X509_free(cli_cert);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    return failed ? 1 : 0;
}
