/*
 * Attested channels over QUIC (PROTOCOL.md s4-s5, docs/quic.md) on loopback
 * UDP: one-way, client and mutual attestation, the gate, re-attestation,
 * rejections (tampered authenticator, evidence from another connection,
 * refusal, DATA before attestation, wrong server certificate), loss and
 * reordering through a lossy relay, and 100 connections on one server.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <attex/quic.h>

#include "quic_internal.h"
#include "quic_relay.h"
#include "testutil.h"

static EVP_PKEY *ak, *srv_key, *cli_key, *other_key;
static X509 *srv_cert, *cli_cert, *other_cert;
static attex_attester *attester;
static attex_verifier *verifier;
static const attex_verifier *verifiers[1];
static attex_attest_policy policy;
static attex_ea_identity srv_id, cli_id;
static attex_error err;
static uint32_t idle_ms = 5000;
static int half_close_cfg; /* the next endpoints' half_close */
static const char *srv_host = "127.0.0.1", *cli_host = "127.0.0.1";

/* ---- attesters with faults -------------------------------------------- */

/* evil: evidence for the wrong binding. replay: evidence recorded on an earlier connection. */
static int evil, replay;
static attex_buf recorded = ATTEX_BUF_INIT;
static int faulty_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *e)
{
    (void)ctx;
    if (replay && recorded.len > 0) {
        cmw->data = malloc(recorded.len);
        memcpy(cmw->data, recorded.data, recorded.len);
        cmw->len = recorded.len;
        return ATTEX_OK;
    }
    attex_binding copy = *b;
    if (evil)
        copy.binder[0] ^= 1;
    int rc = attester->attest(attester->ctx, &copy, cmw, e);
    if (rc == ATTEX_OK && recorded.len == 0) {
        recorded.data = malloc(cmw->len);
        memcpy(recorded.data, cmw->data, cmw->len);
        recorded.len = cmw->len;
    }
    return rc;
}
static attex_attester faulty = {"faulty", NULL, faulty_attest};

/* Flips the last byte (inside Finished) of every AUTHENTICATOR frame an endpoint sends. */
static int tampered;
static void tamper(uint8_t *p, size_t n, void *arg)
{
    (void)arg;
    if (n > 5 + 40 && p[0] == 0x02) {
        p[n - 1] ^= 0x01;
        tampered++;
    }
}

/* ---- the event loop --------------------------------------------------- */

#define MAXEP 128
static attex_quic_endpoint *eps[MAXEP];
static size_t neps;
static qr_relay *relays[4];
static size_t nrelays;

/* One round: poll every endpoint (and relay) for at most `max_ms`, then process each. */
static void pump_once(int max_ms)
{
    struct pollfd pf[MAXEP + 8];
    size_t n = 0;
    int wait = max_ms;
    for (size_t i = 0; i < neps; i++) {
        pf[n].fd = attex_quic_endpoint_fd(eps[i]);
        pf[n].events = POLLIN;
        pf[n].revents = 0;
        n++;
        int t = attex_quic_endpoint_timeout_ms(eps[i]);
        if (t >= 0 && t < wait)
            wait = t;
    }
    size_t rstart = n;
    for (size_t i = 0; i < nrelays; i++) {
        qr_relay_pollfds(relays[i], pf + n);
        n += 2;
        int t = qr_relay_timeout_ms(relays[i]);
        if (t >= 0 && t < wait)
            wait = t;
    }
    poll(pf, (nfds_t)n, wait);
    for (size_t i = 0; i < nrelays; i++)
        qr_relay_process(relays[i], pf + rstart + 2 * i);
    for (size_t i = 0; i < neps; i++) {
        attex_error e;
        attex_quic_endpoint_process(eps[i], (pf[i].revents & (POLLIN | POLLERR)) != 0, &e);
    }
}

typedef int (*cond_fn)(void *arg);
static int pump_until(cond_fn f, void *arg, int max_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long end = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + max_ms;
    for (;;) {
        if (f(arg))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now >= end)
            return 0;
        pump_once((int)(end - now > 50 ? 50 : end - now));
    }
}

