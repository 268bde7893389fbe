/*
 * attex tool: logging, option parsing and small helpers shared by the commands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include <netdb.h>
#include <sys/socket.h>

#include <attex/buf.h>

#include "tool.h"

/* ====================================================================== */
/* Logging                                                                */

int log_level = LOG_INFO;
const char *log_prog = "attex";
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void logmsg(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: %s\n", log_prog, level_names[level], line);
}

int parse_log_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

/* A usage error: one line, then the hint. */
int usage_error(const char *cmd, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "attex%s%s: %s\nTry 'attex%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "",
            line, cmd ? " " : "", cmd ? cmd : "");
    return EXIT_USAGE;
}

/* The first OpenSSL error as text (clears the queue). */
const char *ssl_errstr(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (e == 0)
        return "no further detail";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

/* ====================================================================== */
/* Small utilities                                                        */

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}


void sb_grow(sbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
        fputs("attex: out of memory\n", stderr);
        exit(EXIT_ATTEST);
    }
    b->s = s;
    b->cap = cap;
}

void sb_add(sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Appends `s` as a JSON string literal (quotes included). */
void sb_json_str(sbuf *b, const char *s)
{
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            sb_add(b, e, 2);
        } else if (*p < 0x20) {
            sb_printf(b, "\\u%04x", *p);
        } else {
            sb_add(b, (const char *)p, 1);
        }
    }
    sb_puts(b, "\"");
}

void sb_json_hex(sbuf *b, const uint8_t *p, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (h == NULL)
        return;
    hex_encode(p, n, h);
    sb_json_str(b, h);
    free(h);
}

void sb_free(sbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

/* Parses a positive integer option value. */
int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-')
        return 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return 0;
    *out = v;
    return 1;
}

/*
 * Splits "[HOST:]PORT", "HOST:PORT" or "[V6]:PORT" into host (or
 * `default_host`) and port. Returns 1 on success.
 */
int split_hostport(const char *s, const char *default_host, int need_host, char *host,
                          size_t host_size, char *port, size_t port_size)
{
    const char *colon;
    const char *h = NULL;
    size_t hlen = 0;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return 0;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon != NULL) {
            h = s;
            hlen = (size_t)(colon - s);
        }
    }
    const char *p = colon ? colon + 1 : s;
    unsigned long v;
    if (!parse_uint(p, 65535, &v) || strlen(p) >= port_size)
        return 0;
    strcpy(port, p);
    if (h == NULL || hlen == 0) {
        if (need_host || default_host == NULL)
            return 0;
        h = default_host;
        hlen = strlen(default_host);
    }
    if (hlen >= host_size)
        return 0;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return 1;
}

/* Matches "--name VALUE" or "--name=VALUE" at argv[*i]; sets *val. 1 match, 0 no, -1 missing. */
int opt_val(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

int is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

void addr_string(const struct sockaddr *sa, socklen_t len, char *out, size_t size)
{
    char h[64], p[16];
    if (getnameinfo(sa, len, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, size, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, size, "[%s]:%s", h, p);
    else
        snprintf(out, size, "%s:%s", h, p);
}

int read_input(const char *path, size_t limit, attex_buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        logmsg(LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (cap >= limit) {
            logmsg(LOG_ERROR, "%s is larger than %zu bytes", path, limit);
            free(buf);
            buf = NULL;
            break;
        }
        uint8_t *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            logmsg(LOG_ERROR, "out of memory reading %s", path);
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int failed = f != NULL && ferror(f);
    if (f != stdin)
        fclose(f);
    if (buf != NULL && failed) {
        logmsg(LOG_ERROR, "cannot read %s", path);
        free(buf);
        return -1;
    }
    if (buf == NULL)
        return -1;
    out->data = buf;
    out->len = n;
    return 0;
}
