/*
 * attex tool: the attestation plug-ins, chosen on the command line.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins.h"

const char plugin_help_attest[] =
    "how we attest (when the peer asks):\n"
    "  --attester NAME          sample, tpm or tsm (default sample with --attest-key)\n"
    "  --attest-key PATH        sample: attestation private key (attex-sample keygen)\n"
    "  --measure FILE           sample: a file the evidence measures (repeatable)\n"
    "  --tpm-tcti STR           tpm: TCTI, e.g. device:/dev/tpmrm0 (default: tctildr's)\n"
    "  --tpm-ak-handle HANDLE   tpm: persistent AK (0x81...; default: a primary AK)\n"
    "  --tpm-ak-type ecc|rsa    tpm: kind of primary AK to create (default ecc)\n"
    "  --tpm-pcrs SEL           tpm: PCR selection (default sha256:0,1,2,3,4,5,6,7)\n"
    "  --tpm-ak-chain PATH      tpm: AK certificate chain (PEM) to carry\n"
    "  --tpm-timeout MS         tpm: bound on each TPM command (default 30000)\n"
    "  --tsm-root DIR           tsm: configfs-tsm report directory\n"
    "                           (default /sys/kernel/config/tsm/report)\n"
    "  --passport URL           present an EAR from this Verifier instead of evidence\n";

const char plugin_help_verify[] =
    "how we appraise the peer's attestation (any combination):\n"
    "  --trust-ak PATH          sample evidence: trusted attestation key (repeatable)\n"
    "  --reference-values PATH  sample evidence: reference values JSON\n"
    "  --trust-tpm-ak PATH      TPM quotes: trusted AK public key, PEM (repeatable)\n"
    "  --tpm-ak-roots PATH      TPM quotes: roots (PEM) for AK certificate chains\n"
    "  --tpm-reference-values PATH  TPM quotes: allowed PCR values JSON\n"
    "  --tdx-collateral DIR     TDX quotes: Intel PCS collateral directory\n"
    "  --tdx-policy PATH        TDX quotes: reference values JSON\n"
    "  --accept-snp             SEV-SNP reports with the default policy\n"
    "  --snp-policy PATH        SEV-SNP reports: policy and reference values JSON\n"
    "  --snp-vcek PATH, --snp-ask PATH  SEV-SNP: VCEK and ASK when reports carry none\n"
    "  --cca-platform-key PATH  Arm CCA tokens: trusted platform key, PEM (repeatable)\n"
    "  --cca-policy PATH        Arm CCA tokens: reference values JSON\n"
    "  --trust-ear PATH         EARs (passport model): trusted Verifier key (repeatable)\n"
    "  --verifier URL           background check: have this Verifier appraise evidence\n"
    "Verifier access (--verifier, --passport):\n"
    "  --verifier-key PATH      the Verifier's EAR signing key, PEM (repeatable)\n"
    "  --verifier-ca PATH       CA certificates for an https Verifier\n"
    "  --verifier-timeout MS    bound on each Verifier call (default 10000)\n";

enum opt_kind { O_VAL, O_LIST, O_FLAG };

typedef struct opt_def {
    const char *name;
    int kind;
    size_t off;   /* the value (O_VAL), the list (O_LIST) or the int flag (O_FLAG) */
    size_t count; /* O_LIST: the count */
} opt_def;

#define V(n, f) {n, O_VAL, offsetof(plugin_opts, f), 0}
#define L(n, f, c) {n, O_LIST, offsetof(plugin_opts, f), offsetof(plugin_opts, c)}
#define F(n, f) {n, O_FLAG, offsetof(plugin_opts, f), 0}
static const opt_def opt_defs[] = {
    V("--attester", attester),
    V("--attest-key", attest_key),
    L("--measure", measure, nmeasure),
    V("--tpm-tcti", tpm_tcti),
    V("--tpm-ak-handle", tpm_ak_handle),
    V("--tpm-ak-type", tpm_ak_type),
    V("--tpm-pcrs", tpm_pcrs),
    V("--tpm-ak-chain", tpm_ak_chain),
    V("--tpm-timeout", tpm_timeout),
    V("--tsm-root", tsm_root),
    V("--passport", passport),
    L("--trust-ak", trust_ak, ntrust),
    V("--reference-values", refs),
    L("--trust-tpm-ak", trust_tpm_ak, ntrust_tpm),
    V("--tpm-ak-roots", tpm_ak_roots),
    V("--tpm-reference-values", tpm_refs),
    V("--tdx-collateral", tdx_collateral),
    V("--tdx-policy", tdx_policy),
    F("--accept-snp", snp),
    V("--snp-policy", snp_policy),
    V("--snp-vcek", snp_vcek),
    V("--snp-ask", snp_ask),
    L("--cca-platform-key", cca_key, ncca_key),
    V("--cca-policy", cca_policy),
    L("--trust-ear", trust_ear, ntrust_ear),
    V("--verifier", verifier),
    L("--verifier-key", verifier_key, nverifier_key),
    V("--verifier-ca", verifier_ca),
    V("--verifier-timeout", verifier_timeout),
};
#undef V
#undef L
#undef F

