/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The session cookie: reading the client's token (and hiding the cookie
 * from the application), and sending or expiring it with safe
 * attributes. The httpd-free parsing is in smdb_util.c.
 */
#ifndef SMDB_COOKIE_H
#define SMDB_COOKIE_H

#include "smdb_config.h"

/** The client's token from the configured cookie(s), or NULL. A cookie
 * sent twice with two values, or of any other shape than a token, is no
 * session and never reaches MongoDB. With SessionMongoDBCookieRemove On
 * (the default) both cookies are removed from the request. */
SMDB_HIDDEN const char *smdb_cookie_token(request_rec *r,
                                          const smdb_dir_conf *dc);

/** Send token in the configured cookie(s) with max-age maxage (0: a
 * browser-session cookie). Only err_headers_out, so that the cookie goes
 * out on error pages too and never twice. */
SMDB_HIDDEN void smdb_cookie_send(request_rec *r, const smdb_dir_conf *dc,
                                  const char *token, long maxage);

/** Expire the configured cookie(s) in the browser. */
SMDB_HIDDEN void smdb_cookie_expire(request_rec *r, const smdb_dir_conf *dc);

#endif
