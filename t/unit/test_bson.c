/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_bson.c: the filter, update and options of each kind
 * of write, the find, the reading of a found document in each of its
 * states, the sweep's filter and the createIndexes command. Whole
 * documents are compared as canonical extended JSON, which shows every
 * field's type (a date is {"$date": {"$numberLong": ms}}, an int64
 * {"$numberLong": n}) and the fields' order.
 */
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "smdb_bson.h"
#include "tap.h"

static apr_pool_t *p;

#define NOW 1700000000000LL     /* ms: 2023-11-14 */

/* doc as canonical extended JSON, in p */
static const char *json(const bson_t *doc)
{
    char *s = bson_as_canonical_extended_json(doc, NULL);
    const char *out = apr_pstrdup(p, s ? s : "(none)");

    bson_free(s);
    return out;
}

/* a document from canonical extended JSON, for the read tests */
static bson_t *doc(const char *j)
{
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)j, -1, &err);

    if (!b) {
        tap_diag("bad test JSON %s: %s", j, err.message);
        b = bson_new();
    }
    return b;
}

static const char *date(apr_int64_t ms)
{
    return apr_psprintf(p, "{ \"$date\" : { \"$numberLong\" : \"%"
                        APR_INT64_T_FMT "\" } }", ms);
}

static int has(const bson_t *b, const char *dotted)
{
    bson_iter_t it, d;

    return bson_iter_init(&it, b) && bson_iter_find_descendant(&it, dotted, &d);
}

/* one write: filter, update and options as JSON */
typedef struct {
    const char *filter, *update, *opts, *cmd;
    int has_set_created, has_oninsert, has_unset;
} write_json;

/* the sub-document at dotted in b, as a view in *out (a bson_t view
 * points into itself: it cannot be returned by value), or an empty one */
static void sub(const bson_t *b, const char *dotted, bson_t *out)
{
    bson_iter_t it, d;
    const uint8_t *data;
    uint32_t len;

    if (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, dotted, &d)
        && (BSON_ITER_HOLDS_DOCUMENT(&d) || BSON_ITER_HOLDS_ARRAY(&d))) {
        if (BSON_ITER_HOLDS_DOCUMENT(&d)) {
            bson_iter_document(&d, &len, &data);
        }
        else {
            bson_iter_array(&d, &len, &data);
        }
        bson_init_static(out, data, len);
        return;
    }
    bson_init(out);
}

/* one update command, taken apart: its statement's filter and update,
 * and the statement's other fields (upsert) as "opts" */
static write_json write_of(const smdb_write_spec *w)
{
    bson_t cmd = BSON_INITIALIZER, filter, update, opts = BSON_INITIALIZER;
    bson_iter_t it;
    write_json out;

    smdb_bson_update(w, NOW, "sessions", &cmd);
    sub(&cmd, "updates.0.q", &filter);
    sub(&cmd, "updates.0.u", &update);
    if (bson_iter_init(&it, &cmd)
        && bson_iter_find_descendant(&it, "updates.0.upsert", &it)
        && BSON_ITER_HOLDS_BOOL(&it)) {
        BSON_APPEND_BOOL(&opts, "upsert", bson_iter_bool(&it));
    }
    out.filter = json(&filter);
    out.update = json(&update);
    out.opts = json(&opts);
    out.has_set_created = has(&update, "$set.created");
    out.has_oninsert = has(&update, "$setOnInsert");
    out.has_unset = has(&update, "$unset");
    out.cmd = json(&cmd);
    bson_destroy(&opts);
    bson_destroy(&cmd);
    return out;
}

