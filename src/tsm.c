/*
 * attex: the configfs-tsm attester and the tsm-report verifier
 * (include/attex/tsm.h).
 *
 * The file protocol follows the kernel ABI document
 * Documentation/ABI/testing/configfs-tsm-report ("configfs-tsm ABI" below)
 * and mirrors what google/go-configfs-tsm does: one private entry per
 * request, report data written in one write(), outblob read to EOF, the
 * `generation` attribute re-read after every read to detect a concurrent
 * writer, the entry removed on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <attex/cca.h>
#include <attex/cmw.h>
#include <attex/tsm.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "crypto.h"
#include "internal.h"
#include "tsm_internal.h"
#include "util.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* linux/magic.h: CONFIGFS_MAGIC. */
#define TSM_CONFIGFS_MAGIC 0x62656570
/* configfs-tsm ABI: inblob takes at most 64 bytes; TDX and SNP require exactly 64. */
#define TSM_INBLOB_LEN 64
/* How long an emulated tree may take to populate a new entry (ms; generous for loaded CI machines). */
#define TSM_EMULATED_WAIT_MS 10000
#define TSM_DEFAULT_ATTEMPTS 3
#define TSM_MAX_ATTEMPTS 100

/* ---------------------------------------------------------------------- */
/* Provider names                                                         */

static int contains(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, needle, m) == 0)
            return 1;
    return 0;
}

attex_tsm_kind attex_tsm_provider_kind(const char *provider, size_t len)
{
    if (provider == NULL)
        return ATTEX_TSM_UNKNOWN;
    /* configfs-tsm ABI: provider is the TSM driver's name; those were renamed, hence loose. */
    if (len >= 3 && memcmp(provider, "tdx", 3) == 0)
        return ATTEX_TSM_TDX;
    if (contains(provider, len, "sev") || contains(provider, len, "snp"))
        return ATTEX_TSM_SNP;
    if (contains(provider, len, "cca"))
        return ATTEX_TSM_CCA;
    return ATTEX_TSM_UNKNOWN;
}


/* ---------------------------------------------------------------------- */
/* File protocol                                                          */

typedef struct tsm_req {
    char entry[PATH_MAX];
    int emulated;
} tsm_req;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int attr_path(const tsm_req *q, const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", q->entry, name);
    return n > 0 && (size_t)n < size;
}

/*
 * open_attr opens attribute `name`. configfs creates attributes with the
 * directory; an emulated tree may lag, so there `wait` allows ENOENT for a
 * while.
 */
static int open_attr(const tsm_req *q, const char *name, int flags, int wait)
{
    char path[PATH_MAX];
    if (!attr_path(q, name, path, sizeof(path))) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (int waited = 0;; waited++) {
        int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0 || errno != ENOENT || !wait || !q->emulated ||
            waited >= TSM_EMULATED_WAIT_MS)
            return fd;
        sleep_ms(1);
    }
}

static int io_fail(attex_error *err, const tsm_req *q, const char *what, const char *name, int e)
{
    if (e == EACCES || e == EPERM)
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "configfs-tsm: permission denied %s %s/%s: run as root or give this "
                          "user write access to the report directory",
                          what, q->entry, name);
    return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                      "configfs-tsm: %s %s/%s failed: %s", what, q->entry, name, strerror(e));
}

/* read_attr reads attribute `name` to EOF into out, refusing more than max bytes. */
static int read_attr(const tsm_req *q, const char *name, size_t max, int wait, attex_buf *out,
                     int *absent, attex_error *err)
{
    int fd = open_attr(q, name, O_RDONLY, wait);
    if (fd < 0) {
        int e = errno;
        /* auxblob is optional: older kernels and some providers have none. */
        if (absent != NULL && (e == ENOENT || e == ENXIO || e == EOPNOTSUPP)) {
            *absent = 1;
            return ATTEX_OK;
        }
        return io_fail(err, q, "opening", name, e);
    }
    uint8_t *buf = malloc(max + 1);
    size_t len = 0;
    int ret = ATTEX_OK;
    if (buf == NULL) {
        close(fd);
        return NOMEM(err);
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, max + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            if (absent != NULL && (e == ENXIO || e == EOPNOTSUPP)) {
                *absent = 1;
                break;
            }
            ret = io_fail(err, q, "reading", name, e);
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max) {
            ret = attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                             "configfs-tsm: %s/%s is larger than %zu bytes, the most attex "
                             "accepts",
                             q->entry, name, max);
            break;
        }
    }
    close(fd);
    if (ret != ATTEX_OK) {
        free(buf);
        return ret;
    }
    out->data = buf;
    out->len = len;
    return ATTEX_OK;
}

