/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_backend.c: client pools, the circuit breaker's locking and log
 * lines, a request's client checkout, libmongoc's log (see
 * smdb_backend.h). Runs in request threads, except the log handler,
 * which libmongoc calls from whatever thread it is in.
 */
#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "smdb_backend.h"
#include "smdb_stats.h"
#include "smdb_version.h"

#define SMDB_NOTE_COMMANDS      "session-mongodb-commands"
#define SMDB_POOL_RETRY         apr_time_from_sec(30)

/** This child's backends, made by child_init (the hash does not change
 * after it). */
static struct {
    apr_hash_t *backends;       /* "timeout retry uri" -> smdb_backend */
} smdb_child;

/** Route libmongoc's own log messages to httpd's error log. */
static void smdb_mongoc_log(mongoc_log_level_t level, const char *domain,
                            const char *message, void *data)
{
    server_rec *s = data;
    int l;

    switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL:
        l = APLOG_ERR;
        break;
    case MONGOC_LOG_LEVEL_WARNING:
        l = APLOG_WARNING;
        break;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO:
        l = APLOG_INFO;
        break;
    default:
        l = APLOG_TRACE2;
        break;
    }
    if (l < APLOG_DEBUG && strstr(message, "endSessions")) {
        /* best effort at child exit; servers time sessions out anyway,
         * and some MongoDB-protocol servers lack the command */
        l = APLOG_DEBUG;
    }
    else if (l == APLOG_WARNING
             && (!strcmp(domain, "stream") || !strcmp(domain, "socket")
                 || !strcmp(domain, "cluster")
                 || !strcmp(domain, "monitor"))) {
        /* connection trouble: the failed operation is logged by this
         * module with what to do (SMDB00308, SMDB00309, SMDB00330,
         * SMDB00331) */
        l = APLOG_INFO;
    }
    ap_log_error(APLOG_MARK, l, 0, s, SMDB_LOGNO(00201) "libmongoc %s: %s",
                 domain, message);
}

static apr_status_t smdb_backend_cleanup(void *data)
{
    smdb_backend *be = data;

    /* the child exits: take what it holds out of the server's figures */
    if (be->breaker.open) {
        smdb_gauge_add(be->gauge, SMDB_GAUGE_OPEN, -1);
    }
    smdb_gauge_add(be->gauge, SMDB_GAUGE_CLIENTS,
                   -(int)apr_atomic_read32(&be->clients_out));

    if (be->clients) {
        mongoc_client_pool_destroy(be->clients);
        be->clients = NULL;
    }
    mongoc_read_prefs_destroy(be->read_prefs);
    if (be->read_concern) {
        bson_destroy(be->read_concern);
    }
    if (be->write_concern) {
        bson_destroy(be->write_concern);
    }
    be->read_prefs = NULL;
    be->read_concern = NULL;
    be->write_concern = NULL;
    return APR_SUCCESS;
}

mongoc_uri_t *smdb_backend_uri(const smdb_backend *be)
{
    mongoc_uri_t *muri;
    bson_error_t error;
    int t = be->timeout_ms;

    muri = mongoc_uri_new_with_error(be->uri, &error);
    if (!muri) {
        /* cannot happen: the string parsed at startup */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, be->s, SMDB_LOGNO(00202)
                     "cannot parse SessionMongoDBURI %s: %s",
                     be->redacted, error.message);
        return NULL;
    }
    /* libmongoc's own defaults, 30 s selection and 5 min socket, would
     * hang the workers */
#define SMDB_DEFAULT_OPTION(name) \
    if (!mongoc_uri_has_option(muri, name)) { \
        mongoc_uri_set_option_as_int32(muri, name, t); \
    }
    SMDB_DEFAULT_OPTION(MONGOC_URI_SERVERSELECTIONTIMEOUTMS);
    SMDB_DEFAULT_OPTION(MONGOC_URI_CONNECTTIMEOUTMS);
    SMDB_DEFAULT_OPTION(MONGOC_URI_SOCKETTIMEOUTMS);
    SMDB_DEFAULT_OPTION(MONGOC_URI_WAITQUEUETIMEOUTMS);
#undef SMDB_DEFAULT_OPTION
    if (!mongoc_uri_has_option(muri, MONGOC_URI_APPNAME)) {
        mongoc_uri_set_appname(muri, "mod_session_mongodb/" SMDB_VERSION);
    }
    return muri;
}

