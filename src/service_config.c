/*
 * attex: the Verifier service's settings from a JSON configuration file
 * (docs/verifier.md, "Configuration file"). Operator input, but parsed as
 * strictly as network input: a typo must not silently fall back to a default.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <attex/service.h>

#include "internal.h"
#include "util.h"

#define SETTINGS_FILE_MAX (1u << 20)
#define SETTINGS_TEXT_MAX 4096

struct attex_service_settings {
    char *address;
    int has_port;
    uint16_t port;
    char *tls_cert_path, *tls_key_path, *ear_key_path;
    char *verifier_developer, *verifier_build;
    char *access_log;
    int has_serialize;
    int serialize_appraisal;
    /* Numbers: 0 = not set (every accepted value is at least 1, threads aside). */
    int has_threads;
    unsigned threads;
    uint32_t ear_lifetime;
    unsigned max_connections, connection_timeout, session_ttl;
    size_t max_body, max_sessions;
};

void attex_service_settings_free(attex_service_settings *s)
{
    if (s == NULL)
        return;
    free(s->address);
    free(s->tls_cert_path);
    free(s->tls_key_path);
    free(s->ear_key_path);
    free(s->verifier_developer);
    free(s->verifier_build);
    free(s->access_log);
    free(s);
}

static int cfg_bad(attex_error *err, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_bad(attex_error *err, const char *origin, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE, "%s: %s", origin, msg);
}

/* A non-empty string without NUL or control characters, at most SETTINGS_TEXT_MAX bytes. */
static int get_text(json_t *v, const char *name, const char *origin, char **out,
                    attex_error *err)
{
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > SETTINGS_TEXT_MAX)
        return cfg_bad(err, origin, "service.%s must be a non-empty string", name);
    const char *p = json_string_value(v);
    size_t n = json_string_length(v);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return cfg_bad(err, origin, "service.%s has a control character", name);
    *out = malloc(n + 1);
    if (*out == NULL)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    memcpy(*out, p, n + 1);
    return ATTEX_OK;
}

/* A path setting, made relative to base_dir unless absolute. */
static int get_path(json_t *v, const char *name, const char *origin, const char *base_dir,
                    char **out, attex_error *err)
{
    char *p = NULL;
    int ret = get_text(v, name, origin, &p, err);
    if (ret != ATTEX_OK || base_dir == NULL || base_dir[0] == '\0' || p[0] == '/' ||
        strcmp(p, "-") == 0) {
        *out = p;
        return ret;
    }
    size_t n = strlen(base_dir) + strlen(p) + 2;
    *out = malloc(n);
    if (*out == NULL) {
        free(p);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    }
    snprintf(*out, n, "%s/%s", base_dir, p);
    free(p);
    return ATTEX_OK;
}

