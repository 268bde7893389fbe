/*
 * Helpers shared by the tests, the demo and the benchmark.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

int tu_passed, tu_failed;

int tu_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, tu_passed, tu_failed);
    return tu_failed == 0 && tu_passed > 0 ? 0 : 1;
}

EVP_PKEY *tu_key(const char *kind)
{
    if (strcmp(kind, "p256") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (strcmp(kind, "p384") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (strcmp(kind, "p521") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    if (strcmp(kind, "ed25519") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (strcmp(kind, "ed448") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    if (strcmp(kind, "rsa2048") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (strcmp(kind, "rsa1024") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    if (strcmp(kind, "rsapss2048") == 0) {
        /* EVP_PKEY_Q_keygen knows only "RSA" sizes in OpenSSL 3.0. */
        EVP_PKEY *k = NULL;
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
        if (c == NULL || EVP_PKEY_keygen_init(c) <= 0 ||
            EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) <= 0 || EVP_PKEY_keygen(c, &k) <= 0)
            k = NULL;
        EVP_PKEY_CTX_free(c);
        return k;
    }
    return NULL;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int is_ca,
              int days)
{
    X509 *c = X509_new();
    X509_NAME *name = X509_NAME_new();
    uint8_t serial[16];
    BIGNUM *bn = NULL;
    if (c == NULL || name == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
        goto fail;
    if (!X509_set_version(c, 2) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_subject_name(c, name) ||
        !X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) || !X509_set_pubkey(c, key))
        goto fail;
    if (!add_ext(c, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE") ||
        !add_ext(c, issuer, NID_key_usage,
                 is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") ||
        !add_ext(c, issuer, NID_subject_key_identifier, "hash"))
        goto fail;
    if (issuer && !add_ext(c, issuer, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    EVP_PKEY *signer = issuer_key ? issuer_key : key;
    int id = EVP_PKEY_get_base_id(signer);
    const EVP_MD *md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : EVP_sha256();
    if (X509_sign(c, signer, md) <= 0)
        goto fail;
    BN_free(bn);
    X509_NAME_free(name);
    return c;
fail:
    ERR_print_errors_fp(stderr);
    BN_free(bn);
    X509_NAME_free(name);
    X509_free(c);
    return NULL;
}

/* ---------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static int tcp_pair(int *cfd, int *sfd)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    *cfd = *sfd = -1;
    if (lfd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        goto fail;
    *cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto fail;
    *sfd = accept(lfd, NULL, NULL);
    if (*sfd < 0)
        goto fail;
    close(lfd);
    setsockopt(*cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return set_nonblock(*cfd) && set_nonblock(*sfd);
fail:
    close(lfd);
    if (*cfd >= 0)
        close(*cfd);
    *cfd = -1;
    return 0;
}

static void wait_both(int a, int b)
{
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    poll(p, 2, 50);
}

int tu_pair_open(tu_pair *p, const tu_pair_opts *opts)
{
    static const tu_pair_opts none;
    if (opts == NULL)
        opts = &none;
    memset(p, 0, sizeof(*p));
    p->client_fd = p->server_fd = -1;
    EVP_PKEY *key = tu_key("p256");
    X509 *cert = key ? tu_cert(key, "attex test server", NULL, NULL, 0, 1) : NULL;
    int max = opts->max_version ? opts->max_version : TLS1_3_VERSION;
    int ok = 0;
    p->client_ctx = SSL_CTX_new(TLS_client_method());
    p->server_ctx = SSL_CTX_new(TLS_server_method());
    if (cert == NULL || p->client_ctx == NULL || p->server_ctx == NULL)
        goto out;
    SSL_CTX_set_min_proto_version(p->client_ctx, max == TLS1_3_VERSION ? TLS1_3_VERSION : 0);
    SSL_CTX_set_max_proto_version(p->client_ctx, max);
    SSL_CTX_set_min_proto_version(p->server_ctx, max == TLS1_3_VERSION ? TLS1_3_VERSION : 0);
    SSL_CTX_set_max_proto_version(p->server_ctx, max);
    SSL_CTX_set_num_tickets(p->server_ctx, 0);
    if (opts->attex_settings && (attex_openssl_configure_ctx(p->client_ctx, NULL) != ATTEX_OK ||
                                 attex_openssl_configure_ctx(p->server_ctx, NULL) != ATTEX_OK))
        goto out;
    if (opts->ciphersuites && (!SSL_CTX_set_ciphersuites(p->client_ctx, opts->ciphersuites) ||
                               !SSL_CTX_set_ciphersuites(p->server_ctx, opts->ciphersuites)))
        goto out;
    if (SSL_CTX_use_certificate(p->server_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(p->server_ctx, key) != 1)
        goto out;
    if (!tcp_pair(&p->client_fd, &p->server_fd))
        goto out;
    p->client = SSL_new(p->client_ctx);
    p->server = SSL_new(p->server_ctx);
    if (p->client == NULL || p->server == NULL || !SSL_set_fd(p->client, p->client_fd) ||
        !SSL_set_fd(p->server, p->server_fd))
        goto out;
    SSL_set_connect_state(p->client);
    SSL_set_accept_state(p->server);
    if (opts->skip_handshake) {
        ok = 1;
        goto out;
    }
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 2000 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(p->client);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(p->client, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(p->client, r) != SSL_ERROR_WANT_WRITE)
                goto out;
        }
        if (!sdone) {
            int r = SSL_do_handshake(p->server);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(p->server, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(p->server, r) != SSL_ERROR_WANT_WRITE)
                goto out;
        }
        if (!(cdone && sdone))
            wait_both(p->client_fd, p->server_fd);
    }
    ok = cdone && sdone;
out:
    if (!ok) {
        ERR_print_errors_fp(stderr);
        tu_pair_close(p);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok;
}

void tu_pair_close(tu_pair *p)
{
    SSL_free(p->client);
    SSL_free(p->server);
    SSL_CTX_free(p->client_ctx);
    SSL_CTX_free(p->server_ctx);
    if (p->client_fd >= 0)
        close(p->client_fd);
    if (p->server_fd >= 0)
        close(p->server_fd);
    memset(p, 0, sizeof(*p));
    p->client_fd = p->server_fd = -1;
}

int tu_transfer(tu_pair *p, int from_server, const uint8_t *msg, size_t len, attex_buf *out)
{
    SSL *tx = from_server ? p->server : p->client;
    SSL *rx = from_server ? p->client : p->server;
    uint8_t *frame = malloc(len + 4);
    uint8_t *in = malloc(len + 4);
    size_t sent = 0, got = 0, total = len + 4;
    if (frame == NULL || in == NULL)
        goto fail;
    frame[0] = (uint8_t)(len >> 24);
    frame[1] = (uint8_t)(len >> 16);
    frame[2] = (uint8_t)(len >> 8);
    frame[3] = (uint8_t)len;
    memcpy(frame + 4, msg, len);
    for (int i = 0; i < 20000 && got < total; i++) {
        if (sent < total) {
            size_t n = 0;
            if (SSL_write_ex(tx, frame + sent, total - sent, &n) == 1)
                sent += n;
        }
        size_t n = 0;
        if (SSL_read_ex(rx, in + got, total - got, &n) == 1)
            got += n;
        else if (got < total)
            wait_both(p->client_fd, p->server_fd);
    }
    if (got != total)
        goto fail;
    size_t announced = ((size_t)in[0] << 24) | ((size_t)in[1] << 16) | ((size_t)in[2] << 8) | in[3];
    if (announced != len)
        goto fail;
    out->data = malloc(len ? len : 1);
    if (out->data == NULL)
        goto fail;
    memcpy(out->data, in + 4, len);
    out->len = len;
    free(frame);
    free(in);
    return 1;
fail:
    free(frame);
    free(in);
    return 0;
}

/* ---------------------------------------------------------------------- */

int tu_hex(const char *hex, attex_buf *out)
{
    size_t n = strlen(hex);
    while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        n--;
    if (n % 2)
        return 0;
    out->data = malloc(n / 2 + 1);
    out->len = n / 2;
    if (out->data == NULL)
        return 0;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        char b[3] = {hex[2 * i], hex[2 * i + 1], 0};
        char *end;
        v = (unsigned)strtoul(b, &end, 16);
        if (*end != 0) {
            attex_buf_free(out);
            return 0;
        }
        out->data[i] = (uint8_t)v;
    }
    return 1;
}

char *tu_file_field(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t klen = strlen(key);
    char *res = NULL;
    if (f == NULL)
        return NULL;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            char *v = line + klen + 1;
            v[strcspn(v, "\r\n")] = 0;
            res = strdup(v);
            break;
        }
    }
    fclose(f);
    return res;
}

const char *tu_source_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("ATTEX_SOURCE_DIR");
    if (root == NULL)
        return rel;
    snprintf(buf, sizeof(buf), "%s/%s", root, rel);
    return buf;
}
