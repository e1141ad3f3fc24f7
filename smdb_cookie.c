/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_cookie.c: the session cookie (see smdb_cookie.h).
 */
#include "http_protocol.h"
#include "util_cookies.h"
#include "apr_strings.h"

#include "smdb_cookie.h"

/** Cookie attributes with safe defaults: HttpOnly and SameSite=Lax
 * unless the configuration names them, Secure over HTTPS (and always
 * for the names that browsers accept only with it, __Secure- and
 * __Host-) unless it names it. (httpd adds HttpOnly;Secure only when
 * no attributes are given at all, so a plain "path=/" would drop
 * both.) */
static const char *smdb_cookie_attrs(request_rec *r, const char *name,
                                     const char *attrs)
{
    char *out = apr_pstrdup(r->pool, attrs ? attrs : "");
    apr_size_t n = strlen(out);

    while (n && strchr("; \t", out[n - 1])) {
        out[--n] = '\0';
    }

    if (!smdb_attr_named(out, "HttpOnly")) {
        out = apr_pstrcat(r->pool, out, *out ? ";" : "", "HttpOnly", NULL);
    }
    if (!smdb_attr_named(out, "SameSite")) {
        out = apr_pstrcat(r->pool, out, ";SameSite=Lax", NULL);
    }
    if (!smdb_attr_named(out, "Secure")
        && (!strcmp(ap_run_http_scheme(r), "https")
            || smdb_cookie_prefix(name) != SMDB_PREFIX_NONE)) {
        /* a __Secure- or __Host- cookie without it is dropped by the
         * browser; behind a proxy that ends TLS, the scheme is http */
        out = apr_pstrcat(r->pool, out, ";Secure", NULL);
    }
    return out;
}

/** Send token in the configured cookie(s), or expire them when token is
 * NULL. Only err_headers_out, so that the cookie goes out on error pages
 * too and never twice. */
static void smdb_cookie_set(request_rec *r, const smdb_dir_conf *dc,
                            const char *token, long maxage)
{
    if (dc->name_set) {
        const char *attrs = smdb_cookie_attrs(r, dc->name, dc->name_attrs);

        if (token) {
            ap_cookie_write(r, dc->name, token, attrs, maxage,
                            r->err_headers_out, NULL);
        }
        else {
            ap_cookie_remove(r, dc->name, attrs, r->err_headers_out, NULL);
        }
    }
    if (dc->name2_set) {
        const char *attrs = smdb_cookie_attrs(r, dc->name2,
                                              dc->name2_attrs);

        if (token) {
            ap_cookie_write2(r, dc->name2, token, attrs, maxage,
                             r->err_headers_out, NULL);
        }
        else {
            ap_cookie_remove2(r, dc->name2, attrs, r->err_headers_out, NULL);
        }
    }
}

void smdb_cookie_send(request_rec *r, const smdb_dir_conf *dc,
                      const char *token, long maxage)
{
    smdb_cookie_set(r, dc, token, maxage);
}

void smdb_cookie_expire(request_rec *r, const smdb_dir_conf *dc)
{
    smdb_cookie_set(r, dc, NULL, 0);
}

/** Remove every cookie called name (with tokens_only, only where its
 * value is a token of this module) from the request's Cookie and Cookie2
 * headers, so that the application never sees the token, and leave
 * everything else as the client sent it. Returns whether it removed
 * any. */
static int smdb_cookie_strip(request_rec *r, const char *name,
                             int tokens_only)
{
    static const char *const headers[] = {"Cookie", "Cookie2"};
    int h, removed = 0;

    for (h = 0; h < 2; h++) {
        const apr_array_header_t *arr = apr_table_elts(r->headers_in);
        const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
        apr_array_header_t *keep = NULL;
        int i, changed = 0;

        for (i = 0; i < arr->nelts; i++) {
            const char *v;

            if (!elts[i].key || strcasecmp(elts[i].key, headers[h])) {
                continue;
            }
            if (!keep) {
                keep = apr_array_make(r->pool, 2, sizeof(const char *));
            }
            v = smdb_cookie_without(r->pool, elts[i].val, name, tokens_only);
            changed |= v != elts[i].val;
            if (*v) {
                APR_ARRAY_PUSH(keep, const char *) = v;
            }
        }
        if (changed) {
            apr_table_unset(r->headers_in, headers[h]);
            for (i = 0; i < keep->nelts; i++) {
                apr_table_addn(r->headers_in, headers[h],
                               APR_ARRAY_IDX(keep, i, const char *));
            }
            removed = 1;
        }
    }
    return removed;
}

/** The value of cookie name in t's Cookie and Cookie2 headers (all of
 * them, as httpd's ap_cookie_read() looks), in r's pool, or NULL; *clash
 * when it came with two values. */
static const char *smdb_cookie_read(request_rec *r, const apr_table_t *t,
                                    const char *name, int *clash)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
    smdb_cookie_seen seen = {NULL, 0, 0};
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (elts[i].key && (!strcasecmp(elts[i].key, "Cookie")
                            || !strcasecmp(elts[i].key, "Cookie2"))) {
            smdb_cookie_scan(elts[i].val, name, &seen);
        }
    }
    *clash |= seen.clash;
    return seen.val ? apr_pstrmemdup(r->pool, seen.val, seen.len) : NULL;
}

apr_table_t *smdb_cookie_hide(request_rec *r,
                              const apr_array_header_t *names)
{
    smdb_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                             &session_mongodb_module);
    const apr_array_header_t *arr;
    const apr_table_entry_t *elts;
    apr_table_t *saved = NULL;
    int i, removed = 0;

    if (!names || !dc || !dir_cookie_remove(dc)) {
        return NULL;
    }
    /* the Cookie headers as the client sent them, for the load */
    arr = apr_table_elts(r->headers_in);
    elts = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        if (elts[i].key && (!strcasecmp(elts[i].key, "Cookie")
                            || !strcasecmp(elts[i].key, "Cookie2"))) {
            if (!saved) {
                saved = apr_table_make(r->pool, 2);
            }
            apr_table_addn(saved, elts[i].key, elts[i].val);
        }
    }
    if (!saved) {
        return NULL;
    }
    /* only tokens: another application's cookie of the same name, where
     * the module is not configured, is not this module's to take */
    for (i = 0; i < names->nelts; i++) {
        removed |= smdb_cookie_strip(r, APR_ARRAY_IDX(names, i,
                                                      const char *), 1);
    }
    return removed ? saved : NULL;
}

const char *smdb_cookie_token(request_rec *r, const smdb_dir_conf *dc,
                              const apr_table_t *saved)
{
    const apr_table_t *from = saved ? saved : r->headers_in;
    const char *val = NULL, *val2 = NULL;
    int clash = 0;

    if (dc->name_set) {
        val = smdb_cookie_read(r, from, dc->name, &clash);
    }
    if (dc->name2_set) {
        val2 = smdb_cookie_read(r, from, dc->name2, &clash);
    }
    if (dir_cookie_remove(dc)) {
        if (dc->name_set) {
            smdb_cookie_strip(r, dc->name, 0);
        }
        if (dc->name2_set) {
            smdb_cookie_strip(r, dc->name2, 0);
        }
    }
    if (clash) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SMDB_LOGNO(00322)
                      "ignoring a session cookie sent twice with different "
                      "values");
        return NULL;
    }
    if (!val) {
        val = val2;
    }
    if (val && !smdb_token_valid(val)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00312)
                      "ignoring a session cookie that is not a token of "
                      "this module (%" APR_SIZE_T_FMT " bytes)",
                      strlen(val));
        return NULL;
    }
    return val;
}
