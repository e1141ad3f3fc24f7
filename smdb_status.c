/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_status.c: the status page and the mod_status section (see
 * smdb_status.h). Request threads only; the counters are atomics, the
 * backends' states are copied under their locks. The record is gathered
 * once, then one walk of it drives a renderer: text, JSON or Prometheus.
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
    smdb_histogram hists[SMDB_HIST_N];  /* the server's */
    int timeout_ms;                     /* the largest of the backends' */
    apr_array_header_t *backends;       /* of smdb_backend_state */
} smdb_status_rec;

/** One rendering under way: the request, and what a renderer gathers
 * for its end. */
typedef struct {
    request_rec *r;
    apr_array_header_t *rows;           /* Prometheus: smdb_prom_row */
} smdb_status_out;

/**
 * A way to render the record: one function per step of the walk
 * (smdb_status_walk), in its order; NULL skips the step.
 */
typedef struct {
    const char *content_type;
    int server_only;                    /* the server's scope alone */
    void (*head)(smdb_status_out *o, const smdb_status_rec *st);
    void (*scope_open)(smdb_status_out *o, const char *scope, int first);
    void (*counter)(smdb_status_out *o, const char *scope, smdb_stat which,
                    apr_uint64_t value);
    void (*averages)(smdb_status_out *o, const char *scope, double load_ms,
                     double save_ms);
    void (*scope_close)(smdb_status_out *o);
    void (*histogram)(smdb_status_out *o, smdb_hist which,
                      const smdb_histogram *h, apr_uint64_t usec,
                      int shown);
    void (*backends_open)(smdb_status_out *o);
    void (*backend)(smdb_status_out *o, int i, const smdb_backend_state *b);
    void (*tail)(smdb_status_out *o);
} smdb_renderer;

/** The walk of the record that every renderer shares: the head, each
 * scope's counters and averages, the histograms, the backends. */
static void smdb_status_walk(smdb_status_out *o, const smdb_renderer *fn,
                             const smdb_status_rec *st)
{
    static const char *const scopes[] = { "child", "server" };
    const apr_uint64_t *stats[] = { st->child, st->server };
    int s, i, first = fn->server_only ? 1 : 0;

    if (fn->head) {
        fn->head(o, st);
    }
    for (s = first; s < 2; s++) {
        if (fn->scope_open) {
            fn->scope_open(o, scopes[s], s == first);
        }
        for (i = 0; fn->counter && i < SMDB_STAT_LOAD_USEC; i++) {
            fn->counter(o, scopes[s], i, smdb_stat_get(stats[s], i));
        }
        if (fn->averages) {
            fn->averages(o, scopes[s],
                         smdb_stat_avg_ms(stats[s], SMDB_STAT_LOAD_USEC,
                                          SMDB_STAT_LOADS),
                         smdb_stat_avg_ms(stats[s], SMDB_STAT_SAVE_USEC,
                                          SMDB_STAT_SAVE_OPS));
        }
        if (fn->scope_close) {
            fn->scope_close(o);
        }
    }
    for (i = 0; fn->histogram && i < SMDB_HIST_N; i++) {
        fn->histogram(o, i, &st->hists[i],
                      smdb_stat_get(st->server, i == SMDB_HIST_LOAD
                                                ? SMDB_STAT_LOAD_USEC
                                                : SMDB_STAT_SAVE_USEC),
                      smdb_hist_shown(st->timeout_ms));
    }
    if (fn->backends_open) {
        fn->backends_open(o);
    }
    for (i = 0; fn->backend && i < st->backends->nelts; i++) {
        fn->backend(o, i, &APR_ARRAY_IDX(st->backends, i,
                                         smdb_backend_state));
    }
    if (fn->tail) {
        fn->tail(o);
    }
}

/* ------------------------------------------------------------------ */
/* plain text: "key: value" lines                                       */
/* ------------------------------------------------------------------ */

