/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mongo_tool — bench/run's helper for MongoDB-protocol servers (libmongoc).
 *
 *   mongo_tool rtt   URI DB COLL N   raw round trip: N finds by _id, then N
 *                                    updates by _id, of one session-shaped
 *                                    document, on one connection, one at a
 *                                    time; prints "find_us=F update_us=U"
 *                                    (mean microseconds per operation)
 *   mongo_tool fill  URI DB COLL N   insert N session-shaped documents with
 *                                    random _ids (batches of 1000)
 *   mongo_tool count URI DB COLL     print the number of documents
 *   mongo_tool sweep URI DB COLL     the module's sweep (deleteMany of the
 *                                    expired sessions); prints
 *                                    "deleted=N ms=T"
 *
 * The find and the update are the ones mod_session_mongodb sends: a find
 * with a projection, limit 1 and singleBatch; an update_one with $set of
 * value/expiry/updated.
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libmongoc's log, less its complaint at exit about servers that lack
 * endSessions (FerretDB, jongodb) */
static void log_handler(mongoc_log_level_t level, const char *domain,
                        const char *message, void *data)
{
    (void)data;
    if (level <= MONGOC_LOG_LEVEL_WARNING && !strstr(message, "endSessions")) {
        fprintf(stderr, "mongo_tool: libmongoc %s: %s\n", domain, message);
    }
}

static void die(const char *what, const bson_error_t *e)
{
    fprintf(stderr, "mongo_tool: %s: %s\n", what, e ? e->message : "failed");
    exit(1);
}

/* 64 random hex digits, like sha256hex(token) */
static void random_id(char out[65])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[32];
    int i;

    for (i = 0; i < 32; i++) {
        b[i] = (uint8_t)(random() & 0xff);
    }
    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[64] = 0;
}

static void session_doc(bson_t *doc, const char *id, int64_t ms)
{
    char value[96];

    snprintf(value, sizeof(value), "n=filler&expiry=%lld",
             (long long)(ms + 86400 * 1000LL) * 1000);
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "value", value);
    BSON_APPEND_DATE_TIME(doc, "expiry", ms + 86400 * 1000LL);
    BSON_APPEND_DATE_TIME(doc, "created", ms);
    BSON_APPEND_DATE_TIME(doc, "updated", ms);
}

