/*
 * attex tpm: provisioning a TPM 2.0 for attestation from the command line.
 *
 *   attex tpm provision        create an AK (optionally persistent), print its public key
 *   attex tpm reference-values read PCRs now, print reference values JSON
 *   attex tpm extend           extend a PCR (as a measured component would)
 *   attex tpm evict            remove a persistent AK
 *   attex tpm swtpm            run a software TPM on loopback until interrupted
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <attex/tpm.h>

#include "tool.h"

static const char usage_tpm[] =
    "usage: attex tpm provision --tcti TCTI [--type ecc|rsa] [--handle 0x81...] [--out AK.pem]\n"
    "       attex tpm reference-values --tcti TCTI [--pcrs SEL] [--out REFS.json]\n"
    "       attex tpm extend --tcti TCTI --pcr N --data TEXT\n"
    "       attex tpm evict --tcti TCTI --handle 0x81...\n"
    "       attex tpm swtpm\n"
    "\n"
    "Prepares a TPM 2.0 for 'attex server/client --attester tpm':\n"
    "  provision         creates a restricted signing attestation key (AK) in the\n"
    "                    endorsement hierarchy and prints its public key (PEM), which\n"
    "                    relying parties pin with --trust-tpm-ak. With --handle the AK\n"
    "                    is made persistent there (give the same --tpm-ak-handle to the\n"
    "                    attester); without, it is the primary AK the attester derives.\n"
    "  reference-values  reads the selected PCRs now and prints them as reference values\n"
    "                    JSON (--tpm-reference-values of the relying party).\n"
    "  extend            extends PCR N of every bank with the digest of TEXT.\n"
    "  evict             removes the persistent object at --handle.\n"
    "  swtpm             starts a software TPM (swtpm) on loopback, prints its TCTI\n"
    "                    string on standard output, and runs until SIGINT/SIGTERM.\n"
    "\n"
    "TCTI strings: device:/dev/tpmrm0, swtpm:host=127.0.0.1,port=2321, mssim:...\n"
    "Default PCR selection: " ATTEX_TPM_DEFAULT_PCRS "\n"
    "\n"
    "Exit status: 0 success, 1 TPM failure (the message says why), 2 usage error.\n";

static int write_out(const char *path, const attex_buf *b)
{
    FILE *f = path ? fopen(path, "wx") : stdout;
    if (f == NULL) {
        logmsg(LOG_ERROR, "cannot create %s (it must not exist yet)", path);
        return EXIT_ATTEST;
    }
    int ok = fwrite(b->data, 1, b->len, f) == b->len;
    if (path ? fclose(f) != 0 : fflush(f) != 0)
        ok = 0;
    if (!ok) {
        logmsg(LOG_ERROR, "cannot write %s", path ? path : "standard output");
        return EXIT_ATTEST;
    }
    return 0;
}

static int parse_handle(const char *s, uint32_t *out)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-')
        return 0;
    unsigned long v = strtoul(s, &end, 0);
    if (*end != '\0' || v < 0x81000000ul || v > 0x81FFFFFFul)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static volatile sig_atomic_t tpm_stop;
static void on_stop(int sig) { tpm_stop = sig; }

static int run_swtpm(void)
{
    attex_swtpm *s = NULL;
    attex_error err;
    if (attex_swtpm_start(0, &s, &err) != ATTEX_OK) {
        logmsg(LOG_ERROR, "%s", err.message);
        return EXIT_ATTEST;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("%s\n", attex_swtpm_tcti(s));
    fflush(stdout);
    while (!tpm_stop)
        pause();
    attex_swtpm_stop(s);
    return 0;
}

int cmd_tpm(int argc, char **argv)
{
    log_prog = "attex tpm";
    if (argc < 1 || is_help(argv[0])) {
        fputs(usage_tpm, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    const char *sub = argv[0], *tcti = NULL, *type = NULL, *handle_s = NULL, *out = NULL,
               *pcrs = NULL, *pcr_s = NULL, *data = NULL, *v;
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            fputs(usage_tpm, stdout);
            return 0;
        }
#define OPT(name, var)                                                  \
    if ((m = opt_val(argc, argv, &i, name, &v)) != 0) {                 \
        if (m < 0)                                                      \
            return usage_error("tpm", "%s needs a value", name);        \
        var = v;                                                        \
        continue;                                                       \
    }
        OPT("--tcti", tcti)
        OPT("--type", type)
        OPT("--handle", handle_s)
        OPT("--out", out)
        OPT("--pcrs", pcrs)
        OPT("--pcr", pcr_s)
        OPT("--data", data)
#undef OPT
        return usage_error("tpm", "unknown option '%s'", argv[i]);
    }
    if (strcmp(sub, "swtpm") == 0)
        return run_swtpm();
    if (tcti == NULL)
        return usage_error("tpm", "%s needs --tcti (for example device:/dev/tpmrm0)", sub);
    attex_error err;
    attex_buf b = ATTEX_BUF_INIT;
    uint32_t handle = 0;
    int rc;
    if (handle_s && !parse_handle(handle_s, &handle))
        return usage_error("tpm", "--handle needs a persistent handle 0x81000000..0x81FFFFFF");
    if (strcmp(sub, "provision") == 0) {
        attex_tpm_ak_type t = ATTEX_TPM_AK_ECC_P256;
        if (type && strcmp(type, "rsa") == 0)
            t = ATTEX_TPM_AK_RSA_2048;
        else if (type && strcmp(type, "ecc") != 0)
            return usage_error("tpm", "--type needs ecc or rsa, got '%s'", type);
        rc = attex_tpm_ak_provision(tcti, t, handle, &b, &err);
    } else if (strcmp(sub, "reference-values") == 0) {
        rc = attex_tpm_reference_values(tcti, pcrs, &b, &err);
    } else if (strcmp(sub, "extend") == 0) {
        unsigned long n;
        if (pcr_s == NULL || !parse_uint(pcr_s, 23, &n) || data == NULL)
            return usage_error("tpm", "extend needs --pcr N (0..23) and --data TEXT");
        rc = attex_tpm_pcr_extend(tcti, (unsigned)n, (const uint8_t *)data, strlen(data), &err);
    } else if (strcmp(sub, "evict") == 0) {
        if (handle_s == NULL)
            return usage_error("tpm", "evict needs --handle");
        rc = attex_tpm_ak_evict(tcti, handle, &err);
    } else {
        return usage_error("tpm", "unknown subcommand '%s'", sub);
    }
    if (rc != ATTEX_OK) {
        logmsg(LOG_ERROR, "%s", err.message);
        attex_buf_free(&b);
        return EXIT_ATTEST;
    }
    rc = b.data ? write_out(out, &b) : 0;
    attex_buf_free(&b);
    return rc;
}
