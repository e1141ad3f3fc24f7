/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_session.c: the mod_session hooks (see smdb_session.h).
 *
 * A request's path: session_load finds the client's token (a cookie) or
 * the user's name (per user), looks its document up once and keeps the
 * outcome, failure included, for the rest of the request.
 * session_decode keeps the entries as loaded. session_save decides once
 * what to write ({token, id, value, expiry, user}, and whether over the
 * stored document or as a new one) and writes it with one call: a new
 * document with one upsert, a stored one with a compare-and-set that
 * merges in what parallel requests saved meanwhile.
 */
#include "http_core.h"
#include "http_request.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "smdb_session.h"
#include "smdb_cookie.h"
#include "smdb_identity.h"
#include "smdb_merge.h"
#include "smdb_stats.h"
#include "smdb_store.h"
#include "smdb_turns.h"

#define SMDB_CAS_TRIES      100 /* a last resort: the request's budget and
                                 * the bound of its pauses end a storm of
                                 * conflicts first */

/** What one request knows about one session (one configuration). */
typedef struct {
    session_rec *z;             /* what load returned; NULL if not yet */
    smdb_place place;           /* database and collection */
    const char *token;          /* the client's token, if well formed */
    const char *id;             /* _id of the stored document, if found */
    const char *user;           /* `user` of the stored document */
    apr_int64_t created_ms;     /* its `created`, since the epoch */
    apr_int64_t version;        /* its `version` (-1: none, older docs) */
    apr_table_t *snapshot;      /* the entries as loaded and decoded */
    int load_failed;            /* MongoDB did not answer: never save */
    int decoded;                /* mod_session decoded it once */
    const char *form_user;      /* ... with this mod_auth_form user */
    const char *peruser_user;   /* per user: the verified user the load
                                 * looked for (NULL: none) */
    int ended;                  /* its user ended it in this request
                                 * ("your sessions"): nothing is saved */
} smdb_entry;

/** A main request (not a subrequest) as it passes httpd's checks: seen
 * before them (header_parser), verified once they have succeeded
 * (fixups), with r->user as it was then. */
typedef struct {
    const request_rec *r;
    const char *user;           /* verified only */
    int verified;
} smdb_verified;

/** Per-request state; one per top-level request, in its request_config. */
typedef struct {
    request_rec *r;             /* the top request, owner of the pool */
    apr_hash_t *entries;        /* config identity -> smdb_entry */
    apr_array_header_t *verified;   /* of smdb_verified, in order */
    session_rec *blank;         /* what a request that must see no
                                 * session gets; never saved */
    apr_table_t *cookies;       /* the request's headers as the client
                                 * sent them, once session cookies were
                                 * hidden from them; else NULL */
    int cookies_back;           /* ... and put back for an h2c upgrade */
    int no_cache;               /* the response carries a session: one
                                 * Cache-Control, merged at the end */
    smdb_checkout co;           /* its MongoDB client */
} smdb_req;

/** What a save writes, decided once. */
typedef struct {
    const char *token;          /* for the cookie; NULL per user */
    const char *id;             /* _id */
    const char *value;          /* the encoded session */
    apr_time_t expiry;          /* of the document; 0: none */
    const char *user;           /* its owner; NULL: nobody */
    int over_stored;            /* over the stored document (compare-and-
                                 * set), else a new document */
    int rotated;                /* the old document was deleted for a new
                                 * token */
    const char *client_ip;      /* SessionMongoDBRecordClient On: the
                                 * client as httpd sees it; else NULL */
    const char *client_agent;   /* ... its User-Agent, cut (NULL: none) */
} smdb_save_plan;

/* ------------------------------------------------------------------ */
/* the request's state                                                  */
/* ------------------------------------------------------------------ */

static request_rec *smdb_top(request_rec *r)
{
    while (r->main) {
        r = r->main;
    }
    while (r->prev) {
        r = r->prev;
    }
    return r;
}

/** The request's state, made on first use in the top request's pool. */
static smdb_req *smdb_req_get(request_rec *r)
{
    request_rec *top = smdb_top(r);
    smdb_req *rq = ap_get_module_config(top->request_config,
                                        &session_mongodb_module);

    if (!rq) {
        rq = apr_pcalloc(top->pool, sizeof(*rq));
        rq->r = top;
        rq->co.r = top;
        rq->entries = apr_hash_make(top->pool);
        rq->verified = apr_array_make(top->pool, 2, sizeof(smdb_verified));
        ap_set_module_config(top->request_config, &session_mongodb_module,
                             rq);
    }
    return rq;
}

