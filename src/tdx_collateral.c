/*
 * attex: Intel TDX collateral (PCS response formats) and TCB evaluation.
 *
 * Collateral is read once when a verifier is made: TCB Info and QE Identity
 * JSON documents (their signatures by the Intel SGX TCB Signing certificate
 * are checked here, once), CRLs (their signatures by their issuer, once) and
 * the issuer chains (verified to the pinned root, once). What depends on the
 * validation time (validity windows) is left to each appraisal.
 *
 * References: Intel PCS API v4 (TCB Info for TDX, version 3; Enclave
 * Identity, version 2), Intel SGX PCK Certificate and CRL Profile, and the
 * TCB level rules of Intel's DCAP Quote Verification Library ("QVL").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bytes.h"
#include "crypto.h"
#include "internal.h"
#include "tdx_internal.h"

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")
#define BAD(err, ...) attex_fail((err), ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE, __VA_ARGS__)

#define MAX_COLLATERAL_FILE (1u << 20)
#define MAX_COLLATERAL_FILES 64
#define MAX_LEVELS 256

/* ---------------------------------------------------------------------- */
/* Hex and time                                                           */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int tdx_time_parse(const char *s, int64_t *out)
{
    /* Intel PCS: issueDate/nextUpdate are ISO 8601 UTC, "YYYY-MM-DDThh:mm:ssZ". */
    if (s == NULL || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return 0;
    int64_t y, mo, d, h, mi, se;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return 0;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return 0;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 1;
}

void tdx_time_format(int64_t t, char out[32])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y,
             (long long)m, (long long)d, (long long)(secs / 3600), (long long)(secs / 60 % 60),
             (long long)(secs % 60));
    /* Years beyond 9999 do not occur in X.509 or Intel collateral; cut rather than overflow. */
    memcpy(out, tmp, 31);
    out[31] = '\0';
}

int tdx_asn1_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    *out = days_from_civil((int64_t)tm.tm_year + 1900, (int64_t)tm.tm_mon + 1, tm.tm_mday) *
               86400 +
           (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return 1;
}

int attex_tdx_parse_time(const char *text, int64_t *out, attex_error *err)
{
    if (out == NULL || !tdx_time_parse(text, out))
        return BAD(err, "\"%.40s\" is not a UTC time of the form YYYY-MM-DDThh:mm:ssZ",
                   text != NULL ? text : "(null)");
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Statuses and convergence                                               */

static const char *const status_names[] = {
    "UpToDate",  "SWHardeningNeeded",           "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",          "OutOfDate",
    "OutOfDateConfigurationNeeded", "Revoked", "NoMatchingTcbLevel"};

const char *tdx_tcb_status_name(tdx_tcb_status s)
{
    return (size_t)s < ATTEX_ARRAY_LEN(status_names) ? status_names[s] : "?";
}

static int status_parse(const char *s, tdx_tcb_status *out)
{
    /* Intel PCS TCB Info v3: tcbStatus values (NoMatchingTcbLevel is ours, never parsed). */
    for (size_t i = 0; i < TDX_TCB_NO_MATCH; i++)
        if (strcmp(s, status_names[i]) == 0) {
            *out = (tdx_tcb_status)i;
            return 1;
        }
    return 0;
}

tdx_tcb_status tdx_converge(tdx_tcb_status platform, tdx_tcb_status other)
{
    /*
     * Intel QVL (convergeTcbStatusWithQeTcbStatus and its TDX module twin):
     * an out-of-date QE or TDX module makes an otherwise current platform
     * out of date, keeping "configuration needed"; a revoked one revokes.
     */
    if (platform == TDX_TCB_NO_MATCH || other == TDX_TCB_NO_MATCH)
        return TDX_TCB_NO_MATCH;
    if (other == TDX_TCB_REVOKED)
        return TDX_TCB_REVOKED;
    if (other == TDX_TCB_OUT_OF_DATE) {
        if (platform == TDX_TCB_UP_TO_DATE || platform == TDX_TCB_SW_HARDENING_NEEDED)
            return TDX_TCB_OUT_OF_DATE;
        if (platform == TDX_TCB_CONFIGURATION_NEEDED ||
            platform == TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    return platform;
}

/* ---------------------------------------------------------------------- */
/* JSON parsing of TCB Info and QE Identity                               */

/* Strict object access: every key must be one the caller knows. */
static int only_keys(const json_t *obj, const char *const *keys, size_t n, const char *what,
                     attex_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)obj, k, v)
    {
        (void)v;
        size_t i;
        for (i = 0; i < n && strcmp(k, keys[i]) != 0; i++)
            ;
        if (i == n)
            return BAD(err, "%s has an unknown member \"%.40s\"", what, k);
    }
    return ATTEX_OK;
}

static int get_hex(const json_t *obj, const char *key, uint8_t *out, size_t n, const char *what,
                   attex_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || !util_unhex(json_string_value(v), json_string_length(v), out, n))
        return BAD(err, "%s: \"%s\" must be %zu bytes in hex", what, key, n);
    return ATTEX_OK;
}

static int get_uint(const json_t *obj, const char *key, int64_t max, int64_t *out,
                    const char *what, attex_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return BAD(err, "%s: \"%s\" must be an integer from 0 to %lld", what, key,
                   (long long)max);
    *out = (int64_t)json_integer_value(v);
    return ATTEX_OK;
}

