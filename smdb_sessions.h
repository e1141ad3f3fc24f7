/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * "Your sessions": `SetHandler session-mongodb-sessions` in a location
 * that requires an authenticated user lists that user's live cookie
 * sessions as JSON (GET) and ends one, the others or all of them (POST
 * end=ID|others|all), under the location's session configuration.
 * docs/sessions.md describes it.
 */
#ifndef SMDB_SESSIONS_H
#define SMDB_SESSIONS_H

#include "smdb_private.h"

#define SMDB_SESSIONS_HANDLER   "session-mongodb-sessions"
#define SMDB_SESSIONS_BODY_MAX  1024    /* bytes of a POST's form */

/** The handler of SetHandler session-mongodb-sessions. */
SMDB_HIDDEN int smdb_sessions_handler(request_rec *r);

#endif
