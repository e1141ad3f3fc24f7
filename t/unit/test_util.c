/* Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c. */

/*
 * Unit tests of smdb_util.c: session tokens and their document ids,
 * cookie attribute lists, connection string redaction, and the removal
 * of a cookie from a Cookie header.
 */
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "smdb_util.h"
#include "tap.h"

static apr_pool_t *p;

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* n copies of c, then tail */
static const char *rep(char c, int n, const char *tail)
{
    char *s = apr_palloc(p, n + strlen(tail) + 1);

    memset(s, c, n);
    strcpy(s + n, tail);
    return s;
}

static void test_tokens(void)
{
    const char *t = smdb_token_new(p), *u = smdb_token_new(p);
    int i, all_valid = 1;

    ok(t != NULL, "smdb_token_new makes a token");
    is_int(t ? (long long)strlen(t) : -1, SMDB_TOKEN_LEN,
           "a token has %d characters", SMDB_TOKEN_LEN);
    ok(t && strspn(t, b64url) == SMDB_TOKEN_LEN,
       "a token is base64url only");
    ok(t && smdb_token_valid(t), "a new token is valid");
    ok(t && u && strcmp(t, u), "two new tokens differ");
    for (i = 0; i < 200; i++) {
        all_valid &= smdb_token_valid(smdb_token_new(p));
    }
    ok(all_valid, "200 more new tokens are all valid");

    ok(smdb_token_valid(rep('A', 43, "")), "43 x 'A' is valid");
    ok(smdb_token_valid(rep('_', 42, "E")),
       "42 x '_' then 'E' (low bits zero) is valid");
    ok(!smdb_token_valid(rep('A', 42, "")), "42 characters are refused");
    ok(!smdb_token_valid(rep('A', 44, "")), "44 characters are refused");
    ok(!smdb_token_valid(""), "the empty string is refused");
    ok(!smdb_token_valid(rep('A', 42, "B")),
       "a last character with low bits set is refused (no 32-byte token "
       "ends so)");
    ok(!smdb_token_valid(rep('A', 20, "+AAAAAAAAAAAAAAAAAAAAAA")),
       "'+' (base64, not base64url) is refused");
    ok(!smdb_token_valid(rep('A', 20, "/AAAAAAAAAAAAAAAAAAAAAA")),
       "'/' is refused");
    ok(!smdb_token_valid(rep('A', 42, "=")), "'=' padding is refused");
    ok(!smdb_token_valid(rep('A', 20, ".AAAAAAAAAAAAAAAAAAAAAA")),
       "'.' is refused");
    ok(!smdb_token_valid(rep('A', 43, " ")), "a trailing space is refused");
}

static void test_token_id(void)
{
    const char *id = smdb_token_id(p, "abc");
    const char *t = smdb_token_new(p);

    /* FIPS 180-2, appendix B.1 */
    is_str(id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "smdb_token_id(\"abc\") is its SHA-256 in lowercase hex");
    is_str(smdb_token_id(p, ""),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "smdb_token_id(\"\") is the SHA-256 of nothing");
    id = smdb_token_id(p, t);
    ok(id && strlen(id) == SMDB_ID_LEN
       && strspn(id, "0123456789abcdef") == SMDB_ID_LEN,
       "a token's id is 64 lowercase hex digits");
    is_str(smdb_token_id(p, t), id, "the id of a token is deterministic");
    ok(id && strcmp(smdb_token_id(p, smdb_token_new(p)), id),
       "another token has another id");
}

static void test_attr_named(void)
{
    ok(smdb_attr_named("path=/; Secure; HttpOnly", "secure"),
       "attr_named: a bare attribute, case-insensitively");
    ok(smdb_attr_named("path=/;SameSite=Strict", "samesite"),
       "attr_named: \"attr=value\" after ';' without space");
    ok(smdb_attr_named("HttpOnly", "HttpOnly"),
       "attr_named: the only attribute, at the end of the list");
    ok(smdb_attr_named(" ;\tdomain=example.org", "Domain"),
       "attr_named: after blanks and an empty attribute");
    ok(!smdb_attr_named("path=/; SameSiteX=1", "SameSite"),
       "attr_named: not the prefix of a longer name");
    ok(!smdb_attr_named("HttpOnlyX", "HttpOnly"),
       "attr_named: not the prefix of the only name");
    ok(!smdb_attr_named("path=/secure", "secure"),
       "attr_named: not a value");
    ok(!smdb_attr_named("path=/", "secure"), "attr_named: absent");
    ok(!smdb_attr_named("", "secure"), "attr_named: empty list");
    ok(!smdb_attr_named(NULL, "secure"), "attr_named: no list");
}

