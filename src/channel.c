/*
 * attex: the attested channel (PROTOCOL.md s4, s5). No I/O, no clock: bytes
 * and time in; bytes, events and timers out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attex/channel.h>
#include <attex/frame.h>

#include "bytes.h"
#include "channel_internal.h"
#include "internal.h"

#define DEFAULT_DEADLINE_MS 10000u
#define DEFAULT_MAX_PENDING_SEND (1u << 20)
#define DEFAULT_MAX_REQUESTS_PER_SECOND 64u
/* DATA frames are cut at this size: a peer's maximum may be smaller than ours. */
#define DATA_CHUNK 16384u
/* Requests of ours awaiting an answer; more means the peer is not answering. */
#define MAX_OUTSTANDING 8u

typedef struct ctx_item {
    uint8_t bytes[ATTEX_EA_MAX_CONTEXT];
    size_t len;
} ctx_item;

typedef struct our_request {
    attex_buf bytes;
    ctx_item ctx;
    uint64_t deadline;
} our_request;

typedef struct event_item {
    attex_channel_event_type type;
    uint8_t *data;
    size_t len;
    int code;
    char *reason;
} event_item;

struct attex_channel {
    attex_channel_config cfg;
    attex_tls tls;
    attex_attest_policy policy;
    attex_ea_session *ea;
    attex_frame_decoder dec;

    attex_buf out; /* frames to write; out_off of them already written */
    size_t out_off;
    attex_buf held; /* application bytes waiting for the gate */

    our_request reqs[MAX_OUTSTANDING];
    size_t num_reqs;
    ctx_item *answered; /* peer contexts we answered, awaiting their VERDICT */
    size_t num_answered, cap_answered;

    int started, closed, peer_accepted, self_accepted;
    int close_code;
    char close_reason[ATTEX_ERROR_MESSAGE_SIZE];
    attex_attest_result *peer_result;
    uint64_t next_reattest;
    uint64_t now; /* the time given with the bytes being processed */
    uint64_t rate_window;
    uint32_t rate_count;

    event_item *events;
    size_t num_events, cap_events, head;
    event_item current; /* the event last returned; freed on the next call */
};

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* ---------------------------------------------------------------------- */

static int push_event(attex_channel *ch, attex_channel_event_type type, const uint8_t *data,
                      size_t len, int code, const char *reason)
{
    if (ch->num_events == ch->cap_events) {
        if (ch->head > 0) {
            memmove(ch->events, ch->events + ch->head,
                    (ch->num_events - ch->head) * sizeof(*ch->events));
            ch->num_events -= ch->head;
            ch->head = 0;
        }
        if (ch->num_events == ch->cap_events) {
            size_t cap = ch->cap_events ? ch->cap_events * 2 : 8;
            event_item *p = realloc(ch->events, cap * sizeof(*p));
            if (p == NULL)
                return 0;
            ch->events = p;
            ch->cap_events = cap;
        }
    }
    event_item *e = &ch->events[ch->num_events];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->code = code;
    if (len) {
        e->data = malloc(len);
        if (e->data == NULL)
            return 0;
        memcpy(e->data, data, len);
        e->len = len;
    }
    if (reason != NULL && (e->reason = strdup(reason)) == NULL) {
        free(e->data);
        return 0;
    }
    ch->num_events++;
    return 1;
}

static void free_event(event_item *e)
{
    free(e->data);
    free(e->reason);
    memset(e, 0, sizeof(*e));
}

/*
 * Closes the channel for `code` with `reason`: nothing more is accepted or
 * delivered, held application bytes are dropped, and the driver is told.
 * Returns code so callers can `return close_channel(...)`.
 */
static int close_channel(attex_channel *ch, int code, const char *reason, attex_error *err)
{
    /* `reason` may be err->message itself: copy before err is written. */
    char why[ATTEX_ERROR_MESSAGE_SIZE];
    snprintf(why, sizeof(why), "%s", reason ? reason : "closed");
    if (!ch->closed) {
        ch->closed = 1;
        ch->close_code = code;
        snprintf(ch->close_reason, sizeof(ch->close_reason), "%s", why);
        attex_buf_free(&ch->held);
        push_event(ch, ATTEX_EVENT_CLOSED, NULL, 0, code, why);
    }
    if (code == ATTEX_OK)
        return ATTEX_OK;
    if (err != NULL && (err->code != code || err->message[0] == '\0'))
        attex_fail(err, code, ATTEX_ALERT_NONE, "%s", why);
    return code;
}

