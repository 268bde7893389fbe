/*
 * TPM 2.0 quote attestation against a real software TPM (swtpm, started
 * here through attex_swtpm_start): end to end through attex_attest_answer /
 * attex_attest_validate over loopback TLS 1.3, server attests, client
 * attests, both; with an ECDSA AK created on the fly and an RSA AK
 * provisioned at a persistent handle. And every way it must fail: a PCR
 * extended after the reference values were taken (named), an AK that is not
 * trusted, evidence replayed from another connection, the TPM stopped.
 *
 * With ATTEX_TPM_WRITE_VECTORS=<dir>, it also writes the offline vectors of
 * tests/vectors/tpm/ (see its README.md) and exits.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <attex/tpm.h>

#include "testutil.h"

#define PCRS "sha256:0,1,2,3,7+sha1:0,1"
#define RSA_HANDLE 0x81010077u

static EVP_PKEY *srv_key, *cli_key, *other_key;
static X509 *srv_cert, *cli_cert;
static attex_error err;
static attex_swtpm *tpm;

static EVP_PKEY *pem_key(const attex_buf *pem)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return k;
}

/* ---- attesters that misbehave ------------------------------------------ */

typedef struct replay {
    const attex_attester *inner;
    int replaying;
    attex_buf recorded;
} replay;

static int replay_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *e)
{
    replay *w = ctx;
    if (w->replaying && w->recorded.data != NULL) {
        cmw->data = malloc(w->recorded.len);
        memcpy(cmw->data, w->recorded.data, w->recorded.len);
        cmw->len = w->recorded.len;
        return ATTEX_OK;
    }
    int rc = w->inner->attest(w->inner->ctx, b, cmw, e);
    if (rc == ATTEX_OK) {
        attex_buf_free(&w->recorded);
        w->recorded.data = malloc(cmw->len);
        memcpy(w->recorded.data, cmw->data, cmw->len);
        w->recorded.len = cmw->len;
    }
    return rc;
}

/* ---- one exchange ------------------------------------------------------ */