/* read_generation reads the decimal `generation` attribute. */
static int read_generation(const tsm_req *q, int wait, unsigned long long *gen, attex_error *err)
{
    attex_buf b = ATTEX_BUF_INIT;
    int ret = read_attr(q, "generation", 31, wait, &b, NULL, err);
    if (ret != ATTEX_OK)
        return ret;
    char text[32];
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    attex_buf_free(&b);
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno != 0 || (*end != '\0' && strcmp(end, "\n") != 0))
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                          "configfs-tsm: %s/generation is not a decimal number", q->entry);
    *gen = v;
    return ATTEX_OK;
}

static int write_inblob(const tsm_req *q, const uint8_t *data, attex_error *err)
{
    int fd = open_attr(q, "inblob", O_WRONLY, 0);
    if (fd < 0)
        return io_fail(err, q, "opening", "inblob", errno);
    ssize_t w;
    /* configfs-tsm ABI: the whole inblob in one write(); a binary attribute takes no partial writes. */
    do
        w = write(fd, data, TSM_INBLOB_LEN);
    while (w < 0 && errno == EINTR);
    int e = errno;
    if (close(fd) != 0 && w == TSM_INBLOB_LEN) {
        w = -1;
        e = errno;
    }
    if (w < 0)
        return io_fail(err, q, "writing", "inblob", e);
    if (w != TSM_INBLOB_LEN)
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "configfs-tsm: writing %s/inblob wrote %zd of %d bytes", q->entry, w,
                          TSM_INBLOB_LEN);
    return ATTEX_OK;
}

/* The attributes an emulated tree may hold, removed before its rmdir (configfs does it itself). */
static const char *const tsm_attrs[] = {"inblob", "outblob", "auxblob", "provider",
                                        "generation", "privlevel", "privlevel_floor",
                                        "manifestblob", "service_provider", "service_guid",
                                        "service_manifest_version"};

static int remove_entry(const tsm_req *q)
{
    if (rmdir(q->entry) == 0)
        return 1;
    if (!q->emulated || (errno != ENOTEMPTY && errno != EEXIST))
        return 0;
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(tsm_attrs); i++) {
        char path[PATH_MAX];
        if (attr_path(q, tsm_attrs[i], path, sizeof(path)))
            (void)unlink(path);
    }
    return rmdir(q->entry) == 0;
}

static int make_entry(const char *root, tsm_req *q, attex_error *err)
{
    static unsigned counter;
    struct statfs sf;
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                              "configfs-tsm: permission denied reaching %s: run as root", root);
        return attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                          "configfs-tsm is not available: %s is not a directory (no TEE guest "
                          "driver with TSM support loaded, Linux older than 6.7, or configfs "
                          "not mounted: mount -t configfs none /sys/kernel/config)",
                          root);
    }
    q->emulated = statfs(root, &sf) != 0 || (unsigned long)sf.f_type != TSM_CONFIGFS_MAGIC;
    for (int tries = 0; tries < 4; tries++) {
        uint8_t rnd[8];
        if (crypto_random(rnd, sizeof(rnd), err) != ATTEX_OK)
            return err ? err->code : ATTEX_ERR_CRYPTO;
        unsigned long long r = 0;
        for (size_t i = 0; i < sizeof(rnd); i++)
            r = r << 8 | rnd[i];
        /* A private entry per request (configfs-tsm ABI): no other process shares it. */
        int n = snprintf(q->entry, sizeof(q->entry), "%s/attex-%ld-%u-%016llx", root,
                         (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED), r);
        if (n <= 0 || (size_t)n >= sizeof(q->entry))
            return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                              "configfs-tsm: the root path \"%s\" is too long", root);
        if (mkdir(q->entry, 0700) == 0)
            return ATTEX_OK;
        int e = errno;
        if (e == EEXIST)
            continue;
        if (e == EACCES || e == EPERM || e == EROFS)
            return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                              "configfs-tsm: permission denied creating a report entry in %s "
                              "(%s): run as root or give this user write access to it",
                              root, strerror(e));
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "configfs-tsm: cannot create a report entry in %s: %s", root,
                          strerror(e));
    }
    return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                      "configfs-tsm: cannot create a unique report entry in %s", root);
}

