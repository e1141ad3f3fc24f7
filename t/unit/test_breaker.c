/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_breaker.c, the circuit breaker, with the clock in
 * the test's hands: it opens after SMDB_BREAKER_FAILURES outages in a
 * row, refuses during its hold-down, then lets one probe through at a
 * time; the probe's outcome closes it or starts a new hold-down.
 */
#include <string.h>

#include "smdb_breaker.h"
#include "tap.h"

#define SEC(n) apr_time_from_sec(n)
#define HOLD SEC(10)

static const char *change_name(smdb_breaker_change c)
{
    return c == SMDB_BREAKER_SAME     ? "SAME"
           : c == SMDB_BREAKER_OPENED ? "OPENED"
           : c == SMDB_BREAKER_CLOSED ? "CLOSED"
                                      : "(unknown)";
}

/* an operation let through at t (a fresh ticket) and its outcome */
static smdb_breaker_change rep(smdb_breaker *b, int outage, apr_time_t t,
                               int *failures)
{
    apr_uint64_t ticket = smdb_breaker_issue(b);

    return smdb_breaker_report(b, outage, ticket, t, HOLD, failures);
}

static void is_change(smdb_breaker_change got, smdb_breaker_change want,
                      const char *what)
{
    tap_is_str(change_name(got), change_name(want), "%s: %s", what,
               change_name(want));
}

int main(void)
{
    smdb_breaker b;
    apr_time_t t0 = SEC(1000000), t1;
    int failures = -1, i, opened = 0;
    smdb_breaker_change c;

    memset(&b, 0, sizeof(b));
    ok(smdb_breaker_allow(&b, t0), "a new breaker is closed: allowed");

    /* below the threshold */
    for (i = 1; i < SMDB_BREAKER_FAILURES; i++) {
        c = rep(&b, 1, t0, &failures);
        opened |= c != SMDB_BREAKER_SAME;
    }
    ok(!opened, "%d outages: no change", SMDB_BREAKER_FAILURES - 1);
    is_int(failures, SMDB_BREAKER_FAILURES - 1, "... failures counted");
    ok(!b.open && smdb_breaker_allow(&b, t0), "... still closed: allowed");

    /* the outage that opens it */
    c = rep(&b, 1, t0, &failures);
    is_change(c, SMDB_BREAKER_OPENED, "outage at the threshold");
    is_int(failures, SMDB_BREAKER_FAILURES, "... failures reported");
    ok(b.open && b.open_until == t0 + HOLD, "... hold-down until now + hold");
    ok(!smdb_breaker_allow(&b, t0), "hold-down: refused at once");
    ok(!smdb_breaker_allow(&b, t0 + HOLD - 1),
       "hold-down: refused 1 us before its end");

    /* one probe */
    ok(smdb_breaker_allow(&b, t0 + HOLD), "hold-down over: a probe allowed");
    ok(!smdb_breaker_allow(&b, t0 + HOLD), "while probing: a second refused");
    ok(!smdb_breaker_allow(&b, t0 + HOLD + SEC(5)),
       "while probing: still refused later");

    /* the probe fails: a new hold-down from the new now, no new OPENED */
    t1 = t0 + HOLD + SEC(3);
    c = rep(&b, 1, t1, &failures);
    is_change(c, SMDB_BREAKER_SAME, "probe outage");
    is_int(failures, SMDB_BREAKER_FAILURES + 1, "... failures go on");
    ok(b.open && b.open_until == t1 + HOLD,
       "... new hold-down from the probe's now");
    ok(!smdb_breaker_allow(&b, t1 + HOLD - 1),
       "... refused until the new hold-down ends");
    ok(smdb_breaker_allow(&b, t1 + HOLD), "... then a probe again");

    /* the probe succeeds */
    c = rep(&b, 0, t1 + HOLD, &failures);
    is_change(c, SMDB_BREAKER_CLOSED, "probe success");
    is_int(failures, SMDB_BREAKER_FAILURES + 1,
           "... failures reported before the reset");
    ok(!b.open && !b.probing && b.failures == 0, "... closed and reset");
    ok(smdb_breaker_allow(&b, t1 + HOLD) && smdb_breaker_allow(&b, t1 + HOLD),
       "... every operation allowed again");

    /* a success while closed resets the count */
    memset(&b, 0, sizeof(b));
    for (i = 1; i < SMDB_BREAKER_FAILURES; i++) {
        rep(&b, 1, t0, &failures);
    }
    c = rep(&b, 0, t0, &failures);
    is_change(c, SMDB_BREAKER_SAME, "success while closed");
    is_int(failures, SMDB_BREAKER_FAILURES - 1,
           "... reports the outages before it");
    is_int(b.failures, 0, "... and resets them");
    c = rep(&b, 1, t0, &failures);
    ok(c == SMDB_BREAKER_SAME && !b.open && failures == 1,
       "... so the next outage is the first again");

    /* abandon frees the probe slot */
    memset(&b, 0, sizeof(b));
    for (i = 0; i < SMDB_BREAKER_FAILURES; i++) {
        rep(&b, 1, t0, &failures);
    }
    ok(smdb_breaker_allow(&b, t0 + HOLD) && !smdb_breaker_allow(&b, t0 + HOLD),
       "abandon: a probe is out, others refused");
    smdb_breaker_abandon(&b);
    ok(b.open && smdb_breaker_allow(&b, t0 + HOLD),
       "abandon: still open, and another may probe");
    ok(!smdb_breaker_allow(&b, t0 + HOLD), "abandon: ... one at a time");

    /* operations in flight together when a connection breaks: let
     * through before the streak of outages began, they count as one */
    {
        apr_uint64_t k[5];

        memset(&b, 0, sizeof(b));
        rep(&b, 0, t0, &failures);
        for (i = 0; i < 5; i++) {
            k[i] = smdb_breaker_issue(&b);
        }
        opened = 0;
        for (i = 0; i < 5; i++) {
            c = smdb_breaker_report(&b, 1, k[i], t0 + SEC(2) + i, HOLD,
                                    &failures);
            opened |= c != SMDB_BREAKER_SAME;
        }
        ok(!opened && !b.open,
           "5 outages of operations under way together: still closed");
        is_int(b.failures, 1, "... counted as one outage");
        ok(smdb_breaker_allow(&b, t0 + SEC(3)), "... operations allowed");
        /* operations let through after the break that fail: an outage */
        rep(&b, 1, t0 + SEC(4), &failures);
        c = rep(&b, 1, t0 + SEC(5), &failures);
        is_change(c, SMDB_BREAKER_OPENED,
                  "then outages of operations let through after it");
        is_int(failures, SMDB_BREAKER_FAILURES, "... open at the threshold");
        /* the clock plays no part: a step back changes nothing */
        memset(&b, 0, sizeof(b));
        rep(&b, 1, t0, &failures);
        rep(&b, 1, t0 - SEC(3600), &failures);
        c = rep(&b, 1, t0 - SEC(7200), &failures);
        is_change(c, SMDB_BREAKER_OPENED,
                  "fresh outages open it though the clock stepped back");
        /* a success ends the streak: an old operation's outage after it
         * counts once */
        memset(&b, 0, sizeof(b));
        k[0] = smdb_breaker_issue(&b);
        k[1] = smdb_breaker_issue(&b);
        rep(&b, 0, t0, &failures);
        smdb_breaker_report(&b, 1, k[0], t0 + 1, HOLD, &failures);
        smdb_breaker_report(&b, 1, k[1], t0 + 2, HOLD, &failures);
        is_int(b.failures, 1,
               "after a success, two older operations' outages: one");
    }
    return tap_done();
}
