/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_status.c: the status page and the mod_status section (see
 * smdb_status.h). Request threads only; the counters are atomics, the
 * backends' states are copied under their locks.
 */
#include "http_protocol.h"
#include "mod_status.h"
#include "apr_strings.h"
#include <unistd.h>

#include "smdb_status.h"
#include "smdb_backend.h"
#include "smdb_stats.h"
#include "smdb_version.h"

/** Everything the status page shows, gathered once. */
typedef struct {
    pid_t pid;
    const apr_uint64_t *child;          /* counters */
    const apr_uint64_t *server;         /* NULL: no shared memory */
    apr_array_header_t *backends;       /* of smdb_backend_state */
} smdb_status_rec;

/** One scope's counters: "scope.key: value" lines. */
static void smdb_text_scope(request_rec *r, const char *scope,
                            const apr_uint64_t *stats)
{
    int i;

    for (i = 0; i < SMDB_STAT_LOAD_USEC; i++) {
        ap_rprintf(r, "%s.%s: %" APR_UINT64_T_FMT "\n", scope,
                   smdb_stat_names[i], smdb_stat_get(stats, i));
    }
    ap_rprintf(r, "%s.load_ms_avg: %.3f\n%s.save_ms_avg: %.3f\n", scope,
               smdb_stat_avg_ms(stats, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS),
               scope, smdb_stat_avg_ms(stats, SMDB_STAT_SAVE_USEC,
                                       SMDB_STAT_SAVE_OPS));
}

/** The record as "key: value" lines. */
static void smdb_status_text(request_rec *r, const smdb_status_rec *st)
{
    int i;

    ap_rprintf(r, "version: %s\nlibmongoc: %s\npid: %" APR_PID_T_FMT "\n",
               SMDB_VERSION, mongoc_get_version(), st->pid);
    smdb_text_scope(r, "child", st->child);
    smdb_text_scope(r, "server", st->server);
    for (i = 0; i < st->backends->nelts; i++) {
        const smdb_backend_state *b =
            &APR_ARRAY_IDX(st->backends, i, smdb_backend_state);

        ap_rprintf(r, "connection: %s breaker=%s failures=%d "
                   "clients_in_use=%d pool=%s\n", b->redacted,
                   b->open ? "open" : "closed", b->failures, b->clients_out,
                   b->ready ? "ready" : "none");
    }
}

