/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * A minimal TAP producer for the unit tests (t/unit/): one line per
 * assertion, "ok N - text" or "not ok N - text", diagnostics as "# "
 * lines, the plan "1..N" at the end, then a plain "N passed, N failed".
 * automake's tap-driver.sh reads it (make check); the programs also run
 * on their own: exit status 0 only if nothing failed.
 *
 * A TODO assertion is a known bug, reported and not fixed yet: it prints
 * "not ok N - text # TODO why" (the harness counts it as an expected
 * failure), and once the bug is fixed it passes as "ok ... # TODO", which
 * the harness reports as an unexpected pass, so that the TODO is removed.
 */
#ifndef SMDB_TAP_H
#define SMDB_TAP_H

#include <stdarg.h>

#if defined(__GNUC__)
#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TAP_PRINTF(f, a)
#endif

/** One assertion; returns cond. */
int tap_ok(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);

/** One assertion on a known bug (see above); returns cond. */
int tap_todo(int cond, const char *why, const char *fmt, ...)
    TAP_PRINTF(3, 4);

/** Strings equal (both NULL counts as equal); shows both when not. */
int tap_is_str(const char *got, const char *want, const char *fmt, ...)
    TAP_PRINTF(3, 4);

/** Integers equal; shows both when not. */
int tap_is_int(long long got, long long want, const char *fmt, ...)
    TAP_PRINTF(3, 4);

/** A "# " diagnostic line. */
void tap_diag(const char *fmt, ...) TAP_PRINTF(1, 2);

/** The plan and the summary line; the exit status for main(). */
int tap_done(void);

#define ok     tap_ok
#define is_str tap_is_str
#define is_int tap_is_int

#endif
