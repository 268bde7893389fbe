/*
 * CMW codec (RFC 9999): TN(), the RFC's own examples, the shared sample files
 * (tests/vectors/cmw/), round trips in both formats and across them, one
 * rejection per rule with its status code, the builders' argument checks,
 * and the limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmw_internal.h"
#include "testutil.h"

/* ---- helpers ----------------------------------------------------------------- */

/* hex decodes `h`, ignoring spaces (the test spells CBOR item by item). */
static attex_buf hex(const char *h)
{
    attex_buf b = ATTEX_BUF_INIT;
    size_t n = strlen(h), o = 0;
    char *tight = malloc(n + 1);
    if (tight == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        if (h[i] != ' ')
            tight[o++] = h[i];
    tight[o] = '\0';
    if (!tu_hex(tight, &b)) {
        fprintf(stderr, "bad hex in test: %s\n", h);
        abort();
    }
    free(tight);
    return b;
}

static attex_buf read_vector(const char *name)
{
    char rel[256];
    attex_buf b = ATTEX_BUF_INIT;
    snprintf(rel, sizeof(rel), "tests/vectors/cmw/%s", name);
    FILE *f = fopen(tu_source_path(rel), "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (set ATTEX_SOURCE_DIR)\n", tu_source_path(rel));
        return b;
    }
    uint8_t tmp[65536];
    size_t n = fread(tmp, 1, sizeof(tmp), f);
    fclose(f);
    b.data = malloc(n ? n : 1);
    if (b.data != NULL) {
        memcpy(b.data, tmp, n);
        b.len = n;
    }
    return b;
}

static int same_bytes(const attex_buf *a, const uint8_t *p, size_t n)
{
    return a->len == n && (n == 0 || memcmp(a->data, p, n) == 0);
}

/* Two trees describe the same CMW: same kinds, types, values, ind, labels and order. */
static int same_tree(const attex_cmw *a, const attex_cmw *b, int depth)
{
    if (depth > CMW_MAX_DEPTH_CAP + 1 || attex_cmw_kind_of(a) != attex_cmw_kind_of(b))
        return 0;
    if (attex_cmw_kind_of(a) == ATTEX_CMW_COLLECTION) {
        const char *ta = attex_cmw_collection_type(a), *tb = attex_cmw_collection_type(b);
        if ((ta == NULL) != (tb == NULL) || (ta != NULL && strcmp(ta, tb) != 0))
            return 0;
        size_t n = attex_cmw_collection_size(a);
        if (n != attex_cmw_collection_size(b))
            return 0;
        for (size_t i = 0; i < n; i++) {
            const char *la, *lb;
            int64_t ia, ib;
            const attex_cmw *ca = attex_cmw_collection_entry(a, i, &la, &ia);
            const attex_cmw *cb = attex_cmw_collection_entry(b, i, &lb, &ib);
            if ((la == NULL) != (lb == NULL) || (la != NULL && strcmp(la, lb) != 0) ||
                (la == NULL && ia != ib) || !same_tree(ca, cb, depth + 1))
                return 0;
        }
        return 1;
    }
    const char *ma = attex_cmw_media_type(a), *mb = attex_cmw_media_type(b);
    if ((ma == NULL) != (mb == NULL) || (ma != NULL && strcmp(ma, mb) != 0))
        return 0;
    uint16_t cfa = 0, cfb = 0;
    int ha = attex_cmw_content_format(a, &cfa), hb = attex_cmw_content_format(b, &cfb);
    if (ha != hb || cfa != cfb || attex_cmw_ind(a) != attex_cmw_ind(b))
        return 0;
    size_t la, lb;
    const uint8_t *va = attex_cmw_value(a, &la), *vb = attex_cmw_value(b, &lb);
    return la == lb && va != NULL && vb != NULL && memcmp(va, vb, la) == 0;
}

static attex_cmw *decode_ok(const uint8_t *p, size_t n, const attex_cmw_limits *lim,
                            const char *what)
{
    attex_error err;
    attex_error_clear(&err);
    attex_cmw *c = NULL;
    int rc = attex_cmw_decode(p, n, lim, &c, &err);
    if (rc != ATTEX_OK || c == NULL) {
        fprintf(stderr, "%s: decode failed: %s (%s)\n", what, attex_status_name(rc), err.message);
        attex_cmw_free(c);
        return NULL;
    }
    return c;
}

/*
 * expect_reject decodes `in` and checks the status, that nothing is
 * returned, that err carries the same code, the matching alert and a
 * non-empty message containing `needle` (if any).
 */
static int expect_reject(const char *what, const uint8_t *in, size_t len,
                         const attex_cmw_limits *lim, int want, const char *needle)
{
    attex_error err;
    attex_error_clear(&err);
    attex_cmw *c = NULL;
    int rc = attex_cmw_decode(in, len, lim, &c, &err);
    uint8_t alert = want == ATTEX_ERR_DECODE              ? ATTEX_ALERT_DECODE_ERROR
                    : want == ATTEX_ERR_ILLEGAL_PARAMETER ? ATTEX_ALERT_ILLEGAL_PARAMETER
                                                          : ATTEX_ALERT_NONE;
    int ok = rc == want && c == NULL && err.code == want && err.alert == alert &&
             err.message[0] != '\0' && (needle == NULL || strstr(err.message, needle) != NULL);
    if (!ok)
        fprintf(stderr, "%s: got %s (alert %u) \"%s\", want %s%s%s\n", what,
                attex_status_name(rc), err.alert, err.message, attex_status_name(want),
                needle ? " containing " : "", needle ? needle : "");
    attex_cmw_free(c);
    return ok;
}

#define REJECT_HEX(what, h, want, needle)                                                \
    do {                                                                                 \
        attex_buf b_ = hex(h);                                                           \
        CHECK(expect_reject(what, b_.data, b_.len, NULL, want, needle));                 \
        attex_buf_free(&b_);                                                             \
    } while (0)

#define REJECT_STR(what, s, want, needle)                                                          \
    CHECK(expect_reject(what, (const uint8_t *)(s), strlen(s), NULL, want, needle))

#define ACCEPT_HEX(what, h)                                                              \
    do {                                                                                 \
        attex_buf b_ = hex(h);                                                           \
        attex_cmw *c_ = decode_ok(b_.data, b_.len, NULL, what);                          \
        CHECK(c_ != NULL);                                                               \
        attex_cmw_free(c_);                                                              \
        attex_buf_free(&b_);                                                             \
    } while (0)

#define ACCEPT_STR(what, s)                                                              \
    do {                                                                                 \
        attex_cmw *c_ = decode_ok((const uint8_t *)(s), strlen(s), NULL, what);          \
        CHECK(c_ != NULL);                                                               \
        attex_cmw_free(c_);                                                              \
    } while (0)

/*
 * round_trip: decode `in`, encode it in `fmt`, decode that, and check that
 * both trees agree; if `canonical`, also that the encoding is `in` itself.
 */
static void round_trip(const char *what, const uint8_t *in, size_t len, attex_cmw_format fmt,
                       int canonical)
{
    attex_error err;
    attex_buf enc = ATTEX_BUF_INIT, enc2 = ATTEX_BUF_INIT;
    attex_cmw *a = decode_ok(in, len, NULL, what);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    CHECK_RC(attex_cmw_encode(a, fmt, &enc, &err), ATTEX_OK, &err);
    attex_cmw *b = decode_ok(enc.data, enc.len, NULL, what);
    CHECK(b != NULL && same_tree(a, b, 0));
    CHECK(b != NULL && attex_cmw_decoded_format(b) == (int)fmt);
    if (b != NULL) {
        CHECK_RC(attex_cmw_encode(b, fmt, &enc2, &err), ATTEX_OK, &err);
        CHECK(same_bytes(&enc2, enc.data, enc.len)); /* encoding is a fixed point */
    }
    if (canonical) {
        int same = same_bytes(&enc, in, len);
        CHECK(same);
        if (!same)
            fprintf(stderr, "  re-encoding changed canonical input (%s)\n", what);
    }
    attex_buf_free(&enc);
    attex_buf_free(&enc2);
    attex_cmw_free(a);
    attex_cmw_free(b);
}

