/*
 * libFuzzer target: TPM quote evidence (docs/tpm.md), decoded with
 * tpm_evidence_decode and appraised with attex_tpm_evidence_appraise by a
 * verifier that pins the ECDSA AK of the swtpm vectors (tests/vectors/tpm)
 * and uses their reference values and report_data.
 *
 * Invariants: decoded evidence re-encodes, and decodes again to the same
 * parts; the appraisal returns ATTEX_OK only with a verdict and claims JSON
 * that parses, an affirming verdict only for this report_data; any failure
 * is ATTEX_ERR_ATTESTATION (or out of memory) with a contraindicated
 * verdict and the reason as the error. The fuzz library copy skips the
 * signature check (docs/security.md), so mutated quotes reach the binding
 * and PCR checks. Seeds: the vectors' evidence and corruptions of it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <attex/tpm.h>

#include "fuzz_common.h"
#include "tpm_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/vectors/tpm/ak_ecdsa.pem and reference_values.json (a public key, no secret). */
static const char ak_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0d6FFSDYMM+ISyjkfGlpKPaEM2NE\n"
    "gIbUo8F1rksAssyKdE8vku5oMD0o0t9qcdTdXIFcySprtmqlkOBE9QEYww==\n"
    "-----END PUBLIC KEY-----\n";
static const char refs[] =
    "{\"pcrs\": {\"sha256\": {"
    "\"0\": [\"fe21bf15fa4915348dcab4263b0980cf11911ee0ced71c4573cfc48e041b123d\"],"
    "\"1\": [\"5c89c9ca7e97576361fb30959109efcea9c2a37aafe9016c842d263a77fd4c42\"],"
    "\"7\": [\"0000000000000000000000000000000000000000000000000000000000000000\"]},"
    "\"sha1\": {\"1\": [\"a72b900795e122426e7cbf0329043b743469f6ab\"]}}}";

static attex_verifier *verifier;
static uint8_t report_data[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    BIO *bio = BIO_new_mem_buf(ak_pem, -1);
    EVP_PKEY *ak = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FZ_CHECK(ak != NULL);
    for (int i = 0; i < 64; i++)
        report_data[i] = (uint8_t)i;
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_aks = &ak;
    vc.num_trusted_aks = 1;
    vc.reference_values_json = refs;
    attex_error err;
    verifier = attex_tpm_verifier_new(&vc, &err);
    FZ_CHECK(verifier != NULL);
    EVP_PKEY_free(ak);
    return 0;
}

static void check_roundtrip(const uint8_t *data, size_t size)
{
    tpm_evidence e, e2;
    attex_error err;
    if (tpm_evidence_decode(data, size, &e, &err) != ATTEX_OK) {
        fz_check_error(&err, err.code);
        FZ_CHECK(err.code == ATTEX_ERR_DECODE || err.code == ATTEX_ERR_NO_MEMORY);
        tpm_evidence_free(&e);
        return;
    }
    FZ_CHECK(fz_within(e.attest, e.attest_len, data, size) || e.attest_len > 0);
    attex_buf out = ATTEX_BUF_INIT;
    FZ_CHECK(tpm_evidence_encode(&e, &out, &err) == ATTEX_OK);
    FZ_CHECK(out.len <= size); /* the encoding is the shortest form */
    FZ_CHECK(tpm_evidence_decode(out.data, out.len, &e2, &err) == ATTEX_OK);
    FZ_CHECK(e2.attest_len == e.attest_len && memcmp(e2.attest, e.attest, e.attest_len) == 0);
    FZ_CHECK(e2.sig_len == e.sig_len && memcmp(e2.sig, e.sig, e.sig_len) == 0);
    FZ_CHECK(e2.ak_len == e.ak_len && memcmp(e2.ak, e.ak, e.ak_len) == 0);
    FZ_CHECK(e2.num_pcrs == e.num_pcrs && e2.num_chain == e.num_chain);
    for (size_t i = 0; i < e.num_pcrs; i++)
        FZ_CHECK(e2.pcr_len[i] == e.pcr_len[i] &&
                 memcmp(e2.pcrs[i], e.pcrs[i], e.pcr_len[i]) == 0);
    tpm_evidence_free(&e2);
    tpm_evidence_free(&e);
    attex_buf_free(&out);
}

static void check_appraisal(int ret, const attex_appraisal *ap, const attex_error *err,
                            const uint8_t *rd)
{
    FZ_CHECK(memchr(ap->reason, 0, sizeof(ap->reason)) != NULL && ap->reason[0] != '\0');
    if (ret != ATTEX_OK) {
        fz_check_error(err, ret);
        FZ_CHECK(ret == ATTEX_ERR_ATTESTATION || ret == ATTEX_ERR_NO_MEMORY ||
                 ret == ATTEX_ERR_CRYPTO);
        FZ_CHECK(ap->verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(strncmp(err->message, ap->reason, sizeof(err->message) - 1) == 0);
        FZ_CHECK(ap->claims_json == NULL);
        return;
    }
    FZ_CHECK(ap->verdict == ATTEX_VERDICT_AFFIRMING ||
             ap->verdict == ATTEX_VERDICT_CONTRAINDICATED);
    FZ_CHECK(ap->claims_json != NULL);
    json_error_t jerr;
    json_t *c = json_loads(ap->claims_json, 0, &jerr);
    FZ_CHECK(c != NULL && json_is_object(json_object_get(c, "pcrs")));
    json_decref(c);
    if (ap->verdict == ATTEX_VERDICT_AFFIRMING)
        FZ_CHECK(strcmp(ap->reason, "all 4 PCRs match reference values") == 0);
    (void)rd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_roundtrip(data, size);
    attex_appraisal ap;
    attex_error err;
    /* With the binding, then without it (offline inspection). */
    const uint8_t *rds[2] = {report_data, NULL};
    for (int i = 0; i < 2; i++) {
        memset(&ap, 0xA5, sizeof(ap));
        attex_error_clear(&err);
        int ret = attex_tpm_evidence_appraise(verifier, data, size, rds[i], &ap, &err);
        check_appraisal(ret, &ap, &err, rds[i]);
        free(ap.claims_json);
    }
    return 0;
}
