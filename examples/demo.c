/*
 * attex-demo: a TLS 1.3 connection on 127.0.0.1, then exported
 * authenticators (RFC 9261) in each direction, a refusal, a spontaneous
 * server authenticator and a replay attempt, printing what was checked.
 *
 * Both ends run in this one process, over a real TCP connection; every
 * request and authenticator crosses the TLS connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testutil.h"

static const char *subject(X509 *c)
{
    static char buf[256];
    X509_NAME_oneline(X509_get_subject_name(c), buf, sizeof(buf));
    return buf;
}

static void hex_prefix(const uint8_t *p, size_t n, char *out)
{
    size_t show = n < 8 ? n : 8;
    for (size_t i = 0; i < show; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    if (n > show)
        strcpy(out + 2 * show, "..");
}

static int fail(const char *what, const attex_error *err)
{
    fprintf(stderr, "attex-demo: %s failed: %s (%s, alert %s)\n", what, err->message,
            attex_status_name(err->code), attex_alert_name(err->alert));
    return 1;
}

/* One request -> authenticator -> validation round; prints each step. */
static int round_trip(tu_pair *p, attex_ea_session *asker, attex_ea_session *answerer,
                      int server_asks, const attex_ea_request_params *rp,
                      const attex_ea_identity *id, const attex_ea_validate_opts *vo,
                      attex_buf *keep_req, attex_buf *keep_auth)
{
    const char *a_name = server_asks ? "server" : "client";
    const char *b_name = server_asks ? "client" : "server";
    attex_error err;
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    attex_ea_request *parsed = NULL;
    attex_ea_authenticator *a = NULL;
    char hex[32];
    int rc = 1;

    if (attex_ea_request_create(asker, rp, &req, &err) != ATTEX_OK) {
        rc = fail("request", &err);
        goto out;
    }
    if (!tu_transfer(p, server_asks, req.data, req.len, &req_rx) ||
        attex_ea_request_parse(req_rx.data, req_rx.len, &parsed, &err) != ATTEX_OK) {
        rc = fail("request transfer", &err);
        goto out;
    }
    size_t clen, ns;
    const uint8_t *ctx = attex_ea_request_context(parsed, &clen);
    attex_ea_request_schemes(parsed, &ns);
    hex_prefix(ctx, clen, hex);
    printf("  %s -> %s: %s, %zu bytes, context %s (%zu bytes), %zu signature schemes, "
           "%zu extension(s)\n",
           a_name, b_name,
           attex_ea_request_type(parsed) == ATTEX_HS_CERTIFICATE_REQUEST
               ? "CertificateRequest"
               : "ClientCertificateRequest",
           req.len, hex, clen, ns, attex_ea_request_num_extensions(parsed));

    if (attex_ea_authenticator_create(answerer, req_rx.data, req_rx.len, id, &auth, &err) !=
        ATTEX_OK) {
        rc = fail("authenticator", &err);
        goto out;
    }
    printf("  %s -> %s: %s, %zu bytes\n", b_name, a_name,
           id && id->cert ? "Certificate + CertificateVerify + Finished"
                          : "empty authenticator (Finished only): a refusal",
           auth.len);
    if (!tu_transfer(p, !server_asks, auth.data, auth.len, &auth_rx)) {
        fprintf(stderr, "attex-demo: transfer failed\n");
        goto out;
    }
    int v = attex_ea_authenticator_validate(asker, req.data, req.len, auth_rx.data, auth_rx.len,
                                            vo, &a, &err);
    if (v == ATTEX_ERR_REFUSED) {
        printf("  %s: the %s refused, reported as %s (never as success)\n", a_name, b_name,
               attex_status_name(v));
        rc = (id && id->cert) ? 1 : 0;
        goto out;
    }
    if (v != ATTEX_OK) {
        rc = fail("validation", &err);
        goto out;
    }
    X509 *leaf = attex_ea_authenticator_cert(a, 0);
    printf("  %s validated the %s's authenticator:\n", a_name, b_name);
    printf("      identity   %s\n", subject(leaf));
    printf("      chain      %zu certificate(s)%s\n", attex_ea_authenticator_num_certs(a),
           vo && vo->trust_store ? ", path validated to the demo CA" : "");
    printf("      signature  %s over this connection's handshake context and the request\n",
           attex_scheme_name(attex_ea_authenticator_scheme(a)));
    printf("      Finished   HMAC with this connection's finished key: match\n");
    for (size_t i = 0; i < attex_ea_authenticator_num_extensions(a); i++) {
        attex_extension e = attex_ea_authenticator_extension(a, i);
        printf("      extension  0x%04x, %zu bytes (offered by the request)\n", e.type, e.len);
    }
    if (keep_req) {
        *keep_req = req;
        req.data = NULL;
    }
    if (keep_auth) {
        *keep_auth = auth_rx;
        auth_rx.data = NULL;
    }
    rc = 0;
out:
    attex_ea_authenticator_free(a);
    attex_ea_request_free(parsed);
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static void hex_full(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* The client requires the server's attestation: offer, evidence, binding, appraisal. */
static int attestation_step(tu_pair *p, attex_ea_session *cs, attex_ea_session *ss,
                            const attex_ea_identity *id, const attex_attester *attester,
                            const attex_attest_policy *policy, attex_buf *keep_cmw)
{
    attex_error err;
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    attex_attest_result *r = NULL;
    char hex[160];
    int rc = 1;
    if (attex_attest_request_create(cs, policy, NULL, &req, &err) != ATTEX_OK ||
        !tu_transfer(p, 0, req.data, req.len, &req_rx)) {
        rc = fail("attestation request", &err);
        goto out;
    }
    printf("  client -> server: ClientCertificateRequest, %zu bytes, offering cmw_attestation "
           "(0x%04x, empty)\n",
           req.len, ATTEX_CMW_ATTESTATION_DEFAULT);
    if (attex_attest_answer(ss, req_rx.data, req_rx.len, id, attester, 0, &auth, &err) !=
            ATTEX_OK ||
        !tu_transfer(p, 1, auth.data, auth.len, &auth_rx)) {
        rc = fail("attestation answer", &err);
        goto out;
    }
    printf("  server: binding = H(SPKI || TLS-Exporter(\"Attestation\", context, 32)); the "
           "sample attester\n"
           "          signs EAT claims (eat_nonce = binding, measurements) with its "
           "attestation key\n");
    printf("  server -> client: authenticator, %zu bytes, first certificate entry carries the "
           "CMW\n",
           auth.len);
    int v = attex_attest_validate(cs, req.data, req.len, auth_rx.data, auth_rx.len, NULL, policy,
                                  &r, &err);
    if (v != ATTEX_OK) {
        rc = fail("attestation validation", &err);
        goto out;
    }
    const attex_cmw *cmw = attex_attest_result_cmw(r);
    const attex_binding *b = attex_attest_result_binding(r);
    const char *vname = NULL;
    const attex_appraisal *a = attex_attest_result_appraisal(r, 0, &vname);
    printf("  client validated the authenticator (RFC 9261), then appraised the attestation:\n");
    printf("      CMW        record, type %s, ind %u (evidence)\n", attex_cmw_media_type(cmw),
           attex_cmw_ind(cmw));
    hex_full(b->binder, b->hash_len, hex);
    printf("      binding    recomputed from the client's own exporter: %s\n", hex);
    printf("      verifier   %s: verdict %s\n", vname, attex_verdict_name(a->verdict));
    printf("      reason     %s\n", a->reason);
    printf("      claims     %s\n", a->claims_json ? a->claims_json : "(none)");
    size_t vlen;
    const uint8_t *val = attex_cmw_value(cmw, &vlen);
    attex_cmw *copy = attex_cmw_record_new(attex_cmw_media_type(cmw), val, vlen,
                                           attex_cmw_ind(cmw), &err);
    if (copy == NULL || attex_cmw_encode(copy, ATTEX_CMW_CBOR, keep_cmw, &err) != ATTEX_OK) {
        attex_cmw_free(copy);
        rc = fail("keeping the evidence", &err);
        goto out;
    }
    attex_cmw_free(copy);
    rc = 0;
out:
    attex_attest_result_free(r);
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

/* An attester that hands over evidence recorded elsewhere: a replay. */
static int replay_attest(void *ctx, const attex_binding *b, attex_buf *cmw, attex_error *err)
{
    const attex_buf *rec = ctx;
    (void)b, (void)err;
    cmw->data = malloc(rec->len);
    if (cmw->data == NULL)
        return ATTEX_ERR_NO_MEMORY;
    memcpy(cmw->data, rec->data, rec->len);
    cmw->len = rec->len;
    return ATTEX_OK;
}

int main(void)
{
    int rc = 1;
    attex_error err;
    tu_pair p;
    tu_pair_opts po = {"TLS_AES_256_GCM_SHA384", 0, 0, 0};

    printf("attex %s demo: attestation in Exported Authenticators (RFC 9261) over TLS 1.3\n\n",
           attex_version());
    EVP_PKEY *ca_key = tu_key("p384"), *srv_key = tu_key("p256"), *cli_key = tu_key("ed25519");
    X509 *ca = tu_cert(ca_key, "attex demo CA", NULL, NULL, 1, 1);
    X509 *srv = tu_cert(srv_key, "attex demo server workload", ca, ca_key, 0, 1);
    X509 *cli = tu_cert(cli_key, "attex demo client workload", ca, ca_key, 0, 1);
    X509_STORE *store = X509_STORE_new();
    attex_ea_session *cs = NULL, *ss = NULL;
    attex_buf kept_req = ATTEX_BUF_INIT, kept_auth = ATTEX_BUF_INIT;
    if (!ca || !srv || !cli || !store || !X509_STORE_add_cert(store, ca) ||
        !tu_pair_open(&p, &po)) {
        fprintf(stderr, "attex-demo: setup failed\n");
        return 1;
    }
    printf("1. TLS handshake on 127.0.0.1: %s, %s\n", SSL_get_version(p.client),
           SSL_CIPHER_get_name(SSL_get_current_cipher(p.client)));
    printf("   (the authenticator hash is the suite's: SHA-384)\n\n");
    cs = attex_ea_session_new_openssl(p.client, &err);
    ss = attex_ea_session_new_openssl(p.server, &err);
    if (cs == NULL || ss == NULL)
        goto out;

    attex_ea_validate_opts vo;
    memset(&vo, 0, sizeof(vo));
    vo.trust_store = store;
    X509 *chain_srv[1] = {ca};
    static const uint8_t evidence[] = {0x00, 0x10, 'o', 'p', 'a', 'q', 'u', 'e', ' ',
                                       'p', 'a', 'y', 'l', 'o', 'a', 'd', '.', '.'};
    attex_extension offer = {0xFFFF, NULL, 0};
    attex_extension answer = {0xFFFF, evidence, sizeof(evidence)};
    attex_ea_request_params rp_srv;
    memset(&rp_srv, 0, sizeof(rp_srv));
    rp_srv.extensions = &offer;
    rp_srv.num_extensions = 1;
    attex_ea_identity id_srv = {srv, chain_srv, 1, srv_key, &answer, 1, NULL, 0};

    /* The sample attester (software, real signatures) and its verifier. */
    EVP_PKEY *ak = tu_key("p256");
    attex_sample_attester_config sac;
    memset(&sac, 0, sizeof(sac));
    sac.key = ak;
    attex_attester *att = attex_sample_attester_new(&sac, &err);
    attex_buf refs = ATTEX_BUF_INIT;
    if (att == NULL || attex_sample_reference_values(&sac, &refs, &err) != ATTEX_OK) {
        fail("sample attester", &err);
        goto out;
    }
    char *refs_text = calloc(1, refs.len + 1);
    memcpy(refs_text, refs.data, refs.len);
    attex_buf_free(&refs);
    attex_sample_verifier_config svc;
    memset(&svc, 0, sizeof(svc));
    svc.trusted_keys = &ak;
    svc.num_trusted_keys = 1;
    svc.reference_values_json = refs_text;
    attex_verifier *ver = attex_sample_verifier_new(&svc, &err);
    free(refs_text);
    if (ver == NULL) {
        attex_sample_attester_free(att);
        EVP_PKEY_free(ak);
        fail("sample verifier", &err);
        goto out;
    }
    const attex_verifier *vers[1] = {ver};
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = vers;
    pol.num_verifiers = 1;
    pol.require = 1;
    attex_ea_identity id_att = {srv, chain_srv, 1, srv_key, NULL, 0, NULL, 0};
    attex_buf recorded = ATTEX_BUF_INIT;
    printf("2. The client requires the server's attestation (sample software attester):\n");
    int att_rc = attestation_step(&p, cs, ss, &id_att, att, &pol, &recorded);
    if (att_rc == 0) {
        /* The same evidence, replayed for a new request: the binding no longer matches. */
        attex_attester replay = {"replay", &recorded, replay_attest};
        attex_buf rq = ATTEX_BUF_INIT, au = ATTEX_BUF_INIT;
        attex_attest_result *rr = NULL;
        attex_attest_request_create(cs, &pol, NULL, &rq, &err);
        attex_attest_answer(ss, rq.data, rq.len, &id_att, &replay, 0, &au, &err);
        int rv = attex_attest_validate(cs, rq.data, rq.len, au.data, au.len, NULL, &pol, &rr,
                                       &err);
        printf("  the same evidence replayed for a new request: %s\n      %s\n",
               attex_status_name(rv), err.message);
        if (rv == ATTEX_OK)
            att_rc = 1;
        attex_attest_result_free(rr);
        attex_buf_free(&rq);
        attex_buf_free(&au);
    }
    attex_buf_free(&recorded);
    attex_sample_attester_free(att);
    attex_sample_verifier_free(ver);
    EVP_PKEY_free(ak);
    if (att_rc != 0)
        goto out;

    printf("\n3. The client asks the server to authenticate (offering extension 0xFFFF):\n");
    if (round_trip(&p, cs, ss, 0, &rp_srv, &id_srv, &vo, &kept_req, &kept_auth))
        goto out;

    printf("\n4. The server asks the client to authenticate:\n");
    attex_ea_identity id_cli = {cli, NULL, 0, cli_key, NULL, 0, NULL, 0};
    if (round_trip(&p, ss, cs, 1, NULL, &id_cli, &vo, NULL, NULL))
        goto out;

    printf("\n5. The client asks again; the server refuses:\n");
    if (round_trip(&p, cs, ss, 0, NULL, NULL, &vo, NULL, NULL))
        goto out;

    printf("\n6. The server authenticates spontaneously (no request):\n");
    attex_ea_identity id_sp = {srv, chain_srv, 1, srv_key, NULL, 0, NULL, 0};
    attex_buf sp = ATTEX_BUF_INIT, sp_rx = ATTEX_BUF_INIT;
    attex_ea_authenticator *a = NULL;
    if (attex_ea_authenticator_create(ss, NULL, 0, &id_sp, &sp, &err) != ATTEX_OK ||
        !tu_transfer(&p, 1, sp.data, sp.len, &sp_rx) ||
        attex_ea_authenticator_validate(cs, NULL, 0, sp_rx.data, sp_rx.len, &vo, &a, &err) !=
            ATTEX_OK) {
        attex_buf_free(&sp);
        attex_buf_free(&sp_rx);
        fail("spontaneous authenticator", &err);
        goto out;
    }
    printf("  server -> client: %zu bytes; client validated %s (%s)\n", sp.len,
           subject(attex_ea_authenticator_cert(a, 0)),
           attex_scheme_name(attex_ea_authenticator_scheme(a)));
    attex_ea_authenticator_free(a);
    attex_buf_free(&sp);
    attex_buf_free(&sp_rx);

    printf("\n7. Attacks on authenticators, each rejected:\n");
    int r = attex_ea_authenticator_validate(cs, kept_req.data, kept_req.len, kept_auth.data,
                                            kept_auth.len, &vo, &a, &err);
    printf("  replay of step 3's authenticator:  %s (%s)\n", attex_status_name(r), err.message);
    if (r == ATTEX_OK)
        goto out;
    tu_pair q;
    if (!tu_pair_open(&q, &po))
        goto out;
    attex_ea_session *cs2 = attex_ea_session_new_openssl(q.client, &err);
    attex_buf req2 = ATTEX_BUF_INIT;
    uint8_t ctx[ATTEX_EA_MAX_CONTEXT];
    size_t ctx_len;
    attex_ea_get_context(kept_req.data, kept_req.len, ctx, &ctx_len, &err);
    attex_ea_request_params rp2 = rp_srv;
    rp2.context = ctx;
    rp2.context_len = ctx_len;
    attex_ea_request_create(cs2, &rp2, &req2, &err);
    r = attex_ea_authenticator_validate(cs2, req2.data, req2.len, kept_auth.data, kept_auth.len,
                                        &vo, &a, &err);
    printf("  same authenticator on another TLS connection (same context): %s,\n"
           "      alert %s: %s\n",
           attex_status_name(r), attex_alert_name(err.alert), err.message);
    attex_buf_free(&req2);
    attex_ea_session_free(cs2);
    tu_pair_close(&q);
    if (r == ATTEX_OK)
        goto out;
    printf("\nDone: every authenticator and every piece of evidence was bound to this TLS\n"
           "connection and checked.\n");
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "attex-demo: FAILED\n");
    attex_buf_free(&kept_req);
    attex_buf_free(&kept_auth);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    tu_pair_close(&p);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    return rc;
}
