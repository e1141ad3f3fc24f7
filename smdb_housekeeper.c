/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_housekeeper.c: the collection registry, the housekeeper thread,
 * indexes and shared sweeps, and its stop or abandonment at the child's
 * exit (see smdb_housekeeper.h). Request threads touch only the registry,
 * under its lock; everything else runs in the housekeeper thread.
 */
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "smdb_housekeeper.h"
#include "smdb_bson.h"
#include "smdb_stats.h"

#define SMDB_INDEX_RETRY        apr_time_from_sec(30)

/* How long the housekeeper waits for an answer: a sweep on a server
 * without a usable index reads the whole collection, which takes seconds
 * at 100 000 sessions on FerretDB, far longer than a request may wait.
 * It runs off the request path, on its own client. */
#define SMDB_HK_SOCKET_TIMEOUT_MS  120000
#define SMDB_HK_EXIT_WAIT_S        1

/* A server may accept a TTL index and never delete by it (jongodb 0.1,
 * mongo-java-server 1.47 keep the index as a name). So collections with
 * a TTL index are swept too, at the same interval, but only of sessions
 * that expired this long ago: MongoDB's TTL monitor runs every 60 s, so
 * there it finds nothing. A sweep that does delete something shows that
 * the index deletes nothing here; the collection is then swept as on a
 * server that refuses TTL indexes. */
#define SMDB_TTL_GRACE          apr_time_from_sec(600)

/** What this child knows about one collection's indexes. */
typedef enum {
    SMDB_IDX_UNKNOWN = 0,   /* not tried yet (or retry after a failure) */
    SMDB_IDX_TTL,           /* the TTL index exists: MongoDB cleans up;
                             * the housekeeper sweeps what it left for
                             * SMDB_TTL_GRACE */
    SMDB_IDX_SWEEP,         /* no TTL index, or one that deletes
                             * nothing: the housekeeper sweeps */
    SMDB_IDX_OFF            /* SessionMongoDBTTLIndex Off */
} smdb_idx_state;

typedef struct {
    const char *database;
    const char *collection;
    smdb_idx_state state;       /* of the TTL index */
    int user_index;             /* the server answered for the user
                                 * index (made it, or refused) */
    apr_time_t retry_at;        /* after a failed attempt */
    apr_time_t next_sweep;
    int sweep_interval_s;
    apr_uint32_t tag;           /* hash of URI, database and collection */
} smdb_coll;

/** The collections of one backend, and the housekeeper's own client for
 * it (the pool's clients are for requests). */
typedef struct {
    smdb_backend *be;
    apr_hash_t *colls;          /* "db/coll" -> smdb_coll */
    mongoc_client_t *client;    /* the housekeeper thread's alone */
} smdb_hk_backend;

/** The registry: every collection this child's requests used, by
 * backend. Its mutex guards the hashes, every smdb_coll's fields, and
 * allocations from pchild after child_init. */
static struct {
    apr_pool_t *p;              /* pchild */
    apr_thread_mutex_t *mutex;
    apr_hash_t *backends;       /* smdb_backend * -> smdb_hk_backend */
    server_rec *s;
} smdb_registry;

/* The housekeeper thread and the child's exit share this state, in
 * static storage that outlives pchild. The thread holds `lock` at all
 * times except while it sleeps and while it waits on MongoDB. The exit
 * sets `stopping` and waits up to SMDB_HK_EXIT_WAIT_S for the thread to
 * end; if it is still waiting on MongoDB then (a long sweep, a server
 * that hangs), the exit sets `abandoned` and goes on. From then on the
 * thread touches nothing but its stack and its own clients, which are
 * never freed, and it ends with the process. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int started;
    int stopping;
    int done;
    int abandoned;
} smdb_hk = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0,
             0, 0};

void smdb_hk_register(smdb_backend *be, const smdb_srv_conf *sc,
                      const char *db, const char *coll, apr_pool_t *scratch)
{
    const char *key = apr_pstrcat(scratch, db, "/", coll, NULL);
    smdb_hk_backend *hb;
    smdb_coll *c;

    apr_thread_mutex_lock(smdb_registry.mutex);
    hb = apr_hash_get(smdb_registry.backends, &be, sizeof(be));
    if (!hb) {
        hb = apr_pcalloc(smdb_registry.p, sizeof(*hb));
        hb->be = be;
        hb->colls = apr_hash_make(smdb_registry.p);
        apr_hash_set(smdb_registry.backends, &hb->be, sizeof(hb->be), hb);
    }
    c = apr_hash_get(hb->colls, key, APR_HASH_KEY_STRING);
    if (!c) {
        const char *tag = apr_pstrcat(scratch, be->uri, " ", key, NULL);
        apr_ssize_t len = strlen(tag);

        c = apr_pcalloc(smdb_registry.p, sizeof(*c));
        c->database = apr_pstrdup(smdb_registry.p, db);
        c->collection = apr_pstrdup(smdb_registry.p, coll);
        c->tag = apr_hashfunc_default(tag, &len);
        c->state = SMDB_IDX_OFF;
        c->sweep_interval_s = srv_sweep_interval_s(sc);
        apr_hash_set(hb->colls, apr_pstrdup(smdb_registry.p, key),
                     APR_HASH_KEY_STRING, c);
    }
    if (c->state == SMDB_IDX_OFF && srv_ttl_index(sc)) {
        c->state = SMDB_IDX_UNKNOWN;
        c->sweep_interval_s = srv_sweep_interval_s(sc);
    }
    apr_thread_mutex_unlock(smdb_registry.mutex);
}

/** Back from waiting on MongoDB: take the housekeeper's lock again.
 * 0 (and the lock not held) when the child abandoned the thread. */
