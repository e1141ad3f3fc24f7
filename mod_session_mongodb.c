/* Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * mod_session_mongodb: a mod_session storage provider that keeps each
 * session in one MongoDB document.
 *
 * The browser holds a random 256 bit token (43 characters of base64url);
 * MongoDB holds a document whose _id is the hex SHA-256 of that token
 * (or the user name, with SessionMongoDBPerUser). One libmongoc client
 * pool exists per distinct URI per child process; a request pops a client
 * on first use and a request pool cleanup pushes it back.
 *
 * File order: includes and log ids, configuration, per-process state
 * (pools, index bookkeeping, housekeeper thread), tokens and cookies, MongoDB
 * operations, the session hooks, httpd hooks and the module record.
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "util_cookies.h"
#include "mod_session.h"

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_hash.h"
#include "apr_thread_proc.h"
#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"
#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_optional_hooks.h"
#include "mod_status.h"

#include <mongoc/mongoc.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "smdb_version.h"
#include "smdb_util.h"

/* Stable log ids in our own namespace (httpd reserves AH for itself).
 * Rules as for APLOGNO: one id per call site, never reused; the list with
 * causes and fixes is in docs/log-ids.md. */
#define SMDB_LOGNO(n) "SMDB" #n ": "

#define SMDB_DEFAULT_URI        "mongodb://localhost:27017"
#define SMDB_DEFAULT_COLLECTION "sessions"
#define SMDB_DEFAULT_TIMEOUT    2000
#define SMDB_DEFAULT_MAXSIZE    65536
#define SMDB_DEFAULT_SWEEP      60
#define SMDB_DEFAULT_RETRY      5
#define SMDB_BREAKER_FAILURES   3       /* in a row, to open the breaker */
#define SMDB_MAX_MAXSIZE        (15 * 1024 * 1024)  /* under BSON's 16 MiB */
#define SMDB_NOTE_COMMANDS      "session-mongodb-commands"
#define SMDB_INDEX_RETRY        apr_time_from_sec(30)

/* bench/run builds a second copy of the module with
 * -DSMDB_BENCH_LAST_WRITE_WINS: saves overwrite whatever is stored, as
 * every other session store does, so that the benchmark can show what
 * the compare-and-set costs. Never for production. */
#ifdef SMDB_BENCH_LAST_WRITE_WINS
#define SMDB_CAS 0
#else
#define SMDB_CAS 1
#endif

module AP_MODULE_DECLARE_DATA session_mongodb_module;
APLOG_USE_MODULE(session_mongodb);

/* ------------------------------------------------------------------ */
/* configuration                                                        */
/* ------------------------------------------------------------------ */

struct smdb_conn;

/** Server (virtual host) configuration. "Unset" is NULL or -1; the
 * defaults are applied by the getters below, so that an explicit value
 * in a virtual host always wins over the main server's. */
typedef struct {
    const char *uri;            /* connection string as configured */
    mongoc_uri_t *parsed;       /* parsed uri (owned by the config pool) */
    int ttl_index;              /* On/Off, -1 unset */
    int timeout_ms;             /* > 0, -1 unset */
    int sweep_interval;         /* seconds > 0, -1 unset */
    int retry_interval;         /* seconds > 0, -1 unset */
    struct smdb_conn *conn;     /* this child's pool for the uri */
} smdb_srv_conf;

/** Directory configuration. */
typedef struct {
    const char *database;
    const char *collection;
    const char *name;           /* cookie name and its attributes */
    const char *name_attrs;
    int name_set;
    const char *name2;
    const char *name2_attrs;
    int name2_set;
    int remove;                 /* -1 unset */
    int peruser;                /* -1 unset */
    apr_size_t maxsize;         /* 0 unset */
    long max_lifetime;          /* seconds, 0 off, -1 unset */
} smdb_dir_conf;

static const char *srv_uri(const smdb_srv_conf *sc)
{
    return sc->uri ? sc->uri : SMDB_DEFAULT_URI;
}

static int srv_timeout(const smdb_srv_conf *sc)
{
    return sc->timeout_ms > 0 ? sc->timeout_ms : SMDB_DEFAULT_TIMEOUT;
}

static int srv_ttl_index(const smdb_srv_conf *sc)
{
    return sc->ttl_index != -1 ? sc->ttl_index : 1;
}

static int srv_sweep_interval(const smdb_srv_conf *sc)
{
    return sc->sweep_interval > 0 ? sc->sweep_interval : SMDB_DEFAULT_SWEEP;
}

static int srv_retry_interval(const smdb_srv_conf *sc)
{
    return sc->retry_interval > 0 ? sc->retry_interval : SMDB_DEFAULT_RETRY;
}

static const char *dir_collection(const smdb_dir_conf *dc)
{
    return dc->collection ? dc->collection : SMDB_DEFAULT_COLLECTION;
}

static apr_size_t dir_maxsize(const smdb_dir_conf *dc)
{
    return dc->maxsize ? dc->maxsize : SMDB_DEFAULT_MAXSIZE;
}

/** Absolute lifetime in milliseconds; 0 = none. */
static apr_int64_t dir_max_lifetime_ms(const smdb_dir_conf *dc)
{
    return dc->max_lifetime > 0 ? (apr_int64_t)dc->max_lifetime * 1000 : 0;
}

/** The database for a request: the directive, else the URI's path. */
static const char *dir_database(const smdb_dir_conf *dc,
                                const smdb_srv_conf *sc)
{
    if (dc->database) {
        return dc->database;
    }
    return sc->parsed ? mongoc_uri_get_database(sc->parsed) : NULL;
}

/** True when this directory asked for sessions in MongoDB. */
static int dir_enabled(const smdb_dir_conf *dc)
{
    return dc->name_set || dc->name2_set || dc->peruser == 1;
}

static apr_status_t smdb_uri_cleanup(void *data)
{
    mongoc_uri_destroy((mongoc_uri_t *)data);
    return APR_SUCCESS;
}

/** Parse a connection string; the result is freed with pool p. Returns
 * NULL and an error message (in p) when the string does not parse. */
static mongoc_uri_t *smdb_uri_parse(apr_pool_t *p, const char *uri,
                                    const char **err)
{
    bson_error_t error;
    mongoc_uri_t *parsed = mongoc_uri_new_with_error(uri, &error);

    if (!parsed) {
        *err = apr_pstrdup(p, error.message);
        return NULL;
    }
    apr_pool_cleanup_register(p, parsed, smdb_uri_cleanup,
                              apr_pool_cleanup_null);
    return parsed;
}

static void *create_smdb_srv_conf(apr_pool_t *p, server_rec *s)
{
    smdb_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    (void)s;
    sc->ttl_index = -1;
    sc->timeout_ms = -1;
    sc->sweep_interval = -1;
    sc->retry_interval = -1;
    return sc;
}

static void *merge_smdb_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    smdb_srv_conf *base = basev, *add = addv;
    smdb_srv_conf *new = apr_pcalloc(p, sizeof(*new));

    new->uri = add->uri ? add->uri : base->uri;
    new->parsed = add->uri ? add->parsed : base->parsed;
    new->ttl_index = add->ttl_index != -1 ? add->ttl_index : base->ttl_index;
    new->timeout_ms = add->timeout_ms != -1 ? add->timeout_ms
                                            : base->timeout_ms;
    new->sweep_interval = add->sweep_interval != -1 ? add->sweep_interval
                                                    : base->sweep_interval;
    new->retry_interval = add->retry_interval != -1 ? add->retry_interval
                                                    : base->retry_interval;
    return new;
}

static void *create_smdb_dir_conf(apr_pool_t *p, char *dummy)
{
    smdb_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    (void)dummy;
    dc->remove = -1;
    dc->peruser = -1;
    dc->max_lifetime = -1;
    return dc;
}

static void *merge_smdb_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    smdb_dir_conf *base = basev, *add = addv;
    smdb_dir_conf *new = apr_pcalloc(p, sizeof(*new));

    new->database = add->database ? add->database : base->database;
    new->collection = add->collection ? add->collection : base->collection;
    new->name_set = add->name_set || base->name_set;
    new->name = add->name_set ? add->name : base->name;
    new->name_attrs = add->name_set ? add->name_attrs : base->name_attrs;
    new->name2_set = add->name2_set || base->name2_set;
    new->name2 = add->name2_set ? add->name2 : base->name2;
    new->name2_attrs = add->name2_set ? add->name2_attrs : base->name2_attrs;
    new->remove = add->remove != -1 ? add->remove : base->remove;
    new->peruser = add->peruser != -1 ? add->peruser : base->peruser;
    new->maxsize = add->maxsize ? add->maxsize : base->maxsize;
    new->max_lifetime = add->max_lifetime != -1 ? add->max_lifetime
                                                : base->max_lifetime;
    return new;
}

/** Parse a positive decimal integer no larger than max. */
static const char *smdb_parse_positive(cmd_parms *cmd, const char *arg,
                                       long max, long *out)
{
    char *end;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || v <= 0 || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number "
                            "between 1 and %ld", cmd->directive->directive,
                            arg, max);
    }
    *out = (long)v;
    return NULL;
}

static const char *set_uri(cmd_parms *cmd, void *dconf, const char *arg)
{
    smdb_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                             &session_mongodb_module);
    const char *err = NULL;

    (void)dconf;
    sc->parsed = smdb_uri_parse(cmd->pool, arg, &err);
    if (!sc->parsed) {
        return apr_psprintf(cmd->pool, "%s: cannot parse the connection "
                            "string: %s", cmd->directive->directive, err);
    }
    sc->uri = arg;
    return NULL;
}

static const char *set_ttl_index(cmd_parms *cmd, void *dconf, int flag)
{
    smdb_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                             &session_mongodb_module);

    (void)dconf;
    sc->ttl_index = flag;
    return NULL;
}

/** Where a whole-number server directive goes, and its largest value. */
typedef struct {
    apr_size_t offset;          /* of an int in smdb_srv_conf */
    long max;
} smdb_int_slot;

static const smdb_int_slot smdb_slot_timeout = {
    APR_OFFSETOF(smdb_srv_conf, timeout_ms), 3600000
};
static const smdb_int_slot smdb_slot_sweep = {
    APR_OFFSETOF(smdb_srv_conf, sweep_interval), 86400
};
static const smdb_int_slot smdb_slot_retry = {
    APR_OFFSETOF(smdb_srv_conf, retry_interval), 3600
};

/** SessionMongoDBTimeout, -SweepInterval, -RetryInterval: a whole number
 * from 1 to the slot's maximum (cmd->info). */
static const char *set_srv_int(cmd_parms *cmd, void *dconf, const char *arg)
{
    const smdb_int_slot *slot = cmd->info;
    smdb_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                             &session_mongodb_module);
    long v;
    const char *err = smdb_parse_positive(cmd, arg, slot->max, &v);

    (void)dconf;
    if (!err) {
        *(int *)((char *)sc + slot->offset) = (int)v;
    }
    return err;
}

static const char *set_database(cmd_parms *cmd, void *dconf, const char *arg)
{
    smdb_dir_conf *dc = dconf;

    if (!*arg || strlen(arg) > 63 || strpbrk(arg, "/\\. \"$")) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid MongoDB "
                            "database name (1 to 63 characters, none of "
                            "/\\. \"$)", cmd->directive->directive, arg);
    }
    dc->database = arg;
    return NULL;
}

static const char *set_collection(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    smdb_dir_conf *dc = dconf;

    if (!*arg || strlen(arg) > 120 || strchr(arg, '$')
        || !strncmp(arg, "system.", 7)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid MongoDB "
                            "collection name (1 to 120 characters, no '$', "
                            "not system.*)", cmd->directive->directive, arg);
    }
    dc->collection = arg;
    return NULL;
}

/** Check a cookie name: printable token characters only. */
static const char *smdb_check_cookie_name(cmd_parms *cmd, const char *name)
{
    const char *c;

    for (c = name; *c; c++) {
        if (*c <= ' ' || *c >= 127 || strchr("=;&,\"\\()<>@:/[]?{}", *c)) {
            break;
        }
    }
    if (!*name || *c) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid cookie name "
                            "(letters, digits and !#$%%'*+-.^_`|~ only)",
                            cmd->directive->directive, name);
    }
    return NULL;
}

