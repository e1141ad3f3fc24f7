/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_breaker.c: the circuit breaker's state transitions (see
 * smdb_breaker.h). No locking, logging or clock of its own: smdb_backend.c
 * does those.
 */
#include "smdb_breaker.h"

int smdb_breaker_allow(smdb_breaker *b, apr_time_t now)
{
    if (!b->open) {
        return 1;
    }
    if (!b->probing && now >= b->open_until) {
        b->probing = 1;
        return 1;
    }
    return 0;
}

apr_uint64_t smdb_breaker_issue(smdb_breaker *b)
{
    return ++b->issued;
}

smdb_breaker_change smdb_breaker_report(smdb_breaker *b, int outage,
                                        apr_uint64_t ticket, apr_time_t now,
                                        apr_time_t hold, int *failures)
{
    smdb_breaker_change change = SMDB_BREAKER_SAME;

    if (outage) {
        if (b->failures && ticket <= b->streak_mark) {
            /* under way when the streak began: the same break */
            b->probing = 0;
            *failures = b->failures;
            return change;
        }
        if (!b->failures) {
            b->streak_mark = b->issued;
        }
        b->failures++;
        b->probing = 0;
        if (b->open || b->failures >= SMDB_BREAKER_FAILURES) {
            b->open_until = now + hold;
        }
        if (!b->open && b->failures >= SMDB_BREAKER_FAILURES) {
            b->open = 1;
            change = SMDB_BREAKER_OPENED;
        }
        *failures = b->failures;
        return change;
    }
    if (b->open) {
        change = SMDB_BREAKER_CLOSED;
    }
    *failures = b->failures;
    b->open = b->probing = b->failures = 0;
    b->streak_mark = 0;
    return change;
}

void smdb_breaker_abandon(smdb_breaker *b)
{
    b->probing = 0;
}
