/*
 * attex verifier: the Verifier as a network service (RATS background-check
 * and passport models). It appraises evidence with the plug-ins the options
 * configure and answers with an EAR signed by its key.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attex/service.h>

#include "plugins.h"
#include "tool.h"

static const char usage_verifier[] =
    "usage: attex verifier --ear-key KEY.pem [--listen [HOST:]PORT] [--cert C.pem --key K.pem]\n"
    "                      [--config FILE] [--access-log FILE|-] [--ear-lifetime SECONDS]\n"
    "                      APPRAISAL-OPTIONS...\n"
    "\n"
    "Runs a Verifier over HTTPS (HTTP without --cert/--key: loopback and tests only).\n"
    "It appraises evidence with the plug-ins the appraisal options below configure and\n"
    "answers with an EAR (draft-ietf-rats-ear, JWT signed with ES256 by --ear-key):\n"
    "  POST /attex/v1/appraise                      one-shot (attex client --verifier,\n"
    "                                               attex server --passport)\n"
    "  POST /challenge-response/v1/newSession, ...  the Veraison challenge-response API\n"
    "  GET  /.well-known/veraison/verification      discovery, with the EAR key as a JWK\n"
    "The address is logged at level info as 'listening on HOST:PORT'. SIGINT or SIGTERM\n"
    "stops it cleanly (requests in flight are answered). Relying parties trust the EAR\n"
    "public key (openssl pkey -in KEY.pem -pubout).\n"
    "\n"
    "options:\n"
    "  --ear-key PATH           EAR signing key, EC P-256 private key (PEM); make one with\n"
    "                           openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
    "  --listen [HOST:]PORT     address (default 127.0.0.1:8443; port 0: any)\n"
    "  --cert PATH, --key PATH  TLS certificate chain and key (PEM)\n"
    "  --config FILE            service settings JSON (docs/verifier.md); options override it\n"
    "  --access-log FILE|-      one JSON line per request (- for standard error)\n"
    "  --ear-lifetime SECONDS   EAR validity (default 300)\n"
    "  --log-level LEVEL        error, warn, info (default) or debug\n"
    "\n";

static FILE *open_log(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stderr;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        logmsg(LOG_ERROR, "cannot open the access log %s", path);
    else
        setvbuf(f, NULL, _IOLBF, 0);
    return f;
}

int cmd_verifier(int argc, char **argv)
{
    const char *listen_s = "127.0.0.1:8443", *cert = NULL, *key = NULL, *ear_key = NULL,
               *config = NULL, *access_log = NULL, *lifetime_s = NULL, *v;
    plugin_opts po;
    int rc = 0, m;
    memset(&po, 0, sizeof(po));
    log_prog = "attex verifier";
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_verifier, stdout);
            fputs(plugin_help_verify, stdout);
            return 0;
        }
        if ((m = opt_val(argc, argv, &i, "--log-level", &v)) != 0) {
            if (m < 0 || parse_log_level(v) < 0)
                return usage_error("verifier", "--log-level needs error, warn, info or debug");
            log_level = parse_log_level(v);
            continue;
        }
        if ((m = plugin_opt(&po, argc, argv, &i, "verifier", &rc)) != 0) {
            if (m < 0)
                return rc;
            continue;
        }
#define OPT(name, var)                                                  \
    if ((m = opt_val(argc, argv, &i, name, &v)) != 0) {                 \
        if (m < 0)                                                      \
            return usage_error("verifier", "%s needs a value", name);   \
        var = v;                                                        \
        continue;                                                       \
    }
        OPT("--listen", listen_s)
        OPT("--cert", cert)
        OPT("--key", key)
        OPT("--ear-key", ear_key)
        OPT("--config", config)
        OPT("--access-log", access_log)
        OPT("--ear-lifetime", lifetime_s)
#undef OPT
        return usage_error("verifier", "unknown option '%s'", argv[i]);
    }
    if (plugin_attests(&po) || po.passport)
        return usage_error("verifier", "a Verifier does not attest: --attester, --attest-key "
                                       "and --passport are for server and client");
    if ((rc = plugin_check(&po, 1, "verifier", NULL)) != 0)
        return rc;
    if ((cert == NULL) != (key == NULL))
        return usage_error("verifier", "--cert and --key go together");
    char host[256], port_s[16];
    unsigned long port, lifetime = 0;
    if (!split_hostport(listen_s, "127.0.0.1", 0, host, sizeof(host), port_s, sizeof(port_s)) ||
        !parse_uint(port_s, 65535, &port))
        return usage_error("verifier", "--listen needs [HOST:]PORT, got '%s'", listen_s);
    if (lifetime_s && (!parse_uint(lifetime_s, 86400, &lifetime) || lifetime == 0))
        return usage_error("verifier", "--ear-lifetime needs seconds (1..86400)");

    attex_error err;
    attex_service_settings *settings = NULL;
    attex_service_config c;
    plugins pl;
    attex_service *svc = NULL;
    FILE *log = NULL;
    int ret = EXIT_ATTEST;
    memset(&c, 0, sizeof(c));
    memset(&pl, 0, sizeof(pl));
    if (config != NULL) {
        if (attex_service_settings_load(config, &settings, &err) != ATTEX_OK) {
            logmsg(LOG_ERROR, "%s", err.message);
            return EXIT_ATTEST;
        }
        attex_service_settings_apply(settings, &c);
        if (access_log == NULL)
            access_log = attex_service_settings_access_log(settings);
    }
    if (ear_key == NULL && c.ear_key == NULL && c.ear_key_path == NULL) {
        attex_service_settings_free(settings);
        return usage_error("verifier", "--ear-key is required (the key EARs are signed with)");
    }
    if (plugins_build(&pl, &po, 1) != 0)
        goto out;
    if (ear_key)
        c.ear_key_path = ear_key;
    if (cert) {
        c.tls_cert_path = cert;
        c.tls_key_path = key;
    }
    if (config == NULL || strcmp(listen_s, "127.0.0.1:8443") != 0) {
        c.address = host;
        c.port = (uint16_t)port;
    }
    if (lifetime)
        c.ear_lifetime = (uint32_t)lifetime;
    c.verifiers = pl.list;
    c.num_verifiers = pl.nverifiers;
    /* The sample and TPM plug-ins are not documented as thread-safe: one appraisal at a time. */
    c.serialize_appraisal = 1;
    if (access_log != NULL && (log = open_log(access_log)) == NULL)
        goto out;
    c.access_log = log;
    /* Block the stop signals before the service starts its threads, so that only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    svc = attex_service_new(&c, &err);
    int bound = svc ? attex_service_start(svc, &err) : -1;
    if (svc == NULL || bound < 0) {
        logmsg(LOG_ERROR, "%s", err.message);
        goto out;
    }
    logmsg(LOG_INFO, "listening on %s:%d (%s, %zu verifier plug-ins)",
           c.address ? c.address : "127.0.0.1", bound, c.tls_cert_path || c.tls_cert_pem ? "https" : "http",
           pl.nverifiers);
    int sig = 0;
    sigwait(&set, &sig);
    logmsg(LOG_INFO, "signal %d: stopping", sig);
    attex_service_stop(svc);
    ret = 0;
out:
    attex_service_free(svc);
    plugins_free(&pl);
    attex_service_settings_free(settings);
    if (log != NULL && log != stderr)
        fclose(log);
    return ret;
}
