/*
 * attex tool: choosing and building the attestation plug-ins from the
 * command line, for server, client and demo alike.
 *
 * Two sides, independent of each other:
 *   - what we present (one attester): sample evidence (--attest-key), ...
 *   - what we accept from the peer (any number of verifiers, one per
 *     evidence type; a CMW of a type none of them takes is rejected):
 *     sample evidence (--trust-ak + --reference-values), ...
 */
#ifndef ATTEX_TOOL_PLUGINS_H
#define ATTEX_TOOL_PLUGINS_H

#include <stddef.h>

#include <attex/attex.h>

#include "tool.h"

/* The most verifiers one relying party registers. */
#define PLUGINS_MAX_VERIFIERS 8

typedef struct plugin_opts {
    /* Our attestation. */
    const char *attester; /* --attester NAME; NULL: sample when --attest-key is given */
    const char *attest_key;
    const char *measure[MAX_LIST];
    size_t nmeasure;
    /* The peer's attestation: sample evidence. */
    const char *trust_ak[MAX_LIST];
    size_t ntrust;
    const char *refs;
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
    attex_attester *attester;
    const char *attester_desc; /* for logs: "the sample attester" */
    attex_verifier *verifiers[PLUGINS_MAX_VERIFIERS];
    void (*verifier_free[PLUGINS_MAX_VERIFIERS])(attex_verifier *);
    const attex_verifier *list[PLUGINS_MAX_VERIFIERS];
    size_t nverifiers;
    attex_attest_policy policy;
    void (*attester_free)(attex_attester *);
} plugins;

/*
 * plugins_build builds the attester (when asked) and the verifiers (when
 * `want_policy`), and a policy that requires the peer's attestation. Logs
 * the reason and returns -1 on failure (everything built so far is freed
 * by plugins_free).
 */
int plugins_build(plugins *p, const plugin_opts *o, int want_policy);

void plugins_free(plugins *p);

/* The option lines of the help texts, for the commands that take them. */
extern const char plugin_help_attest[];
extern const char plugin_help_verify[];

#endif /* ATTEX_TOOL_PLUGINS_H */
