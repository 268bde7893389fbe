/*
 * End-to-end tests of the TDX verifier on a synthetic Intel-like PKI: a
 * root, a PCK CA, a PCK certificate with the Intel SGX extension, a TCB
 * signing certificate, CRLs, TCB Info and QE Identity signed like Intel's,
 * and quotes assembled and signed here. The real vectors (test_tdx.c) never
 * reach "affirming" and contain no revoked certificate; these tests reach
 * every verdict through the whole appraisal, revocation included.
 *
 * Collateral directories are made in the working directory (ctest runs
 * tests in the build directory) and removed afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <attex/attex.h>
#include <attex/tdx.h>

#include "tdx_internal.h"
#include "testutil.h"

#define DIR "tdx-synth"

static const uint8_t fmspc[6] = {0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00};
static const uint8_t qe_mrsigner[32] = {0xdc, 0x9e, 0x2a, 0x7c};

typedef struct pki {
    EVP_PKEY *root_k, *ca_k, *leaf_k, *signer_k, *att_k;
    X509 *root, *ca, *leaf, *signer;
} pki;

/* ---- DER for the SGX extension ------------------------------------------ */

typedef struct buf {
    uint8_t d[8192];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof(b->d))
        abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void tlv(buf *out, uint8_t tag, const buf *c)
{
    uint8_t h[4] = {tag};
    size_t hn = 2;
    if (c->n < 0x80) {
        h[1] = (uint8_t)c->n;
    } else if (c->n < 0x100) {
        h[1] = 0x81;
        h[2] = (uint8_t)c->n;
        hn = 3;
    } else {
        h[1] = 0x82;
        h[2] = (uint8_t)(c->n >> 8);
        h[3] = (uint8_t)c->n;
        hn = 4;
    }
    put(out, h, hn);
    put(out, c->d, c->n);
}

static void oid(buf *out, int a, int b)
{
    static const uint8_t sgx[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
    buf c = {{0}, 0};
    put(&c, sgx, sizeof(sgx));
    uint8_t x = (uint8_t)a;
    put(&c, &x, 1);
    if (b) {
        x = (uint8_t)b;
        put(&c, &x, 1);
    }
    tlv(out, 0x06, &c);
}

static void item(buf *out, int a, int b, uint8_t tag, const uint8_t *v, size_t n)
{
    buf c = {{0}, 0}, val = {{0}, 0};
    oid(&c, a, b);
    put(&val, v, n);
    tlv(&c, tag, &val);
    tlv(out, 0x30, &c);
}

/* sgx_ext builds the extension value: PPID, TCB (16 SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC. */
static void sgx_ext(buf *out, uint8_t comp, uint8_t pcesvn, int with_fmspc)
{
    buf seq = {{0}, 0}, tcb = {{0}, 0}, tcbwrap = {{0}, 0};
    uint8_t ppid[16] = {1}, cpusvn[16] = {comp}, pceid[2] = {0, 0}, type = 0;
    item(&seq, 1, 0, 0x04, ppid, 16);
    for (int k = 1; k <= 16; k++)
        item(&tcb, 2, k, 0x02, &comp, 1);
    item(&tcb, 2, 17, 0x02, &pcesvn, 1);
    item(&tcb, 2, 18, 0x04, cpusvn, 16);
    oid(&tcbwrap, 2, 0);
    tlv(&tcbwrap, 0x30, &tcb);
    tlv(&seq, 0x30, &tcbwrap);
    item(&seq, 3, 0, 0x04, pceid, 2);
    if (with_fmspc)
        item(&seq, 4, 0, 0x04, fmspc, 6);
    item(&seq, 5, 0, 0x0A, &type, 1);
    tlv(out, 0x30, &seq);
}

static X509 *pck_leaf(pki *p, int with_ext)
{
    X509 *x = tu_cert(p->leaf_k, "Intel SGX PCK Certificate", p->ca, p->ca_k, 0, 30);
    if (with_ext) {
        buf v = {{0}, 0};
        sgx_ext(&v, 5, 11, 1);
        ASN1_OBJECT *o = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(os, v.d, (int)v.n);
        X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(o);
        X509_sign(x, p->ca_k, EVP_sha256());
    }
    return x;
}

static void pki_make(pki *p)
{
    p->root_k = tu_key("p256");
    p->ca_k = tu_key("p256");
    p->leaf_k = tu_key("p256");
    p->signer_k = tu_key("p256");
    p->att_k = tu_key("p256");
    p->root = tu_cert(p->root_k, "Test SGX Root CA", NULL, NULL, 1, 365);
    p->ca = tu_cert(p->ca_k, "Intel SGX PCK Platform CA", p->root, p->root_k, 1, 365);
    p->signer = tu_cert(p->signer_k, "Intel SGX TCB Signing", p->root, p->root_k, 0, 365);
    p->leaf = pck_leaf(p, 1);
}

static void pki_free(pki *p)
{
    EVP_PKEY_free(p->root_k);
    EVP_PKEY_free(p->ca_k);
    EVP_PKEY_free(p->leaf_k);
    EVP_PKEY_free(p->signer_k);
    EVP_PKEY_free(p->att_k);
    X509_free(p->root);
    X509_free(p->ca);
    X509_free(p->leaf);
    X509_free(p->signer);
}

/* ---- signing -------------------------------------------------------------- */

static void sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t n, uint8_t out[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dl = sizeof(der);
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
        EVP_DigestSign(md, der, &dl, msg, n) != 1)
        abort();
    EVP_MD_CTX_free(md);
    const unsigned char *pp = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &pp, (long)dl);
    const BIGNUM *r, *ss;
    ECDSA_SIG_get0(s, &r, &ss);
    BN_bn2binpad(r, out, 32);
    BN_bn2binpad(ss, out + 32, 32);
    ECDSA_SIG_free(s);
}

