/*
 * Unit tests for the RFC 9261 message codecs: encode, then decode, and
 * check every field; plus the handshake framing of authenticators.
 */
#include <string.h>

#include "ea_msg.h"
#include "testutil.h"

static void test_request_roundtrip(void)
{
    static const uint8_t ctx[] = {0xde, 0xad, 0xbe, 0xef};
    static const uint16_t schemes[] = {0x0403, 0x0807, 0x0804};
    static const uint8_t sni[] = {0, 5, 0, 0, 2, 'h', 'i'};
    attex_extension exts[2] = {{0xFF00, NULL, 0}, {0, sni, sizeof(sni)}};
    attex_writer w;
    attex_buf b = ATTEX_BUF_INIT;
    wr_init(&w, 1 << 20);
    ea_encode_request(&w, ATTEX_HS_CLIENT_CERTIFICATE_REQUEST, ctx, sizeof(ctx), schemes, 3,
                      exts, 2);
    CHECK(wr_finish(&w, &b));
    /* 17, len, ctx(1+4), exts len(2) + sigalgs(4+2+6) + ff00(4) + sni(4+7) */
    CHECK(b.len == 4 + 5 + 2 + 12 + 4 + 11);
    CHECK(b.data[0] == 17 && b.data[3] == b.len - 4);
    attex_ea_request *r = NULL;
    attex_error err;
    CHECK_RC(attex_ea_request_parse(b.data, b.len, &r, &err), ATTEX_OK, &err);
    if (r != NULL) {
        size_t n;
        const uint8_t *c = attex_ea_request_context(r, &n);
        CHECK(n == 4 && memcmp(c, ctx, 4) == 0);
        const uint16_t *s = attex_ea_request_schemes(r, &n);
        CHECK(n == 3 && s[0] == 0x0403 && s[1] == 0x0807 && s[2] == 0x0804);
        CHECK(attex_ea_request_num_extensions(r) == 3);
        CHECK(attex_ea_request_extension(r, 0).type == ATTEX_EXT_SIGNATURE_ALGORITHMS);
        CHECK(attex_ea_request_extension(r, 1).type == 0xFF00 &&
              attex_ea_request_extension(r, 1).len == 0);
        attex_extension e;
        CHECK(attex_ea_request_find_extension(r, 0, &e) && e.len == sizeof(sni) &&
              memcmp(e.data, sni, sizeof(sni)) == 0);
        CHECK(!attex_ea_request_find_extension(r, 5, &e));
        CHECK(attex_ea_request_extension(r, 99).data == NULL);
        const uint8_t *raw = attex_ea_request_bytes(r, &n);
        CHECK(n == b.len && memcmp(raw, b.data, n) == 0);
    }
    attex_ea_request_free(r);
    uint8_t got[ATTEX_EA_MAX_CONTEXT];
    size_t got_len;
    CHECK_RC(attex_ea_get_context(b.data, b.len, got, &got_len, &err), ATTEX_OK, &err);
    CHECK(got_len == 4 && memcmp(got, ctx, 4) == 0);
    attex_buf_free(&b);
}

static void test_authenticator_framing(void)
{
    static const uint8_t ctx[] = {7};
    static const uint8_t c1[] = {0x30, 0x00}, c2[] = {0x30, 0x01, 0x00};
    attex_buf certs[2] = {{(uint8_t *)(uintptr_t)c1, 2}, {(uint8_t *)(uintptr_t)c2, 3}};
    static const uint8_t pl[] = {0x00, 0x01, 0x99};
    attex_extension ext = {0xFF00, pl, sizeof(pl)};
    uint8_t sig[5] = {1, 2, 3, 4, 5}, fin[48];
    memset(fin, 0xf1, sizeof(fin));
    attex_writer w;
    attex_buf b = ATTEX_BUF_INIT;
    wr_init(&w, 1 << 20);
    ea_encode_certificate(&w, ctx, 1, certs, 2, &ext, 1);
    ea_encode_certificate_verify(&w, 0x0807, sig, sizeof(sig));
    ea_encode_finished(&w, fin, 32);
    CHECK(wr_finish(&w, &b));
    ea_auth_msgs m;
    attex_error err;
    CHECK_RC(ea_decode_authenticator(b.data, b.len, 32, &m, &err), ATTEX_OK, &err);
    CHECK(!m.empty && m.num_entries == 2 && m.scheme == 0x0807);
    CHECK(rd_len(&m.context) == 1 && rd_ptr(&m.context)[0] == 7);
    CHECK(rd_len(&m.entries[0].cert_der) == 2 && rd_len(&m.entries[1].cert_der) == 3);
    CHECK(m.entries[0].exts.num == 1 && m.entries[1].exts.num == 0);
    CHECK(m.entries[0].exts.items[0].len == sizeof(pl));
    CHECK(rd_len(&m.signature) == 5 && rd_len(&m.finished) == 32);
    CHECK(rd_len(&m.certificate) + rd_len(&m.certificate_verify) + 4 + 32 == b.len);
    ea_auth_msgs_free(&m);
    /* The same bytes under SHA-384 have a Finished of the wrong size. */
    CHECK_RC(ea_decode_authenticator(b.data, b.len, 48, &m, &err), ATTEX_ERR_DECODE, &err);
    uint8_t got[ATTEX_EA_MAX_CONTEXT];
    size_t got_len;
    CHECK_RC(attex_ea_get_context(b.data, b.len, got, &got_len, &err), ATTEX_OK, &err);
    CHECK(got_len == 1 && got[0] == 7);
    attex_buf_free(&b);

    /* Empty authenticator. */
    wr_init(&w, 1 << 20);
    ea_encode_finished(&w, fin, 48);
    CHECK(wr_finish(&w, &b));
    CHECK_RC(ea_decode_authenticator(b.data, b.len, 48, &m, &err), ATTEX_OK, &err);
    CHECK(m.empty && rd_len(&m.finished) == 48);
    ea_auth_msgs_free(&m);
    attex_buf_free(&b);

    /* A CertificateEntry with an empty certificate is malformed (RFC 8446 s4.4.2). */
    attex_buf empty_cert = {(uint8_t *)(uintptr_t)c1, 0};
    wr_init(&w, 1 << 20);
    ea_encode_certificate(&w, ctx, 1, &empty_cert, 1, NULL, 0);
    ea_encode_certificate_verify(&w, 0x0807, sig, sizeof(sig));
    ea_encode_finished(&w, fin, 32);
    CHECK(wr_finish(&w, &b));
    CHECK_RC(ea_decode_authenticator(b.data, b.len, 32, &m, &err), ATTEX_ERR_DECODE, &err);
    attex_buf_free(&b);
}

int main(void)
{
    test_request_roundtrip();
    test_authenticator_framing();
    return tu_finish("test_ea_msg");
}
