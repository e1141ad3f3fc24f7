/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_bson.c: the BSON of the stored document (see smdb_bson.h).
 */
#include "apr_strings.h"

#include "smdb_bson.h"

void smdb_bson_find(bson_t *filter, bson_t *opts, const char *id)
{
    bson_t proj;

    BSON_APPEND_UTF8(filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "value", 1);
    BSON_APPEND_INT32(&proj, "expiry", 1);
    BSON_APPEND_INT32(&proj, "user", 1);
    BSON_APPEND_INT32(&proj, "created", 1);
    BSON_APPEND_INT32(&proj, "version", 1);
    bson_append_document_end(opts, &proj);
    BSON_APPEND_INT64(opts, "limit", 1);
    BSON_APPEND_BOOL(opts, "singleBatch", true);
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

void smdb_bson_update(const smdb_write_spec *w, apr_int64_t now_ms,
                      bson_t *filter, bson_t *update, bson_t *opts)
{
    bson_t set, oninsert, unset, inc, ex;

    BSON_APPEND_UTF8(filter, "_id", w->id);
    if (w->mode == SMDB_W_CAS) {
        if (w->version >= 0) {
            BSON_APPEND_INT64(filter, "version", w->version);
        }
        else {
            /* written before documents had versions */
            BSON_APPEND_DOCUMENT_BEGIN(filter, "version", &ex);
            BSON_APPEND_BOOL(&ex, "$exists", false);
            bson_append_document_end(filter, &ex);
        }
    }
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    BSON_APPEND_UTF8(&set, "value", w->value);
    if (w->expiry) {
        BSON_APPEND_DATE_TIME(&set, "expiry", apr_time_as_msec(w->expiry));
    }
    if (w->user) {
        BSON_APPEND_UTF8(&set, "user", w->user);
    }
    BSON_APPEND_DATE_TIME(&set, "updated", now_ms);
    if (w->mode == SMDB_W_NEW) {
        /* an old document under the same key (a per-user session past
         * its lifetime) must not lend the new session its age */
        BSON_APPEND_DATE_TIME(&set, "created", now_ms);
    }
    bson_append_document_end(update, &set);
    if (w->mode != SMDB_W_NEW) {
        BSON_APPEND_DOCUMENT_BEGIN(update, "$setOnInsert", &oninsert);
        BSON_APPEND_DATE_TIME(&oninsert, "created", now_ms);
        bson_append_document_end(update, &oninsert);
    }
    BSON_APPEND_DOCUMENT_BEGIN(update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "version", 1);
    bson_append_document_end(update, &inc);
    if (!w->expiry || !w->user) {
        BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset);
        if (!w->expiry) {
            BSON_APPEND_UTF8(&unset, "expiry", "");
        }
        if (!w->user) {
            BSON_APPEND_UTF8(&unset, "user", "");
        }
        bson_append_document_end(update, &unset);
    }
    BSON_APPEND_BOOL(opts, "upsert", w->mode == SMDB_W_NEW);
}

int smdb_bson_matched_one(const bson_t *reply)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, reply, "matchedCount")
           && bson_iter_as_int64(&it) == 1;
}

void smdb_bson_sweep_filter(bson_t *filter, apr_int64_t now_ms)
{
    bson_t lt;

    BSON_APPEND_DOCUMENT_BEGIN(filter, "expiry", &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", now_ms);
    bson_append_document_end(filter, &lt);
}

void smdb_bson_indexes(bson_t *cmd, const char *collection)
{
    bson_t idx, ttl, user, key;

    BSON_APPEND_UTF8(cmd, "createIndexes", collection);
    BSON_APPEND_ARRAY_BEGIN(cmd, "indexes", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "0", &ttl);
    BSON_APPEND_DOCUMENT_BEGIN(&ttl, "key", &key);
    BSON_APPEND_INT32(&key, "expiry", 1);
    bson_append_document_end(&ttl, &key);
    BSON_APPEND_UTF8(&ttl, "name", "expiry_1");
    BSON_APPEND_INT32(&ttl, "expireAfterSeconds", 0);
    bson_append_document_end(&idx, &ttl);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "1", &user);
    BSON_APPEND_DOCUMENT_BEGIN(&user, "key", &key);
    BSON_APPEND_INT32(&key, "user", 1);
    bson_append_document_end(&user, &key);
    BSON_APPEND_UTF8(&user, "name", "user_1");
    bson_append_document_end(&idx, &user);
    bson_append_array_end(cmd, &idx);
}
