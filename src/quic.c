/*
 * attex: attested channels over QUIC v1 (ngtcp2 0.12 + GnuTLS), PROTOCOL.md
 * s4-s5. This file only moves bytes and timers: UDP datagrams in and out of
 * ngtcp2, stream 0 in and out of the I/O-free channel core (channel.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <attex/gnutls.h>
#include <attex/quic.h>

#include "channel_internal.h"
#include "crypto.h"
#include "internal.h"
#include "quic_internal.h"

/* Our connection IDs: an 8-byte key that names the connection, then random
 * bytes. Every CID we issue for a connection starts with its key, so one
 * comparison finds the connection of any short-header packet. */
#define CID_LEN 16
#define CID_KEY_LEN 8
/* Largest datagram we send (ngtcp2's default path MTU probing stays off). */
#define MAX_DGRAM 1452
/* Datagrams read per process call, so that one busy peer cannot starve the loop. */
#define READS_PER_CALL 256
/* Packets written per connection per pass; beyond, the timeout says 0. */
#define WRITES_PER_PASS 64
#define MAX_VECS 16
#define NS_PER_MS 1000000ull
/* CONNECTION_CLOSE application codes 1..MAX_STATUS_CODE carry negated attex statuses. */
#define MAX_STATUS_CODE 64
/* The largest UDP payload (RFC 9000 s18.2: max_udp_payload_size is at most 65527). */
#define RBUF_LEN 65536

/* Appended to attex's PROTOCOL.md s4 priority string (TLS 1.3 only, no tickets;
 * attex_gnutls_configure_session_priority). RFC 9001 s5.3: QUIC may not use
 * TLS_AES_128_CCM_8_SHA256, so only the AEADs of QUIC's packet protection;
 * RFC 9001 s8.4: no middlebox compatibility mode. */
static const char priority_extra[] =
    "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:%DISABLE_TLS13_COMPAT_MODE";

/* Stream bytes we keep until the peer acknowledges them: ngtcp2 refers to
 * them for retransmission, so a chunk never moves once queued. */
typedef struct chunk {
    struct chunk *next;
    size_t len;
    uint8_t data[];
} chunk;

struct attex_quic_conn {
    attex_quic_endpoint *ep;
    attex_quic_conn *prev, *next;
    attex_quic_conn *key_next, *odcid_next; /* hash chains of the server's demux tables */
    int odcid_linked;
    ngtcp2_conn *q;
    ngtcp2_crypto_conn_ref ref;
    gnutls_session_t tls;
    int tls_inited;
    attex_tls atls;
    attex_channel *ch;
    struct sockaddr_storage remote;
    socklen_t remote_len;
    uint8_t key[CID_KEY_LEN];
    ngtcp2_cid odcid; /* the client's first DCID: its Initials carry it until it learns ours */
    attex_quic_state state;
    int64_t stream; /* -1 until stream 0 exists */
    /* send side of stream 0 */
    chunk *head, *tail;
    uint64_t head_off, sent_off, end_off, acked_off;
    int fin_sent, shutdown;
    int peer_fin; /* half_close: the peer's FIN arrived; the channel ends once we shut down too */
    int announced; /* client: stream 0 was opened on the wire */
    int answered;  /* we answered a peer request (its VERDICT may be pending) */
    size_t gated;   /* bytes the channel holds behind its closed gate */
    uint8_t *early; /* written before the handshake completed: goes to the channel then */
    size_t early_len;
    /* receive side */
    uint8_t *rx;
    size_t rx_len, rx_pos, rx_cap;
    uint64_t owed_credit;
    /* attestation */
    unsigned peer_attested;
    int self_accepted;
    /* closing */
    int status;
    char reason[300];
    uint64_t flush_deadline_ns; /* CLOSING: give up waiting for acknowledgements */
    uint64_t drain_deadline_ns; /* CLOSED: answer stray packets with close_pkt until then */
    uint8_t *close_pkt;
    size_t close_len;
    int taken, released, pending_accept, more_to_write, hs_done;
    attex_quic_conn_stats stats;
};

struct attex_quic_endpoint {
    int server;
    int fd;
    struct sockaddr_storage local;
    socklen_t local_len;
    attex_quic_config cfg;
    gnutls_certificate_credentials_t cred;
    uint8_t reset_secret[32];
    attex_quic_conn *conns;
    size_t nconns, pending_accept;
    /* Server demux (RFC 9000 s5.2): connections by CID key, and by the client's first DCID. */
    attex_quic_conn **by_key, **by_odcid;
    size_t nbuckets; /* a power of two */
    uint64_t hash_secret;
    attex_quic_conn *client;
    quic_output_filter filter;
    void *filter_arg;
    uint8_t rbuf[RBUF_LEN]; /* one datagram being read */
};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void) { return now_ns() / NS_PER_MS; }

static size_t max_buffer(const attex_quic_endpoint *ep)
{
    return ep->cfg.max_buffer ? ep->cfg.max_buffer : (size_t)1 << 20;
}

static void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    if (crypto_random(dest, destlen, NULL) != ATTEX_OK)
        memset(dest, 0, destlen); /* unreachable with a working CSPRNG; ngtcp2 cannot fail here */
}

static int new_cid(const attex_quic_conn *c, ngtcp2_cid *cid)
{
    uint8_t b[CID_LEN];
    memcpy(b, c->key, CID_KEY_LEN);
    if (crypto_random(b + CID_KEY_LEN, CID_LEN - CID_KEY_LEN, NULL) != ATTEX_OK)
        return -1;
    ngtcp2_cid_init(cid, b, CID_LEN);
    return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((attex_quic_conn *)ref->user_data)->q;
}

static void set_path(attex_quic_conn *c, ngtcp2_path *p)
{
    p->local.addr = (ngtcp2_sockaddr *)(void *)&c->ep->local;
    p->local.addrlen = c->ep->local_len;
    p->remote.addr = (ngtcp2_sockaddr *)(void *)&c->remote;
    p->remote.addrlen = c->remote_len;
    p->user_data = NULL;
}

static void send_dgram(attex_quic_conn *c, const uint8_t *p, size_t n)
{
    /* UDP: a datagram the kernel cannot take now is a lost packet, which QUIC repairs. */
    if (sendto(c->ep->fd, p, n, 0, (const struct sockaddr *)&c->remote, c->remote_len) >= 0)
        c->stats.datagrams_sent++;
}

