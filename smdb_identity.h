/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Who owns a session, and what a save does with it (httpd-free,
 * unit-tested): the identity rule, mod_auth_form's user in a session,
 * which user names can key a per-user session, and the decision table
 * of session_mongodb_save (smdb_session.c), which carries it out.
 */
#ifndef SMDB_IDENTITY_H
#define SMDB_IDENTITY_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "smdb_util.h"

/** The user mod_auth_form keeps in a session's entries under auth_name
 * (the request's AuthName: "<AuthName>-user", next to "<AuthName>-pw"),
 * or NULL; NULL without an AuthName. Keys of other names (an
 * application's own "db-user" and "db-pw") are no identity. */
SMDB_HIDDEN const char *smdb_form_user(apr_pool_t *p,
                                       const apr_table_t *entries,
                                       const char *auth_name);

/**
 * Who owns the session being saved, in this order:
 * - nobody, if mod_auth_form's user was in the session when it was
 *   loaded (loaded_form_user) and is gone now: a logout, wherever the
 *   logout handler sits, whatever auth_user says;
 * - mod_auth_form's user now in the session (form_user), if it is not
 *   the loaded one: a login in this request (mod_auth_form writes it
 *   only after it checked the password), the newest verified identity;
 * - the authenticated user (auth_user: r->user as it was when httpd's
 *   authentication and authorization had succeeded, never a name a
 *   client merely claimed);
 * - mod_auth_form's user kept in the session;
 * - the stored owner, unchanged (a public page of a site where the user
 *   logged in elsewhere is no change of identity).
 */
SMDB_HIDDEN const char *smdb_identity(const char *auth_user,
                                      const char *form_user,
                                      const char *loaded_form_user,
                                      const char *stored_user);

/** True if user can key a per-user session: present, valid UTF-8, and
 * not shaped like the hashed _id of a cookie session (64 hex digits, in
 * either case, so that a case-insensitive collation changes nothing), so
 * that no user name can claim a token's document in a shared
 * collection. */
SMDB_HIDDEN int smdb_peruser_id_ok(const char *user);

/** What session_mongodb_save knows when it decides. */
typedef struct {
    int peruser;                /* SessionMongoDBPerUser On */
    int load_failed;            /* MongoDB did not answer the load */
    int empty;                  /* smdb_session_empty() of the session */
    int stored;                 /* the load found a document */
    const char *stored_user;    /* its owner, or NULL */
    const char *user;           /* the owner now (smdb_identity(), or the
                                 * authenticated user per user) */
    apr_size_t size;            /* of the encoded session */
    apr_size_t maxsize;         /* SessionMongoDBMaxSize */
} smdb_save_facts;

/** What a save does. */
typedef enum {
    SMDB_SAVE_NOTHING,          /* load failed, nothing to save: no work */
    SMDB_SAVE_REFUSE_UNLOADED,  /* load failed: saving would overwrite */
    SMDB_SAVE_DELETE,           /* empty: delete what is stored */
    SMDB_SAVE_REFUSE_PERUSER,   /* per user without a usable name */
    SMDB_SAVE_REFUSE_UTF8,      /* the owner's name is not UTF-8 */
    SMDB_SAVE_REFUSE_SIZE,      /* over SessionMongoDBMaxSize */
    SMDB_SAVE_PERUSER,          /* per user: under the user's name */
    SMDB_SAVE_KEEP,             /* same owner: same token, over the
                                 * stored document */
    SMDB_SAVE_ROTATE,           /* an anonymous session gains an owner (a
                                 * login): new token, old document
                                 * deleted, the session's data kept */
    SMDB_SAVE_HANDOVER,         /* the owner changed away from a user (a
                                 * logout, another user): new token, old
                                 * document deleted, only what this
                                 * request set goes on */
    SMDB_SAVE_NEW               /* nothing stored: a new token */
} smdb_save_action;

/** The decision table of a save, in this order: a failed load, an empty
 * session, the refusals, then per user, same owner, owner change, new. */
SMDB_HIDDEN smdb_save_action smdb_save_decide(const smdb_save_facts *f);

#endif