void attex_tsm_report_clear(attex_tsm_report *r)
{
    if (r == NULL)
        return;
    attex_buf_free(&r->outblob);
    attex_buf_free(&r->auxblob);
    memset(r, 0, sizeof(*r));
}

/*
 * one_attempt writes the inblob and reads the report; *raced is set when
 * `generation` shows another write, so that the caller retries.
 */
static int one_attempt(const tsm_req *q, const uint8_t *report_data, attex_tsm_report *out,
                       int *raced, attex_error *err)
{
    unsigned long long before, gen, now;
    attex_buf prov = ATTEX_BUF_INIT;
    int absent = 0;
    int ret = read_generation(q, 1, &before, err);
    if (ret == ATTEX_OK)
        ret = write_inblob(q, report_data, err);
    if (ret == ATTEX_OK)
        ret = read_generation(q, 0, &gen, err);
    /* configfs-tsm ABI: each write bumps generation; more than one means another writer. */
    if (ret == ATTEX_OK && gen != before + 1)
        goto raced;
    if (ret == ATTEX_OK)
        ret = read_attr(q, "outblob", ATTEX_TSM_MAX_BLOB, 0, &out->outblob, NULL, err);
    if (ret == ATTEX_OK && (ret = read_generation(q, 0, &now, err)) == ATTEX_OK && now != gen)
        goto raced;
    if (ret == ATTEX_OK)
        ret = read_attr(q, "auxblob", ATTEX_TSM_MAX_BLOB, 0, &out->auxblob, &absent, err);
    if (ret == ATTEX_OK && (ret = read_generation(q, 0, &now, err)) == ATTEX_OK && now != gen)
        goto raced;
    if (ret == ATTEX_OK)
        ret = read_attr(q, "provider", sizeof(out->provider) - 1, 0, &prov, NULL, err);
    if (ret == ATTEX_OK && (ret = read_generation(q, 0, &now, err)) == ATTEX_OK && now != gen)
        goto raced;
    if (ret != ATTEX_OK)
        return ret;
    /* configfs-tsm ABI: provider is text ending in a newline. */
    size_t n = prov.len;
    while (n > 0 && (prov.data[n - 1] == '\n' || prov.data[n - 1] == ' '))
        n--;
    memcpy(out->provider, prov.data, n);
    out->provider[n] = '\0';
    attex_buf_free(&prov);
    out->kind = attex_tsm_provider_kind(out->provider, n);
    if (out->kind == ATTEX_TSM_UNKNOWN || memchr(out->provider, 0, n) != NULL) {
        char shown[80];
        util_safe_text(out->provider, n, shown, sizeof(shown));
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "configfs-tsm provider %s is not one attex knows (tdx_guest, "
                          "sev_guest, arm_cca_guest)",
                          shown);
    }
    if (out->outblob.len == 0)
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "configfs-tsm: %s/outblob is empty: the %s provider made no report",
                          q->entry, out->provider);
    return ATTEX_OK;
raced:
    *raced = 1;
    attex_buf_free(&prov);
    attex_buf_free(&out->outblob);
    attex_buf_free(&out->auxblob);
    return ATTEX_OK;
}