static int queue_frame(attex_channel *ch, uint8_t type, const uint8_t *p, size_t n,
                       attex_error *err)
{
    if (ch->out_off > 0 && ch->out_off == ch->out.len) {
        attex_buf_free(&ch->out);
        ch->out_off = 0;
    }
    return attex_frame_encode(&ch->out, type, p, n, err);
}

static int queue_data(attex_channel *ch, const uint8_t *p, size_t n, attex_error *err)
{
    while (n > 0) {
        size_t k = n < DATA_CHUNK ? n : DATA_CHUNK;
        int ret = queue_frame(ch, ATTEX_FRAME_DATA, p, k, err);
        if (ret != ATTEX_OK)
            return ret;
        p += k;
        n -= k;
    }
    return ATTEX_OK;
}

static int gate_open(const attex_channel *ch)
{
    return !ch->cfg.require_peer || ch->peer_accepted;
}

/* ---------------------------------------------------------------------- */

attex_channel *attex_channel_new(const attex_channel_config *cfg, attex_error *err)
{
    if (cfg == NULL || cfg->tls == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "a channel needs a configuration with a TLS interface");
        return NULL;
    }
    if (cfg->require_peer && (cfg->policy == NULL || cfg->policy->num_verifiers == 0)) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "requiring the peer's attestation needs a policy with at least one verifier");
        return NULL;
    }
    attex_channel *ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        NOMEM(err);
        return NULL;
    }
    ch->cfg = *cfg;
    ch->tls = *cfg->tls;
    ch->cfg.tls = &ch->tls;
    if (cfg->policy != NULL)
        ch->policy = *cfg->policy;
    /* The channel's own requests always demand attestation: that is why they are sent. */
    ch->policy.require = 1;
    if (ch->cfg.deadline_ms == 0)
        ch->cfg.deadline_ms = DEFAULT_DEADLINE_MS;
    if (ch->cfg.max_pending_send == 0)
        ch->cfg.max_pending_send = DEFAULT_MAX_PENDING_SEND;
    if (ch->cfg.max_requests_per_second == 0)
        ch->cfg.max_requests_per_second = DEFAULT_MAX_REQUESTS_PER_SECOND;
    if (attex_frame_decoder_init(&ch->dec, cfg->max_frame, err) != ATTEX_OK ||
        (ch->ea = attex_ea_session_new(&ch->tls, err)) == NULL) {
        attex_channel_free(ch);
        return NULL;
    }
    return ch;
}

void attex_channel_free(attex_channel *ch)
{
    if (ch == NULL)
        return;
    for (size_t i = 0; i < ch->num_reqs; i++)
        attex_buf_free(&ch->reqs[i].bytes);
    for (size_t i = ch->head; i < ch->num_events; i++)
        free_event(&ch->events[i]);
    free_event(&ch->current);
    free(ch->events);
    free(ch->answered);
    attex_attest_result_free(ch->peer_result);
    attex_buf_free(&ch->out);
    attex_buf_free(&ch->held);
    attex_frame_decoder_free(&ch->dec);
    attex_ea_session_free(ch->ea);
    free(ch);
}

/* Sends a REQUEST for the peer's attestation, with a deadline. */
static int send_request(attex_channel *ch, uint64_t now_ms, attex_error *err)
{
    if (ch->num_reqs == MAX_OUTSTANDING)
        return close_channel(ch, ATTEX_ERR_ATTESTATION,
                             "the peer leaves too many attestation requests unanswered", err);
    our_request *r = &ch->reqs[ch->num_reqs];
    memset(r, 0, sizeof(*r));
    int ret = attex_attest_request_create(ch->ea, &ch->policy, NULL, &r->bytes, err);
    if (ret == ATTEX_OK)
        ret = attex_ea_get_context(r->bytes.data, r->bytes.len, r->ctx.bytes, &r->ctx.len, err);
    if (ret == ATTEX_OK)
        ret = queue_frame(ch, ATTEX_FRAME_REQUEST, r->bytes.data, r->bytes.len, err);
    if (ret != ATTEX_OK) {
        attex_buf_free(&r->bytes);
        return close_channel(ch, ret, err ? err->message : "cannot build a request", err);
    }
    r->deadline = now_ms + ch->cfg.deadline_ms;
    ch->num_reqs++;
    return ATTEX_OK;
}

