/*
 * attex-sample: keys and reference values for the sample attester
 * (docs/sample.md).
 *
 *   attex-sample keygen --key PRIV.pem --pub PUB.pem
 *   attex-sample reference-values [--exe PATH] [--file PATH]...
 *
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attex/attex.h>

#define EXIT_USAGE 2

static const char *prog = "attex-sample";

static const char usage_main[] =
    "usage: attex-sample COMMAND [OPTIONS]\n"
    "\n"
    "Keys and reference values for attex's sample software attester, whose evidence is\n"
    "an EAT signed with ES256 (COSE_Sign1) carrying SHA-256 measurements of the running\n"
    "executable and of listed files.\n"
    "\n"
    "commands:\n"
    "  keygen            write a new P-256 attestation key pair (PEM)\n"
    "  reference-values  measure an executable and files; print the verifier's JSON\n"
    "  help [COMMAND]    show this help, or a command's\n"
    "\n"
    "Run 'attex-sample COMMAND --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

static const char usage_keygen[] =
    "usage: attex-sample keygen --key PRIV.pem --pub PUB.pem\n"
    "\n"
    "Writes a new EC P-256 attestation key pair: the private key as unencrypted PKCS#8\n"
    "PEM (mode 0600) for the attester, the public key as SubjectPublicKeyInfo PEM for\n"
    "the verifier's trusted keys. Existing files are never overwritten.\n"
    "\n"
    "options:\n"
    "  --key PATH   where to write the private key (required)\n"
    "  --pub PATH   where to write the public key (required)\n"
    "  -h, --help   show this help\n";

static const char usage_refs[] =
    "usage: attex-sample reference-values [--exe PATH] [--file PATH]...\n"
    "\n"
    "Measures (SHA-256) the executable the attester will run as and each file it will\n"
    "measure, and prints reference values for the sample verifier on standard output:\n"
    "  {\"measurements\": {\"exe\": [\"<hex>\"], \"<path>\": [\"<hex>\"], ...}}\n"
    "Give each --file exactly as the attester's configuration names it: the path is the\n"
    "measurement's name. Add more accepted values to a list by hand to allow several\n"
    "versions.\n"
    "\n"
    "options:\n"
    "  --exe PATH    the attester's executable (default: this program itself, which is\n"
    "                only right when the attester is attex-sample)\n"
    "  --file PATH   a file to measure; repeat for more\n"
    "  -h, --help    show this help\n";

/* usage_error prints "attex-sample: WHAT[ "ARG"]", then the usage; returns EXIT_USAGE. */
static int usage_error(const char *usage, const char *what, const char *arg)
{
    if (arg != NULL)
        fprintf(stderr, "%s: %s \"%s\"\n\n%s", prog, what, arg, usage);
    else
        fprintf(stderr, "%s: %s\n\n%s", prog, what, usage);
    return EXIT_USAGE;
}

static int is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

/*
 * option_value matches argv[*i] against "--name VALUE" or "--name=VALUE".
 * Returns 1 and sets *value on a match, 0 if argv[*i] is another option, -1
 * if the value is missing.
 */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return **value ? 1 : -1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
        return -1;
    *value = argv[++*i];
    return 1;
}

static int cmd_keygen(int argc, char **argv)
{
    const char *key = NULL, *pub = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (is_help(argv[i])) {
            fputs(usage_keygen, stdout);
            return 0;
        }
        if ((m = option_value(argc, argv, &i, "--key", &v)) != 0) {
            if (m < 0)
                return usage_error(usage_keygen, "--key needs a path", NULL);
            if (key != NULL)
                return usage_error(usage_keygen, "--key given twice", NULL);
            key = v;
        } else if ((m = option_value(argc, argv, &i, "--pub", &v)) != 0) {
            if (m < 0)
                return usage_error(usage_keygen, "--pub needs a path", NULL);
            if (pub != NULL)
                return usage_error(usage_keygen, "--pub given twice", NULL);
            pub = v;
        } else {
            return usage_error(usage_keygen, "keygen: unexpected argument", argv[i]);
        }
    }
    if (key == NULL || pub == NULL)
        return usage_error(usage_keygen, "keygen needs both --key and --pub", NULL);
    attex_error err;
    attex_error_clear(&err);
    if (attex_sample_keygen(key, pub, &err) != ATTEX_OK) {
        fprintf(stderr, "%s: keygen: %s\n", prog, err.message);
        return 1;
    }
    fprintf(stderr, "%s: wrote private key %s (keep it secret) and public key %s\n", prog, key,
            pub);
    return 0;
}

static int cmd_reference_values(int argc, char **argv)
{
    const char *exe = NULL;
    const char **files = calloc((size_t)argc + 1, sizeof(*files));
    size_t num_files = 0;
    int rc = 0;
    if (files == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *v = NULL;
        int m;
        if (is_help(argv[i])) {
            fputs(usage_refs, stdout);
            free(files);
            return 0;
        }
        if ((m = option_value(argc, argv, &i, "--exe", &v)) != 0) {
            if (m < 0)
                rc = usage_error(usage_refs, "--exe needs a path", NULL);
            else if (exe != NULL)
                rc = usage_error(usage_refs, "--exe given twice", NULL);
            else
                exe = v;
        } else if ((m = option_value(argc, argv, &i, "--file", &v)) != 0) {
            if (m < 0)
                rc = usage_error(usage_refs, "--file needs a path", NULL);
            else
                files[num_files++] = v;
        } else {
            rc = usage_error(usage_refs, "reference-values: unexpected argument", argv[i]);
        }
    }
    if (rc != 0) {
        free(files);
        return rc;
    }
    if (exe == NULL)
        fprintf(stderr,
                "%s: note: no --exe given; measuring this program as \"exe\" (give the "
                "attester's executable with --exe)\n",
                prog);
    attex_sample_attester_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.exe_path = exe;
    cfg.files = files;
    cfg.num_files = num_files;
    attex_buf out = ATTEX_BUF_INIT;
    attex_error err;
    attex_error_clear(&err);
    if (attex_sample_reference_values(&cfg, &out, &err) != ATTEX_OK) {
        fprintf(stderr, "%s: reference-values: %s\n", prog, err.message);
        rc = 1;
    } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fprintf(stderr, "%s: reference-values: cannot write to standard output\n", prog);
        rc = 1;
    }
    attex_buf_free(&out);
    free(files);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(usage_main, "no command given", NULL);
    const char *cmd = argv[1];
    if (is_help(cmd) || strcmp(cmd, "help") == 0) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        if (topic == NULL)
            fputs(usage_main, stdout);
        else if (strcmp(topic, "keygen") == 0)
            fputs(usage_keygen, stdout);
        else if (strcmp(topic, "reference-values") == 0)
            fputs(usage_refs, stdout);
        else
            return usage_error(usage_main, "no help for unknown command", topic);
        return 0;
    }
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 2, argv + 2);
    if (strcmp(cmd, "reference-values") == 0)
        return cmd_reference_values(argc - 2, argv + 2);
    return usage_error(usage_main, "unknown command", cmd);
}