static void add_ep(attex_quic_endpoint *ep)
{
    if (ep != NULL && neps < MAXEP)
        eps[neps++] = ep;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void relay_free_all(void)
{
    for (size_t i = 0; i < nrelays; i++)
        qr_relay_free(relays[i]);
    nrelays = 0;
}

static void drop_all(void)
{
    for (size_t i = 0; i < neps; i++)
        attex_quic_endpoint_free(eps[i]);
    neps = 0;
}

/* ---- endpoints -------------------------------------------------------- */

static attex_quic_endpoint *server_new(const attex_ea_identity *id, const attex_attester *att,
                                       int require, uint32_t reattest_ms)
{
    attex_quic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = srv_host;
    cfg.port = "0";
    cfg.cert = srv_cert;
    cfg.key = srv_key;
    cfg.channel.identity = id;
    cfg.channel.attester = att;
    cfg.channel.require_peer = require;
    cfg.channel.policy = &policy;
    cfg.channel.reattest_interval_ms = reattest_ms;
    cfg.idle_timeout_ms = idle_ms;
    cfg.initial_rtt_ms = 10;
    cfg.half_close = half_close_cfg;
    attex_quic_endpoint *ep = attex_quic_server_new(&cfg, &err);
    if (ep == NULL)
        fprintf(stderr, "server: %s\n", err.message);
    add_ep(ep);
    return ep;
}

static attex_quic_endpoint *client_new(uint16_t port, const attex_ea_identity *id,
                                       const attex_attester *att, int require,
                                       uint32_t reattest_ms, X509 *trust)
{
    attex_quic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    cfg.host = cli_host;
    cfg.port = ps;
    cfg.server_name = "localhost";
    X509 *cas[1] = {trust ? trust : srv_cert};
    cfg.ca_certs = cas;
    cfg.num_ca_certs = 1;
    cfg.channel.identity = id;
    cfg.channel.attester = att;
    cfg.channel.require_peer = require;
    cfg.channel.policy = &policy;
    cfg.channel.reattest_interval_ms = reattest_ms;
    cfg.idle_timeout_ms = idle_ms;
    cfg.initial_rtt_ms = 10;
    cfg.half_close = half_close_cfg;
    attex_quic_endpoint *ep = attex_quic_client_new(&cfg, &err);
    if (ep == NULL)
        fprintf(stderr, "client: %s\n", err.message);
    add_ep(ep);
    return ep;
}

/* ---- conditions ------------------------------------------------------- */

typedef struct pair {
    attex_quic_endpoint *sep, *cep;
    attex_quic_conn *s, *c;
} pair;

static int got_server_conn(void *arg)
{
    pair *p = arg;
    if (p->s == NULL)
        p->s = attex_quic_endpoint_accept(p->sep);
    return p->s != NULL;
}

static int client_open(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    return p->s != NULL && attex_quic_conn_state(p->c) == ATTEX_QUIC_OPEN;
}

static int is_closed(attex_quic_conn *c)
{
    return c != NULL && attex_quic_conn_state(c) >= ATTEX_QUIC_CLOSING;
}
static int both_closed(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    return is_closed(p->c) && (p->s == NULL || is_closed(p->s));
}
static int client_closed(void *arg) { return is_closed(((pair *)arg)->c); }

typedef struct reader {
    attex_quic_conn *c;
    uint8_t buf[70000];
    size_t len, want;
} reader;

static int read_enough(void *arg)
{
    reader *r = arg;
    size_t n = 0;
    attex_error e;
    while (r->len < sizeof(r->buf) &&
           attex_quic_conn_read(r->c, r->buf + r->len, sizeof(r->buf) - r->len, &n, &e) == ATTEX_OK &&
           n > 0)
        r->len += n;
    return r->len >= r->want;
}

static int write_all(attex_quic_conn *c, const uint8_t *d, size_t len)
{
    size_t off = 0;
    for (int i = 0; i < 2000 && off < len; i++) {
        size_t w = 0;
        if (attex_quic_conn_write(c, d + off, len - off, &w, &err) != ATTEX_OK)
            return 0;
        off += w;
        if (off < len)
            pump_once(5);
    }
    return off == len;
}

/* Sends `msg` one way and checks it arrives intact. */
static int transfer(attex_quic_conn *from, attex_quic_conn *to, const uint8_t *msg, size_t len)
{
    static reader r;
    memset(&r, 0, sizeof(r));
    r.c = to;
    r.want = len;
    if (!write_all(from, msg, len))
        return 0;
    if (!pump_until(read_enough, &r, 10000))
        return 0;
    return r.len == len && memcmp(r.buf, msg, len) == 0;
}

/* ---- tests ------------------------------------------------------------ */

static void test_server_attests(void)
{
    pair p = {0};
    p.sep = server_new(&srv_id, attester, 0, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL);
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(attex_quic_conn_state(p.c) == ATTEX_QUIC_HANDSHAKE);
    /* Written during the handshake: held until the server's attestation is accepted. */
    size_t w = 0;
    CHECK_RC(attex_quic_conn_write(p.c, (const uint8_t *)"early", 5, &w, &err), ATTEX_OK, &err);
    CHECK(w == 5);
    CHECK(pump_until(client_open, &p, 5000));
    static reader er;
    memset(&er, 0, sizeof(er));
    er.c = p.s;
    er.want = 5;
    CHECK(pump_until(read_enough, &er, 5000) && er.len == 5 && memcmp(er.buf, "early", 5) == 0);
    CHECK(attex_quic_conn_state(p.c) == ATTEX_QUIC_OPEN);
    CHECK(attex_quic_conn_peer_attestations(p.c) == 1);
    const attex_attest_result *r = attex_channel_peer_result(attex_quic_conn_channel(p.c));
    CHECK(r != NULL && attex_attest_result_attested(r));
    /* PROTOCOL.md s4 and RFC 9001: TLS 1.3, a QUIC AEAD, our ALPN, no resumption, no ticket. */
    gnutls_session_t ct = quic_conn_tls(p.c), st = quic_conn_tls(p.s);
    CHECK(gnutls_protocol_get_version(ct) == GNUTLS_TLS1_3);
    gnutls_cipher_algorithm_t ca = gnutls_cipher_get(ct);
    CHECK(ca == GNUTLS_CIPHER_AES_128_GCM || ca == GNUTLS_CIPHER_AES_256_GCM ||
          ca == GNUTLS_CIPHER_CHACHA20_POLY1305);
    gnutls_datum_t alpn = {NULL, 0};
    CHECK(gnutls_alpn_get_selected_protocol(st, &alpn) == 0 && alpn.size == 7 &&
          memcmp(alpn.data, ATTEX_QUIC_ALPN, 7) == 0);
    CHECK(!gnutls_session_is_resumed(ct));
    CHECK((gnutls_session_get_flags(ct) & GNUTLS_SFLAGS_SESSION_TICKET) == 0);
    CHECK(transfer(p.c, p.s, (const uint8_t *)"ping", 4));
    CHECK(transfer(p.s, p.c, (const uint8_t *)"pong", 4));
    CHECK(attex_quic_conn_self_accepted(p.s));
    /* A larger transfer, more than one flow-control window of packets. */
    static uint8_t big[65536];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    CHECK(transfer(p.c, p.s, big, sizeof(big)));
    /* A clean shutdown from the client closes both with ATTEX_OK. */
    CHECK_RC(attex_quic_conn_shutdown(p.c, &err), ATTEX_OK, &err);
    CHECK(pump_until(both_closed, &p, 5000));
    const char *why = NULL;
    CHECK(attex_quic_conn_status(p.c, &why) == ATTEX_OK);
    CHECK(attex_quic_conn_status(p.s, &why) == ATTEX_OK);
    attex_quic_conn_release(p.s);
    drop_all();
}

static int client_self_accepted(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    return attex_quic_conn_self_accepted(p->c) && p->s != NULL &&
           attex_quic_conn_state(p->s) == ATTEX_QUIC_OPEN;
}

static int mutual_done(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    return p->s != NULL && attex_quic_conn_self_accepted(p->c) &&
           attex_quic_conn_self_accepted(p->s) && attex_quic_conn_state(p->c) == ATTEX_QUIC_OPEN &&
           attex_quic_conn_state(p->s) == ATTEX_QUIC_OPEN;
}

static int reattested_twice(void *arg)
{
    return attex_quic_conn_peer_attestations(((pair *)arg)->c) >= 2;
}

static const char *status_of(attex_quic_conn *c, int *code)
{
    const char *why = NULL;
    *code = attex_quic_conn_status(c, &why);
    return why ? why : "";
}

/* The server requires the client's attestation; the client requires nothing. */
static void test_client_attests(void)
{
    pair p = {0};
    p.sep = server_new(NULL, NULL, 1, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), &cli_id, attester, 0, 0, NULL);
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(client_self_accepted, &p, 5000));
    CHECK(attex_quic_conn_peer_attestations(p.s) == 1);
    CHECK(attex_quic_conn_peer_attestations(p.c) == 0);
    CHECK(transfer(p.s, p.c, (const uint8_t *)"hello client", 12));
    CHECK(transfer(p.c, p.s, (const uint8_t *)"hello server", 12));
    /* Back-pressure: a write larger than the buffer is taken only in part. */
    size_t big_len = (size_t)3 << 20, w = 0;
    uint8_t *big = calloc(1, big_len);
    CHECK_RC(attex_quic_conn_write(p.c, big, big_len, &w, &err), ATTEX_OK, &err);
    CHECK(w > 0 && w <= ((size_t)1 << 20));
    free(big);
    attex_quic_conn_release(p.s);
    drop_all();
}

