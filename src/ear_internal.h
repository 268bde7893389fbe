/*
 * attex internal: EAR helpers shared by the core (ear.c), the HTTP client
 * (remote.c) and the Verifier service.
 */
#ifndef ATTEX_EAR_INTERNAL_H
#define ATTEX_EAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <attex/ear.h>
#include <attex/error.h>

/*
 * ear_decode is attex_ear_validate with the signature check optional
 * (check_signature = 0 skips it: for the passport attester, which only
 * checks that what the Verifier returned is a well-formed EAR for its
 * binder, and for the fuzzer). When claims_json is not NULL it receives
 * the payload re-serialised compactly (malloc'd).
 */
int ear_decode(const uint8_t *jwt, size_t jwt_len, const attex_ear_validate_opts *opts,
               int check_signature, attex_ear *out, char **claims_json, attex_error *err);

/* ear_status_name returns the EAR JSON name of a status ("affirming", ...). */
const char *ear_status_name(attex_verdict v);


/* ear_reason names the Verifier and each submodule's status, for an appraisal's reason. */
void ear_reason(const attex_ear *e, char *out, size_t out_size);

#endif /* ATTEX_EAR_INTERNAL_H */