static int get_time(const json_t *obj, const char *key, int64_t *out, const char *what,
                    attex_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || !tdx_time_parse(json_string_value(v), out))
        return BAD(err, "%s: \"%s\" must be a time YYYY-MM-DDThh:mm:ssZ", what, key);
    return ATTEX_OK;
}

static void levels_free(tdx_tcb_level *l, size_t n)
{
    for (size_t i = 0; l != NULL && i < n; i++) {
        free(l[i].tcb_date);
        json_decref(l[i].advisories);
    }
    free(l);
}

/* The 16 {"svn": n, ...} components of sgxtcbcomponents / tdxtcbcomponents. */
static int get_components(const json_t *tcb, const char *key, uint8_t out[16], const char *what,
                          attex_error *err)
{
    json_t *a = json_object_get(tcb, key);
    if (!json_is_array(a) || json_array_size(a) != 16)
        return BAD(err, "%s: \"%s\" must be an array of 16 components", what, key);
    for (size_t i = 0; i < 16; i++) {
        json_t *c = json_array_get(a, i);
        int64_t svn;
        if (!json_is_object(c) || get_uint(c, "svn", 255, &svn, what, err) != ATTEX_OK)
            return BAD(err, "%s: \"%s\"[%zu] must be an object with an svn from 0 to 255", what,
                       key, i);
        out[i] = (uint8_t)svn;
    }
    return ATTEX_OK;
}

/* kind: 0 = platform level (sgx/tdx components), 1 = isvsvn only. */
static int parse_levels(const json_t *arr, int kind, tdx_tcb_level **out, size_t *num,
                        const char *what, attex_error *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_LEVELS)
        return BAD(err, "%s: \"tcbLevels\" must be a non-empty array (at most %d)", what,
                   MAX_LEVELS);
    size_t n = json_array_size(arr);
    tdx_tcb_level *l = calloc(n, sizeof(*l));
    if (l == NULL)
        return NOMEM(err);
    static const char *const level_keys[] = {"tcb", "tcbDate", "tcbStatus", "advisoryIDs"};
    static const char *const tcb_keys0[] = {"sgxtcbcomponents", "pcesvn", "tdxtcbcomponents"};
    static const char *const tcb_keys1[] = {"isvsvn"};
    int ret = ATTEX_OK;
    for (size_t i = 0; i < n && ret == ATTEX_OK; i++) {
        json_t *lv = json_array_get(arr, i);
        if (!json_is_object(lv)) {
            ret = BAD(err, "%s: tcbLevels[%zu] is not an object", what, i);
            break;
        }
        if ((ret = only_keys(lv, level_keys, 4, what, err)) != ATTEX_OK)
            break;
        json_t *tcb = json_object_get(lv, "tcb");
        if (!json_is_object(tcb)) {
            ret = BAD(err, "%s: tcbLevels[%zu] has no \"tcb\" object", what, i);
            break;
        }
        int64_t v;
        if (kind == 0) {
            if ((ret = only_keys(tcb, tcb_keys0, 3, what, err)) != ATTEX_OK ||
                (ret = get_components(tcb, "sgxtcbcomponents", l[i].sgx_svn, what, err)) !=
                    ATTEX_OK ||
                (ret = get_components(tcb, "tdxtcbcomponents", l[i].tdx_svn, what, err)) !=
                    ATTEX_OK ||
                (ret = get_uint(tcb, "pcesvn", 65535, &v, what, err)) != ATTEX_OK)
                break;
            l[i].pcesvn = (uint16_t)v;
        } else {
            if ((ret = only_keys(tcb, tcb_keys1, 1, what, err)) != ATTEX_OK ||
                (ret = get_uint(tcb, "isvsvn", 65535, &v, what, err)) != ATTEX_OK)
                break;
            l[i].isvsvn = (uint16_t)v;
        }
        json_t *st = json_object_get(lv, "tcbStatus");
        if (!json_is_string(st) || !status_parse(json_string_value(st), &l[i].status)) {
            ret = BAD(err, "%s: tcbLevels[%zu] has an unknown tcbStatus", what, i);
            break;
        }
        int64_t date;
        if ((ret = get_time(lv, "tcbDate", &date, what, err)) != ATTEX_OK)
            break;
        l[i].tcb_date = strdup(json_string_value(json_object_get(lv, "tcbDate")));
        if (l[i].tcb_date == NULL) {
            ret = NOMEM(err);
            break;
        }
        json_t *adv = json_object_get(lv, "advisoryIDs");
        if (adv != NULL) {
            size_t k;
            json_t *a;
            if (!json_is_array(adv)) {
                ret = BAD(err, "%s: tcbLevels[%zu].advisoryIDs is not an array", what, i);
                break;
            }
            json_array_foreach(adv, k, a)
            {
                if (!json_is_string(a))
                    ret = BAD(err, "%s: tcbLevels[%zu].advisoryIDs[%zu] is not a string", what,
                              i, k);
            }
            l[i].advisories = json_incref(adv);
        }
    }
    if (ret != ATTEX_OK) {
        levels_free(l, n);
        return ret;
    }
    *out = l;
    *num = n;
    return ATTEX_OK;
}

void tdx_tcb_info_clear(tdx_tcb_info *t)
{
    if (t == NULL)
        return;
    levels_free(t->levels, t->num_levels);
    for (size_t i = 0; t->modules != NULL && i < t->num_modules; i++)
        levels_free(t->modules[i].levels, t->modules[i].num_levels);
    free(t->modules);
    memset(t, 0, sizeof(*t));
}

