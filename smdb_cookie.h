/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The session cookie: reading the client's token (and hiding the cookie
 * from the application), and sending or expiring it with safe
 * attributes. The httpd-free parsing is in smdb_util.c.
 */
#ifndef SMDB_COOKIE_H
#define SMDB_COOKIE_H

#include "smdb_config.h"

/** The client's token from the configured cookie(s), or NULL, read in
 * one pass over the request's Cookie (Cookie2) headers, or over saved,
 * the headers as the client sent them, when smdb_cookie_hide() has
 * removed cookies already. A cookie sent twice with two values, or of
 * any other shape than a token, is no session and never reaches MongoDB.
 * With SessionMongoDBCookieRemove On (the default) both cookies are
 * removed from the request. */
SMDB_HIDDEN const char *smdb_cookie_token(request_rec *r,
                                          const smdb_dir_conf *dc,
                                          const apr_table_t *saved);

/** fixups of every main request: unless SessionMongoDBCookieRemove Off
 * applies to r, remove every session token of r's server (a cookie of
 * one of names whose value is a token of this module) from its Cookie
 * and Cookie2 headers, also where the module is not configured (an
 * application under a session cookie's path=/). Returns the Cookie and
 * Cookie2 headers as they were, for smdb_cookie_token(), when it removed
 * anything; else NULL. */
SMDB_HIDDEN apr_table_t *smdb_cookie_hide(request_rec *r,
                                          const apr_array_header_t *names);

/** Send token in the configured cookie(s) with max-age maxage (0: a
 * browser-session cookie). Only err_headers_out, so that the cookie goes
 * out on error pages too and never twice. */
SMDB_HIDDEN void smdb_cookie_send(request_rec *r, const smdb_dir_conf *dc,
                                  const char *token, long maxage);

/** Expire the configured cookie(s) in the browser. */
SMDB_HIDDEN void smdb_cookie_expire(request_rec *r, const smdb_dir_conf *dc);

#endif
