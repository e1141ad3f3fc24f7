/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_bson.c: the BSON of the stored document (see smdb_bson.h).
 */
#include "apr_strings.h"
#include <string.h>

#include "smdb_bson.h"

void smdb_bson_find(bson_t *cmd, const char *coll, const char *id)
{
    bson_t filter, proj;

    BSON_APPEND_UTF8(cmd, "find", coll);
    BSON_APPEND_DOCUMENT_BEGIN(cmd, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "_id", id);
    bson_append_document_end(cmd, &filter);
    BSON_APPEND_DOCUMENT_BEGIN(cmd, "projection", &proj);
    BSON_APPEND_INT32(&proj, "value", 1);
    BSON_APPEND_INT32(&proj, "expiry", 1);
    BSON_APPEND_INT32(&proj, "user", 1);
    BSON_APPEND_INT32(&proj, "created", 1);
    BSON_APPEND_INT32(&proj, "version", 1);
    bson_append_document_end(cmd, &proj);
    BSON_APPEND_INT64(cmd, "limit", 1);
    BSON_APPEND_BOOL(cmd, "singleBatch", true);
}

int smdb_bson_first(const bson_t *reply, bson_t *doc)
{
    bson_iter_t it, batch;
    const uint8_t *data;
    uint32_t len;

    if (!bson_iter_init_find(&it, reply, "cursor")
        || !BSON_ITER_HOLDS_DOCUMENT(&it)
        || !bson_iter_recurse(&it, &batch)
        || !bson_iter_find(&batch, "firstBatch")
        || !BSON_ITER_HOLDS_ARRAY(&batch)
        || !bson_iter_recurse(&batch, &it)
        || !bson_iter_next(&it) || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        return 0;
    }
    bson_iter_document(&it, &len, &data);
    return bson_init_static(doc, data, len);
}

smdb_doc_state smdb_bson_read(apr_pool_t *p, const bson_t *doc,
                              apr_int64_t now_ms,
                              apr_int64_t max_lifetime_ms, smdb_doc *d)
{
    bson_iter_t it;
    int64_t expiry = 0;

    d->value = d->user = NULL;
    d->created_ms = now_ms;
    d->version = -1;
    if (bson_iter_init_find(&it, doc, "expiry")
        && BSON_ITER_HOLDS_DATE_TIME(&it)) {
        expiry = bson_iter_date_time(&it);
    }
    if (bson_iter_init_find(&it, doc, "created")
        && BSON_ITER_HOLDS_DATE_TIME(&it)) {
        d->created_ms = bson_iter_date_time(&it);
    }
    if (bson_iter_init_find(&it, doc, "version")
        && BSON_ITER_HOLDS_NUMBER(&it)) {
        d->version = bson_iter_as_int64(&it);
    }
    if (expiry && expiry <= now_ms) {
        return SMDB_DOC_EXPIRED;
    }
    if (max_lifetime_ms && d->created_ms + max_lifetime_ms <= now_ms) {
        return SMDB_DOC_TOO_OLD;
    }
    if (!bson_iter_init_find(&it, doc, "value")
        || !BSON_ITER_HOLDS_UTF8(&it)) {
        return SMDB_DOC_NO_VALUE;
    }
    d->value = apr_pstrdup(p, bson_iter_utf8(&it, NULL));
    if (bson_iter_init_find(&it, doc, "user") && BSON_ITER_HOLDS_UTF8(&it)) {
        d->user = apr_pstrdup(p, bson_iter_utf8(&it, NULL));
    }
    return SMDB_DOC_LIVE;
}

/** The filter of w's update statement. */
static void smdb_bson_update_q(const smdb_write_spec *w, bson_t *q)
{
    bson_t ex;

    BSON_APPEND_UTF8(q, "_id", w->id);
    if (w->mode == SMDB_W_CAS) {
        if (w->version >= 0) {
            BSON_APPEND_INT64(q, "version", w->version);
        }
        else {
            /* written before documents had versions */
            BSON_APPEND_DOCUMENT_BEGIN(q, "version", &ex);
            BSON_APPEND_BOOL(&ex, "$exists", false);
            bson_append_document_end(q, &ex);
        }
    }
}

