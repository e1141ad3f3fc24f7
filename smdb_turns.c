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
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"

#include "smdb_turns.h"

#define SMDB_TURN_PROBE 8

struct smdb_turn {
    apr_uint64_t key;           /* hash of the _id; 0: free */
    int users;                  /* holding it or waiting for it */
    int busy;                   /* held */
    apr_int64_t version;        /* last written while held; -1: none */
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

apr_status_t smdb_turn_take(const char *id, apr_interval_time_t wait,
                            smdb_turn **turn, apr_interval_time_t *waited)
{
    apr_time_t start = apr_time_now(), now = start;
    apr_status_t rv = APR_SUCCESS;
    smdb_turn *t;

    *turn = NULL;
    *waited = 0;
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
    while (t->busy) {
        if (now - start >= wait) {
            rv = APR_TIMEUP;
            break;
        }
        apr_thread_cond_timedwait(t->cond, smdb_turns.mutex,
                                  wait - (now - start));
        now = apr_time_now();
    }
    if (rv == APR_SUCCESS) {
        t->busy = 1;
        *turn = t;
    }
    else {
        smdb_turn_leave(t);
    }
    apr_thread_mutex_unlock(smdb_turns.mutex);
    *waited = now - start;
    return rv;
}

apr_int64_t smdb_turn_version(const smdb_turn *turn)
{
    return turn ? turn->version : -1;
}

void smdb_turn_give(smdb_turn *turn, apr_int64_t version)
{
    if (!turn) {
        return;
    }
    apr_thread_mutex_lock(smdb_turns.mutex);
    turn->busy = 0;
    if (version >= 0) {
        turn->version = version;
    }
    if (turn->users > 1) {
        apr_thread_cond_signal(turn->cond);
    }
    smdb_turn_leave(turn);
    apr_thread_mutex_unlock(smdb_turns.mutex);
}