static void test_mutual_and_reattestation(void)
{
    pair p = {0};
    evil = replay = 0;
    p.sep = server_new(&srv_id, &faulty, 1, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), &cli_id, attester, 1, 100, NULL);
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(mutual_done, &p, 5000));
    /* The client re-attests the server every 100 ms while data flows. */
    CHECK(pump_until(reattested_twice, &p, 3000));
    CHECK(transfer(p.c, p.s, (const uint8_t *)"during", 6));
    /* On demand, from the server. */
    unsigned before = attex_quic_conn_peer_attestations(p.s);
    CHECK_RC(attex_channel_reattest(attex_quic_conn_channel(p.s), (uint64_t)(now_us() / 1000), &err),
             ATTEX_OK, &err);
    for (int i = 0; i < 30; i++)
        pump_once(10);
    CHECK(attex_quic_conn_peer_attestations(p.s) == before + 1);
    /* The server's evidence goes bad: the next re-attestation closes both, with reasons. */
    evil = 1;
    CHECK(pump_until(both_closed, &p, 3000));
    int code;
    const char *why = status_of(p.c, &code);
    CHECK(code == ATTEX_ERR_ATTESTATION && strstr(why, "rejected") != NULL);
    why = status_of(p.s, &code);
    CHECK(code == ATTEX_ERR_ATTESTATION && strstr(why, "peer rejected our attestation") != NULL);
    evil = 0;
    attex_quic_conn_release(p.s);
    drop_all();
}

