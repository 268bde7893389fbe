/*
 * attex-bench-conn: connections per second and latency of whole connections
 * over loopback TCP, plain TLS 1.3 against attested channels.
 *
 * One thread drives both ends of every connection over real non-blocking
 * loopback sockets (like tu_pair_open), in turns: the client runs until it
 * has nothing more to do, then the server, and so on, so every turn writes
 * one complete flight. Each connection is: socket + connect + accept, TLS
 * 1.3 handshake (new SSL objects, SSL_CTXs reused), one 32-byte message
 * from the client echoed back by the server, then SSL_free and close.
 *
 * Rows:
 *   tls      plain TLS 1.3 + the round trip;
 *   pha      TLS 1.3 with OpenSSL's post-handshake client authentication
 *            (the server echoes only once the client's certificate arrived);
 *   attex-s  attested channel, the client requires the server's attestation
 *            (sample attester), data through the channel;
 *   attex-m  the same, mutual.
 *
 * Round trips are counted at the TLS record level on the client: a message
 * callback sees every record header, and each change from "client wrote" to
 * "client read" is one round trip (the client sent a flight and then had to
 * wait for the server's).
 *
 * Every return code is checked; any failure makes the run exit 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <attex/attex.h>
#include <attex/openssl.h>

#include "testutil.h"

#define MSG_LEN 32
#define GOAL 0.50
#define SMOKE_CONNS 5
#define MIN_CONNS 20
#define WARMUP_CONNS 5
#define CONN_TIMEOUT_MS 5000
#define MAX_SECONDS 3600.0

enum { ROW_TLS, ROW_PHA, ROW_ATTEX_SERVER, ROW_ATTEX_MUTUAL, NUM_ROWS };

static const char *const row_names[NUM_ROWS] = {
    "TLS 1.3 + round trip", "TLS 1.3 + post-handshake client auth + round trip",
    "attex server-only (sample attester) + round trip",
    "attex mutual (sample attester) + round trip"};

typedef struct env {
    SSL_CTX *srv_ctx[NUM_ROWS], *cli_ctx[NUM_ROWS];
    EVP_PKEY *srv_key, *cli_key, *ak;
    X509 *srv_cert, *cli_cert;
    attex_attester *att;
    attex_verifier *ver;
    const attex_verifier *vers[1];
    attex_attest_policy policy;
    attex_ea_identity srv_id, cli_id;
    int lfd;
    struct sockaddr_in addr;
} env;

typedef struct conn {
    int kind;
    SSL *c, *s;
    int cfd, sfd;
    attex_channel *cch, *sch;
    int c_hs, s_hs, echoed, c_attested, s_attested, failed;
    int rt, last_dir; /* round trips seen by the client; last record direction (-1 none) */
    uint8_t msg[MSG_LEN], cbuf[MSG_LEN], sbuf[MSG_LEN];
    size_t cgot, sgot;
} conn;

typedef struct row {
    double *lat_us;
    size_t n, cap;
    uint64_t wall_ns, cpu_ns;
    int rt; /* -1 until the first connection */
} row;

