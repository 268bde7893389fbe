/*
 * libFuzzer target: the SEV-SNP report and certificate table parsers
 * (src/snp.c, docs/snp.md).
 *
 * The input is read three ways:
 *  - as a report: snp_report_parse and attex_snp_describe must agree, and
 *    the description must be a JSON object;
 *  - as a certificate table: snp_cert_table_parse must give entries that lie
 *    inside the input, and attex_snp_cert_table_describe must agree;
 *  - as a report (its first 1184 bytes) followed by a certificate table
 *    (the rest), appraised by a verifier with the built-in ARKs: ATTEX_OK
 *    with a verdict and claims JSON, or ATTEX_ERR_ATTESTATION with a
 *    contraindicated verdict and the same sentence as the error.
 *
 * The library copy (attex_fuzzlib) skips the report signature check, so
 * mutated reports reach the TCB, binding and policy checks; the chain is
 * still verified (the seeds carry the real Milan chain). Seeds:
 * fuzz/corpus/fuzz_snp_report/ (the real report, its table, both joined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <attex/snp.h>

#include "fuzz_common.h"
#include "snp_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static attex_snp_verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    attex_snp_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    /* Reference values that exercise every policy path (the sample's measurement passes). */
    cfg.policy_json = "{\"allow_debug\": true, \"vmpl\": 0, \"min_guest_svn\": 0, "
                      "\"minimum_tcb\": {\"bootloader\": 1, \"snp\": 5}, "
                      "\"products\": [\"Milan\", \"Genoa\"], \"signing_key\": \"any\", "
                      "\"measurement\": [\"b07af9620f3b839b47996422ddec6058338951d984e31211"
                      "5131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01\"]}";
    cfg.validation_time = 1700000000;
    attex_error err;
    verifier = attex_snp_verifier_new(&cfg, &err);
    FZ_CHECK(verifier != NULL);
    return 0;
}

static void check_json(const attex_buf *b, int want_object)
{
    FZ_CHECK(b->data != NULL && b->data[b->len] == '\0');
    json_t *j = json_loadb((const char *)b->data, b->len, 0, NULL);
    FZ_CHECK(j != NULL);
    FZ_CHECK(want_object ? json_is_object(j) : json_is_array(j));
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attex_error err;
    attex_buf json = ATTEX_BUF_INIT;

    /* As a report. */
    snp_report r;
    int pr = snp_report_parse(data, size, &r, &err);
    if (pr == ATTEX_OK) {
        FZ_CHECK(size == ATTEX_SNP_REPORT_SIZE);
        FZ_CHECK(r.version == 2 || r.version == 3);
        FZ_CHECK(fz_within(r.signed_part, SNP_SIGNED_LEN, data, size));
    } else {
        fz_check_error(&err, pr);
    }
    int dr = attex_snp_describe(data, size, &json, &err);
    FZ_CHECK((dr == ATTEX_OK) == (pr == ATTEX_OK));
    if (dr == ATTEX_OK)
        check_json(&json, 1);
    attex_buf_free(&json);

    /* As a certificate table. */
    snp_cert_table t;
    int tr = snp_cert_table_parse(data, size, &t, &err);
    if (tr == ATTEX_OK) {
        FZ_CHECK(t.count <= SNP_CERT_TABLE_MAX);
        for (size_t i = 0; i < t.count; i++) {
            FZ_CHECK(t.entries[i].length > 0);
            FZ_CHECK(fz_within(t.entries[i].data, t.entries[i].length, data, size));
            fz_touch(t.entries[i].data, t.entries[i].length);
        }
    } else {
        fz_check_error(&err, tr);
    }
    int tdr = attex_snp_cert_table_describe(data, size, &json, &err);
    FZ_CHECK((tdr == ATTEX_OK) == (tr == ATTEX_OK));
    if (tdr == ATTEX_OK)
        check_json(&json, 0);
    attex_buf_free(&json);

    /* As a report and its table, appraised. */
    size_t rlen = size < ATTEX_SNP_REPORT_SIZE ? size : ATTEX_SNP_REPORT_SIZE;
    uint8_t rd[64] = {1, 2, 3, 4, 5};
    attex_appraisal a;
    int ar = attex_snp_appraise(verifier, data, rlen, size > rlen ? data + rlen : NULL,
                                size - rlen, rd, &a, &err);
    if (ar == ATTEX_OK) {
        FZ_CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING ||
                 a.verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(a.claims_json != NULL);
        json_t *j = json_loads(a.claims_json, 0, NULL);
        FZ_CHECK(json_is_object(j));
        json_decref(j);
    } else {
        fz_check_error(&err, ar);
        FZ_CHECK(ar == ATTEX_ERR_ATTESTATION || ar == ATTEX_ERR_NO_MEMORY);
        FZ_CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(strcmp(a.reason, err.message) == 0);
        FZ_CHECK(a.claims_json == NULL);
    }
    attex_appraisal_clear(&a);
    return 0;
}
