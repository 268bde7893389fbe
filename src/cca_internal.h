/*
 * attex internal: the decoded form of an Arm CCA token, for cca.c, its
 * tests and its fuzz target.
 */
#ifndef ATTEX_CCA_INTERNAL_H
#define ATTEX_CCA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>
#include <openssl/types.h>

#include "cose.h"

/* The CBOR tags of the two collection forms (legacy CCA token; CMW collection). */
#define CCA_TAG_LEGACY 399
#define CCA_TAG_CMW_COLLECTION 907
/* Collection keys, and the CoAP C-F of application/eat+cwt used in the tag-907 form. */
#define CCA_KEY_PLATFORM 44234
#define CCA_KEY_REALM 44241
#define CCA_CF_EAT_CWT 263

/* Platform claims (CCA token: PSA-derived keys). */
#define CCA_P_PROFILE 265
#define CCA_P_CHALLENGE 10
#define CCA_P_IMPL_ID 2396
#define CCA_P_INSTANCE_ID 256
#define CCA_P_CONFIG 2401
#define CCA_P_LIFECYCLE 2395
#define CCA_P_SW_COMPONENTS 2399
#define CCA_P_VSI 2400
#define CCA_P_HASH_ALGO 2402

/* Realm claims. */
#define CCA_R_CHALLENGE 10
#define CCA_R_PERSO 44235
#define CCA_R_HASH_ALGO 44236
#define CCA_R_RAK 44237
#define CCA_R_RIM 44238
#define CCA_R_REM 44239
#define CCA_R_RAK_HASH_ALGO 44240
#define CCA_R_PROFILE 265

#define CCA_NUM_REM 4
#define CCA_MAX_SW_COMPONENTS 64
#define CCA_REALM_CHALLENGE_LEN 64

/* A byte or text string inside a decoded item. */
typedef struct cca_bytes {
    const uint8_t *p;
    size_t n;
} cca_bytes;

typedef struct cca_swcomp {
    cca_bytes type, measurement, version, signer_id, hash_algo;
} cca_swcomp;

typedef struct cca_token {
    cbor_item_t *collection;
    int tag; /* CCA_TAG_LEGACY or CCA_TAG_CMW_COLLECTION */
    cose_sign1 platform, realm;
    cbor_item_t *platform_claims, *realm_claims;
    /* platform */
    cca_bytes p_profile, p_challenge, p_impl_id, p_instance_id, p_config, p_vsi, p_hash_algo;
    uint64_t p_lifecycle;
    cca_swcomp *sw;
    size_t num_sw;
    /* realm */
    cca_bytes r_profile, r_challenge, r_perso, r_hash_algo, r_rak, r_rim, r_rak_hash_algo;
    cca_bytes r_rem[CCA_NUM_REM];
    EVP_PKEY *rak;
} cca_token;

/*
 * cca_token_decode decodes the collection, both COSE_Sign1 and both claims
 * sets, and builds the RAK; nothing is verified. On failure it writes why
 * and returns 0. Free with cca_token_free in both cases.
 */
int cca_token_decode(const uint8_t *in, size_t len, cca_token *t, char *why, size_t why_size);
void cca_token_free(cca_token *t);

/* cca_lifecycle_name names a security lifecycle state ("secured", ...). */
const char *cca_lifecycle_name(uint64_t lc);

#endif /* ATTEX_CCA_INTERNAL_H */