static void smdb_text_head(smdb_status_out *o, const smdb_status_rec *st)
{
    ap_rprintf(o->r, "version: %s\nlibmongoc: %s\npid: %" APR_PID_T_FMT
               "\n", SMDB_VERSION, mongoc_get_version(), st->pid);
}

static void smdb_text_counter(smdb_status_out *o, const char *scope,
                              smdb_stat which, apr_uint64_t value)
{
    ap_rprintf(o->r, "%s.%s: %" APR_UINT64_T_FMT "\n", scope,
               smdb_stat_names[which], value);
}

static void smdb_text_averages(smdb_status_out *o, const char *scope,
                               double load_ms, double save_ms)
{
    ap_rprintf(o->r, "%s.load_ms_avg: %.3f\n%s.save_ms_avg: %.3f\n", scope,
               load_ms, scope, save_ms);
}

static void smdb_text_backend(smdb_status_out *o, int i,
                              const smdb_backend_state *b)
{
    (void)i;
    ap_rprintf(o->r, "connection: %s breaker=%s failures=%d "
               "clients_in_use=%d pool=%s\n", b->redacted,
               b->open ? "open" : "closed", b->failures, b->clients_out,
               b->ready ? "ready" : "none");
}

static const smdb_renderer smdb_text = {
    "text/plain", 0, smdb_text_head, NULL, smdb_text_counter,
    smdb_text_averages, NULL, NULL, NULL, smdb_text_backend, NULL
};

/* ------------------------------------------------------------------ */
/* JSON: one object on one line                                         */
/* ------------------------------------------------------------------ */

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

static void smdb_json_head(smdb_status_out *o, const smdb_status_rec *st)
{
    ap_rprintf(o->r, "{\"version\": \"%s\", \"libmongoc\": \"%s\", "
               "\"pid\": %" APR_PID_T_FMT ", ", SMDB_VERSION,
               mongoc_get_version(), st->pid);
}

static void smdb_json_scope_open(smdb_status_out *o, const char *scope,
                                 int first)
{
    ap_rprintf(o->r, "%s\"%s\": {", first ? "" : ", ", scope);
}

static void smdb_json_counter(smdb_status_out *o, const char *scope,
                              smdb_stat which, apr_uint64_t value)
{
    (void)scope;
    ap_rprintf(o->r, "\"%s\": %" APR_UINT64_T_FMT ", ",
               smdb_stat_names[which], value);
}

static void smdb_json_averages(smdb_status_out *o, const char *scope,
                               double load_ms, double save_ms)
{
    (void)scope;
    ap_rprintf(o->r, "\"load_ms_avg\": %.3f, \"save_ms_avg\": %.3f",
               load_ms, save_ms);
}

static void smdb_json_scope_close(smdb_status_out *o)
{
    ap_rputs("}", o->r);
}

static void smdb_json_backends_open(smdb_status_out *o)
{
    ap_rputs(", \"connections\": [", o->r);
}

static void smdb_json_backend(smdb_status_out *o, int i,
                              const smdb_backend_state *b)
{
    ap_rprintf(o->r, "%s{\"uri\": \"%s\", \"breaker\": \"%s\", "
               "\"failures\": %d, \"clients_in_use\": %d, "
               "\"pool\": \"%s\"}", i ? ", " : "",
               smdb_json_escape(o->r->pool, b->redacted),
               b->open ? "open" : "closed", b->failures, b->clients_out,
               b->ready ? "ready" : "none");
}

static void smdb_json_tail(smdb_status_out *o)
{
    ap_rputs("]}\n", o->r);
}

static const smdb_renderer smdb_json = {
    "application/json", 0, smdb_json_head, smdb_json_scope_open,
    smdb_json_counter, smdb_json_averages, smdb_json_scope_close, NULL,
    smdb_json_backends_open, smdb_json_backend, smdb_json_tail
};

/* ------------------------------------------------------------------ */
/* Prometheus: the text exposition format 0.0.4, server-wide figures    */
/* ------------------------------------------------------------------ */

#define SMDB_PROM "session_mongodb_"

