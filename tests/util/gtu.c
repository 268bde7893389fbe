/*
 * Test/bench helpers: TLS 1.3 over loopback TCP, each end OpenSSL or GnuTLS.
 */
#include "gtu.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

const char *gtu_stack_name(gtu_stack s) { return s == GTU_GNUTLS ? "gnutls" : "openssl"; }

static int tcp_pair(int *cfd, int *sfd)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    *cfd = *sfd = -1;
    if (lfd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        goto fail;
    *cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto fail;
    *sfd = accept(lfd, NULL, NULL);
    if (*sfd < 0)
        goto fail;
    close(lfd);
    setsockopt(*cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int fl1 = fcntl(*cfd, F_GETFL), fl2 = fcntl(*sfd, F_GETFL);
    return fl1 >= 0 && fl2 >= 0 && fcntl(*cfd, F_SETFL, fl1 | O_NONBLOCK) == 0 &&
           fcntl(*sfd, F_SETFL, fl2 | O_NONBLOCK) == 0;
fail:
    close(lfd);
    if (*cfd >= 0)
        close(*cfd);
    *cfd = -1;
    return 0;
}

/* The PEM of an OpenSSL object, as a GnuTLS datum (malloc'd). */
static int pem_of(X509 *cert, EVP_PKEY *key, gnutls_datum_t *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b != NULL && (cert ? PEM_write_bio_X509(b, cert)
                                : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL));
    char *p = NULL;
    long n = ok ? BIO_get_mem_data(b, &p) : 0;
    out->data = n > 0 ? malloc((size_t)n) : NULL;
    if (out->data != NULL) {
        memcpy(out->data, p, (size_t)n);
        out->size = (unsigned)n;
    }
    BIO_free(b);
    return out->data != NULL;
}

static int add_ext(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
                   size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
    (void)s, (void)type, (void)context, (void)x, (void)chainidx, (void)al, (void)arg;
    *out = (const unsigned char *)"at";
    *outlen = 2;
    return 1;
}