static void le(buf *b, uint32_t v, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t x = (uint8_t)(v >> (8 * i));
        put(b, &x, 1);
    }
}

static void pem_of(buf *b, X509 *x)
{
    BIO *m = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(m, x);
    char *p;
    long n = BIO_get_mem_data(m, &p);
    put(b, p, (size_t)n);
    BIO_free(m);
}

typedef struct quote_opts {
    uint8_t td_attr0;
    uint8_t tee_tcb_svn2; /* TEE_TCB_SVN[2] */
    X509 *leaf;           /* NULL: p->leaf */
    int chain_certs;      /* 3, or 2 (no root) */
} quote_opts;

static buf *make_quote(pki *p, const quote_opts *o)
{
    static buf q;
    buf hb = {{0}, 0}, sd = {{0}, 0}, cd = {{0}, 0}, pem = {{0}, 0};
    q.n = 0;
    static const uint8_t vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                       0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
    le(&hb, 4, 2);
    le(&hb, 2, 2);
    le(&hb, 0x81, 4);
    le(&hb, 0, 4);
    put(&hb, vendor, 16);
    uint8_t zeros[64] = {0};
    put(&hb, zeros, 20);
    uint8_t body[TDX_BODY_TD10_SIZE] = {0};
    body[2] = o->tee_tcb_svn2;       /* TEE_TCB_SVN[2] */
    body[0x78] = o->td_attr0;        /* TDATTRIBUTES */
    memset(body + 0x88, 0xAB, 48);   /* MRTD */
    memset(body + 0x208, 0x5A, 64);  /* REPORTDATA */
    put(&hb, body, sizeof(body));
    uint8_t qsig[64], attk[65], qe[TDX_QE_REPORT_SIZE] = {0}, qesig[64], auth[32];
    sign_raw(p->att_k, hb.d, hb.n, qsig);
    size_t kl = sizeof(attk);
    EVP_PKEY_get_octet_string_param(p->att_k, OSSL_PKEY_PARAM_PUB_KEY, attk, sizeof(attk), &kl);
    for (int i = 0; i < 32; i++)
        auth[i] = (uint8_t)i;
    qe[0x30] = 0x11;                      /* ATTRIBUTES */
    memcpy(qe + 0x80, qe_mrsigner, 32);   /* MRSIGNER */
    qe[0x100] = 2;                        /* ISVPRODID */
    qe[0x102] = 4;                        /* ISVSVN */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, attk + 1, 64);
    EVP_DigestUpdate(md, auth, 32);
    EVP_DigestFinal_ex(md, qe + 0x140, NULL);
    EVP_MD_CTX_free(md);
    sign_raw(p->leaf_k, qe, sizeof(qe), qesig);
    pem_of(&pem, o->leaf ? o->leaf : p->leaf);
    pem_of(&pem, p->ca);
    if (o->chain_certs != 2)
        pem_of(&pem, p->root);
    put(&cd, qe, sizeof(qe));
    put(&cd, qesig, 64);
    le(&cd, 32, 2);
    put(&cd, auth, 32);
    le(&cd, 5, 2);
    le(&cd, (uint32_t)pem.n, 4);
    put(&cd, pem.d, pem.n);
    put(&sd, qsig, 64);
    put(&sd, attk + 1, 64);
    le(&sd, 6, 2);
    le(&sd, (uint32_t)cd.n, 4);
    put(&sd, cd.d, cd.n);
    put(&q, hb.d, hb.n);
    le(&q, (uint32_t)sd.n, 4);
    put(&q, sd.d, sd.n);
    return &q;
}

