/* Licensed under the Apache License, Version 2.0; see smdb_util.c. */

/*
 * Helpers of mod_session_mongodb without httpd dependencies (APR and
 * OpenSSL only): tokens, cookie attributes, connection string redaction.
 */
#ifndef SMDB_UTIL_H
#define SMDB_UTIL_H

#include "apr_pools.h"

/* Not exported from the module: only session_mongodb_module is. */
#if defined(__GNUC__)
#define SMDB_HIDDEN __attribute__((visibility("hidden")))
#else
#define SMDB_HIDDEN
#endif

#define SMDB_TOKEN_BYTES 32     /* 256 bits */
#define SMDB_TOKEN_LEN   43     /* base64url without padding */
#define SMDB_ID_LEN      64     /* hex SHA-256 */

/** A fresh token: SMDB_TOKEN_BYTES random bytes as base64url, in p;
 * NULL when no random bytes could be had. */
SMDB_HIDDEN const char *smdb_token_new(apr_pool_t *p);

/** True if s is exactly a token smdb_token_new() could have made. */
SMDB_HIDDEN int smdb_token_valid(const char *s);

/** The document id of a token: lowercase hex SHA-256, in p (NULL on a
 * digest failure). */
SMDB_HIDDEN const char *smdb_token_id(apr_pool_t *p, const char *token);

/** True if the ';'-separated attribute list attrs names attribute attr
 * (case-insensitively, as "attr" or "attr=..."). */
SMDB_HIDDEN int smdb_attr_named(const char *attrs, const char *attr);

/** uri with the password of its user info and the value of every option
 * whose name contains "password" (and of authMechanismProperties)
 * replaced by "***", in p. */
SMDB_HIDDEN const char *smdb_redact(apr_pool_t *p, const char *uri);

/** A Cookie header value without the pairs called name (exactly), in p;
 * "" when nothing is left. Pairs are separated by ';' or ',', as httpd's
 * ap_cookie_read() reads them. */
SMDB_HIDDEN const char *smdb_cookie_without(apr_pool_t *p,
                                            const char *header,
                                            const char *name);

#endif
