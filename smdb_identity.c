/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_identity.c: identity and the save decision (see smdb_identity.h).
 */
#include "apr_strings.h"
#include <bson/bson.h>
#include <string.h>

#include "mod_session.h"
#include "smdb_identity.h"

typedef struct {
    apr_pool_t *pool;
    const apr_table_t *entries;
    const char *user;
} smdb_form_find;

static int smdb_find_form_user(void *data, const char *key, const char *val)
{
    smdb_form_find *f = data;
    apr_size_t n = strlen(key);

    if (n > 5 && !strcmp(key + n - 5, "-" MOD_SESSION_USER) && val && *val) {
        /* mod_auth_form writes "<AuthName>-user" with "<AuthName>-pw" */
        char *pw = apr_pstrcat(f->pool, apr_pstrmemdup(f->pool, key, n - 5),
                               "-" MOD_SESSION_PW, NULL);

        if (apr_table_get(f->entries, pw)) {
            f->user = val;
            return 0;
        }
    }
    return 1;
}

const char *smdb_form_user(apr_pool_t *p, const apr_table_t *entries)
{
    smdb_form_find f = {p, entries, NULL};

    if (entries) {
        apr_table_do(smdb_find_form_user, &f, entries, NULL);
    }
    return f.user;
}

const char *smdb_identity(const char *auth_user, const char *form_user,
                          int had_form_user, const char *stored_user)
{
    if (auth_user) {
        return auth_user;
    }
    if (form_user) {
        return form_user;
    }
    return had_form_user ? NULL : stored_user;
}

int smdb_peruser_id_ok(const char *user)
{
    apr_size_t n = user ? strlen(user) : 0;

    if (!n || !bson_utf8_validate(user, n, false)) {
        return 0;
    }
    return n != SMDB_ID_LEN
           || strspn(user, "0123456789abcdefABCDEF") != n;
}

smdb_save_action smdb_save_decide(const smdb_save_facts *f)
{
    if (f->load_failed) {
        return f->empty ? SMDB_SAVE_NOTHING : SMDB_SAVE_REFUSE_UNLOADED;
    }
    if (f->empty) {
        return SMDB_SAVE_DELETE;
    }
    if (f->peruser && !smdb_peruser_id_ok(f->user)) {
        return SMDB_SAVE_REFUSE_PERUSER;
    }
    if (f->user && !bson_utf8_validate(f->user, strlen(f->user), false)) {
        return SMDB_SAVE_REFUSE_UTF8;
    }
    if (f->size > f->maxsize) {
        return SMDB_SAVE_REFUSE_SIZE;
    }
    if (f->peruser) {
        return SMDB_SAVE_PERUSER;
    }
    if (!f->stored) {
        return SMDB_SAVE_NEW;
    }
    if (f->stored_user ? f->user && !strcmp(f->user, f->stored_user)
                       : !f->user) {
        return SMDB_SAVE_KEEP;
    }
    return f->stored_user ? SMDB_SAVE_HANDOVER : SMDB_SAVE_ROTATE;
}
