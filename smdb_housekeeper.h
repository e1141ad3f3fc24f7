/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * The housekeeper: one thread per child that, off the request path,
 * creates the indexes of the collections this child uses (the TTL index
 * on `expiry`, and one on `user`) and, where a server refuses TTL
 * indexes, deletes expired sessions itself, one child of the server per
 * collection and interval. Requests register the collections they use.
 *
 * Why not mod_watchdog: a child's watchdog thread is joined when the
 * child exits, so a callback waiting on MongoDB (a long sweep, a server
 * that hangs) would hold up every graceful restart; its singleton mode
 * picks one child for all servers, while the work here follows what
 * each child's requests use; and the module would need one more module
 * loaded. This thread has its own client with a long answer timeout and
 * is abandoned, not waited for, when the child exits.
 */
#ifndef SMDB_HOUSEKEEPER_H
#define SMDB_HOUSEKEEPER_H

#include "smdb_backend.h"

/** Make the housekeeper aware of a collection of be (it then creates its
 * indexes, or sweeps it), with the TTL settings of the server sc: one
 * server with SessionMongoDBTTLIndex On is enough for a shared
 * collection to get its index. The lookup key is built in scratch; a new
 * record is allocated once, in pchild, under the registry's lock. */
SMDB_HIDDEN void smdb_hk_register(smdb_backend *be, const smdb_srv_conf *sc,
                                  const char *db, const char *coll,
                                  apr_pool_t *scratch);

/** child_init, after the backends: the registry and the thread, and the
 * pre-cleanup of pchild that stops it. */
SMDB_HIDDEN void smdb_hk_start(apr_pool_t *pchild, server_rec *s);

/** True when the child's exit left the thread waiting on MongoDB; then
 * libmongoc must not be cleaned up under it. */
SMDB_HIDDEN int smdb_hk_abandoned(void);

#endif
