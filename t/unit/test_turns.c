/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_turns.c: requests of one session take turns, others
 * do not wait for them, a wait is bounded, the version a holder wrote is
 * seen by the next, places are given back (the table does not fill up),
 * and many threads at once each get the turn alone.
 */
#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "smdb_turns.h"
#include "tap.h"

#define MS(n) apr_time_from_msec(n)

static apr_pool_t *p;

static void test_alone(void)
{
    smdb_turn *a, *b, *c;
    apr_interval_time_t waited;

    tap_is_int(smdb_turn_take("s1", MS(100), &a, &waited), APR_SUCCESS,
               "take: a free session's turn");
    tap_ok(a != NULL, "take: the turn is tracked");
    tap_ok(waited < MS(50), "take: without waiting");
    tap_is_int(smdb_turn_version(a), -1, "version: none written yet");
    tap_is_int(smdb_turn_take("s2", MS(100), &b, &waited), APR_SUCCESS,
               "take: another session's turn meanwhile");
    tap_ok(waited < MS(50), "take: another session does not wait");
    tap_is_int(smdb_turn_take("s1", MS(60), &c, &waited), APR_TIMEUP,
               "take: the same session's turn, held: times out");
    tap_ok(c == NULL, "take: no turn after a timeout");
    tap_ok(waited >= MS(60) && waited < MS(1000),
           "take: waited the bound (%lld us)", (long long)waited);
    smdb_turn_give(a, 7);
    smdb_turn_give(b, -1);
    smdb_turn_give(NULL, 3);    /* no turn: nothing to give */
    tap_is_int(smdb_turn_take("s1", MS(100), &a, &waited), APR_SUCCESS,
               "take: given back, free again");
    tap_ok(a != NULL && smdb_turn_version(a) == -1,
           "version: forgotten once nobody holds or waits");
    smdb_turn_give(a, -1);
}

static void test_no_growth(void)
{
    int i, fails = 0;

    /* far more sessions than places, one after another */
    for (i = 0; i < 100000; i++) {
        char id[32];
        smdb_turn *t;
        apr_interval_time_t waited;

        apr_snprintf(id, sizeof(id), "session-%d", i);
        if (smdb_turn_take(id, MS(10), &t, &waited) != APR_SUCCESS
            || !t) {
            fails++;
        }
        smdb_turn_give(t, i);
    }
    tap_is_int(fails, 0, "100000 sessions in turn: each finds a place");
}

/* many threads, one session: a counter only the holder touches */
static volatile int inside, most_inside, total;
static apr_uint32_t timeouts;
static apr_int64_t last_version = -1, seen_wrong;

static void *APR_THREAD_FUNC worker(apr_thread_t *th, void *data)
{
    int i;

    (void)data;
    for (i = 0; i < 200; i++) {
        smdb_turn *t;
        apr_interval_time_t waited;

        if (smdb_turn_take("hot", MS(5000), &t, &waited) != APR_SUCCESS) {
            apr_atomic_inc32(&timeouts);
            continue;
        }
        if (++inside > most_inside) {
            most_inside = inside;
        }
        /* the last version written, or none once the place was free */
        if (smdb_turn_version(t) != last_version
            && smdb_turn_version(t) != -1) {
            seen_wrong++;
        }
        total++;
        last_version = total;
        inside--;
        smdb_turn_give(t, total);
    }
    apr_thread_exit(th, APR_SUCCESS);
    return NULL;
}

static void test_threads(void)
{
    apr_thread_t *th[16];
    apr_status_t rv;
    int i;

    for (i = 0; i < 16; i++) {
        apr_thread_create(&th[i], NULL, worker, NULL, p);
    }
    for (i = 0; i < 16; i++) {
        apr_thread_join(&rv, th[i]);
    }
    tap_is_int(apr_atomic_read32(&timeouts), 0,
               "16 threads x 200 turns: none timed out");
    tap_is_int(most_inside, 1, "16 threads: one holder at a time");
    tap_is_int(total, 3200, "16 threads: every turn taken");
    tap_is_int(seen_wrong, 0,
               "16 threads: no holder sees a version but the last");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    tap_is_int(smdb_turns_init(p, 16), APR_SUCCESS, "init");
    test_alone();
    test_no_growth();
    test_threads();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
