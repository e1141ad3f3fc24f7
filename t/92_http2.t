# SPDX-License-Identifier: Apache-2.0
# HTTP/2 without TLS, with real HTTP/2 clients (curl, built on nghttp2,
# and nghttp of nghttp2-client):
# an h2c Upgrade keeps the session (stream 1 finds it and saves under the
# same token, and the app does not see the cookie); parallel streams of
# one session on one connection keep every change; every response carries
# one Cache-Control, error pages included, over HTTP/1.1 and HTTP/2.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use SMDB::Test;

plan tests => 12, need_module 'mod_session_mongodb.c', 'mod_session.c', 'mod_http2.c';

Apache::TestRequest::module('smdb_h2');
my $base = 'http://' . Apache::TestRequest::hostport();

# curl(ARGS...): the response headers and body of one transfer
sub curl {
    my $out = '';
    open my $fh, '-|', 'curl', '-sS', '-D', '-', @_ or die "curl: $!";
    { local $/; $out = <$fh> // '' }
    close $fh;
    return $out;
}
sub values_of { my %v = $_[0] =~ /^value\.([^=]*)=(.*)$/mg; \%v }
sub set_cookie { $_[0] =~ /^set-cookie:\s*h2sid=([^;\r\n]*)/mi ? $1 : undef }
sub count_cc { scalar(() = $_[0] =~ /^cache-control:/mig) }

my $proto = `curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_version}' '$base/h2' 2>/dev/null`;
if ($proto ne '2') {
    skip "this server does not speak h2c (HTTP version '$proto'; prefork MPM?)" for 1 .. 12;
    exit 0;
}

db('delete', 'smdb_test', 'h2', '{}');

# the MPM the server runs: mod_http2 upgrades h2c only under a threaded one
Apache::TestRequest::module('default');
my ($mpm) = (Apache::TestRequest::GET('/server-status?auto')->content // '')
    =~ /^ServerMPM:\s*(\S+)/m;
Apache::TestRequest::module('smdb_h2');
$mpm //= $ENV{MSM_MPM} // '';
my $mpm_threaded = $mpm =~ /^(?:event|worker)$/;

# a session made over HTTP/1.1
my $r = curl("$base/h2?set=a:1");
my $tok = set_cookie($r);
ok $tok;

# the same session through an h2c Upgrade: stream 1 finds it, changes it,
# saves it under the same token; the app does not see the cookie
# (a server that declines the upgrade, as mod_http2 does under prefork,
# answers over HTTP/1.1: the session must hold there too)
$r = curl('--http2', '-H', "Cookie: h2sid=$tok", "$base/h2?set=m:2");
if ($r =~ m{^HTTP/1\.1 101}m || $mpm_threaded) {
    ok t_cmp($r, qr{^HTTP/1\.1 101}m, 'the request was upgraded to h2c');
    ok t_cmp($r, qr{^HTTP/2 200}m, '... and answered over HTTP/2');
}
else {
    skip "this server ($mpm MPM) declines the h2c upgrade; the request stays HTTP/1.1" for 1 .. 2;
}
ok t_cmp(values_of($r), { a => 1, m => 2 }, '... stream 1 found the session');
ok t_cmp(set_cookie($r) // $tok, $tok, '... and kept its token');
ok t_cmp($r =~ /^cookie=.*h2sid/m ? 1 : 0, 0, '... the app did not see the cookie');
ok t_cmp(values_of(curl('-H', "Cookie: h2sid=$tok", "$base/h2")), { a => 1, m => 2 },
         'the change is stored under the same token');

# 20 parallel streams of one session on one connection, each its own key
# (nghttp: curl 7.88's --parallel breaks off multiplexed h2c streams,
# static files included)
if (`which nghttp 2>/dev/null`) {
    my $out = `nghttp -n -s -H 'cookie: h2sid=$tok' @{[map { "'$base/h2?set=k$_:v'" } 1 .. 20]} 2>&1`;
    my $ok = () = $out =~ m{\s200\s+\d+\s+/h2\?set=k\d+:v}g;
    my $v = values_of(curl('-H', "Cookie: h2sid=$tok", "$base/h2"));
    ok t_cmp($ok . '/' . scalar(grep { ($v->{"k$_"} // '') eq 'v' } 1 .. 20), '20/20',
             '20 parallel streams on one connection: 20 answered 200, every change kept');
}
else {
    skip 'nghttp (Debian package nghttp2-client) is not installed';
}

# one Cache-Control per response
$r = curl('--http2-prior-knowledge', '-H', "Cookie: h2sid=$tok", "$base/h2");
ok t_cmp(count_cc($r), 1, 'HTTP/2, a session page: one Cache-Control');
$r = curl('--http2-prior-knowledge', '-H', "Cookie: h2sid=$tok", "$base/h2-missing");
ok t_cmp($r, qr{^HTTP/2 404}m, 'HTTP/2, a missing page of the session: 404');
ok t_cmp(count_cc($r), 1, '... with one Cache-Control');
$r = curl('-H', "Cookie: h2sid=$tok", "$base/h2-missing");
ok t_cmp(count_cc($r), 1, 'HTTP/1.1, the same 404: one Cache-Control');
