/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_stats.c: the counters of this child and of the
 * whole server (after the shared segment exists), their averages, and
 * the sweep claim through which children share the sweeps of a
 * collection, the histograms of operation times and the backends'
 * gauges.
 */
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "smdb_stats.h"
#include "tap.h"

#define SEC(n) apr_time_from_sec(n)

static apr_pool_t *smdb_test_pool;

static void test_counters(apr_pool_t *p)
{
    const apr_uint64_t *child = smdb_stats_child(), *server;

    is_str(smdb_stat_names[SMDB_STAT_LOADS], "loads", "names: loads first");
    is_str(smdb_stat_names[SMDB_STAT_OUTAGES], "timeouts",
           "names: outages are shown as timeouts");
    is_str(smdb_stat_names[SMDB_STAT_N - 1], "save_ops",
           "names: one per counter, save_ops last");

    /* without a segment */
    ok(smdb_stats_server() == NULL, "no segment: no server counters");
    ok(smdb_sweep_slots() == NULL, "no segment: no sweep slots");
    is_int(smdb_stat_get(child, SMDB_STAT_LOADS), 0, "child loads start at 0");
    smdb_count(SMDB_STAT_LOADS, 1);
    smdb_count(SMDB_STAT_LOADS, 1);
    smdb_count(SMDB_STAT_SWEPT, 40);
    is_int(smdb_stat_get(child, SMDB_STAT_LOADS), 2, "child loads counted");
    is_int(smdb_stat_get(child, SMDB_STAT_SWEPT), 40, "count adds n");
    is_int(smdb_stat_get(child, SMDB_STAT_SAVES), 0,
           "other counters untouched");
    is_int(smdb_stat_get(NULL, SMDB_STAT_LOADS), 0,
           "stat_get of no counters: 0");

    /* averages */
    smdb_count(SMDB_STAT_LOAD_USEC, 3000);
    ok(smdb_stat_avg_ms(child, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS) == 1.5,
       "avg_ms: 3000 us over 2 loads is 1.5 ms");
    ok(smdb_stat_avg_ms(child, SMDB_STAT_SAVE_USEC, SMDB_STAT_SAVE_OPS) == 0.0,
       "avg_ms: 0 without operations");
    ok(smdb_stat_avg_ms(NULL, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS) == 0.0,
       "avg_ms: 0 without counters");

    /* with a segment */
    ok(smdb_shared_create(p) == APR_SUCCESS, "shared_create: a segment");
    server = smdb_stats_server();
    ok(server != NULL, "segment: server counters");
    is_int(smdb_stat_get(server, SMDB_STAT_LOADS), 0,
           "server counters start at 0");
    smdb_count(SMDB_STAT_LOADS, 1);
    smdb_count(SMDB_STAT_LOAD_USEC, 500);
    is_int(smdb_stat_get(server, SMDB_STAT_LOADS), 1, "server loads counted");
    is_int(smdb_stat_get(child, SMDB_STAT_LOADS), 3, "... and the child's");
    ok(smdb_stat_avg_ms(server, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS) == 0.5,
       "avg_ms of the server: 500 us over 1 load");
    ok(smdb_sweep_slots() != NULL
       && smdb_sweep_slots()[0] == 0
       && smdb_sweep_slots()[SMDB_SWEEP_SLOTS - 1] == 0,
       "segment: zeroed sweep slots");

    /* a new generation starts from 0 */
    ok(smdb_shared_create(p) == APR_SUCCESS, "shared_create again");
    is_int(smdb_stat_get(smdb_stats_server(), SMDB_STAT_LOADS), 0,
           "a new segment's counters are 0");
    is_int(smdb_stat_get(child, SMDB_STAT_LOADS), 3,
           "the child's are not reset");
}

