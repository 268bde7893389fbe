/*
 * attex: attested TLS 1.3 connections from the command line.
 *
 *   attex server   TLS 1.3 listener; attests itself, appraises clients, echoes or forwards
 *   attex client   connects, appraises the server's attestation, pipes stdin/stdout
 *   attex demo     a server and a client in one process, explained step by step
 *   attex inspect  decodes an authenticator request, an authenticator or a CMW
 *
 * One poll() loop drives every connection (no threads): each connection is a
 * non-blocking socket, an SSL object and an attex_channel (the I/O-free
 * protocol core, <attex/channel.h>); this file does the I/O around it.
 *
 * Exit status: 0 success, 1 attestation or protocol failure, 2 usage error,
 * 3 connection or TLS failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <attex/attex.h>

#include "plugins.h"
#include "quic_tool.h"
#include "tool.h"

/* Buffer limits per connection. */
#define IO_CHUNK 16384
#define HIGH_WATER (256u * 1024u)     /* stop reading a side while this much waits for the other */
#define T2P_HARD_LIMIT (4u << 20)     /* never reached: HIGH_WATER + one frame + one read */
#define LINGER_MS 2000                /* time to flush a closing connection */


static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0)
        fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}


/* Opens a non-blocking listening socket. Returns the fd, or -1 with a message logged. */
static int listen_on(const char *host, const char *port, char *bound, size_t bound_size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        logmsg(LOG_ERROR, "cannot resolve %s:%s: %s", host, port, gai_strerror(gai));
        return -1;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0 &&
            set_nonblock(fd) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        logmsg(LOG_ERROR, "cannot listen on %s:%s: %s", host, port, strerror(last_errno));
        return -1;
    }
    set_cloexec(fd);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_string((struct sockaddr *)&ss, sl, bound, bound_size);
    else
        snprintf(bound, bound_size, "%s:%s", host, port);
    return fd;
}

/* ====================================================================== */
/* Signals: a self-pipe                                                   */

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_received;

static void on_signal(int sig)
{
    int saved = errno;
    sig_received = sig;
    if (sig_pipe[1] >= 0) {
        char c = 1;
        ssize_t r = write(sig_pipe[1], &c, 1);
        (void)r;
    }
    errno = saved;
}

static int signals_setup(void)
{
    if (pipe(sig_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        set_nonblock(sig_pipe[i]);
        set_cloexec(sig_pipe[i]);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

/* ====================================================================== */
/* TLS: contexts, keys, certificates, SSLKEYLOGFILE                       */

static FILE *keylog_file;

static void keylog_cb(const SSL *ssl, const char *line)
{
    (void)ssl;
    if (keylog_file != NULL) {
        fprintf(keylog_file, "%s\n", line);
        fflush(keylog_file);
    }
}

static void keylog_setup(SSL_CTX *ctx)
{
    const char *path = getenv("SSLKEYLOGFILE");
    if (path == NULL || *path == '\0')
        return;
    if (keylog_file == NULL) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd < 0 || (keylog_file = fdopen(fd, "a")) == NULL) {
            logmsg(LOG_WARN, "SSLKEYLOGFILE %s: %s (not logging keys)", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return;
        }
        set_cloexec(fd);
        logmsg(LOG_WARN, "writing TLS secrets to %s (SSLKEYLOGFILE): for debugging only", path);
    }
    SSL_CTX_set_keylog_callback(ctx, keylog_cb);
}

static SSL_CTX *tls_ctx_new(int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    attex_error err;
    if (ctx == NULL) {
        logmsg(LOG_ERROR, "SSL_CTX_new: %s", ssl_errstr());
        return NULL;
    }
    if (attex_openssl_configure_ctx(ctx, &err) != ATTEX_OK) {
        logmsg(LOG_ERROR, "configuring TLS: %s", err.message);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    keylog_setup(ctx);
    return ctx;
}

/* An identity: end-entity certificate, chain, private key. */
typedef struct identity {
    X509 *cert;
    X509 *chain[8];
    size_t num_chain;
    EVP_PKEY *key;
    attex_ea_identity ea;
} identity;

static void identity_clear(identity *id)
{
    X509_free(id->cert);
    for (size_t i = 0; i < id->num_chain; i++)
        X509_free(id->chain[i]);
    EVP_PKEY_free(id->key);
    memset(id, 0, sizeof(*id));
}

static void identity_finish(identity *id)
{
    memset(&id->ea, 0, sizeof(id->ea));
    id->ea.cert = id->cert;
    id->ea.key = id->key;
    id->ea.chain = id->chain;
    id->ea.num_chain = id->num_chain;
}

static int identity_load(identity *id, const char *cert_path, const char *key_path)
{
    memset(id, 0, sizeof(*id));
    FILE *f = fopen(cert_path, "r");
    if (f == NULL) {
        logmsg(LOG_ERROR, "%s: %s", cert_path, strerror(errno));
        return -1;
    }
    id->cert = PEM_read_X509(f, NULL, NULL, NULL);
    while (id->cert != NULL && id->num_chain < 8) {
        X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
        if (c == NULL)
            break;
        id->chain[id->num_chain++] = c;
    }
    ERR_clear_error();
    fclose(f);
    if (id->cert == NULL) {
        logmsg(LOG_ERROR, "%s: no PEM certificate", cert_path);
        return -1;
    }
    f = fopen(key_path, "r");
    if (f == NULL) {
        logmsg(LOG_ERROR, "%s: %s", key_path, strerror(errno));
        identity_clear(id);
        return -1;
    }
    id->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (id->key == NULL || X509_check_private_key(id->cert, id->key) != 1) {
        logmsg(LOG_ERROR, "%s: %s", key_path,
               id->key == NULL ? "no PEM private key" : "does not match the certificate");
        ERR_clear_error();
        identity_clear(id);
        return -1;
    }
    identity_finish(id);
    return 0;
}

/* A fresh P-256 key and a self-signed certificate for it (SAN 127.0.0.1, localhost). */
static int identity_generate(identity *id, const char *cn)
{
    memset(id, 0, sizeof(*id));
    id->key = EVP_EC_gen("P-256");
    id->cert = X509_new();
    if (id->key == NULL || id->cert == NULL)
        goto fail;
    X509 *x = id->cert;
    uint8_t serial[8];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    if (!ok || X509_set_version(x, 2) != 1 || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400) == NULL ||
        X509_set_pubkey(x, id->key) != 1)
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1)
        goto fail;
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
        X509_EXTENSION_free(ext);
        goto fail;
    }
    X509_EXTENSION_free(ext);
    if (X509_sign(x, id->key, EVP_sha256()) <= 0)
        goto fail;
    identity_finish(id);
    return 0;
fail:
    logmsg(LOG_ERROR, "generating a certificate: %s", ssl_errstr());
    identity_clear(id);
    return -1;
}

static int ctx_use_identity(SSL_CTX *ctx, const identity *id)
{
    if (SSL_CTX_use_certificate(ctx, id->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key) != 1)
        return -1;
    for (size_t i = 0; i < id->num_chain; i++)
        if (SSL_CTX_add1_chain_cert(ctx, id->chain[i]) != 1)
            return -1;
    return 0;
}

static const char *cert_subject(X509 *c, char *buf, size_t size)
{
    if (c == NULL)
        return "(none)";
    X509_NAME_oneline(X509_get_subject_name(c), buf, (int)size);
    return buf;
}

/* ====================================================================== */
/* Attestation: results as text and JSON                                  */

const char *cmw_type_string(const attex_cmw *cmw, char *buf, size_t size)
{
    const char *mt = attex_cmw_media_type(cmw);
    uint16_t cf;
    if (mt != NULL)
        return mt;
    if (attex_cmw_content_format(cmw, &cf)) {
        snprintf(buf, size, "content-format %u", cf);
        return buf;
    }
    return attex_cmw_kind_of(cmw) == ATTEX_CMW_COLLECTION ? "collection" : "?";
}

const char *ind_string(uint32_t ind)
{
    switch (ind) {
    case 0: return "none";
    case ATTEX_CMW_IND_REFERENCE_VALUES: return "reference values";
    case ATTEX_CMW_IND_ENDORSEMENTS: return "endorsements";
    case ATTEX_CMW_IND_EVIDENCE: return "evidence";
    case ATTEX_CMW_IND_ATTESTATION_RESULTS: return "attestation results";
    case ATTEX_CMW_IND_APPRAISAL_POLICY: return "appraisal policy";
    default: return "several";
    }
}

/* The verdict of a result: the lowest tier of its appraisals. */
attex_verdict result_verdict(const attex_attest_result *r)
{
    size_t n = attex_attest_result_num_appraisals(r);
    attex_verdict worst = ATTEX_VERDICT_NONE;
    for (size_t i = 0; i < n; i++) {
        const attex_appraisal *a = attex_attest_result_appraisal(r, i, NULL);
        if (a != NULL && (worst == ATTEX_VERDICT_NONE || a->verdict > worst))
            worst = a->verdict;
    }
    return worst;
}

/* Appends the result as JSON members (no braces) to `b`. */
void result_json(sbuf *b, const attex_attest_result *r)
{
    int attested = r != NULL && attex_attest_result_attested(r);
    sb_printf(b, "\"attested\":%s", attested ? "true" : "false");
    if (r == NULL)
        return;
    const attex_ea_authenticator *au = attex_attest_result_authenticator(r);
    if (au != NULL) {
        char subj[256];
        size_t cl;
        const uint8_t *ctx = attex_ea_authenticator_context(au, &cl);
        sb_puts(b, ",\"identity\":");
        sb_json_str(b, cert_subject(attex_ea_authenticator_cert(au, 0), subj, sizeof(subj)));
        const char *sn = attex_scheme_name(attex_ea_authenticator_scheme(au));
        sb_puts(b, ",\"signature_scheme\":");
        sb_json_str(b, sn ? sn : "?");
        sb_puts(b, ",\"context\":");
        sb_json_hex(b, ctx, cl);
    }
    if (!attested)
        return;
    const attex_cmw *cmw = attex_attest_result_cmw(r);
    if (cmw != NULL) {
        char tb[64];
        sb_puts(b, ",\"cmw_type\":");
        sb_json_str(b, cmw_type_string(cmw, tb, sizeof(tb)));
        sb_printf(b, ",\"cmw_ind\":%u", attex_cmw_ind(cmw));
    }
    const attex_binding *bd = attex_attest_result_binding(r);
    if (bd != NULL) {
        sb_puts(b, ",\"binder\":");
        sb_json_hex(b, bd->binder, bd->hash_len);
    }
    sb_puts(b, ",\"verdict\":");
    sb_json_str(b, attex_verdict_name(result_verdict(r)));
    sb_puts(b, ",\"appraisals\":[");
    size_t n = attex_attest_result_num_appraisals(r);
    for (size_t i = 0; i < n; i++) {
        const char *vn = NULL;
        const attex_appraisal *a = attex_attest_result_appraisal(r, i, &vn);
        if (a == NULL)
            continue;
        sb_puts(b, i ? ",{\"verifier\":" : "{\"verifier\":");
        sb_json_str(b, vn ? vn : "?");
        sb_puts(b, ",\"verdict\":");
        sb_json_str(b, attex_verdict_name(a->verdict));
        sb_puts(b, ",\"reason\":");
        sb_json_str(b, a->reason);
        sb_puts(b, ",\"claims\":");
        sb_puts(b, a->claims_json ? a->claims_json : "null");
        sb_puts(b, "}");
    }
    sb_puts(b, "]");
}

/* Prints the result for a person, each line prefixed with `indent`. */
void result_text(FILE *out, const char *indent, const attex_attest_result *r)
{
    if (r == NULL || !attex_attest_result_attested(r)) {
        fprintf(out, "%sno attestation (none was required)\n", indent);
        return;
    }
    const attex_cmw *cmw = attex_attest_result_cmw(r);
    const attex_binding *bd = attex_attest_result_binding(r);
    if (cmw != NULL) {
        char tb[64];
        size_t vl = 0;
        attex_cmw_value(cmw, &vl);
        fprintf(out, "%sevidence  CMW %s, type %s, ind %u (%s), %zu bytes\n", indent,
                attex_cmw_kind_of(cmw) == ATTEX_CMW_COLLECTION ? "collection" : "record",
                cmw_type_string(cmw, tb, sizeof(tb)), attex_cmw_ind(cmw),
                ind_string(attex_cmw_ind(cmw)), vl);
    }
    if (bd != NULL) {
        char hex[2 * 48 + 1];
        hex_encode(bd->binder, bd->hash_len, hex);
        fprintf(out, "%sbinder    %s (recomputed from our own TLS exporter)\n", indent, hex);
    }
    size_t n = attex_attest_result_num_appraisals(r);
    for (size_t i = 0; i < n; i++) {
        const char *vn = NULL;
        const attex_appraisal *a = attex_attest_result_appraisal(r, i, &vn);
        if (a == NULL)
            continue;
        fprintf(out, "%sverdict   %s (verifier %s): %s\n", indent, attex_verdict_name(a->verdict),
                vn ? vn : "?", a->reason);
        fprintf(out, "%sclaims    %s\n", indent, a->claims_json ? a->claims_json : "(none)");
    }
}

/* ====================================================================== */
/* The connection engine: one poll() loop, many connections               */

/* What a connection does with the application bytes. */
enum conn_mode {
    M_DISCARD, /* server: attest, drop DATA */
    M_ECHO,    /* server: send DATA back */
    M_FORWARD, /* server: relay to a backend TCP connection opened once attested */
    M_LOCAL,   /* client --listen: relay to an accepted local TCP connection */
    M_STDIO,   /* client: stdin -> connection -> stdout */
    M_MEM      /* demo: a string in, the echo collected in memory */
};

enum tls_state { T_CONNECTING, T_HANDSHAKE, T_OPEN, T_CLOSING, T_DONE };
enum plain_state { P_NONE, P_CONNECTING, P_OPEN, P_CLOSED };

struct app;