static void round_trip_hex(const char *what, const char *h, attex_cmw_format fmt, int canonical)
{
    attex_buf b = hex(h);
    round_trip(what, b.data, b.len, fmt, canonical);
    attex_buf_free(&b);
}

static void round_trip_str(const char *what, const char *s, attex_cmw_format fmt, int canonical)
{
    round_trip(what, (const uint8_t *)s, strlen(s), fmt, canonical);
}

/* Encodes `c` and checks the bytes against hex `want`. */
static void encode_is(const attex_cmw *c, attex_cmw_format fmt, const char *want_hex,
                      const char *want_text)
{
    attex_error err;
    attex_buf enc = ATTEX_BUF_INIT;
    CHECK_RC(attex_cmw_encode(c, fmt, &enc, &err), ATTEX_OK, &err);
    if (want_hex != NULL) {
        attex_buf w = hex(want_hex);
        CHECK(same_bytes(&enc, w.data, w.len));
        attex_buf_free(&w);
    } else {
        CHECK(same_bytes(&enc, (const uint8_t *)want_text, strlen(want_text)));
    }
    attex_buf_free(&enc);
}

/* ---- TN() ------------------------------------------------------------------- */

static void test_tn(void)
{
    /* RFC 9277 App. B and NOTES 1.3: the values the RFC and veraison/cmw use. */
    CHECK(attex_cmw_tn(0) == 1668546817u);
    CHECK(attex_cmw_tn(64999) == 1668612070u);
    CHECK(attex_cmw_tn(29884) == 1668576818u);
    CHECK(attex_cmw_tn(30001) == 1668576935u);
    CHECK(attex_cmw_tn(ATTEX_CF_CMW_CBOR) == 1668547091u);
    CHECK(attex_cmw_tn(ATTEX_CF_CMW_JWS) == 1668547094u);
    CHECK(attex_cmw_tn(65024) == 1668612095u);
    CHECK(attex_cmw_tn(65025) == 0);
    CHECK(attex_cmw_tn(65535) == 0);

    /* The inverse, over the whole range: every TN() value maps back, every hole is refused. */
    size_t bad = 0, holes = 0;
    for (uint32_t cf = 0; cf <= 65024; cf++) {
        uint16_t back = 0;
        if (!cmw_cf_from_tn(attex_cmw_tn((uint16_t)cf), &back) || back != cf)
            bad++;
    }
    for (uint64_t tn = CMW_TN_BASE; tn <= CMW_TN_LAST; tn++) {
        uint16_t cf = 0;
        if (!cmw_cf_from_tn(tn, &cf))
            holes++;
        else if (attex_cmw_tn(cf) != tn)
            bad++;
    }
    CHECK(bad == 0);
    CHECK(holes == 254); /* 65279 numbers in the range for 65025 formats */
    uint16_t cf = 0;
    CHECK(!cmw_cf_from_tn(CMW_TN_BASE - 1, &cf));
    CHECK(!cmw_cf_from_tn(CMW_TN_LAST + 1, &cf));
    CHECK(!cmw_cf_from_tn(CMW_TN_BASE + 255, &cf));
}

/* ---- the RFC's examples -------------------------------------------------------- */

