/*
 * attex: attestation in Exported Authenticators (draft-fossati-seat-expat),
 * the `cmw_attestation` extension (PROTOCOL.md s2) and the relying party's
 * policy. Fails closed: only an attestation that was present, well formed,
 * bound to this connection and key, appraised by a registered verifier and
 * good enough for the policy is a success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <attex/attest.h>

#include "bytes.h"
#include "internal.h"

/* Largest CMW that fits: ext_data is u16 length || CMW inside a <0..2^16-1> vector. */
#define CMW_MAX (65535u - 2u)

#define NOMEM(err) \
    attex_fail((err), ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory")

const char *attex_verdict_name(attex_verdict v)
{
    switch (v) {
    case ATTEX_VERDICT_AFFIRMING: return "affirming";
    case ATTEX_VERDICT_WARNING: return "warning";
    case ATTEX_VERDICT_CONTRAINDICATED: return "contraindicated";
    default: return "none";
    }
}

void attex_appraisal_clear(attex_appraisal *a)
{
    if (a == NULL)
        return;
    free(a->claims_json);
    memset(a, 0, sizeof(*a));
}

static uint16_t code_point(uint16_t cp) { return cp ? cp : ATTEX_CMW_ATTESTATION_DEFAULT; }

/* ---------------------------------------------------------------------- */

int attex_attest_request_create(attex_ea_session *s, const attex_attest_policy *policy,
                                const attex_ea_request_params *params, attex_buf *out,
                                attex_error *err)
{
    static const attex_ea_request_params none;
    if (params == NULL)
        params = &none;
    uint16_t cp = code_point(policy ? policy->code_point : 0);
    attex_ea_request_params p = *params;
    attex_extension *exts = calloc(params->num_extensions + 1, sizeof(*exts));
    if (exts == NULL)
        return NOMEM(err);
    if (params->num_extensions)
        memcpy(exts, params->extensions, params->num_extensions * sizeof(*exts));
    /* draft-fossati-seat-expat: the offer is an empty cmw_attestation extension. */
    exts[params->num_extensions].type = cp;
    exts[params->num_extensions].data = NULL;
    exts[params->num_extensions].len = 0;
    p.extensions = exts;
    p.num_extensions = params->num_extensions + 1;
    int ret = attex_ea_request_create(s, &p, out, err);
    free(exts);
    return ret;
}

int attex_attest_answer(attex_ea_session *s, const uint8_t *request, size_t request_len,
                        const attex_ea_identity *id, const attex_attester *attester,
                        uint16_t cp_in, attex_buf *out, attex_error *err)
{
    uint16_t cp = code_point(cp_in);
    attex_ea_request *req = NULL;
    int offered = 0;
    if (request != NULL) {
        int ret = attex_ea_request_parse(request, request_len, &req, err);
        if (ret != ATTEX_OK)
            return ret;
        attex_extension offer;
        offered = attex_ea_request_find_extension(req, cp, &offer);
        attex_ea_request_free(req);
    }
    if (!offered || attester == NULL || id == NULL || id->cert == NULL)
        return attex_ea_authenticator_create(s, request, request_len, id, out, err);

    /* The attestation is bound to this request's context and to the key we sign with. */
    uint8_t context[ATTEX_EA_MAX_CONTEXT];
    size_t context_len;
    attex_binding binding;
    attex_buf cmw = ATTEX_BUF_INIT;
    attex_extension *exts = NULL;
    uint8_t *ext_data = NULL;
    int ret = attex_ea_get_context(request, request_len, context, &context_len, err);
    if (ret != ATTEX_OK ||
        (ret = attex_binding_compute(s, context, context_len, id->cert, &binding, err)) !=
            ATTEX_OK)
        goto out;
    if ((ret = attester->attest(attester->ctx, &binding, &cmw, err)) != ATTEX_OK)
        goto out;
    /* draft-fossati-seat-expat: cmw_data<1..2^16-1>. */
    if (cmw.len == 0 || cmw.len > CMW_MAX) {
        ret = attex_fail(err, ATTEX_ERR_UNSUPPORTED, ATTEX_ALERT_NONE,
                         "attester %s produced a %zu-byte CMW; cmw_attestation carries 1 to %u",
                         attester->name ? attester->name : "(unnamed)", cmw.len, CMW_MAX);
        goto out;
    }
    for (size_t i = 0; i < id->num_extensions; i++)
        if (id->extensions[i].type == cp) {
            ret = attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                             "the identity already carries extension 0x%04x", cp);
            goto out;
        }
    attex_writer w;
    attex_buf data = ATTEX_BUF_INIT;
    wr_init(&w, 65535);
    attex_wr_mark m = wr_open(&w, 2);
    wr_bytes(&w, cmw.data, cmw.len);
    wr_close(&w, m);
    if (!wr_finish(&w, &data)) {
        ret = NOMEM(err);
        goto out;
    }
    ext_data = data.data;
    exts = calloc(id->num_extensions + 1, sizeof(*exts));
    if (exts == NULL) {
        ret = NOMEM(err);
        goto out;
    }
    if (id->num_extensions)
        memcpy(exts, id->extensions, id->num_extensions * sizeof(*exts));
    exts[id->num_extensions].type = cp;
    exts[id->num_extensions].data = data.data;
    exts[id->num_extensions].len = data.len;
    attex_ea_identity with = *id;
    with.extensions = exts;
    with.num_extensions = id->num_extensions + 1;
    ret = attex_ea_authenticator_create(s, request, request_len, &with, out, err);
out:
    attex_binding_clear(&binding);
    attex_buf_free(&cmw);
    free(ext_data);
    free(exts);
    return ret;
}

