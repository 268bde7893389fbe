/*
 * TPM quote evidence, offline: known answers on evidence captured from swtpm
 * (tests/vectors/tpm/README.md), and a negative test for every rule of the
 * parsers and the appraisal: a flipped byte anywhere in TPMS_ATTEST or
 * TPMT_SIGNATURE, truncation at every length, every length field off by
 * one, wrong magic and type, a PCR value changed (pcrDigest), reference
 * values that differ (the PCR named), another binding's extraData, an AK
 * that is not trusted, AK certificate chains, malformed CBOR evidence and
 * verifier configurations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attex/cmw.h>
#include <attex/tpm.h>

#include "testutil.h"
#include "internal.h"
#include "tpm_internal.h"

static attex_error err;
static attex_buf ev_ecdsa, ev_rsa, ev_other, ak_ecdsa_pem, ak_rsa_pem, refs_buf, rd_buf;
static EVP_PKEY *ak_ecdsa, *ak_rsa;
static char *refs;

static int load(const char *name, attex_buf *out)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/vectors/tpm/%s", name);
    FILE *f = fopen(tu_source_path(rel), "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (set ATTEX_SOURCE_DIR)\n", tu_source_path(rel));
        return 0;
    }
    out->data = malloc(70000);
    out->len = fread(out->data, 1, 70000, f);
    fclose(f);
    return out->len > 0;
}

static EVP_PKEY *pem_key(const attex_buf *pem)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return k;
}

static attex_verifier *make_verifier(EVP_PKEY *ak, const char *ref_json, const char *roots)
{
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    if (ak != NULL) {
        vc.trusted_aks = &ak;
        vc.num_trusted_aks = 1;
    }
    vc.ak_roots_path = roots;
    vc.reference_values_json = ref_json;
    return attex_tpm_verifier_new(&vc, &err);
}

/* appraise runs the raw appraisal and returns its status; *ap is cleared by the caller. */
static int appraise(const attex_verifier *v, const uint8_t *ev, size_t len, const uint8_t *rd,
                    attex_appraisal *ap)
{
    attex_error_clear(&err);
    int rc = attex_tpm_evidence_appraise(v, ev, len, rd, ap, &err);
    /* The verdict and the error must agree with the contract of attest.h. */
    if (rc != ATTEX_OK)
        CHECK(ap->verdict == ATTEX_VERDICT_CONTRAINDICATED || rc == ATTEX_ERR_INVALID_ARGUMENT);
    return rc;
}

/* reencode replaces parts of `src` evidence and encodes it again into *out. */
typedef struct edit {
    const uint8_t *attest;
    size_t attest_len;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *ak;
    size_t ak_len;
    size_t drop_pcrs;
    const uint8_t *chain0;
    size_t chain0_len;
    int pcr_flip;     /* flip a bit of PCR value pcr_flip-1 */
    size_t pcr0_len;  /* nonzero: PCR value 0 becomes this many bytes */
} edit;

static int reencode(const attex_buf *src, const edit *ed, attex_buf *out)
{
    tpm_evidence e;
    if (tpm_evidence_decode(src->data, src->len, &e, &err) != ATTEX_OK) {
        tpm_evidence_free(&e);
        return 0;
    }
    uint8_t pcr_copy[TPM_MAX_DIGEST];
    if (ed->attest) {
        e.attest = ed->attest;
        e.attest_len = ed->attest_len;
    }
    if (ed->sig) {
        e.sig = ed->sig;
        e.sig_len = ed->sig_len;
    }
    if (ed->ak) {
        e.ak = ed->ak;
        e.ak_len = ed->ak_len;
    }
    if (ed->chain0) {
        e.chain[0] = ed->chain0;
        e.chain_len[0] = ed->chain0_len;
        e.num_chain = 1;
    }
    if (ed->pcr_flip > 0) {
        size_t i = (size_t)ed->pcr_flip - 1;
        memcpy(pcr_copy, e.pcrs[i], e.pcr_len[i]);
        pcr_copy[0] ^= 1;
        e.pcrs[i] = pcr_copy;
    }
    static const uint8_t zeros[TPM_MAX_DIGEST];
    if (ed->pcr0_len > 0) {
        e.pcrs[0] = zeros;
        e.pcr_len[0] = ed->pcr0_len;
    }
    e.num_pcrs -= ed->drop_pcrs;
    int ok = tpm_evidence_encode(&e, out, &err) == ATTEX_OK;
    tpm_evidence_free(&e);
    return ok;
}

static attex_verifier *verifier; /* ECDSA AK pinned, the vectors' reference values */

/* ---- known answers ------------------------------------------------------ */

