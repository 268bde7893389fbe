/*
 * attex internal: hex, bounded file reads and PEM keys, shared by the plug-ins.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "internal.h"
#include "util.h"

/* ---------------------------------------------------------------------- */
/* Hex                                                                    */

void util_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

char *util_hex_dup(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s != NULL)
        util_hex(p, n, s);
    return s;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int util_unhex(const char *s, size_t s_len, uint8_t *out, size_t n)
{
    if (s_len != 2 * n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

void util_safe_text(const void *text, size_t n, char *out, size_t out_size)
{
    const uint8_t *p = text;
    size_t max = out_size - 6, o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && o < max; i++)
        out[o++] = (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"') ? (char)p[i] : '?';
    if (n > 0 && o >= max) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ---------------------------------------------------------------------- */
/* Files                                                                  */

/*
 * open_regular opens `path` for reading. O_NONBLOCK keeps a FIFO from
 * blocking the open; anything but a regular file is refused, since a device
 * or FIFO has no stable content to measure or load.
 */
int util_open_regular(const char *path, const char *what, int *fd_out, uint64_t *size,
                        attex_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "cannot open %s \"%s\": %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "cannot examine %s \"%s\": %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "%s \"%s\" is not a regular file", what, path);
    }
    *fd_out = fd;
    *size = (uint64_t)st.st_size;
    return ATTEX_OK;
}

ssize_t util_read_some(int fd, uint8_t *p, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}


int util_read_file(const char *path, const char *what, size_t max, attex_buf *out,
                   attex_error *err)
{
    int fd;
    uint64_t size;
    int ret = util_open_regular(path, what, &fd, &size, err);
    if (ret != ATTEX_OK)
        return ret;
    if (size > max) {
        close(fd);
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "%s \"%s\" is larger than %zu bytes", what, path, max);
    }
    /* One byte more than allowed, to notice a file that grew since fstat. */
    uint8_t *buf = malloc(max + 2);
    if (buf == NULL) {
        close(fd);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = util_read_some(fd, buf + len, max + 1 - len);
        if (r < 0 || (r > 0 && len + (size_t)r > max)) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(buf, len + (r > 0 ? (size_t)r : 0));
            free(buf);
            if (r < 0)
                return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                                  "cannot read %s \"%s\": %s", what, path, strerror(e));
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "%s \"%s\" is larger than %zu bytes", what, path, max);
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    out->data = buf;
    out->len = len;
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Keys                                                                   */

/* Never prompt on a terminal for a passphrase: an encrypted key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Key files are small; anything larger is not a key. */
#define UTIL_MAX_KEY_FILE ((size_t)1 << 20)

static int load_key(const char *path, const char *what, int private_key, EVP_PKEY **out,
                    attex_error *err)
{
    attex_buf text = ATTEX_BUF_INIT;
    int ret = util_read_file(path, what, UTIL_MAX_KEY_FILE, &text, err);
    if (ret != ATTEX_OK)
        return ret;
    BIO *bio = BIO_new_mem_buf(text.data, (int)text.len);
    EVP_PKEY *key = NULL;
    if (bio != NULL)
        key = private_key ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
                          : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    attex_buf_free(&text);
    ERR_clear_error();
    if (key == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          private_key ? "%s \"%s\" holds no unencrypted PEM private key "
                                        "(expected -----BEGIN PRIVATE KEY-----)"
                                      : "%s \"%s\" holds no PEM public key (expected "
                                        "-----BEGIN PUBLIC KEY-----)",
                          what, path);
    *out = key;
    return ATTEX_OK;
}

int util_load_public_key(const char *path, const char *what, EVP_PKEY **out, attex_error *err)
{
    return load_key(path, what, 0, out, err);
}

int util_load_private_key(const char *path, const char *what, EVP_PKEY **out,
                          attex_error *err)
{
    return load_key(path, what, 1, out, err);
}
