/*
 * attex: remote attestation over TLS with Exported Authenticators.
 *
 * Umbrella header: includes every public attex header.
 */
#ifndef ATTEX_ATTEX_H
#define ATTEX_ATTEX_H

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/channel.h>
#include <attex/cmw.h>
#include <attex/ea.h>
#include <attex/error.h>
#include <attex/frame.h>
#include <attex/openssl.h>
#include <attex/sample.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ATTEX_VERSION_STRING is the version of the headers. */
#define ATTEX_VERSION_STRING "0.1.0"

/** attex_version returns the version of the linked library ("0.1.0"). */
const char *attex_version(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_ATTEX_H */