/** Split "name attrs..." as SessionDBDCookieName does: the first word is
 * the name, the rest of the line (quotes around it removed) the
 * attributes. Both in cmd->pool. */
static const char *smdb_split_cookie(cmd_parms *cmd, const char *args,
                                     const char **name, const char **attrs)
{
    char *line = apr_pstrdup(cmd->pool, args), *last, *rest;
    apr_size_t n;

    *name = apr_strtok(line, " \t", &last);
    if (!*name) {
        return apr_psprintf(cmd->pool, "%s needs a cookie name",
                            cmd->directive->directive);
    }
    rest = last;
    while (apr_isspace(*rest)) {
        rest++;
    }
    n = strlen(rest);
    while (n && apr_isspace(rest[n - 1])) {
        rest[--n] = '\0';
    }
    if (n >= 2 && (rest[0] == '"' || rest[0] == '\'')
        && rest[n - 1] == rest[0]) {
        rest[n - 1] = '\0';
        rest++;
    }
    *attrs = *rest ? rest : NULL;
    return smdb_check_cookie_name(cmd, *name);
}

static const char *set_cookie_name(cmd_parms *cmd, void *dconf,
                                   const char *args)
{
    smdb_dir_conf *dc = dconf;
    const char *err = smdb_split_cookie(cmd, args, &dc->name,
                                        &dc->name_attrs);

    dc->name_set = !err;
    return err;
}

static const char *set_cookie_name2(cmd_parms *cmd, void *dconf,
                                    const char *args)
{
    smdb_dir_conf *dc = dconf;
    const char *err = smdb_split_cookie(cmd, args, &dc->name2,
                                        &dc->name2_attrs);

    dc->name2_set = !err;
    return err;
}

static const char *set_cookie_remove(cmd_parms *cmd, void *dconf, int flag)
{
    (void)cmd;
    ((smdb_dir_conf *)dconf)->remove = flag;
    return NULL;
}

static const char *set_peruser(cmd_parms *cmd, void *dconf, int flag)
{
    (void)cmd;
    ((smdb_dir_conf *)dconf)->peruser = flag;
    return NULL;
}

static const char *set_maxsize(cmd_parms *cmd, void *dconf, const char *arg)
{
    long v;
    const char *err = smdb_parse_positive(cmd, arg, SMDB_MAX_MAXSIZE, &v);

    if (!err) {
        ((smdb_dir_conf *)dconf)->maxsize = (apr_size_t)v;
    }
    return err;
}

static const char *set_max_lifetime(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    long v = 0;
    const char *err = strcmp(arg, "0")
        ? smdb_parse_positive(cmd, arg, 10L * 366 * 86400, &v) : NULL;

    if (!err) {
        ((smdb_dir_conf *)dconf)->max_lifetime = v;
    }
    return err;
}

static const command_rec smdb_cmds[] = {
    AP_INIT_TAKE1("SessionMongoDBURI", set_uri, NULL, RSRC_CONF,
                  "MongoDB connection string (mongodb:// or mongodb+srv://)"),
    AP_INIT_FLAG("SessionMongoDBTTLIndex", set_ttl_index, NULL, RSRC_CONF,
                 "On: create a TTL index so MongoDB removes expired "
                 "sessions; Off: leave indexes and cleanup to the operator"),
    AP_INIT_TAKE1("SessionMongoDBTimeout", set_srv_int,
                  (void *)&smdb_slot_timeout, RSRC_CONF,
                  "Bound in milliseconds on every wait for MongoDB"),
    AP_INIT_TAKE1("SessionMongoDBSweepInterval", set_srv_int,
                  (void *)&smdb_slot_sweep, RSRC_CONF, "Seconds between sweeps of expired sessions "
                  "when the server refuses TTL indexes"),
    AP_INIT_TAKE1("SessionMongoDBRetryInterval", set_srv_int,
                  (void *)&smdb_slot_retry, RSRC_CONF, "Seconds to stop asking MongoDB after it failed "
                  "several times in a row"),
    AP_INIT_TAKE1("SessionMongoDBDatabase", set_database, NULL,
                  RSRC_CONF | OR_AUTHCFG, "Database holding the sessions"),
    AP_INIT_TAKE1("SessionMongoDBCollection", set_collection, NULL,
                  RSRC_CONF | OR_AUTHCFG, "Collection holding the sessions"),
    AP_INIT_RAW_ARGS("SessionMongoDBCookieName", set_cookie_name, NULL,
                     RSRC_CONF | OR_AUTHCFG,
                     "Session cookie name, then optional attributes"),
    AP_INIT_RAW_ARGS("SessionMongoDBCookieName2", set_cookie_name2, NULL,
                     RSRC_CONF | OR_AUTHCFG,
                     "Session cookie (RFC2965) name, then optional "
                     "attributes"),
    AP_INIT_FLAG("SessionMongoDBCookieRemove", set_cookie_remove, NULL,
                 RSRC_CONF | OR_AUTHCFG,
                 "Remove the session cookie before the request reaches "
                 "the application (default On)"),
    AP_INIT_FLAG("SessionMongoDBPerUser", set_peruser, NULL,
                 RSRC_CONF | OR_AUTHCFG,
                 "Key the session by the authenticated user, not a cookie"),
    AP_INIT_TAKE1("SessionMongoDBMaxLifetime", set_max_lifetime, NULL,
                  RSRC_CONF | OR_AUTHCFG,
                  "Seconds after its creation that a session ends however "
                  "active it is (0: never)"),
    AP_INIT_TAKE1("SessionMongoDBMaxSize", set_maxsize, NULL,
                  RSRC_CONF | OR_AUTHCFG,
                  "Largest encoded session in bytes that will be stored"),
    {NULL, {NULL}, NULL, 0, RAW_ARGS, NULL}
};

/* ------------------------------------------------------------------ */
/* counters for the status page                                         */
/* ------------------------------------------------------------------ */

/* What the status page counts: in this child (a static array) and in the
 * whole server since its last (re)start (an anonymous shared memory
 * segment made before the fork). 64-bit atomics on both. */
typedef enum {
    SMDB_STAT_LOADS,            /* finds of a session */
    SMDB_STAT_NOT_FOUND,        /* ... that found no document */
    SMDB_STAT_EXPIRED,          /* ... that found it expired */
    SMDB_STAT_SAVES,            /* successful writes */
    SMDB_STAT_REMOVES,          /* successful deletes */
    SMDB_STAT_CONFLICTS,        /* compare-and-sets lost to a parallel save */
    SMDB_STAT_ERRORS,           /* operations that failed */
    SMDB_STAT_TIMEOUTS,         /* ... because MongoDB was out of reach */
    SMDB_STAT_REFUSED,          /* saves refused (failed load, size, ...) */
    SMDB_STAT_BREAKER_SKIPS,    /* operations not tried: breaker open */
    SMDB_STAT_SWEEPS,           /* sweeps of expired sessions done */
    SMDB_STAT_SWEPT,            /* ... and the documents they deleted */
    SMDB_STAT_LOAD_USEC,        /* time spent in finds; the ones from here
                                 * on are for averages, not shown */
    SMDB_STAT_SAVE_USEC,        /* time spent in writes */
    SMDB_STAT_SAVE_OPS,         /* writes tried (for the average) */
    SMDB_STAT_N
} smdb_stat;

static const char *const smdb_stat_names[SMDB_STAT_N] = {
    "loads", "not_found", "expired", "saves", "removes", "conflicts",
    "errors", "timeouts", "refused_saves", "breaker_skips", "sweeps",
    "swept", "load_usec", "save_usec", "save_ops"
};

static apr_uint64_t smdb_child_stats[SMDB_STAT_N];
static apr_uint64_t *smdb_server_stats;     /* in shared memory, or NULL */

static void smdb_count(smdb_stat which, apr_uint64_t n)
{
    __atomic_fetch_add(&smdb_child_stats[which], n, __ATOMIC_RELAXED);
    if (smdb_server_stats) {
        __atomic_fetch_add(&smdb_server_stats[which], n, __ATOMIC_RELAXED);
    }
}

static apr_uint64_t smdb_stat_get(const apr_uint64_t *stats, smdb_stat which)
{
    return stats ? __atomic_load_n(&stats[which], __ATOMIC_RELAXED) : 0;
}

/* ------------------------------------------------------------------ */
/* per-process state: client pools, indexes, the housekeeper thread    */
/* ------------------------------------------------------------------ */

/** What this child knows about one collection's indexes. */
typedef enum {
    SMDB_IDX_UNKNOWN = 0,   /* not tried yet (or retry after a failure) */
    SMDB_IDX_TTL,           /* the TTL index exists: MongoDB cleans up */
    SMDB_IDX_SWEEP,         /* no TTL index: the housekeeper sweeps */
    SMDB_IDX_OFF            /* SessionMongoDBTTLIndex Off */
} smdb_idx_state;

typedef struct {
    const char *database;
    const char *collection;
    smdb_idx_state state;
    apr_time_t retry_at;        /* after a failed attempt */
    apr_time_t next_sweep;
    int sweep_interval;         /* seconds */
    apr_uint32_t tag;           /* hash of URI, database and collection */
} smdb_coll;

/** One client pool per distinct URI (and timeout and retry interval) per
 * child, allocated in pchild, with the circuit breaker for that server. */
typedef struct smdb_conn {
    const char *uri;            /* as configured */
    const char *redacted;       /* for the log: no credentials */
    mongoc_client_pool_t *pool; /* NULL until it can be made (atomic) */
    apr_time_t retry_at;        /* next try to make the pool */
    int timeout_ms;
    int retry_interval;         /* seconds the breaker stays open */
    int failures;               /* outages in a row (breaker state, */
    int open;                   /*  all guarded by mutex) */
    int probing;                /* a request is trying MongoDB again */
    apr_time_t open_until;
    apr_uint32_t clients_out;   /* popped by requests (atomic) */
    apr_thread_mutex_t *mutex;  /* guards colls, retry_at, making pool */
    apr_hash_t *colls;          /* "db\0coll" -> smdb_coll */
    apr_pool_t *p;              /* pchild */
    server_rec *s;
    mongoc_client_t *hk_client; /* the housekeeper's own client */
} smdb_conn;

/** Per-child process state. */
static struct {
    apr_pool_t *p;
    apr_hash_t *conns;          /* "timeout uri" -> smdb_conn */
    server_rec *s;
} smdb_child;

/* The housekeeper thread and the child's exit share this state, in
 * static storage that outlives pchild. The thread holds `lock` at all
 * times except while it sleeps and while it waits on MongoDB. The exit
 * sets `stopping` and waits up to SMDB_HK_EXIT_WAIT for the thread to
 * end; if it is still waiting on MongoDB then (a long sweep, a server
 * that hangs), the exit sets `abandoned` and goes on. From then on the
 * thread touches nothing but its stack and its own client, which are
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

/* How long the housekeeper waits for an answer: a sweep on a server
 * without a usable index reads the whole collection, which takes seconds
 * at 100 000 sessions on FerretDB, far longer than a request may wait.
 * It runs off the request path, on its own client. */
#define SMDB_HK_SOCKET_TIMEOUT  120000  /* ms */
#define SMDB_HK_EXIT_WAIT       1       /* s */

/** Per-request state; one per top-level request, in its request_config.
 * Commands of the active request are counted by the APM callback. */
typedef struct {
    request_rec *r;             /* the top request, owner of the pool */
    apr_hash_t *entries;        /* config identity -> smdb_entry */
    smdb_conn *conn;
    mongoc_client_pool_t *pool; /* conn's pool, when a client was popped */
    mongoc_client_t *client;    /* popped on first use */
    const char *commands;       /* "find,update": commands sent */
} smdb_req;

static __thread smdb_req *smdb_active_req;

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
         * module with what to do (SMDB00308, SMDB00309) */
        l = APLOG_INFO;
    }
    ap_log_error(APLOG_MARK, l, 0, s, SMDB_LOGNO(00201) "libmongoc %s: %s",
                 domain, message);
}

/** APM: remember which commands the active request sent. Runs in the
 * thread that sends the command, so the thread-local pointer is the
 * request's (NULL for the housekeeper and for monitoring connections). */
