/*
 * attex_tpm: the TPM 2.0 quote attester, through the tpm2-tss ESAPI
 * (docs/tpm.md).
 *
 * One ESAPI context per attester, kept open: the AK (persistent, or a
 * primary key created in the endorsement hierarchy) stays loaded between
 * quotes. Every TPM access is bounded: socket TCTIs are probed with a
 * connect bounded by the timeout before tctildr is used, and the TCTI's
 * socket (when it exposes one) gets send/receive timeouts, so a stopped or
 * wedged TPM yields an error instead of a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <attex/cmw.h>
#include <attex/tpm.h>

#include "internal.h"
#include "tpm_internal.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

/* ---------------------------------------------------------------------- */
/* Connection and errors                                                  */

typedef struct tpm_conn {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    char where[160]; /* the TCTI string, for messages */
} tpm_conn;

/*
 * tpm_fail reports a TSS2 response code with its decoding (Tss2_RC_Decode),
 * and what it usually means for the user: ATTEX_ERR_UNAVAILABLE when the
 * TPM is unreachable or busy (retrying may help), ATTEX_ERR_ATTESTATION
 * when it refused the command.
 */
static int tpm_fail(attex_error *err, const tpm_conn *c, TSS2_RC rc, const char *what)
{
    const char *hint = "";
    int code = ATTEX_ERR_UNAVAILABLE;
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK, base = rc & 0xFFFF;
    if ((layer == TSS2_TCTI_RC_LAYER || layer == TSS2_ESAPI_RC_LAYER ||
         layer == TSS2_SYS_RC_LAYER) &&
        (base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION ||
         base == TSS2_BASE_RC_TRY_AGAIN))
        hint = ": the TPM stopped answering (unreachable, stopped, or slower than the timeout)";
    else if (layer == TSS2_TPM_RC_LAYER &&
             (base == TPM2_RC_RETRY || base == TPM2_RC_YIELDED || base == TPM2_RC_TESTING))
        hint = ": the TPM is busy; try again";
    else if (layer == TSS2_TPM_RC_LAYER &&
             (base == TPM2_RC_OBJECT_MEMORY || base == TPM2_RC_SESSION_MEMORY))
        hint = ": the TPM is out of object slots (use a resource manager such as "
               "/dev/tpmrm0, or flush contexts)";
    else
        code = ATTEX_ERR_ATTESTATION;
    return attex_fail(err, code, ATTEX_ALERT_NONE,
                      "TPM (%s): %s failed: TPM response 0x%x, %s%s", c->where, what, rc,
                      Tss2_RC_Decode(rc), hint);
}

/* tcti_param finds "key=value" in a TCTI configuration (after the "name:"), into out. */
static int tcti_param(const char *conf, const char *key, char *out, size_t out_size)
{
    size_t klen = strlen(key);
    const char *p = conf;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1, *end = strchr(v, ',');
            size_t n = end ? (size_t)(end - v) : strlen(v);
            if (n == 0 || n >= out_size)
                return 0;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    return 0;
}

/* probe_tcp connects to host:port within timeout_ms; returns 0 or an errno value. */
static int probe_tcp(const char *host, const char *port, unsigned timeout_ms)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return EHOSTUNREACH;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
    if (fd < 0) {
        freeaddrinfo(ai);
        return errno;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int r = poll(&pfd, 1, (int)timeout_ms);
            socklen_t len = sizeof(e);
            if (r == 0)
                e = ETIMEDOUT;
            else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
                e = errno;
        }
    }
    close(fd);
    freeaddrinfo(ai);
    return e;
}

/*
 * probe says clearly, and within the timeout, that the TPM is not there:
 * a simulator whose port does not answer, a device that is missing, not
 * accessible or held by another process.
 */
static int probe(const char *conf, unsigned timeout_ms, attex_error *err)
{
    if (conf == NULL)
        return ATTEX_OK;
    if (strncmp(conf, "swtpm:", 6) == 0 || strncmp(conf, "mssim:", 6) == 0) {
        char host[128] = "127.0.0.1", port[16] = "2321";
        const char *params = conf + 6;
        /* A Unix socket (path=...): the worker thread's timeout bounds it instead. */
        if (strstr(params, "path=") != NULL)
            return ATTEX_OK;
        tcti_param(params, "host", host, sizeof(host));
        tcti_param(params, "port", port, sizeof(port));
        int e = probe_tcp(host, port, timeout_ms);
        if (e != 0)
            return attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                              "TPM (%s): no TPM simulator answers at %s port %s: %s", conf, host,
                              port, e == ETIMEDOUT ? "timed out" : strerror(e));
        return ATTEX_OK;
    }
    if (strncmp(conf, "device:", 7) == 0 || strcmp(conf, "device") == 0) {
        const char *path = conf[6] == ':' && conf[7] ? conf + 7 : "/dev/tpm0";
        int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            int e = errno;
            const char *hint = e == ENOENT   ? ": this machine has no TPM there"
                               : e == EACCES ? ": permission denied (add the user to the "
                                               "tss group, or run with access to it)"
                               : e == EBUSY  ? ": another process holds it (use the resource "
                                               "manager device /dev/tpmrm0)"
                                             : "";
            /* Absent or held by another process: unavailable; anything else: I/O. */
            return attex_fail(err, e == ENOENT || e == EBUSY || e == ENXIO || e == ENODEV
                                       ? ATTEX_ERR_UNAVAILABLE
                                       : ATTEX_ERR_IO,
                              ATTEX_ALERT_NONE, "TPM (%s): cannot open %s: %s%s", conf, path,
                              strerror(e), hint);
        }
        close(fd);
    }
    return ATTEX_OK;
}