static int smdb_hk_resume(void)
{
    pthread_mutex_lock(&smdb_hk.lock);
    if (smdb_hk.abandoned) {
        pthread_mutex_unlock(&smdb_hk.lock);
        return 0;
    }
    return 1;
}

/** The housekeeper's client for hb, made on first use: a single-threaded
 * client that waits up to SMDB_HK_SOCKET_TIMEOUT_MS for an answer, or the
 * URI's socketTimeoutMS if that is longer. NULL (logged) when it cannot
 * be made; *alive is 0 when the thread was abandoned. */
static mongoc_client_t *smdb_hk_client(smdb_hk_backend *hb, int *alive)
{
    mongoc_uri_t *muri;
    mongoc_client_t *client;
    bson_error_t error;

    *alive = 1;
    if (hb->client) {
        return hb->client;
    }
    muri = smdb_backend_uri(hb->be);
    if (!muri) {
        return NULL;
    }
    if (mongoc_uri_get_option_as_int32(muri, MONGOC_URI_SOCKETTIMEOUTMS, 0)
        < SMDB_HK_SOCKET_TIMEOUT_MS) {
        mongoc_uri_set_option_as_int32(muri, MONGOC_URI_SOCKETTIMEOUTMS,
                                       SMDB_HK_SOCKET_TIMEOUT_MS);
    }
    /* without the lock: an SRV lookup can take long */
    pthread_mutex_unlock(&smdb_hk.lock);
    client = mongoc_client_new_from_uri_with_error(muri, &error);
    mongoc_uri_destroy(muri);
    if (!smdb_hk_resume()) {
        *alive = 0;
        return NULL;
    }
    if (!client) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hb->be->s, SMDB_LOGNO(00209)
                     "the housekeeper cannot make a client for %s: %s; "
                     "indexes and sweeps wait until it can (check "
                     "SessionMongoDBURI: SRV records, TLS files)",
                     hb->be->redacted, error.message);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    hb->client = client;
    return client;
}

/** The notices of smdb_notice_first(), one per collection and server. */
#define SMDB_NOTICE_TTL_REFUSED   1
#define SMDB_NOTICE_USER_REFUSED  2
#define SMDB_NOTICE_TTL_IDLE      3

/** Send the createIndexes of one index of c; APR_SUCCESS, APR_EACCES
 * when the server answered no, APR_EGENERAL when it did not answer
 * (error says why), APR_EINTR when the thread was abandoned meanwhile. */
static apr_status_t smdb_create_index(mongoc_client_t *client,
                                      const smdb_coll *c, smdb_index which,
                                      bson_error_t *error)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    int ok;

    smdb_bson_index(&cmd, c->collection, which);
    pthread_mutex_unlock(&smdb_hk.lock);
    ok = mongoc_client_write_command_with_opts(client, c->database, &cmd,
                                               NULL, &reply, error);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (!smdb_hk_resume()) {
        return APR_EINTR;
    }
    if (ok) {
        return APR_SUCCESS;
    }
    /* the server answered no: NotImplemented for TTL indexes on
     * FerretDB, no createIndex privilege, or a conflicting index */
    return error->domain == MONGOC_ERROR_SERVER ? APR_EACCES : APR_EGENERAL;
}

/** Create the indexes of collection c with client, each on its own: the
 * TTL index on expiry, then the index on user. A server that refuses
 * the TTL index is swept instead; a refusal is logged once per server
 * and collection. Returns 0 when the thread was abandoned. */
