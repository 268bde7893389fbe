/*
 * attex evidence: decode and appraise TEE and TPM evidence offline.
 *
 *   attex evidence verify FILE --type tdx|snp|cca|tpm|tsm [options]
 *   attex evidence describe FILE [--type tdx|snp|cca|tsm]
 *
 * No network and no TLS connection: an operator checks a quote, a report or
 * a token against collateral, roots and reference values on disk, at a time
 * of their choosing. Without --report-data the binding to a connection is
 * not checked, and the output says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attex/attex.h>
#include <attex/cca.h>
#include <attex/snp.h>
#include <attex/tdx.h>
#include <attex/tpm.h>
#include <attex/tsm.h>

#include "tool.h"

static const char usage_evidence[] =
    "usage: attex evidence verify FILE --type tdx|snp|cca|tpm|tsm [OPTIONS]\n"
    "       attex evidence describe FILE [--type tdx|snp|cca|tsm] [--json]\n"
    "\n"
    "verify appraises evidence offline and prints the verdict, the reason and the\n"
    "appraised claims; describe decodes it without trusting anything. FILE may be\n"
    "'-' (standard input). Types: an Intel TDX quote (v4/v5), an AMD SEV-SNP report\n"
    "(v2/v3), an Arm CCA token, attex TPM 2.0 quote evidence, or a configfs-tsm\n"
    "report (tsm-report CBOR: appraised by its provider's verifier).\n"
    "\n"
    "common options:\n"
    "  --report-data HEX        the 64 bytes the evidence must be bound to (default:\n"
    "                           not checked; the output says so)\n"
    "  --at TIME                validate at TIME (YYYY-MM-DDTHH:MM:SSZ or seconds since\n"
    "                           the epoch) instead of now\n"
    "  --accept warning         exit 0 for a warning verdict too (default: affirming only)\n"
    "  --json                   one JSON object on standard output\n"
    "tdx:\n"
    "  --collateral DIR         Intel PCS collateral (TCB Info, QE Identity, CRLs, chains)\n"
    "  --policy PATH            reference values JSON (docs/tdx.md)\n"
    "  --root-ca PATH           trusted root (default: the built-in Intel SGX Root CA)\n"
    "  --allow-incomplete-collateral  tolerate missing/expired collateral (study only;\n"
    "                           the verdict is then at best warning)\n"
    "snp:\n"
    "  --certs PATH             certificate table (the auxblob) to use\n"
    "  --vcek PATH --ask PATH   VCEK/VLEK and ASK (+ARK) when there is no table\n"
    "  --ark PATH               an extra trusted ARK (repeatable)\n"
    "  --policy PATH            policy and reference values JSON (docs/snp.md)\n"
    "cca:\n"
    "  --platform-key PATH      trusted platform key, PEM (repeatable; required)\n"
    "  --policy PATH            reference values JSON (docs/tee.md)\n"
    "tpm:\n"
    "  --trust-ak PATH          trusted AK public key, PEM (repeatable)\n"
    "  --ak-roots PATH          roots for AK certificate chains\n"
    "  --reference-values PATH  allowed PCR values JSON (required)\n"
    "\n"
    "Exit status: 0 accepted, 1 not accepted or not decodable, 2 usage error.\n";

typedef struct ev_opts {
    const char *type, *report_data_hex, *at, *accept, *collateral, *policy, *root_ca, *certs,
        *vcek, *ask, *ak_roots, *refs;
    const char *arks[MAX_LIST], *platform_keys[MAX_LIST], *trust_aks[MAX_LIST];
    size_t narks, nplatform_keys, ntrust_aks;
    int json, allow_incomplete;
} ev_opts;


static int parse_time(const char *s, int64_t *out)
{
    attex_error err;
    unsigned long v;
    if (parse_uint(s, 0xFFFFFFFFFFul, &v)) {
        *out = (int64_t)v;
        return 0;
    }
    return attex_tdx_parse_time(s, out, &err) == ATTEX_OK ? 0 : -1;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* ev_fail reports a problem with the tool's own inputs. */