/* bound_socket gives the TCTI's socket (if it exposes one) send/receive timeouts. */
static void bound_socket(TSS2_TCTI_CONTEXT *tcti, unsigned timeout_ms)
{
    TSS2_TCTI_POLL_HANDLE h[4];
    size_t n = ATTEX_ARRAY_LEN(h);
    if (Tss2_Tcti_GetPollHandles(tcti, h, &n) != TSS2_RC_SUCCESS)
        return;
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    for (size_t i = 0; i < n && i < ATTEX_ARRAY_LEN(h); i++) {
        /* Not a socket (a device): setsockopt fails harmlessly. */
        (void)setsockopt(h[i].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void)setsockopt(h[i].fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
}

static void tpm_close(tpm_conn *c)
{
    if (c->esys != NULL)
        Esys_Finalize(&c->esys);
    if (c->tcti != NULL)
        Tss2_TctiLdr_Finalize(&c->tcti);
}

static int tpm_open(const char *conf, unsigned timeout_ms, tpm_conn *c, attex_error *err)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->where, sizeof(c->where), "%s", conf ? conf : "default TCTI");
    if (timeout_ms == 0)
        timeout_ms = ATTEX_TPM_DEFAULT_TIMEOUT_MS;
    int ret = probe(conf, timeout_ms, err);
    if (ret != ATTEX_OK)
        return ret;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &c->tcti);
    if (rc != TSS2_RC_SUCCESS) {
        c->tcti = NULL;
        return attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                          "TPM (%s): cannot open the TCTI: %s (0x%x); is a TPM or simulator "
                          "there, and is the TCTI string right (device:/dev/tpmrm0, "
                          "swtpm:host=H,port=P)?",
                          c->where, Tss2_RC_Decode(rc), rc);
    }
    bound_socket(c->tcti, timeout_ms);
    rc = Esys_Initialize(&c->esys, c->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        c->esys = NULL;
        ret = tpm_fail(err, c, rc, "initialising ESAPI");
        tpm_close(c);
        return ret;
    }
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Bounded TPM sessions                                                   */

/*
 * The tss2 TCTIs block without a bound (the swtpm and mssim TCTIs ignore
 * receive timeouts and expose no socket), so a TPM that accepted the
 * connection and then stopped answering would hang the caller. Each TPM
 * session therefore runs on a worker thread; the caller waits at most the
 * timeout, then abandons the job: the worker frees it whenever (if ever)
 * the TPM answers, and the caller gets an error now.
 */
typedef struct bounded_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned, ret;
    attex_error err;
    int (*fn)(void *arg, attex_error *err);
    void *arg;
    void (*free_arg)(void *arg);
} bounded_job;

static void job_free(bounded_job *j)
{
    j->free_arg(j->arg);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void *job_main(void *p)
{
    bounded_job *j = p;
    attex_error_clear(&j->err);
    int ret = j->fn(j->arg, &j->err);
    pthread_mutex_lock(&j->mu);
    j->ret = ret;
    j->done = 1;
    int abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned)
        job_free(j);
    return NULL;
}

/*
 * run_bounded runs fn(arg) on a worker thread and waits at most timeout_ms
 * (0: the default). When fn finished in time, it returns fn's result (and
 * error), calling take(arg) on success to move the outputs out of arg; arg
 * is freed with free_arg, by the caller or, after a timeout, by the worker.
 */
static int run_bounded(int (*fn)(void *, attex_error *), void *arg, void (*free_arg)(void *),
                       void (*take)(void *), unsigned timeout_ms, const char *where,
                       attex_error *err)
{
    bounded_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        free_arg(arg);
        return NOMEM(err);
    }
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t th;
    int ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&j->cv, &ca) == 0;
    if (ok)
        pthread_condattr_destroy(&ca);
    if (!ok || pthread_mutex_init(&j->mu, NULL) != 0) {
        free(j);
        free_arg(arg);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                          "cannot set up a TPM worker thread");
    }
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    if (pthread_attr_init(&ta) != 0 ||
        pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED) != 0 ||
        pthread_create(&th, &ta, job_main, j) != 0) {
        job_free(j);
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR,
                          "cannot start a TPM worker thread");
    }
    pthread_attr_destroy(&ta);
    if (timeout_ms == 0)
        timeout_ms = ATTEX_TPM_DEFAULT_TIMEOUT_MS;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000);
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &deadline) == ETIMEDOUT)
            break;
    if (!j->done) {
        j->abandoned = 1;
        pthread_mutex_unlock(&j->mu);
        return attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                          "TPM (%s): no answer within %u ms: the TPM is wedged, overloaded or "
                          "unreachable (the pending command was abandoned)",
                          where, timeout_ms);
    }
    pthread_mutex_unlock(&j->mu);
    int ret = j->ret;
    if (ret != ATTEX_OK && err != NULL)
        *err = j->err;
    else if (take != NULL)
        take(arg);
    job_free(j);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* PCR selections                                                         */

/* parse_pcrs reads "bank:i,j,k-l[+bank:...]" into sel. */
static int parse_pcrs(const char *spec, TPML_PCR_SELECTION *sel, attex_error *err)
{
    memset(sel, 0, sizeof(*sel));
    const char *p = spec ? spec : ATTEX_TPM_DEFAULT_PCRS;
    while (*p != '\0') {
        const char *colon = strchr(p, ':');
        if (colon == NULL)
            goto bad;
        uint16_t alg = tpm_hash_from_name(p, (size_t)(colon - p));
        if (alg == 0 || sel->count >= TPM_MAX_BANKS)
            goto bad;
        for (uint32_t b = 0; b < sel->count; b++)
            if (sel->pcrSelections[b].hash == alg)
                goto bad;
        TPMS_PCR_SELECTION *s = &sel->pcrSelections[sel->count++];
        s->hash = alg;
        s->sizeofSelect = 3;
        p = colon + 1;
        for (;;) {
            char *end;
            unsigned long lo = strtoul(p, &end, 10), hi;
            if (end == p || lo >= TPM_NUM_PCRS)
                goto bad;
            hi = lo;
            if (*end == '-') {
                p = end + 1;
                hi = strtoul(p, &end, 10);
                if (end == p || hi >= TPM_NUM_PCRS || hi < lo)
                    goto bad;
            }
            for (unsigned long i = lo; i <= hi; i++)
                s->pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
            p = end;
            if (*p != ',')
                break;
            p++;
        }
        if (*p == '+' && p[1] != '\0')
            p++;
        else if (*p != '\0')
            goto bad;
    }
    if (sel->count > 0)
        return ATTEX_OK;
bad:
    return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                      "PCR selection \"%s\" is not of the form bank:i,j,k-l[+bank:...] with "
                      "banks sha1, sha256, sha384, sha512 (each once) and PCRs 0..23",
                      spec ? spec : ATTEX_TPM_DEFAULT_PCRS);
}

