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

/** True if id has the shape of a cookie session's _id: SMDB_ID_LEN
 * lowercase hex digits. */
SMDB_HIDDEN int smdb_id_valid(const char *id);

#define SMDB_LISTED_ID_LEN 32   /* 128 bits of hex */

/** The id under which "your sessions" shows the session of _id id, in
 * p: the first SMDB_LISTED_ID_LEN hex digits of the SHA-256 of a label
 * and id. Stable for the session; id cannot be had back from it, nor
 * the token (of which id is the SHA-256 already). NULL on a digest
 * failure or an id longer than SMDB_ID_LEN. */
SMDB_HIDDEN const char *smdb_listed_id(apr_pool_t *p, const char *id);

/** s as well-formed UTF-8 of at most max bytes, in p: each byte that is
 * not part of a well-formed character becomes U+FFFD, and the string is
 * cut before the first character that would go past max (never inside
 * one). */
SMDB_HIDDEN const char *smdb_utf8_clean(apr_pool_t *p, const char *s,
                                        apr_size_t max);

/** s as a JSON string with its quotes, in p ("null" for NULL): '"' and
 * '\' escaped; controls, DEL, '<', '>', '&', U+2028 and U+2029 as
 * \uXXXX; each byte that is not part of well-formed UTF-8 as \ufffd.
 * The result is ASCII-safe for any input. */
SMDB_HIDDEN const char *smdb_json_string(apr_pool_t *p, const char *s);

/** ms since the epoch as an RFC 3339 date and time in UTC with
 * milliseconds ("2026-01-01T00:00:00.000Z"), in p. */
SMDB_HIDDEN const char *smdb_rfc3339(apr_pool_t *p, apr_int64_t ms);

/** True if origin (an Origin header: scheme "://" host [":" port]) is
 * the origin of scheme, host (as in a URL: an IPv6 address in brackets)
 * and port (0: the scheme's default); scheme and host compared without
 * case, a missing port taken as the scheme's default (http 80, https
 * 443). "null", a path, user info or any other scheme is no match. */
SMDB_HIDDEN int smdb_same_origin(const char *origin, const char *scheme,
                                 const char *host, unsigned port);

/** True if the ';'-separated attribute list attrs names attribute attr
 * (case-insensitively, as "attr" or "attr=..."). */
SMDB_HIDDEN int smdb_attr_named(const char *attrs, const char *attr);

/** The value of attribute attr in a cookie attribute list, blanks
 * trimmed, in p: "" when it is named without a value, NULL when it is not
 * named (the last one counts, as in browsers). */
SMDB_HIDDEN const char *smdb_attr_value(apr_pool_t *p, const char *attrs,
                                        const char *attr);

/** A cookie name's prefix, which browsers hold to rules
 * (RFC 6265bis 4.1.3): SMDB_PREFIX_SECURE for "__Secure-" (only with
 * Secure), SMDB_PREFIX_HOST for "__Host-" (with Secure, Path=/ and no
 * Domain), else SMDB_PREFIX_NONE; matched case-insensitively. */
typedef enum {
    SMDB_PREFIX_NONE,
    SMDB_PREFIX_SECURE,
    SMDB_PREFIX_HOST
} smdb_cookie_prefix_t;
SMDB_HIDDEN smdb_cookie_prefix_t smdb_cookie_prefix(const char *name);

/** The Cache-Control of a response that carries a session, in p: the
 * directives of have (what the application set, its fields joined by
 * ", "; NULL: nothing) in their order, without "public", "private" and
 * "no-cache" (plain or limited to named fields), then "no-cache" and
 * "private" (once each) at the end. */
SMDB_HIDDEN const char *smdb_cache_control(apr_pool_t *p, const char *have);

/** uri with the password of its user info and the value of every option
 * whose name contains "password" (and of authMechanismProperties)
 * replaced by "***", in p. */
SMDB_HIDDEN const char *smdb_redact(apr_pool_t *p, const char *uri);

/** What smdb_cookie_scan() found of one cookie so far. */
typedef struct {
    const char *val;            /* its value (not terminated), or NULL */
    apr_size_t len;
    int clash;                  /* sent again with another value */
} smdb_cookie_seen;

/** Scan one Cookie header value for the pairs called name (exactly), in
 * one pass, adding what it finds to *seen. Pairs are separated by ';'
 * (RFC 6265) or by ',' outside double quotes (httpd joins two Cookie
 * lines with ", ", and its own reader splits there too); blanks around
 * them are ignored. A value is the pair's text after '=', without its
 * surrounding blanks. */
SMDB_HIDDEN void smdb_cookie_scan(const char *header, const char *name,
                                  smdb_cookie_seen *seen);

/** A Cookie header value without the pairs called name (exactly; with
 * tokens_only, only those whose value is a token of this module), in p;
 * "" when nothing is left; header itself when it has none. Pairs are
 * found as smdb_cookie_scan() finds them; each removed pair is cut out
 * with the separator after it, and everything else is kept byte for
 * byte. */
SMDB_HIDDEN const char *smdb_cookie_without(apr_pool_t *p,
                                            const char *header,
                                            const char *name,
                                            int tokens_only);

#endif