/* A client requiring the server's attestation against a misbehaving server. */
static void run_rejection(const attex_ea_identity *id, const attex_attester *att, int filter,
                          int *code, char *why, size_t why_len, int *server_code)
{
    pair p = {0};
    p.sep = server_new(id, att, 0, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL);
    *code = 1;
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    if (filter)
        quic_set_output_filter(p.sep, tamper, NULL);
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(both_closed, &p, 5000));
    CHECK(attex_quic_conn_peer_attestations(p.c) == 0);
    const char *w = status_of(p.c, code);
    snprintf(why, why_len, "%s", w);
    if (server_code != NULL && p.s != NULL)
        status_of(p.s, server_code);
    uint8_t b[16];
    size_t n = 1;
    attex_error e;
    attex_quic_conn_read(p.c, b, sizeof(b), &n, &e);
    CHECK(n == 0); /* nothing unattested is ever delivered */
    if (p.s)
        attex_quic_conn_release(p.s);
    drop_all();
}

static int data_before_attestation(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    attex_quic_conn *c = p->c;
    static int sent;
    if (attex_quic_conn_state(c) >= ATTEX_QUIC_ATTESTING && !sent) {
        size_t w;
        sent = attex_quic_conn_write(c, (const uint8_t *)"early", 5, &w, &err) == ATTEX_OK && w == 5;
    }
    return p->s != NULL && is_closed(p->s);
}

static void test_rejections(void)
{
    int code, scode = 0;
    char why[300];
    /* A tampered authenticator (a byte of its Finished flipped after it was made). */
    tampered = 0;
    run_rejection(&srv_id, attester, 1, &code, why, sizeof(why), &scode);
    CHECK(tampered > 0);
    CHECK(code == ATTEX_ERR_BAD_FINISHED);
    CHECK(scode == ATTEX_ERR_ATTESTATION);
    /* Evidence made for another connection (a replay). */
    attex_buf_free(&recorded);
    evil = 0;
    replay = 0;
    {
        /* A good connection, whose server evidence `faulty` records. */
        pair g = {0};
        g.sep = server_new(&srv_id, &faulty, 0, 0);
        g.cep = client_new(attex_quic_endpoint_port(g.sep), NULL, NULL, 1, 0, NULL);
        if (g.sep && g.cep) {
            g.c = attex_quic_endpoint_client_conn(g.cep);
            CHECK(pump_until(client_open, &g, 5000));
            attex_quic_conn_release(g.s);
        }
        drop_all();
    }
    CHECK(recorded.len > 0);
    replay = 1;
    run_rejection(&srv_id, &faulty, 0, &code, why, sizeof(why), NULL);
    CHECK(code == ATTEX_ERR_ATTESTATION);
    CHECK(strstr(why, "rejected") != NULL);
    replay = 0;
    /* An empty authenticator (no identity) under a policy that requires attestation. */
    run_rejection(NULL, NULL, 0, &code, why, sizeof(why), NULL);
    CHECK(code == ATTEX_ERR_ATTESTATION && strstr(why, "refused") != NULL);
    /* A server that authenticates but does not attest. */
    run_rejection(&srv_id, NULL, 0, &code, why, sizeof(why), NULL);
    CHECK(code == ATTEX_ERR_ATTESTATION);

    /* DATA before attestation: the server requires the client's; the client sends at once. */
    pair p = {0};
    p.sep = server_new(NULL, NULL, 1, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 0, 0, NULL);
    if (p.sep && p.cep) {
        p.c = attex_quic_endpoint_client_conn(p.cep);
        CHECK(pump_until(data_before_attestation, &p, 5000));
        why[0] = '\0';
        const char *w = status_of(p.s, &code);
        CHECK(code == ATTEX_ERR_UNEXPECTED_MESSAGE && strstr(w, "before its attestation") != NULL);
        uint8_t b[16];
        size_t n = 1;
        attex_error e;
        attex_quic_conn_read(p.s, b, sizeof(b), &n, &e);
        CHECK(n == 0);
        CHECK(pump_until(client_closed, &p, 3000));
        attex_quic_conn_release(p.s);
    } else
        CHECK(!"endpoints");
    drop_all();

    /* The client does not trust the server's TLS certificate: no connection at all. */
    memset(&p, 0, sizeof(p));
    p.sep = server_new(&srv_id, attester, 0, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, other_cert);
    if (p.sep && p.cep) {
        p.c = attex_quic_endpoint_client_conn(p.cep);
        CHECK(pump_until(client_closed, &p, 5000));
        int c2;
        const char *w = status_of(p.c, &c2);
        CHECK(c2 == ATTEX_ERR_TLS_STATE && strstr(w, "TLS handshake failed") != NULL);
        CHECK(attex_quic_endpoint_accept(p.sep) == NULL);
    } else
        CHECK(!"endpoints");
    drop_all();
}