/* A PCR value read from the TPM. */
typedef struct pcr_val {
    uint16_t bank;
    unsigned index;
    TPM2B_DIGEST value;
} pcr_val;

/* read_pcrs reads every PCR of sel (TPM2_PCR_Read returns at most 8 per call). */
static int read_pcrs(tpm_conn *c, const TPML_PCR_SELECTION *sel, pcr_val *vals, size_t *num,
                     attex_error *err)
{
    TPML_PCR_SELECTION left = *sel;
    *num = 0;
    for (int round = 0; round < 2 * TPM_MAX_PCR_VALUES; round++) {
        int any = 0;
        for (uint32_t b = 0; b < left.count; b++)
            for (unsigned i = 0; i < 3; i++)
                any |= left.pcrSelections[b].pcrSelect[i];
        if (!any)
            return ATTEX_OK;
        UINT32 counter;
        TPML_PCR_SELECTION *got = NULL;
        TPML_DIGEST *digests = NULL;
        TSS2_RC rc = Esys_PCR_Read(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &left,
                                   &counter, &got, &digests);
        if (rc != TSS2_RC_SUCCESS)
            return tpm_fail(err, c, rc, "reading PCRs (TPM2_PCR_Read)");
        uint32_t k = 0;
        int progress = 0;
        for (uint32_t b = 0; b < got->count; b++) {
            TPMS_PCR_SELECTION *gs = &got->pcrSelections[b];
            for (unsigned i = 0; i < TPM_NUM_PCRS && i / 8 < gs->sizeofSelect; i++) {
                if (!((gs->pcrSelect[i / 8] >> (i % 8)) & 1))
                    continue;
                if (k >= digests->count || *num >= TPM_MAX_PCR_VALUES)
                    break;
                vals[*num].bank = gs->hash;
                vals[*num].index = i;
                vals[*num].value = digests->digests[k++];
                (*num)++;
                progress = 1;
                for (uint32_t lb = 0; lb < left.count; lb++)
                    if (left.pcrSelections[lb].hash == gs->hash)
                        left.pcrSelections[lb].pcrSelect[i / 8] &= (uint8_t) ~(1u << (i % 8));
            }
        }
        Esys_Free(got);
        Esys_Free(digests);
        if (!progress)
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "TPM (%s): the TPM returns no value for some selected PCRs: is "
                              "every selected bank active?",
                              c->where);
    }
    return ATTEX_OK;
}