int plugin_opt(plugin_opts *o, int argc, char **argv, int *i, const char *cmd, int *rc)
{
    char *base = (char *)o;
    for (size_t k = 0; k < sizeof(opt_defs) / sizeof(opt_defs[0]); k++) {
        const opt_def *d = &opt_defs[k];
        if (d->kind == O_FLAG) {
            if (strcmp(argv[*i], d->name) != 0)
                continue;
            *(int *)(void *)(base + d->off) = 1;
            return 1;
        }
        const char *v;
        int m = opt_val(argc, argv, i, d->name, &v);
        if (m == 0)
            continue;
        if (m < 0) {
            *rc = usage_error(cmd, "%s needs a value", d->name);
            return -1;
        }
        if (d->kind == O_VAL) {
            *(const char **)(void *)(base + d->off) = v;
            return 1;
        }
        size_t *n = (size_t *)(void *)(base + d->count);
        if (*n == MAX_LIST) {
            *rc = usage_error(cmd, "too many %s (at most %d)", d->name, MAX_LIST);
            return -1;
        }
        ((const char **)(void *)(base + d->off))[(*n)++] = v;
        return 1;
    }
    return 0;
}

static const char *attester_name(const plugin_opts *o)
{
    if (o->attester != NULL)
        return o->attester;
    return o->attest_key != NULL ? "sample" : NULL;
}

int plugin_attests(const plugin_opts *o) { return attester_name(o) != NULL; }

int plugin_verifies(const plugin_opts *o)
{
    return o->ntrust > 0 || o->refs != NULL || o->ntrust_tpm > 0 || o->tpm_ak_roots ||
           o->tpm_refs || o->tdx_collateral || o->tdx_policy || o->snp || o->snp_policy ||
           o->snp_vcek || o->snp_ask || o->ncca_key > 0 || o->cca_policy ||
           o->ntrust_ear > 0 || o->verifier;
}

/* A parsed unsigned number, decimal or 0x-hex. */
static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-')
        return 0;
    unsigned long v = strtoul(s, &end, 0);
    if (*end != '\0' || v > max)
        return 0;
    *out = v;
    return 1;
}