/* ---- collateral ----------------------------------------------------------- */

static void write_file(const char *name, const void *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof(path), DIR "/%s", name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    fwrite(p, 1, n, f);
    fclose(f);
}

static void write_signed_json(pki *p, const char *name, const char *key, const char *inner)
{
    uint8_t sig[64];
    char hex[129];
    sign_raw(p->signer_k, (const uint8_t *)inner, strlen(inner), sig);
    util_hex(sig, 64, hex);
    size_t n = strlen(inner) + 256;
    char *doc = malloc(n);
    snprintf(doc, n, "{\"%s\":%s,\"signature\":\"%s\"}", key, inner, hex);
    write_file(name, doc, strlen(doc));
    free(doc);
}

static void write_crl(const char *name, X509 *issuer, EVP_PKEY *k, X509 *revoked)
{
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    ASN1_TIME *t1 = X509_gmtime_adj(NULL, -3600), *t2 = X509_gmtime_adj(NULL, 30 * 86400);
    X509_CRL_set1_lastUpdate(crl, t1);
    X509_CRL_set1_nextUpdate(crl, t2);
    if (revoked != NULL) {
        X509_REVOKED *r = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked));
        X509_REVOKED_set_revocationDate(r, t1);
        X509_CRL_add0_revoked(crl, r);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, k, EVP_sha256());
    unsigned char *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    write_file(name, der, (size_t)n);
    OPENSSL_free(der);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    X509_CRL_free(crl);
}

typedef struct col_opts {
    const char *platform_status; /* the one tcbLevel's status */
    int tdx_comp2;               /* required TEE_TCB_SVN[2] */
    const char *qe_status;
    const char *pce_id;
    const char *qe_mrsigner_hex; /* NULL: the quote's */
    int revoke_leaf, revoke_ca, no_ca_chain, no_pck_crl;
} col_opts;

