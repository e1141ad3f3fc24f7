/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mod_bench_session — the handler that bench/run loads into every httpd it
 * benchmarks. It uses only mod_session's optional functions, so the same
 * handler runs on top of every session store (mod_session_cookie,
 * mod_session_dbd, mod_session_mongodb), and with `Session Off` (the store
 * "none") the calls find no session and the handler just answers.
 *
 *   SetHandler bench-session
 *
 *   GET /read   load the session, print key "n"
 *   GET /write  load the session, set "n" to a new value (a per-process
 *               counter and the request time), so it is saved every time
 *   GET /new    the same, meant for requests without a cookie: mod_session
 *               then creates the session
 *
 *   GET /hammer/add    (bench/run's hammer: many parallel requests of one
 *               session, under mod_session_crypto) set key "k<slot>",
 *               slot from the request header X-Bench-Slot, to "1"
 *   GET /hammer/count  print how many keys "k..." the session holds
 *
 * A request header X-Bench-Slot is echoed in the response, so that the
 * load generator can tell which of its cookies a Set-Cookie replaces
 * (mod_session_dbd gives a session a new key each time it changes), and
 * the response header X-Bench-Found says whether the session had "n"
 * (1) or not (0): whether the request found its session.
 *
 * Built by bench/run with `apxs -c`; not installed anywhere.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_log.h"
#include "http_request.h"
#include "apr_atomic.h"
#include "apr_optional.h"
#include "apr_strings.h"
#include "mod_session.h"

module AP_MODULE_DECLARE_DATA bench_session_module;

static APR_OPTIONAL_FN_TYPE(ap_session_load) *bench_load;
static APR_OPTIONAL_FN_TYPE(ap_session_get) *bench_get;
static APR_OPTIONAL_FN_TYPE(ap_session_set) *bench_set;
static apr_uint32_t bench_counter;

static void bench_retrieve(void)
{
    bench_load = APR_RETRIEVE_OPTIONAL_FN(ap_session_load);
    bench_get = APR_RETRIEVE_OPTIONAL_FN(ap_session_get);
    bench_set = APR_RETRIEVE_OPTIONAL_FN(ap_session_set);
}

static int bench_count_key(void *count, const char *key, const char *val)
{
    (void)val;
    if (key[0] == 'k') {
        ++*(int *)count;
    }
    return 1;
}

static int bench_handler(request_rec *r)
{
    session_rec *z = NULL;
    const char *val = NULL, *slot;
    int write, hammer = 0, count = 0;

    if (!r->handler || strcmp(r->handler, "bench-session")) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!strcmp(r->uri, "/read")) {
        write = 0;
    }
    else if (!strcmp(r->uri, "/write") || !strcmp(r->uri, "/new")) {
        write = 1;
    }
    else if (!strcmp(r->uri, "/hammer/add")) {
        write = 1, hammer = 1;
    }
    else if (!strcmp(r->uri, "/hammer/count")) {
        write = 0, hammer = 1;
    }
    else {
        return HTTP_NOT_FOUND;
    }
    if (!bench_load || !bench_get || !bench_set) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_bench_session: mod_session is not loaded");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    slot = apr_table_get(r->headers_in, "X-Bench-Slot");
    if (slot) {
        apr_table_setn(r->headers_out, "X-Bench-Slot", slot);
    }

    /* With Session Off, z stays NULL and get/set do nothing. */
    bench_load(r, &z);
    if (z && hammer) {
        if (write) {
            bench_set(r, z, apr_pstrcat(r->pool, "k", slot ? slot : "", NULL),
                      "1");
        }
        else if (z->entries) {
            apr_table_do(bench_count_key, &count, z->entries, NULL);
        }
        val = apr_itoa(r->pool, count);
    }
    else if (z) {
        bench_get(r, z, "n", &val);
        apr_table_setn(r->headers_out, "X-Bench-Found", val ? "1" : "0");
        if (write) {
            val = apr_psprintf(r->pool, "%u.%" APR_TIME_T_FMT,
                               apr_atomic_inc32(&bench_counter),
                               apr_time_now());
            bench_set(r, z, "n", val);
        }
    }
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "%s\n", val ? val : "-");
    return OK;
}

static void bench_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(bench_retrieve, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_handler(bench_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(bench_session) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    bench_register_hooks
};