int plugin_check(const plugin_opts *o, int need_verifier, const char *cmd,
                 const char *require_flag)
{
    const char *an = attester_name(o);
    int sample = an && strcmp(an, "sample") == 0, tpm = an && strcmp(an, "tpm") == 0,
        tsm = an && strcmp(an, "tsm") == 0;
    unsigned long n;
    if (an != NULL && !sample && !tpm && !tsm)
        return usage_error(cmd, "--attester needs sample, tpm or tsm, got '%s'", an);
    if (sample && o->attest_key == NULL)
        return usage_error(cmd, "--attester sample needs --attest-key");
    if (!sample && (o->attest_key || o->nmeasure))
        return usage_error(cmd, "--attest-key and --measure are for --attester sample");
    if (!tpm && (o->tpm_tcti || o->tpm_ak_handle || o->tpm_ak_type || o->tpm_pcrs ||
                 o->tpm_ak_chain || o->tpm_timeout))
        return usage_error(cmd, "the --tpm-tcti/--tpm-ak-*/--tpm-pcrs/--tpm-timeout options "
                                "are for --attester tpm");
    if (!tsm && o->tsm_root)
        return usage_error(cmd, "--tsm-root is for --attester tsm");
    if (o->tpm_ak_handle && (!parse_num(o->tpm_ak_handle, 0x81FFFFFFul, &n) || n < 0x81000000ul))
        return usage_error(cmd, "--tpm-ak-handle needs a persistent handle 0x81000000.."
                                "0x81FFFFFF, got '%s'", o->tpm_ak_handle);
    if (o->tpm_ak_type && strcmp(o->tpm_ak_type, "ecc") != 0 && strcmp(o->tpm_ak_type, "rsa") != 0)
        return usage_error(cmd, "--tpm-ak-type needs ecc or rsa, got '%s'", o->tpm_ak_type);
    if (o->tpm_timeout && (!parse_num(o->tpm_timeout, 600000, &n) || n == 0))
        return usage_error(cmd, "--tpm-timeout needs milliseconds (1..600000)");
    if (o->verifier_timeout && (!parse_num(o->verifier_timeout, 600000, &n) || n == 0))
        return usage_error(cmd, "--verifier-timeout needs milliseconds (1..600000)");
    if (o->passport && an == NULL)
        return usage_error(cmd, "--passport exchanges our evidence for an EAR: it needs an "
                                "attester (--attester or --attest-key)");
    if ((o->ntrust > 0) != (o->refs != NULL))
        return usage_error(cmd, "--trust-ak and --reference-values go together (sample "
                                "evidence needs both)");
    if ((o->ntrust_tpm > 0 || o->tpm_ak_roots) != (o->tpm_refs != NULL))
        return usage_error(cmd, "TPM quotes need trusted AKs (--trust-tpm-ak or "
                                "--tpm-ak-roots) and --tpm-reference-values together");
    if (o->tdx_policy && !o->tdx_collateral)
        return usage_error(cmd, "--tdx-policy needs --tdx-collateral");
    if ((o->snp_vcek != NULL) != (o->snp_ask != NULL))
        return usage_error(cmd, "--snp-vcek and --snp-ask go together");
    if (o->cca_policy && o->ncca_key == 0)
        return usage_error(cmd, "--cca-policy needs --cca-platform-key");
    if (o->verifier && o->nverifier_key == 0)
        return usage_error(cmd, "--verifier needs --verifier-key (the key its EARs are "
                                "signed with)");
    if ((o->nverifier_key || o->verifier_ca || o->verifier_timeout) && !o->verifier &&
        !o->passport)
        return usage_error(cmd, "--verifier-key, --verifier-ca and --verifier-timeout go with "
                                "--verifier or --passport");
    if (need_verifier && !plugin_verifies(o))
        return usage_error(cmd, "the peer's attestation is required: say how to appraise it "
                                "(--trust-ak and --reference-values for sample evidence, "
                                "--trust-tpm-ak, --tdx-collateral, --accept-snp, "
                                "--cca-platform-key, --trust-ear or --verifier; see --help)%s%s",
                           require_flag ? " or give " : "", require_flag ? require_flag : "");
    if (!need_verifier && plugin_verifies(o))
        return usage_error(cmd, "the options that appraise the peer's attestation (--trust-ak, "
                                "--reference-values, --verifier, ...) are given, but it is not "
                                "required here%s%s",
                           require_flag ? "; add " : "", require_flag ? require_flag : "");
    return 0;
}

static void add_verifier(plugins *p, const attex_verifier *v)
{
    p->list[p->nverifiers++] = v;
}

static void own_verifier(plugins *p, attex_verifier *v, void (*vfree)(attex_verifier *))
{
    p->owned[p->nowned] = v;
    p->owned_free[p->nowned] = vfree;
    p->nowned++;
}

/* set_desc keeps a log description, truncated to fit. */
static void set_desc(plugins *p, const char *desc)
{
    size_t n = strlen(desc);
    if (n >= sizeof(p->attester_desc))
        n = sizeof(p->attester_desc) - 1;
    memcpy(p->attester_desc, desc, n);
    p->attester_desc[n] = '\0';
}

static void set_http(attex_http_opts *h, const plugin_opts *o, const char *url)
{
    unsigned long t = 0;
    memset(h, 0, sizeof(*h));
    h->url = url;
    h->ca_file = o->verifier_ca;
    if (o->verifier_timeout && parse_num(o->verifier_timeout, 600000, &t))
        h->timeout_ms = (uint32_t)t;
}