/** What each counter counts, by smdb_stat, for # HELP. */
static const char *const smdb_prom_help[SMDB_STAT_LOAD_USEC] = {
    "Lookups of a stored session sent to MongoDB.",
    "Lookups that returned no document (or failed).",
    "Lookups that found the session expired or past its maximum lifetime.",
    "Writes of a session that succeeded.",
    "Deletes of a session that MongoDB acknowledged.",
    "Compare-and-sets lost to a parallel request of the same session.",
    "MongoDB operations that failed.",
    "Failed operations that found MongoDB out of reach.",
    "Saves refused without writing; the request's changes were lost.",
    "Operations not sent because a circuit breaker was open.",
    "Sweeps of expired sessions, where MongoDB has no TTL index.",
    "Expired sessions that the sweeps deleted."
};

/** One connection string's gauges, summed over its backends. */
typedef struct {
    const char *uri;                    /* escaped as a label value */
    apr_uint64_t open;
    apr_uint64_t clients;
} smdb_prom_row;

/** s as a label value (backslash, double quote and newline escaped),
 * in p. */
static const char *smdb_prom_escape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 2 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *o++ = '\\';
            *o++ = *s;
        }
        else if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/** usec as seconds, as the official clients write a bucket's bound:
 * "0.0005", "2.5", "10". In p. */
static const char *smdb_prom_seconds(apr_pool_t *p, apr_uint64_t usec)
{
    char frac[8];
    int n;

    apr_snprintf(frac, sizeof(frac), "%06u", (unsigned)(usec % 1000000));
    for (n = 6; n > 0 && frac[n - 1] == '0'; n--) {
        frac[n - 1] = '\0';
    }
    return apr_psprintf(p, "%" APR_UINT64_T_FMT "%s%s", usec / 1000000,
                        n ? "." : "", frac);
}

static void smdb_prom_family(smdb_status_out *o, const char *name,
                             const char *type, const char *help)
{
    ap_rprintf(o->r, "# HELP " SMDB_PROM "%s %s\n# TYPE " SMDB_PROM
               "%s %s\n", name, help, name, type);
}

static void smdb_prom_head(smdb_status_out *o, const smdb_status_rec *st)
{
    (void)st;
    smdb_prom_family(o, "info", "gauge",
                     "The versions of the module and of libmongoc.");
    ap_rprintf(o->r, SMDB_PROM "info{version=\"%s\",libmongoc=\"%s\"} 1\n",
               SMDB_VERSION, mongoc_get_version());
}

static void smdb_prom_counter(smdb_status_out *o, const char *scope,
                              smdb_stat which, apr_uint64_t value)
{
    const char *name = apr_pstrcat(o->r->pool, smdb_stat_names[which],
                                   "_total", NULL);

    (void)scope;
    smdb_prom_family(o, name, "counter", smdb_prom_help[which]);
    ap_rprintf(o->r, SMDB_PROM "%s %" APR_UINT64_T_FMT "\n", name, value);
}

static void smdb_prom_histogram(smdb_status_out *o, smdb_hist which,
                                const smdb_histogram *h, apr_uint64_t usec,
                                int shown)
{
    const char *name = which == SMDB_HIST_LOAD ? "load_duration_seconds"
                                               : "save_duration_seconds";
    apr_uint64_t n = 0;
    int i;

    smdb_prom_family(o, name, "histogram", which == SMDB_HIST_LOAD
                     ? "Time of a lookup (find), from sending it to its "
                       "result."
                     : "Time of a write (update), from sending it to its "
                       "result.");
    for (i = 0; i <= SMDB_HIST_BOUNDS; i++) {
        n += h->buckets[i];
        if (i < shown) {
            ap_rprintf(o->r, SMDB_PROM "%s_bucket{le=\"%s\"} %"
                       APR_UINT64_T_FMT "\n", name,
                       smdb_prom_seconds(o->r->pool,
                                         smdb_hist_bounds_usec[i]), n);
        }
    }
    ap_rprintf(o->r, SMDB_PROM "%s_bucket{le=\"+Inf\"} %" APR_UINT64_T_FMT
               "\n" SMDB_PROM "%s_sum %.6f\n" SMDB_PROM "%s_count %"
               APR_UINT64_T_FMT "\n", name, n, name, usec / 1e6, name, n);
}

