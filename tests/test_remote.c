/*
 * The remote Verifier client (attex_http) against a tiny Verifier played by
 * this test: a thread with a plain loopback socket that speaks just enough
 * HTTP/1.1 for the one-shot endpoint of docs/verifier.md. It really
 * appraises the forwarded evidence (sample verifier, with the binding the
 * request names) and issues an EAR for the binder, unless told to misbehave.
 *
 * Both RATS models end to end over real TLS 1.3 pairs:
 * - background check: the sample attester answers, the relying party's
 *   remote verifier forwards the evidence and validates the EAR;
 * - passport: the passport attester (inner: sample) fetches the EAR and
 *   presents it; the relying party's EAR verifier validates it.
 * Failures: Verifier down (connection refused), slow (no answer: timeout),
 * EAR signed by an unknown key, EAR for another connection, contraindicated
 * status, HTTP errors with problem details, malformed answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <attex/ear.h>
#include <attex/remote.h>
#include <attex/sample.h>

#include "b64.h"
#include "ear_internal.h"
#include "testutil.h"

static attex_error err;
static EVP_PKEY *ear_key, *rogue_key, *ak, *srv_key;
static X509 *srv_cert;

/* ---- the Verifier played by the test ------------------------------------------ */

typedef enum {
    RM_OK,
    RM_WRONG_KEY,
    RM_OTHER_NONCE,
    RM_CONTRA,
    RM_SLOW,
    RM_PROBLEM,
    RM_GARBAGE,
    RM_TEXT_TYPE,
    RM_BIG,
    RM_REDIRECT,
    RM_VERAISON
} rmode;

static struct {
    int fd, port;
    int tls_fd, tls_port;
    SSL_CTX *tls_ctx;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;
    rmode mode;
    int appraisals;
    attex_verifier *backend; /* the sample verifier */
} srv;

static rmode get_mode(void)
{
    pthread_mutex_lock(&srv.mu);
    rmode m = srv.mode;
    pthread_mutex_unlock(&srv.mu);
    return m;
}

static void set_mode(rmode m)
{
    pthread_mutex_lock(&srv.mu);
    srv.mode = m;
    pthread_mutex_unlock(&srv.mu);
}

/* One accepted connection: plain, or TLS when ssl is set (the HTTPS listener). */
typedef struct conn {
    int fd;
    SSL *ssl;
} conn;

static void conn_send(conn *c, const void *p, size_t n)
{
    if (c->ssl != NULL)
        SSL_write(c->ssl, p, (int)n);
    else
        send(c->fd, p, n, MSG_NOSIGNAL);
}

static ssize_t conn_recv(conn *c, void *p, size_t n)
{
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, (int)n);
        return r > 0 ? r : -1;
    }
    return recv(c->fd, p, n, 0);
}

static void respond(conn *c, int status, const char *type, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, strlen(body));
    conn_send(c, head, (size_t)n);
    conn_send(c, body, strlen(body));
}

static int b64_field(json_t *o, const char *name, uint8_t *out, size_t max, size_t *len)
{
    json_t *v = json_object_get(o, name);
    char why[B64_WHY_SIZE];
    return json_is_string(v) && b64url_decode_to(json_string_value(v), json_string_length(v), 0,
                                                 out, max, len, why, sizeof(why));
}

