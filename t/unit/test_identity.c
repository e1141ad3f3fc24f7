/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_identity.c: who owns a session, mod_auth_form's
 * user in a session, the names that can key a per-user session, and the
 * decision table of a save (login, logout, user switch, refusals).
 */
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "smdb_identity.h"
#include "tap.h"

static apr_pool_t *p;

static const char *hex64 =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static const char *action_name(smdb_save_action a)
{
    static const char *const names[] = {
        "NOTHING", "REFUSE_UNLOADED", "DELETE", "REFUSE_PERUSER",
        "REFUSE_UTF8", "REFUSE_SIZE", "PERUSER", "KEEP", "ROTATE",
        "HANDOVER", "NEW"
    };

    return a <= SMDB_SAVE_NEW ? names[a] : "(unknown)";
}

/* an ordinary save: loaded fine, a stored anonymous session, small */
static smdb_save_facts facts(void)
{
    smdb_save_facts f;

    memset(&f, 0, sizeof(f));
    f.stored = 1;
    f.size = 100;
    f.maxsize = 1000;
    return f;
}

static void decide(const smdb_save_facts *f, smdb_save_action want,
                   const char *what)
{
    is_str(action_name(smdb_save_decide(f)), action_name(want),
           "decide: %s -> %s", what, action_name(want));
}

static void test_form_user(void)
{
    apr_table_t *t = apr_table_make(p, 4);

    ok(smdb_form_user(p, NULL, "site") == NULL, "form_user: no entries");
    apr_table_set(t, "site-user", "alice");
    ok(smdb_form_user(p, t, "site") == NULL,
       "form_user: <AuthName>-user without <AuthName>-pw is no user");
    apr_table_set(t, "site-pw", "secret");
    is_str(smdb_form_user(p, t, "site"), "alice",
           "form_user: <AuthName>-user with <AuthName>-pw");
    ok(smdb_form_user(p, t, NULL) == NULL,
       "form_user: no AuthName, no form user");
    ok(smdb_form_user(p, t, "other") == NULL,
       "form_user: keys of another AuthName are no identity");
    t = apr_table_make(p, 4);
    apr_table_set(t, "site-pw", "secret");
    ok(smdb_form_user(p, t, "site") == NULL, "form_user: a password alone");
    apr_table_set(t, "other-user", "bob");
    ok(smdb_form_user(p, t, "site") == NULL,
       "form_user: user and password of different AuthNames");
    t = apr_table_make(p, 4);
    apr_table_set(t, "db-user", "app");
    apr_table_set(t, "db-pw", "secret");
    ok(smdb_form_user(p, t, "site") == NULL,
       "form_user: an application's own user/pw pair is no identity");
    t = apr_table_make(p, 4);
    apr_table_set(t, "-user", "alice");
    apr_table_set(t, "-pw", "secret");
    ok(smdb_form_user(p, t, "") == NULL, "form_user: an empty AuthName");
    t = apr_table_make(p, 4);
    apr_table_set(t, "site-user", "");
    apr_table_set(t, "site-pw", "secret");
    ok(smdb_form_user(p, t, "site") == NULL, "form_user: an empty user name");
    t = apr_table_make(p, 4);
    apr_table_set(t, "cart", "1");
    apr_table_set(t, "My Site-user", "carol");
    apr_table_set(t, "My Site-pw", "");
    is_str(smdb_form_user(p, t, "My Site"), "carol",
           "form_user: among other keys, with an empty password");
}

static void test_identity(void)
{
    is_str(smdb_identity("alice", "bob", "bob", "carol"), "alice",
           "identity: the authenticated user outranks a kept form user");
    is_str(smdb_identity(NULL, "bob", "bob", "carol"), "bob",
           "identity: else mod_auth_form's user");
    ok(smdb_identity(NULL, NULL, "bob", "carol") == NULL,
       "identity: form user gone since the load (logout): nobody");
    ok(smdb_identity("bob", NULL, "bob", "bob") == NULL,
       "identity: a logout inside the protected area (r->user still "
       "set): nobody");
    is_str(smdb_identity("alice", "bob", NULL, "alice"), "bob",
           "identity: a form login in this request outranks r->user");
    is_str(smdb_identity("alice", "bob", "alice", "alice"), "bob",
           "identity: a form login as someone else in this request");
    is_str(smdb_identity(NULL, "bob", NULL, NULL), "bob",
           "identity: a form login on a public page");
    is_str(smdb_identity(NULL, NULL, NULL, "carol"), "carol",
           "identity: a public page keeps the stored owner");
    is_str(smdb_identity("alice", NULL, NULL, "carol"), "alice",
           "identity: the authenticated user, without mod_auth_form");
    ok(smdb_identity(NULL, NULL, NULL, NULL) == NULL,
       "identity: anonymous stays anonymous");
}

