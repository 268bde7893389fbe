/*
 * libFuzzer target: Arm CCA tokens (include/attex/cca.h).
 *
 * The input is a token (the tag-399 or tag-907 collection of a platform and
 * a realm COSE_Sign1). It goes through attex_cca_appraise (with the sample's
 * platform key, reference values and report data), attex_cca_describe, and
 * cose_sign1_decode on its own, and the outcomes must be consistent:
 * appraisal ATTEX_OK only with a verdict and claims JSON that parses, any
 * failure only ATTEX_ERR_ATTESTATION (or out of memory) with a
 * contraindicated verdict and the error's sentence as reason; description
 * ATTEX_OK only with JSON that parses, else ATTEX_ERR_DECODE.
 *
 * The library copy (attex_fuzzlib) skips the two signature checks, so that
 * mutated claims reach the binding, profile, lifecycle and reference-value
 * checks. Seeds (fuzz/corpus/fuzz_cca_token): the real TF-RMM sample, its
 * tag-907 form, both COSE_Sign1 alone, truncations.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <attex/cca.h>

#include "cose.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sample's platform key (TF-M test key, public; tests/vectors/cca/cca_platform.pub). */
static const char platform_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEIShnxS4rlQiwpCCpBWDzlNLfqiG911FP\n"
    "8akBr+fh94uxHU5m+Kijivp2r2oxxN6MhM4tr8mWQli1P61xh3T0ViDREbF26DGO\n"
    "EYfbAjWjGNN7pZf+6A4OTHYqEryz6m7U\n"
    "-----END PUBLIC KEY-----\n";

static const char policy[] =
    "{\"platform\": {\"implementation_id\": "
    "\"7f454c4602010100000000000000000003003e00010000005058000000000000\","
    " \"config\": [\"cf\", \"00\"],"
    " \"sw_components\": [{\"type\": \"BL\", \"version\": \"3.4.2\"}]},"
    " \"realm\": {\"initial_measurement\": "
    "\"0000000000000000000000000000000000000000000000000000000000000000\"}}";

static attex_verifier *with_policy, *without_policy;
static uint8_t report_data[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    BIO *bio = BIO_new_mem_buf(platform_pem, -1);
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FZ_CHECK(key != NULL);
    attex_cca_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.platform_keys = &key;
    cfg.num_platform_keys = 1;
    attex_error err;
    without_policy = attex_cca_verifier_new(&cfg, &err);
    FZ_CHECK(without_policy != NULL);
    cfg.policy_json = policy;
    cfg.allow_any_lifecycle = 1;
    with_policy = attex_cca_verifier_new(&cfg, &err);
    FZ_CHECK(with_policy != NULL);
    EVP_PKEY_free(key);
    memset(report_data, 0xAB, sizeof(report_data));
    return 0;
}

static void check_appraisal(int ret, const attex_appraisal *ap, const attex_error *err)
{
    FZ_CHECK(memchr(ap->reason, 0, sizeof(ap->reason)) != NULL && ap->reason[0] != '\0');
    if (ret != ATTEX_OK) {
        fz_check_error(err, ret);
        FZ_CHECK(ret == ATTEX_ERR_ATTESTATION || ret == ATTEX_ERR_NO_MEMORY);
        FZ_CHECK(ap->verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(strncmp(err->message, ap->reason, sizeof(err->message) - 1) == 0);
        FZ_CHECK(ap->claims_json == NULL);
        return;
    }
    FZ_CHECK(ap->verdict == ATTEX_VERDICT_AFFIRMING || ap->verdict == ATTEX_VERDICT_WARNING ||
             ap->verdict == ATTEX_VERDICT_CONTRAINDICATED);
    FZ_CHECK(ap->claims_json != NULL);
    json_error_t jerr;
    json_t *c = json_loads(ap->claims_json, 0, &jerr);
    FZ_CHECK(c != NULL);
    /* Whatever got through was bound to this report data. */
    const char *ch = json_string_value(json_object_get(json_object_get(c, "realm"), "challenge"));
    FZ_CHECK(ch != NULL && strlen(ch) == 128 && strspn(ch, "ab") == 128);
    json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attex_verifier *vs[2] = {without_policy, with_policy};
    for (int i = 0; i < 2; i++) {
        attex_appraisal ap;
        attex_error err;
        memset(&ap, 0xA5, sizeof(ap));
        attex_error_clear(&err);
        int ret = attex_cca_appraise(vs[i]->ctx, data, size, NULL, 0, report_data, &ap, &err);
        check_appraisal(ret, &ap, &err);
        if (i == 0 && ret == ATTEX_OK)
            FZ_CHECK(ap.verdict != ATTEX_VERDICT_AFFIRMING); /* no reference values */
        attex_appraisal_clear(&ap);
    }
    attex_buf json = ATTEX_BUF_INIT;
    attex_error err;
    attex_error_clear(&err);
    int ret = attex_cca_describe(data, size, &json, &err);
    if (ret == ATTEX_OK) {
        json_error_t jerr;
        json_t *c = json_loadb((const char *)json.data, json.len, 0, &jerr);
        FZ_CHECK(c != NULL && json_is_object(json_object_get(c, "platform")));
        json_decref(c);
    } else {
        fz_check_error(&err, ret);
        FZ_CHECK(ret == ATTEX_ERR_DECODE || ret == ATTEX_ERR_NO_MEMORY);
    }
    attex_buf_free(&json);
    /* Each token of the collection is a COSE_Sign1: the decoder on its own. */
    cose_sign1 c;
    char why[300];
    if (cose_sign1_decode(data, size, &c, why, sizeof(why))) {
        attex_hash h;
        FZ_CHECK(cose_alg_hash(c.alg, &h) == 1);
        fz_touch(c.prot, c.prot_len);
        fz_touch(c.payload, c.payload_len);
        fz_touch(c.sig, c.sig_len);
    } else {
        FZ_CHECK(memchr(why, 0, sizeof(why)) != NULL && why[0] != '\0');
    }
    cose_sign1_free(&c);
    return 0;
}
