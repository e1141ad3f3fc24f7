/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Counters for the status page, and the one shared-memory segment of a
 * server generation (httpd-free, unit-tested). Each counter exists in
 * this child (static storage) and in the whole server since its last
 * (re)start (the segment, made before the fork by post_config). 64-bit
 * atomics on both. The segment also holds the sweep slots through which
 * the children of a server share the sweeps of a collection.
 */
#ifndef SMDB_STATS_H
#define SMDB_STATS_H

#include "apr_pools.h"
#include "apr_time.h"
#include "smdb_util.h"

typedef enum {
    SMDB_STAT_LOADS,            /* finds of a session */
    SMDB_STAT_NOT_FOUND,        /* ... that found no document */
    SMDB_STAT_EXPIRED,          /* ... that found it expired */
    SMDB_STAT_SAVES,            /* successful writes */
    SMDB_STAT_REMOVES,          /* successful deletes */
    SMDB_STAT_CONFLICTS,        /* compare-and-sets lost to a parallel save */
    SMDB_STAT_ERRORS,           /* operations that failed */
    SMDB_STAT_OUTAGES,          /* ... because MongoDB was out of reach
                                 * (shown as "timeouts") */
    SMDB_STAT_REFUSED,          /* saves refused (failed load, size, ...) */
    SMDB_STAT_BREAKER_SKIPS,    /* operations not tried: breaker open */
    SMDB_STAT_SWEEPS,           /* sweeps of expired sessions done */
    SMDB_STAT_SWEPT,            /* ... and the documents they deleted */
    SMDB_STAT_LOAD_USEC,        /* time spent in finds; the ones from here
                                 * on are for averages, not shown */
    SMDB_STAT_SAVE_USEC,        /* time spent in writes */
    SMDB_STAT_SAVE_OPS,         /* writes tried (for the average) */
    SMDB_STAT_N
} smdb_stat;

/** The counters' names on the status page, by smdb_stat. */
SMDB_HIDDEN extern const char *const smdb_stat_names[SMDB_STAT_N];

#define SMDB_SWEEP_SLOTS 64

/** The shared-memory segment: server-wide counters, then sweep slots. */
typedef struct {
    apr_uint64_t stats[SMDB_STAT_N];
    apr_uint64_t sweep_slots[SMDB_SWEEP_SLOTS];
    apr_uint64_t notice_slots[SMDB_SWEEP_SLOTS];
} smdb_shared;

/** Make the segment for a new server generation, zeroed, freed with
 * pconf; without one (the error is returned) the server-wide counters
 * read 0 and every child sweeps on its own. */
SMDB_HIDDEN apr_status_t smdb_shared_create(apr_pool_t *pconf);

/** Count n of which, in this child and the whole server. */
SMDB_HIDDEN void smdb_count(smdb_stat which, apr_uint64_t n);

/** This child's counters. */
SMDB_HIDDEN const apr_uint64_t *smdb_stats_child(void);

/** The whole server's counters, or NULL without a segment. */
SMDB_HIDDEN const apr_uint64_t *smdb_stats_server(void);

/** One counter of stats (0 when stats is NULL). */
SMDB_HIDDEN apr_uint64_t smdb_stat_get(const apr_uint64_t *stats,
                                       smdb_stat which);

/** Average milliseconds per operation: the usec total over the ops
 * count, 0 without operations. */
SMDB_HIDDEN double smdb_stat_avg_ms(const apr_uint64_t *stats,
                                    smdb_stat usec, smdb_stat ops);

/** The sweep slots of the segment, or NULL without one. */
SMDB_HIDDEN apr_uint64_t *smdb_sweep_slots(void);

/**
 * Whether this child sweeps the collection tagged tag now: no other child
 * of the server claimed it within its interval. A slot (one of
 * SMDB_SWEEP_SLOTS, by tag) holds the tag in its high 32 bits and, in its
 * low 32 bits, when the next sweep is due (seconds since the epoch). A
 * child sweeps only after winning the slot with a compare-and-swap; a
 * slot that another collection holds (a hash collision) is taken over,
 * which at worst sweeps both more often. Without slots (NULL), always.
 */
SMDB_HIDDEN int smdb_sweep_claim(apr_uint64_t *slots, apr_uint32_t tag,
                                 int interval_s, apr_time_t now);

/** The notice slots of the segment, or NULL without one. */
SMDB_HIDDEN apr_uint64_t *smdb_notice_slots(void);

/**
 * Whether this child is the first of its server to give notice `what`
 * (a small number) about the collection tagged tag, so that a warning
 * about a collection is logged once per server (generation), not once
 * per child. A slot (by tag and what) holds tag << 32 | what; a slot
 * that another notice holds is taken over, which at worst repeats a
 * warning. Without slots (NULL), always.
 */
SMDB_HIDDEN int smdb_notice_first(apr_uint64_t *slots, apr_uint32_t tag,
                                  apr_uint32_t what);

#endif