/** The request's entry for this directory's session configuration. */
static smdb_entry *smdb_entry_get(smdb_req *rq, const smdb_dir_conf *dc,
                                  const char *db)
{
    const char *key = apr_pstrcat(rq->r->pool, db, "/", dir_collection(dc),
                                  "/", dir_peruser(dc) ? "+" : "-",
                                  dc->name ? dc->name : "", "/",
                                  dc->name2 ? dc->name2 : "", NULL);
    smdb_entry *e = apr_hash_get(rq->entries, key, APR_HASH_KEY_STRING);

    if (!e) {
        e = apr_pcalloc(rq->r->pool, sizeof(*e));
        e->place.db = db;
        e->place.coll = dir_collection(dc);
        apr_hash_set(rq->entries, key, APR_HASH_KEY_STRING, e);
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* who the request is                                                   */
/* ------------------------------------------------------------------ */

/** r's record, or NULL if r has none (a subrequest, or a request that
 * never reached header_parser: refused at its parsing, translation or
 * directory walk). */
static smdb_verified *smdb_record(const smdb_req *rq, const request_rec *r)
{
    int i;

    for (i = rq->verified->nelts - 1; i >= 0; i--) {
        smdb_verified *v = &APR_ARRAY_IDX(rq->verified, i, smdb_verified);

        if (v->r == r) {
            return v;
        }
    }
    return NULL;
}

/**
 * header_parser, first: httpd runs it for every main request (internal
 * redirects too) just before access control, authentication and
 * authorization. A request seen here whose fixups never run has failed
 * them (or its type check). Every request is recorded, in or out of the
 * module's locations, since an error document in one may serve a
 * request outside them.
 */
int smdb_session_seen(request_rec *r)
{
    smdb_req *rq = smdb_req_get(r);

    if (!smdb_record(rq, r)) {
        smdb_verified *v = apr_array_push(rq->verified);

        v->r = r;
        v->user = NULL;
        v->verified = 0;
    }
    return DECLINED;
}

/**
 * fixups, before mod_session's: httpd runs them only once every
 * access, authentication and authorization hook of the request has
 * succeeded, so r->user is verified here. It is recorded as it is now: a
 * handler may set r->user later to a name it has not verified
 * (mod_auth_form's login handler sets it to the posted name before
 * checking the password), and mod_auth_basic sets it before a backend
 * that then fails. Subrequests go by their main request; each request of
 * an internal redirect by itself, except that a redirect within the same
 * configuration skips the checks and inherits r->prev's r->user as it is
 * at the redirect, after r->prev's handler: only what r->prev verified
 * is taken from it.
 */
int smdb_session_fixups(request_rec *r)
{
    smdb_req *rq;
    smdb_verified *v;
    const char *user = r->user;

    if (r->main) {
        return DECLINED;
    }
    rq = smdb_req_get(r);
    if (r->prev && user && user == r->prev->user) {
        const smdb_verified *pv = smdb_record(rq, r->prev);

        if (!pv || !pv->verified || !pv->user || strcmp(pv->user, user)) {
            user = NULL;
        }
    }
    v = smdb_record(rq, r);
    if (!v) {
        v = apr_array_push(rq->verified);
        v->r = r;
    }
    v->user = user;
    v->verified = 1;
    /* the application runs after fixups: no session cookie of this
     * server reaches it, in or out of the module's locations */
    if (!rq->cookies) {
        rq->cookies = smdb_cookie_hide(r, smdb_srv(r->server)->cookie_names);
    }
    return DECLINED;
}

/** True if a and b are the same name, or both none. */
static int smdb_same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/** What fixups recorded for r (a subrequest: its main request), or NULL
 * when its checks have not succeeded (yet). */
static const smdb_verified *smdb_verified_get(const smdb_req *rq,
                                              const request_rec *r)
{
    const smdb_verified *v;

    while (r->main) {
        r = r->main;
    }
    v = smdb_record(rq, r);
    return v && v->verified ? v : NULL;
}

/** True if r is, or serves, the error document of a request that
 * failed its access control, authentication or authorization (seen
 * before them, never verified): it sees no session. */
static int smdb_after_denial(const smdb_req *rq, const request_rec *r)
{
    while (r->main) {
        r = r->main;
    }
    for (r = r->prev; r; r = r->prev) {
        const smdb_verified *v = smdb_record(rq, r);

        if (v && !v->verified) {
            return 1;
        }
    }
    return 0;
}

/** The verified user of r, or NULL: nobody, or not verified (yet). */
static const char *smdb_user(const smdb_req *rq, const request_rec *r)
{
    const smdb_verified *v = smdb_verified_get(rq, r);

    return v && !smdb_after_denial(rq, r) ? v->user : NULL;
}

/** True if r must see no session under dc: an error document of a
 * denied request, or a per-user session before (or without) a verified
 * user. */
static int smdb_blind(const smdb_req *rq, const request_rec *r,
                      const smdb_dir_conf *dc)
{
    return smdb_after_denial(rq, r)
           || (dir_peruser(dc) && !smdb_verified_get(rq, r));
}

/* ------------------------------------------------------------------ */
/* load and decode                                                      */
/* ------------------------------------------------------------------ */

/** The _id r's session is stored under: the hashed token of the cookie,
 * or the authenticated user per user; NULL when r has none. *failed is
 * set when there is one and it cannot be computed. */
static const char *smdb_load_id(request_rec *r, smdb_req *rq,
                                const smdb_dir_conf *dc, smdb_entry *e,
                                int *failed)
{
    const char *id;

    if (dir_peruser(dc)) {
        e->peruser_user = smdb_user(rq, r);
        return smdb_peruser_id_ok(e->peruser_user) ? e->peruser_user : NULL;
    }
    e->token = smdb_cookie_token(r, dc, rq->cookies);
    if (!e->token) {
        return NULL;
    }
    id = smdb_token_id(rq->r->pool, e->token);
    *failed = !id;
    return id;
}

/**
 * session_load: find the request's session in MongoDB.
 *
 * mod_session calls this at every ap_session_load() (fixups, the output
 * filter, modules such as mod_auth_form), so the outcome of the first
 * call, failure included, is kept in the top request and returned again:
 * one wait on MongoDB per request at most. When MongoDB does not answer,
 * the request goes on with an empty session (mod_session would log an
 * error of its own for every call otherwise), and save refuses to write
 * under that key. The session_rec lives in the top request's pool.
 */
apr_status_t smdb_session_load(request_rec *r, session_rec **z)
{
    const char *db, *id;
    smdb_dir_conf *dc = smdb_config_for(r, &db);
    smdb_req *rq;
    smdb_entry *e;
    smdb_doc d = {NULL, NULL, 0, -1};
    session_rec *zz;

    if (!dc) {
        return DECLINED;
    }
    rq = smdb_req_get(r);
    e = smdb_entry_get(rq, dc, db);
    if (smdb_blind(rq, r, dc)
        || (e->z && dir_peruser(dc)
            && !smdb_same(e->peruser_user, smdb_user(rq, r)))) {
        /* nothing stored is shown to, or written by, a request whose
         * identity is not verified (or, per user, not the loaded one) */
        if (!rq->blank) {
            rq->blank = apr_pcalloc(rq->r->pool, sizeof(*rq->blank));
            rq->blank->pool = rq->r->pool;
            rq->blank->entries = apr_table_make(rq->r->pool, 1);
        }
        *z = rq->blank;
        return APR_SUCCESS;
    }
    if (e->z) {
        if (e->id) {
            rq->no_cache = 1;
        }
        *z = e->z;
        return APR_SUCCESS;
    }

    id = smdb_load_id(r, rq, dc, e, &e->load_failed);
    if (id) {
        bson_error_t error;

        if (smdb_store_find(r, &rq->co, &e->place, id,
                            dir_max_lifetime_ms(dc), &d, &error)
            != APR_SUCCESS) {
            if (error.domain) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00308)
                              "cannot load session from %s.%s at %s: %s; "
                              "the request goes on without its session. "
                              "Check that MongoDB is up and reachable.",
                              e->place.db, e->place.coll,
                              rq->co.be->redacted, error.message);
            }
            /* Go on as if there were no session, but remember: saving
             * anything under this key now would overwrite the user's
             * real session. */
            e->load_failed = 1;
            d.value = d.user = NULL;
        }
        e->created_ms = d.created_ms;
        if (d.value) {
            e->id = id;
            e->user = d.user;
            e->version = d.version;
            rq->no_cache = 1;
        }
    }

    zz = apr_pcalloc(rq->r->pool, sizeof(*zz));
    zz->pool = rq->r->pool;
    zz->entries = apr_table_make(zz->pool, 10);
    zz->encoded = d.value;
    zz->remote_user = d.user;
    e->z = *z = zz;
    return APR_SUCCESS;
}

