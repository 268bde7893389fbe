/*
 * libFuzzer target: appraisal of sample evidence (docs/sample.md).
 *
 * The input is the evidence: the value of a CMW Record of the sample type.
 * It is appraised twice, raw (sample_evidence_appraise) and wrapped in a
 * Record through the verifier's public appraise(), with a fixed binding, one
 * trusted key and fixed reference values. Both must agree, and the outcome
 * must be consistent: ATTEX_OK only with a verdict, claims JSON that parses
 * and, when affirming, claims that are this binding's and the reference
 * values'; any failure only ATTEX_ERR_ATTESTATION (or out of memory), with a
 * contraindicated verdict and the same sentence as the error.
 *
 * The library copy (attex_fuzzlib) skips the COSE signature check, so
 * mutated claims reach the claims decoder; the seeds are real, signed
 * evidence all the same. To regenerate them:
 *
 *   ATTEX_SAMPLE_WRITE_SEEDS=fuzz/corpus/fuzz_sample_evidence \
 *       build-fuzz/fuzz_sample_evidence -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <attex/attest.h>
#include <attex/cmw.h>
#include <attex/sample.h>

#include "crypto.h"
#include "fuzz_common.h"
#include "sample_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed attestation key, so that seeds stay valid evidence across runs (test-only key). */
static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXEjYswqHXT1DQfFz\n"
    "P+9TFvMgiDI463X/Z8WksTKU3zWhRANCAAQFZaNU32D+L4kaAYEUA6IfaN5itxbc\n"
    "7tNacKZ3nuEZaJ9pkxc7wm42A7Ddsqq5LGd5RRlWHig/xE39AVKDtYGx\n"
    "-----END PRIVATE KEY-----\n";

#define CONF_NAME "/etc/fuzz.conf"

static EVP_PKEY *key;
static attex_verifier *verifier;
static attex_binding binding;
static sample_measurement good[2];
static char exe_hex[65];

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* ---- seeds ------------------------------------------------------------ */

static void write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    FZ_CHECK(f != NULL);
    FZ_CHECK(fwrite(p, 1, n, f) == n);
    FZ_CHECK(fclose(f) == 0);
}

/* Signs `payload` under protected header `prot` and writes the evidence as seed `name`. */
static void seed_signed(const char *dir, const char *name, const uint8_t *prot, size_t prot_len,
                        const attex_buf *payload)
{
    attex_buf ev = ATTEX_BUF_INIT;
    FZ_CHECK(sample_cose_sign1(key, prot, prot_len, payload->data, payload->len, &ev, NULL) ==
             ATTEX_OK);
    write_seed(dir, name, ev.data, ev.len);
    attex_buf_free(&ev);
}

static attex_buf claims(const char *profile, const uint8_t *nonce, size_t nonce_len,
                        const uint8_t *aik, const sample_measurement *m, size_t nm)
{
    sample_claims c = {profile, 1767225600, nonce, nonce_len, aik, binding.hash_len, m, nm};
    attex_buf out = ATTEX_BUF_INIT;
    FZ_CHECK(sample_claims_encode(&c, &out, NULL) == ATTEX_OK);
    return out;
}