typedef struct conn {
    struct app *app;
    unsigned id;
    int is_server;
    int mode;
    char peer[96];
    /* The TLS side. */
    int tfd;
    SSL *ssl;
    attex_tls tls;
    attex_channel *ch;
    int tstate;
    int hs_want_write;
    int handshake_done;
    uint64_t deadline; /* TCP connect, handshake or linger deadline */
    struct addrinfo *ai_list, *ai_next;
    int t_eof;   /* the peer sent close_notify */
    int t_shut;  /* we sent close_notify */
    int t_ended; /* attex_channel_end called */
    int closed_ev;
    int close_code;
    int exit_code; /* for clients: what this connection means for the exit status */
    int peer_attested;
    int got_data;
    char close_reason[600];
    /* The plain side. */
    int pin, pout, pstate;
    struct addrinfo *p_ai_list, *p_ai_next;
    uint64_t p_deadline;
    int p_in_eof, p_out_shut;
    uint8_t *t2p;
    size_t t2p_len, t2p_cap;
    const uint8_t *mem_in;
    size_t mem_in_len;
    sbuf mem_out;
    /* poll bookkeeping */
    int pi_t, pi_p, pi_out;
    int kick;
} conn;

/* One side of the protocol: how its connections are configured. */
typedef struct side {
    SSL_CTX *ctx;
    attex_channel_config cfg;
    int mode;
} side;

enum { L_TLS = 1, L_LOCAL = 2 };

typedef struct app {
    side srv, cli;
    const char *fwd_host, *fwd_port;         /* server --forward */
    const char *connect_host, *connect_port; /* client --connect */
    int lfd[4], lkind[4], nl;
    conn **conns;
    size_t nconns, cap;
    size_t max_conns;
    unsigned next_id;
    int stopping;
    int stop_when_clients_done; /* client, demo: stop once no client connection is left */
    int json;
    int quiet_verdict; /* --listen: log verdicts instead of printing them */
    int worst_exit;
    uint32_t hs_timeout_ms;
    sbuf mem_sink; /* M_MEM: what the peer sent */
    /* demo hooks */
    void (*on_open)(conn *c);
    void (*on_attested)(conn *c, const attex_attest_result *r);
    void (*on_self_accepted)(conn *c);
} app;

#define CLOG(lvl, c, ...) conn_log((lvl), (c), __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static void conn_log(int level, const conn *c,
                                                          const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    logmsg(level, "conn %u %s%s: %s", c->id, c->is_server ? "from " : "to ", c->peer, line);
}

static size_t chan_out_len(const conn *c)
{
    size_t n = 0;
    if (c->ch != NULL)
        attex_channel_output(c->ch, &n);
    return n;
}

static conn *conn_new(app *a, int is_server)
{
    if (a->nconns == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        conn **n = realloc(a->conns, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        a->conns = n;
        a->cap = cap;
    }
    conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->app = a;
    c->id = ++a->next_id;
    c->is_server = is_server;
    c->mode = is_server ? a->srv.mode : a->cli.mode;
    c->tfd = c->pin = c->pout = -1;
    c->kick = 1;
    a->conns[a->nconns++] = c;
    return c;
}

static void conn_free(conn *c)
{
    attex_channel_free(c->ch); /* before the SSL its attex_tls points to */
    SSL_free(c->ssl);
    if (c->tfd >= 0)
        close(c->tfd);
    if (c->mode != M_STDIO) {
        if (c->pin >= 0)
            close(c->pin);
        if (c->pout >= 0 && c->pout != c->pin)
            close(c->pout);
    }
    if (c->ai_list)
        freeaddrinfo(c->ai_list);
    if (c->p_ai_list)
        freeaddrinfo(c->p_ai_list);
    free(c->t2p);
    sb_free(&c->mem_out);
    free(c);
}

static void set_reason(conn *c, const char *r)
{
    if (c->close_reason[0] == '\0')
        snprintf(c->close_reason, sizeof(c->close_reason), "%s", r);
}

static void set_exit(conn *c, int code)
{
    if (code > c->exit_code)
        c->exit_code = code;
}

/* Ends the connection now: close_notify if possible, sockets closed. */
static void conn_finalize(conn *c)
{
    if (c->tstate == T_DONE)
        return;
    if (c->ssl != NULL && c->handshake_done && !c->t_shut) {
        SSL_shutdown(c->ssl); /* best effort: non-blocking, once */
        c->t_shut = 1;
    }
    ERR_clear_error();
    if (c->close_reason[0] == '\0')
        set_reason(c, "closed");
    /* a client without --listen prints its own one-line outcome: log the close at info */
    int level = c->exit_code && (c->is_server || c->app->quiet_verdict) ? LOG_WARN : LOG_INFO;
    CLOG(level, c, "closed: %s", c->close_reason);
    if (c->mode == M_STDIO && c->pout >= 0)
        fflush(stdout);
    c->tstate = T_DONE;
}

/* Starts closing: flush what the channel still has to say (a VERDICT), then finalize. */
static void conn_begin_close(conn *c, const char *reason)
{
    if (c->tstate == T_DONE || c->tstate == T_CLOSING)
        return;
    if (reason)
        set_reason(c, reason);
    if (c->tstate == T_OPEN && !c->t_shut && chan_out_len(c) > 0) {
        c->tstate = T_CLOSING;
        c->deadline = now_ms() + LINGER_MS;
        c->kick = 1;
        return;
    }
    conn_finalize(c);
}

/* A failure of TLS or of the network: no flushing. */
__attribute__((format(printf, 3, 4))) static void conn_fail(conn *c, int exit_code,
                                                           const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    set_reason(c, line);
    set_exit(c, exit_code);
    if (c->ssl != NULL)
        c->t_shut = 1; /* no close_notify on a broken connection */
    conn_finalize(c);
}

static void conn_ssl_error(conn *c, const char *what, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    int saved = errno;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        conn_fail(c, EXIT_CONN, "TLS %s: %s", what,
                  ret == 0 || saved == 0 ? "connection closed without close_notify"
                                         : strerror(saved));
    else
        conn_fail(c, EXIT_CONN, "TLS %s failed: %s", what, ssl_errstr());
}

/* Appends bytes received from the TLS peer for the plain side. */
static int t2p_append(conn *c, const uint8_t *p, size_t n)
{
    if (c->t2p_len + n > T2P_HARD_LIMIT)
        return -1;
    if (c->t2p_len + n > c->t2p_cap) {
        size_t cap = c->t2p_cap ? c->t2p_cap : IO_CHUNK;
        while (cap < c->t2p_len + n)
            cap *= 2;
        uint8_t *b = realloc(c->t2p, cap);
        if (b == NULL)
            return -1;
        c->t2p = b;
        c->t2p_cap = cap;
    }
    memcpy(c->t2p + c->t2p_len, p, n);
    c->t2p_len += n;
    return 0;
}

static void print_client_verdict(conn *c, const attex_attest_result *r)
{
    app *a = c->app;
    if (a->quiet_verdict)
        return;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
    if (a->json) {
        sbuf b = {0};
        sb_puts(&b, "{\"ok\":true,\"server\":");
        sb_json_str(&b, c->peer);
        sb_puts(&b, ",\"tls_version\":");
        sb_json_str(&b, SSL_get_version(c->ssl));
        sb_puts(&b, ",\"cipher\":");
        sb_json_str(&b, cipher ? SSL_CIPHER_get_name(cipher) : "?");
        sb_puts(&b, ",");
        result_json(&b, r);
        sb_puts(&b, "}\n");
        fputs(b.s, stdout);
        fflush(stdout);
        sb_free(&b);
    } else {
        fprintf(stderr, "attex: connected to %s (%s, %s)\n", c->peer, SSL_get_version(c->ssl),
                cipher ? SSL_CIPHER_get_name(cipher) : "?");
        if (r != NULL && attex_attest_result_attested(r))
            fprintf(stderr, "attex: server attestation accepted: verdict %s\n",
                    attex_verdict_name(result_verdict(r)));
        result_text(stderr, "    ", r);
    }
}

static void on_peer_attested(conn *c, const attex_attest_result *r)
{
    int first = !c->peer_attested;
    c->peer_attested = 1;
    if (r != NULL && attex_attest_result_attested(r)) {
        const attex_appraisal *ap = attex_attest_result_appraisal(r, 0, NULL);
        CLOG(LOG_INFO, c, "%sattestation of the %s accepted: verdict %s: %s",
             first ? "" : "re-", c->is_server ? "client" : "server",
             attex_verdict_name(result_verdict(r)), ap ? ap->reason : "");
        if (ap && ap->claims_json)
            CLOG(LOG_DEBUG, c, "claims %s", ap->claims_json);
    } else {
        CLOG(LOG_INFO, c, "peer authenticated without attestation (not required)");
    }
    if (c->app->on_attested)
        c->app->on_attested(c, r);
    if (first && !c->is_server)
        print_client_verdict(c, r);
}

static void conn_events(conn *c)
{
    attex_channel_event ev;
    attex_error err;
    while (c->ch != NULL && attex_channel_next_event(c->ch, &ev)) {
        switch (ev.type) {
        case ATTEX_EVENT_PEER_ATTESTED:
            on_peer_attested(c, ev.result);
            break;
        case ATTEX_EVENT_SELF_ACCEPTED:
            CLOG(LOG_INFO, c, "the %s accepted our attestation", c->is_server ? "client" : "server");
            if (c->app->on_self_accepted)
                c->app->on_self_accepted(c);
            break;
        case ATTEX_EVENT_DATA:
            c->got_data = 1;
            CLOG(LOG_DEBUG, c, "%zu bytes of data", ev.len);
            if (c->mode == M_ECHO) {
                if (attex_channel_send(c->ch, ev.data, ev.len, &err) != ATTEX_OK) {
                    set_exit(c, EXIT_ATTEST);
                    set_reason(c, err.message);
                    conn_begin_close(c, NULL);
                }
            } else if (c->mode != M_DISCARD) {
                if (t2p_append(c, ev.data, ev.len) != 0) {
                    set_exit(c, EXIT_ATTEST);
                    conn_begin_close(c, "buffer limit exceeded");
                }
            }
            break;
        case ATTEX_EVENT_CLOSED:
            c->closed_ev = 1;
            c->close_code = ev.code;
            if (ev.code != ATTEX_OK) {
                snprintf(c->close_reason, sizeof(c->close_reason), "%s (%s)",
                         ev.reason && *ev.reason ? ev.reason : "protocol failure",
                         attex_status_name(ev.code));
                set_exit(c, EXIT_ATTEST);
            } else {
                set_reason(c, ev.reason && *ev.reason ? ev.reason : "closed by the peer");
            }
            break;
        }
    }
}

/* Starts a non-blocking TCP connect to the next address. Returns fd, or -1 when none is left. */
static int tcp_connect_next(struct addrinfo **next, int *last_errno)
{
    while (*next != NULL) {
        struct addrinfo *ai = *next;
        *next = ai->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            *last_errno = errno;
            continue;
        }
        set_cloexec(fd);
        set_nonblock(fd);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
            return fd;
        *last_errno = errno;
        close(fd);
    }
    return -1;
}

static struct addrinfo *resolve(const char *host, const char *port, int *gai)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    *gai = getaddrinfo(host, port, &hints, &res);
    return *gai == 0 ? res : NULL;
}

/* 1: connected, 0: in progress, -1: failed (errno in *e). */
static int tcp_connect_check(int fd, int *e)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        *e = errno;
        return -1;
    }
    if (soerr != 0) {
        *e = soerr;
        return -1;
    }
    struct sockaddr_storage ss;
    sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        return 1;
    if (errno == ENOTCONN)
        return 0;
    *e = errno;
    return -1;
}

static int conn_start_tls(conn *c)
{
    app *a = c->app;
    side *s = c->is_server ? &a->srv : &a->cli;
    c->ssl = SSL_new(s->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->tfd) != 1) {
        conn_fail(c, EXIT_CONN, "SSL_new: %s", ssl_errstr());
        return -1;
    }
    if (c->is_server) {
        SSL_set_accept_state(c->ssl);
    } else {
        const char *host = a->connect_host;
        struct in6_addr tmp;
        int is_ip = inet_pton(AF_INET, host, &tmp) == 1 || inet_pton(AF_INET6, host, &tmp) == 1;
        if (!is_ip) {
            char sni[256]; /* the macro casts away const */
            snprintf(sni, sizeof(sni), "%s", host);
            SSL_set_tlsext_host_name(c->ssl, sni);
        }
        if (SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
            if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
                       : X509_VERIFY_PARAM_set1_host(vp, host, 0)) != 1) {
                conn_fail(c, EXIT_CONN, "cannot verify the certificate for %s", host);
                return -1;
            }
        }
        SSL_set_connect_state(c->ssl);
    }
    c->tstate = T_HANDSHAKE;
    c->deadline = now_ms() + a->hs_timeout_ms;
    return 0;
}

static void conn_open_channel(conn *c)
{
    app *a = c->app;
    side *s = c->is_server ? &a->srv : &a->cli;
    attex_error err;
    attex_channel_config cfg = s->cfg;
    attex_openssl_tls(c->ssl, &c->tls);
    cfg.tls = &c->tls;
    c->handshake_done = 1;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
    CLOG(LOG_INFO, c, "TLS handshake done (%s, %s)%s", SSL_get_version(c->ssl),
         cipher ? SSL_CIPHER_get_name(cipher) : "?",
         cfg.require_peer ? "; requesting its attestation" : "");
    c->ch = attex_channel_new(&cfg, &err);
    if (c->ch == NULL || attex_channel_start(c->ch, now_ms(), &err) != ATTEX_OK) {
        set_exit(c, EXIT_ATTEST);
        set_reason(c, err.message);
        conn_events(c);
        conn_begin_close(c, NULL);
        return;
    }
    c->tstate = T_OPEN;
    if (a->on_open)
        a->on_open(c);
}

