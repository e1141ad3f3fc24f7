/* Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * smdb_util.c: the parts of mod_session_mongodb that parse what clients
 * and configurations send, kept free of httpd so that they can be fuzzed
 * on their own (fuzz/): session tokens, cookie attribute lists, and the
 * redaction of connection strings for the log.
 */

#include "smdb_util.h"

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_general.h"
#include "apr_time.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

/** Redact credentials from a connection string, in p: the password of
 * the user info and the value of every option whose name contains
 * "password" become "***". */
const char *smdb_redact(apr_pool_t *p, const char *uri)
{
    const char *host = strstr(uri, "://"), *at, *end, *colon;
    char *out, *opts, *opt, *last;
    const char *sep = "";

    if (!host) {
        return uri;
    }
    host += 3;
    /* the user info ends at the last '@' before the path: libmongoc lets
     * a password hold an unescaped '?' */
    end = strchr(host, '/');
    at = NULL;
    for (colon = host; *colon && (!end || colon < end); colon++) {
        if (*colon == '@') {
            at = colon;
        }
    }
    if (at && (colon = memchr(host, ':', at - host)) != NULL) {
        out = apr_pstrcat(p, apr_pstrmemdup(p, uri, colon + 1 - uri), "***",
                          at, NULL);
        /* the same '@' in out, after "***" */
        host = out + (colon + 1 - uri) + 3 + 1;
    }
    else {
        out = apr_pstrdup(p, uri);
        host = out + (at ? at + 1 - uri : host - uri);
    }
    /* options start at the first '?' after the user info (an '@' in
     * them is no user info) */
    opts = strchr(host, '?');
    if (!opts) {
        return out;
    }
    *opts++ = '\0';
    out = apr_pstrcat(p, out, "?", NULL);
    for (opt = apr_strtok(opts, "&;", &last); opt;
         opt = apr_strtok(NULL, "&;", &last)) {
        char *eq = strchr(opt, '='), *name;

        if (eq) {
            name = apr_pstrmemdup(p, opt, eq - opt);
            for (char *c = name; *c; c++) {
                *c = apr_tolower(*c);
            }
            if (strstr(name, "password")
                || !strcmp(name, "authmechanismproperties")) {
                eq[1] = '\0';
                opt = apr_pstrcat(p, opt, "***", NULL);
            }
        }
        out = apr_pstrcat(p, out, sep, opt, NULL);
        sep = "&";
    }
    return out;
}

static const char smdb_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A fresh token: 32 random bytes as 43 base64url characters, in p. */
const char *smdb_token_new(apr_pool_t *p)
{
    unsigned char raw[SMDB_TOKEN_BYTES + 1];
    char *out = apr_palloc(p, SMDB_TOKEN_LEN + 1);
    int i, o = 0;

    if (apr_generate_random_bytes(raw, SMDB_TOKEN_BYTES) != APR_SUCCESS) {
        return NULL;
    }
    raw[SMDB_TOKEN_BYTES] = 0;
    for (i = 0; i < SMDB_TOKEN_BYTES; i += 3) {
        unsigned v = raw[i] << 16 | raw[i + 1] << 8
                     | (i + 2 < SMDB_TOKEN_BYTES ? raw[i + 2] : 0);

        out[o++] = smdb_b64url[v >> 18 & 63];
        out[o++] = smdb_b64url[v >> 12 & 63];
        out[o++] = smdb_b64url[v >> 6 & 63];
        if (i + 2 < SMDB_TOKEN_BYTES) {
            out[o++] = smdb_b64url[v & 63];
        }
    }
    out[o] = '\0';
    return out;
}

/** True if s is exactly a token this module could have issued: 43
 * base64url characters, the last one carrying 4 bits (its low 2 bits
 * are zero). Anything else never reaches MongoDB. */
int smdb_token_valid(const char *s)
{
    int i;
    const char *pos;

    for (i = 0; i < SMDB_TOKEN_LEN; i++) {
        if (!s[i] || !(pos = strchr(smdb_b64url, s[i]))) {
            return 0;
        }
    }
    return s[i] == '\0' && ((pos - smdb_b64url) & 3) == 0;
}

