/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_turns.c: turns of requests at a session (see smdb_turns.h).
 *
 * One mutex guards the whole table (its holders do a few comparisons,
 * never any I/O); each place has a condition variable that its waiters
 * sleep on. A place is found by the hash of the _id, probing a few
 * places after it: the first that holds the same hash, else the first
 * free one. Two sessions of the same 64-bit hash would share a turn,
 * which costs only waiting.
 */
#include <string.h>

#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"

#include "smdb_turns.h"

#define SMDB_TURN_PROBE 8

struct smdb_turn {
    apr_uint64_t key;           /* hash of the _id; 0: free */
    int users;                  /* holding it or waiting for it */
    int busy;                   /* held */
    apr_int64_t version;        /* last written while held; -1: none */
    smdb_rider *riders;         /* waiting to ride along, oldest first */
    apr_thread_cond_t *cond;
};

static struct {
    apr_thread_mutex_t *mutex;
    smdb_turn *places;
    int n;
} smdb_turns;

apr_status_t smdb_turns_init(apr_pool_t *pchild, int threads)
{
    apr_status_t rv;
    int i;

    smdb_turns.n = threads > 64 ? 4 * threads : 256;
    smdb_turns.places = apr_pcalloc(pchild,
                                    smdb_turns.n * sizeof(smdb_turn));
    rv = apr_thread_mutex_create(&smdb_turns.mutex,
                                 APR_THREAD_MUTEX_DEFAULT, pchild);
    for (i = 0; rv == APR_SUCCESS && i < smdb_turns.n; i++) {
        rv = apr_thread_cond_create(&smdb_turns.places[i].cond, pchild);
    }
    if (rv != APR_SUCCESS) {
        smdb_turns.n = 0;       /* every save goes on without a turn */
    }
    return rv;
}

/** FNV-1a, never 0 (0 marks a free place). */
static apr_uint64_t smdb_turn_key(const char *id)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    for (; *id; id++) {
        h = (h ^ (unsigned char)*id) * APR_UINT64_C(1099511628211);
    }
    return h ? h : 1;
}

/** The place of key, or a free one (claimed), or NULL. Under the mutex. */
static smdb_turn *smdb_turn_place(apr_uint64_t key)
{
    smdb_turn *free_place = NULL;
    int i;

    for (i = 0; i < SMDB_TURN_PROBE && i < smdb_turns.n; i++) {
        smdb_turn *t = &smdb_turns.places[(key + i) % smdb_turns.n];

        if (t->key == key) {
            return t;
        }
        if (!t->key && !free_place) {
            free_place = t;
        }
    }
    if (free_place) {
        free_place->key = key;
        free_place->version = -1;
        free_place->riders = NULL;
    }
    return free_place;
}

/** One user less; the place is free when none is left. Under the mutex. */
static void smdb_turn_leave(smdb_turn *t)
{
    if (!--t->users) {
        t->key = 0;
    }
}

/** Take rider off t's queue, if it is there. Under the mutex. */
static void smdb_rider_unqueue(smdb_turn *t, smdb_rider *rider)
{
    smdb_rider **pp;

    if (!rider || !rider->queued) {
        return;
    }
    for (pp = &t->riders; *pp; pp = &(*pp)->next) {
        if (*pp == rider) {
            *pp = rider->next;
            break;
        }
    }
    rider->queued = 0;
    rider->next = NULL;
}

/** Waits in steps of at most this while a holder has the caller's change:
 * it is woken when the holder gives the turn back; the step only guards
 * against a lost wake-up. */
#define SMDB_RIDER_STEP apr_time_from_msec(100)

apr_status_t smdb_turn_take(const char *id, apr_interval_time_t wait,
                            smdb_rider *rider, smdb_turn **turn,
                            apr_interval_time_t *waited)
{
    apr_time_t start = apr_time_now(), now = start;
    apr_status_t rv = APR_SUCCESS;
    smdb_turn *t;

    *turn = NULL;
    *waited = 0;
    if (rider) {
        rider->state = SMDB_RIDER_WAITING;
        rider->queued = 0;
        rider->next = NULL;
        rider->version = -1;
    }
    if (!smdb_turns.n) {
        return APR_SUCCESS;
    }
    apr_thread_mutex_lock(smdb_turns.mutex);
    t = smdb_turn_place(smdb_turn_key(id));
    if (!t) {
        apr_thread_mutex_unlock(smdb_turns.mutex);
        return APR_SUCCESS;     /* no place: without a turn */
    }
    t->users++;
    for (;;) {
        apr_interval_time_t step;

        if (rider && (rider->state == SMDB_RIDER_CARRIED
                      || rider->state == SMDB_RIDER_DROPPED)) {
            break;              /* saved (or dropped) by a holder */
        }
        if (!t->busy && (!rider || rider->state == SMDB_RIDER_WAITING)) {
            smdb_rider_unqueue(t, rider);
            t->busy = 1;
            *turn = t;
            break;
        }
        if (rider && rider->state == SMDB_RIDER_WAITING && !rider->queued) {
            smdb_rider **pp = &t->riders;   /* (again, if handed back) */

            while (*pp) {
                pp = &(*pp)->next;
            }
            *pp = rider;
            rider->queued = 1;
        }
        if (rider && rider->state == SMDB_RIDER_TAKEN) {
            step = SMDB_RIDER_STEP;
        }
        else if (now - start >= wait) {
            smdb_rider_unqueue(t, rider);
            rv = APR_TIMEUP;
            break;
        }
        else {
            step = wait - (now - start);
        }
        apr_thread_cond_timedwait(t->cond, smdb_turns.mutex, step);
        now = apr_time_now();
    }
    if (!*turn) {
        smdb_turn_leave(t);
    }
    apr_thread_mutex_unlock(smdb_turns.mutex);
    *waited = now - start;
    return rv;
}

smdb_rider *smdb_turn_riders(smdb_turn *turn, const char *id, int max)
{
    smdb_rider *taken = NULL, **tail = &taken, **pp;

    if (!turn || max <= 0) {
        return NULL;
    }
    apr_thread_mutex_lock(smdb_turns.mutex);
    for (pp = &turn->riders; *pp && max > 0;) {
        smdb_rider *rider = *pp;

        if (strcmp(rider->id, id)) {
            pp = &rider->next;  /* another id of the same hash */
            continue;
        }
        *pp = rider->next;
        rider->queued = 0;
        rider->state = SMDB_RIDER_TAKEN;
        rider->next = NULL;
        *tail = rider;
        tail = &rider->next;
        max--;
    }
    apr_thread_mutex_unlock(smdb_turns.mutex);
    return taken;
}

apr_int64_t smdb_turn_version(const smdb_turn *turn)
{
    return turn ? turn->version : -1;
}

void smdb_turn_give(smdb_turn *turn, apr_int64_t version,
                    smdb_rider *riders, smdb_rider_state state)
{
    if (!turn) {
        return;
    }
    apr_thread_mutex_lock(smdb_turns.mutex);
    turn->busy = 0;
    if (version >= 0) {
        turn->version = version;
    }
    while (riders) {
        smdb_rider *next = riders->next;

        riders->next = NULL;
        riders->version = version;
        riders->state = state == SMDB_RIDER_TAKEN ? SMDB_RIDER_WAITING
                                                  : state;
        riders = next;
    }
    if (turn->users > 1) {
        /* riders must each see their own state: all of them wake */
        apr_thread_cond_broadcast(turn->cond);
    }
    smdb_turn_leave(turn);
    apr_thread_mutex_unlock(smdb_turns.mutex);
}
