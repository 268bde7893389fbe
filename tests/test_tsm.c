/*
 * Tests for the configfs-tsm attester and the tsm-report verifier
 * (include/attex/tsm.h).
 *
 * No TEE exists here. A "fake kernel" thread drives a plain directory the
 * way configfs-tsm does: when an entry directory appears it creates
 * provider (a file) and generation, inblob, outblob, auxblob (FIFOs, so
 * that each open is served by the thread at the moment it happens, like a
 * kernel attribute: generation bumps on every inblob write are visible to
 * the very next read). outblob embeds the inblob; for arm_cca_guest with
 * the sample's challenge (64 x 0xAB) it is the real CCA sample token. One
 * mode bumps generation after outblob is read, as a concurrent writer
 * would. Real hardware runs are untested (docs/tee.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <attex/cca.h>
#include <attex/tsm.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "internal.h"
#include "testutil.h"
#include "tsm_internal.h"

static uint8_t *sample;
static size_t sample_len;
static char sample_key_path[512];

/* ---- the fake kernel --------------------------------------------------- */

typedef struct fake {
    char root[256];
    const char *provider;  /* written to provider, with "\n" */
    int with_auxblob;
    size_t big_outblob;    /* nonzero: outblob of this many bytes */
    int race_bumps;        /* bump generation after serving outblob, this many times */
    int write_bumps;       /* count an inblob write twice, this many times */
    volatile int stop;
    /* what happened */
    int entries, inblob_writes, outblob_reads;
    uint8_t last_inblob[64];
    pthread_t thread;
} fake;

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

static int make_fifo(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return mkfifo(p, 0600) == 0;
}

/* serve opens FIFO `name` for writing if a reader waits; returns the fd (blocking) or -1. */
static int serve(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0)
        fcntl(fd, F_SETFL, 0);
    return fd;
}

/* write_all returns 0 when the reader went away first (EPIPE: it refused a too large blob). */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    char dir[512] = "";
    int in_fd = -1;
    unsigned long long gen = 0;
    uint8_t acc[64];
    size_t acc_len = 0;
    while (!f->stop) {
        struct stat st;
        if (dir[0] == '\0') {
            DIR *d = opendir(f->root);
            struct dirent *e;
            while (d != NULL && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                snprintf(dir, sizeof(dir), "%s/%s", f->root, e->d_name);
                break;
            }
            if (d != NULL)
                closedir(d);
            if (dir[0] == '\0') {
                sleep_us(200);
                continue;
            }
            /* As configfs does on mkdir: the attributes; generation last (the attester waits for it). */
            make_fifo(dir, "outblob");
            if (f->with_auxblob)
                make_fifo(dir, "auxblob");
            make_fifo(dir, "inblob");
            char p[600];
            snprintf(p, sizeof(p), "%s/inblob", dir);
            in_fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            snprintf(p, sizeof(p), "%s/provider", dir);
            FILE *pf = fopen(p, "w");
            if (pf != NULL) {
                fprintf(pf, "%s\n", f->provider);
                fclose(pf);
            }
            make_fifo(dir, "generation");
            gen = 0;
            acc_len = 0;
            f->entries++;
        }
        if (stat(dir, &st) != 0) { /* rmdir'ed: the request is over */
            if (in_fd >= 0)
                close(in_fd);
            in_fd = -1;
            dir[0] = '\0';
            continue;
        }
        for (int k = 0; k < 3; k++) {
            static const char *const names[] = {"generation", "outblob", "auxblob"};
            if (k == 2 && !f->with_auxblob)
                continue;
            int fd = serve(dir, names[k]);
            if (fd < 0)
                continue;
            /* Writes to inblob that completed before this open are applied first. */
            for (;;) {
                ssize_t r = read(in_fd, acc + acc_len, sizeof(acc) - acc_len);
                if (r <= 0)
                    break;
                acc_len += (size_t)r;
                if (acc_len == sizeof(acc)) {
                    memcpy(f->last_inblob, acc, sizeof(acc));
                    f->inblob_writes++;
                    gen++;
                    if (f->write_bumps > 0) { /* another writer wrote right after */
                        f->write_bumps--;
                        gen++;
                    }
                    acc_len = 0;
                }
            }
            if (k == 0) {
                char text[32];
                int n = snprintf(text, sizeof(text), "%llu\n", gen);
                write_all(fd, (const uint8_t *)text, (size_t)n);
            } else if (k == 1) {
                f->outblob_reads++;
                uint8_t ab[64];
                memset(ab, 0xAB, sizeof(ab));
                if (f->big_outblob) {
                    uint8_t *big = calloc(1, f->big_outblob);
                    if (big != NULL && !write_all(fd, big, f->big_outblob)) {
                        /* The reader is gone and removing the entry: leave it alone. */
                        free(big);
                        close(fd);
                        continue;
                    }
                    free(big);
                } else if (strstr(f->provider, "cca") != NULL && sample != NULL &&
                           memcmp(f->last_inblob, ab, 64) == 0) {
                    write_all(fd, sample, sample_len);
                } else {
                    uint8_t blob[128];
                    memcpy(blob, "FAKE-REPORT-----", 16);
                    memcpy(blob + 16, f->last_inblob, 64);
                    memset(blob + 80, 0x5A, 48);
                    write_all(fd, blob, sizeof(blob));
                }
                if (f->race_bumps > 0) {
                    f->race_bumps--;
                    gen++; /* another writer, as far as generation tells */
                }
            } else {
                write_all(fd, (const uint8_t *)"AUX-CERTS", 9);
            }
            /*
             * A fresh FIFO for the next open, put in place before this one is closed (the
             * reader only sees EOF at the close): otherwise the still-open reader would count
             * as waiting and be served twice.
             */
            char tmp[600], final[600];
            snprintf(tmp, sizeof(tmp), "%s/%s.next", dir, names[k]);
            snprintf(final, sizeof(final), "%s/%s", dir, names[k]);
            if (mkfifo(tmp, 0600) == 0)
                rename(tmp, final);
            close(fd);
        }
        sleep_us(100);
    }
    if (in_fd >= 0)
        close(in_fd);
    return NULL;
}