/** The document id of a token: lowercase hex SHA-256, in p. */
/** The lowercase hex SHA-256 of n bytes at data, in p; NULL on a digest
 * failure. */
static const char *smdb_sha256_hex(apr_pool_t *p, const void *data,
                                   apr_size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;
    char *out = apr_palloc(p, SMDB_ID_LEN + 1);

    if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL)
        || len * 2 != SMDB_ID_LEN) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        out[2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    out[SMDB_ID_LEN] = '\0';
    return out;
}

const char *smdb_token_id(apr_pool_t *p, const char *token)
{
    return smdb_sha256_hex(p, token, strlen(token));
}

int smdb_id_valid(const char *id)
{
    return id && strlen(id) == SMDB_ID_LEN
           && strspn(id, "0123456789abcdef") == SMDB_ID_LEN;
}

const char *smdb_listed_id(apr_pool_t *p, const char *id)
{
    /* a name of its own for this hash, so that it equals no other hash
     * of the _id that anything may compute */
    static const char label[] = "mod_session_mongodb listed session\n";
    char buf[sizeof(label) + SMDB_ID_LEN];
    apr_size_t n = strlen(id);
    const char *h;

    if (n > SMDB_ID_LEN) {
        return NULL;
    }
    memcpy(buf, label, sizeof(label) - 1);
    memcpy(buf + sizeof(label) - 1, id, n);
    h = smdb_sha256_hex(p, buf, sizeof(label) - 1 + n);
    return h ? apr_pstrmemdup(p, h, SMDB_LISTED_ID_LEN) : NULL;
}

/** True if the ';'-separated attribute list names attribute attr. */
int smdb_attr_named(const char *attrs, const char *attr)
{
    apr_size_t n = strlen(attr);
    const char *a = attrs;

    while (a && *a) {
        while (*a == ' ' || *a == '\t' || *a == ';') {
            a++;
        }
        if (!strncasecmp(a, attr, n) && strchr("=; \t", a[n])) {
            return 1;
        }
        a = strchr(a, ';');
    }
    return 0;
}

const char *smdb_attr_value(apr_pool_t *p, const char *attrs,
                            const char *attr)
{
    apr_size_t n = strlen(attr);
    const char *a = attrs, *found = NULL;

    while (a && *a) {
        while (*a == ' ' || *a == '\t' || *a == ';') {
            a++;
        }
        if (!strncasecmp(a, attr, n)) {
            const char *s = a + n;

            while (*s == ' ' || *s == '\t') {
                s++;
            }
            if (!*s || *s == ';') {
                found = "";
            }
            else if (*s == '=') {
                const char *e;

                for (s++; *s == ' ' || *s == '\t'; s++) {
                }
                e = strchr(s, ';');
                e = e ? e : s + strlen(s);
                while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
                    e--;
                }
                found = apr_pstrmemdup(p, s, e - s);
            }
        }
        a = strchr(a, ';');
    }
    return found;
}

smdb_cookie_prefix_t smdb_cookie_prefix(const char *name)
{
    if (!strncasecmp(name, "__Host-", 7)) {
        return SMDB_PREFIX_HOST;
    }
    return strncasecmp(name, "__Secure-", 9) ? SMDB_PREFIX_NONE
                                              : SMDB_PREFIX_SECURE;
}

const char *smdb_cache_control(apr_pool_t *p, const char *have)
{
    char *copy = apr_pstrdup(p, have ? have : ""), *d, *last;
    const char *out = "";

    for (d = apr_strtok(copy, ",", &last); d;
         d = apr_strtok(NULL, ",", &last)) {
        char *e;
        apr_size_t n;

        while (*d == ' ' || *d == '\t') {
            d++;
        }
        for (e = d + strlen(d); e > d && (e[-1] == ' ' || e[-1] == '\t');
             e--) {
        }
        *e = '\0';
        n = strcspn(d, "=");
        if (!*d || (n == 6 && !strncasecmp(d, "public", 6))) {
            continue;
        }
        if ((n == 8 && !strncasecmp(d, "no-cache", 8))
            || (n == 7 && !strncasecmp(d, "private", 7))) {
            /* the plain form comes below, once; a form limited to named
             * fields would leave the rest of the response cacheable */
            continue;
        }
        out = *out ? apr_pstrcat(p, out, ", ", d, NULL) : d;
    }
    return *out ? apr_pstrcat(p, out, ", no-cache, private", NULL)
                : "no-cache, private";
}