static int parse_module(const json_t *m, uint8_t mrsigner[48], uint8_t attr[8], uint8_t mask[8],
                        const char *what, attex_error *err)
{
    int ret;
    if (!json_is_object(m))
        return BAD(err, "%s: a TDX module description is not an object", what);
    if ((ret = get_hex(m, "mrsigner", mrsigner, 48, what, err)) != ATTEX_OK ||
        (ret = get_hex(m, "attributes", attr, 8, what, err)) != ATTEX_OK ||
        (ret = get_hex(m, "attributesMask", mask, 8, what, err)) != ATTEX_OK)
        return ret;
    return ATTEX_OK;
}

int tdx_tcb_info_parse(const json_t *obj, tdx_tcb_info *out, attex_error *err)
{
    static const char *const keys[] = {
        "id",          "version", "issueDate", "nextUpdate", "fmspc",  "pceId",
        "tcbType",     "tcbEvaluationDataNumber", "tdxModule", "tdxModuleIdentities",
        "tcbLevels"};
    const char *what = "TCB Info";
    memset(out, 0, sizeof(*out));
    int ret;
    int64_t v;
    if (!json_is_object(obj))
        return BAD(err, "TCB Info: \"tcbInfo\" is not an object");
    if ((ret = only_keys(obj, keys, ATTEX_ARRAY_LEN(keys), what, err)) != ATTEX_OK)
        return ret;
    /* Intel PCS v4: TDX TCB Info has id "TDX" and version 3. */
    json_t *id = json_object_get(obj, "id");
    if (!json_is_string(id) || strcmp(json_string_value(id), "TDX") != 0)
        return BAD(err, "TCB Info: id is not \"TDX\" (an SGX TCB Info cannot appraise a TD)");
    if ((ret = get_uint(obj, "version", 1000, &v, what, err)) != ATTEX_OK)
        return ret;
    if (v != 3)
        return BAD(err, "TCB Info: version %lld, only version 3 is supported", (long long)v);
    if ((ret = get_uint(obj, "tcbType", 1000, &v, what, err)) != ATTEX_OK)
        return ret;
    if (v != 0)
        return BAD(err, "TCB Info: tcbType %lld, only 0 is defined", (long long)v);
    if ((ret = get_time(obj, "issueDate", &out->issue_date, what, err)) != ATTEX_OK ||
        (ret = get_time(obj, "nextUpdate", &out->next_update, what, err)) != ATTEX_OK ||
        (ret = get_hex(obj, "fmspc", out->fmspc, 6, what, err)) != ATTEX_OK ||
        (ret = get_hex(obj, "pceId", out->pceid, 2, what, err)) != ATTEX_OK ||
        (ret = get_uint(obj, "tcbEvaluationDataNumber", INT32_MAX, &out->eval_number, what,
                        err)) != ATTEX_OK)
        return ret;
    if ((ret = parse_module(json_object_get(obj, "tdxModule"), out->module_mrsigner,
                            out->module_attributes, out->module_attributes_mask, what, err)) !=
        ATTEX_OK)
        return ret;
    json_t *ids = json_object_get(obj, "tdxModuleIdentities");
    if (ids != NULL) {
        if (!json_is_array(ids) || json_array_size(ids) > 256)
            return BAD(err, "TCB Info: tdxModuleIdentities is not an array (at most 256)");
        out->has_module_identities = 1;
        out->num_modules = json_array_size(ids);
        out->modules = calloc(out->num_modules ? out->num_modules : 1, sizeof(*out->modules));
        if (out->modules == NULL)
            return NOMEM(err);
        static const char *const mkeys[] = {"id", "mrsigner", "attributes", "attributesMask",
                                            "tcbLevels"};
        for (size_t i = 0; i < out->num_modules; i++) {
            json_t *m = json_array_get(ids, i);
            tdx_module_identity *mi = &out->modules[i];
            if ((ret = parse_module(m, mi->mrsigner, mi->attributes, mi->attributes_mask, what,
                                    err)) != ATTEX_OK ||
                (ret = only_keys(m, mkeys, 5, what, err)) != ATTEX_OK)
                goto fail;
            json_t *mid = json_object_get(m, "id");
            uint8_t major;
            /* Intel PCS: module identity ids are "TDX_" and the major version in 2 hex digits. */
            if (!json_is_string(mid) || json_string_length(mid) != 6 ||
                strncmp(json_string_value(mid), "TDX_", 4) != 0 ||
                !util_unhex(json_string_value(mid) + 4, 2, &major, 1)) {
                ret = BAD(err, "TCB Info: tdxModuleIdentities[%zu].id is not \"TDX_xx\"", i);
                goto fail;
            }
            mi->major = major;
            if ((ret = parse_levels(json_object_get(m, "tcbLevels"), 1, &mi->levels,
                                    &mi->num_levels, what, err)) != ATTEX_OK)
                goto fail;
        }
    }
    if ((ret = parse_levels(json_object_get(obj, "tcbLevels"), 0, &out->levels, &out->num_levels,
                            what, err)) != ATTEX_OK)
        goto fail;
    return ATTEX_OK;
fail:
    tdx_tcb_info_clear(out);
    return ret;
}

void tdx_qe_identity_clear(tdx_qe_identity *q)
{
    if (q == NULL)
        return;
    levels_free(q->levels, q->num_levels);
    memset(q, 0, sizeof(*q));
}

