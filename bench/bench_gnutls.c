/*
 * attex-bench-gnutls: the TLS 1.3 handshake and an exported authenticator
 * over OpenSSL, over GnuTLS, and across the two, in the same run.
 *
 * Connections are real non-blocking loopback TCP sockets driven by this one
 * thread in turns (tests/util/gtu.c): the client steps, then the server, and
 * so on; when neither can progress the thread poll()s both sockets. The
 * default priority / ciphersuites of attex's settings apply (TLS 1.3 only,
 * no tickets; OpenSSL via attex_openssl_configure_ctx, GnuTLS via
 * attex_gnutls_configure_session), with a P-256 server certificate; the
 * client verifies nothing.
 *
 * Rows, for each pairing client -> server (openssl->openssl is the baseline):
 *   handshake  gtu_handshake on two fresh, connected ends (sockets, SSL /
 *              gnutls_session_t objects and credentials made untimed);
 *   ea         attex_ea_authenticator_create (server, P-256, answering a
 *              request the client made untimed) + attex_ea_authenticator_
 *              validate (client), in memory on an established connection,
 *              replaced (untimed) every 100 exchanges.
 * Times: wall clock (CLOCK_MONOTONIC) and process CPU
 * (CLOCK_PROCESS_CPUTIME_ID, both ends: one thread) per operation.
 *
 * Every return code is checked: any failure makes the run exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "gtu.h"
#include "testutil.h"

#define DEFAULT_SECONDS 1.0
#define MIN_ITERS 20UL
#define SMOKE_ITERS 3UL
#define PER_CONNECTION 100UL

static EVP_PKEY *srv_key;
static X509 *srv_cert;
static attex_ea_identity srv_id;

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "attex-bench-gnutls: %s failed: %s\n", what, why ? why : "");
    exit(1);
}

static void open_pair(gtu_pair *p, gtu_stack c, gtu_stack s, int handshake)
{
    gtu_opts o;
    char why[256];
    memset(&o, 0, sizeof(o));
    o.client = c;
    o.server = s;
    o.skip_handshake = !handshake;
    if (!gtu_pair_open(p, &o, srv_cert, srv_key, why, sizeof(why)))
        die("connection", why);
}

typedef struct result {
    unsigned long iters;
    double wall, cpu;
} result;

static result bench_handshake(gtu_stack c, gtu_stack s, double seconds, unsigned long min)
{
    result r = {0, 0, 0};
    while (r.iters < min || r.cpu < seconds) {
        gtu_pair p;
        char why[256];
        open_pair(&p, c, s, 0);
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        if (!gtu_handshake(&p, why, sizeof(why)))
            die("handshake", why);
        r.wall += now_s(CLOCK_MONOTONIC) - w0;
        r.cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        r.iters++;
        gtu_pair_close(&p);
    }
    return r;
}

static result bench_ea(gtu_stack c, gtu_stack s, double seconds, unsigned long min)
{
    result r = {0, 0, 0};
    attex_error err;
    while (r.iters < min || r.cpu < seconds) {
        gtu_pair p;
        attex_tls ct, st;
        open_pair(&p, c, s, 1);
        gtu_tls(&p.c, &ct);
        gtu_tls(&p.s, &st);
        attex_ea_session *cs = attex_ea_session_new(&ct, &err);
        attex_ea_session *ss = attex_ea_session_new(&st, &err);
        if (cs == NULL || ss == NULL)
            die("attex_ea_session_new", err.message);
        for (unsigned long i = 0; i < PER_CONNECTION && (r.iters < min || r.cpu < seconds);
             i++) {
            attex_buf req = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
            attex_ea_authenticator *a = NULL;
            if (attex_ea_request_create(cs, NULL, &req, &err) != ATTEX_OK)
                die("attex_ea_request_create", err.message);
            double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
            if (attex_ea_authenticator_create(ss, req.data, req.len, &srv_id, &auth, &err) !=
                ATTEX_OK)
                die("attex_ea_authenticator_create", err.message);
            if (attex_ea_authenticator_validate(cs, req.data, req.len, auth.data, auth.len, NULL,
                                                &a, &err) != ATTEX_OK)
                die("attex_ea_authenticator_validate", err.message);
            r.wall += now_s(CLOCK_MONOTONIC) - w0;
            r.cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            r.iters++;
            attex_ea_authenticator_free(a);
            attex_buf_free(&req);
            attex_buf_free(&auth);
        }
        attex_ea_session_free(cs);
        attex_ea_session_free(ss);
        gtu_pair_close(&p);
    }
    return r;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: attex-bench-gnutls [--seconds X | --smoke]\n"
               "  --seconds X  CPU seconds per row (default %.1f, at least %lu operations)\n"
               "  --smoke      %lu operations per row: checks that everything works; the\n"
               "               numbers are not a measurement\n",
            DEFAULT_SECONDS, MIN_ITERS, SMOKE_ITERS);
}

int main(int argc, char **argv)
{
    double seconds = DEFAULT_SECONDS;
    unsigned long min = MIN_ITERS;
    int smoke = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end != 0 || !(seconds > 0 && seconds <= 3600)) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (smoke) {
        seconds = 0;
        min = SMOKE_ITERS;
    }
    srv_key = tu_key("p256");
    srv_cert = srv_key ? tu_cert(srv_key, "bench server", NULL, NULL, 0, 1) : NULL;
    if (srv_cert == NULL)
        die("key generation", "");
    srv_id.cert = srv_cert;
    srv_id.key = srv_key;

    static const gtu_stack pairs[4][2] = {{GTU_OPENSSL, GTU_OPENSSL},
                                          {GTU_GNUTLS, GTU_GNUTLS},
                                          {GTU_OPENSSL, GTU_GNUTLS},
                                          {GTU_GNUTLS, GTU_OPENSSL}};
    printf("# attex-bench-gnutls: %s, GnuTLS %s; TLS 1.3 over loopback TCP, one thread%s\n\n",
           OpenSSL_version(OPENSSL_VERSION), gnutls_check_version(NULL),
           smoke ? " (smoke run: not a measurement)" : "");
    printf("| operation | client -> server | ops | ops/s (CPU) | mean us (CPU) | mean us (wall) "
           "| CPU vs openssl->openssl |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    for (int op = 0; op < 2; op++) {
        double base = 0;
        for (int k = 0; k < 4; k++) {
            result r = op == 0 ? bench_handshake(pairs[k][0], pairs[k][1], seconds, min)
                               : bench_ea(pairs[k][0], pairs[k][1], seconds, min);
            double cpu_us = r.cpu / (double)r.iters * 1e6;
            double wall_us = r.wall / (double)r.iters * 1e6;
            if (k == 0)
                base = cpu_us;
            printf("| %s | %s -> %s | %lu | %.0f | %.1f | %.1f | %.2f |\n",
                   op == 0 ? "TLS 1.3 handshake" : "EA create + validate (P-256)",
                   gtu_stack_name(pairs[k][0]), gtu_stack_name(pairs[k][1]), r.iters,
                   cpu_us > 0 ? 1e6 / cpu_us : 0.0, cpu_us, wall_us,
                   base > 0 ? cpu_us / base : 0.0);
            fflush(stdout);
        }
    }
    X509_free(srv_cert);
    EVP_PKEY_free(srv_key);
    return 0;
}