static void test_rfc_examples(void)
{
    attex_error err;
    attex_buf out = ATTEX_BUF_INIT;

    /* RFC 9999 s6.2 (NOTES 1.2): [64999, h'2347da55']. Accepted. */
    attex_buf rec = hex("8219FDE7442347DA55");
    attex_cmw *c = decode_ok(rec.data, rec.len, NULL, "RFC CBOR record");
    CHECK(c != NULL);
    if (c != NULL) {
        uint16_t cf = 0;
        size_t n = 0;
        const uint8_t *v = attex_cmw_value(c, &n);
        CHECK(attex_cmw_kind_of(c) == ATTEX_CMW_RECORD);
        CHECK(attex_cmw_decoded_format(c) == ATTEX_CMW_CBOR);
        CHECK(attex_cmw_media_type(c) == NULL);
        CHECK(attex_cmw_content_format(c, &cf) == 1 && cf == 64999);
        CHECK(n == 4 && v != NULL && memcmp(v, "\x23\x47\xda\x55", 4) == 0);
        CHECK(attex_cmw_ind(c) == 0);
        encode_is(c, ATTEX_CMW_CBOR, "8219FDE7442347DA55", NULL);
        /* A Content-Format type has no JSON form (RFC 9999 s3.1). */
        CHECK_RC(attex_cmw_encode(c, ATTEX_CMW_JSON, &out, &err), ATTEX_ERR_INVALID_ARGUMENT,
                 &err);
        CHECK(err.message[0] != '\0' && out.data == NULL);
    }
    attex_cmw_free(c);
    attex_buf_free(&rec);

    /* RFC 9999 s6.3 (NOTES 1.3): 1668612070(h'2347da55'), TN(64999). Accepted. */
    attex_buf tag = hex("DA6374FFE6442347DA55");
    c = decode_ok(tag.data, tag.len, NULL, "RFC tag");
    CHECK(c != NULL);
    if (c != NULL) {
        uint16_t cf = 0;
        size_t n = 0;
        CHECK(attex_cmw_kind_of(c) == ATTEX_CMW_TAG);
        CHECK(attex_cmw_content_format(c, &cf) == 1 && cf == 64999);
        CHECK(attex_cmw_value(c, &n) != NULL && n == 4);
        CHECK(attex_cmw_media_type(c) == NULL && attex_cmw_ind(c) == 0);
        encode_is(c, ATTEX_CMW_CBOR, "DA6374FFE6442347DA55", NULL);
        CHECK_RC(attex_cmw_encode(c, ATTEX_CMW_JSON, &out, &err), ATTEX_ERR_INVALID_ARGUMENT,
                 &err);
        CHECK(strstr(err.message, "CBOR-only") != NULL);
    }
    attex_cmw_free(c);
    attex_buf_free(&tag);

    /* RFC 9999 s6.1: the JSON record, value 0x2347da55. Accepted. */
    static const char json_rec[] = "[\"application/vnd.example.rats-conceptual-msg\",\"I0faVQ\"]";
    c = decode_ok((const uint8_t *)json_rec, strlen(json_rec), NULL, "RFC JSON record");
    CHECK(c != NULL);
    if (c != NULL) {
        size_t n = 0;
        const uint8_t *v = attex_cmw_value(c, &n);
        CHECK(attex_cmw_decoded_format(c) == ATTEX_CMW_JSON);
        CHECK(attex_cmw_media_type(c) != NULL &&
              strcmp(attex_cmw_media_type(c), "application/vnd.example.rats-conceptual-msg") == 0);
        CHECK(attex_cmw_content_format(c, NULL) == 0);
        CHECK(n == 4 && v != NULL && memcmp(v, "\x23\x47\xda\x55", 4) == 0);
        encode_is(c, ATTEX_CMW_JSON, NULL, json_rec);
        /* The same record in CBOR: media type as text. */
        encode_is(c, ATTEX_CMW_CBOR,
                  "82782B6170706C69636174696F6E2F766E642E6578616D706C652E726174732D636F6E63657074"
                  "75616C2D6D7367442347DA55",
                  NULL);
    }
    attex_cmw_free(c);

    /* RFC 9999 s6.4: signed CoRIM with ind 3; the value starts with 0xd2 (COSE_Sign1). */
    round_trip_hex("RFC record with ind",
                   "83781d6170706c69636174696f6e2f7369676e65642d636f72696d2b63626f7247d28443a10126"
                   "a103",
                   ATTEX_CMW_CBOR, 1);
    /* NOTES 1.2: ["application/rim+cose", h'd28440a044d901f5a040', 3]. */
    round_trip_hex("rim+cose record",
                   "83746170706c69636174696f6e2f72696d2b636f73654ad28440a044d901f5a04003",
                   ATTEX_CMW_CBOR, 1);
    /* veraison/cmw: [30001, h'deadbeef'] and [10000, h'deadbeef', 19]. */
    round_trip_hex("veraison record", "82 197531 44deadbeef", ATTEX_CMW_CBOR, 1);
    round_trip_hex("veraison record with ind", "83 192710 44deadbeef 13", ATTEX_CMW_CBOR, 1);

    /* RFC 9999 s6.5: the CBOR collection, "__cmwc_t" first. Accepted. */
    static const char coll_hex[] =
        "a4685f5f636d77635f7478277461673a6578616d706c652e636f6d2c323032343a636f6d706f736974652d"
        "6174746573746572008319fde7442347da550401da6374ffe6442347da550283736170706c69636174696f"
        "6e2f6561742b6a7774432e2e2e08";
    attex_buf coll = hex(coll_hex);
    c = decode_ok(coll.data, coll.len, NULL, "RFC CBOR collection");
    CHECK(c != NULL);
    if (c != NULL) {
        const char *tl = "x";
        int64_t il = -1;
        CHECK(attex_cmw_kind_of(c) == ATTEX_CMW_COLLECTION);
        CHECK(attex_cmw_collection_type(c) != NULL &&
              strcmp(attex_cmw_collection_type(c), "tag:example.com,2024:composite-attester") ==
                  0);
        CHECK(attex_cmw_collection_size(c) == 3);
        const attex_cmw *e0 = attex_cmw_collection_entry(c, 0, &tl, &il);
        CHECK(e0 != NULL && tl == NULL && il == 0 && attex_cmw_ind(e0) == 4);
        const attex_cmw *e1 = attex_cmw_collection_entry(c, 1, &tl, &il);
        CHECK(e1 != NULL && tl == NULL && il == 1 && attex_cmw_kind_of(e1) == ATTEX_CMW_TAG);
        const attex_cmw *e2 = attex_cmw_collection_entry(c, 2, &tl, &il);
        CHECK(e2 != NULL && il == 2 && attex_cmw_ind(e2) == ATTEX_CMW_IND_ATTESTATION_RESULTS);
        CHECK(e2 != NULL && strcmp(attex_cmw_media_type(e2), "application/eat+jwt") == 0);
        CHECK(attex_cmw_collection_entry(c, 3, &tl, &il) == NULL && tl == NULL);
    }
    attex_cmw_free(c);
    round_trip(coll_hex, coll.data, coll.len, ATTEX_CMW_CBOR, 1);
    attex_buf_free(&coll);

    /* RFC 9999 s6.6: the JSON collection. Accepted. */
    static const char json_coll[] =
        "{\"__cmwc_t\":\"tag:example.com,2024:another-composite-attester\",\"attester A\":["
        "\"application/eat-ucs+json\",\"e30K\",4],\"attester B\":[\"application/eat-ucs+cbor\","
        "\"oA\",4]}";
    c = decode_ok((const uint8_t *)json_coll, strlen(json_coll), NULL, "RFC JSON collection");
    CHECK(c != NULL);
    if (c != NULL) {
        const char *tl = NULL;
        size_t n = 0;
        CHECK(attex_cmw_collection_size(c) == 2);
        const attex_cmw *a = attex_cmw_collection_entry(c, 0, &tl, NULL);
        CHECK(a != NULL && tl != NULL && strcmp(tl, "attester A") == 0);
        CHECK(a != NULL && attex_cmw_value(a, &n) != NULL && n == 3 &&
              memcmp(attex_cmw_value(a, NULL), "{}\n", 3) == 0);
        CHECK(attex_cmw_ind(a) == ATTEX_CMW_IND_EVIDENCE);
        const attex_cmw *b = attex_cmw_collection_entry(c, 1, &tl, NULL);
        CHECK(b != NULL && attex_cmw_value(b, &n) != NULL && n == 1);
    }
    attex_cmw_free(c);
    round_trip_str("RFC JSON collection", json_coll, ATTEX_CMW_JSON, 1);
}

/* ---- the shared sample files ------------------------------------------------------ */

static void test_vectors(void)
{
    /*
     * {"string": [0, h'ff'], 1024: 1668546817(h'aa')}: RFC 9999 accepts it.
     * CBOR labels may be text or integers (s3.3), Content-Format 0 is a
     * valid uint .size 2 (s3.1), 1668546817 = TN(0) (s3.2), and "__cmwc_t"
     * is optional.
     */
    attex_buf v = read_vector("collection-cbor-mixed-keys.cbor");
    CHECK(v.len == 22);
    attex_cmw *c = decode_ok(v.data, v.len, NULL, "collection-cbor-mixed-keys.cbor");
    CHECK(c != NULL);
    if (c != NULL) {
        const char *tl = NULL;
        int64_t il = 0;
        uint16_t cf = 1;
        CHECK(attex_cmw_collection_type(c) == NULL && attex_cmw_collection_size(c) == 2);
        const attex_cmw *s = attex_cmw_collection_entry(c, 0, &tl, &il);
        CHECK(tl != NULL && strcmp(tl, "string") == 0);
        CHECK(attex_cmw_content_format(s, &cf) == 1 && cf == 0);
        const attex_cmw *t = attex_cmw_collection_entry(c, 1, &tl, &il);
        CHECK(tl == NULL && il == 1024 && attex_cmw_kind_of(t) == ATTEX_CMW_TAG);
        CHECK(attex_cmw_content_format(t, &cf) == 1 && cf == 0);
    }
    attex_cmw_free(c);
    round_trip("collection-cbor-mixed-keys.cbor", v.data, v.len, ATTEX_CMW_CBOR, 1);
    attex_buf_free(&v);

    /* {1: ["application/vnd.1", h'DEADBEEF']}: accepted (no "__cmwc_t", integer label). */
    v = read_vector("collection-cbor-ok-2.cbor");
    CHECK(v.len == 26);
    round_trip("collection-cbor-ok-2.cbor", v.data, v.len, ATTEX_CMW_CBOR, 1);
    attex_buf_free(&v);

    /*
     * {1: [..signed-corim.., 3], 2: 1668576818(...), "s": [30001, ...]}:
     * accepted. ind 3 is Reference Values + Endorsements; 1668576818 is
     * TN(29884) (not TN(30001), see NOTES 1.3: the tag is still valid).
     */
    v = read_vector("collection-cbor-ok.cbor");
    CHECK(v.len == 65);
    c = decode_ok(v.data, v.len, NULL, "collection-cbor-ok.cbor");
    CHECK(c != NULL);
    if (c != NULL) {
        const char *tl = NULL;
        int64_t il = 0;
        uint16_t cf = 0;
        CHECK(attex_cmw_collection_size(c) == 3);
        const attex_cmw *r = attex_cmw_collection_entry(c, 0, &tl, &il);
        CHECK(il == 1 && attex_cmw_ind(r) == (ATTEX_CMW_IND_REFERENCE_VALUES |
                                               ATTEX_CMW_IND_ENDORSEMENTS));
        const attex_cmw *t = attex_cmw_collection_entry(c, 1, &tl, &il);
        CHECK(il == 2 && attex_cmw_content_format(t, &cf) == 1 && cf == 29884);
        const attex_cmw *s = attex_cmw_collection_entry(c, 2, &tl, &il);
        CHECK(tl != NULL && strcmp(tl, "s") == 0 && attex_cmw_content_format(s, &cf) &&
              cf == 30001);
    }
    attex_cmw_free(c);
    round_trip("collection-cbor-ok.cbor", v.data, v.len, ATTEX_CMW_CBOR, 1);
    attex_buf_free(&v);

    /* {"a": [...,"YQ"], "b": [...,"Yg"]}, pretty-printed: accepted; re-encoded compact. */
    v = read_vector("collection-ok.json");
    CHECK(v.len == 99);
    c = decode_ok(v.data, v.len, NULL, "collection-ok.json");
    CHECK(c != NULL);
    if (c != NULL) {
        size_t n = 0;
        const attex_cmw *a = attex_cmw_collection_entry(c, 0, NULL, NULL);
        CHECK(attex_cmw_value(a, &n) != NULL && n == 1 && attex_cmw_value(a, NULL)[0] == 'a');
        encode_is(c, ATTEX_CMW_JSON, NULL,
                  "{\"a\":[\"application/vnd.a\",\"YQ\"],\"b\":[\"application/vnd.b\",\"Yg\"]}");
    }
    attex_cmw_free(c);
    round_trip("collection-ok.json", v.data, v.len, ATTEX_CMW_JSON, 0);
    round_trip("collection-ok.json to CBOR", v.data, v.len, ATTEX_CMW_CBOR, 0);
    attex_buf_free(&v);
}

