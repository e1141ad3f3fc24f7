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
                                 * on are for averages, not shown. Each
                                 * count of a time is one operation, also
                                 * filed into its histogram (server only) */
    SMDB_STAT_SAVE_USEC,        /* time spent in writes */
    SMDB_STAT_SAVE_OPS,         /* writes tried (for the average) */
    SMDB_STAT_N
} smdb_stat;

/** The counters' names on the status page, by smdb_stat. */
SMDB_HIDDEN extern const char *const smdb_stat_names[SMDB_STAT_N];

#define SMDB_SWEEP_SLOTS 64

/** The histograms of operation times, server-wide. */
typedef enum {
    SMDB_HIST_LOAD,             /* finds: from SMDB_STAT_LOAD_USEC */
    SMDB_HIST_SAVE,             /* writes: from SMDB_STAT_SAVE_USEC */
    SMDB_HIST_N
} smdb_hist;

/** Upper bounds of the histograms' buckets, 0.5 ms to 5000 s (past the
 * largest SessionMongoDBTimeout) in steps of 1, 2.5, 5; a time above the
 * last goes to one more bucket. The same in every child and every
 * configuration: a renderer shows those up to past the configured
 * timeouts and folds the rest into +Inf. */
#define SMDB_HIST_BOUNDS 22
SMDB_HIDDEN extern const apr_uint64_t smdb_hist_bounds_usec[SMDB_HIST_BOUNDS];

/** A histogram: counts per bucket (not cumulative), the last one for
 * times above every bound. */
typedef struct {
    apr_uint64_t buckets[SMDB_HIST_BOUNDS + 1];
} smdb_histogram;

/** Server-wide figures of one backend (a connection string, timeout and
 * retry interval), shared by the children through a slot of the
 * segment: how many children have its breaker open, and how many
 * clients they have checked out. */
typedef enum {
    SMDB_GAUGE_OPEN,            /* children whose breaker is open */
    SMDB_GAUGE_CLIENTS,         /* clients checked out by requests */
    SMDB_GAUGE_N
} smdb_gauge_kind;

#define SMDB_GAUGE_SLOTS 64

typedef struct {
    apr_uint64_t tag;           /* the backend's, 0: free */
    apr_uint64_t values[SMDB_GAUGE_N];
} smdb_gauge;

/** The shared-memory segment: server-wide counters, sweep slots, then
 * the histograms and the backends' gauges. */
typedef struct {
    apr_uint64_t stats[SMDB_STAT_N];
    apr_uint64_t sweep_slots[SMDB_SWEEP_SLOTS];
    apr_uint64_t notice_slots[SMDB_SWEEP_SLOTS];
    smdb_histogram hists[SMDB_HIST_N];
    smdb_gauge gauges[SMDB_GAUGE_SLOTS];
} smdb_shared;

/** Make the segment for a new server generation, zeroed, freed with
 * pconf; without one (the error is returned) the server-wide counters
 * read 0 and every child sweeps on its own. */
SMDB_HIDDEN apr_status_t smdb_shared_create(apr_pool_t *pconf);

/** Count n of which, in this child and the whole server; n of
 * SMDB_STAT_LOAD_USEC or SMDB_STAT_SAVE_USEC is the time of one
 * operation, which also goes into the server's histogram. */
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

/** The bucket of the histograms for an operation of usec. */
SMDB_HIDDEN int smdb_hist_bucket(apr_uint64_t usec);

/** A copy of the server's histogram which, read bucket by bucket (all
 * zero without a segment). */
SMDB_HIDDEN void smdb_hist_read(smdb_hist which, smdb_histogram *out);

/** The number of bucket bounds to show for operations bounded by
 * timeout_ms: up to the first bound above it, which holds the operations
 * that ran into the timeout (all bounds, past the last). */
SMDB_HIDDEN int smdb_hist_shown(int timeout_ms);

/** The slot of the segment for the backend of key (its connection
 * string, timeout and retry interval), found by a 64-bit hash of key and
 * claimed by the first child that asks for it; NULL without a segment or
 * a free slot. Every child of a generation has the same backends, so
 * they find the same slots. */
SMDB_HIDDEN smdb_gauge *smdb_gauge_claim(const char *key);

/** Add delta to a gauge of g (nothing when g is NULL). */
SMDB_HIDDEN void smdb_gauge_add(smdb_gauge *g, smdb_gauge_kind which,
                                int delta);

/** A gauge of g (0 when g is NULL). */
SMDB_HIDDEN apr_uint64_t smdb_gauge_get(const smdb_gauge *g,
                                        smdb_gauge_kind which);

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