static int build_attester(plugins *p, const plugin_opts *o)
{
    attex_error err;
    const char *an = attester_name(o);
    if (an == NULL)
        return 0;
    attex_attester *a = NULL;
    if (strcmp(an, "sample") == 0) {
        attex_sample_attester_config ac;
        memset(&ac, 0, sizeof(ac));
        ac.key_path = o->attest_key;
        ac.files = o->measure;
        ac.num_files = o->nmeasure;
        a = attex_sample_attester_new(&ac, &err);
        plugins_set_attester(p, a, attex_sample_attester_free, "the sample attester");
    } else if (strcmp(an, "tpm") == 0) {
        attex_tpm_attester_config tc;
        unsigned long n;
        memset(&tc, 0, sizeof(tc));
        tc.tcti = o->tpm_tcti;
        if (o->tpm_ak_handle && parse_num(o->tpm_ak_handle, 0x81FFFFFFul, &n))
            tc.ak_handle = (uint32_t)n;
        tc.ak_type = o->tpm_ak_type && strcmp(o->tpm_ak_type, "rsa") == 0
                         ? ATTEX_TPM_AK_RSA_2048
                         : ATTEX_TPM_AK_ECC_P256;
        tc.pcrs = o->tpm_pcrs;
        tc.ak_cert_chain_path = o->tpm_ak_chain;
        if (o->tpm_timeout && parse_num(o->tpm_timeout, 600000, &n))
            tc.timeout_ms = (unsigned)n;
        a = attex_tpm_attester_new(&tc, &err);
        char desc[160];
        snprintf(desc, sizeof(desc), "the TPM attester (%s)",
                 o->tpm_tcti ? o->tpm_tcti : "default TCTI");
        plugins_set_attester(p, a, attex_tpm_attester_free, desc);
    } else {
        attex_tsm_attester_config sc;
        memset(&sc, 0, sizeof(sc));
        sc.root = o->tsm_root;
        a = attex_tsm_attester_new(&sc, &err);
        plugins_set_attester(p, a, attex_tsm_attester_free, "the configfs-tsm attester");
    }
    if (a == NULL) {
        logmsg(LOG_ERROR, "%s attester: %s", an, err.message);
        return -1;
    }
    if (o->passport != NULL) {
        attex_passport_attester_config pc;
        memset(&pc, 0, sizeof(pc));
        set_http(&pc.http, o, o->passport);
        pc.inner = p->inner;
        p->attester = attex_passport_attester_new(&pc, &err);
        if (p->attester == NULL) {
            logmsg(LOG_ERROR, "passport: %s", err.message);
            return -1;
        }
        char desc[sizeof(p->attester_desc) + 256];
        snprintf(desc, sizeof(desc), "EARs from %.120s for %s", o->passport, p->attester_desc);
        set_desc(p, desc);
    }
    return 0;
}

/* The TEE verifiers: raw CCA tokens, and configfs-tsm reports by provider. */
static int build_tee(plugins *p, const plugin_opts *o)
{
    attex_error err;
    attex_tsm_provider prov[3];
    size_t nprov = 0;
    if (o->tdx_collateral) {
        attex_tdx_verifier_config tc;
        memset(&tc, 0, sizeof(tc));
        tc.collateral_dir = o->tdx_collateral;
        tc.policy_path = o->tdx_policy;
        p->tdx = attex_tdx_verifier_new(&tc, &err);
        if (p->tdx == NULL) {
            logmsg(LOG_ERROR, "TDX verifier: %s", err.message);
            return -1;
        }
        prov[nprov++] = (attex_tsm_provider){ATTEX_TDX_PROVIDER, attex_tdx_appraise, p->tdx};
    }
    if (o->snp || o->snp_policy || o->snp_vcek) {
        attex_snp_verifier_config sc;
        memset(&sc, 0, sizeof(sc));
        sc.policy_path = o->snp_policy;
        sc.vcek_path = o->snp_vcek;
        sc.ask_path = o->snp_ask;
        p->snp = attex_snp_verifier_new(&sc, &err);
        if (p->snp == NULL) {
            logmsg(LOG_ERROR, "SEV-SNP verifier: %s", err.message);
            return -1;
        }
        prov[nprov++] = (attex_tsm_provider){ATTEX_SNP_TSM_PROVIDER, attex_snp_appraise, p->snp};
    }
    if (o->ncca_key > 0) {
        attex_cca_verifier_config cc;
        memset(&cc, 0, sizeof(cc));
        cc.platform_key_paths = o->cca_key;
        cc.num_platform_key_paths = o->ncca_key;
        cc.policy_path = o->cca_policy;
        p->cca = attex_cca_verifier_new(&cc, &err);
        if (p->cca == NULL) {
            logmsg(LOG_ERROR, "CCA verifier: %s", err.message);
            return -1;
        }
        own_verifier(p, p->cca, attex_cca_verifier_free);
        add_verifier(p, p->cca);
        prov[nprov++] = (attex_tsm_provider){"arm_cca_guest", attex_cca_appraise, p->cca->ctx};
    }
    if (nprov == 0)
        return 0;
    attex_tsm_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.providers = prov;
    vc.num_providers = nprov;
    attex_verifier *v = attex_tsm_verifier_new(&vc, &err);
    if (v == NULL) {
        logmsg(LOG_ERROR, "configfs-tsm verifier: %s", err.message);
        return -1;
    }
    own_verifier(p, v, attex_tsm_verifier_free);
    add_verifier(p, v);
    return 0;
}