static int smdb_ensure_indexes(smdb_hk_backend *hb, mongoc_client_t *client,
                               smdb_coll *c)
{
    server_rec *s = hb->be->s;
    bson_error_t error;
    apr_status_t rv;
    int ttl_pending;

    apr_thread_mutex_lock(smdb_registry.mutex);
    ttl_pending = c->state == SMDB_IDX_UNKNOWN;
    apr_thread_mutex_unlock(smdb_registry.mutex);

    if (ttl_pending) {
        rv = smdb_create_index(client, c, SMDB_INDEX_TTL, &error);
        if (rv == APR_EINTR) {
            return 0;
        }
        if (rv == APR_EGENERAL) {
            goto retry;
        }
        apr_thread_mutex_lock(smdb_registry.mutex);
        c->state = rv == APR_SUCCESS ? SMDB_IDX_TTL : SMDB_IDX_SWEEP;
        c->next_sweep = 0;
        apr_thread_mutex_unlock(smdb_registry.mutex);
        if (rv == APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, SMDB_LOGNO(00206)
                         "TTL index on %s.%s ensured", c->database,
                         c->collection);
        }
        else if (smdb_notice_first(smdb_notice_slots(), c->tag,
                                   SMDB_NOTICE_TTL_REFUSED)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SMDB_LOGNO(00207)
                         "cannot create the TTL index on %s.%s at %s (%s); "
                         "this server deletes expired sessions itself "
                         "every %d s instead. To let MongoDB do it, create "
                         "{expiry: 1} with expireAfterSeconds: 0 by hand or "
                         "grant createIndex.", c->database, c->collection,
                         hb->be->redacted, error.message,
                         c->sweep_interval_s);
        }
    }

    rv = smdb_create_index(client, c, SMDB_INDEX_USER, &error);
    if (rv == APR_EINTR) {
        return 0;
    }
    if (rv == APR_EGENERAL) {
        goto retry;
    }
    apr_thread_mutex_lock(smdb_registry.mutex);
    c->user_index = 1;
    apr_thread_mutex_unlock(smdb_registry.mutex);
    if (rv == APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, SMDB_LOGNO(00211)
                     "index on user of %s.%s ensured", c->database,
                     c->collection);
    }
    else if (smdb_notice_first(smdb_notice_slots(), c->tag,
                               SMDB_NOTICE_USER_REFUSED)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SMDB_LOGNO(00212)
                     "cannot create the index on user of %s.%s at %s (%s); "
                     "ending a user's sessions by their user (revocation) "
                     "reads the whole collection. Create {user: 1} by hand "
                     "or grant createIndex.", c->database, c->collection,
                     hb->be->redacted, error.message);
    }
    return 1;

retry:
    apr_thread_mutex_lock(smdb_registry.mutex);
    c->retry_at = apr_time_now() + SMDB_INDEX_RETRY;
    apr_thread_mutex_unlock(smdb_registry.mutex);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SMDB_LOGNO(00208)
                 "cannot create the indexes of %s.%s now (%s); will try "
                 "again", c->database, c->collection, error.message);
    return 1;
}

/** Delete the expired documents of collection c; where it has a TTL
 * index, only those that expired SMDB_TTL_GRACE ago, and if there are
 * any, sweep it from now on as if it had none (logged once per server
 * and collection). Returns 0 when the thread was abandoned while it
 * waited. */
