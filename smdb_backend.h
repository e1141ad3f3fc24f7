/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The MongoDB side of a child process: one backend per distinct
 * connection string (and timeout and retry interval), holding libmongoc's
 * client pool and the circuit breaker of that deployment, made in
 * child_init, after the fork. A request checks one client out on its
 * first operation (smdb_op_begin) and a cleanup of its pool returns it.
 * libmongoc's log goes to httpd's error log.
 */
#ifndef SMDB_BACKEND_H
#define SMDB_BACKEND_H

#include "smdb_config.h"
#include "smdb_breaker.h"
#include "smdb_stats.h"
#include "apr_thread_mutex.h"

/** One MongoDB deployment as this child reaches it. In pchild. */
typedef struct smdb_backend {
    const char *uri;            /* as configured */
    const char *redacted;       /* for the log: no credentials */
    mongoc_client_pool_t *clients;  /* NULL until it can be made (atomic) */
    apr_time_t retry_at;        /* next try to make the client pool */
    int timeout_ms;
    int retry_interval_s;       /* how long the breaker stays open */
    apr_uint32_t clients_out;   /* checked out by requests (atomic) */
    apr_thread_mutex_t *mutex;  /* guards breaker, retry_at, making the
                                 * client pool */
    smdb_breaker breaker;
    smdb_gauge *gauge;          /* the server-wide figures (or NULL): the
                                 * breaker's opening and closing and the
                                 * checkouts go there too */
    server_rec *s;
    /* from the URI, for the commands the module builds itself, made
     * once with the client pool and before it is published, read-only
     * after: the read preference, and {readConcern: ...} and
     * {writeConcern: ...} to append to commands (NULL: the server's
     * default) */
    mongoc_read_prefs_t *read_prefs;
    bson_t *read_concern;
    bson_t *write_concern;
} smdb_backend;

/** A request's checkout of a client: one per top-level request. */
typedef struct {
    request_rec *r;             /* the top request, owner of the pool */
    smdb_backend *be;
    mongoc_client_pool_t *clients;  /* be's, when a client was popped */
    mongoc_client_t *client;    /* popped on first use */
    apr_uint64_t ticket;        /* the breaker's, of the current operation */
    const char *commands;       /* "find,update": commands sent */
    apr_time_t op_started;      /* of the operation under way */
    apr_interval_time_t waited; /* on MongoDB so far: at most the
                                 * server's SessionMongoDBTimeout in all */
    int spent;                  /* ... and it is spent (logged once) */
} smdb_checkout;

/** child_init: route libmongoc's log, make a backend for every server's
 * URI (sharing one among servers that have the same) and set each
 * server's sc->backend. mongoc_init() was called. */
SMDB_HIDDEN void smdb_backends_init(apr_pool_t *pchild, server_rec *s);

/** At the child's exit, after every pool: forget the backends. */
SMDB_HIDDEN void smdb_backends_exit(void);

/** be's URI with every wait bounded by its timeout (server selection,
 * connecting, the wait queue, an answer) unless the URI says otherwise,
 * and the module's appname; the caller destroys it. NULL (logged) when
 * it does not parse. */
SMDB_HIDDEN mongoc_uri_t *smdb_backend_uri(const smdb_backend *be);

/** The client for one MongoDB command of r, named command (for the
 * request note session-mongodb-commands), or NULL (logged) when there is
 * none, the breaker says not to ask, or (budgeted) the request has spent
 * its budget of waits. Deletes and the write of a new session are not
 * budgeted: refusing them would leave an old token valid, or lose the
 * session of a login whose old document is gone already. The first call
 * pops a client, which goes back to the pool with the request pool. */
SMDB_HIDDEN mongoc_client_t *smdb_op_begin(request_rec *r, smdb_checkout *co,
                                           const char *command,
                                           int budgeted);

/** What is left of r's budget of waits, SessionMongoDBTimeout in all
 * (0: spent). */
SMDB_HIDDEN apr_interval_time_t smdb_checkout_left(const request_rec *r,
                                                   const smdb_checkout *co);

/** After an operation: error is NULL on success. Counts its time into
 * the request's budget and failures into the counters, and tells the
 * breaker. */
SMDB_HIDDEN void smdb_op_end(request_rec *r, smdb_checkout *co,
                             const bson_error_t *error);

/** One backend as the status page shows it. */
typedef struct {
    const char *redacted;
    int open;
    int failures;
    int clients_out;
    int ready;                  /* the client pool exists */
    int timeout_ms;
    apr_uint64_t server_open;   /* children of the server whose breaker
                                 * is open */
    apr_uint64_t server_clients; /* clients the server's children have
                                  * checked out */
} smdb_backend_state;

/** This child's backends, as an array of smdb_backend_state in p. */
SMDB_HIDDEN apr_array_header_t *smdb_backend_states(apr_pool_t *p);

#endif
