# SPDX-License-Identifier: Apache-2.0
# TLS and authentication, as the connection string asks for them: the
# server's certificate checked against tlsCAFile, the module's client
# certificate (tlsCertificateKeyFile) required by the server, and SCRAM
# with a user and a password that needs percent-encoding. The server is
# FerretDB (on SQLite) with its TLS listener and its authentication,
# started here. A virtual host whose tlsCAFile did not sign the server's
# certificate must not talk to it; one with a wrong password must not get
# in; neither may log the password.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use File::Spec::Functions qw(catfile catdir);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

my $cache = $ENV{MSM_CACHE} // "$ENV{HOME}/.cache/mod_session_mongodb";
my $ferretdb = "$cache/bin/ferretdb";

plan tests => 14, need(need_module('mod_session_mongodb.c', 'mod_session.c'),
    { 'FerretDB (scripts/deps), for its TLS listener' => -x $ferretdb });

my $vars = Apache::Test::vars();
my $tls = $ENV{MSM_TLS_DIR};
my $port = $ENV{MSM_TLS_PORT};
my $state = catdir($vars->{t_dir}, 'state', 'tls-server');
remove_tree($state);
make_path("$state/ferret", "$state/sqlite");

# a plain listener too (FerretDB wants one), on a free port
my $plain = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)->sockport;
my $pid = fork // die "fork: $!";
if (!$pid) {
    open STDOUT, '>', "$state/ferretdb.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    setpgrp;
    $ENV{DO_NOT_TRACK} = 1;
    exec $ferretdb, "--listen-addr=127.0.0.1:$plain", "--listen-tls=127.0.0.1:$port",
        "--listen-tls-cert-file=$tls/server.pem", "--listen-tls-key-file=$tls/server.key",
        "--listen-tls-ca-file=$tls/ca.pem", "--state-dir=$state/ferret", '--debug-addr=-',
        '--telemetry=disable', '--log-level=warn', '--handler=sqlite',
        "--sqlite-url=file:$state/sqlite/", '--test-enable-new-auth',
        '--setup-database=admin', '--setup-username=httpd', '--setup-password=p@ss:w/rd';
    die "exec $ferretdb: $!";
}
END { if ($pid) { kill 'TERM', -$pid; waitpid $pid, 0 } }
my $t0 = time;
until (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1)) {
    die "FerretDB's TLS listener did not come up\n" if time - $t0 > 30;
    sleep 0.2;
}

# the suite's own client, over the same TLS (and our client certificate)
$ENV{MONGODB_URI} = "mongodb://httpd:p%40ss%3Aw%2Frd\@127.0.0.1:$port/?authSource=admin"
    . "&tls=true&tlsCAFile=$tls/ca.pem"
    . "&tlsCertificateKeyFile=$tls/client.pem";

my $mark = error_log_size();
my $b = browser(module => 'smdb_tls');
my $res = $b->get('/tls?set=over:tls');
my $token = $b->cookie('tsid');
ok t_cmp($token, qr/^[A-Za-z0-9_-]{43}$/, 'a session saved over TLS');
ok t_cmp(db_one('smdb_tls', 'sessions', sha256_hex($token // ''))->{value}, 'over=tls',
         'the document is in the server behind TLS');
ok t_cmp($b->values($b->get('/tls'))->{over}, 'tls', 'and loaded back over TLS');
ok t_cmp(commands($b->get('/tls?set=again:1')->{smdb_id}), 'find,update', 'one find, one update, as without TLS');
# this virtual host's lines: those naming its URI (with ca.pem), or no
# URI or collection at all (the housekeepers of other files' collections
# may log meanwhile)
ok t_cmp(join("\n", module_problems_since($mark, qr{\@127\.0\.0\.1:$port/\?[^\s;]*tlsCAFile=\Q$tls\E/ca\.pem})),
         '', 'no warning or error from the module');

# a CA that did not sign the server's certificate: nothing goes through
$mark = error_log_size();
my $u = browser(module => 'smdb_tls_untrusted');
$res = $u->get('/tls?set=x:1');
ok t_cmp($res->code, 200, 'untrusted server: the request is still served');
ok t_cmp($res->header('Set-Cookie'), undef, 'but no session is saved');
my $log = error_log_since($mark);
ok t_cmp($log, qr/SMDB00309: cannot save session to smdb_tls\.sessions at mongodb:\/\/httpd:\*\*\*\@127\.0\.0\.1:$port\/\?authSource=admin&tls=true[^\n]*(?:TLS|certificate|handshake)/i,
         'the failure is logged, naming TLS');
my @docs = db_find('smdb_tls', 'sessions', { value => 'x=1' });
ok t_cmp(scalar(@docs), 0, 'nothing was written through the untrusted connection');
ok t_cmp($log =~ /p%40ss|p\@ss|w%2Frd/ ? 1 : 0, 0, 'the password is not in the log');
ok t_cmp($log, qr/mongodb:\/\/httpd:\*\*\*\@127\.0\.0\.1/, 'the URI is logged with the password masked');

# a wrong password: refused by the server, nothing saved
$mark = error_log_size();
my $w = browser(module => 'smdb_tls_badpw');
$res = $w->get('/tls?set=y:1');
ok t_cmp($res->header('Set-Cookie'), undef, 'wrong password: no session saved');
$log = error_log_since($mark);
ok t_cmp($log, qr/SMDB00309: [^\n]*(?:Authentication failed|auth)/i, 'the refusal is logged');
ok t_cmp($log =~ /not-the-password/ ? 1 : 0, 0, 'without the password');
