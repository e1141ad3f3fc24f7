/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_sessions.c: "your sessions" (see smdb_sessions.h). Request
 * threads only.
 *
 * Who asks is the user that httpd verified (smdb_session_fixups, never
 * r->user as a handler may have left it); what is listed and what is
 * deleted is found by that name, and every delete names it too, so that
 * no id a client sends reaches another user's session. A listed session
 * is shown under smdb_listed_id() of its _id, never by its token or its
 * _id. Every wait on MongoDB is bounded: the listing's find counts into
 * the request's budget, the delete is bounded by the timeout.
 */
#include "http_core.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include <stdlib.h>

#include "smdb_sessions.h"
#include "smdb_session.h"

/** Oldest first, then by _id: the same order at every request. */
static int smdb_listed_cmp(const void *a, const void *b)
{
    const smdb_listed *x = a, *y = b;

    if (x->created_ms != y->created_ms) {
        return x->created_ms < y->created_ms ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

/** A time as a JSON value: an RFC 3339 string, or null for none. */
static const char *smdb_json_time(apr_pool_t *p, apr_int64_t ms)
{
    return ms ? apr_pstrcat(p, "\"", smdb_rfc3339(p, ms), "\"", NULL)
              : "null";
}

/** GET: the user's sessions as one JSON object. */
static void smdb_sessions_json(request_rec *r, const smdb_dir_conf *dc,
                               const smdb_session_view *v,
                               const apr_array_header_t *list)
{
    int i;

    ap_rprintf(r, "{\"user\": %s, \"sessions\": [",
               smdb_json_string(r->pool, v->user));
    for (i = 0; i < list->nelts; i++) {
        const smdb_listed *l = &APR_ARRAY_IDX(list, i, smdb_listed);

        ap_rprintf(r, "%s{\"id\": \"%s\", \"current\": %s, \"created\": %s, "
                   "\"updated\": %s, \"expires\": %s", i ? ", " : "",
                   smdb_listed_id(r->pool, l->id),
                   v->id && !strcmp(v->id, l->id) ? "true" : "false",
                   smdb_json_time(r->pool, l->created_ms),
                   smdb_json_time(r->pool, l->updated_ms),
                   smdb_json_time(r->pool, l->expiry_ms));
        if (dir_record_client(dc)) {
            ap_rprintf(r, ", \"client\": {\"ip\": %s, \"agent\": %s}",
                       smdb_json_string(r->pool, l->ip),
                       smdb_json_string(r->pool, l->agent));
        }
        ap_rputs("}", r);
    }
    ap_rputs("]}\n", r);
}

/** True if a POST comes from a page of this very origin: its Origin
 * header names the request's own scheme, host and port, or, without
 * one, the browser says Sec-Fetch-Site: same-origin. */
static int smdb_sessions_same_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");

    if (origin) {
        return smdb_same_origin(origin, ap_http_scheme(r),
                                ap_get_server_name_for_url(r),
                                ap_get_server_port(r));
    }
    return site && !strcasecmp(site, "same-origin");
}

/** Read a POST's form (at most SMDB_SESSIONS_BODY_MAX bytes) and the
 * value of its one "end" field into *end, in r->pool. OK, or the status
 * to answer. */
static int smdb_sessions_form(request_rec *r, const char **end)
{
    char buf[SMDB_SESSIONS_BODY_MAX + 1], *pair, *last;
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_size_t len = 0;
    long n = 0;
    int rc;

    *end = NULL;
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33)
        || (ct[33] && ct[33] != ';' && ct[33] != ' ')) {
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK) {
        return rc;
    }
    if (ap_should_client_block(r)) {
        if (r->remaining > SMDB_SESSIONS_BODY_MAX) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
        while ((n = ap_get_client_block(r, buf + len,
                                        sizeof(buf) - len)) > 0) {
            len += n;
            if (len > SMDB_SESSIONS_BODY_MAX) {
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
        }
        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
    }
    buf[len] = '\0';
    for (pair = apr_strtok(buf, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        char *value;

        if (strncmp(pair, "end=", 4)) {
            continue;
        }
        if (*end) {
            return HTTP_BAD_REQUEST;    /* which one? */
        }
        value = apr_pstrdup(r->pool, pair + 4);
        if (ap_unescape_urlencoded(value) != OK) {
            return HTTP_BAD_REQUEST;
        }
        *end = value;
    }
    return *end ? OK : HTTP_BAD_REQUEST;
}

/** POST end=...: end the chosen sessions of the listed ones (an id, all
 * but the request's own, or all), only where their owner is still the
 * user; {"ended": N}. The request's own session, once ended, saves
 * nothing more and its cookie is expired. */
static int smdb_sessions_end(request_rec *r, const smdb_dir_conf *dc,
                             const char *db, const smdb_session_view *v,
                             const apr_array_header_t *list,
                             const char *end)
{
    int all = !strcmp(end, "all"), others = !strcmp(end, "others");
    int i, n = 0, current = 0;
    const char **ids = apr_palloc(r->pool, (list->nelts + 1)
                                           * sizeof(*ids));
    apr_int64_t ended = 0;

    for (i = 0; i < list->nelts; i++) {
        const smdb_listed *l = &APR_ARRAY_IDX(list, i, smdb_listed);
        int mine = v->id && !strcmp(v->id, l->id);

        if (all || (others && !mine)
            || (!all && !others
                && !strcmp(smdb_listed_id(r->pool, l->id), end))) {
            ids[n++] = l->id;
            current |= mine;
        }
    }
    if (n) {
        bson_error_t error;

        if (smdb_store_delete_owned(r, v->co, v->place, v->user, ids, n,
                                    &ended, &error) != APR_SUCCESS) {
            if (error.domain) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00405)
                              "cannot end %d sessions of %s in %s.%s at "
                              "%s: %s; they go on. Check that MongoDB is up "
                              "and writable.", n, v->user, v->place->db,
                              v->place->coll, v->co->be->redacted,
                              error.message);
            }
            return HTTP_SERVICE_UNAVAILABLE;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00406)
                      "%s ended %" APR_INT64_T_FMT " of their sessions "
                      "(end=%s)", v->user, ended,
                      all ? "all" : others ? "others" : "ID");
    }
    if (all || current) {
        smdb_session_end_current(r, dc, db);
    }
    ap_rprintf(r, "{\"ended\": %" APR_INT64_T_FMT "}\n", ended);
    return OK;
}

