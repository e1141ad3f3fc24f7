/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_stats.c: counters and the shared-memory segment (see smdb_stats.h).
 */
#include "apr_shm.h"
#include <string.h>

#include "smdb_stats.h"

const char *const smdb_stat_names[SMDB_STAT_N] = {
    "loads", "not_found", "expired", "saves", "removes", "conflicts",
    "errors", "timeouts", "refused_saves", "breaker_skips", "sweeps",
    "swept", "load_usec", "save_usec", "save_ops"
};

const apr_uint64_t smdb_hist_bounds_usec[SMDB_HIST_BOUNDS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
    250000000, 500000000, 1000000000, 2500000000u, 5000000000u
};

static apr_uint64_t smdb_child_stats[SMDB_STAT_N];
static smdb_shared *smdb_segment;           /* or NULL */

apr_status_t smdb_shared_create(apr_pool_t *pconf)
{
    apr_shm_t *shm;
    apr_status_t rv;

    smdb_segment = NULL;
    rv = apr_shm_create(&shm, sizeof(smdb_shared), NULL, pconf);
    if (rv == APR_SUCCESS) {
        smdb_segment = apr_shm_baseaddr_get(shm);
        memset(smdb_segment, 0, sizeof(smdb_shared));
    }
    return rv;
}

int smdb_hist_bucket(apr_uint64_t usec)
{
    int i = 0;

    while (i < SMDB_HIST_BOUNDS && usec > smdb_hist_bounds_usec[i]) {
        i++;
    }
    return i;
}

void smdb_count(smdb_stat which, apr_uint64_t n)
{
    __atomic_fetch_add(&smdb_child_stats[which], n, __ATOMIC_RELAXED);
    if (!smdb_segment) {
        return;
    }
    __atomic_fetch_add(&smdb_segment->stats[which], n, __ATOMIC_RELAXED);
    if (which == SMDB_STAT_LOAD_USEC || which == SMDB_STAT_SAVE_USEC) {
        smdb_histogram *h = &smdb_segment->hists[which == SMDB_STAT_LOAD_USEC
                                                 ? SMDB_HIST_LOAD
                                                 : SMDB_HIST_SAVE];

        __atomic_fetch_add(&h->buckets[smdb_hist_bucket(n)], 1,
                           __ATOMIC_RELAXED);
    }
}

void smdb_hist_read(smdb_hist which, smdb_histogram *out)
{
    int i;

    for (i = 0; i <= SMDB_HIST_BOUNDS; i++) {
        out->buckets[i] = smdb_segment
            ? __atomic_load_n(&smdb_segment->hists[which].buckets[i],
                              __ATOMIC_RELAXED)
            : 0;
    }
}

int smdb_hist_shown(int timeout_ms)
{
    apr_uint64_t t = (apr_uint64_t)timeout_ms * 1000;
    int i = 0;

    while (i < SMDB_HIST_BOUNDS && smdb_hist_bounds_usec[i] <= t) {
        i++;
    }
    return i < SMDB_HIST_BOUNDS ? i + 1 : SMDB_HIST_BOUNDS;
}

smdb_gauge *smdb_gauge_claim(const char *key)
{
    apr_uint64_t tag = 14695981039346656037u;   /* FNV-1a, 64 bits */
    int i;

    for (; *key; key++) {
        tag = (tag ^ (unsigned char)*key) * 1099511628211u;
    }
    tag = tag ? tag : 1;
    for (i = 0; smdb_segment && i < SMDB_GAUGE_SLOTS; i++) {
        smdb_gauge *g = &smdb_segment->gauges[(tag + i) % SMDB_GAUGE_SLOTS];
        apr_uint64_t old = 0;

        if (__atomic_compare_exchange_n(&g->tag, &old, tag, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
            || old == tag) {
            return g;
        }
    }
    return NULL;
}

void smdb_gauge_add(smdb_gauge *g, smdb_gauge_kind which, int delta)
{
    if (g) {
        __atomic_fetch_add(&g->values[which], (apr_uint64_t)(apr_int64_t)delta,
                           __ATOMIC_RELAXED);
    }
}

apr_uint64_t smdb_gauge_get(const smdb_gauge *g, smdb_gauge_kind which)
{
    return g ? __atomic_load_n(&g->values[which], __ATOMIC_RELAXED) : 0;
}

const apr_uint64_t *smdb_stats_child(void)
{
    return smdb_child_stats;
}

const apr_uint64_t *smdb_stats_server(void)
{
    return smdb_segment ? smdb_segment->stats : NULL;
}

apr_uint64_t smdb_stat_get(const apr_uint64_t *stats, smdb_stat which)
{
    return stats ? __atomic_load_n(&stats[which], __ATOMIC_RELAXED) : 0;
}

double smdb_stat_avg_ms(const apr_uint64_t *stats, smdb_stat usec,
                        smdb_stat ops)
{
    apr_uint64_t n = smdb_stat_get(stats, ops);

    return n ? (double)smdb_stat_get(stats, usec) / n / 1000.0 : 0.0;
}

apr_uint64_t *smdb_sweep_slots(void)
{
    return smdb_segment ? smdb_segment->sweep_slots : NULL;
}

int smdb_sweep_claim(apr_uint64_t *slots, apr_uint32_t tag, int interval_s,
                     apr_time_t now)
{
    apr_uint64_t *slot, old, mine;
    apr_uint64_t now_s = (apr_uint64_t)apr_time_sec(now);

    if (!slots) {
        return 1;
    }
    slot = &slots[tag % SMDB_SWEEP_SLOTS];
    old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if ((apr_uint32_t)(old >> 32) == tag && (old & 0xffffffffu) > now_s) {
        return 0;
    }
    mine = ((apr_uint64_t)tag << 32)
           | ((now_s + (apr_uint64_t)interval_s) & 0xffffffffu);
    return __atomic_compare_exchange_n(slot, &old, mine, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

apr_uint64_t *smdb_notice_slots(void)
{
    return smdb_segment ? smdb_segment->notice_slots : NULL;
}

int smdb_notice_first(apr_uint64_t *slots, apr_uint32_t tag,
                      apr_uint32_t what)
{
    apr_uint64_t *slot, old;
    apr_uint64_t mine = ((apr_uint64_t)tag << 32) | what;

    if (!slots) {
        return 1;
    }
    slot = &slots[(tag + what) % SMDB_SWEEP_SLOTS];
    old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    while (old != mine) {
        if (__atomic_compare_exchange_n(slot, &old, mine, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            return 1;
        }
    }
    return 0;
}