static void smdb_apm_started(const mongoc_apm_command_started_t *event)
{
    smdb_req *rq = smdb_active_req;
    const char *name = mongoc_apm_command_started_get_command_name(event);

    if (rq) {
        rq->commands = rq->commands
            ? apr_pstrcat(rq->r->pool, rq->commands, ",", name, NULL)
            : apr_pstrdup(rq->r->pool, name);
        apr_table_set(rq->r->notes, SMDB_NOTE_COMMANDS, rq->commands);
    }
}

static apr_status_t smdb_conn_cleanup(void *data)
{
    smdb_conn *conn = data;

    if (conn->hk_client && !smdb_hk.abandoned) {
        mongoc_client_destroy(conn->hk_client);
    }
    conn->hk_client = NULL;

    if (conn->pool) {
        mongoc_client_pool_destroy(conn->pool);
        conn->pool = NULL;
    }
    return APR_SUCCESS;
}

/** conn's URI with every wait bounded by timeout_ms (server selection,
 * connecting, the wait queue, an answer) unless the URI says otherwise:
 * libmongoc's own defaults, 30 s selection and 5 min socket, would hang
 * the workers. NULL (logged) when it does not parse. */
static mongoc_uri_t *smdb_conn_uri(const smdb_conn *conn)
{
    mongoc_uri_t *muri;
    bson_error_t error;
    int t = conn->timeout_ms;

    muri = mongoc_uri_new_with_error(conn->uri, &error);
    if (!muri) {
        /* cannot happen: the string parsed at startup */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, conn->s, SMDB_LOGNO(00202)
                     "cannot parse SessionMongoDBURI %s: %s",
                     conn->redacted, error.message);
        return NULL;
    }
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

/** Create conn's client pool (child_init, or one request thread).
 * Creating a pool does no I/O, except an SRV lookup for mongodb+srv://
 * and reading TLS files; when that fails the pool is tried again at most
 * every SMDB_INDEX_RETRY, on a request's first use. */
static void smdb_conn_connect(smdb_conn *conn)
{
    mongoc_uri_t *muri = smdb_conn_uri(conn);
    mongoc_client_pool_t *pool;
    mongoc_apm_callbacks_t *cbs;
    bson_error_t error;

    if (!muri) {
        return;
    }
    pool = mongoc_client_pool_new_with_error(muri, &error);
    mongoc_uri_destroy(muri);
    if (!pool) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, conn->s, SMDB_LOGNO(00203)
                     "cannot create a client pool for %s: %s; sessions "
                     "there do not load until it works (retried every "
                     "%d s). Check SessionMongoDBURI: SRV records, TLS "
                     "files.", conn->redacted, error.message,
                     (int)apr_time_sec(SMDB_INDEX_RETRY));
        return;
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    cbs = mongoc_apm_callbacks_new();
    mongoc_apm_set_command_started_cb(cbs, smdb_apm_started);
    mongoc_client_pool_set_apm_callbacks(pool, cbs, NULL);
    mongoc_apm_callbacks_destroy(cbs);
    apr_atomic_casptr((void *)&conn->pool, pool, NULL);
}

/** conn's client pool, made now if it could not be made before; NULL
 * while it cannot. */
static mongoc_client_pool_t *smdb_conn_pool(smdb_conn *conn)
{
    mongoc_client_pool_t *pool = apr_atomic_casptr((void *)&conn->pool,
                                                   NULL, NULL);

    if (!pool) {
        int mine = 0;

        /* one thread tries, outside the lock: an SRV lookup can be slow */
        apr_thread_mutex_lock(conn->mutex);
        if (!conn->pool && conn->retry_at <= apr_time_now()) {
            conn->retry_at = apr_time_now() + SMDB_INDEX_RETRY;
            mine = 1;
        }
        apr_thread_mutex_unlock(conn->mutex);
        if (mine) {
            smdb_conn_connect(conn);
        }
        pool = apr_atomic_casptr((void *)&conn->pool, NULL, NULL);
    }
    return pool;
}

/** This child's connection for a server's URI and timeout (shared with
 * earlier servers that have the same), with its pool. In pchild. */
static smdb_conn *smdb_conn_get(apr_pool_t *p, server_rec *s,
                                smdb_srv_conf *sc)
{
    const char *uri = srv_uri(sc);
    const char *key = apr_psprintf(p, "%d %d %s", srv_timeout(sc),
                                   srv_retry_interval(sc), uri);
    smdb_conn *conn = apr_hash_get(smdb_child.conns, key,
                                   APR_HASH_KEY_STRING);

    if (conn) {
        return conn;
    }
    conn = apr_pcalloc(p, sizeof(*conn));
    conn->uri = uri;
    conn->redacted = smdb_redact(p, uri);
    conn->timeout_ms = srv_timeout(sc);
    conn->retry_interval = srv_retry_interval(sc);
    conn->colls = apr_hash_make(p);
    conn->p = p;
    conn->s = s;
    apr_thread_mutex_create(&conn->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    apr_hash_set(smdb_child.conns, key, APR_HASH_KEY_STRING, conn);
    apr_pool_cleanup_register(p, conn, smdb_conn_cleanup,
                              apr_pool_cleanup_null);
    conn->retry_at = apr_time_now() + SMDB_INDEX_RETRY;
    smdb_conn_connect(conn);
    return conn;
}

/** Make the housekeeper aware of a collection this child uses (it then
 * creates its indexes, or sweeps it), with the TTL settings of the
 * server r belongs to; one server with SessionMongoDBTTLIndex On is
 * enough for a shared collection to get its index. Once per request and
 * collection (*used says it was done: a write after a find does not
 * repeat it). The lookup key is built in r's pool; a new record is
 * allocated once, in pchild. */
static void smdb_coll_use(smdb_conn *conn, request_rec *r, const char *db,
                          const char *coll, int *used)
{
    smdb_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                             &session_mongodb_module);
    const char *key;
    smdb_coll *c;

    if (*used) {
        return;
    }
    *used = 1;
    key = apr_pstrcat(r->pool, db, "/", coll, NULL);

    apr_thread_mutex_lock(conn->mutex);
    c = apr_hash_get(conn->colls, key, APR_HASH_KEY_STRING);
    if (!c) {
        const char *tag = apr_pstrcat(r->pool, conn->uri, " ", key, NULL);
        apr_ssize_t len = strlen(tag);

        c = apr_pcalloc(conn->p, sizeof(*c));
        c->database = apr_pstrdup(conn->p, db);
        c->collection = apr_pstrdup(conn->p, coll);
        c->tag = apr_hashfunc_default(tag, &len);
        c->state = SMDB_IDX_OFF;
        c->sweep_interval = srv_sweep_interval(sc);
        apr_hash_set(conn->colls, apr_pstrdup(conn->p, key),
                     APR_HASH_KEY_STRING, c);
    }
    if (c->state == SMDB_IDX_OFF && srv_ttl_index(sc)) {
        c->state = SMDB_IDX_UNKNOWN;
        c->sweep_interval = srv_sweep_interval(sc);
    }
    apr_thread_mutex_unlock(conn->mutex);
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

/** The housekeeper's client for conn, made on first use: its own
 * single-threaded client (the pool's clients are for requests), which
 * waits up to SMDB_HK_SOCKET_TIMEOUT for an answer, or the URI's
 * socketTimeoutMS if that is longer. NULL (logged) when it cannot be
 * made; *alive is 0 when the thread was abandoned. */
static mongoc_client_t *smdb_hk_client(smdb_conn *conn, int *alive)
{
    mongoc_uri_t *muri;
    mongoc_client_t *client;
    bson_error_t error;

    *alive = 1;
    if (conn->hk_client) {
        return conn->hk_client;
    }
    muri = smdb_conn_uri(conn);
    if (!muri) {
        return NULL;
    }
    if (mongoc_uri_get_option_as_int32(muri, MONGOC_URI_SOCKETTIMEOUTMS, 0)
        < SMDB_HK_SOCKET_TIMEOUT) {
        mongoc_uri_set_option_as_int32(muri, MONGOC_URI_SOCKETTIMEOUTMS,
                                       SMDB_HK_SOCKET_TIMEOUT);
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
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, conn->s, SMDB_LOGNO(00209)
                     "the housekeeper cannot make a client for %s: %s; "
                     "indexes and sweeps wait until it can (check "
                     "SessionMongoDBURI: SRV records, TLS files)",
                     conn->redacted, error.message);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    conn->hk_client = client;
    return client;
}

/** Create the TTL and user indexes of collection c with client. On a
 * server that refuses TTL indexes, fall back to sweeping, and say so
 * once per collection per child. Housekeeper only: returns 0 when the
 * thread was abandoned while it waited. */
static int smdb_ensure_indexes(smdb_conn *conn, mongoc_client_t *client,
                               smdb_coll *c)
{
    mongoc_database_t *db;
    bson_t cmd = BSON_INITIALIZER, idx, ttl, user, key, reply;
    bson_error_t error;
    int ok;

    BSON_APPEND_UTF8(&cmd, "createIndexes", c->collection);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &idx);
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
    bson_append_array_end(&cmd, &idx);

    db = mongoc_client_get_database(client, c->database);
    pthread_mutex_unlock(&smdb_hk.lock);
    ok = mongoc_database_write_command_with_opts(db, &cmd, NULL, &reply,
                                                 &error);
    mongoc_database_destroy(db);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (!smdb_hk_resume()) {
        return 0;
    }

    apr_thread_mutex_lock(conn->mutex);
    if (ok) {
        c->state = SMDB_IDX_TTL;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, conn->s, SMDB_LOGNO(00206)
                     "TTL index on %s.%s ensured", c->database,
                     c->collection);
    }
    else if (error.domain == MONGOC_ERROR_SERVER) {
        /* The server answered no: NotImplemented on FerretDB, no
         * createIndex privilege, or a conflicting index. */
        c->state = SMDB_IDX_SWEEP;
        c->next_sweep = 0;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, conn->s, SMDB_LOGNO(00207)
                     "cannot create the TTL index on %s.%s at %s (%s); "
                     "this server deletes expired sessions itself every "
                     "%d s instead. To let MongoDB do it, create "
                     "{expiry: 1} with expireAfterSeconds: 0 by hand or "
                     "grant createIndex.", c->database, c->collection,
                     conn->redacted, error.message, c->sweep_interval);
    }
    else {
        c->retry_at = apr_time_now() + SMDB_INDEX_RETRY;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, conn->s, SMDB_LOGNO(00208)
                     "cannot create the TTL index on %s.%s now (%s); "
                     "will try again", c->database, c->collection,
                     error.message);
    }
    apr_thread_mutex_unlock(conn->mutex);
    return 1;
}

/* Sweeps are shared by the children of a server: one slot per collection
 * in shared memory (after the counters) holds the collection's tag in
 * its high 32 bits and, in its low 32 bits, when its next sweep is due
 * (seconds since the epoch). A child sweeps only after winning the slot
 * with a compare-and-swap; a slot that another collection holds (a hash
 * collision) is taken over, which at worst sweeps both more often. */
#define SMDB_SWEEP_SLOTS 64
static apr_uint64_t *smdb_sweep_slots;      /* in shared memory, or NULL */

/** Whether this child sweeps c now (no other child of this server has
 * swept it within its interval). */
static int smdb_sweep_claim(const smdb_coll *c, apr_time_t now)
{
    apr_uint64_t *slot, old, mine;
    apr_uint64_t now_s = (apr_uint64_t)apr_time_sec(now);

    if (!smdb_sweep_slots) {
        return 1;
    }
    slot = &smdb_sweep_slots[c->tag % SMDB_SWEEP_SLOTS];
    old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if ((apr_uint32_t)(old >> 32) == c->tag
        && (old & 0xffffffffu) > now_s) {
        return 0;
    }
    mine = ((apr_uint64_t)c->tag << 32)
           | ((now_s + (apr_uint64_t)c->sweep_interval) & 0xffffffffu);
    return __atomic_compare_exchange_n(slot, &old, mine, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/** Delete the expired documents of collection c. Housekeeper only:
 * returns 0 when the thread was abandoned while it waited. */
static int smdb_sweep(smdb_conn *conn, mongoc_client_t *client,
                      smdb_coll *c, apr_time_t now)
{
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, c->database, c->collection);
    bson_t filter = BSON_INITIALIZER, lt, reply;
    bson_error_t error;
    apr_time_t started = apr_time_now();
    int64_t n = -1;

    BSON_APPEND_DOCUMENT_BEGIN(&filter, "expiry", &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", apr_time_as_msec(now));
    bson_append_document_end(&filter, &lt);
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
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, conn->s, SMDB_LOGNO(00204)
                     "swept %" PRId64 " expired sessions from %s.%s in "
                     "%" APR_TIME_T_FMT " ms", n, c->database, c->collection,
                     apr_time_as_msec(apr_time_now() - started));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, conn->s, SMDB_LOGNO(00205)
                     "cannot delete expired sessions from %s.%s at %s: %s; "
                     "will try again in %d s", c->database, c->collection,
                     conn->redacted, error.message, c->sweep_interval);
    }
    return 1;
}