/**
 * SetHandler session-mongodb-sessions: the verified user's live cookie
 * sessions under this location's configuration (GET), or an end to some
 * of them (POST, from this origin only). 403 without a verified user;
 * 500 (logged) where the location keeps no cookie sessions in MongoDB.
 */
int smdb_sessions_handler(request_rec *r)
{
    const char *db, *end = NULL;
    smdb_dir_conf *dc;
    smdb_session_view v;
    apr_array_header_t *list;
    bson_error_t error;
    int rc;

    if (!r->handler || strcmp(r->handler, SMDB_SESSIONS_HANDLER)) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    dc = smdb_config_for(r, &db);
    if (!dc || dir_peruser(dc)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00400)
                      "SetHandler " SMDB_SESSIONS_HANDLER " in %s, which "
                      "keeps no cookie sessions in MongoDB: give it the "
                      "session configuration of the sessions to list "
                      "(Session On, SessionMongoDBCookieName, the same "
                      "database and collection), without "
                      "SessionMongoDBPerUser", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    smdb_session_view_of(r, dc, db, &v);
    if (!v.user) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00402)
                      "no verified user for the list of sessions at %s: "
                      "refused (403). Require authentication where "
                      "SetHandler " SMDB_SESSIONS_HANDLER " is.", r->uri);
        return HTTP_FORBIDDEN;
    }
    if (!v.loaded) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00401)
                      "SetHandler " SMDB_SESSIONS_HANDLER " in %s needs "
                      "Session On there, so that it knows the request's "
                      "own session", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (r->method_number == M_POST) {
        if (!smdb_sessions_same_origin(r)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00403)
                          "refused to end sessions of %s: the request "
                          "comes from another site, or says nothing of "
                          "where (Origin %s, Sec-Fetch-Site %s)", v.user,
                          apr_table_get(r->headers_in, "Origin")
                              ? "not this origin" : "absent",
                          apr_table_get(r->headers_in, "Sec-Fetch-Site")
                              ? "not same-origin" : "absent");
            return HTTP_FORBIDDEN;
        }
        rc = smdb_sessions_form(r, &end);
        if (rc != OK) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00407)
                          "a form to end sessions refused (%d): it must be "
                          "application/x-www-form-urlencoded, at most %d "
                          "bytes, with one field end=ID|others|all", rc,
                          SMDB_SESSIONS_BODY_MAX);
            return rc;
        }
    }
    else if (ap_discard_request_body(r) != OK) {
        return HTTP_BAD_REQUEST;
    }

    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    if (r->header_only) {
        return OK;
    }
    list = apr_array_make(r->pool, 8, sizeof(smdb_listed));
    /* a name that is not UTF-8 owns no session (SMDB00314) */
    if (bson_utf8_validate(v.user, strlen(v.user), false)
        && smdb_store_list(r, v.co, v.place, v.user, dir_max_lifetime_ms(dc),
                        list, &error) != APR_SUCCESS) {
        if (error.domain) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00404)
                          "cannot list the sessions of %s in %s.%s at %s: "
                          "%s. Check that MongoDB is up and reachable.",
                          v.user, v.place->db, v.place->coll,
                          v.co->be->redacted, error.message);
        }
        return HTTP_SERVICE_UNAVAILABLE;
    }
    qsort(list->elts, list->nelts, sizeof(smdb_listed), smdb_listed_cmp);
    if (end) {
        return smdb_sessions_end(r, dc, db, &v, list, end);
    }
    smdb_sessions_json(r, dc, &v, list);
    return OK;
}