/**
 * session_decode, after mod_session's own decoder: keep the entries as
 * loaded, so that save can tell this request's own changes from what
 * parallel requests wrote meanwhile, and note whether they held a
 * mod_auth_form user, so that its removal (a logout) can be told from a
 * page that never knew the user.
 */
apr_status_t smdb_session_decode(request_rec *r, session_rec *z)
{
    smdb_req *rq = ap_get_module_config(smdb_top(r)->request_config,
                                        &session_mongodb_module);
    apr_hash_index_t *hi;

    if (!rq) {
        return DECLINED;
    }
    for (hi = apr_hash_first(r->pool, rq->entries); hi;
         hi = apr_hash_next(hi)) {
        smdb_entry *e = apr_hash_this_val(hi);

        /* mod_session decodes again at every ap_session_load() of the
         * request, after changes: only the first look is the stored
         * state */
        if (e->z == z && !e->decoded) {
            e->decoded = 1;
            e->form_user = smdb_form_user(z->pool, z->entries,
                                          ap_auth_name(r));
            if (e->form_user) {
                e->form_user = apr_pstrdup(rq->r->pool, e->form_user);
            }
            if (SMDB_CAS) {
                e->snapshot = apr_table_copy(rq->r->pool, z->entries);
            }
        }
    }
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* writing                                                              */
/* ------------------------------------------------------------------ */

static apr_status_t smdb_codec_decode(void *r, session_rec *z)
{
    return ap_run_session_decode(r, z) == OK ? APR_SUCCESS : APR_EGENERAL;
}

static apr_status_t smdb_codec_encode(void *r, session_rec *z)
{
    return ap_run_session_encode(r, z) == OK ? APR_SUCCESS : APR_EGENERAL;
}

/** The session `current` (as stored) with r's own changes to z applied,
 * through mod_session's own encoders and decoders (so mod_session_crypto
 * decrypts and encrypts it); NULL when it cannot. See smdb_merge(). */
static session_rec *smdb_merge_into(request_rec *r, const smdb_entry *e,
                                    const session_rec *z,
                                    const char *current)
{
    smdb_codec codec = {smdb_codec_decode, smdb_codec_encode, r};

    return smdb_merge(r->pool, e->snapshot, z, current, &codec);
}

/** When the stored document dies: the session's expiry, brought forward
 * to created + SessionMongoDBMaxLifetime, so that the TTL index or the
 * sweep removes it then. A new document is created now. 0 = never. */
static apr_time_t smdb_doc_expiry(const smdb_dir_conf *dc,
                                  const smdb_entry *e, const session_rec *z,
                                  int existing)
{
    apr_int64_t life = dir_max_lifetime_ms(dc);
    apr_time_t deadline;

    if (!life) {
        return z->expiry;
    }
    deadline = existing ? apr_time_from_msec(e->created_ms + life)
                        : apr_time_now() + apr_time_from_msec(life);
    return z->expiry && z->expiry < deadline ? z->expiry : deadline;
}

/** Refuse a save: count it, log why (an error with its id, logno) and
 * leave the stored session as it is. Returns APR_EGENERAL, for
 * mod_session. */
static apr_status_t smdb_refuse(request_rec *r, const char *logno,
                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static apr_status_t smdb_refuse(request_rec *r, const char *logno,
                                const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(r->pool, fmt, ap);
    va_end(ap);
    smdb_count(SMDB_STAT_REFUSED, 1);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s%s", logno, msg);
    return APR_EGENERAL;
}

/** One write of a session; a failure of MongoDB is logged with what it
 * means for this session: after a rotation, the old document is gone. */
static apr_status_t smdb_write(request_rec *r, smdb_req *rq, smdb_entry *e,
                               const smdb_save_plan *plan,
                               const char *value, smdb_write_mode mode)
{
    smdb_write_spec w = {plan->id, value, plan->expiry, plan->user, mode,
                         e->version, plan->client_ip, plan->client_agent};
    bson_error_t error;
    apr_status_t rv = smdb_store_write(r, &rq->co, &e->place, &w, &error);

    if (rv == APR_EGENERAL && error.domain && !plan->rotated) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00309)
                      "cannot save session to %s.%s at %s: %s; the stored "
                      "session is unchanged and no cookie is sent. Check "
                      "that MongoDB is up and writable.", e->place.db,
                      e->place.coll, rq->co.be->redacted, error.message);
    }
    else if (rv == APR_EGENERAL && error.domain) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00330)
                      "cannot save session to %s.%s at %s: %s; its owner "
                      "changed and the old document is deleted already, "
                      "so the browser has no session now and no cookie "
                      "is sent. Check that MongoDB is up and writable.",
                      e->place.db, e->place.coll, rq->co.be->redacted,
                      error.message);
    }
    return rv;
}