static void write_seeds(const char *dir)
{
    static const uint8_t es256[] = {0xA1, 0x01, 0x26}, es384[] = {0xA1, 0x01, 0x38, 0x22};
    attex_buf ev = ATTEX_BUF_INIT, p;

    /* Real evidence, affirming, and its simple corruptions. */
    FZ_CHECK(sample_evidence_make(key, &binding, 1767225600, good, 2, &ev, NULL) == ATTEX_OK);
    write_seed(dir, "affirming", ev.data, ev.len);
    write_seed(dir, "untagged", ev.data + 1, ev.len - 1);
    write_seed(dir, "truncated", ev.data, ev.len / 2);
    uint8_t *more = malloc(ev.len + 1);
    FZ_CHECK(more != NULL);
    memcpy(more, ev.data, ev.len);
    more[ev.len] = 0x00;
    write_seed(dir, "trailing_byte", more, ev.len + 1);
    more[ev.len - 65] = 0x3F; /* signature bstr head 0x58 0x40 -> 0x58 0x3F, one byte less */
    write_seed(dir, "sig_63", more, ev.len - 1);
    free(more);
    attex_buf_free(&ev);

    /* Properly signed evidence that fails one appraisal rule each. */
    sample_measurement bad[2];
    memcpy(bad, good, sizeof(bad));
    bad[0].digest[0] ^= 1;
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, binding.hash_len, binding.aik_pub_hash, bad, 2);
    seed_signed(dir, "measurement_mismatch", es256, 3, &p);
    attex_buf_free(&p);
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, binding.hash_len, binding.aik_pub_hash, good, 1);
    seed_signed(dir, "measurement_missing", es256, 3, &p);
    attex_buf_free(&p);
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, binding.hash_len, binding.aik_pub_hash, NULL, 0);
    seed_signed(dir, "measurements_empty", es256, 3, &p);
    attex_buf_free(&p);
    uint8_t other[48];
    memset(other, 0x77, sizeof(other));
    p = claims(ATTEX_SAMPLE_PROFILE, other, binding.hash_len, binding.aik_pub_hash, good, 2);
    seed_signed(dir, "nonce_replayed", es256, 3, &p);
    attex_buf_free(&p);
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, 48, binding.aik_pub_hash, good, 2);
    seed_signed(dir, "nonce_48", es256, 3, &p);
    attex_buf_free(&p);
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, binding.hash_len, other, good, 2);
    seed_signed(dir, "aik_other", es256, 3, &p);
    attex_buf_free(&p);
    p = claims("tag:attex.dev,2026:other", binding.binder, binding.hash_len, binding.aik_pub_hash,
               good, 2);
    seed_signed(dir, "profile_other", es256, 3, &p);
    seed_signed(dir, "alg_es384", es384, sizeof(es384), &p);
    attex_buf_free(&p);

    /* Many measurements (the good two among them). */
    static sample_measurement many[60];
    static char names[60][16];
    for (int i = 0; i < 60; i++) {
        if (i < 2) {
            many[i] = good[i];
            continue;
        }
        snprintf(names[i], sizeof(names[i]), "/var/f%02d", i);
        many[i].name = names[i];
        memset(many[i].digest, i, SAMPLE_DIGEST_LEN);
    }
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, binding.hash_len, binding.aik_pub_hash, many, 60);
    seed_signed(dir, "measurements_60", es256, 3, &p);
    attex_buf_free(&p);

    /* Unknown claims of every CBOR type the decoder admits, then the known ones. */
    p = claims(ATTEX_SAMPLE_PROFILE, binding.binder, binding.hash_len, binding.aik_pub_hash, good, 2);
    static const uint8_t extra[] = {
        0x01, 0x63, 'i', 's', 's',                   /* 1: "iss" */
        0x20, 0xF9, 0x3C, 0x00,                      /* -1: 1.0 (half) */
        0x21, 0xFB, 0, 0, 0, 0, 0, 0, 0, 0,          /* -2: 0.0 (double) */
        0x62, 'o', 'k', 0xF5,                        /* "ok": true */
        0x22, 0x82, 0xF6, 0xA1, 0x00, 0x80,          /* -3: [null, {0: []}] */
        0x3B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF7, /* -2^63: undefined */
    };
    attex_buf q = {malloc(p.len + sizeof(extra)), p.len + sizeof(extra)};
    FZ_CHECK(q.data != NULL && p.data[0] == 0xA5);
    q.data[0] = 0xA5 + 6;
    memcpy(q.data + 1, extra, sizeof(extra));
    memcpy(q.data + 1 + sizeof(extra), p.data + 1, p.len - 1);
    seed_signed(dir, "unknown_claims", es256, 3, &q);
    attex_buf_free(&q);
    attex_buf_free(&p);
}

/* ---- fuzzing ---------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    BIO *bio = BIO_new_mem_buf(key_pem, -1);
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FZ_CHECK(key != NULL);

    /* A SHA-256 binding with fixed, distinct bytes. */
    binding.hash = ATTEX_HASH_SHA256;
    binding.hash_len = 32;
    for (int i = 0; i < 48; i++) {
        binding.binder[i] = (uint8_t)(0x30 + i);
        binding.aik_pub_hash[i] = (uint8_t)(0xC0 - i);
    }
    good[0].name = "exe";
    good[1].name = CONF_NAME;
    FZ_CHECK(crypto_digest(ATTEX_HASH_SHA256, (const uint8_t *)"attex fuzz exe", 14,
                           good[0].digest, NULL) == ATTEX_OK);
    FZ_CHECK(crypto_digest(ATTEX_HASH_SHA256, (const uint8_t *)"attex fuzz conf", 15,
                           good[1].digest, NULL) == ATTEX_OK);
    char conf_hex[65], refs[512];
    hex(good[0].digest, 32, exe_hex);
    hex(good[1].digest, 32, conf_hex);
    snprintf(refs, sizeof(refs),
             "{\"measurements\": {\"exe\": [\"%s\"], \"" CONF_NAME "\": [\"%s\"]}}", exe_hex,
             conf_hex);

    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &key;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refs;
    attex_error err;
    verifier = attex_sample_verifier_new(&vc, &err);
    FZ_CHECK(verifier != NULL);

    const char *dir = getenv("ATTEX_SAMPLE_WRITE_SEEDS");
    if (dir != NULL) {
        write_seeds(dir);
        fprintf(stderr, "fuzz_sample_evidence: seeds written to %s\n", dir);
        exit(0);
    }
    return 0;
}

