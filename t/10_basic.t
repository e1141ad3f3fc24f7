# SPDX-License-Identifier: Apache-2.0
# Set, read, change and delete values through a real CGI app; the stored
# document; the cookie; CookieRemove; round trips per request.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

plan tests => 39, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $b = browser();

# no cookie, nothing changed: no session, no command, no Set-Cookie
my $res = $b->get('/basic');
ok t_cmp($res->code, 200, 'plain request answers 200');
ok t_cmp($res->header('Set-Cookie'), undef, 'no cookie without a session');
ok t_cmp(commands($res->{smdb_id}), '', 'no MongoDB command without a session');

# create
$res = $b->get('/basic?set=color:blue&set=size:10');
ok t_cmp($res->code, 200, 'set answers 200');
my $token = $b->cookie('sid');
ok t_cmp($token, qr/^[A-Za-z0-9_-]{43}$/, 'cookie carries a 43-character token');
my $sc = $res->header('Set-Cookie');
ok t_cmp($sc, qr/^sid=\Q$token\E;/, 'Set-Cookie names the configured cookie');
ok t_cmp($sc, qr/path=\//i, 'configured attribute path=/ kept');
ok t_cmp($sc, qr/HttpOnly/i, 'HttpOnly added by default');
ok t_cmp($sc, qr/SameSite=Lax/i, 'SameSite=Lax added by default');
ok t_cmp(scalar(() = $res->as_string =~ /^Set-Cookie:/mig), 1, 'exactly one Set-Cookie');
ok t_cmp($res->header('Cache-Control'), qr/no-cache/, 'response is not cacheable');

my $doc = db_one('smdb_test', 'basic', sha256_hex($token));
ok $doc;
ok t_cmp($doc->{value}, 'color=blue&size=10', 'document holds the encoded session');
ok t_cmp(scalar(db_find('smdb_test', 'basic', { _id => $token })), 0,
         'the token itself is not an _id');
ok t_cmp(exists $doc->{expiry}, '', 'no expiry without SessionMaxAge');
ok $doc->{created} && $doc->{updated} && abs($doc->{updated} - time * 1000) < 60_000;

# read back: one find, no write, no new cookie
$res = $b->get('/basic');
ok t_cmp($b->values($res), { color => 'blue', size => '10' }, 'values survive across requests');
ok t_cmp(commands($res->{smdb_id}), 'find', 'a read is exactly one find');
ok t_cmp($res->header('Set-Cookie'), undef, 'no Set-Cookie when nothing changed');

# CookieRemove On (default): the app does not see the token
ok t_cmp($res->content, qr/^cookie=$/m, 'session cookie hidden from the app');
# ... and Off shows it
$res = $b->get('/keep');
ok t_cmp($res->content, qr/^cookie=sid=\Q$token\E$/m, 'CookieRemove Off passes the cookie on');

# change: one find and one write, same token
$res = $b->get('/basic?set=color:red&del=size');
ok t_cmp($b->values($res), { color => 'red' }, 'changed values');
ok t_cmp(commands($res->{smdb_id}), 'find,update', 'a change is one find and one update');
ok t_cmp($b->cookie('sid'), $token, 'token stable across changes by the same user');
$doc = db_one('smdb_test', 'basic', sha256_hex($token));
ok t_cmp($doc->{value}, 'color=red', 'document updated');

# empty the session: the document goes, the cookie expires
$res = $b->get('/basic?clear=1');
ok t_cmp($res->header('Set-Cookie'), qr/^sid=;.*max-age=0/i, 'cookie expired');
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($token)), undef, 'document deleted');
ok t_cmp(commands($res->{smdb_id}), 'find,delete', 'emptying is one find and one delete');

# the old token is not accepted again (not adopted, no fixation)
$b->set_cookie(sid => $token);
$res = $b->get('/basic?set=a:1');
ok t_cmp($b->values($res), { a => '1' }, 'old token: fresh session');
ok $b->cookie('sid') && $b->cookie('sid') ne $token; # old token replaced
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($token)), undef, 'old token not stored');

# a token the client made up is not adopted either
my $made_up = 'A' x 42 . 'E';
my $c = browser();
$c->set_cookie(sid => $made_up);
$res = $c->get('/basic?set=x:1');
ok $c->cookie('sid') && $c->cookie('sid') ne $made_up; # client-chosen token not adopted
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($made_up)), undef, 'nothing stored under it');
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($c->cookie('sid')))->{value}, 'x=1',
         'the session lives under the issued token');

# explicit attributes are kept as written; nothing is added
my $d = browser();
$res = $d->get('/attrs?set=a:1');
ok t_cmp($res->header('Set-Cookie'), qr/^asid=[A-Za-z0-9_-]{43};path=\/attrs;HttpOnly;Secure;SameSite=Strict$/,
         'configured attributes kept as written');

# an empty session with nothing stored costs nothing and sends nothing,
# even where SessionMaxAge makes mod_session save on every request
my $e = browser();
$res = $e->get('/maxage');
ok t_cmp($res->header('Set-Cookie'), undef, 'no cookie for an empty new session');
ok t_cmp(commands($res->{smdb_id}), '', 'and no command');
# a stale cookie with an empty session is cleared, once
$e->set_cookie(msid => 'B' x 42 . 'A');
$res = $e->get('/maxage');
ok t_cmp($res->header('Set-Cookie'), qr/^msid=;.*max-age=0/i, 'stale cookie expired');
ok t_cmp(commands($res->{smdb_id}), 'find', 'after one find');