static void test_update(void)
{
    smdb_write_spec w;
    write_json j;
    const char *inc = "\"$inc\" : { \"version\" : { \"$numberLong\" : \"1\" } }";

    /* a new session, with expiry and owner */
    memset(&w, 0, sizeof(w));
    w.id = "ID";
    w.value = "a=1";
    w.expiry = apr_time_from_sec(1700000600);
    w.user = "alice";
    w.mode = SMDB_W_NEW;
    w.version = 7;              /* ignored for NEW */
    j = write_of(&w);
    is_str(j.filter, "{ \"_id\" : \"ID\" }", "update NEW: filter _id only");
    is_str(j.update,
           apr_pstrcat(p, "{ \"$set\" : { \"value\" : \"a=1\", \"expiry\" : ",
                       date(1700000600000LL), ", \"user\" : \"alice\", "
                       "\"updated\" : ", date(NOW), ", \"created\" : ",
                       date(NOW), " }, ", inc, " }", NULL),
           "update NEW: $set value, expiry (date, ms), user, updated, "
           "created; $inc version");
    ok(j.has_set_created && !j.has_oninsert,
       "update NEW: created in $set, no $setOnInsert");
    ok(!j.has_unset, "update NEW: no $unset with expiry and user");
    is_str(j.opts, "{ \"upsert\" : true }", "update NEW: upsert true");
    ok(!strncmp(j.cmd, "{ \"update\" : \"sessions\", \"updates\" : [ { \"q\" : ",
                strlen("{ \"update\" : \"sessions\", \"updates\" : [ { \"q\" : ")),
       "update: the command names the collection, one statement q first");

    /* NEW without expiry and owner */
    w.expiry = 0;
    w.user = NULL;
    j = write_of(&w);
    is_str(j.update,
           apr_pstrcat(p, "{ \"$set\" : { \"value\" : \"a=1\", \"updated\" : ",
                       date(NOW), ", \"created\" : ", date(NOW), " }, ", inc,
                       ", \"$unset\" : { \"expiry\" : \"\", \"user\" : \"\" } }",
                       NULL),
           "update NEW without expiry and user: both in $unset, not in $set");

    /* compare-and-set on a version */
    w.mode = SMDB_W_CAS;
    w.version = 4;
    j = write_of(&w);
    is_str(j.filter,
           "{ \"_id\" : \"ID\", \"version\" : { \"$numberLong\" : \"4\" } }",
           "update CAS: filter _id and the version read");
    is_str(j.update,
           apr_pstrcat(p, "{ \"$set\" : { \"value\" : \"a=1\", \"updated\" : ",
                       date(NOW), " }, \"$setOnInsert\" : { \"created\" : ",
                       date(NOW), " }, ", inc,
                       ", \"$unset\" : { \"expiry\" : \"\", \"user\" : \"\" } }",
                       NULL),
           "update CAS: created only in $setOnInsert; $unset expiry, user");
    ok(!j.has_set_created && j.has_oninsert,
       "update CAS: no created in $set");
    is_str(j.opts, "{ \"upsert\" : false }", "update CAS: upsert false");
    w.version = 0;
    j = write_of(&w);
    is_str(j.filter,
           "{ \"_id\" : \"ID\", \"version\" : { \"$numberLong\" : \"0\" } }",
           "update CAS version 0: a version, not $exists");

    /* compare-and-set on a document from before versions */
    w.version = -1;
    w.expiry = apr_time_from_sec(1700000600);
    j = write_of(&w);
    is_str(j.filter,
           "{ \"_id\" : \"ID\", \"version\" : { \"$exists\" : false } }",
           "update CAS version -1: filter version $exists false");
    is_str(j.update,
           apr_pstrcat(p, "{ \"$set\" : { \"value\" : \"a=1\", \"expiry\" : ",
                       date(1700000600000LL), ", \"updated\" : ", date(NOW),
                       " }, \"$setOnInsert\" : { \"created\" : ", date(NOW),
                       " }, ", inc, ", \"$unset\" : { \"user\" : \"\" } }",
                       NULL),
           "update CAS with expiry, no user: $unset user only");
    is_str(j.opts, "{ \"upsert\" : false }", "update CAS -1: upsert false");

    /* last write wins */
    w.mode = SMDB_W_FORCE;
    w.version = 9;
    w.expiry = 0;
    w.user = "bob";
    j = write_of(&w);
    is_str(j.filter, "{ \"_id\" : \"ID\" }",
           "update FORCE: filter _id only, no version");
    is_str(j.update,
           apr_pstrcat(p, "{ \"$set\" : { \"value\" : \"a=1\", \"user\" : "
                       "\"bob\", \"updated\" : ", date(NOW),
                       " }, \"$setOnInsert\" : { \"created\" : ", date(NOW),
                       " }, ", inc, ", \"$unset\" : { \"expiry\" : \"\" } }",
                       NULL),
           "update FORCE with user, no expiry: $unset expiry only");
    is_str(j.opts, "{ \"upsert\" : false }", "update FORCE: upsert false");
}