/** One round of housekeeping on a connection: indexes of collections
 * seen for the first time, sweeps that are due. With nothing to do,
 * nothing is sent. Returns 0 when the thread was abandoned. */
static int smdb_housekeep_conn(smdb_conn *conn, apr_pool_t *p)
{
    apr_hash_index_t *hi;
    apr_array_header_t *index = apr_array_make(p, 4, sizeof(smdb_coll *));
    apr_array_header_t *sweep = apr_array_make(p, 4, sizeof(smdb_coll *));
    apr_time_t now = apr_time_now();
    mongoc_client_t *client;
    int i, alive;

    apr_thread_mutex_lock(conn->mutex);
    for (hi = apr_hash_first(p, conn->colls); hi; hi = apr_hash_next(hi)) {
        smdb_coll *c = apr_hash_this_val(hi);

        if (c->state == SMDB_IDX_UNKNOWN && c->retry_at <= now) {
            APR_ARRAY_PUSH(index, smdb_coll *) = c;
        }
        else if (c->state == SMDB_IDX_SWEEP && c->next_sweep <= now) {
            c->next_sweep = now + apr_time_from_sec(c->sweep_interval);
            if (smdb_sweep_claim(c, now)) {
                APR_ARRAY_PUSH(sweep, smdb_coll *) = c;
            }
        }
    }
    apr_thread_mutex_unlock(conn->mutex);
    if (!index->nelts && !sweep->nelts) {
        return 1;
    }
    client = smdb_hk_client(conn, &alive);
    if (!client) {
        apr_thread_mutex_lock(conn->mutex);
        for (i = 0; alive && i < index->nelts; i++) {
            APR_ARRAY_IDX(index, i, smdb_coll *)->retry_at =
                now + SMDB_INDEX_RETRY;
        }
        apr_thread_mutex_unlock(conn->mutex);
        return alive;
    }
    for (i = 0; i < index->nelts; i++) {
        if (!smdb_ensure_indexes(conn, client,
                                 APR_ARRAY_IDX(index, i, smdb_coll *))) {
            return 0;
        }
    }
    for (i = 0; i < sweep->nelts; i++) {
        if (!smdb_sweep(conn, client, APR_ARRAY_IDX(sweep, i, smdb_coll *),
                        now)) {
            return 0;
        }
    }
    return 1;
}

/** The housekeeper thread, one per child: once a second it creates the
 * indexes of newly used collections and sweeps what is due, so that no
 * request waits for either. Stops when the child exits. */
static void *smdb_housekeeper(void *data)
{
    apr_pool_t *p;

    (void)data;
    apr_pool_create(&p, NULL);
    pthread_mutex_lock(&smdb_hk.lock);
    while (!smdb_hk.stopping) {
        apr_hash_index_t *hi;
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&smdb_hk.cond, &smdb_hk.lock, &until);
        if (smdb_hk.stopping) {
            break;
        }
        for (hi = apr_hash_first(p, smdb_child.conns); hi;
             hi = apr_hash_next(hi)) {
            if (!smdb_housekeep_conn(apr_hash_this_val(hi), p)) {
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
 * SMDB_HK_EXIT_WAIT to finish what it is doing; a housekeeper that is
 * still waiting on MongoDB then is abandoned (see smdb_hk), so that the
 * child's exit never waits for a long sweep or a hung server. */
static apr_status_t smdb_housekeeper_stop(void *data)
{
    struct timespec until;

    (void)data;
    if (!smdb_hk.started) {
        return APR_SUCCESS;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SMDB_HK_EXIT_WAIT;
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
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, smdb_child.s, SMDB_LOGNO(00210)
                     "the housekeeper is still waiting on MongoDB; this "
                     "process exits without waiting for it");
    }
    else {
        pthread_join(smdb_hk.thread, NULL);
    }
    smdb_hk.started = 0;
    return APR_SUCCESS;
}

/** Runs last among the child's cleanups: after every pool is gone. */
static apr_status_t smdb_child_cleanup(void *data)
{
    (void)data;
    mongoc_log_set_handler(NULL, NULL);
    if (!smdb_hk.abandoned) {
        /* not under a thread that may still be inside libmongoc */
        mongoc_cleanup();
    }
    memset(&smdb_child, 0, sizeof(smdb_child));
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* tokens, ids and cookies                                              */
/* ------------------------------------------------------------------ */

/** Cookie attributes with safe defaults: HttpOnly and SameSite=Lax
 * unless the configuration names them, Secure over HTTPS unless it names
 * it. (httpd adds HttpOnly;Secure only when no attributes are given at
 * all, so a plain "path=/" would drop both.) */
static const char *smdb_cookie_attrs(request_rec *r, const char *attrs)
{
    char *out = apr_pstrdup(r->pool, attrs ? attrs : "");
    apr_size_t n = strlen(out);

    while (n && strchr("; \t", out[n - 1])) {
        out[--n] = '\0';
    }

    if (!smdb_attr_named(out, "HttpOnly")) {
        out = apr_pstrcat(r->pool, out, *out ? ";" : "", "HttpOnly", NULL);
    }
    if (!smdb_attr_named(out, "SameSite")) {
        out = apr_pstrcat(r->pool, out, ";SameSite=Lax", NULL);
    }
    if (!smdb_attr_named(out, "Secure")
        && !strcmp(ap_run_http_scheme(r), "https")) {
        out = apr_pstrcat(r->pool, out, ";Secure", NULL);
    }
    return out;
}

/** Send the token in the configured cookie(s), or expire them when
 * token is NULL. Only err_headers_out, so that the cookie goes out on
 * error pages too and never twice. */
static void smdb_cookie_send(request_rec *r, const smdb_dir_conf *dc,
                             const char *token, long maxage)
{
    if (dc->name_set) {
        const char *attrs = smdb_cookie_attrs(r, dc->name_attrs);

        if (token) {
            ap_cookie_write(r, dc->name, token, attrs, maxage,
                            r->err_headers_out, NULL);
        }
        else {
            ap_cookie_remove(r, dc->name, attrs, r->err_headers_out, NULL);
        }
    }
    if (dc->name2_set) {
        const char *attrs = smdb_cookie_attrs(r, dc->name2_attrs);

        if (token) {
            ap_cookie_write2(r, dc->name2, token, attrs, maxage,
                             r->err_headers_out, NULL);
        }
        else {
            ap_cookie_remove2(r, dc->name2, attrs, r->err_headers_out, NULL);
        }
    }
}

/* ------------------------------------------------------------------ */
/* per-request state and MongoDB operations                             */
/* ------------------------------------------------------------------ */

/** What one request knows about one session (one configuration). */
typedef struct {
    session_rec *z;             /* what load returned; NULL if not yet */
    const char *db, *coll;
    const char *token;          /* the client's token, if well formed */
    const char *id;             /* _id of the stored document, if found */
    const char *user;           /* `user` of the stored document */
    apr_int64_t created;        /* its `created`, ms since the epoch */
    apr_int64_t version;        /* its `version` (-1: none, older docs) */
    apr_table_t *snapshot;      /* the entries as loaded and decoded */
    int load_failed;            /* MongoDB did not answer: never save */
    int decoded;                /* mod_session decoded it once */
    int had_form_user;          /* ... with a mod_auth_form user */
    int coll_used;              /* the housekeeper knows its collection */
} smdb_entry;

static request_rec *smdb_top(request_rec *r)
{
    while (r->main) {
        r = r->main;
    }
    while (r->prev) {
        r = r->prev;
    }
    return r;
}

static apr_status_t smdb_req_cleanup(void *data)
{
    smdb_req *rq = data;

    if (rq->client) {
        mongoc_client_pool_push(rq->pool, rq->client);
        apr_atomic_dec32(&rq->conn->clients_out);
        rq->client = NULL;
    }
    return APR_SUCCESS;
}

/** The request's state, made on first use in the top request's pool. */
static smdb_req *smdb_req_get(request_rec *r)
{
    request_rec *top = smdb_top(r);
    smdb_req *rq = ap_get_module_config(top->request_config,
                                        &session_mongodb_module);

    if (!rq) {
        rq = apr_pcalloc(top->pool, sizeof(*rq));
        rq->r = top;
        rq->entries = apr_hash_make(top->pool);
        ap_set_module_config(top->request_config, &session_mongodb_module,
                             rq);
    }
    return rq;
}

/** The request's entry for this directory's session configuration. */
static smdb_entry *smdb_entry_get(smdb_req *rq, const smdb_dir_conf *dc,
                                  const char *db)
{
    const char *key = apr_pstrcat(rq->r->pool, db, "/", dir_collection(dc),
                                  "/", dc->peruser == 1 ? "+" : "-",
                                  dc->name ? dc->name : "", "/",
                                  dc->name2 ? dc->name2 : "", NULL);
    smdb_entry *e = apr_hash_get(rq->entries, key, APR_HASH_KEY_STRING);

    if (!e) {
        e = apr_pcalloc(rq->r->pool, sizeof(*e));
        e->db = db;
        e->coll = dir_collection(dc);
        apr_hash_set(rq->entries, key, APR_HASH_KEY_STRING, e);
    }
    return e;
}

/** True for errors that mean MongoDB is out of reach (as opposed to a
 * server that answered no). */
static int smdb_is_outage(const bson_error_t *error)
{
    return error->domain == MONGOC_ERROR_SERVER_SELECTION
        || error->domain == MONGOC_ERROR_STREAM;
}

/**
 * The circuit breaker, one per connection and child. After
 * SMDB_BREAKER_FAILURES outages in a row it opens: for
 * SessionMongoDBRetryInterval seconds requests do not ask MongoDB at all
 * and go on at once as if they had no session. Then one request at a
 * time probes; the first success closes it. Opening and closing are
 * logged once each.
 */
static int smdb_breaker_allow(request_rec *r, smdb_conn *conn)
{
    int allow = 1;

    apr_thread_mutex_lock(conn->mutex);
    if (conn->open) {
        if (!conn->probing && apr_time_now() >= conn->open_until) {
            conn->probing = 1;
        }
        else {
            allow = 0;
        }
    }
    apr_thread_mutex_unlock(conn->mutex);
    if (!allow) {
        smdb_count(SMDB_STAT_BREAKER_SKIPS, 1);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00319)
                      "not asking MongoDB at %s while it is failing; the "
                      "request goes on without its session",
                      conn->redacted);
    }
    return allow;
}

static void smdb_breaker_report(request_rec *r, smdb_conn *conn,
                                int outage)
{
    apr_thread_mutex_lock(conn->mutex);
    if (outage) {
        conn->failures++;
        conn->probing = 0;
        if (conn->open || conn->failures >= SMDB_BREAKER_FAILURES) {
            conn->open_until = apr_time_now()
                               + apr_time_from_sec(conn->retry_interval);
        }
        if (!conn->open && conn->failures >= SMDB_BREAKER_FAILURES) {
            conn->open = 1;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00320)
                          "MongoDB at %s failed %d times in a row; this "
                          "process stops asking it for %d s at a time and "
                          "serves requests without their sessions until "
                          "it answers again. Check that MongoDB is up.",
                          conn->redacted, conn->failures,
                          conn->retry_interval);
        }
    }
    else {
        if (conn->open) {
            ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SMDB_LOGNO(00321)
                          "MongoDB at %s answers again after %d failures; "
                          "sessions are back", conn->redacted,
                          conn->failures);
        }
        conn->open = conn->probing = conn->failures = 0;
    }
    apr_thread_mutex_unlock(conn->mutex);
}