/** Pause before compare-and-set number i (from 2 on) of writers in
 * several processes: at random, up to 2 ms per earlier try plus up to
 * i - 1 (at most 8) times the last round (its find, merge and write), so
 * that writers whose rounds keep overlapping spread out as much as their
 * rounds take. The pauses of a save add up to one SessionMongoDBTimeout
 * at most (*paused so far); they are not waits on MongoDB and do not
 * spend the request's budget of those. */
static void smdb_cas_pause(request_rec *r, int i, apr_interval_time_t round,
                           apr_interval_time_t *paused)
{
    apr_uint32_t b = 0;
    apr_interval_time_t pause, left =
        apr_time_from_msec(srv_timeout_ms(smdb_srv(r->server))) - *paused;
    apr_interval_time_t span = apr_time_from_msec(2 * i)
                               + round * (i < 9 ? i - 1 : 8);

    apr_generate_random_bytes((unsigned char *)&b, sizeof(b));
    pause = span > 0 && span < APR_INT64_C(4000000000)
        ? (apr_interval_time_t)(b % (apr_uint32_t)span) : 0;
    pause = pause < left ? pause : left;
    if (pause > 0) {
        apr_sleep(pause);
        *paused += pause;
    }
}

/** At most this many waiting requests of a session ride along with the
 * save of the request holding its turn (smdb_turns.h): their changes and
 * its own go in one compare-and-set, decoded and encoded once. */
#define SMDB_RIDERS_MAX 64

/** The session `current` (as stored) with the changes of n requests
 * applied in turn (see smdb_merge_changes()), through mod_session's own
 * encoders and decoders; NULL when it cannot. */
static session_rec *smdb_merge_many(request_rec *r, const smdb_change *c,
                                    int n, const session_rec *z,
                                    const char *current)
{
    smdb_codec codec = {smdb_codec_decode, smdb_codec_encode, r};

    return smdb_merge_changes(r->pool, c, n, z, current, &codec);
}

/**
 * The compare-and-set loop of smdb_save_over(), holding the session's
 * turn in this process: write on the loaded version (unless the turn
 * knows a newer one was written meanwhile); on a conflict, read the
 * stored session, apply this request's own changes to it, and try again,
 * SMDB_CAS_TRIES times, then last write wins (logged). The changes of
 * the n riders (c[1..n]; c[0] is this request's) go into every write
 * with this request's: *carried says they were saved. Every operation
 * counts into the request's budget, which ends the loop when spent. A
 * session deleted meanwhile is not recreated: APR_ENOENT. *written is
 * the version now stored, if this request wrote it.
 */