static void make_collateral(pki *p, const col_opts *o)
{
    mkdir(DIR, 0700);
    char now_s[32], next_s[32];
    int64_t now = (int64_t)time(NULL);
    tdx_time_format(now - 86400, now_s);
    tdx_time_format(now + 30 * 86400, next_s);
    char comps_sgx[1024], comps_tdx[1024];
    int a = snprintf(comps_sgx, sizeof(comps_sgx), "[");
    int b = snprintf(comps_tdx, sizeof(comps_tdx), "[");
    for (int i = 0; i < 16; i++) {
        a += snprintf(comps_sgx + a, sizeof(comps_sgx) - (size_t)a, "%s{\"svn\":%d}", i ? "," : "", 5);
        b += snprintf(comps_tdx + b, sizeof(comps_tdx) - (size_t)b, "%s{\"svn\":%d}", i ? "," : "",
                      i == 2 ? o->tdx_comp2 : 0);
    }
    snprintf(comps_sgx + a, sizeof(comps_sgx) - (size_t)a, "]");
    snprintf(comps_tdx + b, sizeof(comps_tdx) - (size_t)b, "]");
    char fm[13];
    util_hex(fmspc, 6, fm);
    char *inner = malloc(8192);
    snprintf(inner, 8192,
             "{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
             "\"fmspc\":\"%s\",\"pceId\":\"%s\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,"
             "\"tdxModule\":{\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\","
             "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},\"tcbLevels\":[{\"tcb\":{"
             "\"sgxtcbcomponents\":%s,\"pcesvn\":11,\"tdxtcbcomponents\":%s},\"tcbDate\":"
             "\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"%s\",\"advisoryIDs\":[\"INTEL-SA-00837\"]}]}",
             now_s, next_s, fm, o->pce_id ? o->pce_id : "0000", 0, comps_sgx, comps_tdx,
             o->platform_status);
    write_signed_json(p, "tcbinfo.json", "tcbInfo", inner);
    char mrs[65];
    util_hex(qe_mrsigner, 32, mrs);
    snprintf(inner, 8192,
             "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
             "\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":"
             "\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\","
             "\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\","
             "\"isvprodid\":2,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":"
             "\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"%s\"}]}",
             now_s, next_s, o->qe_mrsigner_hex ? o->qe_mrsigner_hex : mrs, o->qe_status);
    write_signed_json(p, "qeidentity.json", "enclaveIdentity", inner);
    free(inner);
    buf chain = {{0}, 0};
    pem_of(&chain, p->signer);
    pem_of(&chain, p->root);
    write_file("tcb_signing_chain.pem", chain.d, chain.n);
    if (!o->no_ca_chain) {
        chain.n = 0;
        pem_of(&chain, p->ca);
        pem_of(&chain, p->root);
        write_file("pck_crl_issuer_chain.pem", chain.d, chain.n);
    }
    write_crl("rootcrl.der", p->root, p->root_k, o->revoke_ca ? p->ca : NULL);
    if (!o->no_pck_crl)
        write_crl("pckcrl.der", p->ca, p->ca_k, o->revoke_leaf ? p->leaf : NULL);
    buf root = {{0}, 0};
    pem_of(&root, p->root);
    FILE *f = fopen("tdx-synth-root.pem", "wb");
    fwrite(root.d, 1, root.n, f);
    fclose(f);
}

static void clean(void)
{
    const char *files[] = {"tcbinfo.json", "qeidentity.json", "tcb_signing_chain.pem",
                           "pck_crl_issuer_chain.pem", "rootcrl.der", "pckcrl.der"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), DIR "/%s", files[i]);
        unlink(path);
    }
    rmdir(DIR);
    unlink("tdx-synth-root.pem");
}

static attex_tdx_verifier *verifier(const char *policy, attex_verdict needs_action,
                                    int incomplete, attex_error *err)
{
    attex_tdx_verifier_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.collateral_dir = DIR;
    cfg.root_ca_pem_path = "tdx-synth-root.pem";
    cfg.policy_json = policy;
    cfg.needs_action_verdict = needs_action;
    cfg.allow_incomplete_collateral = incomplete;
    return attex_tdx_verifier_new(&cfg, err);
}

