# SPDX-License-Identifier: Apache-2.0
# The session cookie and the application: hidden wherever the module is
# configured for the server (in locations without a session too), other
# cookies passed on byte for byte, a Cookie header of many pairs read in
# one pass; __Host- and __Secure- names get Secure over plain HTTP.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

plan tests => 13, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $b = browser();
$b->get('/basic?set=k:1');
my $tok = $b->cookie('sid');
ok $tok;
# requests with a Cookie header of their own: no jar of cookies to add
my $x = browser();

# a location without any session configuration, under the cookie's path=/
my $res = $x->get('/nosession', Cookie => "a=1; sid=$tok; fsid=$tok; b=2");
ok t_cmp($res->code, 200, 'an app without a session configuration');
ok t_cmp($res->content, qr/^cookie=a=1; b=2$/m, '... sees no session cookie of the server');

# ... where another application's cookie of the same name, not a token
# of this module, is left to it
$res = $x->get('/nosession', Cookie => 'sid=eyJhcHAiOjF9.abc; a=1');
ok t_cmp($res->content, qr/^cookie=sid=eyJhcHAiOjF9\.abc; a=1$/m,
         'another app\'s cookie of the same name reaches it');
$res = $x->get('/nosession', Cookie => "a=1, sid=$tok");
ok t_cmp($res->content, qr/^cookie=a=1$/m, '... a token after a comma is removed too');

# other cookies byte for byte: commas and quotes in values
$res = $x->get('/basic', Cookie => qq{data=a,b; sid=$tok; c="x, y"});
ok t_cmp($x->values($res), { k => 1 }, 'the session is found among other cookies');
ok t_cmp($res->content, qr/^cookie=data=a,b; c="x, y"$/m, '... and the others reach the app as sent');

# no session cookie at all: the header is left as it is
$res = $x->get('/nosession', Cookie => 'x=1;y=2');
ok t_cmp($res->content, qr/^cookie=x=1;y=2$/m, 'a Cookie header without a session cookie is untouched');

# SessionMongoDBCookieRemove Off: the app sees it
$res = $x->get('/keep', Cookie => "sid=$tok");
ok t_cmp($res->content, qr/^cookie=sid=$tok$/m, 'SessionMongoDBCookieRemove Off: the app sees the cookie');

# 6 KB of empty pairs before the cookie (httpd's limit for a header is
# 8190 bytes): read in one pass, found
$res = $x->get('/basic', Cookie => ('a;' x 3000) . "sid=$tok");
ok t_cmp($x->values($res), { k => 1 }, 'the session cookie after 3000 other pairs is found');

# __Host-: Secure (and HttpOnly) over plain HTTP, path=/ as configured
my $h = browser();
$res = $h->get('/hostcookie?set=a:1');
my $sc = $res->header('Set-Cookie') // '';
ok t_cmp($sc, qr/^__Host-hsid=[A-Za-z0-9_-]{43};/, 'a __Host- session cookie is sent');
ok t_cmp($sc, qr/;\s*Secure(;|$)/i, '... with Secure over plain HTTP');
ok t_cmp($sc =~ /domain=/i ? 1 : 0, 0, '... and no Domain');