static apr_status_t smdb_cas_loop(request_rec *r, smdb_req *rq,
                                  const smdb_dir_conf *dc, smdb_entry *e,
                                  const session_rec *z,
                                  const smdb_save_plan *plan,
                                  int stale, const smdb_change *c, int n,
                                  int *carried, apr_int64_t *written)
{
    const char *value = plan->value;
    apr_time_t round_start = 0;
    apr_interval_time_t paused = 0;
    apr_status_t rv;
    int i;

    *carried = 0;
    if (n) {
        /* the riders' changes on top of this request's, on its version */
        session_rec *m = smdb_merge_many(r, c + 1, n, z, plan->value);

        if (m && !smdb_session_empty(m)
            && strlen(m->encoded) <= dir_maxsize(dc)) {
            value = m->encoded;
        }
        else {
            n = 0;              /* handed back: each saves on its own */
        }
    }
    for (i = 0; i < SMDB_CAS_TRIES; i++) {
        bson_error_t error;
        smdb_doc d;
        session_rec *m;

        if (i > 1) {
            smdb_cas_pause(r, i, apr_time_now() - round_start, &paused);
        }
        round_start = apr_time_now();
        if (i || !stale) {
            rv = smdb_write(r, rq, e, plan, value, SMDB_W_CAS);
            if (rv != APR_EMISMATCH) {
                *written = rv == APR_SUCCESS && e->version >= 0
                    ? e->version + 1 : -1;
                *carried = n && rv == APR_SUCCESS;
                return rv;
            }
            if (!i && !n && !smdb_changed(z->pool, e->snapshot, z->entries)) {
                /* only mod_session's expiry refresh, and another
                 * request has just written the session (refreshing it
                 * too) */
                return APR_SUCCESS;
            }
        }
        if (smdb_store_find(r, &rq->co, &e->place, plan->id,
                            dir_max_lifetime_ms(dc), &d, &error)
            != APR_SUCCESS) {
            if (error.domain) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SMDB_LOGNO(00331)
                              "cannot read session %.8s... from %s.%s at "
                              "%s again after a parallel request saved it: "
                              "%s; this request's changes are not saved, "
                              "the stored session keeps the other's and no "
                              "cookie is sent. Check that MongoDB is up and "
                              "reachable.", plan->id, e->place.db,
                              e->place.coll, rq->co.be->redacted,
                              error.message);
            }
            return APR_EGENERAL;
        }
        if (!d.value) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00324)
                          "session %.8s... was deleted (or expired) while "
                          "this request ran; its changes are dropped, not "
                          "saved into a recreated session", plan->id);
            return APR_ENOENT;
        }
        if (!i && !n && stale && d.version != e->version
            && !smdb_changed(z->pool, e->snapshot, z->entries)) {
            /* as above, the newer version read, not only hinted */
            return APR_SUCCESS;
        }
        m = smdb_merge_many(r, c, 1 + n, z, d.value);
        if (!m) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00327)
                          "session %.8s... changed under this request and "
                          "the stored version cannot be decoded (a new "
                          "SessionCryptoPassphrase?); last write wins",
                          plan->id);
            rv = smdb_write(r, rq, e, plan, value, SMDB_W_FORCE);
            *carried = n && rv == APR_SUCCESS;
            return rv;
        }
        if (smdb_session_empty(m)) {
            rv = smdb_store_delete(r, &rq->co, &e->place, plan->id);
            return rv == APR_SUCCESS ? APR_ENOENT : rv;
        }
        if (strlen(m->encoded) > dir_maxsize(dc)) {
            return smdb_refuse(r, SMDB_LOGNO(00326),
                               "not saving session %.8s...: merged with "
                               "parallel changes it has %" APR_SIZE_T_FMT
                               " bytes encoded, SessionMongoDBMaxSize is %"
                               APR_SIZE_T_FMT, plan->id, strlen(m->encoded),
                               dir_maxsize(dc));
        }
        e->version = d.version;
        value = m->encoded;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SMDB_LOGNO(00325)
                  "session %.8s... changed under this request %d times; "
                  "saving its last merge over whatever is stored now "
                  "(last write wins)", plan->id, i);
    rv = smdb_write(r, rq, e, plan, value, SMDB_W_FORCE);
    *carried = n && rv == APR_SUCCESS;
    return rv;
}

/**
 * Save over the stored session without losing what parallel requests of
 * the same session wrote since this one loaded it: the requests of one
 * session in this process take turns (smdb_turns.h), and each runs the
 * compare-and-set loop in its turn, so that only other processes' writes
 * make it go round; the requests that wait meanwhile ride along, their
 * changes saved by the next holder with its own (group commit), so that
 * a crowd of them costs a few writes, not one round each. The wait for a
 * turn is a wait for other requests' saves, each within its own budget,
 * as long as a queue of them takes: it is bounded on its own, by httpd's
 * Timeout (as a wait on the client is; at least SessionMongoDBTimeout),
 * and the loop then has what is left of this request's budget.
 */