/* ---------------------------------------------------------------------- */

struct attex_attest_result {
    attex_ea_authenticator *auth;
    attex_cmw *cmw;
    attex_binding binding;
    attex_appraisal *appraisals;
    const char **verifier_names;
    size_t num_appraisals;
};

void attex_attest_result_free(attex_attest_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->num_appraisals; i++)
        attex_appraisal_clear(&r->appraisals[i]);
    free(r->appraisals);
    free(r->verifier_names);
    attex_cmw_free(r->cmw);
    attex_ea_authenticator_free(r->auth);
    attex_binding_clear(&r->binding);
    free(r);
}

const attex_ea_authenticator *attex_attest_result_authenticator(const attex_attest_result *r)
{
    return r->auth;
}

int attex_attest_result_attested(const attex_attest_result *r) { return r->cmw != NULL; }

const attex_cmw *attex_attest_result_cmw(const attex_attest_result *r) { return r->cmw; }

const attex_binding *attex_attest_result_binding(const attex_attest_result *r)
{
    return &r->binding;
}

size_t attex_attest_result_num_appraisals(const attex_attest_result *r)
{
    return r->num_appraisals;
}

const attex_appraisal *attex_attest_result_appraisal(const attex_attest_result *r, size_t i,
                                                     const char **verifier_name)
{
    if (i >= r->num_appraisals)
        return NULL;
    if (verifier_name)
        *verifier_name = r->verifier_names[i];
    return &r->appraisals[i];
}

static const attex_verifier *find_verifier(const attex_attest_policy *p, const attex_cmw *rec)
{
    const char *mt = attex_cmw_media_type(rec);
    uint16_t cf;
    int has_cf = attex_cmw_content_format(rec, &cf);
    for (size_t i = 0; i < p->num_verifiers; i++) {
        const attex_verifier *v = p->verifiers[i];
        if (v == NULL)
            continue;
        /* RFC 6838 s4.2: type and subtype names are case-insensitive. */
        if (mt != NULL && v->media_type != NULL && strcasecmp(mt, v->media_type) == 0)
            return v;
        if (has_cf && v->content_format != 0 && v->content_format == cf)
            return v;
    }
    return NULL;
}

