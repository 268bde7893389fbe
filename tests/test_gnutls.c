/*
 * The GnuTLS adapter, across stacks over real loopback TCP: an OpenSSL
 * client with a GnuTLS server, the reverse, and GnuTLS with GnuTLS, under
 * TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384. Each side computes with
 * its own stack and validates what the other stack's side produced:
 * exporters, exported authenticators (both directions, spontaneous too),
 * attestation with the sample attester and verifier, and attested channels
 * (server attests, client attests, mutual). Negative: TLS 1.2, the exporter
 * before the handshake completes, an unprepared session, spontaneous
 * authenticators with a scheme the ClientHello did not offer, evidence and
 * authenticators from another connection; and the ClientHello parser.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "gnutls_hello.h"
#include "gtu.h"
#include "testutil.h"

static EVP_PKEY *ak, *srv_key, *cli_key, *ed_key;
static X509 *srv_cert, *cli_cert, *ed_cert;
static attex_attester *attester;
static attex_verifier *verifier;
static const attex_verifier *verifiers[1];
static attex_attest_policy policy;
static attex_ea_identity srv_id, cli_id, ed_id;
static attex_error err;

static const char *const suites[2] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};
static const gtu_stack combos[3][2] = {
    {GTU_OPENSSL, GTU_GNUTLS}, {GTU_GNUTLS, GTU_OPENSSL}, {GTU_GNUTLS, GTU_GNUTLS}};

static int open_pair(gtu_pair *p, gtu_stack c, gtu_stack s, const char *suite)
{
    gtu_opts o;
    char why[256];
    memset(&o, 0, sizeof(o));
    o.client = c;
    o.server = s;
    o.suite = suite;
    if (!gtu_pair_open(p, &o, srv_cert, srv_key, why, sizeof(why))) {
        fprintf(stderr, "pair %s->%s %s: %s\n", gtu_stack_name(c), gtu_stack_name(s),
                suite ? suite : "default", why);
        CHECK(!"TLS pair");
        return 0;
    }
    return 1;
}

/* ---- exporters and connection facts ----------------------------------- */

static void test_exporters(gtu_stack cs, gtu_stack ss, const char *suite)
{
    gtu_pair p;
    if (!open_pair(&p, cs, ss, suite))
        return;
    attex_tls ct, st;
    attex_tls_info ci, si;
    gtu_tls(&p.c, &ct);
    gtu_tls(&p.s, &st);
    CHECK_RC(ct.get_info(ct.ctx, &ci, &err), ATTEX_OK, &err);
    CHECK_RC(st.get_info(st.ctx, &si, &err), ATTEX_OK, &err);
    attex_hash want = strstr(suite, "SHA384") ? ATTEX_HASH_SHA384 : ATTEX_HASH_SHA256;
    CHECK(ci.version == 0x0304 && si.version == 0x0304);
    CHECK(ci.handshake_complete && si.handshake_complete);
    CHECK(ci.role == ATTEX_ROLE_CLIENT && si.role == ATTEX_ROLE_SERVER);
    CHECK(ci.hash == want && si.hash == want);
    /* Both ends know the same ClientHello schemes. */
    CHECK(si.num_hello_schemes > 0 && ci.num_hello_schemes > 0);
    if (cs == GTU_GNUTLS && ss == GTU_GNUTLS)
        CHECK(ci.num_hello_schemes == si.num_hello_schemes &&
              memcmp(ci.hello_schemes, si.hello_schemes,
                     ci.num_hello_schemes * sizeof(uint16_t)) == 0);

    /* RFC 8446 s7.5: the same label and context give the same value on both stacks. */
    uint8_t a[64], b[64], c[64];
    static const uint8_t ctx[3] = {'a', 'b', 'c'};
    static const char *const labels[2] = {"EXPORTER-attex-test",
                                          "EXPORTER-server authenticator handshake context"};
    for (int l = 0; l < 2; l++) {
        for (size_t len = 32; len <= 64; len += 16) {
            CHECK_RC(ct.export_keying_material(ct.ctx, labels[l], ctx, 3, a, len, &err), ATTEX_OK,
                     &err);
            CHECK_RC(st.export_keying_material(st.ctx, labels[l], ctx, 3, b, len, &err), ATTEX_OK,
                     &err);
            CHECK(memcmp(a, b, len) == 0);
            /* The empty context of RFC 9261 s5.1, given as NULL by the ea layer. */
            CHECK_RC(ct.export_keying_material(ct.ctx, labels[l], NULL, 0, a, len, &err),
                     ATTEX_OK, &err);
            CHECK_RC(st.export_keying_material(st.ctx, labels[l], NULL, 0, c, len, &err),
                     ATTEX_OK, &err);
            CHECK(memcmp(a, c, len) == 0);
            CHECK(memcmp(b, c, len) != 0); /* the context is hashed in */
        }
    }
    CHECK_RC(ct.export_keying_material(ct.ctx, "EXPORTER-other", NULL, 0, c, 32, &err), ATTEX_OK,
             &err);
    CHECK(memcmp(a, c, 32) != 0);
    gtu_pair_close(&p);
}

/* ---- exported authenticators and attestation --------------------------- */