/** A request that was allowed to ask MongoDB did not (no free client):
 * if it was the probe, let another request probe. */
static void smdb_breaker_abandon(smdb_conn *conn)
{
    apr_thread_mutex_lock(conn->mutex);
    conn->probing = 0;
    apr_thread_mutex_unlock(conn->mutex);
}

/** The client for one MongoDB operation of the request, or NULL (logged)
 * when there is none or the breaker says not to ask. The first call pops
 * a client, which goes back to the pool with the request pool. Marks the
 * request as the APM target until smdb_op_end(). */
static mongoc_client_t *smdb_op_begin(request_rec *r, smdb_req *rq)
{
    smdb_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                             &session_mongodb_module);

    if (!rq->client) {
        rq->conn = sc->conn;
        rq->pool = sc->conn ? smdb_conn_pool(sc->conn) : NULL;
        if (!rq->pool) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00301)
                          "no MongoDB client pool for %s; the request goes "
                          "on without its session. See the SMDB00203 line "
                          "for why.", sc->conn ? sc->conn->redacted
                                               : smdb_redact(r->pool,
                                                             srv_uri(sc)));
            return NULL;
        }
    }
    if (!smdb_breaker_allow(r, rq->conn)) {
        return NULL;
    }
    if (!rq->client) {
        rq->client = mongoc_client_pool_pop(rq->pool);
        if (rq->client) {
            apr_atomic_inc32(&rq->conn->clients_out);
        }
        if (!rq->client) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00302)
                          "no free MongoDB client for %s within %d ms; "
                          "raise maxPoolSize in SessionMongoDBURI to at "
                          "least ThreadsPerChild", rq->conn->redacted,
                          rq->conn->timeout_ms);
            smdb_breaker_abandon(rq->conn);
            return NULL;
        }
        apr_pool_cleanup_register(rq->r->pool, rq, smdb_req_cleanup,
                                  apr_pool_cleanup_null);
    }
    smdb_active_req = rq;
    return rq->client;
}

/** After an operation: error is NULL on success. */
static void smdb_op_end(request_rec *r, smdb_req *rq,
                        const bson_error_t *error)
{
    smdb_active_req = NULL;
    if (error) {
        smdb_count(SMDB_STAT_ERRORS, 1);
        if (smdb_is_outage(error)) {
            smdb_count(SMDB_STAT_TIMEOUTS, 1);
        }
    }
    smdb_breaker_report(r, rq->conn, error && smdb_is_outage(error));
}

/** A stored session as smdb_find() reads it; strings in the request
 * pool. value is NULL when there is none (or it expired). */
typedef struct {
    const char *value;
    const char *user;
    apr_int64_t created;        /* ms since the epoch */
    apr_int64_t version;        /* -1: the document has none */
} smdb_doc;

/** Find the stored document of id. Returns APR_SUCCESS with d->value
 * NULL when there is none (or it expired, or outlived max_lifetime ms),
 * APR_EGENERAL when MongoDB did not answer. */
static apr_status_t smdb_find(request_rec *r, smdb_req *rq,
                              smdb_entry *e, const char *id,
                              apr_int64_t max_lifetime, smdb_doc *d)
{
    mongoc_client_t *client = smdb_op_begin(r, rq);
    mongoc_collection_t *coll;
    mongoc_cursor_t *cursor;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    const bson_t *doc;
    bson_error_t error;
    apr_status_t rv = APR_SUCCESS;
    apr_time_t started = apr_time_now();
    int64_t now = apr_time_as_msec(started);

    memset(d, 0, sizeof(*d));
    d->created = now;
    d->version = -1;
    if (!client) {
        return APR_EGENERAL;
    }
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "value", 1);
    BSON_APPEND_INT32(&proj, "expiry", 1);
    BSON_APPEND_INT32(&proj, "user", 1);
    BSON_APPEND_INT32(&proj, "created", 1);
    BSON_APPEND_INT32(&proj, "version", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);

    smdb_coll_use(rq->conn, r, e->db, e->coll, &e->coll_used);
    smdb_count(SMDB_STAT_LOADS, 1);
    coll = mongoc_client_get_collection(client, e->db, e->coll);
    cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    if (!mongoc_cursor_next(cursor, &doc)) {
        if (!mongoc_cursor_error(cursor, NULL)) {
            smdb_count(SMDB_STAT_NOT_FOUND, 1);
        }
    }
    else {
        bson_iter_t it;
        int64_t expiry = 0;

        if (bson_iter_init_find(&it, doc, "expiry")
            && BSON_ITER_HOLDS_DATE_TIME(&it)) {
            expiry = bson_iter_date_time(&it);
        }
        if (bson_iter_init_find(&it, doc, "created")
            && BSON_ITER_HOLDS_DATE_TIME(&it)) {
            d->created = bson_iter_date_time(&it);
        }
        if (bson_iter_init_find(&it, doc, "version")
            && BSON_ITER_HOLDS_NUMBER(&it)) {
            d->version = bson_iter_as_int64(&it);
        }
        if (expiry && expiry <= now) {
            smdb_count(SMDB_STAT_EXPIRED, 1);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00306)
                          "session %.8s... in %s.%s has expired", id,
                          e->db, e->coll);
        }
        else if (max_lifetime && d->created + max_lifetime <= now) {
            smdb_count(SMDB_STAT_EXPIRED, 1);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00318)
                          "session %.8s... in %s.%s has reached "
                          "SessionMongoDBMaxLifetime", id, e->db, e->coll);
        }
        else if (bson_iter_init_find(&it, doc, "value")
                 && BSON_ITER_HOLDS_UTF8(&it)) {
            d->value = apr_pstrdup(rq->r->pool, bson_iter_utf8(&it, NULL));
            if (bson_iter_init_find(&it, doc, "user")
                && BSON_ITER_HOLDS_UTF8(&it)) {
                d->user = apr_pstrdup(rq->r->pool, bson_iter_utf8(&it, NULL));
            }
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00307)
                          "session %.8s... in %s.%s has no string 'value'; "
                          "ignoring it (was it written by another program?)",
                          id, e->db, e->coll);
        }
    }
    if (mongoc_cursor_error(cursor, &error)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00308)
                      "cannot load session from %s.%s at %s: %s; the "
                      "request goes on without its session. Check that "
                      "MongoDB is up and reachable.", e->db, e->coll,
                      rq->conn->redacted, error.message);
        rv = APR_EGENERAL;
    }
    smdb_op_end(r, rq, rv == APR_SUCCESS ? NULL : &error);
    smdb_count(SMDB_STAT_LOAD_USEC, apr_time_now() - started);
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(coll);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return rv;
}

/** How smdb_write() may change a document. */
typedef enum {
    SMDB_W_NEW,     /* a session that starts now: upsert, `created` reset */
    SMDB_W_CAS,     /* only if `version` is still e->version; no upsert */
    SMDB_W_FORCE    /* last write wins over whatever is there; no upsert */
} smdb_write_mode;

/** Write the session under id with one update; every write increments
 * `version`. Returns APR_SUCCESS, APR_EMISMATCH when a compare-and-set
 * found another version or no document, APR_ENOENT when a forced write
 * found no document, APR_EGENERAL on errors (logged).
 */
static apr_status_t smdb_write(request_rec *r, smdb_req *rq,
                               smdb_entry *e, const char *id,
                               const char *value, apr_time_t expiry,
                               const char *user, smdb_write_mode mode)
{
    mongoc_client_t *client = smdb_op_begin(r, rq);
    mongoc_collection_t *coll;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER;
    bson_t opts = BSON_INITIALIZER, reply, set, oninsert, unset, inc, ex;
    bson_error_t error;
    int64_t now = apr_time_as_msec(apr_time_now());
    apr_time_t started;
    apr_status_t rv = APR_SUCCESS;

    if (!client) {
        return APR_EGENERAL;
    }
    BSON_APPEND_UTF8(&filter, "_id", id);
    if (mode == SMDB_W_CAS) {
        if (e->version >= 0) {
            BSON_APPEND_INT64(&filter, "version", e->version);
        }
        else {
            /* written before documents had versions */
            BSON_APPEND_DOCUMENT_BEGIN(&filter, "version", &ex);
            BSON_APPEND_BOOL(&ex, "$exists", false);
            bson_append_document_end(&filter, &ex);
        }
    }
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "value", value);
    if (expiry) {
        BSON_APPEND_DATE_TIME(&set, "expiry", apr_time_as_msec(expiry));
    }
    if (user) {
        BSON_APPEND_UTF8(&set, "user", user);
    }
    BSON_APPEND_DATE_TIME(&set, "updated", now);
    if (mode == SMDB_W_NEW) {
        /* an old document under the same key (a per-user session past
         * its lifetime) must not lend the new session its age */
        BSON_APPEND_DATE_TIME(&set, "created", now);
    }
    bson_append_document_end(&update, &set);
    if (mode != SMDB_W_NEW) {
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$setOnInsert", &oninsert);
        BSON_APPEND_DATE_TIME(&oninsert, "created", now);
        bson_append_document_end(&update, &oninsert);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "version", 1);
    bson_append_document_end(&update, &inc);
    if (!expiry || !user) {
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
        if (!expiry) {
            BSON_APPEND_UTF8(&unset, "expiry", "");
        }
        if (!user) {
            BSON_APPEND_UTF8(&unset, "user", "");
        }
        bson_append_document_end(&update, &unset);
    }
    BSON_APPEND_BOOL(&opts, "upsert", mode == SMDB_W_NEW);

    smdb_coll_use(rq->conn, r, e->db, e->coll, &e->coll_used);
    coll = mongoc_client_get_collection(client, e->db, e->coll);
    started = apr_time_now();
    if (!mongoc_collection_update_one(coll, &filter, &update, &opts, &reply,
                                      &error)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00309)
                      "cannot save session to %s.%s at %s: %s; the stored "
                      "session is unchanged and no cookie is sent. Check "
                      "that MongoDB is up and writable.", e->db, e->coll,
                      rq->conn->redacted, error.message);
        rv = APR_EGENERAL;
    }
    else if (mode != SMDB_W_NEW) {
        bson_iter_t it;

        if (!bson_iter_init_find(&it, &reply, "matchedCount")
            || bson_iter_as_int64(&it) != 1) {
            rv = mode == SMDB_W_CAS ? APR_EMISMATCH : APR_ENOENT;
            if (mode == SMDB_W_CAS) {
                smdb_count(SMDB_STAT_CONFLICTS, 1);
            }
        }
    }
    smdb_count(SMDB_STAT_SAVE_OPS, 1);
    smdb_count(SMDB_STAT_SAVE_USEC, apr_time_now() - started);
    if (rv == APR_SUCCESS) {
        smdb_count(SMDB_STAT_SAVES, 1);
    }
    smdb_op_end(r, rq, rv == APR_EGENERAL ? &error : NULL);
    bson_destroy(&reply);
    mongoc_collection_destroy(coll);
    bson_destroy(&opts);
    bson_destroy(&update);
    bson_destroy(&filter);
    return rv;
}

/** Delete the document of id. */
static apr_status_t smdb_delete(request_rec *r, smdb_req *rq,
                                const smdb_entry *e, const char *id)
{
    mongoc_client_t *client = smdb_op_begin(r, rq);
    mongoc_collection_t *coll;
    bson_t filter = BSON_INITIALIZER;
    bson_error_t error;
    apr_status_t rv = APR_SUCCESS;

    if (!client) {
        return APR_EGENERAL;
    }
    BSON_APPEND_UTF8(&filter, "_id", id);
    coll = mongoc_client_get_collection(client, e->db, e->coll);
    if (!mongoc_collection_delete_one(coll, &filter, NULL, NULL, &error)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00310)
                      "cannot delete session %.8s... from %s.%s at %s: %s; "
                      "it stays until it expires", id, e->db, e->coll,
                      rq->conn->redacted, error.message);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        smdb_count(SMDB_STAT_REMOVES, 1);
    }
    smdb_op_end(r, rq, rv == APR_SUCCESS ? NULL : &error);
    mongoc_collection_destroy(coll);
    bson_destroy(&filter);
    return rv;
}

/* ------------------------------------------------------------------ */
/* the session hooks                                                    */
/* ------------------------------------------------------------------ */

/** The configuration that applies, or NULL when this directory does not
 * keep its sessions in MongoDB (or has no database: logged). */
