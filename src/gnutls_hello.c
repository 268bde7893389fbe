/*
 * attex: the ClientHello signature_algorithms reader of the GnuTLS adapter.
 */
#include <string.h>

#include "bytes.h"
#include "gnutls_hello.h"
#include "internal.h"

#define EXT_SIGNATURE_ALGORITHMS 13

static int bad(attex_error *err, const char *what)
{
    return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR,
                      "the ClientHello is malformed: %s", what);
}

/* RFC 8446 s4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>. */
static int parse_sigalgs(attex_reader *body, uint16_t *out, size_t max, size_t *num,
                         attex_error *err)
{
    attex_reader list;
    if (!rd_prefixed16(body, &list) || !rd_done(body))
        return bad(err, "the signature_algorithms extension's length does not match its list");
    if (rd_len(&list) < 2 || rd_len(&list) % 2 != 0)
        return bad(err, "signature_algorithms must list at least one 2-byte scheme");
    *num = 0;
    while (rd_len(&list) > 0) {
        uint16_t scheme;
        if (!rd_u16(&list, &scheme))
            return bad(err, "a signature scheme is truncated");
        /* Remember the client's first preferences; the rest still must parse. */
        if (*num < max)
            out[(*num)++] = scheme;
    }
    return ATTEX_OK;
}

static int parse_hello(const uint8_t *msg, size_t len, uint16_t *out, size_t max, size_t *num,
                       int *found, attex_error *err)
{
    attex_reader r, sid, suites, comp, exts;
    uint16_t legacy_version;
    /* One bit per extension type: RFC 8446 s4.2 forbids a type twice in one block. */
    uint8_t seen[65536 / 8];
    *num = 0;
    *found = 0;
    rd_init(&r, msg, len);
    /* RFC 8446 s4.1.2: legacy_version, random, legacy_session_id<0..32>,
     * cipher_suites<2..2^16-2>, legacy_compression_methods<1..2^8-1>, extensions. */
    if (!rd_u16(&r, &legacy_version) || !rd_skip(&r, 32))
        return bad(err, "it ends before its random");
    if (!rd_prefixed8(&r, &sid) || rd_len(&sid) > 32)
        return bad(err, "legacy_session_id is truncated or longer than 32 bytes");
    if (!rd_prefixed16(&r, &suites) || rd_len(&suites) < 2 || rd_len(&suites) % 2 != 0)
        return bad(err, "cipher_suites is truncated, empty or of odd length");
    if (!rd_prefixed8(&r, &comp) || rd_len(&comp) < 1)
        return bad(err, "legacy_compression_methods is truncated or empty");
    if (rd_done(&r))
        return ATTEX_OK; /* RFC 5246 s7.4.1.2: a (pre-1.3) hello may carry no extensions */
    if (!rd_prefixed16(&r, &exts) || !rd_done(&r))
        return bad(err, "the extensions block's length does not match the message");
    memset(seen, 0, sizeof(seen));
    while (rd_len(&exts) > 0) {
        uint16_t type;
        attex_reader body;
        if (!rd_u16(&exts, &type) || !rd_prefixed16(&exts, &body))
            return bad(err, "an extension is truncated");
        if (seen[type / 8] & (1u << (type % 8)))
            return attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                              "the ClientHello carries extension %u twice (RFC 8446 s4.2)",
                              (unsigned)type);
        seen[type / 8] |= (uint8_t)(1u << (type % 8));
        if (type == EXT_SIGNATURE_ALGORITHMS) {
            int ret = parse_sigalgs(&body, out, max, num, err);
            if (ret != ATTEX_OK)
                return ret;
            *found = 1;
        }
    }
    return ATTEX_OK;
}

int hello_parse_sigalgs(const uint8_t *msg, size_t len, uint16_t *out, size_t max, size_t *num,
                        int *found, attex_error *err)
{
    int ret = parse_hello(msg, len, out, max, num, found, err);
    if (ret != ATTEX_OK) {
        /* Nothing from a hello that failed to parse is used. */
        *num = 0;
        *found = 0;
    }
    return ret;
}