/* One request/answer/validate exchange over the connection. */
static int ea_round(gtu_pair *p, attex_ea_session *asker, attex_ea_session *answerer,
                    int server_asks, const attex_ea_identity *id, int attest,
                    const attex_attester *att, attex_attest_result **res)
{
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    int rc = attest ? attex_attest_request_create(asker, &policy, NULL, &req, &err)
                    : attex_ea_request_create(asker, NULL, &req, &err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!gtu_transfer(p, server_asks, req.data, req.len, &req_rx))
        goto out;
    rc = attest ? attex_attest_answer(answerer, req_rx.data, req_rx.len, id, att, 0, &auth, &err)
                : attex_ea_authenticator_create(answerer, req_rx.data, req_rx.len, id, &auth,
                                                &err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!gtu_transfer(p, !server_asks, auth.data, auth.len, &auth_rx))
        goto out;
    if (attest) {
        rc = attex_attest_validate(asker, req.data, req.len, auth_rx.data, auth_rx.len, NULL,
                                   &policy, res, &err);
    } else {
        rc = attex_ea_authenticator_validate(asker, req.data, req.len, auth_rx.data, auth_rx.len,
                                             NULL, &a, &err);
        if (rc == ATTEX_OK && X509_cmp(attex_ea_authenticator_cert(a, 0), id->cert) != 0)
            rc = ATTEX_ERR_BAD_CERTIFICATE;
    }
out:
    attex_ea_authenticator_free(a);
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static void test_authenticators(gtu_stack cs, gtu_stack ss, const char *suite)
{
    gtu_pair p;
    if (!open_pair(&p, cs, ss, suite))
        return;
    attex_tls ct, st;
    gtu_tls(&p.c, &ct);
    gtu_tls(&p.s, &st);
    attex_ea_session *c = attex_ea_session_new(&ct, &err);
    attex_ea_session *s = attex_ea_session_new(&st, &err);
    CHECK(c != NULL && s != NULL);
    /* Plain authenticators, each direction. */
    CHECK_RC(ea_round(&p, s, c, 1, &cli_id, 0, NULL, NULL), ATTEX_OK, &err);
    CHECK_RC(ea_round(&p, c, s, 0, &srv_id, 0, NULL, NULL), ATTEX_OK, &err);
    CHECK_RC(ea_round(&p, c, s, 0, &ed_id, 0, NULL, NULL), ATTEX_OK, &err);
    /* A spontaneous server authenticator: its scheme comes from the ClientHello as each
     * stack's side recorded it. */
    attex_buf sp = ATTEX_BUF_INIT, sp_rx = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    CHECK_RC(attex_ea_authenticator_create(s, NULL, 0, &srv_id, &sp, &err), ATTEX_OK, &err);
    CHECK(gtu_transfer(&p, 1, sp.data, sp.len, &sp_rx));
    CHECK_RC(attex_ea_authenticator_validate(c, NULL, 0, sp_rx.data, sp_rx.len, NULL, &a, &err),
             ATTEX_OK, &err);
    CHECK(a != NULL && attex_ea_authenticator_is_spontaneous(a));
    attex_ea_authenticator_free(a);
    attex_buf_free(&sp);
    attex_buf_free(&sp_rx);
    /* Attestation: server attests, client attests (sample attester and verifier). */
    for (int server_asks = 0; server_asks < 2; server_asks++) {
        attex_attest_result *r = NULL;
        CHECK_RC(ea_round(&p, server_asks ? s : c, server_asks ? c : s, server_asks,
                          server_asks ? &cli_id : &srv_id, 1, attester, &r),
                 ATTEX_OK, &err);
        CHECK(r != NULL && attex_attest_result_attested(r));
        if (r != NULL) {
            const attex_binding *b = attex_attest_result_binding(r);
            CHECK(b->hash_len == (strstr(suite, "SHA384") ? 48u : 32u));
        }
        attex_attest_result_free(r);
    }
    attex_ea_session_free(c);
    attex_ea_session_free(s);
    gtu_pair_close(&p);
}

/* ---- attested channels ------------------------------------------------- */

typedef struct side {
    gtu_end *end;
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
            uint8_t *q = realloc(s->data.data, s->data.len + ev.len);
            memcpy(q + s->data.len, ev.data, ev.len);
            s->data.data = q;
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
            both[i]->io_status = gtu_channel_io(both[i]->end, both[i]->ch, &ww, &e);
            collect(both[i]);
        }
        if (until != NULL && until(c, s))
            return 1;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return until == NULL;
}

