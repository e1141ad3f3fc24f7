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

#endif
