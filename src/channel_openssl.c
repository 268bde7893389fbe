/*
 * attex: driving an attested channel over an OpenSSL connection, and the
 * TLS settings of PROTOCOL.md s4.
 */
#include <poll.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <attex/openssl.h>

#include "channel_internal.h"
#include "internal.h"

#define READ_CHUNK 16384
/* Reads per round, so that one busy connection cannot starve the others of a loop. */
#define READS_PER_ROUND 16

uint64_t attex_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* PROTOCOL.md s4: a received ticket is dropped (returning 0 leaves it to OpenSSL to free). */
static int discard_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl, (void)sess;
    return 0;
}

int attex_openssl_configure_ctx(SSL_CTX *ctx, attex_error *err)
{
    if (ctx == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_openssl_configure_ctx needs an SSL_CTX");
    /* PROTOCOL.md s4: TLS 1.3 only; no tickets, no resumption, no 0-RTT. */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_num_tickets(ctx, 0) != 1 || SSL_CTX_set_max_early_data(ctx, 0) != 1 ||
        SSL_CTX_set_recv_max_early_data(ctx, 0) != 1)
        return attex_fail_crypto(err, "configuring TLS 1.3 without tickets or early data");
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    /* Tickets a peer sends anyway reach discard_ticket and are not kept. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, discard_ticket);
    return ATTEX_OK;
}

static int tls_failure(SSL *ssl, int r, const char *what, attex_error *err)
{
    /* SSL_get_error reads the error queue: ask it before the queue is cleared. */
    int code = SSL_get_error(ssl, r);
    char detail[160];
    attex_openssl_reason(detail, sizeof(detail), "");
    return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "TLS %s failed (%d%s%s)", what,
                      code, detail[0] ? ": " : "", detail);
}

/* Writes what the channel has queued; stops when TLS would block. */
static int flush(SSL *ssl, attex_channel *ch, attex_error *err)
{
    for (;;) {
        size_t len, n = 0;
        const uint8_t *out = attex_channel_output(ch, &len);
        if (len == 0)
            return ATTEX_OK;
        int r = SSL_write_ex(ssl, out, len, &n);
        if (r == 1) {
            attex_channel_consume_output(ch, n);
            continue;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return ATTEX_OK;
        return tls_failure(ssl, r, "write", err);
    }
}

/* Whether a read would return without blocking, even on a blocking socket. */
static int readable(SSL *ssl)
{
    if (SSL_has_pending(ssl))
        return 1;
    struct pollfd p = {SSL_get_fd(ssl), POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

static int closed_status(attex_channel *ch, attex_error *err)
{
    const char *reason = NULL;
    int code = attex_channel_close_status(ch, &reason);
    if (code == ATTEX_OK)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "%s",
                          reason ? reason : "the connection is closed");
    if (err != NULL && err->code != code)
        attex_fail(err, code, ATTEX_ALERT_NONE, "%s", reason ? reason : "closed");
    return code;
}

int attex_openssl_channel_io(SSL *ssl, attex_channel *ch, int *want_write, attex_error *err)
{
    int ret = flush(ssl, ch, err);
    if (ret != ATTEX_OK)
        return ret;
    uint64_t now = attex_monotonic_ms();
    for (int i = 0; i < READS_PER_ROUND && !attex_channel_is_closed(ch) && readable(ssl); i++) {
        uint8_t buf[READ_CHUNK];
        size_t n = 0;
        int r = SSL_read_ex(ssl, buf, sizeof(buf), &n);
        if (r == 1) {
            attex_channel_receive(ch, buf, n, now, err);
            continue;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            attex_channel_end(ch, err);
            break;
        }
        /* The peer went away without close_notify, or TLS failed: a truncation. */
        ret = tls_failure(ssl, r, "read", err);
        attex_channel_end(ch, NULL);
        flush(ssl, ch, NULL);
        return ret;
    }
    attex_channel_tick(ch, now, err);
    if ((ret = flush(ssl, ch, err)) != ATTEX_OK)
        return ret;
    size_t pending;
    attex_channel_output(ch, &pending);
    if (want_write != NULL)
        *want_write = pending > 0;
    if (attex_channel_is_closed(ch) && pending == 0)
        return closed_status(ch, err);
    return ATTEX_OK;
}

int attex_openssl_channel_establish(SSL *ssl, attex_channel *ch, uint32_t timeout_ms,
                                    attex_error *err)
{
    uint64_t deadline = attex_monotonic_ms() + timeout_ms;
    for (;;) {
        int want_write = 0;
        int ret = attex_openssl_channel_io(ssl, ch, &want_write, err);
        if (ret != ATTEX_OK)
            return ret;
        if (attex_channel_is_closed(ch))
            return closed_status(ch, err);
        if (attex_channel_peer_accepted(ch) && attex_channel_awaiting_verdicts(ch) == 0 &&
            !want_write)
            return ATTEX_OK;
        uint64_t now = attex_monotonic_ms();
        if (now >= deadline)
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "attestation did not complete within %u ms", timeout_ms);
        uint64_t wait = deadline - now, timer = attex_channel_next_timer(ch);
        if (timer != 0 && timer > now && timer - now < wait)
            wait = timer - now;
        if (SSL_has_pending(ssl))
            continue;
        struct pollfd p = {SSL_get_fd(ssl), (short)(POLLIN | (want_write ? POLLOUT : 0)), 0};
        poll(&p, 1, (int)(wait > 1000 ? 1000 : wait));
    }
}