/* appraise plays the Verifier: sample appraisal of the forwarded CMW, then an EAR. */
static void appraise(conn *c, const char *req_body, size_t len)
{
    rmode m = get_mode();
    if (m == RM_PROBLEM) {
        respond(c, 422, "application/problem+json",
                "{\"type\":\"about:blank\",\"title\":\"Unprocessable\",\"status\":422,"
                "\"detail\":\"no scheme for this evidence\"}");
        return;
    }
    if (m == RM_GARBAGE) {
        respond(c, 200, "application/json", "{\"result\":\"x\"}");
        return;
    }
    if (m == RM_TEXT_TYPE) {
        respond(c, 200, "text/html", "<html></html>");
        return;
    }
    if (m == RM_BIG) {
        size_t n = ATTEX_REMOTE_MAX_RESPONSE + 1000;
        char *big = malloc(n + 1);
        memset(big, ' ', n);
        big[n] = 0;
        respond(c, 200, "application/json", big);
        free(big);
        return;
    }
    if (m == RM_REDIRECT) {
        static const char r[] = "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/"
                                "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        conn_send(c, r, sizeof(r) - 1);
        return;
    }
    json_t *o = json_loadb(req_body, len, 0, NULL);
    attex_binding b;
    memset(&b, 0, sizeof(b));
    size_t rd_len = 0, bl = 0, al = 0, cl = 0;
    uint8_t *cmw = malloc(65536);
    json_t *h = json_object_get(o, "hash");
    int ok = o != NULL && cmw != NULL && json_is_string(h) &&
             b64_field(o, "cmw", cmw, 65536, &cl) &&
             b64_field(o, "report_data", b.report_data, 64, &rd_len) && rd_len == 64 &&
             b64_field(o, "binder", b.binder, 48, &bl) &&
             b64_field(o, "aik_pub_hash", b.aik_pub_hash, 48, &al) && bl == al;
    if (ok) {
        b.hash = strcmp(json_string_value(h), "sha384") == 0 ? ATTEX_HASH_SHA384
                                                             : ATTEX_HASH_SHA256;
        b.hash_len = bl;
    }
    attex_cmw *rec = NULL;
    attex_error e;
    attex_appraisal a;
    memset(&a, 0, sizeof(a));
    if (!ok || attex_cmw_decode(cmw, cl, NULL, &rec, &e) != ATTEX_OK) {
        respond(c, 400, "application/problem+json",
                "{\"title\":\"Bad Request\",\"status\":400,\"detail\":\"malformed request\"}");
        goto out;
    }
    int rc = srv.backend->appraise(srv.backend->ctx, rec, &b, &a, &e);
    pthread_mutex_lock(&srv.mu);
    srv.appraisals++;
    pthread_mutex_unlock(&srv.mu);
    attex_ear ear;
    memset(&ear, 0, sizeof(ear));
    ear.iat = time(NULL);
    ear.exp = ear.iat + 120;
    snprintf(ear.verifier_developer, sizeof(ear.verifier_developer), "https://attex.dev");
    snprintf(ear.verifier_build, sizeof(ear.verifier_build), "test-verifier");
    memcpy(ear.nonce, b.binder, b.hash_len);
    ear.nonce_len = b.hash_len;
    if (m == RM_OTHER_NONCE)
        ear.nonce[3] ^= 0x40;
    ear.num_submods = 1;
    snprintf(ear.submods[0].name, sizeof(ear.submods[0].name), "sample");
    ear.submods[0].status = rc == ATTEX_OK ? a.verdict : ATTEX_VERDICT_CONTRAINDICATED;
    if (m == RM_CONTRA)
        ear.submods[0].status = ATTEX_VERDICT_CONTRAINDICATED;
    if (m == RM_VERAISON)
        snprintf(ear.profile, sizeof(ear.profile), ATTEX_EAR_PROFILE_VERAISON);
    attex_buf jwt = ATTEX_BUF_INIT;
    if (attex_ear_issue(&ear, m == RM_WRONG_KEY ? rogue_key : ear_key, &jwt, &e) != ATTEX_OK) {
        respond(c, 500, "application/problem+json", "{\"title\":\"issue failed\"}");
        goto out;
    }
    char *resp = malloc(jwt.len + 32);
    snprintf(resp, jwt.len + 32, "{\"ear\":\"%.*s\"}", (int)jwt.len, (const char *)jwt.data);
    respond(c, 200, "application/json", resp);
    free(resp);
    attex_buf_free(&jwt);
out:
    attex_appraisal_clear(&a);
    attex_cmw_free(rec);
    free(cmw);
    json_decref(o);
}

/* find_header returns the value after "name:" (case-insensitive), or NULL. */
static const char *find_header(const char *buf, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = buf; *p; p++)
        if (strncasecmp(p, name, n) == 0)
            return p + n;
    return NULL;
}