int tdx_qe_identity_parse(const json_t *obj, tdx_qe_identity *out, attex_error *err)
{
    static const char *const keys[] = {
        "id",         "version",       "issueDate", "nextUpdate", "tcbEvaluationDataNumber",
        "miscselect", "miscselectMask", "attributes", "attributesMask", "mrsigner",
        "isvprodid",  "tcbLevels"};
    const char *what = "QE Identity";
    memset(out, 0, sizeof(*out));
    int ret;
    int64_t v;
    if (!json_is_object(obj))
        return BAD(err, "QE Identity: \"enclaveIdentity\" is not an object");
    if ((ret = only_keys(obj, keys, ATTEX_ARRAY_LEN(keys), what, err)) != ATTEX_OK)
        return ret;
    /* Intel PCS v4: the TDX quoting enclave's identity has id "TD_QE", version 2. */
    json_t *id = json_object_get(obj, "id");
    if (!json_is_string(id) || strcmp(json_string_value(id), "TD_QE") != 0)
        return BAD(err, "QE Identity: id is not \"TD_QE\" (an SGX QE identity cannot appraise a "
                        "TD quote)");
    if ((ret = get_uint(obj, "version", 1000, &v, what, err)) != ATTEX_OK)
        return ret;
    if (v != 2)
        return BAD(err, "QE Identity: version %lld, only version 2 is supported", (long long)v);
    uint8_t ms[4], msm[4];
    if ((ret = get_time(obj, "issueDate", &out->issue_date, what, err)) != ATTEX_OK ||
        (ret = get_time(obj, "nextUpdate", &out->next_update, what, err)) != ATTEX_OK ||
        (ret = get_uint(obj, "tcbEvaluationDataNumber", INT32_MAX, &out->eval_number, what,
                        err)) != ATTEX_OK ||
        (ret = get_hex(obj, "miscselect", ms, 4, what, err)) != ATTEX_OK ||
        (ret = get_hex(obj, "miscselectMask", msm, 4, what, err)) != ATTEX_OK ||
        (ret = get_hex(obj, "attributes", out->attributes, 16, what, err)) != ATTEX_OK ||
        (ret = get_hex(obj, "attributesMask", out->attributes_mask, 16, what, err)) !=
            ATTEX_OK ||
        (ret = get_hex(obj, "mrsigner", out->mrsigner, 32, what, err)) != ATTEX_OK ||
        (ret = get_uint(obj, "isvprodid", 65535, &v, what, err)) != ATTEX_OK)
        return ret;
    out->isvprodid = (uint16_t)v;
    /* The hex strings are the big-endian reading of the 32-bit values. */
    out->miscselect = (uint32_t)ms[0] << 24 | (uint32_t)ms[1] << 16 | (uint32_t)ms[2] << 8 | ms[3];
    out->miscselect_mask =
        (uint32_t)msm[0] << 24 | (uint32_t)msm[1] << 16 | (uint32_t)msm[2] << 8 | msm[3];
    return parse_levels(json_object_get(obj, "tcbLevels"), 1, &out->levels, &out->num_levels,
                        what, err);
}

/* ---------------------------------------------------------------------- */
/* TCB evaluation                                                         */

int tdx_tcb_evaluate(const tdx_tcb_info *ti, const tdx_pck_ext *pck, const tdx_body *body,
                     tdx_tcb_result *out, attex_error *err)
{
    const uint8_t *svn = body->tee_tcb_svn;
    out->platform = TDX_TCB_NO_MATCH;
    out->module = TDX_TCB_UP_TO_DATE;
    out->platform_level = NULL;
    out->module_level = NULL;
    out->module_id[0] = '\0';

    /* Intel QVL TdxModuleCheck: MRSIGNERSEAM and SEAMATTRIBUTES against the TDX module. */
    const uint8_t *mrsigner = ti->module_mrsigner, *attr = ti->module_attributes,
                  *mask = ti->module_attributes_mask;
    const tdx_module_identity *mod = NULL;
    /*
     * TEE_TCB_SVN[1] is the TDX module's major version; when nonzero and the
     * TCB Info lists module identities, the module is appraised by the
     * identity "TDX_<major>" with isvsvn = TEE_TCB_SVN[0].
     */
    if (ti->has_module_identities && svn[1] != 0) {
        for (size_t i = 0; i < ti->num_modules; i++)
            if (ti->modules[i].major == svn[1])
                mod = &ti->modules[i];
        snprintf(out->module_id, sizeof(out->module_id), "TDX_%02X", svn[1]);
        if (mod == NULL)
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "TDX module identity: the TCB Info has no identity %s for the "
                              "quote's TDX module (TEE_TCB_SVN[1] = %u)",
                              out->module_id, svn[1]);
        mrsigner = mod->mrsigner;
        attr = mod->attributes;
        mask = mod->attributes_mask;
    }
    if (memcmp(mrsigner, body->mrsignerseam, 48) != 0) {
        char got[97], want[97];
        util_hex(body->mrsignerseam, 48, got);
        util_hex(mrsigner, 48, want);
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "TDX module identity: MRSIGNERSEAM is %s, the TCB Info expects %s", got,
                          want);
    }
    for (size_t i = 0; i < 8; i++)
        if ((body->seam_attributes[i] & mask[i]) != (attr[i] & mask[i])) {
            char got[17], want[17];
            util_hex(body->seam_attributes, 8, got);
            util_hex(attr, 8, want);
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "TDX module identity: SEAMATTRIBUTES is %s, the TCB Info expects "
                              "%s under its mask",
                              got, want);
        }
    if (mod != NULL) {
        out->module = TDX_TCB_NO_MATCH;
        /* Levels are in descending order: the first one not above the module's SVN applies. */
        for (size_t i = 0; i < mod->num_levels; i++)
            if (mod->levels[i].isvsvn <= svn[0]) {
                out->module = mod->levels[i].status;
                out->module_level = &mod->levels[i];
                break;
            }
    }

    /* Intel QVL TcbLevelCheck: the first level all of whose components are met applies. */
    size_t tdx_start = (ti->has_module_identities && svn[1] != 0) ? 2 : 0;
    for (size_t i = 0; i < ti->num_levels; i++) {
        const tdx_tcb_level *l = &ti->levels[i];
        int ok = pck->pcesvn >= l->pcesvn;
        for (size_t k = 0; ok && k < 16; k++)
            ok = pck->comp_svn[k] >= l->sgx_svn[k];
        for (size_t k = tdx_start; ok && k < 16; k++)
            ok = svn[k] >= l->tdx_svn[k];
        if (ok) {
            out->platform = l->status;
            out->platform_level = l;
            break;
        }
    }
    out->final = tdx_converge(out->platform, out->module);
    return ATTEX_OK;
}