static apr_status_t smdb_save_over(request_rec *r, smdb_req *rq,
                                   const smdb_dir_conf *dc, smdb_entry *e,
                                   const session_rec *z,
                                   const smdb_save_plan *plan)
{
    apr_interval_time_t waited, wait = apr_time_from_msec(
        srv_timeout_ms(smdb_srv(r->server)));
    apr_int64_t written = -1;
    smdb_change *c;
    smdb_rider me, *riders, *x;
    smdb_turn *turn;
    apr_status_t rv;
    int n = 0, carried;

    if (!SMDB_CAS) {
        return smdb_write(r, rq, e, plan, plan->value, SMDB_W_FORCE);
    }
    c = apr_palloc(r->pool, (1 + SMDB_RIDERS_MAX) * sizeof(*c));
    c[0].loaded = e->snapshot;
    c[0].entries = z->entries;
    /* one turn per document: its database, collection and _id */
    me.id = apr_pstrcat(r->pool, e->place.db, "/", e->place.coll, "/",
                        plan->id, NULL);
    me.change = &c[0];
    rv = smdb_turn_take(me.id, r->server->timeout > wait
                               ? r->server->timeout : wait,
                        &me, &turn, &waited);
    if (rv != APR_SUCCESS) {
        return smdb_refuse(r, SMDB_LOGNO(00333), "not saving session "
                           "%.8s...: other requests of it in this process "
                           "were saving it for %" APR_TIME_T_FMT " ms, "
                           "httpd's Timeout; the stored session keeps "
                           "theirs", plan->id, apr_time_as_msec(waited));
    }
    if (!turn && me.state == SMDB_RIDER_CARRIED) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "session %.8s...: "
                      "saved by a parallel request of it, with its own "
                      "changes, as version %" APR_INT64_T_FMT, plan->id,
                      me.version);
        return APR_SUCCESS;
    }
    if (!turn && me.state == SMDB_RIDER_DROPPED) {
        return APR_ENOENT;      /* deleted meanwhile: stays deleted */
    }
    riders = smdb_turn_riders(turn, me.id, SMDB_RIDERS_MAX);
    for (x = riders; x; x = x->next) {
        c[++n] = *(const smdb_change *)x->change;
    }
    rv = smdb_cas_loop(r, rq, dc, e, z, plan,
                       smdb_turn_version(turn) > e->version, c, n,
                       &carried, &written);
    smdb_turn_give(turn, written, riders,
                   carried ? SMDB_RIDER_CARRIED
                   : rv == APR_ENOENT ? SMDB_RIDER_DROPPED
                   : SMDB_RIDER_TAKEN);
    return rv;
}

/** Carry out plan: one write, new or over the stored document, then the
 * request's state, the cookie and Cache-Control follow what is stored. */
static apr_status_t smdb_save_write(request_rec *r, smdb_req *rq,
                                    const smdb_dir_conf *dc, smdb_entry *e,
                                    const session_rec *z,
                                    const smdb_save_plan *plan)
{
    apr_status_t rv = plan->over_stored
        ? smdb_save_over(r, rq, dc, e, z, plan)
        : smdb_write(r, rq, e, plan, plan->value, SMDB_W_NEW);

    if (rv == APR_ENOENT) {
        /* deleted while this request ran (a logout elsewhere, a
         * revocation, expiry): it stays deleted. No Set-Cookie: a login
         * in another tab may have set a new cookie meanwhile. */
        e->id = NULL;
        return APR_SUCCESS;
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    e->id = plan->id;
    if (plan->token) {
        e->token = plan->token;
        e->user = plan->user;
        smdb_cookie_send(r, dc, plan->token, z->maxage);
    }
    rq->no_cache = 1;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* what a save does, one function per decision                          */
/* ------------------------------------------------------------------ */

/** An empty session: delete what is stored; expire the cookie only when
 * the client sent one and the document is gone (a failed delete leaves
 * both as they were). Nothing stored, nothing sent: no work. */
static apr_status_t smdb_save_delete(request_rec *r, smdb_req *rq,
                                     const smdb_dir_conf *dc, smdb_entry *e)
{
    if (e->id) {
        apr_status_t rv = smdb_store_delete(r, &rq->co, &e->place, e->id);

        if (rv != APR_SUCCESS) {
            return rv;
        }
        e->id = NULL;
    }
    if (!dir_peruser(dc) && e->token) {
        smdb_cookie_expire(r, dc);
        rq->no_cache = 1;
    }
    return APR_SUCCESS;
}

/** Per user: under the user's name, over the stored document if the load
 * found one. No cookie. */
static void smdb_plan_peruser(const smdb_dir_conf *dc, const smdb_entry *e,
                              const session_rec *z, const char *user,
                              smdb_save_plan *plan)
{
    plan->token = NULL;
    plan->id = user;
    plan->value = z->encoded;
    plan->over_stored = e->id != NULL;
    plan->expiry = smdb_doc_expiry(dc, e, z, plan->over_stored);
    plan->user = user;
    plan->rotated = 0;
}

/** The same owner: the token is kept across saves, so that parallel
 * requests of one client share it. */
static void smdb_plan_keep(const smdb_dir_conf *dc, const smdb_entry *e,
                           const session_rec *z, const char *user,
                           smdb_save_plan *plan)
{
    plan->token = e->token;
    plan->id = e->id;
    plan->value = z->encoded;
    plan->expiry = smdb_doc_expiry(dc, e, z, 1);
    plan->user = user;
    plan->over_stored = 1;
    plan->rotated = 0;
}

/** A new session under a new token (never adopt a token the database
 * does not know). */
static apr_status_t smdb_plan_new(request_rec *r, smdb_req *rq,
                                  const smdb_dir_conf *dc,
                                  const smdb_entry *e, const session_rec *z,
                                  const char *user, smdb_save_plan *plan)
{
    plan->token = smdb_token_new(rq->r->pool);
    plan->id = plan->token ? smdb_token_id(rq->r->pool, plan->token) : NULL;
    if (!plan->id) {
        return smdb_refuse(r, SMDB_LOGNO(00317), "not saving the session: "
                           "no random bytes for a new token");
    }
    plan->value = z->encoded;
    plan->expiry = smdb_doc_expiry(dc, e, z, 0);
    plan->user = user;
    plan->over_stored = 0;
    plan->rotated = 0;
    return APR_SUCCESS;
}

/**
 * The owner changed: the old token must not outlive a change of
 * identity, so its document is deleted first (or nothing is saved) and
 * the session goes on under a new token. On a handover (a logout, or a
 * login as someone else) nothing of the previous owner's session reaches
 * the next person on this browser, only what this request set; if that
 * is nothing, the session ends here (plan->value NULL).
 */
static apr_status_t smdb_plan_rotate(request_rec *r, smdb_req *rq,
                                     const smdb_dir_conf *dc, smdb_entry *e,
                                     const session_rec *z, const char *user,
                                     int handover, smdb_save_plan *plan)
{
    const char *previous = e->user;
    session_rec *m;
    apr_status_t rv;

    if (smdb_store_delete(r, &rq->co, &e->place, e->id) != APR_SUCCESS) {
        return smdb_refuse(r, SMDB_LOGNO(00323), "not saving the session: "
                           "its owner changed and the old document could "
                           "not be deleted");
    }
    e->id = NULL;
    rv = smdb_plan_new(r, rq, dc, e, z, user, plan);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    plan->rotated = 1;
    if (!handover) {
        return APR_SUCCESS;
    }
    m = smdb_merge_into(r, e, z, NULL);
    if (!m) {
        return smdb_refuse(r, SMDB_LOGNO(00328), "not saving the session: "
                           "its owner changed and mod_session could not "
                           "encode what this request set (see the lines "
                           "above)");
    }
    if (smdb_session_empty(m)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00329)
                      "the session of %s ended: nothing of it goes to %s",
                      previous, user ? user : "an anonymous session");
        smdb_cookie_expire(r, dc);
        rq->no_cache = 1;
        plan->value = NULL;
        return APR_SUCCESS;
    }
    plan->value = m->encoded;
    return APR_SUCCESS;
}

