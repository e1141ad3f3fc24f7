/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * What every httpd-facing file of mod_session_mongodb shares: the
 * module record, its log-module tag (so that `LogLevel
 * session_mongodb:debug` works), and the log-id macro. The httpd-free
 * files (smdb_util, smdb_merge, smdb_identity, smdb_bson, smdb_breaker,
 * smdb_stats) do not include it: the unit tests build them without httpd.
 */
#ifndef SMDB_PRIVATE_H
#define SMDB_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "smdb_util.h"

extern module AP_MODULE_DECLARE_DATA session_mongodb_module;
APLOG_USE_MODULE(session_mongodb);

/* Stable log ids in our own namespace (httpd reserves AH for itself).
 * Rules as for APLOGNO: one id per call site, never reused; the list with
 * causes and fixes is in docs/log-ids.md, and t/unit/log-ids.sh checks that
 * the two agree. */
#define SMDB_LOGNO(n) "SMDB" #n ": "

/* bench/run builds a second copy of the module with
 * -DSMDB_BENCH_LAST_WRITE_WINS: saves overwrite whatever is stored, as
 * every other session store does, so that the benchmark can show what
 * the compare-and-set costs. Never for production. */
#ifdef SMDB_BENCH_LAST_WRITE_WINS
#define SMDB_CAS 0
#else
#define SMDB_CAS 1
#endif

#endif