static int build_verifiers(plugins *p, const plugin_opts *o)
{
    attex_error err;
    attex_verifier *v;
    if (o->ntrust > 0) {
        attex_sample_verifier_config vc;
        memset(&vc, 0, sizeof(vc));
        vc.trusted_key_paths = o->trust_ak;
        vc.num_trusted_key_paths = o->ntrust;
        vc.reference_values_path = o->refs;
        if ((v = attex_sample_verifier_new(&vc, &err)) == NULL) {
            logmsg(LOG_ERROR, "sample verifier: %s", err.message);
            return -1;
        }
        own_verifier(p, v, attex_sample_verifier_free);
        add_verifier(p, v);
    }
    if (o->tpm_refs) {
        attex_tpm_verifier_config tc;
        memset(&tc, 0, sizeof(tc));
        tc.trusted_ak_paths = o->trust_tpm_ak;
        tc.num_trusted_ak_paths = o->ntrust_tpm;
        tc.ak_roots_path = o->tpm_ak_roots;
        tc.reference_values_path = o->tpm_refs;
        if ((v = attex_tpm_verifier_new(&tc, &err)) == NULL) {
            logmsg(LOG_ERROR, "TPM verifier: %s", err.message);
            return -1;
        }
        own_verifier(p, v, attex_tpm_verifier_free);
        add_verifier(p, v);
    }
    if (build_tee(p, o) != 0)
        return -1;
    if (o->ntrust_ear > 0) {
        /* Both EAR profiles: the current draft's and the deployed Veraison one. */
        const char *types[2] = {NULL, ATTEX_EAR_MEDIA_TYPE_VERAISON};
        for (int k = 0; k < 2; k++) {
            attex_ear_verifier_config ec;
            memset(&ec, 0, sizeof(ec));
            ec.key_paths = o->trust_ear;
            ec.num_key_paths = o->ntrust_ear;
            ec.media_type = types[k];
            if ((v = attex_ear_verifier_new(&ec, &err)) == NULL) {
                logmsg(LOG_ERROR, "EAR verifier: %s", err.message);
                return -1;
            }
            own_verifier(p, v, attex_ear_verifier_free);
            add_verifier(p, v);
        }
    }
    if (o->verifier) {
        static const char *const forwarded[] = {ATTEX_SAMPLE_MEDIA_TYPE, ATTEX_TPM_MEDIA_TYPE,
                                                ATTEX_TSM_REPORT_MEDIA_TYPE,
                                                ATTEX_CCA_MEDIA_TYPE};
        attex_remote_verifier_config rc;
        memset(&rc, 0, sizeof(rc));
        set_http(&rc.http, o, o->verifier);
        rc.key_paths = o->verifier_key;
        rc.num_key_paths = o->nverifier_key;
        rc.media_types = forwarded;
        rc.num_media_types = sizeof(forwarded) / sizeof(forwarded[0]);
        if ((v = attex_remote_verifier_new(&rc, &err)) == NULL) {
            logmsg(LOG_ERROR, "remote verifier %s: %s", o->verifier, err.message);
            return -1;
        }
        own_verifier(p, v, attex_remote_verifier_free);
        size_t n = attex_remote_verifier_count(v);
        for (size_t i = 0; i < n && p->nverifiers < PLUGINS_MAX_VERIFIERS; i++)
            add_verifier(p, attex_remote_verifier_at(v, i));
    }
    return 0;
}

int plugins_build(plugins *p, const plugin_opts *o, int want_policy)
{
    memset(p, 0, sizeof(*p));
    if (build_attester(p, o) != 0)
        return -1;
    if (!want_policy)
        return 0;
    if (build_verifiers(p, o) != 0)
        return -1;
    plugins_require(p);
    return 0;
}

void plugins_add_verifier(plugins *p, attex_verifier *v, void (*free_fn)(attex_verifier *))
{
    own_verifier(p, v, free_fn);
    add_verifier(p, v);
}

void plugins_require(plugins *p)
{
    p->policy.verifiers = p->list;
    p->policy.num_verifiers = p->nverifiers;
    p->policy.require = 1;
}

void plugins_set_attester(plugins *p, attex_attester *a, void (*free_fn)(attex_attester *),
                          const char *desc)
{
    p->inner = a;
    p->attester = a;
    p->inner_free = free_fn;
    set_desc(p, desc);
}

void plugins_free(plugins *p)
{
    for (size_t i = p->nowned; i > 0; i--)
        p->owned_free[i - 1](p->owned[i - 1]);
    attex_tdx_verifier_free(p->tdx);
    attex_snp_verifier_free(p->snp);
    if (p->attester != p->inner)
        attex_passport_attester_free(p->attester);
    if (p->inner_free != NULL)
        p->inner_free(p->inner);
    memset(p, 0, sizeof(*p));
}
