/*
 * attex: remote attestation over TLS with Exported Authenticators.
 *
 * Umbrella header: includes every public header of the core library
 * (libattex: OpenSSL, libcbor, jansson). The components with further
 * dependencies have their own headers, included on purpose:
 *   <attex/tpm.h>     TPM 2.0 attester and swtpm helper (attex_tpm: tpm2-tss);
 *                     its verifier is in the core
 *   <attex/remote.h>  remote Verifier client, both RATS models (attex_http: libcurl)
 *   <attex/service.h> the Verifier service (attex_service: libmicrohttpd)
 *   <attex/gnutls.h>, <attex/quic.h>  GnuTLS and QUIC (attex_gnutls: GnuTLS, ngtcp2)
 */
#ifndef ATTEX_ATTEX_H
#define ATTEX_ATTEX_H

#include <attex/attest.h>
#include <attex/buf.h>
#include <attex/channel.h>
#include <attex/cca.h>
#include <attex/cmw.h>
#include <attex/ea.h>
#include <attex/ear.h>
#include <attex/error.h>
#include <attex/frame.h>
#include <attex/openssl.h>
#include <attex/sample.h>
#include <attex/snp.h>
#include <attex/tdx.h>
#include <attex/tsm.h>

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