/* ---- built trees, round trips across formats --------------------------------------- */

static attex_cmw *build_sample(attex_error *err, int cbor_only)
{
    static const uint8_t ev[] = {0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26};
    attex_cmw *root = attex_cmw_collection_new("tag:example.com,2026:attex-test", err);
    attex_cmw *inner = attex_cmw_collection_new("1.3.6.1.4.1.99999.1", err);
    if (root == NULL || inner == NULL) {
        attex_cmw_free(root);
        attex_cmw_free(inner);
        return NULL;
    }
    int ok = attex_cmw_collection_add(
                 root, "evidence",
                 attex_cmw_record_new("application/eat+cwt; eat_profile=\"tag:x,2026:y\"", ev,
                                      sizeof(ev), ATTEX_CMW_IND_EVIDENCE, err),
                 err) == ATTEX_OK;
    ok &= attex_cmw_collection_add(inner, "résumé ✓",
                                   attex_cmw_record_new("text/plain", (const uint8_t *)"hi", 2, 0,
                                                        err),
                                   err) == ATTEX_OK;
    ok &= attex_cmw_collection_add(root, "nested", inner, err) == ATTEX_OK;
    if (cbor_only) {
        static const uint8_t one[] = {1};
        ok &= attex_cmw_collection_add_int(root, -7, attex_cmw_tag_new(ATTEX_CF_CMW_CBOR, one, 1,
                                                                       err),
                                           err) == ATTEX_OK;
        ok &= attex_cmw_collection_add_int(root, INT64_MIN,
                                           attex_cmw_record_new_cf(65535, one, 1, 31, err),
                                           err) == ATTEX_OK;
        ok &= attex_cmw_collection_add_int(root, INT64_MAX,
                                           attex_cmw_record_new_cf(0, one, 1, 0, err),
                                           err) == ATTEX_OK;
    }
    if (!ok) {
        attex_cmw_free(root);
        return NULL;
    }
    return root;
}

static void test_round_trips(void)
{
    attex_error err;
    for (int cbor_only = 0; cbor_only <= 1; cbor_only++) {
        attex_cmw *t = build_sample(&err, cbor_only);
        CHECK(t != NULL);
        if (t == NULL) {
            fprintf(stderr, "build_sample: %s\n", err.message);
            continue;
        }
        CHECK(attex_cmw_decoded_format(t) == 0);
        for (int f = ATTEX_CMW_CBOR; f <= ATTEX_CMW_JSON; f++) {
            attex_buf enc = ATTEX_BUF_INIT;
            int rc = attex_cmw_encode(t, (attex_cmw_format)f, &enc, &err);
            if (cbor_only && f == ATTEX_CMW_JSON) {
                /* Tags, Content-Format types and integer labels are CBOR-only. */
                CHECK_RC(rc, ATTEX_ERR_INVALID_ARGUMENT, &err);
                CHECK(enc.data == NULL && err.message[0] != '\0');
                continue;
            }
            CHECK_RC(rc, ATTEX_OK, &err);
            attex_cmw *back = decode_ok(enc.data, enc.len, NULL, "built tree");
            CHECK(back != NULL && same_tree(t, back, 0));
            CHECK(attex_cmw_decoded_format(back) == f);
            attex_cmw_free(back);
            /* decode(encode(x)) == x and encode(decode(bytes)) == bytes. */
            round_trip("built tree", enc.data, enc.len, (attex_cmw_format)f, 1);
            if (!cbor_only) /* and across formats */
                round_trip("built tree, other format", enc.data, enc.len,
                           f == ATTEX_CMW_CBOR ? ATTEX_CMW_JSON : ATTEX_CMW_CBOR, 0);
            attex_buf_free(&enc);
        }
        attex_cmw_free(t);
    }

    /* "__cmwc_t" keeps its place: last here, and re-encoding keeps it last. */
    round_trip_str("ctype last", "{\"a\":[\"a/b\",\"AQ\"],\"__cmwc_t\":\"urn:x\"}", ATTEX_CMW_JSON,
                   1);
    round_trip_hex("ctype last", "a2 01 82 63612f62 4101 68 5f5f636d77635f74 65 75726e3a78",
                   ATTEX_CMW_CBOR, 1);
}

/* ---- what the decoder accepts beyond the examples ------------------------------ */

