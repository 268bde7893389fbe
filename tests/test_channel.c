/*
 * The attested channel (PROTOCOL.md s4, s5) over real TLS 1.3 on loopback,
 * both ends driven by attex_openssl_channel_io: one-way and mutual
 * attestation, the data gate, re-attestation (passing and failing),
 * deadlines, refusals, spontaneous authenticators, the TLS settings, and
 * protocol abuse from a peer that writes raw frames.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "testutil.h"

static EVP_PKEY *ak, *srv_key, *cli_key;
static X509 *srv_cert, *cli_cert;
static attex_attester *attester;
static attex_verifier *verifier;
static const attex_verifier *verifiers[1];
static attex_attest_policy policy;
static attex_ea_identity srv_id, cli_id;
static attex_error err;

/* An attester that can be switched to produce evidence for the wrong binding. */
static int evil;
static int switchable_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *e)
{
    (void)ctx;
    attex_binding copy = *b;
    if (evil)
        copy.binder[0] ^= 1;
    return attester->attest(attester->ctx, &copy, cmw, e);
}
static attex_attester switchable = {"switchable", NULL, switchable_attest};

/* What one end saw. */
typedef struct side {
    SSL *ssl;
    attex_channel *ch;
    int attested, self_accepted, closed, close_code, io_status;
    char reason[600];
    attex_buf data;
} side;

static void collect(side *s)
{
    attex_channel_event ev;
    while (attex_channel_next_event(s->ch, &ev)) {
        switch (ev.type) {
        case ATTEX_EVENT_PEER_ATTESTED: s->attested++; break;
        case ATTEX_EVENT_SELF_ACCEPTED: s->self_accepted++; break;
        case ATTEX_EVENT_DATA: {
            uint8_t *p = realloc(s->data.data, s->data.len + ev.len);
            memcpy(p + s->data.len, ev.data, ev.len);
            s->data.data = p;
            s->data.len += ev.len;
            break;
        }
        case ATTEX_EVENT_CLOSED:
            s->closed = 1;
            s->close_code = ev.code;
            snprintf(s->reason, sizeof(s->reason), "%s", ev.reason ? ev.reason : "");
            break;
        }
    }
}

typedef int (*until_fn)(side *c, side *s);