/* Loss and reordering: 10% of datagrams dropped, 10% held back, in both directions. */
static void test_loss_and_reordering(void)
{
    pair p = {0};
    p.sep = server_new(&srv_id, attester, 1, 0);
    qr_relay *r = qr_relay_new(attex_quic_endpoint_port(p.sep), 10, 10, 0, 0x9e3779b97f4a7c15ull);
    if (r != NULL)
        relays[nrelays++] = r;
    p.cep = r ? client_new(qr_relay_port(r), &cli_id, attester, 1, 0, NULL) : NULL;
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        relay_free_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(mutual_done, &p, 20000));
    static uint8_t big[60000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 13 + 1);
    CHECK(transfer(p.c, p.s, big, sizeof(big)));
    CHECK(transfer(p.s, p.c, big, sizeof(big)));
    qr_stats st;
    qr_relay_stats(r, &st);
    CHECK(st.dropped > 0 && st.reordered > 0);
    printf("# relay: %u forwarded, %u dropped, %u reordered\n", st.forwarded, st.dropped,
           st.reordered);
    if (p.s)
        attex_quic_conn_release(p.s);
    drop_all();
    relay_free_all();
}

/* 100 attested connections alive at once on one server endpoint. */
#define MANY 100
static attex_quic_conn *many_s[MANY];
static size_t many_n;
static attex_quic_endpoint *many_sep;
static int all_open(void *arg)
{
    (void)arg;
    attex_quic_conn *c;
    while (many_n < MANY && (c = attex_quic_endpoint_accept(many_sep)) != NULL)
        many_s[many_n++] = c;
    if (many_n < MANY)
        return 0;
    for (size_t i = 0; i < MANY; i++)
        if (attex_quic_conn_state(many_s[i]) != ATTEX_QUIC_OPEN ||
            attex_quic_conn_peer_attestations(attex_quic_endpoint_client_conn(eps[i + 1])) != 1)
            return 0;
    return 1;
}

static void test_many_connections(void)
{
    many_n = 0;
    many_sep = server_new(&srv_id, attester, 0, 0);
    if (!many_sep) {
        CHECK(!"server");
        return;
    }
    int ok = 1;
    for (int i = 0; i < MANY && ok; i++)
        ok = client_new(attex_quic_endpoint_port(many_sep), NULL, NULL, 1, 0, NULL) != NULL;
    CHECK(ok && neps == MANY + 1);
    CHECK(pump_until(all_open, NULL, 30000));
    CHECK(attex_quic_endpoint_num_conns(many_sep) == MANY);
    /* Each client says who it is; the server sees each on its own connection. */
    for (size_t i = 0; i < MANY; i++) {
        char msg[16];
        int len = snprintf(msg, sizeof(msg), "client %zu", i);
        size_t w;
        attex_quic_conn_write(attex_quic_endpoint_client_conn(eps[i + 1]), (const uint8_t *)msg,
                              (size_t)len, &w, &err);
    }
    for (int round = 0; round < 200; round++)
        pump_once(5);
    size_t seen = 0;
    for (size_t i = 0; i < many_n; i++) {
        uint8_t b[32];
        size_t n = 0;
        attex_error e;
        attex_quic_conn_read(many_s[i], b, sizeof(b) - 1, &n, &e);
        b[n] = 0;
        if (n > 7 && memcmp(b, "client ", 7) == 0)
            seen++;
    }
    CHECK(seen == MANY);
    for (size_t i = 0; i < many_n; i++)
        attex_quic_conn_release(many_s[i]);
    drop_all();
}

/* A server in its own thread, echoing what it reads, so that the client can
 * block in attex_quic_conn_establish. The main thread touches the server only
 * after joining. */