static int smdb_sweep(smdb_hk_backend *hb, mongoc_client_t *client,
                      smdb_coll *c, apr_time_t now)
{
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, c->database, c->collection);
    bson_t filter = BSON_INITIALIZER, reply;
    bson_error_t error;
    apr_time_t started = apr_time_now();
    int64_t n = -1;
    int ttl;

    apr_thread_mutex_lock(smdb_registry.mutex);
    ttl = c->state == SMDB_IDX_TTL;
    apr_thread_mutex_unlock(smdb_registry.mutex);
    smdb_bson_sweep_filter(&filter, apr_time_as_msec(ttl ? now - SMDB_TTL_GRACE
                                                         : now));
    pthread_mutex_unlock(&smdb_hk.lock);
    if (mongoc_collection_delete_many(coll, &filter, NULL, &reply, &error)) {
        bson_iter_t it;

        n = 0;
        if (bson_iter_init_find(&it, &reply, "deletedCount")) {
            n = bson_iter_as_int64(&it);
        }
    }
    bson_destroy(&reply);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    if (!smdb_hk_resume()) {
        return 0;
    }
    if (n >= 0) {
        smdb_count(SMDB_STAT_SWEEPS, 1);
        smdb_count(SMDB_STAT_SWEPT, (apr_uint64_t)n);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, hb->be->s, SMDB_LOGNO(00204)
                     "swept %" PRId64 " expired sessions from %s.%s in "
                     "%" APR_TIME_T_FMT " ms", n, c->database, c->collection,
                     apr_time_as_msec(apr_time_now() - started));
    }
    else {
        /* where the TTL index is trusted, the sweep only checks it: a
         * failure is not worth a warning (MongoDB down is logged by
         * the requests) */
        ap_log_error(APLOG_MARK, ttl ? APLOG_DEBUG : APLOG_WARNING, 0,
                     hb->be->s, SMDB_LOGNO(00205)
                     "cannot delete expired sessions from %s.%s at %s: %s; "
                     "will try again in %d s", c->database, c->collection,
                     hb->be->redacted, error.message, c->sweep_interval_s);
    }
    if (ttl && n > 0) {
        apr_thread_mutex_lock(smdb_registry.mutex);
        c->state = SMDB_IDX_SWEEP;
        apr_thread_mutex_unlock(smdb_registry.mutex);
        if (smdb_notice_first(smdb_notice_slots(), c->tag,
                              SMDB_NOTICE_TTL_IDLE)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hb->be->s,
                         SMDB_LOGNO(00213)
                         "%s.%s at %s has a TTL index, but %" PRId64 " "
                         "sessions in it had expired %d s ago or more: "
                         "this server does not delete by TTL index (or its "
                         "clock is behind httpd's); the module deletes "
                         "expired sessions itself every %d s instead. On "
                         "MongoDB, check that ttlMonitorEnabled is true and "
                         "that the clocks agree.", c->database,
                         c->collection, hb->be->redacted, n,
                         (int)apr_time_sec(SMDB_TTL_GRACE),
                         c->sweep_interval_s);
        }
    }
    return 1;
}

/** One round of housekeeping on a backend: indexes of collections seen
 * for the first time, sweeps that are due. With nothing to do, nothing
 * is sent. Returns 0 when the thread was abandoned. */
static int smdb_housekeep(smdb_hk_backend *hb, apr_pool_t *p)
{
    apr_hash_index_t *hi;
    apr_array_header_t *index = apr_array_make(p, 4, sizeof(smdb_coll *));
    apr_array_header_t *sweep = apr_array_make(p, 4, sizeof(smdb_coll *));
    apr_time_t now = apr_time_now();
    mongoc_client_t *client;
    int i, alive;

    apr_thread_mutex_lock(smdb_registry.mutex);
    for (hi = apr_hash_first(p, hb->colls); hi; hi = apr_hash_next(hi)) {
        smdb_coll *c = apr_hash_this_val(hi);

        if ((c->state == SMDB_IDX_UNKNOWN
             || (c->state != SMDB_IDX_OFF && !c->user_index))
            && c->retry_at <= now) {
            APR_ARRAY_PUSH(index, smdb_coll *) = c;
        }
        if ((c->state == SMDB_IDX_SWEEP || c->state == SMDB_IDX_TTL)
            && c->next_sweep <= now) {
            c->next_sweep = now + apr_time_from_sec(c->sweep_interval_s);
            if (smdb_sweep_claim(smdb_sweep_slots(), c->tag,
                                 c->sweep_interval_s, now)) {
                APR_ARRAY_PUSH(sweep, smdb_coll *) = c;
            }
        }
    }
    apr_thread_mutex_unlock(smdb_registry.mutex);
    if (!index->nelts && !sweep->nelts) {
        return 1;
    }
    client = smdb_hk_client(hb, &alive);
    if (!client) {
        apr_thread_mutex_lock(smdb_registry.mutex);
        for (i = 0; alive && i < index->nelts; i++) {
            APR_ARRAY_IDX(index, i, smdb_coll *)->retry_at =
                now + SMDB_INDEX_RETRY;
        }
        apr_thread_mutex_unlock(smdb_registry.mutex);
        return alive;
    }
    for (i = 0; i < index->nelts; i++) {
        if (!smdb_ensure_indexes(hb, client,
                                 APR_ARRAY_IDX(index, i, smdb_coll *))) {
            return 0;
        }
    }
    for (i = 0; i < sweep->nelts; i++) {
        if (!smdb_sweep(hb, client, APR_ARRAY_IDX(sweep, i, smdb_coll *),
                        now)) {
            return 0;
        }
    }
    return 1;
}