static void test_redact(void)
{
    is_str(smdb_redact(p, "mongodb://alice:s3cret@db1:27017,db2/app"),
           "mongodb://alice:***@db1:27017,db2/app",
           "redact: the password of the user info");
    is_str(smdb_redact(p, "mongodb://alice:p?ss@db1/app?authSource=admin"),
           "mongodb://alice:***@db1/app?authSource=admin",
           "redact: a password with '?', options kept");
    is_str(smdb_redact(p, "mongodb://alice:p@ss@db1/app"),
           "mongodb://alice:***@db1/app",
           "redact: the user info ends at the last '@'");
    is_str(smdb_redact(p, "mongodb://alice@db1/app"),
           "mongodb://alice@db1/app",
           "redact: a user without password is kept");
    is_str(smdb_redact(p, "mongodb://db1/app?tls=true&"
                          "tlsCertificateKeyFilePassword=k3y&appname=x"),
           "mongodb://db1/app?tls=true&tlsCertificateKeyFilePassword=***"
           "&appname=x",
           "redact: an option whose name contains \"password\"");
    is_str(smdb_redact(p, "mongodb://u:pw@db1/?PASSWORD=a;"
                          "authMechanismProperties=AWS_SESSION_TOKEN:tok"),
           "mongodb://u:***@db1/?PASSWORD=***&authMechanismProperties=***",
           "redact: options by name case-insensitively, "
           "authMechanismProperties, ';' read as '&'");
    is_str(smdb_redact(p, "mongodb+srv://u:pw@cluster.example.org/app"),
           "mongodb+srv://u:***@cluster.example.org/app",
           "redact: mongodb+srv://");
    is_str(smdb_redact(p, "mongodb://db1:27017/app?w=majority"),
           "mongodb://db1:27017/app?w=majority",
           "redact: nothing to redact, unchanged");
    is_str(smdb_redact(p, "not a uri"), "not a uri",
           "redact: no scheme, unchanged");
    /* libmongoc reads the user info only before the first '/', so an
     * '@' in an option's value is just a character of that value. */
    is_str(smdb_redact(p, "mongodb://db1/app?appname=ops@site&"
                          "tlsCertificateKeyFilePassword=k3y"),
           "mongodb://db1/app?appname=ops@site&"
           "tlsCertificateKeyFilePassword=***",
           "redact: a password option after an option value with '@', "
           "without user info");
    is_str(smdb_redact(p, "mongodb://db1/app?"
                          "tlsCertificateKeyFilePassword=p@ss"),
           "mongodb://db1/app?tlsCertificateKeyFilePassword=***",
           "redact: a password option whose value has '@', "
           "without user info");
    is_str(smdb_redact(p, "mongodb://u:s3cret@db1/app?appname=a@b&"
                          "tlsCertificateKeyFilePassword=k"),
           "mongodb://u:***@db1/app?appname=a@b&"
           "tlsCertificateKeyFilePassword=***",
           "redact: user info and options, with an '@' in the options");
    is_str(smdb_redact(p, "mongodb://u:p?w@db1/app?authMechanism=MONGODB-AWS&"
                          "authMechanismProperties=AWS_SESSION_TOKEN:tok"),
           "mongodb://u:***@db1/app?authMechanism=MONGODB-AWS&"
           "authMechanismProperties=***",
           "redact: a '?' in the password, an AWS session token");
}