static int has(const char *text, const char *needle)
{
    if (text != NULL && strstr(text, needle) != NULL)
        return 1;
    fprintf(stderr, "  expected \"%s\" in: %s\n", needle, text ? text : "(null)");
    return 0;
}

/* run makes collateral, a verifier and a quote, appraises; returns the status. */
static int run(pki *p, const col_opts *co, const quote_opts *qo, const char *policy,
               attex_verdict needs_action, int incomplete, attex_appraisal *a, attex_error *err)
{
    make_collateral(p, co);
    attex_tdx_verifier *v = verifier(policy, needs_action, incomplete, err);
    memset(a, 0, sizeof(*a));
    int ret;
    if (v == NULL) {
        ret = -1000;
        snprintf(a->reason, sizeof(a->reason), "verifier: %.480s", err->message);
    } else {
        buf *q = make_quote(p, qo);
        uint8_t rd[64];
        memset(rd, 0x5A, 64);
        ret = attex_tdx_appraise(v, q->d, q->n, NULL, 0, rd, a, err);
        if (getenv("ATTEX_TEST_VERBOSE"))
            fprintf(stderr, "[%s] %s: %s\n", attex_status_name(ret),
                    attex_verdict_name(a->verdict), a->reason);
    }
    attex_tdx_verifier_free(v);
    clean();
    return ret;
}

