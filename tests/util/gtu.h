/*
 * Test/bench helpers for TLS 1.3 connections over loopback TCP where each
 * end is OpenSSL or GnuTLS. Not part of the library.
 */
#ifndef ATTEX_GTU_H
#define ATTEX_GTU_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <openssl/ssl.h>

#include <attex/attex.h>
#include <attex/gnutls.h>

typedef enum gtu_stack { GTU_OPENSSL = 0, GTU_GNUTLS = 1 } gtu_stack;

/* One end of a connection. */
typedef struct gtu_end {
    gtu_stack stack;
    int is_server;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    gnutls_session_t gs;
    gnutls_certificate_credentials_t cred;
    int done; /* handshake finished */
} gtu_end;

typedef struct gtu_pair {
    gtu_end c, s;
} gtu_pair;

typedef struct gtu_opts {
    gtu_stack client, server;
    /* "TLS_AES_128_GCM_SHA256" or "TLS_AES_256_GCM_SHA384", NULL for the stacks' default. */
    const char *suite;
    /* GnuTLS ends: TLS 1.2 only (prepared for attex, not configured); OpenSSL ends: 1.2 allowed. */
    int tls12;
    /* OpenSSL ends: at most TLS 1.2 (against an attex-configured GnuTLS end). */
    int openssl_max12;
    int skip_handshake;
    /* OpenSSL ends: keep OpenSSL's default settings instead of attex_openssl_configure_ctx. */
    int openssl_plain;
    /* OpenSSL ends: SSL_CTX_set1_sigalgs_list, NULL for the default. */
    const char *openssl_sigalgs;
    /* OpenSSL clients: send this extension type (nonzero) in the ClientHello, 2 bytes "at". */
    unsigned openssl_client_ext;
    /* GnuTLS ends: priority keywords appended (instead of those that `suite` implies). */
    const char *gnutls_extra;
} gtu_opts;

/*
 * gtu_pair_open connects a client and a server over 127.0.0.1 (non-blocking
 * sockets) and runs the handshake. The server's certificate is `cert`/`key`
 * (the same for either stack). Returns 1 on success, 0 on failure (with
 * both ends freed), and in *hs_err the handshake failure, if any.
 */
int gtu_pair_open(gtu_pair *p, const gtu_opts *o, X509 *cert, EVP_PKEY *key, char *hs_err,
                  size_t hs_err_len);
void gtu_pair_close(gtu_pair *p);

/* gtu_handshake runs both ends' handshakes to completion; 1 ok, 0 failed. */
int gtu_handshake(gtu_pair *p, char *hs_err, size_t hs_err_len);

/* gtu_tls gives the attex_tls of an end. */
void gtu_tls(gtu_end *e, attex_tls *out);

/* gtu_write / gtu_read: one non-blocking record operation; bytes moved, 0 would block, -1 failed. */
long gtu_write(gtu_end *e, const uint8_t *p, size_t n);
long gtu_read(gtu_end *e, uint8_t *p, size_t n);

/* gtu_transfer sends a message from one end to the other (u32 length prefix); 1 ok. */
int gtu_transfer(gtu_pair *p, int from_server, const uint8_t *msg, size_t len, attex_buf *out);

/* gtu_channel_io runs attex_openssl_channel_io or attex_gnutls_channel_io. */
int gtu_channel_io(gtu_end *e, attex_channel *ch, int *want_write, attex_error *err);

/* gtu_shutdown sends close_notify. */
void gtu_shutdown(gtu_end *e);

/* gtu_stack_name: "openssl" or "gnutls". */
const char *gtu_stack_name(gtu_stack s);

#endif /* ATTEX_GTU_H */
