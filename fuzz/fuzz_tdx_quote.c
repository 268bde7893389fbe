/*
 * libFuzzer target: Intel TDX quotes (src/tdx.c).
 *
 * The input is a quote. It is decoded (tdx_quote_parse), described
 * (attex_tdx_describe) and appraised (attex_tdx_appraise) with a verifier
 * built once from the real 2023 collateral in tests/vectors/tdx (found
 * through ATTEX_SOURCE_DIR, default "."; without it only decoding and
 * describing run). Invariants: the decoder and the describer agree; every
 * span of a decoded quote lies inside the input; a description is valid
 * JSON; an appraisal either succeeds with a verdict and claims that parse,
 * or fails with ATTEX_ERR_ATTESTATION (or out of memory), a contraindicated
 * verdict, the same sentence in the error and the appraisal, and no claims.
 *
 * The library copy (attex_fuzzlib) skips the ECDSA checks of quotes and
 * collateral and the QE report data hash, so that mutated quotes reach the
 * TCB evaluation, the policy and the claims writer; the PCK chain is still
 * verified by OpenSSL (a mutated chain stops there). Seeds: the real v4 and
 * v5 quotes of tests/vectors/tdx and cut or padded copies.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <attex/attest.h>
#include <attex/tdx.h>

#include "fuzz_common.h"
#include "tdx_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static attex_tdx_verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *root = getenv("ATTEX_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/vectors/tdx/collateral-2023", root ? root : ".");
    attex_tdx_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.collateral_dir = dir;
    attex_error err;
    FZ_CHECK(attex_tdx_parse_time("2023-07-01T01:00:00Z", &cfg.time, &err) == ATTEX_OK);
    /* A policy that every field is checked against, so that the policy code runs too. */
    cfg.policy_json = "{\"mrtd\":[\"000000000000000000000000000000000000000000000000000000000000"
                      "000000000000000000000000000000000000\"],\"allow_debug\":false}";
    verifier = attex_tdx_verifier_new(&cfg, &err);
    if (verifier == NULL)
        fprintf(stderr, "fuzz_tdx_quote: no verifier (%s): decoding only\n", err.message);
    return 0;
}

static void check_json(const char *text, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    FZ_CHECK(j != NULL && json_is_object(j));
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tdx_quote q;
    attex_error err;
    int ret = tdx_quote_parse(data, size, &q, &err);
    if (ret == ATTEX_OK) {
        FZ_CHECK(q.version == 4 || q.version == 5);
        FZ_CHECK(q.tee_type == TDX_TEE_TYPE_TDX);
        FZ_CHECK(fz_within(q.signed_part, q.signed_len, data, size));
        FZ_CHECK(fz_within(q.qe_report_raw, TDX_QE_REPORT_SIZE, data, size));
        FZ_CHECK(fz_within(q.qe_auth, q.qe_auth_len, data, size));
        FZ_CHECK(fz_within(q.pck_chain, q.pck_chain_len, data, size));
        FZ_CHECK(q.trailing <= size);
        fz_touch(q.qe_auth, q.qe_auth_len);
        fz_touch(q.pck_chain, q.pck_chain_len);
    } else {
        fz_check_error(&err, ret);
        FZ_CHECK(ret == ATTEX_ERR_DECODE);
    }
    attex_buf js = ATTEX_BUF_INIT;
    int dret = attex_tdx_describe(data, size, &js, &err);
    FZ_CHECK((dret == ATTEX_OK) == (ret == ATTEX_OK) || dret == ATTEX_ERR_NO_MEMORY);
    if (dret == ATTEX_OK)
        check_json((const char *)js.data, js.len);
    attex_buf_free(&js);
    if (verifier == NULL)
        return 0;
    attex_appraisal a;
    attex_error_clear(&err);
    int aret = attex_tdx_appraise(verifier, data, size, NULL, 0, NULL, &a, &err);
    if (aret == ATTEX_OK) {
        FZ_CHECK(ret == ATTEX_OK);
        FZ_CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING || a.verdict == ATTEX_VERDICT_WARNING ||
                 a.verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(a.claims_json != NULL);
        check_json(a.claims_json, strlen(a.claims_json));
    } else {
        fz_check_error(&err, aret);
        FZ_CHECK(aret == ATTEX_ERR_ATTESTATION || aret == ATTEX_ERR_NO_MEMORY);
        FZ_CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(a.claims_json == NULL);
        if (aret == ATTEX_ERR_ATTESTATION)
            FZ_CHECK(strcmp(a.reason, err.message) == 0);
    }
    FZ_CHECK(memchr(a.reason, 0, sizeof(a.reason)) != NULL);
    attex_appraisal_clear(&a);
    return 0;
}