static void conn_handshake(conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        conn_open_channel(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->hs_want_write = e == SSL_ERROR_WANT_WRITE;
        return;
    }
    long vr = SSL_get_verify_result(c->ssl);
    if (!c->is_server && vr != X509_V_OK)
        conn_fail(c, EXIT_CONN, "TLS handshake failed: server certificate: %s",
                  X509_verify_cert_error_string(vr));
    else
        conn_ssl_error(c, "handshake", r);
}

/* Writes the channel's output to TLS. Returns 1 if anything was written. */
static int tls_flush(conn *c)
{
    int progress = 0;
    size_t len;
    const uint8_t *out = attex_channel_output(c->ch, &len);
    while (len > 0) {
        if (c->t_shut) { /* nothing can be sent after close_notify */
            attex_channel_consume_output(c->ch, len);
            return progress;
        }
        ERR_clear_error();
        int n = SSL_write(c->ssl, out, (int)(len > IO_CHUNK ? IO_CHUNK : len));
        if (n > 0) {
            attex_channel_consume_output(c->ch, (size_t)n);
            progress = 1;
            out = attex_channel_output(c->ch, &len);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            break;
        conn_ssl_error(c, "write", n);
        return 0;
    }
    return progress;
}

static int can_read_tls(const conn *c)
{
    return c->tstate == T_OPEN && !c->t_eof && !c->closed_ev && chan_out_len(c) < HIGH_WATER &&
           c->t2p_len < HIGH_WATER;
}

/* Reads TLS and feeds the channel. Returns 1 on progress. */
static int tls_read(conn *c)
{
    uint8_t buf[IO_CHUNK];
    attex_error err;
    int progress = 0;
    while (can_read_tls(c)) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, sizeof(buf));
        if (n > 0) {
            progress = 1;
            if (attex_channel_receive(c->ch, buf, (size_t)n, now_ms(), &err) != ATTEX_OK) {
                set_exit(c, EXIT_ATTEST);
                set_reason(c, err.message);
            }
            conn_events(c);
            if (attex_channel_is_closed(c->ch) && !c->closed_ev) {
                c->closed_ev = 1;
                set_exit(c, EXIT_ATTEST);
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            CLOG(LOG_DEBUG, c, "the peer sent close_notify");
            c->t_eof = 1;
            return 1;
        }
        conn_ssl_error(c, "read", n);
        return 0;
    }
    return progress;
}

static int ready_for_backend(const conn *c)
{
    app *a = c->app;
    if (!attex_channel_peer_accepted(c->ch))
        return 0;
    /* Ours too, when we attest and the peer asked (or it already sent data). */
    return a->srv.cfg.attester == NULL || attex_channel_self_accepted(c->ch) || c->got_data ||
           c->peer_attested;
}

static void backend_start(conn *c)
{
    app *a = c->app;
    int gai, e = 0;
    c->p_ai_list = resolve(a->fwd_host, a->fwd_port, &gai);
    if (c->p_ai_list == NULL) {
        set_exit(c, EXIT_CONN);
        conn_begin_close(c, "cannot resolve the backend");
        return;
    }
    c->p_ai_next = c->p_ai_list;
    c->pin = c->pout = tcp_connect_next(&c->p_ai_next, &e);
    if (c->pin < 0) {
        char r[200];
        snprintf(r, sizeof(r), "backend %s:%s: %s", a->fwd_host, a->fwd_port, strerror(e));
        set_exit(c, EXIT_CONN);
        conn_begin_close(c, r);
        return;
    }
    c->pstate = P_CONNECTING;
    c->p_deadline = now_ms() + 10000;
    CLOG(LOG_DEBUG, c, "connecting to the backend %s:%s", a->fwd_host, a->fwd_port);
}

static void backend_check(conn *c)
{
    app *a = c->app;
    int e = 0;
    int r = tcp_connect_check(c->pin, &e);
    if (r == 0 && now_ms() < c->p_deadline)
        return;
    if (r == 1) {
        c->pstate = P_OPEN;
        CLOG(LOG_INFO, c, "forwarding to %s:%s", a->fwd_host, a->fwd_port);
        return;
    }
    close(c->pin);
    c->pin = c->pout = tcp_connect_next(&c->p_ai_next, &e);
    if (c->pin >= 0)
        return;
    char rs[200];
    snprintf(rs, sizeof(rs), "backend %s:%s: %s", a->fwd_host, a->fwd_port,
             r == 0 ? "connection timed out" : strerror(e));
    c->pstate = P_CLOSED;
    set_exit(c, EXIT_CONN);
    conn_begin_close(c, rs);
}

static int can_read_plain(const conn *c)
{
    return c->tstate == T_OPEN && c->pstate == P_OPEN && !c->p_in_eof && !c->t_shut &&
           !c->closed_ev && c->ch != NULL && attex_channel_peer_accepted(c->ch) &&
           chan_out_len(c) < HIGH_WATER;
}

