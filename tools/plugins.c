/*
 * attex tool: the attestation plug-ins, chosen on the command line.
 */
#include <stdio.h>
#include <string.h>

#include "plugins.h"

const char plugin_help_attest[] =
    "  --attester NAME          how we attest: sample (default with --attest-key)\n"
    "  --attest-key PATH        sample attestation private key (attex-sample keygen)\n"
    "  --measure FILE           a file the sample evidence measures (repeatable)\n";

const char plugin_help_verify[] =
    "  --trust-ak PATH          sample evidence: trusted attestation public key\n"
    "                           (repeatable)\n"
    "  --reference-values PATH  sample evidence: reference values JSON\n"
    "                           (attex-sample reference-values)\n";

static int list_add(const char **list, size_t *n, const char *v, const char *name,
                    const char *cmd, int *rc)
{
    if (*n == MAX_LIST) {
        *rc = usage_error(cmd, "too many %s (at most %d)", name, MAX_LIST);
        return -1;
    }
    list[(*n)++] = v;
    return 1;
}

int plugin_opt(plugin_opts *o, int argc, char **argv, int *i, const char *cmd, int *rc)
{
    static const char *const names[] = {"--attester", "--attest-key", "--measure",
                                        "--trust-ak", "--reference-values"};
    const char *v;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int m = opt_val(argc, argv, i, names[k], &v);
        if (m == 0)
            continue;
        if (m < 0) {
            *rc = usage_error(cmd, "%s needs a value", names[k]);
            return -1;
        }
        switch (k) {
        case 0:
            if (strcmp(v, "sample") != 0) {
                *rc = usage_error(cmd, "--attester needs sample, got '%s'", v);
                return -1;
            }
            o->attester = v;
            return 1;
        case 1:
            o->attest_key = v;
            return 1;
        case 2:
            return list_add(o->measure, &o->nmeasure, v, "--measure", cmd, rc);
        case 3:
            return list_add(o->trust_ak, &o->ntrust, v, "--trust-ak", cmd, rc);
        default:
            o->refs = v;
            return 1;
        }
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

int plugin_verifies(const plugin_opts *o) { return o->ntrust > 0 || o->refs != NULL; }

int plugin_check(const plugin_opts *o, int need_verifier, const char *cmd,
                 const char *require_flag)
{
    const char *an = attester_name(o);
    if (an != NULL && strcmp(an, "sample") == 0 && o->attest_key == NULL)
        return usage_error(cmd, "--attester sample needs --attest-key");
    if (o->nmeasure && (an == NULL || strcmp(an, "sample") != 0))
        return usage_error(cmd, "--measure needs --attest-key");
    if ((o->ntrust > 0) != (o->refs != NULL))
        return usage_error(cmd, "--trust-ak and --reference-values go together (sample "
                                "evidence needs both)");
    if (need_verifier && !plugin_verifies(o))
        return usage_error(cmd, "the peer's attestation is required: give --trust-ak and "
                                "--reference-values%s%s",
                           require_flag ? " (or " : "", require_flag ? require_flag : "");
    if (!need_verifier && plugin_verifies(o))
        return usage_error(cmd, "--trust-ak and --reference-values appraise the peer's "
                                "attestation, which is not required here%s%s",
                           require_flag ? "; add " : "", require_flag ? require_flag : "");
    return 0;
}

static int add_verifier(plugins *p, attex_verifier *v, void (*vfree)(attex_verifier *))
{
    p->verifiers[p->nverifiers] = v;
    p->verifier_free[p->nverifiers] = vfree;
    p->list[p->nverifiers] = v;
    p->nverifiers++;
    return 0;
}

int plugins_build(plugins *p, const plugin_opts *o, int want_policy)
{
    attex_error err;
    memset(p, 0, sizeof(*p));
    const char *an = attester_name(o);
    if (an != NULL) {
        attex_sample_attester_config ac;
        memset(&ac, 0, sizeof(ac));
        ac.key_path = o->attest_key;
        ac.files = o->measure;
        ac.num_files = o->nmeasure;
        p->attester = attex_sample_attester_new(&ac, &err);
        if (p->attester == NULL) {
            logmsg(LOG_ERROR, "attester: %s", err.message);
            return -1;
        }
        p->attester_free = attex_sample_attester_free;
        p->attester_desc = "the sample attester";
    }
    if (!want_policy)
        return 0;
    if (o->ntrust > 0) {
        attex_sample_verifier_config vc;
        memset(&vc, 0, sizeof(vc));
        vc.trusted_key_paths = o->trust_ak;
        vc.num_trusted_key_paths = o->ntrust;
        vc.reference_values_path = o->refs;
        attex_verifier *v = attex_sample_verifier_new(&vc, &err);
        if (v == NULL) {
            logmsg(LOG_ERROR, "sample verifier: %s", err.message);
            return -1;
        }
        add_verifier(p, v, attex_sample_verifier_free);
    }
    p->policy.verifiers = p->list;
    p->policy.num_verifiers = p->nverifiers;
    p->policy.require = 1;
    return 0;
}

void plugins_free(plugins *p)
{
    for (size_t i = 0; i < p->nverifiers; i++)
        p->verifier_free[i](p->verifiers[i]);
    if (p->attester_free != NULL)
        p->attester_free(p->attester);
    memset(p, 0, sizeof(*p));
}
