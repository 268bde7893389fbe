/*
 * attex internal: the one CBOR writer and the one CBOR pre-scan (RFC 8949).
 *
 * Writing: heads in their shortest form (RFC 8949 s4.2.1 preferred
 * serialisation) and definite-length strings, through attex_writer.
 *
 * Reading: cbor_scan walks untrusted bytes with attex_reader, iteratively
 * and with a fixed-size stack, and checks that they start with one
 * well-formed data item (RFC 8949 s3, Appendix C) within the caller's
 * limits. It runs before libcbor sees the bytes, because libcbor 0.8
 * allocates arrays and maps from their declared counts (9 bytes can ask for
 * 32 GiB), frees nested items recursively, and cannot decode the one-byte
 * tags 6..20 (0xc6..0xd4). cbor_load_exact runs the scan and then libcbor's
 * cbor_load on exactly one item.
 *
 * The scan reports what is wrong as a status and the facts around it (the
 * offset, the initial byte, the argument); each caller words its own
 * message from them.
 *
 */
#ifndef ATTEX_CBOR_RW_H
#define ATTEX_CBOR_RW_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "bytes.h"


/* RFC 8949 s3.1: the major types. */
enum {
    CBOR_MAJOR_UINT = 0,
    CBOR_MAJOR_NEGINT = 1,
    CBOR_MAJOR_BYTES = 2,
    CBOR_MAJOR_TEXT = 3,
    CBOR_MAJOR_ARRAY = 4,
    CBOR_MAJOR_MAP = 5,
    CBOR_MAJOR_TAG = 6,
    CBOR_MAJOR_SIMPLE = 7 /* simple values and floats */
};

/* cbor_major_name names a major type for messages ("byte string", "map", ...). */
const char *cbor_major_name(unsigned major);

/* ---- writing ------------------------------------------------------------- */

/* cbor_put_head writes the head of major type `major` with argument v, shortest form. */
void cbor_put_head(attex_writer *w, unsigned major, uint64_t v);
/* cbor_put_int writes v as major type 0, or as major type 1 (-1 - n) when negative. */
void cbor_put_int(attex_writer *w, int64_t v);
/* cbor_put_bytes / cbor_put_text write a definite-length string; p may be NULL when n is 0. */
void cbor_put_bytes(attex_writer *w, const uint8_t *p, size_t n);
void cbor_put_text(attex_writer *w, const char *s, size_t n);

/* ---- reading ------------------------------------------------------------- */

/* The scan's stack: no limit can ask for more open containers than this. */
#define CBOR_SCAN_MAX_DEPTH 128

typedef struct cbor_scan_limits {
    /*
     * Containers open at once, at most: arrays and maps (empty ones too),
     * tags, indefinite-length strings. 0 refuses every container; values
     * above CBOR_SCAN_MAX_DEPTH count as CBOR_SCAN_MAX_DEPTH.
     */
    int max_depth;
    int indefinite;            /* indefinite lengths (RFC 8949 s3.2.1-s3.2.3) are allowed */
    uint64_t tag_min, tag_max; /* tags allowed: numbers in [tag_min, tag_max]; none if min > max */
    int utf8;                  /* text strings must be valid UTF-8 (RFC 8949 s3.1) */
    int plain_simple;          /* of major type 7, only false, true, null, undefined, floats */
    int trailing;              /* cbor_scan: bytes may follow the item (cbor_load_exact: never) */
} cbor_scan_limits;

typedef enum cbor_scan_status {
    CBOR_SCAN_OK = 0,
    CBOR_SCAN_END,           /* the input ends where an item should start */
    CBOR_SCAN_HEAD,          /* the input ends inside a head's argument */
    CBOR_SCAN_RESERVED,      /* additional information 28..30 (RFC 8949 s3) */
    CBOR_SCAN_INDEF_MAJOR,   /* additional information 31 on major type 0, 1 or 6 (s3.2) */
    CBOR_SCAN_INDEF,         /* an indefinite length, not allowed by the limits */
    CBOR_SCAN_BREAK,         /* a break (0xff) outside an indefinite-length item (s3.2.1) */
    CBOR_SCAN_CHUNK,         /* an indefinite string's chunk of another type (s3.2.3) */
    CBOR_SCAN_STRING_LENGTH, /* a string announces more bytes than remain */
    CBOR_SCAN_UTF8,          /* a text string (or chunk) is not UTF-8 (s3.1) */
    CBOR_SCAN_COUNT,         /* an array or map announces more items than the bytes can hold */
    CBOR_SCAN_DEPTH,         /* a container would open more than max_depth */
    CBOR_SCAN_TAG,           /* a tag outside [tag_min, tag_max] */
    CBOR_SCAN_SIMPLE_FORM,   /* a two-byte simple value below 32: not well-formed (s3.3) */
    CBOR_SCAN_SIMPLE,        /* plain_simple: another simple value */
    CBOR_SCAN_TRAILING,      /* bytes follow the item */
    CBOR_SCAN_NOMEM,         /* cbor_load_exact: libcbor ran out of memory */
    CBOR_SCAN_LIBCBOR        /* cbor_load_exact: libcbor refused what the scan accepted */
} cbor_scan_status;

/* What the scan found. For a failure, the item is the one whose head starts at offset. */
typedef struct cbor_scan_result {
    cbor_scan_status status;
    size_t offset;       /* the item's first byte; for CBOR_SCAN_END, the input length */
    uint8_t byte;        /* its initial byte */
    unsigned major;      /* its major type */
    int indefinite;      /* it has indefinite length */
    uint64_t value;      /* its argument: string length, item or pair count, tag, simple value */
    size_t remaining;    /* bytes after its head */
    size_t utf8_at;      /* CBOR_SCAN_UTF8: offset of the bad sequence within the string */
    unsigned outer;      /* CBOR_SCAN_CHUNK: major type of the indefinite-length string */
    size_t item_len;     /* CBOR_SCAN_OK, CBOR_SCAN_TRAILING: the item's length */
    int libcbor_error;   /* CBOR_SCAN_LIBCBOR: libcbor's cbor_error_code */
} cbor_scan_result;

/*
 * cbor_scan checks that in[0..len) starts with one well-formed item within
 * lim (and, unless lim->trailing, holds nothing else). It returns
 * res->status; res is always filled.
 */
cbor_scan_status cbor_scan(const uint8_t *in, size_t len, const cbor_scan_limits *lim,
                           cbor_scan_result *res);

/*
 * cbor_load_exact decodes exactly one item filling in[0..len) with libcbor,
 * after cbor_scan has accepted it (trailing bytes are refused whatever
 * lim->trailing says). Returns a new item (cbor_decref it), or NULL with
 * res->status saying why.
 */
cbor_item_t *cbor_load_exact(const uint8_t *in, size_t len, const cbor_scan_limits *lim,
                             cbor_scan_result *res);


#endif /* ATTEX_CBOR_RW_H */
