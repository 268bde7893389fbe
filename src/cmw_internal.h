/*
 * attex internal: the CMW tree (RFC 9999) shared by the CBOR and JSON codecs.
 *
 * cmw.c owns the tree, the constructors and accessors, and every rule that
 * does not depend on the serialisation (media-type, "__cmwc_t", label and
 * ind syntax, TN()). cmw_cbor.c and cmw_json.c turn bytes into trees and
 * back, and call the shared checks so that both formats reject the same
 * things with the same words.
 */
#ifndef ATTEX_CMW_INTERNAL_H
#define ATTEX_CMW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/buf.h>
#include <attex/cmw.h>
#include <attex/error.h>

/* Defaults for attex_cmw_limits fields left at zero. */
#define CMW_DEFAULT_MAX_SIZE 65535u
#define CMW_DEFAULT_MAX_DEPTH 8
#define CMW_DEFAULT_MAX_ENTRIES 64u

/*
 * Hard ceiling on collection nesting, for decoded and built trees alike:
 * every walk over a tree (free, encode, checks) recurses once per level, so
 * this is what bounds the stack. A caller asking for more gets
 * ATTEX_ERR_INVALID_ARGUMENT rather than a silently lower limit.
 */
#define CMW_MAX_DEPTH_CAP 64

/* RFC 9999 s3.1 / s10: the five registered ind bits (Reference Values .. Appraisal Policy). */
#define CMW_IND_REGISTERED 0x1fu

/* RFC 9277 App. B: TN(cf) = CMW_TN_BASE + (cf / 255) * 256 + cf % 255, cf <= CMW_CF_TN_MAX. */
#define CMW_TN_BASE 1668546817u
#define CMW_TN_LAST 1668612095u
#define CMW_CF_TN_MAX 65024u

/* One labelled member of a Collection. */
typedef struct cmw_entry {
    char *text;     /* text label (NUL-terminated), or NULL for an integer label */
    int64_t num;    /* integer label (CBOR only); 0 for a text label */
    attex_cmw *item;
} cmw_entry;

struct attex_cmw {
    attex_cmw_kind kind;
    int format;        /* ATTEX_CMW_CBOR / ATTEX_CMW_JSON when decoded, 0 when built */
    attex_cmw *parent; /* the Collection that owns this node, NULL for a root */
    int height;        /* 0 for a leaf; for a Collection 1 + the highest child (1 if empty) */

    /* Record and Tag. A Record has exactly one of media_type and has_cf. */
    char *media_type;
    int has_cf; /* Record typed by Content-Format, or any Tag */
    uint16_t cf;
    uint8_t *value;
    size_t value_len;
    uint32_t ind; /* Record only; 0 = absent */

    /* Collection. */
    char *ctype;      /* "__cmwc_t", or NULL */
    size_t ctype_pos; /* number of entries before "__cmwc_t" on the wire (kept for re-encoding) */
    cmw_entry *entries;
    size_t num_entries, cap_entries;
};

/* ---- tree ---------------------------------------------------------------- */

attex_cmw *cmw_node_new(attex_cmw_kind kind, int format);

/*
 * cmw_append adds an entry without any rule check (the caller has made
 * them) and takes ownership of `text` and `item` on success only. It keeps
 * parent and height up to date. Returns 0 when out of memory.
 */
int cmw_append(attex_cmw *coll, char *text, int64_t num, attex_cmw *item);

/* cmw_nomem reports an allocation failure. */
int cmw_nomem(attex_error *err);

/* ---- where an error is: [label][label] ----------------------------------- */

typedef struct cmw_path {
    char buf[112];
    size_t len;
} cmw_path;

/* Push returns the previous length, to give back to cmw_path_pop. */
size_t cmw_path_push_text(cmw_path *p, const char *s, size_t len);
size_t cmw_path_push_int(cmw_path *p, int64_t v);
void cmw_path_pop(cmw_path *p, size_t old_len);
/* cmw_path_at returns "" at the top, " at [\"a\"][1]" below it. */
const char *cmw_path_at(const cmw_path *p);

/* cmw_quote writes s (len bytes) as a short, printable, quoted excerpt into buf. */
void cmw_quote(char *buf, size_t n, const char *s, size_t len);

/* ---- decoding ------------------------------------------------------------ */

typedef struct cmw_dec {
    size_t max_size;
    int max_depth;
    size_t max_entries;
    int format;
    attex_error *err;
    cmw_path path;
} cmw_dec;

int cmw_decode_cbor(cmw_dec *d, const uint8_t *in, size_t in_len, attex_cmw **out);
int cmw_decode_json(cmw_dec *d, const uint8_t *in, size_t in_len, attex_cmw **out);

/*
 * Checks shared by both decoders. Each returns ATTEX_OK or fails through
 * d->err, naming the node with d->path. String inputs are (pointer,
 * length) and need not be NUL-terminated; *out copies are.
 */
int cmw_dec_media_type(cmw_dec *d, const char *s, size_t len, char **out);
int cmw_dec_content_format(cmw_dec *d, uint64_t cf, uint16_t *out);
int cmw_dec_ind(cmw_dec *d, uint64_t ind, uint32_t *out);
int cmw_dec_value_len(cmw_dec *d, const char *what, size_t len);
int cmw_dec_ctype(cmw_dec *d, const char *s, size_t len, char **out);
int cmw_dec_label(cmw_dec *d, const char *s, size_t len);
int cmw_dec_collection_size(cmw_dec *d, size_t entries);
int cmw_dec_depth(cmw_dec *d, int depth);
/* cmw_dec_finish_collection checks a decoded collection: non-empty, no duplicate label. */
int cmw_dec_finish_collection(cmw_dec *d, const attex_cmw *coll);

/* Error helpers: DECODE / ILLEGAL_PARAMETER with the matching alert. */
int cmw_fail_decode(attex_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmw_fail_illegal(attex_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmw_fail_arg(attex_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * ---- syntax checks ----------------------------------------------------------
 * Each returns 1 if s (len bytes) is acceptable, else 0 with the reason,
 * a phrase, written into why.
 */

int cmw_media_type_ok(const char *s, size_t len, char *why, size_t why_len);
int cmw_ctype_ok(const char *s, size_t len, char *why, size_t why_len);
int cmw_label_ok(const char *s, size_t len, char *why, size_t why_len);


/* cmw_cf_from_tn inverts TN(): returns 1 and sets *cf if tn is a TN() value. */
int cmw_cf_from_tn(uint64_t tn, uint16_t *cf);

/* ---- encoding ------------------------------------------------------------ */

int cmw_encode_cbor(const attex_cmw *cmw, attex_buf *out, attex_error *err);
int cmw_encode_json(const attex_cmw *cmw, attex_buf *out, attex_error *err);

#endif /* ATTEX_CMW_INTERNAL_H */
