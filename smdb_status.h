/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * What operators see: `SetHandler session-mongodb-status` (this child's
 * and the whole server's counters, this child's backends; text, or JSON
 * with ?json) and a section on mod_status's page. Each is one record,
 * gathered first and then rendered.
 */
#ifndef SMDB_STATUS_H
#define SMDB_STATUS_H

#include "smdb_private.h"

/** The handler of SetHandler session-mongodb-status. */
SMDB_HIDDEN int smdb_status_handler(request_rec *r);

/** mod_status's status_hook: the whole server's counters. */
SMDB_HIDDEN int smdb_status_hook(request_rec *r, int flags);

#endif