static void test_accepts(void)
{
    /*
     * RFC 9999 s3.5 names 0x9f (indefinite-length record) in its look-ahead,
     * so indefinite lengths are accepted everywhere RFC 8949 allows them, and
     * so are non-preferred heads; re-encoding writes the preferred form.
     */
    attex_buf in = hex("9f 7f 62612f 61 62 ff 5f 41 01 41 02 ff 18 04 ff");
    attex_cmw *c = decode_ok(in.data, in.len, NULL, "indefinite record");
    CHECK(c != NULL);
    if (c != NULL) {
        size_t n = 0;
        const uint8_t *v = attex_cmw_value(c, &n);
        CHECK(strcmp(attex_cmw_media_type(c), "a/b") == 0 && attex_cmw_ind(c) == 4);
        CHECK(n == 2 && v[0] == 1 && v[1] == 2);
        encode_is(c, ATTEX_CMW_CBOR, "83 63612f62 42 0102 04", NULL);
    }
    attex_cmw_free(c);
    attex_buf_free(&in);
    in = hex("bf 61 61 82 19 0001 41 01 ff");
    c = decode_ok(in.data, in.len, NULL, "indefinite map");
    CHECK(c != NULL);
    if (c != NULL)
        encode_is(c, ATTEX_CMW_CBOR, "a1 6161 82 01 4101", NULL);
    attex_cmw_free(c);
    attex_buf_free(&in);

    /* Media types: RFC 9193 Content-Type with parameters, quoted strings, escapes. */
    ACCEPT_HEX("eat_profile parameter",
               "82 78 2f 6170706c69636174696f6e2f6561742b6377743b206561745f70726f66696c653d22"
               "7461673a782c323032363a7922 41 00");
    ACCEPT_STR("params", "[\"text/plain;charset=utf-8 ;  format=flowed\",\"AA\"]");
    ACCEPT_STR("quoted pair", "[\"a/b; p=\\\"x\\\\\\\"y \\\\\\\\z\\\"\",\"AA\"]");
    ACCEPT_STR("facets and suffix", "[\"application/vnd.a-b_c.d+json\",\"AA\"]");

    /* "__cmwc_t": absolute URIs and dotted-decimal OIDs (RFC 9999 s3.3). */
    ACCEPT_STR("ctype OID", "{\"__cmwc_t\":\"1.2.840.113549.0.10\",\"a\":[\"a/b\",\"AA\"]}");
    ACCEPT_STR("ctype one-arc OID", "{\"__cmwc_t\":\"2\",\"a\":[\"a/b\",\"AA\"]}");
    ACCEPT_STR("ctype URN", "{\"__cmwc_t\":\"urn:ietf:params:rats:x\",\"a\":[\"a/b\",\"AA\"]}");
    ACCEPT_STR("ctype https", "{\"__cmwc_t\":\"https://[::1]:8443/p%20q?x=1&y=/\","
                              "\"a\":[\"a/b\",\"AA\"]}");

    /* Labels: any Unicode Assignable text, including tab; every valid base64url length. */
    ACCEPT_STR("label with tab and non-ASCII", "{\"\\t\\u00e9\\ud83d\\ude00\":[\"a/b\",\"AA\"]}");
    ACCEPT_STR("ind 31", "[\"a/b\",\"AAA\",31]");
    ACCEPT_STR("JSON whitespace after the value", "[\"a/b\",\"AAAA\"] \r\n\t");
    ACCEPT_HEX("int label INT64_MIN", "a1 3b7fffffffffffffff 82 00 4101");
    ACCEPT_HEX("C-F 65535", "82 19ffff 4101");
    ACCEPT_HEX("last TN tag", "da6374ffff 4101");

    /* The default limits, exactly reached: 64 entries, 8 levels. */
    char buf[4096];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"__cmwc_t\":\"urn:x\"");
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"%d\":[\"a/b\",\"AA\"]", i);
    snprintf(buf + o, sizeof(buf) - o, "}");
    ACCEPT_STR("64 entries", buf);
    o = 0;
    for (int i = 0; i < 8; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{\"x\":");
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "[\"a/b\",\"AA\"]");
    for (int i = 0; i < 8; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "}");
    ACCEPT_STR("8 levels", buf);
}

/* ---- one rejection per rule -------------------------------------------------------- */