int attex_channel_start(attex_channel *ch, uint64_t now_ms, attex_error *err)
{
    if (ch->started)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the channel was already started");
    ch->started = 1;
    /* PROTOCOL.md s5: a relying party sends REQUEST right after the handshake. */
    if (ch->cfg.require_peer)
        return send_request(ch, now_ms, err);
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Frames from the peer                                                   */

/* The peer asks for our authenticator: answer, with attestation when we have it. */
static int on_request(attex_channel *ch, const attex_frame *f, uint64_t now_ms,
                      attex_error *err)
{
    /* A request flood costs us signatures and evidence: bound it. */
    if (now_ms >= ch->rate_window + 1000) {
        ch->rate_window = now_ms;
        ch->rate_count = 0;
    }
    if (++ch->rate_count > ch->cfg.max_requests_per_second)
        return close_channel(ch, ATTEX_ERR_ILLEGAL_PARAMETER,
                             "the peer sends attestation requests faster than allowed", err);
    ctx_item ctx;
    int ret = attex_ea_get_context(f->payload, f->len, ctx.bytes, &ctx.len, err);
    if (ret != ATTEX_OK)
        return close_channel(ch, ret, err->message, err);
    attex_buf auth = ATTEX_BUF_INIT;
    ret = attex_attest_answer(ch->ea, f->payload, f->len, ch->cfg.identity, ch->cfg.attester,
                              ch->policy.code_point, &auth, err);
    if (ret == ATTEX_ERR_NO_COMMON_SCHEME || ret == ATTEX_ERR_UNSUPPORTED ||
        ret == ATTEX_ERR_ATTESTATION || ret == ATTEX_ERR_CRYPTO) {
        /* We cannot give what was asked: an authenticated refusal (RFC 9261 s6) tells the
         * peer so on this connection; it decides. */
        ret = attex_ea_authenticator_create(ch->ea, f->payload, f->len, NULL, &auth, err);
    }
    if (ret != ATTEX_OK)
        return close_channel(ch, ret, err->message, err);
    ret = queue_frame(ch, ATTEX_FRAME_AUTHENTICATOR, auth.data, auth.len, err);
    attex_buf_free(&auth);
    if (ret != ATTEX_OK)
        return close_channel(ch, ret, err->message, err);
    if (ch->num_answered == ch->cap_answered) {
        size_t cap = ch->cap_answered ? ch->cap_answered * 2 : 4;
        ctx_item *p = realloc(ch->answered, cap * sizeof(*p));
        if (p == NULL)
            return close_channel(ch, ATTEX_ERR_NO_MEMORY, "out of memory", err);
        ch->answered = p;
        ch->cap_answered = cap;
    }
    ch->answered[ch->num_answered++] = ctx;
    return ATTEX_OK;
}

static int send_verdict(attex_channel *ch, int accepted, const ctx_item *ctx, const char *reason,
                        attex_error *err)
{
    if (ch->out_off > 0 && ch->out_off == ch->out.len) {
        attex_buf_free(&ch->out);
        ch->out_off = 0;
    }
    char clean[400];
    size_t n = 0;
    /* The reason crosses to the peer as printable UTF-8 (PROTOCOL.md s5): tame it. */
    for (const char *p = reason; p && *p && n + 1 < sizeof(clean); p++)
        clean[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? ' ' : *p;
    clean[n] = 0;
    int ret = attex_frame_verdict_encode(&ch->out, accepted, ctx->bytes, ctx->len, clean, err);
    if (ret != ATTEX_OK) /* e.g. the reason was cut inside a UTF-8 sequence */
        ret = attex_frame_verdict_encode(&ch->out, accepted, ctx->bytes, ctx->len,
                                         accepted ? "accepted" : "rejected", err);
    return ret;
}

/* The peer's authenticator: for one of our requests, or spontaneous (servers). */
static int on_authenticator(attex_channel *ch, const attex_frame *f, attex_error *err)
{
    ctx_item ctx;
    size_t idx = 0;
    attex_reader rd;
    uint8_t first_type = 0;
    rd_init(&rd, f->payload, f->len);
    /* RFC 9261 s6: an empty authenticator is a lone Finished, with no context to match. */
    int empty = rd_peek_u8(&rd, &first_type) && first_type == ATTEX_HS_FINISHED;
    if (!empty) {
        int ret = attex_ea_get_context(f->payload, f->len, ctx.bytes, &ctx.len, err);
        if (ret != ATTEX_OK)
            return close_channel(ch, ret, err->message, err);
        for (idx = 0; idx < ch->num_reqs; idx++)
            if (ch->reqs[idx].ctx.len == ctx.len &&
                memcmp(ch->reqs[idx].ctx.bytes, ctx.bytes, ctx.len) == 0)
                break;
    } else if (ch->num_reqs == 0) {
        return close_channel(ch, ATTEX_ERR_UNEXPECTED_MESSAGE,
                             "the peer sent an empty authenticator, but no request is pending",
                             err);
    }
    if (!empty && idx == ch->num_reqs) {
        /* RFC 9261 s5: only a server may authenticate without a request; it proves identity
         * only (no attestation: a ClientHello offers no cmw_attestation). */
        attex_ea_authenticator *a = NULL;
        int ret = attex_ea_authenticator_validate(ch->ea, NULL, 0, f->payload, f->len,
                                                  ch->cfg.validate_opts, &a, err);
        attex_ea_authenticator_free(a);
        if (ret != ATTEX_OK)
            return close_channel(ch, ret, err->message, err);
        return ATTEX_OK;
    }
    /* An empty authenticator answers the oldest request (it carries no context). */
    our_request req = ch->reqs[idx];
    memmove(&ch->reqs[idx], &ch->reqs[idx + 1], (ch->num_reqs - idx - 1) * sizeof(req));
    ch->num_reqs--;

    attex_attest_result *res = NULL;
    int ret = attex_attest_validate(ch->ea, req.bytes.data, req.bytes.len, f->payload, f->len,
                                    ch->cfg.validate_opts, &ch->policy, &res, err);
    attex_buf_free(&req.bytes);
    if (ret != ATTEX_OK) {
        char reason[ATTEX_ERROR_MESSAGE_SIZE + 64];
        snprintf(reason, sizeof(reason), "attestation rejected: %s", err->message);
        attex_attest_result_free(res);
        /* PROTOCOL.md s5: VERDICT for that context, then close. */
        send_verdict(ch, 0, &req.ctx, reason, NULL);
        return close_channel(ch, ret, reason, err);
    }
    char reason[ATTEX_ERROR_MESSAGE_SIZE];
    const attex_appraisal *ap = attex_attest_result_appraisal(res, 0, NULL);
    snprintf(reason, sizeof(reason), "attestation accepted (%s)",
             ap ? attex_verdict_name(ap->verdict) : "no appraisal");
    ret = send_verdict(ch, 1, &req.ctx, reason, err);
    if (ret != ATTEX_OK) {
        attex_attest_result_free(res);
        return close_channel(ch, ret, err->message, err);
    }
    attex_attest_result_free(ch->peer_result);
    ch->peer_result = res;
    int first = !ch->peer_accepted;
    ch->peer_accepted = 1;
    /* The interval runs from this acceptance; arming it here lets next_timer report it. */
    if (ch->cfg.reattest_interval_ms)
        ch->next_reattest = ch->now + ch->cfg.reattest_interval_ms;
    if (!push_event(ch, ATTEX_EVENT_PEER_ATTESTED, NULL, 0, ATTEX_OK, reason))
        return close_channel(ch, ATTEX_ERR_NO_MEMORY, "out of memory", err);
    if (first && ch->held.len > 0) {
        /* PROTOCOL.md s4: what the application wrote while the gate was closed leaves now. */
        ret = queue_data(ch, ch->held.data, ch->held.len, err);
        attex_buf_free(&ch->held);
        if (ret != ATTEX_OK)
            return close_channel(ch, ret, err->message, err);
    }
    return ATTEX_OK;
}

static int on_verdict(attex_channel *ch, const attex_frame *f, attex_error *err)
{
    attex_verdict_frame v;
    int ret = attex_frame_verdict_parse(f->payload, f->len, &v, err);
    if (ret != ATTEX_OK)
        return close_channel(ch, ret, err->message, err);
    size_t i;
    for (i = 0; i < ch->num_answered; i++)
        if (ch->answered[i].len == v.context_len &&
            memcmp(ch->answered[i].bytes, v.context, v.context_len) == 0)
            break;
    if (i == ch->num_answered)
        return close_channel(ch, ATTEX_ERR_UNEXPECTED_MESSAGE,
                             "the peer sent a VERDICT for a context we never answered", err);
    memmove(&ch->answered[i], &ch->answered[i + 1],
            (ch->num_answered - i - 1) * sizeof(*ch->answered));
    ch->num_answered--;
    char reason[600];
    snprintf(reason, sizeof(reason), "%.*s", (int)(v.reason_len < 500 ? v.reason_len : 500),
             v.reason_len ? v.reason : "");
    if (!v.accepted) {
        char why[700];
        snprintf(why, sizeof(why), "the peer rejected our attestation: %s",
                 reason[0] ? reason : "(no reason given)");
        return close_channel(ch, ATTEX_ERR_ATTESTATION, why, err);
    }
    ch->self_accepted = 1;
    if (!push_event(ch, ATTEX_EVENT_SELF_ACCEPTED, NULL, 0, ATTEX_OK, reason))
        return close_channel(ch, ATTEX_ERR_NO_MEMORY, "out of memory", err);
    return ATTEX_OK;
}

static int on_data(attex_channel *ch, const attex_frame *f, attex_error *err)
{
    /* PROTOCOL.md s5: DATA from a peer whose required attestation is not accepted yet is a
     * protocol error; nothing is delivered. */
    if (!gate_open(ch))
        return close_channel(ch, ATTEX_ERR_UNEXPECTED_MESSAGE,
                             "the peer sent application data before its attestation was accepted",
                             err);
    if (!push_event(ch, ATTEX_EVENT_DATA, f->payload, f->len, ATTEX_OK, NULL))
        return close_channel(ch, ATTEX_ERR_NO_MEMORY, "out of memory", err);
    return ATTEX_OK;
}

int attex_channel_receive(attex_channel *ch, const uint8_t *in, size_t len, uint64_t now_ms,
                          attex_error *err)
{
    attex_error local;
    if (err == NULL)
        err = &local;
    attex_error_clear(err);
    if (ch->closed)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "the channel is closed");
    if (!ch->started)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "start the channel before feeding it");
    ch->now = now_ms;
    int ret = attex_frame_decoder_feed(&ch->dec, in, len, err);
    if (ret != ATTEX_OK)
        return close_channel(ch, ret, err->message, err);
    attex_frame f;
    while (!ch->closed && (ret = attex_frame_decoder_next(&ch->dec, &f, err)) == 1) {
        switch (f.type) {
        case ATTEX_FRAME_REQUEST: ret = on_request(ch, &f, now_ms, err); break;
        case ATTEX_FRAME_AUTHENTICATOR: ret = on_authenticator(ch, &f, err); break;
        case ATTEX_FRAME_VERDICT: ret = on_verdict(ch, &f, err); break;
        default: ret = on_data(ch, &f, err); break;
        }
        if (ret != ATTEX_OK)
            return ret;
    }
    if (ret < 0)
        return close_channel(ch, ret, err->message, err);
    return ATTEX_OK;
}