/* Records the first failure (or clean end) of the connection. */
static void set_status(attex_quic_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_status(attex_quic_conn *c, int status, const char *fmt, ...)
{
    if (c->reason[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
    if (c->reason[0] == '\0')
        snprintf(c->reason, sizeof(c->reason), "closed");
    c->status = status;
}

/* ---------------------------------------------------------------------- */
/* Demultiplexing tables (servers)                                        */

/* A keyed mix, so that clients cannot aim their DCIDs at one bucket. */
static size_t hash_bytes(const attex_quic_endpoint *ep, const uint8_t *p, size_t n)
{
    uint64_t h = ep->hash_secret ^ 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)(h & (ep->nbuckets - 1));
}

static void table_insert_key(attex_quic_conn *c)
{
    attex_quic_endpoint *ep = c->ep;
    if (ep->by_key == NULL)
        return;
    size_t b = hash_bytes(ep, c->key, CID_KEY_LEN);
    c->key_next = ep->by_key[b];
    ep->by_key[b] = c;
}

static void table_insert_odcid(attex_quic_conn *c)
{
    attex_quic_endpoint *ep = c->ep;
    if (ep->by_odcid == NULL || c->odcid.datalen == 0)
        return;
    size_t b = hash_bytes(ep, c->odcid.data, c->odcid.datalen);
    c->odcid_next = ep->by_odcid[b];
    ep->by_odcid[b] = c;
    c->odcid_linked = 1;
}

static void table_remove(attex_quic_conn *c)
{
    attex_quic_endpoint *ep = c->ep;
    if (ep->by_key != NULL) {
        attex_quic_conn **pp = &ep->by_key[hash_bytes(ep, c->key, CID_KEY_LEN)];
        while (*pp != NULL && *pp != c)
            pp = &(*pp)->key_next;
        if (*pp == c)
            *pp = c->key_next;
    }
    if (ep->by_odcid != NULL && c->odcid_linked) {
        attex_quic_conn **pp = &ep->by_odcid[hash_bytes(ep, c->odcid.data, c->odcid.datalen)];
        while (*pp != NULL && *pp != c)
            pp = &(*pp)->odcid_next;
        if (*pp == c)
            *pp = c->odcid_next;
        c->odcid_linked = 0;
    }
}

/* ---------------------------------------------------------------------- */
/* The channel side                                                       */

/* Moves the channel's events into the connection: DATA to the read buffer. */
static void drain_events(attex_quic_conn *c)
{
    if (c->ch != NULL && attex_channel_awaiting_verdicts(c->ch) > 0)
        c->answered = 1;
    attex_channel_event ev;
    while (c->ch != NULL && attex_channel_next_event(c->ch, &ev)) {
        switch (ev.type) {
        case ATTEX_EVENT_PEER_ATTESTED: c->peer_attested++; break;
        case ATTEX_EVENT_SELF_ACCEPTED: c->self_accepted = 1; break;
        case ATTEX_EVENT_DATA:
            if (c->rx_pos > 0 && c->rx_pos == c->rx_len)
                c->rx_pos = c->rx_len = 0;
            if (c->rx_len + ev.len > c->rx_cap) {
                if (c->rx_pos > 0) {
                    memmove(c->rx, c->rx + c->rx_pos, c->rx_len - c->rx_pos);
                    c->rx_len -= c->rx_pos;
                    c->rx_pos = 0;
                }
                size_t cap = c->rx_cap ? c->rx_cap : 4096;
                while (cap < c->rx_len + ev.len)
                    cap *= 2;
                uint8_t *p = realloc(c->rx, cap);
                if (p == NULL) {
                    set_status(c, ATTEX_ERR_NO_MEMORY, "out of memory buffering received data");
                    break;
                }
                c->rx = p;
                c->rx_cap = cap;
            }
            memcpy(c->rx + c->rx_len, ev.data, ev.len);
            c->rx_len += ev.len;
            break;
        case ATTEX_EVENT_CLOSED: break; /* read through attex_channel_close_status */
        }
    }
}

/* Flow control follows the reader: credit for received stream bytes is
 * returned to the peer only while the application keeps up. */
static void return_credit(attex_quic_conn *c)
{
    if (c->q == NULL || c->stream < 0 || c->owed_credit == 0 ||
        c->rx_len - c->rx_pos >= max_buffer(c->ep))
        return;
    ngtcp2_conn_extend_max_stream_offset(c->q, c->stream, c->owed_credit);
    ngtcp2_conn_extend_max_offset(c->q, c->owed_credit);
    c->owed_credit = 0;
}

/* Copies the channel's output into stream chunks. */
static int pull_output(attex_quic_conn *c)
{
    size_t len;
    const uint8_t *out;
    while (c->ch != NULL && (out = attex_channel_output(c->ch, &len), len > 0)) {
        chunk *k = malloc(sizeof(*k) + len);
        if (k == NULL)
            return -1;
        k->next = NULL;
        k->len = len;
        memcpy(k->data, out, len);
        if (c->ep->filter)
            c->ep->filter(k->data, len, c->ep->filter_arg);
        if (c->tail)
            c->tail->next = k;
        else {
            c->head = k;
            c->head_off = c->end_off;
        }
        c->tail = k;
        c->end_off += len;
        attex_channel_consume_output(c->ch, len);
    }
    return 0;
}

static void free_chunks(attex_quic_conn *c)
{
    while (c->head) {
        chunk *n = c->head->next;
        c->head_off += c->head->len;
        crypto_zeroise(c->head->data, c->head->len);
        free(c->head);
        c->head = n;
    }
    c->tail = NULL;
}

/* Fills vecs with the unsent bytes from sent_off. */
static size_t unsent_vecs(attex_quic_conn *c, ngtcp2_vec *v, size_t *total)
{
    size_t n = 0;
    uint64_t off = c->head_off;
    *total = 0;
    for (chunk *k = c->head; k != NULL && n < MAX_VECS; off += k->len, k = k->next) {
        if (off + k->len <= c->sent_off)
            continue;
        size_t skip = (size_t)(c->sent_off > off ? c->sent_off - off : 0);
        v[n].base = k->data + skip;
        v[n].len = k->len - skip;
        *total += v[n].len;
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* ngtcp2 callbacks                                                       */

static int on_handshake_completed(ngtcp2_conn *q, void *user_data)
{
    attex_quic_conn *c = user_data;
    (void)q;
    /* ALPN is mandatory on both sides; check what was agreed all the same. */
    gnutls_datum_t alpn;
    if (gnutls_alpn_get_selected_protocol(c->tls, &alpn) != 0 ||
        alpn.size != strlen(ATTEX_QUIC_ALPN) || memcmp(alpn.data, ATTEX_QUIC_ALPN, alpn.size) != 0) {
        set_status(c, ATTEX_ERR_TLS_STATE, "the peer did not agree on ALPN %s", ATTEX_QUIC_ALPN);
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    attex_error err;
    memset(&err, 0, sizeof(err));
    attex_gnutls_tls(c->tls, &c->atls);
    attex_channel_config cfg = c->ep->cfg.channel;
    cfg.tls = &c->atls;
    c->ch = attex_channel_new(&cfg, &err);
    if (c->ch == NULL || attex_channel_start(c->ch, now_ms(), &err) != ATTEX_OK) {
        set_status(c, err.code ? err.code : ATTEX_ERR_INVALID_ARGUMENT,
                   "cannot start the attested channel: %s", err.message);
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    if (c->early_len > 0) {
        c->gated = c->early_len;
        int rc = attex_channel_send(c->ch, c->early, c->early_len, &err);
        crypto_zeroise(c->early, c->early_len);
        free(c->early);
        c->early = NULL;
        c->early_len = 0;
        if (rc != ATTEX_OK) {
            set_status(c, rc, "cannot queue the data written early: %s", err.message);
            return NGTCP2_ERR_CALLBACK_FAILURE;
        }
    }
    c->hs_done = 1;
    c->state = ATTEX_QUIC_ATTESTING;
    if (!c->ep->server) {
        /* PROTOCOL.md s5: the frames go on the first client-initiated bidirectional stream. */
        if (ngtcp2_conn_open_bidi_stream(c->q, &c->stream, NULL) != 0 || c->stream != 0) {
            set_status(c, ATTEX_ERR_TLS_STATE, "cannot open QUIC stream 0");
            return NGTCP2_ERR_CALLBACK_FAILURE;
        }
    } else {
        c->pending_accept = 1;
        c->ep->pending_accept++;
    }
    return 0;
}

static int on_stream_open(ngtcp2_conn *q, int64_t stream_id, void *user_data)
{
    attex_quic_conn *c = user_data;
    (void)q;
    /* Our transport parameters allow the client one bidirectional stream and
     * no unidirectional one (RFC 9000 s4.6), so this is stream 0. */
    if (stream_id == 0)
        c->stream = 0;
    return 0;
}

static int on_stream_data(ngtcp2_conn *q, uint32_t flags, int64_t stream_id, uint64_t offset,
                          const uint8_t *data, size_t datalen, void *user_data,
                          void *stream_user_data)
{
    attex_quic_conn *c = user_data;
    (void)q, (void)offset, (void)stream_user_data;
    if (stream_id != 0 || c->ch == NULL)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    c->stream = 0;
    if (!attex_channel_is_closed(c->ch)) {
        attex_channel_receive(c->ch, data, datalen, now_ms(), NULL);
        if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && !attex_channel_is_closed(c->ch)) {
            /* A FIN ends only the peer's direction when half_close is set, as a TCP FIN or a
             * TLS close_notify does: we may still answer until we shut down ourselves. */
            if (c->ep->cfg.half_close)
                c->peer_fin = 1;
            else
                attex_channel_end(c->ch, NULL);
        }
    }
    drain_events(c);
    c->owed_credit += datalen;
    return_credit(c);
    return 0;
}

static int on_acked(ngtcp2_conn *q, int64_t stream_id, uint64_t offset, uint64_t datalen,
                    void *user_data, void *stream_user_data)
{
    attex_quic_conn *c = user_data;
    (void)q, (void)stream_id, (void)stream_user_data;
    if (offset + datalen > c->acked_off)
        c->acked_off = offset + datalen;
    while (c->head != NULL && c->head_off + c->head->len <= c->acked_off) {
        chunk *n = c->head->next;
        c->head_off += c->head->len;
        crypto_zeroise(c->head->data, c->head->len);
        free(c->head);
        c->head = n;
    }
    if (c->head == NULL)
        c->tail = NULL;
    return 0;
}

static void stream_gone(attex_quic_conn *c, const char *how)
{
    if (c->ch != NULL && !attex_channel_is_closed(c->ch)) {
        attex_channel_end(c->ch, NULL);
        drain_events(c);
        if (!attex_channel_is_closed(c->ch))
            set_status(c, ATTEX_ERR_TLS_STATE, "the peer %s stream 0", how);
    }
}

static int on_stream_reset(ngtcp2_conn *q, int64_t stream_id, uint64_t final_size,
                           uint64_t app_error_code, void *user_data, void *stream_user_data)
{
    attex_quic_conn *c = user_data;
    (void)q, (void)stream_id, (void)final_size, (void)stream_user_data;
    /* An abrupt end of the peer's side: whatever it was sending is lost. */
    if (c->ch != NULL && !attex_channel_is_closed(c->ch))
        set_status(c, ATTEX_ERR_TLS_STATE, "the peer reset stream 0 (error 0x%llx)",
                   (unsigned long long)app_error_code);
    stream_gone(c, "reset");
    return 0;
}

static int on_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t stream_id,
                           uint64_t app_error_code, void *user_data, void *stream_user_data)
{
    attex_quic_conn *c = user_data;
    (void)q, (void)flags, (void)app_error_code, (void)stream_user_data;
    if (stream_id == 0) {
        stream_gone(c, "closed");
        c->stream = -1;
    }
    return 0;
}

static int on_new_cid(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
                      void *user_data)
{
    attex_quic_conn *c = user_data;
    (void)q;
    if (cidlen != CID_LEN || new_cid(c, cid) != 0 ||
        ngtcp2_crypto_generate_stateless_reset_token(token, c->ep->reset_secret,
                                                     sizeof(c->ep->reset_secret), cid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static void fill_callbacks(ngtcp2_callbacks *cb, int server)
{
    memset(cb, 0, sizeof(*cb));
    if (server)
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->rand = rand_cb;
    cb->get_new_connection_id = on_new_cid;
    cb->handshake_completed = on_handshake_completed;
    cb->stream_open = on_stream_open;
    cb->recv_stream_data = on_stream_data;
    cb->acked_stream_data_offset = on_acked;
    cb->stream_reset = on_stream_reset;
    cb->stream_close = on_stream_close;
}

/* ---------------------------------------------------------------------- */
/* Connections                                                            */

static void debug_log(void *user_data, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void debug_log(void *user_data, const char *fmt, ...)
{
    (void)user_data;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void fill_settings(const attex_quic_endpoint *ep, ngtcp2_settings *s, uint64_t ts)
{
    ngtcp2_settings_default(s);
    s->initial_ts = ts;
    s->max_tx_udp_payload_size = MAX_DGRAM;
    s->no_pmtud = 1;
    /* RFC 9002 s6.2.2: 333 ms unless the path is known better. Pacing spaces the
     * first packets by it until an RTT sample exists. */
    if (ep->cfg.initial_rtt_ms)
        s->initial_rtt = (uint64_t)ep->cfg.initial_rtt_ms * NS_PER_MS;
    if (getenv("ATTEX_QUIC_DEBUG"))
        s->log_printf = debug_log;
    s->handshake_timeout =
        (uint64_t)(ep->cfg.handshake_timeout_ms ? ep->cfg.handshake_timeout_ms : 10000) * NS_PER_MS;
}

static void fill_params(const attex_quic_endpoint *ep, ngtcp2_transport_params *p)
{
    ngtcp2_transport_params_default(p);
    /* Room for one whole frame (max_frame plus its header) and the buffered data. */
    uint64_t window = (uint64_t)max_buffer(ep) + (ep->cfg.channel.max_frame
                                                      ? ep->cfg.channel.max_frame
                                                      : (size_t)1 << 20) + 5;
    p->initial_max_stream_data_bidi_local = window;
    p->initial_max_stream_data_bidi_remote = window;
    p->initial_max_data = window;
    /* PROTOCOL.md s5: one stream, opened by the client; nothing else. */
    p->initial_max_streams_bidi = ep->server ? 1 : 0;
    p->initial_max_streams_uni = 0;
    p->max_idle_timeout =
        (uint64_t)(ep->cfg.idle_timeout_ms ? ep->cfg.idle_timeout_ms : 30000) * NS_PER_MS;
    /* No migration (docs/quic.md): the client keeps the address it started with. */
    p->disable_active_migration = 1;
    p->active_connection_id_limit = 2;
}

static int tls_setup(attex_quic_conn *c, attex_error *err)
{
    attex_quic_endpoint *ep = c->ep;
    /* PROTOCOL.md s4: no tickets, no resumption, no 0-RTT (no GNUTLS_ENABLE_EARLY_DATA). */
    unsigned flags = (ep->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_TICKETS |
                     GNUTLS_NO_END_OF_EARLY_DATA;
    if (gnutls_init(&c->tls, flags) != 0)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "gnutls_init failed");
    c->tls_inited = 1;
    int rv = ep->server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                        : ngtcp2_crypto_gnutls_configure_client_session(c->tls);
    if (rv != 0)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "cannot configure GnuTLS for QUIC");
    /* PROTOCOL.md s4 settings, and attex watching the handshake (ClientHello schemes,
     * completion) for the ea layer. */
    rv = attex_gnutls_configure_session_priority(c->tls, priority_extra, err);
    if (rv != ATTEX_OK)
        return rv;
    gnutls_datum_t alpn = {(unsigned char *)(uintptr_t)ATTEX_QUIC_ALPN,
                           (unsigned)strlen(ATTEX_QUIC_ALPN)};
    if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, ep->cred) != 0 ||
        gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "cannot configure the GnuTLS session");
    if (!ep->server) {
        const char *name = ep->cfg.server_name ? ep->cfg.server_name : ep->cfg.host;
        struct in6_addr a6;
        struct in_addr a4;
        /* RFC 6066 s3: no IP literals in SNI. */
        if (inet_pton(AF_INET, name, &a4) != 1 && inet_pton(AF_INET6, name, &a6) != 1 &&
            gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, name, strlen(name)) != 0)
            return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                              "cannot set the server name %s", name);
        if (!ep->cfg.no_verify_cert)
            gnutls_session_set_verify_cert(c->tls, name, 0);
    }
    c->ref.get_conn = get_conn;
    c->ref.user_data = c;
    gnutls_session_set_ptr(c->tls, &c->ref);
    ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
    return ATTEX_OK;
}

static attex_quic_conn *conn_alloc(attex_quic_endpoint *ep, const struct sockaddr *remote,
                                   socklen_t remote_len)
{
    attex_quic_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->ep = ep;
    c->stream = -1;
    c->state = ATTEX_QUIC_HANDSHAKE;
    memcpy(&c->remote, remote, remote_len);
    c->remote_len = remote_len;
    if (crypto_random(c->key, sizeof(c->key), NULL) != ATTEX_OK) {
        free(c);
        return NULL;
    }
    c->next = ep->conns;
    if (ep->conns)
        ep->conns->prev = c;
    ep->conns = c;
    ep->nconns++;
    table_insert_key(c);
    return c;
}

static void conn_free(attex_quic_conn *c)
{
    attex_quic_endpoint *ep = c->ep;
    if (c->prev)
        c->prev->next = c->next;
    else
        ep->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    table_remove(c);
    ep->nconns--;
    if (c->pending_accept)
        ep->pending_accept--;
    attex_channel_free(c->ch); /* before the session its attex_tls points to */
    if (c->q)
        ngtcp2_conn_del(c->q);
    if (c->tls_inited)
        gnutls_deinit(c->tls);
    free_chunks(c);
    if (c->rx) {
        crypto_zeroise(c->rx, c->rx_cap);
        free(c->rx);
    }
    if (c->early) {
        crypto_zeroise(c->early, c->early_len);
        free(c->early);
    }
    free(c->close_pkt);
    free(c);
}

/* Sends CONNECTION_CLOSE (RFC 9000 s10.2) and enters the closing period. */
static void conn_send_close(attex_quic_conn *c, const ngtcp2_connection_close_error *ccerr)
{
    uint64_t ts = now_ns();
    c->state = ATTEX_QUIC_CLOSED;
    if (c->q == NULL)
        return;
    uint8_t buf[MAX_DGRAM];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->q, &ps.path, NULL, buf, sizeof(buf),
                                                         ccerr, ts);
    if (n > 0 && (c->close_pkt = malloc((size_t)n)) != NULL) {
        memcpy(c->close_pkt, buf, (size_t)n);
        c->close_len = (size_t)n;
        send_dgram(c, buf, (size_t)n);
    }
    /* RFC 9000 s10.2: stay around for three PTOs to answer retransmissions. */
    c->drain_deadline_ns = ts + 3 * ngtcp2_conn_get_pto(c->q);
}

/* The status as the application sees it, once the channel or QUIC ended. */
static void settle_status(attex_quic_conn *c)
{
    if (c->ch != NULL && attex_channel_is_closed(c->ch)) {
        const char *reason = NULL;
        int code = attex_channel_close_status(c->ch, &reason);
        set_status(c, code, "%s", reason ? reason : "closed");
    }
}

/* Closes with a QUIC error right away (handshake failures, fatal ngtcp2 errors). */
static void conn_fail(attex_quic_conn *c, int liberr)
{
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    if (liberr == NGTCP2_ERR_CRYPTO && c->q)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &ccerr, ngtcp2_conn_get_tls_alert(c->q), NULL, 0);
    else if (liberr == NGTCP2_ERR_CALLBACK_FAILURE && c->reason[0])
        ngtcp2_connection_close_error_set_application_error(&ccerr, (uint64_t)-c->status, NULL, 0);
    else
        ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, NULL, 0);
    if (liberr == NGTCP2_ERR_CRYPTO) {
        const char *desc = gnutls_alert_get_name((gnutls_alert_description_t)ngtcp2_conn_get_tls_alert(c->q));
        set_status(c, ATTEX_ERR_TLS_STATE, "the TLS handshake failed (%s)", desc ? desc : "no alert");
    }
    set_status(c, ATTEX_ERR_TLS_STATE, "QUIC failed: %s", ngtcp2_strerror(liberr));
    conn_send_close(c, &ccerr);
}

/* The peer closed (we are draining, RFC 9000 s10.2.2): nothing more is sent. */
static void conn_peer_closed(attex_quic_conn *c)
{
    const ngtcp2_connection_close_error *ccerr = NULL;
    ngtcp2_connection_close_error e;
    if (c->q) {
        ngtcp2_conn_get_connection_close_error(c->q, &e);
        ccerr = &e;
    }
    /* A channel that already closed knows why; otherwise the peer's error says it. */
    settle_status(c);
    if (ccerr != NULL && ccerr->error_code != 0) {
        char why[128];
        size_t rl = ccerr->reasonlen < sizeof(why) - 1 ? ccerr->reasonlen : sizeof(why) - 1;
        /* The reason phrase is the peer's text: keep printable ASCII only. */
        for (size_t i = 0; i < rl; i++)
            why[i] = (ccerr->reason[i] >= 0x20 && ccerr->reason[i] < 0x7f) ? (char)ccerr->reason[i] : '?';
        why[rl] = '\0';
        int code = ATTEX_ERR_TLS_STATE;
        if (ccerr->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
            ccerr->error_code <= MAX_STATUS_CODE)
            code = -(int)ccerr->error_code;
        set_status(c, code, "the peer closed the QUIC connection with %s error 0x%llx%s%s",
                   ccerr->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION
                       ? "application"
                       : "transport",
                   (unsigned long long)ccerr->error_code, rl ? ": " : "", why);
    }
    if (c->ch != NULL && !attex_channel_is_closed(c->ch)) {
        /* A clean close: a partial frame is still a truncation (PROTOCOL.md s5). */
        attex_channel_end(c->ch, NULL);
        drain_events(c);
        settle_status(c);
    }
    set_status(c, ATTEX_OK, "the peer closed the connection");
    c->state = ATTEX_QUIC_CLOSED;
    c->drain_deadline_ns = now_ns() + (c->q ? 3 * ngtcp2_conn_get_pto(c->q) : 0);
}

/* Writes what the connection has to send. */
static void conn_write(attex_quic_conn *c)
{
    if (c->q == NULL || c->state == ATTEX_QUIC_CLOSED)
        return;
    if (pull_output(c) != 0) {
        set_status(c, ATTEX_ERR_NO_MEMORY, "out of memory queueing stream data");
        conn_fail(c, NGTCP2_ERR_NOMEM);
        return;
    }
    int closing = c->ch != NULL && attex_channel_is_closed(c->ch);
    uint64_t ts = now_ns();
    uint8_t buf[MAX_DGRAM];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    c->more_to_write = 0;
    for (int i = 0;; i++) {
        if (i == WRITES_PER_PASS) {
            c->more_to_write = 1;
            break;
        }
        ngtcp2_vec v[MAX_VECS];
        size_t total = 0, nv = 0;
        int64_t sid = -1;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
        if (c->stream >= 0 && !c->fin_sent) {
            nv = unsent_vecs(c, v, &total);
            int want_fin = (closing || c->shutdown) && c->sent_off + total == c->end_off;
            if (total > 0 || want_fin || (!c->ep->server && !c->announced)) {
                sid = c->stream;
                /* Coalesce the stream data with the other frames (RFC 9000 s12.4). */
                flags |= NGTCP2_WRITE_STREAM_FLAG_MORE;
            }
            if (want_fin)
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize datalen = -1;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->q, &ps.path, NULL, buf, sizeof(buf), &datalen,
                                                   flags, sid, v, nv, ts);
        if (datalen >= 0 && sid >= 0) {
            c->announced = 1;
            c->sent_off += (uint64_t)datalen;
            if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && (size_t)datalen == total)
                c->fin_sent = 1;
        }
        if (n == NGTCP2_ERR_WRITE_MORE)
            continue;
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
            n == NGTCP2_ERR_STREAM_NOT_FOUND) {
            /* Flow control or a gone stream: send the other frames. */
            n = ngtcp2_conn_write_pkt(c->q, &ps.path, NULL, buf, sizeof(buf), ts);
        }
        if (n < 0) {
            conn_fail(c, (int)n);
            return;
        }
        if (n == 0)
            break;
        send_dgram(c, buf, (size_t)n);
    }
    ngtcp2_conn_update_pkt_tx_time(c->q, ts);
}