static void test_rejects(void)
{
    const int D = ATTEX_ERR_DECODE, I = ATTEX_ERR_ILLEGAL_PARAMETER;

    /* Input framing (RFC 9999 s3.5, RFC 8949 s5.1, RFC 8259 s2). */
    CHECK(expect_reject("empty input", (const uint8_t *)"", 0, NULL, D, "empty"));
    REJECT_HEX("first byte uint", "00", D, "first byte 0x00");
    REJECT_STR("JSON leading whitespace", " [\"a/b\",\"AA\"]", D, "first byte 0x20");
    REJECT_HEX("CBOR trailing bytes", "82 63612f62 4101 00", D, "trailing");
    REJECT_STR("JSON trailing bytes", "[\"a/b\",\"AA\"]x", D, "trailing");
    REJECT_STR("JSON two values", "[\"a/b\",\"AA\"][\"a/b\",\"AA\"]", D, "trailing");
    REJECT_STR("malformed JSON", "[\"a/b\",\"AA\"", D, "malformed JSON");
    REJECT_STR("JSON NUL escape", "[\"a/b\\u0000\",\"AA\"]", D, NULL);

    /* Malformed CBOR (RFC 8949 s3). */
    REJECT_HEX("CBOR truncated", "82 63612f", D, "announces");
    REJECT_HEX("CBOR truncated head", "82 19", D, NULL);
    REJECT_HEX("CBOR ends early", "83 63612f62 4101", D, "ends early");
    REJECT_HEX("CBOR reserved ai", "82 1c 4101", D, "reserved");
    REJECT_HEX("CBOR stray break", "82 ff 4101", D, "break");
    REJECT_HEX("CBOR bad chunk", "82 7f 4161 ff 4101", D, "chunk");
    REJECT_HEX("CBOR nested indefinite chunk", "82 7f 7f ff ff 4101", D, "chunk");
    REJECT_HEX("CBOR indefinite uint", "82 1f 4101", D, "indefinite");
    REJECT_HEX("CBOR two-byte simple", "82 f801 4101", D, "simple");
    REJECT_HEX("CBOR huge array count", "9b ffffffffffffffff 00", D, "cannot hold");
    REJECT_HEX("CBOR huge map count", "bb 7fffffffffffffff 00", D, "cannot hold");
    REJECT_HEX("CBOR huge byte string", "82 00 5b ffffffffffffffff", D, "announces");

    /* Record shape (RFC 9999 s3.1): 2 or 3 elements. */
    REJECT_HEX("CBOR record of 1", "81 63612f62", D, "1 elements");
    REJECT_HEX("CBOR record of 4", "84 63612f62 4101 04 04", D, "4 elements");
    REJECT_HEX("CBOR record of 0", "80", D, "0 elements");
    REJECT_STR("JSON record of 1", "[\"a/b\"]", D, "1 elements");
    REJECT_STR("JSON record of 4", "[\"a/b\",\"AA\",4,4]", D, "4 elements");

    /* Types of the members. */
    REJECT_HEX("CBOR type bytes", "82 43612f62 4101", D, "type is a CBOR byte string");
    REJECT_HEX("CBOR type negative", "82 20 4101", D, "type is a CBOR negative");
    REJECT_HEX("CBOR C-F above 65535", "82 1a00010000 4101", I, "65535");
    REJECT_HEX("CBOR value text", "82 63612f62 6101", D, "value is a CBOR text");
    REJECT_HEX("CBOR ind text", "83 63612f62 4101 6134", D, "ind is a CBOR text");
    REJECT_HEX("CBOR ind negative", "83 63612f62 4101 23", D, "ind is a CBOR negative");
    REJECT_STR("JSON C-F number type", "[30001,\"AA\"]", D, "CBOR-only");
    REJECT_STR("JSON type null", "[null,\"AA\"]", D, "type is a JSON null");
    REJECT_STR("JSON value number", "[\"a/b\",1]", D, "value is a JSON integer");
    REJECT_STR("JSON ind string", "[\"a/b\",\"AA\",\"4\"]", D, "ind is a JSON string");
    REJECT_STR("JSON ind real", "[\"a/b\",\"AA\",4.0]", D, "non-integer");
    REJECT_STR("JSON ind negative", "[\"a/b\",\"AA\",-4]", D, "negative");
    REJECT_HEX("CBOR top-level text", "d9d9f7 00", I, "tag 55799");
    REJECT_HEX("CBOR entry is a number", "a1 6161 05", D, "unsigned integer is not a CMW");
    REJECT_STR("JSON entry is a string", "{\"a\":\"AA\"}", D, "string is not a CMW");
    REJECT_HEX("CBOR label bytes", "a1 4161 82 00 4101", D, "label is a CBOR byte string");
    REJECT_HEX("CBOR label too big", "a1 1b8000000000000000 82 00 4101", I, "64-bit");
    REJECT_HEX("CBOR label too small", "a1 3b8000000000000000 82 00 4101", I, "64-bit");

    /* Values: non-empty, base64url without padding (RFC 9999 s3.1, RFC 4648 s5). */
    REJECT_HEX("CBOR empty value", "82 63612f62 40", I, "empty");
    REJECT_HEX("CBOR empty indefinite value", "82 63612f62 5fff", I, "empty");
    REJECT_STR("JSON empty value", "[\"a/b\",\"\"]", I, "empty");
    REJECT_STR("base64 padding", "[\"a/b\",\"YQ==\"]", D, "padding");
    REJECT_STR("base64 '+'", "[\"a/b\",\"a+bc\"]", D, "'+'");
    REJECT_STR("base64 '/'", "[\"a/b\",\"a/bc\"]", D, "'/'");
    REJECT_STR("base64 space", "[\"a/b\",\"YQ \"]", D, "not a base64url");
    REJECT_STR("base64 '.'", "[\"a/b\",\"Y.Q\"]", D, "'.'");
    REJECT_STR("base64 length 4n+1", "[\"a/b\",\"YWFhY\"]", D, "4n+1");
    REJECT_STR("base64 non-canonical 2", "[\"a/b\",\"YR\"]", D, "non-canonical");
    REJECT_STR("base64 non-canonical 3", "[\"a/b\",\"YWF\"]", D, "non-canonical");

    /* ind (RFC 9999 s3.1): non-zero, at most 4 bytes, registered bits only. */
    REJECT_HEX("CBOR ind 0", "83 63612f62 4101 00", I, "ind is 0");
    REJECT_STR("JSON ind 0", "[\"a/b\",\"AA\",0]", I, "ind is 0");
    REJECT_HEX("CBOR ind 32", "83 63612f62 4101 1820", I, "registered");
    REJECT_STR("JSON ind 2^31", "[\"a/b\",\"AA\",2147483648]", I, "registered");
    REJECT_HEX("CBOR ind 2^32", "83 63612f62 4101 1b0000000100000000", I, "4 bytes");

    /* Media types (RFC 9193 s2 Content-Type, RFC 6838 s4.2). */
    REJECT_STR("media type empty", "[\"\",\"AA\"]", I, "empty");
    REJECT_STR("media type no slash", "[\"application\",\"AA\"]", I, "no '/'");
    REJECT_STR("media type no subtype", "[\"application/\",\"AA\"]", I, "subtype name is missing");
    REJECT_STR("media type no type", "[\"/json\",\"AA\"]", I, "type name starts with '/'");
    REJECT_STR("media type space", "[\"app lication/json\",\"AA\"]", I, "a space");
    REJECT_STR("media type control", "[\"application/js\\u0001on\",\"AA\"]", I, "0x01");
    REJECT_STR("media type non-ASCII", "[\"application/j\\u00e9\",\"AA\"]", I, "0xc3");
    REJECT_STR("media type trailing ';'", "[\"a/b;\",\"AA\"]", I, "no name");
    REJECT_STR("media type trailing space", "[\"a/b \",\"AA\"]", I, "ends with a space");
    REJECT_STR("media type parameter without value", "[\"a/b; p\",\"AA\"]", I, "no '='");
    REJECT_STR("media type empty value", "[\"a/b; p=\",\"AA\"]", I, "empty or invalid value");
    REJECT_STR("media type open quote", "[\"a/b; p=\\\"x\",\"AA\"]", I, "not closed");
    REJECT_STR("media type tunnel sentinel", "[\"#cmw-c2j-tunnel\",\"AA\"]", I, "starts with '#'");
    REJECT_STR("media type second slash", "[\"a/b/c\",\"AA\"]", I, "'/'");
    char longname[200];
    memset(longname, 0, sizeof(longname));
    memcpy(longname, "[\"a/", 4);
    memset(longname + 4, 'x', 128);
    memcpy(longname + 132, "\",\"AA\"]", 7);
    REJECT_STR("media type name of 128", longname, I, "more than 127");

    /* Tags (RFC 9999 s3.2, RFC 9277 App. B). */
    REJECT_HEX("tag in a TN() hole", "da63740200 4101", I, "not a TN()");
    REJECT_HEX("last tag hole", "da6374ff00 4101", I, "not a TN()");
    REJECT_HEX("tag below the range", "da63740100 4101", I, "not a Tag CMW");
    REJECT_HEX("tag above the range", "da63750000 4101", I, "not a Tag CMW");
    REJECT_HEX("COSE_Sign1 tag 18", "d2 84 40 a0 41 00 40", I, "tag 18");
    REJECT_HEX("tag inside a collection", "a1 01 d2 4101", I, "tag 18");
    REJECT_HEX("tag as a record type", "82 c1 00 4101", I, "tag 1 ");
    REJECT_HEX("self-described CBOR", "d9d9f7 82 00 4101", I, "tag 55799");
    REJECT_HEX("tag around a non-bytes", "da63740101 63612f62", D, "not a byte string");
    REJECT_HEX("empty tag", "da63740101 40", I, "empty");

    /* Collections (RFC 9999 s3.3). */
    REJECT_HEX("CBOR empty collection", "a0", I, "no entries");
    REJECT_STR("JSON empty collection", "{}", I, "no entries");
    REJECT_STR("only __cmwc_t", "{\"__cmwc_t\":\"urn:x\"}", I, "no entries");
    REJECT_HEX("CBOR duplicate text label", "a2 6161 82 00 4101 6161 82 00 4102", I,
               "duplicate label \"a\"");
    REJECT_HEX("CBOR duplicate int label", "a2 01 82 00 4101 01 82 00 4102", I,
               "duplicate label 1");
    REJECT_HEX("CBOR duplicate label, other spelling", "a2 1801 82 00 4101 01 82 00 4102", I,
               "duplicate label 1");
    REJECT_HEX("CBOR duplicate __cmwc_t",
               "a3 685f5f636d77635f74 6575726e3a78 01 82 00 4101"
               " 685f5f636d77635f74 6575726e3a78",
               I,
               "duplicate label \"__cmwc_t\"");
    REJECT_STR("JSON duplicate label", "{\"a\":[\"a/b\",\"AA\"],\"a\":[\"a/b\",\"AQ\"]}", I,
               "duplicate label \"a\"");
    REJECT_STR("nested duplicate", "{\"x\":{\"a\":[\"a/b\",\"AA\"],\"a\":[\"a/b\",\"AA\"]}}", I,
               "duplicate label");
    REJECT_HEX("CBOR label empty", "a1 60 82 00 4101", I, "label \"\" is not valid");
    REJECT_HEX("CBOR label control", "a1 6101 82 00 4101", I, "U+0001");
    REJECT_HEX("CBOR label bad UTF-8", "a1 62c328 82 00 4101", D, "UTF-8");
    REJECT_HEX("CBOR label surrogate", "a1 63eda080 82 00 4101", D, "UTF-8");
    REJECT_HEX("CBOR label overlong", "a1 62c0af 82 00 4101", D, "UTF-8");
    REJECT_HEX("CBOR text chunk split", "a1 7f 61c3 61a9 ff 82 00 4101", D, "UTF-8");
    REJECT_STR("JSON label noncharacter", "{\"\\uffff\":[\"a/b\",\"AA\"]}", I, "U+FFFF");
    REJECT_STR("JSON label DEL", "{\"a\\u007f\":[\"a/b\",\"AA\"]}", I, "U+007F");

    /* "__cmwc_t" (RFC 9999 s3.3): an absolute URI or a dotted-decimal OID, as text. */
    REJECT_STR("ctype empty", "{\"__cmwc_t\":\"\",\"a\":[\"a/b\",\"AA\"]}", I, "empty");
    REJECT_STR("ctype words", "{\"__cmwc_t\":\"not a uri\",\"a\":[\"a/b\",\"AA\"]}", I,
               "no ':'");
    REJECT_STR("ctype relative", "{\"__cmwc_t\":\"/rel/path\",\"a\":[\"a/b\",\"AA\"]}", I,
               "neither");
    REJECT_STR("ctype fragment", "{\"__cmwc_t\":\"https://x/y#z\",\"a\":[\"a/b\",\"AA\"]}", I,
               "fragment");
    REJECT_STR("ctype space", "{\"__cmwc_t\":\"urn:a b\",\"a\":[\"a/b\",\"AA\"]}", I, "a space");
    REJECT_STR("ctype bad %", "{\"__cmwc_t\":\"urn:a%4\",\"a\":[\"a/b\",\"AA\"]}", I, "hex");
    REJECT_STR("ctype OID arc 3", "{\"__cmwc_t\":\"3.1\",\"a\":[\"a/b\",\"AA\"]}", I,
               "first arc");
    REJECT_STR("ctype OID leading zero", "{\"__cmwc_t\":\"1.02\",\"a\":[\"a/b\",\"AA\"]}", I,
               "leading zero");
    REJECT_STR("ctype OID double dot", "{\"__cmwc_t\":\"1..2\",\"a\":[\"a/b\",\"AA\"]}", I,
               "single dots");
    REJECT_STR("ctype OID trailing dot", "{\"__cmwc_t\":\"1.2.\",\"a\":[\"a/b\",\"AA\"]}", I,
               "single dots");
    REJECT_STR("ctype number", "{\"__cmwc_t\":1,\"a\":[\"a/b\",\"AA\"]}", D, "JSON integer");
    REJECT_HEX("CBOR ctype uint", "a2 685f5f636d77635f74 01 01 82 00 4101", D,
               "CBOR unsigned integer");
    REJECT_STR("ctype nested error names the path",
               "{\"x\":{\"__cmwc_t\":\"#\",\"a\":[\"a/b\",\"AA\"]}}", I, "at [\"x\"]");
}

