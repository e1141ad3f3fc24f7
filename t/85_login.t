# SPDX-License-Identifier: Apache-2.0
# mod_auth_form login: the token changes at login and logout, the old
# document goes; revoking a user ends every one of her sessions;
# SessionMongoDBMaxLifetime ends an active session on time.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use SMDB::Test;
use Time::HiRes qw(sleep time);

plan tests => 50, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_auth_form.c', 'mod_request.c';

sub login {
    my ($b, $user, $pw) = @_;
    my $cookie = join '; ', map { "$_=" . $b->cookie($_) } grep { $b->cookie($_) } ('fsid');
    Apache::TestRequest::module('default');
    my $res = Apache::TestRequest::POST('/site/dologin',
        content => "httpd_username=$user&httpd_password=$pw",
        ($cookie ? (Cookie => $cookie) : ()));
    for my $sc ($res->header('Set-Cookie')) {
        my ($name, $value) = $sc =~ /^\s*([^=;\s]+)=([^;]*)/ or next;
        $value eq '' || $sc =~ /max-age=0\b/i ? $b->forget($name) : $b->set_cookie($name, $value);
    }
    return $res;
}

db('delete', 'smdb_test', 'site', '{}');
my $b = browser();

# an anonymous session before the login
$b->get('/site/public?set=cart:3');
my $anon = $b->cookie('fsid');
ok $anon;
my $res = $b->get('/site/app');
ok t_cmp($res->code, 302, 'protected page redirects to the login');

$res = login($b, 'alice', 'alicepw');
ok t_cmp($res->code, 302, 'login accepted');
my $alice = $b->cookie('fsid');
ok $alice && $alice ne $anon;    # new token at login
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($anon)), undef, 'pre-login document deleted');
my $doc = db_one('smdb_test', 'site', sha256_hex($alice));
ok t_cmp($doc->{user}, 'alice', 'the new document records the user');

$res = $b->get('/site/app');
ok t_cmp($res->code, 200, 'protected page served with the new session');
ok t_cmp($res->content, qr/^user=alice$/m, 'as alice');
ok t_cmp($b->values($res)->{cart}, 3, 'the anonymous session carried over');

# ordinary updates keep the token, on protected and public pages alike
$b->get('/site/app?set=cart:4');
ok t_cmp($b->cookie('fsid'), $alice, 'token stable while alice uses the site');
$res = $b->get('/site/public?set=seen:1');
ok t_cmp($res->content, qr/^user=$/m, 'a public page: no authenticated user');
ok t_cmp($b->cookie('fsid'), $alice, 'public page while logged in: no rotation');
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($alice))->{user}, 'alice', 'and the owner is kept');

# logout
$res = $b->get('/site/logout');
ok t_cmp($res->code, qr/^30[27]$/, 'logout redirects');
# mod_auth_form's logout sets its own Cache-Control; the module's is
# merged into it: exactly one header, not two (#15)
my @logout_cc = $res->header('Cache-Control');
ok t_cmp(scalar(@logout_cc) . ': ' . join(' | ', @logout_cc), qr/^1: [^|]*\bno-cache, private$/,
         '... with exactly one Cache-Control header');
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($alice)), undef, 'alice\'s document gone at logout');
$res = $b->get('/site/app');
ok t_cmp($res->code, 302, 'protected page needs a login again');
# what alice's session held (cart, seen) does not outlive her logout
ok t_cmp($b->cookie('fsid'), undef, 'logout ends the session: the cookie is expired');
ok t_cmp(scalar(grep { ($_->{value} // '') =~ /cart=/ } db_find('smdb_test', 'site', {})), 0,
         'nothing of alice\'s session is stored under another token');
$res = login($b, 'bob', 'bobpw');
ok t_cmp($b->values($b->get('/site/app'))->{cart}, undef,
         'the next login on that browser does not get alice\'s keys');
$b->get('/site/logout');

# a login as someone else without a logout: the new owner gets only what
# that request set (the login), not the previous owner's keys
my $s = browser();
login($s, 'alice', 'alicepw');
$s->get('/site/app?set=cart:9');
my $alice2 = $s->cookie('fsid');
$res = login($s, 'bob', 'bobpw');
my $bob2 = $s->cookie('fsid');
ok $bob2 && $bob2 ne $alice2;    # new token for the new owner
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($alice2)), undef, 'alice\'s document is gone');
$res = $s->get('/site/app');
ok t_cmp($res->content, qr/^user=bob$/m, 'bob is logged in');
ok t_cmp($s->values($res)->{cart}, undef, 'without alice\'s cart');
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($bob2))->{user}, 'bob', 'the document is bob\'s');