/* After any progress: state, and the end of a closing connection. */
static void conn_update(attex_quic_conn *c)
{
    if (c->state == ATTEX_QUIC_CLOSED)
        return;
    drain_events(c);
    return_credit(c);
    if (c->ch == NULL) {
        conn_write(c); /* the handshake */
        return;
    }
    if (c->peer_fin && c->shutdown && c->fin_sent && !attex_channel_is_closed(c->ch)) {
        /* Both directions ended: a partial frame from the peer is a truncation. */
        attex_channel_end(c->ch, NULL);
        drain_events(c);
    }
    if (attex_channel_is_closed(c->ch)) {
        uint64_t ts = now_ns();
        if (c->state != ATTEX_QUIC_CLOSING) {
            settle_status(c);
            c->state = ATTEX_QUIC_CLOSING;
            /* Wait for the last frames (a VERDICT) to be acknowledged, within reason. */
            uint64_t pto = c->q ? ngtcp2_conn_get_pto(c->q) : 0;
            c->flush_deadline_ns = ts + (3 * pto > 1000 * NS_PER_MS ? 3 * pto : 1000 * NS_PER_MS);
        }
        conn_write(c);
        if (c->state == ATTEX_QUIC_CLOSING &&
            ((c->fin_sent && c->acked_off >= c->end_off) || c->stream < 0 ||
             ts >= c->flush_deadline_ns)) {
            ngtcp2_connection_close_error ccerr;
            ngtcp2_connection_close_error_default(&ccerr);
            if (c->status != ATTEX_OK) {
                const char *r = c->reason;
                size_t rl = strlen(r) > 200 ? 200 : strlen(r);
                ngtcp2_connection_close_error_set_application_error(
                    &ccerr, (uint64_t)-c->status, (const uint8_t *)r, rl);
            } else {
                ngtcp2_connection_close_error_set_application_error(&ccerr, 0, NULL, 0);
            }
            conn_send_close(c, &ccerr);
        }
        return;
    }
    if (attex_channel_peer_accepted(c->ch))
        c->state = ATTEX_QUIC_OPEN;
    conn_write(c);
}