static int ev_fail(attex_error *err, const char *msg)
{
    memset(err, 0, sizeof(*err));
    err->code = ATTEX_ERR_INVALID_ARGUMENT;
    snprintf(err->message, sizeof(err->message), "%s", msg);
    return ATTEX_ERR_INVALID_ARGUMENT;
}

/* ---------------------------------------------------------------------- */
/* describe                                                               */

/* guess_type recognises a TDX quote, an SNP report, a CCA token or a tsm-report by its shape. */
static const char *guess_type(const uint8_t *p, size_t n)
{
    if (n >= 48 && (p[0] == 4 || p[0] == 5) && p[1] == 0 && p[4] == 0x81 && p[5] == 0 &&
        p[6] == 0 && p[7] == 0)
        return "tdx";
    if (n == ATTEX_SNP_REPORT_SIZE && (p[0] == 2 || p[0] == 3) && p[1] == 0 && p[2] == 0 &&
        p[3] == 0)
        return "snp";
    /* RFC 8949 s3.4: tag 399 (0xD9 0x01 0x8F) or 907 (0xD9 0x03 0x8B), the CCA collections. */
    if (n >= 3 && p[0] == 0xD9 && ((p[1] == 0x01 && p[2] == 0x8F) || (p[1] == 0x03 && p[2] == 0x8B)))
        return "cca";
    attex_tsm_report r;
    attex_error err;
    if (attex_tsm_report_decode(p, n, &r, &err) == ATTEX_OK) {
        attex_tsm_report_clear(&r);
        return "tsm";
    }
    return NULL;
}

