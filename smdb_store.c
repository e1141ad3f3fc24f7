/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_store.c: find, update and delete one session document (see
 * smdb_store.h). Request threads only.
 */
#include "smdb_store.h"
#include "smdb_housekeeper.h"
#include "smdb_stats.h"

/** The client for command on pl, or NULL; the first operation of a
 * request on a collection makes the housekeeper aware of it. */
static mongoc_client_t *smdb_store_begin(request_rec *r, smdb_checkout *co,
                                         smdb_place *pl, const char *command,
                                         int budgeted)
{
    mongoc_client_t *client = smdb_op_begin(r, co, command, budgeted);

    if (client && !pl->registered) {
        pl->registered = 1;
        smdb_hk_register(co->be, smdb_srv(r->server), pl->db, pl->coll,
                         r->pool);
    }
    return client;
}

/** Send a write command (update, delete) with the URI's write concern:
 * one attempt, through libmongoc's server selection, authentication,
 * TLS and connection pool. *n as smdb_bson_write_reply(). */
static int smdb_store_send_write(mongoc_client_t *client, smdb_checkout *co,
                                 const char *db, bson_t *cmd,
                                 apr_int64_t *n, bson_error_t *error)
{
    bson_t reply = BSON_INITIALIZER;
    int ok;

    if (co->be->write_concern) {
        bson_concat(cmd, co->be->write_concern);
    }
    ok = mongoc_client_command_simple(client, db, cmd, NULL, &reply, error)
         && smdb_bson_write_reply(&reply, n, error);
    bson_destroy(&reply);
    return ok;
}

apr_status_t smdb_store_find(request_rec *r, smdb_checkout *co,
                             smdb_place *pl, const char *id,
                             apr_int64_t max_lifetime_ms, smdb_doc *d,
                             bson_error_t *error)
{
    mongoc_client_t *client;
    bson_t cmd = BSON_INITIALIZER, reply = BSON_INITIALIZER, doc;
    apr_status_t rv = APR_SUCCESS;
    apr_time_t started = apr_time_now();
    apr_int64_t now = apr_time_as_msec(started);

    d->value = d->user = NULL;
    d->created_ms = now;
    d->version = -1;
    error->domain = 0;
    client = smdb_store_begin(r, co, pl, "find", 1);
    if (!client) {
        return APR_EGENERAL;
    }
    smdb_bson_find(&cmd, pl->coll, id);
    if (co->be->read_concern) {
        bson_concat(&cmd, co->be->read_concern);
    }
    smdb_count(SMDB_STAT_LOADS, 1);
    if (!mongoc_client_command_simple(client, pl->db, &cmd,
                                      co->be->read_prefs, &reply, error)) {
        rv = APR_EGENERAL;
    }
    else if (!smdb_bson_first(&reply, &doc)) {
        smdb_count(SMDB_STAT_NOT_FOUND, 1);
    }
    else {
        switch (smdb_bson_read(co->r->pool, &doc, now, max_lifetime_ms, d)) {
        case SMDB_DOC_LIVE:
            break;
        case SMDB_DOC_EXPIRED:
            smdb_count(SMDB_STAT_EXPIRED, 1);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00306)
                          "session %.8s... in %s.%s has expired", id,
                          pl->db, pl->coll);
            break;
        case SMDB_DOC_TOO_OLD:
            smdb_count(SMDB_STAT_EXPIRED, 1);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00318)
                          "session %.8s... in %s.%s has reached "
                          "SessionMongoDBMaxLifetime", id, pl->db, pl->coll);
            break;
        case SMDB_DOC_NO_VALUE:
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00307)
                          "session %.8s... in %s.%s has no string 'value'; "
                          "ignoring it (was it written by another program?)",
                          id, pl->db, pl->coll);
            break;
        }
    }
    smdb_op_end(r, co, rv == APR_SUCCESS ? NULL : error);
    smdb_count(SMDB_STAT_LOAD_USEC, apr_time_now() - started);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    return rv;
}