static void conn_read(attex_quic_conn *c, const uint8_t *pkt, size_t len)
{
    c->stats.datagrams_received++;
    if (c->state == ATTEX_QUIC_CLOSED) {
        /* RFC 9000 s10.2.1: answer in the closing period with the same CONNECTION_CLOSE. */
        if (c->close_pkt != NULL && now_ns() < c->drain_deadline_ns)
            send_dgram(c, c->close_pkt, c->close_len);
        return;
    }
    ngtcp2_path path;
    set_path(c, &path);
    int rv = ngtcp2_conn_read_pkt(c->q, &path, NULL, pkt, len, now_ns());
    if (rv == NGTCP2_ERR_DRAINING) {
        conn_peer_closed(c);
        return;
    }
    if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
        set_status(c, ATTEX_ERR_TLS_STATE, "QUIC dropped the connection: %s", ngtcp2_strerror(rv));
        c->state = ATTEX_QUIC_CLOSED;
        return;
    }
    if (rv != 0) {
        conn_fail(c, rv);
        return;
    }
    conn_update(c);
}

static void conn_timers(attex_quic_conn *c, uint64_t ts)
{
    if (c->state == ATTEX_QUIC_CLOSED || c->q == NULL)
        return;
    if (ngtcp2_conn_get_expiry(c->q) <= ts) {
        int rv = ngtcp2_conn_handle_expiry(c->q, ts);
        if (rv == NGTCP2_ERR_IDLE_CLOSE) {
            /* RFC 9000 s10.1: an idle timeout closes silently. A channel that
             * closed before keeps its reason. */
            settle_status(c);
            set_status(c, ATTEX_ERR_TLS_STATE, "%s",
                       c->hs_done ? "the QUIC connection timed out (idle)"
                                  : "the QUIC handshake did not complete in time");
            if (c->ch != NULL && !attex_channel_is_closed(c->ch)) {
                attex_channel_end(c->ch, NULL);
                drain_events(c);
            }
            c->state = ATTEX_QUIC_CLOSED;
            return;
        }
        if (rv != 0) {
            conn_fail(c, rv);
            return;
        }
    }
    if (c->ch != NULL && !attex_channel_is_closed(c->ch)) {
        uint64_t t = attex_channel_next_timer(c->ch);
        if (t != 0 && t <= ts / NS_PER_MS)
            attex_channel_tick(c->ch, ts / NS_PER_MS, NULL);
    }
    conn_update(c);
}