/** Create be's client pool (child_init, or one request thread).
 * Creating a pool does no I/O, except an SRV lookup for mongodb+srv://
 * and reading TLS files; when that fails the pool is tried again at most
 * every SMDB_POOL_RETRY, on a request's first use. */
static void smdb_backend_connect(smdb_backend *be)
{
    mongoc_uri_t *muri = smdb_backend_uri(be);
    mongoc_client_pool_t *clients;
    bson_error_t error;

    if (!muri) {
        return;
    }
    clients = mongoc_client_pool_new_with_error(muri, &error);
    if (clients) {
        /* what the collection helpers took from the client, for the
         * commands the module builds; built here, once: libmongoc builds
         * a concern's BSON lazily, which is no job for threads sharing it */
        const mongoc_read_concern_t *rc = mongoc_uri_get_read_concern(muri);
        const mongoc_write_concern_t *wc = mongoc_uri_get_write_concern(muri);

        be->read_prefs =
            mongoc_read_prefs_copy(mongoc_uri_get_read_prefs_t(muri));
        if (!mongoc_read_concern_is_default(rc)) {
            mongoc_read_concern_t *copy = mongoc_read_concern_copy(rc);

            be->read_concern = bson_new();
            mongoc_read_concern_append(copy, be->read_concern);
            mongoc_read_concern_destroy(copy);
        }
        if (!mongoc_write_concern_is_default(wc)) {
            mongoc_write_concern_t *copy = mongoc_write_concern_copy(wc);

            be->write_concern = bson_new();
            mongoc_write_concern_append(copy, be->write_concern);
            mongoc_write_concern_destroy(copy);
        }
    }
    mongoc_uri_destroy(muri);
    if (!clients) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, be->s, SMDB_LOGNO(00203)
                     "cannot create a client pool for %s: %s; sessions "
                     "there do not load until it works (retried every "
                     "%d s). Check SessionMongoDBURI: SRV records, TLS "
                     "files.", be->redacted, error.message,
                     (int)apr_time_sec(SMDB_POOL_RETRY));
        return;
    }
    mongoc_client_pool_set_error_api(clients, MONGOC_ERROR_API_VERSION_2);
    apr_atomic_casptr((void *)&be->clients, clients, NULL);
}

/** be's client pool, made now if it could not be made before; NULL
 * while it cannot. */
static mongoc_client_pool_t *smdb_backend_clients(smdb_backend *be)
{
    mongoc_client_pool_t *clients = apr_atomic_casptr((void *)&be->clients,
                                                      NULL, NULL);

    if (!clients) {
        int mine = 0;

        /* one thread tries, outside the lock: an SRV lookup can be slow */
        apr_thread_mutex_lock(be->mutex);
        if (!be->clients && be->retry_at <= apr_time_now()) {
            be->retry_at = apr_time_now() + SMDB_POOL_RETRY;
            mine = 1;
        }
        apr_thread_mutex_unlock(be->mutex);
        if (mine) {
            smdb_backend_connect(be);
        }
        clients = apr_atomic_casptr((void *)&be->clients, NULL, NULL);
    }
    return clients;
}

/** This child's backend for a server's URI, timeout and retry interval
 * (shared with earlier servers that have the same), with its client
 * pool. In pchild. */
static smdb_backend *smdb_backend_get(apr_pool_t *p, server_rec *s,
                                      const smdb_srv_conf *sc)
{
    const char *uri = srv_uri(sc);
    const char *key = apr_psprintf(p, "%d %d %s", srv_timeout_ms(sc),
                                   srv_retry_interval_s(sc), uri);
    smdb_backend *be = apr_hash_get(smdb_child.backends, key,
                                    APR_HASH_KEY_STRING);

    if (be) {
        return be;
    }
    be = apr_pcalloc(p, sizeof(*be));
    be->uri = uri;
    be->redacted = smdb_redact(p, uri);
    be->timeout_ms = srv_timeout_ms(sc);
    be->retry_interval_s = srv_retry_interval_s(sc);
    be->s = s;
    be->gauge = smdb_gauge_claim(key);
    apr_thread_mutex_create(&be->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    apr_hash_set(smdb_child.backends, key, APR_HASH_KEY_STRING, be);
    apr_pool_cleanup_register(p, be, smdb_backend_cleanup,
                              apr_pool_cleanup_null);
    be->retry_at = apr_time_now() + SMDB_POOL_RETRY;
    smdb_backend_connect(be);
    return be;
}

void smdb_backends_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *v;

    mongoc_log_set_handler(smdb_mongoc_log, s);
    smdb_child.backends = apr_hash_make(pchild);
    for (v = s; v; v = v->next) {
        smdb_srv_conf *sc = smdb_srv(v);

        sc->backend = smdb_backend_get(pchild, v, sc);
    }
}