int tdx_qe_evaluate(const tdx_qe_identity *qi, const tdx_qe_report *qe, tdx_tcb_result *out,
                    attex_error *err)
{
    /* Intel QVL EnclaveIdentity checks: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES. */
    if (memcmp(qi->mrsigner, qe->mrsigner, 32) != 0) {
        char got[65], want[65];
        util_hex(qe->mrsigner, 32, got);
        util_hex(qi->mrsigner, 32, want);
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "QE identity: the QE report's MRSIGNER is %s, the QE Identity expects "
                          "%s",
                          got, want);
    }
    if (qi->isvprodid != qe->isvprodid)
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "QE identity: the QE report's ISVPRODID is %u, the QE Identity expects "
                          "%u",
                          qe->isvprodid, qi->isvprodid);
    if ((qe->miscselect & qi->miscselect_mask) != (qi->miscselect & qi->miscselect_mask))
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "QE identity: the QE report's MISCSELECT is %08x, the QE Identity "
                          "expects %08x under mask %08x",
                          qe->miscselect, qi->miscselect, qi->miscselect_mask);
    for (size_t i = 0; i < 16; i++)
        if ((qe->attributes[i] & qi->attributes_mask[i]) !=
            (qi->attributes[i] & qi->attributes_mask[i])) {
            char got[33], want[33], mask[33];
            util_hex(qe->attributes, 16, got);
            util_hex(qi->attributes, 16, want);
            util_hex(qi->attributes_mask, 16, mask);
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "QE identity: the QE report's ATTRIBUTES are %s, the QE Identity "
                              "expects %s under mask %s",
                              got, want, mask);
        }
    out->qe = TDX_TCB_NO_MATCH;
    out->qe_level = NULL;
    for (size_t i = 0; i < qi->num_levels; i++)
        if (qi->levels[i].isvsvn <= qe->isvsvn) {
            out->qe = qi->levels[i].status;
            out->qe_level = &qi->levels[i];
            break;
        }
    return ATTEX_OK;
}

/* ---------------------------------------------------------------------- */
/* Collateral loading                                                     */

/* A signed JSON document waiting for the signing certificate. */
typedef struct pending_doc {
    char name[64];
    uint8_t *signed_part;
    size_t signed_len;
    uint8_t sig[64];
    int is_tcb_info;
    size_t index; /* into tcb_infos */
} pending_doc;

/* Loader state, hung off the collateral while loading. */
typedef struct loader {
    STACK_OF(X509) *pool;
    pending_doc docs[MAX_COLLATERAL_FILES];
    size_t num_docs;
} loader;

int tdx_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
#ifdef ATTEX_FUZZING_UNSAFE_SKIP_CRYPTO
    /* Fuzzing builds only (attex_fuzzlib): let mutated quotes reach the later checks. */
    (void)key;
    (void)msg;
    (void)len;
    (void)sig;
    return 1;
#else
    /* Intel signs quotes, QE reports and collateral with ECDSA P-256/SHA-256, r || s raw. */
    return crypto_ecdsa_verify_raw(key, ATTEX_HASH_SHA256, msg, len, sig, 64);
#endif
}