/* Moves bytes between the plain side and the channel. Returns 1 on progress. */
static int plain_io(conn *c)
{
    attex_error err;
    int progress = 0;
    if (c->mode == M_FORWARD && c->pstate == P_NONE && !c->closed_ev && ready_for_backend(c))
        backend_start(c);
    if (c->pstate == P_CONNECTING)
        backend_check(c);
    if (c->pstate != P_OPEN || c->tstate != T_OPEN)
        return 0;
    /* TLS peer -> plain side */
    while (c->t2p_len > 0) {
        ssize_t n;
        if (c->mode == M_MEM) {
            sb_add(&c->app->mem_sink, (const char *)c->t2p, c->t2p_len);
            n = (ssize_t)c->t2p_len;
        } else {
            n = write(c->pout, c->t2p, c->t2p_len);
        }
        if (n > 0) {
            memmove(c->t2p, c->t2p + n, c->t2p_len - (size_t)n);
            c->t2p_len -= (size_t)n;
            progress = 1;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        /* the plain side is gone: nothing more can be delivered */
        CLOG(LOG_DEBUG, c, "plain side write: %s", strerror(errno));
        c->t2p_len = 0;
        c->p_out_shut = 1;
        c->p_in_eof = 1;
        progress = 1;
        break;
    }
    if (c->t_eof && c->t2p_len == 0 && !c->p_out_shut) {
        c->p_out_shut = 1;
        if (c->mode == M_FORWARD || c->mode == M_LOCAL)
            shutdown(c->pout, SHUT_WR);
        progress = 1;
    }
    /* plain side -> TLS peer */
    while (can_read_plain(c)) {
        uint8_t buf[IO_CHUNK];
        ssize_t n;
        if (c->mode == M_MEM) {
            n = (ssize_t)(c->mem_in_len < sizeof(buf) ? c->mem_in_len : sizeof(buf));
            memcpy(buf, c->mem_in, (size_t)n);
            c->mem_in += n;
            c->mem_in_len -= (size_t)n;
        } else {
            if (c->mode == M_STDIO) {
                /* Standard input stays blocking (it is shared with the shell): read only
                 * what poll says is there, or the loop would stall and stop answering the
                 * peer (a re-attestation request, say). */
                struct pollfd ip = {c->pin, POLLIN, 0};
                if (poll(&ip, 1, 0) <= 0)
                    break;
            }
            n = read(c->pin, buf, sizeof(buf));
        }
        if (n > 0) {
            progress = 1;
            if (attex_channel_send(c->ch, buf, (size_t)n, &err) != ATTEX_OK) {
                set_exit(c, EXIT_ATTEST);
                conn_begin_close(c, err.message);
                return 1;
            }
            if (c->mode == M_STDIO)
                break; /* blocking fd: one read per readiness */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n < 0)
            CLOG(LOG_DEBUG, c, "plain side read: %s", strerror(errno));
        c->p_in_eof = 1;
        progress = 1;
        break;
    }
    return progress;
}

/* Decides whether the connection is finished, and sends close_notify when due. */
static void conn_check_done(conn *c)
{
    attex_error err;
    if (c->tstate != T_OPEN)
        return;
    if (c->closed_ev) {
        conn_begin_close(c, NULL);
        return;
    }
    int tunnel = c->mode == M_FORWARD || c->mode == M_LOCAL || c->mode == M_STDIO ||
                 c->mode == M_MEM;
    int finished = 0;
    if (!tunnel || c->pstate != P_OPEN) {
        /* echo, discard, or a forward whose backend is not open yet */
        if (c->t_eof && chan_out_len(c) == 0 && (c->mode != M_FORWARD || c->pstate == P_NONE))
            finished = 1;
        if (c->mode == M_FORWARD && c->pstate == P_NONE && c->t_eof)
            finished = 1;
    } else {
        if (c->p_in_eof && !c->t_shut && chan_out_len(c) == 0) {
            ERR_clear_error();
            SSL_shutdown(c->ssl);
            c->t_shut = 1;
            CLOG(LOG_DEBUG, c, "sent close_notify");
        }
        if (c->t_eof && c->t2p_len == 0 &&
            (c->t_shut || c->mode == M_STDIO || c->mode == M_MEM))
            finished = 1;
    }
    if (!finished)
        return;
    if (c->t_eof && !c->t_ended) {
        c->t_ended = 1;
        if (attex_channel_end(c->ch, &err) != ATTEX_OK) {
            set_exit(c, EXIT_ATTEST);
            set_reason(c, err.message);
        }
        conn_events(c);
    }
    if (!c->is_server && c->app->cli.cfg.require_peer && !c->peer_attested) {
        set_exit(c, EXIT_ATTEST);
        set_reason(c, "the server closed the connection before its attestation was accepted");
    }
    set_reason(c, c->t_eof ? "closed by the peer" : "done");
    conn_begin_close(c, NULL);
}

/* Does everything the connection can do now. */
static void conn_service(conn *c)
{
    uint64_t now = now_ms();
    int e = 0;
    c->kick = 0;
    switch (c->tstate) {
    case T_CONNECTING: {
        int r = tcp_connect_check(c->tfd, &e);
        if (r == 0 && now < c->deadline)
            return;
        if (r == 1) {
            if (conn_start_tls(c) == 0)
                conn_handshake(c);
            break;
        }
        close(c->tfd);
        c->tfd = tcp_connect_next(&c->ai_next, &e);
        if (c->tfd < 0)
            conn_fail(c, EXIT_CONN, "cannot connect: %s",
                      r == 0 ? "connection timed out" : strerror(e));
        return;
    }
    case T_HANDSHAKE:
        if (now >= c->deadline) {
            conn_fail(c, EXIT_CONN, "TLS handshake timed out");
            return;
        }
        conn_handshake(c);
        break;
    case T_CLOSING:
        tls_flush(c);
        if (c->tstate == T_CLOSING && (chan_out_len(c) == 0 || now >= c->deadline))
            conn_finalize(c);
        return;
    default:
        break;
    }
    if (c->tstate != T_OPEN)
        return;
    uint64_t t = attex_channel_next_timer(c->ch);
    if (t != 0 && now >= t && !c->t_shut) {
        attex_error err;
        if (attex_channel_tick(c->ch, now, &err) != ATTEX_OK) {
            set_exit(c, EXIT_ATTEST);
            set_reason(c, err.message);
        }
        conn_events(c);
    }
    for (int round = 0; round < 64 && c->tstate == T_OPEN; round++) {
        int progress = tls_flush(c);
        if (c->tstate != T_OPEN)
            break;
        progress |= tls_read(c);
        if (c->tstate != T_OPEN)
            break;
        conn_events(c);
        if (c->tstate != T_OPEN)
            break;
        progress |= plain_io(c);
        if (c->tstate != T_OPEN)
            break;
        conn_check_done(c);
        if (!progress)
            break;
    }
    if (c->tstate == T_CLOSING) {
        tls_flush(c);
        if (c->tstate == T_CLOSING && chan_out_len(c) == 0)
            conn_finalize(c);
    }
}

/* When the connection next needs servicing without I/O (0: never). */
static uint64_t conn_next_time(const conn *c)
{
    uint64_t t = 0;
    if (c->tstate == T_CONNECTING || c->tstate == T_HANDSHAKE || c->tstate == T_CLOSING)
        t = c->deadline;
    if (c->tstate == T_OPEN && c->ch != NULL && !c->t_shut)
        t = attex_channel_next_timer(c->ch);
    if (c->pstate == P_CONNECTING && (t == 0 || c->p_deadline < t))
        t = c->p_deadline;
    return t;
}

/* A new outgoing TLS connection (client side) for plain fds pin/pout. */
static conn *client_conn_new(app *a, int pin, int pout, int pstate)
{
    conn *c = conn_new(a, 0);
    int gai = 0, e = 0;
    if (c == NULL)
        return NULL;
    c->pin = pin;
    c->pout = pout;
    c->pstate = pstate;
    c->tstate = T_CONNECTING;
    snprintf(c->peer, sizeof(c->peer), "%s:%s", a->connect_host, a->connect_port);
    c->deadline = now_ms() + a->hs_timeout_ms;
    c->ai_list = resolve(a->connect_host, a->connect_port, &gai);
    if (c->ai_list == NULL) {
        conn_fail(c, EXIT_CONN, "cannot resolve %s: %s", a->connect_host, gai_strerror(gai));
        return c;
    }
    c->ai_next = c->ai_list;
    c->tfd = tcp_connect_next(&c->ai_next, &e);
    if (c->tfd < 0)
        conn_fail(c, EXIT_CONN, "cannot connect: %s", strerror(e));
    return c;
}

static void accept_all(app *a, int li)
{
    for (;;) {
        if (a->nconns >= a->max_conns)
            return;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept(a->lfd[li], (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                logmsg(LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        set_cloexec(fd);
        set_nonblock(fd);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char peer[96];
        addr_string((struct sockaddr *)&ss, sl, peer, sizeof(peer));
        if (a->lkind[li] == L_TLS) {
            conn *c = conn_new(a, 1);
            if (c == NULL) {
                close(fd);
                return;
            }
            c->tfd = fd;
            snprintf(c->peer, sizeof(c->peer), "%s", peer);
            CLOG(LOG_INFO, c, "accepted");
            if (c->mode == M_FORWARD)
                c->pstate = P_NONE;
            conn_start_tls(c);
        } else {
            conn *c = client_conn_new(a, fd, fd, P_OPEN);
            if (c == NULL) {
                close(fd);
                return;
            }
            CLOG(LOG_INFO, c, "local connection from %s", peer);
        }
    }
}

static void app_close_listeners(app *a)
{
    for (int i = 0; i < a->nl; i++)
        if (a->lfd[i] >= 0)
            close(a->lfd[i]);
    a->nl = 0;
}

/* Runs until every connection is done and (servers) a signal arrived. */
static int app_run(app *a)
{
    struct pollfd *pfd = NULL;
    size_t pcap = 0;
    for (;;) {
        /* reap */
        size_t j = 0;
        int clients_left = 0;
        for (size_t i = 0; i < a->nconns; i++) {
            conn *c = a->conns[i];
            if (c->tstate == T_DONE) {
                if (!c->is_server && c->exit_code > a->worst_exit)
                    a->worst_exit = c->exit_code;
                if (!c->is_server && c->exit_code != 0 && !a->quiet_verdict) {
                    if (a->json) {
                        sbuf b = {0};
                        sb_printf(&b, "{\"ok\":false,\"exit_status\":%d,\"server\":",
                                  c->exit_code);
                        sb_json_str(&b, c->peer);
                        sb_puts(&b, ",\"error\":");
                        sb_json_str(&b, c->close_reason);
                        sb_puts(&b, "}\n");
                        fputs(b.s, stdout);
                        fflush(stdout);
                        sb_free(&b);
                    }
                    if (strncmp(c->close_reason, "attestation", 11) == 0)
                        fprintf(stderr, "attex: %s\n", c->close_reason);
                    else
                        fprintf(stderr, "attex: %s: %s\n",
                                c->exit_code == EXIT_CONN ? "connection failed"
                                : c->peer_attested        ? "protocol failure"
                                                          : "attestation failed",
                                c->close_reason);
                }
                conn_free(c);
                continue;
            }
            if (!c->is_server)
                clients_left = 1;
            a->conns[j++] = c;
        }
        a->nconns = j;
        if (a->stop_when_clients_done && !clients_left && !a->stopping) {
            a->stopping = 1;
            app_close_listeners(a);
            for (size_t i = 0; i < a->nconns; i++)
                conn_begin_close(a->conns[i], "shutting down");
            continue;
        }
        if (a->stopping && a->nconns == 0)
            break;
        /* poll set */
        size_t need = 1 + (size_t)a->nl + 3 * a->nconns;
        if (need > pcap) {
            struct pollfd *n = realloc(pfd, need * sizeof(*n));
            if (n == NULL) {
                logmsg(LOG_ERROR, "out of memory");
                break;
            }
            pfd = n;
            pcap = need;
        }
        size_t np = 0;
        pfd[np].fd = sig_pipe[0];
        pfd[np++].events = POLLIN;
        int accepting = !a->stopping && a->nconns < a->max_conns;
        for (int i = 0; i < a->nl; i++) {
            pfd[np].fd = accepting ? a->lfd[i] : -1;
            pfd[np++].events = POLLIN;
        }
        uint64_t now = now_ms(), next = 0;
        int kicked = 0;
        for (size_t i = 0; i < a->nconns; i++) {
            conn *c = a->conns[i];
            c->pi_t = c->pi_p = c->pi_out = -1;
            short te = 0, pe = 0;
            switch (c->tstate) {
            case T_CONNECTING: te = POLLOUT; break;
            case T_HANDSHAKE: te = c->hs_want_write ? POLLOUT : POLLIN; break;
            case T_OPEN:
                te = (short)((can_read_tls(c) ? POLLIN : 0) |
                             (chan_out_len(c) > 0 && !c->t_shut ? POLLOUT : 0));
                break;
            case T_CLOSING: te = chan_out_len(c) > 0 ? POLLOUT : 0; break;
            default: break;
            }
            if (te && c->tfd >= 0) {
                c->pi_t = (int)np;
                pfd[np].fd = c->tfd;
                pfd[np++].events = te;
            }
            if (c->pstate == P_CONNECTING) {
                c->pi_p = (int)np;
                pfd[np].fd = c->pin;
                pfd[np++].events = POLLOUT;
            } else if (c->pstate == P_OPEN && c->mode != M_MEM) {
                short ie = can_read_plain(c) ? POLLIN : 0;
                short oe = c->t2p_len > 0 ? POLLOUT : 0;
                if (c->pin == c->pout) {
                    pe = (short)(ie | oe);
                    if (pe) {
                        c->pi_p = (int)np;
                        pfd[np].fd = c->pin;
                        pfd[np++].events = pe;
                    }
                } else {
                    if (ie) {
                        c->pi_p = (int)np;
                        pfd[np].fd = c->pin;
                        pfd[np++].events = ie;
                    }
                    if (oe) {
                        c->pi_out = (int)np;
                        pfd[np].fd = c->pout;
                        pfd[np++].events = oe;
                    }
                }
            }
            if (c->kick || (c->mode == M_MEM && can_read_plain(c)))
                kicked = 1;
            uint64_t t = conn_next_time(c);
            if (t != 0 && (next == 0 || t < next))
                next = t;
        }
        int timeout = -1;
        if (kicked)
            timeout = 0;
        else if (next != 0)
            timeout = next <= now ? 0 : (next - now > 60000 ? 60000 : (int)(next - now));
        int r = poll(pfd, (nfds_t)np, timeout);
        if (r < 0 && errno != EINTR) {
            logmsg(LOG_ERROR, "poll: %s", strerror(errno));
            break;
        }
        if (r < 0)
            continue;
        if (pfd[0].revents) {
            char drain[64];
            while (read(sig_pipe[0], drain, sizeof(drain)) > 0) {
            }
        }
        if (sig_received && !a->stopping) {
            logmsg(LOG_INFO, "signal %d: shutting down", (int)sig_received);
            a->stopping = 1;
            app_close_listeners(a);
            for (size_t i = 0; i < a->nconns; i++)
                conn_begin_close(a->conns[i], "shutting down");
            continue;
        }
        now = now_ms();
        size_t n0 = a->nconns; /* connections accepted below are serviced as they are made */
        for (size_t i = 0; i < n0; i++) {
            conn *c = a->conns[i];
            int ready = c->kick || (c->mode == M_MEM && can_read_plain(c));
            if (c->pi_t >= 0 && pfd[c->pi_t].revents)
                ready = 1;
            if (c->pi_p >= 0 && pfd[c->pi_p].revents)
                ready = 1;
            if (c->pi_out >= 0 && pfd[c->pi_out].revents)
                ready = 1;
            uint64_t t = conn_next_time(c);
            if (t != 0 && t <= now)
                ready = 1;
            if (ready && c->tstate != T_DONE)
                conn_service(c);
        }
        for (int i = 0; i < a->nl; i++)
            if (pfd[1 + i].fd >= 0 && pfd[1 + i].revents)
                accept_all(a, i);
        for (size_t i = n0; i < a->nconns; i++)
            if (a->conns[i]->tstate != T_DONE)
                conn_service(a->conns[i]);
    }
    free(pfd);
    app_close_listeners(a);
    for (size_t i = 0; i < a->nconns; i++)
        conn_free(a->conns[i]);
    a->nconns = 0;
    return a->worst_exit;
}

/* ====================================================================== */
/* Option parsing                                                         */



static const char usage_main[] =
    "usage: attex COMMAND [OPTIONS]\n"
    "\n"
    "Remote attestation over TLS 1.3: after the handshake, a peer proves what it runs\n"
    "with an RFC 9261 Exported Authenticator carrying attestation evidence (a CMW) bound\n"
    "to the connection; application data flows only once that evidence is accepted.\n"
    "\n"
    "commands:\n"
    "  server    accept attested TLS connections; echo or forward their data\n"
    "  client    connect, appraise the server's attestation, then pipe stdin/stdout\n"
    "  demo      a server and a client in this process, step by step\n"
    "  inspect   decode an authenticator request, an authenticator or a CMW\n"
    "  verifier  a Verifier service: appraises evidence, answers with signed EARs\n"
    "  evidence  verify or decode TDX, SEV-SNP, CCA and TPM evidence offline\n"
    "  tpm       provision a TPM 2.0 for attestation (AK, reference values, swtpm)\n"
    "  help [COMMAND]\n"
    "\n"
    "Run 'attex COMMAND --help' for a command's options. Common options:\n"
    "  --log-level error|warn|info|debug   messages on standard error (default info)\n"
    "Environment: SSLKEYLOGFILE=PATH appends the TLS secrets (NSS key log format).\n"
    "Exit status: 0 success, 1 attestation or protocol failure, 2 usage error,\n"
    "3 connection or TLS failure.\n";

static const char usage_server[] =
    "usage: attex server --cert CERT.pem --key KEY.pem [--listen [HOST:]PORT]\n"
    "                    [--attest-key AK.pem [--measure FILE]... | --attester NAME ...]\n"
    "                    [--passport URL] [--require-client APPRAISAL-OPTIONS...]\n"
    "                    [--echo | --forward HOST:PORT] [--reattest SECONDS]\n"
    "                    [--deadline SECONDS] [--max-connections N] [--log-level LEVEL]\n"
    "\n"
    "Accepts TLS 1.3 connections and runs the attested channel on each: with\n"
    "--attest-key or --attester it answers attestation requests with evidence bound\n"
    "to the connection; with --require-client it requires the client's. One\n"
    "event loop serves every connection. The address listened on is logged at level\n"
    "info as 'listening on HOST:PORT' (useful with port 0). SIGINT or SIGTERM closes\n"
    "the listener and the connections, then exits 0.\n"
    "\n"
    "options:\n"
    "  --cert PATH              certificate (PEM; more certificates after it: the chain)\n"
    "  --key PATH               its private key (PEM)\n"
    "  --listen [HOST:]PORT     address to listen on (default 0.0.0.0:4433; port 0: any)\n"
    "  --require-client         require and appraise the client's attestation\n"
    "  --quic                   serve attested QUIC (UDP, ALPN attex/1) instead of TLS/TCP\n"
    "  --echo                   send the client's data back\n"
    "  --forward HOST:PORT      relay each attested connection to this TCP address\n"
    "                           (default without --echo/--forward: data is discarded)\n"
    "  --reattest SECONDS       re-attest each client this often (with --require-client)\n"
    "  --deadline SECONDS       time allowed for the handshake and each attestation\n"
    "                           answer (default 10)\n"
    "  --max-connections N      connections served at once (default 1024)\n"
    "  --log-level LEVEL        error, warn, info (default) or debug\n"
    "  -h, --help               show this help\n"
    "\n"
    "Exit status: 0 after a signal, 2 usage error, 1 or 3 if it cannot start.\n"
    "\n";

static const char usage_client[] =
    "usage: attex client --connect HOST:PORT [APPRAISAL-OPTIONS... | --no-attest]\n"
    "                    [--no-verify-cert | --ca CA.pem]\n"
    "                    [--attest-key AK.pem | --attester NAME ...] [--cert C.pem --key K.pem]\n"
    "                    [--json] [--listen [HOST:]PORT] [--deadline SECONDS]\n"
    "\n"
    "Connects with TLS 1.3, requires the server's attestation (appraised as the\n"
    "options below say), prints the verdict and the appraised\n"
    "claims on standard error (with --json: one JSON object on standard output), then\n"
    "copies standard input to the connection and the connection to standard output\n"
    "until the server closes (like 'openssl s_client -quiet'). With --listen, it\n"
    "instead accepts TCP connections on that local address (default host 127.0.0.1)\n"
    "and forwards each through its own attested connection, until SIGINT/SIGTERM.\n"
    "\n"
    "options:\n"
    "  --connect HOST:PORT      the attex server\n"
    "  --quic                   connect with attested QUIC (UDP, ALPN attex/1)\n"
    "  --no-attest              do not require the server's attestation\n"
    "  --ca PATH                CA certificates (PEM) for the server certificate\n"
    "  --no-verify-cert         do not verify the server certificate (attestation still\n"
    "                           binds the evidence to the key the server proved)\n"
    "                           (default: the system trust store, name checked)\n"
    "  --cert PATH, --key PATH  our authenticator identity (default when attesting:\n"
    "                           a fresh self-signed P-256 certificate)\n"
    "  --json                   print the result as one JSON object on standard output\n"
    "  --listen [HOST:]PORT     forward local TCP connections instead of stdin/stdout\n"
    "  --deadline SECONDS       time allowed for connecting and attesting (default 10)\n"
    "  --log-level LEVEL        error, warn (default), info or debug\n"
    "  -h, --help               show this help\n"
    "\n"
    "Exit status: 0 success, 1 attestation or protocol failure (for example the\n"
    "server's evidence was rejected: the message says which check), 2 usage error,\n"
    "3 connection or TLS failure.\n"
    "\n";

static const char usage_demo[] =
    "usage: attex demo [--attester sample|tpm [--tpm-tcti TCTI]] [--quic] [--log-level LEVEL]\n"
    "\n"
    "Runs a server and a client on 127.0.0.1 in this process with a self-signed\n"
    "certificate, and shows each step: the request, the evidence, its binding to the\n"
    "connection, the verdict, then a line of data echoed through the attested\n"
    "channel. Exit status 0 when every step succeeded.\n"
    "\n"
    "  --attester sample   evidence signed by a fresh in-memory key (default)\n"
    "  --attester tpm      a TPM 2.0 quote; without --tpm-tcti the demo starts a\n"
    "                      software TPM (swtpm) on loopback for itself\n"
    "  --tpm-tcti TCTI     use this TPM instead (device:/dev/tpmrm0, swtpm:...)\n"
    "  --quic              over attested QUIC (UDP, ALPN attex/1) instead of TLS/TCP\n";

static const char usage_inspect[] =
    "usage: attex inspect [--json] [FILE|-]\n"
    "\n"
    "Decodes an authenticator request (CertificateRequest / ClientCertificateRequest),\n"
    "an authenticator (Certificate, CertificateVerify, Finished; the certificates and\n"
    "any cmw_attestation CMW), a shim frame holding one of those, or a CMW (CBOR or\n"
    "JSON; records, tags, collections). The input (default standard input) may be\n"
    "raw bytes, hex or base64: this is detected.\n"
    "\n"
    "options:\n"
    "  --json       print one JSON object\n"
    "  -h, --help   show this help\n"
    "\n"
    "Exit status: 0 decoded, 1 not decodable, 2 usage error.\n";

static const char usage_test_echo[] =
    "usage: attex test-echo --listen [HOST:]PORT\n"
    "\n"
    "For tests only: a plain TCP echo server (no TLS), as a --forward backend.\n";

/* Handles --log-level; returns 1 if argv[*i] was it, -1 on error. */
static int opt_log_level(int argc, char **argv, int *i, const char *cmd, int *rc)
{
    const char *v;
    int m = opt_val(argc, argv, i, "--log-level", &v);
    if (m == 0)
        return 0;
    if (m < 0 || parse_log_level(v) < 0) {
        *rc = usage_error(cmd, "--log-level needs error, warn, info or debug");
        return -1;
    }
    log_level = parse_log_level(v);
    return 1;
}

/* ====================================================================== */
/* attex server                                                           */

static int cmd_server(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *listen_s = "4433", *forward = NULL, *v;
    plugin_opts po;
    int require = 0, echo = 0, quic = 0, rc = 0, m;
    unsigned long reattest = 0, deadline = 10, maxc = 1024;
    memset(&po, 0, sizeof(po));
    log_prog = "attex server";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_server, stdout);
            fputs(plugin_help_attest, stdout);
            fputs(plugin_help_verify, stdout);
            return 0;
        }
        if ((m = opt_log_level(argc, argv, &i, "server", &rc)) != 0 ||
            (m = plugin_opt(&po, argc, argv, &i, "server", &rc)) != 0) {
            if (m < 0)
                return rc;
            continue;
        }
#define OPT(name, var)                                                                  \
    if ((m = opt_val(argc, argv, &i, name, &v)) != 0) {                                 \
        if (m < 0)                                                                      \
            return usage_error("server", "%s needs a value", name);                     \
        var;                                                                            \
        continue;                                                                       \
    }
        OPT("--cert", cert = v)
        OPT("--key", key = v)
        OPT("--listen", listen_s = v)
        OPT("--forward", forward = v)
        OPT("--reattest", if (!parse_uint(v, 86400, &reattest) || reattest == 0)
            return usage_error("server", "--reattest needs seconds (1..86400)"))
        OPT("--deadline", if (!parse_uint(v, 3600, &deadline) || deadline == 0)
            return usage_error("server", "--deadline needs seconds (1..3600)"))
        OPT("--max-connections", if (!parse_uint(v, 100000, &maxc) || maxc == 0)
            return usage_error("server", "--max-connections needs a number (1..100000)"))
#undef OPT
        if (strcmp(a, "--require-client") == 0) {
            require = 1;
            continue;
        }
        if (strcmp(a, "--echo") == 0) {
            echo = 1;
            continue;
        }
        if (strcmp(a, "--quic") == 0) {
            quic = 1;
            continue;
        }
        return usage_error("server", "unknown option '%s'", a);
    }
    if (cert == NULL || key == NULL)
        return usage_error("server", "--cert and --key are required");
    if (echo && forward)
        return usage_error("server", "--echo and --forward exclude each other");
    if ((rc = plugin_check(&po, require, "server", "--require-client")) != 0)
        return rc;
    if (reattest && !require)
        return usage_error("server", "--reattest needs --require-client");
    char lhost[256], lport[16], fhost[256], fport[16];
    if (!split_hostport(listen_s, "0.0.0.0", 0, lhost, sizeof(lhost), lport, sizeof(lport)))
        return usage_error("server", "--listen needs [HOST:]PORT, got '%s'", listen_s);
    if (forward && !split_hostport(forward, NULL, 1, fhost, sizeof(fhost), fport, sizeof(fport)))
        return usage_error("server", "--forward needs HOST:PORT, got '%s'", forward);

    int ret = EXIT_ATTEST;
    identity id;
    plugins pl;
    app a;
    memset(&a, 0, sizeof(a));
    memset(&pl, 0, sizeof(pl));
    if (identity_load(&id, cert, key) != 0)
        return EXIT_ATTEST;
    if (plugins_build(&pl, &po, require) != 0)
        goto out;
    if (quic) {
        quic_server_opts qo;
        memset(&qo, 0, sizeof(qo));
        qo.host = lhost;
        qo.port = lport;
        qo.cert = id.cert;
        qo.chain = id.chain;
        qo.num_chain = id.num_chain;
        qo.key = id.key;
        qo.channel.identity = &id.ea;
        qo.channel.attester = pl.attester;
        qo.channel.require_peer = require;
        qo.channel.policy = require ? &pl.policy : NULL;
        qo.channel.deadline_ms = (uint32_t)deadline * 1000u;
        qo.channel.reattest_interval_ms = (uint32_t)reattest * 1000u;
        qo.mode = echo ? QUIC_ECHO : forward ? QUIC_FORWARD : QUIC_DISCARD;
        qo.fwd_host = fhost;
        qo.fwd_port = fport;
        qo.max_conns = maxc;
        qo.attester_desc = pl.attester ? pl.attester_desc : NULL;
        ret = quic_server_run(&qo);
        goto out;
    }
    if (signals_setup() != 0)
        goto out;
    a.srv.ctx = tls_ctx_new(1);
    if (a.srv.ctx == NULL)
        goto out;
    if (ctx_use_identity(a.srv.ctx, &id) != 0) {
        logmsg(LOG_ERROR, "%s: %s", cert, ssl_errstr());
        goto out;
    }
    a.srv.mode = echo ? M_ECHO : forward ? M_FORWARD : M_DISCARD;
    a.srv.cfg.identity = &id.ea;
    a.srv.cfg.attester = pl.attester;
    a.srv.cfg.require_peer = require;
    a.srv.cfg.policy = require ? &pl.policy : NULL;
    a.srv.cfg.deadline_ms = (uint32_t)deadline * 1000u;
    a.srv.cfg.reattest_interval_ms = (uint32_t)reattest * 1000u;
    a.fwd_host = fhost;
    a.fwd_port = fport;
    a.max_conns = maxc;
    a.hs_timeout_ms = (uint32_t)deadline * 1000u;
    char bound[128];
    a.lfd[0] = listen_on(lhost, lport, bound, sizeof(bound));
    if (a.lfd[0] < 0) {
        ret = EXIT_CONN;
        goto out;
    }
    a.lkind[0] = L_TLS;
    a.nl = 1;
    logmsg(LOG_INFO, "listening on %s (%s%s%s%s)", bound,
           pl.attester ? "attesting with " : "not attesting",
           pl.attester ? pl.attester_desc : "",
           require ? ", requiring client attestation" : "",
           echo ? ", echo" : forward ? ", forwarding" : ", discarding data");
    app_run(&a);
    logmsg(LOG_INFO, "stopped");
    ret = 0;
out:
    SSL_CTX_free(a.srv.ctx);
    free(a.conns);
    plugins_free(&pl);
    identity_clear(&id);
    return ret;
}

/* ====================================================================== */
/* attex client                                                           */

static int cmd_client(int argc, char **argv)
{
    const char *connect_s = NULL, *ca = NULL, *cert = NULL, *key = NULL, *listen_s = NULL, *v;
    plugin_opts po;
    int no_verify = 0, json = 0, no_attest = 0, quic = 0, rc = 0, m;
    memset(&po, 0, sizeof(po));
    unsigned long deadline = 10;
    log_prog = "attex client";
    log_level = LOG_WARN;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_client, stdout);
            fputs(plugin_help_verify, stdout);
            fputs(plugin_help_attest, stdout);
            return 0;
        }
        if ((m = opt_log_level(argc, argv, &i, "client", &rc)) != 0 ||
            (m = plugin_opt(&po, argc, argv, &i, "client", &rc)) != 0) {
            if (m < 0)
                return rc;
            continue;
        }
