/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_merge.c: empty sessions, the diff of a request's
 * changes, and their merge into another version of the session, through
 * a stand-in for mod_session_crypto: a codec whose stored form is the
 * pairs reversed behind a "CRYPT:" prefix, so that a test can tell the
 * stored form from the plain entries.
 */
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "smdb_merge.h"
#include "tap.h"

static apr_pool_t *p;

/* ---- the fake crypto codec ---------------------------------------- */

typedef struct {
    int fail_decode, fail_encode;
    int decodes, encodes;
} fake_codec;

static char *reversed(apr_pool_t *pool, const char *s)
{
    apr_size_t n = strlen(s), i;
    char *r = apr_palloc(pool, n + 1);

    for (i = 0; i < n; i++) {
        r[i] = s[n - 1 - i];
    }
    r[n] = '\0';
    return r;
}

typedef struct {
    apr_pool_t *pool;
    char *out;
} fake_acc;

static int fake_pair(void *data, const char *key, const char *val)
{
    fake_acc *a = data;

    a->out = apr_pstrcat(a->pool, a->out, *a->out ? "&" : "", key, "=",
                         val, NULL);
    return 1;
}

/* as mod_session: "k=v&k=v" (with expiry=N when z->expiry), then
 * "encrypted" */
static apr_status_t fake_encode(void *ctx, session_rec *z)
{
    fake_codec *c = ctx;
    fake_acc a = {z->pool, ""};

    c->encodes++;
    if (c->fail_encode) {
        return APR_EGENERAL;
    }
    if (z->expiry) {
        apr_table_set(z->entries, "expiry",
                      apr_psprintf(z->pool, "%" APR_TIME_T_FMT, z->expiry));
    }
    apr_table_do(fake_pair, &a, z->entries, NULL);
    z->encoded = apr_pstrcat(z->pool, "CRYPT:", reversed(z->pool, a.out),
                             NULL);
    return APR_SUCCESS;
}