static char base[128];
static int fake_no;

static void fake_start(fake *f, const char *provider)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "%s/root%d", base, fake_no++);
    mkdir(f->root, 0700);
    f->provider = provider;
}

static void fake_run(fake *f)
{
    pthread_create(&f->thread, NULL, fake_main, f);
}

/* root_empty returns 1 if the attester removed its entry. */
static int root_empty(const char *root)
{
    DIR *d = opendir(root);
    struct dirent *e;
    int n = 0;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            n++;
            fprintf(stderr, "left in %s: %s\n", root, e->d_name);
        }
    if (d != NULL)
        closedir(d);
    return d != NULL && n == 0;
}

static void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    CHECK(root_empty(f->root));
    rmdir(f->root);
}

/* ---- attester ---------------------------------------------------------- */

static void test_cca_provider(void)
{
    fake f;
    fake_start(&f, "arm_cca_guest");
    fake_run(&f);
    attex_error err;
    attex_tsm_attester_config cfg = {f.root, 0};
    uint8_t ab[64];
    memset(ab, 0xAB, sizeof(ab));
    attex_tsm_report r;
    CHECK_RC(attex_tsm_report_get(&cfg, ab, &r, &err), ATTEX_OK, &err);
    CHECK(strcmp(r.provider, "arm_cca_guest") == 0 && r.kind == ATTEX_TSM_CCA);
    CHECK(r.outblob.len == sample_len && memcmp(r.outblob.data, sample, sample_len) == 0);
    CHECK(r.auxblob.len == 0);
    CHECK(f.inblob_writes == 1 && memcmp(f.last_inblob, ab, 64) == 0);
    attex_tsm_report_clear(&r);
    CHECK(root_empty(f.root));

    /* Through the attester: the CMW is a CCA Record holding the token; the CCA verifier
     * appraises it with the sample's report data. */
    attex_attester *a = attex_tsm_attester_new(&cfg, &err);
    CHECK(a != NULL);
    attex_binding b;
    memset(&b, 0, sizeof(b));
    b.hash = ATTEX_HASH_SHA256;
    b.hash_len = 32;
    memcpy(b.report_data, ab, 64);
    attex_buf cmw = ATTEX_BUF_INIT;
    if (a != NULL)
        CHECK_RC(a->attest(a->ctx, &b, &cmw, &err), ATTEX_OK, &err);
    attex_cmw *rec = NULL;
    CHECK_RC(attex_cmw_decode(cmw.data, cmw.len, NULL, &rec, &err), ATTEX_OK, &err);
    size_t vlen = 0;
    const uint8_t *val = rec ? attex_cmw_value(rec, &vlen) : NULL;
    CHECK(rec != NULL && strcmp(attex_cmw_media_type(rec), ATTEX_CCA_MEDIA_TYPE) == 0);
    CHECK(rec != NULL && attex_cmw_ind(rec) == ATTEX_CMW_IND_EVIDENCE);
    CHECK(val != NULL && vlen == sample_len && memcmp(val, sample, vlen) == 0);
    const char *paths[1] = {sample_key_path};
    attex_cca_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.platform_key_paths = paths;
    vc.num_platform_key_paths = 1;
    attex_verifier *v = attex_cca_verifier_new(&vc, &err);
    CHECK(v != NULL);
    if (v != NULL && rec != NULL) {
        attex_appraisal ap;
        CHECK_RC(v->appraise(v->ctx, rec, &b, &ap, &err), ATTEX_OK, &err);
        CHECK(ap.verdict == ATTEX_VERDICT_WARNING);
        attex_appraisal_clear(&ap);
    }
    attex_cca_verifier_free(v);
    attex_cmw_free(rec);
    attex_buf_free(&cmw);

    /* Other report data: a fake blob that embeds it (the sample only answers 0xAB). */
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)i;
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_OK, &err);
    CHECK(r.outblob.len == 128 && memcmp(r.outblob.data + 16, rd, 64) == 0);
    attex_tsm_report_clear(&r);
    attex_tsm_attester_free(a);
    fake_stop(&f);
}