#define OPT(name, var)                                                                  \
    if ((m = opt_val(argc, argv, &i, name, &v)) != 0) {                                 \
        if (m < 0)                                                                      \
            return usage_error("client", "%s needs a value", name);                     \
        var;                                                                            \
        continue;                                                                       \
    }
        OPT("--connect", connect_s = v)
        OPT("--ca", ca = v)
        OPT("--cert", cert = v)
        OPT("--key", key = v)
        OPT("--listen", listen_s = v)
        OPT("--deadline", if (!parse_uint(v, 3600, &deadline) || deadline == 0)
            return usage_error("client", "--deadline needs seconds (1..3600)"))
#undef OPT
        if (strcmp(a, "--no-verify-cert") == 0) {
            no_verify = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--no-attest") == 0) {
            no_attest = 1;
            continue;
        }
        if (strcmp(a, "--quic") == 0) {
            quic = 1;
            continue;
        }
        return usage_error("client", "unknown option '%s'", a);
    }
    char chost[256], cport[16], lhost[256], lport[16];
    if (connect_s == NULL)
        return usage_error("client", "--connect HOST:PORT is required");
    if (!split_hostport(connect_s, NULL, 1, chost, sizeof(chost), cport, sizeof(cport)))
        return usage_error("client", "--connect needs HOST:PORT, got '%s'", connect_s);
    if (listen_s &&
        !split_hostport(listen_s, "127.0.0.1", 0, lhost, sizeof(lhost), lport, sizeof(lport)))
        return usage_error("client", "--listen needs [HOST:]PORT, got '%s'", listen_s);
    if (no_verify && ca)
        return usage_error("client", "--no-verify-cert and --ca exclude each other");
    if (quic && listen_s)
        return usage_error("client", "--listen is not available with --quic yet");
    if (no_attest && plugin_verifies(&po))
        return usage_error("client", "--no-attest excludes the options that appraise the "
                                     "server's attestation (--trust-ak, --reference-values)");
    if ((rc = plugin_check(&po, !no_attest, "client", "--no-attest")) != 0)
        return rc;
    if ((cert == NULL) != (key == NULL))
        return usage_error("client", "--cert and --key go together");
    if (cert && !plugin_attests(&po))
        return usage_error("client", "--cert and --key go with --attest-key or --attester");

    int ret = EXIT_ATTEST;
    identity id;
    plugins pl;
    app a;
    memset(&a, 0, sizeof(a));
    memset(&pl, 0, sizeof(pl));
    memset(&id, 0, sizeof(id));
    int attests = plugin_attests(&po);
    if (attests && (cert ? identity_load(&id, cert, key) != 0
                         : identity_generate(&id, "attex client") != 0))
        return EXIT_ATTEST;
    if (plugins_build(&pl, &po, !no_attest) != 0)
        goto out;
    if (quic) {
        quic_client_opts qo;
        memset(&qo, 0, sizeof(qo));
        qo.host = chost;
        qo.port = cport;
        qo.ca_file = ca;
        qo.no_verify_cert = no_verify;
        qo.channel.identity = attests ? &id.ea : NULL;
        qo.channel.attester = pl.attester;
        qo.channel.require_peer = !no_attest;
        qo.channel.policy = no_attest ? NULL : &pl.policy;
        qo.channel.deadline_ms = (uint32_t)deadline * 1000u;
        qo.deadline_ms = (uint32_t)deadline * 1000u;
        qo.json = json;
        ret = quic_client_run(&qo);
        goto out;
    }
    if (signals_setup() != 0)
        goto out;
    a.cli.ctx = tls_ctx_new(0);
    if (a.cli.ctx == NULL)
        goto out;
    if (no_verify) {
        SSL_CTX_set_verify(a.cli.ctx, SSL_VERIFY_NONE, NULL);
    } else {
        if (ca ? SSL_CTX_load_verify_locations(a.cli.ctx, ca, NULL) != 1
               : SSL_CTX_set_default_verify_paths(a.cli.ctx) != 1) {
            logmsg(LOG_ERROR, "%s: %s", ca ? ca : "default trust store", ssl_errstr());
            goto out;
        }
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(a.cli.ctx), X509_V_FLAG_PARTIAL_CHAIN);
        SSL_CTX_set_verify(a.cli.ctx, SSL_VERIFY_PEER, NULL);
    }
    a.cli.mode = listen_s ? M_LOCAL : M_STDIO;
    a.cli.cfg.identity = attests ? &id.ea : NULL;
    a.cli.cfg.attester = pl.attester;
    a.cli.cfg.require_peer = !no_attest;
    a.cli.cfg.policy = no_attest ? NULL : &pl.policy;
    a.cli.cfg.deadline_ms = (uint32_t)deadline * 1000u;
    a.connect_host = chost;
    a.connect_port = cport;
    a.hs_timeout_ms = (uint32_t)deadline * 1000u;
    a.max_conns = 1024;
    a.json = json;
    if (listen_s) {
        char bound[128];
        a.quiet_verdict = 1;
        if (log_level < LOG_INFO)
            log_level = LOG_INFO;
        a.lfd[0] = listen_on(lhost, lport, bound, sizeof(bound));
        if (a.lfd[0] < 0) {
            ret = EXIT_CONN;
            goto out;
        }
        a.lkind[0] = L_LOCAL;
        a.nl = 1;
        logmsg(LOG_INFO, "listening on %s, forwarding to %s:%s", bound, chost, cport);
        app_run(&a);
        ret = 0;
    } else {
        a.stop_when_clients_done = 1;
        if (client_conn_new(&a, STDIN_FILENO, STDOUT_FILENO, P_OPEN) == NULL)
            goto out;
        ret = app_run(&a);
        if (sig_received && ret == 0)
            ret = 0;
    }
out:
    SSL_CTX_free(a.cli.ctx);
    free(a.conns);
    plugins_free(&pl);
    identity_clear(&id);
    return ret;
}

