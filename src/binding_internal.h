/* attex: the report-data half of the binding, for callers that hold binder and AIK hash. */
#ifndef ATTEX_BINDING_INTERNAL_H
#define ATTEX_BINDING_INTERNAL_H

#include <stdint.h>

#include <attex/attest.h>

/*
 * binding_report_data computes PROTOCOL.md s3's report_data from a binder and
 * an AIK hash of attex_hash_len(hash) bytes each. attex_binding_derive uses
 * it, and so does the Verifier service, which receives binder and AIK hash
 * from its client rather than an exporter and an SPKI.
 */
int binding_report_data(attex_hash hash, const uint8_t *binder, const uint8_t *aik_pub_hash,
                        uint8_t out[64], attex_error *err);

#endif /* ATTEX_BINDING_INTERNAL_H */