static const pcr_val *find_pcr(const pcr_val *vals, size_t n, uint16_t bank, unsigned index)
{
    for (size_t i = 0; i < n; i++)
        if (vals[i].bank == bank && vals[i].index == index)
            return &vals[i];
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Attestation keys                                                       */

/* Part 1 s24 / TCG EK profile: an AK is a restricted signing key that never leaves the TPM. */
static void ak_template(attex_tpm_ak_type type, TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_NODA;
    if (type == ATTEX_TPM_AK_RSA_2048) {
        p->type = TPM2_ALG_RSA;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
        p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.rsaDetail.keyBits = 2048;
        p->parameters.rsaDetail.exponent = 0;
    } else {
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    }
}

/* public_to_pkey converts a TPMT_PUBLIC (ECC P-256/P-384 or RSA) to an OpenSSL key. */
static EVP_PKEY *public_to_pkey(const TPMT_PUBLIC *p)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    BIGNUM *n = NULL, *e = NULL;
    uint8_t point[1 + 2 * 48];
    if (bld == NULL)
        goto out;
    if (p->type == TPM2_ALG_ECC) {
        const char *group;
        size_t clen;
        if (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
            group = "P-256", clen = 32;
        else if (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384)
            group = "P-384", clen = 48;
        else
            goto out;
        const TPM2B_ECC_PARAMETER *x = &p->unique.ecc.x, *y = &p->unique.ecc.y;
        if (x->size > clen || y->size > clen)
            goto out;
        /* SEC 1 s2.3.3: uncompressed point 04 || X || Y, coordinates left-padded. */
        memset(point, 0, sizeof(point));
        point[0] = 0x04;
        memcpy(point + 1 + clen - x->size, x->buffer, x->size);
        memcpy(point + 1 + 2 * clen - y->size, y->buffer, y->size);
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * clen) !=
                1)
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else if (p->type == TPM2_ALG_RSA) {
        /* Part 2 s12.2.3.5: exponent 0 means the default, 2^16 + 1. */
        uint32_t exp = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent
                                                        : 65537;
        n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
        e = BN_new();
        if (n == NULL || e == NULL || BN_set_word(e, exp) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else {
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return key;
}

/* An AK loaded in the TPM. */
typedef struct tpm_ak {
    ESYS_TR handle;
    int transient; /* flush on close */
    EVP_PKEY *pub;
} tpm_ak;

static void ak_release(tpm_conn *c, tpm_ak *ak)
{
    if (ak->transient && ak->handle != ESYS_TR_NONE && c->esys != NULL)
        (void)Esys_FlushContext(c->esys, ak->handle);
    ak->handle = ESYS_TR_NONE;
    EVP_PKEY_free(ak->pub);
    ak->pub = NULL;
}

static int ak_create(tpm_conn *c, attex_tpm_ak_type type, tpm_ak *ak, attex_error *err)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcr;
    TPM2B_PUBLIC *out_pub = NULL;
    memset(&sens, 0, sizeof(sens));
    memset(&outside, 0, sizeof(outside));
    memset(&creation_pcr, 0, sizeof(creation_pcr));
    ak_template(type, &tmpl);
    ak->handle = ESYS_TR_NONE;
    TSS2_RC rc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                                    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                                    &creation_pcr, &ak->handle, &out_pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        ak->handle = ESYS_TR_NONE;
        return tpm_fail(err, c, rc, "creating the AK (TPM2_CreatePrimary, endorsement hierarchy)");
    }
    ak->transient = 1;
    ak->pub = public_to_pkey(&out_pub->publicArea);
    Esys_Free(out_pub);
    if (ak->pub == NULL)
        return attex_fail_crypto(err, "converting the AK public key");
    return ATTEX_OK;
}

static int ak_load(tpm_conn *c, uint32_t handle, tpm_ak *ak, attex_error *err)
{
    /* Part 2 s7.5: persistent object handles are 0x81xxxxxx. */
    if ((handle >> 24) != 0x81)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "AK handle 0x%08x is not a persistent handle (0x81000000..0x81ffffff)",
                          handle);
    TSS2_RC rc = Esys_TR_FromTPMPublic(c->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &ak->handle);
    if (rc != TSS2_RC_SUCCESS) {
        ak->handle = ESYS_TR_NONE;
        char what[96];
        snprintf(what, sizeof(what), "loading the AK at persistent handle 0x%08x (is one "
                                     "provisioned there?)",
                 handle);
        return tpm_fail(err, c, rc, what);
    }
    TPM2B_PUBLIC *pub = NULL;
    rc = Esys_ReadPublic(c->esys, ak->handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                         NULL, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, c, rc, "reading the AK's public area");
    TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM;
    int ok = (pub->publicArea.objectAttributes & need) == need &&
             !(pub->publicArea.objectAttributes & TPMA_OBJECT_DECRYPT);
    if (ok)
        ak->pub = public_to_pkey(&pub->publicArea);
    Esys_Free(pub);
    if (!ok)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the object at handle 0x%08x is not a restricted, fixedTPM signing "
                          "key, so its quotes would not prove anything",
                          handle);
    if (ak->pub == NULL)
        return attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                          "the AK at handle 0x%08x is neither ECC P-256/P-384 nor RSA", handle);
    return ATTEX_OK;
}

static int pkey_pem(EVP_PKEY *key, attex_buf *out, attex_error *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;
    int ret = ATTEX_OK;
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, key) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0) {
        ret = attex_fail_crypto(err, "writing the AK public key as PEM");
    } else if ((out->data = malloc((size_t)len + 1)) == NULL) {
        ret = NOMEM(err);
    } else {
        memcpy(out->data, data, (size_t)len);
        out->data[len] = '\0';
        out->len = (size_t)len;
    }
    BIO_free(bio);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* The attester                                                           */

/*
 * The attester connects to the TPM for each quote and disconnects after: a
 * TPM without a resource manager (swtpm, /dev/tpm0) serves one connection
 * at a time, and other tools (provisioning, PCR extension) must get their
 * turn. A created AK is created again each time (a primary key: the same
 * key from the same seed) and flushed after the quote.
 */
typedef struct tpm_attester {
    attex_attester a; /* first: the public handle is this struct */
    atomic_int refs;  /* the owner, and each TPM job that may outlive a timeout */
    char *tcti;
    unsigned timeout_ms;
    uint32_t ak_handle;
    attex_tpm_ak_type ak_type;
    EVP_PKEY *ak_pub;
    TPML_PCR_SELECTION sel;
    uint8_t *ak_der;
    size_t ak_der_len;
    uint8_t *chain[TPM_MAX_CHAIN];
    size_t chain_len[TPM_MAX_CHAIN];
    size_t num_chain;
} tpm_attester;

/*
 * ak_connect opens the TPM and loads (persistent) or creates (primary) the
 * AK, which must still be the key the attester started with.
 */
static int ak_connect(const tpm_attester *a, tpm_conn *conn, tpm_ak *ak, attex_error *err)
{
    int ret = tpm_open(a->tcti, a->timeout_ms, conn, err);
    if (ret != ATTEX_OK)
        return ret;
    ret = a->ak_handle ? ak_load(conn, a->ak_handle, ak, err)
                       : ak_create(conn, a->ak_type, ak, err);
    if (ret == ATTEX_OK && a->ak_pub != NULL && EVP_PKEY_eq(a->ak_pub, ak->pub) != 1)
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "TPM (%s): the AK is not the one this attester started with (was the "
                         "persistent AK replaced, or the endorsement seed changed?)",
                         conn->where);
    ERR_clear_error();
    if (ret != ATTEX_OK) {
        ak_release(conn, ak);
        tpm_close(conn);
    }
    return ret;
}

