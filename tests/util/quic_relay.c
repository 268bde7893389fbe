/*
 * The lossy, reordering, delaying UDP relay of quic_relay.h.
 */
#include "quic_relay.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_Q 1024
#define REORDER_US 15000

typedef struct held {
    uint8_t data[1500];
    size_t len;
    int to_server;
    long long due_us;
} held;

struct qr_relay {
    int fd_client; /* the client talks to this socket */
    int fd_server; /* this socket talks to the server */
    struct sockaddr_in client_addr, server_addr;
    int have_client, last_to_server;
    uint64_t rng;
    int drop_pct, reorder_pct, delay_ms;
    held *q; /* datagrams waiting for their time */
    size_t nq;
    qr_stats st;
};

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t relay_rand(qr_relay *r)
{
    /* xorshift64: a fixed seed makes every run drop the same datagrams. */
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (uint32_t)(r->rng >> 11);
}

static int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

qr_relay *qr_relay_new(uint16_t server_port, int drop_pct, int reorder_pct, int delay_ms,
                       uint64_t seed)
{
    qr_relay *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->q = calloc(RELAY_Q, sizeof(*r->q));
    r->fd_client = udp_socket();
    r->fd_server = udp_socket();
    if (r->q == NULL || r->fd_client < 0 || r->fd_server < 0) {
        qr_relay_free(r);
        return NULL;
    }
    r->server_addr.sin_family = AF_INET;
    r->server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->server_addr.sin_port = htons(server_port);
    r->rng = seed ? seed : 1;
    r->drop_pct = drop_pct;
    r->reorder_pct = reorder_pct;
    r->delay_ms = delay_ms;
    r->last_to_server = 0;
    return r;
}

void qr_relay_free(qr_relay *r)
{
    if (r == NULL)
        return;
    if (r->fd_client >= 0)
        close(r->fd_client);
    if (r->fd_server >= 0)
        close(r->fd_server);
    free(r->q);
    free(r);
}

uint16_t qr_relay_port(const qr_relay *r)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    if (getsockname(r->fd_client, (struct sockaddr *)&a, &l) != 0)
        return 0;
    return ntohs(a.sin_port);
}

void qr_relay_pollfds(const qr_relay *r, struct pollfd pf[2])
{
    pf[0].fd = r->fd_client;
    pf[1].fd = r->fd_server;
    pf[0].events = pf[1].events = POLLIN;
    pf[0].revents = pf[1].revents = 0;
}

int qr_relay_timeout_ms(const qr_relay *r)
{
    if (r->nq == 0)
        return -1;
    long long first = r->q[0].due_us;
    for (size_t i = 1; i < r->nq; i++)
        if (r->q[i].due_us < first)
            first = r->q[i].due_us;
    long long d = first - now_us();
    return d <= 0 ? 0 : (int)((d + 999) / 1000);
}

static void relay_send(qr_relay *r, const held *h)
{
    if (h->to_server)
        sendto(r->fd_server, h->data, h->len, 0, (const struct sockaddr *)&r->server_addr,
               sizeof(r->server_addr));
    else if (r->have_client)
        sendto(r->fd_client, h->data, h->len, 0, (const struct sockaddr *)&r->client_addr,
               sizeof(r->client_addr));
    r->st.forwarded++;
}

void qr_relay_process(qr_relay *r, const struct pollfd pf[2])
{
    for (int side = 0; side < 2; side++) {
        if (!(pf[side].revents & POLLIN))
            continue;
        for (;;) {
            held h;
            struct sockaddr_in from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(side == 0 ? r->fd_client : r->fd_server, h.data, sizeof(h.data),
                                 0, (struct sockaddr *)&from, &fl);
            if (n <= 0)
                break;
            h.len = (size_t)n;
            h.to_server = side == 0;
            if (side == 0) {
                r->client_addr = from;
                r->have_client = 1;
                if (!r->last_to_server)
                    r->st.client_flights++;
            }
            r->last_to_server = side == 0;
            if ((int)(relay_rand(r) % 100) < r->drop_pct) {
                r->st.dropped++;
                continue;
            }
            h.due_us = now_us() + (long long)r->delay_ms * 1000;
            if ((int)(relay_rand(r) % 100) < r->reorder_pct) {
                h.due_us += REORDER_US;
                r->st.reordered++;
            }
            if (r->nq < RELAY_Q)
                r->q[r->nq++] = h;
            else
                r->st.dropped++;
        }
    }
    long long now = now_us();
    /* Due datagrams leave in the order they are due, so a delay alone keeps the order. */
    for (;;) {
        size_t best = r->nq;
        for (size_t i = 0; i < r->nq; i++)
            if (r->q[i].due_us <= now && (best == r->nq || r->q[i].due_us < r->q[best].due_us))
                best = i;
        if (best == r->nq)
            break;
        relay_send(r, &r->q[best]);
        r->q[best] = r->q[--r->nq];
    }
}

int qr_relay_rebind(qr_relay *r)
{
    int fd = udp_socket();
    if (fd < 0)
        return 0;
    close(r->fd_server);
    r->fd_server = fd;
    return 1;
}

void qr_relay_stats(const qr_relay *r, qr_stats *out) { *out = r->st; }