static void handle(conn *c)
{
    char *buf = malloc(262144);
    size_t len = 0;
    char *body = NULL;
    size_t want = 0;
    for (;;) {
        ssize_t r = conn_recv(c, buf + len, 262143 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        body = end + 4;
        const char *cl = find_header(buf, "content-length:");
        want = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
        if ((size_t)(buf + len - body) >= want)
            break;
    }
    if (body == NULL)
        goto out;
    if (get_mode() == RM_SLOW) {
        /* Never answer: wait until the client gives up and closes. */
        struct pollfd p = {c->fd, POLLIN, 0};
        for (int i = 0; i < 50; i++) {
            if (poll(&p, 1, 100) > 0) {
                char tmp[64];
                if (recv(c->fd, tmp, sizeof(tmp), MSG_PEEK) <= 0)
                    break;
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL);
            }
        }
        goto out;
    }
    if (strncmp(buf, "POST " ATTEX_REMOTE_APPRAISE_PATH " ", 6 + strlen(ATTEX_REMOTE_APPRAISE_PATH)) == 0) {
        appraise(c, body, want);
    } else if (strncmp(buf, "GET " ATTEX_REMOTE_DISCOVERY_PATH " ", 5 + strlen(ATTEX_REMOTE_DISCOVERY_PATH)) == 0) {
        attex_buf jwk = ATTEX_BUF_INIT;
        attex_error e;
        attex_ear_key_to_jwk(ear_key, &jwk, &e);
        char doc[1024];
        snprintf(doc, sizeof(doc), "{\"ear-verification-key\":%.*s,\"version\":\"test\"}",
                 (int)jwk.len, (const char *)jwk.data);
        respond(c, 200, "application/vnd.veraison.discovery+json", doc);
        attex_buf_free(&jwk);
    } else {
        respond(c, 404, "application/problem+json", "{\"title\":\"Not Found\",\"status\":404}");
    }
out:
    free(buf);
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&srv.mu);
        int stop = srv.stop;
        pthread_mutex_unlock(&srv.mu);
        if (stop)
            break;
        struct pollfd p[2] = {{srv.fd, POLLIN, 0}, {srv.tls_fd, POLLIN, 0}};
        if (poll(p, 2, 100) <= 0)
            continue;
        int tls = !(p[0].revents & POLLIN);
        conn c = {accept(tls ? srv.tls_fd : srv.fd, NULL, NULL), NULL};
        if (c.fd < 0)
            continue;
        struct timeval tv = {3, 0};
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (tls) {
            c.ssl = SSL_new(srv.tls_ctx);
            if (c.ssl == NULL || SSL_set_fd(c.ssl, c.fd) != 1 || SSL_accept(c.ssl) != 1) {
                /* A client that does not trust us hangs up during the handshake. */
                SSL_free(c.ssl);
                close(c.fd);
                continue;
            }
        }
        handle(&c);
        if (c.ssl != NULL) {
            SSL_shutdown(c.ssl);
            SSL_free(c.ssl);
        }
        close(c.fd);
    }
    return NULL;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- one attested exchange: the server attests, the client relies ----------------- */

static int exchange(tu_pair *p, attex_ea_session *cs, attex_ea_session *ss,
                    const attex_attest_policy *pol, const attex_attester *a,
                    attex_attest_result **r)
{
    attex_buf req = ATTEX_BUF_INIT, req_rx = ATTEX_BUF_INIT, auth = ATTEX_BUF_INIT,
              auth_rx = ATTEX_BUF_INIT;
    int rc = attex_attest_request_create(cs, pol, NULL, &req, &err);
    if (rc == ATTEX_OK && tu_transfer(p, 0, req.data, req.len, &req_rx)) {
        attex_ea_identity id;
        memset(&id, 0, sizeof(id));
        id.cert = srv_cert;
        id.key = srv_key;
        rc = attex_attest_answer(ss, req_rx.data, req_rx.len, &id, a, 0, &auth, &err);
        if (rc == ATTEX_OK && tu_transfer(p, 1, auth.data, auth.len, &auth_rx))
            rc = attex_attest_validate(cs, req.data, req.len, auth_rx.data, auth_rx.len, NULL,
                                       pol, r, &err);
        else if (rc == ATTEX_OK)
            rc = ATTEX_ERR_CRYPTO;
    }
    attex_buf_free(&req);
    attex_buf_free(&req_rx);
    attex_buf_free(&auth);
    attex_buf_free(&auth_rx);
    return rc;
}

static char url[64], down_url[64];