int evidence_describe(const uint8_t *p, size_t n, const char *type, attex_buf *json,
                      const char **kind, attex_error *err)
{
    if (type == NULL)
        type = guess_type(p, n);
    *kind = type;
    if (type == NULL)
        return ev_fail(err, "not a TDX quote, an SEV-SNP report, a CCA token or a "
                                   "tsm-report");
    if (strcmp(type, "tdx") == 0)
        return attex_tdx_describe(p, n, json, err);
    if (strcmp(type, "snp") == 0)
        return attex_snp_describe(p, n, json, err);
    if (strcmp(type, "cca") == 0)
        return attex_cca_describe(p, n, json, err);
    if (strcmp(type, "tsm") != 0)
        return ev_fail(err, "describe takes tdx, snp, cca or tsm");
    attex_tsm_report r;
    int ret = attex_tsm_report_decode(p, n, &r, err);
    if (ret != ATTEX_OK)
        return ret;
    attex_buf inner = ATTEX_BUF_INIT;
    const char *ik = NULL;
    ret = evidence_describe(r.outblob.data, r.outblob.len,
                            r.kind == ATTEX_TSM_TDX   ? "tdx"
                            : r.kind == ATTEX_TSM_SNP ? "snp"
                            : r.kind == ATTEX_TSM_CCA ? "cca"
                                                      : NULL,
                            &inner, &ik, err);
    if (ret == ATTEX_OK) {
        sbuf b;
        memset(&b, 0, sizeof(b));
        sb_puts(&b, "{\"provider\":");
        sb_json_str(&b, r.provider);
        sb_printf(&b, ",\"outblob_len\":%zu,\"auxblob_len\":%zu,\"report\":", r.outblob.len,
                  r.auxblob.len);
        sb_add(&b, (const char *)inner.data, inner.len);
        if (r.kind == ATTEX_TSM_SNP && r.auxblob.len > 0) {
            attex_buf t = ATTEX_BUF_INIT;
            if (attex_snp_cert_table_describe(r.auxblob.data, r.auxblob.len, &t, err) ==
                ATTEX_OK) {
                sb_puts(&b, ",\"certificate_table\":");
                sb_add(&b, (const char *)t.data, t.len);
            }
            attex_buf_free(&t);
        }
        sb_puts(&b, "}");
        json->data = (uint8_t *)b.s;
        json->len = b.len;
    }
    attex_buf_free(&inner);
    attex_tsm_report_clear(&r);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* verify                                                                 */

typedef struct ev_verifiers {
    attex_tdx_verifier *tdx;
    attex_snp_verifier *snp;
    attex_verifier *cca, *tpm;
} ev_verifiers;

static void ev_free(ev_verifiers *v)
{
    attex_tdx_verifier_free(v->tdx);
    attex_snp_verifier_free(v->snp);
    attex_cca_verifier_free(v->cca);
    attex_tpm_verifier_free(v->tpm);
}

static int build(const ev_opts *o, const char *type, int64_t at, ev_verifiers *v,
                 attex_error *err)
{
    if (strcmp(type, "tdx") == 0 && v->tdx == NULL) {
        if (o->collateral == NULL)
            return ev_fail(err, "a TDX quote needs --collateral DIR (Intel PCS "
                                       "collateral)");
        attex_tdx_verifier_config c;
        memset(&c, 0, sizeof(c));
        c.collateral_dir = o->collateral;
        c.root_ca_pem_path = o->root_ca;
        c.policy_path = o->policy;
        c.time = at;
        c.allow_incomplete_collateral = o->allow_incomplete;
        v->tdx = attex_tdx_verifier_new(&c, err);
        return v->tdx ? ATTEX_OK : ATTEX_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(type, "snp") == 0 && v->snp == NULL) {
        attex_snp_verifier_config c;
        memset(&c, 0, sizeof(c));
        c.ark_paths = o->arks;
        c.num_ark_paths = o->narks;
        c.vcek_path = o->vcek;
        c.ask_path = o->ask;
        c.policy_path = o->policy;
        c.validation_time = at;
        v->snp = attex_snp_verifier_new(&c, err);
        return v->snp ? ATTEX_OK : ATTEX_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(type, "cca") == 0 && v->cca == NULL) {
        if (o->nplatform_keys == 0)
            return ev_fail(err, "a CCA token needs --platform-key PEM (the trusted "
                                       "platform key)");
        attex_cca_verifier_config c;
        memset(&c, 0, sizeof(c));
        c.platform_key_paths = o->platform_keys;
        c.num_platform_key_paths = o->nplatform_keys;
        c.policy_path = o->policy;
        v->cca = attex_cca_verifier_new(&c, err);
        return v->cca ? ATTEX_OK : ATTEX_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(type, "tpm") == 0 && v->tpm == NULL) {
        if (o->refs == NULL || (o->ntrust_aks == 0 && o->ak_roots == NULL))
            return ev_fail(err, "TPM evidence needs --reference-values and trusted "
                                       "AKs (--trust-ak or --ak-roots)");
        attex_tpm_verifier_config c;
        memset(&c, 0, sizeof(c));
        c.trusted_ak_paths = o->trust_aks;
        c.num_trusted_ak_paths = o->ntrust_aks;
        c.ak_roots_path = o->ak_roots;
        c.reference_values_path = o->refs;
        v->tpm = attex_tpm_verifier_new(&c, err);
        return v->tpm ? ATTEX_OK : ATTEX_ERR_INVALID_ARGUMENT;
    }
    return ATTEX_OK;
}

static int appraise(const ev_opts *o, const char *type, const uint8_t *p, size_t n,
                    const uint8_t *aux, size_t aux_len, const uint8_t *rd, int64_t at,
                    ev_verifiers *v, attex_appraisal *a, attex_error *err)
{
    int ret = build(o, type, at, v, err);
    if (ret != ATTEX_OK)
        return ret;
    if (strcmp(type, "tdx") == 0)
        return attex_tdx_appraise(v->tdx, p, n, aux, aux_len, rd, a, err);
    if (strcmp(type, "snp") == 0)
        return attex_snp_appraise(v->snp, p, n, aux, aux_len, rd, a, err);
    if (strcmp(type, "cca") == 0)
        return attex_cca_appraise(v->cca->ctx, p, n, aux, aux_len, rd, a, err);
    if (strcmp(type, "tpm") == 0)
        return attex_tpm_evidence_appraise(v->tpm, p, n, rd, a, err);
    attex_tsm_report r;
    if ((ret = attex_tsm_report_decode(p, n, &r, err)) != ATTEX_OK)
        return ret;
    const char *inner = r.kind == ATTEX_TSM_TDX   ? "tdx"
                        : r.kind == ATTEX_TSM_SNP ? "snp"
                        : r.kind == ATTEX_TSM_CCA ? "cca"
                                                  : NULL;
    if (inner == NULL)
        ret = ev_fail(err, "tsm-report from an unknown provider");
    else
        ret = appraise(o, inner, r.outblob.data, r.outblob.len, r.auxblob.data, r.auxblob.len,
                       rd, at, v, a, err);
    attex_tsm_report_clear(&r);
    return ret;
}

static int cmd_verify(const ev_opts *o, const char *path)
{
    static const char *const types[] = {"tdx", "snp", "cca", "tpm", "tsm"};
    int known = 0;
    for (size_t i = 0; o->type && i < sizeof(types) / sizeof(types[0]); i++)
        known |= strcmp(o->type, types[i]) == 0;
    if (!known)
        return usage_error("evidence", "verify needs --type tdx, snp, cca, tpm or tsm");
    uint8_t rd[64];
    int64_t at = 0;
    if (o->report_data_hex && unhex(o->report_data_hex, rd, sizeof(rd)) != 0)
        return usage_error("evidence", "--report-data needs 128 hex digits (64 bytes)");
    if (o->at && parse_time(o->at, &at) != 0)
        return usage_error("evidence", "--at needs YYYY-MM-DDTHH:MM:SSZ or seconds, got '%s'",
                           o->at);
    if (o->accept && strcmp(o->accept, "warning") != 0 && strcmp(o->accept, "affirming") != 0)
        return usage_error("evidence", "--accept needs affirming or warning");
    attex_buf in = ATTEX_BUF_INIT, aux = ATTEX_BUF_INIT;
    if (read_input(path, 1u << 24, &in) != 0)
        return EXIT_ATTEST;
    attex_error err;
    memset(&err, 0, sizeof(err));
    if (o->certs && read_input(o->certs, 1u << 24, &aux) != 0) {
        attex_buf_free(&in);
        return EXIT_ATTEST;
    }
    ev_verifiers v;
    attex_appraisal a;
    memset(&v, 0, sizeof(v));
    memset(&a, 0, sizeof(a));
    int ret = appraise(o, o->type, in.data, in.len, aux.data, aux.len,
                       o->report_data_hex ? rd : NULL, at, &v, &a, &err);
    attex_verdict min = o->accept && strcmp(o->accept, "warning") == 0 ? ATTEX_VERDICT_WARNING
                                                                      : ATTEX_VERDICT_AFFIRMING;
    int ok = ret == ATTEX_OK && a.verdict != ATTEX_VERDICT_NONE && a.verdict <= min;
    const char *reason = ret == ATTEX_OK || a.reason[0] ? a.reason : err.message;
    if (o->json) {
        sbuf b;
        memset(&b, 0, sizeof(b));
        sb_printf(&b, "{\"accepted\":%s,\"type\":", ok ? "true" : "false");
        sb_json_str(&b, o->type);
        sb_puts(&b, ",\"verdict\":");
        sb_json_str(&b, ret == ATTEX_OK || a.reason[0] ? attex_verdict_name(a.verdict) : "none");
        sb_puts(&b, ",\"status\":");
        sb_json_str(&b, attex_status_name(ret));
        sb_puts(&b, ",\"reason\":");
        sb_json_str(&b, reason);
        sb_printf(&b, ",\"binding_checked\":%s,\"claims\":%s}\n",
                  o->report_data_hex ? "true" : "false", a.claims_json ? a.claims_json : "null");
        fputs(b.s, stdout);
        sb_free(&b);
    } else {
        printf("%s: %s\n", ok ? "accepted" : "NOT accepted",
               ret == ATTEX_OK || a.reason[0] ? attex_verdict_name(a.verdict) : "unusable");
        printf("reason: %s\n", reason);
        if (!o->report_data_hex)
            printf("binding: not checked (no --report-data): this says nothing about "
                   "freshness\n");
        if (a.claims_json)
            printf("claims: %s\n", a.claims_json);
    }
    attex_appraisal_clear(&a);
    ev_free(&v);
    attex_buf_free(&in);
    attex_buf_free(&aux);
    return ok ? 0 : EXIT_ATTEST;
}

static int cmd_describe(const ev_opts *o, const char *path)
{
    attex_buf in = ATTEX_BUF_INIT, json = ATTEX_BUF_INIT;
    if (read_input(path, 1u << 24, &in) != 0)
        return EXIT_ATTEST;
    attex_error err;
    const char *kind = NULL;
    int ret = evidence_describe(in.data, in.len, o->type, &json, &kind, &err);
    if (ret != ATTEX_OK) {
        logmsg(LOG_ERROR, "%s", err.message);
    } else if (o->json) {
        printf("{\"type\":\"%s\",\"decoded\":%.*s}\n", kind, (int)json.len,
               (const char *)json.data);
    } else {
        printf("%s (%zu bytes), decoded without verifying anything:\n%.*s\n",
               strcmp(kind, "tdx") == 0   ? "Intel TDX quote"
               : strcmp(kind, "snp") == 0 ? "AMD SEV-SNP report"
               : strcmp(kind, "cca") == 0 ? "Arm CCA token"
                                          : "configfs-tsm report",
               in.len, (int)json.len, (const char *)json.data);
    }
    attex_buf_free(&in);
    attex_buf_free(&json);
    return ret == ATTEX_OK ? 0 : EXIT_ATTEST;
}

int cmd_evidence(int argc, char **argv)
{
    log_prog = "attex evidence";
    if (argc < 1 || is_help(argv[0])) {
        fputs(usage_evidence, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    const char *sub = argv[0], *path = NULL, *v;
    ev_opts o;
    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            fputs(usage_evidence, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) {
            o.json = 1;
            continue;
        }
        if (strcmp(argv[i], "--allow-incomplete-collateral") == 0) {
            o.allow_incomplete = 1;
            continue;
        }
#define OPT(name, var)                                                  \
    if ((m = opt_val(argc, argv, &i, name, &v)) != 0) {                 \
        if (m < 0)                                                      \
            return usage_error("evidence", "%s needs a value", name);   \
        var = v;                                                        \
        continue;                                                       \
    }
#define LIST(name, arr, n)                                              \
    if ((m = opt_val(argc, argv, &i, name, &v)) != 0) {                 \
        if (m < 0 || n == MAX_LIST)                                     \
            return usage_error("evidence", "%s: a value, at most %d", name, MAX_LIST); \
        arr[n++] = v;                                                   \
        continue;                                                       \
    }
        OPT("--type", o.type)
        OPT("--report-data", o.report_data_hex)
        OPT("--at", o.at)
        OPT("--accept", o.accept)
        OPT("--collateral", o.collateral)
        OPT("--policy", o.policy)
        OPT("--root-ca", o.root_ca)
        OPT("--certs", o.certs)
        OPT("--vcek", o.vcek)
        OPT("--ask", o.ask)
        OPT("--ak-roots", o.ak_roots)
        OPT("--reference-values", o.refs)
        LIST("--ark", o.arks, o.narks)
        LIST("--platform-key", o.platform_keys, o.nplatform_keys)
        LIST("--trust-ak", o.trust_aks, o.ntrust_aks)
#undef OPT
#undef LIST
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return usage_error("evidence", "unknown option '%s'", argv[i]);
        if (path != NULL)
            return usage_error("evidence", "only one FILE");
        path = argv[i];
    }
    if (path == NULL)
        return usage_error("evidence", "%s needs a FILE ('-' for standard input)", sub);
    if (strcmp(sub, "verify") == 0)
        return cmd_verify(&o, path);
    if (strcmp(sub, "describe") == 0)
        return cmd_describe(&o, path);
    return usage_error("evidence", "unknown subcommand '%s' (verify or describe)", sub);
}