void smdb_backends_exit(void)
{
    mongoc_log_set_handler(NULL, NULL);
    smdb_child.backends = NULL;
}

/* ------------------------------------------------------------------ */
/* the breaker, under the backend's mutex                               */
/* ------------------------------------------------------------------ */

/** True for errors that mean MongoDB is out of reach (as opposed to a
 * server that answered no). */
static int smdb_is_outage(const bson_error_t *error)
{
    return error->domain == MONGOC_ERROR_SERVER_SELECTION
        || error->domain == MONGOC_ERROR_STREAM;
}

/** Whether r may ask be's MongoDB now (see smdb_breaker.h); a refusal
 * is counted and logged at debug. */
static int smdb_breaker_check(request_rec *r, smdb_backend *be,
                              apr_uint64_t *ticket)
{
    int allow;

    apr_thread_mutex_lock(be->mutex);
    allow = smdb_breaker_allow(&be->breaker, apr_time_now());
    if (allow) {
        *ticket = smdb_breaker_issue(&be->breaker);
    }
    apr_thread_mutex_unlock(be->mutex);
    if (!allow) {
        smdb_count(SMDB_STAT_BREAKER_SKIPS, 1);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00319)
                      "not asking MongoDB at %s while it is failing; the "
                      "request goes on without its session",
                      be->redacted);
    }
    return allow;
}

/** Tell be's breaker how an operation went; its opening and closing are
 * logged once each. */
static void smdb_breaker_tell(request_rec *r, smdb_backend *be,
                              apr_uint64_t ticket, int outage)
{
    smdb_breaker_change change;
    int failures;

    apr_thread_mutex_lock(be->mutex);
    change = smdb_breaker_report(&be->breaker, outage, ticket,
                                 apr_time_now(),
                                 apr_time_from_sec(be->retry_interval_s),
                                 &failures);
    if (change != SMDB_BREAKER_SAME) {
        smdb_gauge_add(be->gauge, SMDB_GAUGE_OPEN,
                       change == SMDB_BREAKER_OPENED ? 1 : -1);
    }
    if (change == SMDB_BREAKER_OPENED) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00320)
                      "MongoDB at %s failed %d times in a row; this "
                      "process stops asking it for %d s at a time and "
                      "serves requests without their sessions until "
                      "it answers again. Check that MongoDB is up.",
                      be->redacted, failures, be->retry_interval_s);
    }
    else if (change == SMDB_BREAKER_CLOSED) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SMDB_LOGNO(00321)
                      "MongoDB at %s answers again after %d failures; "
                      "sessions are back", be->redacted, failures);
    }
    apr_thread_mutex_unlock(be->mutex);
}

/* ------------------------------------------------------------------ */
/* a request's checkout                                                 */
/* ------------------------------------------------------------------ */

static apr_status_t smdb_checkout_cleanup(void *data)
{
    smdb_checkout *co = data;

    if (co->client) {
        mongoc_client_pool_push(co->clients, co->client);
        apr_atomic_dec32(&co->be->clients_out);
        smdb_gauge_add(co->be->gauge, SMDB_GAUGE_CLIENTS, -1);
        co->client = NULL;
    }
    return APR_SUCCESS;
}

apr_interval_time_t smdb_checkout_left(const request_rec *r,
                                       const smdb_checkout *co)
{
    apr_interval_time_t budget =
        apr_time_from_msec(srv_timeout_ms(smdb_srv(r->server)));

    return co->waited < budget ? budget - co->waited : 0;
}

/** Count a wait on MongoDB into the request's budget. */
static void smdb_checkout_waited(smdb_checkout *co,
                                 apr_interval_time_t waited)
{
    co->waited += waited > 0 ? waited : 0;
}