/* ====================================================================== */
/* attex demo                                                             */

static const char demo_line[] = "hello through an attested channel\n";
static const char *demo_evidence = "evidence";
static int demo_step_failed;

static conn *demo_server_conn(app *a)
{
    for (size_t i = 0; i < a->nconns; i++)
        if (a->conns[i]->is_server && a->conns[i]->ssl != NULL)
            return a->conns[i];
    return NULL;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void demo_on_open(conn *c)
{
    if (c->is_server)
        return;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
    printf("[2] TLS       client connected to %s: %s, %s; server certificate verified\n",
           c->peer, SSL_get_version(c->ssl), cipher ? SSL_CIPHER_get_name(cipher) : "?");
    /* The channel's first output is its REQUEST frame: show what it asks. */
    size_t len;
    const uint8_t *out = attex_channel_output(c->ch, &len);
    attex_ea_request *req = NULL;
    attex_error err;
    if (len >= ATTEX_FRAME_HEADER_LEN && out[0] == ATTEX_FRAME_REQUEST &&
        be32(out + 1) <= len - ATTEX_FRAME_HEADER_LEN &&
        attex_ea_request_parse(out + ATTEX_FRAME_HEADER_LEN, be32(out + 1), &req, &err) ==
            ATTEX_OK) {
        size_t cl, ns;
        const uint8_t *ctx = attex_ea_request_context(req, &cl);
        attex_ea_request_schemes(req, &ns);
        char hex[2 * ATTEX_EA_MAX_CONTEXT + 1];
        hex_encode(ctx, cl < 8 ? cl : 8, hex);
        attex_extension e;
        printf("[3] REQUEST   client -> server: %s, %u bytes\n"
               "              context %s.. (%zu random bytes), %zu signature schemes,\n"
               "              %s\n",
               attex_ea_request_type(req) == ATTEX_HS_CERTIFICATE_REQUEST
                   ? "CertificateRequest"
                   : "ClientCertificateRequest",
               be32(out + 1), hex, cl, ns,
               attex_ea_request_find_extension(req, ATTEX_CMW_ATTESTATION_DEFAULT, &e)
                   ? "extension cmw_attestation (0xffff, empty): \"send me attestation\""
                   : "no cmw_attestation extension");
        attex_ea_request_free(req);
    } else {
        printf("[3] REQUEST   (the channel's first frame could not be shown)\n");
    }
}

static void demo_on_attested(conn *c, const attex_attest_result *r)
{
    if (c->is_server)
        return;
    if (r == NULL || !attex_attest_result_attested(r)) {
        printf("[4] EVIDENCE  none: the server did not attest\n");
        demo_step_failed = 1;
        return;
    }
    const attex_ea_authenticator *au = attex_attest_result_authenticator(r);
    const attex_cmw *cmw = attex_attest_result_cmw(r);
    const attex_binding *b = attex_attest_result_binding(r);
    char subj[256], tb[64], hex[2 * 48 + 1], hex2[2 * 48 + 1];
    size_t vl = 0, cl = 0;
    attex_cmw_value(cmw, &vl);
    const uint8_t *ctx = attex_ea_authenticator_context(au, &cl);
    X509 *leaf = attex_ea_authenticator_cert(au, 0);
    printf("[4] EVIDENCE  server -> client: authenticator for that context, signed with %s\n"
           "              by %s; its certificate entry carries a CMW:\n"
           "              %s, ind %u (%s), %zu bytes\n"
           "              (%s)\n",
           attex_scheme_name(attex_ea_authenticator_scheme(au)) ? attex_scheme_name(attex_ea_authenticator_scheme(au)) : "?",
           cert_subject(leaf, subj, sizeof(subj)), cmw_type_string(cmw, tb, sizeof(tb)),
           attex_cmw_ind(cmw), ind_string(attex_cmw_ind(cmw)), vl, demo_evidence);
    hex_encode(b->binder, b->hash_len, hex);
    printf("[5] BINDING   binder = H(SPKI || TLS-Exporter(\"Attestation\", context, 32))\n"
           "              client, from its own exporter: %s\n", hex);
    /* Independently, on the server's end of the same connection. */
    conn *s = demo_server_conn(c->app);
    attex_error err;
    attex_binding sb;
    attex_ea_session *ss = s ? attex_ea_session_new_openssl(s->ssl, &err) : NULL;
    if (ss != NULL && attex_binding_compute(ss, ctx, cl, SSL_get_certificate(s->ssl), &sb,
                                            &err) == ATTEX_OK) {
        hex_encode(sb.binder, sb.hash_len, hex2);
        int same = sb.hash_len == b->hash_len && memcmp(sb.binder, b->binder, b->hash_len) == 0;
        printf("              server, from its own exporter: %s\n"
               "              %s; the evidence's eat_nonce must equal it\n",
               hex2, same ? "identical: the evidence is bound to this connection and key"
                          : "DIFFERENT");
        if (!same)
            demo_step_failed = 1;
        attex_binding_clear(&sb);
    }
    attex_ea_session_free(ss);
    size_t n = attex_attest_result_num_appraisals(r);
    for (size_t i = 0; i < n; i++) {
        const char *vn = NULL;
        const attex_appraisal *ap = attex_attest_result_appraisal(r, i, &vn);
        printf("[6] VERDICT   %s (verifier %s): %s\n", attex_verdict_name(ap->verdict),
               vn ? vn : "?", ap->reason);
        printf("              claims %s\n", ap->claims_json ? ap->claims_json : "(none)");
    }
    printf("              -> the gate opens: application data may now flow\n");
}

/* The demo's attestation: a sample key in memory, or a TPM (a swtpm it starts itself). */
typedef struct demo_att {
    plugins pl;
    EVP_PKEY *akey;
    attex_swtpm *swtpm;
    const char *tcti;
    char setup[512];
} demo_att;

static int demo_att_sample(demo_att *d)
{
    attex_error err;
    attex_buf refs = ATTEX_BUF_INIT;
    d->akey = EVP_EC_gen("P-256");
    if (d->akey == NULL) {
        logmsg(LOG_ERROR, "key generation failed");
        return -1;
    }
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = d->akey;
    attex_attester *at = attex_sample_attester_new(&ac, &err);
    if (at == NULL || attex_sample_reference_values(&ac, &refs, &err) != ATTEX_OK) {
        attex_sample_attester_free(at);
        logmsg(LOG_ERROR, "sample attester: %s", err.message);
        return -1;
    }
    plugins_set_attester(&d->pl, at, attex_sample_attester_free, "the sample attester");
    char *refs_json = malloc(refs.len + 1);
    if (refs_json != NULL) {
        memcpy(refs_json, refs.data, refs.len);
        refs_json[refs.len] = '\0';
    }
    attex_buf_free(&refs);
    EVP_PKEY *trusted[1] = {d->akey};
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = trusted;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refs_json;
    attex_verifier *v = refs_json ? attex_sample_verifier_new(&vc, &err) : NULL;
    free(refs_json);
    if (v == NULL) {
        logmsg(LOG_ERROR, "sample verifier: %s", refs_json ? err.message : "out of memory");
        return -1;
    }
    plugins_add_verifier(&d->pl, v, attex_sample_verifier_free);
    snprintf(d->setup, sizeof(d->setup),
             "attestation key: fresh P-256 key, in memory (the verifier trusts it)\n"
             "              reference values: SHA-256 of this executable (\"exe\")");
    demo_evidence = "sample evidence: EAT claims in COSE_Sign1, ES256, attestation key";
    return 0;
}

static int demo_att_tpm(demo_att *d, const char *tcti)
{
    attex_error err;
    attex_buf pem = ATTEX_BUF_INIT, refs = ATTEX_BUF_INIT;
    if (tcti == NULL) {
        if (attex_swtpm_start(0, &d->swtpm, &err) != ATTEX_OK) {
            logmsg(LOG_ERROR, "%s", err.message);
            return -1;
        }
        tcti = attex_swtpm_tcti(d->swtpm);
    }
    d->tcti = tcti;
    attex_tpm_attester_config tc;
    memset(&tc, 0, sizeof(tc));
    tc.tcti = tcti;
    attex_attester *at = attex_tpm_attester_new(&tc, &err);
    if (at == NULL) {
        logmsg(LOG_ERROR, "TPM attester: %s", err.message);
        return -1;
    }
    plugins_set_attester(&d->pl, at, attex_tpm_attester_free, "the TPM attester");
    int ret = -1;
    attex_verifier *v = NULL;
    EVP_PKEY *ak = NULL;
    if (attex_tpm_attester_ak_pem(at, &pem, &err) != ATTEX_OK ||
        attex_tpm_reference_values(tcti, NULL, &refs, &err) != ATTEX_OK) {
        logmsg(LOG_ERROR, "TPM: %s", err.message);
        goto out;
    }
    BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    ak = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    char *refs_json = malloc(refs.len + 1);
    if (ak == NULL || refs_json == NULL) {
        free(refs_json);
        logmsg(LOG_ERROR, "TPM: cannot read the AK public key");
        goto out;
    }
    memcpy(refs_json, refs.data, refs.len);
    refs_json[refs.len] = '\0';
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_aks = &ak;
    vc.num_trusted_aks = 1;
    vc.reference_values_json = refs_json;
    v = attex_tpm_verifier_new(&vc, &err);
    free(refs_json);
    if (v == NULL) {
        logmsg(LOG_ERROR, "TPM verifier: %s", err.message);
        goto out;
    }
    plugins_add_verifier(&d->pl, v, attex_tpm_verifier_free);
    snprintf(d->setup, sizeof(d->setup),
             "attestation key: the TPM's AK (ECDSA P-256, endorsement hierarchy), pinned\n"
             "              TPM: %s%s\n"
             "              reference values: PCRs sha256:0-7 as read now",
             tcti, d->swtpm ? " (a software TPM started for this demo)" : "");
    demo_evidence = "TPM 2.0 quote over PCRs sha256:0-7, qualifyingData = report_data";
    ret = 0;
out:
    EVP_PKEY_free(ak);
    attex_buf_free(&pem);
    attex_buf_free(&refs);
    return ret;
}

static int cmd_demo(int argc, char **argv)
{
    int rc = 0, m;
    const char *attester_name = "sample", *tcti = NULL, *v;
    int quic = 0;
    log_prog = "attex demo";
    log_level = LOG_WARN;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_demo, stdout);
            return 0;
        }
        if ((m = opt_log_level(argc, argv, &i, "demo", &rc)) != 0) {
            if (m < 0)
                return rc;
            continue;
        }
        if ((m = opt_val(argc, argv, &i, "--attester", &v)) != 0) {
            if (m < 0)
                return usage_error("demo", "--attester needs a value");
            attester_name = v;
            continue;
        }
        if ((m = opt_val(argc, argv, &i, "--tpm-tcti", &v)) != 0) {
            if (m < 0)
                return usage_error("demo", "--tpm-tcti needs a value");
            tcti = v;
            continue;
        }
        if (strcmp(argv[i], "--quic") == 0) {
            quic = 1;
            continue;
        }
        return usage_error("demo", "unknown option '%s'", argv[i]);
    }
    if (strcmp(attester_name, "sample") != 0 && strcmp(attester_name, "tpm") != 0)
        return usage_error("demo", "--attester needs sample or tpm, got '%s'", attester_name);
    if (tcti && strcmp(attester_name, "tpm") != 0)
        return usage_error("demo", "--tpm-tcti goes with --attester tpm");
    int ret = EXIT_ATTEST;
    identity sid;
    demo_att d;
    app a;
    memset(&a, 0, sizeof(a));
    memset(&d, 0, sizeof(d));
    memset(&sid, 0, sizeof(sid));
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("attex demo: remote attestation over TLS 1.3 (RFC 9261 exported authenticators\n"
           "carrying attestation evidence in a CMW, draft-fossati-seat-expat)\n\n");
    if (identity_generate(&sid, "attex demo server") != 0) {
        logmsg(LOG_ERROR, "key generation failed");
        goto out;
    }
    if ((strcmp(attester_name, "tpm") == 0 ? demo_att_tpm(&d, tcti) : demo_att_sample(&d)) != 0)
        goto out;
    plugins_require(&d.pl);
    if (quic) {
        quic_server_opts so;
        quic_client_opts co;
        memset(&so, 0, sizeof(so));
        memset(&co, 0, sizeof(co));
        so.cert = sid.cert;
        so.key = sid.key;
        so.channel.identity = &sid.ea;
        so.channel.attester = d.pl.attester;
        so.channel.deadline_ms = 10000;
        so.attester_desc = d.setup;
        co.server_name = "localhost";
        co.channel.require_peer = 1;
        co.channel.policy = &d.pl.policy;
        co.channel.deadline_ms = 10000;
        ret = quic_demo_run(&so, &co, demo_line, demo_evidence);
        goto out;
    }
    if (signals_setup() != 0)
        goto out;
    a.srv.ctx = tls_ctx_new(1);
    a.cli.ctx = tls_ctx_new(0);
    if (a.srv.ctx == NULL || a.cli.ctx == NULL || ctx_use_identity(a.srv.ctx, &sid) != 0 ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(a.cli.ctx), sid.cert) != 1) {
        logmsg(LOG_ERROR, "TLS setup: %s", ssl_errstr());
        goto out;
    }
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(a.cli.ctx), X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify(a.cli.ctx, SSL_VERIFY_PEER, NULL);
    a.srv.mode = M_ECHO;
    a.srv.cfg.identity = &sid.ea;
    a.srv.cfg.attester = d.pl.attester;
    a.cli.mode = M_MEM;
    a.cli.cfg.require_peer = 1;
    a.cli.cfg.policy = &d.pl.policy;
    a.max_conns = 16;
    a.hs_timeout_ms = 10000;
    a.stop_when_clients_done = 1;
    a.on_open = demo_on_open;
    a.on_attested = demo_on_attested;
    a.quiet_verdict = 1;
    char bound[128];
    a.lfd[0] = listen_on("127.0.0.1", "0", bound, sizeof(bound));
    if (a.lfd[0] < 0) {
        ret = EXIT_CONN;
        goto out;
    }
    a.lkind[0] = L_TLS;
    a.nl = 1;
    const char *port = strrchr(bound, ':') + 1;
    printf("[1] SETUP     %s\n"
           "              server: %s, self-signed certificate CN=attex demo server\n",
           d.setup, bound);
    a.connect_host = "127.0.0.1";
    a.connect_port = port;
    conn *c = client_conn_new(&a, -1, -1, P_OPEN);
    if (c == NULL)
        goto out;
    c->mem_in = (const uint8_t *)demo_line;
    c->mem_in_len = strlen(demo_line);
    c->mode = M_MEM;
    int r = app_run(&a);
    ret = r;
    int echo_ok = a.mem_sink.len == strlen(demo_line) && memcmp(a.mem_sink.s, demo_line, a.mem_sink.len) == 0;
    if (r == 0 && !demo_step_failed && echo_ok)
        printf("[7] DATA      client -> server: %s"
               "              server -> client: %s"
               "              (DATA frames inside TLS; both ends then closed cleanly)\n\n"
               "result: attestation accepted, data echoed. Exit status 0.\n",
               demo_line, a.mem_sink.s);
    else {
        printf("\ndemo FAILED (exit status %d)\n", r ? r : 1);
        if (ret == 0)
            ret = EXIT_ATTEST;
    }
