/*
 * attex-bench: CPU cost of RFC 9261 Exported Authenticators next to the
 * CPU cost of the TLS 1.3 handshake they ride on.
 *
 * Everything runs in this one thread, in memory: client and server SSL
 * objects are joined by a BIO pair (BIO_new_bio_pair) and pumped in turn, so
 * the process CPU clock (CLOCK_PROCESS_CPUTIME_ID) charges both sides of
 * every exchange. No sockets, no scheduler wake-ups, no other threads.
 *
 * Rows:
 *   - a full TLS 1.3 handshake (X25519, P-256 server certificate signed with
 *     ecdsa_secp256r1_sha256, TLS_AES_128_GCM_SHA256, no resumption, no
 *     tickets, client verifies nothing), client + server CPU, new SSL
 *     objects each time, SSL_CTXs reused;
 *   - for P-256, Ed25519 and RSA-PSS 2048 (rsa_pss_rsae_sha256 with an RSA
 *     key): attex_ea_request_create (client), attex_ea_authenticator_create
 *     (server: no extensions, one self-signed certificate, answering the
 *     request), attex_ea_authenticator_validate (client, no trust store),
 *     and create + validate, on an established connection per scheme with
 *     one attex session per side, replaced (untimed) every 100 exchanges by
 *     default. A context can be answered once, so every iteration issues a
 *     fresh request. Each call is timed on its own.
 *
 * The measurements are interleaved (round robin, a slice of CPU time each),
 * so that drifts in machine speed touch the handshake and the authenticators
 * alike and their ratio, the number this benchmark exists for, holds.
 *
 * Every return code is checked in every mode: a failing operation makes the
 * run fail (exit 1), since its timing would mean nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <attex/attex.h>

#include "testutil.h"

#define CIPHERSUITE "TLS_AES_128_GCM_SHA256"
#define GROUP "X25519"
/* The goal: one create plus one validate (P-256) costs at most this share of a handshake. */
#define GOAL_RATIO 0.50

#define DEFAULT_SECONDS 1.0
#define MIN_ITERS 200UL   /* per measurement, whatever the time budget */
#define WARMUP_ITERS 20UL /* untimed, per measurement, before the timed rounds */
#define SMOKE_ITERS 5UL
#define SMOKE_WARMUP 1UL
#define MAX_SECONDS 3600.0
/*
 * An attex session remembers every context used on its connection, and some
 * lookups scan that history, so a call's cost grows with the number of
 * exchanges before it. Renewing the connection every this many exchanges
 * (untimed) keeps the numbers independent of how long the benchmark runs.
 */
#define DEFAULT_PER_CONNECTION 100UL

/* ---------------------------------------------------------------------- */
/* Configuration and failure reporting                                    */

typedef struct bench_cfg {
    int smoke;
    double seconds;        /* CPU seconds per measurement (not in smoke mode) */
    unsigned long min_iters;
    unsigned long warmup;
    unsigned long per_conn; /* exchanges per EA connection; 0: one for the whole run */
} bench_cfg;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: attex-bench [--seconds X | --smoke] [--exchanges-per-connection N]\n"
            "                   [--help]\n"
            "\n"
            "Measures, in one thread and in memory (two SSL objects joined by a BIO\n"
            "pair), the process CPU time (CLOCK_PROCESS_CPUTIME_ID) of:\n"
            "  - a full TLS 1.3 handshake (X25519, P-256 server certificate with\n"
            "    ecdsa_secp256r1_sha256, " CIPHERSUITE ", no resumption, no tickets,\n"
            "    client verifies nothing), client + server CPU, new SSL objects per\n"
            "    handshake, SSL_CTXs reused;\n"
            "  - attex_ea_request_create, attex_ea_authenticator_create (no extensions,\n"
            "    one self-signed certificate, answering the request) and\n"
            "    attex_ea_authenticator_validate (no trust store) for P-256, Ed25519\n"
            "    and RSA-PSS 2048 (rsa_pss_rsae_sha256), each on an established\n"
            "    connection with one attex session per side, a fresh request per\n"
            "    iteration;\n"
            "and prints operations per second, CPU microseconds per operation, and\n"
            "create+validate (P-256) as a fraction of one handshake (goal <= %.2f).\n"
            "The measurements run interleaved, a slice of CPU time each in turn.\n"
            "\n"
            "options:\n"
            "  --seconds X  run each measurement for about X seconds of CPU time\n"
            "               (default %.1f; at least %lu iterations whatever X is)\n"
            "  --smoke      run each measurement for %lu iterations only: checks that\n"
            "               every operation succeeds (CI); the numbers mean little\n"
            "  --exchanges-per-connection N\n"
            "               replace each scheme's connection and attex sessions (untimed)\n"
            "               after N request/create/validate exchanges (default %lu);\n"
            "               0 keeps one connection per scheme for the whole run, and\n"
            "               shows how a session's growing history slows the calls\n"
            "  --help, -h   print this help and exit\n"
            "\n"
            "Exit status: 0 on success, 1 if any operation failed, 2 on bad usage.\n",
            GOAL_RATIO, DEFAULT_SECONDS, MIN_ITERS, SMOKE_ITERS, DEFAULT_PER_CONNECTION);
}