/* Drives both ends until `until` holds (1) or nothing more happens for a while (0). */
static int pump(side *c, side *s, until_fn until, int max_ms)
{
    side *both[2] = {c, s};
    uint64_t end = attex_monotonic_ms() + (uint64_t)max_ms;
    while (attex_monotonic_ms() < end) {
        for (int i = 0; i < 2; i++) {
            if (both[i]->ch == NULL || both[i]->io_status != ATTEX_OK)
                continue;
            int ww;
            attex_error e;
            both[i]->io_status = attex_openssl_channel_io(both[i]->ssl, both[i]->ch, &ww, &e);
            collect(both[i]);
        }
        if (until != NULL && until(c, s))
            return 1;
        /* Sleep a little: a peer may leave unread bytes that keep its socket readable. */
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return until == NULL;
}

static attex_channel *make(SSL *ssl, const attex_ea_identity *id, const attex_attester *att,
                           int require, uint32_t reattest_ms, uint32_t deadline_ms)
{
    attex_tls tls;
    attex_openssl_tls(ssl, &tls);
    attex_channel_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.tls = &tls;
    cfg.identity = id;
    cfg.attester = att;
    cfg.require_peer = require;
    cfg.policy = &policy;
    cfg.reattest_interval_ms = reattest_ms;
    cfg.deadline_ms = deadline_ms;
    attex_channel *ch = attex_channel_new(&cfg, &err);
    if (ch == NULL || attex_channel_start(ch, attex_monotonic_ms(), &err) != ATTEX_OK)
        fprintf(stderr, "channel: %s\n", err.message);
    return ch;
}

static void side_free(side *s)
{
    attex_channel_free(s->ch);
    attex_buf_free(&s->data);
}

static int client_attested(side *c, side *s) { return c->attested > 0 && s->self_accepted > 0; }
static int both_attested(side *c, side *s)
{
    return c->attested && s->attested && c->self_accepted && s->self_accepted;
}
static int server_got_4(side *c, side *s) { return (void)c, s->data.len >= 4; }
static int client_got_4(side *c, side *s) { return (void)s, c->data.len >= 4; }
static int client_closed(side *c, side *s) { return (void)s, c->closed; }
static int both_closed(side *c, side *s) { return c->closed && s->closed; }
static int attested_twice(side *c, side *s) { return (void)s, c->attested >= 2; }

static int open_pair(tu_pair *p)
{
    tu_pair_opts po = {NULL, 0, 0, 1};
    if (!tu_pair_open(p, &po)) {
        CHECK(!"TLS pair");
        return 0;
    }
    return 1;
}

static void test_one_way_and_gate(void)
{
    tu_pair p;
    if (!open_pair(&p))
        return;
    side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    c.ch = make(p.client, NULL, NULL, 1, 0, 0);
    s.ch = make(p.server, &srv_id, attester, 0, 0, 0);
    /* Written before the server is attested: held back, not sent. */
    CHECK_RC(attex_channel_send(c.ch, (const uint8_t *)"ping", 4, &err), ATTEX_OK, &err);
    size_t pending;
    attex_channel_output(c.ch, &pending);
    CHECK(pending > 0 && pending < 200); /* the REQUEST only */
    CHECK(!attex_channel_peer_accepted(c.ch));
    CHECK(pump(&c, &s, client_attested, 5000));
    CHECK(attex_channel_peer_accepted(c.ch) && attex_channel_self_accepted(s.ch));
    const attex_attest_result *r = attex_channel_peer_result(c.ch);
    CHECK(r && attex_attest_result_attested(r));
    CHECK(pump(&c, &s, server_got_4, 5000));
    CHECK(s.data.len == 4 && memcmp(s.data.data, "ping", 4) == 0);
    CHECK_RC(attex_channel_send(s.ch, (const uint8_t *)"pong", 4, &err), ATTEX_OK, &err);
    CHECK(pump(&c, &s, client_got_4, 5000));
    CHECK(c.data.len == 4 && memcmp(c.data.data, "pong", 4) == 0);
    /* A spontaneous server authenticator is validated and changes nothing. */
    CHECK_RC(attex_channel_authenticate_spontaneously(s.ch, &err), ATTEX_OK, &err);
    CHECK_RC(attex_channel_send(s.ch, (const uint8_t *)"more", 4, &err), ATTEX_OK, &err);
    c.data.len = 0;
    CHECK(pump(&c, &s, client_got_4, 5000));
    CHECK(!c.closed && !s.closed);
    /* A clean close by one end closes the other with ATTEX_OK. */
    SSL_shutdown(p.server);
    CHECK(pump(&c, &s, client_closed, 5000));
    CHECK(c.close_code == ATTEX_OK);
    side_free(&c);
    side_free(&s);
    tu_pair_close(&p);
}

static void test_mutual_and_reattestation(void)
{
    tu_pair p;
    if (!open_pair(&p))
        return;
    side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    evil = 0;
    c.ch = make(p.client, &cli_id, attester, 1, 100, 0);
    s.ch = make(p.server, &srv_id, &switchable, 1, 0, 0);
    CHECK(pump(&c, &s, both_attested, 5000));
    /* The re-attestation timer is armed at acceptance, so an event loop can sleep until it. */
    uint64_t timer = attex_channel_next_timer(c.ch), now = attex_monotonic_ms();
    CHECK(timer > now && timer <= now + 100);
    CHECK(attex_channel_next_timer(s.ch) == 0);
    /* The client re-attests the server every 100 ms; data flows meanwhile. */
    CHECK(pump(&c, &s, attested_twice, 3000));
    CHECK(!c.closed && !s.closed);
    /* On demand, too. */
    int before = s.attested;
    CHECK_RC(attex_channel_reattest(s.ch, attex_monotonic_ms(), &err), ATTEX_OK, &err);
    pump(&c, &s, NULL, 300);
    CHECK(s.attested == before + 1);
    /* Then the server's evidence goes bad: the next re-attestation closes the connection,
     * with the reason on both sides. */
    evil = 1;
    CHECK(pump(&c, &s, both_closed, 3000));
    CHECK(c.close_code == ATTEX_ERR_ATTESTATION && strstr(c.reason, "rejected") != NULL);
    CHECK(s.close_code == ATTEX_ERR_ATTESTATION &&
          strstr(s.reason, "peer rejected our attestation") != NULL);
    evil = 0;
    side_free(&c);
    side_free(&s);
    tu_pair_close(&p);
}

static void test_failures(void)
{
    tu_pair p;
    /* The server refuses (no identity): the client closes. */
    if (open_pair(&p)) {
        side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        c.ch = make(p.client, NULL, NULL, 1, 0, 0);
        s.ch = make(p.server, NULL, NULL, 0, 0, 0);
        CHECK(pump(&c, &s, both_closed, 3000));
        CHECK(c.close_code == ATTEX_ERR_ATTESTATION && strstr(c.reason, "refused") != NULL);
        CHECK(c.attested == 0 && c.data.len == 0);
        side_free(&c);
        side_free(&s);
        tu_pair_close(&p);
    }
    /* The server never answers: the deadline closes the connection. */
    if (open_pair(&p)) {
        side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        c.ch = make(p.client, NULL, NULL, 1, 0, 150);
        CHECK(pump(&c, &s, client_closed, 3000));
        CHECK(c.close_code == ATTEX_ERR_ATTESTATION && strstr(c.reason, "deadline") != NULL);
        side_free(&c);
        tu_pair_close(&p);
    }
    /* The server requires client attestation; the client cannot attest (no attester). */
    if (open_pair(&p)) {
        side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        c.ch = make(p.client, &cli_id, NULL, 0, 0, 0);
        s.ch = make(p.server, &srv_id, attester, 1, 0, 0);
        CHECK(pump(&c, &s, both_closed, 3000));
        CHECK(s.close_code == ATTEX_ERR_ATTESTATION);
        CHECK(strstr(c.reason, "peer rejected our attestation") != NULL);
        side_free(&c);
        side_free(&s);
        tu_pair_close(&p);
    }
}

/* A peer that writes raw bytes: the channel under test is the client, which requires
 * the server's attestation. Returns the client's close code and reason. */
static int abuse(const uint8_t *raw, size_t len, int shutdown_after, char *reason)
{
    tu_pair p;
    if (!open_pair(&p))
        return 1;
    side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    c.ch = make(p.client, NULL, NULL, 1, 0, 2000);
    size_t n;
    SSL_write_ex(p.server, raw, len, &n);
    if (shutdown_after)
        SSL_shutdown(p.server);
    pump(&c, &s, client_closed, 3000);
    int code = c.closed ? c.close_code : 1;
    snprintf(reason, 600, "%s", c.reason);
    CHECK(c.data.len == 0); /* nothing unattested is ever delivered */
    side_free(&c);
    tu_pair_close(&p);
    return code;
}

static void test_abuse(void)
{
    char reason[600];
    static const uint8_t data_first[] = {0x04, 0, 0, 0, 3, 'b', 'a', 'd'};
    CHECK(abuse(data_first, sizeof(data_first), 0, reason) == ATTEX_ERR_UNEXPECTED_MESSAGE);
    CHECK(strstr(reason, "before its attestation") != NULL);
    static const uint8_t unknown[] = {0x09, 0, 0, 0, 1, 0};
    CHECK(abuse(unknown, sizeof(unknown), 0, reason) == ATTEX_ERR_DECODE);
    CHECK(strstr(reason, "unknown frame type") != NULL);
    static const uint8_t huge[] = {0x02, 0x7f, 0xff, 0xff, 0xff};
    CHECK(abuse(huge, sizeof(huge), 0, reason) == ATTEX_ERR_DECODE);
    CHECK(strstr(reason, "maximum") != NULL);
    static const uint8_t truncated[] = {0x02, 0, 0, 0, 50, 1, 2, 3};
    CHECK(abuse(truncated, sizeof(truncated), 1, reason) == ATTEX_ERR_DECODE);
    CHECK(strstr(reason, "truncated") != NULL);
    static const uint8_t verdict[] = {0x03, 0, 0, 0, 4, 1, 2, 0xaa, 0xbb};
    CHECK(abuse(verdict, sizeof(verdict), 0, reason) == ATTEX_ERR_UNEXPECTED_MESSAGE);
    CHECK(strstr(reason, "never answered") != NULL);
    /* A REQUEST flood: answered up to the rate limit, then cut off. */
    tu_pair p;
    if (open_pair(&p)) {
        side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        s.ch = make(p.server, &srv_id, NULL, 0, 0, 0);
        attex_ea_session *flooder = attex_ea_session_new_openssl(p.client, &err);
        attex_buf frames = ATTEX_BUF_INIT;
        for (int i = 0; i < 100; i++) {
            attex_buf req = ATTEX_BUF_INIT;
            attex_ea_request_create(flooder, NULL, &req, &err);
            attex_frame_encode(&frames, ATTEX_FRAME_REQUEST, req.data, req.len, &err);
            attex_buf_free(&req);
        }
        size_t n;
        SSL_write_ex(p.client, frames.data, frames.len, &n);
        attex_buf_free(&frames);
        for (int t = 0; t < 600 && !s.closed; t++) {
            int ww;
            attex_error e;
            attex_openssl_channel_io(s.ssl, s.ch, &ww, &e);
            collect(&s);
            uint8_t sink[16384];
            SSL_read_ex(p.client, sink, sizeof(sink), &n); /* drain the answers */
            struct pollfd pf = {SSL_get_fd(s.ssl), POLLIN, 0};
            poll(&pf, 1, 5);
        }
        CHECK(s.closed && strstr(s.reason, "faster than allowed") != NULL);
        attex_ea_session_free(flooder);
        side_free(&s);
        tu_pair_close(&p);
    }
    /* The peer closes before attesting. */
    CHECK(abuse((const uint8_t *)"", 0, 1, reason) == ATTEX_ERR_ATTESTATION);
}

/* PROTOCOL.md s4: no tickets sent, none kept, no early data. */
static int tickets_seen;
static void count_tickets(int write_p, int version, int content_type, const void *buf,
                          size_t len, SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == 4 /* NewSessionTicket */)
        tickets_seen++;
}