static int add_json(tdx_collateral *c, loader *ld, const char *name, const uint8_t *data,
                    size_t len, attex_error *err)
{
    /*
     * Intel PCS: the signature covers the exact bytes of the "tcbInfo" /
     * "enclaveIdentity" value as served, so the document is taken apart on
     * its bytes: {"<key>":<value>,"signature":"<128 hex>"}, nothing else.
     */
    static const char tcb_prefix[] = "{\"tcbInfo\":";
    static const char qe_prefix[] = "{\"enclaveIdentity\":";
    int is_tcb;
    size_t plen;
    if (len > sizeof(tcb_prefix) - 1 && memcmp(data, tcb_prefix, sizeof(tcb_prefix) - 1) == 0) {
        is_tcb = 1;
        plen = sizeof(tcb_prefix) - 1;
    } else if (len > sizeof(qe_prefix) - 1 &&
               memcmp(data, qe_prefix, sizeof(qe_prefix) - 1) == 0) {
        is_tcb = 0;
        plen = sizeof(qe_prefix) - 1;
    } else {
        return BAD(err, "collateral file \"%s\": JSON that is neither a TCB Info "
                        "({\"tcbInfo\":...}) nor a QE Identity ({\"enclaveIdentity\":...})",
                   name);
    }
    if (ld->num_docs >= MAX_COLLATERAL_FILES)
        return BAD(err, "too many collateral documents");
    json_error_t je;
    json_t *inner = json_loadb((const char *)data + plen, len - plen,
                               JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
    if (inner == NULL)
        return BAD(err, "collateral file \"%s\": invalid JSON: %s", name, je.text);
    size_t inner_len = (size_t)je.position;
    static const char sig_prefix[] = ",\"signature\":\"";
    size_t rest = plen + inner_len;
    const char *tail = (const char *)data + rest;
    size_t tail_len = len - rest;
    /* Allow a final newline after the closing brace, as files saved from a shell have. */
    while (tail_len > 0 && (tail[tail_len - 1] == '\n' || tail[tail_len - 1] == '\r'))
        tail_len--;
    uint8_t sig[64];
    if (inner_len == 0 || !json_is_object(inner) || tail_len != sizeof(sig_prefix) - 1 + 128 + 2 ||
        memcmp(tail, sig_prefix, sizeof(sig_prefix) - 1) != 0 ||
        !util_unhex(tail + sizeof(sig_prefix) - 1, 128, sig, 64) ||
        memcmp(tail + sizeof(sig_prefix) - 1 + 128, "\"}", 2) != 0) {
        json_decref(inner);
        return BAD(err, "collateral file \"%s\": not of the form {\"%s\":{...},\"signature\":"
                        "\"<128 hex digits>\"}",
                   name, is_tcb ? "tcbInfo" : "enclaveIdentity");
    }
    int ret;
    pending_doc *d = &ld->docs[ld->num_docs];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    if (is_tcb) {
        tdx_tcb_info ti;
        if ((ret = tdx_tcb_info_parse(inner, &ti, err)) != ATTEX_OK) {
            json_decref(inner);
            return ret;
        }
        for (size_t i = 0; i < c->num_tcb_infos; i++)
            if (memcmp(c->tcb_infos[i].fmspc, ti.fmspc, 6) == 0) {
                char f[13];
                util_hex(ti.fmspc, 6, f);
                tdx_tcb_info_clear(&ti);
                json_decref(inner);
                return BAD(err, "collateral file \"%s\": a second TCB Info for FMSPC %s", name,
                           f);
            }
        tdx_tcb_info *grown = realloc(c->tcb_infos, (c->num_tcb_infos + 1) * sizeof(*grown));
        if (grown == NULL) {
            tdx_tcb_info_clear(&ti);
            json_decref(inner);
            return NOMEM(err);
        }
        c->tcb_infos = grown;
        d->index = c->num_tcb_infos;
        c->tcb_infos[c->num_tcb_infos++] = ti;
    } else {
        if (c->has_qe_identity) {
            json_decref(inner);
            return BAD(err, "collateral file \"%s\": a second QE Identity", name);
        }
        if ((ret = tdx_qe_identity_parse(inner, &c->qe_identity, err)) != ATTEX_OK) {
            json_decref(inner);
            return ret;
        }
        c->has_qe_identity = 1;
    }
    json_decref(inner);
    d->is_tcb_info = is_tcb;
    memcpy(d->sig, sig, 64);
    d->signed_part = malloc(inner_len);
    if (d->signed_part == NULL)
        return NOMEM(err);
    memcpy(d->signed_part, data + plen, inner_len);
    d->signed_len = inner_len;
    ld->num_docs++;
    return ATTEX_OK;
}

static int add_crl(tdx_collateral *c, const char *name, X509_CRL *crl, attex_error *err)
{
    tdx_crl_entry *grown = realloc(c->crls, (c->num_crls + 1) * sizeof(*grown));
    if (grown == NULL) {
        X509_CRL_free(crl);
        return NOMEM(err);
    }
    c->crls = grown;
    tdx_crl_entry *e = &c->crls[c->num_crls];
    memset(e, 0, sizeof(*e));
    e->crl = crl;
    c->num_crls++;
    if (!tdx_asn1_time(X509_CRL_get0_lastUpdate(crl), &e->this_update) ||
        X509_CRL_get0_nextUpdate(crl) == NULL ||
        !tdx_asn1_time(X509_CRL_get0_nextUpdate(crl), &e->next_update))
        return BAD(err, "collateral file \"%s\": CRL without a readable thisUpdate/nextUpdate",
                   name);
    return ATTEX_OK;
}

static int add_file(tdx_collateral *c, loader *ld, const char *name, const uint8_t *data,
                    size_t len, attex_error *err)
{
    if (len > 0 && data[0] == '{')
        return add_json(c, ld, name, data, len, err);
    if (len >= 11 && memcmp(data, "-----BEGIN ", 11) == 0) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        if (b == NULL)
            return NOMEM(err);
        int ret = ATTEX_OK;
        size_t n = 0;
        for (;;) {
            STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
            if (infos == NULL) {
                ret = BAD(err, "collateral file \"%s\": unreadable PEM", name);
                break;
            }
            for (int i = 0; i < sk_X509_INFO_num(infos) && ret == ATTEX_OK; i++) {
                X509_INFO *xi = sk_X509_INFO_value(infos, i);
                if (xi->x509 != NULL) {
                    if (!sk_X509_push(ld->pool, xi->x509))
                        ret = NOMEM(err);
                    else
                        xi->x509 = NULL;
                    n++;
                }
                if (xi->crl != NULL && ret == ATTEX_OK) {
                    ret = add_crl(c, name, xi->crl, err);
                    xi->crl = NULL;
                    n++;
                }
            }
            sk_X509_INFO_pop_free(infos, X509_INFO_free);
            break;
        }
        BIO_free(b);
        ERR_clear_error();
        if (ret == ATTEX_OK && n == 0)
            return BAD(err, "collateral file \"%s\": PEM without certificates or CRLs", name);
        return ret;
    }
    const unsigned char *p = data;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    if (crl != NULL && p == data + len)
        return add_crl(c, name, crl, err);
    X509_CRL_free(crl);
    ERR_clear_error();
    return BAD(err, "collateral file \"%s\" is neither TCB Info, QE Identity, CRL (DER or PEM) "
                    "nor PEM certificates",
               name);
}