static void describe_type(const attex_cmw *rec, char *buf, size_t n)
{
    uint16_t cf;
    if (attex_cmw_media_type(rec) != NULL)
        snprintf(buf, n, "\"%s\"", attex_cmw_media_type(rec));
    else if (attex_cmw_content_format(rec, &cf))
        snprintf(buf, n, "content-format %u", cf);
    else
        snprintf(buf, n, "(untyped)");
}

/* Appraises every leaf (Record or Tag) of the CMW tree, depth first. */
static int appraise_tree(attex_attest_result *r, const attex_cmw *node,
                         const attex_attest_policy *p, attex_verdict minimum, uint32_t accepted,
                         attex_error *err)
{
    if (attex_cmw_kind_of(node) == ATTEX_CMW_COLLECTION) {
        size_t n = attex_cmw_collection_size(node);
        for (size_t i = 0; i < n; i++) {
            const char *tl;
            int64_t il;
            int ret = appraise_tree(r, attex_cmw_collection_entry(node, i, &tl, &il), p, minimum,
                                    accepted, err);
            if (ret != ATTEX_OK)
                return ret;
        }
        return ATTEX_OK;
    }
    char type[160];
    describe_type(node, type, sizeof(type));
    /* A Record's ind says what it is; a Tag carries none and is judged by its verifier. */
    if (attex_cmw_kind_of(node) == ATTEX_CMW_RECORD) {
        uint32_t ind = attex_cmw_ind(node);
        if (ind == 0 || (ind & ~accepted) != 0)
            return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                              "CMW record %s has ind %u; this relying party accepts only "
                              "ind bits 0x%x (evidence 4, attestation results 8)",
                              type, ind, accepted);
    }
    const attex_verifier *v = find_verifier(p, node);
    if (v == NULL)
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "no verifier is registered for CMW type %s: cannot appraise it, so "
                          "it is not accepted",
                          type);
    attex_appraisal *ap = realloc(r->appraisals, (r->num_appraisals + 1) * sizeof(*ap));
    if (ap == NULL)
        return NOMEM(err);
    r->appraisals = ap;
    const char **names = realloc(r->verifier_names, (r->num_appraisals + 1) * sizeof(*names));
    if (names == NULL)
        return NOMEM(err);
    r->verifier_names = names;
    attex_appraisal *a = &r->appraisals[r->num_appraisals];
    memset(a, 0, sizeof(*a));
    names[r->num_appraisals] = v->name ? v->name : "(unnamed verifier)";
    r->num_appraisals++;
    /* The verifier gets the binding the relying party computed, never one from the peer. */
    attex_error verr;
    attex_error_clear(&verr);
    int ret = v->appraise(v->ctx, node, &r->binding, a, &verr);
    if (ret != ATTEX_OK) {
        if (a->reason[0] == '\0')
            snprintf(a->reason, sizeof(a->reason), "%s", verr.message);
        if (a->verdict == ATTEX_VERDICT_NONE || a->verdict == ATTEX_VERDICT_AFFIRMING)
            a->verdict = ATTEX_VERDICT_CONTRAINDICATED;
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "verifier %s rejected the %s evidence: %s", names[r->num_appraisals - 1],
                          type, verr.message[0] ? verr.message : "(no reason given)");
    }
    if (a->verdict == ATTEX_VERDICT_NONE || a->verdict > minimum)
        return attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                          "verifier %s appraised the %s evidence as %s (policy requires %s): %s",
                          names[r->num_appraisals - 1], type, attex_verdict_name(a->verdict),
                          attex_verdict_name(minimum), a->reason);
    return ATTEX_OK;
}

