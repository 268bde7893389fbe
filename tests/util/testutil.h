/*
 * Helpers shared by the tests, the demo and the benchmark: keys,
 * certificates, TLS 1.3 connections over loopback TCP, and a tiny check
 * harness. Not part of the library.
 */
#ifndef ATTEX_TESTUTIL_H
#define ATTEX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <attex/attex.h>

/* ---- check harness ---------------------------------------------------- */

extern int tu_passed, tu_failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            tu_passed++;                                                         \
        } else {                                                                 \
            tu_failed++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

/* CHECK_RC checks that an attex call returned `want`, printing the error otherwise. */
#define CHECK_RC(got, want, errp)                                                     \
    do {                                                                              \
        int got_ = (got);                                                             \
        if (got_ == (want)) {                                                         \
            tu_passed++;                                                              \
        } else {                                                                      \
            tu_failed++;                                                              \
            fprintf(stderr, "%s:%d: got %s, want %s (%s)\n", __FILE__, __LINE__,      \
                    attex_status_name(got_), attex_status_name(want), (errp)->message); \
        }                                                                             \
    } while (0)

/* tu_finish prints the closing line and returns the exit status. */
int tu_finish(const char *name);

/* ---- keys and certificates -------------------------------------------- */

/* kind: "p256", "p384", "p521", "ed25519", "ed448", "rsa2048", "rsapss2048". */
EVP_PKEY *tu_key(const char *kind);

/*
 * tu_cert issues a certificate for `key` named `cn`, signed by issuer_key
 * (self-signed when issuer is NULL), valid from now-1h to now+days.
 */
X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int is_ca,
              int days);

/* ---- TLS 1.3 over loopback TCP ---------------------------------------- */

typedef struct tu_pair {
    SSL_CTX *client_ctx, *server_ctx;
    SSL *client, *server;
    int client_fd, server_fd;
} tu_pair;

typedef struct tu_pair_opts {
    const char *ciphersuites; /* TLS 1.3 suites, NULL for OpenSSL's default */
    int max_version;          /* 0 for TLS 1.3 only; TLS1_2_VERSION to force 1.2 */
    int skip_handshake;       /* connect the sockets only */
    int attex_settings;       /* apply attex_openssl_configure_ctx to both contexts */
} tu_pair_opts;

/* tu_pair_open connects a client and a server over 127.0.0.1 and completes the handshake. */
int tu_pair_open(tu_pair *p, const tu_pair_opts *opts);
void tu_pair_close(tu_pair *p);

/*
 * tu_transfer sends `len` bytes from one end of the pair to the other over
 * TLS (u32 length prefix) and returns what arrived in *out (malloc'd).
 */
int tu_transfer(tu_pair *p, int from_server, const uint8_t *msg, size_t len, attex_buf *out);

/* ---- misc ------------------------------------------------------------- */

/* tu_hex decodes hex into a malloc'd buffer; returns 0 on bad input. */
int tu_hex(const char *hex, attex_buf *out);

/* tu_file_field reads "key=value" from a vector file into *out (malloc'd string). */
char *tu_file_field(const char *path, const char *key);

/* tu_source_path returns $ATTEX_SOURCE_DIR/rel or rel (static buffer). */
const char *tu_source_path(const char *rel);

#endif /* ATTEX_TESTUTIL_H */