static int stub_calls;
static uint8_t stub_rd[64];
static size_t stub_out_len, stub_aux_len;

/* A stand-in for the TDX/SNP verifiers: records what it got, affirms. */
static int stub_appraise(void *ctx, const uint8_t *outblob, size_t outblob_len,
                         const uint8_t *auxblob, size_t auxblob_len, const uint8_t *report_data,
                         attex_appraisal *out, attex_error *err)
{
    (void)err;
    stub_calls++;
    stub_out_len = outblob_len;
    stub_aux_len = auxblob_len;
    if (report_data != NULL)
        memcpy(stub_rd, report_data, 64);
    /* The outblob embeds the inblob at 16: check it like a real verifier would. */
    int bound = outblob_len == 128 && report_data != NULL && auxblob != NULL &&
                memcmp(outblob + 16, report_data, 64) == 0;
    out->verdict = bound ? ATTEX_VERDICT_AFFIRMING : ATTEX_VERDICT_CONTRAINDICATED;
    snprintf(out->reason, sizeof(out->reason), "%s says %s", (const char *)ctx,
             bound ? "bound" : "not bound");
    out->claims_json = NULL;
    return bound ? ATTEX_OK : attex_fail(err, ATTEX_ERR_ATTESTATION, 0, "%s", out->reason);
}