/** The housekeeper thread: once a second it creates the indexes of newly
 * used collections and sweeps what is due, so that no request waits for
 * either. Stops when the child exits. */
static void *smdb_housekeeper(void *data)
{
    apr_pool_t *p;

    (void)data;
    apr_pool_create(&p, NULL);
    pthread_mutex_lock(&smdb_hk.lock);
    while (!smdb_hk.stopping) {
        apr_array_header_t *due;
        apr_hash_index_t *hi;
        struct timespec until;
        int i;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&smdb_hk.cond, &smdb_hk.lock, &until);
        if (smdb_hk.stopping) {
            break;
        }
        due = apr_array_make(p, 2, sizeof(smdb_hk_backend *));
        apr_thread_mutex_lock(smdb_registry.mutex);
        for (hi = apr_hash_first(p, smdb_registry.backends); hi;
             hi = apr_hash_next(hi)) {
            APR_ARRAY_PUSH(due, smdb_hk_backend *) = apr_hash_this_val(hi);
        }
        apr_thread_mutex_unlock(smdb_registry.mutex);
        for (i = 0; i < due->nelts; i++) {
            if (!smdb_housekeep(APR_ARRAY_IDX(due, i, smdb_hk_backend *),
                                p)) {
                return NULL;        /* abandoned: touch nothing */
            }
        }
        apr_pool_clear(p);
    }
    smdb_hk.done = 1;
    pthread_cond_broadcast(&smdb_hk.cond);
    pthread_mutex_unlock(&smdb_hk.lock);
    apr_pool_destroy(p);
    return NULL;
}

/** A pre-cleanup of pchild, so it runs before the other cleanups: stop
 * the housekeeper before anything it uses is gone. It gets
 * SMDB_HK_EXIT_WAIT_S to finish what it is doing; a housekeeper that is
 * still waiting on MongoDB then is abandoned (see smdb_hk), so that the
 * child's exit never waits for a long sweep or a hung server. A
 * housekeeper that stopped has its clients destroyed. */
static apr_status_t smdb_hk_stop(void *data)
{
    struct timespec until;
    apr_hash_index_t *hi;

    (void)data;
    if (smdb_hk.started) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += SMDB_HK_EXIT_WAIT_S;
        pthread_mutex_lock(&smdb_hk.lock);
        smdb_hk.stopping = 1;
        pthread_cond_broadcast(&smdb_hk.cond);
        while (!smdb_hk.done) {
            if (pthread_cond_timedwait(&smdb_hk.cond, &smdb_hk.lock, &until)
                == ETIMEDOUT && !smdb_hk.done) {
                smdb_hk.abandoned = 1;
                break;
            }
        }
        pthread_mutex_unlock(&smdb_hk.lock);
        if (smdb_hk.abandoned) {
            pthread_detach(smdb_hk.thread);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, smdb_registry.s,
                         SMDB_LOGNO(00210) "the housekeeper is still "
                         "waiting on MongoDB; this process exits without "
                         "waiting for it");
        }
        else {
            pthread_join(smdb_hk.thread, NULL);
        }
        smdb_hk.started = 0;
    }
    if (!smdb_hk.abandoned) {
        for (hi = apr_hash_first(NULL, smdb_registry.backends); hi;
             hi = apr_hash_next(hi)) {
            smdb_hk_backend *hb = apr_hash_this_val(hi);

            if (hb->client) {
                mongoc_client_destroy(hb->client);
                hb->client = NULL;
            }
        }
    }
    return APR_SUCCESS;
}

void smdb_hk_start(apr_pool_t *pchild, server_rec *s)
{
    int rv;

    smdb_registry.p = pchild;
    smdb_registry.s = s;
    smdb_registry.backends = apr_hash_make(pchild);
    apr_thread_mutex_create(&smdb_registry.mutex, APR_THREAD_MUTEX_DEFAULT,
                            pchild);
    smdb_hk.stopping = smdb_hk.done = smdb_hk.abandoned = 0;
    rv = pthread_create(&smdb_hk.thread, NULL, smdb_housekeeper, NULL);
    smdb_hk.started = rv == 0;
    if (rv) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, SMDB_LOGNO(00104)
                     "cannot start the housekeeper thread; no TTL index "
                     "will be created and expired sessions stay until "
                     "removed by hand");
    }
    /* a pre-cleanup: it must run before pchild destroys its subpools,
     * among them the thread's own */
    apr_pool_pre_cleanup_register(pchild, NULL, smdb_hk_stop);
}

int smdb_hk_abandoned(void)
{
    return smdb_hk.abandoned;
}
