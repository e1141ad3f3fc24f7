/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * smdb_merge.c: diff and merge of sessions' entries (see smdb_merge.h).
 */
#include <string.h>

#include "smdb_merge.h"

static int smdb_count_entry(void *count, const char *key, const char *val)
{
    (void)val;
    if (strcmp(key, "expiry")) {
        ++*(int *)count;
    }
    return 1;
}

int smdb_session_empty(const session_rec *z)
{
    int count = 0;

    if (!z->encoded || !*z->encoded) {
        return 1;
    }
    if (z->entries) {
        apr_table_do(smdb_count_entry, &count, z->entries, NULL);
        return count == 0;
    }
    return 0;
}

/** Diff callbacks: this request's own changes, relative to what it
 * loaded, applied to another version of the session. */
typedef struct {
    const apr_table_t *base;    /* compare against */
    apr_table_t *target;        /* apply to */
} smdb_diff;

static int smdb_apply_set(void *data, const char *key, const char *val)
{
    smdb_diff *d = data;
    const char *old = apr_table_get(d->base, key);

    if (strcmp(key, "expiry") && (!old || strcmp(old, val))) {
        apr_table_set(d->target, key, val);     /* set or changed here */
    }
    return 1;
}

static int smdb_apply_unset(void *data, const char *key, const char *val)
{
    smdb_diff *d = data;

    (void)val;
    if (!apr_table_get(d->base, key)) {
        apr_table_unset(d->target, key);        /* removed here */
    }
    return 1;
}

static int smdb_same(void *data, const char *key, const char *val)
{
    const apr_table_t *other = data;
    const char *o = apr_table_get(other, key);

    /* mod_session's own expiry is not a change of the session */
    return !strcmp(key, "expiry") || (o && !strcmp(o, val));
}

int smdb_changed(apr_pool_t *p, const apr_table_t *loaded,
                 const apr_table_t *entries)
{
    if (!loaded) {
        loaded = apr_table_make(p, 1);
    }
    return !apr_table_do(smdb_same, (void *)loaded, entries, NULL)
           || !apr_table_do(smdb_same, (void *)entries, loaded, NULL);
}

session_rec *smdb_merge_changes(apr_pool_t *p, const smdb_change *changes,
                                int n, const session_rec *z,
                                const char *current, const smdb_codec *codec)
{
    session_rec *m = apr_pcalloc(p, sizeof(*m));
    const apr_table_t *none = NULL;
    smdb_diff d;
    int i;

    m->pool = p;
    m->entries = apr_table_make(p, 10);
    m->encoded = current;
    if (current && codec->decode(codec->ctx, m) != APR_SUCCESS) {
        return NULL;
    }
    d.target = m->entries;
    for (i = 0; i < n; i++) {
        const apr_table_t *loaded = changes[i].loaded;

        if (!loaded) {
            loaded = none ? none : (none = apr_table_make(p, 1));
        }
        d.base = loaded;
        apr_table_do(smdb_apply_set, &d, changes[i].entries, NULL);
        d.base = changes[i].entries;
        apr_table_do(smdb_apply_unset, &d, loaded, NULL);
    }
    m->expiry = z->expiry;
    m->maxage = z->maxage;
    m->encoded = NULL;
    if (codec->encode(codec->ctx, m) != APR_SUCCESS) {
        return NULL;
    }
    return m;
}

session_rec *smdb_merge(apr_pool_t *p, const apr_table_t *loaded,
                        const session_rec *z, const char *current,
                        const smdb_codec *codec)
{
    smdb_change c;

    c.loaded = loaded;
    c.entries = z->entries;
    return smdb_merge_changes(p, &c, 1, z, current, codec);
}
