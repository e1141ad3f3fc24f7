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

/**
 * A request waiting for the turn may ride along: it leaves its change
 * (opaque here) on the turn, and the holder of the turn, when it starts
 * its save, takes every rider of the same id and writes their changes
 * with its own in one compare-and-set (group commit). A rider then
 * learns whether it was carried, dropped with the session (deleted
 * meanwhile), or handed back to save on its own. A rider's memory is its
 * own request's; it stays valid because the rider does not leave while
 * a holder has it.
 */
typedef enum {
    SMDB_RIDER_WAITING = 0,     /* not (or no longer) taken by a holder */
    SMDB_RIDER_TAKEN,           /* a holder is saving its change */
    SMDB_RIDER_CARRIED,         /* saved, in version `version` */
    SMDB_RIDER_DROPPED          /* the session was deleted meanwhile */
} smdb_rider_state;

typedef struct smdb_rider smdb_rider;
struct smdb_rider {
    const char *id;             /* exactly the id given to smdb_turn_take */
    const void *change;         /* the caller's */
    smdb_rider *next;           /* the turn's */
    smdb_rider_state state;     /* the turn's, read after smdb_turn_take */
    apr_int64_t version;        /* with SMDB_RIDER_CARRIED */
    int queued;                 /* the turn's */
};

/** child_init: the table, for about threads request threads. */
SMDB_HIDDEN apr_status_t smdb_turns_init(apr_pool_t *pchild, int threads);

/**
 * Take the turn of session id, waiting at most wait. APR_SUCCESS: *turn
 * is the caller's until smdb_turn_give() (NULL: none could be tracked; go
 * on without). With rider (may be NULL; its id and change set), a holder
 * may save the caller's change meanwhile: APR_SUCCESS with *turn NULL and
 * rider->state SMDB_RIDER_CARRIED or SMDB_RIDER_DROPPED; a rider that a
 * holder took is waited for beyond wait (the holder's save is bounded by
 * its own budget). APR_TIMEUP: other requests held it all that time.
 * *waited is how long the call waited.
 */
SMDB_HIDDEN apr_status_t smdb_turn_take(const char *id,
                                        apr_interval_time_t wait,
                                        smdb_rider *rider,
                                        smdb_turn **turn,
                                        apr_interval_time_t *waited);

/** The holder of turn takes every waiting rider of id (at most max, in
 * the order they came), and saves their changes with its own; NULL: none.
 * Give them back with smdb_turn_give(). */
SMDB_HIDDEN smdb_rider *smdb_turn_riders(smdb_turn *turn, const char *id,
                                         int max);

/** The version of the session this process wrote last while it held the
 * turn (-1: none known); a request that loaded an older one knows, before
 * it writes, that its compare-and-set would fail. */
SMDB_HIDDEN apr_int64_t smdb_turn_version(const smdb_turn *turn);

/** Give the turn back (turn may be NULL), with the version now stored if
 * this request wrote one (else -1), and the riders it took, which end in
 * state (SMDB_RIDER_WAITING: not saved, they save on their own). */
SMDB_HIDDEN void smdb_turn_give(smdb_turn *turn, apr_int64_t version,
                                smdb_rider *riders, smdb_rider_state state);

#endif