/* digest_pcrs computes H(values in the quote's selection order), H = the signing hash. */
static int digest_pcrs(const tpm_quote *q, uint16_t hash, const pcr_val *vals, size_t nvals,
                       tpm_evidence *e, uint8_t *d, size_t *dlen)
{
    const EVP_MD *md = hash == TPM_ALG_SHA256_ID   ? EVP_sha256()
                       : hash == TPM_ALG_SHA384_ID ? EVP_sha384()
                       : hash == TPM_ALG_SHA512_ID ? EVP_sha512()
                                                   : NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;
    int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1;
    e->num_pcrs = 0;
    for (uint32_t b = 0; ok && b < q->num_banks; b++)
        for (unsigned i = 0; ok && i < TPM_NUM_PCRS; i++) {
            if (!((q->banks[b].select[i / 8] >> (i % 8)) & 1))
                continue;
            const pcr_val *v = find_pcr(vals, nvals, q->banks[b].hash, i);
            ok = v != NULL && e->num_pcrs < TPM_MAX_PCR_VALUES &&
                 EVP_DigestUpdate(ctx, v->value.buffer, v->value.size) == 1;
            if (ok) {
                e->pcrs[e->num_pcrs] = v->value.buffer;
                e->pcr_len[e->num_pcrs++] = v->value.size;
            }
        }
    ok = ok && EVP_DigestFinal_ex(ctx, d, &len) == 1;
    EVP_MD_CTX_free(ctx);
    *dlen = len;
    return ok;
}

static void attester_unref(tpm_attester *a)
{
    if (atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    EVP_PKEY_free(a->ak_pub);
    free(a->tcti);
    OPENSSL_free(a->ak_der);
    for (size_t i = 0; i < a->num_chain; i++)
        OPENSSL_free(a->chain[i]);
    free(a);
}

/* evidence_now quotes and builds the evidence (on a worker thread: see run_bounded). */
static int evidence_now(tpm_attester *a, const uint8_t report_data[64], attex_buf *out,
                        attex_error *err)
{
    TPM2B_DATA qualifying;
    TPMT_SIG_SCHEME scheme;
    memset(&scheme, 0, sizeof(scheme));
    /* The AK is restricted: its own scheme is used (TPM_ALG_NULL asks for it). */
    scheme.scheme = TPM2_ALG_NULL;
    /* PROTOCOL.md s3: qualifyingData = report_data, 64 bytes. */
    qualifying.size = 64;
    memcpy(qualifying.buffer, report_data, 64);
    pcr_val *vals = calloc(TPM_MAX_PCR_VALUES, sizeof(*vals));
    if (vals == NULL)
        return NOMEM(err);
    tpm_conn conn;
    tpm_ak ak;
    memset(&ak, 0, sizeof(ak));
    ak.handle = ESYS_TR_NONE;
    int ret = ak_connect(a, &conn, &ak, err);
    if (ret != ATTEX_OK) {
        free(vals);
        return ret;
    }
    ret = ATTEX_ERR_ATTESTATION;
    /* A PCR extended between the quote and the read: quote again (a few times). */
    for (int attempt = 0; attempt < 3; attempt++) {
        TPM2B_ATTEST *quoted = NULL;
        TPMT_SIGNATURE *sig = NULL;
        uint8_t sig_bytes[sizeof(TPMT_SIGNATURE)];
        size_t sig_len = 0, nvals = 0;
        TSS2_RC rc = Esys_Quote(conn.esys, ak.handle, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &qualifying, &scheme, &a->sel, &quoted, &sig);
        if (rc != TSS2_RC_SUCCESS) {
            ret = tpm_fail(err, &conn, rc, "quoting (TPM2_Quote)");
            break;
        }
        tpm_quote q;
        tpm_signature ts;
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sig_bytes, sizeof(sig_bytes), &sig_len);
        if (rc != TSS2_RC_SUCCESS) {
            ret = tpm_fail(err, &conn, rc, "encoding the quote signature");
        } else if ((ret = tpm_quote_parse(quoted->attestationData, quoted->size, &q, err)) !=
                       ATTEX_OK ||
                   (ret = tpm_signature_parse(sig_bytes, sig_len, &ts, err)) != ATTEX_OK) {
            /* The TPM's own output does not parse: report it as an attestation failure. */
            char why[ATTEX_ERROR_MESSAGE_SIZE];
            snprintf(why, sizeof(why), "%s", err ? err->message : "");
            ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                             "TPM (%s): the quote the TPM returned is not usable: %s",
                             conn.where, why);
        } else if ((ret = read_pcrs(&conn, &a->sel, vals, &nvals, err)) == ATTEX_OK) {
            tpm_evidence e;
            uint8_t d[TPM_MAX_DIGEST];
            size_t dlen = 0;
            memset(&e, 0, sizeof(e));
            if (!digest_pcrs(&q, ts.hash, vals, nvals, &e, d, &dlen)) {
                ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                                 "TPM (%s): some quoted PCRs could not be read", conn.where);
            } else if (dlen != q.pcr_digest_len || memcmp(d, q.pcr_digest, dlen) != 0) {
                ret = attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                                 "TPM (%s): the PCRs kept changing while being quoted",
                                 conn.where);
                Esys_Free(quoted);
                Esys_Free(sig);
                continue;
            } else {
                e.attest = quoted->attestationData;
                e.attest_len = quoted->size;
                e.sig = sig_bytes;
                e.sig_len = sig_len;
                e.ak = a->ak_der;
                e.ak_len = a->ak_der_len;
                for (size_t i = 0; i < a->num_chain; i++) {
                    e.chain[i] = a->chain[i];
                    e.chain_len[i] = a->chain_len[i];
                }
                e.num_chain = a->num_chain;
                ret = tpm_evidence_encode(&e, out, err);
            }
        }
        Esys_Free(quoted);
        Esys_Free(sig);
        break;
    }
    ak_release(&conn, &ak);
    tpm_close(&conn);
    free(vals);
    return ret;
}

typedef struct quote_job {
    tpm_attester *a; /* a reference */
    uint8_t report_data[64];
    attex_buf result;
    attex_buf *dest;
} quote_job;

static int quote_job_run(void *arg, attex_error *err)
{
    quote_job *q = arg;
    return evidence_now(q->a, q->report_data, &q->result, err);
}