static void test_tdx_provider(const char *provider, int aux)
{
    fake f;
    fake_start(&f, provider);
    f.with_auxblob = aux;
    fake_run(&f);
    attex_error err;
    attex_tsm_attester_config cfg = {f.root, 0};
    attex_attester *a = attex_tsm_attester_new(&cfg, &err);
    CHECK(a != NULL);
    attex_binding b;
    memset(&b, 0, sizeof(b));
    b.hash = ATTEX_HASH_SHA256;
    b.hash_len = 32;
    for (int i = 0; i < 64; i++)
        b.report_data[i] = (uint8_t)(0x40 + i);
    attex_buf cmw = ATTEX_BUF_INIT;
    if (a != NULL)
        CHECK_RC(a->attest(a->ctx, &b, &cmw, &err), ATTEX_OK, &err);
    attex_cmw *rec = NULL;
    CHECK_RC(attex_cmw_decode(cmw.data, cmw.len, NULL, &rec, &err), ATTEX_OK, &err);
    CHECK(rec != NULL && strcmp(attex_cmw_media_type(rec), ATTEX_TSM_REPORT_MEDIA_TYPE) == 0);
    size_t vlen = 0;
    const uint8_t *val = rec ? attex_cmw_value(rec, &vlen) : NULL;
    tsm_report_view rv;
    char why[300];
    CHECK(val != NULL && tsm_report_decode(val, vlen, &rv, why, sizeof(why)) == 1);
    CHECK(rv.provider_len == strlen(provider) && memcmp(rv.provider, provider, rv.provider_len) == 0);
    CHECK(aux ? (rv.auxblob_len == 9 && memcmp(rv.auxblob, "AUX-CERTS", 9) == 0)
              : rv.auxblob == NULL);
    tsm_report_view_free(&rv);

    /* The tsm-report verifier hands outblob, auxblob and report data to the provider's function. */
    attex_tsm_provider provs[2] = {{"tdx_guest", stub_appraise, "tdx-stub"},
                                   {"sev_guest", stub_appraise, "snp-stub"}};
    attex_tsm_verifier_config vc = {provs, 2};
    attex_verifier *v = attex_tsm_verifier_new(&vc, &err);
    CHECK(v != NULL && strcmp(v->media_type, ATTEX_TSM_REPORT_MEDIA_TYPE) == 0);
    if (v != NULL && rec != NULL) {
        attex_appraisal ap;
        stub_calls = 0;
        int rc = v->appraise(v->ctx, rec, &b, &ap, &err);
        if (aux) {
            CHECK_RC(rc, ATTEX_OK, &err);
            CHECK(ap.verdict == ATTEX_VERDICT_AFFIRMING);
            CHECK(strstr(ap.reason, strstr(provider, "tdx") ? "tdx-stub" : "snp-stub") != NULL);
        } else {
            CHECK(rc == ATTEX_ERR_ATTESTATION); /* the stub wants an auxblob */
        }
        CHECK(stub_calls == 1 && stub_out_len == 128 && stub_aux_len == (aux ? 9u : 0u));
        CHECK(memcmp(stub_rd, b.report_data, 64) == 0);
        attex_appraisal_clear(&ap);
        /* Another connection's report data: the provider's verifier refuses. */
        b.report_data[3] ^= 1;
        CHECK(v->appraise(v->ctx, rec, &b, &ap, &err) == ATTEX_ERR_ATTESTATION);
        CHECK(strstr(ap.reason, "not bound") != NULL);
        attex_appraisal_clear(&ap);
    }
    attex_tsm_verifier_free(v);
    attex_cmw_free(rec);
    attex_buf_free(&cmw);
    attex_tsm_attester_free(a);
    fake_stop(&f);
}

static void test_race(void)
{
    attex_error err;
    uint8_t rd[64] = {1, 2, 3};
    attex_tsm_report r;
    /* One concurrent write: the request runs again and succeeds. */
    fake f;
    fake_start(&f, "tdx_guest");
    f.race_bumps = 1;
    fake_run(&f);
    attex_tsm_attester_config cfg = {f.root, 0};
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_OK, &err);
    CHECK(f.inblob_writes == 2 && f.outblob_reads == 2);
    attex_tsm_report_clear(&r);
    fake_stop(&f);
    /* Another write between ours and the first read: noticed before outblob is read. */
    fake_start(&f, "sev_guest");
    f.write_bumps = 1;
    fake_run(&f);
    cfg.root = f.root;
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_OK, &err);
    CHECK(f.inblob_writes == 2 && f.outblob_reads == 1);
    attex_tsm_report_clear(&r);
    fake_stop(&f);
    /* Always another writer: fails after the attempts, naming the cause; entry removed. */
    fake_start(&f, "tdx_guest");
    f.race_bumps = 1000;
    fake_run(&f);
    cfg.root = f.root;
    cfg.attempts = 4;
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_ERR_UNAVAILABLE, &err);
    CHECK(strstr(err.message, "generation changed while the report was read, 4 times") != NULL);
    CHECK(f.inblob_writes == 4);
    fake_stop(&f);
}

