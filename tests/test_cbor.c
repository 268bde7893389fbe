/*
 * Unit tests for the CBOR helpers (src/cbor.h): the shortest-form writer,
 * the bounded pre-scan and cbor_load_exact. Expected bytes are worked out by
 * hand from RFC 8949 s3 (and its Appendix A examples).
 */
#include <stdlib.h>
#include <string.h>

#include "cbor_rw.h"
#include "internal.h"
#include "testutil.h"

/* ---- helpers -------------------------------------------------------------- */

/* unhex decodes hex (spaces ignored) into out; returns the length, or SIZE_MAX if malformed. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p == ' ')
            continue;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else
            return SIZE_MAX;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n == cap)
            return SIZE_MAX;
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    return hi < 0 ? n : SIZE_MAX;
}

/* wrote checks that w holds exactly `hex`, then empties w for the next case. */
static int wrote(attex_writer *w, const char *hex)
{
    uint8_t want[64];
    size_t n = unhex(hex, want, sizeof(want));
    int ok = n != SIZE_MAX && wr_ok(w) && w->len == n && memcmp(w->data, want, n) == 0;
    if (!ok) {
        fprintf(stderr, "  wrote %zu bytes:", w->len);
        for (size_t i = 0; i < w->len && i < 24; i++)
            fprintf(stderr, " %02x", w->data[i]);
        fprintf(stderr, "; want %s\n", hex);
    }
    wr_cleanup(w);
    wr_init(w, 1 << 20);
    return ok;
}

static uint8_t scan_buf[512];
static size_t scan_len;

/* scan scans hex under lim; the bytes stay in scan_buf / scan_len. */
static cbor_scan_status scan(const char *hex, const cbor_scan_limits *lim, cbor_scan_result *res)
{
    scan_len = unhex(hex, scan_buf, sizeof(scan_buf));
    if (scan_len == SIZE_MAX) {
        fprintf(stderr, "  bad test hex %s\n", hex);
        return (cbor_scan_status)-1;
    }
    return cbor_scan(scan_buf, scan_len, lim, res);
}

/* Anything well-formed, RFC 8949 s3 allows it. */
static const cbor_scan_limits any = {
    .max_depth = 16, .indefinite = 1, .tag_min = 0, .tag_max = UINT64_MAX, .utf8 = 1,
};
/* What sample evidence allows: definite lengths, no tags, plain simple values, depth 8. */
static const cbor_scan_limits strict = {
    .max_depth = 8, .tag_min = 1, .tag_max = 0, .utf8 = 1, .plain_simple = 1,
};

/* Tags 100..200 only. */
static const cbor_scan_limits tags = {.max_depth = 4, .tag_min = 100, .tag_max = 200};

/* ---- writer --------------------------------------------------------------- */

static void test_put_head(void)
{
    attex_writer w;
    wr_init(&w, 1 << 20);
    /* RFC 8949 s3: arguments below 24 live in the initial byte; then 1, 2, 4, 8 bytes. */
    static const struct {
        uint64_t v;
        const char *hex;
    } uints[] = {
        {0, "00"},
        {23, "17"},
        {24, "18 18"},
        {255, "18 ff"},
        {256, "19 0100"},
        {65535, "19 ffff"},
        {65536, "1a 00010000"},
        {0xffffffffu, "1a ffffffff"},
        {0x100000000u, "1b 0000000100000000"},
        {UINT64_MAX, "1b ffffffffffffffff"},
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(uints); i++) {
        cbor_put_head(&w, CBOR_MAJOR_UINT, uints[i].v);
        CHECK(wrote(&w, uints[i].hex));
    }
    /* The major type goes in the top three bits, whatever the argument's size. */
    cbor_put_head(&w, CBOR_MAJOR_ARRAY, 4);
    CHECK(wrote(&w, "84"));
    cbor_put_head(&w, CBOR_MAJOR_MAP, 0);
    CHECK(wrote(&w, "a0"));
    cbor_put_head(&w, CBOR_MAJOR_MAP, 256);
    CHECK(wrote(&w, "b9 0100"));
    cbor_put_head(&w, CBOR_MAJOR_TAG, 18); /* COSE_Sign1 */
    CHECK(wrote(&w, "d2"));
    cbor_put_head(&w, CBOR_MAJOR_TAG, 1668546817u); /* TN(0) */
    CHECK(wrote(&w, "da 63740101"));
    cbor_put_head(&w, CBOR_MAJOR_SIMPLE, 21); /* true */
    CHECK(wrote(&w, "f5"));
    cbor_put_head(&w, CBOR_MAJOR_BYTES, 0x100000000u);
    CHECK(wrote(&w, "5b 0000000100000000"));
    /* A writer over its limit fails, stickily. */
    attex_writer small;
    wr_init(&small, 4);
    cbor_put_head(&small, CBOR_MAJOR_UINT, UINT64_MAX);
    CHECK(!wr_ok(&small));
    wr_cleanup(&small);
    wr_cleanup(&w);
}