static void quote_job_take(void *arg)
{
    quote_job *q = arg;
    *q->dest = q->result;
    q->result.data = NULL;
    q->result.len = 0;
}

static void quote_job_free(void *arg)
{
    quote_job *q = arg;
    attex_buf_free(&q->result);
    attester_unref(q->a);
    free(q);
}

int attex_tpm_attester_evidence(attex_attester *attester, const uint8_t report_data[64],
                                attex_buf *out, attex_error *err)
{
    if (attester == NULL || attester->ctx == NULL || report_data == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tpm_attester_evidence needs a TPM attester, report data and "
                          "an output");
    tpm_attester *a = attester->ctx;
    quote_job *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NOMEM(err);
    atomic_fetch_add(&a->refs, 1);
    q->a = a;
    memcpy(q->report_data, report_data, 64);
    q->dest = out;
    return run_bounded(quote_job_run, q, quote_job_free, quote_job_take, a->timeout_ms,
                       a->tcti ? a->tcti : "default TCTI", err);
}

/* The first connection of a new attester: find the AK and keep its public key. */
typedef struct connect_job {
    tpm_attester *a;
    EVP_PKEY *pub;
} connect_job;

static int connect_job_run(void *arg, attex_error *err)
{
    connect_job *c = arg;
    tpm_conn conn;
    tpm_ak ak;
    memset(&ak, 0, sizeof(ak));
    ak.handle = ESYS_TR_NONE;
    int ret = ak_connect(c->a, &conn, &ak, err);
    if (ret == ATTEX_OK) {
        c->pub = ak.pub;
        ak.pub = NULL;
        ak_release(&conn, &ak);
        tpm_close(&conn);
    }
    return ret;
}

static void connect_job_take(void *arg)
{
    connect_job *c = arg;
    c->a->ak_pub = c->pub;
    c->pub = NULL;
}

static void connect_job_free(void *arg)
{
    connect_job *c = arg;
    EVP_PKEY_free(c->pub);
    attester_unref(c->a);
    free(c);
}

static int tpm_attest(void *ctx, const attex_binding *binding, attex_buf *cmw, attex_error *err)
{
    tpm_attester *a = ctx;
    if (a == NULL || binding == NULL || cmw == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "the TPM attester needs its context, a binding and an output");
    attex_error local;
    attex_error *e = err ? err : &local;
    attex_buf ev = ATTEX_BUF_INIT;
    int ret = attex_tpm_attester_evidence(&a->a, binding->report_data, &ev, e);
    if (ret != ATTEX_OK)
        return ret;
    /* RFC 9999 s3.1: [type, value, ind], ind 4 = evidence. */
    attex_cmw *rec =
        attex_cmw_record_new(ATTEX_TPM_MEDIA_TYPE, ev.data, ev.len, ATTEX_CMW_IND_EVIDENCE, e);
    attex_buf_free(&ev);
    if (rec == NULL)
        return e->code != ATTEX_OK ? e->code : NOMEM(e);
    ret = attex_cmw_encode(rec, ATTEX_CMW_CBOR, cmw, e);
    attex_cmw_free(rec);
    return ret;
}

static int load_chain(tpm_attester *a, const char *path, attex_error *err)
{
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "cannot open AK certificate chain file \"%s\"", path);
    }
    X509 *c;
    int ret = ATTEX_OK;
    while (ret == ATTEX_OK && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        uint8_t *der = NULL;
        int n = i2d_X509(c, &der);
        X509_free(c);
        if (n <= 0 || a->num_chain >= TPM_MAX_CHAIN) {
            OPENSSL_free(der);
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "AK certificate chain file \"%s\" holds more than %d certificates "
                             "or one that does not encode",
                             path, TPM_MAX_CHAIN);
            break;
        }
        a->chain[a->num_chain] = der;
        a->chain_len[a->num_chain++] = (size_t)n;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (ret == ATTEX_OK && a->num_chain == 0)
        ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                         "AK certificate chain file \"%s\" holds no PEM certificate", path);
    return ret;
}

attex_attester *attex_tpm_attester_new(const attex_tpm_attester_config *cfg, attex_error *err)
{
    if (cfg == NULL) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "attex_tpm_attester_new needs a configuration");
        return NULL;
    }
    attex_tpm_ak_type type = cfg->ak_type ? cfg->ak_type : ATTEX_TPM_AK_ECC_P256;
    if (type != ATTEX_TPM_AK_ECC_P256 && type != ATTEX_TPM_AK_RSA_2048) {
        attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                   "unknown AK type %d (ATTEX_TPM_AK_ECC_P256 or ATTEX_TPM_AK_RSA_2048)",
                   (int)type);
        return NULL;
    }
    tpm_attester *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        NOMEM(err);
        return NULL;
    }
    a->a.name = "tpm";
    a->a.ctx = a;
    a->a.attest = tpm_attest;
    atomic_init(&a->refs, 1);
    a->timeout_ms = cfg->timeout_ms;
    a->ak_handle = cfg->ak_handle;
    a->ak_type = type;
    int ret = parse_pcrs(cfg->pcrs, &a->sel, err);
    if (ret == ATTEX_OK && cfg->tcti != NULL && (a->tcti = strdup(cfg->tcti)) == NULL)
        ret = NOMEM(err);
    if (ret == ATTEX_OK && cfg->ak_cert_chain_path != NULL)
        ret = load_chain(a, cfg->ak_cert_chain_path, err);
    /* Connect once now: a missing TPM or AK is reported here, not at the first connection. */
    if (ret == ATTEX_OK) {
        connect_job *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            ret = NOMEM(err);
        } else {
            atomic_fetch_add(&a->refs, 1);
            c->a = a;
            ret = run_bounded(connect_job_run, c, connect_job_free, connect_job_take,
                              a->timeout_ms, a->tcti ? a->tcti : "default TCTI", err);
        }
    }
    if (ret == ATTEX_OK) {
        uint8_t *der = NULL;
        int n = i2d_PUBKEY(a->ak_pub, &der);
        if (n <= 0)
            ret = attex_fail_crypto(err, "encoding the AK public key");
        a->ak_der = der;
        a->ak_der_len = n > 0 ? (size_t)n : 0;
    }
    if (ret != ATTEX_OK) {
        attex_tpm_attester_free(&a->a);
        return NULL;
    }
    return &a->a;
}