/** The update document of w's update statement. */
static void smdb_bson_update_u(const smdb_write_spec *w, apr_int64_t now_ms,
                               bson_t *u)
{
    bson_t set, oninsert, unset, inc, client;

    BSON_APPEND_DOCUMENT_BEGIN(u, "$set", &set);
    BSON_APPEND_UTF8(&set, "value", w->value);
    if (w->expiry) {
        BSON_APPEND_DATE_TIME(&set, "expiry", apr_time_as_msec(w->expiry));
    }
    if (w->user) {
        BSON_APPEND_UTF8(&set, "user", w->user);
    }
    BSON_APPEND_DATE_TIME(&set, "updated", now_ms);
    if (w->client_ip) {
        BSON_APPEND_DOCUMENT_BEGIN(&set, "client", &client);
        BSON_APPEND_UTF8(&client, "ip", w->client_ip);
        if (w->client_agent) {
            BSON_APPEND_UTF8(&client, "agent", w->client_agent);
        }
        bson_append_document_end(&set, &client);
    }
    if (w->mode == SMDB_W_NEW) {
        /* an old document under the same key (a per-user session past
         * its lifetime) must not lend the new session its age */
        BSON_APPEND_DATE_TIME(&set, "created", now_ms);
    }
    bson_append_document_end(u, &set);
    if (w->mode != SMDB_W_NEW) {
        BSON_APPEND_DOCUMENT_BEGIN(u, "$setOnInsert", &oninsert);
        BSON_APPEND_DATE_TIME(&oninsert, "created", now_ms);
        bson_append_document_end(u, &oninsert);
    }
    BSON_APPEND_DOCUMENT_BEGIN(u, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "version", 1);
    bson_append_document_end(u, &inc);
    if (!w->expiry || !w->user) {
        BSON_APPEND_DOCUMENT_BEGIN(u, "$unset", &unset);
        if (!w->expiry) {
            BSON_APPEND_UTF8(&unset, "expiry", "");
        }
        if (!w->user) {
            BSON_APPEND_UTF8(&unset, "user", "");
        }
        bson_append_document_end(u, &unset);
    }
}

void smdb_bson_update(const smdb_write_spec *w, apr_int64_t now_ms,
                      const char *coll, bson_t *cmd)
{
    bson_t updates, stmt, q, u;

    BSON_APPEND_UTF8(cmd, "update", coll);
    BSON_APPEND_ARRAY_BEGIN(cmd, "updates", &updates);
    BSON_APPEND_DOCUMENT_BEGIN(&updates, "0", &stmt);
    BSON_APPEND_DOCUMENT_BEGIN(&stmt, "q", &q);
    smdb_bson_update_q(w, &q);
    bson_append_document_end(&stmt, &q);
    BSON_APPEND_DOCUMENT_BEGIN(&stmt, "u", &u);
    smdb_bson_update_u(w, now_ms, &u);
    bson_append_document_end(&stmt, &u);
    BSON_APPEND_BOOL(&stmt, "upsert", w->mode == SMDB_W_NEW);
    bson_append_document_end(&updates, &stmt);
    bson_append_array_end(cmd, &updates);
}

void smdb_bson_delete(bson_t *cmd, const char *coll, const char *id)
{
    bson_t deletes, stmt, q;

    BSON_APPEND_UTF8(cmd, "delete", coll);
    BSON_APPEND_ARRAY_BEGIN(cmd, "deletes", &deletes);
    BSON_APPEND_DOCUMENT_BEGIN(&deletes, "0", &stmt);
    BSON_APPEND_DOCUMENT_BEGIN(&stmt, "q", &q);
    BSON_APPEND_UTF8(&q, "_id", id);
    bson_append_document_end(&stmt, &q);
    BSON_APPEND_INT32(&stmt, "limit", 1);
    bson_append_document_end(&deletes, &stmt);
    bson_append_array_end(cmd, &deletes);
}