static uint64_t conn_expiry(const attex_quic_conn *c)
{
    if (c->state == ATTEX_QUIC_CLOSED)
        return c->q ? c->drain_deadline_ns : UINT64_MAX;
    if (c->more_to_write)
        return 0;
    if (c->ch != NULL) {
        /* Frames the application queued through the channel itself (a re-attestation). */
        size_t pending = 0;
        attex_channel_output(c->ch, &pending);
        if (pending > 0)
            return 0;
    }
    uint64_t t = ngtcp2_conn_get_expiry(c->q);
    if (c->ch != NULL && !attex_channel_is_closed(c->ch)) {
        uint64_t ct = attex_channel_next_timer(c->ch);
        if (ct != 0 && ct * NS_PER_MS < t)
            t = ct * NS_PER_MS;
    }
    if (c->state == ATTEX_QUIC_CLOSING && c->flush_deadline_ns < t)
        t = c->flush_deadline_ns;
    return t;
}

/* ---------------------------------------------------------------------- */
/* Endpoints                                                              */

static int pem_of_certs(X509 *first, X509 *const *more, size_t n, attex_buf *out,
                        attex_error *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b != NULL;
    if (ok && first)
        ok = PEM_write_bio_X509(b, first) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = PEM_write_bio_X509(b, more[i]) == 1;
    char *p = NULL;
    long len = ok ? BIO_get_mem_data(b, &p) : 0;
    if (ok && len > 0 && (out->data = malloc((size_t)len)) != NULL) {
        memcpy(out->data, p, (size_t)len);
        out->len = (size_t)len;
    } else
        ok = 0;
    BIO_free(b);
    return ok ? ATTEX_OK : attex_fail_crypto(err, "encoding certificates for GnuTLS");
}