static int fail(const char *what)
{
    fprintf(stderr, "attex-bench-conn: FAILED: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 0;
}

static int fail_attex(const char *what, int rc, const attex_error *err)
{
    fprintf(stderr, "attex-bench-conn: FAILED: %s: %s (%s)\n", what, attex_status_name(rc),
            err->message[0] ? err->message : "no message");
    ERR_print_errors_fp(stderr);
    return 0;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
static uint64_t wall_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

/* ---------------------------------------------------------------------- */
/* Setup                                                                  */

static int no_ticket_ctx(SSL_CTX *ctx)
{
    /* The same settings attex_openssl_configure_ctx applies. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_num_tickets(ctx, 0) == 1 && SSL_CTX_set_max_early_data(ctx, 0) == 1 &&
           SSL_CTX_set_recv_max_early_data(ctx, 0) == 1;
}

/* The benchmark checks the certificate's signature (CertificateVerify), not its chain,
 * like the attested rows (no trust store for the authenticators). */
static int accept_any(int preverify, X509_STORE_CTX *x)
{
    (void)preverify, (void)x;
    return 1;
}

static int env_open(env *e)
{
    attex_error err;
    memset(&err, 0, sizeof(err));
    e->lfd = -1;
    e->srv_key = tu_key("p256");
    e->cli_key = tu_key("p256");
    e->ak = tu_key("p256");
    if (e->srv_key == NULL || e->cli_key == NULL || e->ak == NULL)
        return fail("making keys");
    e->srv_cert = tu_cert(e->srv_key, "attex-bench-conn server", NULL, NULL, 0, 1);
    e->cli_cert = tu_cert(e->cli_key, "attex-bench-conn client", NULL, NULL, 0, 1);
    if (e->srv_cert == NULL || e->cli_cert == NULL)
        return fail("making certificates");
    for (int k = 0; k < NUM_ROWS; k++) {
        e->srv_ctx[k] = SSL_CTX_new(TLS_server_method());
        e->cli_ctx[k] = SSL_CTX_new(TLS_client_method());
        if (e->srv_ctx[k] == NULL || e->cli_ctx[k] == NULL)
            return fail("SSL_CTX_new");
        if (k == ROW_ATTEX_SERVER || k == ROW_ATTEX_MUTUAL) {
            int rc = attex_openssl_configure_ctx(e->srv_ctx[k], &err);
            if (rc == ATTEX_OK)
                rc = attex_openssl_configure_ctx(e->cli_ctx[k], &err);
            if (rc != ATTEX_OK)
                return fail_attex("attex_openssl_configure_ctx", rc, &err);
        } else if (!no_ticket_ctx(e->srv_ctx[k]) || !no_ticket_ctx(e->cli_ctx[k])) {
            return fail("TLS settings");
        }
        if (SSL_CTX_use_certificate(e->srv_ctx[k], e->srv_cert) != 1 ||
            SSL_CTX_use_PrivateKey(e->srv_ctx[k], e->srv_key) != 1)
            return fail("server certificate");
    }
    SSL_CTX_set_verify(e->srv_ctx[ROW_PHA],
                       SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
                           SSL_VERIFY_POST_HANDSHAKE,
                       accept_any);
    if (SSL_CTX_use_certificate(e->cli_ctx[ROW_PHA], e->cli_cert) != 1 ||
        SSL_CTX_use_PrivateKey(e->cli_ctx[ROW_PHA], e->cli_key) != 1)
        return fail("client certificate");
    SSL_CTX_set_post_handshake_auth(e->cli_ctx[ROW_PHA], 1);

    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = e->ak;
    attex_buf refs = ATTEX_BUF_INIT;
    e->att = attex_sample_attester_new(&ac, &err);
    if (e->att == NULL)
        return fail_attex("sample attester", err.code, &err);
    int rc = attex_sample_reference_values(&ac, &refs, &err);
    if (rc != ATTEX_OK)
        return fail_attex("reference values", rc, &err);
    char *text = calloc(1, refs.len + 1);
    if (text == NULL) {
        attex_buf_free(&refs);
        return fail("out of memory");
    }
    memcpy(text, refs.data, refs.len);
    attex_buf_free(&refs);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &e->ak;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = text;
    e->ver = attex_sample_verifier_new(&vc, &err);
    free(text);
    if (e->ver == NULL)
        return fail_attex("sample verifier", err.code, &err);
    e->vers[0] = e->ver;
    e->policy.verifiers = e->vers;
    e->policy.num_verifiers = 1;
    e->policy.require = 1;
    e->srv_id.cert = e->srv_cert;
    e->srv_id.key = e->srv_key;
    e->cli_id.cert = e->cli_cert;
    e->cli_id.key = e->cli_key;

    e->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&e->addr, 0, sizeof(e->addr));
    e->addr.sin_family = AF_INET;
    e->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(e->addr);
    if (e->lfd < 0 || bind(e->lfd, (struct sockaddr *)&e->addr, sizeof(e->addr)) != 0 ||
        listen(e->lfd, 64) != 0 ||
        getsockname(e->lfd, (struct sockaddr *)&e->addr, &alen) != 0)
        return fail("listening on 127.0.0.1");
    return 1;
}

static void env_close(env *e)
{
    for (int k = 0; k < NUM_ROWS; k++) {
        SSL_CTX_free(e->srv_ctx[k]);
        SSL_CTX_free(e->cli_ctx[k]);
    }
    attex_sample_attester_free(e->att);
    attex_sample_verifier_free(e->ver);
    X509_free(e->srv_cert);
    X509_free(e->cli_cert);
    EVP_PKEY_free(e->srv_key);
    EVP_PKEY_free(e->cli_key);
    EVP_PKEY_free(e->ak);
    if (e->lfd >= 0)
        close(e->lfd);
}

/* ---------------------------------------------------------------------- */
/* One connection                                                         */

static void count_rt(int write_p, int version, int content_type, const void *buf, size_t len,
                     SSL *ssl, void *arg)
{
    (void)version, (void)buf, (void)len, (void)ssl;
    conn *c = arg;
    if (content_type != SSL3_RT_HEADER)
        return;
    if (c->last_dir == 1 && !write_p)
        c->rt++;
    c->last_dir = write_p ? 1 : 0;
}

static int set_socket(int fd)
{
    int one = 1;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
           setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
}

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* ssl_ok: 1 when an SSL call's failure only means "wait". */
static int ssl_ok(SSL *ssl, int r, const char *what)
{
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 1;
    return fail(what);
}

static int make_channel(const env *e, conn *c, SSL *ssl, int server, attex_channel **out)
{
    attex_error err;
    memset(&err, 0, sizeof(err));
    attex_tls tls;
    attex_openssl_tls(ssl, &tls);
    attex_channel_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.tls = &tls;
    cfg.policy = &e->policy;
    if (server) {
        cfg.identity = &e->srv_id;
        cfg.attester = e->att;
        cfg.require_peer = c->kind == ROW_ATTEX_MUTUAL;
    } else {
        cfg.require_peer = 1;
        if (c->kind == ROW_ATTEX_MUTUAL) {
            cfg.identity = &e->cli_id;
            cfg.attester = e->att;
        }
    }
    *out = attex_channel_new(&cfg, &err);
    if (*out == NULL)
        return fail_attex("attex_channel_new", err.code, &err);
    int rc = attex_channel_start(*out, attex_monotonic_ms(), &err);
    if (rc != ATTEX_OK)
        return fail_attex("attex_channel_start", rc, &err);
    return 1;
}

/* channel_turn does the channel's I/O and handles its events. */
static int channel_turn(conn *c, int server)
{
    attex_channel *ch = server ? c->sch : c->cch;
    SSL *ssl = server ? c->s : c->c;
    attex_error err;
    memset(&err, 0, sizeof(err));
    int ww = 0;
    int rc = attex_openssl_channel_io(ssl, ch, &ww, &err);
    attex_channel_event ev;
    while (attex_channel_next_event(ch, &ev)) {
        switch (ev.type) {
        case ATTEX_EVENT_PEER_ATTESTED:
            if (server)
                c->s_attested = 1;
            else
                c->c_attested = 1;
            break;
        case ATTEX_EVENT_SELF_ACCEPTED: break;
        case ATTEX_EVENT_DATA:
            if (server) {
                int src = attex_channel_send(ch, ev.data, ev.len, &err);
                if (src != ATTEX_OK)
                    return fail_attex("server echo", src, &err);
                c->sgot += ev.len;
            } else {
                if (c->cgot + ev.len > MSG_LEN)
                    return fail("client: more data than sent");
                memcpy(c->cbuf + c->cgot, ev.data, ev.len);
                c->cgot += ev.len;
            }
            break;
        case ATTEX_EVENT_CLOSED:
            fprintf(stderr, "attex-bench-conn: %s channel closed: %s\n",
                    server ? "server" : "client", ev.reason ? ev.reason : "");
            return fail("channel closed");
        }
    }
    if (rc != ATTEX_OK)
        return fail_attex(server ? "server channel I/O" : "client channel I/O", rc, &err);
    return 1;
}

static int client_step(const env *e, conn *c)
{
    if (!c->c_hs) {
        int r = SSL_do_handshake(c->c);
        if (r != 1)
            return ssl_ok(c->c, r, "client handshake");
        c->c_hs = 1;
        if (c->kind == ROW_TLS || c->kind == ROW_PHA) {
            size_t n;
            if (SSL_write_ex(c->c, c->msg, MSG_LEN, &n) != 1 || n != MSG_LEN)
                return fail("client write");
            return 1;
        }
        attex_error err;
        memset(&err, 0, sizeof(err));
        if (!make_channel(e, c, c->c, 0, &c->cch))
            return 0;
        int rc = attex_channel_send(c->cch, c->msg, MSG_LEN, &err);
        if (rc != ATTEX_OK)
            return fail_attex("client send", rc, &err);
    }
    if (c->cch != NULL)
        return channel_turn(c, 0);
    size_t n;
    int r = SSL_read_ex(c->c, c->cbuf + c->cgot, MSG_LEN - c->cgot, &n);
    if (r != 1)
        return ssl_ok(c->c, r, "client read");
    c->cgot += n;
    return 1;
}

static int server_step(const env *e, conn *c)
{
    if (!c->s_hs) {
        int r = SSL_do_handshake(c->s);
        if (r != 1)
            return ssl_ok(c->s, r, "server handshake");
        c->s_hs = 1;
        if (c->kind == ROW_PHA) {
            if (SSL_verify_client_post_handshake(c->s) != 1)
                return fail("SSL_verify_client_post_handshake");
            r = SSL_do_handshake(c->s); /* sends the CertificateRequest */
            if (r != 1 && !ssl_ok(c->s, r, "sending the CertificateRequest"))
                return 0;
        } else if (c->kind != ROW_TLS && !make_channel(e, c, c->s, 1, &c->sch)) {
            return 0;
        }
    }
    if (c->sch != NULL)
        return channel_turn(c, 1);
    if (c->sgot < MSG_LEN) {
        size_t n;
        int r = SSL_read_ex(c->s, c->sbuf + c->sgot, MSG_LEN - c->sgot, &n);
        if (r != 1) {
            if (!ssl_ok(c->s, r, "server read"))
                return 0;
        } else {
            c->sgot += n;
        }
    } else if (c->kind == ROW_PHA && !c->echoed) {
        /* Let OpenSSL process the client's Certificate, CertificateVerify, Finished. */
        uint8_t x;
        size_t n;
        int r = SSL_read_ex(c->s, &x, 1, &n);
        if (r == 1)
            return fail("server: unexpected data");
        if (!ssl_ok(c->s, r, "server read (post-handshake auth)"))
            return 0;
    }
    int authed = c->kind != ROW_PHA || SSL_get0_peer_certificate(c->s) != NULL;
    if (c->sgot == MSG_LEN && authed && !c->echoed) {
        size_t n;
        if (SSL_write_ex(c->s, c->sbuf, MSG_LEN, &n) != 1 || n != MSG_LEN)
            return fail("server write");
        c->echoed = 1;
        c->s_attested = 1;
    }
    return 1;
}

/* turn runs one side until it has consumed what the peer sent and written its flight. */
static int turn(const env *e, conn *c, int server)
{
    SSL *ssl = server ? c->s : c->c;
    int fd = server ? c->sfd : c->cfd;
    for (int i = 0; i < 8; i++) {
        if (!(server ? server_step(e, c) : client_step(e, c)))
            return 0;
        if (!readable(fd) && !SSL_has_pending(ssl))
            break;
    }
    /* A channel may have queued output while reading: write it in this same turn. */
    attex_channel *ch = server ? c->sch : c->cch;
    if (ch != NULL) {
        size_t pending;
        attex_channel_output(ch, &pending);
        if (pending > 0 && !channel_turn(c, server))
            return 0;
    }
    return 1;
}

static void conn_free(conn *c)
{
    attex_channel_free(c->cch);
    attex_channel_free(c->sch);
    SSL_free(c->c);
    SSL_free(c->s);
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->sfd >= 0)
        close(c->sfd);
}

/* one_connection runs a whole connection; *lat_ns: connect() to the echo's arrival. */
static int one_connection(const env *e, int kind, uint64_t *lat_ns, int *rt)
{
    conn c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    c.cfd = c.sfd = -1;
    c.last_dir = -1;
    for (int i = 0; i < MSG_LEN; i++)
        c.msg[i] = (uint8_t)('a' + i % 26);
    int ok = 0;
    uint64_t t0 = wall_ns();
    c.cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (c.cfd < 0 || !set_socket(c.cfd)) {
        fail("client socket");
        goto out;
    }
    if (connect(c.cfd, (const struct sockaddr *)&e->addr, sizeof(e->addr)) != 0 &&
        errno != EINPROGRESS) {
        fail("connect");
        goto out;
    }
    struct pollfd lp = {e->lfd, POLLIN, 0};
    if (poll(&lp, 1, CONN_TIMEOUT_MS) != 1 || (c.sfd = accept(e->lfd, NULL, NULL)) < 0 ||
        !set_socket(c.sfd)) {
        fail("accept");
        goto out;
    }
    c.c = SSL_new(e->cli_ctx[kind]);
    c.s = SSL_new(e->srv_ctx[kind]);
    if (c.c == NULL || c.s == NULL || SSL_set_fd(c.c, c.cfd) != 1 ||
        SSL_set_fd(c.s, c.sfd) != 1) {
        fail("SSL_new");
        goto out;
    }
    SSL_set_connect_state(c.c);
    SSL_set_accept_state(c.s);
    SSL_set_msg_callback(c.c, count_rt);
    SSL_set_msg_callback_arg(c.c, &c);
    uint64_t deadline = t0 + (uint64_t)CONN_TIMEOUT_MS * 1000000ULL;
    while (c.cgot < MSG_LEN) {
        if (!turn(e, &c, 0) || !turn(e, &c, 1))
            goto out;
        if (c.cgot >= MSG_LEN)
            break;
        if (wall_ns() > deadline) {
            fail("connection timed out");
            goto out;
        }
        if (!readable(c.cfd) && !readable(c.sfd)) {
            struct pollfd p[2] = {{c.cfd, POLLIN, 0}, {c.sfd, POLLIN, 0}};
            poll(p, 2, 5);
        }
    }
    *lat_ns = wall_ns() - t0;
    if (memcmp(c.cbuf, c.msg, MSG_LEN) != 0) {
        fail("echo differs from the message");
        goto out;
    }
    if ((kind >= ROW_ATTEX_SERVER && !c.c_attested) ||
        ((kind == ROW_ATTEX_MUTUAL || kind == ROW_PHA) && !c.s_attested)) {
        fail("data arrived without the required authentication");
        goto out;
    }
    *rt = c.rt;
    ok = 1;
out:
    conn_free(&c);
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Rows and report                                                        */

static int row_add(row *r, uint64_t lat_ns)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        double *p = realloc(r->lat_us, cap * sizeof(*p));
        if (p == NULL)
            return fail("out of memory");
        r->lat_us = p;
        r->cap = cap;
    }
    r->lat_us[r->n++] = (double)lat_ns / 1e3;
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const row *r, double p)
{
    size_t i = (size_t)(p * (double)(r->n - 1) + 0.5);
    return r->lat_us[i];
}