void smdb_bson_list(bson_t *cmd, const char *coll, const char *user,
                    apr_int64_t now_ms, int limit)
{
    bson_t filter, or, alt, cond, proj;

    BSON_APPEND_UTF8(cmd, "find", coll);
    BSON_APPEND_DOCUMENT_BEGIN(cmd, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "user", user);
    BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &alt);
    BSON_APPEND_DOCUMENT_BEGIN(&alt, "expiry", &cond);
    BSON_APPEND_BOOL(&cond, "$exists", false);
    bson_append_document_end(&alt, &cond);
    bson_append_document_end(&or, &alt);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &alt);
    BSON_APPEND_DOCUMENT_BEGIN(&alt, "expiry", &cond);
    BSON_APPEND_DATE_TIME(&cond, "$gt", now_ms);
    bson_append_document_end(&alt, &cond);
    bson_append_document_end(&or, &alt);
    bson_append_array_end(&filter, &or);
    bson_append_document_end(cmd, &filter);
    BSON_APPEND_DOCUMENT_BEGIN(cmd, "projection", &proj);
    BSON_APPEND_INT32(&proj, "created", 1);
    BSON_APPEND_INT32(&proj, "updated", 1);
    BSON_APPEND_INT32(&proj, "expiry", 1);
    BSON_APPEND_INT32(&proj, "client", 1);
    bson_append_document_end(cmd, &proj);
    BSON_APPEND_INT64(cmd, "limit", limit);
    BSON_APPEND_INT64(cmd, "batchSize", limit);
    BSON_APPEND_BOOL(cmd, "singleBatch", true);
}

/** A date field of doc in ms since the epoch; 0 when it has none. */
static apr_int64_t smdb_bson_date(const bson_t *doc, const char *field)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, doc, field)
           && BSON_ITER_HOLDS_DATE_TIME(&it) ? bson_iter_date_time(&it) : 0;
}

/** A string field of doc (dotted: of a subdocument), copied into p;
 * NULL when it has none. */
static const char *smdb_bson_str(apr_pool_t *p, const bson_t *doc,
                                 const char *dotted)
{
    bson_iter_t it, found;

    return bson_iter_init(&it, doc)
           && bson_iter_find_descendant(&it, dotted, &found)
           && BSON_ITER_HOLDS_UTF8(&found)
           ? apr_pstrdup(p, bson_iter_utf8(&found, NULL)) : NULL;
}

int smdb_bson_list_read(apr_pool_t *p, const bson_t *reply,
                        apr_int64_t now_ms, apr_int64_t max_lifetime_ms,
                        apr_array_header_t *out)
{
    bson_iter_t it, batch;
    int n = 0;

    if (!bson_iter_init_find(&it, reply, "cursor")
        || !BSON_ITER_HOLDS_DOCUMENT(&it)
        || !bson_iter_recurse(&it, &batch)
        || !bson_iter_find(&batch, "firstBatch")
        || !BSON_ITER_HOLDS_ARRAY(&batch)
        || !bson_iter_recurse(&batch, &it)) {
        return 0;
    }
    while (bson_iter_next(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t doc;
        smdb_listed l;

        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            continue;
        }
        n++;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&doc, data, len)) {
            continue;
        }
        l.id = smdb_bson_str(p, &doc, "_id");
        l.created_ms = smdb_bson_date(&doc, "created");
        l.updated_ms = smdb_bson_date(&doc, "updated");
        l.expiry_ms = smdb_bson_date(&doc, "expiry");
        /* per-user sessions (_id: the name) are no cookie sessions; the
         * server's filter on expiry is checked again, with the lifetime */
        if (!smdb_id_valid(l.id) || (l.expiry_ms && l.expiry_ms <= now_ms)
            || (max_lifetime_ms && l.created_ms
                && l.created_ms + max_lifetime_ms <= now_ms)) {
            continue;
        }
        l.ip = smdb_bson_str(p, &doc, "client.ip");
        l.agent = smdb_bson_str(p, &doc, "client.agent");
        *(smdb_listed *)apr_array_push(out) = l;
    }
    return n;
}