# a failed login (mod_auth_form sets r->user to the posted name before it
# checks the password) records no owner and ends nobody's session
my $f = browser();
$f->get('/site/public?set=cart:1');
my $ftok = $f->cookie('fsid');
$res = login($f, 'victim%0D%0AFAKE+LINE', 'wrong');
ok t_cmp($res->header('Location'), qr/login=failed/, 'a failed login goes to the failure page');
ok t_cmp($f->cookie('fsid'), $ftok, 'an anonymous session keeps its token');
my $fdoc = db_one('smdb_test', 'site', sha256_hex($ftok));
ok t_cmp($fdoc && ($fdoc->{value} // '') =~ /cart=1/ ? 1 : 0, 1, '... and its data');
ok t_cmp($fdoc->{user}, undef, '... and gets no owner from the posted name');
my $g = browser();
login($g, 'bob', 'bobpw');
my $gtok = $g->cookie('fsid');
$g->get('/site/app?set=cart:2');
$res = login($g, 'alice', 'wrong');
ok t_cmp($res->header('Location'), qr/login=failed/, 'bob tries to log in as alice and fails');
ok t_cmp($g->cookie('fsid'), $gtok, '... bob\'s token stays');
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($gtok))->{user}, 'bob', '... the document is still his');
$res = $g->get('/site/app');
ok t_cmp($res->content, qr/^user=bob$/m, '... and bob is still logged in');
ok t_cmp($g->values($res)->{cart}, 2, '... with his data');
# ... also where the failed login answers 401 and its error document,
# in the same configuration, inherits the posted name from httpd
$res = Apache::TestRequest::POST('/site/dologin-401',
    content => 'httpd_username=alice&httpd_password=wrong',
    Cookie => "fsid=$gtok");
ok t_cmp($res->code, qr/^(?:401|405)$/, 'a failed login answering 401');
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($gtok))->{user}, 'bob',
         '... bob\'s document stays his');
ok t_cmp($g->get('/site/app')->content, qr/^user=bob$/m, '... and bob stays logged in');
$g->get('/site/logout');

# a logout handler inside the protected area (r->user is set there) ends
# the session all the same
my $h = browser();
login($h, 'alice', 'alicepw');
$h->get('/site/app?set=cart:7');
my $htok = $h->cookie('fsid');
$res = $h->get('/site/secure/logout');
ok t_cmp($res->code, 307, 'a logout inside the protected area redirects');
# (mod_auth_form's own "no-store", merged with the module's)
ok t_cmp(join(' | ', $res->header('Cache-Control')), qr/^[^|]*\bno-cache, private$/,
         '... with one Cache-Control');
ok t_cmp($h->cookie('fsid'), undef, '... and expires the cookie');
ok t_cmp(db_one('smdb_test', 'site', sha256_hex($htok)), undef, '... alice\'s document is gone');
ok t_cmp(scalar(grep { ($_->{value} // '') =~ /cart=7/ } db_find('smdb_test', 'site', {})), 0,
         '... and nothing of it is kept under another token');
my $replay = browser();
$replay->set_cookie('fsid', $htok);
$res = $replay->get('/site/public');
ok t_cmp($replay->values($res), {}, 'replaying the old cookie finds nothing');
ok t_cmp($replay->get('/site/app')->code, 302, '... and no login');

# revocation: alice in two browsers, bob in one
my ($a1, $a2, $bob) = (browser(), browser(), browser());
login($a1, 'alice', 'alicepw');
login($a2, 'alice', 'alicepw');
login($bob, 'bob', 'bobpw');
ok t_cmp(join(',', map { $_->get('/site/app')->code } $a1, $a2, $bob), '200,200,200', 'three logged-in browsers');
my ($n) = db('delete', 'smdb_test', 'site', '{"user": "alice"}');
ok t_cmp($n, 2, 'deleteMany({user: "alice"}) removes her two sessions');
ok t_cmp(join(',', map { $_->get('/site/app')->code } $a1, $a2, $bob), '302,302,200',
         'alice is logged out everywhere, bob is not');

# absolute lifetime: 2 s, however active the session is
my $l = browser();
$l->get('/lifetime?set=k:0');
my $start = time;
my $alive = 0;
while (time - $start < 1.5) {
    $alive++ if ($l->values($l->get("/lifetime?set=k:$alive"))->{k} // '') ne '';
    sleep 0.2;
}
ok $alive >= 3;    # active and alive before the limit
sleep 2.2 - (time - $start) if time - $start < 2.2;
$res = $l->get('/lifetime');
ok t_cmp($l->values($res), {}, 'session ended at SessionMongoDBMaxLifetime despite activity');
my @docs = db_find('smdb_test', 'lifetime', {});
ok t_cmp(scalar(grep { !$_->{expiry} || $_->{expiry} > ($start + 2.5) * 1000 } @docs), 0,
         'stored documents expire no later than created + lifetime');
