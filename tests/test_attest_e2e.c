/*
 * Attestation end to end over real TLS 1.3 on loopback: the sample attester
 * and verifier, server attests, client attests, both; and every way it must
 * fail: replayed evidence, evidence for another key, tampered claims, wrong
 * measurement, unoffered extension, no verifier, refusal or plain
 * authenticator under a policy that requires attestation, malformed
 * extension.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "testutil.h"

static EVP_PKEY *ak, *other_ak, *srv_key, *cli_key;
static X509 *srv_cert, *cli_cert;
static attex_attester *attester;
static attex_verifier *verifier;
static char *refvals;
static attex_error err;

/* ---- attesters that misbehave, wrapping the sample one ---------------- */

typedef enum { PASS, REPLAY, OTHER_AIK, TAMPER } mode;
typedef struct wrap {
    mode m;
    attex_buf recorded; /* the last CMW produced (REPLAY returns it) */
} wrap;

static int wrap_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *e)
{
    wrap *w = ctx;
    if (w->m == REPLAY && w->recorded.data != NULL) {
        cmw->data = malloc(w->recorded.len);
        memcpy(cmw->data, w->recorded.data, w->recorded.len);
        cmw->len = w->recorded.len;
        return ATTEX_OK;
    }
    attex_binding copy = *b;
    if (w->m == OTHER_AIK)
        copy.aik_pub_hash[0] ^= 0xff; /* as if the evidence named another key */
    int rc = attester->attest(attester->ctx, &copy, cmw, e);
    if (rc != ATTEX_OK)
        return rc;
    if (w->m == TAMPER) {
        /* Change a character of the eat_profile claim inside the signed payload (its last
         * occurrence: the first is the CMW's media type, outside the signature). */
        static const char needle[] = "sample-evidence-v1";
        uint8_t *hit = NULL;
        for (size_t i = 0; i + sizeof(needle) - 1 <= cmw->len; i++)
            if (memcmp(cmw->data + i, needle, sizeof(needle) - 1) == 0)
                hit = cmw->data + i;
        if (hit)
            hit[0] ^= 0x01;
    }
    attex_buf_free(&w->recorded);
    w->recorded.data = malloc(cmw->len);
    memcpy(w->recorded.data, cmw->data, cmw->len);
    w->recorded.len = cmw->len;
    return ATTEX_OK;
}

/* ---- one exchange over the connection --------------------------------- */

typedef struct exch {
    int server_asks;
    const attex_attest_policy *policy;
    int offer;                        /* offer cmw_attestation in the request */
    const attex_attester *attester;   /* the answerer's */
    const attex_extension *extra;     /* extra identity extension */
    int refuse;
} exch;

