/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msm-db: a tiny MongoDB client for the test suite, built on the same
 * libmongoc as the module, so that tests can look at the stored
 * documents directly (the honest check) on any MongoDB-protocol server.
 *
 *   msm-db ping
 *   msm-db find    DB COLL FILTER          one canonical JSON doc a line
 *   msm-db count   DB COLL FILTER
 *   msm-db insert  DB COLL DOC
 *   msm-db update  DB COLL FILTER UPDATE   prints the matched count
 *   msm-db delete  DB COLL FILTER          deleteMany; prints the count
 *   msm-db indexes DB COLL                 one index spec a line
 *   msm-db fill    DB COLL N AGE_MS        insert N session-shaped
 *                                          documents that expired AGE_MS
 *                                          ago (ids fill-0 ...), in bulk
 *   msm-db cas-probe DB COLL               how many of 16 simultaneous
 *                                          compare-and-set updates of
 *                                          one version succeed (MongoDB:
 *                                          exactly 1)
 *
 * The server is $MONGODB_URI. Exit status 0 on success, 1 on error.
 */
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#define PROBE_THREADS 16

typedef struct {
    mongoc_client_pool_t *pool;
    const char *db, *coll;
    pthread_barrier_t *barrier;
    int matched;
} probe_t;

/* one compare-and-set: {_id: "probe", version: 1} -> version + 1 */
static void *probe_thread(void *data)
{
    probe_t *p = data;
    mongoc_client_t *client = mongoc_client_pool_pop(p->pool);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, p->db,
                                                             p->coll);
    bson_t *filter = BCON_NEW("_id", "probe", "version", BCON_INT32(1));
    bson_t *update = BCON_NEW("$inc", "{", "version", BCON_INT32(1), "}",
                              "$set", "{", "pad", BCON_UTF8("x"), "}");
    bson_t reply;
    bson_iter_t it;

    pthread_barrier_wait(p->barrier);
    if (mongoc_collection_update_one(coll, filter, update, NULL, &reply,
                                     NULL)
        && bson_iter_init_find(&it, &reply, "matchedCount")) {
        p->matched = (int)bson_iter_as_int64(&it);
    }
    bson_destroy(&reply);
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(p->pool, client);
    return NULL;
}

/* Does the server apply a conditional single-document update atomically,
 * as MongoDB does? Prints how many of PROBE_THREADS simultaneous
 * compare-and-sets on one version matched, at most, in up to 20 rounds. */
static int cas_probe(mongoc_uri_t *uri, mongoc_collection_t *coll,
                     const char *db, const char *name)
{
    mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
    pthread_t threads[PROBE_THREADS];
    probe_t probes[PROBE_THREADS];
    pthread_barrier_t barrier;
    bson_t *doc = BCON_NEW("_id", "probe", "version", BCON_INT32(1));
    bson_t *filter = BCON_NEW("_id", "probe");
    int i, round, winners, most = 0;

    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    for (round = 0; round < 20 && most <= 1; round++) {
        mongoc_collection_delete_many(coll, filter, NULL, NULL, NULL);
        if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, NULL)) {
            fprintf(stderr, "msm-db cas-probe: insert failed\n");
            return 0;
        }
        pthread_barrier_init(&barrier, NULL, PROBE_THREADS);
        for (i = 0; i < PROBE_THREADS; i++) {
            probes[i] = (probe_t){pool, db, name, &barrier, 0};
            pthread_create(&threads[i], NULL, probe_thread, &probes[i]);
        }
        winners = 0;
        for (i = 0; i < PROBE_THREADS; i++) {
            pthread_join(threads[i], NULL);
            winners += probes[i].matched;
        }
        pthread_barrier_destroy(&barrier);
        most = winners > most ? winners : most;
    }
    mongoc_collection_delete_many(coll, filter, NULL, NULL, NULL);
    printf("%d\n", most);
    bson_destroy(doc);
    bson_destroy(filter);
    mongoc_client_pool_destroy(pool);
    return 1;
}

/* libmongoc's warnings (e.g. a server without endSessions) are noise
 * here; errors are reported by the commands themselves. */
static void quiet_log(mongoc_log_level_t level, const char *domain,
                      const char *message, void *data)
{
    (void)domain;
    (void)data;
    if (level <= MONGOC_LOG_LEVEL_ERROR) {
        fprintf(stderr, "msm-db: %s\n", message);
    }
}

static bson_t *json(const char *s)
{
    bson_error_t error;
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &error);

    if (!b) {
        fprintf(stderr, "msm-db: bad JSON '%s': %s\n", s, error.message);
        exit(1);
    }
    return b;
}

static void print_doc(const bson_t *doc)
{
    char *s = bson_as_canonical_extended_json(doc, NULL);

    puts(s);
    bson_free(s);
}

static int64_t reply_count(const bson_t *reply, const char *field)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, reply, field) ? bson_iter_as_int64(&it)
                                                  : -1;
}