typedef struct echo_server {
    attex_quic_endpoint *ep;
    volatile int stop;
    attex_quic_conn *conns[8];
    size_t n;
} echo_server;

static void *echo_main(void *arg)
{
    echo_server *es = arg;
    while (!es->stop) {
        struct pollfd pf = {attex_quic_endpoint_fd(es->ep), POLLIN, 0};
        int t = attex_quic_endpoint_timeout_ms(es->ep);
        poll(&pf, 1, t < 0 || t > 10 ? 10 : t);
        attex_error e;
        attex_quic_endpoint_process(es->ep, (pf.revents & POLLIN) != 0, &e);
        attex_quic_conn *c;
        while (es->n < 8 && (c = attex_quic_endpoint_accept(es->ep)) != NULL)
            es->conns[es->n++] = c;
        for (size_t i = 0; i < es->n; i++) {
            uint8_t b[256];
            size_t n = 0, w;
            if (attex_quic_conn_read(es->conns[i], b, sizeof(b), &n, &e) == ATTEX_OK && n > 0)
                attex_quic_conn_write(es->conns[i], b, n, &w, &e);
        }
    }
    return NULL;
}

static void test_establish_blocking(void)
{
    attex_quic_endpoint *sep = server_new(&srv_id, attester, 1, 0);
    neps = 0; /* the thread drives it */
    if (sep == NULL) {
        CHECK(!"server");
        return;
    }
    echo_server es = {sep, 0, {NULL}, 0};
    pthread_t th;
    if (pthread_create(&th, NULL, echo_main, &es) != 0) {
        CHECK(!"thread");
        attex_quic_endpoint_free(sep);
        return;
    }
    uint16_t port = attex_quic_endpoint_port(sep);
    /* Mutual: establish returns once both attestations are accepted. */
    attex_quic_endpoint *cep = client_new(port, &cli_id, attester, 1, 0, NULL);
    neps = 0;
    attex_quic_conn *c = cep ? attex_quic_endpoint_client_conn(cep) : NULL;
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_RC(attex_quic_conn_establish(c, 5000, &err), ATTEX_OK, &err);
        CHECK(attex_quic_conn_state(c) == ATTEX_QUIC_OPEN);
        CHECK(attex_quic_conn_peer_attestations(c) == 1 && attex_quic_conn_self_accepted(c));
        size_t w;
        CHECK_RC(attex_quic_conn_write(c, (const uint8_t *)"echo me", 7, &w, &err), ATTEX_OK, &err);
        uint8_t b[16];
        size_t got = 0;
        for (int i = 0; i < 500 && got < 7; i++) {
            struct pollfd pf = {attex_quic_endpoint_fd(cep), POLLIN, 0};
            poll(&pf, 1, 10);
            attex_quic_endpoint_process(cep, (pf.revents & POLLIN) != 0, &err);
            size_t n = 0;
            attex_quic_conn_read(c, b + got, sizeof(b) - got, &n, &err);
            got += n;
        }
        CHECK(got == 7 && memcmp(b, "echo me", 7) == 0);
    }
    attex_quic_endpoint_free(cep);
    /* The client requires nothing but expects to be asked: establish waits for the verdict. */
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
        cfg.channel.policy = &policy;
        cfg.expect_request = 1;
        cfg.initial_rtt_ms = 10;
        cep = attex_quic_client_new(&cfg, &err);
        c = cep ? attex_quic_endpoint_client_conn(cep) : NULL;
        CHECK(c != NULL);
        if (c != NULL) {
            CHECK_RC(attex_quic_conn_establish(c, 5000, &err), ATTEX_OK, &err);
            CHECK(attex_quic_conn_self_accepted(c) && attex_quic_conn_answered_peer(c));
            CHECK(attex_quic_conn_peer_attestations(c) == 0);
            socklen_t al = 0;
            const struct sockaddr *a = attex_quic_conn_remote(c, &al);
            CHECK(a->sa_family == AF_INET && al == sizeof(struct sockaddr_in) &&
                  ntohs(((const struct sockaddr_in *)(const void *)a)->sin_port) == port);
        }
        attex_quic_endpoint_free(cep);
    }
    /* The client cannot attest (no attester): establish reports the server's verdict. */
    cep = client_new(port, &cli_id, NULL, 1, 0, NULL);
    neps = 0;
    c = cep ? attex_quic_endpoint_client_conn(cep) : NULL;
    if (c != NULL) {
        CHECK(attex_quic_conn_establish(c, 5000, &err) == ATTEX_ERR_ATTESTATION);
        CHECK(strstr(err.message, "peer rejected our attestation") != NULL);
    }
    attex_quic_endpoint_free(cep);
    es.stop = 1;
    pthread_join(th, NULL);
    CHECK(es.n == 3);
    for (size_t i = 0; i < es.n; i++)
        attex_quic_conn_release(es.conns[i]);
    attex_quic_endpoint_free(sep);
    /* Nobody answers: establish gives up after its timeout. */
    cep = client_new(port, NULL, NULL, 1, 0, NULL);
    neps = 0;
    c = cep ? attex_quic_endpoint_client_conn(cep) : NULL;
    if (c != NULL) {
        int rc = attex_quic_conn_establish(c, 300, &err);
        CHECK(rc == ATTEX_ERR_ATTESTATION || rc == ATTEX_ERR_TLS_STATE);
    }
    attex_quic_endpoint_free(cep);
}