static void test_cookie_without(void)
{
    const char *h;
    char tok[SMDB_TOKEN_LEN + 1];

    is_str(smdb_cookie_without(p, "a=1; session=tok; b=2", "session", 0),
           "a=1; b=2", "cookie_without: removes the named cookie");
    is_str(smdb_cookie_without(p, "session=tok", "session", 0), "",
           "cookie_without: \"\" when nothing is left");
    is_str(smdb_cookie_without(p, "session=1;session=2", "session", 0), "",
           "cookie_without: every pair of that name");
    is_str(smdb_cookie_without(p, "a=1; session=tok", "session", 0), "a=1",
           "cookie_without: the last pair, and the separator before it");
    is_str(smdb_cookie_without(p, "data=a,b; session=tok; c=\"x, y\"",
                               "session", 0),
           "data=a,b; c=\"x, y\"",
           "cookie_without: other cookies byte for byte, commas and all");
    is_str(smdb_cookie_without(p, "a=1,session=tok,b=2", "session", 0),
           "a=1,b=2", "cookie_without: ',' separates pairs too");
    is_str(smdb_cookie_without(p, "a=1, session=tok", "session", 0), "a=1",
           "cookie_without: two Cookie lines as httpd joins them");
    is_str(smdb_cookie_without(p, "c=\"x,session=tok\"", "session", 0),
           "c=\"x,session=tok\"",
           "cookie_without: no ',' separator inside double quotes");
    is_str(smdb_cookie_without(p, "a=1;\tsession=t;;b=2", "session", 0),
           "a=1;\t;b=2", "cookie_without: blanks and empty pairs kept");
    is_str(smdb_cookie_without(p, "session = t ; b=2", "session", 0), "b=2",
           "cookie_without: blanks around name and value");
    is_str(smdb_cookie_without(p, "sessionX=1; xsession=2; Session=3; "
                                  "session2=4", "session", 0),
           "sessionX=1; xsession=2; Session=3; session2=4",
           "cookie_without: only the exact name (case-sensitive)");
    is_str(smdb_cookie_without(p, "a=session=tok", "session", 0),
           "a=session=tok", "cookie_without: not a value");
    is_str(smdb_cookie_without(p, "session; a=1", "session", 0),
           "session; a=1", "cookie_without: a name without '=' is kept");
    is_str(smdb_cookie_without(p, "", "session", 0), "",
           "cookie_without: empty header");
    h = "a=1;b=2";
    ok(smdb_cookie_without(p, h, "session", 0) == h,
       "cookie_without: without the cookie, the header itself");
    memset(tok, 'A', SMDB_TOKEN_LEN);
    tok[SMDB_TOKEN_LEN] = '\0';
    is_str(smdb_cookie_without(p, apr_pstrcat(p, "session=eyJhIjoxfQ; "
                                              "session=", tok, "; b=2",
                                              NULL), "session", 1),
           "session=eyJhIjoxfQ; b=2",
           "cookie_without: tokens only: another app's value stays");
}

static void test_cookie_scan(void)
{
    smdb_cookie_seen seen = {NULL, 0, 0};
    char *big;
    int i;

    smdb_cookie_scan("a=1; sid=tok; b=2", "sid", &seen);
    ok(seen.val && seen.len == 3 && !memcmp(seen.val, "tok", 3)
       && !seen.clash, "cookie_scan: finds the value");
    smdb_cookie_scan("sid=tok", "sid", &seen);
    ok(!seen.clash, "cookie_scan: the same value again is no clash");
    smdb_cookie_scan("sid=other", "sid", &seen);
    ok(seen.clash, "cookie_scan: another value is a clash");
    memset(&seen, 0, sizeof(seen));
    smdb_cookie_scan("xsid=1; sidx=2; Sid=3; a=sid=4; sid", "sid", &seen);
    ok(!seen.val, "cookie_scan: only the exact name, with '='");
    smdb_cookie_scan(" sid =\ttok ;", "sid", &seen);
    ok(seen.val && seen.len == 3 && !memcmp(seen.val, "tok", 3),
       "cookie_scan: blanks around name and value");
    memset(&seen, 0, sizeof(seen));
    smdb_cookie_scan("sid=", "sid", &seen);
    ok(seen.val && seen.len == 0, "cookie_scan: an empty value");
    memset(&seen, 0, sizeof(seen));
    smdb_cookie_scan("a=1, sid=tok", "sid", &seen);
    ok(seen.val && seen.len == 3, "cookie_scan: two Cookie lines joined "
       "with a comma");
    memset(&seen, 0, sizeof(seen));
    smdb_cookie_scan("c=\"x,sid=tok\"", "sid", &seen);
    ok(!seen.val, "cookie_scan: no ',' separator inside double quotes");
    /* 64 KB of "a;" then the cookie: one pass */
    big = apr_palloc(p, 65536 + 8);
    for (i = 0; i < 65536; i += 2) {
        big[i] = 'a';
        big[i + 1] = ';';
    }
    strcpy(big + 65536, "sid=t");
    memset(&seen, 0, sizeof(seen));
    smdb_cookie_scan(big, "sid", &seen);
    ok(seen.val && seen.len == 1, "cookie_scan: after 32768 empty pairs");
}