int main(int argc, char **argv)
{
    const char *uri_s = getenv("MONGODB_URI");
    mongoc_uri_t *uri;
    mongoc_client_t *client;
    mongoc_collection_t *coll = NULL;
    bson_error_t error;
    bson_t reply;
    const char *cmd;
    int ok = 1;

    if (argc < 2 || !uri_s) {
        fprintf(stderr, "usage: MONGODB_URI=... msm-db CMD [DB COLL ...]\n");
        return 2;
    }
    cmd = argv[1];
    mongoc_init();
    mongoc_log_set_handler(quiet_log, NULL);
    uri = mongoc_uri_new_with_error(uri_s, &error);
    if (!uri) {
        fprintf(stderr, "msm-db: %s\n", error.message);
        return 1;
    }
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   5000);
    client = mongoc_client_new_from_uri(uri);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    if (argc >= 4) {
        coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    }

    if (!strcmp(cmd, "ping")) {
        bson_t *ping = json("{\"ping\": 1}");

        ok = mongoc_client_command_simple(client, "admin", ping, NULL,
                                          &reply, &error);
        bson_destroy(&reply);
        bson_destroy(ping);
    }
    else if (!strcmp(cmd, "find") && argc == 5) {
        bson_t *filter = json(argv[4]);
        mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter,
                                                              NULL, NULL);
        const bson_t *doc;

        while (mongoc_cursor_next(c, &doc)) {
            print_doc(doc);
        }
        ok = !mongoc_cursor_error(c, &error);
        mongoc_cursor_destroy(c);
        bson_destroy(filter);
    }
    else if (!strcmp(cmd, "count") && argc == 5) {
        bson_t *filter = json(argv[4]);
        int64_t n = mongoc_collection_count_documents(coll, filter, NULL,
                                                      NULL, NULL, &error);

        ok = n >= 0;
        if (ok) {
            printf("%lld\n", (long long)n);
        }
        bson_destroy(filter);
    }
    else if (!strcmp(cmd, "fill") && argc == 6) {
        long n = atol(argv[4]), i;
        int64_t expiry = (int64_t)time(NULL) * 1000 - atol(argv[5]);

        ok = n > 0;
        for (i = 0; ok && i < n; i += 1000) {
            mongoc_bulk_operation_t *bulk =
                mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
            long j;

            for (j = i; j < n && j < i + 1000; j++) {
                char id[32];
                bson_t *doc;

                snprintf(id, sizeof(id), "fill-%ld", j);
                doc = BCON_NEW("_id", BCON_UTF8(id), "value",
                               BCON_UTF8("n=1"), "expiry",
                               BCON_DATE_TIME(expiry), "version",
                               BCON_INT64(1));
                mongoc_bulk_operation_insert(bulk, doc);
                bson_destroy(doc);
            }
            ok = mongoc_bulk_operation_execute(bulk, NULL, &error) != 0;
            mongoc_bulk_operation_destroy(bulk);
        }
    }
    else if (!strcmp(cmd, "insert") && argc == 5) {
        bson_t *doc = json(argv[4]);

        ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &error);
        bson_destroy(doc);
    }
    else if (!strcmp(cmd, "update") && argc == 6) {
        bson_t *filter = json(argv[4]), *update = json(argv[5]);

        ok = mongoc_collection_update_many(coll, filter, update, NULL,
                                           &reply, &error);
        if (ok) {
            printf("%lld\n", (long long)reply_count(&reply, "matchedCount"));
        }
        bson_destroy(&reply);
        bson_destroy(filter);
        bson_destroy(update);
    }
    else if (!strcmp(cmd, "delete") && argc == 5) {
        bson_t *filter = json(argv[4]);

        ok = mongoc_collection_delete_many(coll, filter, NULL, &reply,
                                           &error);
        if (ok) {
            printf("%lld\n", (long long)reply_count(&reply, "deletedCount"));
        }
        bson_destroy(&reply);
        bson_destroy(filter);
    }
    else if (!strcmp(cmd, "indexes") && argc == 4) {
        mongoc_cursor_t *c = mongoc_collection_find_indexes_with_opts(coll,
                                                                      NULL);
        const bson_t *doc;

        while (mongoc_cursor_next(c, &doc)) {
            print_doc(doc);
        }
        ok = !mongoc_cursor_error(c, &error);
        mongoc_cursor_destroy(c);
    }
    else if (!strcmp(cmd, "cas-probe") && argc == 4) {
        ok = cas_probe(uri, coll, argv[2], argv[3]);
        if (!ok) {
            bson_set_error(&error, 0, 0, "probe failed");
        }
    }
    else {
        fprintf(stderr, "msm-db: unknown command or wrong arguments\n");
        return 2;
    }
    if (!ok) {
        fprintf(stderr, "msm-db %s: %s\n", cmd, error.message);
    }
    if (coll) {
        mongoc_collection_destroy(coll);
    }
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return ok ? 0 : 1;
}