static int setup_credentials(attex_quic_endpoint *ep, attex_error *err)
{
    if (gnutls_certificate_allocate_credentials(&ep->cred) != 0)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE,
                          "cannot set up GnuTLS credentials");
    const attex_quic_config *cfg = &ep->cfg;
    if (ep->server) {
        if (cfg->cert == NULL || cfg->key == NULL)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "a QUIC server needs a certificate and its key");
        attex_buf certs = ATTEX_BUF_INIT, key = ATTEX_BUF_INIT;
        int rc = pem_of_certs(cfg->cert, cfg->chain, cfg->num_chain, &certs, err);
        BIO *b = rc == ATTEX_OK ? BIO_new(BIO_s_mem()) : NULL;
        if (b != NULL && PEM_write_bio_PrivateKey(b, cfg->key, NULL, NULL, 0, NULL, NULL) == 1) {
            char *p = NULL;
            long len = BIO_get_mem_data(b, &p);
            if (len > 0 && (key.data = malloc((size_t)len)) != NULL) {
                memcpy(key.data, p, (size_t)len);
                key.len = (size_t)len;
            }
        }
        BIO_free_all(b); /* a mem BIO's buffer is cleared on free */
        if (rc == ATTEX_OK && key.data == NULL)
            rc = attex_fail_crypto(err, "encoding the private key for GnuTLS");
        if (rc == ATTEX_OK) {
            gnutls_datum_t cd = {certs.data, (unsigned)certs.len}, kd = {key.data, (unsigned)key.len};
            int g = gnutls_certificate_set_x509_key_mem2(ep->cred, &cd, &kd, GNUTLS_X509_FMT_PEM,
                                                         NULL, 0);
            if (g < 0)
                rc = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                                "GnuTLS refused the server certificate or key: %s",
                                gnutls_strerror(g));
        }
        attex_buf_free(&certs);
        attex_buf_free(&key); /* zeroises */
        return rc;
    }
    if (cfg->no_verify_cert)
        return ATTEX_OK;
    int loaded = 0;
    if (cfg->num_ca_certs > 0) {
        attex_buf pem = ATTEX_BUF_INIT;
        int rc = pem_of_certs(NULL, cfg->ca_certs, cfg->num_ca_certs, &pem, err);
        if (rc != ATTEX_OK)
            return rc;
        gnutls_datum_t d = {pem.data, (unsigned)pem.len};
        int g = gnutls_certificate_set_x509_trust_mem(ep->cred, &d, GNUTLS_X509_FMT_PEM);
        attex_buf_free(&pem);
        if (g <= 0)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "GnuTLS took none of the CA certificates given");
        loaded = 1;
    }
    if (cfg->ca_file != NULL) {
        int g = gnutls_certificate_set_x509_trust_file(ep->cred, cfg->ca_file, GNUTLS_X509_FMT_PEM);
        if (g <= 0)
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "no CA certificate could be read from %s (%s)", cfg->ca_file,
                              g < 0 ? gnutls_strerror(g) : "empty");
        loaded = 1;
    }
    if (!loaded && gnutls_certificate_set_x509_system_trust(ep->cred) < 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot load the system's CA certificates; give ca_file");
    return ATTEX_OK;
}

static int open_socket(attex_quic_endpoint *ep, attex_error *err)
{
    const attex_quic_config *cfg = &ep->cfg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    const char *host = cfg->host;
    /* A server without a host binds "::" for both families (see below). */
    hints.ai_family = ep->server && host == NULL ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = ep->server ? AI_PASSIVE : 0;
    if (!ep->server && host == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "a QUIC client needs the server's host");
    int g = getaddrinfo(host, cfg->port ? cfg->port : "0", &hints, &res);
    if (g != 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot resolve %s port %s: %s", host ? host : "(any)",
                          cfg->port ? cfg->port : "0", gai_strerror(g));
    int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int ok = fd >= 0;
    if (ok && ep->server && host == NULL && res->ai_family == AF_INET6) {
        /* Any address: IPv6 and IPv4 (as mapped addresses) on one socket. */
        int off = 0;
        ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0;
    }
    if (ok && ep->server)
        ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0;
    else if (ok)
        /* A connected socket: the kernel drops datagrams from anyone but the server. */
        ok = connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    if (ok && !ep->server) {
        memcpy(&ep->client->remote, res->ai_addr, res->ai_addrlen);
        ep->client->remote_len = (socklen_t)res->ai_addrlen;
    }
    int e = errno;
    freeaddrinfo(res);
    ep->local_len = sizeof(ep->local);
    if (ok)
        ok = getsockname(fd, (struct sockaddr *)&ep->local, &ep->local_len) == 0;
    if (!ok) {
        if (fd >= 0)
            close(fd);
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot %s UDP %s port %s: %s", ep->server ? "bind" : "connect to",
                          host ? host : "(any)", cfg->port ? cfg->port : "0", strerror(e));
    }
    ep->fd = fd;
    return ATTEX_OK;
}

static attex_quic_endpoint *endpoint_new(const attex_quic_config *cfg, int server,
                                         attex_error *err)
{
    if (cfg == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE, "no QUIC configuration");
        return NULL;
    }
    attex_quic_endpoint *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        return NULL;
    }
    ep->server = server;
    ep->fd = -1;
    ep->cfg = *cfg;
    ep->cfg.channel.tls = NULL;
    if (crypto_random(ep->reset_secret, sizeof(ep->reset_secret), err) != ATTEX_OK ||
        setup_credentials(ep, err) != ATTEX_OK) {
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    return ep;
}

