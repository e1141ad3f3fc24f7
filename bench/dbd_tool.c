/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dbd_tool — bench/run's helper for SQL databases, through apr_dbd: the
 * same driver layer (apr_dbd_sqlite3 on SQLite, apr_dbd_pgsql on libpq)
 * that mod_dbd gives mod_session_dbd.
 *
 *   dbd_tool exec DRIVER PARAMS SQL...  run each SQL statement
 *   dbd_tool rtt  DRIVER PARAMS N [INITSQL...]
 *                                       raw round trip: N selects by key,
 *                                       then N updates by key, of one
 *                                       session row, with the prepared
 *                                       statements mod_session_dbd uses
 *                                       (selectsession, updatesession);
 *                                       prints "select_us=S update_us=U"
 *                                       (mean microseconds per statement);
 *                                       INITSQL runs first, as DBDInitSQL
 *
 * DRIVER is sqlite3 or pgsql; PARAMS is what DBDParams would say.
 */
#include <apr_general.h>
#include <apr_dbd.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SELECT_SQL "select value from session where key = %s and " \
                   "(expiry = 0 or expiry > %lld)"
#define UPDATE_SQL "update session set value = %s, expiry = %lld, " \
                   "key = %s where key = %s"
#define KEY "00000000-0000-0000-0000-00000000rtt0"

static const apr_dbd_driver_t *drv;
static apr_dbd_t *h;

static void die(const char *what, int rv)
{
    fprintf(stderr, "dbd_tool: %s: %s\n", what,
            h && rv ? apr_dbd_error(drv, h, rv) : "failed");
    exit(1);
}

/* Run one statement; a PRAGMA may return a row, so it runs as a select. */
static void exec_sql(apr_pool_t *p, const char *sql)
{
    int rows = 0, rv;

    if (!strncasecmp(sql, "pragma", 6)) {
        apr_dbd_results_t *res = NULL;
        apr_dbd_row_t *row = NULL;

        rv = apr_dbd_select(drv, p, h, &res, sql, 0);
        while (!rv && apr_dbd_get_row(drv, p, res, &row, -1) != -1) {
        }
    }
    else {
        rv = apr_dbd_query(drv, h, &rows, sql);
    }
    if (rv) {
        fprintf(stderr, "dbd_tool: %s\n", sql);
        die("query", rv);
    }
}

static int cmd_rtt(apr_pool_t *p, long n)
{
    apr_dbd_prepared_t *sel = NULL, *upd = NULL;
    apr_int64_t expiry = apr_time_now() + apr_time_from_sec(3600), now;
    apr_time_t t0 = 0, t_sel, t_upd;
    long i, found = 0;
    int rv;

    exec_sql(p, "delete from session where key = '" KEY "'");
    exec_sql(p, apr_psprintf(p, "insert into session (key, value, expiry) "
                             "values ('" KEY "', 'n=1&expiry=%"
                             APR_INT64_T_FMT "', %" APR_INT64_T_FMT ")",
                             expiry, expiry));
    if ((rv = apr_dbd_prepare(drv, p, h, SELECT_SQL, "selectsession", &sel)))
        die("prepare select", rv);
    if ((rv = apr_dbd_prepare(drv, p, h, UPDATE_SQL, "updatesession", &upd)))
        die("prepare update", rv);

    for (i = -20; i < n; i++) {       /* 20 warm-up selects */
        apr_pool_t *ip;
        apr_dbd_results_t *res = NULL;
        apr_dbd_row_t *row = NULL;

        if (i == 0) {
            t0 = apr_time_now();
        }
        apr_pool_create(&ip, p);
        now = apr_time_now();
        rv = apr_dbd_pvbselect(drv, ip, h, &res, sel, 0, KEY, &now, NULL);
        if (rv) {
            die("select", rv);
        }
        while (apr_dbd_get_row(drv, ip, res, &row, -1) != -1) {
            if (i >= 0 && apr_dbd_get_entry(drv, row, 0)) {
                found++;
            }
        }
        apr_pool_destroy(ip);
    }
    t_sel = apr_time_now() - t0;
    if (found != n) {
        fprintf(stderr, "dbd_tool: select found %ld of %ld\n", found, n);
        return 1;
    }

    t0 = apr_time_now();
    for (i = 0; i < n; i++) {
        apr_pool_t *ip;
        int rows = 0;
        const char *val;

        apr_pool_create(&ip, p);
        expiry = apr_time_now() + apr_time_from_sec(3600);
        val = apr_psprintf(ip, "n=%ld&expiry=%" APR_INT64_T_FMT, i, expiry);
        /* the key stays the same, as for a session that did not change
         * owner (mod_session_dbd itself gives a changed session a new
         * key: same statement, same cost) */
        rv = apr_dbd_pvbquery(drv, ip, h, &rows, upd, val, &expiry, KEY, KEY,
                              NULL);
        if (rv || rows != 1) {
            die("update", rv);
        }
        apr_pool_destroy(ip);
    }
    t_upd = apr_time_now() - t0;
    exec_sql(p, "delete from session where key = '" KEY "'");
    printf("select_us=%.1f update_us=%.1f\n", (double)t_sel / n,
           (double)t_upd / n);
    return 0;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    int rv, i, rc = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: dbd_tool exec DRIVER PARAMS SQL... | "
                        "rtt DRIVER PARAMS N\n");
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    apr_dbd_init(p);
    if ((rv = apr_dbd_get_driver(p, argv[2], &drv))) {
        fprintf(stderr, "dbd_tool: no apr_dbd driver %s (%d)\n", argv[2], rv);
        return 1;
    }
    if ((rv = apr_dbd_open(drv, p, argv[3], &h))) {
        fprintf(stderr, "dbd_tool: cannot open %s database %s\n", argv[2],
                argv[3]);
        return 1;
    }
    if (!strcmp(argv[1], "exec")) {
        for (i = 4; i < argc; i++) {
            exec_sql(p, argv[i]);
        }
    }
    else if (!strcmp(argv[1], "rtt")) {
        for (i = 5; i < argc; i++) {
            exec_sql(p, argv[i]);
        }
        rc = cmd_rtt(p, atol(argv[4]));
    }
    else {
        fprintf(stderr, "dbd_tool: unknown command %s\n", argv[1]);
        rc = 2;
    }
    apr_dbd_close(drv, h);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
