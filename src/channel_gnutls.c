/*
 * attex: driving an attested channel over a GnuTLS session on a socket. The
 * GnuTLS twin of channel_openssl.c: the channel core is the same.
 */
#include <poll.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include <attex/gnutls.h>
#include <attex/openssl.h> /* attex_monotonic_ms */

#include "channel_internal.h"
#include "internal.h"

#define READ_CHUNK 16384
/* Reads per round, so that one busy connection cannot starve the others of a loop. */
#define READS_PER_ROUND 16

static int tls_failure(ssize_t r, const char *what, attex_error *err)
{
    return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "TLS %s failed (%d: %s)", what,
                      (int)r, gnutls_strerror((int)r));
}

/* Writes what the channel has queued; stops when TLS would block. */
static int flush(gnutls_session_t s, attex_channel *ch, attex_error *err)
{
    for (;;) {
        size_t len;
        const uint8_t *out = attex_channel_output(ch, &len);
        if (len == 0)
            return ATTEX_OK;
        /* After GNUTLS_E_AGAIN GnuTLS wants the same call again; it then sends the record it
         * already built and returns that record's length, ignoring the arguments. The
         * channel's output still begins with those bytes (only consumed ones are dropped),
         * so passing the current output is the same call. */
        ssize_t r = gnutls_record_send(s, out, len);
        if (r > 0) {
            attex_channel_consume_output(ch, (size_t)r);
            continue;
        }
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            return ATTEX_OK;
        return tls_failure(r, "write", err);
    }
}

/* Whether a read would return without blocking, even on a blocking socket. */
static int readable(gnutls_session_t s)
{
    if (gnutls_record_check_pending(s) > 0)
        return 1;
    struct pollfd p = {gnutls_transport_get_int(s), POLLIN, 0};
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

int attex_gnutls_channel_io(gnutls_session_t s, attex_channel *ch, int *want_write,
                            attex_error *err)
{
    if (s == NULL || ch == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_gnutls_channel_io needs a session and a channel");
    /* The driver waits on the socket: a session with custom push/pull functions would
     * never look readable. Such a transport drives the channel core itself (channel.h). */
    if (gnutls_transport_get_int(s) < 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_gnutls_channel_io needs a session whose transport is a socket "
                          "(gnutls_transport_set_int)");
    int ret = flush(s, ch, err);
    if (ret != ATTEX_OK)
        return ret;
    uint64_t now = attex_monotonic_ms();
    for (int i = 0; i < READS_PER_ROUND && !attex_channel_is_closed(ch) && readable(s); i++) {
        uint8_t buf[READ_CHUNK];
        ssize_t r = gnutls_record_recv(s, buf, sizeof(buf));
        if (r > 0) {
            attex_channel_receive(ch, buf, (size_t)r, now, err);
            continue;
        }
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            break;
        if (r == 0) { /* close_notify */
            attex_channel_end(ch, err);
            break;
        }
        if (!gnutls_error_is_fatal((int)r))
            continue; /* e.g. a warning alert: the connection lives on */
        /* The peer went away without close_notify, or TLS failed: a truncation. */
        ret = tls_failure(r, "read", err);
        attex_channel_end(ch, NULL);
        flush(s, ch, NULL);
        return ret;
    }
    attex_channel_tick(ch, now, err);
    if ((ret = flush(s, ch, err)) != ATTEX_OK)
        return ret;
    size_t pending;
    attex_channel_output(ch, &pending);
    if (want_write != NULL)
        *want_write = pending > 0;
    if (attex_channel_is_closed(ch) && pending == 0)
        return closed_status(ch, err);
    return ATTEX_OK;
}

int attex_gnutls_channel_establish(gnutls_session_t s, attex_channel *ch, uint32_t timeout_ms,
                                   attex_error *err)
{
    uint64_t deadline = attex_monotonic_ms() + timeout_ms;
    for (;;) {
        int want_write = 0;
        int ret = attex_gnutls_channel_io(s, ch, &want_write, err);
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
        if (gnutls_record_check_pending(s) > 0)
            continue;
        struct pollfd p = {gnutls_transport_get_int(s), (short)(POLLIN | (want_write ? POLLOUT : 0)),
                           0};
        poll(&p, 1, (int)(wait > 1000 ? 1000 : wait));
    }
}
