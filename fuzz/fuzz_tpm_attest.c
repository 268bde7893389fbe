/*
 * libFuzzer target: the TPM 2.0 structure parsers of the TPM verifier,
 * tpm_quote_parse (TPMS_ATTEST of a quote) and tpm_signature_parse
 * (TPMT_SIGNATURE). The whole input goes to both. On success every view
 * must lie inside the input and the counts within their limits; on failure
 * the error must be a decode or illegal-parameter error with a message.
 * Seeds: the TPMS_ATTEST and TPMT_SIGNATURE of the swtpm vectors
 * (tests/vectors/tpm), and corruptions of them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "tpm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attex_error err;
    tpm_quote q;
    attex_error_clear(&err);
    int ret = tpm_quote_parse(data, size, &q, &err);
    if (ret == ATTEX_OK) {
        FZ_CHECK(fz_within(q.signer, q.signer_len, data, size) && q.signer_len <= 66);
        FZ_CHECK(fz_within(q.extra, q.extra_len, data, size) && q.extra_len <= 64);
        FZ_CHECK(fz_within(q.pcr_digest, q.pcr_digest_len, data, size) &&
                 q.pcr_digest_len <= 64);
        FZ_CHECK(q.num_banks >= 1 && q.num_banks <= TPM_MAX_BANKS && q.safe <= 1);
        FZ_CHECK(tpm_quote_num_pcrs(&q) <= TPM_MAX_PCR_VALUES);
        for (uint32_t b = 0; b < q.num_banks; b++)
            FZ_CHECK(tpm_hash_size(q.banks[b].hash) != 0 && tpm_hash_name(q.banks[b].hash));
        fz_touch(q.signer, q.signer_len);
        fz_touch(q.extra, q.extra_len);
        fz_touch(q.pcr_digest, q.pcr_digest_len);
        /* Part 2 s10.12.12: a quote starts with TPM_GENERATED_VALUE and TPM_ST_ATTEST_QUOTE. */
        FZ_CHECK(size >= 6 && data[0] == 0xFF && data[1] == 0x54 && data[4] == 0x80 &&
                 data[5] == 0x18);
    } else {
        fz_check_error(&err, ret);
        FZ_CHECK(ret == ATTEX_ERR_DECODE || ret == ATTEX_ERR_ILLEGAL_PARAMETER);
    }

    tpm_signature s;
    attex_error_clear(&err);
    ret = tpm_signature_parse(data, size, &s, &err);
    if (ret == ATTEX_OK) {
        FZ_CHECK(tpm_hash_size(s.hash) != 0);
        if (s.sig_alg == TPM_ALG_ECDSA_ID) {
            FZ_CHECK(fz_within(s.r, s.r_len, data, size) && s.r_len >= 1 && s.r_len <= 66);
            FZ_CHECK(fz_within(s.s, s.s_len, data, size) && s.s_len >= 1 && s.s_len <= 66);
            fz_touch(s.r, s.r_len);
            fz_touch(s.s, s.s_len);
        } else {
            FZ_CHECK(s.sig_alg == TPM_ALG_RSASSA_ID || s.sig_alg == TPM_ALG_RSAPSS_ID);
            FZ_CHECK(fz_within(s.sig, s.sig_len, data, size) && s.sig_len >= 1 &&
                     s.sig_len <= 512);
            fz_touch(s.sig, s.sig_len);
        }
    } else {
        fz_check_error(&err, ret);
        FZ_CHECK(ret == ATTEX_ERR_DECODE || ret == ATTEX_ERR_ILLEGAL_PARAMETER);
    }
    return 0;
}
