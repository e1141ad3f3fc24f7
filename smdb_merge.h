/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Comparing and merging sessions' entries (httpd-free, unit-tested):
 * whether a session is empty, whether a request changed it, and a
 * request's own changes applied to another version of it. mod_session's
 * own "expiry" entry is never a change. Encoding and decoding (where
 * mod_session_crypto takes part) are passed in, so that encoded values
 * pass through untouched.
 */
#ifndef SMDB_MERGE_H
#define SMDB_MERGE_H

#include "apr_tables.h"
#include "mod_session.h"
#include "smdb_util.h"

/** Decode z->encoded into z->entries, or encode z->entries into
 * z->encoded (mod_session's hooks, in the module); APR_SUCCESS or not. */
typedef struct {
    apr_status_t (*decode)(void *ctx, session_rec *z);
    apr_status_t (*encode)(void *ctx, session_rec *z);
    void *ctx;
} smdb_codec;

/** True when z holds nothing but mod_session's own expiry: no encoded
 * value, or decoded entries with no other key. With SessionMaxAge the
 * encoded form of an emptied session is "expiry=...", which must still
 * count as empty (a logout deletes the document). */
SMDB_HIDDEN int smdb_session_empty(const session_rec *z);

/** True if entries differ from loaded (NULL: nothing was loaded) in any
 * key but "expiry". */
SMDB_HIDDEN int smdb_changed(apr_pool_t *p, const apr_table_t *loaded,
                             const apr_table_t *entries);

/**
 * The session `current` (encoded, as stored) with the changes that z
 * made to what was loaded (NULL: nothing) applied: keys set or changed
 * in z take z's value, whole; keys loaded and gone from z are removed.
 * With current NULL, only z's own changes: what a session keeps when its
 * owner changes away from a user. Expiry and max-age are z's. Encoded
 * with codec; NULL when current cannot be decoded or the result cannot
 * be encoded. In p.
 */
SMDB_HIDDEN session_rec *smdb_merge(apr_pool_t *p, const apr_table_t *loaded,
                                    const session_rec *z,
                                    const char *current,
                                    const smdb_codec *codec);

/** One request's changes: the entries it loaded (NULL: none) and the
 * entries it would save. */
typedef struct {
    const apr_table_t *loaded;
    const apr_table_t *entries;
} smdb_change;

/**
 * smdb_merge() for several requests at once: the changes of each of the n
 * applied to current in turn (a later one's value wins where two set one
 * key), decoded and encoded once; expiry and max-age are z's. For a
 * request that saves the changes of others of the same session with its
 * own (smdb_turns.h).
 */
SMDB_HIDDEN session_rec *smdb_merge_changes(apr_pool_t *p,
                                            const smdb_change *changes,
                                            int n, const session_rec *z,
                                            const char *current,
                                            const smdb_codec *codec);

#endif