int attex_tsm_report_get(const attex_tsm_attester_config *cfg, const uint8_t report_data[64],
                         attex_tsm_report *out, attex_error *err)
{
    if (out == NULL || report_data == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tsm_report_get needs report data and an output");
    memset(out, 0, sizeof(*out));
    const char *root = cfg && cfg->root ? cfg->root : ATTEX_TSM_DEFAULT_ROOT;
    unsigned attempts = cfg && cfg->attempts ? cfg->attempts : TSM_DEFAULT_ATTEMPTS;
    if (attempts > TSM_MAX_ATTEMPTS)
        attempts = TSM_MAX_ATTEMPTS;
    tsm_req q;
    memset(&q, 0, sizeof(q));
    int ret = make_entry(root, &q, err);
    if (ret != ATTEX_OK)
        return ret;
    int raced = 1;
    for (unsigned i = 0; i < attempts && raced && ret == ATTEX_OK; i++) {
        raced = 0;
        ret = one_attempt(&q, report_data, out, &raced, err);
    }
    if (ret == ATTEX_OK && raced)
        ret = attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                         "configfs-tsm: %s/generation changed while the report was read, %u "
                         "times: another process is writing to this entry concurrently",
                         q.entry, attempts);
    /* Every path removes the entry: configfs entries pin kernel memory. */
    if (!remove_entry(&q) && ret == ATTEX_OK)
        ret = attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                         "configfs-tsm: cannot remove the report entry %s: %s", q.entry,
                         strerror(errno));
    if (ret != ATTEX_OK)
        attex_tsm_report_clear(out);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Evidence                                                               */

int attex_tsm_report_encode(const char *provider, const uint8_t *outblob, size_t outblob_len,
                            const uint8_t *auxblob, size_t auxblob_len, attex_buf *out,
                            attex_error *err)
{
    if (provider == NULL || out == NULL || (outblob == NULL && outblob_len > 0) ||
        (auxblob == NULL && auxblob_len > 0))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tsm_report_encode needs a provider, an outblob and an output");
    attex_writer w;
    wr_init(&w, 3 * ATTEX_TSM_MAX_BLOB);
    /* ratsd tsm-report; RFC 8949 s4.2.1 order: "auxblob" < "outblob" < "provider". */
    cbor_put_head(&w, CBOR_MAJOR_MAP, auxblob_len > 0 ? 3 : 2);
    if (auxblob_len > 0) {
        cbor_put_text(&w, "auxblob", 7);
        cbor_put_bytes(&w, auxblob, auxblob_len);
    }
    cbor_put_text(&w, "outblob", 7);
    cbor_put_bytes(&w, outblob, outblob_len);
    cbor_put_text(&w, "provider", 8);
    cbor_put_text(&w, provider, strlen(provider));
    if (!wr_finish(&w, out))
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                          "out of memory encoding the tsm-report");
    return ATTEX_OK;
}

int attex_tsm_evidence(const attex_tsm_report *r, attex_buf *cmw, attex_error *err)
{
    if (r == NULL || cmw == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tsm_evidence needs a report and an output");
    attex_buf value = ATTEX_BUF_INIT;
    const char *media = ATTEX_TSM_REPORT_MEDIA_TYPE;
    int ret = ATTEX_OK;
    if (r->kind == ATTEX_TSM_CCA) {
        /* Contract: a CCA token travels as itself, with the CCA media type. */
        media = ATTEX_CCA_MEDIA_TYPE;
    } else {
        ret = attex_tsm_report_encode(r->provider, r->outblob.data, r->outblob.len,
                                      r->auxblob.data, r->auxblob.len, &value, err);
    }
    if (ret != ATTEX_OK)
        return ret;
    const uint8_t *v = r->kind == ATTEX_TSM_CCA ? r->outblob.data : value.data;
    size_t vlen = r->kind == ATTEX_TSM_CCA ? r->outblob.len : value.len;
    attex_cmw *rec = attex_cmw_record_new(media, v, vlen, ATTEX_CMW_IND_EVIDENCE, err);
    attex_buf_free(&value);
    if (rec == NULL)
        return err && err->code != ATTEX_OK ? err->code : NOMEM(err);
    ret = attex_cmw_encode(rec, ATTEX_CMW_CBOR, cmw, err);
    attex_cmw_free(rec);
    return ret;
}

typedef struct tsm_attester {
    attex_attester a; /* first: the public handle is this struct */
    char *root;
    unsigned attempts;
} tsm_attester;

static int tsm_attest(void *ctx, const attex_binding *binding, attex_buf *cmw, attex_error *err)
{
    const tsm_attester *t = ctx;
    if (t == NULL || binding == NULL || cmw == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the tsm attester needs its context, a binding and an output");
    attex_tsm_attester_config cfg = {t->root, t->attempts};
    attex_tsm_report r;
    /* PROTOCOL.md s3: report_data goes into configfs-tsm inblob. */
    int ret = attex_tsm_report_get(&cfg, binding->report_data, &r, err);
    if (ret == ATTEX_OK)
        ret = attex_tsm_evidence(&r, cmw, err);
    attex_tsm_report_clear(&r);
    return ret;
}

attex_attester *attex_tsm_attester_new(const attex_tsm_attester_config *cfg, attex_error *err)
{
    const char *root = cfg && cfg->root ? cfg->root : ATTEX_TSM_DEFAULT_ROOT;
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                   "configfs-tsm is not available: %s is not a directory (no TEE guest driver "
                   "with TSM support loaded, Linux older than 6.7, or configfs not mounted: "
                   "mount -t configfs none /sys/kernel/config)",
                   root);
        return NULL;
    }
    tsm_attester *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->root = strdup(root)) == NULL) {
        free(t);
        NOMEM(err);
        return NULL;
    }
    t->attempts = cfg ? cfg->attempts : 0;
    t->a.name = "tsm";
    t->a.ctx = t;
    t->a.attest = tsm_attest;
    return &t->a;
}