apr_status_t smdb_store_write(request_rec *r, smdb_checkout *co,
                              smdb_place *pl, const smdb_write_spec *w,
                              bson_error_t *error)
{
    mongoc_client_t *client;
    bson_t cmd = BSON_INITIALIZER;
    apr_time_t started;
    apr_int64_t n;
    apr_status_t rv = APR_SUCCESS;

    error->domain = 0;
    client = smdb_store_begin(r, co, pl, "update", w->mode != SMDB_W_NEW);
    if (!client) {
        return APR_EGENERAL;
    }
    smdb_bson_update(w, apr_time_as_msec(apr_time_now()), pl->coll, &cmd);
    started = apr_time_now();
    if (!smdb_store_send_write(client, co, pl->db, &cmd, &n, error)) {
        rv = APR_EGENERAL;
    }
    else if (w->mode != SMDB_W_NEW && n != 1) {
        rv = w->mode == SMDB_W_CAS ? APR_EMISMATCH : APR_ENOENT;
        if (w->mode == SMDB_W_CAS) {
            smdb_count(SMDB_STAT_CONFLICTS, 1);
        }
    }
    smdb_count(SMDB_STAT_SAVE_OPS, 1);
    smdb_count(SMDB_STAT_SAVE_USEC, apr_time_now() - started);
    if (rv == APR_SUCCESS) {
        smdb_count(SMDB_STAT_SAVES, 1);
    }
    smdb_op_end(r, co, rv == APR_EGENERAL ? error : NULL);
    bson_destroy(&cmd);
    return rv;
}

apr_status_t smdb_store_delete(request_rec *r, smdb_checkout *co,
                               const smdb_place *pl, const char *id)
{
    mongoc_client_t *client = smdb_op_begin(r, co, "delete", 0);
    bson_t cmd = BSON_INITIALIZER;
    bson_error_t error;
    apr_int64_t n;
    apr_status_t rv = APR_SUCCESS;

    if (!client) {
        return APR_EGENERAL;
    }
    smdb_bson_delete(&cmd, pl->coll, id);
    if (!smdb_store_send_write(client, co, pl->db, &cmd, &n, &error)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00310)
                      "cannot delete session %.8s... from %s.%s at %s: %s; "
                      "it stays until it expires", id, pl->db, pl->coll,
                      co->be->redacted, error.message);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        smdb_count(SMDB_STAT_REMOVES, 1);
    }
    smdb_op_end(r, co, rv == APR_SUCCESS ? NULL : &error);
    bson_destroy(&cmd);
    return rv;
}

apr_status_t smdb_store_list(request_rec *r, smdb_checkout *co,
                             smdb_place *pl, const char *user,
                             apr_int64_t max_lifetime_ms,
                             apr_array_header_t *out, bson_error_t *error)
{
    mongoc_client_t *client;
    bson_t cmd = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    apr_status_t rv = APR_SUCCESS;
    apr_int64_t now = apr_time_as_msec(apr_time_now());

    error->domain = 0;
    client = smdb_store_begin(r, co, pl, "find", 1);
    if (!client) {
        return APR_EGENERAL;
    }
    smdb_bson_list(&cmd, pl->coll, user, now, SMDB_LIST_MAX);
    if (co->be->read_concern) {
        bson_concat(&cmd, co->be->read_concern);
    }
    if (!mongoc_client_command_simple(client, pl->db, &cmd,
                                      co->be->read_prefs, &reply, error)) {
        rv = APR_EGENERAL;
    }
    else {
        smdb_bson_list_read(co->r->pool, &reply, now, max_lifetime_ms, out);
    }
    smdb_op_end(r, co, rv == APR_SUCCESS ? NULL : error);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    return rv;
}

apr_status_t smdb_store_delete_owned(request_rec *r, smdb_checkout *co,
                                     smdb_place *pl, const char *user,
                                     const char *const *ids, int n,
                                     apr_int64_t *ended, bson_error_t *error)
{
    mongoc_client_t *client;
    bson_t cmd = BSON_INITIALIZER;
    apr_status_t rv = APR_SUCCESS;

    *ended = 0;
    error->domain = 0;
    client = smdb_store_begin(r, co, pl, "delete", 0);
    if (!client) {
        return APR_EGENERAL;
    }
    smdb_bson_delete_owned(&cmd, pl->coll, user, ids, n);
    if (!smdb_store_send_write(client, co, pl->db, &cmd, ended, error)) {
        rv = APR_EGENERAL;
    }
    else {
        smdb_count(SMDB_STAT_REMOVES, (apr_uint64_t)*ended);
    }
    smdb_op_end(r, co, rv == APR_SUCCESS ? NULL : error);
    bson_destroy(&cmd);
    return rv;
}