attex_quic_endpoint *attex_quic_server_new(const attex_quic_config *cfg, attex_error *err)
{
    attex_quic_endpoint *ep = endpoint_new(cfg, 1, err);
    if (ep == NULL)
        return NULL;
    size_t max = cfg->max_connections ? cfg->max_connections : 4096;
    ep->nbuckets = 64;
    while (ep->nbuckets < max && ep->nbuckets < ((size_t)1 << 16))
        ep->nbuckets *= 2;
    ep->by_key = calloc(ep->nbuckets, sizeof(*ep->by_key));
    ep->by_odcid = calloc(ep->nbuckets, sizeof(*ep->by_odcid));
    if (ep->by_key == NULL || ep->by_odcid == NULL) {
        attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    if (crypto_random((uint8_t *)&ep->hash_secret, sizeof(ep->hash_secret), err) != ATTEX_OK) {
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    if (open_socket(ep, err) != ATTEX_OK) {
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    return ep;
}

attex_quic_endpoint *attex_quic_client_new(const attex_quic_config *cfg, attex_error *err)
{
    attex_quic_endpoint *ep = endpoint_new(cfg, 0, err);
    if (ep == NULL)
        return NULL;
    struct sockaddr_storage none;
    memset(&none, 0, sizeof(none));
    attex_quic_conn *c = conn_alloc(ep, (struct sockaddr *)&none, sizeof(none));
    if (c == NULL) {
        attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    ep->client = c;
    c->taken = 1;
    if (open_socket(ep, err) != ATTEX_OK) {
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    ngtcp2_cid dcid, scid;
    uint8_t d[CID_LEN];
    if (crypto_random(d, sizeof(d), err) != ATTEX_OK || new_cid(c, &scid) != 0) {
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    ngtcp2_cid_init(&dcid, d, sizeof(d));
    ngtcp2_callbacks cb;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    fill_callbacks(&cb, 0);
    uint64_t ts = now_ns();
    fill_settings(ep, &settings, ts);
    fill_params(ep, &params);
    ngtcp2_path path;
    set_path(c, &path);
    int rv = ngtcp2_conn_client_new(&c->q, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb,
                                    &settings, &params, NULL, c);
    if (rv != 0) {
        attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "cannot create the QUIC connection: %s",
                   ngtcp2_strerror(rv));
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    if (tls_setup(c, err) != ATTEX_OK) {
        attex_quic_endpoint_free(ep);
        return NULL;
    }
    conn_write(c); /* the first Initial */
    return ep;
}

void attex_quic_endpoint_free(attex_quic_endpoint *ep)
{
    if (ep == NULL)
        return;
    /* Tell the peers (RFC 9000 s10.2) rather than leave them to time out. */
    for (attex_quic_conn *c = ep->conns; c != NULL; c = c->next)
        if (c->state != ATTEX_QUIC_CLOSED && c->q != NULL && ep->fd >= 0) {
            ngtcp2_connection_close_error ccerr;
            ngtcp2_connection_close_error_default(&ccerr);
            ngtcp2_connection_close_error_set_application_error(&ccerr, 0, NULL, 0);
            conn_send_close(c, &ccerr);
        }
    while (ep->conns)
        conn_free(ep->conns);
    free(ep->by_key);
    free(ep->by_odcid);
    if (ep->fd >= 0)
        close(ep->fd);
    if (ep->cred)
        gnutls_certificate_free_credentials(ep->cred);
    crypto_zeroise(ep->reset_secret, sizeof(ep->reset_secret));
    free(ep);
}

int attex_quic_endpoint_fd(const attex_quic_endpoint *ep) { return ep->fd; }

uint16_t attex_quic_endpoint_port(const attex_quic_endpoint *ep)
{
    if (ep->local.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)&ep->local)->sin_port);
    if (ep->local.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)&ep->local)->sin6_port);
    return 0;
}

size_t attex_quic_endpoint_num_conns(const attex_quic_endpoint *ep) { return ep->nconns; }

int attex_quic_endpoint_timeout_ms(const attex_quic_endpoint *ep)
{
    uint64_t t = UINT64_MAX;
    for (const attex_quic_conn *c = ep->conns; c != NULL; c = c->next) {
        uint64_t e = conn_expiry(c);
        if (e < t)
            t = e;
    }
    if (t == UINT64_MAX)
        return -1;
    uint64_t now = now_ns();
    if (t <= now)
        return 0;
    uint64_t ms = (t - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > 60000 ? 60000 : (int)ms;
}

/* Finds the connection a datagram belongs to (RFC 9000 s5.2). */
static attex_quic_conn *demux(attex_quic_endpoint *ep, const ngtcp2_version_cid *vc)
{
    if (!ep->server)
        return ep->client;
    if (vc->dcidlen == CID_LEN) {
        for (attex_quic_conn *c = ep->by_key[hash_bytes(ep, vc->dcid, CID_KEY_LEN)]; c != NULL;
             c = c->key_next)
            if (memcmp(vc->dcid, c->key, CID_KEY_LEN) == 0)
                return c;
    }
    /* A client's Initials carry its own first DCID until it learns ours. */
    if (vc->dcidlen > 0) {
        for (attex_quic_conn *c = ep->by_odcid[hash_bytes(ep, vc->dcid, vc->dcidlen)]; c != NULL;
             c = c->odcid_next)
            if (c->odcid.datalen == vc->dcidlen &&
                memcmp(c->odcid.data, vc->dcid, vc->dcidlen) == 0)
                return c;
    }
    return NULL;
}

static void server_accept_initial(attex_quic_endpoint *ep, const uint8_t *pkt, size_t len,
                                  const struct sockaddr *from, socklen_t fromlen)
{
    ngtcp2_pkt_hd hd;
    /* Only a client Initial starts a connection; anything else for no connection is dropped. */
    if (ngtcp2_accept(&hd, pkt, len) != 0 || hd.version != NGTCP2_PROTO_VER_V1)
        return;
    size_t max = ep->cfg.max_connections ? ep->cfg.max_connections : 4096;
    if (ep->nconns >= max)
        return;
    attex_quic_conn *c = conn_alloc(ep, from, fromlen);
    if (c == NULL)
        return;
    c->odcid = hd.dcid;
    table_insert_odcid(c);
    ngtcp2_cid scid;
    ngtcp2_callbacks cb;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    fill_callbacks(&cb, 1);
    uint64_t ts = now_ns();
    fill_settings(ep, &settings, ts);
    fill_params(ep, &params);
    params.original_dcid = hd.dcid;
    ngtcp2_path path;
    set_path(c, &path);
    attex_error err;
    if (new_cid(c, &scid) != 0 ||
        ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token,
                                                     ep->reset_secret, sizeof(ep->reset_secret),
                                                     &scid) != 0) {
        conn_free(c);
        return;
    }
    params.stateless_reset_token_present = 1;
    if (ngtcp2_conn_server_new(&c->q, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params,
                               NULL, c) != 0 ||
        tls_setup(c, &err) != ATTEX_OK) {
        conn_free(c);
        return;
    }
    conn_read(c, pkt, len);
}

int attex_quic_endpoint_process(attex_quic_endpoint *ep, int readable, attex_error *err)
{
    if (readable) {
        uint8_t *buf = ep->rbuf;
        for (int i = 0; i < READS_PER_CALL; i++) {
            struct sockaddr_storage from;
            socklen_t fromlen = sizeof(from);
            ssize_t n = recvfrom(ep->fd, buf, RBUF_LEN, MSG_DONTWAIT, (struct sockaddr *)&from,
                                 &fromlen);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                /* ICMP errors on a connected client socket surface here: the path is gone. */
                if (!ep->server && errno == ECONNREFUSED) {
                    set_status(ep->client, ATTEX_ERR_TLS_STATE,
                               "the server refused the connection (ICMP port unreachable)");
                    ep->client->state = ATTEX_QUIC_CLOSED;
                    break;
                }
                return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                                  "reading the UDP socket failed: %s", strerror(errno));
            }
            ngtcp2_version_cid vc;
            int rv = ngtcp2_pkt_decode_version_cid(&vc, buf, (size_t)n, CID_LEN);
            if (rv != 0)
                continue; /* not QUIC v1, or garbage: no version negotiation (docs/quic.md) */
            attex_quic_conn *c = demux(ep, &vc);
            if (c != NULL) {
                if (ep->server && (fromlen != c->remote_len || memcmp(&from, &c->remote, fromlen) != 0))
                    continue; /* no migration: another address is not this connection */
                conn_read(c, buf, (size_t)n);
            } else if (ep->server)
                server_accept_initial(ep, buf, (size_t)n, (struct sockaddr *)&from, fromlen);
        }
    }
    uint64_t ts = now_ns();
    attex_quic_conn *next;
    for (attex_quic_conn *c = ep->conns; c != NULL; c = next) {
        next = c->next;
        /* Only connections with due work: datagrams were handled as they came. */
        if (conn_expiry(c) <= ts)
            conn_timers(c, ts);
        if (c->state == ATTEX_QUIC_CLOSED && ts >= c->drain_deadline_ns && c->q != NULL) {
            ngtcp2_conn_del(c->q);
            c->q = NULL;
        }
        /* The endpoint frees what no application holds. */
        if (c->state == ATTEX_QUIC_CLOSED && c->q == NULL && ep->server && (!c->taken || c->released))
            conn_free(c);
    }
    return ATTEX_OK;
}

attex_quic_conn *attex_quic_endpoint_accept(attex_quic_endpoint *ep)
{
    if (ep->pending_accept == 0)
        return NULL;
    for (attex_quic_conn *c = ep->conns; c != NULL; c = c->next) {
        if (c->pending_accept) {
            c->pending_accept = 0;
            ep->pending_accept--;
            c->taken = 1;
            return c;
        }
    }
    return NULL;
}

void quic_set_output_filter(attex_quic_endpoint *ep, quic_output_filter f, void *arg)
{
    ep->filter = f;
    ep->filter_arg = arg;
}

