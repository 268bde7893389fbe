/*
 * attex tool: what the command files share (logging, option parsing, JSON
 * text building, exit codes).
 */
#ifndef ATTEX_TOOL_H
#define ATTEX_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <attex/attest.h>

#define EXIT_ATTEST 1
#define EXIT_USAGE 2
#define EXIT_CONN 3

/* Most values of a repeatable option. */
#define MAX_LIST 32

/* Logging to standard error, "attex server: warn: ...". */
enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
extern int log_level;
extern const char *log_prog;
void logmsg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* parse_log_level maps "error".."debug" to a level, or -1. */
int parse_log_level(const char *s);

/* usage_error prints one line and the --help hint for `cmd`; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ssl_errstr returns the first OpenSSL error as text and clears the queue. */
const char *ssl_errstr(void);

uint64_t now_ms(void);
void hex_encode(const uint8_t *p, size_t n, char *out);

/* A growable string (for JSON). Allocation failure exits: this is a CLI. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;
void sb_grow(sbuf *b, size_t more);
void sb_add(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sb_json_str appends `s` as a JSON string literal (quotes included). */
void sb_json_str(sbuf *b, const char *s);
void sb_json_hex(sbuf *b, const uint8_t *p, size_t n);
void sb_free(sbuf *b);

/* addr_string writes "HOST:PORT" ("[V6]:PORT") of a socket address, for logs; "?" if unknown. */
void addr_string(const struct sockaddr *sa, socklen_t len, char *out, size_t size);

/*
 * read_input reads a whole file ('-': standard input) of at most `limit`
 * bytes into `out` (attex_buf_free it); logs why and returns -1 otherwise.
 */
int read_input(const char *path, size_t limit, attex_buf *out);

/* parse_uint parses a decimal integer 0..max; 1 on success. */
int parse_uint(const char *s, unsigned long max, unsigned long *out);
/*
 * split_hostport splits "[HOST:]PORT", "HOST:PORT" or "[V6]:PORT" into host
 * (or `default_host`) and port. Returns 1 on success.
 */
int split_hostport(const char *s, const char *default_host, int need_host, char *host,
                   size_t host_size, char *port, size_t port_size);
/* opt_val matches "--name VALUE" or "--name=VALUE" at argv[*i]: 1 match, 0 no, -1 missing value. */
int opt_val(int argc, char **argv, int *i, const char *name, const char **val);
int is_help(const char *a);

/* Attestation results as the commands print them (attex.c). */
const char *cmw_type_string(const attex_cmw *cmw, char *buf, size_t size);
const char *ind_string(uint32_t ind);
attex_verdict result_verdict(const attex_attest_result *r);
void result_json(sbuf *b, const attex_attest_result *r);
void result_text(FILE *out, const char *indent, const attex_attest_result *r);

/* Commands in their own files. */
int cmd_tpm(int argc, char **argv);
int cmd_evidence(int argc, char **argv);
int cmd_verifier(int argc, char **argv);

/*
 * evidence_describe decodes a TDX quote, an SEV-SNP report, a CCA token or a
 * tsm-report into a JSON object (no verification). `type` is "tdx", "snp",
 * "cca", "tsm" or NULL to recognise it; *kind says what it was.
 */
int evidence_describe(const uint8_t *p, size_t n, const char *type, attex_buf *json,
                      const char **kind, attex_error *err);

#endif /* ATTEX_TOOL_H */
