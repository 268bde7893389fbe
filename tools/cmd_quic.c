/*
 * attex server/client/demo --quic: the attested channel over QUIC v1
 * (ngtcp2 + GnuTLS, <attex/quic.h>). The QUIC endpoint owns the
 * connections; this file moves application bytes between them and the
 * backend, standard input/output, or the demo's memory, in one poll() loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include <attex/attex.h>
#include <attex/quic.h>

#include "quic_tool.h"
#include "tool.h"

#define QBUF 65536
#define QMAX_CONNS 1024

static volatile sig_atomic_t quic_stop;
static void on_quic_signal(int sig) { quic_stop = sig; }

static void quic_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_quic_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void remote_string(attex_quic_conn *c, char *out, size_t size)
{
    socklen_t len = 0;
    const struct sockaddr *sa = attex_quic_conn_remote(c, &len);
    if (sa == NULL)
        snprintf(out, size, "?");
    else
        addr_string(sa, len, out, size);
}

/* A pending byte buffer: what one side could not take yet. */
typedef struct qbuf {
    uint8_t data[QBUF];
    size_t off, len;
} qbuf;

/* One server connection and, with --forward, its backend socket. */
typedef struct qconn {
    attex_quic_conn *c;
    unsigned id;
    char peer[96];
    int logged_open, shut;
    int bfd, bconnected, b_eof, b_shut_wr;
    qbuf to_peer, to_backend;
} qconn;

static int backend_connect(const char *host, const char *port)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* flush_to_peer writes what is pending to the QUIC connection. */
static void flush_to_peer(qconn *q)
{
    attex_error err;
    while (q->to_peer.len > 0) {
        size_t w = 0;
        if (attex_quic_conn_write(q->c, q->to_peer.data + q->to_peer.off, q->to_peer.len, &w,
                                  &err) != ATTEX_OK ||
            w == 0)
            return;
        q->to_peer.off += w;
        q->to_peer.len -= w;
    }
    q->to_peer.off = 0;
}

static void qconn_close(qconn *q, const char *why)
{
    const char *reason = NULL;
    int st = attex_quic_conn_status(q->c, &reason);
    if (why == NULL)
        why = reason ? reason : "closed";
    if (st != ATTEX_OK)
        logmsg(LOG_WARN, "quic conn %u from %s: closed: %s (%s)", q->id, q->peer, why,
               attex_status_name(st));
    else
        logmsg(LOG_INFO, "quic conn %u from %s: closed: %s", q->id, q->peer, why);
    if (q->bfd >= 0)
        close(q->bfd);
    attex_quic_conn_release(q->c);
    q->c = NULL;
}

/* The server side of one connection, after the endpoint ran: move bytes, log events. */
static void qconn_service(qconn *q, const quic_server_opts *o)
{
    attex_error err;
    attex_quic_state st = attex_quic_conn_state(q->c);
    if (st == ATTEX_QUIC_OPEN && !q->logged_open) {
        q->logged_open = 1;
        attex_channel *ch = attex_quic_conn_channel(q->c);
        const attex_attest_result *r = ch ? attex_channel_peer_result(ch) : NULL;
        logmsg(LOG_INFO, "quic conn %u from %s: attested channel open%s%s", q->id, q->peer,
               r ? ": client attestation accepted, verdict " : "",
               r ? attex_verdict_name(result_verdict(r)) : "");
        if (o->mode == QUIC_FORWARD) {
            q->bfd = backend_connect(o->fwd_host, o->fwd_port);
            if (q->bfd < 0) {
                logmsg(LOG_WARN, "quic conn %u: backend %s:%s unreachable", q->id, o->fwd_host,
                       o->fwd_port);
                attex_quic_conn_shutdown(q->c, &err);
            }
        }
    }
    /* Peer -> backend / echo / nowhere, only while the other side can take it. */
    int drained = 0;
    for (;;) {
        qbuf *dst = o->mode == QUIC_ECHO ? &q->to_peer : &q->to_backend;
        if (o->mode != QUIC_DISCARD && dst->len > 0)
            break;
        size_t n = 0;
        int rc = attex_quic_conn_read(q->c, dst->data, sizeof(dst->data), &n, &err);
        if (rc != ATTEX_OK || n == 0) {
            drained = rc == ATTEX_OK;
            break;
        }
        if (o->mode == QUIC_DISCARD)
            continue;
        dst->off = 0;
        dst->len = n;
        if (o->mode == QUIC_ECHO)
            flush_to_peer(q);
    }
    if (o->mode == QUIC_ECHO)
        flush_to_peer(q);
    /* The client ended its direction: finish ours once everything it sent is answered. */
    if (drained && attex_quic_conn_peer_ended(q->c) && !q->shut) {
        if (o->mode == QUIC_FORWARD && q->bfd >= 0) {
            if (q->to_backend.len == 0 && !q->b_shut_wr) {
                shutdown(q->bfd, SHUT_WR);
                q->b_shut_wr = 1;
            }
        } else if (q->to_peer.len == 0) {
            q->shut = 1;
            attex_quic_conn_shutdown(q->c, &err);
        }
    }
    st = attex_quic_conn_state(q->c);
    if (st == ATTEX_QUIC_CLOSED || (st == ATTEX_QUIC_CLOSING && q->to_peer.len == 0 &&
                                    q->to_backend.len == 0))
        qconn_close(q, NULL);
}

