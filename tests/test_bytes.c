/*
 * Unit tests for the byte reader and writer.
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "bytes.h"
#include "testutil.h"

static void test_reader(void)
{
    static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    attex_reader r, sub;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    rd_init(&r, in, sizeof(in));
    CHECK(rd_u8(&r, &u8) && u8 == 0x01);
    CHECK(rd_u16(&r, &u16) && u16 == 0x0203);
    CHECK(rd_u24(&r, &u32) && u32 == 0x040506);
    CHECK(!rd_u16(&r, &u16));        /* one byte left */
    CHECK(rd_len(&r) == 1);          /* a failed read consumes nothing */
    CHECK(!rd_done(&r));
    CHECK(rd_u8(&r, &u8) && u8 == 0x07 && rd_done(&r));
    CHECK(!rd_u8(&r, &u8));

    rd_init(&r, in, sizeof(in));
    CHECK(rd_u32(&r, &u32) && u32 == 0x01020304);

    /* Both byte orders, 64-bit reads, and no partial read at the end. */
    static const uint8_t le[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    uint64_t u64;
    rd_init(&r, le, sizeof(le));
    CHECK(rd_u16le(&r, &u16) && u16 == 0x0201);
    CHECK(rd_u32le(&r, &u32) && u32 == 0x06050403);
    CHECK(!rd_u64le(&r, &u64) && rd_len(&r) == 3);
    rd_init(&r, le, sizeof(le));
    CHECK(rd_u64le(&r, &u64) && u64 == 0x0807060504030201ull);
    rd_init(&r, le, sizeof(le));
    CHECK(rd_u64(&r, &u64) && u64 == 0x0102030405060708ull && rd_len(&r) == 1);

    /* Length-prefixed sub-readers stay inside their prefix. */
    static const uint8_t pre[] = {0x02, 0xaa, 0xbb, 0xcc};
    rd_init(&r, pre, sizeof(pre));
    CHECK(rd_prefixed8(&r, &sub) && rd_len(&sub) == 2 && rd_len(&r) == 1);
    CHECK(rd_u16(&sub, &u16) && u16 == 0xaabb && rd_done(&sub) && !rd_u8(&sub, &u8));
    static const uint8_t over[] = {0x00, 0x05, 0xaa};
    rd_init(&r, over, sizeof(over));
    CHECK(!rd_prefixed16(&r, &sub) && rd_len(&r) == 3); /* unchanged on failure */
    static const uint8_t p24[] = {0x00, 0x00, 0x01, 0x42};
    rd_init(&r, p24, sizeof(p24));
    CHECK(rd_prefixed24(&r, &sub) && rd_len(&sub) == 1 && rd_done(&r));
    uint8_t two[2];
    rd_init(&r, in, 1);
    CHECK(!rd_copy(&r, two, 2) && !rd_skip(&r, 2) && rd_skip(&r, 1) && rd_done(&r));
    rd_init(&r, NULL, 0);
    CHECK(rd_done(&r) && !rd_peek_u8(&r, &u8));
    rd_init(&r, in, sizeof(in));
    CHECK(rd_peek_u8(&r, &u8) && u8 == 1 && rd_len(&r) == sizeof(in));
}