static apr_status_t fake_decode_into(apr_pool_t *pool, const char *encoded,
                                     apr_table_t *entries)
{
    char *plain, *pair, *last;

    if (strncmp(encoded, "CRYPT:", 6)) {
        return APR_EGENERAL;
    }
    plain = reversed(pool, encoded + 6);
    for (pair = apr_strtok(plain, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(pair, '=');

        if (!eq) {
            return APR_EGENERAL;
        }
        *eq = '\0';
        apr_table_set(entries, pair, eq + 1);
    }
    return APR_SUCCESS;
}

static apr_status_t fake_decode(void *ctx, session_rec *z)
{
    fake_codec *c = ctx;

    c->decodes++;
    if (c->fail_decode) {
        return APR_EGENERAL;
    }
    return fake_decode_into(z->pool, z->encoded, z->entries);
}

/* ---- helpers --------------------------------------------------------- */

/* a table from "k1", "v1", "k2", "v2", ..., NULL */
static apr_table_t *tab(const char *k, ...)
{
    apr_table_t *t = apr_table_make(p, 4);
    va_list ap;

    va_start(ap, k);
    while (k) {
        apr_table_set(t, k, va_arg(ap, const char *));
        k = va_arg(ap, const char *);
    }
    va_end(ap);
    return t;
}

/* the stored form of a table, as the fake codec writes it */
static const char *stored(apr_table_t *t)
{
    fake_codec c = {0, 0, 0, 0};
    session_rec z;

    memset(&z, 0, sizeof(z));
    z.pool = p;
    z.entries = apr_table_copy(p, t);
    fake_encode(&c, &z);
    return z.encoded;
}

/* the table as "k=v k=v", keys sorted, for comparisons */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *show(const apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    char **pairs = apr_palloc(p, sizeof(char *) * (arr->nelts + 1));
    char *out = "";
    int i;

    for (i = 0; i < arr->nelts; i++) {
        pairs[i] = apr_pstrcat(p, e[i].key, "=", e[i].val, NULL);
    }
    qsort(pairs, arr->nelts, sizeof(char *), cmp_str);
    for (i = 0; i < arr->nelts; i++) {
        out = apr_pstrcat(p, out, i ? " " : "", pairs[i], NULL);
    }
    return out;
}

/* the entries that a stored form decodes to */
static const char *show_stored(const char *encoded)
{
    apr_table_t *t = apr_table_make(p, 4);

    if (!encoded || fake_decode_into(p, encoded, t) != APR_SUCCESS) {
        return "(undecodable)";
    }
    return show(t);
}

static session_rec *sess(const char *encoded, apr_table_t *entries)
{
    session_rec *z = apr_pcalloc(p, sizeof(*z));

    z->pool = p;
    z->encoded = encoded;
    z->entries = entries;
    return z;
}

/* ---- smdb_session_empty ---------------------------------------------- */

static void test_empty(void)
{
    ok(smdb_session_empty(sess(NULL, NULL)), "empty: no encoded value");
    ok(smdb_session_empty(sess("", tab("a", "1", NULL))),
       "empty: an empty encoded value");
    ok(smdb_session_empty(sess("expiry=123", tab("expiry", "123", NULL))),
       "empty: only mod_session's expiry");
    ok(smdb_session_empty(sess("x", tab(NULL))),
       "empty: decoded entries with no key at all");
    ok(!smdb_session_empty(sess("expiry=1&a=1",
                                tab("expiry", "1", "a", "1", NULL))),
       "not empty: a key besides expiry");
    ok(!smdb_session_empty(sess("a=", tab("a", "", NULL))),
       "not empty: a key with an empty value");
    ok(!smdb_session_empty(sess("a=1", NULL)),
       "not empty: an encoded value not decoded");
}

/* ---- smdb_changed ---------------------------------------------------- */

static void test_changed(void)
{
    apr_table_t *loaded = tab("expiry", "100", "a", "1", "b", "2", NULL);

    ok(!smdb_changed(p, loaded, tab("expiry", "100", "a", "1", "b", "2",
                                    NULL)),
       "changed: the same entries are no change");
    ok(!smdb_changed(p, loaded, tab("b", "2", "a", "1", "expiry", "999",
                                    NULL)),
       "changed: an expiry-only change (in another order) is no change");
    ok(!smdb_changed(p, loaded, tab("a", "1", "b", "2", NULL)),
       "changed: expiry gone is no change");
    ok(smdb_changed(p, loaded, tab("expiry", "100", "a", "1", "b", "2",
                                   "c", "3", NULL)),
       "changed: a key added");
    ok(smdb_changed(p, loaded, tab("expiry", "100", "a", "1", "b", "X",
                                   NULL)),
       "changed: a value changed");
    ok(smdb_changed(p, loaded, tab("expiry", "100", "a", "1", NULL)),
       "changed: a key removed");
    ok(smdb_changed(p, loaded, tab("expiry", "100", "a", "1", "b", "",
                                   NULL)),
       "changed: a value emptied");
    ok(!smdb_changed(p, NULL, tab(NULL)),
       "changed: nothing loaded, nothing now");
    ok(!smdb_changed(p, NULL, tab("expiry", "5", NULL)),
       "changed: nothing loaded, only an expiry now");
    ok(smdb_changed(p, NULL, tab("a", "1", NULL)),
       "changed: nothing loaded, a key now");
}

/* ---- smdb_merge ------------------------------------------------------ */

static void test_merge(void)
{
    fake_codec c = {0, 0, 0, 0};
    smdb_codec codec = {fake_decode, fake_encode, &c};
    /* what this request loaded, and what it made of it */
    apr_table_t *loaded = tab("keep", "k", "mine", "old", "gone", "g",
                              "both", "b", "other", "o1", NULL);
    session_rec *z = sess(NULL, tab("keep", "k", "mine", "new", "other",
                                    "o1", "added", "a", NULL));
    /* what another request stored meanwhile: changed "other" and "keep",
     * removed "both", added "theirs" */
    const char *current = stored(tab("keep", "k2", "mine", "old", "gone",
                                     "g", "other", "o2", "theirs", "t",
                                     NULL));
    session_rec *m;

    z->expiry = apr_time_from_sec(5000);
    z->maxage = 3600;
    m = smdb_merge(p, loaded, z, current, &codec);
    ok(m != NULL, "merge: a result");
    if (!m) {
        return;
    }
    is_str(apr_table_get(m->entries, "mine"), "new",
           "merge: a key this request changed takes its value");
    is_str(apr_table_get(m->entries, "added"), "a",
           "merge: a key this request added is there");
    ok(!apr_table_get(m->entries, "gone"),
       "merge: a key this request removed is removed from current");
    ok(!apr_table_get(m->entries, "both"),
       "merge: a key removed on both sides stays removed");
    is_str(apr_table_get(m->entries, "theirs"), "t",
           "merge: a key the other request added survives");
    is_str(apr_table_get(m->entries, "other"), "o2",
           "merge: a key only the other request changed keeps its value");
    is_str(apr_table_get(m->entries, "keep"), "k2",
           "merge: a key this request left alone keeps current's value");
    is_int(m->expiry, apr_time_from_sec(5000), "merge: expiry is z's");
    is_int(m->maxage, 3600, "merge: maxage is z's");
    ok(m->encoded && !strncmp(m->encoded, "CRYPT:", 6),
       "merge: the result is encoded with the codec");
    is_str(show_stored(m->encoded),
           "added=a expiry=5000000000 keep=k2 mine=new other=o2 theirs=t",
           "merge: the stored form decodes to the merged entries");
    ok(!strstr(m->encoded, "mine=new") && strstr(m->encoded, "wen=enim"),
       "merge: the stored form is the codec's transform, not plain");
    ok(apr_table_get(m->entries, "mine")
       && !strchr(apr_table_get(m->entries, "mine"), ':')
       && !strcmp(show(m->entries),
                  "added=a expiry=5000000000 keep=k2 mine=new other=o2 "
                  "theirs=t"),
       "merge: the entries are plain");
    is_int(c.decodes, 1, "merge: current decoded once");

    /* a value changed on both sides: this request's, whole */
    m = smdb_merge(p, tab("cart", "1,2", NULL),
                   sess(NULL, tab("cart", "1,2,3", NULL)),
                   stored(tab("cart", "1,2,4", NULL)), &codec);
    is_str(m ? apr_table_get(m->entries, "cart") : NULL, "1,2,3",
           "merge: a key changed on both sides takes this request's value "
           "whole");

    /* the owner changed away from a user: only z's own changes */
    z = sess(NULL, tab("keep", "k", "mine", "new", "lang", "de", NULL));
    z->expiry = apr_time_from_sec(7);
    m = smdb_merge(p, tab("keep", "k", "mine", "old", "private", "x", NULL),
                   z, NULL, &codec);
    is_str(m ? show(m->entries) : NULL, "expiry=7000000 lang=de mine=new",
           "merge: current NULL keeps only this request's changes");
    is_str(m ? show_stored(m->encoded) : NULL,
           "expiry=7000000 lang=de mine=new",
           "merge: ... and encodes them");

    /* nothing loaded: everything in z is this request's */
    m = smdb_merge(p, NULL, sess(NULL, tab("a", "1", NULL)),
                   stored(tab("b", "2", NULL)), &codec);
    is_str(m ? show(m->entries) : NULL, "a=1 b=2",
           "merge: loaded NULL: z's keys added to current's");

    /* failures */
    c.fail_decode = 1;
    ok(smdb_merge(p, loaded, sess(NULL, tab("a", "1", NULL)), current,
                  &codec) == NULL,
       "merge: NULL when current cannot be decoded");
    c.decodes = 0;
    m = smdb_merge(p, loaded, sess(NULL, tab("a", "1", NULL)), NULL, &codec);
    ok(m != NULL && c.decodes == 0,
       "merge: current NULL is not decoded (so no decode failure)");
    c.fail_decode = 0;
    c.fail_encode = 1;
    ok(smdb_merge(p, loaded, sess(NULL, tab("a", "1", NULL)), current,
                  &codec) == NULL,
       "merge: NULL when the result cannot be encoded");
}

/* several requests' changes in one write (a holder and its riders) */
static void test_merge_changes(void)
{
    fake_codec c = {0, 0, 0, 0};
    smdb_codec codec = {fake_decode, fake_encode, &c};
    smdb_change ch[3];
    session_rec *z = sess(NULL, tab("a", "1", NULL)), *m;

    /* the holder added a; rider 1 loaded {x} and removed x, added b;
     * rider 2 loaded nothing and set b (later: wins) and k */
    ch[0].loaded = NULL;
    ch[0].entries = z->entries;
    ch[1].loaded = tab("x", "1", NULL);
    ch[1].entries = tab("b", "r1", NULL);
    ch[2].loaded = NULL;
    ch[2].entries = tab("b", "r2", "k", "2", NULL);
    z->expiry = apr_time_from_sec(7000);
    m = smdb_merge_changes(p, ch, 3, z, stored(tab("x", "1", "s", "kept",
                                                   NULL)), &codec);
    ok(m != NULL, "merge_changes: a result");
    is_str(m ? show_stored(m->encoded) : NULL,
           "a=1 b=r2 expiry=7000000000 k=2 s=kept",
           "merge_changes: every change applied in turn, a later one wins, "
           "the stored rest kept");
    is_int(c.decodes, 1, "merge_changes: current decoded once");
    is_int(c.encodes, 1, "merge_changes: encoded once");
    c.decodes = c.encodes = 0;
    m = smdb_merge_changes(p, ch + 1, 2, z, NULL, &codec);
    is_str(m ? show_stored(m->encoded) : NULL, "b=r2 expiry=7000000000 k=2",
           "merge_changes: on nothing stored, the riders' changes alone");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_empty();
    test_changed();
    test_merge();
    test_merge_changes();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