gnutls_session_t quic_conn_tls(attex_quic_conn *c) { return c->tls; }

attex_quic_conn *attex_quic_endpoint_client_conn(attex_quic_endpoint *ep)
{
    return ep->client;
}

/* ---------------------------------------------------------------------- */
/* Connection API                                                         */

attex_quic_state attex_quic_conn_state(const attex_quic_conn *c) { return c->state; }

int attex_quic_conn_status(const attex_quic_conn *c, const char **reason)
{
    if (c->state != ATTEX_QUIC_CLOSED && c->state != ATTEX_QUIC_CLOSING) {
        if (reason)
            *reason = NULL;
        return ATTEX_OK;
    }
    if (reason)
        *reason = c->reason[0] ? c->reason : "closed";
    return c->status;
}

attex_channel *attex_quic_conn_channel(attex_quic_conn *c) { return c->ch; }

const struct sockaddr *attex_quic_conn_remote(const attex_quic_conn *c, socklen_t *len)
{
    if (len)
        *len = c->remote_len;
    return (const struct sockaddr *)&c->remote;
}

unsigned attex_quic_conn_peer_attestations(const attex_quic_conn *c) { return c->peer_attested; }

int attex_quic_conn_self_accepted(const attex_quic_conn *c) { return c->self_accepted; }

int attex_quic_conn_answered_peer(const attex_quic_conn *c)
{
    return c->self_accepted || c->answered;
}

int attex_quic_conn_read(attex_quic_conn *c, uint8_t *buf, size_t cap, size_t *n,
                         attex_error *err)
{
    size_t avail = c->rx_len - c->rx_pos, take = avail < cap ? avail : cap;
    if (take > 0) {
        memcpy(buf, c->rx + c->rx_pos, take);
        c->rx_pos += take;
    }
    *n = take;
    if (take > 0) {
        uint64_t owed = c->owed_credit;
        return_credit(c);
        if (owed != c->owed_credit)
            conn_write(c); /* tell the peer it may send more */
        return ATTEX_OK;
    }
    if (c->state == ATTEX_QUIC_CLOSED || c->state == ATTEX_QUIC_CLOSING) {
        if (c->status != ATTEX_OK)
            return attex_fail(err, c->status, ATTEX_ALERT_NONE, "%s", c->reason);
    }
    return ATTEX_OK;
}

int attex_quic_conn_write(attex_quic_conn *c, const uint8_t *data, size_t len, size_t *written,
                          attex_error *err)
{
    *written = 0;
    if (c->state == ATTEX_QUIC_CLOSED || c->state == ATTEX_QUIC_CLOSING || c->shutdown)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "the connection is closing: %s", c->reason[0] ? c->reason : "shut down");
    if (c->ch == NULL) {
        /* Before the handshake: kept until the channel exists, then gated like the rest. */
        size_t cap = max_buffer(c->ep), pend = c->ep->cfg.channel.max_pending_send;
        if (pend == 0)
            pend = (size_t)1 << 20;
        if (pend < cap)
            cap = pend;
        size_t take = c->early_len >= cap ? 0 : cap - c->early_len;
        if (take > len)
            take = len;
        if (take == 0)
            return ATTEX_OK;
        uint8_t *p = malloc(c->early_len + take);
        if (p == NULL)
            return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        if (c->early_len) {
            memcpy(p, c->early, c->early_len);
            crypto_zeroise(c->early, c->early_len);
        }
        free(c->early);
        memcpy(p + c->early_len, data, take);
        c->early = p;
        c->early_len += take;
        *written = take;
        return ATTEX_OK;
    }
    size_t out_len;
    attex_channel_output(c->ch, &out_len);
    uint64_t queued = (c->end_off - c->acked_off) + out_len, cap = max_buffer(c->ep);
    size_t room = queued >= cap ? 0 : (size_t)(cap - queued);
    /* While the gate is closed the channel holds the bytes, up to max_pending_send:
     * take no more than it can hold, so that a full buffer is a short write, not an error. */
    if (attex_channel_peer_accepted(c->ch))
        c->gated = 0;
    else {
        size_t pend = c->ep->cfg.channel.max_pending_send ? c->ep->cfg.channel.max_pending_send
                                                          : (size_t)1 << 20;
        size_t gate_room = c->gated >= pend ? 0 : pend - c->gated;
        if (gate_room < room)
            room = gate_room;
    }
    size_t take = len < room ? len : room;
    if (take == 0)
        return ATTEX_OK;
    int rc = attex_channel_send(c->ch, data, take, err);
    if (rc != ATTEX_OK)
        return rc;
    if (!attex_channel_peer_accepted(c->ch))
        c->gated += take;
    *written = take;
    conn_update(c);
    return ATTEX_OK;
}

int attex_quic_conn_peer_ended(const attex_quic_conn *c) { return c->peer_fin; }

int attex_quic_conn_shutdown(attex_quic_conn *c, attex_error *err)
{
    if (c->stream < 0 && c->ep->server)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                          "stream 0 does not exist yet: nothing to shut down");
    c->shutdown = 1;
    conn_update(c);
    return ATTEX_OK;
}

static int established(const attex_quic_conn *c)
{
    size_t pending = 0;
    if (c->ch == NULL || attex_channel_is_closed(c->ch))
        return 0;
    attex_channel_output(c->ch, &pending);
    return attex_channel_peer_accepted(c->ch) && attex_channel_awaiting_verdicts(c->ch) == 0 &&
           pending == 0 && (!c->ep->cfg.expect_request || c->self_accepted);
}

int attex_quic_conn_establish(attex_quic_conn *c, uint32_t timeout_ms, attex_error *err)
{
    attex_quic_endpoint *ep = c->ep;
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (c->state == ATTEX_QUIC_CLOSED || c->state == ATTEX_QUIC_CLOSING) {
            const char *reason = NULL;
            int code = attex_quic_conn_status(c, &reason);
            return attex_fail(err, code != ATTEX_OK ? code : ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE,
                              "%s", reason ? reason : "the connection closed");
        }
        if (established(c))
            return ATTEX_OK;
        uint64_t now = now_ms();
        if (now >= deadline)
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "attestation over QUIC did not complete within %u ms", timeout_ms);
        int wait = attex_quic_endpoint_timeout_ms(ep);
        uint64_t left = deadline - now;
        if (wait < 0 || (uint64_t)wait > left)
            wait = (int)(left > 1000 ? 1000 : left);
        struct pollfd p = {ep->fd, POLLIN, 0};
        int r = poll(&p, 1, wait);
        int rc = attex_quic_endpoint_process(ep, r > 0 && (p.revents & (POLLIN | POLLERR)), err);
        if (rc != ATTEX_OK)
            return rc;
    }
}

void attex_quic_conn_release(attex_quic_conn *c)
{
    if (c == NULL)
        return;
    c->released = 1;
    if (c->state != ATTEX_QUIC_CLOSED) {
        ngtcp2_connection_close_error ccerr;
        ngtcp2_connection_close_error_default(&ccerr);
        ngtcp2_connection_close_error_set_application_error(&ccerr, 0, NULL, 0);
        set_status(c, ATTEX_OK, "closed by the application");
        conn_send_close(c, &ccerr);
    }
}

void attex_quic_conn_get_stats(const attex_quic_conn *c, attex_quic_conn_stats *out)
{
    *out = c->stats;
    out->srtt_us = 0;
    if (c->q != NULL) {
        ngtcp2_conn_stat st;
        ngtcp2_conn_get_conn_stat(c->q, &st);
        out->srtt_us = st.smoothed_rtt / 1000;
    }
}