out:
    SSL_CTX_free(a.srv.ctx);
    SSL_CTX_free(a.cli.ctx);
    sb_free(&a.mem_sink);
    free(a.conns);
    plugins_free(&d.pl);
    EVP_PKEY_free(d.akey);
    attex_swtpm_stop(d.swtpm);
    identity_clear(&sid);
    return ret;
}

/* ====================================================================== */
/* attex inspect                                                          */

typedef struct out_ctx {
    int json;
    sbuf j;
} out_ctx;

static void ind_text(int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", stdout);
}

static void inspect_cmw_node(out_ctx *o, const attex_cmw *cmw, int depth)
{
    char tb[64];
    attex_cmw_kind k = attex_cmw_kind_of(cmw);
    size_t vl = 0;
    if (k == ATTEX_CMW_COLLECTION) {
        const char *ct = attex_cmw_collection_type(cmw);
        size_t n = attex_cmw_collection_size(cmw);
        if (o->json) {
            sb_puts(&o->j, "{\"kind\":\"collection\",\"type\":");
            if (ct)
                sb_json_str(&o->j, ct);
            else
                sb_puts(&o->j, "null");
            sb_puts(&o->j, ",\"entries\":[");
        } else {
            ind_text(depth);
            printf("collection%s%s, %zu entries\n", ct ? ", type " : "", ct ? ct : "", n);
        }
        for (size_t i = 0; i < n; i++) {
            const char *tl = NULL;
            int64_t il = 0;
            const attex_cmw *e = attex_cmw_collection_entry(cmw, i, &tl, &il);
            if (o->json) {
                sb_puts(&o->j, i ? ",{\"label\":" : "{\"label\":");
                if (tl)
                    sb_json_str(&o->j, tl);
                else
                    sb_printf(&o->j, "%lld", (long long)il);
                sb_puts(&o->j, ",\"cmw\":");
            } else {
                ind_text(depth + 1);
                if (tl)
                    printf("\"%s\":\n", tl);
                else
                    printf("%lld:\n", (long long)il);
            }
            inspect_cmw_node(o, e, depth + 2);
            if (o->json)
                sb_puts(&o->j, "}");
        }
        if (o->json)
            sb_puts(&o->j, "]}");
        return;
    }
    attex_cmw_value(cmw, &vl);
    const char *mt = attex_cmw_media_type(cmw);
    int sample = mt != NULL && strcasecmp(mt, ATTEX_SAMPLE_MEDIA_TYPE) == 0;
    uint32_t ind = attex_cmw_ind(cmw);
    /* TEE evidence inside the record: decode it too. */
    attex_buf ev_json = ATTEX_BUF_INIT;
    const char *ev_kind = NULL;
    if (mt != NULL && (strcasecmp(mt, ATTEX_TSM_REPORT_MEDIA_TYPE) == 0 ||
                       strcasecmp(mt, ATTEX_CCA_MEDIA_TYPE) == 0)) {
        attex_error e2;
        const uint8_t *val = attex_cmw_value(cmw, &vl);
        if (evidence_describe(val, vl, NULL, &ev_json, &ev_kind, &e2) != ATTEX_OK)
            attex_buf_free(&ev_json);
    }
    if (o->json) {
        sb_puts(&o->j, k == ATTEX_CMW_TAG ? "{\"kind\":\"tag\",\"type\":"
                                          : "{\"kind\":\"record\",\"type\":");
        sb_json_str(&o->j, cmw_type_string(cmw, tb, sizeof(tb)));
        uint16_t cf;
        if (attex_cmw_content_format(cmw, &cf))
            sb_printf(&o->j, ",\"content_format\":%u", cf);
        sb_printf(&o->j, ",\"ind\":%u,\"ind_name\":", ind);
        sb_json_str(&o->j, ind_string(ind));
        sb_printf(&o->j, ",\"value_len\":%zu", vl);
        if (sample)
            sb_puts(&o->j, ",\"sample_evidence\":true");
        if (ev_json.data != NULL) {
            sb_puts(&o->j, ",\"evidence\":");
            sb_add(&o->j, (const char *)ev_json.data, ev_json.len);
        }
        sb_puts(&o->j, "}");
    } else {
        ind_text(depth);
        printf("%s, type %s\n", k == ATTEX_CMW_TAG ? "tag" : "record",
               cmw_type_string(cmw, tb, sizeof(tb)));
        ind_text(depth + 1);
        printf("ind %u (%s), value %zu bytes\n", ind, ind_string(ind), vl);
        if (sample) {
            ind_text(depth + 1);
            printf("sample evidence: EAT claims in COSE_Sign1 (ES256); the sample verifier\n");
            ind_text(depth + 1);
            printf("appraises it only with the TLS connection it is bound to\n");
        }
        if (ev_json.data != NULL) {
            ind_text(depth + 1);
            printf("%s, decoded (not verified):\n%.*s\n", ev_kind, (int)ev_json.len,
                   (const char *)ev_json.data);
        }
    }
    attex_buf_free(&ev_json);
}

/* inspect_evidence decodes raw TEE evidence (a quote, a report, a token, a tsm-report). */
static int inspect_evidence(out_ctx *o, const uint8_t *p, size_t n)
{
    attex_buf json = ATTEX_BUF_INIT;
    attex_error err;
    const char *kind = NULL;
    if (evidence_describe(p, n, NULL, &json, &kind, &err) != ATTEX_OK)
        return -1;
    if (o->json) {
        sb_puts(&o->j, "{\"kind\":");
        sb_json_str(&o->j, kind);
        sb_puts(&o->j, ",\"evidence\":");
        sb_add(&o->j, (const char *)json.data, json.len);
        sb_puts(&o->j, "}");
    } else {
        printf("%s evidence, decoded (not verified; 'attex evidence verify' appraises it):\n"
               "%.*s\n",
               kind, (int)json.len, (const char *)json.data);
    }
    attex_buf_free(&json);
    return 0;
}

static int inspect_cmw(out_ctx *o, const uint8_t *p, size_t n, int depth, attex_error *err)
{
    attex_cmw *cmw = NULL;
    if (attex_cmw_decode(p, n, NULL, &cmw, err) != ATTEX_OK)
        return -1;
    if (o->json) {
        sb_puts(&o->j, "{\"format\":");
        sb_json_str(&o->j, attex_cmw_decoded_format(cmw) == ATTEX_CMW_JSON ? "json" : "cbor");
        sb_puts(&o->j, ",\"cmw\":");
    } else {
        ind_text(depth);
        printf("CMW (%s, %zu bytes):\n",
               attex_cmw_decoded_format(cmw) == ATTEX_CMW_JSON ? "JSON" : "CBOR", n);
    }
    inspect_cmw_node(o, cmw, depth + 1);
    if (o->json)
        sb_puts(&o->j, "}");
    attex_cmw_free(cmw);
    return 0;
}

static const char *ext_name(uint16_t t)
{
    switch (t) {
    case ATTEX_EXT_SERVER_NAME: return "server_name";
    case ATTEX_EXT_SIGNATURE_ALGORITHMS: return "signature_algorithms";
    case ATTEX_EXT_SIGNATURE_ALGORITHMS_CERT: return "signature_algorithms_cert";
    case ATTEX_CMW_ATTESTATION_DEFAULT: return "cmw_attestation";
    default: return "unknown";
    }
}

static int inspect_request(out_ctx *o, const uint8_t *p, size_t n)
{
    attex_ea_request *req = NULL;
    attex_error err;
    if (attex_ea_request_parse(p, n, &req, &err) != ATTEX_OK) {
        fprintf(stderr, "attex inspect: not a valid authenticator request: %s\n", err.message);
        return EXIT_ATTEST;
    }
    size_t cl, ns, ne = attex_ea_request_num_extensions(req);
    const uint8_t *ctx = attex_ea_request_context(req, &cl);
    const uint16_t *sc = attex_ea_request_schemes(req, &ns);
    const char *tn = attex_ea_request_type(req) == ATTEX_HS_CERTIFICATE_REQUEST
                         ? "CertificateRequest"
                         : "ClientCertificateRequest";
    if (o->json) {
        sb_puts(&o->j, "{\"kind\":\"authenticator_request\",\"type\":");
        sb_json_str(&o->j, tn);
        sb_printf(&o->j, ",\"length\":%zu,\"context\":", n);
        sb_json_hex(&o->j, ctx, cl);
        sb_puts(&o->j, ",\"signature_schemes\":[");
        for (size_t i = 0; i < ns; i++) {
            if (i)
                sb_puts(&o->j, ",");
            const char *nm = attex_scheme_name(sc[i]);
            char hx[16];
            snprintf(hx, sizeof(hx), "0x%04x", sc[i]);
            sb_json_str(&o->j, nm ? nm : hx);
        }
        sb_puts(&o->j, "],\"extensions\":[");
        for (size_t i = 0; i < ne; i++) {
            attex_extension e = attex_ea_request_extension(req, i);
            sb_printf(&o->j, "%s{\"type\":%u,\"name\":", i ? "," : "", e.type);
            sb_json_str(&o->j, ext_name(e.type));
            sb_printf(&o->j, ",\"length\":%zu}", e.len);
        }
        sb_puts(&o->j, "]}");
    } else {
        char hex[2 * ATTEX_EA_MAX_CONTEXT + 1];
        hex_encode(ctx, cl, hex);
        printf("authenticator request: %s, %zu bytes\n", tn, n);
        printf("  context     %s (%zu bytes)\n", hex, cl);
        printf("  schemes    ");
        for (size_t i = 0; i < ns; i++) {
            const char *nm = attex_scheme_name(sc[i]);
            if (nm)
                printf(" %s", nm);
            else
                printf(" 0x%04x", sc[i]);
        }
        printf("\n");
        for (size_t i = 0; i < ne; i++) {
            attex_extension e = attex_ea_request_extension(req, i);
            printf("  extension   0x%04x %s, %zu bytes%s\n", e.type, ext_name(e.type), e.len,
                   e.type == ATTEX_CMW_ATTESTATION_DEFAULT ? " (attestation requested)" : "");
        }
    }
    attex_ea_request_free(req);
    return 0;
}