int attex_attest_validate(attex_ea_session *s, const uint8_t *request, size_t request_len,
                          const uint8_t *in, size_t in_len, const attex_ea_validate_opts *opts,
                          const attex_attest_policy *policy, attex_attest_result **out,
                          attex_error *err)
{
    static const attex_attest_policy no_policy;
    if (out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_attest_validate needs an output pointer");
    *out = NULL;
    if (policy == NULL)
        policy = &no_policy;
    uint16_t cp = code_point(policy->code_point);
    attex_verdict minimum = policy->minimum ? policy->minimum : ATTEX_VERDICT_AFFIRMING;
    uint32_t accepted = policy->accepted_ind
                            ? policy->accepted_ind
                            : (ATTEX_CMW_IND_EVIDENCE | ATTEX_CMW_IND_ATTESTATION_RESULTS);

    attex_attest_result *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NOMEM(err);
    int ret = attex_ea_authenticator_validate(s, request, request_len, in, in_len, opts, &r->auth,
                                              err);
    if (ret == ATTEX_ERR_REFUSED && policy->require) {
        ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_NONE,
                         "the peer refused to authenticate (empty authenticator), but this "
                         "relying party requires attestation");
        goto fail;
    }
    if (ret != ATTEX_OK)
        goto fail;

    /* PROTOCOL.md s2: cmw_attestation only in the first CertificateEntry. */
    size_t num_certs = attex_ea_authenticator_num_certs(r->auth);
    for (size_t e = 1; e < num_certs; e++) {
        size_t n = attex_ea_authenticator_num_entry_extensions(r->auth, e);
        for (size_t i = 0; i < n; i++)
            if (attex_ea_authenticator_entry_extension(r->auth, e, i).type == cp) {
                ret = attex_fail(err, ATTEX_ERR_ILLEGAL_PARAMETER, ATTEX_ALERT_ILLEGAL_PARAMETER,
                                 "cmw_attestation appears in CertificateEntry %zu; it belongs "
                                 "only in the first (end-entity) entry",
                                 e);
                goto fail;
            }
    }
    attex_extension ext;
    if (!attex_ea_authenticator_find_extension(r->auth, cp, &ext)) {
        if (policy->require) {
            ret = attex_fail(err, ATTEX_ERR_ATTESTATION, ATTEX_ALERT_MISSING_EXTENSION,
                             "the peer authenticated without attestation (no cmw_attestation "
                             "extension 0x%04x), but this relying party requires it",
                             cp);
            goto fail;
        }
        *out = r;
        return ATTEX_OK;
    }
    /* draft-fossati-seat-expat: struct { opaque cmw_data<1..2^16-1>; }, exactly. */
    attex_reader rd, cmw;
    rd_init(&rd, ext.data, ext.len);
    if (!rd_prefixed16(&rd, &cmw) || !rd_done(&rd) || rd_len(&cmw) == 0) {
        ret = attex_fail(err, ATTEX_ERR_DECODE, ATTEX_ALERT_DECODE_ERROR,
                         "the cmw_attestation extension is malformed: it must hold exactly one "
                         "u16-length-prefixed, non-empty CMW");
        goto fail;
    }
    if ((ret = attex_cmw_decode(rd_ptr(&cmw), rd_len(&cmw), NULL, &r->cmw, err)) != ATTEX_OK) {
        /* PROTOCOL.md s2: a malformed CMW is a decode_error. */
        if (err != NULL)
            err->alert = ATTEX_ALERT_DECODE_ERROR;
        goto fail;
    }
    /* PROTOCOL.md s3: recompute everything from our exporter and the certificate we got. */
    size_t ctx_len;
    const uint8_t *ctx = attex_ea_authenticator_context(r->auth, &ctx_len);
    if ((ret = attex_binding_compute(s, ctx, ctx_len, attex_ea_authenticator_cert(r->auth, 0),
                                     &r->binding, err)) != ATTEX_OK)
        goto fail;
    if ((ret = appraise_tree(r, r->cmw, policy, minimum, accepted, err)) != ATTEX_OK) {
        /* Keep the result: the caller may want to show what was appraised and why it failed. */
        *out = r;
        return ret;
    }
    *out = r;
    return ATTEX_OK;
fail:
    attex_attest_result_free(r);
    return ret;
}