static void test_errors(void)
{
    attex_error err;
    uint8_t rd[64] = {0};
    attex_tsm_report r;
    /* configfs-tsm absent. */
    char missing[256];
    snprintf(missing, sizeof(missing), "%s/no-such-dir", base);
    attex_tsm_attester_config cfg = {missing, 0};
    CHECK(attex_tsm_attester_new(&cfg, &err) == NULL);
    CHECK(err.code == ATTEX_ERR_UNAVAILABLE && strstr(err.message, "not available") != NULL);
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_ERR_UNAVAILABLE, &err);
    /* Unknown provider. */
    fake f;
    fake_start(&f, "foo_guest");
    fake_run(&f);
    cfg.root = f.root;
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_ERR_UNSUPPORTED, &err);
    CHECK(strstr(err.message, "provider \"foo_guest\" is not one attex knows") != NULL);
    fake_stop(&f);
    /* outblob too large. */
    fake_start(&f, "sev_guest");
    f.big_outblob = 4 * ATTEX_TSM_MAX_BLOB; /* more than the reader and the pipe hold: EPIPE */
    fake_run(&f);
    cfg.root = f.root;
    CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_ERR_UNSUPPORTED, &err);
    CHECK(strstr(err.message, "outblob is larger than 65535 bytes") != NULL);
    fake_stop(&f);
    /* Permission denied (meaningless as root, who passes every permission check). */
    if (geteuid() != 0) {
        fake_start(&f, "tdx_guest");
        chmod(f.root, 0500);
        cfg.root = f.root;
        CHECK_RC(attex_tsm_report_get(&cfg, rd, &r, &err), ATTEX_ERR_IO, &err);
        CHECK(strstr(err.message, "permission denied") != NULL);
        chmod(f.root, 0700);
        rmdir(f.root);
    } else {
        /* As root, every permission check passes: drop to nobody in a child. */
        fake_start(&f, "tdx_guest");
        chmod(base, 0711);
        chmod(f.root, 0755);
        cfg.root = f.root;
        pid_t pid = fork();
        if (pid == 0) {
            attex_error e2;
            int ok = setgid(65534) == 0 && setuid(65534) == 0 &&
                     attex_tsm_report_get(&cfg, rd, &r, &e2) == ATTEX_ERR_IO &&
                     strstr(e2.message, "permission denied creating a report entry") != NULL;
            _exit(ok ? 0 : 1);
        }
        int status = -1;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0);
        chmod(base, 0700);
        rmdir(f.root);
    }
    CHECK(attex_tsm_report_get(&cfg, NULL, &r, &err) == ATTEX_ERR_INVALID_ARGUMENT);
}

/* ---- verifier ---------------------------------------------------------- */

static void test_kinds(void)
{
    static const struct {
        const char *name;
        attex_tsm_kind kind;
    } k[] = {{"tdx_guest", ATTEX_TSM_TDX},       {"sev_guest", ATTEX_TSM_SNP},
             {"arm_cca_guest", ATTEX_TSM_CCA},   {"arm-cca-guest", ATTEX_TSM_CCA},
             {"snp_guest", ATTEX_TSM_SNP},       {"foo", ATTEX_TSM_UNKNOWN},
             {"", ATTEX_TSM_UNKNOWN},            {"xtdx", ATTEX_TSM_UNKNOWN}};
    for (size_t i = 0; i < ATTEX_ARRAY_LEN(k); i++)
        CHECK(attex_tsm_provider_kind(k[i].name, strlen(k[i].name)) == k[i].kind);
}

static void expect_decode_fail(const uint8_t *p, size_t n, const char *what, int line)
{
    tsm_report_view rv;
    char why[300] = "";
    int ok = tsm_report_decode(p, n, &rv, why, sizeof(why));
    tsm_report_view_free(&rv);
    if (!ok && strstr(why, what) != NULL) {
        tu_passed++;
    } else {
        tu_failed++;
        fprintf(stderr, "line %d: want decode failure \"%s\", got %d: %s\n", line, what, ok, why);
    }
}

