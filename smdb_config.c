/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_config.c: directives, the server and directory records and their
 * getters, and the startup check (see smdb_config.h).
 */
#include "http_core.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include <errno.h>

#include "smdb_config.h"

smdb_srv_conf *smdb_srv(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &session_mongodb_module);
}

const char *srv_uri(const smdb_srv_conf *sc)
{
    return sc->uri ? sc->uri : SMDB_DEFAULT_URI;
}

int srv_timeout_ms(const smdb_srv_conf *sc)
{
    return sc->timeout_ms > 0 ? sc->timeout_ms : SMDB_DEFAULT_TIMEOUT_MS;
}

int srv_ttl_index(const smdb_srv_conf *sc)
{
    return sc->ttl_index != -1 ? sc->ttl_index : 1;
}

int srv_sweep_interval_s(const smdb_srv_conf *sc)
{
    return sc->sweep_interval_s > 0 ? sc->sweep_interval_s
                                    : SMDB_DEFAULT_SWEEP_S;
}

int srv_retry_interval_s(const smdb_srv_conf *sc)
{
    return sc->retry_interval_s > 0 ? sc->retry_interval_s
                                    : SMDB_DEFAULT_RETRY_S;
}

const char *dir_collection(const smdb_dir_conf *dc)
{
    return dc->collection ? dc->collection : SMDB_DEFAULT_COLLECTION;
}

apr_size_t dir_maxsize(const smdb_dir_conf *dc)
{
    return dc->maxsize ? dc->maxsize : SMDB_DEFAULT_MAXSIZE;
}

apr_int64_t dir_max_lifetime_ms(const smdb_dir_conf *dc)
{
    return dc->max_lifetime_s > 0 ? (apr_int64_t)dc->max_lifetime_s * 1000
                                  : 0;
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
    return dc->name_set || dc->name2_set || dir_peruser(dc);
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

void *smdb_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    smdb_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    (void)s;
    sc->ttl_index = -1;
    sc->timeout_ms = -1;
    sc->sweep_interval_s = -1;
    sc->retry_interval_s = -1;
    return sc;
}

void *smdb_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    smdb_srv_conf *base = basev, *add = addv;
    smdb_srv_conf *new = apr_pcalloc(p, sizeof(*new));

    new->uri = add->uri ? add->uri : base->uri;
    new->parsed = add->uri ? add->parsed : base->parsed;
    new->ttl_index = add->ttl_index != -1 ? add->ttl_index : base->ttl_index;
    new->timeout_ms = add->timeout_ms != -1 ? add->timeout_ms
                                            : base->timeout_ms;
    new->sweep_interval_s = add->sweep_interval_s != -1
        ? add->sweep_interval_s : base->sweep_interval_s;
    new->retry_interval_s = add->retry_interval_s != -1
        ? add->retry_interval_s : base->retry_interval_s;
    /* a virtual host sees the main server's <Location>s too */
    new->cookie_names = !base->cookie_names ? add->cookie_names
        : !add->cookie_names ? base->cookie_names
        : apr_array_append(p, base->cookie_names, add->cookie_names);
    return new;
}

void *smdb_create_dir_conf(apr_pool_t *p, char *dummy)
{
    smdb_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    (void)dummy;
    dc->remove = -1;
    dc->peruser = -1;
    dc->max_lifetime_s = -1;
    dc->record_client = -1;
    return dc;
}

void *smdb_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
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
    new->max_lifetime_s = add->max_lifetime_s != -1 ? add->max_lifetime_s
                                                    : base->max_lifetime_s;
    new->record_client = add->record_client != -1 ? add->record_client
                                                  : base->record_client;
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
    APR_OFFSETOF(smdb_srv_conf, sweep_interval_s), 86400
};
static const smdb_int_slot smdb_slot_retry = {
    APR_OFFSETOF(smdb_srv_conf, retry_interval_s), 3600
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
    const char *err;
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
    err = smdb_check_cookie_name(cmd, *name);
    if (!err && smdb_cookie_prefix(*name) == SMDB_PREFIX_HOST) {
        const char *path = smdb_attr_value(cmd->pool, *attrs, "path");

        if (!path || strcmp(path, "/") || smdb_attr_named(*attrs, "domain")) {
            return apr_psprintf(cmd->pool, "%s: a __Host- cookie needs the "
                                "attribute path=/ and no domain attribute, "
                                "or browsers drop it (RFC 6265bis)",
                                cmd->directive->directive);
        }
    }
    if (!err && cmd->pool != cmd->temp_pool) {
        /* every session cookie of the server is hidden from applications
         * wherever SessionMongoDBCookieRemove is On (smdb_cookie_hide).
         * Not from .htaccess, which is read at request time (there
         * cmd->pool is the request's): its names are hidden where they
         * are configured. */
        smdb_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &session_mongodb_module);
        int i;

        if (!sc->cookie_names) {
            sc->cookie_names = apr_array_make(cmd->pool, 2,
                                              sizeof(const char *));
        }
        for (i = 0; i < sc->cookie_names->nelts; i++) {
            if (!strcmp(APR_ARRAY_IDX(sc->cookie_names, i, const char *),
                        *name)) {
                break;
            }
        }
        if (i == sc->cookie_names->nelts) {
            APR_ARRAY_PUSH(sc->cookie_names, const char *) = *name;
        }
    }
    return err;
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

static const char *set_record_client(cmd_parms *cmd, void *dconf,
                                     int flag)
{
    (void)cmd;
    ((smdb_dir_conf *)dconf)->record_client = flag;
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
        ((smdb_dir_conf *)dconf)->max_lifetime_s = v;
    }
    return err;
}

const command_rec smdb_cmds[] = {
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
    AP_INIT_FLAG("SessionMongoDBRecordClient", set_record_client, NULL,
                 RSRC_CONF | ACCESS_CONF,
                 "Record the client's address and User-Agent with each "
                 "session, for its user's list of sessions (default Off)"),
    {NULL, {NULL}, NULL, 0, RAW_ARGS, NULL}
};

int dir_peruser(const smdb_dir_conf *dc)
{
    return dc->peruser == 1;
}

int dir_record_client(const smdb_dir_conf *dc)
{
    return dc->record_client == 1;
}

int dir_cookie_remove(const smdb_dir_conf *dc)
{
    return dc->remove != 0;
}

/** The configuration that applies, or NULL when this directory does not
 * keep its sessions in MongoDB (or has no database: logged). */
smdb_dir_conf *smdb_config_for(request_rec *r, const char **db)
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
int smdb_check_config(apr_pool_t *pconf, apr_pool_t *plog,
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