/**
 * session_save: decide what to write (smdb_save_decide: refuse, delete,
 * per user, keep the token, rotate it, or a new session), then write it
 * with one call, smdb_save_write.
 */
apr_status_t smdb_session_save(request_rec *r, session_rec *z)
{
    const char *db;
    smdb_dir_conf *dc = smdb_config_for(r, &db);
    smdb_save_facts f;
    smdb_save_plan plan = {0};
    smdb_save_action action;
    smdb_req *rq;
    smdb_entry *e;
    apr_status_t rv = APR_SUCCESS;

    if (!dc) {
        return DECLINED;
    }
    rq = smdb_req_get(r);
    if (z == rq->blank) {
        if (!smdb_session_empty(z)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00332)
                          "not saving what this request set in the "
                          "session: it saw no session, since its user is "
                          "not verified (an error document of a request "
                          "that failed authentication or authorization) "
                          "or, per user, not the one the session was "
                          "loaded for");
        }
        return APR_SUCCESS;
    }
    e = smdb_entry_get(rq, dc, db);
    if (e->ended) {
        return APR_SUCCESS;     /* ended, its cookie expired: stays so */
    }
    f.peruser = dir_peruser(dc);
    f.load_failed = e->load_failed;
    f.empty = smdb_session_empty(z);
    f.stored = e->id != NULL;
    f.stored_user = e->user;
    f.user = smdb_user(rq, r);
    if (f.peruser) {
        /* under the name the load used, and only by that user */
        f.user = smdb_same(e->peruser_user, f.user) ? f.user : NULL;
    }
    else {
        f.user = smdb_identity(f.user,
                               smdb_form_user(z->pool, z->entries,
                                              ap_auth_name(r)),
                               e->form_user, e->user);
    }
    f.size = f.empty ? 0 : strlen(z->encoded);
    f.maxsize = dir_maxsize(dc);

    switch (action = smdb_save_decide(&f)) {
    case SMDB_SAVE_NOTHING:
        return APR_SUCCESS;     /* nothing to lose, nothing to say */
    case SMDB_SAVE_REFUSE_UNLOADED:
        return smdb_refuse(r, SMDB_LOGNO(00313), "not saving the session: "
                           "it could not be loaded in this request, and "
                           "saving would overwrite the stored one; the "
                           "stored session is unchanged");
    case SMDB_SAVE_REFUSE_PERUSER:
        return smdb_refuse(r, SMDB_LOGNO(00315), "not saving the session: "
                           "SessionMongoDBPerUser needs an authenticated "
                           "user whose name is valid UTF-8 and not 64 hex "
                           "digits");
    case SMDB_SAVE_REFUSE_UTF8:
        return smdb_refuse(r, SMDB_LOGNO(00314), "not saving the session: "
                           "the user name is not valid UTF-8");
    case SMDB_SAVE_REFUSE_SIZE:
        return smdb_refuse(r, SMDB_LOGNO(00316), "not saving the session: "
                           "%" APR_SIZE_T_FMT " bytes encoded, "
                           "SessionMongoDBMaxSize is %" APR_SIZE_T_FMT "; "
                           "the stored session is unchanged", f.size,
                           f.maxsize);
    case SMDB_SAVE_DELETE:
        return smdb_save_delete(r, rq, dc, e);
    case SMDB_SAVE_PERUSER:
        smdb_plan_peruser(dc, e, z, f.user, &plan);
        break;
    case SMDB_SAVE_KEEP:
        smdb_plan_keep(dc, e, z, f.user, &plan);
        break;
    case SMDB_SAVE_ROTATE:
    case SMDB_SAVE_HANDOVER:
        rv = smdb_plan_rotate(r, rq, dc, e, z, f.user,
                              action == SMDB_SAVE_HANDOVER, &plan);
        break;
    case SMDB_SAVE_NEW:
        rv = smdb_plan_new(r, rq, dc, e, z, f.user, &plan);
        break;
    }
    if (rv != APR_SUCCESS || !plan.value) {
        return rv;              /* refused, or the session ended */
    }
    if (dir_record_client(dc)) {
        const char *agent = apr_table_get(r->headers_in, "User-Agent");

        plan.client_ip = r->useragent_ip;
        plan.client_agent = agent ? smdb_utf8_clean(r->pool, agent,
                                                    SMDB_AGENT_MAX)
                                  : NULL;
    }
    return smdb_save_write(r, rq, dc, e, z, &plan);
}