static void test_write_reply(void)
{
    bson_error_t e;
    apr_int64_t n = -7;
    bson_t *b;

    b = doc("{ \"n\" : 1, \"nModified\" : 1, \"ok\" : 1.0 }");
    ok(smdb_bson_write_reply(b, &n, &e) && n == 1, "write reply: n 1 (int32)");
    bson_destroy(b);
    b = doc("{ \"n\" : { \"$numberLong\" : \"1\" }, \"ok\" : 1 }");
    ok(smdb_bson_write_reply(b, &n, &e) && n == 1, "write reply: n 1 (int64)");
    bson_destroy(b);
    b = doc("{ \"n\" : 0, \"nModified\" : 0, \"ok\" : 1 }");
    ok(smdb_bson_write_reply(b, &n, &e) && n == 0, "write reply: n 0");
    bson_destroy(b);
    b = doc("{ \"ok\" : 1 }");
    n = 5;
    ok(smdb_bson_write_reply(b, &n, &e) && n == 0,
       "write reply: no n counts as 0");
    bson_destroy(b);
    b = doc("{ \"n\" : 0, \"writeErrors\" : [ { \"index\" : 0, "
            "\"code\" : 121, \"errmsg\" : \"Document failed validation\" } ], "
            "\"ok\" : 1 }");
    ok(!smdb_bson_write_reply(b, &n, &e), "write reply: writeErrors fail");
    is_str(e.message, "Document failed validation",
           "write reply: the write error's errmsg");
    ok(e.code == 121 && e.domain == MONGOC_ERROR_SERVER,
       "write reply: its code, in the server domain");
    bson_destroy(b);
    b = doc("{ \"n\" : 1, \"writeConcernError\" : { \"code\" : 64, "
            "\"errmsg\" : \"waiting for replication timed out\" }, "
            "\"ok\" : 1 }");
    ok(!smdb_bson_write_reply(b, &n, &e),
       "write reply: a writeConcernError fails though n is 1");
    ok(e.code == 64 && e.domain == MONGOC_ERROR_WRITE_CONCERN
       && !strcmp(e.message, "waiting for replication timed out"),
       "write reply: the write concern error's code and errmsg");
    bson_destroy(b);
}

static void test_first(void)
{
    bson_t *b, d;
    bson_iter_t it;

    b = doc("{ \"cursor\" : { \"firstBatch\" : [ { \"_id\" : \"A\", "
            "\"value\" : \"v\" }, { \"_id\" : \"B\" } ], \"id\" : 0, "
            "\"ns\" : \"db.c\" }, \"ok\" : 1 }");
    ok(smdb_bson_first(b, &d), "first: a batch with documents");
    ok(bson_iter_init_find(&it, &d, "_id") && !strcmp(bson_iter_utf8(&it, NULL), "A"),
       "first: the first document of the batch");
    bson_destroy(b);
    b = doc("{ \"cursor\" : { \"firstBatch\" : [], \"id\" : 0 }, \"ok\" : 1 }");
    ok(!smdb_bson_first(b, &d), "first: an empty batch is no document");
    bson_destroy(b);
    b = doc("{ \"ok\" : 1 }");
    ok(!smdb_bson_first(b, &d), "first: no cursor is no document");
    bson_destroy(b);
    b = doc("{ \"cursor\" : { \"firstBatch\" : [ 1 ] }, \"ok\" : 1 }");
    ok(!smdb_bson_first(b, &d), "first: a batch of no document");
    bson_destroy(b);
}

static void test_delete(void)
{
    bson_t cmd = BSON_INITIALIZER;

    smdb_bson_delete(&cmd, "sessions", "ID");
    is_str(json(&cmd),
           "{ \"delete\" : \"sessions\", \"deletes\" : [ { \"q\" : "
           "{ \"_id\" : \"ID\" }, \"limit\" : { \"$numberInt\" : \"1\" } } ] }",
           "delete: one statement, by _id, limit 1");
    bson_destroy(&cmd);
}