/** s as the inside of a JSON string, in p. */
static const char *smdb_json_escape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 6 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        }
        else if (c < 0x20) {
            o += apr_snprintf(o, 7, "\\u%04x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

/** One scope's counters as a JSON object. */
static void smdb_json_scope(request_rec *r, const char *scope,
                            const apr_uint64_t *stats)
{
    int i;

    ap_rprintf(r, "\"%s\": {", scope);
    for (i = 0; i < SMDB_STAT_LOAD_USEC; i++) {
        ap_rprintf(r, "\"%s\": %" APR_UINT64_T_FMT ", ", smdb_stat_names[i],
                   smdb_stat_get(stats, i));
    }
    ap_rprintf(r, "\"load_ms_avg\": %.3f, \"save_ms_avg\": %.3f}",
               smdb_stat_avg_ms(stats, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS),
               smdb_stat_avg_ms(stats, SMDB_STAT_SAVE_USEC,
                                SMDB_STAT_SAVE_OPS));
}

/** The record as one JSON object. */
static void smdb_status_json(request_rec *r, const smdb_status_rec *st)
{
    int i;

    ap_rprintf(r, "{\"version\": \"%s\", \"libmongoc\": \"%s\", "
               "\"pid\": %" APR_PID_T_FMT ", ", SMDB_VERSION,
               mongoc_get_version(), st->pid);
    smdb_json_scope(r, "child", st->child);
    ap_rputs(", ", r);
    smdb_json_scope(r, "server", st->server);
    ap_rputs(", \"connections\": [", r);
    for (i = 0; i < st->backends->nelts; i++) {
        const smdb_backend_state *b =
            &APR_ARRAY_IDX(st->backends, i, smdb_backend_state);

        ap_rprintf(r, "%s{\"uri\": \"%s\", \"breaker\": \"%s\", "
                   "\"failures\": %d, \"clients_in_use\": %d, "
                   "\"pool\": \"%s\"}", i ? ", " : "",
                   smdb_json_escape(r->pool, b->redacted),
                   b->open ? "open" : "closed", b->failures, b->clients_out,
                   b->ready ? "ready" : "none");
    }
    ap_rputs("]}\n", r);
}

/**
 * SetHandler session-mongodb-status: this child's counters and the whole
 * server's since its last (re)start, plus this child's backends; plain
 * "key: value" lines, or JSON with ?json.
 */
int smdb_status_handler(request_rec *r)
{
    smdb_status_rec st;
    int json;

    if (!r->handler || strcmp(r->handler, "session-mongodb-status")) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    json = r->args && (!strcmp(r->args, "json")
                       || !strncmp(r->args, "json&", 5));
    ap_set_content_type(r, json ? "application/json" : "text/plain");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if (r->header_only) {
        return OK;
    }
    st.pid = getpid();
    st.child = smdb_stats_child();
    st.server = smdb_stats_server();
    st.backends = smdb_backend_states(r->pool);
    if (json) {
        smdb_status_json(r, &st);
    }
    else {
        smdb_status_text(r, &st);
    }
    return OK;
}

/** mod_status: the whole server's counters on /server-status. */
int smdb_status_hook(request_rec *r, int flags)
{
    const apr_uint64_t *st = smdb_stats_server();

    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "SessionMongoDBLoads: %" APR_UINT64_T_FMT "\n"
                   "SessionMongoDBSaves: %" APR_UINT64_T_FMT "\n"
                   "SessionMongoDBErrors: %" APR_UINT64_T_FMT "\n",
                   smdb_stat_get(st, SMDB_STAT_LOADS),
                   smdb_stat_get(st, SMDB_STAT_SAVES),
                   smdb_stat_get(st, SMDB_STAT_ERRORS));
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_session_mongodb</h2>\n<dl>\n", r);
    ap_rprintf(r, "<dt>Sessions loaded: %" APR_UINT64_T_FMT
               " (not found %" APR_UINT64_T_FMT ", expired %"
               APR_UINT64_T_FMT ")</dt>\n",
               smdb_stat_get(st, SMDB_STAT_LOADS),
               smdb_stat_get(st, SMDB_STAT_NOT_FOUND),
               smdb_stat_get(st, SMDB_STAT_EXPIRED));
    ap_rprintf(r, "<dt>Sessions saved: %" APR_UINT64_T_FMT ", removed %"
               APR_UINT64_T_FMT ", refused %" APR_UINT64_T_FMT
               ", conflicts merged %" APR_UINT64_T_FMT "</dt>\n",
               smdb_stat_get(st, SMDB_STAT_SAVES),
               smdb_stat_get(st, SMDB_STAT_REMOVES),
               smdb_stat_get(st, SMDB_STAT_REFUSED),
               smdb_stat_get(st, SMDB_STAT_CONFLICTS));
    ap_rprintf(r, "<dt>MongoDB errors: %" APR_UINT64_T_FMT " (out of reach %"
               APR_UINT64_T_FMT ")</dt>\n",
               smdb_stat_get(st, SMDB_STAT_ERRORS),
               smdb_stat_get(st, SMDB_STAT_OUTAGES));
    ap_rprintf(r, "<dt>Average load %.3f ms, save %.3f ms</dt>\n</dl>\n",
               smdb_stat_avg_ms(st, SMDB_STAT_LOAD_USEC, SMDB_STAT_LOADS),
               smdb_stat_avg_ms(st, SMDB_STAT_SAVE_USEC, SMDB_STAT_SAVE_OPS));
    return OK;
}