static void test_cache_control(void)
{
    is_str(smdb_cache_control(p, NULL), "no-cache, private",
           "cache_control: nothing set");
    is_str(smdb_cache_control(p, "no-cache, private"), "no-cache, private",
           "cache_control: ours again: once");
    is_str(smdb_cache_control(p, "no-cache, private, no-cache, private"),
           "no-cache, private", "cache_control: ours twice: once");
    is_str(smdb_cache_control(p, "max-age=60, must-revalidate"),
           "max-age=60, must-revalidate, no-cache, private",
           "cache_control: the application's directives kept");
    is_str(smdb_cache_control(p, "Public, max-age=600"),
           "max-age=600, no-cache, private",
           "cache_control: public dropped (any case)");
    is_str(smdb_cache_control(p, "private=\"set-cookie\", no-store"),
           "no-store, no-cache, private",
           "cache_control: private limited to fields: the whole response");
    is_str(smdb_cache_control(p, " , ,"), "no-cache, private",
           "cache_control: empty directives");
}

static void test_listed_id(void)
{
    const char *id = smdb_token_id(p, "some token");
    const char *a = smdb_listed_id(p, id), *b = smdb_listed_id(p, id);

    ok(smdb_id_valid(id), "id_valid: a token's _id");
    ok(!smdb_id_valid("alice"), "id_valid: a per-user _id is none");
    ok(!smdb_id_valid(rep('A', SMDB_ID_LEN, "")),
       "id_valid: uppercase hex is none");
    ok(!smdb_id_valid(rep('a', SMDB_ID_LEN - 1, "")),
       "id_valid: one digit short");
    is_int(a ? (long long)strlen(a) : -1, SMDB_LISTED_ID_LEN,
           "listed_id: %d hex digits", SMDB_LISTED_ID_LEN);
    ok(a && strspn(a, "0123456789abcdef") == SMDB_LISTED_ID_LEN,
       "listed_id: lowercase hex");
    is_str(a, b, "listed_id: stable");
    ok(a && strncmp(a, id, SMDB_LISTED_ID_LEN)
       && !strstr(id, a), "listed_id: not a part of the _id");
    ok(a && strcmp(a, smdb_listed_id(p, smdb_token_id(p, "other token"))),
       "listed_id: another session, another id");
    /* SHA-256 of "mod_session_mongodb listed session\n" and "x" */
    is_str(smdb_listed_id(p, "x"), "c3992959db1712f639f979b1016cca88",
           "listed_id: the documented hash");
    ok(smdb_listed_id(p, rep('a', SMDB_ID_LEN + 1, "")) == NULL,
       "listed_id: no id longer than an _id");
}

static void test_utf8_clean(void)
{
    is_str(smdb_utf8_clean(p, "Mozilla/5.0 (X11)", 200),
           "Mozilla/5.0 (X11)", "utf8_clean: ASCII as it is");
    is_str(smdb_utf8_clean(p, "Zo\xc3\xab", 200), "Zo\xc3\xab",
           "utf8_clean: UTF-8 as it is");
    is_str(smdb_utf8_clean(p, "a\xff" "b", 200), "a\xef\xbf\xbd" "b",
           "utf8_clean: a stray byte becomes U+FFFD");
    is_str(smdb_utf8_clean(p, "\xc0\xaf", 200),
           "\xef\xbf\xbd\xef\xbf\xbd", "utf8_clean: an overlong form");
    is_str(smdb_utf8_clean(p, "\xed\xa0\x80", 200),
           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
           "utf8_clean: a surrogate");
    is_str(smdb_utf8_clean(p, "\xf4\x90\x80\x80", 4),
           "\xef\xbf\xbd", "utf8_clean: past U+10FFFF, cut at 4 bytes");
    is_str(smdb_utf8_clean(p, "\xe2\x82", 200), "\xef\xbf\xbd\xef\xbf\xbd",
           "utf8_clean: a character cut short");
    is_int((long long)strlen(smdb_utf8_clean(p, rep('x', 300, ""), 200)),
           200, "utf8_clean: cut to 200 bytes");
    is_str(smdb_utf8_clean(p, rep('x', 199, "\xc3\xab"), 200),
           rep('x', 199, ""), "utf8_clean: never inside a character");
    is_str(smdb_utf8_clean(p, "\xf0\x9f\x98\x80", 200), "\xf0\x9f\x98\x80",
           "utf8_clean: four bytes");
}