static int inspect_authenticator(out_ctx *o, const uint8_t *p, size_t n)
{
    attex_error err;
    attex_ea_authenticator *a = NULL;
    char hex[2 * ATTEX_EA_MAX_CONTEXT + 1];
    /* The library's own decoder: structure only, nothing verified without the connection. */
    if (attex_ea_authenticator_parse(p, n, 0, &a, &err) != ATTEX_OK) {
        if (o->json) {
            sb_printf(&o->j, "{\"kind\":\"authenticator\",\"length\":%zu,\"well_formed\":false,"
                             "\"error\":",
                      n);
            sb_json_str(&o->j, err.message);
            sb_puts(&o->j, "}");
        } else {
            printf("authenticator: %zu bytes, malformed: %s\n", n, err.message);
        }
        return EXIT_ATTEST;
    }
    int empty = attex_ea_authenticator_is_empty(a);
    size_t cl, fl, sl;
    const uint8_t *ctx = attex_ea_authenticator_context(a, &cl);
    const uint8_t *fin = attex_ea_authenticator_finished(a, &fl);
    attex_ea_authenticator_signature(a, &sl);
    uint16_t sch = attex_ea_authenticator_scheme(a);
    const char *nm = attex_scheme_name(sch);
    if (o->json) {
        sb_printf(&o->j, "{\"kind\":\"authenticator\",\"length\":%zu,\"empty\":%s,\"context\":", n,
                  empty ? "true" : "false");
        if (empty)
            sb_puts(&o->j, "null");
        else
            sb_json_hex(&o->j, ctx, cl);
        sb_puts(&o->j, ",\"entries\":[");
    } else {
        printf("authenticator: %zu bytes%s\n", n,
               empty ? " (empty authenticator: Finished only, a refusal; its context is the "
                       "request's)"
                     : "");
        if (!empty) {
            hex_encode(ctx, cl, hex);
            printf("  context     %s (%zu bytes)\n", hex, cl);
            printf("  Certificate %zu certificate(s)\n", attex_ea_authenticator_num_certs(a));
        }
    }
    for (size_t ei = 0; ei < attex_ea_authenticator_num_certs(a); ei++) {
        size_t dl;
        char subj[256];
        attex_ea_authenticator_cert_der(a, ei, &dl);
        cert_subject(attex_ea_authenticator_cert(a, ei), subj, sizeof(subj));
        if (o->json) {
            sb_printf(&o->j, "%s{\"cert_len\":%zu,\"subject\":", ei ? "," : "", dl);
            sb_json_str(&o->j, subj);
            sb_puts(&o->j, ",\"extensions\":[");
        } else {
            printf("    entry %zu: certificate %zu bytes, %s\n", ei, dl, subj);
        }
        size_t nx = attex_ea_authenticator_num_entry_extensions(a, ei);
        for (size_t xi = 0; xi < nx; xi++) {
            attex_extension e = attex_ea_authenticator_entry_extension(a, ei, xi);
            if (o->json) {
                sb_printf(&o->j, "%s{\"type\":%u,\"name\":", xi ? "," : "", e.type);
                sb_json_str(&o->j, ext_name(e.type));
                sb_printf(&o->j, ",\"length\":%zu", e.len);
            } else {
                printf("      extension 0x%04x %s, %zu bytes\n", e.type, ext_name(e.type), e.len);
            }
            /* cmw_attestation, or what is framed like it (another code point): u16 || CMW. */
            if (e.len >= 2 && (e.type == ATTEX_CMW_ATTESTATION_DEFAULT ||
                               ((size_t)e.data[0] << 8 | e.data[1]) + 2 == e.len)) {
                size_t inner = (size_t)e.data[0] << 8 | e.data[1];
                int framed = inner + 2 == e.len;
                if (o->json)
                    sb_puts(&o->j, ",\"cmw\":");
                if (!framed || inspect_cmw(o, e.data + 2, inner, 4, &err) != 0) {
                    if (o->json)
                        sb_puts(&o->j, "null");
                    else
                        printf("        (the CMW does not decode%s%s)\n", framed ? ": " : "",
                               framed ? err.message : "");
                }
            }
            if (o->json)
                sb_puts(&o->j, "}");
        }
        if (o->json)
            sb_puts(&o->j, "]}");
    }
    if (o->json) {
        sb_puts(&o->j, "]");
        if (!empty) {
            sb_printf(&o->j, ",\"scheme\":%u,\"scheme_name\":", sch);
            sb_json_str(&o->j, nm ? nm : "unknown");
            sb_printf(&o->j, ",\"signature_len\":%zu", sl);
        }
        sb_puts(&o->j, ",\"verify_data\":");
        sb_json_hex(&o->j, fin, fl);
        sb_puts(&o->j, ",\"well_formed\":true}");
    } else {
        if (!empty)
            printf("  CertificateVerify scheme %s (0x%04x), signature %zu bytes\n",
                   nm ? nm : "unknown", sch, sl);
        hex_encode(fin, fl, hex);
        printf("  Finished    %s\n", hex);
        printf("  (structure only: signature and Finished can be checked only on the "
               "connection)\n");
    }
    attex_ea_authenticator_free(a);
    return 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes hex or base64 text in place when the whole input is that; returns the new length. */
static size_t detect_decode(uint8_t *p, size_t n, const char **how)
{
    size_t digits = 0, b64 = 0, ws = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = p[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
            ws++;
            continue;
        }
        if (hexval(ch) >= 0)
            digits++;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '+' || ch == '/' || ch == '-' || ch == '_' || ch == '=')
            b64++;
    }
    *how = "raw";
    if (digits > 0 && digits + ws == n && digits % 2 == 0) {
        size_t o = 0;
        int hi = -1;
        for (size_t i = 0; i < n; i++) {
            int v = hexval(p[i]);
            if (v < 0)
                continue;
            if (hi < 0)
                hi = v;
            else {
                p[o++] = (uint8_t)(hi << 4 | v);
                hi = -1;
            }
        }
        *how = "hex";
        return o;
    }
    if (b64 > 0 && b64 + ws == n && memchr(p, ' ', n) == NULL) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            int ch = p[i];
            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '=')
                continue;
            p[o++] = (uint8_t)(ch == '-' ? '+' : ch == '_' ? '/' : ch);
        }
        while (o % 4)
            p[o++] = '='; /* room: we removed at least as many characters, or padding fits */
        uint8_t *tmp = malloc(o);
        if (tmp == NULL)
            return n;
        int len = EVP_DecodeBlock(tmp, p, (int)o);
        if (len < 0) {
            free(tmp);
            return n;
        }
        size_t pad = 0;
        for (size_t i = o; i > 0 && p[i - 1] == '='; i--)
            pad++;
        size_t out = (size_t)len - pad;
        memcpy(p, tmp, out);
        free(tmp);
        *how = "base64";
        return out;
    }
    return n;
}

static int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    out_ctx o;
    memset(&o, 0, sizeof(o));
    log_prog = "attex inspect";
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_inspect, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) {
            o.json = 1;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return usage_error("inspect", "unknown option '%s'", argv[i]);
        if (path != NULL)
            return usage_error("inspect", "only one input");
        path = argv[i];
    }
    attex_buf input = ATTEX_BUF_INIT;
    if (read_input(path ? path : "-", 16u << 20, &input) != 0)
        return EXIT_ATTEST;
    uint8_t *buf = input.data;
    size_t n = input.len;
    const char *how;
    n = detect_decode(buf, n, &how);
    int ret = EXIT_ATTEST;
    attex_error err;
    if (n == 0) {
        fputs("attex inspect: empty input\n", stderr);
        free(buf);
        return EXIT_ATTEST;
    }
    const uint8_t *p = buf;
    size_t len = n;
    int frame = 0;
    if (n >= ATTEX_FRAME_HEADER_LEN && p[0] >= ATTEX_FRAME_REQUEST && p[0] <= ATTEX_FRAME_DATA &&
        be32(p + 1) == n - ATTEX_FRAME_HEADER_LEN) {
        frame = p[0];
        p += ATTEX_FRAME_HEADER_LEN;
        len -= ATTEX_FRAME_HEADER_LEN;
    }
    if (o.json) {
        sb_puts(&o.j, "{\"input\":");
        sb_json_str(&o.j, how);
        if (frame)
            sb_printf(&o.j, ",\"frame\":%d", frame);
        sb_puts(&o.j, ",\"decoded\":");
    } else {
        printf("input: %zu bytes (%s)%s\n", n, how,
               frame == ATTEX_FRAME_REQUEST         ? ", a REQUEST frame"
               : frame == ATTEX_FRAME_AUTHENTICATOR ? ", an AUTHENTICATOR frame"
               : frame == ATTEX_FRAME_VERDICT       ? ", a VERDICT frame"
               : frame == ATTEX_FRAME_DATA          ? ", a DATA frame"
                                                    : "");
    }
    if (frame == ATTEX_FRAME_VERDICT || frame == ATTEX_FRAME_DATA) {
        if (frame == ATTEX_FRAME_VERDICT && len >= 2 && (size_t)p[1] + 2 <= len) {
            char reason[512];
            size_t rl = len - 2 - p[1];
            snprintf(reason, sizeof(reason), "%.*s", (int)(rl < 500 ? rl : 500),
                     (const char *)p + 2 + p[1]);
            if (o.json) {
                sb_printf(&o.j, "{\"kind\":\"verdict\",\"accepted\":%s,\"reason\":",
                          p[0] == 1 ? "true" : "false");
                sb_json_str(&o.j, reason);
                sb_puts(&o.j, "}");
            } else {
                printf("verdict: %s; reason: %s\n", p[0] == 1 ? "accepted" : "rejected",
                       reason);
            }
            ret = 0;
        } else if (frame == ATTEX_FRAME_DATA) {
            if (o.json)
                sb_printf(&o.j, "{\"kind\":\"data\",\"length\":%zu}", len);
            else
                printf("application data: %zu bytes\n", len);
            ret = 0;
        } else {
            fputs("attex inspect: malformed VERDICT frame\n", stderr);
        }
    } else if (p[0] == ATTEX_HS_CERTIFICATE_REQUEST || p[0] == ATTEX_HS_CLIENT_CERTIFICATE_REQUEST) {
        ret = inspect_request(&o, p, len);
    } else if (p[0] == ATTEX_HS_CERTIFICATE || p[0] == ATTEX_HS_FINISHED) {
        ret = inspect_authenticator(&o, p, len);
    } else if (inspect_cmw(&o, p, len, 0, &err) == 0) {
        ret = 0;
    } else if (inspect_evidence(&o, p, len) == 0) {
        ret = 0;
    } else {
        fprintf(stderr,
                "attex inspect: not an authenticator request, an authenticator, a CMW, a TDX "
                "quote, an SEV-SNP report, a CCA token or a tsm-report (CMW decoder: %s)\n",
                err.message);
    }
    if (o.json && ret == 0) {
        sb_puts(&o.j, "}\n");
        fputs(o.j.s, stdout);
    }
    sb_free(&o.j);
    free(buf);
    return ret;
}

/* ====================================================================== */
/* attex test-echo (tests only)                                           */

typedef struct echo_conn {
    int fd;
    uint8_t buf[65536];
    size_t len;
    int eof;
} echo_conn;

static int cmd_test_echo(int argc, char **argv)
{
    const char *listen_s = NULL, *v;
    int m;
    log_prog = "attex test-echo";
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_test_echo, stdout);
            return 0;
        }
        if ((m = opt_val(argc, argv, &i, "--listen", &v)) != 0) {
            if (m < 0)
                return usage_error("test-echo", "--listen needs a value");
            listen_s = v;
            continue;
        }
        return usage_error("test-echo", "unknown option '%s'", argv[i]);
    }
    char host[256], port[16], bound[128];
    if (listen_s == NULL ||
        !split_hostport(listen_s, "127.0.0.1", 0, host, sizeof(host), port, sizeof(port)))
        return usage_error("test-echo", "--listen [HOST:]PORT is required");
    if (signals_setup() != 0)
        return EXIT_ATTEST;
    int lfd = listen_on(host, port, bound, sizeof(bound));
    if (lfd < 0)
        return EXIT_CONN;
    logmsg(LOG_INFO, "listening on %s", bound);
    enum { MAXE = 256 };
    echo_conn *cs[MAXE];
    size_t nc = 0;
    struct pollfd pfd[MAXE + 2];
    while (!sig_received) {
        pfd[0].fd = sig_pipe[0];
        pfd[0].events = POLLIN;
        pfd[1].fd = nc < MAXE ? lfd : -1;
        pfd[1].events = POLLIN;
        for (size_t i = 0; i < nc; i++) {
            pfd[2 + i].fd = cs[i]->fd;
            pfd[2 + i].events =
                (short)((cs[i]->len < sizeof(cs[i]->buf) && !cs[i]->eof ? POLLIN : 0) |
                        (cs[i]->len ? POLLOUT : 0));
        }
        if (poll(pfd, 2 + nc, -1) < 0 && errno != EINTR)
            break;
        if (sig_received)
            break;
        for (size_t i = 0; i < nc; i++) {
            echo_conn *e = cs[i];
            short re = pfd[2 + i].revents;
            int dead = 0;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(e->fd, e->buf + e->len, sizeof(e->buf) - e->len);
                if (r > 0)
                    e->len += (size_t)r;
                else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                    e->eof = 1;
            }
            if (e->len > 0) {
                ssize_t w = write(e->fd, e->buf, e->len);
                if (w > 0) {
                    memmove(e->buf, e->buf + w, e->len - (size_t)w);
                    e->len -= (size_t)w;
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    dead = 1;
                }
            }
            if (dead || (e->eof && e->len == 0)) {
                close(e->fd);
                free(e);
                cs[i] = NULL;
            }
        }
        size_t j = 0;
        for (size_t i = 0; i < nc; i++)
            if (cs[i] != NULL)
                cs[j++] = cs[i];
        nc = j;
        if (pfd[1].fd >= 0 && pfd[1].revents) {
            int fd;
            while (nc < MAXE && (fd = accept(lfd, NULL, NULL)) >= 0) {
                echo_conn *e = calloc(1, sizeof(*e));
                if (e == NULL) {
                    close(fd);
                    break;
                }
                set_nonblock(fd);
                e->fd = fd;
                cs[nc++] = e;
            }
        }
    }
    for (size_t i = 0; i < nc; i++) {
        close(cs[i]->fd);
        free(cs[i]);
    }
    close(lfd);
    return 0;
}

/* ====================================================================== */

int main(int argc, char **argv)
{
    int i = 1, rc = 0;
    while (i < argc && strncmp(argv[i], "--log-level", 11) == 0) {
        int m = opt_log_level(argc, argv, &i, NULL, &rc);
        if (m < 0)
            return rc;
        i++;
    }
    if (i >= argc) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i - 1;
    char **sub_argv = argv + i + 1;
    if (is_help(cmd) || strcmp(cmd, "help") == 0) {
        const char *topic = strcmp(cmd, "help") == 0 && sub_argc > 0 ? sub_argv[0] : NULL;
        if (topic == NULL)
            fputs(usage_main, stdout);
        else if (strcmp(topic, "server") == 0)
            fputs(usage_server, stdout);
        else if (strcmp(topic, "client") == 0)
            fputs(usage_client, stdout);
        else if (strcmp(topic, "demo") == 0)
            fputs(usage_demo, stdout);
        else if (strcmp(topic, "inspect") == 0)
            fputs(usage_inspect, stdout);
        else
            return usage_error(NULL, "unknown command '%s'", topic);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("attex %s\n", attex_version());
        return 0;
    }
    if (strcmp(cmd, "server") == 0)
        return cmd_server(sub_argc, sub_argv);
    if (strcmp(cmd, "client") == 0)
        return cmd_client(sub_argc, sub_argv);
    if (strcmp(cmd, "demo") == 0)
        return cmd_demo(sub_argc, sub_argv);
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(sub_argc, sub_argv);
    if (strcmp(cmd, "tpm") == 0)
        return cmd_tpm(sub_argc, sub_argv);
    if (strcmp(cmd, "evidence") == 0)
        return cmd_evidence(sub_argc, sub_argv);
    if (strcmp(cmd, "verifier") == 0)
        return cmd_verifier(sub_argc, sub_argv);
    if (strcmp(cmd, "test-echo") == 0)
        return cmd_test_echo(sub_argc, sub_argv);
    return usage_error(NULL, "unknown command '%s'", cmd);
}
