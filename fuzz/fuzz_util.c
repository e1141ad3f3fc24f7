/*
 * libFuzzer target for smdb_util.c: everything in it parses bytes that
 * come from clients (the session cookie) or from configurations (cookie
 * attributes, connection strings). Beyond "no crash, no ASan report", it
 * checks the invariants the module relies on:
 *  - a valid token is 43 base64url characters and hashes to 64 hex digits;
 *  - a token freshly made is always valid;
 *  - redaction replaces a user-info password by "***";
 *  - a cookie removed from a Cookie header is gone from it.
 *
 * Build and run: scripts/fuzz (clang with -fsanitize=fuzzer,address).
 */
#include "smdb_util.h"

#include "apr_general.h"
#include "apr_strings.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static apr_pool_t *pool;

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

    /* Cookie headers: the named cookie is gone (ASan watches the buffer) */
    out = smdb_cookie_without(pool, s, "sid");
    if (!out || strlen(out) > 2 * strlen(s) || !strncmp(out, "sid=", 4)
        || strstr(out, "; sid=")) {
        abort();
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
    apr_pool_clear(pool);
    return 0;
}
