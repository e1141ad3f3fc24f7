# SPDX-License-Identifier: Apache-2.0
# SessionMongoDBPerUser: sessions keyed by the Basic-auth user, no cookie.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep);

plan tests => 33, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_auth_basic.c', 'mod_authn_file.c';

sub auth { (Authorization => 'Basic ' . encode_base64(join(':', @_), '')) }

db('delete', 'smdb_test', 'peruser', '{}');

my $b = browser();
my $res = $b->get('/peruser?set=lang:fr', auth('alice', 'alicepw'));
ok t_cmp($res->code, 200, 'alice logged in');
ok t_cmp($res->header('Set-Cookie'), undef, 'no session cookie per user');
my $doc = db_one('smdb_test', 'peruser', 'alice');
ok t_cmp($doc->{value}, 'lang=fr', 'document keyed by the user name');
ok t_cmp($doc->{user}, 'alice', 'user field written');

# a second browser, same user: same session
my $c = browser();
$res = $c->get('/peruser', auth('alice', 'alicepw'));
ok t_cmp($c->values($res), { lang => 'fr' }, 'same user, same session from another browser');
ok t_cmp(commands($res->{smdb_id}), 'find', 'one find');

# bob has his own
$res = $c->get('/peruser', auth('bob', 'bobpw'));
ok t_cmp($c->values($res), {}, 'bob does not see alice\'s session');
$c->get('/peruser?set=lang:de', auth('bob', 'bobpw'));
ok t_cmp(db_one('smdb_test', 'peruser', 'bob')->{value}, 'lang=de', 'bob stored apart');
ok t_cmp(db_one('smdb_test', 'peruser', 'alice')->{value}, 'lang=fr', 'alice unchanged');

# no user: refused by auth before any session work
$res = $b->get('/peruser?set=x:1');
ok t_cmp($res->code, 401, 'no user: 401');

# a failed login claims "alice" (mod_auth_basic sets r->user before it
# checks the password): her session is neither loaded nor touched
my $before = db_one('smdb_test', 'peruser', 'alice');
$res = $c->get('/peruser?set=lang:xx', auth('alice', 'wrong'));
ok t_cmp($res->code, 401, 'wrong password: 401');
ok t_cmp(commands($res->{smdb_id}), '', 'no MongoDB command for an unverified user');
ok t_cmp(db_one('smdb_test', 'peruser', 'alice')->{updated}, $before->{updated},
         'alice\'s session untouched');

# a password backend that fails: mod_auth_basic has set r->user to the
# claimed name and answers 500. The error document, in the same Location
# (httpd hands r->user on to it), sees no session, and no save touches
# alice's, though SessionMaxAge saves at every response.
$before = db_one('smdb_test', 'peruser', 'alice');
$res = $c->get('/peruser-broken', auth('alice', 'WRONG'));
ok t_cmp($res->code, 500, 'a failing password backend: 500');
ok t_cmp($res->content, qr/^session=/m, '... its error document is served');
ok t_cmp($c->values($res), {}, '... and sees no session');
ok t_cmp($res->content !~ /lang/ ? 1 : 0, 1, '... nothing of alice\'s');
ok t_cmp(commands($res->{smdb_id}), '', '... no MongoDB command');
$res = $c->get('/peruser-broken-plain', auth('alice', 'WRONG'));
ok t_cmp($res->code, 500, 'the same without an error document: 500');
ok t_cmp(commands($res->{smdb_id}), '', '... no MongoDB command');
my $after = db_one('smdb_test', 'peruser', 'alice');
ok t_cmp(join(',', map { $_ // '-' } @$after{qw(version expiry updated)}),
         join(',', map { $_ // '-' } @$before{qw(version expiry updated)}),
         'alice\'s session is neither rewritten nor kept alive');
ok t_cmp($after->{value}, 'lang=fr', '... and keeps its data');

# a handler that sets r->user to a name it then refuses: the error
# document inherits the name from httpd, but not the trust
if (have_module('mod_auth_form.c') && have_module('mod_headers.c')) {
    $res = Apache::TestRequest::POST('/peruser-login',
        content => 'httpd_username=alice&httpd_password=wrong');
    ok t_cmp($res->code, qr/^(?:401|405)$/, 'a refused form login');
    ok t_cmp(($res->header('X-Session') // '') =~ /lang/ ? 1 : 0, 0,
             '... its error document loads nothing of alice\'s');
}
else {
    skip 'needs mod_auth_form and mod_headers' for 1 .. 2;
}

# a user name shaped like a hashed token never keys a document
my $hex = 'ab' x 32;
my $offset = error_log_size();
$res = $c->get('/peruser?set=x:1', auth($hex, 'hexpw'));
ok t_cmp($res->code, 200, 'the request itself is served');
ok t_cmp(db_one('smdb_test', 'peruser', $hex), undef, 'nothing stored under a 64-hex-digit name');
ok t_cmp(error_log_since($offset), qr/SMDB00315/, 'refusal logged');
# ... in either case
my $HEX = uc $hex;
$offset = error_log_size();
$res = $c->get('/peruser?set=x:1', auth($HEX, 'hexpw'));
ok t_cmp($res->code, 200, 'an uppercase 64-hex-digit name: served');
ok t_cmp(db_one('smdb_test', 'peruser', $HEX), undef, '... nothing stored under it');
ok t_cmp(error_log_since($offset), qr/SMDB00315/, '... refusal logged');

# SessionMongoDBMaxLifetime with per-user sessions: the session ends, and
# the next one under the same user name starts afresh (not stuck behind
# the old document's creation time)
db('delete', 'smdb_test', 'peruserlife', '{}');
$c->get('/peruser-life?set=x:1', auth('alice', 'alicepw'));
sleep 2.3;
$res = $c->get('/peruser-life', auth('alice', 'alicepw'));
ok t_cmp($c->values($res), {}, 'per-user session ended at its lifetime');
$c->get('/peruser-life?set=x:2', auth('alice', 'alicepw'));
$res = $c->get('/peruser-life', auth('alice', 'alicepw'));
ok t_cmp($c->values($res), { x => '2' }, 'a new per-user session works after that');
my $life = db_one('smdb_test', 'peruserlife', 'alice');
ok t_cmp($life && $life->{expiry} - $life->{created} <= 2000 ? 1 : 0, 1, 'its lifetime counts from its new start');