static void test_put_int(void)
{
    attex_writer w;
    wr_init(&w, 1 << 20);
    /* RFC 8949 s3.1: major type 1 carries -1 - n (Appendix A: -1 = 0x20, -100 = 0x3863). */
    static const struct {
        int64_t v;
        const char *hex;
    } ints[] = {
        {0, "00"},
        {10, "0a"},
        {24, "18 18"},
        {-1, "20"},
        {-24, "37"},
        {-25, "38 18"},
        {-100, "38 63"},
        {-256, "38 ff"},
        {-257, "39 0100"},
        {-65536, "39 ffff"},
        {-65537, "3a 00010000"},
        {-70001, "3a 00011170"},
        {-4294967296, "3a ffffffff"},
        {-4294967297, "3b 0000000100000000"},
        {INT64_MAX, "1b 7fffffffffffffff"},
        {INT64_MIN, "3b 7fffffffffffffff"},
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(ints); i++) {
        cbor_put_int(&w, ints[i].v);
        CHECK(wrote(&w, ints[i].hex));
    }
    wr_cleanup(&w);
}

static void test_put_strings(void)
{
    attex_writer w;
    wr_init(&w, 1 << 20);
    static const uint8_t b3[] = {1, 2, 3};
    cbor_put_bytes(&w, NULL, 0);
    CHECK(wrote(&w, "40"));
    cbor_put_bytes(&w, b3, sizeof(b3));
    CHECK(wrote(&w, "43 010203"));
    cbor_put_text(&w, "", 0);
    CHECK(wrote(&w, "60"));
    cbor_put_text(&w, "a/b", 3);
    CHECK(wrote(&w, "63 612f62"));
    cbor_put_text(&w, "\xc3\xbc", 2); /* Appendix A: "\u00fc" */
    CHECK(wrote(&w, "62 c3bc"));
    cbor_put_text(&w, "abcdefghijklmnopqrstuvwx", 24);
    CHECK(wrote(&w, "78 18 6162636465666768696a6b6c6d6e6f707172737475767778"));
    /* 256 bytes: a two-byte length, then exactly the bytes. */
    uint8_t big[256];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    cbor_put_bytes(&w, big, sizeof(big));
    CHECK(wr_ok(&w) && w.len == 3 + sizeof(big) && w.data[0] == 0x59 && w.data[1] == 0x01 &&
          w.data[2] == 0x00 && memcmp(w.data + 3, big, sizeof(big)) == 0);
    wr_cleanup(&w);
}