static void backend_io(qconn *q, short revents)
{
    attex_error err;
    if (!q->bconnected && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(q->bfd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e != 0) {
            logmsg(LOG_WARN, "quic conn %u: backend: %s", q->id, strerror(e));
            attex_quic_conn_shutdown(q->c, &err);
            close(q->bfd);
            q->bfd = -1;
            return;
        }
        q->bconnected = 1;
    }
    if (!q->bconnected)
        return;
    while (q->to_backend.len > 0) {
        ssize_t w = send(q->bfd, q->to_backend.data + q->to_backend.off, q->to_backend.len,
                         MSG_NOSIGNAL);
        if (w <= 0)
            break;
        q->to_backend.off += (size_t)w;
        q->to_backend.len -= (size_t)w;
    }
    if ((revents & (POLLIN | POLLHUP)) && q->to_peer.len == 0 && !q->b_eof) {
        ssize_t r = recv(q->bfd, q->to_peer.data, sizeof(q->to_peer.data), 0);
        if (r > 0) {
            q->to_peer.off = 0;
            q->to_peer.len = (size_t)r;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            q->b_eof = 1;
        }
    }
    flush_to_peer(q);
    if (q->b_eof && q->to_peer.len == 0 && !q->shut) {
        q->shut = 1;
        attex_quic_conn_shutdown(q->c, &err);
    }
}