static void test_decode(void)
{
    attex_error err;
    attex_buf good = ATTEX_BUF_INIT;
    CHECK_RC(attex_tsm_report_encode("tdx_guest", (const uint8_t *)"QUOTE", 5,
                                     (const uint8_t *)"AUX", 3, &good, &err),
             ATTEX_OK, &err);
    /* RFC 8949 s4.2.1 order, exactly. */
    static const uint8_t want[] = {0xA3, 0x67, 'a', 'u', 'x', 'b', 'l', 'o', 'b', 0x43, 'A',
                                   'U',  'X',  0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x45,
                                   'Q',  'U',  'O',  'T', 'E', 0x68, 'p', 'r', 'o', 'v', 'i',
                                   'd',  'e',  'r',  0x69, 't', 'd', 'x', '_', 'g', 'u', 'e',
                                   's',  't'};
    CHECK(good.len == sizeof(want) && memcmp(good.data, want, sizeof(want)) == 0);
    tsm_report_view rv;
    char why[300];
    CHECK(tsm_report_decode(good.data, good.len, &rv, why, sizeof(why)) == 1);
    tsm_report_view_free(&rv);
    /* Truncation at every length. */
    for (size_t n = 0; n < good.len; n++) {
        CHECK(tsm_report_decode(good.data, n, &rv, why, sizeof(why)) == 0);
        tsm_report_view_free(&rv);
    }
    attex_buf_free(&good);

#define CB(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})
    /* {"provider": "x"} */
    expect_decode_fail(CB(0xA1, 0x68, 'p', 'r', 'o', 'v', 'i', 'd', 'e', 'r', 0x61, 't'),
                       "must be a map", __LINE__);
    /* {"outblob": h'01', "provider": "tdx", "extra": 1} */
    expect_decode_fail(CB(0xA3, 0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x41, 1, 0x68, 'p',
                          'r', 'o', 'v', 'i', 'd', 'e', 'r', 0x63, 't', 'd', 'x', 0x65, 'e',
                          'x', 't', 'r', 'a', 0x01),
                       "unknown key \"extra\"", __LINE__);
    /* outblob twice */
    expect_decode_fail(CB(0xA3, 0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x41, 1, 0x67, 'o',
                          'u', 't', 'b', 'l', 'o', 'b', 0x41, 2, 0x68, 'p', 'r', 'o', 'v', 'i',
                          'd', 'e', 'r', 0x63, 't', 'd', 'x'),
                       "outblob twice", __LINE__);
    /* outblob a text string */
    expect_decode_fail(CB(0xA2, 0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x61, 'x', 0x68, 'p',
                          'r', 'o', 'v', 'i', 'd', 'e', 'r', 0x63, 't', 'd', 'x'),
                       "outblob is not a byte string", __LINE__);
    /* provider a byte string */
    expect_decode_fail(CB(0xA2, 0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x41, 1, 0x68, 'p',
                          'r', 'o', 'v', 'i', 'd', 'e', 'r', 0x43, 't', 'd', 'x'),
                       "provider is not a text string", __LINE__);
    /* missing outblob (auxblob, provider) */
    expect_decode_fail(CB(0xA2, 0x67, 'a', 'u', 'x', 'b', 'l', 'o', 'b', 0x41, 1, 0x68, 'p',
                          'r', 'o', 'v', 'i', 'd', 'e', 'r', 0x63, 't', 'd', 'x'),
                       "lacks outblob", __LINE__);
    /* empty outblob */
    expect_decode_fail(CB(0xA2, 0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x40, 0x68, 'p', 'r',
                          'o', 'v', 'i', 'd', 'e', 'r', 0x63, 't', 'd', 'x'),
                       "outblob is empty", __LINE__);
    /* indefinite-length map, integer key, nested, tag, trailing byte */
    expect_decode_fail(CB(0xBF, 0xFF), "not one well-formed", __LINE__);
    expect_decode_fail(CB(0xA2, 0x01, 0x41, 1, 0x02, 0x41, 2), "key is not a text", __LINE__);
    expect_decode_fail(CB(0xA2, 0x67, 'o', 'u', 't', 'b', 'l', 'o', 'b', 0x81, 0x41, 1, 0x68,
                          'p', 'r', 'o', 'v', 'i', 'd', 'e', 'r', 0x63, 't', 'd', 'x'),
                       "not one well-formed", __LINE__);
    expect_decode_fail(CB(0xC1, 0xA0), "not one well-formed", __LINE__);
    expect_decode_fail(CB(0xA0, 0x00), "not one well-formed", __LINE__);
#undef CB
}

