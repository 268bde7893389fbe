/*
 * attex tool: choosing and building the attestation plug-ins from the
 * command line, for server, client and demo alike.
 *
 * Two sides, independent of each other:
 *   - what we present (one attester): sample evidence, a TPM 2.0 quote, a
 *     TEE report through configfs-tsm; optionally exchanged for an EAR at a
 *     Verifier first (passport model, --passport URL);
 *   - what we accept from the peer (any number of verifiers, one per
 *     evidence type; a CMW of a type none of them takes is rejected):
 *     sample evidence, TPM quotes, TDX / SEV-SNP / CCA reports, EARs signed
 *     by a trusted Verifier, or anything a remote Verifier appraises
 *     (background-check model, --verifier URL).
 */
#ifndef ATTEX_TOOL_PLUGINS_H
#define ATTEX_TOOL_PLUGINS_H

#include <stddef.h>

#include <attex/attex.h>
#include <attex/cca.h>
#include <attex/ear.h>
#include <attex/remote.h>
#include <attex/snp.h>
#include <attex/tdx.h>
#include <attex/tpm.h>
#include <attex/tsm.h>

#include "tool.h"

/* The most verifiers one relying party registers. */
#define PLUGINS_MAX_VERIFIERS 16

typedef struct plugin_opts {
    /* Our attestation. */
    const char *attester; /* --attester NAME; NULL: sample when --attest-key is given */
    const char *attest_key;
    const char *measure[MAX_LIST];
    size_t nmeasure;
    const char *tpm_tcti, *tpm_ak_handle, *tpm_ak_type, *tpm_pcrs, *tpm_ak_chain, *tpm_timeout;
    const char *tsm_root;
    const char *passport; /* Verifier URL: present an EAR instead of evidence */
    /* The peer's attestation. */
    const char *trust_ak[MAX_LIST]; /* sample */
    size_t ntrust;
    const char *refs;
    const char *trust_tpm_ak[MAX_LIST];
    size_t ntrust_tpm;
    const char *tpm_ak_roots, *tpm_refs;
    const char *tdx_collateral, *tdx_policy;
    const char *snp_policy, *snp_vcek, *snp_ask;
    int snp; /* --accept-snp: SEV-SNP with the default policy */
    const char *cca_key[MAX_LIST];
    size_t ncca_key;
    const char *cca_policy;
    const char *trust_ear[MAX_LIST]; /* passport relying party: trusted Verifier keys */
    size_t ntrust_ear;
    const char *verifier; /* background check: remote Verifier URL */
    /* Both models: how to reach and trust the Verifier. */
    const char *verifier_key[MAX_LIST];
    size_t nverifier_key;
    const char *verifier_ca, *verifier_timeout;
} plugin_opts;

/*
 * plugin_opt consumes argv[*i] (and its value) when it is a plug-in option.
 * Returns 1 when consumed, 0 when not a plug-in option, or -1 after
 * printing a usage error (*rc is then the exit status).
 */
int plugin_opt(plugin_opts *o, int argc, char **argv, int *i, const char *cmd, int *rc);

/* plugin_attests returns 1 when the options ask us to attest. */
int plugin_attests(const plugin_opts *o);

/* plugin_verifies returns 1 when some verifier for the peer's attestation is configured. */
int plugin_verifies(const plugin_opts *o);

/*
 * plugin_check validates the combination. `need_verifier`: the peer's
 * attestation is required, so a verifier must be configured; otherwise
 * verifier options are a mistake. Prints a usage error and returns its exit
 * status, or 0.
 */
int plugin_check(const plugin_opts *o, int need_verifier, const char *cmd,
                 const char *require_flag);

/* What plugins_build makes; plugins_free releases it. */
typedef struct plugins {
    attex_attester *attester;   /* what the channel uses (the passport wrapper, if any) */
    attex_attester *inner;      /* the evidence attester under a passport wrapper */
    void (*inner_free)(attex_attester *);
    char attester_desc[160];    /* for logs: "the TPM attester (swtpm:...)" */
    attex_verifier *owned[PLUGINS_MAX_VERIFIERS];
    void (*owned_free[PLUGINS_MAX_VERIFIERS])(attex_verifier *);
    size_t nowned;
    const attex_verifier *list[PLUGINS_MAX_VERIFIERS];
    size_t nverifiers;
    attex_tdx_verifier *tdx;
    attex_snp_verifier *snp;
    attex_verifier *cca;
    attex_attest_policy policy;
} plugins;

/*
 * plugins_build builds the attester (when asked) and the verifiers (when
 * `want_policy`), and a policy that requires the peer's attestation. Logs
 * the reason and returns -1 on failure (everything built so far is freed
 * by plugins_free).
 */
int plugins_build(plugins *p, const plugin_opts *o, int want_policy);

/*
 * plugins_set_attester installs an attester built elsewhere (the demo's
 * in-memory or swtpm-backed one); `free_fn` releases it with the rest.
 */
void plugins_set_attester(plugins *p, attex_attester *a, void (*free_fn)(attex_attester *),
                          const char *desc);

/*
 * plugins_add_verifier registers (and owns) a verifier built elsewhere, and
 * plugins_require makes the policy require the peer's attestation with the
 * verifiers registered so far.
 */
void plugins_add_verifier(plugins *p, attex_verifier *v, void (*free_fn)(attex_verifier *));
void plugins_require(plugins *p);

void plugins_free(plugins *p);

/* The option lines of the help texts, for the commands that take them. */
extern const char plugin_help_attest[];
extern const char plugin_help_verify[];

#endif /* ATTEX_TOOL_PLUGINS_H */
