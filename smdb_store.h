/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * One session document in MongoDB: find, update and delete by _id, as
 * database commands built with libbson (smdb_bson.h) and sent once each
 * through libmongoc's client API with the request's checked-out client
 * (smdb_backend.h): server selection, authentication, TLS, compression
 * and the connection pool stay libmongoc's; the URI's read preference,
 * read concern and write concern are applied here, as the collection
 * helpers would. No retry. Each operation counts itself; a find's or a write's
 * failure is returned, not logged, so that the caller says what it means
 * where it happened.
 */
#ifndef SMDB_STORE_H
#define SMDB_STORE_H

#include "smdb_backend.h"
#include "smdb_bson.h"

#define SMDB_LIST_MAX   1000    /* sessions of one user listed */

/** Where a session's documents are, as a request uses them. */
typedef struct {
    const char *db;
    const char *coll;
    int registered;             /* the housekeeper knows the collection */
} smdb_place;

/** Find the document of id. APR_SUCCESS with d->value NULL when there is
 * none (or it expired, or outlived max_lifetime_ms; logged at debug, or
 * a warning for a document without a value), APR_EGENERAL when MongoDB
 * was not asked or did not answer (error filled in when it was asked,
 * error->domain 0 when it was not). */
SMDB_HIDDEN apr_status_t smdb_store_find(request_rec *r, smdb_checkout *co,
                                         smdb_place *pl, const char *id,
                                         apr_int64_t max_lifetime_ms,
                                         smdb_doc *d, bson_error_t *error);

/** Write w (see smdb_bson_update). APR_SUCCESS; APR_EMISMATCH when a
 * compare-and-set found another version or no document; APR_ENOENT when
 * a forced write found no document; APR_EGENERAL when MongoDB was not
 * asked or the write failed (error as for smdb_store_find). */
SMDB_HIDDEN apr_status_t smdb_store_write(request_rec *r, smdb_checkout *co,
                                          smdb_place *pl,
                                          const smdb_write_spec *w,
                                          bson_error_t *error);

/** Delete the document of id; a failure is logged (the document stays
 * until it expires). */
SMDB_HIDDEN apr_status_t smdb_store_delete(request_rec *r, smdb_checkout *co,
                                           const smdb_place *pl,
                                           const char *id);

/** The live cookie sessions of user in pl, at most SMDB_LIST_MAX, pushed
 * onto out (of smdb_listed, see smdb_bson_list_read): one find, which
 * counts into the request's budget. Returns as smdb_store_find. */
SMDB_HIDDEN apr_status_t smdb_store_list(request_rec *r, smdb_checkout *co,
                                         smdb_place *pl, const char *user,
                                         apr_int64_t max_lifetime_ms,
                                         apr_array_header_t *out,
                                         bson_error_t *error);

/** Delete those of the documents ids[0..n-1] whose owner is user; *ended
 * is how many went. One delete, not refused for a spent budget (as no
 * delete is: a session its user ends must not live on), bounded by the
 * timeout. Returns as smdb_store_write, the failure not logged. */
SMDB_HIDDEN apr_status_t smdb_store_delete_owned(request_rec *r,
                                                 smdb_checkout *co,
                                                 smdb_place *pl,
                                                 const char *user,
                                                 const char *const *ids,
                                                 int n, apr_int64_t *ended,
                                                 bson_error_t *error);

#endif