void attex_tsm_attester_free(attex_attester *a)
{
    if (a == NULL)
        return;
    tsm_attester *t = (tsm_attester *)a;
    free(t->root);
    free(t);
}

/* ---------------------------------------------------------------------- */
/* tsm-report verifier                                                    */

/* A tsm-report is one flat map: depth 1, definite lengths, no tags, UTF-8 keys. */
static const cbor_scan_limits tsm_cbor = {
    .max_depth = 1,
    .indefinite = 0,
    .tag_min = 1,
    .tag_max = 0,
    .utf8 = 1,
    .plain_simple = 1,
    .trailing = 0,
};

void tsm_report_view_free(tsm_report_view *v)
{
    if (v->root != NULL)
        cbor_decref(&v->root);
    memset(v, 0, sizeof(*v));
}

static int why_fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return 0;
}

int tsm_report_decode(const uint8_t *in, size_t len, tsm_report_view *v, char *why,
                      size_t why_size)
{
    memset(v, 0, sizeof(*v));
    if (in == NULL || len == 0)
        return why_fail(why, why_size, "the tsm-report is empty");
    if (len > 3 * (size_t)ATTEX_TSM_MAX_BLOB)
        return why_fail(why, why_size, "the tsm-report is %zu bytes, too large", len);
    cbor_scan_result res;
    v->root = cbor_load_exact(in, len, &tsm_cbor, &res);
    if (v->root == NULL)
        return why_fail(why, why_size, "the tsm-report is not one well-formed flat CBOR map "
                                       "(scan status %d at offset %zu)",
                        (int)res.status, res.offset);
    if (!cbor_isa_map(v->root) || cbor_map_size(v->root) < 2 || cbor_map_size(v->root) > 3)
        return why_fail(why, why_size, "the tsm-report must be a map of provider, outblob and "
                                       "optionally auxblob");
    struct cbor_pair *p = cbor_map_handle(v->root);
    for (size_t i = 0; i < cbor_map_size(v->root); i++) {
        if (!cbor_isa_string(p[i].key))
            return why_fail(why, why_size, "a tsm-report key is not a text string");
        const uint8_t *k = cbor_string_handle(p[i].key);
        size_t kl = cbor_string_length(p[i].key);
        const cbor_item_t *val = p[i].value;
#define KEY_IS(s) (kl == sizeof(s) - 1 && memcmp(k, s, kl) == 0)
        if (KEY_IS("provider")) {
            if (v->provider != NULL)
                return why_fail(why, why_size, "the tsm-report has provider twice");
            if (!cbor_isa_string(val) || cbor_string_length(val) == 0 ||
                cbor_string_length(val) > 63 ||
                memchr(cbor_string_handle(val), 0, cbor_string_length(val)) != NULL)
                return why_fail(why, why_size, "the tsm-report provider is not a text string of "
                                               "1..63 bytes");
            v->provider = cbor_string_handle(val);
            v->provider_len = cbor_string_length(val);
        } else if (KEY_IS("outblob") || KEY_IS("auxblob")) {
            int out = KEY_IS("outblob");
            if ((out ? v->outblob : v->auxblob) != NULL)
                return why_fail(why, why_size, "the tsm-report has %s twice",
                                out ? "outblob" : "auxblob");
            if (!cbor_isa_bytestring(val) || cbor_bytestring_length(val) > ATTEX_TSM_MAX_BLOB)
                return why_fail(why, why_size, "the tsm-report %s is not a byte string of at "
                                               "most %d bytes",
                                out ? "outblob" : "auxblob", ATTEX_TSM_MAX_BLOB);
            /* A zero-length bstr still has a (non-NULL) view: point at the key instead. */
            const uint8_t *d = cbor_bytestring_length(val) ? cbor_bytestring_handle(val) : k;
            if (out) {
                v->outblob = d;
                v->outblob_len = cbor_bytestring_length(val);
            } else {
                v->auxblob = d;
                v->auxblob_len = cbor_bytestring_length(val);
            }
        } else {
            char shown[40];
            util_safe_text(k, kl, shown, sizeof(shown));
            return why_fail(why, why_size, "the tsm-report has an unknown key %s (only "
                                           "provider, outblob, auxblob)",
                            shown);
        }
#undef KEY_IS
    }
    if (v->provider == NULL || v->outblob == NULL)
        return why_fail(why, why_size, "the tsm-report lacks %s",
                        v->provider == NULL ? "provider" : "outblob");
    if (v->outblob_len == 0)
        return why_fail(why, why_size, "the tsm-report outblob is empty");
    return 1;
}

