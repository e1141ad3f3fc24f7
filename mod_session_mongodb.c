/* Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * mod_session_mongodb: a mod_session storage provider that keeps each
 * session in one MongoDB document.
 *
 * The browser holds a random 256 bit token (43 characters of base64url);
 * MongoDB holds a document whose _id is the hex SHA-256 of that token
 * (or the user name, with SessionMongoDBPerUser). One libmongoc client
 * pool exists per distinct URI per child process; a request checks a
 * client out on first use and a request pool cleanup returns it.
 *
 * This file is the module record and the wiring of httpd's hooks; the
 * rest is one file per responsibility, described in
 * docs/architecture.md.
 */

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "apr_optional_hooks.h"
#include "mod_status.h"

#include "smdb_private.h"
#include "smdb_backend.h"
#include "smdb_config.h"
#include "smdb_housekeeper.h"
#include "smdb_session.h"
#include "smdb_sessions.h"
#include "smdb_stats.h"
#include "smdb_status.h"
#include "smdb_turns.h"
#include "smdb_version.h"

/**
 * post_config, on the real pass (not httpd's dry run): the shared memory
 * of this server generation (server-wide counters and sweep slots), made
 * before the fork and freed with pconf.
 */
static int session_mongodb_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                       apr_pool_t *ptemp, server_rec *s)
{
    apr_status_t rv;

    (void)plog;
    (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    rv = smdb_shared_create(pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, SMDB_LOGNO(00105)
                     "no shared memory for server-wide counters; the "
                     "status page's server.* counters stay at 0");
    }
    ap_add_version_component(pconf, "mod_session_mongodb/" SMDB_VERSION);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SMDB_LOGNO(00103)
                 "mod_session_mongodb %s (libmongoc %s) loaded",
                 SMDB_VERSION, mongoc_get_version());
    return OK;
}

/** Runs last among the child's cleanups: after every pool is gone. */
static apr_status_t session_mongodb_child_exit(void *data)
{
    (void)data;
    smdb_backends_exit();
    if (!smdb_hk_abandoned()) {
        /* not under a thread that may still be inside libmongoc */
        mongoc_cleanup();
    }
    return APR_SUCCESS;
}

/**
 * child_init: libmongoc is set up here, after the fork, never in the
 * parent: a pool's monitor threads do not survive fork(). Cleanups of
 * pchild run in reverse order, the pre-cleanup first: the housekeeper
 * stops, then the client pools go, then libmongoc is cleaned up.
 */
static void session_mongodb_child_init(apr_pool_t *pchild, server_rec *s)
{
    int threads = 1;

    mongoc_init();
    apr_pool_cleanup_register(pchild, NULL, session_mongodb_child_exit,
                              apr_pool_cleanup_null);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    if (smdb_turns_init(pchild, threads) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SMDB_LOGNO(00106)
                     "cannot make the table of session turns; parallel "
                     "requests of one session in this process go on "
                     "without taking turns (slower, as correct)");
    }
    smdb_backends_init(pchild, s);
    smdb_hk_start(pchild, s);
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const session_pre[] = {"mod_session.c", NULL};
    static const char *const core[] = {"core.c", NULL};

    (void)p;
    /* startup: refuse a configuration without a database */
    ap_hook_check_config(smdb_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(session_mongodb_post_config, NULL, NULL,
                        APR_HOOK_MIDDLE);
    /* the status page, and a section on mod_status's */
    ap_hook_handler(smdb_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* "your sessions": a user's list of sessions, and their end */
    ap_hook_handler(smdb_sessions_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, smdb_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    /* each child: client pools and the housekeeper, after the fork */
    ap_hook_child_init(session_mongodb_child_init, NULL, NULL,
                       APR_HOOK_MIDDLE);
    /* who the request is: seen before httpd's access control,
     * authentication and authorization, verified once they succeeded
     * (before mod_session's fixups load the session) */
    ap_hook_header_parser(smdb_session_seen, NULL, NULL,
                          APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(smdb_session_fixups, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* one Cache-Control per response carrying a session, at its end */
    ap_register_output_filter("SMDB_CACHE_CONTROL", smdb_cache_filter, NULL,
                              AP_FTYPE_CONTENT_SET + 5);
    ap_hook_insert_filter(smdb_session_insert_filter, NULL, NULL,
                          APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(smdb_session_insert_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    /* the cookies as sent for stream 1 of an h2c upgrade, around core's
     * Upgrade handler */
    ap_hook_handler(smdb_session_h2c_before, NULL, core, APR_HOOK_REALLY_FIRST);
    ap_hook_handler(smdb_session_h2c_after, core, NULL, APR_HOOK_REALLY_FIRST);
    /* mod_session: load at fixups and filter time, save in the filter */
    ap_hook_session_load(smdb_session_load, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_session_save(smdb_session_save, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_session's own decoder (REALLY_LAST too) */
    ap_hook_session_decode(smdb_session_decode, session_pre, NULL,
                           APR_HOOK_REALLY_LAST);
}

module AP_MODULE_DECLARE_DATA session_mongodb_module = {
    STANDARD20_MODULE_STUFF,
    smdb_create_dir_conf,
    smdb_merge_dir_conf,
    smdb_create_srv_conf,
    smdb_merge_srv_conf,
    smdb_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