/* How connections end: the server application lets go; nobody says anything. */
static void test_close_paths(void)
{
    pair p = {0};
    p.sep = server_new(&srv_id, attester, 0, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL);
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(client_open, &p, 5000));
    /* Released by the server's application: CONNECTION_CLOSE without error, a clean end. */
    attex_quic_conn_release(p.s);
    p.s = NULL;
    CHECK(pump_until(client_closed, &p, 3000));
    int code = 1;
    const char *why = status_of(p.c, &code);
    CHECK(code == ATTEX_OK && why[0] != '\0');
    size_t w;
    CHECK(attex_quic_conn_write(p.c, (const uint8_t *)"late", 4, &w, &err) == ATTEX_ERR_TLS_STATE);
    /* The released connection is freed by the endpoint after its closing period. */
    for (int i = 0; i < 100 && attex_quic_endpoint_num_conns(p.sep) > 0; i++)
        pump_once(10);
    CHECK(attex_quic_endpoint_num_conns(p.sep) == 0);
    drop_all();

    /* Silence: both ends time out (RFC 9000 s10.1) and say so. */
    idle_ms = 300;
    memset(&p, 0, sizeof(p));
    p.sep = server_new(&srv_id, attester, 0, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL);
    idle_ms = 5000;
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(client_open, &p, 5000));
    CHECK(pump_until(both_closed, &p, 5000));
    why = status_of(p.c, &code);
    CHECK(code == ATTEX_ERR_TLS_STATE && strstr(why, "idle") != NULL);
    why = status_of(p.s, &code);
    CHECK(code == ATTEX_ERR_TLS_STATE && strstr(why, "idle") != NULL);
    attex_quic_conn_release(p.s);
    drop_all();
}

/* No migration: after a NAT rebinding the server ignores the client's new address. */
static void test_no_migration(void)
{
    pair p = {0};
    p.sep = server_new(&srv_id, attester, 0, 0);
    qr_relay *r = p.sep ? qr_relay_new(attex_quic_endpoint_port(p.sep), 0, 0, 0, 1) : NULL;
    if (r != NULL)
        relays[nrelays++] = r;
    p.cep = r ? client_new(qr_relay_port(r), NULL, NULL, 1, 0, NULL) : NULL;
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        relay_free_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(client_open, &p, 5000));
    CHECK(transfer(p.c, p.s, (const uint8_t *)"before", 6));
    CHECK(qr_relay_rebind(r));
    size_t w;
    CHECK_RC(attex_quic_conn_write(p.c, (const uint8_t *)"after", 5, &w, &err), ATTEX_OK, &err);
    static reader rd;
    memset(&rd, 0, sizeof(rd));
    rd.c = p.s;
    rd.want = 1;
    CHECK(!pump_until(read_enough, &rd, 600));
    CHECK(rd.len == 0);
    attex_quic_conn_release(p.s);
    drop_all();
    relay_free_all();
}

/* Behind the closed gate the channel holds at most max_pending_send bytes: more is a
 * short write, not an error. */
static size_t gated_first, gated_second, gated_third = 1;
static int gated_rc = 99;
static int write_while_gated(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    if (attex_quic_conn_state(p->c) == ATTEX_QUIC_ATTESTING && gated_rc == 99) {
        static uint8_t lots[(size_t)3 << 20];
        gated_rc = attex_quic_conn_write(p->c, lots, sizeof(lots), &gated_first, &err);
        if (gated_rc == ATTEX_OK)
            gated_rc = attex_quic_conn_write(p->c, lots, sizeof(lots), &gated_second, &err);
        if (gated_rc == ATTEX_OK)
            gated_rc = attex_quic_conn_write(p->c, lots, sizeof(lots), &gated_third, &err);
    }
    return gated_rc != 99;
}

static void test_gated_writes(void)
{
    pair p = {0};
    p.sep = server_new(&srv_id, attester, 0, 0);
    p.cep = client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL);
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(write_while_gated, &p, 5000));
    CHECK_RC(gated_rc, ATTEX_OK, &err);
    CHECK(gated_first > 0 && gated_first + gated_second == ((size_t)1 << 20) && gated_third == 0);
    CHECK(!attex_channel_peer_accepted(attex_quic_conn_channel(p.c)));
    if (p.s)
        attex_quic_conn_release(p.s);
    drop_all();
}