void smdb_bson_delete_owned(bson_t *cmd, const char *coll, const char *user,
                            const char *const *ids, int n)
{
    bson_t deletes, stmt, q, in, arr;
    int i;

    BSON_APPEND_UTF8(cmd, "delete", coll);
    BSON_APPEND_ARRAY_BEGIN(cmd, "deletes", &deletes);
    BSON_APPEND_DOCUMENT_BEGIN(&deletes, "0", &stmt);
    BSON_APPEND_DOCUMENT_BEGIN(&stmt, "q", &q);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    for (i = 0; i < n; i++) {
        char key[16];
        const char *k;

        bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
        bson_append_utf8(&arr, k, -1, ids[i], -1);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(&q, &in);
    BSON_APPEND_UTF8(&q, "user", user);
    bson_append_document_end(&stmt, &q);
    BSON_APPEND_INT32(&stmt, "limit", 0);
    bson_append_document_end(&deletes, &stmt);
    bson_append_array_end(cmd, &deletes);
}

/** The errmsg and code of an error document (a writeErrors element or a
 * writeConcernError) into error, in domain. */
static void smdb_bson_error(bson_iter_t *doc, uint32_t domain,
                            bson_error_t *error)
{
    bson_iter_t it;
    const char *msg = "no errmsg";
    uint32_t code = 0;

    if (BSON_ITER_HOLDS_DOCUMENT(doc) && bson_iter_recurse(doc, &it)) {
        while (bson_iter_next(&it)) {
            if (!strcmp(bson_iter_key(&it), "errmsg")
                && BSON_ITER_HOLDS_UTF8(&it)) {
                msg = bson_iter_utf8(&it, NULL);
            }
            else if (!strcmp(bson_iter_key(&it), "code")
                     && BSON_ITER_HOLDS_NUMBER(&it)) {
                code = (uint32_t)bson_iter_as_int64(&it);
            }
        }
    }
    bson_set_error(error, domain, code, "%s", msg);
}

int smdb_bson_write_reply(const bson_t *reply, apr_int64_t *n,
                          bson_error_t *error)
{
    bson_iter_t it, first;

    *n = 0;
    if (bson_iter_init_find(&it, reply, "writeErrors")
        && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &first)
        && bson_iter_next(&first)) {
        smdb_bson_error(&first, MONGOC_ERROR_SERVER, error);
        return 0;
    }
    if (bson_iter_init_find(&it, reply, "writeConcernError")) {
        smdb_bson_error(&it, MONGOC_ERROR_WRITE_CONCERN, error);
        return 0;
    }
    if (bson_iter_init_find(&it, reply, "n") && BSON_ITER_HOLDS_NUMBER(&it)) {
        *n = bson_iter_as_int64(&it);
    }
    return 1;
}

void smdb_bson_sweep_filter(bson_t *filter, apr_int64_t now_ms)
{
    bson_t lt;

    BSON_APPEND_DOCUMENT_BEGIN(filter, "expiry", &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", now_ms);
    bson_append_document_end(filter, &lt);
}

void smdb_bson_index(bson_t *cmd, const char *collection, smdb_index which)
{
    bson_t idx, spec, key;
    const char *field = which == SMDB_INDEX_TTL ? "expiry" : "user";

    BSON_APPEND_UTF8(cmd, "createIndexes", collection);
    BSON_APPEND_ARRAY_BEGIN(cmd, "indexes", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "0", &spec);
    BSON_APPEND_DOCUMENT_BEGIN(&spec, "key", &key);
    BSON_APPEND_INT32(&key, field, 1);
    bson_append_document_end(&spec, &key);
    BSON_APPEND_UTF8(&spec, "name",
                     which == SMDB_INDEX_TTL ? "expiry_1" : "user_1");
    if (which == SMDB_INDEX_TTL) {
        BSON_APPEND_INT32(&spec, "expireAfterSeconds", 0);
    }
    bson_append_document_end(&idx, &spec);
    bson_append_array_end(cmd, &idx);
}