static int cmd_rtt(mongoc_collection_t *coll, long n)
{
    bson_error_t error;
    bson_t doc = BSON_INITIALIZER, filter = BSON_INITIALIZER;
    bson_t opts = BSON_INITIALIZER, proj, uopts = BSON_INITIALIZER;
    const char *id =
        "0000000000000000000000000000000000000000000000000000000000rtt00";
    int64_t t0, t_find, t_update;
    long i, found = 0;

    BSON_APPEND_UTF8(&filter, "_id", id);
    mongoc_collection_delete_one(coll, &filter, NULL, NULL, NULL);
    session_doc(&doc, id, now_ms());
    if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &error)) {
        die("insert", &error);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "value", 1);
    BSON_APPEND_INT32(&proj, "expiry", 1);
    BSON_APPEND_INT32(&proj, "user", 1);
    BSON_APPEND_INT32(&proj, "created", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    BSON_APPEND_BOOL(&uopts, "upsert", true);

    /* warm up the connection and the server's plan caches */
    for (i = 0; i < 20; i++) {
        mongoc_cursor_t *c =
            mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
        const bson_t *d;

        while (mongoc_cursor_next(c, &d)) {
        }
        mongoc_cursor_destroy(c);
    }

    t0 = now_us();
    for (i = 0; i < n; i++) {
        mongoc_cursor_t *c =
            mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
        const bson_t *d;

        while (mongoc_cursor_next(c, &d)) {
            found++;
        }
        if (mongoc_cursor_error(c, &error)) {
            die("find", &error);
        }
        mongoc_cursor_destroy(c);
    }
    t_find = now_us() - t0;
    if (found != n) {
        fprintf(stderr, "mongo_tool: find returned %ld of %ld\n", found, n);
        return 1;
    }

    t0 = now_us();
    for (i = 0; i < n; i++) {
        bson_t update = BSON_INITIALIZER, set;
        char value[64];
        int64_t ms = now_ms();

        snprintf(value, sizeof(value), "n=%ld&expiry=%lld", i,
                 (long long)(ms + 3600000) * 1000);
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_UTF8(&set, "value", value);
        BSON_APPEND_DATE_TIME(&set, "expiry", ms + 3600000);
        BSON_APPEND_DATE_TIME(&set, "updated", ms);
        bson_append_document_end(&update, &set);
        if (!mongoc_collection_update_one(coll, &filter, &update, &uopts,
                                          NULL, &error)) {
            die("update", &error);
        }
        bson_destroy(&update);
    }
    t_update = now_us() - t0;
    mongoc_collection_delete_one(coll, &filter, NULL, NULL, NULL);

    printf("find_us=%.1f update_us=%.1f\n", (double)t_find / n,
           (double)t_update / n);
    bson_destroy(&doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    bson_destroy(&uopts);
    return 0;
}

static int cmd_fill(mongoc_collection_t *coll, long n)
{
    bson_error_t error;
    long done = 0;
    int64_t ms = now_ms();

    srandom((unsigned)(now_us() ^ getpid()));
    while (done < n) {
        long batch = n - done > 1000 ? 1000 : n - done, i;
        bson_t *docs[1000];
        char id[65];

        for (i = 0; i < batch; i++) {
            docs[i] = bson_new();
            random_id(id);
            session_doc(docs[i], id, ms);
        }
        if (!mongoc_collection_insert_many(coll, (const bson_t **)docs,
                                           (size_t)batch, NULL, NULL,
                                           &error)) {
            die("insert_many", &error);
        }
        for (i = 0; i < batch; i++) {
            bson_destroy(docs[i]);
        }
        done += batch;
    }
    printf("inserted=%ld\n", done);
    return 0;
}

int main(int argc, char **argv)
{
    mongoc_client_t *client;
    mongoc_collection_t *coll;
    mongoc_uri_t *uri;
    bson_error_t error;
    int rc;

    if (argc < 5 || (strcmp(argv[1], "count") && strcmp(argv[1], "sweep")
                     && argc < 6)) {
        fprintf(stderr, "usage: mongo_tool rtt|fill URI DB COLL N | "
                        "count|sweep URI DB COLL\n");
        return 2;
    }
    mongoc_init();
    mongoc_log_set_handler(log_handler, NULL);
    uri = mongoc_uri_new_with_error(argv[2], &error);
    if (!uri) {
        die("URI", &error);
    }
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   10000);
    client = mongoc_client_new_from_uri(uri);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(client, "mod_session_mongodb-bench");
    coll = mongoc_client_get_collection(client, argv[3], argv[4]);

    if (!strcmp(argv[1], "rtt")) {
        rc = cmd_rtt(coll, atol(argv[5]));
    }
    else if (!strcmp(argv[1], "fill")) {
        rc = cmd_fill(coll, atol(argv[5]));
    }
    else if (!strcmp(argv[1], "sweep")) {
        bson_t filter = BSON_INITIALIZER, lt, reply;
        int64_t t0 = now_us(), n = 0;
        bson_iter_t it;

        BSON_APPEND_DOCUMENT_BEGIN(&filter, "expiry", &lt);
        BSON_APPEND_DATE_TIME(&lt, "$lt", now_ms());
        bson_append_document_end(&filter, &lt);
        if (!mongoc_collection_delete_many(coll, &filter, NULL, &reply,
                                           &error)) {
            die("deleteMany", &error);
        }
        if (bson_iter_init_find(&it, &reply, "deletedCount")) {
            n = bson_iter_as_int64(&it);
        }
        printf("deleted=%lld ms=%.1f\n", (long long)n,
               (now_us() - t0) / 1000.0);
        bson_destroy(&reply);
        bson_destroy(&filter);
        rc = 0;
    }
    else if (!strcmp(argv[1], "count")) {
        int64_t c = mongoc_collection_count_documents(coll, &(bson_t)
                                                      BSON_INITIALIZER,
                                                      NULL, NULL, NULL,
                                                      &error);
        if (c < 0) {
            die("count", &error);
        }
        printf("%lld\n", (long long)c);
        rc = 0;
    }
    else {
        fprintf(stderr, "mongo_tool: unknown command %s\n", argv[1]);
        rc = 2;
    }
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return rc;
}