int quic_server_run(const quic_server_opts *o)
{
    attex_error err;
    attex_quic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = o->host;
    cfg.port = o->port;
    cfg.cert = o->cert;
    cfg.chain = o->chain;
    cfg.num_chain = o->num_chain;
    cfg.key = o->key;
    cfg.channel = o->channel;
    cfg.max_connections = o->max_conns;
    cfg.initial_rtt_ms = 10;
    cfg.half_close = 1;
    attex_quic_endpoint *ep = attex_quic_server_new(&cfg, &err);
    if (ep == NULL) {
        logmsg(LOG_ERROR, "QUIC: %s", err.message);
        return EXIT_CONN;
    }
    quic_signals();
    logmsg(LOG_INFO, "listening on %s:%u (QUIC v1, ALPN %s; %s%s%s)",
           o->host ? o->host : "::", attex_quic_endpoint_port(ep), ATTEX_QUIC_ALPN,
           o->attester_desc ? "attesting with " : "not attesting",
           o->attester_desc ? o->attester_desc : "",
           o->mode == QUIC_ECHO ? ", echo" : o->mode == QUIC_FORWARD ? ", forwarding" : ", discarding data");
    qconn *conns = calloc(QMAX_CONNS, sizeof(*conns));
    unsigned next_id = 1;
    struct pollfd *pfd = calloc(QMAX_CONNS + 1, sizeof(*pfd));
    int *pmap = calloc(QMAX_CONNS + 1, sizeof(*pmap));
    if (conns == NULL || pfd == NULL || pmap == NULL) {
        logmsg(LOG_ERROR, "out of memory");
        free(conns);
        free(pfd);
        free(pmap);
        attex_quic_endpoint_free(ep);
        return EXIT_ATTEST;
    }
    while (!quic_stop) {
        size_t np = 0;
        pfd[np].fd = attex_quic_endpoint_fd(ep);
        pfd[np].events = POLLIN;
        pmap[np++] = -1;
        for (int i = 0; i < QMAX_CONNS; i++) {
            qconn *q = &conns[i];
            if (q->c == NULL || q->bfd < 0)
                continue;
            pfd[np].fd = q->bfd;
            pfd[np].events = (short)((q->bconnected ? 0 : POLLOUT) |
                                     (q->to_backend.len ? POLLOUT : 0) |
                                     (q->to_peer.len == 0 && !q->b_eof ? POLLIN : 0));
            pmap[np++] = i;
        }
        int t = attex_quic_endpoint_timeout_ms(ep);
        if (t < 0 || t > 200)
            t = 200;
        if (poll(pfd, np, t) < 0 && errno != EINTR)
            break;
        if (attex_quic_endpoint_process(ep, (pfd[0].revents & POLLIN) != 0, &err) != ATTEX_OK)
            logmsg(LOG_DEBUG, "QUIC: %s", err.message);
        attex_quic_conn *nc;
        while ((nc = attex_quic_endpoint_accept(ep)) != NULL) {
            int slot = -1;
            for (int i = 0; i < QMAX_CONNS && slot < 0; i++)
                if (conns[i].c == NULL)
                    slot = i;
            if (slot < 0) {
                attex_quic_conn_release(nc);
                continue;
            }
            qconn *q = &conns[slot];
            memset(q, 0, sizeof(*q));
            q->c = nc;
            q->id = next_id++;
            q->bfd = -1;
            remote_string(nc, q->peer, sizeof(q->peer));
            logmsg(LOG_INFO, "quic conn %u from %s: accepted", q->id, q->peer);
        }
        for (size_t k = 1; k < np; k++)
            if (conns[pmap[k]].c != NULL && pfd[k].revents)
                backend_io(&conns[pmap[k]], pfd[k].revents);
        for (int i = 0; i < QMAX_CONNS; i++)
            if (conns[i].c != NULL)
                qconn_service(&conns[i], o);
        /* The endpoint may have output to send now. */
        attex_quic_endpoint_process(ep, 0, &err);
    }
    logmsg(LOG_INFO, "signal %d: shutting down", (int)quic_stop);
    for (int i = 0; i < QMAX_CONNS; i++)
        if (conns[i].c != NULL)
            qconn_close(&conns[i], "server shutting down");
    free(conns);
    free(pfd);
    free(pmap);
    attex_quic_endpoint_free(ep);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* client                                                                 */

static void print_verdict(const quic_client_opts *o, attex_quic_conn *c)
{
    attex_channel *ch = attex_quic_conn_channel(c);
    const attex_attest_result *r = ch ? attex_channel_peer_result(ch) : NULL;
    char peer[96];
    remote_string(c, peer, sizeof(peer));
    if (o->json) {
        sbuf b;
        memset(&b, 0, sizeof(b));
        sb_puts(&b, "{\"ok\":true,\"server\":");
        sb_json_str(&b, peer);
        sb_puts(&b, ",\"transport\":\"quic\",\"alpn\":\"" ATTEX_QUIC_ALPN "\",");
        result_json(&b, r);
        sb_puts(&b, "}\n");
        fputs(b.s, stdout);
        fflush(stdout);
        sb_free(&b);
    } else {
        fprintf(stderr, "attex: connected to %s (QUIC v1, ALPN %s)\n", peer, ATTEX_QUIC_ALPN);
        if (r != NULL && attex_attest_result_attested(r))
            fprintf(stderr, "attex: server attestation accepted: verdict %s\n",
                    attex_verdict_name(result_verdict(r)));
        result_text(stderr, "    ", r);
    }
}

int quic_client_run(const quic_client_opts *o)
{
    attex_error err;
    attex_quic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = o->host;
    cfg.port = o->port;
    cfg.ca_file = o->ca_file;
    cfg.no_verify_cert = o->no_verify_cert;
    cfg.channel = o->channel;
    cfg.expect_request = o->channel.attester != NULL;
    cfg.initial_rtt_ms = 10;
    cfg.half_close = 1;
    quic_signals();
    attex_quic_endpoint *ep = attex_quic_client_new(&cfg, &err);
    if (ep == NULL) {
        logmsg(LOG_ERROR, "QUIC: %s", err.message);
        return EXIT_CONN;
    }
    attex_quic_conn *c = attex_quic_endpoint_client_conn(ep);
    int ret = 0;
    if (attex_quic_conn_establish(c, o->deadline_ms, &err) != ATTEX_OK) {
        int attest = err.code == ATTEX_ERR_ATTESTATION || err.code == ATTEX_ERR_BAD_FINISHED ||
                     err.code == ATTEX_ERR_BAD_SIGNATURE || err.code == ATTEX_ERR_REFUSED ||
                     err.code == ATTEX_ERR_UNEXPECTED_MESSAGE || err.code == ATTEX_ERR_DECODE ||
                     err.code == ATTEX_ERR_ILLEGAL_PARAMETER;
        if (o->json)
            printf("{\"ok\":false,\"transport\":\"quic\",\"error\":\"%s\"}\n",
                   attex_status_name(err.code));
        fprintf(stderr, "attex: %s: %s (%s)\n",
                attest ? "attestation rejected" : "connection failed", err.message,
                attex_status_name(err.code));
        attex_quic_endpoint_free(ep);
        return attest ? EXIT_ATTEST : EXIT_CONN;
    }
    print_verdict(o, c);
    static uint8_t inbuf[QBUF], outbuf[QBUF];
    size_t in_off = 0, in_len = 0;
    int in_eof = 0, shut = 0;
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
    while (!quic_stop) {
        struct pollfd p[2];
        p[0].fd = attex_quic_endpoint_fd(ep);
        p[0].events = POLLIN;
        p[1].fd = in_eof || in_len ? -1 : STDIN_FILENO;
        p[1].events = POLLIN;
        int t = attex_quic_endpoint_timeout_ms(ep);
        if (t < 0 || t > 200)
            t = 200;
        if (poll(p, 2, t) < 0 && errno != EINTR)
            break;
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t r = read(STDIN_FILENO, inbuf, sizeof(inbuf));
            if (r > 0) {
                in_off = 0;
                in_len = (size_t)r;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                in_eof = 1;
            }
        }
        while (in_len > 0) {
            size_t w = 0;
            if (attex_quic_conn_write(c, inbuf + in_off, in_len, &w, &err) != ATTEX_OK || w == 0)
                break;
            in_off += w;
            in_len -= w;
        }
        if (in_eof && in_len == 0 && !shut) {
            shut = 1;
            attex_quic_conn_shutdown(c, &err);
        }
        attex_quic_endpoint_process(ep, (p[0].revents & POLLIN) != 0, &err);
        for (;;) {
            size_t n = 0;
            int rc = attex_quic_conn_read(c, outbuf, sizeof(outbuf), &n, &err);
            if (rc != ATTEX_OK || n == 0) {
                /* The server ended its direction: we are done too. */
                if (rc == ATTEX_OK && attex_quic_conn_peer_ended(c) && !shut) {
                    shut = 1;
                    attex_quic_conn_shutdown(c, &err);
                }
                break;
            }
            if (fwrite(outbuf, 1, n, stdout) != n)
                break;
            fflush(stdout);
        }
        attex_quic_state st = attex_quic_conn_state(c);
        if (st == ATTEX_QUIC_CLOSED || st == ATTEX_QUIC_CLOSING) {
            const char *reason = NULL;
            int rc = attex_quic_conn_status(c, &reason);
            if (rc != ATTEX_OK) {
                fprintf(stderr, "attex: connection closed: %s (%s)\n", reason ? reason : "?",
                        attex_status_name(rc));
                ret = EXIT_ATTEST;
            }
            if (st == ATTEX_QUIC_CLOSED || rc != ATTEX_OK)
                break;
        }
    }
    attex_quic_endpoint_free(ep);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* demo                                                                   */

int quic_demo_run(const quic_server_opts *so, const quic_client_opts *co, const char *line,
                  const char *evidence_desc)
{
    attex_error err;
    attex_quic_config scfg, ccfg;
    memset(&scfg, 0, sizeof(scfg));
    scfg.host = "127.0.0.1";
    scfg.port = "0";
    scfg.cert = so->cert;
    scfg.key = so->key;
    scfg.channel = so->channel;
    scfg.initial_rtt_ms = 10;
    attex_quic_endpoint *sep = attex_quic_server_new(&scfg, &err), *cep = NULL;
    if (sep == NULL) {
        logmsg(LOG_ERROR, "QUIC server: %s", err.message);
        return EXIT_CONN;
    }
    char port[16];
    snprintf(port, sizeof(port), "%u", attex_quic_endpoint_port(sep));
    memset(&ccfg, 0, sizeof(ccfg));
    ccfg.host = "127.0.0.1";
    ccfg.port = port;
    ccfg.ca_certs = &so->cert;
    ccfg.num_ca_certs = 1;
    ccfg.server_name = co->server_name;
    ccfg.channel = co->channel;
    ccfg.initial_rtt_ms = 10;
    printf("[1] SETUP     %s\n"
           "              QUIC server: 127.0.0.1:%s (UDP), ALPN %s, self-signed certificate\n",
           so->attester_desc ? so->attester_desc : "", port, ATTEX_QUIC_ALPN);
    cep = attex_quic_client_new(&ccfg, &err);
    if (cep == NULL) {
        logmsg(LOG_ERROR, "QUIC client: %s", err.message);
        attex_quic_endpoint_free(sep);
        return EXIT_CONN;
    }
    attex_quic_conn *cc = attex_quic_endpoint_client_conn(cep), *sc = NULL;
    int ret = EXIT_ATTEST, step = 0, sent = 0;
    size_t got = 0, line_len = strlen(line);
    char echo[256];
    for (int iter = 0; iter < 100000; iter++) {
        struct pollfd p[2] = {{attex_quic_endpoint_fd(sep), POLLIN, 0},
                              {attex_quic_endpoint_fd(cep), POLLIN, 0}};
        int ts = attex_quic_endpoint_timeout_ms(sep), tc = attex_quic_endpoint_timeout_ms(cep);
        int t = ts < 0 ? tc : tc < 0 ? ts : (ts < tc ? ts : tc);
        if (t < 0 || t > 100)
            t = 100;
        poll(p, 2, t);
        attex_quic_endpoint_process(sep, (p[0].revents & POLLIN) != 0, &err);
        attex_quic_endpoint_process(cep, (p[1].revents & POLLIN) != 0, &err);
        attex_quic_conn *nc = attex_quic_endpoint_accept(sep);
        if (nc != NULL)
            sc = nc;
        attex_quic_state cs = attex_quic_conn_state(cc);
        if (step == 0 && cs >= ATTEX_QUIC_ATTESTING) {
            step = 1;
            printf("[2] QUIC      client connected: QUIC v1, TLS 1.3 inside QUIC, ALPN %s;\n"
                   "              server certificate verified; stream 0 carries the shim frames\n",
                   ATTEX_QUIC_ALPN);
        }
        if (step == 1 && cs == ATTEX_QUIC_OPEN) {
            step = 2;
            attex_channel *ch = attex_quic_conn_channel(cc);
            const attex_attest_result *r = attex_channel_peer_result(ch);
            printf("[3] ATTEST    the client's REQUEST (cmw_attestation offered) and the server's\n"
                   "              AUTHENTICATOR crossed stream 0; evidence: %s\n",
                   evidence_desc);
            result_text(stdout, "              ", r);
            printf("              -> the gate opens: application data may now flow\n");
            if (r == NULL || result_verdict(r) != ATTEX_VERDICT_AFFIRMING)
                break;
        }
        if (step == 2 && !sent) {
            size_t w = 0;
            if (attex_quic_conn_write(cc, (const uint8_t *)line, line_len, &w, &err) == ATTEX_OK &&
                w == line_len)
                sent = 1;
        }
        if (sc != NULL) {
            uint8_t b[256];
            size_t n = 0;
            if (attex_quic_conn_read(sc, b, sizeof(b), &n, &err) == ATTEX_OK && n > 0) {
                size_t w = 0;
                attex_quic_conn_write(sc, b, n, &w, &err);
            }
        }
        size_t n = 0;
        if (got < sizeof(echo) - 1 &&
            attex_quic_conn_read(cc, (uint8_t *)echo + got, sizeof(echo) - 1 - got, &n, &err) ==
                ATTEX_OK)
            got += n;
        if (sent && got >= line_len) {
            echo[got] = '\0';
            printf("[4] DATA      client -> server: %s"
                   "              server -> client: %s"
                   "              (DATA frames on QUIC stream 0)\n\n"
                   "result: attestation accepted over QUIC, data echoed. Exit status 0.\n",
                   line, echo);
            ret = strcmp(echo, line) == 0 ? 0 : EXIT_ATTEST;
            break;
        }
        if (cs == ATTEX_QUIC_CLOSED || cs == ATTEX_QUIC_CLOSING) {
            const char *reason = NULL;
            attex_quic_conn_status(cc, &reason);
            printf("connection closed: %s\n", reason ? reason : "?");
            break;
        }
    }
    if (ret != 0)
        printf("\ndemo FAILED (exit status %d)\n", ret);
    attex_quic_endpoint_free(cep);
    attex_quic_endpoint_free(sep);
    return ret;
}