static double conns_per_s(const row *r) { return (double)r->n * 1e9 / (double)r->wall_ns; }

/* run_slice runs connections of one kind until `slice_ns` of wall clock or `count` connections. */
static int run_slice(const env *e, int kind, row *r, uint64_t slice_ns, size_t count,
                     int timed)
{
    uint64_t start = wall_ns();
    size_t done = 0;
    for (;;) {
        uint64_t w0 = wall_ns(), c0 = cpu_ns(), lat = 0;
        int rt = 0;
        if (!one_connection(e, kind, &lat, &rt)) {
            fprintf(stderr, "attex-bench-conn: row '%s' failed\n", row_names[kind]);
            return 0;
        }
        uint64_t c1 = cpu_ns(), w1 = wall_ns();
        if (r->rt < 0)
            r->rt = rt;
        else if (r->rt != rt) {
            fprintf(stderr, "attex-bench-conn: row '%s': %d round trips, earlier %d\n",
                    row_names[kind], rt, r->rt);
            return fail("round trip count varies");
        }
        if (timed) {
            r->wall_ns += w1 - w0;
            r->cpu_ns += c1 - c0;
            if (!row_add(r, lat))
                return 0;
        }
        done++;
        if (count ? done >= count : w1 - start >= slice_ns)
            return 1;
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: attex-bench-conn [--seconds X | --smoke] [--help]\n"
            "\n"
            "Connections per second and latency over loopback TCP, one thread driving\n"
            "both ends: plain TLS 1.3, TLS 1.3 with post-handshake client auth, and\n"
            "attested channels (sample attester, server-only and mutual), each with a\n"
            "32-byte round trip. Prints wall-clock connections/s, CPU us per connection,\n"
            "median and p95 latency to the first application byte, and the round trips\n"
            "the client saw.\n"
            "\n"
            "options:\n"
            "  --seconds X  about X seconds of wall clock per row (default 1)\n"
            "  --smoke      %d connections per row: checks that everything works\n"
            "  --help, -h   print this help\n"
            "\n"
            "Exit status: 0 on success, 1 if anything failed, 2 on bad usage.\n",
            SMOKE_CONNS);
}

