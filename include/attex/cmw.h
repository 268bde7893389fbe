/*
 * attex: RATS Conceptual Message Wrappers (CMW, RFC 9999).
 *
 * A CMW is a tree: leaves are Records ([type, value, ind]) or Tags
 * (#6.<TN(cf)>(bytes), CBOR only); inner nodes are Collections (maps from
 * labels to CMWs, with an optional "__cmwc_t" type). Each can be serialised
 * as CBOR or JSON (tags: CBOR only). The decoder is strict and bounded:
 * duplicate map keys, base64url padding or non-alphabet characters, ind 0 or
 * with bits set beyond the five registered ones (above 31), empty values, empty collections, trailing bytes, excessive
 * size or depth are rejected with a reason.
 */
#ifndef ATTEX_CMW_H
#define ATTEX_CMW_H

#include <stddef.h>
#include <stdint.h>

#include <attex/buf.h>
#include <attex/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The kind of a CMW node. */
typedef enum attex_cmw_kind {
    ATTEX_CMW_RECORD = 1,
    ATTEX_CMW_TAG = 2,
    ATTEX_CMW_COLLECTION = 3
} attex_cmw_kind;

/** Serialisations. */
typedef enum attex_cmw_format {
    ATTEX_CMW_CBOR = 1,
    ATTEX_CMW_JSON = 2
} attex_cmw_format;

/** The `ind` bits (RFC 9999 s3.1, conceptual message types). */
enum {
    ATTEX_CMW_IND_REFERENCE_VALUES = 1,
    ATTEX_CMW_IND_ENDORSEMENTS = 2,
    ATTEX_CMW_IND_EVIDENCE = 4,
    ATTEX_CMW_IND_ATTESTATION_RESULTS = 8,
    ATTEX_CMW_IND_APPRAISAL_POLICY = 16
};

/** CoAP Content-Formats of CMW itself (RFC 9999 s10). */
enum {
    ATTEX_CF_CMW_CBOR = 273,
    ATTEX_CF_CMW_JSON = 274,
    ATTEX_CF_CMW_COSE = 275,
    ATTEX_CF_CMW_JWS = 276
};

/** A CMW node (opaque). */
typedef struct attex_cmw attex_cmw;

/** Decoding limits. Zero fields take the defaults shown. */
typedef struct attex_cmw_limits {
    size_t max_size;    /* whole input, bytes: default 65535 (the cmw_attestation limit) */
    int max_depth;      /* collection nesting: default 8; above 64 is refused */
    size_t max_entries; /* entries per collection: default 64 */
} attex_cmw_limits;

/**
 * attex_cmw_decode parses a CBOR or JSON CMW (told apart by the first byte,
 * RFC 9999 s3.5) into *out. `limits` may be NULL.
 */
int attex_cmw_decode(const uint8_t *in, size_t in_len, const attex_cmw_limits *limits,
                     attex_cmw **out, attex_error *err);

/**
 * attex_cmw_encode serialises `cmw` as `format`. JSON cannot carry Tag CMWs
 * or Content-Format numbers as record types, nor integer collection labels:
 * those fail with ATTEX_ERR_INVALID_ARGUMENT.
 */
int attex_cmw_encode(const attex_cmw *cmw, attex_cmw_format format, attex_buf *out,
                     attex_error *err);

/**
 * attex_cmw_record_new makes a Record with media type `media_type` (RFC
 * 9193 syntax), value bytes (copied, at least one) and `ind` (0 for none).
 */
attex_cmw *attex_cmw_record_new(const char *media_type, const uint8_t *value, size_t value_len,
                                uint32_t ind, attex_error *err);

/** attex_cmw_record_new_cf makes a Record typed by CoAP Content-Format `cf` (CBOR only). */
attex_cmw *attex_cmw_record_new_cf(uint16_t cf, const uint8_t *value, size_t value_len,
                                   uint32_t ind, attex_error *err);

/** attex_cmw_tag_new makes a Tag CMW #6.<TN(cf)>(value) for Content-Format `cf` (CBOR only). */
attex_cmw *attex_cmw_tag_new(uint16_t cf, const uint8_t *value, size_t value_len,
                             attex_error *err);

/** attex_cmw_collection_new makes an empty Collection, with "__cmwc_t" = `ctype` unless NULL. */
attex_cmw *attex_cmw_collection_new(const char *ctype, attex_error *err);

/**
 * attex_cmw_collection_add adds `item` under text label `label`; it takes
 * ownership of `item`, even on failure, except when `item` already belongs
 * to a collection or is `collection` or one of its ancestors (a cycle): such
 * a call fails and leaves `item` alone. Duplicate labels fail.
 */
int attex_cmw_collection_add(attex_cmw *collection, const char *label, attex_cmw *item,
                             attex_error *err);

/** attex_cmw_collection_add_int is attex_cmw_collection_add with an integer label (CBOR only). */
int attex_cmw_collection_add_int(attex_cmw *collection, int64_t label, attex_cmw *item,
                                 attex_error *err);

/** attex_cmw_free releases `cmw` and everything under it. Accepts NULL. */
void attex_cmw_free(attex_cmw *cmw);

/** attex_cmw_kind_of returns the node's kind. */
attex_cmw_kind attex_cmw_kind_of(const attex_cmw *cmw);

/** attex_cmw_decoded_format returns the format `cmw` was decoded from, or 0 if built. */
int attex_cmw_decoded_format(const attex_cmw *cmw);

/** attex_cmw_media_type returns a Record's media type string, or NULL (C-F typed, or not a Record). */
const char *attex_cmw_media_type(const attex_cmw *cmw);

/**
 * attex_cmw_content_format sets *out to the Content-Format of a Record
 * typed by number, or of a Tag (inverse of TN(), RFC 9277 App. B), and
 * returns 1; otherwise returns 0.
 */
int attex_cmw_content_format(const attex_cmw *cmw, uint16_t *out);

/** attex_cmw_value returns a Record's or Tag's value bytes and sets *out_len; NULL otherwise. */
const uint8_t *attex_cmw_value(const attex_cmw *cmw, size_t *out_len);

/** attex_cmw_ind returns a Record's ind bits, 0 when absent. */
uint32_t attex_cmw_ind(const attex_cmw *cmw);

/** attex_cmw_collection_type returns a Collection's "__cmwc_t", or NULL. */
const char *attex_cmw_collection_type(const attex_cmw *cmw);

/** attex_cmw_collection_size returns the number of entries of a Collection (0 otherwise). */
size_t attex_cmw_collection_size(const attex_cmw *cmw);

/**
 * attex_cmw_collection_entry returns entry `i` of a Collection and its label:
 * *text_label is set for a text label (else NULL) and *int_label for an
 * integer label. Returns NULL if `i` is out of range.
 */
const attex_cmw *attex_cmw_collection_entry(const attex_cmw *cmw, size_t i,
                                            const char **text_label, int64_t *int_label);

/** attex_cmw_tn returns the CBOR tag number TN(cf) (RFC 9277 App. B), or 0 if cf > 65024. */
uint64_t attex_cmw_tn(uint16_t cf);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_CMW_H */