typedef struct tsm_verifier {
    attex_verifier v; /* first */
    attex_tsm_provider *providers;
    char (*names)[64];
    size_t num;
} tsm_verifier;

static int tsm_reject(attex_appraisal *out, attex_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tsm_reject(attex_appraisal *out, attex_error *err, const char *fmt, ...)
{
    char why[sizeof(out->reason) - 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(out->reason, sizeof(out->reason), "tsm-report: %s", why);
    out->verdict = ATTEX_VERDICT_CONTRAINDICATED;
    return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE, "%s", out->reason);
}

static int tsm_appraise(void *ctx, const attex_cmw *record, const attex_binding *expected,
                        attex_appraisal *out, attex_error *err)
{
    const tsm_verifier *t = ctx;
    if (t == NULL || out == NULL || record == NULL || expected == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the tsm-report verifier needs a CMW record, a binding and an "
                          "appraisal");
    out->verdict = ATTEX_VERDICT_NONE;
    out->reason[0] = '\0';
    out->claims_json = NULL;
    if (attex_cmw_kind_of(record) != ATTEX_CMW_RECORD)
        return tsm_reject(out, err, "the CMW is not a Record");
    uint32_t ind = attex_cmw_ind(record);
    if (ind != ATTEX_CMW_IND_EVIDENCE)
        return tsm_reject(out, err, "the CMW record's ind is %u, not 4 (evidence)", ind);
    size_t len = 0;
    const uint8_t *value = attex_cmw_value(record, &len);
    tsm_report_view rv;
    char why[300];
    if (!tsm_report_decode(value, len, &rv, why, sizeof(why))) {
        tsm_report_view_free(&rv);
        return tsm_reject(out, err, "%s", why);
    }
    attex_tsm_kind kind = attex_tsm_provider_kind((const char *)rv.provider, rv.provider_len);
    const attex_tsm_provider *p = NULL;
    for (size_t i = 0; i < t->num && p == NULL && kind != ATTEX_TSM_UNKNOWN; i++)
        if (attex_tsm_provider_kind(t->names[i], strlen(t->names[i])) == kind)
            p = &t->providers[i];
    if (p == NULL) {
        char shown[80];
        util_safe_text(rv.provider, rv.provider_len, shown, sizeof(shown));
        tsm_report_view_free(&rv);
        return tsm_reject(out, err, "no verifier is configured for provider %s%s", shown,
                          kind == ATTEX_TSM_UNKNOWN ? " (an unknown provider)" : "");
    }
    /* PROTOCOL.md s3: the report data the provider signed must be this binding's. */
    int ret = p->appraise(p->ctx, rv.outblob, rv.outblob_len, rv.auxblob,
                          rv.auxblob ? rv.auxblob_len : 0, expected->report_data, out, err);
    tsm_report_view_free(&rv);
    return ret;
}

attex_verifier *attex_tsm_verifier_new(const attex_tsm_verifier_config *cfg, attex_error *err)
{
    if (cfg == NULL || cfg->num_providers == 0 || cfg->num_providers > 16 ||
        cfg->providers == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "the tsm-report verifier needs 1 to 16 providers, each with its appraisal "
                   "function");
        return NULL;
    }
    for (size_t i = 0; i < cfg->num_providers; i++) {
        const attex_tsm_provider *p = &cfg->providers[i];
        if (p->provider == NULL || p->appraise == NULL || strlen(p->provider) >= 64 ||
            attex_tsm_provider_kind(p->provider, strlen(p->provider)) == ATTEX_TSM_UNKNOWN) {
            attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                       "tsm-report verifier provider %zu must name a known provider "
                       "(tdx_guest, sev_guest, arm_cca_guest) and give its appraisal function",
                       i);
            return NULL;
        }
    }
    tsm_verifier *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->providers = calloc(cfg->num_providers, sizeof(*t->providers))) == NULL ||
        (t->names = calloc(cfg->num_providers, sizeof(*t->names))) == NULL) {
        if (t != NULL)
            free(t->providers);
        free(t);
        NOMEM(err);
        return NULL;
    }
    for (size_t i = 0; i < cfg->num_providers; i++) {
        t->providers[i] = cfg->providers[i];
        snprintf(t->names[i], sizeof(t->names[i]), "%s", cfg->providers[i].provider);
        t->providers[i].provider = t->names[i];
    }
    t->num = cfg->num_providers;
    t->v.name = "tsm-report";
    t->v.media_type = ATTEX_TSM_REPORT_MEDIA_TYPE;
    t->v.content_format = 0;
    t->v.ctx = t;
    t->v.appraise = tsm_appraise;
    return &t->v;
}

