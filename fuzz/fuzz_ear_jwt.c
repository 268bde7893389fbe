/*
 * libFuzzer target: EAR JWT validation (JWS compact parsing and the claims
 * decoder, draft-ietf-rats-ear) and the JWK reader.
 *
 * The input is a compact JWT. The library copy (attex_fuzzlib) skips the
 * signature check, so mutated claims reach the claims decoder. Invariants:
 * a failure comes with a known code and a message; a success gives claims
 * within the rules (known profile, 1..16 submodules with names and valid
 * statuses, nonce absent or 8..64 bytes, exp absent or after iat). An
 * accepted EAR that can be re-issued must validate again to the same claims.
 * The input is also given to attex_ear_key_from_jwk.
 *
 * Seeds (fuzz/corpus/fuzz_ear_jwt) are the Veraison sample EAR and crafted
 * EARs of both claim generations (dummy signatures: the check is skipped).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <attex/ear.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    FZ_CHECK(key != NULL);
    return 0;
}

static void check_claims(const attex_ear *e)
{
    FZ_CHECK(strcmp(e->profile, ATTEX_EAR_PROFILE) == 0 ||
             strcmp(e->profile, ATTEX_EAR_PROFILE_VERAISON) == 0);
    FZ_CHECK(e->iat >= 0 && (e->exp == 0 || e->exp > e->iat));
    FZ_CHECK(e->nonce_len == 0 || (e->nonce_len >= 8 && e->nonce_len <= 64));
    FZ_CHECK(e->num_submods >= 1 && e->num_submods <= ATTEX_EAR_MAX_SUBMODS);
    FZ_CHECK(memchr(e->verifier_developer, 0, sizeof(e->verifier_developer)) != NULL);
    FZ_CHECK(memchr(e->verifier_build, 0, sizeof(e->verifier_build)) != NULL);
    for (size_t i = 0; i < e->num_submods; i++) {
        const attex_ear_submod *s = &e->submods[i];
        FZ_CHECK(s->name[0] != 0 && memchr(s->name, 0, sizeof(s->name)) != NULL);
        FZ_CHECK(memchr(s->policy_id, 0, sizeof(s->policy_id)) != NULL);
        FZ_CHECK(s->status == ATTEX_VERDICT_NONE || s->status == ATTEX_VERDICT_AFFIRMING ||
                 s->status == ATTEX_VERDICT_WARNING ||
                 s->status == ATTEX_VERDICT_CONTRAINDICATED);
    }
    attex_verdict w = attex_ear_worst(e);
    FZ_CHECK(w == ATTEX_VERDICT_NONE || w == ATTEX_VERDICT_AFFIRMING ||
             w == ATTEX_VERDICT_WARNING || w == ATTEX_VERDICT_CONTRAINDICATED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    EVP_PKEY *keys[1] = {key};
    attex_ear_validate_opts o;
    memset(&o, 0, sizeof(o));
    o.keys = keys;
    o.num_keys = 1;
    o.now = 1800000000;
    attex_ear *e = calloc(1, sizeof(*e));
    FZ_CHECK(e != NULL);
    attex_error err;
    memset(&err, 0, sizeof(err));
    int rc = attex_ear_validate(data, size, &o, e, &err);
    if (rc != ATTEX_OK) {
        FZ_CHECK(rc == ATTEX_ERR_DECODE || rc == ATTEX_ERR_ATTESTATION ||
                 rc == ATTEX_ERR_BAD_SIGNATURE || rc == ATTEX_ERR_NO_MEMORY);
        FZ_CHECK(err.code == rc && err.message[0] != 0);
    } else {
        check_claims(e);
        /* Re-issue what was accepted (when it is issuable) and read it back. */
        if (e->nonce_len >= 8 && e->exp > e->iat && e->verifier_developer[0] &&
            e->verifier_build[0]) {
            int dup = 0;
            for (size_t i = 0; i < e->num_submods; i++)
                for (size_t j = 0; j < i; j++)
                    dup |= strcmp(e->submods[i].name, e->submods[j].name) == 0;
            attex_buf jwt = ATTEX_BUF_INIT;
            FZ_CHECK(!dup);
            if (attex_ear_issue(e, key, &jwt, &err) == ATTEX_OK) {
                attex_ear *back = calloc(1, sizeof(*back));
                FZ_CHECK(back != NULL);
                o.now = e->iat;
                FZ_CHECK(attex_ear_validate(jwt.data, jwt.len, &o, back, &err) == ATTEX_OK);
                FZ_CHECK(back->iat == e->iat && back->exp == e->exp &&
                         back->nonce_len == e->nonce_len &&
                         memcmp(back->nonce, e->nonce, e->nonce_len) == 0 &&
                         back->num_submods == e->num_submods);
                free(back);
            }
            attex_buf_free(&jwt);
        }
    }
    free(e);
    EVP_PKEY *k = NULL;
    rc = attex_ear_key_from_jwk((const char *)data, size, &k, &err);
    FZ_CHECK((rc == ATTEX_OK) == (k != NULL));
    EVP_PKEY_free(k);
    return 0;
}
