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

void smdb_count(smdb_stat which, apr_uint64_t n)
{
    __atomic_fetch_add(&smdb_child_stats[which], n, __ATOMIC_RELAXED);
    if (smdb_segment) {
        __atomic_fetch_add(&smdb_segment->stats[which], n, __ATOMIC_RELAXED);
    }
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