/* What the writer writes, the scanner and libcbor read back. */
static void test_round_trip(void)
{
    attex_writer w;
    wr_init(&w, 1 << 20);
    cbor_put_head(&w, CBOR_MAJOR_MAP, 3);
    cbor_put_int(&w, -70001);
    cbor_put_bytes(&w, (const uint8_t *)"xyz", 3);
    cbor_put_text(&w, "k", 1);
    cbor_put_head(&w, CBOR_MAJOR_ARRAY, 2);
    cbor_put_int(&w, 300);
    cbor_put_int(&w, -300);
    cbor_put_int(&w, 6);
    cbor_put_head(&w, CBOR_MAJOR_UINT, 1700000000);
    CHECK(wr_ok(&w));
    cbor_scan_result res;
    cbor_item_t *it = cbor_load_exact(w.data, w.len, &strict, &res);
    CHECK(it != NULL && res.status == CBOR_SCAN_OK && res.item_len == w.len);
    CHECK(it != NULL && cbor_isa_map(it) && cbor_map_size(it) == 3);
    if (it != NULL && cbor_isa_map(it) && cbor_map_size(it) == 3) {
        struct cbor_pair *p = cbor_map_handle(it);
        CHECK(cbor_isa_negint(p[0].key) && cbor_get_int(p[0].key) == 70000);
        CHECK(cbor_isa_bytestring(p[0].value) && cbor_bytestring_length(p[0].value) == 3 &&
              memcmp(cbor_bytestring_handle(p[0].value), "xyz", 3) == 0);
        CHECK(cbor_isa_string(p[1].key) && cbor_string_length(p[1].key) == 1);
        CHECK(cbor_isa_array(p[1].value) && cbor_array_size(p[1].value) == 2 &&
              cbor_get_int(cbor_array_handle(p[1].value)[0]) == 300 &&
              cbor_isa_negint(cbor_array_handle(p[1].value)[1]) &&
              cbor_get_int(cbor_array_handle(p[1].value)[1]) == 299);
        CHECK(cbor_isa_uint(p[2].value) && cbor_get_int(p[2].value) == 1700000000);
        cbor_decref(&it);
    }
    wr_cleanup(&w);
}

/* ---- scanner: accepted ----------------------------------------------------- */

static void test_scan_ok(void)
{
    static const char *const ok[] = {
        "00",                                   /* 0 */
        "1b ffffffffffffffff",                  /* 2^64 - 1 */
        "20",                                   /* -1 */
        "3b ffffffffffffffff",                  /* -2^64 */
        "40",                                   /* h'' */
        "43 010203",                            /* h'010203' */
        "60",                                   /* "" */
        "63 612f62",                            /* "a/b" */
        "64 f0908d88",                          /* U+10348, four bytes */
        "80",                                   /* [] */
        "83 01 02 03",                          /* [1, 2, 3] */
        "a0",                                   /* {} */
        "a2 01 02 03 04",                       /* {1: 2, 3: 4}: 2 pairs in 4 bytes */
        "c1 1a 514b67b0",                       /* 1(1363896240) */
        "d2 80",                                /* 18([]): a tag libcbor 0.8 cannot decode */
        "f4", "f5", "f6", "f7",                 /* false, true, null, undefined */
        "f0",                                   /* simple(16) */
        "f8 20",                                /* simple(32) */
        "f9 3c00", "fa 47c35000", "fb 3ff199999999999a", /* floats */
        "5f 42 0102 41 03 ff",                  /* (_ h'0102', h'03') */
        "7f 61 61 60 ff",                       /* (_ "a", "") */
        "5f ff",                                /* (_ ) */
        "9f 01 82 02 03 9f ff ff",              /* [_ 1, [2, 3], [_ ]] */
        "bf 61 61 01 61 62 9f ff ff",           /* {_ "a": 1, "b": [_ ]} */
        "82 81 01 a1 61 61 a1 01 80",           /* [[1], {"a": {1: []}}] */
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(ok); i++) {
        cbor_scan_result res;
        cbor_scan_status st = scan(ok[i], &any, &res);
        CHECK(st == CBOR_SCAN_OK && res.status == CBOR_SCAN_OK && res.item_len == scan_len);
        if (st != CBOR_SCAN_OK)
            fprintf(stderr, "  %s: status %d at offset %zu\n", ok[i], (int)st, res.offset);
    }
    cbor_scan_result res;
    /* Text need not be UTF-8 when the limits say so. */
    cbor_scan_limits raw = any;
    raw.utf8 = 0;
    CHECK(scan("62 c328", &raw, &res) == CBOR_SCAN_OK);
    /* A tag range includes both ends. */
    CHECK(scan("d8 64 00", &tags, &res) == CBOR_SCAN_OK);
    CHECK(scan("81 d8 c8 00", &tags, &res) == CBOR_SCAN_OK);
    /* Trailing bytes, when allowed: the item's length says where it ends. */
    cbor_scan_limits rest = any;
    rest.trailing = 1;
    CHECK(scan("82 01 02 03 04", &rest, &res) == CBOR_SCAN_OK && res.item_len == 3);
    CHECK(strcmp(cbor_major_name(CBOR_MAJOR_MAP), "map") == 0);
    CHECK(strcmp(cbor_major_name(CBOR_MAJOR_BYTES), "byte string") == 0);
}

