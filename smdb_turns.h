/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Requests of one session in one child process take turns at saving it:
 * a turn per session _id, taken for the compare-and-set of a save and
 * given back after it, so that threads of one process never fight each
 * other through MongoDB (a find, a decryption, an encryption and a write
 * per lost round); the conflicts left are between processes or servers.
 * Waiting for a turn is bounded by the caller. The turns live in a fixed
 * table made at child_init (no memory per request or per session); a
 * session that finds no free place in it goes on without a turn, as
 * before: correct, only slower under contention.
 */
#ifndef SMDB_TURNS_H
#define SMDB_TURNS_H

#include "apr_pools.h"
#include "apr_time.h"
#include "smdb_util.h"

typedef struct smdb_turn smdb_turn;

/** child_init: the table, for about threads request threads. */
SMDB_HIDDEN apr_status_t smdb_turns_init(apr_pool_t *pchild, int threads);

/**
 * Take the turn of session id, waiting at most wait. APR_SUCCESS: *turn
 * is the caller's until smdb_turn_give() (NULL: none could be tracked; go
 * on without). APR_TIMEUP: other requests held it all that time. *waited
 * is how long the call waited.
 */
SMDB_HIDDEN apr_status_t smdb_turn_take(const char *id,
                                        apr_interval_time_t wait,
                                        smdb_turn **turn,
                                        apr_interval_time_t *waited);

/** The version of the session this process wrote last while it held the
 * turn (-1: none known); a request that loaded an older one knows, before
 * it writes, that its compare-and-set would fail. */
SMDB_HIDDEN apr_int64_t smdb_turn_version(const smdb_turn *turn);

/** Give the turn back (turn may be NULL), with the version now stored if
 * this request wrote one (else -1). */
SMDB_HIDDEN void smdb_turn_give(smdb_turn *turn, apr_int64_t version);

#endif