static attex_channel *make(gtu_end *e, const attex_ea_identity *id, const attex_attester *att,
                           int require)
{
    attex_tls tls;
    gtu_tls(e, &tls);
    attex_channel_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.tls = &tls;
    cfg.identity = id;
    cfg.attester = att;
    cfg.require_peer = require;
    cfg.policy = &policy;
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
static int server_attested(side *c, side *s) { return s->attested > 0 && c->self_accepted > 0; }
static int both_attested(side *c, side *s)
{
    return c->attested && s->attested && c->self_accepted && s->self_accepted;
}
static int both_got_4(side *c, side *s) { return c->data.len >= 4 && s->data.len >= 4; }
static int client_closed(side *c, side *s) { return (void)s, c->closed; }
static int both_closed(side *c, side *s) { return c->closed && s->closed; }

/* mode 0: the server attests; 1: the client attests; 2: both. */
static void test_channel(gtu_stack cs, gtu_stack ss, const char *suite, int mode)
{
    gtu_pair p;
    if (!open_pair(&p, cs, ss, suite))
        return;
    side c = {&p.c, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {&p.s, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    c.ch = make(&p.c, &cli_id, mode >= 1 ? attester : NULL, mode != 1);
    s.ch = make(&p.s, &srv_id, mode != 1 ? attester : NULL, mode >= 1);
    /* Data written by a side that requires the peer's attestation waits for it; a side
     * that requires nothing writes once the peer has accepted it (PROTOCOL.md s4: data
     * from an unattested peer is a protocol error). */
    if (mode != 1)
        CHECK_RC(attex_channel_send(c.ch, (const uint8_t *)"ping", 4, &err), ATTEX_OK, &err);
    if (mode != 0)
        CHECK_RC(attex_channel_send(s.ch, (const uint8_t *)"pong", 4, &err), ATTEX_OK, &err);
    until_fn done = mode == 0 ? client_attested : mode == 1 ? server_attested : both_attested;
    CHECK(pump(&c, &s, done, 5000));
    if (mode == 0)
        CHECK_RC(attex_channel_send(s.ch, (const uint8_t *)"pong", 4, &err), ATTEX_OK, &err);
    if (mode == 1)
        CHECK_RC(attex_channel_send(c.ch, (const uint8_t *)"ping", 4, &err), ATTEX_OK, &err);
    CHECK(pump(&c, &s, both_got_4, 5000));
    CHECK(s.data.len == 4 && memcmp(s.data.data, "ping", 4) == 0);
    CHECK(c.data.len == 4 && memcmp(c.data.data, "pong", 4) == 0);
    const attex_attest_result *r =
        attex_channel_peer_result(mode == 1 ? s.ch : c.ch);
    CHECK(r != NULL && attex_attest_result_attested(r));
    if (mode == 2) {
        r = attex_channel_peer_result(s.ch);
        CHECK(r != NULL && attex_attest_result_attested(r));
    }
    CHECK(!c.closed && !s.closed);
    /* A clean close by the server closes the client with ATTEX_OK. */
    gtu_shutdown(&p.s);
    CHECK(pump(&c, &s, client_closed, 5000));
    CHECK(c.close_code == ATTEX_OK);
    side_free(&c);
    side_free(&s);
    gtu_pair_close(&p);
}

/* A channel where the server's evidence is for another binding: both sides close. */
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

static void test_channel_rejected(gtu_stack cs, gtu_stack ss)
{
    gtu_pair p;
    if (!open_pair(&p, cs, ss, NULL))
        return;
    side c = {&p.c, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {&p.s, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    evil = 1;
    c.ch = make(&p.c, NULL, NULL, 1);
    s.ch = make(&p.s, &srv_id, &switchable, 0);
    CHECK(pump(&c, &s, both_closed, 5000));
    CHECK(c.close_code == ATTEX_ERR_ATTESTATION && strstr(c.reason, "rejected") != NULL);
    CHECK(strstr(s.reason, "peer rejected our attestation") != NULL);
    CHECK(c.data.len == 0 && c.attested == 0);
    evil = 0;
    side_free(&c);
    side_free(&s);
    gtu_pair_close(&p);
}

/* An OpenSSL server that writes raw bytes to a GnuTLS client channel requiring its
 * attestation, then closes (close_notify, or the socket only). Returns the close code. */
static int abuse(const uint8_t *raw, size_t len, int how_close, char *reason)
{
    gtu_pair p;
    if (!open_pair(&p, GTU_GNUTLS, GTU_OPENSSL, NULL))
        return 1;
    side c = {&p.c, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {&p.s, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    c.ch = make(&p.c, NULL, NULL, 1);
    if (len)
        CHECK(gtu_write(&p.s, raw, len) == (long)len);
    if (how_close == 1)
        gtu_shutdown(&p.s);
    if (how_close == 2) {
        shutdown(p.s.fd, SHUT_RDWR); /* gone without close_notify */
    }
    pump(&c, &s, client_closed, 3000);
    int code = c.closed ? c.close_code : c.io_status != ATTEX_OK ? c.io_status : 1;
    snprintf(reason, 600, "%s", c.reason);
    CHECK(c.data.len == 0); /* nothing unattested is ever delivered */
    side_free(&c);
    gtu_pair_close(&p);
    return code;
}

static void test_channel_abuse(void)
{
    char reason[600];
    static const uint8_t data_first[] = {0x04, 0, 0, 0, 3, 'b', 'a', 'd'};
    CHECK(abuse(data_first, sizeof(data_first), 0, reason) == ATTEX_ERR_UNEXPECTED_MESSAGE);
    CHECK(strstr(reason, "before its attestation") != NULL);
    static const uint8_t truncated[] = {0x02, 0, 0, 0, 50, 1, 2, 3};
    CHECK(abuse(truncated, sizeof(truncated), 1, reason) == ATTEX_ERR_DECODE);
    CHECK(strstr(reason, "truncated") != NULL);
    /* The peer closes cleanly before attesting; or vanishes without close_notify. */
    CHECK(abuse(NULL, 0, 1, reason) == ATTEX_ERR_ATTESTATION);
    int code = abuse(NULL, 0, 2, reason);
    CHECK(code == ATTEX_ERR_TLS_STATE || code == ATTEX_ERR_ATTESTATION);
}

/* Many small TLS records arriving at once: the GnuTLS driver must deliver them all without
 * more bytes arriving to wake it (nothing may stay buffered inside GnuTLS unnoticed). */
static int client_got_3000(side *c, side *s) { return (void)s, c->data.len >= 3000; }

static void test_many_records(gtu_stack ss)
{
    gtu_pair p;
    if (!open_pair(&p, GTU_GNUTLS, ss, NULL))
        return;
    side c = {&p.c, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    side s = {&p.s, NULL, 0, 0, 0, 0, 0, "", ATTEX_BUF_INIT};
    c.ch = make(&p.c, NULL, NULL, 1);
    s.ch = make(&p.s, &srv_id, attester, 0);
    CHECK(pump(&c, &s, client_attested, 5000));
    /* 300 DATA frames, each flushed on its own: 300 records on the wire before the client
     * looks. */
    uint8_t chunk[10];
    memset(chunk, 'z', sizeof(chunk));
    int ok = 1;
    for (int i = 0; i < 300; i++) {
        int ww;
        if (attex_channel_send(s.ch, chunk, sizeof(chunk), &err) != ATTEX_OK ||
            gtu_channel_io(&p.s, s.ch, &ww, &err) != ATTEX_OK)
            ok = 0;
    }
    CHECK(ok);
    s.io_status = 1; /* from here the server is quiet: only the client is pumped */
    CHECK(pump(&c, &s, client_got_3000, 5000));
    CHECK(c.data.len == 3000 && !c.closed);
    side_free(&c);
    side_free(&s);
    gtu_pair_close(&p);
}

/* attex_*_channel_establish on both ends at once, one in a thread. */
typedef struct est_arg {
    gtu_end *end;
    attex_channel *ch;
    int rc;
    attex_error e;
} est_arg;

static int establish(est_arg *a)
{
    if (a->end->stack == GTU_GNUTLS)
        return attex_gnutls_channel_establish(a->end->gs, a->ch, 5000, &a->e);
    return attex_openssl_channel_establish(a->end->ssl, a->ch, 5000, &a->e);
}

static void *establish_thread(void *arg)
{
    est_arg *a = arg;
    a->rc = establish(a);
    return NULL;
}

static void set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0);
}

static void test_establish(gtu_stack cs, gtu_stack ss, int blocking)
{
    gtu_pair p;
    if (!open_pair(&p, cs, ss, NULL))
        return;
    if (blocking) {
        set_blocking(p.c.fd);
        set_blocking(p.s.fd);
    }
    est_arg ca = {&p.c, make(&p.c, &cli_id, attester, 1), -1, {0, 0, ""}};
    est_arg sa = {&p.s, make(&p.s, &srv_id, attester, 1), -1, {0, 0, ""}};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, establish_thread, &sa) == 0);
    ca.rc = establish(&ca);
    pthread_join(t, NULL);
    CHECK_RC(ca.rc, ATTEX_OK, &ca.e);
    CHECK_RC(sa.rc, ATTEX_OK, &sa.e);
    CHECK(attex_channel_peer_accepted(ca.ch) && attex_channel_peer_accepted(sa.ch));
    CHECK(attex_channel_self_accepted(ca.ch) && attex_channel_self_accepted(sa.ch));
    attex_channel_free(ca.ch);
    attex_channel_free(sa.ch);
    gtu_pair_close(&p);
}

/* ---- the ClientHello's signature schemes -------------------------------- */

static int hellos_sent;
static void count_hellos(int write_p, int version, int content_type, const void *buf,
                         size_t len, SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == 1 /* ClientHello */)
        hellos_sent++;
}

static void test_hello_schemes(void)
{
    gtu_opts o;
    gtu_pair p;
    attex_tls t;
    attex_tls_info info;
    char why[256];
    /* An OpenSSL client offering three schemes: the GnuTLS server records exactly them. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_OPENSSL;
    o.server = GTU_GNUTLS;
    o.openssl_sigalgs = "ECDSA+SHA256:ed25519:rsa_pss_rsae_sha256";
    if (gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        gtu_tls(&p.s, &t);
        CHECK_RC(t.get_info(t.ctx, &info, &err), ATTEX_OK, &err);
        CHECK(info.num_hello_schemes == 3 && info.hello_schemes[0] == 0x0403 &&
              info.hello_schemes[1] == 0x0807 && info.hello_schemes[2] == 0x0804);
        gtu_pair_close(&p);
    } else {
        fprintf(stderr, "%s\n", why);
        CHECK(!"pair");
    }
    /* After a HelloRetryRequest (the GnuTLS server wants P-384, the OpenSSL client's key
     * share is X25519) the second ClientHello is the one recorded, and all works. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_OPENSSL;
    o.server = GTU_GNUTLS;
    o.openssl_sigalgs = "ECDSA+SHA256:rsa_pss_rsae_sha256";
    o.gnutls_extra = "-GROUP-ALL:+GROUP-SECP384R1";
    o.skip_handshake = 1;
    if (gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        SSL_set_msg_callback(p.c.ssl, count_hellos);
        hellos_sent = 0;
        CHECK(gtu_handshake(&p, why, sizeof(why)));
        CHECK(hellos_sent == 2);
        gtu_tls(&p.s, &t);
        CHECK_RC(t.get_info(t.ctx, &info, &err), ATTEX_OK, &err);
        CHECK(info.handshake_complete && info.role == ATTEX_ROLE_SERVER);
        CHECK(info.num_hello_schemes == 2 && info.hello_schemes[0] == 0x0403 &&
              info.hello_schemes[1] == 0x0804);
        attex_ea_session *c = attex_ea_session_new_openssl(p.c.ssl, &err);
        attex_ea_session *s = attex_ea_session_new_gnutls(p.s.gs, &err);
        attex_attest_result *r = NULL;
        CHECK_RC(ea_round(&p, s, c, 1, &cli_id, 1, attester, &r), ATTEX_OK, &err);
        CHECK(r != NULL && attex_attest_result_attested(r));
        attex_attest_result_free(r);
        attex_ea_session_free(c);
        attex_ea_session_free(s);
        gtu_pair_close(&p);
    } else {
        fprintf(stderr, "%s\n", why);
        CHECK(!"HRR pair");
    }
    /* A client that sends attex's private state extension type: the GnuTLS server ignores
     * it, and its state is intact. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_OPENSSL;
    o.server = GTU_GNUTLS;
    o.openssl_client_ext = ATTEX_GNUTLS_STATE_EXTENSION;
    o.openssl_sigalgs = "ECDSA+SHA256";
    if (gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        gtu_tls(&p.s, &t);
        CHECK_RC(t.get_info(t.ctx, &info, &err), ATTEX_OK, &err);
        CHECK(info.handshake_complete && info.num_hello_schemes == 1 &&
              info.hello_schemes[0] == 0x0403);
        attex_ea_session *c = attex_ea_session_new_openssl(p.c.ssl, &err);
        attex_ea_session *s = attex_ea_session_new_gnutls(p.s.gs, &err);
        CHECK_RC(ea_round(&p, c, s, 0, &srv_id, 0, NULL, NULL), ATTEX_OK, &err);
        attex_ea_session_free(c);
        attex_ea_session_free(s);
        gtu_pair_close(&p);
    } else {
        fprintf(stderr, "%s\n", why);
        CHECK(!"private extension pair");
    }
    /* A GnuTLS client: what it records is what the OpenSSL server received. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_GNUTLS;
    o.server = GTU_OPENSSL;
    if (gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        gtu_tls(&p.c, &t);
        CHECK_RC(t.get_info(t.ctx, &info, &err), ATTEX_OK, &err);
        int n = SSL_get_sigalgs(p.s.ssl, -1, NULL, NULL, NULL, NULL, NULL);
        CHECK(n > 0 && (size_t)n == info.num_hello_schemes);
        for (int i = 0; i < n && (size_t)i < info.num_hello_schemes; i++) {
            unsigned char rsig = 0, rhash = 0;
            SSL_get_sigalgs(p.s.ssl, i, NULL, NULL, NULL, &rsig, &rhash);
            CHECK(info.hello_schemes[i] == (uint16_t)((rhash << 8) | rsig));
        }
        gtu_pair_close(&p);
    } else {
        fprintf(stderr, "%s\n", why);
        CHECK(!"pair");
    }
}

/* An attex_tls that claims the ClientHello offered Ed25519 (it did not). */
static attex_tls lying_inner;
static int lying_info(void *ctx, attex_tls_info *out, attex_error *e)
{
    int rc = lying_inner.get_info(ctx, out, e);
    out->hello_schemes[0] = ATTEX_SCHEME_ED25519;
    out->num_hello_schemes = 1;
    return rc;
}

static void test_spontaneous_unoffered(void)
{
    gtu_opts o;
    gtu_pair p;
    char why[256];
    /* GnuTLS client offering ECDSA P-256 only; a server that signs with Ed25519 anyway. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_GNUTLS;
    o.server = GTU_OPENSSL;
    o.gnutls_extra = "-SIGN-ALL:+SIGN-ECDSA-SECP256R1-SHA256";
    if (gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        attex_tls ct, st;
        attex_tls_info ci;
        gtu_tls(&p.c, &ct);
        CHECK_RC(ct.get_info(ct.ctx, &ci, &err), ATTEX_OK, &err);
        CHECK(ci.num_hello_schemes == 1 && ci.hello_schemes[0] == 0x0403);
        gtu_tls(&p.s, &lying_inner);
        st = lying_inner;
        st.get_info = lying_info;
        attex_ea_session *c = attex_ea_session_new(&ct, &err);
        attex_ea_session *s = attex_ea_session_new(&st, &err);
        attex_buf sp = ATTEX_BUF_INIT, rx = ATTEX_BUF_INIT;
        attex_ea_authenticator *a = NULL;
        CHECK_RC(attex_ea_authenticator_create(s, NULL, 0, &ed_id, &sp, &err), ATTEX_OK, &err);
        CHECK(gtu_transfer(&p, 1, sp.data, sp.len, &rx));
        /* RFC 9261 s5.2.2: the GnuTLS client's ClientHello did not offer Ed25519. */
        CHECK_RC(attex_ea_authenticator_validate(c, NULL, 0, rx.data, rx.len, NULL, &a, &err),
                 ATTEX_ERR_ILLEGAL_PARAMETER, &err);
        CHECK(strstr(err.message, "not offered by the ClientHello") != NULL);
        CHECK(a == NULL);
        attex_buf_free(&sp);
        attex_buf_free(&rx);
        attex_ea_session_free(c);
        attex_ea_session_free(s);
        gtu_pair_close(&p);
    } else {
        fprintf(stderr, "%s\n", why);
        CHECK(!"pair");
    }
    /* A GnuTLS server whose client offered ECDSA P-256 only cannot sign with Ed25519. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_OPENSSL;
    o.server = GTU_GNUTLS;
    o.openssl_sigalgs = "ECDSA+SHA256";
    if (gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        attex_ea_session *s = attex_ea_session_new_gnutls(p.s.gs, &err);
        attex_buf sp = ATTEX_BUF_INIT;
        CHECK_RC(attex_ea_authenticator_create(s, NULL, 0, &ed_id, &sp, &err),
                 ATTEX_ERR_NO_COMMON_SCHEME, &err);
        CHECK_RC(attex_ea_authenticator_create(s, NULL, 0, &srv_id, &sp, &err), ATTEX_OK, &err);
        attex_buf_free(&sp);
        attex_ea_session_free(s);
        gtu_pair_close(&p);
    } else {
        fprintf(stderr, "%s\n", why);
        CHECK(!"pair");
    }
}

/* ---- refusals ----------------------------------------------------------- */

static void test_tls12(void)
{
    gtu_opts o;
    gtu_pair p;
    char why[256];
    /* A GnuTLS end forced to TLS 1.2 (prepared for attex, so only the version is wrong). */
    for (int gnutls_is_server = 0; gnutls_is_server < 2; gnutls_is_server++) {
        memset(&o, 0, sizeof(o));
        o.client = gnutls_is_server ? GTU_OPENSSL : GTU_GNUTLS;
        o.server = gnutls_is_server ? GTU_GNUTLS : GTU_OPENSSL;
        o.tls12 = 1;
        if (!gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
            fprintf(stderr, "%s\n", why);
            CHECK(!"TLS 1.2 pair");
            continue;
        }
        gnutls_session_t g = gnutls_is_server ? p.s.gs : p.c.gs;
        CHECK(gnutls_protocol_get_version(g) == GNUTLS_TLS1_2);
        attex_ea_session *s = attex_ea_session_new_gnutls(g, &err);
        attex_buf req = ATTEX_BUF_INIT;
        CHECK_RC(attex_ea_request_create(s, NULL, &req, &err), ATTEX_ERR_TLS_STATE, &err);
        CHECK(strstr(err.message, "TLS 1.3") != NULL && strstr(err.message, "0x0303") != NULL);
        CHECK_RC(attex_ea_authenticator_create(s, NULL, 0, &srv_id, &req, &err),
                 ATTEX_ERR_TLS_STATE, &err);
        /* The exporter refuses too, though RFC 5705 would allow it in TLS 1.2. */
        attex_tls t;
        uint8_t out[32];
        attex_gnutls_tls(g, &t);
        CHECK_RC(t.export_keying_material(t.ctx, "EXPORTER-x", NULL, 0, out, 32, &err),
                 ATTEX_ERR_TLS_STATE, &err);
        CHECK(strstr(err.message, "TLS 1.3") != NULL);
        attex_buf_free(&req);
        attex_ea_session_free(s);
        gtu_pair_close(&p);
    }
    /* An attex-configured GnuTLS server does not negotiate TLS 1.2 at all. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_OPENSSL;
    o.server = GTU_GNUTLS;
    o.openssl_max12 = 1;
    o.openssl_plain = 1;
    CHECK(!gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why)));
    CHECK(why[0] != 0);
    /* Nor an attex-configured GnuTLS client. */
    o.client = GTU_GNUTLS;
    o.server = GTU_OPENSSL;
    CHECK(!gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why)));
    CHECK(why[0] != 0);
}

static void test_before_completion(void)
{
    gtu_opts o;
    gtu_pair p;
    char why[256];
    uint8_t out[32];
    attex_tls ct, st;
    attex_tls_info info;
    memset(&o, 0, sizeof(o));
    o.client = GTU_GNUTLS;
    o.server = GTU_GNUTLS;
    o.skip_handshake = 1;
    if (!gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        CHECK(!"pair");
        return;
    }
    gtu_tls(&p.c, &ct);
    gtu_tls(&p.s, &st);
    attex_ea_session *s = attex_ea_session_new_gnutls(p.s.gs, &err);
    attex_buf req = ATTEX_BUF_INIT;
    /* Before anything. */
    CHECK_RC(st.export_keying_material(st.ctx, "EXPORTER-x", NULL, 0, out, 32, &err),
             ATTEX_ERR_TLS_STATE, &err);
    CHECK(strstr(err.message, "before the handshake completes") != NULL);
    CHECK_RC(attex_ea_request_create(s, NULL, &req, &err), ATTEX_ERR_TLS_STATE, &err);
    /* The server has sent its Finished, the client's has not arrived: still refused
     * (RFC 9261 s7), though TLS 1.3 has an exporter secret by then. */
    int r1 = gnutls_handshake(p.c.gs); /* ClientHello */
    CHECK(r1 == GNUTLS_E_AGAIN);
    for (int i = 0; i < 200; i++) {
        int r = gnutls_handshake(p.s.gs);
        if (r != GNUTLS_E_AGAIN)
            break;
        CHECK_RC(st.get_info(st.ctx, &info, &err), ATTEX_OK, &err);
        if (gnutls_handshake_get_last_out(p.s.gs) == GNUTLS_HANDSHAKE_FINISHED)
            break;
        struct pollfd pf = {p.s.fd, POLLIN, 0};
        poll(&pf, 1, 5);
    }
    CHECK(gnutls_handshake_get_last_out(p.s.gs) == GNUTLS_HANDSHAKE_FINISHED);
    CHECK_RC(st.get_info(st.ctx, &info, &err), ATTEX_OK, &err);
    CHECK(!info.handshake_complete && info.role == ATTEX_ROLE_SERVER);
    CHECK_RC(st.export_keying_material(st.ctx, "EXPORTER-x", NULL, 0, out, 32, &err),
             ATTEX_ERR_TLS_STATE, &err);
    CHECK_RC(attex_ea_request_create(s, NULL, &req, &err), ATTEX_ERR_TLS_STATE, &err);
    CHECK(strstr(err.message, "not complete") != NULL);
    /* Once complete, the same calls work. */
    CHECK(gtu_handshake(&p, why, sizeof(why)));
    CHECK_RC(st.export_keying_material(st.ctx, "EXPORTER-x", NULL, 0, out, 32, &err), ATTEX_OK,
             &err);
    CHECK_RC(attex_ea_request_create(s, NULL, &req, &err), ATTEX_OK, &err);
    attex_buf_free(&req);
    attex_ea_session_free(s);
    gtu_pair_close(&p);
}

static void test_unprepared(void)
{
    gnutls_session_t g;
    attex_tls t;
    attex_tls_info info;
    uint8_t out[32];
    CHECK(gnutls_init(&g, GNUTLS_CLIENT) == 0);
    attex_gnutls_tls(g, &t);
    CHECK_RC(t.get_info(t.ctx, &info, &err), ATTEX_ERR_TLS_STATE, &err);
    CHECK(strstr(err.message, "attex_gnutls_configure_session") != NULL);
    CHECK_RC(t.export_keying_material(t.ctx, "EXPORTER-x", NULL, 0, out, 32, &err),
             ATTEX_ERR_TLS_STATE, &err);
    /* Preparing twice is harmless; a bad priority string is reported. */
    CHECK_RC(attex_gnutls_prepare_session(g, &err), ATTEX_OK, &err);
    CHECK_RC(attex_gnutls_configure_session(g, &err), ATTEX_OK, &err);
    CHECK_RC(attex_gnutls_configure_session_priority(g, "+NO-SUCH-THING", &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "NO-SUCH-THING") != NULL);
    CHECK_RC(t.get_info(t.ctx, &info, &err), ATTEX_OK, &err);
    CHECK(!info.handshake_complete);
    /* The channel driver needs a socket transport; this session has none. */
    attex_channel_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.tls = &t;
    attex_channel *ch = attex_channel_new(&cfg, &err);
    CHECK(ch != NULL);
    if (ch != NULL) {
        CHECK_RC(attex_gnutls_channel_io(g, ch, NULL, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
        CHECK(strstr(err.message, "socket") != NULL);
        CHECK_RC(attex_gnutls_channel_establish(g, ch, 10, &err), ATTEX_ERR_INVALID_ARGUMENT,
                 &err);
    }
    attex_channel_free(ch);
    CHECK_RC(attex_gnutls_channel_io(NULL, NULL, NULL, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_gnutls_prepare_session(NULL, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(attex_ea_session_new_gnutls(NULL, &err) == NULL);
    gnutls_deinit(g);
}

/* Evidence or an authenticator made on one connection, presented on another. */
typedef struct replay {
    int replaying;
    attex_buf recorded;
} replay;

static int replay_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *e)
{
    replay *r = ctx;
    if (r->replaying) {
        cmw->data = malloc(r->recorded.len);
        memcpy(cmw->data, r->recorded.data, r->recorded.len);
        cmw->len = r->recorded.len;
        return ATTEX_OK;
    }
    int rc = attester->attest(attester->ctx, b, cmw, e);
    if (rc == ATTEX_OK) {
        attex_buf_free(&r->recorded);
        r->recorded.data = malloc(cmw->len);
        memcpy(r->recorded.data, cmw->data, cmw->len);
        r->recorded.len = cmw->len;
    }
    return rc;
}

static void test_other_connection(void)
{
    gtu_pair p, q;
    if (!open_pair(&p, GTU_OPENSSL, GTU_GNUTLS, NULL))
        return;
    if (!open_pair(&q, GTU_GNUTLS, GTU_OPENSSL, NULL)) {
        gtu_pair_close(&p);
        return;
    }
    attex_tls t;
    gtu_tls(&p.c, &t);
    attex_ea_session *pc = attex_ea_session_new(&t, &err);
    gtu_tls(&p.s, &t);
    attex_ea_session *ps = attex_ea_session_new(&t, &err);
    gtu_tls(&q.c, &t);
    attex_ea_session *qc = attex_ea_session_new(&t, &err);
    gtu_tls(&q.s, &t);
    attex_ea_session *qs = attex_ea_session_new(&t, &err);

    /* Evidence recorded on q (GnuTLS client attesting to an OpenSSL server), replayed by the
     * OpenSSL client of p to its GnuTLS server: the binder differs. */
    replay rp = {0, ATTEX_BUF_INIT};
    attex_attester rep = {"replay", &rp, replay_attest};
    attex_attest_result *r = NULL;
    CHECK_RC(ea_round(&q, qs, qc, 1, &cli_id, 1, &rep, &r), ATTEX_OK, &err);
    attex_attest_result_free(r);
    r = NULL;
    rp.replaying = 1;
    CHECK_RC(ea_round(&p, ps, pc, 1, &cli_id, 1, &rep, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "nonce") != NULL || strstr(err.message, "binder") != NULL);
    attex_attest_result_free(r); /* filled for diagnostics */
    attex_buf_free(&rp.recorded);

    /* A request of p's GnuTLS server answered by q's GnuTLS client: the authenticator is
     * bound to q's exporter, so p's server rejects it. */
    attex_buf req = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    CHECK_RC(attex_ea_request_create(ps, NULL, &req, &err), ATTEX_OK, &err);
    CHECK_RC(attex_ea_authenticator_create(qc, req.data, req.len, &cli_id, &auth, &err), ATTEX_OK,
             &err);
    int rc = attex_ea_authenticator_validate(ps, req.data, req.len, auth.data, auth.len, NULL, &a,
                                             &err);
    CHECK(rc == ATTEX_ERR_BAD_SIGNATURE || rc == ATTEX_ERR_BAD_FINISHED);
    CHECK(a == NULL);
    attex_buf_free(&req);
    attex_buf_free(&auth);

    attex_ea_session_free(pc);
    attex_ea_session_free(ps);
    attex_ea_session_free(qc);
    attex_ea_session_free(qs);
    gtu_pair_close(&p);
    gtu_pair_close(&q);
}

/* ---- PROTOCOL.md s4 settings -------------------------------------------- */

static int tickets_seen;
static void count_tickets(int write_p, int version, int content_type, const void *buf,
                          size_t len, SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == 4 /* NewSessionTicket */)
        tickets_seen++;
}

static int tickets_sent;
static void count_sent_tickets(int write_p, int version, int content_type, const void *buf,
                               size_t len, SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == 4 /* NewSessionTicket */)
        tickets_sent++;
}

static void test_settings(void)
{
    gtu_opts o;
    gtu_pair p;
    char why[256];
    /* An OpenSSL client that would take tickets gets none from the configured GnuTLS server. */
    memset(&o, 0, sizeof(o));
    o.client = GTU_OPENSSL;
    o.server = GTU_GNUTLS;
    o.openssl_plain = 1;
    o.skip_handshake = 1;
    if (!gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        CHECK(!"pair");
        return;
    }
    SSL_set_msg_callback(p.c.ssl, count_tickets);
    tickets_seen = 0;
    CHECK(gtu_handshake(&p, why, sizeof(why)));
    attex_buf rx = ATTEX_BUF_INIT;
    CHECK(gtu_transfer(&p, 1, (const uint8_t *)"x", 1, &rx));
    attex_buf_free(&rx);
    CHECK(tickets_seen == 0);
    CHECK(gnutls_protocol_get_version(p.s.gs) == GNUTLS_TLS1_3);
    CHECK(!gnutls_session_is_resumed(p.s.gs));
    CHECK((gnutls_session_get_flags(p.s.gs) & GNUTLS_SFLAGS_EARLY_DATA) == 0);
    gtu_pair_close(&p);
    /* A configured GnuTLS client facing an OpenSSL server that sends two tickets anyway:
     * the connection works, nothing is resumed or sent early. GnuTLS keeps a received
     * ticket inside the session (gnutls_session_get_data2 would return it); attex never
     * reads it, so it dies with the session (docs/gnutls.md). */
    memset(&o, 0, sizeof(o));
    o.client = GTU_GNUTLS;
    o.server = GTU_OPENSSL;
    o.openssl_plain = 1;
    o.skip_handshake = 1;
    if (!gtu_pair_open(&p, &o, srv_cert, srv_key, why, sizeof(why))) {
        CHECK(!"pair");
        return;
    }
    SSL_set_num_tickets(p.s.ssl, 2);
    SSL_set_msg_callback(p.s.ssl, count_sent_tickets);
    tickets_sent = 0;
    CHECK(gtu_handshake(&p, why, sizeof(why)));
    CHECK(gtu_transfer(&p, 1, (const uint8_t *)"x", 1, &rx));
    attex_buf_free(&rx);
    CHECK(gtu_transfer(&p, 0, (const uint8_t *)"y", 1, &rx));
    attex_buf_free(&rx);
    CHECK(tickets_sent == 2);
    CHECK(!gnutls_session_is_resumed(p.c.gs));
    CHECK((gnutls_session_get_flags(p.c.gs) & GNUTLS_SFLAGS_EARLY_DATA) == 0);
    gtu_pair_close(&p);
}

/* ---- the ClientHello parser --------------------------------------------- */

/* A ClientHello body: legacy_version, random, empty session id, one suite, null
 * compression, then supported_versions (43) and an extension of type `type` with `body`. */
static size_t build_hello(uint8_t *m, uint16_t type, const uint8_t *body, size_t body_len)
{
    size_t n = 0;
    m[n++] = 3, m[n++] = 3;
    memset(m + n, 0x11, 32), n += 32;
    m[n++] = 0;
    m[n++] = 0, m[n++] = 2, m[n++] = 0x13, m[n++] = 0x01;
    m[n++] = 1, m[n++] = 0;
    size_t exts = n;
    n += 2;
    m[n++] = 0, m[n++] = 43, m[n++] = 0, m[n++] = 3, m[n++] = 2, m[n++] = 3, m[n++] = 4;
    m[n++] = (uint8_t)(type >> 8), m[n++] = (uint8_t)type;
    m[n++] = (uint8_t)(body_len >> 8), m[n++] = (uint8_t)body_len;
    memcpy(m + n, body, body_len), n += body_len;
    m[exts] = (uint8_t)((n - exts - 2) >> 8);
    m[exts + 1] = (uint8_t)(n - exts - 2);
    return n;
}

static int parse(const uint8_t *m, size_t n, size_t *num, int *found, uint16_t *out)
{
    return hello_parse_sigalgs(m, n, out, 4, num, found, &err);
}

/* Real ClientHellos (tests/vectors/gnutls/README.md) against independently decoded lists. */
static void test_hello_vectors(void)
{
    static const char *const names[] = {"hello_openssl_tls13", "hello_openssl_two_sigalgs",
                                        "hello_openssl_tls12", "hello_gnutls_default",
                                        "hello_gnutls_attex"};
    char path[4096];
    snprintf(path, sizeof(path), "%s", tu_source_path("tests/vectors/gnutls/expected.txt"));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *hex = tu_file_field(path, names[i]);
        char rel[128];
        snprintf(rel, sizeof(rel), "tests/vectors/gnutls/%s.bin", names[i]);
        FILE *f = fopen(tu_source_path(rel), "rb");
        uint8_t msg[4096];
        size_t len = f ? fread(msg, 1, sizeof(msg), f) : 0;
        if (f)
            fclose(f);
        attex_buf want = ATTEX_BUF_INIT;
        CHECK(hex != NULL && len > 0 && tu_hex(hex, &want));
        uint16_t out[ATTEX_MAX_HELLO_SCHEMES];
        size_t num = 0;
        int found = 0;
        CHECK_RC(hello_parse_sigalgs(msg, len, out, ATTEX_MAX_HELLO_SCHEMES, &num, &found, &err),
                 ATTEX_OK, &err);
        CHECK(found && num * 2 == want.len);
        for (size_t k = 0; k < num && 2 * k + 1 < want.len; k++)
            CHECK(out[k] == (uint16_t)((want.data[2 * k] << 8) | want.data[2 * k + 1]));
        /* Any single flipped length byte in the hello's header part breaks it. */
        if (len > 40) {
            msg[34] ^= 0x40; /* legacy_session_id length */
            CHECK(hello_parse_sigalgs(msg, len, out, 4, &num, &found, &err) != ATTEX_OK);
        }
        attex_buf_free(&want);
        free(hex);
    }
}

static void test_hello_parser(void)
{
    uint8_t m[160];
    uint16_t out[4];
    size_t num = 99;
    int found = 0;
    static const uint8_t good[] = {0, 6, 4, 3, 8, 7, 8, 4};
    size_t n = build_hello(m, 13, good, sizeof(good));
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_OK, &err);
    CHECK(found && num == 3 && out[0] == 0x0403 && out[1] == 0x0807 && out[2] == 0x0804);
    /* Only the first `max` are kept. */
    CHECK_RC(hello_parse_sigalgs(m, n, out, 2, &num, &found, &err), ATTEX_OK, &err);
    CHECK(num == 2);
    /* Truncation at every length fails and leaves nothing behind, except right after the
     * compression methods: a valid pre-1.3 hello without extensions. */
    int all_fail = 1;
    for (size_t cut = 0; cut < n; cut++) {
        int rc = parse(m, cut, &num, &found, out);
        if (cut == 41) {
            CHECK(rc == ATTEX_OK && num == 0 && !found);
            continue;
        }
        if (rc == ATTEX_OK || num || found)
            all_fail = 0;
    }
    CHECK(all_fail);
    /* A trailing byte. */
    m[n] = 0;
    CHECK_RC(parse(m, n + 1, &num, &found, out), ATTEX_ERR_DECODE, &err);
    /* Absent: fine, nothing found. */
    n = build_hello(m, 10, good, sizeof(good));
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_OK, &err);
    CHECK(num == 0 && !found);
    /* A repeated extension type (RFC 8446 s4.2). */
    n = build_hello(m, 43, good, sizeof(good));
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    CHECK(strstr(err.message, "twice") != NULL);
    /* signature_algorithms: an odd list, an empty list, lengths that disagree. */
    static const uint8_t odd[] = {0, 5, 4, 3, 8, 7, 8};
    static const uint8_t empty[] = {0, 0};
    static const uint8_t longer[] = {0, 8, 4, 3, 8, 7, 8, 4};
    static const uint8_t shorter[] = {0, 4, 4, 3, 8, 7, 8, 4};
    const uint8_t *bad[4] = {odd, empty, longer, shorter};
    size_t bad_len[4] = {sizeof(odd), sizeof(empty), sizeof(longer), sizeof(shorter)};
    for (int i = 0; i < 4; i++) {
        n = build_hello(m, 13, bad[i], bad_len[i]);
        CHECK_RC(parse(m, n, &num, &found, out), ATTEX_ERR_DECODE, &err);
        CHECK(num == 0 && !found);
    }
    /* A session id longer than 32 bytes; no cipher suite; an odd suite list; no
     * compression method. */
    n = build_hello(m, 13, good, sizeof(good));
    m[34] = 33;
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_ERR_DECODE, &err);
    m[34] = 0;
    m[36] = 0;
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_ERR_DECODE, &err);
    m[36] = 1;
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_ERR_DECODE, &err);
    m[36] = 2;
    m[39] = 0;
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_ERR_DECODE, &err);
    m[39] = 1;
    CHECK_RC(parse(m, n, &num, &found, out), ATTEX_OK, &err);
}