int attex_channel_end(attex_channel *ch, attex_error *err)
{
    if (ch->closed)
        return ATTEX_OK;
    int ret = attex_frame_decoder_finish(&ch->dec, err);
    if (ret != ATTEX_OK)
        return close_channel(ch, ret, err ? err->message : "truncated frame", err);
    if (!gate_open(ch))
        return close_channel(ch, ATTEX_ERR_ATTESTATION,
                             "the peer closed the connection before its attestation was "
                             "accepted",
                             err);
    return close_channel(ch, ATTEX_OK, "the peer closed the connection", err);
}

/* ---------------------------------------------------------------------- */
/* The application and the driver                                        */

int attex_channel_send(attex_channel *ch, const uint8_t *data, size_t len, attex_error *err)
{
    if (ch->closed)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "the channel is closed");
    if (len == 0)
        return ATTEX_OK;
    if (gate_open(ch) && ch->started)
        return queue_data(ch, data, len, err);
    /* PROTOCOL.md s4: nothing is sent before the peer's required attestation is accepted. */
    if (len > ch->cfg.max_pending_send || ch->held.len > ch->cfg.max_pending_send - len)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the peer is not attested yet and %zu bytes already wait; try later",
                          ch->held.len);
    uint8_t *p = realloc(ch->held.data, ch->held.len + len);
    if (p == NULL)
        return NOMEM(err);
    memcpy(p + ch->held.len, data, len);
    ch->held.data = p;
    ch->held.len += len;
    return ATTEX_OK;
}

