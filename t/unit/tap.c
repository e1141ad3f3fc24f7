/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * tap.c: the TAP producer of the unit tests (see tap.h).
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"

static int tap_n, tap_failed, tap_todo_failed;

static void tap_vline(int cond, const char *todo, const char *fmt,
                      va_list ap)
{
    ++tap_n;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    vprintf(fmt, ap);
    if (todo) {
        printf(" # TODO %s", todo);
    }
    printf("\n");
    if (!cond) {
        if (todo) {
            ++tap_todo_failed;
        }
        else {
            ++tap_failed;
        }
    }
    fflush(stdout);
}

int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vline(cond, NULL, fmt, ap);
    va_end(ap);
    return cond;
}

int tap_todo(int cond, const char *why, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vline(cond, why, fmt, ap);
    va_end(ap);
    return cond;
}

void tap_diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

int tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
    int cond = (!got && !want) || (got && want && !strcmp(got, want));
    va_list ap;

    va_start(ap, fmt);
    tap_vline(cond, NULL, fmt, ap);
    va_end(ap);
    if (!cond) {
        tap_diag("     got: %s%s%s", got ? "'" : "", got ? got : "NULL",
                 got ? "'" : "");
        tap_diag("expected: %s%s%s", want ? "'" : "", want ? want : "NULL",
                 want ? "'" : "");
    }
    return cond;
}

int tap_is_int(long long got, long long want, const char *fmt, ...)
{
    int cond = got == want;
    va_list ap;

    va_start(ap, fmt);
    tap_vline(cond, NULL, fmt, ap);
    va_end(ap);
    if (!cond) {
        tap_diag("     got: %lld", got);
        tap_diag("expected: %lld", want);
    }
    return cond;
}

int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_todo_failed) {
        printf("# %d known bug(s) marked TODO, not counted below\n",
               tap_todo_failed);
    }
    printf("%d passed, %d failed\n", tap_n - tap_failed - tap_todo_failed,
           tap_failed);
    return tap_failed ? 1 : 0;
}