static void test_background_check(const attex_attester *sample)
{
    EVP_PKEY *keys[1] = {ear_key};
    attex_remote_verifier_config rc;
    memset(&rc, 0, sizeof(rc));
    rc.http.url = url;
    rc.keys = keys;
    rc.num_keys = 1;
    attex_verifier *rv = attex_remote_verifier_new(&rc, &err);
    CHECK(rv != NULL);
    if (rv == NULL)
        return;
    CHECK(attex_remote_verifier_count(rv) == 3);
    CHECK(attex_remote_verifier_at(rv, 0) == rv);
    CHECK(attex_remote_verifier_at(rv, 3) == NULL);
    const attex_verifier *vs[3];
    for (size_t i = 0; i < 3; i++)
        vs[i] = attex_remote_verifier_at(rv, i);
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = vs;
    pol.num_verifiers = 3;
    pol.require = 1;
    static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};
    for (int si = 0; si < 2; si++) {
        tu_pair p;
        tu_pair_opts po = {suites[si], 0, 0, 0};
        if (!tu_pair_open(&p, &po)) {
            CHECK(!"pair");
            continue;
        }
        attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
        attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
        attex_attest_result *r = NULL;
        set_mode(RM_OK);
        int before = srv.appraisals;
        CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_OK, &err);
        CHECK(srv.appraisals == before + 1);
        if (r != NULL) {
            const char *vn = NULL;
            const attex_appraisal *a = attex_attest_result_appraisal(r, 0, &vn);
            CHECK(vn && strcmp(vn, "remote") == 0);
            CHECK(a && a->verdict == ATTEX_VERDICT_AFFIRMING);
            CHECK(a && strstr(a->reason, "test-verifier") != NULL);
            CHECK(a && a->claims_json && strstr(a->claims_json, "ear_status") != NULL);
        }
        attex_attest_result_free(r);
        r = NULL;
        static const struct {
            rmode m;
            const char *msg;
        } bad[] = {{RM_WRONG_KEY, "signature does not verify"},
                   {RM_OTHER_NONCE, "eat_nonce does not match"},
                   {RM_CONTRA, "contraindicated"},
                   {RM_PROBLEM, "HTTP 422: \"Unprocessable\" \"no scheme for this evidence\""},
                   {RM_GARBAGE, "without an \"ear\""},
                   {RM_TEXT_TYPE, "Content-Type"},
                   {RM_BIG, "more than 262144 bytes"},
                   {RM_REDIRECT, "HTTP 307"}};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            set_mode(bad[i].m);
            CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_ERR_ATTESTATION, &err);
            if (strstr(err.message, bad[i].msg) == NULL) {
                fprintf(stderr, "mode %d: message lacks \"%s\": %s\n", (int)bad[i].m,
                        bad[i].msg, err.message);
                tu_failed++;
            }
            attex_attest_result_free(r);
            r = NULL;
        }
        set_mode(RM_OK);
        attex_ea_session_free(cs);
        attex_ea_session_free(ss);
        tu_pair_close(&p);
    }
    attex_remote_verifier_free(rv);

    /* Verifier down, and Verifier slow: errors that say so, never acceptance. */
    tu_pair p;
    if (!tu_pair_open(&p, NULL)) {
        CHECK(!"pair");
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    attex_attest_result *r = NULL;
    const char *sample_type[1] = {ATTEX_SAMPLE_MEDIA_TYPE};
    rc.media_types = sample_type;
    rc.num_media_types = 1;
    rc.http.url = down_url;
    rv = attex_remote_verifier_new(&rc, &err);
    pol.verifiers = (const attex_verifier *const *)&rv;
    pol.num_verifiers = 1;
    CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "cannot connect to the Verifier") != NULL);
    attex_attest_result_free(r);
    r = NULL;
    attex_remote_verifier_free(rv);
    rc.http.url = url;
    rc.http.timeout_ms = 400;
    rv = attex_remote_verifier_new(&rc, &err);
    pol.verifiers = (const attex_verifier *const *)&rv;
    set_mode(RM_SLOW);
    CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "did not answer in time") != NULL);
    CHECK(strstr(err.message, "400 ms") != NULL);
    set_mode(RM_OK);
    attex_attest_result_free(r);
    r = NULL;
    attex_remote_verifier_free(rv);

    /* Trust on first use: the key from the discovery document. */
    rc.http.timeout_ms = 0;
    rc.keys = NULL;
    rc.num_keys = 0;
    rv = attex_remote_verifier_new(&rc, &err);
    CHECK(rv == NULL); /* off by default: no key is an error */
    CHECK(strstr(err.message, "trust_on_first_use") != NULL);
    rc.trust_on_first_use = 1;
    rv = attex_remote_verifier_new(&rc, &err);
    CHECK(rv != NULL);
    pol.verifiers = (const attex_verifier *const *)&rv;
    CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_OK, &err);
    attex_attest_result_free(r);
    r = NULL;
    attex_remote_verifier_free(rv);
    rc.http.url = down_url;
    CHECK(attex_remote_verifier_new(&rc, &err) == NULL);
    CHECK(strstr(err.message, "cannot connect") != NULL);

    /* Configuration errors. */
    rc.trust_on_first_use = 0;
    rc.keys = (EVP_PKEY *const *)keys;
    rc.num_keys = 1;
    rc.http.url = "ftp://127.0.0.1/";
    CHECK(attex_remote_verifier_new(&rc, &err) == NULL);
    rc.http.url = NULL;
    CHECK(attex_remote_verifier_new(&rc, &err) == NULL);
    rc.http.url = url;
    const char *nokey[1] = {"no/such/ear-key.pem"};
    rc.key_paths = nokey;
    rc.num_key_paths = 1;
    CHECK(attex_remote_verifier_new(&rc, &err) == NULL);
    CHECK(strstr(err.message, "no/such/ear-key.pem") != NULL);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    tu_pair_close(&p);
}