static smdb_dir_conf *smdb_config(request_rec *r, const char **db)
{
    smdb_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                             &session_mongodb_module);
    smdb_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                             &session_mongodb_module);

    if (!dir_enabled(dc)) {
        return NULL;
    }
    *db = dir_database(dc, sc);
    if (!*db) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00311)
                      "no database for sessions in %s: set "
                      "SessionMongoDBDatabase or name one in the path of "
                      "SessionMongoDBURI", r->uri);
        return NULL;
    }
    return dc;
}

/** The authenticated user, or NULL. On a 401 response r->user is only
 * the name the client claimed (mod_auth_basic sets it before checking
 * the password), so it is not trusted there. */
static const char *smdb_user(request_rec *r)
{
    return r->status == HTTP_UNAUTHORIZED ? NULL : r->user;
}

/** True if user can key a per-user session: present, valid UTF-8, and
 * not shaped like the hashed _id of a cookie session (64 hex digits), so
 * that no user name can claim a token's document in a shared
 * collection. */
static int smdb_peruser_id_ok(const char *user)
{
    apr_size_t n = user ? strlen(user) : 0;

    if (!n || !bson_utf8_validate(user, n, false)) {
        return 0;
    }
    return n != SMDB_ID_LEN || strspn(user, "0123456789abcdef") != n;
}

/** Remove every cookie called name from the request's Cookie and
 * Cookie2 headers, so that the application never sees the token (httpd's
 * own removal gives up when a cookie comes twice with two values). */
static void smdb_cookie_strip(request_rec *r, const char *name)
{
    static const char *const headers[] = {"Cookie", "Cookie2"};
    int h;

    for (h = 0; h < 2; h++) {
        const apr_array_header_t *arr = apr_table_elts(r->headers_in);
        const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
        apr_array_header_t *keep = NULL;
        int i, changed = 0;

        for (i = 0; i < arr->nelts; i++) {
            const char *v;

            if (!elts[i].key || strcasecmp(elts[i].key, headers[h])) {
                continue;
            }
            if (!keep) {
                keep = apr_array_make(r->pool, 2, sizeof(const char *));
            }
            v = smdb_cookie_without(r->pool, elts[i].val, name);
            changed |= strcmp(v, elts[i].val) != 0;
            if (*v) {
                APR_ARRAY_PUSH(keep, const char *) = v;
            }
            else {
                changed = 1;
            }
        }
        if (changed) {
            apr_table_unset(r->headers_in, headers[h]);
            for (i = 0; i < keep->nelts; i++) {
                apr_table_addn(r->headers_in, headers[h],
                               APR_ARRAY_IDX(keep, i, const char *));
            }
        }
    }
}

/** The client's token from the configured cookie(s), or NULL. A cookie
 * sent twice with two values, or of any other shape than a token, is no
 * session and never reaches MongoDB. With SessionMongoDBCookieRemove On
 * (the default) both cookies are removed from the request. */
static const char *smdb_read_token(request_rec *r, const smdb_dir_conf *dc)
{
    const char *val = NULL, *val2 = NULL;
    apr_status_t rv = APR_SUCCESS, rv2 = APR_SUCCESS;

    if (dc->name_set) {
        rv = ap_cookie_read(r, dc->name, &val, 0);
    }
    if (dc->name2_set) {
        rv2 = ap_cookie_read(r, dc->name2, &val2, 0);
    }
    if (dc->remove != 0) {
        if (dc->name_set) {
            smdb_cookie_strip(r, dc->name);
        }
        if (dc->name2_set) {
            smdb_cookie_strip(r, dc->name2);
        }
    }
    if (rv != APR_SUCCESS || rv2 != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00322)
                      "ignoring a session cookie sent twice with different "
                      "values");
        return NULL;
    }
    if (!val) {
        val = val2;
    }
    if (val && !smdb_token_valid(val)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00312)
                      "ignoring a session cookie that is not a token of "
                      "this module (%" APR_SIZE_T_FMT " bytes)",
                      strlen(val));
        return NULL;
    }
    return val;
}

/**
 * session_load: find the request's session in MongoDB.
 *
 * mod_session calls this at every ap_session_load() (fixups, the output
 * filter, modules such as mod_auth_form), so the outcome of the first
 * call, failure included, is kept in the top request and returned again:
 * one wait on MongoDB per request at most. When MongoDB does not answer,
 * the request goes on with an empty session (mod_session would log an
 * error of its own for every call otherwise), and save refuses to write
 * under that key. The session_rec lives in the top request's pool.
 */
static apr_status_t session_mongodb_load(request_rec *r, session_rec **z)
{
    const char *db;
    smdb_dir_conf *dc = smdb_config(r, &db);
    smdb_req *rq;
    smdb_entry *e;
    smdb_doc d = {NULL, NULL, 0, -1};
    session_rec *zz;

    if (!dc) {
        return DECLINED;
    }
    rq = smdb_req_get(r);
    e = smdb_entry_get(rq, dc, db);
    if (e->z) {
        if (e->id) {
            apr_table_setn(r->err_headers_out, "Cache-Control",
                           "no-cache, private");
        }
        *z = e->z;
        return APR_SUCCESS;
    }

    if (dc->peruser == 1) {
        if (smdb_peruser_id_ok(smdb_user(r))) {
            e->token = smdb_user(r);
        }
    }
    else {
        e->token = smdb_read_token(r, dc);
    }
    if (e->token) {
        const char *id = dc->peruser == 1
            ? e->token : smdb_token_id(rq->r->pool, e->token);

        if (!id || smdb_find(r, rq, e, id, dir_max_lifetime_ms(dc), &d)
                   != APR_SUCCESS) {
            /* Go on as if there were no session, but remember: saving
             * anything under this key now would overwrite the user's
             * real session. */
            e->load_failed = 1;
            d.value = d.user = NULL;
        }
        e->created = d.created;
        if (d.value) {
            e->id = id;
            e->user = d.user;
            e->version = d.version;
            apr_table_setn(r->err_headers_out, "Cache-Control",
                           "no-cache, private");
        }
    }

    zz = apr_pcalloc(rq->r->pool, sizeof(*zz));
    zz->pool = rq->r->pool;
    zz->entries = apr_table_make(zz->pool, 10);
    zz->encoded = d.value;
    zz->remote_user = d.user;
    e->z = *z = zz;
    return APR_SUCCESS;
}

static int smdb_count_entry(void *count, const char *key, const char *val)
{
    (void)val;
    if (strcmp(key, "expiry")) {
        ++*(int *)count;
    }
    return 1;
}

/** True when the session holds nothing but mod_session's own expiry. With
 * SessionMaxAge the encoded form of an emptied session is "expiry=...",
 * which must still count as empty (logout deletes the document). */
static int smdb_session_empty(const session_rec *z)
{
    int count = 0;

    if (!z->encoded || !*z->encoded) {
        return 1;
    }
    if (z->entries) {
        apr_table_do(smdb_count_entry, &count, z->entries, NULL);
        return count == 0;
    }
    return 0;
}

typedef struct {
    apr_pool_t *pool;
    const apr_table_t *entries;
    const char *user;
} smdb_form_find;

static int smdb_find_form_user(void *data, const char *key, const char *val)
{
    smdb_form_find *f = data;
    apr_size_t n = strlen(key);

    if (n > 5 && !strcmp(key + n - 5, "-" MOD_SESSION_USER) && val && *val) {
        /* mod_auth_form writes "<AuthName>-user" with "<AuthName>-pw" */
        char *pw = apr_pstrcat(f->pool, apr_pstrmemdup(f->pool, key, n - 5),
                               "-" MOD_SESSION_PW, NULL);

        if (apr_table_get(f->entries, pw)) {
            f->user = val;
            return 0;
        }
    }
    return 1;
}

/** The user mod_auth_form keeps in the session ("<AuthName>-user", next
 * to "<AuthName>-pw"), or NULL. */
static const char *smdb_form_user(const session_rec *z)
{
    smdb_form_find f = {z->pool, z->entries, NULL};

    if (z->entries) {
        apr_table_do(smdb_find_form_user, &f, z->entries, NULL);
    }
    return f.user;
}

/**
 * Who owns the session being saved: the authenticated user (r->user);
 * else the user mod_auth_form keeps in the session; else nobody if
 * mod_auth_form's user was in the session when it was loaded and is gone
 * now (a logout); else the stored owner, unchanged (a public page of a
 * site where the user logged in elsewhere is no change of identity).
 */
static const char *smdb_identity(request_rec *r, const smdb_entry *e,
                                 const session_rec *z)
{
    const char *user = smdb_user(r);

    if (user) {
        return user;
    }
    if ((user = smdb_form_user(z)) != NULL) {
        return user;
    }
    return e->had_form_user ? NULL : e->user;
}

/**
 * session_decode, after mod_session's own decoder: keep the entries as
 * loaded, so that save can tell this request's own changes from what
 * parallel requests wrote meanwhile, and note whether they held a
 * mod_auth_form user, so that its removal (a logout) can be told from a
 * page that never knew the user.
 */
static apr_status_t session_mongodb_decode(request_rec *r, session_rec *z)
{
    smdb_req *rq = ap_get_module_config(smdb_top(r)->request_config,
                                        &session_mongodb_module);
    apr_hash_index_t *hi;

    if (!rq) {
        return DECLINED;
    }
    for (hi = apr_hash_first(r->pool, rq->entries); hi;
         hi = apr_hash_next(hi)) {
        smdb_entry *e = apr_hash_this_val(hi);

        /* mod_session decodes again at every ap_session_load() of the
         * request, after changes: only the first look is the stored
         * state */
        if (e->z == z && !e->decoded) {
            e->decoded = 1;
            e->had_form_user = smdb_form_user(z) != NULL;
            if (SMDB_CAS) {
                e->snapshot = apr_table_copy(rq->r->pool, z->entries);
            }
        }
    }
    return DECLINED;
}

/** When the stored document dies: the session's expiry, brought forward
 * to created + SessionMongoDBMaxLifetime, so that the TTL index or the
 * sweep removes it then. A new document is created now. 0 = never. */
static apr_time_t smdb_doc_expiry(const smdb_dir_conf *dc,
                                  const smdb_entry *e, const session_rec *z,
                                  int existing)
{
    apr_int64_t life = dir_max_lifetime_ms(dc);
    apr_time_t deadline;

    if (!life) {
        return z->expiry;
    }
    deadline = existing ? apr_time_from_msec(e->created + life)
                        : apr_time_now() + apr_time_from_msec(life);
    return z->expiry && z->expiry < deadline ? z->expiry : deadline;
}

/** Refuse a save: count it, log why (an error with its id) and leave the
 * stored session as it is. Returns APR_EGENERAL, for mod_session. */
