/*
 * attex tool: the QUIC paths of server, client and demo (cmd_quic.c).
 */
#ifndef ATTEX_TOOL_QUIC_H
#define ATTEX_TOOL_QUIC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <attex/channel.h>

enum { QUIC_DISCARD = 0, QUIC_ECHO = 1, QUIC_FORWARD = 2 };

typedef struct quic_server_opts {
    const char *host, *port;      /* where to listen (UDP) */
    X509 *cert;                   /* the TLS certificate, chain and key */
    X509 *const *chain;
    size_t num_chain;
    EVP_PKEY *key;
    attex_channel_config channel; /* identity, attester, policy, deadlines */
    int mode;                     /* QUIC_DISCARD, QUIC_ECHO or QUIC_FORWARD */
    const char *fwd_host, *fwd_port;
    size_t max_conns;
    const char *attester_desc;    /* for the log, or NULL */
} quic_server_opts;

typedef struct quic_client_opts {
    const char *host, *port;
    const char *ca_file;
    int no_verify_cert;
    const char *server_name;
    attex_channel_config channel;
    uint32_t deadline_ms;
    int json;
} quic_client_opts;

/* quic_server_run serves until SIGINT/SIGTERM; returns the exit status. */
int quic_server_run(const quic_server_opts *o);

/* quic_client_run connects, prints the verdict, then pipes stdin/stdout; returns the exit status. */
int quic_client_run(const quic_client_opts *o);

/* quic_demo_run runs both ends in this process and echoes `line`; returns the exit status. */
int quic_demo_run(const quic_server_opts *so, const quic_client_opts *co, const char *line,
                  const char *evidence_desc);

#endif /* ATTEX_TOOL_QUIC_H */