static int open_openssl(gtu_end *e, const gtu_opts *o, X509 *cert, EVP_PKEY *key)
{
    e->ctx = SSL_CTX_new(e->is_server ? TLS_server_method() : TLS_client_method());
    if (e->ctx == NULL)
        return 0;
    if (!o->openssl_plain && attex_openssl_configure_ctx(e->ctx, NULL) != ATTEX_OK)
        return 0;
    if (o->tls12 || o->openssl_max12) {
        SSL_CTX_set_min_proto_version(e->ctx, 0);
        SSL_CTX_set_max_proto_version(e->ctx, o->openssl_max12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    }
    if (o->suite && !SSL_CTX_set_ciphersuites(e->ctx, o->suite))
        return 0;
    if (o->openssl_sigalgs) {
        /* The OpenSSL macro casts its argument to char *: give it a writable copy. */
        char list[256];
        snprintf(list, sizeof(list), "%s", o->openssl_sigalgs);
        if (!SSL_CTX_set1_sigalgs_list(e->ctx, list))
            return 0;
    }
    if (!e->is_server && o->openssl_client_ext &&
        SSL_CTX_add_custom_ext(e->ctx, o->openssl_client_ext, SSL_EXT_CLIENT_HELLO, add_ext, NULL,
                               NULL, NULL, NULL) != 1)
        return 0;
    if (e->is_server &&
        (SSL_CTX_use_certificate(e->ctx, cert) != 1 || SSL_CTX_use_PrivateKey(e->ctx, key) != 1))
        return 0;
    e->ssl = SSL_new(e->ctx);
    if (e->ssl == NULL || !SSL_set_fd(e->ssl, e->fd))
        return 0;
    if (e->is_server)
        SSL_set_accept_state(e->ssl);
    else
        SSL_set_connect_state(e->ssl);
    return 1;
}

static int open_gnutls(gtu_end *e, const gtu_opts *o, X509 *cert, EVP_PKEY *key)
{
    if (gnutls_certificate_allocate_credentials(&e->cred) < 0)
        return 0;
    if (e->is_server) {
        gnutls_datum_t c = {NULL, 0}, k = {NULL, 0};
        int ok = pem_of(cert, NULL, &c) && pem_of(NULL, key, &k) &&
                 gnutls_certificate_set_x509_key_mem(e->cred, &c, &k, GNUTLS_X509_FMT_PEM) >= 0;
        free(c.data);
        free(k.data);
        if (!ok)
            return 0;
    }
    unsigned flags = (e->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_TICKETS;
    if (gnutls_init(&e->gs, flags) < 0)
        return 0;
    if (o->tls12) {
        /* A session attex can observe, but forced to TLS 1.2. */
        if (attex_gnutls_prepare_session(e->gs, NULL) != ATTEX_OK ||
            gnutls_priority_set_direct(e->gs, "NORMAL:-VERS-ALL:+VERS-TLS1.2", NULL) < 0)
            return 0;
    } else {
        const char *extra = NULL;
        if (o->suite && strcmp(o->suite, "TLS_AES_128_GCM_SHA256") == 0)
            extra = "-CIPHER-ALL:+AES-128-GCM";
        else if (o->suite && strcmp(o->suite, "TLS_AES_256_GCM_SHA384") == 0)
            extra = "-CIPHER-ALL:+AES-256-GCM";
        if (o->gnutls_extra)
            extra = o->gnutls_extra;
        attex_error err;
        if (attex_gnutls_configure_session_priority(e->gs, extra, &err) != ATTEX_OK) {
            fprintf(stderr, "configure: %s\n", err.message);
            return 0;
        }
    }
    if (gnutls_credentials_set(e->gs, GNUTLS_CRD_CERTIFICATE, e->cred) < 0)
        return 0;
    gnutls_transport_set_int(e->gs, e->fd);
    return 1;
}

static void end_close(gtu_end *e)
{
    SSL_free(e->ssl);
    SSL_CTX_free(e->ctx);
    if (e->gs)
        gnutls_deinit(e->gs);
    if (e->cred)
        gnutls_certificate_free_credentials(e->cred);
    if (e->fd >= 0)
        close(e->fd);
    memset(e, 0, sizeof(*e));
    e->fd = -1;
}

void gtu_pair_close(gtu_pair *p)
{
    end_close(&p->c);
    end_close(&p->s);
}

/* One handshake step: 1 done, 0 in progress, -1 failed (reason in err). */
static int step(gtu_end *e, char *err, size_t err_len)
{
    if (e->done)
        return 1;
    if (e->stack == GTU_OPENSSL) {
        int r = SSL_do_handshake(e->ssl);
        if (r == 1)
            return e->done = 1;
        int code = SSL_get_error(e->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
            return 0;
        unsigned long q = ERR_get_error();
        snprintf(err, err_len, "openssl %s: %s", e->is_server ? "server" : "client",
                 q ? ERR_reason_error_string(q) : "handshake failed");
        ERR_clear_error();
        return -1;
    }
    int r = gnutls_handshake(e->gs);
    if (r == 0)
        return e->done = 1;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(r))
        return 0;
    snprintf(err, err_len, "gnutls %s: %s", e->is_server ? "server" : "client",
             gnutls_strerror(r));
    return -1;
}

int gtu_handshake(gtu_pair *p, char *hs_err, size_t hs_err_len)
{
    char dummy[8];
    if (hs_err == NULL) {
        hs_err = dummy;
        hs_err_len = sizeof(dummy);
    }
    for (int i = 0; i < 4000; i++) {
        int c = step(&p->c, hs_err, hs_err_len);
        int s = c < 0 ? 0 : step(&p->s, hs_err, hs_err_len);
        if (c < 0 || s < 0)
            return 0;
        if (c == 1 && s == 1)
            return 1;
        struct pollfd pf[2] = {{p->c.fd, POLLIN, 0}, {p->s.fd, POLLIN, 0}};
        poll(pf, 2, 5);
    }
    snprintf(hs_err, hs_err_len, "handshake timed out");
    return 0;
}

int gtu_pair_open(gtu_pair *p, const gtu_opts *o, X509 *cert, EVP_PKEY *key, char *hs_err,
                  size_t hs_err_len)
{
    memset(p, 0, sizeof(*p));
    p->c.fd = p->s.fd = -1;
    p->c.stack = o->client;
    p->s.stack = o->server;
    p->s.is_server = 1;
    if (hs_err != NULL && hs_err_len)
        hs_err[0] = 0;
    if (!tcp_pair(&p->c.fd, &p->s.fd))
        goto fail;
    int ok_c = o->client == GTU_OPENSSL ? open_openssl(&p->c, o, cert, key)
                                        : open_gnutls(&p->c, o, cert, key);
    int ok_s = ok_c && (o->server == GTU_OPENSSL ? open_openssl(&p->s, o, cert, key)
                                                 : open_gnutls(&p->s, o, cert, key));
    if (!ok_c || !ok_s)
        goto fail;
    if (o->skip_handshake || gtu_handshake(p, hs_err, hs_err_len))
        return 1;
fail:
    ERR_clear_error();
    gtu_pair_close(p);
    return 0;
}

void gtu_tls(gtu_end *e, attex_tls *out)
{
    if (e->stack == GTU_GNUTLS)
        attex_gnutls_tls(e->gs, out);
    else
        attex_openssl_tls(e->ssl, out);
}

long gtu_write(gtu_end *e, const uint8_t *p, size_t n)
{
    if (e->stack == GTU_OPENSSL) {
        size_t w = 0;
        int r = SSL_write_ex(e->ssl, p, n, &w);
        if (r == 1)
            return (long)w;
        int code = SSL_get_error(e->ssl, r);
        ERR_clear_error();
        return code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
    ssize_t r = gnutls_record_send(e->gs, p, n);
    if (r >= 0)
        return (long)r;
    return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ? 0 : -1;
}

long gtu_read(gtu_end *e, uint8_t *p, size_t n)
{
    if (e->stack == GTU_OPENSSL) {
        size_t got = 0;
        int r = SSL_read_ex(e->ssl, p, n, &got);
        if (r == 1)
            return (long)got;
        int code = SSL_get_error(e->ssl, r);
        ERR_clear_error();
        return code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
    ssize_t r = gnutls_record_recv(e->gs, p, n);
    if (r > 0)
        return (long)r;
    return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ? 0 : -1;
}

int gtu_transfer(gtu_pair *p, int from_server, const uint8_t *msg, size_t len, attex_buf *out)
{
    gtu_end *tx = from_server ? &p->s : &p->c;
    gtu_end *rx = from_server ? &p->c : &p->s;
    size_t total = len + 4, sent = 0, got = 0;
    uint8_t *frame = malloc(total), *in = malloc(total);
    int ok = 0;
    if (frame == NULL || in == NULL)
        goto out;
    frame[0] = (uint8_t)(len >> 24);
    frame[1] = (uint8_t)(len >> 16);
    frame[2] = (uint8_t)(len >> 8);
    frame[3] = (uint8_t)len;
    memcpy(frame + 4, msg, len);
    for (int i = 0; i < 20000 && got < total; i++) {
        if (sent < total) {
            long w = gtu_write(tx, frame + sent, total - sent);
            if (w < 0)
                goto out;
            sent += (size_t)w;
        }
        long r = gtu_read(rx, in + got, total - got);
        if (r < 0)
            goto out;
        got += (size_t)r;
        if (r == 0 && got < total) {
            struct pollfd pf[2] = {{p->c.fd, POLLIN, 0}, {p->s.fd, POLLIN, 0}};
            poll(pf, 2, 5);
        }
    }
    if (got != total)
        goto out;
    size_t announced = ((size_t)in[0] << 24) | ((size_t)in[1] << 16) | ((size_t)in[2] << 8) | in[3];
    if (announced != len)
        goto out;
    out->data = malloc(len ? len : 1);
    if (out->data == NULL)
        goto out;
    memcpy(out->data, in + 4, len);
    out->len = len;
    ok = 1;
out:
    free(frame);
    free(in);
    return ok;
}

int gtu_channel_io(gtu_end *e, attex_channel *ch, int *want_write, attex_error *err)
{
    if (e->stack == GTU_GNUTLS)
        return attex_gnutls_channel_io(e->gs, ch, want_write, err);
    return attex_openssl_channel_io(e->ssl, ch, want_write, err);
}

void gtu_shutdown(gtu_end *e)
{
    if (e->stack == GTU_GNUTLS)
        gnutls_bye(e->gs, GNUTLS_SHUT_WR);
    else
        SSL_shutdown(e->ssl);
}