/* Cookie headers: "a=1; b=2". */

/** The pair that starts at s (blanks before it skipped): its name and
 * value, blanks around each trimmed, and where the next pair starts
 * (past the separator and the blanks after it). Pairs end at ';', or at
 * ',' outside double quotes (httpd joins two Cookie lines with ", "). */
typedef struct {
    const char *start;          /* of the pair, blanks skipped */
    const char *end;            /* of the pair, before its separator */
    const char *next;           /* where the next pair starts (past the
                                 * separator and the blanks after it) */
    const char *name;
    apr_size_t name_len;
    const char *val;            /* NULL: no '=' */
    apr_size_t val_len;
} smdb_cookie_pair_t;

static void smdb_cookie_pair(const char *s, smdb_cookie_pair_t *c)
{
    const char *e, *eq = NULL;
    int quoted = 0;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    c->start = s;
    for (e = s; *e && *e != ';' && (*e != ',' || quoted); e++) {
        if (*e == '"') {
            quoted = !quoted;
        }
        else if (*e == '=' && !eq) {
            eq = e;
        }
    }
    c->end = e;
    for (c->next = *e ? e + 1 : e; *c->next == ' ' || *c->next == '\t';
         c->next++) {
    }
    for (e = eq ? eq : c->end; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--) {
    }
    c->name = s;
    c->name_len = e - s;
    c->val = NULL;
    c->val_len = 0;
    if (eq) {
        for (s = eq + 1; s < c->end && (*s == ' ' || *s == '\t'); s++) {
        }
        for (e = c->end; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--) {
        }
        c->val = s;
        c->val_len = e - s;
    }
}

/** True if c is a pair called name (exactly, with '='). */
static int smdb_cookie_is(const smdb_cookie_pair_t *c, const char *name,
                          apr_size_t n)
{
    return c->val && c->name_len == n && !memcmp(c->name, name, n);
}

void smdb_cookie_scan(const char *header, const char *name,
                      smdb_cookie_seen *seen)
{
    apr_size_t n = strlen(name);
    const char *at = header;

    while (*at) {
        smdb_cookie_pair_t c;

        smdb_cookie_pair(at, &c);
        at = c.next;
        if (!smdb_cookie_is(&c, name, n)) {
            continue;
        }
        if (!seen->val) {
            seen->val = c.val;
            seen->len = c.val_len;
        }
        else if (seen->len != c.val_len
                 || memcmp(seen->val, c.val, c.val_len)) {
            seen->clash = 1;
        }
    }
}