int main(void)
{
    pki p;
    pki_make(&p);
    attex_error err;
    attex_appraisal a;
    quote_opts qo = {0, 5, NULL, 3};
    col_opts base = {"UpToDate", 5, "UpToDate", NULL, NULL, 0, 0, 0, 0};

    /* UpToDate everywhere: affirming, with the claims */
    CHECK_RC(run(&p, &base, &qo, NULL, 0, 0, &a, &err), ATTEX_OK, &err);
    CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING && has(a.reason, "TCB status UpToDate"));
    CHECK(has(a.claims_json, "\"status\":\"UpToDate\"") &&
          has(a.claims_json, "INTEL-SA-00837") && has(a.claims_json, "\"verdict\":\"affirming\""));
    attex_appraisal_clear(&a);

    /* every platform status, and the needs-action setting */
    struct {
        const char *status;
        attex_verdict setting, want;
    } st[] = {
        {"SWHardeningNeeded", 0, ATTEX_VERDICT_WARNING},
        {"SWHardeningNeeded", ATTEX_VERDICT_AFFIRMING, ATTEX_VERDICT_AFFIRMING},
        {"SWHardeningNeeded", ATTEX_VERDICT_CONTRAINDICATED, ATTEX_VERDICT_CONTRAINDICATED},
        {"ConfigurationNeeded", 0, ATTEX_VERDICT_WARNING},
        {"ConfigurationAndSWHardeningNeeded", 0, ATTEX_VERDICT_WARNING},
        {"OutOfDate", ATTEX_VERDICT_AFFIRMING, ATTEX_VERDICT_CONTRAINDICATED},
        {"OutOfDateConfigurationNeeded", 0, ATTEX_VERDICT_CONTRAINDICATED},
        {"Revoked", 0, ATTEX_VERDICT_CONTRAINDICATED},
    };
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        col_opts co = base;
        co.platform_status = st[i].status;
        CHECK_RC(run(&p, &co, &qo, NULL, st[i].setting, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == st[i].want && has(a.reason, st[i].status));
        attex_appraisal_clear(&a);
    }
    /* the TDX components not met: no TCB level */
    {
        col_opts co = base;
        co.tdx_comp2 = 6;
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "no TCB level"));
        attex_appraisal_clear(&a);
    }
    /* an out-of-date QE makes an up-to-date platform out of date (QVL convergence) */
    {
        col_opts co = base;
        co.qe_status = "OutOfDate";
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED &&
              has(a.reason, "TCB status OutOfDate (platform UpToDate"));
        attex_appraisal_clear(&a);
        co.qe_status = "Revoked";
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "TCB status Revoked"));
        attex_appraisal_clear(&a);
    }
    /* QE identity mismatch, PCE-ID mismatch */
    {
        col_opts co = base;
        co.qe_mrsigner_hex = "0000000000000000000000000000000000000000000000000000000000000000";
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "QE identity: the QE report's MRSIGNER"));
        attex_appraisal_clear(&a);
        co = base;
        co.pce_id = "0001";
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "PCE-ID 0000 of the PCK certificate differs from the TCB Info's 0001"));
        attex_appraisal_clear(&a);
    }
    /* revocation: the PCK by its CA's CRL; the CA by the root's CRL */
    {
        col_opts co = base;
        co.revoke_leaf = 1;
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "PCK certificate (serial") && has(a.reason, "is revoked"));
        attex_appraisal_clear(&a);
        co = base;
        co.revoke_ca = 1;
        CHECK(run(&p, &co, &qo, NULL, 0, 0, &a, &err) == -1000 &&
              has(a.reason, "revoked by the root CA's CRL"));
        /* without the CA in the collateral, the quote's own CA is caught */
        co.no_ca_chain = 1;
        co.no_pck_crl = 1;
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 1, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "PCK CA certificate is revoked by the root CA's CRL"));
        attex_appraisal_clear(&a);
        /* no PCK CRL: refused, unless incomplete collateral is allowed (then warning) */
        co = base;
        co.no_pck_crl = 1;
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 0, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "the PCK CA's CRL is not in the collateral"));
        attex_appraisal_clear(&a);
        CHECK_RC(run(&p, &co, &qo, NULL, 0, 1, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_WARNING && has(a.reason, "collateral gaps tolerated"));
        attex_appraisal_clear(&a);
    }
    /* the PCK certificate and chain */
    {
        quote_opts q2 = qo;
        q2.leaf = pck_leaf(&p, 0);
        CHECK_RC(run(&p, &base, &q2, NULL, 0, 0, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "the Intel SGX extension (1.2.840.113741.1.13.1), which carries FMSPC "
                            "and TCB, is missing"));
        attex_appraisal_clear(&a);
        X509_free(q2.leaf);
        q2 = qo;
        q2.chain_certs = 2;
        CHECK_RC(run(&p, &base, &q2, NULL, 0, 0, &a, &err), ATTEX_ERR_ATTESTATION, &err);
        CHECK(has(a.reason, "2 certificates, expected 3"));
        attex_appraisal_clear(&a);
    }
    /* a debug TD: refused by default, accepted with allow_debug */
    {
        quote_opts q2 = qo;
        q2.td_attr0 = 1;
        CHECK_RC(run(&p, &base, &q2, NULL, 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "DEBUG"));
        attex_appraisal_clear(&a);
        CHECK_RC(run(&p, &base, &q2, "{\"allow_debug\":true}", 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING);
        attex_appraisal_clear(&a);
    }
    /* the reference MRTD: met, then not met */
    {
        char pol[256], mrtd[97];
        uint8_t v[48];
        memset(v, 0xAB, 48);
        util_hex(v, 48, mrtd);
        snprintf(pol, sizeof(pol), "{\"mrtd\":\"%s\"}", mrtd);
        CHECK_RC(run(&p, &base, &qo, pol, 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_AFFIRMING);
        attex_appraisal_clear(&a);
        mrtd[5] = '0';
        snprintf(pol, sizeof(pol), "{\"mrtd\":\"%s\"}", mrtd);
        CHECK_RC(run(&p, &base, &qo, pol, 0, 0, &a, &err), ATTEX_OK, &err);
        CHECK(a.verdict == ATTEX_VERDICT_CONTRAINDICATED && has(a.reason, "policy: mrtd is"));
        attex_appraisal_clear(&a);
    }
    pki_free(&p);
    return tu_finish("test_tdx_synth");
}