mongoc_client_t *smdb_op_begin(request_rec *r, smdb_checkout *co,
                               const char *command, int budgeted)
{
    smdb_srv_conf *sc = smdb_srv(r->server);

    if (budgeted && !smdb_checkout_left(r, co)) {
        if (!co->spent) {
            co->spent = 1;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00303)
                          "this request has waited %" APR_TIME_T_FMT " ms "
                          "on MongoDB, all of SessionMongoDBTimeout (%d ms): "
                          "no further command (%s) is sent, and what it "
                          "would have done is not done. Check MongoDB's "
                          "load and latency, or raise the timeout.",
                          apr_time_as_msec(co->waited), srv_timeout_ms(sc),
                          command);
        }
        return NULL;
    }
    co->op_started = apr_time_now();

    if (!co->client) {
        co->be = sc->backend;
        co->clients = sc->backend ? smdb_backend_clients(sc->backend) : NULL;
        if (!co->clients) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00301)
                          "no MongoDB client pool for %s; the request goes "
                          "on without its session. See the SMDB00203 line "
                          "for why.", sc->backend ? sc->backend->redacted
                                                  : smdb_redact(r->pool,
                                                                srv_uri(sc)));
            return NULL;
        }
    }
    if (!smdb_breaker_check(r, co->be, &co->ticket)) {
        return NULL;
    }
    if (!co->client) {
        co->client = mongoc_client_pool_pop(co->clients);
        if (co->client) {
            apr_atomic_inc32(&co->be->clients_out);
            smdb_gauge_add(co->be->gauge, SMDB_GAUGE_CLIENTS, 1);
        }
        if (!co->client) {
            smdb_checkout_waited(co, apr_time_now() - co->op_started);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00302)
                          "no free MongoDB client for %s within %d ms; "
                          "raise maxPoolSize in SessionMongoDBURI to at "
                          "least ThreadsPerChild", co->be->redacted,
                          co->be->timeout_ms);
            apr_thread_mutex_lock(co->be->mutex);
            smdb_breaker_abandon(&co->be->breaker);
            apr_thread_mutex_unlock(co->be->mutex);
            return NULL;
        }
        apr_pool_cleanup_register(co->r->pool, co, smdb_checkout_cleanup,
                                  apr_pool_cleanup_null);
    }
    co->commands = co->commands
        ? apr_pstrcat(co->r->pool, co->commands, ",", command, NULL)
        : command;
    apr_table_setn(co->r->notes, SMDB_NOTE_COMMANDS, co->commands);
    return co->client;
}

void smdb_op_end(request_rec *r, smdb_checkout *co, const bson_error_t *error)
{
    smdb_checkout_waited(co, apr_time_now() - co->op_started);
    if (error) {
        smdb_count(SMDB_STAT_ERRORS, 1);
        if (smdb_is_outage(error)) {
            smdb_count(SMDB_STAT_OUTAGES, 1);
        }
    }
    smdb_breaker_tell(r, co->be, co->ticket,
                      error && smdb_is_outage(error));
}

apr_array_header_t *smdb_backend_states(apr_pool_t *p)
{
    apr_array_header_t *out = apr_array_make(p, 2,
                                             sizeof(smdb_backend_state));
    apr_hash_index_t *hi;

    for (hi = smdb_child.backends ? apr_hash_first(p, smdb_child.backends)
                                  : NULL;
         hi; hi = apr_hash_next(hi)) {
        smdb_backend *be = apr_hash_this_val(hi);
        smdb_backend_state *st = apr_array_push(out);

        apr_thread_mutex_lock(be->mutex);
        st->open = be->breaker.open;
        st->failures = be->breaker.failures;
        apr_thread_mutex_unlock(be->mutex);
        st->redacted = be->redacted;
        st->clients_out = (int)apr_atomic_read32(&be->clients_out);
        st->timeout_ms = be->timeout_ms;
        st->server_open = smdb_gauge_get(be->gauge, SMDB_GAUGE_OPEN);
        st->server_clients = smdb_gauge_get(be->gauge, SMDB_GAUGE_CLIENTS);
        st->ready = apr_atomic_casptr((void *)&be->clients, NULL, NULL)
                    != NULL;
    }
    return out;
}