static int run(tu_pair *p, attex_ea_session *cs, attex_ea_session *ss, const exch *x,
               attex_attest_result **out)
{
    attex_ea_session *asker = x->server_asks ? ss : cs;
    attex_ea_session *answerer = x->server_asks ? cs : ss;
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    int rc = x->offer ? attex_attest_request_create(asker, x->policy, NULL, &req, &err)
                      : attex_ea_request_create(asker, NULL, &req, &err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!tu_transfer(p, x->server_asks, req.data, req.len, &req_rx))
        goto out;
    attex_ea_identity id;
    memset(&id, 0, sizeof(id));
    if (!x->refuse) {
        id.cert = x->server_asks ? cli_cert : srv_cert;
        id.key = x->server_asks ? cli_key : srv_key;
        id.extensions = x->extra;
        id.num_extensions = x->extra ? 1 : 0;
    }
    rc = attex_attest_answer(answerer, req_rx.data, req_rx.len, &id, x->attester, 0, &auth, &err);
    if (rc != ATTEX_OK)
        goto out;
    rc = ATTEX_ERR_CRYPTO;
    if (!tu_transfer(p, !x->server_asks, auth.data, auth.len, &auth_rx))
        goto out;
    rc = attex_attest_validate(asker, req.data, req.len, auth_rx.data, auth_rx.len, NULL,
                               x->policy, out, &err);
out:
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static const attex_verifier *verifiers[1];

static void test_good(const char *suite)
{
    tu_pair p;
    tu_pair_opts po = {suite, 0, 0, 0};
    if (!tu_pair_open(&p, &po)) {
        CHECK(!"pair");
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = verifiers;
    pol.num_verifiers = 1;
    pol.require = 1;
    /* Server attests, client attests, then both again (mutual, same connection). */
    for (int round = 0; round < 4; round++) {
        exch x = {round % 2, &pol, 1, attester, NULL, 0};
        attex_attest_result *r = NULL;
        CHECK_RC(run(&p, cs, ss, &x, &r), ATTEX_OK, &err);
        if (r != NULL) {
            const char *vname = NULL;
            const attex_appraisal *a = attex_attest_result_appraisal(r, 0, &vname);
            CHECK(attex_attest_result_attested(r));
            CHECK(attex_attest_result_num_appraisals(r) == 1);
            CHECK(a && a->verdict == ATTEX_VERDICT_AFFIRMING);
            CHECK(a && a->claims_json && strstr(a->claims_json, "exe") != NULL);
            CHECK(vname != NULL);
            const attex_cmw *c = attex_attest_result_cmw(r);
            CHECK(c && attex_cmw_kind_of(c) == ATTEX_CMW_RECORD &&
                  attex_cmw_ind(c) == ATTEX_CMW_IND_EVIDENCE);
            const attex_binding *b = attex_attest_result_binding(r);
            CHECK(b->hash_len == (strstr(suite, "SHA384") ? 48u : 32u));
        }
        attex_attest_result_free(r);
    }
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    tu_pair_close(&p);
}

static void test_failures(void)
{
    tu_pair p, q;
    if (!tu_pair_open(&p, NULL) || !tu_pair_open(&q, NULL)) {
        CHECK(!"pairs");
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    attex_ea_session *qc = attex_ea_session_new_openssl(q.client, &err);
    attex_ea_session *qs = attex_ea_session_new_openssl(q.server, &err);
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = verifiers;
    pol.num_verifiers = 1;
    pol.require = 1;
    attex_attest_result *r = NULL;

    /* Evidence replayed from another connection: rejected by the binder. */
    wrap w = {REPLAY, ATTEX_BUF_INIT};
    attex_attester replay = {"replay", &w, wrap_attest};
    exch x = {0, &pol, 1, &replay, NULL, 0};
    CHECK_RC(run(&q, qc, qs, &x, &r), ATTEX_OK, &err); /* records honest evidence on q */
    attex_attest_result_free(r);
    r = NULL;
    CHECK_RC(run(&p, cs, ss, &x, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "nonce") != NULL || strstr(err.message, "binder") != NULL);
    attex_attest_result_free(r);
    r = NULL;
    /* ... and from another request on the same connection. */
    w.m = PASS;
    CHECK_RC(run(&p, cs, ss, &x, &r), ATTEX_OK, &err);
    attex_attest_result_free(r);
    r = NULL;
    w.m = REPLAY;
    CHECK_RC(run(&p, cs, ss, &x, &r), ATTEX_ERR_ATTESTATION, &err);
    attex_attest_result_free(r);
    r = NULL;

    /* Evidence naming another key. */
    w.m = OTHER_AIK;
    CHECK_RC(run(&p, cs, ss, &x, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "aik") != NULL || strstr(err.message, "AIK") != NULL);
    attex_attest_result_free(r);
    r = NULL;

    /* Tampered claims. */
    w.m = TAMPER;
    CHECK_RC(run(&p, cs, ss, &x, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "signature") != NULL);
    attex_attest_result_free(r);
    r = NULL;
    attex_buf_free(&w.recorded);

    /* Wrong measurement: named, with expected and got. */
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &ak;
    vc.num_trusted_keys = 1;
    vc.reference_values_json =
        "{\"measurements\": {\"exe\": "
        "[\"0000000000000000000000000000000000000000000000000000000000000000\"]}}";
    attex_verifier *strict = attex_sample_verifier_new(&vc, &err);
    CHECK(strict != NULL);
    const attex_verifier *sv[1] = {strict};
    attex_attest_policy spol = pol;
    spol.verifiers = sv;
    exch xs = {1, &spol, 1, attester, NULL, 0};
    CHECK_RC(run(&p, cs, ss, &xs, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "exe") != NULL && strstr(err.message, "contraindicated") != NULL);
    if (r != NULL) {
        const attex_appraisal *a = attex_attest_result_appraisal(r, 0, NULL);
        CHECK(a && a->verdict == ATTEX_VERDICT_CONTRAINDICATED);
    }
    attex_attest_result_free(r);
    r = NULL;
    /* Evidence signed by an untrusted attestation key. */
    vc.trusted_keys = &other_ak;
    vc.reference_values_json = refvals;
    attex_verifier *untrusting = attex_sample_verifier_new(&vc, &err);
    CHECK(untrusting != NULL);
    sv[0] = untrusting;
    CHECK_RC(run(&p, cs, ss, &xs, &r), ATTEX_ERR_ATTESTATION, &err);
    attex_attest_result_free(r);
    r = NULL;

    /* No verifier for the type: fail closed. */
    attex_attest_policy none = pol;
    none.num_verifiers = 0;
    exch xn = {0, &none, 1, attester, NULL, 0};
    CHECK_RC(run(&p, cs, ss, &xn, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "no verifier") != NULL);
    attex_attest_result_free(r);
    r = NULL;

    /* A refusal, or a plain authenticator, when attestation is required. */
    exch xr = {0, &pol, 1, attester, NULL, 1};
    CHECK_RC(run(&p, cs, ss, &xr, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(r == NULL);
    exch xp = {0, &pol, 1, NULL, NULL, 0};
    CHECK_RC(run(&p, cs, ss, &xp, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(err.alert == ATTEX_ALERT_MISSING_EXTENSION);
    /* ... but fine when the policy does not require it. */
    attex_attest_policy optional = pol;
    optional.require = 0;
    exch xo = {0, &optional, 1, NULL, NULL, 0};
    CHECK_RC(run(&p, cs, ss, &xo, &r), ATTEX_OK, &err);
    CHECK(r && !attex_attest_result_attested(r));
    attex_attest_result_free(r);
    r = NULL;

    /* A malformed cmw_attestation (no inner length). */
    static const uint8_t junk[] = {0x83, 0x01};
    attex_extension bad = {ATTEX_CMW_ATTESTATION_DEFAULT, junk, sizeof(junk)};
    exch xm = {0, &pol, 1, NULL, &bad, 0};
    CHECK_RC(run(&p, cs, ss, &xm, &r), ATTEX_ERR_DECODE, &err);
    CHECK(err.alert == ATTEX_ALERT_DECODE_ERROR);
    /* A well-framed CMW that does not decode. */
    static const uint8_t junk2[] = {0x00, 0x02, 0x83, 0x01};
    attex_extension bad2 = {ATTEX_CMW_ATTESTATION_DEFAULT, junk2, sizeof(junk2)};
    exch xm2 = {0, &pol, 1, NULL, &bad2, 0};
    CHECK_RC(run(&p, cs, ss, &xm2, &r), ATTEX_ERR_DECODE, &err);
    CHECK(err.alert == ATTEX_ALERT_DECODE_ERROR);

    /* cmw_attestation in an authenticator whose request did not offer it: the peer answers
     * a doctored request (same context, with the offer); we validate against ours. */
    attex_buf req = ATTEX_BUF_INIT, doctored = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT;
    static const uint8_t ctx[] = "unoffered";
    attex_ea_request_params rp;
    memset(&rp, 0, sizeof(rp));
    rp.context = ctx;
    rp.context_len = sizeof(ctx) - 1;
    CHECK_RC(attex_ea_request_create(cs, &rp, &req, &err), ATTEX_OK, &err);
    attex_ea_session *forger = attex_ea_session_new_openssl(p.client, &err);
    CHECK_RC(attex_attest_request_create(forger, &pol, &rp, &doctored, &err), ATTEX_OK, &err);
    attex_ea_identity id = {srv_cert, NULL, 0, srv_key, NULL, 0, NULL, 0};
    CHECK_RC(attex_attest_answer(ss, doctored.data, doctored.len, &id, attester, 0, &auth, &err),
             ATTEX_OK, &err);
    CHECK_RC(attex_attest_validate(cs, req.data, req.len, auth.data, auth.len, NULL, &pol, &r,
                                   &err),
             ATTEX_ERR_UNSUPPORTED_EXTENSION, &err);
    CHECK(err.alert == ATTEX_ALERT_UNSUPPORTED_EXTENSION);
    attex_ea_session_free(forger);
    attex_buf_free(&req);
    attex_buf_free(&doctored);
    attex_buf_free(&auth);

    /* The honest exchange still works on this connection after all that. */
    CHECK_RC(run(&p, cs, ss, &xs, &r), ATTEX_ERR_ATTESTATION, &err); /* untrusting verifier */
    attex_attest_result_free(r);
    r = NULL;
    exch xg = {0, &pol, 1, attester, NULL, 0};
    CHECK_RC(run(&p, cs, ss, &xg, &r), ATTEX_OK, &err);
    attex_attest_result_free(r);

    attex_sample_verifier_free(strict);
    attex_sample_verifier_free(untrusting);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    attex_ea_session_free(qc);
    attex_ea_session_free(qs);
    tu_pair_close(&p);
    tu_pair_close(&q);
}

int main(void)
{
    ak = tu_key("p256");
    other_ak = tu_key("p256");
    srv_key = tu_key("p256");
    cli_key = tu_key("ed25519");
    srv_cert = tu_cert(srv_key, "attested server", NULL, NULL, 0, 1);
    cli_cert = tu_cert(cli_key, "attested client", NULL, NULL, 0, 1);
    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = ak;
    attester = attex_sample_attester_new(&ac, &err);
    attex_buf rv = ATTEX_BUF_INIT;
    if (attester == NULL || attex_sample_reference_values(&ac, &rv, &err) != ATTEX_OK) {
        fprintf(stderr, "sample attester: %s\n", err.message);
        return 2;
    }
    refvals = calloc(1, rv.len + 1);
    memcpy(refvals, rv.data, rv.len);
    attex_buf_free(&rv);
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = &ak;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = refvals;
    verifier = attex_sample_verifier_new(&vc, &err);
    if (verifier == NULL) {
        fprintf(stderr, "sample verifier: %s\n", err.message);
        return 2;
    }
    verifiers[0] = verifier;
    test_good("TLS_AES_128_GCM_SHA256");
    test_good("TLS_AES_256_GCM_SHA384");
    test_failures();
    attex_sample_attester_free(attester);
    attex_sample_verifier_free(verifier);
    free(refvals);
    X509_free(srv_cert);
    X509_free(cli_cert);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(other_ak);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    return tu_finish("test_attest_e2e");
}