static void smdb_prom_backend(smdb_status_out *o, int i,
                              const smdb_backend_state *b)
{
    smdb_prom_row *row = NULL;
    int j;

    (void)i;
    for (j = 0; !row && j < o->rows->nelts; j++) {
        row = &APR_ARRAY_IDX(o->rows, j, smdb_prom_row);
        row = strcmp(row->uri, b->redacted) ? NULL : row;
    }
    if (!row) {
        row = apr_array_push(o->rows);
        row->uri = b->redacted;
        row->open = row->clients = 0;
    }
    row->open += b->server_open;
    row->clients += b->server_clients;
}

static void smdb_prom_tail(smdb_status_out *o)
{
    int i, g;

    for (g = 0; g < 2; g++) {
        smdb_prom_family(o, g ? "clients_in_use" : "breakers_open", "gauge",
                         g ? "Clients of MongoDB that requests of the "
                             "server's processes have checked out."
                           : "Processes of the server whose circuit "
                             "breaker for MongoDB is open.");
        for (i = 0; i < o->rows->nelts; i++) {
            const smdb_prom_row *row = &APR_ARRAY_IDX(o->rows, i,
                                                      smdb_prom_row);

            ap_rprintf(o->r, SMDB_PROM "%s{uri=\"%s\"} %" APR_UINT64_T_FMT
                       "\n", g ? "clients_in_use" : "breakers_open",
                       smdb_prom_escape(o->r->pool, row->uri),
                       g ? row->clients : row->open);
        }
    }
}

static const smdb_renderer smdb_prometheus = {
    "text/plain; version=0.0.4", 1, smdb_prom_head, NULL, smdb_prom_counter,
    NULL, NULL, smdb_prom_histogram, NULL, smdb_prom_backend, smdb_prom_tail
};

/* ------------------------------------------------------------------ */
/* the handler                                                          */
/* ------------------------------------------------------------------ */

/** Whether r's query string begins with the argument name (alone, or
 * name=..., as Prometheus's params send it), before any others. */
static int smdb_status_asks(const request_rec *r, const char *name)
{
    apr_size_t n = strlen(name);

    return r->args && !strncmp(r->args, name, n)
           && (r->args[n] == '\0' || r->args[n] == '&'
               || r->args[n] == '=');
}

/**
 * SetHandler session-mongodb-status: this child's counters and the whole
 * server's since its last (re)start, plus this child's backends; plain
 * "key: value" lines, JSON with ?json, or the server's figures for
 * Prometheus with ?prometheus.
 */
int smdb_status_handler(request_rec *r)
{
    smdb_status_rec st;
    smdb_status_out out;
    const smdb_renderer *fn;
    int i;

    if (!r->handler || strcmp(r->handler, "session-mongodb-status")) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    fn = smdb_status_asks(r, "json") ? &smdb_json
         : smdb_status_asks(r, "prometheus") ? &smdb_prometheus
         : &smdb_text;
    ap_set_content_type(r, fn->content_type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if (r->header_only) {
        return OK;
    }
    st.pid = getpid();
    st.child = smdb_stats_child();
    st.server = smdb_stats_server();
    for (i = 0; i < SMDB_HIST_N; i++) {
        smdb_hist_read(i, &st.hists[i]);
    }
    st.backends = smdb_backend_states(r->pool);
    st.timeout_ms = st.backends->nelts ? 0 : SMDB_DEFAULT_TIMEOUT_MS;
    for (i = 0; i < st.backends->nelts; i++) {
        int t = APR_ARRAY_IDX(st.backends, i, smdb_backend_state).timeout_ms;

        st.timeout_ms = t > st.timeout_ms ? t : st.timeout_ms;
    }
    out.r = r;
    out.rows = apr_array_make(r->pool, 2, sizeof(smdb_prom_row));
    smdb_status_walk(&out, fn, &st);
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