static void test_json_string(void)
{
    is_str(smdb_json_string(p, NULL), "null", "json_string: NULL");
    is_str(smdb_json_string(p, ""), "\"\"", "json_string: empty");
    is_str(smdb_json_string(p, "a \"q\" \\"), "\"a \\\"q\\\" \\\\\"",
           "json_string: quotes and backslashes");
    is_str(smdb_json_string(p, "\x01\n\x1f\x7f"),
           "\"\\u0001\\u000a\\u001f\\u007f\"", "json_string: controls");
    is_str(smdb_json_string(p, "<script>&"),
           "\"\\u003cscript\\u003e\\u0026\"", "json_string: markup");
    is_str(smdb_json_string(p, "Zo\xc3\xab"), "\"Zo\xc3\xab\"",
           "json_string: UTF-8 as it is");
    is_str(smdb_json_string(p, "a\xff\xc3"), "\"a\\ufffd\\ufffd\"",
           "json_string: bytes that are not UTF-8");
    is_str(smdb_json_string(p, "\xe2\x80\xa8\xe2\x80\xa9"),
           "\"\\u2028\\u2029\"", "json_string: line separators");
}

static void test_rfc3339(void)
{
    is_str(smdb_rfc3339(p, 0), "1970-01-01T00:00:00.000Z",
           "rfc3339: the epoch");
    is_str(smdb_rfc3339(p, APR_INT64_C(1767225600000) + 312),
           "2026-01-01T00:00:00.312Z", "rfc3339: milliseconds, UTC");
}

static void test_same_origin(void)
{
    static const struct {
        const char *origin, *scheme, *host;
        unsigned port;
        int same;
        const char *what;
    } cases[] = {
        {"http://example.com", "http", "example.com", 80, 1, "default port"},
        {"http://example.com:80", "http", "example.com", 80, 1,
         "default port named"},
        {"HTTP://Example.COM:8529", "http", "example.com", 8529, 1,
         "case and a port"},
        {"https://[::1]:8443", "https", "[::1]", 8443, 1, "IPv6"},
        {"https://example.com", "https", "example.com", 0, 1,
         "port 0 is the default"},
        {"http://example.com:8080", "http", "example.com", 80, 0,
         "another port"},
        {"https://example.com", "http", "example.com", 80, 0,
         "another scheme"},
        {"http://evil.example", "http", "example.com", 80, 0,
         "another host"},
        {"http://example.com.evil", "http", "example.com", 80, 0,
         "a longer host"},
        {"http://example.com/", "http", "example.com", 80, 0, "a path"},
        {"http://u@example.com", "http", "example.com", 80, 0, "user info"},
        {"null", "http", "example.com", 80, 0, "null"},
        {"http://example.com:", "http", "example.com", 80, 0,
         "an empty port"},
        {"http://example.com:80x", "http", "example.com", 80, 0,
         "a bad port"},
        {NULL, "http", "example.com", 80, 0, "none"}
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(smdb_same_origin(cases[i].origin, cases[i].scheme,
                                cases[i].host, cases[i].port) != 0,
               cases[i].same, "same_origin: %s", cases[i].what);
    }
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_tokens();
    test_token_id();
    test_attr_named();
    test_redact();
    test_cookie_without();
    test_cookie_scan();
    test_cache_control();
    test_listed_id();
    test_utf8_clean();
    test_json_string();
    test_rfc3339();
    test_same_origin();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