static void test_tls_settings(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    CHECK_RC(attex_openssl_configure_ctx(ctx, &err), ATTEX_OK, &err);
    CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_3_VERSION);
    CHECK(SSL_CTX_get_max_proto_version(ctx) == TLS1_3_VERSION);
    CHECK(SSL_CTX_get_num_tickets(ctx) == 0);
    CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET) != 0);
    CHECK(SSL_CTX_get_max_early_data(ctx) == 0 && SSL_CTX_get_recv_max_early_data(ctx) == 0);
    SSL_CTX_free(ctx);

    /* A real exchange: the configured server sends no ticket. */
    tu_pair p;
    if (open_pair(&p)) {
        side c = {p.client, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        side s = {p.server, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
        SSL_set_msg_callback(p.client, count_tickets);
        tickets_seen = 0;
        c.ch = make(p.client, NULL, NULL, 1, 0, 0);
        s.ch = make(p.server, &srv_id, attester, 0, 0, 0);
        CHECK(pump(&c, &s, client_attested, 5000));
        CHECK(tickets_seen == 0);
        CHECK(SSL_session_reused(p.client) == 0);
        CHECK(SSL_CTX_sess_number(p.client_ctx) == 0);
        side_free(&c);
        side_free(&s);
        tu_pair_close(&p);
    }
    /* A server that does send tickets: the attex-configured client keeps none. */
    tu_pair_opts po = {NULL, 0, 1, 0};
    if (tu_pair_open(&p, &po)) {
        SSL_CTX_set_num_tickets(p.server_ctx, 2);
        attex_openssl_configure_ctx(p.client_ctx, &err);
        SSL_CTX_set_session_cache_mode(p.server_ctx, SSL_SESS_CACHE_SERVER);
        SSL_clear_options(p.server, SSL_OP_NO_TICKET);
        SSL_set_num_tickets(p.server, 2);
        SSL_set_msg_callback(p.client, count_tickets);
        tickets_seen = 0;
        int cd = 0, sd = 0;
        for (int i = 0; i < 400 && !(cd && sd); i++) {
            if (!cd && SSL_do_handshake(p.client) == 1)
                cd = 1;
            if (!sd && SSL_do_handshake(p.server) == 1)
                sd = 1;
            struct pollfd pf[2] = {{p.client_fd, POLLIN, 0}, {p.server_fd, POLLIN, 0}};
            poll(pf, 2, 5);
        }
        size_t n;
        uint8_t b[16];
        SSL_write_ex(p.server, "x", 1, &n);
        for (int i = 0; i < 100 && SSL_read_ex(p.client, b, sizeof(b), &n) != 1; i++) {
            struct pollfd pf = {p.client_fd, POLLIN, 0};
            poll(&pf, 1, 5);
        }
        CHECK(tickets_seen == 2);
        CHECK(SSL_CTX_sess_number(p.client_ctx) == 0);
        tu_pair_close(&p);
    }
}

int main(void)
{
    ak = tu_key("p256");
    srv_key = tu_key("p256");
    cli_key = tu_key("ed25519");
    srv_cert = tu_cert(srv_key, "channel server", NULL, NULL, 0, 1);
    cli_cert = tu_cert(cli_key, "channel client", NULL, NULL, 0, 1);
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

    test_one_way_and_gate();
    test_mutual_and_reattestation();
    test_failures();
    test_abuse();
    test_tls_settings();

    attex_sample_attester_free(attester);
    attex_sample_verifier_free(verifier);
    X509_free(srv_cert);
    X509_free(cli_cert);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    return tu_finish("test_channel");
}