/* ---- scanner: refused ------------------------------------------------------ */

typedef struct reject_case {
    const char *name;
    const char *hex;
    const cbor_scan_limits *lim;
    cbor_scan_status want;
    size_t offset;
} reject_case;

static void test_scan_reject(void)
{
    static const cbor_scan_limits depth3 = {.max_depth = 3, .indefinite = 1, .tag_max = UINT64_MAX};
    static const cbor_scan_limits depth0 = {.max_depth = 0, .tag_max = UINT64_MAX};
    static const reject_case cases[] = {
        {"empty input", "", &any, CBOR_SCAN_END, 0},
        {"array ends early", "82 81 01", &any, CBOR_SCAN_END, 3},
        {"indefinite array never ends", "9f 01", &any, CBOR_SCAN_END, 2},
        {"truncated 1-byte argument", "18", &any, CBOR_SCAN_HEAD, 0},
        {"truncated 2-byte argument", "82 01 19 01", &any, CBOR_SCAN_HEAD, 2},
        {"truncated 4-byte argument", "1a 000000", &any, CBOR_SCAN_HEAD, 0},
        {"truncated 8-byte argument", "3b 00000000000000", &any, CBOR_SCAN_HEAD, 0},
        {"truncated string length", "58", &any, CBOR_SCAN_HEAD, 0},
        {"reserved ai 28", "1c", &any, CBOR_SCAN_RESERVED, 0},
        {"reserved ai 29", "81 3d", &any, CBOR_SCAN_RESERVED, 1},
        {"reserved ai 30", "fe", &any, CBOR_SCAN_RESERVED, 0},
        {"string longer than the input", "43 0102", &any, CBOR_SCAN_STRING_LENGTH, 0},
        {"text longer than the input", "81 62 61", &any, CBOR_SCAN_STRING_LENGTH, 1},
        {"2^64-1 byte string", "5b ffffffffffffffff 00", &any, CBOR_SCAN_STRING_LENGTH, 0},
        {"array count beyond the bytes", "84 01 02 03", &any, CBOR_SCAN_COUNT, 0},
        {"map pairs beyond the bytes", "a2 01 02 03", &any, CBOR_SCAN_COUNT, 0},
        {"32 GiB array in 10 bytes", "9b 0000000100000000 00", &any, CBOR_SCAN_COUNT, 0},
        {"nested count beyond the bytes", "81 9a ffffffff", &any, CBOR_SCAN_COUNT, 1},
        {"four arrays, limit 3", "81 81 81 81 01", &depth3, CBOR_SCAN_DEPTH, 3},
        {"empty array counts as a level", "81 81 81 80", &depth3, CBOR_SCAN_DEPTH, 3},
        {"empty map counts as a level", "a1 01 81 81 a0", &depth3, CBOR_SCAN_DEPTH, 4},
        {"tags count as levels", "c1 c1 c1 c1 01", &depth3, CBOR_SCAN_DEPTH, 3},
        {"indefinite strings count", "81 81 81 5f ff", &depth3, CBOR_SCAN_DEPTH, 3},
        {"no containers at depth 0", "80", &depth0, CBOR_SCAN_DEPTH, 0},
        {"sample: nine arrays", "81 81 81 81 81 81 81 81 81 00", &strict, CBOR_SCAN_DEPTH, 8},
        {"indefinite array refused", "81 9f ff", &strict, CBOR_SCAN_INDEF, 1},
        {"indefinite map refused", "bf ff", &strict, CBOR_SCAN_INDEF, 0},
        {"indefinite bytes refused", "5f 41 00 ff", &strict, CBOR_SCAN_INDEF, 0},
        {"indefinite unsigned", "1f", &any, CBOR_SCAN_INDEF_MAJOR, 0},
        {"indefinite negative", "82 01 3f", &any, CBOR_SCAN_INDEF_MAJOR, 2},
        {"indefinite tag", "df 01", &any, CBOR_SCAN_INDEF_MAJOR, 0},
        {"bare break", "ff", &any, CBOR_SCAN_BREAK, 0},
        {"break in a definite array", "82 01 ff", &any, CBOR_SCAN_BREAK, 2},
        {"break after an indefinite array", "82 9f ff ff", &any, CBOR_SCAN_BREAK, 3},
        {"break, indefinite refused", "ff", &strict, CBOR_SCAN_BREAK, 0},
        {"text chunk in a byte string", "5f 61 61 ff", &any, CBOR_SCAN_CHUNK, 1},
        {"integer chunk", "7f 01 ff", &any, CBOR_SCAN_CHUNK, 1},
        {"indefinite chunk", "7f 7f ff ff", &any, CBOR_SCAN_CHUNK, 1},
        {"bad UTF-8", "62 c328", &any, CBOR_SCAN_UTF8, 0},
        {"UTF-8 surrogate", "82 00 63 eda080", &any, CBOR_SCAN_UTF8, 2},
        {"overlong UTF-8", "62 c0af", &strict, CBOR_SCAN_UTF8, 0},
        {"UTF-8 split across chunks", "7f 61 c3 61 a9 ff", &any, CBOR_SCAN_UTF8, 1},
        {"tag refused", "d2 80", &strict, CBOR_SCAN_TAG, 0},
        {"tag below the range", "d8 63 00", &tags, CBOR_SCAN_TAG, 0},
        {"tag above the range", "81 d8 c9 00", &tags, CBOR_SCAN_TAG, 1},
        {"two-byte simple 0", "f8 00", &any, CBOR_SCAN_SIMPLE_FORM, 0},
        {"two-byte simple 31", "81 f8 1f", &any, CBOR_SCAN_SIMPLE_FORM, 1},
        {"simple 16, plain only", "f0", &strict, CBOR_SCAN_SIMPLE, 0},
        {"simple 32, plain only", "f8 20", &strict, CBOR_SCAN_SIMPLE, 0},
        {"trailing byte", "01 02", &any, CBOR_SCAN_TRAILING, 1},
        {"trailing after an array", "82 01 02 00 00", &strict, CBOR_SCAN_TRAILING, 3},
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(cases); i++) {
        const reject_case *c = &cases[i];
        cbor_scan_result res;
        cbor_scan_status st = scan(c->hex, c->lim, &res);
        CHECK(st == c->want && res.status == c->want && res.offset == c->offset);
        if (st != c->want || res.offset != c->offset)
            fprintf(stderr, "  %s: status %d at %zu, want %d at %zu\n", c->name, (int)st,
                    res.offset, (int)c->want, c->offset);
    }
}