void attex_tpm_attester_free(attex_attester *attester)
{
    if (attester == NULL)
        return;
    attester_unref(attester->ctx);
}

int attex_tpm_attester_ak_pem(const attex_attester *attester, attex_buf *out, attex_error *err)
{
    if (attester == NULL || attester->ctx == NULL || out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tpm_attester_ak_pem needs a TPM attester and an output");
    const tpm_attester *a = attester->ctx;
    return pkey_pem(a->ak_pub, out, err);
}

/* ---------------------------------------------------------------------- */
/* Provisioning and helpers                                               */

static int provision_now(const char *tcti, attex_tpm_ak_type type, uint32_t persist_handle,
                         attex_buf *pem_out, attex_error *err)
{
    if (pem_out == NULL || (type != ATTEX_TPM_AK_ECC_P256 && type != ATTEX_TPM_AK_RSA_2048))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tpm_ak_provision needs an AK type (ECC P-256 or RSA 2048) and "
                          "an output");
    if (persist_handle != 0 && (persist_handle >> 24) != 0x81)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "handle 0x%08x is not a persistent handle (0x81000000..0x81ffffff)",
                          persist_handle);
    tpm_conn c;
    tpm_ak ak;
    memset(&ak, 0, sizeof(ak));
    ak.handle = ESYS_TR_NONE;
    int ret = tpm_open(tcti, 0, &c, err);
    if (ret != ATTEX_OK)
        return ret;
    ret = ak_create(&c, type, &ak, err);
    if (ret == ATTEX_OK && persist_handle != 0) {
        ESYS_TR persistent = ESYS_TR_NONE;
        TSS2_RC rc = Esys_EvictControl(c.esys, ESYS_TR_RH_OWNER, ak.handle, ESYS_TR_PASSWORD,
                                       ESYS_TR_NONE, ESYS_TR_NONE, persist_handle, &persistent);
        if (rc != TSS2_RC_SUCCESS) {
            char what[100];
            snprintf(what, sizeof(what), "making the AK persistent at 0x%08x (taken already?)",
                     persist_handle);
            ret = tpm_fail(err, &c, rc, what);
        } else {
            (void)Esys_TR_Close(c.esys, &persistent);
        }
    }
    if (ret == ATTEX_OK)
        ret = pkey_pem(ak.pub, pem_out, err);
    ak_release(&c, &ak);
    tpm_close(&c);
    return ret;
}

static int evict_now(const char *tcti, uint32_t persist_handle, attex_error *err)
{
    if ((persist_handle >> 24) != 0x81)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "handle 0x%08x is not a persistent handle (0x81000000..0x81ffffff)",
                          persist_handle);
    tpm_conn c;
    int ret = tpm_open(tcti, 0, &c, err);
    if (ret != ATTEX_OK)
        return ret;
    ESYS_TR tr = ESYS_TR_NONE, none = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(c.esys, persist_handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &tr);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_EvictControl(c.esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, persist_handle, &none);
    if (rc != TSS2_RC_SUCCESS)
        ret = tpm_fail(err, &c, rc, "evicting the persistent object");
    tpm_close(&c);
    return ret;
}

