/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Configuration: the server and directory records, their getters (which
 * apply the defaults, so that an explicit value in a virtual host always
 * wins over the main server's), the directives, and the startup check.
 */
#ifndef SMDB_CONFIG_H
#define SMDB_CONFIG_H

#include "smdb_private.h"
#include <mongoc/mongoc.h>

#define SMDB_DEFAULT_URI        "mongodb://localhost:27017"
#define SMDB_DEFAULT_COLLECTION "sessions"
#define SMDB_DEFAULT_TIMEOUT_MS 2000
#define SMDB_DEFAULT_MAXSIZE    65536
#define SMDB_DEFAULT_SWEEP_S    60
#define SMDB_DEFAULT_RETRY_S    5
#define SMDB_MAX_MAXSIZE        (15 * 1024 * 1024)  /* under BSON's 16 MiB */

struct smdb_backend;

/** Server (virtual host) configuration. "Unset" is NULL or -1. */
typedef struct {
    const char *uri;            /* connection string as configured */
    mongoc_uri_t *parsed;       /* parsed uri (owned by the config pool) */
    int ttl_index;              /* On/Off, -1 unset */
    int timeout_ms;             /* > 0, -1 unset */
    int sweep_interval_s;       /* > 0, -1 unset */
    int retry_interval_s;       /* > 0, -1 unset */
    struct smdb_backend *backend;   /* this child's, for the uri (set by
                                     * child_init) */
    apr_array_header_t *cookie_names;   /* of const char *: every session
                                         * cookie configured here, or
                                         * NULL */
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
    long max_lifetime_s;        /* 0 off, -1 unset */
    int record_client;          /* On/Off, -1 unset */
} smdb_dir_conf;

SMDB_HIDDEN extern const command_rec smdb_cmds[];

SMDB_HIDDEN void *smdb_create_srv_conf(apr_pool_t *p, server_rec *s);
SMDB_HIDDEN void *smdb_merge_srv_conf(apr_pool_t *p, void *basev,
                                      void *addv);
SMDB_HIDDEN void *smdb_create_dir_conf(apr_pool_t *p, char *dummy);
SMDB_HIDDEN void *smdb_merge_dir_conf(apr_pool_t *p, void *basev,
                                      void *addv);

/** s's configuration. */
SMDB_HIDDEN smdb_srv_conf *smdb_srv(const server_rec *s);

SMDB_HIDDEN const char *srv_uri(const smdb_srv_conf *sc);
SMDB_HIDDEN int srv_timeout_ms(const smdb_srv_conf *sc);
SMDB_HIDDEN int srv_ttl_index(const smdb_srv_conf *sc);
SMDB_HIDDEN int srv_sweep_interval_s(const smdb_srv_conf *sc);
SMDB_HIDDEN int srv_retry_interval_s(const smdb_srv_conf *sc);

SMDB_HIDDEN const char *dir_collection(const smdb_dir_conf *dc);
SMDB_HIDDEN apr_size_t dir_maxsize(const smdb_dir_conf *dc);
/** Absolute lifetime in milliseconds; 0 = none. */
SMDB_HIDDEN apr_int64_t dir_max_lifetime_ms(const smdb_dir_conf *dc);
/** SessionMongoDBPerUser On. */
SMDB_HIDDEN int dir_peruser(const smdb_dir_conf *dc);
/** SessionMongoDBRecordClient (default Off). */
SMDB_HIDDEN int dir_record_client(const smdb_dir_conf *dc);
/** SessionMongoDBCookieRemove (default On). */
SMDB_HIDDEN int dir_cookie_remove(const smdb_dir_conf *dc);

/** The configuration that applies to r, with its database in *db, or
 * NULL when r's directory does not keep its sessions in MongoDB (or has
 * no database: logged). */
SMDB_HIDDEN smdb_dir_conf *smdb_config_for(request_rec *r, const char **db);

/** check_config: a virtual host that uses the module with no database
 * anywhere (directive or URI path) fails `apachectl -t`; the default URI
 * is parsed. */
SMDB_HIDDEN int smdb_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s);

#endif
