/*
 * attex internal: the one bounds-checked reader and the one writer.
 *
 * Every untrusted byte attex looks at goes through attex_reader; every byte
 * it emits goes through attex_writer. Parsers never index raw pointers.
 *
 * Reader functions return 1 on success and 0 on failure; on failure the
 * reader is left unchanged. Length-prefixed reads yield a sub-reader that
 * covers exactly the prefixed bytes, so a nested structure cannot read past
 * its own end; a parser finishes a (sub-)reader with rd_done to insist that
 * it consumed all of it.
 *
 * The writer grows a heap buffer, remembers its first failure (sticky
 * error), and back-patches length prefixes opened with wr_open.
 */
#ifndef ATTEX_BYTES_H
#define ATTEX_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include <attex/buf.h>

#define ATTEX_MUST_CHECK __attribute__((warn_unused_result))

typedef struct attex_reader {
    const uint8_t *data;
    size_t len;
} attex_reader;

void rd_init(attex_reader *r, const uint8_t *data, size_t len);
size_t rd_len(const attex_reader *r);
/* rd_ptr exposes the unread bytes, for hashing or copying a span already bounded. */
const uint8_t *rd_ptr(const attex_reader *r);
ATTEX_MUST_CHECK int rd_u8(attex_reader *r, uint8_t *out);
ATTEX_MUST_CHECK int rd_u16(attex_reader *r, uint16_t *out);
ATTEX_MUST_CHECK int rd_u24(attex_reader *r, uint32_t *out);
ATTEX_MUST_CHECK int rd_u32(attex_reader *r, uint32_t *out);
ATTEX_MUST_CHECK int rd_u64(attex_reader *r, uint64_t *out);
/* Little-endian reads, for evidence formats (TDX quotes, SNP reports). */
ATTEX_MUST_CHECK int rd_u16le(attex_reader *r, uint16_t *out);
ATTEX_MUST_CHECK int rd_u32le(attex_reader *r, uint32_t *out);
ATTEX_MUST_CHECK int rd_u64le(attex_reader *r, uint64_t *out);
/* rd_sub moves the next n bytes into a sub-reader. */
ATTEX_MUST_CHECK int rd_sub(attex_reader *r, size_t n, attex_reader *out);
/* rd_copy copies the next n bytes out. */
ATTEX_MUST_CHECK int rd_copy(attex_reader *r, uint8_t *out, size_t n);
ATTEX_MUST_CHECK int rd_skip(attex_reader *r, size_t n);
/* Length-prefixed sub-readers: prefix of 1, 2 or 3 bytes, big-endian. */
ATTEX_MUST_CHECK int rd_prefixed8(attex_reader *r, attex_reader *out);
ATTEX_MUST_CHECK int rd_prefixed16(attex_reader *r, attex_reader *out);
ATTEX_MUST_CHECK int rd_prefixed24(attex_reader *r, attex_reader *out);
/* rd_done returns 1 iff every byte of r was consumed. */
ATTEX_MUST_CHECK int rd_done(const attex_reader *r);
/* rd_peek_u8 reads the next byte without consuming it. */
ATTEX_MUST_CHECK int rd_peek_u8(const attex_reader *r, uint8_t *out);

typedef struct attex_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;  /* hard limit on len */
    int failed;  /* sticky: set by the first failure */
} attex_writer;

/* A writer position returned by wr_open, to give to wr_close. */
typedef struct attex_wr_mark {
    size_t pos;
    int prefix;
} attex_wr_mark;

void wr_init(attex_writer *w, size_t max);
void wr_u8(attex_writer *w, uint8_t v);
void wr_u16(attex_writer *w, uint16_t v);
void wr_u24(attex_writer *w, uint32_t v);
void wr_u32(attex_writer *w, uint32_t v);
void wr_bytes(attex_writer *w, const uint8_t *p, size_t n);
/* wr_open reserves a length prefix of 1, 2 or 3 bytes; wr_close fills it. */
attex_wr_mark wr_open(attex_writer *w, int prefix);
void wr_close(attex_writer *w, attex_wr_mark m);
/* wr_ok returns 1 if no write failed so far. */
int wr_ok(const attex_writer *w);
/* wr_adopt makes w append to buf's bytes (taking the memory; buf is reset). */
void wr_adopt(attex_writer *w, attex_buf *buf, size_t max);
/* wr_finish moves the bytes into out (on success) and resets w. */
ATTEX_MUST_CHECK int wr_finish(attex_writer *w, attex_buf *out);
/* wr_cleanup zeroises and frees. */
void wr_cleanup(attex_writer *w);

/*
 * rd_utf8 reads one UTF-8 encoded code point (RFC 3629 s3-4: shortest form,
 * no surrogates, nothing above U+10FFFF). The project's only UTF-8 decoder.
 */
ATTEX_MUST_CHECK int rd_utf8(attex_reader *r, uint32_t *cp);
/* bytes_utf8_invalid_at returns the offset of the first invalid sequence in p[0..n), or n. */
size_t bytes_utf8_invalid_at(const uint8_t *p, size_t n);
/* bytes_utf8_valid returns 1 if p[0..n) is well-formed UTF-8. */
int bytes_utf8_valid(const uint8_t *p, size_t n);

#endif /* ATTEX_BYTES_H */