static int reference_values_now(const char *tcti, const char *pcrs, attex_buf *out,
                                attex_error *err)
{
    if (out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tpm_reference_values needs an output");
    TPML_PCR_SELECTION sel;
    int ret = parse_pcrs(pcrs, &sel, err);
    if (ret != ATTEX_OK)
        return ret;
    pcr_val *vals = calloc(TPM_MAX_PCR_VALUES, sizeof(*vals));
    if (vals == NULL)
        return NOMEM(err);
    tpm_conn c;
    size_t n = 0;
    ret = tpm_open(tcti, 0, &c, err);
    if (ret == ATTEX_OK) {
        ret = read_pcrs(&c, &sel, vals, &n, err);
        tpm_close(&c);
    }
    /* {"pcrs": {"<bank>": {"<i>": ["<hex>"]}}}: the verifier's format; one value per PCR. */
    size_t cap = 64 + n * (2 * TPM_MAX_DIGEST + 32) + TPM_MAX_BANKS * 32, o = 0;
    char *s = ret == ATTEX_OK ? malloc(cap) : NULL;
    if (ret == ATTEX_OK && s == NULL)
        ret = NOMEM(err);
    if (ret == ATTEX_OK) {
        o += (size_t)snprintf(s + o, cap - o, "{\n  \"pcrs\": {");
        for (uint32_t b = 0; b < sel.count; b++) {
            uint16_t bank = sel.pcrSelections[b].hash;
            o += (size_t)snprintf(s + o, cap - o, "%s\n    \"%s\": {", b ? "," : "",
                                  tpm_hash_name(bank));
            int first = 1;
            for (unsigned i = 0; i < TPM_NUM_PCRS; i++) {
                const pcr_val *v = find_pcr(vals, n, bank, i);
                if (v == NULL)
                    continue;
                o += (size_t)snprintf(s + o, cap - o, "%s\n      \"%u\": [\"", first ? "" : ",",
                                      i);
                for (size_t k = 0; k < v->value.size; k++)
                    o += (size_t)snprintf(s + o, cap - o, "%02x", v->value.buffer[k]);
                o += (size_t)snprintf(s + o, cap - o, "\"]");
                first = 0;
            }
            o += (size_t)snprintf(s + o, cap - o, "\n    }");
        }
        o += (size_t)snprintf(s + o, cap - o, "\n  }\n}\n");
        out->data = (uint8_t *)s;
        out->len = o;
    }
    free(vals);
    return ret;
}

static int pcr_extend_now(const char *tcti, unsigned index, const uint8_t *data, size_t len,
                          attex_error *err)
{
    TPM2B_EVENT ev;
    if (index >= TPM_NUM_PCRS || (data == NULL && len > 0) || len > sizeof(ev.buffer))
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_tpm_pcr_extend needs a PCR index 0..23 and at most %zu bytes",
                          sizeof(ev.buffer));
    ev.size = (UINT16)len;
    if (len > 0)
        memcpy(ev.buffer, data, len);
    tpm_conn c;
    int ret = tpm_open(tcti, 0, &c, err);
    if (ret != ATTEX_OK)
        return ret;
    TPML_DIGEST_VALUES *d = NULL;
    TSS2_RC rc = Esys_PCR_Event(c.esys, ESYS_TR_PCR0 + index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &ev, &d);
    if (rc != TSS2_RC_SUCCESS)
        ret = tpm_fail(err, &c, rc, "extending a PCR (TPM2_PCR_Event)");
    Esys_Free(d);
    tpm_close(&c);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* The tools, bounded                                                     */

typedef enum { TOOL_PROVISION, TOOL_EVICT, TOOL_REFS, TOOL_EXTEND } tool_kind;

/* A tool's request, with copies of its inputs: it may outlive the caller (run_bounded). */
typedef struct tool_job {
    tool_kind kind;
    const char *tcti, *pcrs;
    attex_tpm_ak_type type;
    uint32_t handle;
    unsigned index;
    const uint8_t *data;
    size_t len;
    char *own_tcti, *own_pcrs; /* the copies the pointers above point to */
    uint8_t *own_data;
    attex_buf result;
    attex_buf *dest;
} tool_job;

static int tool_job_run(void *arg, attex_error *err)
{
    tool_job *t = arg;
    switch (t->kind) {
    case TOOL_PROVISION: return provision_now(t->tcti, t->type, t->handle, &t->result, err);
    case TOOL_EVICT: return evict_now(t->tcti, t->handle, err);
    case TOOL_REFS: return reference_values_now(t->tcti, t->pcrs, &t->result, err);
    default: return pcr_extend_now(t->tcti, t->index, t->data, t->len, err);
    }
}

static void tool_job_take(void *arg)
{
    tool_job *t = arg;
    if (t->dest != NULL) {
        *t->dest = t->result;
        t->result.data = NULL;
        t->result.len = 0;
    }
}

static void tool_job_free(void *arg)
{
    tool_job *t = arg;
    free(t->own_tcti);
    free(t->own_pcrs);
    free(t->own_data);
    attex_buf_free(&t->result);
    free(t);
}

/* run_tool copies the request and runs it bounded by the default timeout. */
static int run_tool(const tool_job *req, attex_error *err)
{
    tool_job *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NOMEM(err);
    *t = *req;
    if ((req->tcti != NULL && (t->own_tcti = strdup(req->tcti)) == NULL) ||
        (req->pcrs != NULL && (t->own_pcrs = strdup(req->pcrs)) == NULL) ||
        (req->len > 0 && (t->own_data = malloc(req->len)) == NULL)) {
        tool_job_free(t);
        return NOMEM(err);
    }
    if (req->len > 0)
        memcpy(t->own_data, req->data, req->len);
    t->tcti = t->own_tcti;
    t->pcrs = t->own_pcrs;
    t->data = t->own_data;
    return run_bounded(tool_job_run, t, tool_job_free, tool_job_take, 0,
                       req->tcti ? req->tcti : "default TCTI", err);
}

int attex_tpm_ak_provision(const char *tcti, attex_tpm_ak_type type, uint32_t persist_handle,
                           attex_buf *pem_out, attex_error *err)
{
    tool_job r;
    memset(&r, 0, sizeof(r));
    r.kind = TOOL_PROVISION;
    r.tcti = tcti;
    r.type = type;
    r.handle = persist_handle;
    r.dest = pem_out;
    if (pem_out == NULL)
        return provision_now(tcti, type, persist_handle, pem_out, err); /* refuses */
    return run_tool(&r, err);
}

int attex_tpm_ak_evict(const char *tcti, uint32_t persist_handle, attex_error *err)
{
    tool_job r;
    memset(&r, 0, sizeof(r));
    r.kind = TOOL_EVICT;
    r.tcti = tcti;
    r.handle = persist_handle;
    return run_tool(&r, err);
}

int attex_tpm_reference_values(const char *tcti, const char *pcrs, attex_buf *out,
                               attex_error *err)
{
    tool_job r;
    memset(&r, 0, sizeof(r));
    r.kind = TOOL_REFS;
    r.tcti = tcti;
    r.pcrs = pcrs;
    r.dest = out;
    if (out == NULL)
        return reference_values_now(tcti, pcrs, out, err); /* refuses */
    return run_tool(&r, err);
}

int attex_tpm_pcr_extend(const char *tcti, unsigned index, const uint8_t *data, size_t len,
                         attex_error *err)
{
    tool_job r;
    memset(&r, 0, sizeof(r));
    if (index >= TPM_NUM_PCRS || (data == NULL && len > 0) || len > sizeof(TPM2B_EVENT) - 2)
        return pcr_extend_now(tcti, index, data, len, err); /* refuses */
    r.kind = TOOL_EXTEND;
    r.tcti = tcti;
    r.index = index;
    r.data = data;
    r.len = len;
    return run_tool(&r, err);
}
