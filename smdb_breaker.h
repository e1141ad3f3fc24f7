/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The circuit breaker of one MongoDB deployment in one child, as pure
 * state transitions with the clock passed in (httpd-free, unit-tested).
 * After SMDB_BREAKER_FAILURES outages in a row it opens: for its
 * hold-down time no operation asks MongoDB. Then one operation at a time
 * may probe; the first success closes it. The outages of operations that
 * were already under way when a streak of outages began (the requests in
 * flight on a connection that was reset, say) count as one, not one
 * each: operations are told apart by a ticket in the order they were let
 * through, not by the clock, which may step. The caller holds the lock that
 * guards the struct (smdb_backend's mutex) around every call.
 */
#ifndef SMDB_BREAKER_H
#define SMDB_BREAKER_H

#include "apr_time.h"
#include "smdb_util.h"

#define SMDB_BREAKER_FAILURES 3     /* outages in a row, to open */

typedef struct {
    int failures;               /* outages in a row */
    int open;
    int probing;                /* one operation is trying MongoDB again */
    apr_time_t open_until;      /* end of the hold-down */
    apr_uint64_t issued;        /* tickets given to operations */
    apr_uint64_t streak_mark;   /* the last ticket given when the streak
                                 * of outages began */
} smdb_breaker;

/** What a report changed. */
typedef enum {
    SMDB_BREAKER_SAME,
    SMDB_BREAKER_OPENED,        /* just opened: log it once */
    SMDB_BREAKER_CLOSED         /* was open, MongoDB answered: log it once */
} smdb_breaker_change;

/** Whether an operation may ask MongoDB at now. While open and past
 * open_until, exactly one caller is let through (it becomes the probe)
 * until it reports. */
SMDB_HIDDEN int smdb_breaker_allow(smdb_breaker *b, apr_time_t now);

/** The ticket of an operation that was allowed: its place in the order
 * in which operations were let through. */
SMDB_HIDDEN apr_uint64_t smdb_breaker_issue(smdb_breaker *b);

/** Report the outcome of the allowed operation with ticket: outage is
 * true when MongoDB was out of reach (not for a server that answered no).
 * An outage of an operation let through before the streak of outages
 * began belongs to the streak's first outage and is not counted again.
 * A counted outage while open, or the one that opens it, starts a new
 * hold-down of hold. *failures is the count of outages in a row the
 * report concluded (after counting this one; before a success resets
 * it). */
SMDB_HIDDEN smdb_breaker_change smdb_breaker_report(smdb_breaker *b,
                                                    int outage,
                                                    apr_uint64_t ticket,
                                                    apr_time_t now,
                                                    apr_time_t hold,
                                                    int *failures);

/** An allowed operation did not ask MongoDB after all (no free client):
 * if it was the probe, another may probe. */
SMDB_HIDDEN void smdb_breaker_abandon(smdb_breaker *b);

#endif