static int run(tu_pair *p, attex_ea_session *cs, attex_ea_session *ss, int server_asks,
               const attex_attest_policy *pol, const attex_attester *att,
               attex_attest_result **out)
{
    attex_ea_session *asker = server_asks ? ss : cs;
    attex_ea_session *answerer = server_asks ? cs : ss;
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    int rc = attex_attest_request_create(asker, pol, NULL, &req, &err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!tu_transfer(p, server_asks, req.data, req.len, &req_rx))
        goto out;
    attex_ea_identity id;
    memset(&id, 0, sizeof(id));
    id.cert = server_asks ? cli_cert : srv_cert;
    id.key = server_asks ? cli_key : srv_key;
    rc = attex_attest_answer(answerer, req_rx.data, req_rx.len, &id, att, 0, &auth, &err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!tu_transfer(p, !server_asks, auth.data, auth.len, &auth_rx))
        goto out;
    rc = attex_attest_validate(asker, req.data, req.len, auth_rx.data, auth_rx.len, NULL, pol,
                               out, &err);
out:
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static void policy_for(attex_attest_policy *pol, const attex_verifier *const *v)
{
    memset(pol, 0, sizeof(*pol));
    pol->verifiers = v;
    pol->num_verifiers = 1;
    pol->require = 1;
}

static attex_verifier *verifier_for(EVP_PKEY *const *aks, const char *refs)
{
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_aks = aks;
    vc.num_trusted_aks = 1;
    vc.reference_values_json = refs;
    attex_verifier *v = attex_tpm_verifier_new(&vc, &err);
    if (v == NULL)
        fprintf(stderr, "verifier: %s\n", err.message);
    return v;
}

/* Good exchanges in both directions and both suites, then the failures. */
static void test_e2e(const attex_attester *att, EVP_PKEY *ak, const char *name)
{
    attex_buf rv = ATTEX_BUF_INIT;
    /* Ranges and several banks, read back as reference values. */
    CHECK_RC(attex_tpm_reference_values(attex_swtpm_tcti(tpm), "sha256:0-3+sha1:7", &rv, &err),
             ATTEX_OK, &err);
    CHECK(rv.data && strstr((char *)rv.data, "\"3\": [") != NULL &&
          strstr((char *)rv.data, "\"4\": [") == NULL &&
          strstr((char *)rv.data, "\"sha1\": {\n      \"7\"") != NULL);
    attex_buf_free(&rv);
    CHECK_RC(attex_tpm_reference_values(attex_swtpm_tcti(tpm), PCRS, &rv, &err), ATTEX_OK, &err);
    char *refs = calloc(1, rv.len + 1);
    memcpy(refs, rv.data, rv.len);
    attex_buf_free(&rv);
    attex_verifier *v = verifier_for(&ak, refs);
    CHECK(v != NULL);
    const attex_verifier *vs[1] = {v};
    attex_attest_policy pol;
    policy_for(&pol, vs);

    static const char *suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};
    for (size_t si = 0; si < 2; si++) {
        tu_pair p;
        tu_pair_opts po = {suites[si], 0, 0, 0};
        if (!tu_pair_open(&p, &po)) {
            CHECK(!"pair");
            continue;
        }
        attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
        attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
        /* Server attests, client attests, then both again: mutual on one connection. */
        for (int round = 0; round < 4; round++) {
            attex_attest_result *r = NULL;
            CHECK_RC(run(&p, cs, ss, round % 2, &pol, att, &r), ATTEX_OK, &err);
            if (r != NULL) {
                const char *vname = NULL;
                const attex_appraisal *a = attex_attest_result_appraisal(r, 0, &vname);
                CHECK(a && a->verdict == ATTEX_VERDICT_AFFIRMING);
                CHECK(a && a->claims_json && strstr(a->claims_json, "\"sha256\"") != NULL);
                CHECK(vname != NULL && strcmp(vname, "tpm") == 0);
                const attex_cmw *c = attex_attest_result_cmw(r);
                CHECK(c && attex_cmw_ind(c) == ATTEX_CMW_IND_EVIDENCE &&
                      strcmp(attex_cmw_media_type(c), ATTEX_TPM_MEDIA_TYPE) == 0);
            }
            attex_attest_result_free(r);
        }
        attex_ea_session_free(cs);
        attex_ea_session_free(ss);
        tu_pair_close(&p);
    }

    tu_pair p, q;
    if (!tu_pair_open(&p, NULL) || !tu_pair_open(&q, NULL)) {
        CHECK(!"pairs");
        goto done;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    attex_ea_session *qc = attex_ea_session_new_openssl(q.client, &err);
    attex_ea_session *qs = attex_ea_session_new_openssl(q.server, &err);
    attex_attest_result *r = NULL;

    /* Evidence from another connection: extraData is another binding's report_data. */
    replay w = {att, 0, ATTEX_BUF_INIT};
    attex_attester rep = {"replay", &w, replay_attest};
    CHECK_RC(run(&q, qc, qs, 0, &pol, &rep, &r), ATTEX_OK, &err);
    attex_attest_result_free(r);
    r = NULL;
    w.replaying = 1;
    CHECK_RC(run(&p, cs, ss, 0, &pol, &rep, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "replayed") != NULL && strstr(err.message, "extraData") != NULL);
    attex_attest_result_free(r);
    r = NULL;
    attex_buf_free(&w.recorded);

    /* AK not trusted. */
    attex_verifier *untrusting = verifier_for(&other_key, refs);
    const attex_verifier *uv[1] = {untrusting};
    attex_attest_policy upol;
    policy_for(&upol, uv);
    CHECK_RC(run(&p, cs, ss, 1, &upol, att, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "unknown AK") != NULL);
    attex_attest_result_free(r);
    r = NULL;

    /* A PCR extended after the reference values were taken: rejected, the PCR named. */
    static const uint8_t event[] = "attex test: an unexpected component";
    CHECK_RC(attex_tpm_pcr_extend(attex_swtpm_tcti(tpm), 7, event, sizeof(event), &err),
             ATTEX_OK, &err);
    CHECK_RC(run(&p, cs, ss, 0, &pol, att, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "PCR sha256:7 differs") != NULL);
    if (r != NULL) {
        const attex_appraisal *a = attex_attest_result_appraisal(r, 0, NULL);
        CHECK(a && a->verdict == ATTEX_VERDICT_CONTRAINDICATED);
        CHECK(a && strstr(a->reason, "expected") != NULL && strstr(a->reason, "got") != NULL);
    }
    attex_attest_result_free(r);
    r = NULL;
    (void)name;

    attex_tpm_verifier_free(untrusting);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    attex_ea_session_free(qc);
    attex_ea_session_free(qs);
    tu_pair_close(&p);
    tu_pair_close(&q);
done:
    attex_tpm_verifier_free(v);
    free(refs);
}

/* temp_pem writes certificates to a new temporary file; returns its malloc'd path. */
static char *temp_pem(X509 *const *certs, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(512);
    snprintf(path, 512, "%s/attex-tpm-XXXXXX", tmp && tmp[0] ? tmp : ".");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(f != NULL);
    for (size_t i = 0; f != NULL && i < n; i++)
        PEM_write_X509(f, certs[i]);
    if (f != NULL)
        fclose(f);
    return path;
}

/*
 * AK trust through a certificate chain: the attester carries leaf and
 * intermediate, the verifier knows only the root.
 */
static void test_chain(EVP_PKEY *ak)
{
    EVP_PKEY *root_key = tu_key("p256"), *mid_key = tu_key("p256");
    X509 *root = tu_cert(root_key, "attex test EK/AK root", NULL, NULL, 1, 10);
    X509 *mid = tu_cert(mid_key, "attex test AK CA", root, root_key, 1, 10);
    X509 *leaf = tu_cert(ak, "attex test AK", mid, mid_key, 0, 10);
    X509 *chain[2] = {leaf, mid};
    char *chain_path = temp_pem(chain, 2), *root_path = temp_pem(&root, 1);
    attex_tpm_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.tcti = attex_swtpm_tcti(tpm);
    ac.pcrs = PCRS;
    ac.ak_cert_chain_path = chain_path;
    attex_attester *a = attex_tpm_attester_new(&ac, &err);
    CHECK(a != NULL);
    attex_buf rv = ATTEX_BUF_INIT;
    CHECK_RC(attex_tpm_reference_values(attex_swtpm_tcti(tpm), PCRS, &rv, &err), ATTEX_OK, &err);
    char *refs = calloc(1, rv.len + 1);
    memcpy(refs, rv.data, rv.len);
    attex_tpm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.ak_roots_path = root_path;
    vc.reference_values_json = refs;
    attex_verifier *v = attex_tpm_verifier_new(&vc, &err);
    CHECK(v != NULL);
    const attex_verifier *vs[1] = {v};
    attex_attest_policy pol;
    policy_for(&pol, vs);
    tu_pair p;
    if (a != NULL && v != NULL && tu_pair_open(&p, NULL)) {
        attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
        attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
        attex_attest_result *r = NULL;
        CHECK_RC(run(&p, cs, ss, 0, &pol, a, &r), ATTEX_OK, &err);
        const attex_appraisal *ap = r ? attex_attest_result_appraisal(r, 0, NULL) : NULL;
        CHECK(ap && ap->claims_json && strstr(ap->claims_json, "\"certificate\"") != NULL);
        attex_attest_result_free(r);
        attex_ea_session_free(cs);
        attex_ea_session_free(ss);
        tu_pair_close(&p);
    }
    /* A chain file that does not exist, or holds no certificate. */
    ac.ak_cert_chain_path = "attex-no-such-chain.pem";
    CHECK(attex_tpm_attester_new(&ac, &err) == NULL && err.code == ATTEX_ERR_IO);
    ac.ak_cert_chain_path = root_path;
    attex_attester *ok = attex_tpm_attester_new(&ac, &err);
    CHECK(ok != NULL); /* any PEM certificate: what it proves is the verifier's business */
    attex_tpm_attester_free(ok);
    attex_tpm_verifier_free(v);
    attex_tpm_attester_free(a);
    attex_buf_free(&rv);
    free(refs);
    unlink(chain_path);
    unlink(root_path);
    free(chain_path);
    free(root_path);
    X509_free(root);
    X509_free(mid);
    X509_free(leaf);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(mid_key);
}

/* A TPM that accepts connections but never answers: an error after the timeout, no hang. */
static void test_wedged(void)
{
    attex_swtpm *w = NULL;
    CHECK_RC(attex_swtpm_start(0, &w, &err), ATTEX_OK, &err);
    if (w == NULL)
        return;
    attex_tpm_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.tcti = attex_swtpm_tcti(w);
    ac.timeout_ms = 1500;
    attex_attester *a = attex_tpm_attester_new(&ac, &err);
    CHECK(a != NULL);
    uint8_t rd[64] = {1};
    attex_buf ev = ATTEX_BUF_INIT;
    CHECK_RC(attex_swtpm_pause(w, 1, &err), ATTEX_OK, &err);
    CHECK_RC(attex_tpm_attester_evidence(a, rd, &ev, &err), ATTEX_ERR_UNAVAILABLE, &err);
    CHECK(strstr(err.message, "no answer within 1500 ms") != NULL);
    fprintf(stderr, "wedged TPM: %s\n", err.message);
    /* Once it answers again, so does the attester (the abandoned quote completes first). */
    CHECK_RC(attex_swtpm_pause(w, 0, &err), ATTEX_OK, &err);
    CHECK_RC(attex_tpm_attester_evidence(a, rd, &ev, &err), ATTEX_OK, &err);
    attex_buf_free(&ev);
    attex_tpm_attester_free(a);
    attex_swtpm_stop(w);
}

/* The TPM goes away: a clear error, quickly (the time is printed, not asserted). */
static void test_unreachable(void)
{
    attex_swtpm *gone = NULL;
    CHECK_RC(attex_swtpm_start(0, &gone, &err), ATTEX_OK, &err);
    if (gone == NULL)
        return;
    char tcti[128];
    snprintf(tcti, sizeof(tcti), "%s", attex_swtpm_tcti(gone));
    attex_tpm_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.tcti = tcti;
    ac.timeout_ms = 2000;
    attex_attester *a = attex_tpm_attester_new(&ac, &err);
    CHECK(a != NULL);
    attex_swtpm_stop(gone);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t rd[64] = {0};
    attex_buf ev = ATTEX_BUF_INIT;
    CHECK_RC(attex_tpm_attester_evidence(a, rd, &ev, &err), ATTEX_ERR_UNAVAILABLE, &err);
    CHECK(strstr(err.message, "TPM (swtpm:") != NULL);
    fprintf(stderr, "quote on a stopped TPM: %s\n", err.message);
    attex_tpm_attester_free(a);
    /* A new attester: refused at once, saying nothing answers. */
    a = attex_tpm_attester_new(&ac, &err);
    CHECK(a == NULL && err.code == ATTEX_ERR_UNAVAILABLE);
    CHECK(strstr(err.message, "no TPM simulator answers") != NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "unreachable TPM reported in %.0f ms: %s\n",
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
            err.message);
    /* A missing device and a malformed TCTI string are named as such. */
    ac.tcti = "device:/dev/attex-no-such-tpm";
    CHECK(attex_tpm_attester_new(&ac, &err) == NULL);
    CHECK(strstr(err.message, "no TPM there") != NULL && err.code == ATTEX_ERR_UNAVAILABLE);
    ac.tcti = "swtpm:host=127.0.0.1,port=1";
    CHECK(attex_tpm_attester_new(&ac, &err) == NULL);
    ac.tcti = tcti;
    ac.pcrs = "sha256:0,99";
    CHECK(attex_tpm_attester_new(&ac, &err) == NULL);
    CHECK(err.code == ATTEX_ERR_INVALID_ARGUMENT && strstr(err.message, "PCR selection") != NULL);
    ac.pcrs = "md5:0";
    CHECK(attex_tpm_attester_new(&ac, &err) == NULL);
    /* PCR selection syntax: refused before any TPM is contacted. */
    static const char *bad_sel[] = {"sha256:3-1", "sha256:0+", "sha256:", "sha256:0,,1",
                                    "sha256:0+sha256:1", "sha256", "sha256:0;", "",
                                    "sha256:-1", "sha1:0+sha256:0+sha384:0+sha512:0+sha1:1"};
    for (size_t i = 0; i < sizeof(bad_sel) / sizeof(bad_sel[0]); i++) {
        attex_buf none = ATTEX_BUF_INIT;
        CHECK_RC(attex_tpm_reference_values(tcti, bad_sel[i], &none, &err),
                 ATTEX_ERR_INVALID_ARGUMENT, &err);
    }
    ac.pcrs = NULL;
    ac.ak_handle = 0x80000001u; /* not a persistent handle */
    CHECK(attex_tpm_attester_new(&ac, &err) == NULL);
}

/* ---- vectors for the offline tests ------------------------------------ */

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static int write_vectors(const char *dir, attex_attester *ecc, attex_attester *rsa)
{
    uint8_t rd[64], other[64];
    for (int i = 0; i < 64; i++) {
        rd[i] = (uint8_t)i;
        other[i] = (uint8_t)(0x80 + i);
    }
    write_file(dir, "report_data.bin", rd, 64);
    attex_attester *as[2] = {ecc, rsa};
    const char *tag[2] = {"ecdsa", "rsa"};
    for (int k = 0; k < 2; k++) {
        attex_buf ev = ATTEX_BUF_INIT, pem = ATTEX_BUF_INIT;
        char name[64];
        if (attex_tpm_attester_evidence(as[k], rd, &ev, &err) != ATTEX_OK ||
            attex_tpm_attester_ak_pem(as[k], &pem, &err) != ATTEX_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 2;
        }
        snprintf(name, sizeof(name), "evidence_%s.cbor", tag[k]);
        write_file(dir, name, ev.data, ev.len);
        snprintf(name, sizeof(name), "ak_%s.pem", tag[k]);
        write_file(dir, name, pem.data, pem.len);
        attex_buf_free(&ev);
        attex_buf_free(&pem);
    }
    attex_buf ev = ATTEX_BUF_INIT, rv = ATTEX_BUF_INIT;
    if (attex_tpm_attester_evidence(ecc, other, &ev, &err) != ATTEX_OK ||
        attex_tpm_reference_values(attex_swtpm_tcti(tpm), PCRS, &rv, &err) != ATTEX_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    write_file(dir, "evidence_ecdsa_other_binding.cbor", ev.data, ev.len);
    write_file(dir, "reference_values.json", rv.data, rv.len);
    attex_buf_free(&ev);
    attex_buf_free(&rv);
    fprintf(stderr, "vectors written to %s\n", dir);
    return 0;
}

int main(void)
{
    /* tss2 logs every TPM error response to stderr; the tests provoke many. */
    setenv("TSS2_LOG", "all+none", 0);
    srv_key = tu_key("p256");
    cli_key = tu_key("ed25519");
    other_key = tu_key("p256");
    srv_cert = tu_cert(srv_key, "attested server", NULL, NULL, 0, 1);
    cli_cert = tu_cert(cli_key, "attested client", NULL, NULL, 0, 1);
    if (attex_swtpm_start(0, &tpm, &err) != ATTEX_OK) {
        fprintf(stderr, "test_tpm needs swtpm (Debian package swtpm): %s\n", err.message);
        return 1;
    }
    const char *tcti = attex_swtpm_tcti(tpm);
    /* Something measured into PCRs 0 and 1, as firmware would, so that values are not zero. */
    static const uint8_t fw[] = "attex test firmware", boot[] = "attex test boot loader";
    CHECK_RC(attex_tpm_pcr_extend(tcti, 0, fw, sizeof(fw), &err), ATTEX_OK, &err);
    CHECK_RC(attex_tpm_pcr_extend(tcti, 1, boot, sizeof(boot), &err), ATTEX_OK, &err);

    /* ECDSA: an AK created by the attester. */
    attex_tpm_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.tcti = tcti;
    ac.pcrs = PCRS;
    attex_attester *ecc = attex_tpm_attester_new(&ac, &err);
    CHECK(ecc != NULL);
    /* RSA: an AK provisioned at a persistent handle, its PEM exported. */
    attex_buf rsa_pem = ATTEX_BUF_INIT, ecc_pem = ATTEX_BUF_INIT;
    CHECK_RC(attex_tpm_ak_provision(tcti, ATTEX_TPM_AK_RSA_2048, RSA_HANDLE, &rsa_pem, &err),
             ATTEX_OK, &err);
    /* The handle is taken now: provisioning there again fails, naming it. */
    attex_buf again = ATTEX_BUF_INIT;
    CHECK_RC(attex_tpm_ak_provision(tcti, ATTEX_TPM_AK_RSA_2048, RSA_HANDLE, &again, &err),
             ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "0x81010077") != NULL);
    /* The TPM's response code, decoded by Tss2_RC_Decode: TPM_RC_NV_DEFINED. */
    CHECK(strstr(err.message, "TPM response 0x14c, tpm:") != NULL);
    fprintf(stderr, "handle taken: %s\n", err.message);
    ac.ak_handle = RSA_HANDLE;
    attex_attester *rsa = attex_tpm_attester_new(&ac, &err);
    CHECK(rsa != NULL);
    if (ecc == NULL || rsa == NULL) {
        attex_swtpm_stop(tpm);
        return tu_finish("test_tpm");
    }
    CHECK_RC(attex_tpm_attester_ak_pem(ecc, &ecc_pem, &err), ATTEX_OK, &err);
    attex_buf rsa_pem2 = ATTEX_BUF_INIT;
    CHECK_RC(attex_tpm_attester_ak_pem(rsa, &rsa_pem2, &err), ATTEX_OK, &err);
    CHECK(rsa_pem2.len == rsa_pem.len && memcmp(rsa_pem2.data, rsa_pem.data, rsa_pem.len) == 0);
    /* Provisioning without a handle gives the PEM of the AK such an attester creates. */
    attex_buf prim = ATTEX_BUF_INIT;
    CHECK_RC(attex_tpm_ak_provision(tcti, ATTEX_TPM_AK_ECC_P256, 0, &prim, &err), ATTEX_OK, &err);
    CHECK(prim.len == ecc_pem.len && memcmp(prim.data, ecc_pem.data, prim.len) == 0);
    attex_buf_free(&prim);
    EVP_PKEY *ecc_ak = pem_key(&ecc_pem), *rsa_ak = pem_key(&rsa_pem);
    CHECK(ecc_ak != NULL && EVP_PKEY_is_a(ecc_ak, "EC"));
    CHECK(rsa_ak != NULL && EVP_PKEY_is_a(rsa_ak, "RSA"));

    const char *dir = getenv("ATTEX_TPM_WRITE_VECTORS");
    int rc;
    if (dir != NULL) {
        rc = write_vectors(dir, ecc, rsa);
    } else {
        test_e2e(ecc, ecc_ak, "ecdsa");
        test_e2e(rsa, rsa_ak, "rsa");
        test_chain(ecc_ak);
        test_unreachable();
        test_wedged();
        CHECK_RC(attex_tpm_ak_evict(tcti, RSA_HANDLE, &err), ATTEX_OK, &err);
        /* Gone: an attester for that handle now fails, saying what it looked for. */
        attex_attester *none = attex_tpm_attester_new(&ac, &err);
        CHECK(none == NULL && strstr(err.message, "persistent handle 0x81010077") != NULL);
        CHECK(err.code == ATTEX_ERR_ATTESTATION && strstr(err.message, "tpm:handle") != NULL);
        fprintf(stderr, "no AK: %s\n", err.message);
        rc = tu_finish("test_tpm");
    }
    attex_tpm_attester_free(ecc);
    attex_tpm_attester_free(rsa);
    attex_swtpm_stop(tpm);
    attex_buf_free(&rsa_pem);
    attex_buf_free(&rsa_pem2);
    attex_buf_free(&ecc_pem);
    EVP_PKEY_free(ecc_ak);
    EVP_PKEY_free(rsa_ak);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    X509_free(srv_cert);
    X509_free(cli_cert);
    return rc;
}