static apr_status_t smdb_refuse(request_rec *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static apr_status_t smdb_refuse(request_rec *r, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(r->pool, fmt, ap);
    va_end(ap);
    smdb_count(SMDB_STAT_REFUSED, 1);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s", msg);
    return APR_EGENERAL;
}

#define SMDB_CAS_TRIES 25      /* > the parallel requests one client makes */

/** Diff callbacks: this request's own changes, relative to what it
 * loaded, applied to another version of the session. */
typedef struct {
    apr_table_t *base;          /* compare against */
    apr_table_t *target;        /* apply to */
} smdb_diff;

static int smdb_apply_set(void *data, const char *key, const char *val)
{
    smdb_diff *d = data;
    const char *old = apr_table_get(d->base, key);

    if (strcmp(key, "expiry") && (!old || strcmp(old, val))) {
        apr_table_set(d->target, key, val);     /* set or changed here */
    }
    return 1;
}

static int smdb_apply_unset(void *data, const char *key, const char *val)
{
    smdb_diff *d = data;

    (void)val;
    if (!apr_table_get(d->base, key)) {
        apr_table_unset(d->target, key);        /* removed here */
    }
    return 1;
}

static int smdb_differs(void *data, const char *key, const char *val)
{
    const apr_table_t *other = data;
    const char *o = apr_table_get(other, key);

    /* mod_session's own expiry is not a change of the session */
    return !strcmp(key, "expiry") || (o && !strcmp(o, val));
}

/** True if this request changed z's entries since it loaded them. */
static int smdb_changed(const smdb_entry *e, const session_rec *z)
{
    apr_table_t *loaded = e->snapshot ? e->snapshot
                                      : apr_table_make(z->pool, 1);

    return !apr_table_do(smdb_differs, loaded, z->entries, NULL)
           || !apr_table_do(smdb_differs, z->entries, loaded, NULL);
}

/** The stored session `current` (as encoded in MongoDB) with this
 * request's own changes to z applied, encoded through mod_session's own
 * hooks (so mod_session_crypto decrypts and encrypts it); NULL when it
 * cannot be decoded. With current NULL, only this request's own changes:
 * what a session keeps when its owner changes away from a user. A key changed by both requests takes this request's
 * value, whole. In the request pool. */
static session_rec *smdb_merge(request_rec *r, const smdb_entry *e,
                               const session_rec *z, const char *current)
{
    session_rec *m = apr_pcalloc(r->pool, sizeof(*m));
    apr_table_t *loaded = e->snapshot ? e->snapshot
                                      : apr_table_make(r->pool, 1);
    smdb_diff d;

    m->pool = r->pool;
    m->entries = apr_table_make(r->pool, 10);
    m->encoded = current;
    if (current && ap_run_session_decode(r, m) != OK) {
        return NULL;
    }
    d.base = loaded;
    d.target = m->entries;
    apr_table_do(smdb_apply_set, &d, z->entries, NULL);
    d.base = z->entries;
    apr_table_do(smdb_apply_unset, &d, loaded, NULL);
    m->expiry = z->expiry;
    m->maxage = z->maxage;
    m->encoded = NULL;
    if (ap_run_session_encode(r, m) != OK) {
        return NULL;
    }
    return m;
}

/**
 * Save z over a stored session without losing what parallel requests of
 * the same session wrote since this one loaded it: a compare-and-set on
 * `version` (one write when nobody else wrote); on a conflict, read the
 * stored session, apply this request's own changes to it, and try again,
 * SMDB_CAS_TRIES times, then last write wins (logged). A session deleted
 * meanwhile is not recreated: APR_ENOENT.
 */
static apr_status_t smdb_store(request_rec *r, smdb_req *rq,
                               const smdb_dir_conf *dc, smdb_entry *e,
                               const session_rec *z, const char *id,
                               const char *user)
{
    apr_time_t expiry = smdb_doc_expiry(dc, e, z, 1);
    const char *value = z->encoded;
    apr_status_t rv;
    int i;

    if (!SMDB_CAS) {
        return smdb_write(r, rq, e, id, value, expiry, user, SMDB_W_FORCE);
    }
    for (i = 0; i < SMDB_CAS_TRIES; i++) {
        smdb_doc d;
        session_rec *m;

        if (i > 1) {
            /* many writers at once: spread them out a little */
            unsigned char b = 0;

            apr_generate_random_bytes(&b, 1);
            apr_sleep(apr_time_from_msec(1) * (b % (2 * i + 1)));
        }
        rv = smdb_write(r, rq, e, id, value, expiry, user, SMDB_W_CAS);
        if (rv != APR_EMISMATCH) {
            return rv;
        }
        if (!i && !smdb_changed(e, z)) {
            /* only mod_session's expiry refresh, and another request
             * has just written the session (refreshing it too) */
            return APR_SUCCESS;
        }
        if (smdb_find(r, rq, e, id, dir_max_lifetime_ms(dc), &d)
            != APR_SUCCESS) {
            return APR_EGENERAL;
        }
        if (!d.value) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00324)
                          "session %.8s... was deleted (or expired) while "
                          "this request ran; its changes are dropped, not "
                          "saved into a recreated session", id);
            return APR_ENOENT;
        }
        m = smdb_merge(r, e, z, d.value);
        if (!m) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00327)
                          "session %.8s... changed under this request and "
                          "the stored version cannot be decoded (a new "
                          "SessionCryptoPassphrase?); last write wins", id);
            return smdb_write(r, rq, e, id, value, expiry, user,
                              SMDB_W_FORCE);
        }
        if (smdb_session_empty(m)) {
            rv = smdb_delete(r, rq, e, id);
            return rv == APR_SUCCESS ? APR_ENOENT : rv;
        }
        if (strlen(m->encoded) > dir_maxsize(dc)) {
            return smdb_refuse(r, SMDB_LOGNO(00326)
                               "not saving session %.8s...: merged with "
                               "parallel changes it has %" APR_SIZE_T_FMT
                               " bytes encoded, SessionMongoDBMaxSize is %"
                               APR_SIZE_T_FMT,
                               id, strlen(m->encoded), dir_maxsize(dc));
        }
        e->version = d.version;
        value = m->encoded;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00325)
                  "session %.8s... changed under this request %d times; "
                  "saving its last merge over whatever is stored now "
                  "(last write wins)", id, i);
    return smdb_write(r, rq, e, id, value, expiry, user, SMDB_W_FORCE);
}

/**
 * session_save: write the session (a new one with one upsert, a stored
 * one with smdb_store's compare-and-set), or delete it when it is
 * empty. A token is kept across saves, so parallel requests of one
 * client share it; it is replaced when the session is new (never adopt a
 * token the database does not know) and when the user changed (login,
 * logout), in which case the old document is deleted.
 */
static apr_status_t session_mongodb_save(request_rec *r, session_rec *z)
{
    const char *db, *token, *id, *user, *value;
    smdb_dir_conf *dc = smdb_config(r, &db);
    smdb_req *rq;
    smdb_entry *e;
    int empty = smdb_session_empty(z);
    apr_status_t rv;

    if (!dc) {
        return DECLINED;
    }
    rq = smdb_req_get(r);
    e = smdb_entry_get(rq, dc, db);
    user = dc->peruser == 1 ? smdb_user(r) : smdb_identity(r, e, z);
    if (e->load_failed) {
        if (empty) {
            return APR_SUCCESS;     /* nothing to lose, nothing to say */
        }
        return smdb_refuse(r, SMDB_LOGNO(00313)
                           "not saving the session: it could not be loaded "
                           "in this request, and saving would overwrite "
                           "the stored one; the stored session is unchanged");
    }

    if (empty) {
        /* Delete what is stored; expire the cookie only when the client
         * sent one and the document is gone (a failed delete leaves
         * both as they were). Nothing stored, nothing sent: no work. */
        if (e->id) {
            rv = smdb_delete(r, rq, e, e->id);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            e->id = NULL;
        }
        if (dc->peruser != 1 && e->token) {
            smdb_cookie_send(r, dc, NULL, 0);
            apr_table_setn(r->err_headers_out, "Cache-Control",
                           "no-cache, private");
        }
        return APR_SUCCESS;
    }

    if (dc->peruser == 1 && !smdb_peruser_id_ok(user)) {
        return smdb_refuse(r, SMDB_LOGNO(00315)
                           "not saving the session: SessionMongoDBPerUser "
                           "needs an authenticated user whose name is "
                           "valid UTF-8 and not 64 hex digits");
    }
    if (user && !bson_utf8_validate(user, strlen(user), false)) {
        return smdb_refuse(r, SMDB_LOGNO(00314)
                           "not saving the session: the user name is not "
                           "valid UTF-8");
    }
    if (strlen(z->encoded) > dir_maxsize(dc)) {
        return smdb_refuse(r, SMDB_LOGNO(00316)
                           "not saving the session: %" APR_SIZE_T_FMT
                           " bytes encoded, SessionMongoDBMaxSize is %"
                           APR_SIZE_T_FMT "; the stored session is "
                           "unchanged",
                           strlen(z->encoded), dir_maxsize(dc));
    }

    if (dc->peruser == 1) {
        rv = e->id ? smdb_store(r, rq, dc, e, z, user, user)
                   : smdb_write(r, rq, e, user, z->encoded,
                                smdb_doc_expiry(dc, e, z, 0), user,
                                SMDB_W_NEW);
        if (rv == APR_ENOENT) {
            e->id = NULL;       /* deleted meanwhile: stays deleted */
            return APR_SUCCESS;
        }
        if (rv == APR_SUCCESS) {
            e->id = user;
            apr_table_setn(r->err_headers_out, "Cache-Control",
                           "no-cache, private");
        }
        return rv;
    }

    /* keep the token unless the session is new or its owner changed */
    if (e->id && (e->user ? user && !strcmp(user, e->user) : !user)) {
        token = e->token;
        id = e->id;
    }
    else if (e->id && smdb_delete(r, rq, e, e->id) != APR_SUCCESS) {
        /* the old token must not outlive a change of identity */
        return smdb_refuse(r, SMDB_LOGNO(00323)
                           "not saving the session: its owner changed and "
                           "the old document could not be deleted");
    }
    else {
        token = smdb_token_new(rq->r->pool);
        id = token ? smdb_token_id(rq->r->pool, token) : NULL;
        if (!id) {
            return smdb_refuse(r, SMDB_LOGNO(00317)
                               "not saving the session: no random bytes "
                               "for a new token");
        }
    }
    value = z->encoded;
    if (id != e->id && e->id && e->user) {
        /* A logout, or a login as someone else: the old document is gone,
         * and nothing of the previous owner's session reaches the next
         * person on this browser, only what this request set. */
        session_rec *m = smdb_merge(r, e, z, NULL);

        e->id = NULL;
        if (!m) {
            return smdb_refuse(r, SMDB_LOGNO(00328)
                               "not saving the session: its owner changed "
                               "and mod_session could not encode what this "
                               "request set (see the lines above)");
        }
        value = m->encoded;
        if (smdb_session_empty(m)) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00329)
                          "the session of %s ended: nothing of it goes to "
                          "%s", e->user, user ? user : "an anonymous session");
            smdb_cookie_send(r, dc, NULL, 0);
            apr_table_setn(r->err_headers_out, "Cache-Control",
                           "no-cache, private");
            return APR_SUCCESS;
        }
    }
    rv = id == e->id ? smdb_store(r, rq, dc, e, z, id, user)
                     : smdb_write(r, rq, e, id, value,
                                  smdb_doc_expiry(dc, e, z, 0), user,
                                  SMDB_W_NEW);
    if (rv == APR_ENOENT) {
        /* deleted while this request ran (a logout elsewhere, a
         * revocation, expiry): it stays deleted. No Set-Cookie: a login
         * in another tab may have set a new cookie meanwhile. */
        e->id = NULL;
        return APR_SUCCESS;
    }
    if (rv != APR_SUCCESS) {
        if (id != e->id) {
            e->id = NULL;   /* the old one is gone already */
        }
        return rv;
    }
    e->token = token;
    e->id = id;
    e->user = user;
    smdb_cookie_send(r, dc, token, z->maxage);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-cache, private");
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* status                                                               */
/* ------------------------------------------------------------------ */

/** Average milliseconds per operation, from a usec total. */
static double smdb_avg_ms(const apr_uint64_t *stats, smdb_stat usec,
                          smdb_stat ops)
{
    apr_uint64_t n = smdb_stat_get(stats, ops);

    return n ? (double)smdb_stat_get(stats, usec) / n / 1000.0 : 0.0;
}

/** One scope's counters: "scope.key: value" lines, or a JSON object. */
static void smdb_status_scope(request_rec *r, const char *scope,
                              const apr_uint64_t *stats, int json)
{
    double load_ms = smdb_avg_ms(stats, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS);
    double save_ms = smdb_avg_ms(stats, SMDB_STAT_SAVE_USEC,
                                 SMDB_STAT_SAVE_OPS);
    int i;

    if (json) {
        ap_rprintf(r, "\"%s\": {", scope);
    }
    for (i = 0; i < SMDB_STAT_LOAD_USEC; i++) {
        if (json) {
            ap_rprintf(r, "\"%s\": %" APR_UINT64_T_FMT ", ",
                       smdb_stat_names[i], smdb_stat_get(stats, i));
        }
        else {
            ap_rprintf(r, "%s.%s: %" APR_UINT64_T_FMT "\n", scope,
                       smdb_stat_names[i], smdb_stat_get(stats, i));
        }
    }
    if (json) {
        ap_rprintf(r, "\"load_ms_avg\": %.3f, \"save_ms_avg\": %.3f}",
                   load_ms, save_ms);
    }
    else {
        ap_rprintf(r, "%s.load_ms_avg: %.3f\n%s.save_ms_avg: %.3f\n",
                   scope, load_ms, scope, save_ms);
    }
}