/* verify_to_root checks that `cert` chains to the root through `pool`, ignoring time. */
static int verify_to_root(tdx_collateral *c, X509 *cert, STACK_OF(X509) *pool)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;
    if (st != NULL && ctx != NULL && X509_STORE_add_cert(st, c->root) == 1 &&
        X509_STORE_CTX_init(ctx, st, cert, pool) == 1) {
        /* Time windows are checked at each appraisal, against the validation time. */
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
        ok = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return ok;
}

static int cn_is(X509 *x, const char *cn)
{
    char buf[128];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf));
    return n > 0 && strcmp(buf, cn) == 0;
}

const tdx_crl_entry *tdx_find_crl(const tdx_collateral *c, X509 *issuer)
{
    for (size_t i = 0; i < c->num_crls; i++)
        if (X509_NAME_cmp(X509_CRL_get_issuer(c->crls[i].crl), X509_get_subject_name(issuer)) ==
            0)
            return &c->crls[i];
    return NULL;
}

static int finish(tdx_collateral *c, loader *ld, attex_error *err)
{
    int ret = ATTEX_OK;
    /* Certificates from the chains: keep those that chain to the root. */
    for (int i = 0; i < sk_X509_num(ld->pool); i++) {
        X509 *x = sk_X509_value(ld->pool, i);
        if (X509_cmp(x, c->root) == 0)
            continue;
        if (!verify_to_root(c, x, ld->pool)) {
            char subj[160];
            X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
            return BAD(err, "collateral certificate \"%s\" does not chain to the trusted root",
                       subj);
        }
        X509 **grown = realloc(c->intermediates, (c->num_intermediates + 1) * sizeof(*grown));
        if (grown == NULL)
            return NOMEM(err);
        c->intermediates = grown;
        X509_up_ref(x);
        c->intermediates[c->num_intermediates++] = x;
    }
    /* CRLs: each signed by the root or a verified certificate, with that issuer's window. */
    for (size_t i = 0; i < c->num_crls; i++) {
        tdx_crl_entry *e = &c->crls[i];
        X509 *issuer = NULL;
        if (X509_NAME_cmp(X509_CRL_get_issuer(e->crl), X509_get_subject_name(c->root)) == 0)
            issuer = c->root;
        for (size_t k = 0; issuer == NULL && k < c->num_intermediates; k++)
            if (X509_NAME_cmp(X509_CRL_get_issuer(e->crl),
                              X509_get_subject_name(c->intermediates[k])) == 0)
                issuer = c->intermediates[k];
        char iss[160];
        X509_NAME_oneline(X509_CRL_get_issuer(e->crl), iss, sizeof(iss));
        if (issuer == NULL)
            return BAD(err, "the CRL of \"%s\" has no issuer certificate in the collateral (add "
                            "its issuer chain)",
                       iss);
        EVP_PKEY *pk = X509_get0_pubkey(issuer);
        if (pk == NULL || X509_CRL_verify(e->crl, pk) != 1) {
            ERR_clear_error();
            return BAD(err, "collateral CRL of \"%s\": signature does not verify", iss);
        }
        if (!tdx_asn1_time(X509_get0_notBefore(issuer), &e->issuer_not_before) ||
            !tdx_asn1_time(X509_get0_notAfter(issuer), &e->issuer_not_after))
            return BAD(err, "collateral CRL issuer \"%s\": unreadable validity", iss);
        for (size_t k = 0; k < i; k++)
            if (X509_NAME_cmp(X509_CRL_get_issuer(c->crls[k].crl),
                              X509_CRL_get_issuer(e->crl)) == 0)
                return BAD(err, "two CRLs of \"%s\" in the collateral", iss);
    }
    /* The root CRL revokes intermediates: none of the collateral's may be revoked. */
    const tdx_crl_entry *root_crl = tdx_find_crl(c, c->root);
    for (size_t k = 0; root_crl != NULL && k < c->num_intermediates; k++) {
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_cert(root_crl->crl, &rev, c->intermediates[k]) == 1) {
            char subj[160];
            X509_NAME_oneline(X509_get_subject_name(c->intermediates[k]), subj, sizeof(subj));
            return BAD(err, "collateral certificate \"%s\" is revoked by the root CA's CRL",
                       subj);
        }
    }
    /* Intel PCS: TCB Info and QE Identity are signed by the "Intel SGX TCB Signing" certificate. */
    for (size_t i = 0; i < ld->num_docs; i++) {
        pending_doc *d = &ld->docs[i];
        int verified = 0;
        for (size_t k = 0; k < c->num_intermediates && !verified; k++) {
            X509 *x = c->intermediates[k];
            if (!cn_is(x, "Intel SGX TCB Signing"))
                continue;
            if (tdx_ecdsa_verify_raw(X509_get0_pubkey(x), d->signed_part, d->signed_len,
                                     d->sig)) {
                verified = 1;
                int64_t nb, na;
                if (!tdx_asn1_time(X509_get0_notBefore(x), &nb) ||
                    !tdx_asn1_time(X509_get0_notAfter(x), &na))
                    return BAD(err, "TCB signing certificate: unreadable validity");
                if (!c->has_signer || nb > c->signer_not_before)
                    c->signer_not_before = nb;
                if (!c->has_signer || na < c->signer_not_after)
                    c->signer_not_after = na;
                c->has_signer = 1;
            }
        }
        if (!verified) {
            char sig[129];
            util_hex(d->sig, 64, sig);
            return BAD(err, "collateral file \"%s\": the %s signature %s does not verify with an "
                            "Intel SGX TCB Signing certificate chained to the root (is the TCB "
                            "signing chain in the directory?)",
                       d->name, d->is_tcb_info ? "TCB Info" : "QE Identity", sig);
        }
    }
    return ret;
}