static void test_sweep_claim(void)
{
    apr_uint64_t slots[SMDB_SWEEP_SLOTS];
    apr_time_t now = SEC(1700000000) + 250000;  /* .25 s past a second */
    apr_uint32_t tag = 5, other = 5 + SMDB_SWEEP_SLOTS;

    memset(slots, 0, sizeof(slots));
    ok(smdb_sweep_claim(NULL, tag, 60, now)
       && smdb_sweep_claim(NULL, tag, 60, now),
       "sweep_claim without slots: always");
    ok(smdb_sweep_claim(slots, tag, 60, now), "sweep_claim: the first wins");
    is_int((long long)slots[tag], (long long)(((apr_uint64_t)tag << 32)
                                              | (1700000000 + 60)),
           "... slot = tag << 32 | due seconds");
    ok(slots[tag - 1] == 0 && slots[tag + 1] == 0,
       "... only the tag's slot is used");
    ok(!smdb_sweep_claim(slots, tag, 60, now),
       "sweep_claim: a second claim at once loses");
    ok(!smdb_sweep_claim(slots, tag, 60, now + SEC(59)),
       "sweep_claim: ... and 59 s later");
    ok(smdb_sweep_claim(slots, tag, 60, now + SEC(60)),
       "sweep_claim: once due, it wins again");
    is_int((long long)slots[tag], (long long)(((apr_uint64_t)tag << 32)
                                              | (1700000000 + 120)),
           "... and the slot is due an interval later");
    ok(smdb_sweep_claim(slots, other, 30, now + SEC(61)),
       "sweep_claim: another tag on the same slot takes it over");
    is_int((long long)slots[tag], (long long)(((apr_uint64_t)other << 32)
                                              | (1700000000 + 61 + 30)),
           "... with its tag and due time");
    ok(!smdb_sweep_claim(slots, other, 30, now + SEC(62)),
       "sweep_claim: ... and holds it within its interval");
}

static void test_notice_first(void)
{
    apr_uint64_t slots[SMDB_SWEEP_SLOTS];
    apr_uint32_t tag = 0xabcd0001u, other = tag + SMDB_SWEEP_SLOTS;

    memset(slots, 0, sizeof(slots));
    ok(smdb_notice_first(NULL, tag, 1) && smdb_notice_first(NULL, tag, 1),
       "notice_first without slots: always");
    ok(smdb_notice_first(slots, tag, 1), "notice_first: the first child");
    ok(!smdb_notice_first(slots, tag, 1),
       "notice_first: a second child of the server: no");
    ok(smdb_notice_first(slots, tag, 2),
       "notice_first: another notice of the same collection: yes");
    ok(!smdb_notice_first(slots, tag, 2) && !smdb_notice_first(slots, tag, 1),
       "notice_first: ... each once");
    ok(smdb_notice_first(slots, other, 1),
       "notice_first: a colliding collection takes the slot over");
    ok(smdb_notice_first(slots, tag, 1),
       "notice_first: ... and at worst the first warns again");
}

static void test_without_segment(void)
{
    smdb_histogram h;

    ok(smdb_gauge_claim("2000 30 mongodb://a") == NULL,
       "no segment: no gauge slot");
    smdb_gauge_add(NULL, SMDB_GAUGE_OPEN, 1);
    is_int((long long)smdb_gauge_get(NULL, SMDB_GAUGE_OPEN), 0,
           "gauge of no slot: 0, adding to it does nothing");
    smdb_hist_read(SMDB_HIST_LOAD, &h);
    ok(h.buckets[0] == 0 && h.buckets[SMDB_HIST_BOUNDS] == 0,
       "no segment: histograms read 0");
}