int attex_channel_reattest(attex_channel *ch, uint64_t now_ms, attex_error *err)
{
    if (ch->closed)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "the channel is closed");
    if (ch->policy.num_verifiers == 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "re-attestation needs a policy with at least one verifier");
    return send_request(ch, now_ms, err);
}

int attex_channel_authenticate_spontaneously(attex_channel *ch, attex_error *err)
{
    if (ch->closed)
        return attex_fail(err, ATTEX_ERR_TLS_STATE, ATTEX_ALERT_NONE, "the channel is closed");
    if (ch->cfg.identity == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "a spontaneous authenticator needs an identity");
    attex_ea_identity id = *ch->cfg.identity;
    id.extensions = NULL;
    id.num_extensions = 0;
    attex_buf auth = ATTEX_BUF_INIT;
    int ret = attex_ea_authenticator_create(ch->ea, NULL, 0, &id, &auth, err);
    if (ret == ATTEX_OK)
        ret = queue_frame(ch, ATTEX_FRAME_AUTHENTICATOR, auth.data, auth.len, err);
    attex_buf_free(&auth);
    return ret;
}

int attex_channel_tick(attex_channel *ch, uint64_t now_ms, attex_error *err)
{
    if (ch->closed || !ch->started)
        return ATTEX_OK;
    for (size_t i = 0; i < ch->num_reqs; i++)
        if (now_ms >= ch->reqs[i].deadline)
            return close_channel(ch, ATTEX_ERR_ATTESTATION,
                                 "the peer did not answer an attestation request before the "
                                 "deadline",
                                 err);
    if (ch->cfg.reattest_interval_ms && ch->peer_accepted && ch->num_reqs == 0) {
        if (ch->next_reattest == 0)
            ch->next_reattest = now_ms + ch->cfg.reattest_interval_ms;
        if (now_ms >= ch->next_reattest) {
            ch->next_reattest = now_ms + ch->cfg.reattest_interval_ms;
            return send_request(ch, now_ms, err);
        }
    }
    return ATTEX_OK;
}