static int get_uint(json_t *v, const char *name, const char *origin, json_int_t lo,
                    json_int_t hi, json_int_t *out, attex_error *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return cfg_bad(err, origin, "service.%s must be an integer from %lld to %lld", name,
                       (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return ATTEX_OK;
}

/* "listen": "ADDR:PORT" with an IPv6 ADDR in brackets, or ":PORT" for the default address. */
static int parse_listen(json_t *v, const char *origin, attex_service_settings *s,
                        attex_error *err)
{
    char *text = NULL;
    int ret = get_text(v, "listen", origin, &text, err);
    if (ret != ATTEX_OK)
        return ret;
    char *colon = strrchr(text, ':');
    size_t host_len = colon ? (size_t)(colon - text) : 0;
    const char *host = text;
    if (host_len >= 2 && text[0] == '[' && text[host_len - 1] == ']') {
        host = text + 1;
        host_len -= 2;
    } else if (colon != NULL && memchr(text, ':', host_len) != NULL) {
        colon = NULL; /* an IPv6 literal must be bracketed */
    }
    unsigned long port = 0;
    char *end = NULL;
    if (colon != NULL && colon[1] >= '0' && colon[1] <= '9')
        port = strtoul(colon + 1, &end, 10);
    if (colon == NULL || end == NULL || *end != '\0' || port > 65535 || host_len > 64) {
        free(text);
        return cfg_bad(err, origin,
                       "service.listen must be \"ADDRESS:PORT\" (IPv6 in brackets, e.g. "
                       "\"[::1]:8443\"), or \":PORT\"");
    }
    if (host_len > 0) {
        s->address = malloc(host_len + 1);
        if (s->address == NULL) {
            free(text);
            return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        }
        memcpy(s->address, host, host_len);
        s->address[host_len] = '\0';
    }
    s->has_port = 1;
    s->port = (uint16_t)port;
    free(text);
    return ATTEX_OK;
}

static int parse_member(const char *key, json_t *v, const char *origin, const char *base_dir,
                        attex_service_settings *s, attex_error *err)
{
    json_int_t n = 0;
    int ret;
    if (strcmp(key, "listen") == 0)
        return parse_listen(v, origin, s, err);
    if (strcmp(key, "tls_cert") == 0)
        return get_path(v, key, origin, base_dir, &s->tls_cert_path, err);
    if (strcmp(key, "tls_key") == 0)
        return get_path(v, key, origin, base_dir, &s->tls_key_path, err);
    if (strcmp(key, "ear_key") == 0)
        return get_path(v, key, origin, base_dir, &s->ear_key_path, err);
    if (strcmp(key, "access_log") == 0)
        return get_path(v, key, origin, base_dir, &s->access_log, err);
    if (strcmp(key, "verifier_developer") == 0)
        return get_text(v, key, origin, &s->verifier_developer, err);
    if (strcmp(key, "verifier_build") == 0)
        return get_text(v, key, origin, &s->verifier_build, err);
    if (strcmp(key, "serialize_appraisal") == 0) {
        if (!json_is_boolean(v))
            return cfg_bad(err, origin, "service.serialize_appraisal must be true or false");
        s->has_serialize = 1;
        s->serialize_appraisal = json_is_true(v);
        return ATTEX_OK;
    }
    if (strcmp(key, "threads") == 0) {
        if ((ret = get_uint(v, key, origin, 0, 256, &n, err)) == ATTEX_OK) {
            s->has_threads = 1;
            s->threads = (unsigned)n;
        }
        return ret;
    }
    if (strcmp(key, "ear_lifetime") == 0) {
        if ((ret = get_uint(v, key, origin, 1, 30 * 86400, &n, err)) == ATTEX_OK)
            s->ear_lifetime = (uint32_t)n;
        return ret;
    }
    if (strcmp(key, "max_connections") == 0) {
        if ((ret = get_uint(v, key, origin, 1, 65535, &n, err)) == ATTEX_OK)
            s->max_connections = (unsigned)n;
        return ret;
    }
    if (strcmp(key, "connection_timeout") == 0) {
        if ((ret = get_uint(v, key, origin, 1, 3600, &n, err)) == ATTEX_OK)
            s->connection_timeout = (unsigned)n;
        return ret;
    }
    if (strcmp(key, "max_body") == 0) {
        if ((ret = get_uint(v, key, origin, 1024, 64 << 20, &n, err)) == ATTEX_OK)
            s->max_body = (size_t)n;
        return ret;
    }
    if (strcmp(key, "session_ttl") == 0) {
        if ((ret = get_uint(v, key, origin, 1, 86400, &n, err)) == ATTEX_OK)
            s->session_ttl = (unsigned)n;
        return ret;
    }
    if (strcmp(key, "max_sessions") == 0) {
        if ((ret = get_uint(v, key, origin, 1, 1000000, &n, err)) == ATTEX_OK)
            s->max_sessions = (size_t)n;
        return ret;
    }
    char shown[48];
    size_t i = 0;
    for (; key[i] != '\0' && i + 1 < sizeof(shown); i++)
        shown[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
    shown[i] = '\0';
    return cfg_bad(err, origin,
                   "unknown setting service.%s (known: listen, tls_cert, tls_key, ear_key, "
                   "ear_lifetime, verifier_developer, verifier_build, threads, "
                   "max_connections, connection_timeout, max_body, session_ttl, max_sessions, "
                   "serialize_appraisal, access_log)",
                   shown);
}

int attex_service_settings_parse(const char *json, size_t len, const char *origin,
                                 const char *base_dir, attex_service_settings **out,
                                 attex_error *err)
{
    if (out == NULL || (json == NULL && len > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_service_settings_parse needs the text and an output");
    *out = NULL;
    if (origin == NULL)
        origin = "the configuration";
    json_error_t jerr;
    /* RFC 8259 s4: a repeated name would make the setting ambiguous. */
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return cfg_bad(err, origin, "not valid JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    json_t *svc = json_object_get(root, "service");
    int ret;
    if (!json_is_object(root) || !json_is_object(svc)) {
        ret = cfg_bad(err, origin, "expected an object with a \"service\" object");
        json_decref(root);
        return ret;
    }
    attex_service_settings *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        json_decref(root);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    }
    const char *key;
    json_t *v;
    ret = ATTEX_OK;
    json_object_foreach(svc, key, v) {
        if ((ret = parse_member(key, v, origin, base_dir, s, err)) != ATTEX_OK)
            break;
    }
    if (ret == ATTEX_OK && (s->tls_cert_path == NULL) != (s->tls_key_path == NULL))
        ret = cfg_bad(err, origin, "service.tls_cert and service.tls_key go together");
    json_decref(root);
    if (ret != ATTEX_OK) {
        attex_service_settings_free(s);
        return ret;
    }
    *out = s;
    return ATTEX_OK;
}

int attex_service_settings_load(const char *path, attex_service_settings **out,
                                attex_error *err)
{
    if (path == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_service_settings_load needs a path and an output");
    *out = NULL;
    attex_buf text = ATTEX_BUF_INIT;
    int ret = util_read_file(path, "the configuration file", SETTINGS_FILE_MAX, &text, err);
    if (ret != ATTEX_OK)
        return ret;
    /* Relative paths in the file are relative to the file's directory. */
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir == NULL) {
            attex_buf_free(&text);
            return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    ret = attex_service_settings_parse((const char *)text.data, text.len, path, dir, out, err);
    free(dir);
    attex_buf_free(&text);
    return ret;
}

void attex_service_settings_apply(const attex_service_settings *s, attex_service_config *cfg)
{
    if (s == NULL || cfg == NULL)
        return;
    if (s->address != NULL)
        cfg->address = s->address;
    if (s->has_port)
        cfg->port = s->port;
    if (s->tls_cert_path != NULL) {
        cfg->tls_cert_path = s->tls_cert_path;
        cfg->tls_key_path = s->tls_key_path;
        cfg->tls_cert_pem = NULL;
        cfg->tls_key_pem = NULL;
    }
    if (s->ear_key_path != NULL)
        cfg->ear_key_path = s->ear_key_path;
    if (s->verifier_developer != NULL)
        cfg->verifier_developer = s->verifier_developer;
    if (s->verifier_build != NULL)
        cfg->verifier_build = s->verifier_build;
    if (s->ear_lifetime != 0)
        cfg->ear_lifetime = s->ear_lifetime;
    if (s->has_serialize)
        cfg->serialize_appraisal = s->serialize_appraisal;
    if (s->has_threads)
        cfg->threads = s->threads;
    if (s->max_connections != 0)
        cfg->max_connections = s->max_connections;
    if (s->connection_timeout != 0)
        cfg->connection_timeout = s->connection_timeout;
    if (s->max_body != 0)
        cfg->max_body = s->max_body;
    if (s->session_ttl != 0)
        cfg->session_ttl = s->session_ttl;
    if (s->max_sessions != 0)
        cfg->max_sessions = s->max_sessions;
}

const char *attex_service_settings_access_log(const attex_service_settings *s)
{
    return s != NULL ? s->access_log : NULL;
}