static smdb_doc_state read_json(const char *j, apr_int64_t max_ms,
                                smdb_doc *d)
{
    bson_t *b = doc(j);
    smdb_doc_state s;

    /* garbage in, so that a field left unset shows */
    d->value = d->user = "garbage";
    d->created_ms = d->version = 12345;
    s = smdb_bson_read(p, b, NOW, max_ms, d);
    bson_destroy(b);
    return s;
}

static void test_read(void)
{
    smdb_doc d;
    smdb_doc_state s;
    const char *full =
        "{ \"_id\" : \"ID\", \"value\" : \"a=1\", \"user\" : \"alice\", "
        "\"expiry\" : { \"$date\" : { \"$numberLong\" : \"1700000060000\" } }, "
        "\"created\" : { \"$date\" : { \"$numberLong\" : \"1699999000000\" } }, "
        "\"version\" : { \"$numberLong\" : \"7\" } }";

    s = read_json(full, 0, &d);
    is_int(s, SMDB_DOC_LIVE, "read: a live session");
    is_str(d.value, "a=1", "read: live: its value");
    is_str(d.user, "alice", "read: live: its owner");
    is_int(d.created_ms, 1699999000000LL, "read: live: created");
    is_int(d.version, 7, "read: live: version");

    s = read_json("{ \"value\" : \"b=2\", \"version\" : 3 }", 0, &d);
    is_int(s, SMDB_DOC_LIVE, "read: live without user, expiry, created");
    ok(d.user == NULL && d.value && !strcmp(d.value, "b=2"),
       "read: no user field: user NULL");
    is_int(d.created_ms, NOW, "read: created absent: now");
    is_int(d.version, 3, "read: version as int32");

    s = read_json("{ \"value\" : \"b=2\", \"user\" : 5 }", 0, &d);
    ok(s == SMDB_DOC_LIVE && d.user == NULL,
       "read: a user that is no string: none");
    is_int(d.version, -1, "read: version absent: -1");

    s = read_json("{ \"value\" : \"a=1\", \"user\" : \"alice\", "
                  "\"expiry\" : { \"$date\" : { \"$numberLong\" : "
                  "\"1700000000000\" } }, \"version\" : 2, "
                  "\"created\" : { \"$date\" : { \"$numberLong\" : \"1\" } } }",
                  0, &d);
    is_int(s, SMDB_DOC_EXPIRED, "read: expiry now: expired");
    ok(d.value == NULL && d.user == NULL,
       "read: expired: no value, no user");
    ok(d.version == 2 && d.created_ms == 1,
       "read: expired: created and version still read");
    s = read_json("{ \"value\" : \"a=1\", \"expiry\" : { \"$date\" : "
                  "{ \"$numberLong\" : \"1700000000001\" } } }", 0, &d);
    is_int(s, SMDB_DOC_LIVE, "read: expiry 1 ms ahead: live");
    s = read_json("{ \"value\" : \"a=1\", \"expiry\" : 1 }", 0, &d);
    is_int(s, SMDB_DOC_LIVE, "read: an expiry that is no date is ignored");

    /* SessionMongoDBMaxLifetime: created 1000 s before NOW */
    s = read_json(full, 1000000, &d);
    is_int(s, SMDB_DOC_TOO_OLD, "read: created max lifetime ago: too old");
    ok(d.value == NULL && d.created_ms == 1699999000000LL,
       "read: too old: no value, created read");
    s = read_json(full, 1000001, &d);
    is_int(s, SMDB_DOC_LIVE, "read: 1 ms short of the max lifetime: live");
    s = read_json("{ \"value\" : \"a=1\" }", 1, &d);
    is_int(s, SMDB_DOC_LIVE,
           "read: created absent counts as now, never too old");

    s = read_json("{ \"user\" : \"alice\", \"version\" : 1 }", 0, &d);
    is_int(s, SMDB_DOC_NO_VALUE, "read: no value field");
    ok(d.value == NULL && d.user == NULL, "read: no value: nothing set");
    s = read_json("{ \"value\" : 42 }", 0, &d);
    is_int(s, SMDB_DOC_NO_VALUE, "read: a value that is no string");
    s = read_json("{ \"value\" : { \"$binary\" : { \"base64\" : \"YQ==\", "
                  "\"subType\" : \"00\" } } }", 0, &d);
    is_int(s, SMDB_DOC_NO_VALUE, "read: a binary value");
}