/** s as the inside of a JSON string, in p. */
static const char *smdb_json_escape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 6 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        }
        else if (c < 0x20) {
            o += apr_snprintf(o, 7, "\\u%04x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

/** This child's connections: one line (or JSON object) each. */
static void smdb_status_conns(request_rec *r, int json)
{
    apr_hash_index_t *hi;
    const char *sep = "";

    if (json) {
        ap_rputs("\"connections\": [", r);
    }
    for (hi = smdb_child.conns ? apr_hash_first(r->pool, smdb_child.conns)
                               : NULL;
         hi; hi = apr_hash_next(hi)) {
        smdb_conn *c = apr_hash_this_val(hi);
        int open, failures, out;
        const char *ready;

        apr_thread_mutex_lock(c->mutex);
        open = c->open;
        failures = c->failures;
        apr_thread_mutex_unlock(c->mutex);
        out = (int)apr_atomic_read32(&c->clients_out);
        ready = apr_atomic_casptr((void *)&c->pool, NULL, NULL) ? "ready"
                                                                 : "none";
        if (json) {
            ap_rprintf(r, "%s{\"uri\": \"%s\", \"breaker\": \"%s\", "
                       "\"failures\": %d, \"clients_in_use\": %d, "
                       "\"pool\": \"%s\"}", sep,
                       smdb_json_escape(r->pool, c->redacted),
                       open ? "open" : "closed", failures, out, ready);
            sep = ", ";
        }
        else {
            ap_rprintf(r, "connection: %s breaker=%s failures=%d "
                       "clients_in_use=%d pool=%s\n", c->redacted,
                       open ? "open" : "closed", failures, out, ready);
        }
    }
    if (json) {
        ap_rputs("]", r);
    }
}

/**
 * SetHandler session-mongodb-status: this child's counters and the whole
 * server's since its last (re)start, plus this child's connections; plain
 * "key: value" lines, or JSON with ?json.
 */
static int session_mongodb_status_handler(request_rec *r)
{
    int json;

    if (!r->handler || strcmp(r->handler, "session-mongodb-status")) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    json = r->args && (!strcmp(r->args, "json")
                       || !strncmp(r->args, "json&", 5));
    ap_set_content_type(r, json ? "application/json" : "text/plain");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if (r->header_only) {
        return OK;
    }
    if (json) {
        ap_rprintf(r, "{\"version\": \"%s\", \"libmongoc\": \"%s\", "
                   "\"pid\": %" APR_PID_T_FMT ", ", SMDB_VERSION,
                   mongoc_get_version(), getpid());
        smdb_status_scope(r, "child", smdb_child_stats, 1);
        ap_rputs(", ", r);
        smdb_status_scope(r, "server", smdb_server_stats, 1);
        ap_rputs(", ", r);
        smdb_status_conns(r, 1);
        ap_rputs("}\n", r);
    }
    else {
        ap_rprintf(r, "version: %s\nlibmongoc: %s\npid: %" APR_PID_T_FMT
                   "\n", SMDB_VERSION, mongoc_get_version(), getpid());
        smdb_status_scope(r, "child", smdb_child_stats, 0);
        smdb_status_scope(r, "server", smdb_server_stats, 0);
        smdb_status_conns(r, 0);
    }
    return OK;
}

/** mod_status: the whole server's counters on /server-status. */
static int session_mongodb_status_hook(request_rec *r, int flags)
{
    const apr_uint64_t *st = smdb_server_stats;

    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "SessionMongoDBLoads: %" APR_UINT64_T_FMT "\n"
                   "SessionMongoDBSaves: %" APR_UINT64_T_FMT "\n"
                   "SessionMongoDBErrors: %" APR_UINT64_T_FMT "\n",
                   smdb_stat_get(st, SMDB_STAT_LOADS),
                   smdb_stat_get(st, SMDB_STAT_SAVES),
                   smdb_stat_get(st, SMDB_STAT_ERRORS));
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_session_mongodb</h2>\n<dl>\n", r);
    ap_rprintf(r, "<dt>Sessions loaded: %" APR_UINT64_T_FMT
               " (not found %" APR_UINT64_T_FMT ", expired %"
               APR_UINT64_T_FMT ")</dt>\n",
               smdb_stat_get(st, SMDB_STAT_LOADS),
               smdb_stat_get(st, SMDB_STAT_NOT_FOUND),
               smdb_stat_get(st, SMDB_STAT_EXPIRED));
    ap_rprintf(r, "<dt>Sessions saved: %" APR_UINT64_T_FMT ", removed %"
               APR_UINT64_T_FMT ", refused %" APR_UINT64_T_FMT
               ", conflicts merged %" APR_UINT64_T_FMT "</dt>\n",
               smdb_stat_get(st, SMDB_STAT_SAVES),
               smdb_stat_get(st, SMDB_STAT_REMOVES),
               smdb_stat_get(st, SMDB_STAT_REFUSED),
               smdb_stat_get(st, SMDB_STAT_CONFLICTS));
    ap_rprintf(r, "<dt>MongoDB errors: %" APR_UINT64_T_FMT " (out of reach %"
               APR_UINT64_T_FMT ")</dt>\n",
               smdb_stat_get(st, SMDB_STAT_ERRORS),
               smdb_stat_get(st, SMDB_STAT_TIMEOUTS));
    ap_rprintf(r, "<dt>Average load %.3f ms, save %.3f ms</dt>\n</dl>\n",
               smdb_avg_ms(st, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS),
               smdb_avg_ms(st, SMDB_STAT_SAVE_USEC, SMDB_STAT_SAVE_OPS));
    return OK;
}

/* ------------------------------------------------------------------ */
/* httpd hooks                                                          */
/* ------------------------------------------------------------------ */

/** Add the module's dir configs found in a section vector and in the
 * sections nested in it (<Files>, <If>) to out. */
static void smdb_collect_dir_confs(ap_conf_vector_t *v,
                                   apr_array_header_t *out)
{
    core_dir_config *cd = ap_get_core_module_config(v);
    smdb_dir_conf *dc = ap_get_module_config(v, &session_mongodb_module);
    int i;

    if (dc) {
        APR_ARRAY_PUSH(out, smdb_dir_conf *) = dc;
    }
    if (cd && cd->sec_file) {
        for (i = 0; i < cd->sec_file->nelts; i++) {
            smdb_collect_dir_confs(APR_ARRAY_IDX(cd->sec_file, i,
                                                 ap_conf_vector_t *), out);
        }
    }
    if (cd && cd->sec_if) {
        for (i = 0; i < cd->sec_if->nelts; i++) {
            smdb_collect_dir_confs(APR_ARRAY_IDX(cd->sec_if, i,
                                                 ap_conf_vector_t *), out);
        }
    }
}

/**
 * check_config: runs before `apachectl -t` reports, so a virtual host
 * that uses the module with no database anywhere (directive or URI path)
 * fails the configuration test instead of every request.
 */
static int session_mongodb_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                        apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    for (; s; s = s->next) {
        smdb_srv_conf *sc = ap_get_module_config(s->module_config,
                                                 &session_mongodb_module);
        core_server_config *cs = ap_get_core_module_config(s->module_config);
        apr_array_header_t *confs = apr_array_make(ptemp, 8,
                                                   sizeof(smdb_dir_conf *));
        int i, used = 0, has_db;

        if (!sc->parsed) {
            const char *err = NULL;

            sc->parsed = smdb_uri_parse(pconf, srv_uri(sc), &err);
            if (!sc->parsed) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                             SMDB_LOGNO(00101) "SessionMongoDBURI: cannot "
                             "parse %s: %s", srv_uri(sc), err);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        smdb_collect_dir_confs(s->lookup_defaults, confs);
        for (i = 0; i < cs->sec_dir->nelts; i++) {
            smdb_collect_dir_confs(APR_ARRAY_IDX(cs->sec_dir, i,
                                                 ap_conf_vector_t *), confs);
        }
        for (i = 0; i < cs->sec_url->nelts; i++) {
            smdb_collect_dir_confs(APR_ARRAY_IDX(cs->sec_url, i,
                                                 ap_conf_vector_t *), confs);
        }
        has_db = mongoc_uri_get_database(sc->parsed) != NULL;
        for (i = 0; i < confs->nelts; i++) {
            smdb_dir_conf *dc = APR_ARRAY_IDX(confs, i, smdb_dir_conf *);

            used |= dir_enabled(dc);
            has_db |= dc->database != NULL;
        }
        if (used && !has_db) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                         SMDB_LOGNO(00102) "sessions are kept in MongoDB "
                         "for server %s:%u, but no database is named: set "
                         "SessionMongoDBDatabase or give the database in "
                         "the path of SessionMongoDBURI "
                         "(mongodb://host/dbname)",
                         s->server_hostname ? s->server_hostname : "*",
                         (unsigned)s->port);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int session_mongodb_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                       apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        apr_shm_t *shm;
        apr_status_t rv;

        /* server-wide counters: made before the fork, shared by every
         * child of this generation; freed with pconf */
        apr_size_t size = sizeof(apr_uint64_t)
                          * (SMDB_STAT_N + SMDB_SWEEP_SLOTS);

        smdb_server_stats = smdb_sweep_slots = NULL;
        rv = apr_shm_create(&shm, size, NULL, pconf);
        if (rv == APR_SUCCESS) {
            smdb_server_stats = apr_shm_baseaddr_get(shm);
            memset(smdb_server_stats, 0, size);
            smdb_sweep_slots = smdb_server_stats + SMDB_STAT_N;
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, SMDB_LOGNO(00105)
                         "no shared memory for server-wide counters; the "
                         "status page's server.* counters stay at 0");
        }
        ap_add_version_component(pconf, "mod_session_mongodb/"
                                 SMDB_VERSION);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SMDB_LOGNO(00103)
                     "mod_session_mongodb %s (libmongoc %s) loaded",
                     SMDB_VERSION, mongoc_get_version());
    }
    return OK;
}

/**
 * child_init: libmongoc is set up here, after the fork, never in the
 * parent: a pool's monitor threads do not survive fork(). One pool per
 * distinct URI; cleanups on pchild stop the housekeeper, then destroy the
 * pools, then clean up libmongoc (they run in reverse order).
 */
static void session_mongodb_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *v;
    apr_status_t rv;

    mongoc_init();
    mongoc_log_set_handler(smdb_mongoc_log, s);
    apr_pool_cleanup_register(pchild, NULL, smdb_child_cleanup,
                              apr_pool_cleanup_null);
    smdb_child.p = pchild;
    smdb_child.conns = apr_hash_make(pchild);
    smdb_child.s = s;
    for (v = s; v; v = v->next) {
        smdb_srv_conf *sc = ap_get_module_config(v->module_config,
                                                 &session_mongodb_module);

        sc->conn = smdb_conn_get(pchild, v, sc);
    }

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
    apr_pool_pre_cleanup_register(pchild, NULL, smdb_housekeeper_stop);
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const session_pre[] = {"mod_session.c", NULL};

    (void)p;
    /* startup: refuse a configuration without a database */
    ap_hook_check_config(session_mongodb_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(session_mongodb_post_config, NULL, NULL,
                        APR_HOOK_MIDDLE);
    /* the status page, and a section on mod_status's */
    ap_hook_handler(session_mongodb_status_handler, NULL, NULL,
                    APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, session_mongodb_status_hook, NULL,
                      NULL, APR_HOOK_MIDDLE);
    /* each child: client pools, after the fork */
    ap_hook_child_init(session_mongodb_child_init, NULL, NULL,
                       APR_HOOK_MIDDLE);
    /* mod_session: load at fixups and filter time, save in the filter */
    ap_hook_session_load(session_mongodb_load, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_session_save(session_mongodb_save, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_session's own decoder (REALLY_LAST too) */
    ap_hook_session_decode(session_mongodb_decode, session_pre, NULL,
                           APR_HOOK_REALLY_LAST);
}

module AP_MODULE_DECLARE_DATA session_mongodb_module = {
    STANDARD20_MODULE_STUFF,
    create_smdb_dir_conf,
    merge_smdb_dir_conf,
    create_smdb_srv_conf,
    merge_smdb_srv_conf,
    smdb_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