static void test_writer(void)
{
    attex_writer w;
    attex_buf out = ATTEX_BUF_INIT;
    wr_init(&w, 1 << 20);
    wr_u8(&w, 0x01);
    wr_u16(&w, 0x0203);
    wr_u24(&w, 0x040506);
    wr_u32(&w, 0x0708090a);
    attex_wr_mark m = wr_open(&w, 2);
    wr_bytes(&w, (const uint8_t *)"abc", 3);
    wr_close(&w, m);
    CHECK(wr_finish(&w, &out));
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 3, 'a', 'b', 'c'};
    CHECK(out.len == sizeof(want) && memcmp(out.data, want, sizeof(want)) == 0);
    attex_buf_free(&out);
    CHECK(out.data == NULL && out.len == 0);

    /* Growth past the initial capacity. */
    wr_init(&w, 1 << 20);
    uint8_t big[1000];
    memset(big, 0x5a, sizeof(big));
    for (int i = 0; i < 10; i++)
        wr_bytes(&w, big, sizeof(big));
    CHECK(wr_finish(&w, &out) && out.len == 10000 && out.data[9999] == 0x5a);
    attex_buf_free(&out);

    /* A body too long for its prefix fails, and the failure sticks. */
    wr_init(&w, 1 << 20);
    m = wr_open(&w, 1);
    uint8_t b256[256] = {0};
    wr_bytes(&w, b256, sizeof(b256));
    wr_close(&w, m);
    CHECK(!wr_ok(&w));
    wr_u8(&w, 1);
    CHECK(!wr_finish(&w, &out) && out.data == NULL);

    /* The hard maximum. */
    wr_init(&w, 4);
    wr_u32(&w, 1);
    CHECK(wr_ok(&w));
    wr_u8(&w, 1);
    CHECK(!wr_ok(&w));
    wr_cleanup(&w);

    /* u24 values above 2^24-1 fail. */
    wr_init(&w, 16);
    wr_u24(&w, 0x1000000);
    CHECK(!wr_ok(&w));
    wr_cleanup(&w);
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } t[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"\xc3\xa9", 2, 1},              /* U+00E9 */
        {"\xe2\x82\xac", 3, 1},          /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, 1},      /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},      /* U+10FFFF */
        {"\xc3", 1, 0},                  /* truncated */
        {"\xc0\xaf", 2, 0},              /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},          /* overlong */
        {"\xed\xa0\x80", 3, 0},          /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},      /* above U+10FFFF */
        {"\x80", 1, 0},                  /* lone continuation */
        {"\xff", 1, 0},                  /* never valid */
        {"\xe2\x28\xa1", 3, 0},          /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        CHECK(bytes_utf8_valid((const uint8_t *)t[i].s, t[i].n) == t[i].ok);
}

/* RFC 4648 s10 test vectors, both alphabets, every tail length; then the strict decoder. */
static void test_b64(void)
{
    static const struct {
        const char *in, *std, *url;
    } v[] = {{"", "", ""},
             {"f", "Zg==", "Zg"},
             {"fo", "Zm8=", "Zm8"},
             {"foo", "Zm9v", "Zm9v"},
             {"foob", "Zm9vYg==", "Zm9vYg"},
             {"fooba", "Zm9vYmE=", "Zm9vYmE"},
             {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
             {"\xfb\xff", "+/8=", "-_8"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i].in);
        char *e = b64_encode((const uint8_t *)v[i].in, n, 0), *u = b64_encode((const uint8_t *)v[i].in, n, 1);
        CHECK(e != NULL && strcmp(e, v[i].std) == 0);
        CHECK(u != NULL && strcmp(u, v[i].url) == 0);
        uint8_t *d = NULL;
        size_t dl = 0;
        char why[B64_WHY_SIZE];
        CHECK(b64url_decode(u, strlen(u), 0, 16, &d, &dl, why, sizeof(why)) && dl == n &&
              memcmp(d, v[i].in, n) == 0);
        free(d);
        free(e);
        free(u);
    }
    char why[B64_WHY_SIZE];
    uint8_t out[8];
    size_t n;
    CHECK(!b64url_decode_to("Zg==", 4, 0, out, sizeof(out), &n, why, sizeof(why)) &&
          strstr(why, "padding") != NULL);
    CHECK(b64url_decode_to("Zg==", 4, 1, out, sizeof(out), &n, why, sizeof(why)) && n == 1);
    CHECK(!b64url_decode_to("Zg=", 3, 1, out, sizeof(out), &n, why, sizeof(why)));
    CHECK(!b64url_decode_to("Z=g=", 4, 1, out, sizeof(out), &n, why, sizeof(why)) &&
          strstr(why, "before the end") != NULL);
    CHECK(!b64url_decode_to("Zm+v", 4, 0, out, sizeof(out), &n, why, sizeof(why)) &&
          strstr(why, "standard base64") != NULL);
    CHECK(!b64url_decode_to("Zm9vY", 5, 0, out, sizeof(out), &n, why, sizeof(why)) &&
          strstr(why, "4n+1") != NULL);
    CHECK(!b64url_decode_to("Zh", 2, 0, out, sizeof(out), &n, why, sizeof(why)) &&
          strstr(why, "non-canonical") != NULL);
    CHECK(!b64url_decode_to("Zm9v\n", 5, 0, out, sizeof(out), &n, why, sizeof(why)) &&
          strstr(why, "0x0a") != NULL);
    CHECK(!b64url_decode_to("Zm9vYmFy", 8, 0, out, 5, &n, why, sizeof(why)) &&
          strstr(why, "at most 5") != NULL);
    CHECK(b64url_is_char('-') && b64url_is_char('_') && !b64url_is_char('+') &&
          !b64url_is_char('='));
}

int main(void)
{
    test_b64();
    test_utf8();
    test_reader();
    test_writer();
    return tu_finish("test_bytes");
}