/* ------------------------------------------------------------------ */
/* for "your sessions" (smdb_sessions.c)                                */
/* ------------------------------------------------------------------ */

void smdb_session_view_of(request_rec *r, const smdb_dir_conf *dc,
                          const char *db, smdb_session_view *v)
{
    smdb_req *rq = smdb_req_get(r);
    smdb_entry *e = smdb_entry_get(rq, dc, db);

    v->user = smdb_user(rq, r);
    v->id = e->id;
    v->loaded = e->z != NULL;
    v->place = &e->place;
    v->co = &rq->co;
}

void smdb_session_end_current(request_rec *r, const smdb_dir_conf *dc,
                              const char *db)
{
    smdb_req *rq = smdb_req_get(r);
    smdb_entry *e = smdb_entry_get(rq, dc, db);

    e->ended = 1;
    e->id = NULL;
    if (e->token) {
        smdb_cookie_expire(r, dc);
        rq->no_cache = 1;
    }
}

/* ------------------------------------------------------------------ */
/* the response                                                         */
/* ------------------------------------------------------------------ */

/**
 * Output filter SMDB_CACHE_CONTROL, after mod_session's save: a response
 * that carries a session (loaded or saved: its content or its cookie)
 * gets one Cache-Control, the application's directives merged with
 * "no-cache, private" (smdb_cache_control()), whatever path the response
 * took (httpd's error path moves err_headers_out to headers_out, so a
 * header set on the way would come twice).
 */
apr_status_t smdb_cache_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    smdb_req *rq = ap_get_module_config(smdb_top(r)->request_config,
                                        &session_mongodb_module);

    if (rq && rq->no_cache) {
        const char *h = apr_table_getm(r->pool, r->headers_out,
                                       "Cache-Control");
        const char *e = apr_table_getm(r->pool, r->err_headers_out,
                                       "Cache-Control");

        apr_table_unset(r->headers_out, "Cache-Control");
        apr_table_setn(r->err_headers_out, "Cache-Control",
                       smdb_cache_control(r->pool, h && e
                           ? apr_pstrcat(r->pool, h, ", ", e, NULL)
                           : h ? h : e));
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/** insert_filter and insert_error_filter: the filter above, where a
 * session may be used. */
void smdb_session_insert_filter(request_rec *r)
{
    const char *db;
    smdb_req *rq;

    if (r->main) {
        return;
    }
    rq = ap_get_module_config(smdb_top(r)->request_config,
                              &session_mongodb_module);
    if ((rq && rq->no_cache) || smdb_config_for(r, &db)) {
        ap_add_output_filter("SMDB_CACHE_CONTROL", NULL, r, r->connection);
    }
}

/** A request that asks to upgrade to h2c: is it one? (mod_http2 then
 * serves it again as stream 1 of the new connection, from its headers.) */
static int smdb_h2c_upgrade(request_rec *r)
{
    const char *up = apr_table_get(r->headers_in, "Upgrade");

    return up && !r->main && !r->prev && !r->connection->master
           && ap_find_token(r->pool, up, "h2c");
}

/**
 * handler, just before core's, which switches protocols for an Upgrade:
 * stream 1 of an h2c upgrade is built from this request's headers, so
 * they get the session cookies back (stream 1 hides them from its own
 * application again, in its fixups). If no switch happens, the handler
 * after core's hides them again before any application runs.
 */
int smdb_session_h2c_before(request_rec *r)
{
    smdb_req *rq;
    const apr_array_header_t *arr;
    const apr_table_entry_t *elts;
    int i;

    if (!smdb_h2c_upgrade(r)) {
        return DECLINED;
    }
    rq = ap_get_module_config(r->request_config, &session_mongodb_module);
    if (!rq || !rq->cookies) {
        return DECLINED;
    }
    apr_table_unset(r->headers_in, "Cookie");
    apr_table_unset(r->headers_in, "Cookie2");
    arr = apr_table_elts(rq->cookies);
    elts = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        apr_table_addn(r->headers_in, elts[i].key, elts[i].val);
    }
    rq->cookies_back = 1;
    return DECLINED;
}

/** handler, just after core's: no switch to h2c happened; the cookies
 * leave the request again. */
int smdb_session_h2c_after(request_rec *r)
{
    smdb_req *rq = r->main ? NULL : ap_get_module_config(r->request_config,
                                                         &session_mongodb_module);

    if (rq && rq->cookies_back) {
        rq->cookies_back = 0;
        smdb_cookie_hide(r, smdb_srv(r->server)->cookie_names);
    }
    return DECLINED;
}