const char *smdb_cookie_without(apr_pool_t *p, const char *header,
                                const char *name, int tokens_only)
{
    apr_size_t n = strlen(name), o = 0;
    const char *at = header, *kept = header;
    char *out = NULL;

    while (*at) {
        smdb_cookie_pair_t c;

        smdb_cookie_pair(at, &c);
        if (smdb_cookie_is(&c, name, n)
            && (!tokens_only
                || (c.val_len == SMDB_TOKEN_LEN
                    && smdb_token_valid(apr_pstrmemdup(p, c.val,
                                                       c.val_len))))) {
            /* cut from the pair to the next one; what lies before it,
             * other pairs and their separators, stays as it was */
            if (!out) {
                out = apr_palloc(p, strlen(header) + 1);
            }
            memcpy(out + o, kept, c.start - kept);
            o += c.start - kept;
            kept = c.next;
        }
        at = c.next;
    }
    if (!out) {
        return header;
    }
    memcpy(out + o, kept, at - kept);
    o += at - kept;
    /* a pair cut at the end leaves the separator before it */
    while (o && strchr("; ,\t", out[o - 1])) {
        o--;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* what "your sessions" shows and accepts                               */
/* ------------------------------------------------------------------ */

/** The length of the well-formed UTF-8 character at s, of which n bytes
 * are left (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF); 0 when the bytes there are none. */
static apr_size_t smdb_utf8_char(const unsigned char *s, apr_size_t n)
{
    apr_uint32_t cp;
    apr_size_t len, i;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

#define SMDB_REPLACEMENT "\xef\xbf\xbd"     /* U+FFFD in UTF-8 */

const char *smdb_utf8_clean(apr_pool_t *p, const char *s, apr_size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t n = strlen(s), i = 0, o = 0;
    char *out = apr_palloc(p, max + 1);

    while (i < n) {
        apr_size_t len = smdb_utf8_char(u + i, n - i);
        const char *c = len ? s + i : SMDB_REPLACEMENT;
        apr_size_t clen = len ? len : 3;

        if (o + clen > max) {
            break;
        }
        memcpy(out + o, c, clen);
        o += clen;
        i += len ? len : 1;
    }
    out[o] = '\0';
    return out;
}

const char *smdb_json_string(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t n, i = 0, o = 0;
    char *out;

    if (!s) {
        return "null";
    }
    n = strlen(s);
    /* at most 6 bytes out per byte in ("\u001f"), and the quotes */
    out = apr_palloc(p, 6 * n + 3);
    out[o++] = '"';
    while (i < n) {
        apr_size_t len = smdb_utf8_char(u + i, n - i);

        if (!len) {
            /* not UTF-8 (another program's bytes): one U+FFFD each */
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
            i++;
        }
        else if (len == 1 && (u[i] < 0x20 || u[i] == 0x7f || u[i] == '<'
                              || u[i] == '>' || u[i] == '&')) {
            /* controls, and what HTML would read as markup */
            o += apr_snprintf(out + o, 7, "\\u%04x", u[i]);
            i++;
        }
        else if (len == 1 && (u[i] == '"' || u[i] == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)u[i++];
        }
        else if (len == 3 && u[i] == 0xe2 && u[i + 1] == 0x80
                 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
            /* U+2028 and U+2029 end a line in JavaScript */
            o += apr_snprintf(out + o, 7, "\\u%04x",
                              u[i + 2] == 0xa8 ? 0x2028 : 0x2029);
            i += 3;
        }
        else {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

const char *smdb_rfc3339(apr_pool_t *p, apr_int64_t ms)
{
    apr_time_exp_t tm;

    if (apr_time_exp_gmt(&tm, apr_time_from_msec(ms)) != APR_SUCCESS) {
        return NULL;
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec,
                        (int)(tm.tm_usec / 1000));
}

/** The port of a URL's scheme when it names none; 0 for another scheme. */
static unsigned smdb_default_port(const char *scheme, apr_size_t n)
{
    if (n == 4 && !strncasecmp(scheme, "http", 4)) {
        return 80;
    }
    if (n == 5 && !strncasecmp(scheme, "https", 5)) {
        return 443;
    }
    return 0;
}

int smdb_same_origin(const char *origin, const char *scheme,
                     const char *host, unsigned port)
{
    const char *h, *end, *colon;
    apr_size_t sn;
    unsigned long op;

    if (!origin || !scheme || !host) {
        return 0;
    }
    /* scheme "://" host [":" port], nothing else (RFC 6454 7.1) */
    h = strstr(origin, "://");
    if (!h) {
        return 0;
    }
    sn = h - origin;
    h += 3;
    end = h + strlen(h);
    colon = *h == '[' ? strchr(h, ']') : h;
    if (!colon) {
        return 0;
    }
    colon = strchr(colon, ':');
    if (colon) {
        char *stop;

        if (!apr_isdigit(colon[1])) {
            return 0;
        }
        op = strtoul(colon + 1, &stop, 10);
        if (*stop || op > 65535) {
            return 0;
        }
        end = colon;
    }
    else {
        op = smdb_default_port(origin, sn);
    }
    return sn == strlen(scheme) && !strncasecmp(origin, scheme, sn)
           && op && op == (port ? port : smdb_default_port(scheme, sn))
           && (apr_size_t)(end - h) == strlen(host)
           && !strncasecmp(h, host, end - h);
}
