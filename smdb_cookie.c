/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_cookie.c: the session cookie (see smdb_cookie.h).
 */
#include "http_protocol.h"
#include "util_cookies.h"
#include "apr_strings.h"

#include "smdb_cookie.h"

/** Cookie attributes with safe defaults: HttpOnly and SameSite=Lax
 * unless the configuration names them, Secure over HTTPS unless it names
 * it. (httpd adds HttpOnly;Secure only when no attributes are given at
 * all, so a plain "path=/" would drop both.) */
static const char *smdb_cookie_attrs(request_rec *r, const char *attrs)
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
        && !strcmp(ap_run_http_scheme(r), "https")) {
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
        const char *attrs = smdb_cookie_attrs(r, dc->name_attrs);

        if (token) {
            ap_cookie_write(r, dc->name, token, attrs, maxage,
                            r->err_headers_out, NULL);
        }
        else {
            ap_cookie_remove(r, dc->name, attrs, r->err_headers_out, NULL);
        }
    }
    if (dc->name2_set) {
        const char *attrs = smdb_cookie_attrs(r, dc->name2_attrs);

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

/** Remove every cookie called name from the request's Cookie and
 * Cookie2 headers, so that the application never sees the token (httpd's
 * own removal gives up when a cookie comes twice with two values). */
static void smdb_cookie_strip(request_rec *r, const char *name)
{
    static const char *const headers[] = {"Cookie", "Cookie2"};
    int h;

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
            v = smdb_cookie_without(r->pool, elts[i].val, name);
            changed |= strcmp(v, elts[i].val) != 0;
            if (*v) {
                APR_ARRAY_PUSH(keep, const char *) = v;
            }
            else {
                changed = 1;
            }
        }
        if (changed) {
            apr_table_unset(r->headers_in, headers[h]);
            for (i = 0; i < keep->nelts; i++) {
                apr_table_addn(r->headers_in, headers[h],
                               APR_ARRAY_IDX(keep, i, const char *));
            }
        }
    }
}

/** The client's token from the configured cookie(s), or NULL. A cookie
 * sent twice with two values, or of any other shape than a token, is no
 * session and never reaches MongoDB. With SessionMongoDBCookieRemove On
 * (the default) both cookies are removed from the request. */
const char *smdb_cookie_token(request_rec *r, const smdb_dir_conf *dc)
{
    const char *val = NULL, *val2 = NULL;
    apr_status_t rv = APR_SUCCESS, rv2 = APR_SUCCESS;

    if (dc->name_set) {
        rv = ap_cookie_read(r, dc->name, &val, 0);
    }
    if (dc->name2_set) {
        rv2 = ap_cookie_read(r, dc->name2, &val2, 0);
    }
    if (dir_cookie_remove(dc)) {
        if (dc->name_set) {
            smdb_cookie_strip(r, dc->name);
        }
        if (dc->name2_set) {
            smdb_cookie_strip(r, dc->name2);
        }
    }
    if (rv != APR_SUCCESS || rv2 != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SMDB_LOGNO(00322)
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