static void loader_clear(loader *ld)
{
    sk_X509_pop_free(ld->pool, X509_free);
    for (size_t i = 0; i < ld->num_docs; i++)
        free(ld->docs[i].signed_part);
    free(ld);
}

void tdx_collateral_clear(tdx_collateral *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->num_tcb_infos; i++)
        tdx_tcb_info_clear(&c->tcb_infos[i]);
    free(c->tcb_infos);
    if (c->has_qe_identity)
        tdx_qe_identity_clear(&c->qe_identity);
    for (size_t i = 0; i < c->num_crls; i++)
        X509_CRL_free(c->crls[i].crl);
    free(c->crls);
    for (size_t i = 0; i < c->num_intermediates; i++)
        X509_free(c->intermediates[i]);
    free(c->intermediates);
    /* root and root_der belong to the verifier */
    X509 *root = c->root;
    memset(c, 0, sizeof(*c));
    c->root = root;
}

static int skipped_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] == '.' || strncmp(n, "README", 6) == 0 || (l >= 3 && strcmp(n + l - 3, ".md") == 0);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tdx_collateral_load_mem(const tdx_collateral_file *files, size_t n, X509 *root,
                            tdx_collateral *out, attex_error *err)
{
    memset(out, 0, sizeof(*out));
    out->root = root;
    int ret = ATTEX_OK;
    loader *ld = calloc(1, sizeof(*ld));
    if (ld == NULL || (ld->pool = sk_X509_new_null()) == NULL)
        ret = NOMEM(err);
    for (size_t i = 0; i < n && ret == ATTEX_OK; i++)
        ret = add_file(out, ld, files[i].name, files[i].data, files[i].len, err);
    if (ret == ATTEX_OK)
        ret = finish(out, ld, err);
    if (ld != NULL)
        loader_clear(ld);
    if (ret != ATTEX_OK)
        tdx_collateral_clear(out);
    return ret;
}

int tdx_collateral_load(const char *dir, X509 *root, tdx_collateral *out, attex_error *err)
{
    memset(out, 0, sizeof(*out));
    out->root = root;
    if (dir == NULL)
        return BAD(err, "the TDX verifier needs a collateral directory");
    DIR *d = opendir(dir);
    if (d == NULL)
        return BAD(err, "cannot open the collateral directory \"%s\": %s", dir, strerror(errno));
    char *names[MAX_COLLATERAL_FILES];
    tdx_collateral_file files[MAX_COLLATERAL_FILES];
    size_t n = 0;
    int ret = ATTEX_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (skipped_name(de->d_name))
            continue;
        if (n == MAX_COLLATERAL_FILES) {
            ret = BAD(err, "the collateral directory \"%s\" has more than %d files", dir,
                      MAX_COLLATERAL_FILES);
            break;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            ret = NOMEM(err);
            break;
        }
        n++;
    }
    closedir(d);
    /* Sorted, so that errors and duplicates are reported the same way on every system. */
    qsort(names, n, sizeof(names[0]), name_cmp);
    size_t nread = 0;
    for (size_t i = 0; i < n && ret == ATTEX_OK; i++, nread++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        if (path == NULL) {
            ret = NOMEM(err);
            break;
        }
        snprintf(path, plen, "%s/%s", dir, names[i]);
        attex_buf content = ATTEX_BUF_INIT;
        ret = util_read_file(path, "collateral file", MAX_COLLATERAL_FILE, &content, err);
        free(path);
        if (ret != ATTEX_OK)
            break;
        files[i].name = names[i];
        files[i].data = content.data;
        files[i].len = content.len;
    }
    if (ret == ATTEX_OK)
        ret = tdx_collateral_load_mem(files, n, root, out, err);
    for (size_t i = 0; i < nread; i++)
        free((void *)(uintptr_t)files[i].data);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return ret;
}