/* IPv6, and a server bound to any address (both families). */
static void test_ipv6(void)
{
    /* IPv4 clients of a wildcard server arrive as v4-mapped IPv6 addresses. */
    const char *binds[3] = {"::1", NULL, NULL}, *clients[3] = {"::1", "::1", "127.0.0.1"};
    for (int i = 0; i < 3; i++) {
        pair p = {0};
        srv_host = binds[i];
        cli_host = clients[i];
        p.sep = server_new(&srv_id, attester, 0, 0);
        p.cep = p.sep ? client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL) : NULL;
        srv_host = cli_host = "127.0.0.1";
        if (!p.sep || !p.cep) {
            CHECK(!"IPv6 endpoints");
            drop_all();
            continue;
        }
        p.c = attex_quic_endpoint_client_conn(p.cep);
        CHECK(pump_until(client_open, &p, 5000));
        CHECK(transfer(p.c, p.s, (const uint8_t *)"over v6", 7));
        socklen_t al = 0;
        CHECK(attex_quic_conn_remote(p.s, &al)->sa_family == AF_INET6);
        attex_quic_conn_release(p.s);
        drop_all();
    }
}

static int server_peer_ended(void *arg)
{
    pair *p = arg;
    got_server_conn(p);
    return p->s != NULL && attex_quic_conn_peer_ended(p->s);
}

/* half_close: the client's FIN ends its direction only; the server still answers. */
static void test_half_close(void)
{
    pair p = {0};
    half_close_cfg = 1;
    p.sep = server_new(&srv_id, attester, 0, 0);
    p.cep = p.sep ? client_new(attex_quic_endpoint_port(p.sep), NULL, NULL, 1, 0, NULL) : NULL;
    half_close_cfg = 0;
    if (!p.sep || !p.cep) {
        CHECK(!"endpoints");
        drop_all();
        return;
    }
    p.c = attex_quic_endpoint_client_conn(p.cep);
    CHECK(pump_until(client_open, &p, 5000));
    CHECK(transfer(p.c, p.s, (const uint8_t *)"question", 8));
    CHECK_RC(attex_quic_conn_shutdown(p.c, &err), ATTEX_OK, &err);
    CHECK(pump_until(server_peer_ended, &p, 5000));
    CHECK(attex_quic_conn_state(p.s) == ATTEX_QUIC_OPEN);
    CHECK(!attex_quic_conn_peer_ended(p.c));
    /* The answer comes after the client's FIN, as over TCP after a close_notify. */
    CHECK(transfer(p.s, p.c, (const uint8_t *)"answer", 6));
    CHECK_RC(attex_quic_conn_shutdown(p.s, &err), ATTEX_OK, &err);
    CHECK(pump_until(both_closed, &p, 5000));
    const char *why = NULL;
    CHECK(attex_quic_conn_status(p.c, &why) == ATTEX_OK);
    CHECK(attex_quic_conn_status(p.s, &why) == ATTEX_OK);
    attex_quic_conn_release(p.s);
    drop_all();
}

int main(void)
{
    ak = tu_key("p256");
    srv_key = tu_key("p256");
    cli_key = tu_key("p256");
    other_key = tu_key("p256");
    srv_cert = tu_cert(srv_key, "localhost", NULL, NULL, 0, 1);
    cli_cert = tu_cert(cli_key, "quic client", NULL, NULL, 0, 1);
    other_cert = tu_cert(other_key, "localhost", NULL, NULL, 0, 1);
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = ak;
    attester = attex_sample_attester_new(&ac, &err);
    attex_buf rv = ATTEX_BUF_INIT;
    if (attester == NULL || attex_sample_reference_values(&ac, &rv, &err) != ATTEX_OK)
        return 2;
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
        return 2;
    verifiers[0] = verifier;
    policy.verifiers = verifiers;
    policy.num_verifiers = 1;
    srv_id.cert = srv_cert;
    srv_id.key = srv_key;
    cli_id.cert = cli_cert;
    cli_id.key = cli_key;

    test_server_attests();
    test_client_attests();
    test_mutual_and_reattestation();
    test_rejections();
    test_loss_and_reordering();
    test_many_connections();
    test_close_paths();
    test_no_migration();
    test_gated_writes();
    test_ipv6();
    test_establish_blocking();
    test_half_close();

    relay_free_all();
    attex_buf_free(&recorded);
    attex_sample_attester_free(attester);
    attex_sample_verifier_free(verifier);
    X509_free(srv_cert);
    X509_free(cli_cert);
    X509_free(other_cert);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    EVP_PKEY_free(other_key);
    return tu_finish("test_quic");
}