static void test_find_sweep_indexes(void)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER,
           cmd = BSON_INITIALIZER;

    smdb_bson_find(&opts, "sessions", "0123abcd");
    is_str(json(&opts),
           "{ \"find\" : \"sessions\", \"filter\" : { \"_id\" : \"0123abcd\" }, "
           "\"projection\" : { \"value\" : { \"$numberInt\" : \"1\" }, "
           "\"expiry\" : { \"$numberInt\" : \"1\" }, "
           "\"user\" : { \"$numberInt\" : \"1\" }, "
           "\"created\" : { \"$numberInt\" : \"1\" }, "
           "\"version\" : { \"$numberInt\" : \"1\" } }, "
           "\"limit\" : { \"$numberLong\" : \"1\" }, \"singleBatch\" : true }",
           "find: the command: filter _id, projection of the five fields "
           "read, limit 1, singleBatch");
    bson_destroy(&filter);
    bson_init(&filter);
    smdb_bson_sweep_filter(&filter, NOW);
    is_str(json(&filter),
           apr_pstrcat(p, "{ \"expiry\" : { \"$lt\" : ", date(NOW), " } }",
                       NULL),
           "sweep filter: expiry $lt now, as a date");
    smdb_bson_index(&cmd, "sessions", SMDB_INDEX_TTL);
    is_str(json(&cmd),
           "{ \"createIndexes\" : \"sessions\", \"indexes\" : [ "
           "{ \"key\" : { \"expiry\" : { \"$numberInt\" : \"1\" } }, "
           "\"name\" : \"expiry_1\", "
           "\"expireAfterSeconds\" : { \"$numberInt\" : \"0\" } } ] }",
           "index TTL: on expiry, expireAfterSeconds 0, alone");
    bson_destroy(&cmd);
    bson_init(&cmd);
    smdb_bson_index(&cmd, "sessions", SMDB_INDEX_USER);
    is_str(json(&cmd),
           "{ \"createIndexes\" : \"sessions\", \"indexes\" : [ "
           "{ \"key\" : { \"user\" : { \"$numberInt\" : \"1\" } }, "
           "\"name\" : \"user_1\" } ] }",
           "index user: on user, no TTL, alone");
    bson_destroy(&filter);
    bson_destroy(&opts);
    bson_destroy(&cmd);
}

static void test_client(void)
{
    smdb_write_spec w;
    write_json j;

    memset(&w, 0, sizeof(w));
    w.id = "ID";
    w.value = "a=1";
    w.user = "alice";
    w.mode = SMDB_W_CAS;
    w.version = 3;
    w.client_ip = "192.0.2.7";
    w.client_agent = "curl/8";
    j = write_of(&w);
    ok(strstr(j.update, "\"client\" : { \"ip\" : \"192.0.2.7\", "
              "\"agent\" : \"curl/8\" }") != NULL,
       "update with a client: $set client {ip, agent}");
    w.client_agent = NULL;
    j = write_of(&w);
    ok(strstr(j.update, "\"client\" : { \"ip\" : \"192.0.2.7\" }") != NULL,
       "update with a client without User-Agent: ip only");
    w.client_ip = NULL;
    j = write_of(&w);
    ok(!strstr(j.update, "client"), "update without a client: none set");
}

