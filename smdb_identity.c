/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_identity.c: identity and the save decision (see smdb_identity.h).
 */
#include "apr_strings.h"
#include <bson/bson.h>
#include <string.h>

#include "mod_session.h"
#include "smdb_identity.h"

const char *smdb_form_user(apr_pool_t *p, const apr_table_t *entries,
                           const char *auth_name)
{
    const char *user;

    if (!entries || !auth_name || !*auth_name) {
        return NULL;
    }
    /* mod_auth_form writes "<AuthName>-user" with "<AuthName>-pw" */
    user = apr_table_get(entries, apr_pstrcat(p, auth_name,
                                              "-" MOD_SESSION_USER, NULL));
    if (!user || !*user
        || !apr_table_get(entries, apr_pstrcat(p, auth_name,
                                               "-" MOD_SESSION_PW, NULL))) {
        return NULL;
    }
    return user;
}

const char *smdb_identity(const char *auth_user, const char *form_user,
                          const char *loaded_form_user,
                          const char *stored_user)
{
    if (loaded_form_user && !form_user) {
        return NULL;
    }
    if (form_user && (!loaded_form_user
                      || strcmp(form_user, loaded_form_user))) {
        return form_user;
    }
    if (auth_user) {
        return auth_user;
    }
    return form_user ? form_user : stored_user;
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
