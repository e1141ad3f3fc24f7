/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for smdb_util.c: everything in it parses bytes that
 * come from clients (the session cookie) or from configurations (cookie
 * attributes, connection strings). Beyond "no crash, no ASan report", it
 * checks the invariants the module relies on:
 *  - a valid token is 43 base64url characters and hashes to 64 hex digits;
 *  - a token freshly made is always valid;
 *  - redaction replaces a user-info password by "***", and the value of
 *    every option whose name holds "password" (or is
 *    authMechanismProperties) by "***", wherever an '@' stands;
 *  - a cookie removed from a Cookie header is gone from it.
 *
 * Build and run: scripts/fuzz (clang with -fsanitize=fuzzer,address).
 */
#include "smdb_util.h"

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static apr_pool_t *pool;

/** True when an option named name (its length n) carries a secret. */
static int secret_option(const char *name, size_t n)
{
    static const char amp[] = "authmechanismproperties";
    size_t i;
    char *lower = apr_pstrmemdup(pool, name, n);

    for (i = 0; i < n; i++) {
        lower[i] = (char)apr_tolower(lower[i]);
    }
    return strstr(lower, "password") || !strcmp(lower, amp);
}

/** Abort unless every secret option of the redacted uri out has the
 * value "***". The options are found as libmongoc finds them: after the
 * user info, which ends at the last '@' before the first '/'. */
static void check_options(const char *out)
{
    const char *host = strstr(out, "://"), *end, *c, *at = NULL, *q;

    if (!host) {
        return;
    }
    host += 3;
    end = strchr(host, '/');
    for (c = host; *c && (!end || c < end); c++) {
        if (*c == '@') {
            at = c;
        }
    }
    q = strchr(at ? at + 1 : host, '?');
    while (q && *q) {
        const char *opt = q + 1, *stop = opt + strcspn(opt, "&;");
        const char *eq = memchr(opt, '=', stop - opt);

        if (eq && secret_option(opt, eq - opt)
            && (stop - eq - 1 != 3 || strncmp(eq + 1, "***", 3))) {
            abort();
        }
        q = *stop ? stop : NULL;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = apr_pstrmemdup(pool, (const char *)data, size);
    const char *at, *colon, *out;

    /* tokens: exactly the shape smdb_token_new makes */
    if (smdb_token_valid(s)) {
        const char *id = smdb_token_id(pool, s);

        if (strlen(s) != SMDB_TOKEN_LEN
            || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_") != SMDB_TOKEN_LEN
            || !id || strlen(id) != SMDB_ID_LEN
            || strspn(id, "0123456789abcdef") != SMDB_ID_LEN) {
            abort();
        }
    }
    if (size == 1 && !smdb_token_valid(smdb_token_new(pool))) {
        abort();
    }

    /* cookie attribute lists */
    (void)smdb_attr_named(s, "HttpOnly");
    (void)smdb_attr_named(s, "SameSite");
    (void)smdb_attr_named(s, "");

    /* Cookie headers: the named cookie is gone (ASan watches the buffer),
     * and reading the result finds no such cookie; what scan finds in the
     * input lies inside it */
    out = smdb_cookie_without(pool, s, "sid", size & 1);
    if (!out || strlen(out) > 2 * strlen(s)) {
        abort();
    }
    {
        smdb_cookie_seen seen = {NULL, 0, 0}, again = {NULL, 0, 0};

        smdb_cookie_scan(s, "sid", &seen);
        if (seen.val && (seen.val < s || seen.val + seen.len > s + size)) {
            abort();
        }
        if (!seen.val && out != s) {
            abort();            /* nothing to remove, yet rewritten */
        }
        smdb_cookie_scan(out, "sid", &again);
        if (again.val && !(size & 1)) {
            abort();            /* every pair called sid is gone */
        }
    }

    /* redaction: in "scheme://user:PASSWORD@host/db" (no options, which
     * are redacted by name), whatever follows the user name is "***" */
    out = smdb_redact(pool, s);
    if (!out) {
        abort();
    }
    if ((at = strstr(s, "://")) != NULL && !strpbrk(s, "?&;")) {
        const char *host = at + 3, *end = strpbrk(host, "/?");

        at = strchr(host, '@');
        colon = at ? memchr(host, ':', at - host) : NULL;
        if (at && colon && (!end || at < end)) {
            const char *oh = strstr(out, "://") + 3;
            const char *oc = strchr(oh, ':');

            if (!oc || strncmp(oc, ":***@", 5)) {
                abort();
            }
        }
    }
    check_options(out);
    apr_pool_clear(pool);
    return 0;
}