int main(void)
{
    ak = tu_key("p256");
    srv_key = tu_key("p256");
    cli_key = tu_key("p384");
    ed_key = tu_key("ed25519");
    srv_cert = tu_cert(srv_key, "gnutls test server", NULL, NULL, 0, 1);
    cli_cert = tu_cert(cli_key, "gnutls test client", NULL, NULL, 0, 1);
    ed_cert = tu_cert(ed_key, "gnutls test ed25519", NULL, NULL, 0, 1);
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
    policy.require = 1;
    srv_id.cert = srv_cert;
    srv_id.key = srv_key;
    cli_id.cert = cli_cert;
    cli_id.key = cli_key;
    ed_id.cert = ed_cert;
    ed_id.key = ed_key;

    test_hello_parser();
    test_hello_vectors();
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 2; i++) {
            test_exporters(combos[k][0], combos[k][1], suites[i]);
            test_authenticators(combos[k][0], combos[k][1], suites[i]);
            for (int mode = 0; mode < 3; mode++)
                test_channel(combos[k][0], combos[k][1], suites[i], mode);
        }
        test_channel_rejected(combos[k][0], combos[k][1]);
        test_establish(combos[k][0], combos[k][1], 0);
        test_establish(combos[k][0], combos[k][1], 1);
    }
    test_channel_abuse();
    test_many_records(GTU_OPENSSL);
    test_many_records(GTU_GNUTLS);
    test_hello_schemes();
    test_spontaneous_unoffered();
    test_tls12();
    test_before_completion();
    test_unprepared();
    test_other_connection();
    test_settings();

    attex_sample_attester_free(attester);
    attex_sample_verifier_free(verifier);
    X509_free(srv_cert);
    X509_free(cli_cert);
    X509_free(ed_cert);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    EVP_PKEY_free(ed_key);
    return tu_finish("test_gnutls");
}