void attex_tsm_verifier_free(attex_verifier *v)
{
    if (v == NULL)
        return;
    tsm_verifier *t = (tsm_verifier *)v;
    free(t->providers);
    free(t->names);
    free(t);
}

static int copy_blob(attex_buf *dst, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 1;
    dst->data = malloc(n);
    if (dst->data == NULL)
        return 0;
    memcpy(dst->data, p, n);
    dst->len = n;
    return 1;
}

int attex_tsm_report_decode(const uint8_t *in, size_t len, attex_tsm_report *out,
                            attex_error *err)
{
    tsm_report_view v;
    char why[256];
    if (out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tsm_report_decode needs an output");
    memset(out, 0, sizeof(*out));
    if (!tsm_report_decode(in, len, &v, why, sizeof(why))) {
        tsm_report_view_free(&v);
        return attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE, "tsm-report: %s", why);
    }
    int ret = ATTEX_OK;
    if (v.provider_len >= sizeof(out->provider)) {
        ret = attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_NONE,
                         "tsm-report: the provider name is longer than %zu bytes",
                         sizeof(out->provider) - 1);
    } else {
        memcpy(out->provider, v.provider, v.provider_len);
        out->provider[v.provider_len] = '\0';
        out->kind = attex_tsm_provider_kind(out->provider, v.provider_len);
        if (!copy_blob(&out->outblob, v.outblob, v.outblob_len) ||
            !copy_blob(&out->auxblob, v.auxblob, v.auxblob ? v.auxblob_len : 0))
            ret = attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_NONE, "out of memory");
    }
    tsm_report_view_free(&v);
    if (ret != ATTEX_OK)
        attex_tsm_report_clear(out);
    return ret;
}
