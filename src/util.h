/*
 * attex internal: small helpers every plug-in needs: hex, bounded file
 * reads, PEM key loading.
 */
#ifndef ATTEX_UTIL_H
#define ATTEX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/types.h>

#include <attex/buf.h>
#include <attex/error.h>

/* util_hex writes n bytes as lowercase hex to out (2n+1 bytes, NUL-terminated). */
void util_hex(const uint8_t *p, size_t n, char *out);

/* util_hex_dup returns a malloc'd lowercase hex string of p, or NULL. */
char *util_hex_dup(const uint8_t *p, size_t n);

/* util_unhex decodes exactly 2n hex digits (either case) into out; 1 on success, 0 otherwise. */
int util_unhex(const char *s, size_t s_len, uint8_t *out, size_t n);

/*
 * util_safe_text copies text a peer controls into an error message: quoted,
 * printable ASCII only (anything else becomes '?'), truncated with "...",
 * so that evidence cannot forge lines or terminal sequences in a log.
 * out_size must be at least 8.
 */
void util_safe_text(const void *p, size_t n, char *out, size_t out_size);

/*
 * util_open_regular opens `path` read-only and refuses anything but a
 * regular file; `what` names the file in errors ("trusted key file").
 */
int util_open_regular(const char *path, const char *what, int *fd_out, uint64_t *size,
                      attex_error *err);

/* util_read_some reads up to n bytes, retrying on EINTR: bytes read, 0 at EOF, -1 on error. */
ssize_t util_read_some(int fd, uint8_t *p, size_t n);

/*
 * util_read_file reads a whole regular file of at most `max` bytes into
 * `out` (one NUL byte past out->len, so text can be used as a C string).
 * A partial read is zeroised before it is freed, since files may hold keys.
 */
int util_read_file(const char *path, const char *what, size_t max, attex_buf *out,
                   attex_error *err);

/*
 * util_load_public_key / util_load_private_key read one PEM key (PUBLIC KEY;
 * unencrypted PRIVATE KEY: never a passphrase prompt). Any key type: the
 * caller checks it is the one it needs.
 */
int util_load_public_key(const char *path, const char *what, EVP_PKEY **out, attex_error *err);
int util_load_private_key(const char *path, const char *what, EVP_PKEY **out,
                          attex_error *err);

#endif /* ATTEX_UTIL_H */