int main(int argc, char **argv)
{
    int smoke = 0, have_seconds = 0;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(a, "--seconds") == 0 && i + 1 < argc) {
            val = argv[++i];
        } else if (strncmp(a, "--seconds=", 10) == 0) {
            val = a + 10;
        } else {
            usage(stderr);
            return 2;
        }
        if (val != NULL) {
            char *end = NULL;
            seconds = strtod(val, &end);
            if (end == val || *end != '\0' || !(seconds > 0.0) || seconds > MAX_SECONDS) {
                fprintf(stderr, "attex-bench-conn: --seconds wants a number in (0, %.0f]\n",
                        MAX_SECONDS);
                return 2;
            }
            have_seconds = 1;
        }
    }
    if (smoke && have_seconds) {
        fprintf(stderr, "attex-bench-conn: --smoke and --seconds cannot be combined\n");
        return 2;
    }

    int status = 1;
    env e;
    row rows[NUM_ROWS];
    memset(&e, 0, sizeof(e));
    memset(rows, 0, sizeof(rows));
    for (int k = 0; k < NUM_ROWS; k++)
        rows[k].rt = -1;
    if (!env_open(&e))
        goto out;

    printf("attex-bench-conn (attex %s)\n", attex_version());
    printf("OpenSSL:  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("Method:   one thread drives client and server over non-blocking loopback TCP,\n"
           "          one flight per turn; per connection: socket/connect/accept, TLS 1.3\n"
           "          handshake (P-256 server cert, no tickets, no resumption), %d-byte\n"
           "          message echoed, SSL_free/close. Wall clock; CPU = process CPU time.\n",
           MSG_LEN);
    if (smoke)
        printf("SMOKE RUN: %d connections per row -- not a measurement\n", SMOKE_CONNS);
    else
        printf("          about %g s of wall clock per row, rows interleaved in 20 slices,\n"
               "          after %d untimed connections per row\n",
               seconds, WARMUP_CONNS);
    printf("\n");
    fflush(stdout);

    for (int k = 0; k < NUM_ROWS; k++)
        if (!run_slice(&e, k, &rows[k], 0, smoke ? 1 : WARMUP_CONNS, 0))
            goto out;
    if (smoke) {
        for (int k = 0; k < NUM_ROWS; k++)
            if (!run_slice(&e, k, &rows[k], 0, SMOKE_CONNS, 1))
                goto out;
    } else {
        uint64_t slice = (uint64_t)(seconds * 1e9 / 20);
        for (int round = 0; round < 20; round++)
            for (int k = 0; k < NUM_ROWS; k++)
                if (!run_slice(&e, k, &rows[k], slice, 0, 1))
                    goto out;
        for (int k = 0; k < NUM_ROWS; k++)
            if (rows[k].n < MIN_CONNS &&
                !run_slice(&e, k, &rows[k], 0, MIN_CONNS - rows[k].n, 1))
                goto out;
    }

    printf("%-50s %8s %9s %9s %9s %4s\n", "connection", "conn/s", "CPU us", "median us",
           "p95 us", "RTT");
    for (int k = 0; k < NUM_ROWS; k++) {
        row *r = &rows[k];
        qsort(r->lat_us, r->n, sizeof(double), cmp_double);
        printf("%-50s %8.0f %9.0f %9.0f %9.0f %4d\n", row_names[k], conns_per_s(r),
               (double)r->cpu_ns / 1e3 / (double)r->n, pct(r, 0.5), pct(r, 0.95), r->rt);
    }
    printf("\n(%zu, %zu, %zu, %zu connections; RTT = round trips the client waited for,\n"
           " counted from TLS record headers: each change from writing to reading)\n\n",
           rows[0].n, rows[1].n, rows[2].n, rows[3].n);

    int base = rows[ROW_TLS].rt;
    int rt_ok = rows[ROW_ATTEX_SERVER].rt == base + 1 && rows[ROW_ATTEX_MUTUAL].rt == base + 1;
    printf("Round trips: TLS %d, PHA %d, attex server-only %d, attex mutual %d: "
           "attestation adds %s\n",
           base, rows[ROW_PHA].rt, rows[ROW_ATTEX_SERVER].rt, rows[ROW_ATTEX_MUTUAL].rt,
           rt_ok ? "exactly one round trip (goal met)" : "NOT exactly one round trip");
    double ratio = conns_per_s(&rows[ROW_ATTEX_SERVER]) / conns_per_s(&rows[ROW_TLS]);
    printf("attex server-only = %.2f of plain TLS 1.3 connections/s [goal >= %.2f]  %s\n",
           ratio, GOAL,
           smoke ? "(smoke run: not a measurement)" : (ratio >= GOAL ? "goal met" : "GOAL MISSED"));
    printf("attex mutual      = %.2f of plain TLS 1.3 connections/s (for reference)\n",
           conns_per_s(&rows[ROW_ATTEX_MUTUAL]) / conns_per_s(&rows[ROW_TLS]));
    if (!rt_ok)
        goto out;
    status = 0;
out:
    for (int k = 0; k < NUM_ROWS; k++)
        free(rows[k].lat_us);
    env_close(&e);
    if (status != 0)
        fprintf(stderr, "attex-bench-conn: failed\n");
    return status;
}