static void test_peruser_id(void)
{
    char upper[65], *c;

    strcpy(upper, hex64);
    for (c = upper; *c; c++) {
        if (*c >= 'a' && *c <= 'f') {
            *c -= 'a' - 'A';
        }
    }
    ok(!smdb_peruser_id_ok(NULL), "peruser_id: no user");
    ok(!smdb_peruser_id_ok(""), "peruser_id: the empty name");
    ok(!smdb_peruser_id_ok("al\xffice"), "peruser_id: invalid UTF-8");
    ok(!smdb_peruser_id_ok("\xc3"), "peruser_id: truncated UTF-8");
    ok(!smdb_peruser_id_ok(hex64),
       "peruser_id: 64 lowercase hex digits (a token's _id) refused");
    ok(!smdb_peruser_id_ok(upper),
       "peruser_id: 64 uppercase hex digits refused too");
    upper[0] = 'a';
    ok(!smdb_peruser_id_ok(upper), "peruser_id: 64 hex digits, mixed case");
    upper[0] = 'g';
    ok(smdb_peruser_id_ok(upper), "peruser_id: 64 characters, not all hex");
    ok(smdb_peruser_id_ok(hex64 + 1), "peruser_id: 63 hex digits");
    ok(smdb_peruser_id_ok(apr_pstrcat(p, hex64, "0", NULL)),
       "peruser_id: 65 hex digits");
    ok(smdb_peruser_id_ok("alice"), "peruser_id: a plain name");
    ok(smdb_peruser_id_ok("J\xc3\xbcrgen"), "peruser_id: UTF-8 name");
}

static void test_decide(void)
{
    smdb_save_facts f;

    f = facts();
    f.load_failed = 1;
    f.empty = 1;
    decide(&f, SMDB_SAVE_NOTHING, "load failed, session empty");
    f.empty = 0;
    decide(&f, SMDB_SAVE_REFUSE_UNLOADED, "load failed, session not empty");
    f.size = 5000;
    f.user = "al\xffice";
    f.peruser = 1;
    decide(&f, SMDB_SAVE_REFUSE_UNLOADED,
           "load failed beats size, UTF-8 and per-user checks");

    f = facts();
    f.empty = 1;
    decide(&f, SMDB_SAVE_DELETE, "empty session");
    f.size = 5000;
    f.peruser = 1;
    decide(&f, SMDB_SAVE_DELETE, "empty beats per user without name, size");

    f = facts();
    f.peruser = 1;
    decide(&f, SMDB_SAVE_REFUSE_PERUSER, "per user, no user");
    f.user = hex64;
    decide(&f, SMDB_SAVE_REFUSE_PERUSER, "per user, a token-shaped name");
    f.user = "al\xffice";
    decide(&f, SMDB_SAVE_REFUSE_PERUSER,
           "per user, non-UTF-8 name (per-user check first)");
    f.user = "";
    f.size = 5000;
    decide(&f, SMDB_SAVE_REFUSE_PERUSER, "per user bad name beats size");

    f = facts();
    f.user = "al\xffice";
    decide(&f, SMDB_SAVE_REFUSE_UTF8, "owner's name not UTF-8");
    f.size = 5000;
    decide(&f, SMDB_SAVE_REFUSE_UTF8, "UTF-8 beats size");

    f = facts();
    f.size = 1001;
    decide(&f, SMDB_SAVE_REFUSE_SIZE, "one byte over SessionMongoDBMaxSize");
    f.size = 1000;
    decide(&f, SMDB_SAVE_KEEP, "exactly SessionMongoDBMaxSize");
    f.size = 1001;
    f.peruser = 1;
    f.user = "alice";
    decide(&f, SMDB_SAVE_REFUSE_SIZE, "size beats per user");

    f = facts();
    f.peruser = 1;
    f.user = "alice";
    decide(&f, SMDB_SAVE_PERUSER, "per user with a usable name");
    f.stored = 0;
    f.stored_user = "bob";
    decide(&f, SMDB_SAVE_PERUSER,
           "per user, whatever is stored (no owner logic)");

    f = facts();
    f.stored = 0;
    decide(&f, SMDB_SAVE_NEW, "nothing stored, anonymous");
    f.user = "alice";
    decide(&f, SMDB_SAVE_NEW, "nothing stored, a user");

    f = facts();
    decide(&f, SMDB_SAVE_KEEP, "anonymous stored, anonymous now");
    f.stored_user = "alice";
    f.user = apr_pstrdup(p, "alice");
    decide(&f, SMDB_SAVE_KEEP, "same owner (compared by value)");

    f = facts();
    f.user = "alice";
    decide(&f, SMDB_SAVE_ROTATE, "login: anonymous stored, a user now");

    f = facts();
    f.stored_user = "alice";
    decide(&f, SMDB_SAVE_HANDOVER, "logout: a user stored, nobody now");
    f.user = "bob";
    decide(&f, SMDB_SAVE_HANDOVER, "user switch: alice stored, bob now");

    /* the identity rule feeding the table */
    f = facts();
    f.stored_user = "alice";
    f.user = smdb_identity(NULL, NULL, NULL, f.stored_user);
    decide(&f, SMDB_SAVE_KEEP, "public page: identity keeps the owner");
    f.user = smdb_identity(NULL, NULL, "alice", f.stored_user);
    decide(&f, SMDB_SAVE_HANDOVER,
           "form logout: identity drops the owner");
    f.user = smdb_identity("alice", NULL, "alice", f.stored_user);
    decide(&f, SMDB_SAVE_HANDOVER,
           "form logout under authentication: identity drops the owner");
    f = facts();
    f.user = smdb_identity(NULL, "alice", NULL, NULL);
    decide(&f, SMDB_SAVE_ROTATE, "form login: identity names the user");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_form_user();
    test_identity();
    test_peruser_id();
    test_decide();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