static void test_histograms(apr_pool_t *p)
{
    smdb_histogram h;
    int i, sorted = 1;

    for (i = 1; i < SMDB_HIST_BOUNDS; i++) {
        sorted = sorted
                 && smdb_hist_bounds_usec[i - 1] < smdb_hist_bounds_usec[i];
    }
    ok(sorted, "bounds ascend");
    ok(smdb_hist_bounds_usec[0] == 500, "first bound 0.5 ms");
    ok(smdb_hist_bounds_usec[SMDB_HIST_BOUNDS - 1] > 3600000000u,
       "last bound past the largest SessionMongoDBTimeout (3600 s)");
    is_int(smdb_hist_bucket(0), 0, "bucket: 0 us in the first");
    is_int(smdb_hist_bucket(500), 0, "bucket: a bound is in its bucket (le)");
    is_int(smdb_hist_bucket(501), 1, "bucket: just past it, the next");
    is_int(smdb_hist_bucket(2000000), 11, "bucket: 2 s in le=2.5");
    is_int(smdb_hist_bucket(6000000000u), SMDB_HIST_BOUNDS,
           "bucket: past every bound, the extra one");
    is_int(smdb_hist_shown(2000), 12, "shown for 2000 ms: up to 2.5 s");
    is_int(smdb_hist_shown(2500), 13, "shown for 2500 ms: up to 5 s");
    is_int(smdb_hist_shown(3000), 13, "shown for 3000 ms: up to 5 s");
    is_int(smdb_hist_shown(1), 3,
           "shown for 1 ms: up to 2.5 ms, the first bound above");
    is_int(smdb_hist_shown(3600000), SMDB_HIST_BOUNDS,
           "shown for 3600 s: all");

    ok(smdb_shared_create(p) == APR_SUCCESS, "a new segment");
    smdb_count(SMDB_STAT_LOAD_USEC, 300);
    smdb_count(SMDB_STAT_LOAD_USEC, 2000000);
    smdb_count(SMDB_STAT_LOAD_USEC, 2000001);
    smdb_count(SMDB_STAT_SAVE_USEC, 7000000000u);
    smdb_count(SMDB_STAT_LOADS, 3);
    smdb_hist_read(SMDB_HIST_LOAD, &h);
    ok(h.buckets[0] == 1 && h.buckets[11] == 2 && h.buckets[1] == 0,
       "each timed load counted once in its bucket");
    smdb_hist_read(SMDB_HIST_SAVE, &h);
    ok(h.buckets[SMDB_HIST_BOUNDS] == 1 && h.buckets[0] == 0,
       "a save past every bound in the extra bucket");
    is_int((long long)smdb_stat_get(smdb_stats_server(), SMDB_STAT_LOAD_USEC),
           4000301, "the time total still adds the times");
}

static void test_gauges(void)
{
    smdb_gauge *a = smdb_gauge_claim("2000 30 mongodb://a");
    smdb_gauge *b = smdb_gauge_claim("2000 30 mongodb://b");
    int i, all = 1;

    ok(a != NULL && b != NULL && a != b, "two backends, two slots");
    ok(smdb_gauge_claim("2000 30 mongodb://a") == a,
       "the same key (another child) finds the same slot");
    smdb_gauge_add(a, SMDB_GAUGE_CLIENTS, 1);
    smdb_gauge_add(a, SMDB_GAUGE_CLIENTS, 1);
    smdb_gauge_add(a, SMDB_GAUGE_OPEN, 1);
    smdb_gauge_add(a, SMDB_GAUGE_CLIENTS, -1);
    is_int((long long)smdb_gauge_get(a, SMDB_GAUGE_CLIENTS), 1,
           "gauge: up 2, down 1");
    is_int((long long)smdb_gauge_get(a, SMDB_GAUGE_OPEN), 1, "gauge: open 1");
    is_int((long long)smdb_gauge_get(b, SMDB_GAUGE_CLIENTS), 0,
           "the other backend's untouched");
    for (i = 0; i < SMDB_GAUGE_SLOTS - 2; i++) {
        all = all && smdb_gauge_claim(apr_psprintf(smdb_test_pool, "k%d", i));
    }
    ok(all, "slots for as many backends as there are slots");
    ok(smdb_gauge_claim("one too many") == NULL, "then none: NULL");
    ok(smdb_gauge_claim("2000 30 mongodb://b") == b,
       "the claimed ones are still found");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    smdb_test_pool = p;
    test_without_segment();
    test_counters(p);
    test_sweep_claim();
    test_notice_first();
    test_histograms(p);
    test_gauges();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