/* ---- limits --------------------------------------------------------------------------- */

static void test_limits(void)
{
    const int D = ATTEX_ERR_DECODE;
    char *buf = malloc(80000);
    CHECK(buf != NULL);
    if (buf == NULL)
        return;

    /* Depth: 9 nested collections against the default 8; fine with max_depth 9. */
    size_t o = 0;
    for (int i = 0; i < 9; i++)
        o += (size_t)sprintf(buf + o, "{\"x\":");
    o += (size_t)sprintf(buf + o, "[\"a/b\",\"AA\"]");
    for (int i = 0; i < 9; i++)
        o += (size_t)sprintf(buf + o, "}");
    CHECK(expect_reject("JSON depth 9", (const uint8_t *)buf, o, NULL, D, "nested 9 levels"));
    attex_cmw_limits deeper = {0, 9, 0};
    attex_cmw *c = decode_ok((const uint8_t *)buf, o, &deeper, "JSON depth 9, limit 9");
    CHECK(c != NULL);
    attex_cmw_free(c);

    /* The same in CBOR: a1 01 repeated, then a record. */
    attex_buf rec = hex("82 00 4101");
    uint8_t cb[64];
    size_t n = 0;
    for (int i = 0; i < 9; i++) {
        cb[n++] = 0xa1;
        cb[n++] = 0x01;
    }
    memcpy(cb + n, rec.data, rec.len);
    n += rec.len;
    CHECK(expect_reject("CBOR depth 9", cb, n, NULL, D, "nested 9 levels"));
    c = decode_ok(cb, n, &deeper, "CBOR depth 9, limit 9");
    CHECK(c != NULL);
    attex_cmw_free(c);
    attex_buf_free(&rec);

    /* Far too deep: 30000 nested arrays or maps never reach libcbor or the tree walk. */
    memset(buf, 0x81, 30000);
    buf[30000] = 0x00;
    CHECK(expect_reject("CBOR 30000 arrays", (const uint8_t *)buf, 30001, NULL, D, "nested"));
    for (int i = 0; i < 15000; i++) {
        buf[2 * i] = (char)0xa1;
        buf[2 * i + 1] = 0x00;
    }
    buf[30000] = 0x00;
    CHECK(expect_reject("CBOR 15000 maps", (const uint8_t *)buf, 30001, NULL, D, "nested"));
    memset(buf, '[', 1500);
    memset(buf + 1500, ']', 1500);
    CHECK(expect_reject("JSON 1500 arrays", (const uint8_t *)buf, 3000, NULL, D, NULL));

    /* Entries: 65 against the default 64; 3 against max_entries 2. */
    o = (size_t)sprintf(buf, "{");
    for (int i = 0; i < 65; i++)
        o += (size_t)sprintf(buf + o, "%s\"%d\":[\"a/b\",\"AA\"]", i ? "," : "", i);
    o += (size_t)sprintf(buf + o, "}");
    CHECK(expect_reject("JSON 65 entries", (const uint8_t *)buf, o, NULL, D, "more than 64"));
    attex_buf three = hex("a3 01 820041 01 02 820041 01 03 820041 01");
    attex_cmw_limits two = {0, 0, 2};
    CHECK(expect_reject("CBOR 3 entries, limit 2", three.data, three.len, &two, D,
                        "more than 2"));
    c = decode_ok(three.data, three.len, NULL, "CBOR 3 entries");
    CHECK(c != NULL && attex_cmw_collection_size(c) == 3);
    attex_cmw_free(c);
    attex_buf_free(&three);

    /* Size: 65536 bytes against the default; the limit itself is inclusive. */
    memset(buf, ' ', 65536);
    memcpy(buf, "[\"a/b\",\"AA\"]", 12);
    CHECK(expect_reject("65536 bytes", (const uint8_t *)buf, 65536, NULL, D, "65535-byte"));
    c = decode_ok((const uint8_t *)buf, 65535, NULL, "65535 bytes");
    CHECK(c != NULL);
    attex_cmw_free(c);
    attex_cmw_limits small = {12, 0, 0};
    CHECK(expect_reject("13 bytes, limit 12", (const uint8_t *)buf, 13, &small, D, "12-byte"));
    c = decode_ok((const uint8_t *)buf, 12, &small, "12 bytes, limit 12");
    CHECK(c != NULL);
    attex_cmw_free(c);
    free(buf);

    /* Caller errors. */
    attex_error err;
    attex_cmw_limits bad = {0, -1, 0};
    c = NULL;
    CHECK_RC(attex_cmw_decode((const uint8_t *)"[]", 2, &bad, &c, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    bad.max_depth = CMW_MAX_DEPTH_CAP + 1;
    CHECK_RC(attex_cmw_decode((const uint8_t *)"[]", 2, &bad, &c, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(c == NULL && err.alert == ATTEX_ALERT_NONE && err.message[0] != '\0');
    CHECK_RC(attex_cmw_decode((const uint8_t *)"[]", 2, NULL, NULL, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_decode(NULL, 3, NULL, &c, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
}

/* ---- constructors and accessors ------------------------------------------------------ */

static void test_builders(void)
{
    attex_error err;
    static const uint8_t v[] = {1, 2, 3};
    attex_buf out = ATTEX_BUF_INIT;

    /* Records: media type syntax, non-empty value, registered ind bits. */
    CHECK(attex_cmw_record_new(NULL, v, 3, 0, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_cmw_record_new("nonsense", v, 3, 0, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT && strstr(err.message, "no '/'") != NULL);
    CHECK(attex_cmw_record_new("a/b", v, 0, 0, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT && strstr(err.message, "empty") != NULL);
    CHECK(attex_cmw_record_new("a/b", NULL, 3, 0, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_cmw_record_new("a/b", v, 3, 32, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT && err.alert == ATTEX_ALERT_NONE);
    CHECK(attex_cmw_record_new_cf(1, v, 3, 0x80000000u, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_cmw_record_new_cf(1, NULL, 0, 0, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_cmw_tag_new(65025, v, 3, &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT && strstr(err.message, "65025") != NULL);
    CHECK(attex_cmw_tag_new(0, v, 0, &err) == NULL && err.code == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_cmw_collection_new("1.2.", &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT);
    CHECK(attex_cmw_collection_new("x y", &err) == NULL &&
          err.code == ATTEX_ERR_INVALID_ARGUMENT);

    /* Accessors answer "nothing" for the wrong kind. */
    attex_cmw *r = attex_cmw_record_new("a/b", v, 3, 5, &err);
    attex_cmw *t = attex_cmw_tag_new(65024, v, 3, &err);
    attex_cmw *c = attex_cmw_collection_new(NULL, &err);
    CHECK(r != NULL && t != NULL && c != NULL);
    if (r == NULL || t == NULL || c == NULL) {
        attex_cmw_free(r);
        attex_cmw_free(t);
        attex_cmw_free(c);
        return;
    }
    uint16_t cf = 7;
    size_t n = 9;
    const char *tl = "x";
    int64_t il = 5;
    CHECK(attex_cmw_kind_of(NULL) == 0 && attex_cmw_kind_of(t) == ATTEX_CMW_TAG);
    CHECK(attex_cmw_content_format(r, &cf) == 0 && cf == 7);
    CHECK(attex_cmw_content_format(t, &cf) == 1 && cf == 65024);
    CHECK(attex_cmw_content_format(c, &cf) == 0);
    CHECK(attex_cmw_value(c, &n) == NULL && n == 0);
    CHECK(attex_cmw_ind(r) == 5 && attex_cmw_ind(t) == 0 && attex_cmw_ind(c) == 0);
    CHECK(attex_cmw_media_type(t) == NULL && attex_cmw_media_type(c) == NULL);
    CHECK(attex_cmw_collection_type(c) == NULL && attex_cmw_collection_type(r) == NULL);
    CHECK(attex_cmw_collection_size(r) == 0 && attex_cmw_collection_size(c) == 0);
    CHECK(attex_cmw_collection_entry(c, 0, &tl, &il) == NULL && tl == NULL && il == 0);
    CHECK(attex_cmw_decoded_format(r) == 0 && attex_cmw_decoded_format(NULL) == 0);

    /* An empty collection is not written (RFC 9999 s3.3). */
    CHECK_RC(attex_cmw_encode(c, ATTEX_CMW_CBOR, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_encode(c, ATTEX_CMW_JSON, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(out.data == NULL);
    CHECK_RC(attex_cmw_encode(NULL, ATTEX_CMW_CBOR, &out, &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    CHECK_RC(attex_cmw_encode(r, (attex_cmw_format)3, &out, &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    CHECK_RC(attex_cmw_encode(r, ATTEX_CMW_CBOR, NULL, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);

    /* Adding: ownership passes, failures free the item (LeakSanitizer watches). */
    CHECK_RC(attex_cmw_collection_add(c, "r", r, &err), ATTEX_OK, &err);
    CHECK_RC(attex_cmw_collection_add(c, "r", attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "duplicate label \"r\"") != NULL);
    CHECK_RC(attex_cmw_collection_add(c, "__cmwc_t", attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(c, "", attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(c, "\x01", attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(c, NULL, attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(t, "x", attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(NULL, "x", attex_cmw_tag_new(1, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(c, "x", NULL, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add_int(c, 1, t, &err), ATTEX_OK, &err);
    CHECK_RC(attex_cmw_collection_add_int(c, 1, attex_cmw_tag_new(2, v, 1, &err), &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "duplicate label 1") != NULL);
    /* Misuse that must not free: an item already owned, a cycle. */
    CHECK_RC(attex_cmw_collection_add(c, "again", r, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK_RC(attex_cmw_collection_add(c, "self", c, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    attex_cmw *inner = attex_cmw_collection_new(NULL, &err);
    CHECK_RC(attex_cmw_collection_add(c, "inner", inner, &err), ATTEX_OK, &err);
    CHECK_RC(attex_cmw_collection_add(inner, "outer", c, &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    CHECK(strstr(err.message, "cycle") != NULL);
    /* The nested collection is still empty: nothing can be written yet. */
    CHECK_RC(attex_cmw_encode(c, ATTEX_CMW_CBOR, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "at [\"inner\"]") != NULL);
    CHECK_RC(attex_cmw_collection_add(inner, "leaf", attex_cmw_tag_new(3, v, 2, &err), &err),
             ATTEX_OK, &err);
    CHECK(attex_cmw_collection_size(c) == 3);
    encode_is(c, ATTEX_CMW_CBOR,
              "a3 6172 83 63612f62 43010203 05 01 da6374ffff 43010203 65696e6e6572 a1 646c656166"
              " da63740104 420102",
              NULL);
    /* JSON cannot take the integer label or the tags; the message says where. */
    CHECK_RC(attex_cmw_encode(c, ATTEX_CMW_JSON, &out, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "integer label 1") != NULL);
    attex_cmw_free(c);

    /* Nesting cap for built trees: 64 levels fit, a 65th does not. */
    attex_cmw *root = attex_cmw_collection_new(NULL, &err), *cur = root;
    int ok = root != NULL;
    for (int i = 1; i < CMW_MAX_DEPTH_CAP && ok; i++) {
        attex_cmw *next = attex_cmw_collection_new(NULL, &err);
        ok = next != NULL && attex_cmw_collection_add(cur, "n", next, &err) == ATTEX_OK;
        cur = next;
    }
    CHECK(ok);
    if (ok) {
        CHECK_RC(attex_cmw_collection_add(cur, "leaf", attex_cmw_tag_new(1, v, 1, &err), &err),
                 ATTEX_OK, &err);
        CHECK_RC(attex_cmw_collection_add(cur, "deeper", attex_cmw_collection_new(NULL, &err),
                                          &err),
                 ATTEX_ERR_INVALID_ARGUMENT, &err);
        CHECK_RC(attex_cmw_encode(root, ATTEX_CMW_CBOR, &out, &err), ATTEX_OK, &err);
        attex_cmw_limits max = {0, CMW_MAX_DEPTH_CAP, 0};
        attex_cmw *back = decode_ok(out.data, out.len, &max, "64 levels");
        CHECK(back != NULL && same_tree(root, back, 0));
        attex_cmw_free(back);
        CHECK(expect_reject("64 levels, default limit", out.data, out.len, NULL,
                            ATTEX_ERR_DECODE, "nested"));
        attex_buf_free(&out);
    }
    attex_cmw_free(root);
}

int main(void)
{
    test_tn();
    test_rfc_examples();
    test_vectors();
    test_round_trips();
    test_accepts();
    test_rejects();
    test_limits();
    test_builders();
    return tu_finish("test_cmw");
}