static void test_list(void)
{
    bson_t cmd = BSON_INITIALIZER, *reply;
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(smdb_listed));
    const char *live = "0123456789abcdef0123456789abcdef"
                       "0123456789abcdef0123456789abcdef";
    const char *old = "1123456789abcdef0123456789abcdef"
                      "0123456789abcdef0123456789abcdef";
    const char *gone = "2123456789abcdef0123456789abcdef"
                       "0123456789abcdef0123456789abcdef";
    const char *ids[2] = {"A", "B"};
    smdb_listed *l;
    int n;

    smdb_bson_list(&cmd, "sessions", "alice", NOW, 1000);
    is_str(json(&cmd),
           apr_pstrcat(p, "{ \"find\" : \"sessions\", \"filter\" : { "
                       "\"user\" : \"alice\", \"$or\" : [ "
                       "{ \"expiry\" : { \"$exists\" : false } }, "
                       "{ \"expiry\" : { \"$gt\" : ", date(NOW), " } } ] }, "
                       "\"projection\" : { \"created\" : { \"$numberInt\" : "
                       "\"1\" }, \"updated\" : { \"$numberInt\" : \"1\" }, "
                       "\"expiry\" : { \"$numberInt\" : \"1\" }, "
                       "\"client\" : { \"$numberInt\" : \"1\" } }, "
                       "\"limit\" : { \"$numberLong\" : \"1000\" }, "
                       "\"batchSize\" : { \"$numberLong\" : \"1000\" }, "
                       "\"singleBatch\" : true }", NULL),
           "list: equality on user (its index), live only, four fields, "
           "bounded, one batch");
    reply = doc(apr_pstrcat(p,
        "{ \"cursor\" : { \"firstBatch\" : [ "
        "{ \"_id\" : \"", live, "\", \"created\" : ", date(NOW - 5000),
        ", \"updated\" : ", date(NOW - 1000), ", \"expiry\" : ",
        date(NOW + 60000), ", \"client\" : { \"ip\" : \"::1\", "
        "\"agent\" : \"UA\" } }, "
        "{ \"_id\" : \"alice\", \"created\" : ", date(NOW), " }, "
        "{ \"_id\" : \"", old, "\", \"created\" : ", date(NOW - 7200000),
        " }, "
        "{ \"_id\" : \"", gone, "\", \"expiry\" : ", date(NOW), " } "
        "], \"id\" : 0, \"ns\" : \"db.sessions\" }, \"ok\" : 1 }", NULL));
    n = smdb_bson_list_read(p, reply, NOW, 3600000, out);
    is_int(n, 4, "list_read: four documents in the batch");
    is_int(out->nelts, 1, "list_read: one live cookie session (not the "
           "per-user one, the one past its lifetime, the expired one)");
    l = &APR_ARRAY_IDX(out, 0, smdb_listed);
    is_str(l->id, live, "list_read: its _id");
    is_int(l->created_ms, NOW - 5000, "list_read: created");
    is_int(l->updated_ms, NOW - 1000, "list_read: updated");
    is_int(l->expiry_ms, NOW + 60000, "list_read: expiry");
    is_str(l->ip, "::1", "list_read: client.ip");
    is_str(l->agent, "UA", "list_read: client.agent");
    bson_destroy(reply);
    out->nelts = 0;
    reply = doc(apr_pstrcat(p, "{ \"cursor\" : { \"firstBatch\" : [ "
                            "{ \"_id\" : \"", old, "\" } ] } }", NULL));
    smdb_bson_list_read(p, reply, NOW, 0, out);
    is_int(out->nelts, 1, "list_read: no expiry, no lifetime: live");
    l = &APR_ARRAY_IDX(out, 0, smdb_listed);
    ok(!l->expiry_ms && !l->created_ms && !l->ip && !l->agent,
       "list_read: absent fields are 0 and NULL");
    bson_destroy(reply);
    reply = doc("{ \"ok\" : 0 }");
    is_int(smdb_bson_list_read(p, reply, NOW, 0, out), 0,
           "list_read: no cursor, nothing");
    bson_destroy(reply);

    bson_destroy(&cmd);
    bson_init(&cmd);
    smdb_bson_delete_owned(&cmd, "sessions", "alice", ids, 2);
    is_str(json(&cmd),
           "{ \"delete\" : \"sessions\", \"deletes\" : [ { \"q\" : { "
           "\"_id\" : { \"$in\" : [ \"A\", \"B\" ] }, \"user\" : "
           "\"alice\" }, \"limit\" : { \"$numberInt\" : \"0\" } } ] }",
           "delete_owned: these ids, only the user's, every match");
    bson_destroy(&cmd);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_update();
    test_write_reply();
    test_first();
    test_delete();
    test_read();
    test_find_sweep_indexes();
    test_client();
    test_list();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