static void test_passport(const attex_attester *sample)
{
    EVP_PKEY *keys[1] = {ear_key};
    attex_ear_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.keys = keys;
    vc.num_keys = 1;
    attex_verifier *ev = attex_ear_verifier_new(&vc, &err);
    const attex_verifier *vs[1] = {ev};
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = vs;
    pol.num_verifiers = 1;
    pol.require = 1;
    pol.accepted_ind = ATTEX_CMW_IND_ATTESTATION_RESULTS;

    vc.media_type = ATTEX_EAR_MEDIA_TYPE_VERAISON;
    attex_verifier *ev_veraison = attex_ear_verifier_new(&vc, &err);
    const attex_verifier *both[2] = {ev, ev_veraison};
    attex_attest_policy pol_both = pol;
    pol_both.verifiers = both;
    pol_both.num_verifiers = 2;

    attex_passport_attester_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.http.url = url;
    pc.inner = sample;
    attex_attester *pa = attex_passport_attester_new(&pc, &err);
    pc.keys = keys;
    pc.num_keys = 1;
    attex_attester *pa_checked = attex_passport_attester_new(&pc, &err);
    CHECK(pa != NULL && pa_checked != NULL);
    pc.http.url = down_url;
    attex_attester *pa_down = attex_passport_attester_new(&pc, &err);
    pc.http.url = url;
    pc.http.timeout_ms = 400;
    attex_attester *pa_slow = attex_passport_attester_new(&pc, &err);
    CHECK(pa_down != NULL && pa_slow != NULL);
    if (pa == NULL || pa_checked == NULL || pa_down == NULL || pa_slow == NULL || ev == NULL)
        goto out;
    static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};
    for (int si = 0; si < 2; si++) {
        tu_pair p;
        tu_pair_opts po = {suites[si], 0, 0, 0};
        if (!tu_pair_open(&p, &po)) {
            CHECK(!"pair");
            continue;
        }
        attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
        attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
        attex_attest_result *r = NULL;
        set_mode(RM_OK);
        CHECK_RC(exchange(&p, cs, ss, &pol, pa, &r), ATTEX_OK, &err);
        if (r != NULL) {
            const attex_cmw *c = attex_attest_result_cmw(r);
            CHECK(c && attex_cmw_ind(c) == ATTEX_CMW_IND_ATTESTATION_RESULTS);
            CHECK(c && strcmp(attex_cmw_media_type(c), ATTEX_EAR_MEDIA_TYPE) == 0);
            const attex_appraisal *a = attex_attest_result_appraisal(r, 0, NULL);
            CHECK(a && a->verdict == ATTEX_VERDICT_AFFIRMING);
        }
        attex_attest_result_free(r);
        r = NULL;
        CHECK_RC(exchange(&p, cs, ss, &pol, pa_checked, &r), ATTEX_OK, &err);
        attex_attest_result_free(r);
        r = NULL;
        /* An EAR of the Veraison profile is presented under its own media type. */
        set_mode(RM_VERAISON);
        CHECK_RC(exchange(&p, cs, ss, &pol_both, pa, &r), ATTEX_OK, &err);
        if (r != NULL) {
            const attex_cmw *c = attex_attest_result_cmw(r);
            CHECK(c && strcmp(attex_cmw_media_type(c), ATTEX_EAR_MEDIA_TYPE_VERAISON) == 0);
        }
        attex_attest_result_free(r);
        r = NULL;
        /* ... which a relying party with only the current-profile type refuses. */
        CHECK_RC(exchange(&p, cs, ss, &pol, pa, &r), ATTEX_ERR_ATTESTATION, &err);
        attex_attest_result_free(r);
        r = NULL;
        set_mode(RM_OK);
        /* Signed by an unknown key: presented (no keys) and refused by the relying party ... */
        set_mode(RM_WRONG_KEY);
        CHECK_RC(exchange(&p, cs, ss, &pol, pa, &r), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strstr(err.message, "signature does not verify") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        /* ... or refused by the attester that knows the key. */
        CHECK(exchange(&p, cs, ss, &pol, pa_checked, &r) != ATTEX_OK);
        CHECK(strstr(err.message, "unusable EAR") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        /* For another connection: the attester checks its binder. */
        set_mode(RM_OTHER_NONCE);
        CHECK(exchange(&p, cs, ss, &pol, pa, &r) != ATTEX_OK);
        CHECK(strstr(err.message, "eat_nonce does not match") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        /* Contraindicated: presented, refused by the default policy. */
        set_mode(RM_CONTRA);
        CHECK_RC(exchange(&p, cs, ss, &pol, pa, &r), ATTEX_ERR_ATTESTATION, &err);
        CHECK(strstr(err.message, "contraindicated") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        set_mode(RM_PROBLEM);
        CHECK(exchange(&p, cs, ss, &pol, pa, &r) != ATTEX_OK);
        CHECK(strstr(err.message, "HTTP 422") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        set_mode(RM_OK);
        /* Down and slow. */
        CHECK_RC(exchange(&p, cs, ss, &pol, pa_down, &r), ATTEX_ERR_UNAVAILABLE, &err);
        CHECK(strstr(err.message, "cannot connect to the Verifier") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        set_mode(RM_SLOW);
        CHECK_RC(exchange(&p, cs, ss, &pol, pa_slow, &r), ATTEX_ERR_UNAVAILABLE, &err);
        CHECK(strstr(err.message, "did not answer in time") != NULL);
        attex_attest_result_free(r);
        r = NULL;
        set_mode(RM_OK);
        /* A plain relying party with no EAR verifier refuses the EAR (no verifier for it). */
        attex_attest_policy none = pol;
        none.num_verifiers = 0;
        CHECK_RC(exchange(&p, cs, ss, &none, pa, &r), ATTEX_ERR_ATTESTATION, &err);
        attex_attest_result_free(r);
        attex_ea_session_free(cs);
        attex_ea_session_free(ss);
        tu_pair_close(&p);
    }
out:
    attex_passport_attester_free(pa);
    attex_passport_attester_free(pa_checked);
    attex_passport_attester_free(pa_down);
    attex_passport_attester_free(pa_slow);
    attex_ear_verifier_free(ev);
    attex_ear_verifier_free(ev_veraison);
    memset(&pc, 0, sizeof(pc));
    pc.http.url = url;
    CHECK(attex_passport_attester_new(&pc, &err) == NULL); /* no inner attester */
}

static char tls_url[64];
#define CA_FILE "test_remote_ca.pem"

/* HTTPS: the Verifier's certificate must chain to ca_file; without it, nothing is accepted. */
static void test_https(const attex_attester *sample)
{
    EVP_PKEY *keys[1] = {ear_key};
    attex_remote_verifier_config rc;
    memset(&rc, 0, sizeof(rc));
    rc.http.url = tls_url;
    rc.http.ca_file = CA_FILE;
    rc.keys = keys;
    rc.num_keys = 1;
    attex_verifier *rv = attex_remote_verifier_new(&rc, &err);
    rc.http.ca_file = NULL;
    attex_verifier *rv_untrusting = attex_remote_verifier_new(&rc, &err);
    CHECK(rv != NULL && rv_untrusting != NULL);
    tu_pair p;
    if (rv == NULL || rv_untrusting == NULL || !tu_pair_open(&p, NULL)) {
        attex_remote_verifier_free(rv);
        attex_remote_verifier_free(rv_untrusting);
        return;
    }
    attex_ea_session *cs = attex_ea_session_new_openssl(p.client, &err);
    attex_ea_session *ss = attex_ea_session_new_openssl(p.server, &err);
    attex_attest_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.verifiers = (const attex_verifier *const *)&rv;
    pol.num_verifiers = 1;
    pol.require = 1;
    attex_attest_result *r = NULL;
    set_mode(RM_OK);
    CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_OK, &err);
    attex_attest_result_free(r);
    r = NULL;
    pol.verifiers = (const attex_verifier *const *)&rv_untrusting;
    CHECK_RC(exchange(&p, cs, ss, &pol, sample, &r), ATTEX_ERR_ATTESTATION, &err);
    CHECK(strstr(err.message, "certificate") != NULL);
    attex_attest_result_free(r);
    r = NULL;
    /* Passport over HTTPS too. */
    attex_passport_attester_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.http.url = tls_url;
    pc.http.ca_file = CA_FILE;
    pc.inner = sample;
    attex_attester *pa = attex_passport_attester_new(&pc, &err);
    pc.http.ca_file = NULL;
    attex_attester *pa_untrusting = attex_passport_attester_new(&pc, &err);
    attex_ear_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.keys = keys;
    vc.num_keys = 1;
    attex_verifier *ev = attex_ear_verifier_new(&vc, &err);
    pol.verifiers = (const attex_verifier *const *)&ev;
    if (pa != NULL && pa_untrusting != NULL && ev != NULL) {
        CHECK_RC(exchange(&p, cs, ss, &pol, pa, &r), ATTEX_OK, &err);
        attex_attest_result_free(r);
        r = NULL;
        CHECK_RC(exchange(&p, cs, ss, &pol, pa_untrusting, &r), ATTEX_ERR_BAD_CERTIFICATE, &err);
        CHECK(strstr(err.message, "not trusted") != NULL);
        attex_attest_result_free(r);
        r = NULL;
    } else {
        CHECK(!"passport over https");
    }
    attex_passport_attester_free(pa);
    attex_passport_attester_free(pa_untrusting);
    attex_ear_verifier_free(ev);
    attex_ea_session_free(cs);
    attex_ea_session_free(ss);
    tu_pair_close(&p);
    attex_remote_verifier_free(rv);
    attex_remote_verifier_free(rv_untrusting);
}

/* tls_setup makes the HTTPS listener's context: a certificate for IP 127.0.0.1, written to CA_FILE. */
static int tls_setup(void)
{
    EVP_PKEY *k = tu_key("p256");
    X509 *c = tu_cert(k, "attex test verifier", NULL, NULL, 0, 1);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "IP:127.0.0.1");
    int ok = k != NULL && c != NULL && san != NULL && X509_add_ext(c, san, -1) == 1 &&
             X509_sign(c, k, EVP_sha256()) > 0;
    X509_EXTENSION_free(san);
    FILE *f = ok ? fopen(CA_FILE, "w") : NULL;
    ok = f != NULL && PEM_write_X509(f, c) == 1;
    if (f != NULL)
        fclose(f);
    srv.tls_ctx = SSL_CTX_new(TLS_server_method());
    ok = ok && srv.tls_ctx != NULL && SSL_CTX_use_certificate(srv.tls_ctx, c) == 1 &&
         SSL_CTX_use_PrivateKey(srv.tls_ctx, k) == 1;
    X509_free(c);
    EVP_PKEY_free(k);
    return ok;
}

static void test_appraise_direct(void)
{
    /* attex_remote_appraise refuses bad arguments without any network use. */
    attex_http_opts h;
    memset(&h, 0, sizeof(h));
    h.url = url;
    attex_binding b;
    memset(&b, 0, sizeof(b));
    attex_buf jwt = ATTEX_BUF_INIT;
    uint8_t junk[3] = {1, 2, 3};
    CHECK_RC(attex_remote_appraise(&h, junk, 3, &b, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT, &err);
    b.hash_len = 32;
    CHECK(attex_remote_appraise(&h, junk, 3, &b, &jwt, &err) != ATTEX_OK); /* not a CMW */
    h.url = "file:///etc/passwd";
    CHECK_RC(attex_remote_appraise(&h, junk, 3, &b, &jwt, &err), ATTEX_ERR_INVALID_ARGUMENT,
             &err);
    /* A Verifier that is down is UNAVAILABLE (retryable), not a verdict. */
    h.url = down_url;
    attex_buf enc = ATTEX_BUF_INIT;
    attex_cmw *rec = attex_cmw_record_new(ATTEX_SAMPLE_MEDIA_TYPE, (const uint8_t *)"x", 1,
                                          ATTEX_CMW_IND_EVIDENCE, &err);
    CHECK(rec != NULL && attex_cmw_encode(rec, ATTEX_CMW_CBOR, &enc, &err) == ATTEX_OK);
    CHECK_RC(attex_remote_appraise(&h, enc.data, enc.len, &b, &jwt, &err), ATTEX_ERR_UNAVAILABLE,
             &err);
    CHECK(jwt.data == NULL);
    /* A 404 (wrong base path) is an error that names the status. */
    char wrong[96];
    snprintf(wrong, sizeof(wrong), "%s/elsewhere", url);
    h.url = wrong;
    CHECK_RC(attex_remote_appraise(&h, enc.data, enc.len, &b, &jwt, &err), ATTEX_ERR_ATTESTATION,
             &err);
    CHECK(strstr(err.message, "HTTP 404") != NULL);
    attex_cmw_free(rec);
    attex_buf_free(&enc);
    EVP_PKEY *k = NULL;
    h.url = url;
    CHECK_RC(attex_remote_fetch_key(&h, &k, &err), ATTEX_OK, &err);
    CHECK(k != NULL && EVP_PKEY_eq(k, ear_key) == 1);
    EVP_PKEY_free(k);
}

int main(void)
{
    /* The loopback Verifier must be reached directly, whatever proxy the environment names. */
    static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
                                          "all_proxy",  "ALL_PROXY",   "HTTP_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
    ear_key = tu_key("p256");
    rogue_key = tu_key("p256");
    ak = tu_key("p256");
    srv_key = tu_key("p256");
    srv_cert = tu_cert(srv_key, "server", NULL, NULL, 0, 1);

    attex_sample_attester_config ac;
    memset(&ac, 0, sizeof(ac));
    ac.key = ak;
    attex_attester *sample = attex_sample_attester_new(&ac, &err);
    attex_buf refs = ATTEX_BUF_INIT;
    CHECK_RC(attex_sample_reference_values(&ac, &refs, &err), ATTEX_OK, &err);
    EVP_PKEY *trusted[1] = {ak};
    attex_sample_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    vc.trusted_keys = trusted;
    vc.num_trusted_keys = 1;
    vc.reference_values_json = (const char *)refs.data;
    srv.backend = attex_sample_verifier_new(&vc, &err);
    CHECK(sample != NULL && srv.backend != NULL);

    pthread_mutex_init(&srv.mu, NULL);
    srv.fd = listen_loopback(&srv.port);
    srv.tls_fd = listen_loopback(&srv.tls_port);
    CHECK(srv.tls_fd >= 0 && tls_setup());
    snprintf(tls_url, sizeof(tls_url), "https://127.0.0.1:%d", srv.tls_port);
    int down_port = 0, down_fd = listen_loopback(&down_port);
    if (down_fd >= 0)
        close(down_fd); /* nothing listens there now: connection refused */
    CHECK(srv.fd >= 0 && down_fd >= 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
    snprintf(down_url, sizeof(down_url), "http://127.0.0.1:%d", down_port);
    if (srv.fd >= 0 && sample != NULL && srv.backend != NULL &&
        pthread_create(&srv.th, NULL, serve, NULL) == 0) {
        test_appraise_direct();
        test_background_check(sample);
        test_passport(sample);
        test_https(sample);
        pthread_mutex_lock(&srv.mu);
        srv.stop = 1;
        pthread_mutex_unlock(&srv.mu);
        pthread_join(srv.th, NULL);
    }
    if (srv.fd >= 0)
        close(srv.fd);
    if (srv.tls_fd >= 0)
        close(srv.tls_fd);
    SSL_CTX_free(srv.tls_ctx);
    remove(CA_FILE);
    pthread_mutex_destroy(&srv.mu);
    attex_sample_verifier_free(srv.backend);
    attex_sample_attester_free(sample);
    attex_buf_free(&refs);
    X509_free(srv_cert);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(ear_key);
    EVP_PKEY_free(rogue_key);
    return tu_finish("test_remote");
}