static void test_kat(void)
{
    tpm_evidence e;
    tpm_quote q;
    tpm_signature s;
    CHECK_RC(tpm_evidence_decode(ev_ecdsa.data, ev_ecdsa.len, &e, &err), ATTEX_OK, &err);
    CHECK_RC(tpm_quote_parse(e.attest, e.attest_len, &q, &err), ATTEX_OK, &err);
    CHECK_RC(tpm_signature_parse(e.sig, e.sig_len, &s, &err), ATTEX_OK, &err);
    CHECK(e.num_chain == 0 && e.num_pcrs == 7);
    CHECK(q.extra_len == 64 && memcmp(q.extra, rd_buf.data, 64) == 0);
    CHECK(q.num_banks == 2 && q.banks[0].hash == TPM_ALG_SHA256_ID &&
          q.banks[1].hash == TPM_ALG_SHA1_ID);
    /* sha256:0,1,2,3,7 and sha1:0,1 */
    CHECK(q.banks[0].select[0] == 0x8F && q.banks[0].select[1] == 0 && q.banks[1].select[0] == 3);
    CHECK(tpm_quote_num_pcrs(&q) == 7);
    CHECK(q.pcr_digest_len == 32 && q.signer_len == 34 && q.safe == 1);
    CHECK(s.sig_alg == TPM_ALG_ECDSA_ID && s.hash == TPM_ALG_SHA256_ID && s.r_len == 32 &&
          s.s_len == 32);
    tpm_evidence_free(&e);

    CHECK_RC(tpm_evidence_decode(ev_rsa.data, ev_rsa.len, &e, &err), ATTEX_OK, &err);
    CHECK_RC(tpm_signature_parse(e.sig, e.sig_len, &s, &err), ATTEX_OK, &err);
    CHECK(s.sig_alg == TPM_ALG_RSASSA_ID && s.hash == TPM_ALG_SHA256_ID && s.sig_len == 256);
    tpm_evidence_free(&e);

    attex_appraisal ap;
    CHECK_RC(appraise(verifier, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    CHECK(strcmp(ap.reason, "all 7 PCRs match reference values") == 0);
    CHECK(ap.claims_json && strstr(ap.claims_json, "\"ak_trust\":\"pinned\"") != NULL);
    CHECK(ap.claims_json && strstr(ap.claims_json, "fe21bf15fa4915348dcab4263b0980cf11911ee0ced7"
                                                   "1c4573cfc48e041b123d") != NULL);
    attex_appraisal_clear(&ap);
    /* No report_data: the binding is not checked (offline inspection). */
    CHECK_RC(appraise(verifier, ev_other.data, ev_other.len, NULL, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    attex_appraisal_clear(&ap);

    attex_verifier *rv = make_verifier(ak_rsa, refs, NULL);
    CHECK(rv != NULL);
    CHECK_RC(appraise(rv, ev_rsa.data, ev_rsa.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    attex_appraisal_clear(&ap);
    /* An RSA quote with an ECDSA AK pinned, and the reverse: unknown AK. */
    CHECK_RC(appraise(verifier, ev_rsa.data, ev_rsa.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION,
             &err);
    CHECK(strstr(err.message, "unknown AK") != NULL);
    attex_appraisal_clear(&ap);
    CHECK_RC(appraise(rv, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION,
             &err);
    CHECK(strstr(err.message, "unknown AK") != NULL);
    attex_appraisal_clear(&ap);

    /* Through the plug-in interface: a Record of our type, ind 4 only. */
    attex_binding b;
    memset(&b, 0, sizeof(b));
    b.hash = ATTEX_HASH_SHA256;
    b.hash_len = 32;
    memcpy(b.report_data, rd_buf.data, 64);
    attex_cmw *rec = attex_cmw_record_new(ATTEX_TPM_MEDIA_TYPE, ev_rsa.data, ev_rsa.len,
                                          ATTEX_CMW_IND_EVIDENCE, &err);
    CHECK(rec != NULL);
    CHECK_RC(rv->appraise(rv->ctx, rec, &b, &ap, &err), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    attex_appraisal_clear(&ap);
    attex_cmw_free(rec);
    rec = attex_cmw_record_new(ATTEX_TPM_MEDIA_TYPE, ev_rsa.data, ev_rsa.len,
                               ATTEX_CMW_IND_ATTESTATION_RESULTS, &err);
    CHECK_RC(rv->appraise(rv->ctx, rec, &b, &ap, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "ind is 8") != NULL);
    attex_appraisal_clear(&ap);
    attex_cmw_free(rec);
    b.report_data[63] ^= 1;
    rec = attex_cmw_record_new(ATTEX_TPM_MEDIA_TYPE, ev_rsa.data, ev_rsa.len,
                               ATTEX_CMW_IND_EVIDENCE, &err);
    CHECK_RC(rv->appraise(rv->ctx, rec, &b, &ap, &err), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "replayed") != NULL);
    attex_appraisal_clear(&ap);
    attex_cmw_free(rec);
    CHECK(strcmp(verifier->media_type, ATTEX_TPM_MEDIA_TYPE) == 0);
    attex_tpm_verifier_free(rv);
}

/* ---- the appraisal's rules ---------------------------------------------- */

static void test_binding_and_ak(void)
{
    attex_appraisal ap;
    /* extraData for another binding. */
    CHECK_RC(appraise(verifier, ev_other.data, ev_other.len, rd_buf.data, &ap),
             ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "stale or replayed quote: extraData 808182") != NULL);
    CHECK(strstr(err.message, "report_data 000102") != NULL);
    attex_appraisal_clear(&ap);
    /* Wrong AK pinned. */
    EVP_PKEY *other = tu_key("p256");
    attex_verifier *v = make_verifier(other, refs, NULL);
    CHECK_RC(appraise(v, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION,
             &err);
    CHECK(strstr(err.message, "unknown AK (SPKI SHA-256 ") != NULL);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);
    /* The evidence names another AK than the one that signed: a pinned one that did not sign. */
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(other, &der);
    attex_buf swapped = ATTEX_BUF_INIT;
    edit ed;
    memset(&ed, 0, sizeof(ed));
    ed.ak = der;
    ed.ak_len = (size_t)n;
    CHECK(reencode(&ev_ecdsa, &ed, &swapped));
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    EVP_PKEY *both[2] = {ak_ecdsa, other};
    vc.trusted_aks = both;
    vc.num_trusted_aks = 2;
    vc.reference_values_json = refs;
    v = attex_tpm_verifier_new(&vc, &err);
    CHECK_RC(appraise(v, swapped.data, swapped.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION,
             &err);
    CHECK(strstr(err.message, "signature (ECDSA sha256) does not verify") != NULL);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);
    attex_buf_free(&swapped);
    OPENSSL_free(der);
    /* An AK that is not a key attex accepts (a 1024-bit RSA key would not be). */
    static const uint8_t junk_spki[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    ed.ak = junk_spki;
    ed.ak_len = sizeof(junk_spki);
    CHECK(reencode(&ev_ecdsa, &ed, &swapped));
    CHECK_RC(appraise(verifier, swapped.data, swapped.len, rd_buf.data, &ap),
             ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "SubjectPublicKeyInfo") != NULL);
    attex_appraisal_clear(&ap);
    attex_buf_free(&swapped);
    EVP_PKEY_free(other);
}

static void test_pcrs(void)
{
    attex_appraisal ap;
    /* Reference values that differ for one PCR: contraindicated, the PCR named. */
    static const char *one_bad =
        "{\"pcrs\": {\"sha256\": {\"0\": "
        "[\"fe21bf15fa4915348dcab4263b0980cf11911ee0ced71c4573cfc48e041b123d\"], \"3\": "
        "[\"1111111111111111111111111111111111111111111111111111111111111111\", "
        "\"2222222222222222222222222222222222222222222222222222222222222222\"]}}}";
    attex_verifier *v = make_verifier(ak_ecdsa, one_bad, NULL);
    CHECK(v != NULL);
    CHECK_RC(appraise(v, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(strstr(ap.reason, "PCR sha256:3 differs: got "
                            "0000000000000000000000000000000000000000000000000000000000000000, "
                            "expected 1111") != NULL);
    CHECK(strstr(ap.reason, "(or 1 other accepted values)") != NULL);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);
    /* One of several accepted values matches. */
    static const char *alt =
        "{\"pcrs\": {\"sha1\": {\"1\": [\"1111111111111111111111111111111111111111\", "
        "\"a72b900795e122426e7cbf0329043b743469f6ab\"]}}}";
    v = make_verifier(ak_ecdsa, alt, NULL);
    CHECK_RC(appraise(v, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);
    /* A PCR the policy names but the quote does not select; and two bad PCRs counted. */
    static const char *absent =
        "{\"pcrs\": {\"sha256\": {\"9\": "
        "[\"0000000000000000000000000000000000000000000000000000000000000000\"]}, \"sha1\": {\"0\": "
        "[\"0000000000000000000000000000000000000000\"]}}}";
    v = make_verifier(ak_ecdsa, absent, NULL);
    CHECK_RC(appraise(v, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_CONTRAINDICATED);
    CHECK(strstr(ap.reason, "PCR sha256:9 is not in the quote") != NULL);
    CHECK(strstr(ap.reason, "(and 1 more PCRs differ)") != NULL);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);

    /* A PCR value carried that is not the one quoted: pcrDigest no longer matches. */
    for (int i = 1; i <= 7; i++) {
        edit ed;
        memset(&ed, 0, sizeof(ed));
        ed.pcr_flip = i;
        attex_buf t = ATTEX_BUF_INIT;
        CHECK(reencode(&ev_ecdsa, &ed, &t));
        CHECK_RC(appraise(verifier, t.data, t.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strstr(err.message, "pcrDigest") != NULL);
        attex_appraisal_clear(&ap);
        attex_buf_free(&t);
    }
    /* A PCR value of another length than its bank's digest. */
    size_t wrong_lens[] = {20, 31, 33, 64};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(wrong_lens); i++) {
        edit el;
        memset(&el, 0, sizeof(el));
        el.pcr0_len = wrong_lens[i];
        attex_buf tl = ATTEX_BUF_INIT;
        CHECK(reencode(&ev_ecdsa, &el, &tl));
        CHECK_RC(appraise(verifier, tl.data, tl.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION,
                 &err);
        CHECK(strstr(err.message, "PCR sha256:0 value is") != NULL);
        attex_appraisal_clear(&ap);
        attex_buf_free(&tl);
    }
    /* One PCR value fewer than the selection. */
    edit ed;
    memset(&ed, 0, sizeof(ed));
    ed.drop_pcrs = 1;
    attex_buf t = ATTEX_BUF_INIT;
    CHECK(reencode(&ev_ecdsa, &ed, &t));
    CHECK_RC(appraise(verifier, t.data, t.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "carries 6 PCR values but the quote selects 7") != NULL);
    attex_appraisal_clear(&ap);
    attex_buf_free(&t);
}

/* Every byte of the signed TPMS_ATTEST and of the signature matters. */
static void test_tamper(const attex_buf *src, const attex_verifier *v, const char *what)
{
    tpm_evidence e;
    CHECK_RC(tpm_evidence_decode(src->data, src->len, &e, &err), ATTEX_OK, &err);
    uint8_t att[1024], sig[1024];
    size_t alen = e.attest_len, slen = e.sig_len;
    memcpy(att, e.attest, alen);
    memcpy(sig, e.sig, slen);
    tpm_evidence_free(&e);
    size_t rejected = 0;
    for (int part = 0; part < 2; part++) {
        uint8_t *buf = part ? sig : att;
        size_t len = part ? slen : alen;
        for (size_t i = 0; i < len; i++) {
            buf[i] ^= 0x01;
            edit ed;
            memset(&ed, 0, sizeof(ed));
            ed.attest = att;
            ed.attest_len = alen;
            ed.sig = sig;
            ed.sig_len = slen;
            attex_buf t = ATTEX_BUF_INIT;
            attex_appraisal ap;
            if (reencode(src, &ed, &t) &&
                appraise(v, t.data, t.len, rd_buf.data, &ap) == ATTEX_ERR_ATTESTATION)
                rejected++;
            else
                fprintf(stderr, "%s: flipping %s byte %zu was not rejected\n", what,
                        part ? "signature" : "TPMS_ATTEST", i);
            attex_appraisal_clear(&ap);
            attex_buf_free(&t);
            buf[i] ^= 0x01;
        }
    }
    CHECK(rejected == alen + slen);
}

/* ---- the parsers ------------------------------------------------------- */

static void test_parsers(void)
{
    tpm_evidence e;
    tpm_quote q;
    tpm_signature s;
    CHECK_RC(tpm_evidence_decode(ev_ecdsa.data, ev_ecdsa.len, &e, &err), ATTEX_OK, &err);
    uint8_t att[512], sig[600];
    size_t alen = e.attest_len, slen = e.sig_len;
    memcpy(att, e.attest, alen);
    memcpy(sig, e.sig, slen);
    tpm_evidence_free(&e);
    CHECK_RC(tpm_evidence_decode(ev_rsa.data, ev_rsa.len, &e, &err), ATTEX_OK, &err);
    uint8_t rsig[600];
    size_t rlen = e.sig_len;
    memcpy(rsig, e.sig, rlen);
    tpm_evidence_free(&e);

    /* Truncation at every length, and one byte too many. */
    size_t bad = 0;
    for (size_t n = 0; n < alen; n++)
        bad += tpm_quote_parse(att, n, &q, &err) == ATTEX_ERR_DECODE;
    CHECK(bad == alen);
    bad = 0;
    for (size_t n = 0; n < slen; n++)
        bad += tpm_signature_parse(sig, n, &s, &err) == ATTEX_ERR_DECODE;
    for (size_t n = 0; n < rlen; n++)
        bad += tpm_signature_parse(rsig, n, &s, &err) == ATTEX_ERR_DECODE;
    CHECK(bad == slen + rlen);
    att[alen] = 0;
    CHECK_RC(tpm_quote_parse(att, alen + 1, &q, &err), ATTEX_ERR_DECODE, &err);
    sig[slen] = 0;
    CHECK_RC(tpm_signature_parse(sig, slen + 1, &s, &err), ATTEX_ERR_DECODE, &err);

    /* Every length field one more and one less: never accepted. Offsets from the KAT layout:
     * magic 0, type 4, qualifiedSigner size 6 (34), extraData size 42 (64), clockInfo 108
     * (safe at 124), firmwareVersion 125, count 133, sha256 selection 137 (size byte 139), sha1 selection 143
     * (size byte 145), pcrDigest size 149. */
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_OK, &err);
    CHECK(alen == 183);
    static const struct {
        size_t off;
        int width;
    } lens[] = {{6, 2}, {42, 2}, {139, 1}, {145, 1}, {149, 2}, {133, 4}};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(lens); i++)
        for (int d = -1; d <= 1; d += 2) {
            size_t at = lens[i].off + (size_t)lens[i].width - 1;
            uint8_t save = att[at];
            att[at] = (uint8_t)(att[at] + d);
            int rc = tpm_quote_parse(att, alen, &q, &err);
            CHECK(rc == ATTEX_ERR_DECODE || rc == ATTEX_ERR_ILLEGAL_PARAMETER);
            att[at] = save;
        }
    /* ECDSA r and s sizes, RSA signature size. */
    for (int d = -1; d <= 1; d += 2) {
        size_t at[] = {5, 5 + 32 + 2};
        for (size_t i = 0; i < 2; i++) {
            sig[at[i]] = (uint8_t)(sig[at[i]] + d);
            int rc = tpm_signature_parse(sig, slen, &s, &err);
            CHECK(rc == ATTEX_ERR_DECODE || rc == ATTEX_ERR_ILLEGAL_PARAMETER);
            sig[at[i]] = (uint8_t)(sig[at[i]] - d);
        }
        rsig[5] = (uint8_t)(rsig[5] + d);
        CHECK(tpm_signature_parse(rsig, rlen, &s, &err) == ATTEX_ERR_DECODE);
        rsig[5] = (uint8_t)(rsig[5] - d);
    }
    CHECK_RC(tpm_signature_parse(sig, slen, &s, &err), ATTEX_OK, &err);

    /* Magic, type, counts, unknown algorithms, a YES/NO that is neither. */
    att[0] = 0xFE;
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    CHECK(strstr(err.message, "TPM_GENERATED_VALUE") != NULL);
    att[0] = 0xFF;
    att[5] = 0x17; /* TPM_ST_ATTEST_CERTIFY */
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    CHECK(strstr(err.message, "TPM_ST_ATTEST_QUOTE") != NULL);
    att[5] = 0x18;
    att[124] = 2; /* clockInfo.safe */
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    att[124] = 1;
    att[136] = 0;
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    att[136] = 5;
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    att[136] = 2;
    att[144] = 0x0B; /* the second bank is sha256 too */
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    CHECK(strstr(err.message, "twice") != NULL);
    att[144] = 0x12; /* SM3 */
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    att[144] = 0x04;
    CHECK_RC(tpm_quote_parse(att, alen, &q, &err), ATTEX_OK, &err);
    /* sizeofSelect 4: allowed, but not to select a PCR above 23. */
    uint8_t att4[520];
    memcpy(att4, att, 143);
    att4[143] = 0x00;
    memcpy(att4 + 144, att + 143, alen - 143);
    att4[139] = 4;
    CHECK_RC(tpm_quote_parse(att4, alen + 1, &q, &err), ATTEX_OK, &err);
    CHECK(q.banks[0].size_of_select == 4 && tpm_quote_num_pcrs(&q) == 7);
    att4[143] = 0x01;
    CHECK_RC(tpm_quote_parse(att4, alen + 1, &q, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    CHECK(strstr(err.message, "above 23") != NULL);
    sig[1] = 0x1A; /* ECDAA */
    CHECK_RC(tpm_signature_parse(sig, slen, &s, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    sig[1] = 0x18;
    sig[3] = 0x12;
    CHECK_RC(tpm_signature_parse(sig, slen, &s, &err), ATTEX_ERR_ILLEGAL_PARAMETER, &err);
    /* A SHA-1 signature parses but is refused by the appraisal. */
    sig[3] = 0x04;
    CHECK_RC(tpm_signature_parse(sig, slen, &s, &err), ATTEX_OK, &err);
    edit ed;
    memset(&ed, 0, sizeof(ed));
    ed.sig = sig;
    ed.sig_len = slen;
    attex_buf t = ATTEX_BUF_INIT;
    attex_appraisal ap;
    CHECK(reencode(&ev_ecdsa, &ed, &t));
    CHECK_RC(appraise(verifier, t.data, t.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "SHA-1") != NULL);
    attex_appraisal_clear(&ap);
    attex_buf_free(&t);
    /* An RSA signature on an ECDSA AK: refused. */
    ed.sig = rsig;
    ed.sig_len = rlen;
    CHECK(reencode(&ev_ecdsa, &ed, &t));
    CHECK_RC(appraise(verifier, t.data, t.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "RSASSA sha256) does not verify") != NULL);
    attex_appraisal_clear(&ap);
    attex_buf_free(&t);
}

static void test_evidence_cbor(void)
{
    tpm_evidence e;
    attex_appraisal ap;
    /* Truncation at every length. */
    size_t bad = 0;
    for (size_t n = 0; n < ev_ecdsa.len; n++) {
        bad += tpm_evidence_decode(ev_ecdsa.data, n, &e, &err) == ATTEX_ERR_DECODE;
        tpm_evidence_free(&e);
    }
    CHECK(bad == ev_ecdsa.len);
    /* Hand-made maps: each must be refused with its reason. */
    static const struct {
        const char *hex, *why;
    } cases[] = {
        {"a0", "lacks \"attest\""},
        {"80", "not a CBOR map"},
        {"a162616b4101", "lacks \"attest\""},
        {"a262616b410162616b4101", "twice"},
        {"a163666f6f4101", "unknown key"},
        {"a162616b01", "not a non-empty byte string"},
        {"a162616b40", "not a non-empty byte string"},
        {"a16470637273a0", "\"pcrs\" is not an array"},
        {"a1647063727380", "has 0 entries"},
        {"a164706372738101", "entry 0 is not a byte string"},
        {"a1016161", "unknown key"},
        {"d818a0", "tag"},
        {"bf62616b4101ff", "indefinite"},
        {"a0a0", "follow"},
        {"a162616b5f4101ff", "indefinite"},
        {"a1", "more items"},
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(cases); i++) {
        attex_buf b = ATTEX_BUF_INIT;
        CHECK(tu_hex(cases[i].hex, &b));
        int rc = tpm_evidence_decode(b.data, b.len, &e, &err);
        tpm_evidence_free(&e);
        CHECK(rc == ATTEX_ERR_DECODE && strstr(err.message, cases[i].why) != NULL);
        if (rc != ATTEX_ERR_DECODE || strstr(err.message, cases[i].why) == NULL)
            fprintf(stderr, "case %s: %s\n", cases[i].hex, err.message);
        CHECK_RC(appraise(verifier, b.data, b.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strncmp(ap.reason, "TPM evidence: ", 14) == 0);
        attex_appraisal_clear(&ap);
        attex_buf_free(&b);
    }
    CHECK_RC(appraise(verifier, NULL, 0, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "empty") != NULL);
    attex_appraisal_clear(&ap);
    CHECK_RC(attex_tpm_evidence_appraise(NULL, ev_ecdsa.data, ev_ecdsa.len, NULL, &ap, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    /* Another plug-in's verifier is not taken for a TPM one. */
    attex_verifier alien = *verifier;
    alien.appraise = NULL;
    CHECK_RC(attex_tpm_evidence_appraise(&alien, ev_ecdsa.data, ev_ecdsa.len, NULL, &ap, &err),
             ATTEX_ERR_INVALID_ARGUMENT, &err);
    /* Re-encoding decoded evidence gives the same bytes (deterministic encoding). */
    attex_buf t = ATTEX_BUF_INIT;
    edit ed;
    memset(&ed, 0, sizeof(ed));
    CHECK(reencode(&ev_rsa, &ed, &t));
    CHECK(t.len == ev_rsa.len && memcmp(t.data, ev_rsa.data, t.len) == 0);
    attex_buf_free(&t);
}

/* ---- AK certificate chains --------------------------------------------- */

static char *write_pem(X509 *c)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(512);
    snprintf(path, 512, "%s/attex-tpm-roots-XXXXXX", tmp && tmp[0] ? tmp : ".");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(f != NULL);
    if (f != NULL) {
        PEM_write_X509(f, c);
        fclose(f);
    }
    return path;
}

static void test_chain(void)
{
    EVP_PKEY *ca_key = tu_key("p256"), *other_ca_key = tu_key("p256");
    X509 *ca = tu_cert(ca_key, "attex test AK CA", NULL, NULL, 1, 10);
    X509 *other_ca = tu_cert(other_ca_key, "another CA", NULL, NULL, 1, 10);
    X509 *leaf = tu_cert(ak_ecdsa, "attex test AK", ca, ca_key, 0, 10);
    X509 *wrong_leaf = tu_cert(ak_rsa, "another AK", ca, ca_key, 0, 10);
    char *roots = write_pem(ca), *other_roots = write_pem(other_ca);
    uint8_t *der = NULL, *wder = NULL;
    int n = i2d_X509(leaf, &der), wn = i2d_X509(wrong_leaf, &wder);
    attex_buf with_chain = ATTEX_BUF_INIT, with_wrong = ATTEX_BUF_INIT;
    edit ed;
    memset(&ed, 0, sizeof(ed));
    ed.chain0 = der;
    ed.chain0_len = (size_t)n;
    CHECK(reencode(&ev_ecdsa, &ed, &with_chain));
    ed.chain0 = wder;
    ed.chain0_len = (size_t)wn;
    CHECK(reencode(&ev_ecdsa, &ed, &with_wrong));
    attex_appraisal ap;

    attex_verifier *v = make_verifier(NULL, refs, roots);
    CHECK(v != NULL);
    CHECK_RC(appraise(v, with_chain.data, with_chain.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    CHECK(ap.claims_json && strstr(ap.claims_json, "\"ak_trust\":\"certificate\"") != NULL);
    attex_appraisal_clear(&ap);
    /* No chain in the evidence. */
    CHECK_RC(appraise(v, ev_ecdsa.data, ev_ecdsa.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION,
             &err);
    CHECK(strstr(err.message, "carries no certificate chain") != NULL);
    attex_appraisal_clear(&ap);
    /* A valid certificate, but for another key than the AK. */
    CHECK_RC(appraise(v, with_wrong.data, with_wrong.len, rd_buf.data, &ap),
             ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "certificate's key is not the AK") != NULL);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);
    /* A chain to a root that is not configured. */
    v = make_verifier(NULL, refs, other_roots);
    CHECK_RC(appraise(v, with_chain.data, with_chain.len, rd_buf.data, &ap),
             ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "does not validate") != NULL);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);

    unlink(roots);
    unlink(other_roots);
    free(roots);
    free(other_roots);
    OPENSSL_free(der);
    OPENSSL_free(wder);
    attex_buf_free(&with_chain);
    attex_buf_free(&with_wrong);
    X509_free(ca);
    X509_free(other_ca);
    X509_free(leaf);
    X509_free(wrong_leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_ca_key);
}

/*
 * Signature kinds swtpm's AKs do not make here: RSASSA-PSS (salt = digest size, as
 * current TPMs do, and maximal, as some older ones do) and ECDSA P-384, signed in
 * software over the captured TPMS_ATTEST.
 */
static void software_signed(EVP_PKEY *key, int pss_salt, const char *what)
{
    tpm_evidence e;
    CHECK_RC(tpm_evidence_decode(ev_ecdsa.data, ev_ecdsa.len, &e, &err), ATTEX_OK, &err);
    uint8_t raw[600], tsig[700];
    size_t raw_len = sizeof(raw), o = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int is_rsa = EVP_PKEY_is_a(key, "RSA");
    CHECK(EVP_DigestSignInit_ex(ctx, &pctx, "SHA256", NULL, NULL, key, NULL) == 1);
    if (is_rsa) {
        CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
        CHECK(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt) == 1);
    }
    CHECK(EVP_DigestSign(ctx, raw, &raw_len, e.attest, e.attest_len) == 1);
    EVP_MD_CTX_free(ctx);
    /* Part 2 s11.3.4: TPMT_SIGNATURE = sigAlg, hash, then the scheme's fields. */
    tsig[o++] = 0x00;
    tsig[o++] = is_rsa ? 0x16 : 0x18;
    tsig[o++] = 0x00;
    tsig[o++] = 0x0B;
    if (is_rsa) {
        tsig[o++] = (uint8_t)(raw_len >> 8);
        tsig[o++] = (uint8_t)raw_len;
        memcpy(tsig + o, raw, raw_len);
        o += raw_len;
    } else {
        const uint8_t *p = raw;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)raw_len);
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        tsig[o++] = 0;
        tsig[o++] = 48;
        BN_bn2binpad(r, tsig + o, 48);
        o += 48;
        tsig[o++] = 0;
        tsig[o++] = 48;
        BN_bn2binpad(s, tsig + o, 48);
        o += 48;
        ECDSA_SIG_free(es);
    }
    tpm_evidence_free(&e);
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    edit ed;
    memset(&ed, 0, sizeof(ed));
    ed.sig = tsig;
    ed.sig_len = o;
    ed.ak = der;
    ed.ak_len = (size_t)n;
    attex_buf t = ATTEX_BUF_INIT;
    CHECK(reencode(&ev_ecdsa, &ed, &t));
    attex_verifier *v = make_verifier(key, refs, NULL);
    attex_appraisal ap;
    CHECK_RC(appraise(v, t.data, t.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    if (ap.verdict != ATTEX_VERDICT_AFFIRMING)
        fprintf(stderr, "%s: %s\n", what, ap.reason);
    attex_appraisal_clear(&ap);
    /* The same signature under RSASSA's or another scheme's header does not verify. */
    tsig[1] = is_rsa ? 0x14 : 0x18;
    tsig[3] = 0x0C;
    attex_buf_free(&t);
    CHECK(reencode(&ev_ecdsa, &ed, &t));
    CHECK_RC(appraise(v, t.data, t.len, rd_buf.data, &ap), ATTEX_ERR_ATTESTATION, &err);
    attex_appraisal_clear(&ap);
    attex_buf_free(&t);
    attex_tpm_verifier_free(v);
    OPENSSL_free(der);
}

static void test_software_signed(void)
{
    EVP_PKEY *rsa = tu_key("rsa2048"), *p384 = tu_key("p384");
    software_signed(rsa, 32, "RSAPSS salt 32");
    software_signed(rsa, RSA_PSS_SALTLEN_MAX, "RSAPSS max salt");
    software_signed(p384, 0, "ECDSA P-384");
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p384);
}

static void test_config(void)
{
    static const char *bad_refs[] = {
        "{\"pcrs\": {}}",
        "{\"pcrs\": {\"md5\": {\"0\": [\"00\"]}}}",
        "{\"pcrs\": {\"sha1\": {\"24\": [\"0000000000000000000000000000000000000000\"]}}}",
        "{\"pcrs\": {\"sha1\": {\"07\": [\"0000000000000000000000000000000000000000\"]}}}",
        "{\"pcrs\": {\"sha1\": {\"x\": [\"0000000000000000000000000000000000000000\"]}}}",
        "{\"pcrs\": {\"sha1\": {\"7\": [\"00\"]}}}",
        "{\"pcrs\": {\"sha1\": {\"7\": []}}}",
        "{\"pcrs\": {\"sha1\": {\"7\": \"0000000000000000000000000000000000000000\"}}}",
        "{\"pcrs\": {\"sha1\": {}}, \"extra\": 1}",
        "{\"measurements\": {}}",
        "not json",
    };
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(bad_refs); i++) {
        attex_verifier *v = make_verifier(ak_ecdsa, bad_refs[i], NULL);
        CHECK(v == NULL && err.code == ATTEX_ERR_INVALID_ARGUMENT);
        if (v != NULL)
            fprintf(stderr, "accepted reference values %s\n", bad_refs[i]);
        attex_tpm_verifier_free(v);
    }
    /* No trust anchor at all; both reference forms; a 1024-bit RSA AK; unreadable files. */
    CHECK(make_verifier(NULL, refs, NULL) == NULL);
    CHECK(strstr(err.message, "AK trust") != NULL);
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_aks = &ak_ecdsa;
    vc.num_trusted_aks = 1;
    CHECK(attex_tpm_verifier_new(&vc, &err) == NULL);
    /* tu_source_path returns a static buffer: keep copies. */
    char *ref_path = strdup(tu_source_path("tests/vectors/tpm/reference_values.json"));
    char *rsa_path = strdup(tu_source_path("tests/vectors/tpm/ak_rsa.pem"));
    vc.reference_values_path = ref_path;
    attex_verifier *v = attex_tpm_verifier_new(&vc, &err);
    CHECK(v != NULL);
    attex_tpm_verifier_free(v);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    vc.trusted_aks = &small;
    CHECK(attex_tpm_verifier_new(&vc, &err) == NULL);
    EVP_PKEY_free(small);
    const char *paths[1] = {rsa_path};
    vc.trusted_aks = NULL;
    vc.num_trusted_aks = 0;
    vc.trusted_ak_paths = paths;
    vc.num_trusted_ak_paths = 1;
    v = attex_tpm_verifier_new(&vc, &err);
    CHECK(v != NULL);
    attex_appraisal ap;
    CHECK_RC(appraise(v, ev_rsa.data, ev_rsa.len, rd_buf.data, &ap), ATTEX_OK, &err);
    CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
    attex_appraisal_clear(&ap);
    attex_tpm_verifier_free(v);
    paths[0] = ref_path;
    CHECK(attex_tpm_verifier_new(&vc, &err) == NULL);
    CHECK(strstr(err.message, "BEGIN PUBLIC KEY") != NULL);
    vc.ak_roots_path = rsa_path;
    vc.num_trusted_ak_paths = 0;
    CHECK(attex_tpm_verifier_new(&vc, &err) == NULL);
    CHECK(strstr(err.message, "no PEM certificate") != NULL);
    attex_tpm_verifier_free(NULL);
    free(ref_path);
    free(rsa_path);
}

int main(void)
{
    if (!load("evidence_ecdsa.cbor", &ev_ecdsa) || !load("evidence_rsa.cbor", &ev_rsa) ||
        !load("evidence_ecdsa_other_binding.cbor", &ev_other) ||
        !load("ak_ecdsa.pem", &ak_ecdsa_pem) || !load("ak_rsa.pem", &ak_rsa_pem) ||
        !load("reference_values.json", &refs_buf) || !load("report_data.bin", &rd_buf))
        return 2;
    ak_ecdsa = pem_key(&ak_ecdsa_pem);
    ak_rsa = pem_key(&ak_rsa_pem);
    refs = calloc(1, refs_buf.len + 1);
    memcpy(refs, refs_buf.data, refs_buf.len);
    verifier = make_verifier(ak_ecdsa, refs, NULL);
    if (ak_ecdsa == NULL || ak_rsa == NULL || verifier == NULL || rd_buf.len != 64) {
        fprintf(stderr, "vectors unusable: %s\n", err.message);
        return 2;
    }
    test_kat();
    test_binding_and_ak();
    test_pcrs();
    test_tamper(&ev_ecdsa, verifier, "ecdsa");
    attex_verifier *rv = make_verifier(ak_rsa, refs, NULL);
    test_tamper(&ev_rsa, rv, "rsa");
    attex_tpm_verifier_free(rv);
    test_parsers();
    test_evidence_cbor();
    test_chain();
    test_software_signed();
    test_config();
    attex_tpm_verifier_free(verifier);
    EVP_PKEY_free(ak_ecdsa);
    EVP_PKEY_free(ak_rsa);
    free(refs);
    attex_buf *bufs[] = {&ev_ecdsa, &ev_rsa, &ev_other, &ak_ecdsa_pem, &ak_rsa_pem, &refs_buf,
                         &rd_buf};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(bufs); i++)
        attex_buf_free(bufs[i]);
    return tu_finish("test_tpm_verify");
}
