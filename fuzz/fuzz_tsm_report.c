/*
 * libFuzzer target: tsm-report evidence (include/attex/tsm.h).
 *
 * The input is the value of a CMW Record of type
 * application/vnd.veraison.tsm-report+cbor. It is decoded alone
 * (tsm_report_decode) and appraised through the tsm-report verifier, which
 * dispatches to a stub for tdx_guest (checking that it gets in-bounds
 * views and the binding's report data) and to the real CCA verifier for
 * arm_cca_guest. Invariants: a decoded report has a known shape; the
 * verifier calls at most one provider, only for a report that decodes; a
 * failure is ATTEX_ERR_ATTESTATION (or out of memory) with a
 * contraindicated verdict.
 *
 * Seeds (fuzz/corpus/fuzz_tsm_report): tdx with and without auxblob, sev,
 * arm_cca_guest with the real CCA sample, an unknown provider, an extra key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <attex/cca.h>
#include <attex/tsm.h>

#include "fuzz_common.h"
#include "tsm_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char platform_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEIShnxS4rlQiwpCCpBWDzlNLfqiG911FP\n"
    "8akBr+fh94uxHU5m+Kijivp2r2oxxN6MhM4tr8mWQli1P61xh3T0ViDREbF26DGO\n"
    "EYfbAjWjGNN7pZf+6A4OTHYqEryz6m7U\n"
    "-----END PUBLIC KEY-----\n";

static attex_verifier *cca, *tsm;
static attex_binding binding;
static int stub_calls;

static int stub(void *ctx, const uint8_t *outblob, size_t outblob_len, const uint8_t *auxblob,
                size_t auxblob_len, const uint8_t *report_data, attex_appraisal *out,
                attex_error *err)
{
    (void)err;
    FZ_CHECK(ctx == &stub_calls);
    stub_calls++;
    FZ_CHECK(outblob_len > 0 && outblob_len <= ATTEX_TSM_MAX_BLOB);
    fz_touch(outblob, outblob_len);
    FZ_CHECK(auxblob_len == 0 || auxblob != NULL);
    fz_touch(auxblob, auxblob_len);
    FZ_CHECK(report_data == binding.report_data);
    out->verdict = ATTEX_VERDICT_AFFIRMING;
    snprintf(out->reason, sizeof(out->reason), "stub");
    out->claims_json = NULL;
    return ATTEX_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    BIO *bio = BIO_new_mem_buf(platform_pem, -1);
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FZ_CHECK(key != NULL);
    attex_cca_verifier_config cc;
    memset(&cc, 0, sizeof(cc));
    cc.platform_keys = &key;
    cc.num_platform_keys = 1;
    attex_error err;
    cca = attex_cca_verifier_new(&cc, &err);
    FZ_CHECK(cca != NULL);
    EVP_PKEY_free(key);
    static attex_tsm_provider provs[2];
    provs[0] = (attex_tsm_provider){"tdx_guest", stub, &stub_calls};
    provs[1] = (attex_tsm_provider){"arm_cca_guest", attex_cca_appraise, NULL};
    provs[1].ctx = cca->ctx;
    attex_tsm_verifier_config tc = {provs, 2};
    tsm = attex_tsm_verifier_new(&tc, &err);
    FZ_CHECK(tsm != NULL);
    binding.hash = ATTEX_HASH_SHA256;
    binding.hash_len = 32;
    memset(binding.report_data, 0xAB, sizeof(binding.report_data));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsm_report_view rv;
    char why[300];
    int decoded = tsm_report_decode(data, size, &rv, why, sizeof(why));
    if (decoded) {
        FZ_CHECK(rv.provider != NULL && rv.provider_len > 0 && rv.provider_len < 64);
        FZ_CHECK(rv.outblob != NULL && rv.outblob_len > 0);
        fz_touch(rv.provider, rv.provider_len);
        fz_touch(rv.outblob, rv.outblob_len);
        fz_touch(rv.auxblob, rv.auxblob_len);
    } else {
        FZ_CHECK(memchr(why, 0, sizeof(why)) != NULL && why[0] != '\0');
    }
    tsm_report_view_free(&rv);

    attex_error err;
    attex_cmw *rec = size > 0 ? attex_cmw_record_new(ATTEX_TSM_REPORT_MEDIA_TYPE, data, size,
                                                     ATTEX_CMW_IND_EVIDENCE, &err)
                              : NULL;
    if (rec == NULL)
        return 0;
    attex_appraisal ap;
    memset(&ap, 0xA5, sizeof(ap));
    attex_error_clear(&err);
    stub_calls = 0;
    int ret = tsm->appraise(tsm->ctx, rec, &binding, &ap, &err);
    FZ_CHECK(stub_calls <= 1);
    FZ_CHECK(decoded || (stub_calls == 0 && ret != ATTEX_OK));
    if (ret != ATTEX_OK) {
        fz_check_error(&err, ret);
        FZ_CHECK(ret == ATTEX_ERR_ATTESTATION || ret == ATTEX_ERR_NO_MEMORY);
        FZ_CHECK(ap.verdict == ATTEX_VERDICT_CONTRAINDICATED);
    } else {
        FZ_CHECK(ap.verdict != ATTEX_VERDICT_NONE);
    }
    attex_appraisal_clear(&ap);
    attex_cmw_free(rec);
    return 0;
}