uint64_t attex_channel_next_timer(const attex_channel *ch)
{
    uint64_t t = 0;
    if (ch->closed)
        return 0;
    for (size_t i = 0; i < ch->num_reqs; i++)
        if (t == 0 || ch->reqs[i].deadline < t)
            t = ch->reqs[i].deadline;
    if (ch->cfg.reattest_interval_ms && ch->peer_accepted && ch->num_reqs == 0 &&
        ch->next_reattest && (t == 0 || ch->next_reattest < t))
        t = ch->next_reattest;
    return t;
}

const uint8_t *attex_channel_output(const attex_channel *ch, size_t *len)
{
    *len = ch->out.len - ch->out_off;
    return *len ? ch->out.data + ch->out_off : NULL;
}

void attex_channel_consume_output(attex_channel *ch, size_t n)
{
    size_t pending = ch->out.len - ch->out_off;
    ch->out_off += n < pending ? n : pending;
    if (ch->out_off == ch->out.len) {
        attex_buf_free(&ch->out);
        ch->out_off = 0;
    }
}

int attex_channel_next_event(attex_channel *ch, attex_channel_event *ev)
{
    free_event(&ch->current);
    if (ch->head == ch->num_events)
        return 0;
    ch->current = ch->events[ch->head++];
    memset(ev, 0, sizeof(*ev));
    ev->type = ch->current.type;
    ev->data = ch->current.data;
    ev->len = ch->current.len;
    ev->code = ch->current.code;
    ev->reason = ch->current.reason;
    ev->result = ev->type == ATTEX_EVENT_PEER_ATTESTED ? ch->peer_result : NULL;
    return 1;
}

int attex_channel_is_closed(const attex_channel *ch) { return ch->closed; }

int attex_channel_peer_accepted(const attex_channel *ch) { return gate_open(ch); }

int attex_channel_self_accepted(const attex_channel *ch) { return ch->self_accepted; }

const attex_attest_result *attex_channel_peer_result(const attex_channel *ch)
{
    return ch->peer_result;
}

size_t attex_channel_awaiting_verdicts(const attex_channel *ch) { return ch->num_answered; }

int attex_channel_close_status(const attex_channel *ch, const char **reason)
{
    if (reason != NULL)
        *reason = ch->closed ? ch->close_reason : NULL;
    return ch->closed ? ch->close_code : ATTEX_OK;
}
