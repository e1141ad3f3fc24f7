/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The mod_session provider: the session_load, session_save and
 * session_decode hooks, with the request's state, the identity and
 * token rotation of a save, and the compare-and-set of a save over a
 * stored session.
 */
#ifndef SMDB_SESSION_H
#define SMDB_SESSION_H

#include "mod_session.h"
#include "smdb_private.h"
#include "smdb_store.h"

#define SMDB_AGENT_MAX      200 /* bytes of a recorded User-Agent */

SMDB_HIDDEN apr_status_t smdb_session_load(request_rec *r, session_rec **z);
SMDB_HIDDEN apr_status_t smdb_session_save(request_rec *r, session_rec *z);
SMDB_HIDDEN apr_status_t smdb_session_decode(request_rec *r, session_rec *z);
SMDB_HIDDEN int smdb_session_seen(request_rec *r);
SMDB_HIDDEN int smdb_session_fixups(request_rec *r);
SMDB_HIDDEN apr_status_t smdb_cache_filter(ap_filter_t *f,
                                           apr_bucket_brigade *bb);
SMDB_HIDDEN void smdb_session_insert_filter(request_rec *r);
SMDB_HIDDEN int smdb_session_h2c_before(request_rec *r);
SMDB_HIDDEN int smdb_session_h2c_after(request_rec *r);

/** What "your sessions" (smdb_sessions.c) knows of its request, in the
 * handler, once fixups have run. */
typedef struct {
    const char *user;           /* verified by httpd's checks, or NULL */
    const char *id;             /* _id of the request's own session under
                                 * the configuration, as loaded; NULL:
                                 * none stored */
    int loaded;                 /* mod_session loaded it (Session On) */
    smdb_place *place;          /* its database and collection */
    smdb_checkout *co;          /* the request's MongoDB client and budget */
} smdb_session_view;

/** r's view under dc, whose database is db. */
SMDB_HIDDEN void smdb_session_view_of(request_rec *r,
                                      const smdb_dir_conf *dc,
                                      const char *db, smdb_session_view *v);

/** r's own session under dc was deleted by its user: this request saves
 * nothing of it, and expires its cookie if the client sent one. */
SMDB_HIDDEN void smdb_session_end_current(request_rec *r,
                                          const smdb_dir_conf *dc,
                                          const char *db);

#endif
