/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The BSON of the stored document (httpd-free, unit-tested): the find,
 * update and delete commands of one session, the reading of their
 * replies and of a found document, the sweep's filter and the indexes. docs/stored-document.md describes the fields. The I/O is in
 * smdb_store.c and smdb_housekeeper.c.
 */
#ifndef SMDB_BSON_H
#define SMDB_BSON_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"
#include <bson/bson.h>
#include <mongoc/mongoc.h>   /* its error domains only: no libmongoc call */

#include "smdb_util.h"

/** A stored session as a find reads it; strings in the request pool. */
typedef struct {
    const char *value;          /* the encoded session; NULL: none (or
                                 * it is expired, or unreadable) */
    const char *user;           /* its owner */
    apr_int64_t created_ms;     /* since the epoch; now when absent */
    apr_int64_t version;        /* -1: the document has none */
} smdb_doc;

/** What a found document is. */
typedef enum {
    SMDB_DOC_LIVE,              /* a session: value (and user) are set */
    SMDB_DOC_EXPIRED,           /* its expiry has passed */
    SMDB_DOC_TOO_OLD,           /* older than SessionMongoDBMaxLifetime */
    SMDB_DOC_NO_VALUE           /* no string value: not ours */
} smdb_doc_state;

/** The find command of id in collection coll: filter {_id: id}, a
 * projection of the fields the module reads, one document in one batch. */
SMDB_HIDDEN void smdb_bson_find(bson_t *cmd, const char *coll,
                                const char *id);

/** The first document of a find command's reply (cursor.firstBatch) as
 * a read-only view in *doc; 0 when the batch is empty. */
SMDB_HIDDEN int smdb_bson_first(const bson_t *reply, bson_t *doc);

/** Read a found document at now_ms into d (created and version whatever
 * the state; value and user only when live, copied into p). With
 * max_lifetime_ms (0: none), a document created that long ago is too
 * old. */
SMDB_HIDDEN smdb_doc_state smdb_bson_read(apr_pool_t *p, const bson_t *doc,
                                          apr_int64_t now_ms,
                                          apr_int64_t max_lifetime_ms,
                                          smdb_doc *d);

/** How a write may change a document. */
typedef enum {
    SMDB_W_NEW,     /* a session that starts now: upsert, `created` reset */
    SMDB_W_CAS,     /* only if `version` is still the one read; no upsert */
    SMDB_W_FORCE    /* last write wins over whatever is there; no upsert */
} smdb_write_mode;

/** One write of a session. */
typedef struct {
    const char *id;             /* _id */
    const char *value;          /* encoded session */
    apr_time_t expiry;          /* 0: none (the field is removed) */
    const char *user;           /* NULL: none (the field is removed) */
    smdb_write_mode mode;
    apr_int64_t version;        /* SMDB_W_CAS: the version read, -1 for a
                                 * document written before versions */
    const char *client_ip;      /* SessionMongoDBRecordClient On: set as
                                 * client.ip; NULL: client left as it is */
    const char *client_agent;   /* ... and client.agent (NULL: none) */
} smdb_write_spec;

/** The update command of w in collection coll at now_ms: one statement
 * {q: filter, u: update, upsert}. Every write sets value and updated and
 * increments version. */
SMDB_HIDDEN void smdb_bson_update(const smdb_write_spec *w,
                                  apr_int64_t now_ms, const char *coll,
                                  bson_t *cmd);

/** The delete command of the document id in collection coll. */
SMDB_HIDDEN void smdb_bson_delete(bson_t *cmd, const char *coll,
                                  const char *id);

/** Read the reply of a write command that the server answered with ok:
 * 1: *n is the count of documents matched (update) or deleted; 0, with
 * error set, when the reply carries a writeErrors or writeConcernError
 * (the write did not happen, or is not known to be durable). */
SMDB_HIDDEN int smdb_bson_write_reply(const bson_t *reply, apr_int64_t *n,
                                      bson_error_t *error);

/** One session of a user as "your sessions" lists it; strings in the
 * request pool. */
typedef struct {
    const char *id;             /* _id */
    apr_int64_t created_ms;     /* 0: unknown */
    apr_int64_t updated_ms;     /* 0: unknown */
    apr_int64_t expiry_ms;      /* 0: never */
    const char *ip;             /* client.ip, or NULL */
    const char *agent;          /* client.agent, or NULL */
} smdb_listed;

/** The find command of the cookie sessions of user in coll that are
 * live at now_ms (no expiry, or a later one): filter {user, $or: expiry},
 * which the index on user serves, only the fields listed, at most limit
 * documents in one batch. */
SMDB_HIDDEN void smdb_bson_list(bson_t *cmd, const char *coll,
                                const char *user, apr_int64_t now_ms,
                                int limit);

/** The live cookie sessions of a reply to smdb_bson_list, pushed onto
 * out (of smdb_listed, strings in p): documents whose _id has the shape
 * of a token's hash (not a per-user session's), not expired at now_ms
 * nor, with max_lifetime_ms (0: none), created that long ago. Returns
 * how many documents the batch held. */
SMDB_HIDDEN int smdb_bson_list_read(apr_pool_t *p, const bson_t *reply,
                                    apr_int64_t now_ms,
                                    apr_int64_t max_lifetime_ms,
                                    apr_array_header_t *out);

/** The delete command of the documents ids[0..n-1] of coll that belong
 * to user: {_id: {$in: ids}, user: user}, every match. */
SMDB_HIDDEN void smdb_bson_delete_owned(bson_t *cmd, const char *coll,
                                        const char *user,
                                        const char *const *ids, int n);

/** The sweep's filter: documents whose expiry is before now_ms. */
SMDB_HIDDEN void smdb_bson_sweep_filter(bson_t *filter, apr_int64_t now_ms);

/** The indexes of a session collection, each created on its own, so
 * that a server refusing one (a TTL index, on FerretDB) keeps the other. */
typedef enum {
    SMDB_INDEX_TTL,             /* {expiry: 1}, expireAfterSeconds 0 */
    SMDB_INDEX_USER             /* {user: 1}: revocation, a user's sessions */
} smdb_index;

/** The createIndexes command of one index of collection. */
SMDB_HIDDEN void smdb_bson_index(bson_t *cmd, const char *collection,
                                 smdb_index which);

#endif