/*
 * check_error is fz_check_error for this target: that one predates
 * ATTEX_ERR_ATTESTATION (-18) and refuses codes below ATTEX_ERR_UNSUPPORTED.
 */
static void check_error(const attex_error *err, int ret)
{
    FZ_CHECK(ret < 0);
    FZ_CHECK(err->code == ret);
    FZ_CHECK(memchr(err->message, 0, sizeof(err->message)) != NULL);
    FZ_CHECK(err->message[0] != 0);
    FZ_CHECK(strcmp(attex_status_name(ret), "ATTEX_ERR_UNKNOWN") != 0);
    FZ_CHECK(strcmp(attex_alert_name(err->alert), "unknown_alert") != 0);
    fz_touch((const uint8_t *)err->message, strlen(err->message));
}

/* check_appraisal checks one outcome against the rules in the header comment. */
static void check_appraisal(int ret, const attex_appraisal *ap, const attex_error *err)
{
    FZ_CHECK(memchr(ap->reason, 0, sizeof(ap->reason)) != NULL && ap->reason[0] != '\0');
    if (ret != ATTEX_OK) {
        check_error(err, ret);
        FZ_CHECK(ret == ATTEX_ERR_ATTESTATION || ret == ATTEX_ERR_NO_MEMORY);
        FZ_CHECK(ap->verdict == ATTEX_VERDICT_CONTRAINDICATED);
        FZ_CHECK(strncmp(err->message, ap->reason, sizeof(err->message) - 1) == 0);
        return;
    }
    FZ_CHECK(ap->verdict == ATTEX_VERDICT_AFFIRMING ||
             ap->verdict == ATTEX_VERDICT_CONTRAINDICATED);
    FZ_CHECK(ap->claims_json != NULL);
    json_error_t jerr;
    json_t *c = json_loads(ap->claims_json, 0, &jerr);
    FZ_CHECK(c != NULL);
    /* Appraised evidence always carries this profile, binder and AIK hash. */
    char nonce_hex[65], aik_hex[65];
    hex(binding.binder, 32, nonce_hex);
    hex(binding.aik_pub_hash, 32, aik_hex);
    const char *profile = json_string_value(json_object_get(c, "eat_profile"));
    const char *nonce = json_string_value(json_object_get(c, "eat_nonce"));
    const char *aik = json_string_value(json_object_get(c, "aik_pub_hash"));
    FZ_CHECK(profile != NULL && strcmp(profile, ATTEX_SAMPLE_PROFILE) == 0);
    FZ_CHECK(nonce != NULL && strcmp(nonce, nonce_hex) == 0);
    FZ_CHECK(aik != NULL && strcmp(aik, aik_hex) == 0);
    FZ_CHECK(json_is_integer(json_object_get(c, "iat")));
    json_t *m = json_object_get(c, "measurements");
    FZ_CHECK(json_is_object(m));
    if (ap->verdict == ATTEX_VERDICT_AFFIRMING) {
        FZ_CHECK(strcmp(ap->reason, "all 2 measurements match reference values") == 0);
        const char *e = json_string_value(json_object_get(m, "exe"));
        FZ_CHECK(e != NULL && strcmp(e, exe_hex) == 0);
        FZ_CHECK(json_object_get(m, CONF_NAME) != NULL);
    } else {
        FZ_CHECK(strncmp(ap->reason, "measurement \"", 13) == 0);
    }
    json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attex_appraisal ap;
    attex_error err;
    memset(&ap, 0xA5, sizeof(ap));
    attex_error_clear(&err);
    int ret = sample_evidence_appraise(verifier->ctx, data, size, &binding, &ap, &err);
    check_appraisal(ret, &ap, &err);

    /* The same bytes as a CMW Record through the public appraise(): the same outcome. */
    attex_error cerr;
    attex_error_clear(&cerr);
    attex_cmw *rec = size > 0 ? attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, data, size,
                                                     ATTEX_CMW_IND_EVIDENCE, &cerr)
                              : NULL;
    if (rec != NULL) {
        attex_appraisal ap2;
        memset(&ap2, 0x5A, sizeof(ap2));
        attex_error_clear(&cerr);
        int ret2 = verifier->appraise(verifier->ctx, rec, &binding, &ap2, &cerr);
        check_appraisal(ret2, &ap2, &cerr);
        FZ_CHECK(ret2 == ret && ap2.verdict == ap.verdict && strcmp(ap2.reason, ap.reason) == 0);
        FZ_CHECK((ap2.claims_json == NULL) == (ap.claims_json == NULL));
        if (ap.claims_json != NULL)
            FZ_CHECK(strcmp(ap.claims_json, ap2.claims_json) == 0);
        free(ap2.claims_json);
        attex_cmw_free(rec);
    }
    free(ap.claims_json);
    return 0;
}
