/*
 * attex internal: RFC 9261 message codecs.
 *
 * One decoder per message type: authenticator request (CertificateRequest /
 * ClientCertificateRequest), Certificate, CertificateVerify, Finished; and
 * the authenticator framing that strings the last three together. Decoders
 * check structure only (lengths, counts, duplicates); what the values must be
 * is decided by the ea logic in ea.c.
 */
#ifndef ATTEX_EA_MSG_H
#define ATTEX_EA_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <attex/ea.h>

#include "bytes.h"

/* A parsed extension block. Data pointers refer into the decoded bytes. */
typedef struct ea_extensions {
    attex_extension *items;
    size_t num;
} ea_extensions;

void ea_extensions_free(ea_extensions *e);
int ea_extensions_find(const ea_extensions *e, uint16_t type, attex_extension *out);

struct attex_ea_request {
    uint8_t *raw; /* the whole message, header included */
    size_t raw_len;
    uint8_t type;
    uint8_t context[ATTEX_EA_MAX_CONTEXT];
    size_t context_len;
    uint16_t *schemes;
    size_t num_schemes;
    ea_extensions exts; /* pointers into raw */
};

typedef struct ea_cert_entry {
    attex_reader cert_der;
    ea_extensions exts;
} ea_cert_entry;

/* A decoded authenticator. Readers and pointers refer into the input bytes. */
typedef struct ea_auth_msgs {
    int empty;                  /* Finished only (RFC 9261 s6) */
    attex_reader certificate;   /* whole Certificate message, header included */
    attex_reader context;
    ea_cert_entry *entries;
    size_t num_entries;
    attex_reader certificate_verify; /* whole CertificateVerify message */
    uint16_t scheme;
    attex_reader signature;
    attex_reader finished;       /* verify_data */
} ea_auth_msgs;

/* Decoders. Each returns ATTEX_OK or fills err with the decode failure. */
int ea_decode_request(const uint8_t *in, size_t in_len, attex_ea_request **out,
                      attex_error *err);
int ea_decode_certificate(attex_reader body, ea_auth_msgs *out, attex_error *err);
int ea_decode_certificate_verify(attex_reader body, ea_auth_msgs *out, attex_error *err);
int ea_decode_finished(attex_reader body, size_t hash_len, ea_auth_msgs *out,
                       attex_error *err);
int ea_decode_authenticator(const uint8_t *in, size_t in_len, size_t hash_len,
                            ea_auth_msgs *out, attex_error *err);
void ea_auth_msgs_free(ea_auth_msgs *m);

/* Encoders: append one complete handshake message to w. */
void ea_encode_request(attex_writer *w, uint8_t type, const uint8_t *context,
                       size_t context_len, const uint16_t *schemes, size_t num_schemes,
                       const attex_extension *exts, size_t num_exts);
/* certs: DER of each certificate; exts go in the first entry only. */
void ea_encode_certificate(attex_writer *w, const uint8_t *context, size_t context_len,
                           const attex_buf *certs, size_t num_certs,
                           const attex_extension *exts, size_t num_exts);
void ea_encode_certificate_verify(attex_writer *w, uint16_t scheme, const uint8_t *sig,
                                  size_t sig_len);
void ea_encode_finished(attex_writer *w, const uint8_t *verify_data, size_t len);

#endif /* ATTEX_EA_MSG_H */