/* The facts a caller words its message from. */
static void test_scan_details(void)
{
    cbor_scan_result res;
    CHECK(scan("82 00 43 0102", &any, &res) == CBOR_SCAN_STRING_LENGTH && res.major == 2 &&
          res.value == 3 && res.remaining == 2 && res.byte == 0x43);
    CHECK(scan("a3 01 02 03 04", &any, &res) == CBOR_SCAN_COUNT && res.major == 5 &&
          res.value == 3 && res.remaining == 4);
    CHECK(scan("82 00 64 6161 c328", &any, &res) == CBOR_SCAN_UTF8 && res.utf8_at == 2);
    CHECK(scan("1d", &any, &res) == CBOR_SCAN_RESERVED && res.byte == 0x1d);
    CHECK(scan("5f 7f ff", &any, &res) == CBOR_SCAN_CHUNK && res.outer == 2 && res.major == 3 &&
          res.indefinite);
    CHECK(scan("da 63740100 40", &strict, &res) == CBOR_SCAN_TAG && res.value == 1668546816u);
    CHECK(scan("f8 18", &any, &res) == CBOR_SCAN_SIMPLE_FORM && res.value == 24);
    CHECK(scan("83 01 02 03 04 05", &any, &res) == CBOR_SCAN_TRAILING && res.item_len == 4);
    CHECK(scan("82 81 01", &any, &res) == CBOR_SCAN_END && res.offset == scan_len);

    /* Far too deep: a fixed stack, no recursion, stops at the limit. */
    static uint8_t deep[100000];
    memset(deep, 0x81, sizeof(deep));
    CHECK(cbor_scan(deep, sizeof(deep), &any, &res) == CBOR_SCAN_DEPTH && res.offset == 16);
    /* A limit above the stack counts as the stack's size. */
    cbor_scan_limits huge = any;
    huge.max_depth = 100000;
    CHECK(cbor_scan(deep, sizeof(deep), &huge, &res) == CBOR_SCAN_DEPTH &&
          res.offset == CBOR_SCAN_MAX_DEPTH);
    memset(deep, 0x9f, sizeof(deep));
    CHECK(cbor_scan(deep, sizeof(deep), &any, &res) == CBOR_SCAN_DEPTH && res.offset == 16);
    /* Exactly at the limit is fine. */
    uint8_t at16[17];
    memset(at16, 0x81, 16);
    at16[16] = 0x00;
    CHECK(cbor_scan(at16, sizeof(at16), &any, &res) == CBOR_SCAN_OK && res.item_len == 17);
}