static void test_verifier(void)
{
    attex_error err;
    attex_tsm_provider provs[1] = {{"tdx_guest", stub_appraise, "tdx-stub"}};
    attex_tsm_verifier_config vc = {provs, 1};
    attex_verifier *v = attex_tsm_verifier_new(&vc, &err);
    CHECK(v != NULL);
    if (v == NULL)
        return;
    attex_binding b;
    memset(&b, 0, sizeof(b));
    attex_appraisal ap;
    static const char *const provs_in[] = {"sev_guest", "vendor_x"};
    static const char *const want[] = {"no verifier is configured for provider \"sev_guest\"",
                                       "\"vendor_x\" (an unknown provider)"};
    for (size_t i = 0; i < 2; i++) {
        attex_buf val = ATTEX_BUF_INIT;
        CHECK_RC(attex_tsm_report_encode(provs_in[i], (const uint8_t *)"R", 1, NULL, 0, &val,
                                         &err),
                 ATTEX_OK, &err);
        attex_cmw *rec = attex_cmw_record_new(ATTEX_TSM_REPORT_MEDIA_TYPE, val.data, val.len,
                                              ATTEX_CMW_IND_EVIDENCE, &err);
        stub_calls = 0;
        CHECK(rec != NULL && v->appraise(v->ctx, rec, &b, &ap, &err) == ATTEX_ERR_ATTESTATION);
        CHECK(strstr(ap.reason, want[i]) != NULL && stub_calls == 0);
        CHECK(ap.verdict == ATTEX_VERDICT_CONTRAINDICATED);
        attex_appraisal_clear(&ap);
        attex_cmw_free(rec);
        attex_buf_free(&val);
    }
    /* Not evidence. */
    attex_cmw *rec = attex_cmw_record_new(ATTEX_TSM_REPORT_MEDIA_TYPE, (const uint8_t *)"\xa0", 1,
                                          8, &err);
    CHECK(rec != NULL && v->appraise(v->ctx, rec, &b, &ap, &err) == ATTEX_ERR_ATTESTATION);
    CHECK(strstr(ap.reason, "not 4 (evidence)") != NULL);
    attex_appraisal_clear(&ap);
    attex_cmw_free(rec);
    attex_tsm_verifier_free(v);
    /* Configuration errors. */
    attex_tsm_provider bad[1] = {{"quantum_guest", stub_appraise, NULL}};
    attex_tsm_verifier_config bc = {bad, 1};
    CHECK(attex_tsm_verifier_new(&bc, &err) == NULL && strstr(err.message, "known provider"));
    bad[0].provider = "tdx_guest";
    bad[0].appraise = NULL;
    CHECK(attex_tsm_verifier_new(&bc, &err) == NULL);
    CHECK(attex_tsm_verifier_new(NULL, &err) == NULL);
    attex_tsm_verifier_free(NULL);
    attex_tsm_attester_free(NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *dir = getenv("ATTEX_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/vectors/cca/cca_token.cbor", dir ? dir : ".");
    snprintf(sample_key_path, sizeof(sample_key_path), "%s/tests/vectors/cca/cca_platform.pub",
             dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        sample = malloc(1 << 16);
        sample_len = sample ? fread(sample, 1, 1 << 16, f) : 0;
        fclose(f);
    }
    CHECK(sample != NULL && sample_len == 1222);
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/attex-tsm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(base) != NULL);
    test_kinds();
    test_decode();
    test_verifier();
    if (sample != NULL)
        test_cca_provider();
    test_tdx_provider("tdx_guest", 1);
    test_tdx_provider("sev_guest", 0);
    test_race();
    test_errors();
    rmdir(base);
    free(sample);
    return tu_finish("test_tsm");
}