/* fail prints a failure, with OpenSSL's error queue, and returns 0. */
static int fail(const char *what)
{
    fprintf(stderr, "attex-bench: FAILED: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 0;
}

/* fail_attex reports a failing attex call and returns 0. */
static int fail_attex(const char *what, int rc, const attex_error *err)
{
    fprintf(stderr, "attex-bench: FAILED: %s: %s (%s)\n", what, attex_status_name(rc),
            err->message[0] ? err->message : "no message");
    ERR_print_errors_fp(stderr);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* CPU clock and samples                                                  */

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        perror("attex-bench: clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
        exit(1);
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CPU time of each timed call of one row. */
typedef struct samples {
    uint64_t *ns;
    size_t n, cap;
    uint64_t total;
} samples;

static int samples_add(samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *p = realloc(s->ns, cap * sizeof(*p));
        if (p == NULL)
            return fail("out of memory recording samples");
        s->ns = p;
        s->cap = cap;
    }
    s->ns[s->n++] = ns;
    s->total += ns;
    return 1;
}

static void samples_free(samples *s)
{
    free(s->ns);
    memset(s, 0, sizeof(*s));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Mean CPU microseconds per operation. */
static double samples_mean_us(const samples *s)
{
    return s->n ? (double)s->total / (double)s->n / 1e3 : 0.0;
}

/* Median CPU microseconds per operation, or a negative value when memory runs out. */
static double samples_median_us(const samples *s)
{
    if (s->n == 0)
        return 0.0;
    uint64_t *v = malloc(s->n * sizeof(*v));
    if (v == NULL)
        return -1.0;
    memcpy(v, s->ns, s->n * sizeof(*v));
    qsort(v, s->n, sizeof(*v), cmp_u64);
    double m = s->n % 2 ? (double)v[s->n / 2] / 1e3
                        : ((double)v[s->n / 2 - 1] + (double)v[s->n / 2]) / 2e3;
    free(v);
    return m;
}

/* Mean CPU microseconds per operation over samples [from, to) in run order. */
static double samples_window_mean_us(const samples *s, size_t from, size_t to)
{
    uint64_t sum = 0;
    if (to > s->n)
        to = s->n;
    if (from >= to)
        return 0.0;
    for (size_t i = from; i < to; i++)
        sum += s->ns[i];
    return (double)sum / (double)(to - from) / 1e3;
}

#define NAME_WIDTH 46

static void print_table_header(void)
{
    printf("%-*s %9s %11s %12s %12s\n", NAME_WIDTH, "operation", "iters", "ops/s",
           "mean us/op", "median us/op");
    printf("%-*s %9s %11s %12s %12s\n", NAME_WIDTH,
           "----------------------------------------------", "---------", "-----------",
           "------------", "------------");
}

static int print_row(const char *name, const samples *s)
{
    double mean = samples_mean_us(s);
    double median = samples_median_us(s);
    if (median < 0)
        return fail("out of memory computing a median");
    printf("%-*s %9zu %11.1f %12.2f %12.2f\n", NAME_WIDTH, name, s->n,
           mean > 0 ? 1e6 / mean : 0.0, mean, median);
    return 1;
}

/* Mean CPU cost of one clock read, so that readers can judge the timing overhead. */
static double clock_overhead_us(void)
{
    enum { N = 20000 };
    uint64_t t0 = cpu_ns();
    for (int i = 0; i < N; i++)
        (void)cpu_ns();
    return (double)(cpu_ns() - t0) / (N + 1) / 1e3;
}

/* A measurement loop goes on until both the time budget and the minimum are met. */
static int keep_going(const bench_cfg *cfg, unsigned long iters, uint64_t spent_ns)
{
    if (iters < cfg->min_iters)
        return 1;
    if (cfg->smoke)
        return 0;
    return (double)spent_ns < cfg->seconds * 1e9;
}

/* ---------------------------------------------------------------------- */
/* TLS 1.3 over a BIO pair                                                */

typedef struct tls_ctxs {
    SSL_CTX *client, *server;
} tls_ctxs;

static void tls_ctxs_free(tls_ctxs *c)
{
    SSL_CTX_free(c->client);
    SSL_CTX_free(c->server);
    c->client = c->server = NULL;
}

/* Both SSL_CTXs: TLS 1.3 only, one suite, X25519 only, no tickets or resumption. */
static int tls_ctxs_new(tls_ctxs *c, EVP_PKEY *key, X509 *cert)
{
    c->client = SSL_CTX_new(TLS_client_method());
    c->server = SSL_CTX_new(TLS_server_method());
    if (c->client == NULL || c->server == NULL)
        return fail("SSL_CTX_new");
    SSL_CTX *both[2] = {c->client, c->server};
    for (int i = 0; i < 2; i++) {
        SSL_CTX *x = both[i];
        if (SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION) != 1)
            return fail("restricting the SSL_CTX to TLS 1.3");
        if (SSL_CTX_set_ciphersuites(x, CIPHERSUITE) != 1)
            return fail("SSL_CTX_set_ciphersuites(" CIPHERSUITE ")");
        if (SSL_CTX_set1_groups_list(x, GROUP) != 1)
            return fail("SSL_CTX_set1_groups_list(" GROUP ")");
        SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
    }
    if (SSL_CTX_set_num_tickets(c->server, 0) != 1)
        return fail("SSL_CTX_set_num_tickets(0)");
    /* The server signs with ecdsa_secp256r1_sha256 and nothing else. */
    if (SSL_CTX_set1_sigalgs_list(c->server, "ECDSA+SHA256") != 1)
        return fail("SSL_CTX_set1_sigalgs_list(ECDSA+SHA256)");
    if (SSL_CTX_use_certificate(c->server, cert) != 1 ||
        SSL_CTX_use_PrivateKey(c->server, key) != 1 || SSL_CTX_check_private_key(c->server) != 1)
        return fail("loading the server certificate and key");
    /* The client verifies nothing (the default, said out loud). */
    SSL_CTX_set_verify(c->client, SSL_VERIFY_NONE, NULL);
    return 1;
}

/* One SSL_do_handshake step; *done is set when this side has finished. */
static int hs_step(SSL *ssl, int *done, const char *who)
{
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
        *done = 1;
        return 1;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 1;
    fprintf(stderr, "attex-bench: FAILED: %s SSL_do_handshake: SSL_get_error = %d\n", who, e);
    ERR_print_errors_fp(stderr);
    return 0;
}

/*
 * tls_connect makes a client and a server SSL, joins them with a BIO pair and
 * pumps SSL_do_handshake on both until both are done.
 */
static int tls_connect(const tls_ctxs *c, SSL **out_client, SSL **out_server)
{
    SSL *cl = SSL_new(c->client);
    SSL *sv = SSL_new(c->server);
    BIO *cbio = NULL, *sbio = NULL;
    *out_client = *out_server = NULL;
    if (cl == NULL || sv == NULL) {
        fail("SSL_new");
        goto bad;
    }
    if (BIO_new_bio_pair(&cbio, 0, &sbio, 0) != 1) {
        fail("BIO_new_bio_pair");
        goto bad;
    }
    SSL_set_bio(cl, cbio, cbio); /* each SSL now owns its half */
    SSL_set_bio(sv, sbio, sbio);
    SSL_set_connect_state(cl);
    SSL_set_accept_state(sv);
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 32 && !(cdone && sdone); round++) {
        if (!cdone && !hs_step(cl, &cdone, "client"))
            goto bad;
        if (!sdone && !hs_step(sv, &sdone, "server"))
            goto bad;
    }
    if (!(cdone && sdone)) {
        fail("the in-memory handshake did not complete in 32 rounds");
        goto bad;
    }
    *out_client = cl;
    *out_server = sv;
    return 1;
bad:
    SSL_free(cl);
    SSL_free(sv);
    return 0;
}

/* tls_check confirms that the handshake negotiated exactly what the benchmark claims. */
static int tls_check(SSL *cl, SSL *sv)
{
    const SSL_CIPHER *ciph = SSL_get_current_cipher(cl);
    int sig_type = NID_undef, sig_md = NID_undef;
    if (SSL_version(cl) != TLS1_3_VERSION || SSL_version(sv) != TLS1_3_VERSION)
        return fail("the handshake did not negotiate TLS 1.3");
    if (ciph == NULL || strcmp(SSL_CIPHER_get_name(ciph), CIPHERSUITE) != 0)
        return fail("the handshake did not negotiate " CIPHERSUITE);
    if (SSL_get_negotiated_group(cl) != NID_X25519)
        return fail("the handshake did not use " GROUP);
    if (SSL_get_peer_signature_type_nid(cl, &sig_type) != 1 || sig_type != EVP_PKEY_EC ||
        SSL_get_peer_signature_nid(cl, &sig_md) != 1 || sig_md != NID_sha256)
        return fail("the server did not sign with ecdsa_secp256r1_sha256");
    if (SSL_session_reused(cl) || SSL_session_reused(sv))
        return fail("the handshake resumed a session");
    if (!SSL_is_init_finished(cl) || !SSL_is_init_finished(sv))
        return fail("a side has not finished the handshake");
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Baseline: full handshakes                                              */

/* handshake_once times one full handshake: SSL_new x2, the BIO pair, the handshake, SSL_free x2. */
static int handshake_once(const tls_ctxs *ctxs, uint64_t *out_ns)
{
    SSL *cl, *sv;
    uint64_t t0 = cpu_ns();
    int ok = tls_connect(ctxs, &cl, &sv);
    uint64_t t1 = cpu_ns();
    if (!ok)
        return 0;
    ok = tls_check(cl, sv); /* untimed */
    uint64_t t2 = cpu_ns();
    SSL_free(cl);
    SSL_free(sv);
    uint64_t t3 = cpu_ns();
    *out_ns = (t1 - t0) + (t3 - t2);
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Exported Authenticators                                                */

typedef struct ea_case {
    const char *label;    /* "P-256" */
    const char *key_kind; /* tu_key() kind */
    uint16_t scheme;      /* what attex must pick from a default request */
} ea_case;

static const ea_case ea_cases[] = {
    {"P-256", "p256", ATTEX_SCHEME_ECDSA_SECP256R1_SHA256},
    {"Ed25519", "ed25519", ATTEX_SCHEME_ED25519},
    {"RSA-PSS 2048", "rsa2048", ATTEX_SCHEME_RSA_PSS_RSAE_SHA256},
};
#define NUM_EA_CASES (sizeof(ea_cases) / sizeof(ea_cases[0]))

/* The established connection the authenticators are exchanged on. */
typedef struct ea_conn {
    SSL *client, *server;
    attex_ea_session *cs, *ss; /* client's and server's attex sessions */
    unsigned long requests;    /* requests issued on it so far */
} ea_conn;

static void ea_conn_close(ea_conn *conn)
{
    attex_ea_session_free(conn->cs);
    attex_ea_session_free(conn->ss);
    SSL_free(conn->client);
    SSL_free(conn->server);
    memset(conn, 0, sizeof(*conn));
}

/* ea_conn_open establishes a connection and makes one attex session per side. */
static int ea_conn_open(const tls_ctxs *ctxs, ea_conn *conn)
{
    attex_error err;
    memset(conn, 0, sizeof(*conn));
    memset(&err, 0, sizeof(err));
    if (!tls_connect(ctxs, &conn->client, &conn->server) ||
        !tls_check(conn->client, conn->server))
        goto bad;
    if ((conn->cs = attex_ea_session_new_openssl(conn->client, &err)) == NULL) {
        fail_attex("attex_ea_session_new_openssl (client)", err.code, &err);
        goto bad;
    }
    if ((conn->ss = attex_ea_session_new_openssl(conn->server, &err)) == NULL) {
        fail_attex("attex_ea_session_new_openssl (server)", err.code, &err);
        goto bad;
    }
    return 1;
bad:
    ea_conn_close(conn);
    return 0;
}

typedef struct ea_rows {
    samples request, create, validate, create_validate, all;
    unsigned long connections; /* connections used */
    unsigned long most;        /* most requests issued on one connection */
} ea_rows;

static void ea_rows_free(ea_rows *r)
{
    samples_free(&r->request);
    samples_free(&r->create);
    samples_free(&r->validate);
    samples_free(&r->create_validate);
    samples_free(&r->all);
}

/* check_auth confirms that validation returned the identity the server presented. */
static int check_auth(const attex_ea_authenticator *a, const ea_case *c, X509 *cert)
{
    if (a == NULL)
        return fail("attex_ea_authenticator_validate returned ATTEX_OK but no authenticator");
    if (attex_ea_authenticator_scheme(a) != c->scheme) {
        fprintf(stderr, "attex-bench: FAILED: %s: scheme 0x%04x used, 0x%04x expected\n",
                c->label, attex_ea_authenticator_scheme(a), c->scheme);
        return 0;
    }
    if (attex_ea_authenticator_num_certs(a) != 1 ||
        X509_cmp(attex_ea_authenticator_cert(a, 0), cert) != 0 ||
        attex_ea_authenticator_num_extensions(a) != 0 || attex_ea_authenticator_is_spontaneous(a))
        return fail("the validated authenticator is not the one the server made");
    return 1;
}

/*
 * ea_sanity makes one authenticator, untimed, and checks that a copy with a
 * flipped Finished byte is refused: a validate that accepts anything would
 * make a fast but meaningless benchmark.
 */
static int ea_sanity(ea_conn *conn, const ea_case *c, const attex_ea_identity *id)
{
    attex_error err;
    attex_buf req = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    int ok = 0, rc;
    memset(&err, 0, sizeof(err));
    if ((rc = attex_ea_request_create(conn->cs, NULL, &req, &err)) != ATTEX_OK) {
        fail_attex("attex_ea_request_create", rc, &err);
        goto out;
    }
    conn->requests++;
    if ((rc = attex_ea_authenticator_create(conn->ss, req.data, req.len, id, &auth, &err)) !=
        ATTEX_OK) {
        fail_attex("attex_ea_authenticator_create", rc, &err);
        goto out;
    }
    if (auth.len == 0) {
        fail("attex_ea_authenticator_create returned no bytes");
        goto out;
    }
    auth.data[auth.len - 1] ^= 0x01;
    rc = attex_ea_authenticator_validate(conn->cs, req.data, req.len, auth.data, auth.len, NULL,
                                         &a, &err);
    if (rc == ATTEX_OK || a != NULL) {
        fprintf(stderr, "attex-bench: FAILED: %s: a tampered authenticator was accepted\n",
                c->label);
        goto out;
    }
    ok = 1;
out:
    attex_ea_authenticator_free(a);
    attex_buf_free(&req);
    attex_buf_free(&auth);
    return ok;
}

/* One timed iteration: the client asks, the server answers, the client validates. */
static int ea_iteration(ea_conn *conn, const ea_case *c, const attex_ea_identity *id,
                        uint64_t out_ns[3])
{
    attex_error err;
    attex_buf req = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    int ok = 0;
    memset(&err, 0, sizeof(err));

    uint64_t t0 = cpu_ns();
    int rc_req = attex_ea_request_create(conn->cs, NULL, &req, &err);
    uint64_t t1 = cpu_ns();
    if (rc_req != ATTEX_OK) {
        fail_attex("attex_ea_request_create (client)", rc_req, &err);
        goto out;
    }
    conn->requests++;
    uint64_t t2 = cpu_ns();
    int rc_cre = attex_ea_authenticator_create(conn->ss, req.data, req.len, id, &auth, &err);
    uint64_t t3 = cpu_ns();
    if (rc_cre != ATTEX_OK) {
        fail_attex("attex_ea_authenticator_create (server)", rc_cre, &err);
        goto out;
    }
    uint64_t t4 = cpu_ns();
    int rc_val = attex_ea_authenticator_validate(conn->cs, req.data, req.len, auth.data,
                                                 auth.len, NULL, &a, &err);
    uint64_t t5 = cpu_ns();
    if (rc_val != ATTEX_OK) {
        fail_attex("attex_ea_authenticator_validate (client)", rc_val, &err);
        goto out;
    }
    if (!check_auth(a, c, id->cert))
        goto out;
    out_ns[0] = t1 - t0;
    out_ns[1] = t3 - t2;
    out_ns[2] = t5 - t4;
    ok = 1;
out:
    attex_ea_authenticator_free(a);
    attex_buf_free(&req);
    attex_buf_free(&auth);
    return ok;
}

/* One signature scheme under test: its identity, its connection, its rows. */
typedef struct ea_bench {
    const ea_case *c;
    const tls_ctxs *ctxs;
    EVP_PKEY *key;
    X509 *cert;
    attex_ea_identity id;
    ea_conn conn;
    ea_rows rows;
} ea_bench;

static void ea_bench_free(ea_bench *b)
{
    ea_conn_close(&b->conn);
    ea_rows_free(&b->rows);
    X509_free(b->cert);
    EVP_PKEY_free(b->key);
    memset(b, 0, sizeof(*b));
}

/*
 * ea_bench_open makes the identity and a connection of the scheme's own, so
 * that no scheme's numbers depend on how many authenticators the others ran.
 */
static int ea_bench_open(ea_bench *b, const ea_case *c, const tls_ctxs *ctxs)
{
    memset(b, 0, sizeof(*b));
    b->c = c;
    b->key = tu_key(c->key_kind);
    b->cert = b->key ? tu_cert(b->key, "attex-bench EA server", NULL, NULL, 0, 1) : NULL;
    if (b->key == NULL || b->cert == NULL) {
        fprintf(stderr, "attex-bench: FAILED: making the %s key and certificate\n", c->label);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    b->id.cert = b->cert;
    b->id.key = b->key;
    b->ctxs = ctxs;
    b->rows.connections = 1;
    return ea_conn_open(ctxs, &b->conn) && ea_sanity(&b->conn, c, &b->id);
}

/* ea_bench_once runs one timed iteration and records it. */
static int ea_bench_once(const bench_cfg *cfg, ea_bench *b, int record, uint64_t *out_ns)
{
    uint64_t ns[3];
    if (cfg->per_conn != 0 && b->conn.requests >= cfg->per_conn) {
        /* Untimed: a new connection, new sessions, an empty history. */
        ea_conn_close(&b->conn);
        if (!ea_conn_open(b->ctxs, &b->conn))
            return 0;
        b->rows.connections++;
    }
    if (!ea_iteration(&b->conn, b->c, &b->id, ns))
        return 0;
    *out_ns = ns[0] + ns[1] + ns[2];
    if (b->conn.requests > b->rows.most)
        b->rows.most = b->conn.requests;
    if (!record)
        return 1;
    return samples_add(&b->rows.request, ns[0]) && samples_add(&b->rows.create, ns[1]) &&
           samples_add(&b->rows.validate, ns[2]) &&
           samples_add(&b->rows.create_validate, ns[1] + ns[2]) &&
           samples_add(&b->rows.all, ns[0] + ns[1] + ns[2]);
}

/*
 * run_all interleaves the measurements: in each round every unfinished one
 * runs for a slice of CPU time (one iteration in smoke mode). The machine's
 * speed drifts (frequency, neighbours on a shared host); interleaving makes
 * the drift hit the handshake and the authenticators alike, so that their
 * ratio holds even when absolute numbers move.
 */
static int run_all(const bench_cfg *cfg, const tls_ctxs *ctxs, samples *hs, ea_bench *eb,
                   size_t num_eb)
{
    uint64_t ns;
    for (unsigned long w = 0; w < cfg->warmup; w++) {
        if (!handshake_once(ctxs, &ns))
            return 0;
        for (size_t i = 0; i < num_eb; i++)
            if (!ea_bench_once(cfg, &eb[i], 0, &ns))
                return 0;
    }
    uint64_t slice = 0;
    if (!cfg->smoke) {
        double per_round = cfg->seconds * 1e9 / 50; /* about 50 rounds */
        slice = (uint64_t)(per_round < 20e6 ? per_round : 20e6);
    }
    for (;;) {
        int active = 0;
        if (keep_going(cfg, (unsigned long)hs->n, hs->total)) {
            active = 1;
            uint64_t got = 0;
            do {
                if (!handshake_once(ctxs, &ns) || !samples_add(hs, ns))
                    return 0;
                got += ns;
            } while (got < slice);
        }
        for (size_t i = 0; i < num_eb; i++) {
            samples *all = &eb[i].rows.all;
            if (!keep_going(cfg, (unsigned long)all->n, all->total))
                continue;
            active = 1;
            uint64_t got = 0;
            do {
                if (!ea_bench_once(cfg, &eb[i], 1, &ns))
                    return 0;
                got += ns;
            } while (got < slice);
        }
        if (!active)
            return 1;
    }
}

/* ---------------------------------------------------------------------- */

/*
 * The sample attester and verifier on a fixed binding: the cost of making and
 * appraising evidence (COSE_Sign1 ES256, one measured executable), which an
 * attested exchange adds to the authenticator's own cost.
 */
static int bench_sample(const bench_cfg *cfg, samples *make, samples *appraise)
{
    attex_error err;
    int ok = 0;
    EVP_PKEY *ak = tu_key("p256");
    attex_attester *att = NULL;
    attex_verifier *ver = NULL;
    attex_buf refs = ATTEX_BUF_INIT;
    char *refs_text = NULL;
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = ak;
    if (ak == NULL || (att = attex_sample_attester_new(&ac, &err)) == NULL ||
        attex_sample_reference_values(&ac, &refs, &err) != ATTEX_OK ||
        (refs_text = calloc(1, refs.len + 1)) == NULL) {
        fail_attex("setting up the sample attester", err.code, &err);
        goto out;
    }
    memcpy(refs_text, refs.data, refs.len);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &ak;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refs_text;
    if ((ver = attex_sample_verifier_new(&vc, &err)) == NULL) {
        fail_attex("setting up the sample verifier", err.code, &err);
        goto out;
    }
    uint8_t exported[ATTEX_BINDING_EXPORTED_LEN], spki[91];
    memset(exported, 0x5a, sizeof(exported));
    memset(spki, 0x30, sizeof(spki));
    attex_binding b;
    if (attex_binding_derive(ATTEX_HASH_SHA256, exported, spki, sizeof(spki), &b, &err) !=
        ATTEX_OK) {
        fail_attex("deriving a binding", err.code, &err);
        goto out;
    }
    while (keep_going(cfg, (unsigned long)make->n, make->total + appraise->total)) {
        attex_buf cmw = ATTEX_BUF_INIT;
        attex_cmw *rec = NULL;
        attex_appraisal a;
        memset(&a, 0, sizeof(a));
        uint64_t t0 = cpu_ns();
        int rc = att->attest(att->ctx, &b, &cmw, &err);
        uint64_t t1 = cpu_ns();
        if (rc != ATTEX_OK || attex_cmw_decode(cmw.data, cmw.len, NULL, &rec, &err) != ATTEX_OK) {
            attex_buf_free(&cmw);
            fail_attex("making sample evidence", rc, &err);
            goto out;
        }
        uint64_t t2 = cpu_ns();
        rc = ver->appraise(ver->ctx, rec, &b, &a, &err);
        uint64_t t3 = cpu_ns();
        int good = rc == ATTEX_OK && a.verdict == ATTEX_VERDICT_AFFIRMING;
        attex_appraisal_clear(&a);
        attex_cmw_free(rec);
        attex_buf_free(&cmw);
        if (!good) {
            fail_attex("appraising sample evidence", rc, &err);
            goto out;
        }
        if (!samples_add(make, t1 - t0) || !samples_add(appraise, t3 - t2))
            goto out;
    }
    ok = 1;
out:
    attex_sample_verifier_free(ver);
    attex_sample_attester_free(att);
    attex_buf_free(&refs);
    free(refs_text);
    EVP_PKEY_free(ak);
    return ok;
}

/* ---------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, bench_cfg *cfg, int *exit_now)
{
    int have_seconds = 0;
    *exit_now = 0;
    cfg->smoke = 0;
    cfg->seconds = DEFAULT_SECONDS;
    cfg->per_conn = DEFAULT_PER_CONNECTION;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            *exit_now = 1;
            return 1;
        } else if (strcmp(a, "--smoke") == 0) {
            cfg->smoke = 1;
        } else if (strcmp(a, "--seconds") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attex-bench: --seconds needs a value\n");
                return 0;
            }
            val = argv[++i];
        } else if (strncmp(a, "--seconds=", 10) == 0) {
            val = a + 10;
        } else if (strcmp(a, "--exchanges-per-connection") == 0 ||
                   strncmp(a, "--exchanges-per-connection=", 27) == 0) {
            const char *n = a[26] == '=' ? a + 27 : NULL;
            if (n == NULL) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "attex-bench: --exchanges-per-connection needs a value\n");
                    return 0;
                }
                n = argv[++i];
            }
            char *end = NULL;
            unsigned long x = strtoul(n, &end, 10);
            if (end == n || *end != '\0' || n[0] == '-' || x > 100000000UL) {
                fprintf(stderr,
                        "attex-bench: --exchanges-per-connection wants a count, not '%s'\n", n);
                return 0;
            }
            cfg->per_conn = x;
        } else {
            fprintf(stderr, "attex-bench: unknown argument '%s'\n", a);
            return 0;
        }
        if (val != NULL) {
            char *end = NULL;
            double x = strtod(val, &end);
            if (end == val || *end != '\0' || !(x > 0.0) || x > MAX_SECONDS) {
                fprintf(stderr,
                        "attex-bench: --seconds wants a number of seconds in (0, %.0f], not "
                        "'%s'\n",
                        MAX_SECONDS, val);
                return 0;
            }
            cfg->seconds = x;
            have_seconds = 1;
        }
    }
    if (cfg->smoke && have_seconds) {
        fprintf(stderr, "attex-bench: --smoke and --seconds cannot be combined\n");
        return 0;
    }
    cfg->min_iters = cfg->smoke ? SMOKE_ITERS : MIN_ITERS;
    cfg->warmup = cfg->smoke ? SMOKE_WARMUP : WARMUP_ITERS;
    return 1;
}

/* print_header describes the run, with facts read from a probe connection. */
static int print_header(const bench_cfg *cfg, const tls_ctxs *ctxs)
{
    SSL *cl, *sv;
    if (!tls_connect(ctxs, &cl, &sv))
        return 0;
    if (!tls_check(cl, sv)) {
        SSL_free(cl);
        SSL_free(sv);
        return 0;
    }
    printf("attex-bench (attex %s)\n", attex_version());
    printf("OpenSSL:   %s (headers: %s)\n", OpenSSL_version(OPENSSL_VERSION),
           OPENSSL_VERSION_TEXT);
    printf("TLS:       %s, cipher suite %s, key exchange %s,\n"
           "           server certificate P-256 signed with ecdsa_secp256r1_sha256,\n"
           "           no resumption, no session tickets, client verifies nothing\n",
           SSL_get_version(cl), SSL_CIPHER_get_name(SSL_get_current_cipher(cl)),
           OBJ_nid2sn(SSL_get_negotiated_group(cl)));
    SSL_free(cl);
    SSL_free(sv);
    printf("Method:    process CPU time (CLOCK_PROCESS_CPUTIME_ID); one thread runs both\n"
           "           peers, in memory over a BIO pair; ");
    if (cfg->smoke)
        printf("SMOKE RUN: %lu iterations per\n"
               "           measurement -- the numbers below are not measurements\n",
               cfg->min_iters);
    else
        printf("about %g s of CPU per\n"
               "           measurement, at least %lu iterations, after %lu untimed warm-up\n"
               "           iterations\n",
               cfg->seconds, cfg->min_iters, cfg->warmup);
    printf("Handshake: new client and server SSL objects per handshake (SSL_new, BIO pair,\n"
           "           handshake and SSL_free timed), SSL_CTXs reused; one handshake =\n"
           "           client + server CPU\n");
    printf("EA:        per signature scheme, an established connection with one attex\n"
           "           session per side; each iteration: the client issues a fresh request\n"
           "           (default scheme list), the server answers it (one self-signed\n"
           "           certificate, no extensions), the client validates it (no trust\n"
           "           store); each call timed on its own, frees not timed;\n");
    if (cfg->per_conn)
        printf("           connection and sessions replaced (untimed) every %lu exchanges\n",
               cfg->per_conn);
    else
        printf("           one connection and one pair of sessions for the whole run\n");
    printf("Clock:     %.3f us of CPU per clock read (two per timed call, included)\n\n",
           clock_overhead_us());
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    int exit_now;
    if (!parse_args(argc, argv, &cfg, &exit_now)) {
        fprintf(stderr, "usage: attex-bench [--seconds X | --smoke] "
                        "[--exchanges-per-connection N] [--help]\n");
        return 2;
    }
    if (exit_now)
        return 0;

    int status = 1;
    tls_ctxs ctxs = {NULL, NULL};
    samples hs;
    ea_bench eb[NUM_EA_CASES];
    memset(&hs, 0, sizeof(hs));
    memset(eb, 0, sizeof(eb));
    EVP_PKEY *server_key = tu_key("p256");
    X509 *server_cert =
        server_key ? tu_cert(server_key, "attex-bench TLS server", NULL, NULL, 0, 1) : NULL;
    if (server_key == NULL || server_cert == NULL) {
        fail("making the TLS server's P-256 key and certificate");
        goto out;
    }
    if (!tls_ctxs_new(&ctxs, server_key, server_cert) || !print_header(&cfg, &ctxs))
        goto out;
    for (size_t i = 0; i < NUM_EA_CASES; i++)
        if (!ea_bench_open(&eb[i], &ea_cases[i], &ctxs))
            goto out;
    if (!run_all(&cfg, &ctxs, &hs, eb, NUM_EA_CASES))
        goto out;
    samples sample_make, sample_appraise;
    memset(&sample_make, 0, sizeof(sample_make));
    memset(&sample_appraise, 0, sizeof(sample_appraise));
    if (!bench_sample(&cfg, &sample_make, &sample_appraise)) {
        samples_free(&sample_make);
        samples_free(&sample_appraise);
        goto out;
    }

    print_table_header();
    if (!print_row("TLS 1.3 full handshake (client+server)", &hs))
        goto out;
    for (size_t i = 0; i < NUM_EA_CASES; i++) {
        static const char *const what[5] = {
            "EA request create", "EA authenticator create", "EA authenticator validate",
            "EA create + validate", "EA request + create + validate"};
        const ea_rows *r = &eb[i].rows;
        const samples *rs[5] = {&r->request, &r->create, &r->validate, &r->create_validate,
                                &r->all};
        for (int k = 0; k < 5; k++) {
            char name[80];
            snprintf(name, sizeof(name), "%s (%s)", what[k], ea_cases[i].label);
            if (!print_row(name, rs[k]))
                goto out;
        }
    }

    int rows_ok = print_row("sample evidence make (attest)", &sample_make) &&
                  print_row("sample evidence appraise", &sample_appraise);
    samples_free(&sample_make);
    samples_free(&sample_appraise);
    if (!rows_ok)
        goto out;

    double hs_mean = samples_mean_us(&hs), hs_median = samples_median_us(&hs);
    printf("\n");
    for (size_t i = 0; i < NUM_EA_CASES; i++) {
        const ea_rows *r = &eb[i].rows;
        double ratio = samples_mean_us(&r->create_validate) / hs_mean;
        double ratio_median = samples_median_us(&r->create_validate) / hs_median;
        double ratio_all = samples_mean_us(&r->all) / hs_mean;
        printf("EA create+validate (%s) = %.2f x handshake CPU", ea_cases[i].label, ratio);
        if (i == 0)
            printf("  [goal <= %.2f]  %s\n", GOAL_RATIO,
                   cfg.smoke ? "(smoke run: not a measurement)"
                             : (ratio <= GOAL_RATIO ? "goal met" : "GOAL MISSED"));
        else
            printf("  (for reference)\n");
        printf("    same from medians: %.2f; request+create+validate: %.2f x handshake CPU\n",
               ratio_median, ratio_all);
    }

    /* A session remembers every context it saw: show whether that history slowed the calls. */
    printf("\nSession history (create+validate mean, us, over the first and the last tenth\n"
           "of the iterations; a rise means the calls slow down as a session ages):\n");
    for (size_t i = 0; i < NUM_EA_CASES; i++) {
        const samples *cv = &eb[i].rows.create_validate;
        size_t tenth = cv->n / 10 ? cv->n / 10 : 1;
        printf("  %-13s %5lu connection(s), up to %6lu requests on one: first %8.2f, last %8.2f\n",
               ea_cases[i].label, eb[i].rows.connections, eb[i].rows.most,
               samples_window_mean_us(cv, 0, tenth),
               samples_window_mean_us(cv, cv->n - tenth, cv->n));
    }
    status = 0;
out:
    for (size_t i = 0; i < NUM_EA_CASES; i++)
        ea_bench_free(&eb[i]);
    samples_free(&hs);
    tls_ctxs_free(&ctxs);
    X509_free(server_cert);
    EVP_PKEY_free(server_key);
    if (status != 0)
        fprintf(stderr, "attex-bench: failed\n");
    return status;
}
