/*
 * libFuzzer target: Intel TDX collateral (src/tdx_collateral.c).
 *
 * The input is one collateral document (TCB Info or QE Identity JSON, a CRL
 * in DER or PEM, PEM certificates), loaded next to the real TCB signing
 * chain and the Intel SGX Root CA of tests/vectors/tdx (ATTEX_SOURCE_DIR,
 * default "."). The document splitter, the TCB Info and QE Identity parsers
 * and the loader's checks run; what loads is then used: every TCB Info is
 * evaluated against a fixed PCK and TD report, the QE Identity against a
 * fixed QE report. Invariants: failures fill the error; statuses are in
 * range; a TCB level the evaluation returns belongs to the TCB Info.
 *
 * The library copy (attex_fuzzlib) skips the ECDSA signature checks, so
 * that mutated documents are parsed; certificates and CRLs are still
 * verified by OpenSSL. Seeds: the real collateral files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "fuzz_common.h"
#include "tdx_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *root;
static uint8_t *chain;
static size_t chain_len;

static uint8_t *slurp(const char *rel, size_t *len)
{
    const char *base = getenv("ATTEX_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", base ? base : ".", rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz_tdx_collateral: cannot open %s (set ATTEX_SOURCE_DIR)\n", path);
        abort();
    }
    uint8_t *b = malloc(65536);
    FZ_CHECK(b != NULL);
    *len = fread(b, 1, 65536, f);
    fclose(f);
    return b;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    size_t n;
    uint8_t *pem = slurp("tests/vectors/tdx/intel_sgx_root_ca.pem", &n);
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    root = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    free(pem);
    FZ_CHECK(root != NULL);
    chain = slurp("tests/vectors/tdx/collateral-2023/tcb_signing_chain.pem", &chain_len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tdx_collateral_file files[2] = {{"fuzzed", data, size}, {"chain", chain, chain_len}};
    tdx_collateral c;
    attex_error err;
    int ret = tdx_collateral_load_mem(files, 2, root, &c, &err);
    if (ret != ATTEX_OK) {
        fz_check_error(&err, ret);
        FZ_CHECK(ret == ATTEX_ERR_INVALID_ARGUMENT || ret == ATTEX_ERR_NO_MEMORY);
        return 0;
    }
    tdx_pck_ext pck;
    tdx_body body;
    memset(&pck, 0, sizeof(pck));
    memset(&body, 0, sizeof(body));
    memset(pck.comp_svn, 5, sizeof(pck.comp_svn));
    pck.pcesvn = 11;
    body.tee_tcb_svn[0] = 3;
    body.tee_tcb_svn[1] = (uint8_t)(size & 1); /* with and without a TDX module identity */
    body.tee_tcb_svn[2] = 5;
    for (size_t i = 0; i < c.num_tcb_infos; i++) {
        const tdx_tcb_info *ti = &c.tcb_infos[i];
        FZ_CHECK(ti->num_levels > 0);
        tdx_tcb_result r;
        attex_error_clear(&err);
        int e = tdx_tcb_evaluate(ti, &pck, &body, &r, &err);
        if (e != ATTEX_OK) {
            fz_check_error(&err, e);
            continue;
        }
        FZ_CHECK(r.final <= TDX_TCB_NO_MATCH && r.platform <= TDX_TCB_NO_MATCH);
        FZ_CHECK(r.platform_level == NULL ||
                 (r.platform_level >= ti->levels && r.platform_level < ti->levels + ti->num_levels));
        FZ_CHECK((r.platform_level == NULL) == (r.platform == TDX_TCB_NO_MATCH));
    }
    if (c.has_qe_identity) {
        tdx_qe_report qe;
        memset(&qe, 0, sizeof(qe));
        qe.isvprodid = 2;
        qe.isvsvn = 4;
        qe.attributes[0] = 0x11;
        tdx_tcb_result r;
        int e = tdx_qe_evaluate(&c.qe_identity, &qe, &r, &err);
        if (e != ATTEX_OK)
            fz_check_error(&err, e);
        else
            FZ_CHECK(r.qe <= TDX_TCB_NO_MATCH);
    }
    tdx_collateral_clear(&c);
    return 0;
}