static void test_utf8(void)
{
    static const struct {
        const char *hex;
        size_t want;
    } cases[] = {
        {"", 0},
        {"616263", 3},
        {"00", 1},              /* NUL is UTF-8 */
        {"c280", 2},            /* U+0080 */
        {"f48fbfbf", 4},        /* U+10FFFF */
        {"61 c3", 1},           /* truncated */
        {"80", 0},              /* lone continuation byte */
        {"c1bf", 0},            /* overlong two-byte */
        {"e08080", 0},          /* overlong three-byte */
        {"f08fbfbf", 0},        /* overlong four-byte */
        {"6162 eda080", 2},     /* surrogate U+D800 */
        {"f4908080", 0},        /* above U+10FFFF */
        {"f5808080", 0},        /* lead byte never used */
        {"e2 82 28", 0},        /* bad continuation */
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(cases); i++) {
        uint8_t b[16];
        size_t n = unhex(cases[i].hex, b, sizeof(b));
        CHECK(n != SIZE_MAX && bytes_utf8_invalid_at(b, n) == cases[i].want);
    }
}

/* ---- cbor_load_exact ------------------------------------------------------- */

static void test_load_exact(void)
{
    cbor_scan_result res;
    uint8_t b[32];
    size_t n = unhex("83 01 20 63 612f62", b, sizeof(b));
    cbor_item_t *it = cbor_load_exact(b, n, &strict, &res);
    CHECK(it != NULL && res.status == CBOR_SCAN_OK);
    if (it != NULL) {
        CHECK(cbor_isa_array(it) && cbor_array_size(it) == 3 &&
              cbor_isa_negint(cbor_array_handle(it)[1]) &&
              cbor_isa_string(cbor_array_handle(it)[2]));
        cbor_decref(&it);
    }
    /* Trailing bytes: refused, even when the limits allow them to cbor_scan. */
    n = unhex("83 01 02 03 04", b, sizeof(b));
    it = cbor_load_exact(b, n, &strict, &res);
    CHECK(it == NULL && res.status == CBOR_SCAN_TRAILING && res.item_len == 4);
    cbor_scan_limits rest = strict;
    rest.trailing = 1;
    it = cbor_load_exact(b, n, &rest, &res);
    CHECK(it == NULL && res.status == CBOR_SCAN_TRAILING);
    if (it != NULL)
        cbor_decref(&it);
    /* A scan failure stops before libcbor: the 32 GiB array is never allocated. */
    n = unhex("9b 0000000100000000 00", b, sizeof(b));
    it = cbor_load_exact(b, n, &any, &res);
    CHECK(it == NULL && res.status == CBOR_SCAN_COUNT);
    n = unhex("d2 80", b, sizeof(b));
    it = cbor_load_exact(b, n, &strict, &res);
    CHECK(it == NULL && res.status == CBOR_SCAN_TAG);
    /*
     * With the tag allowed, libcbor has the last word: 0.8 cannot decode
     * one-byte tag 18 (which cbor_load_exact reports), later versions can.
     */
    it = cbor_load_exact(b, n, &any, &res);
    if (it == NULL) {
        CHECK(res.status == CBOR_SCAN_LIBCBOR && res.libcbor_error != 0);
    } else {
        CHECK(cbor_isa_tag(it) && cbor_tag_value(it) == 18);
        cbor_decref(&it);
    }
}

int main(void)
{
    test_put_head();
    test_put_int();
    test_put_strings();
    test_round_trip();
    test_scan_ok();
    test_scan_reject();
    test_scan_details();
    test_utf8();
    test_load_exact();
    return tu_finish("test_cbor");
}
