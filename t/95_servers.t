# SPDX-License-Identifier: Apache-2.0
# Graceful restarts under light load: no client errors, no crash, and
# the connections to MongoDB stay bounded. Two httpd servers sharing one
# collection: a session made through one is read and changed through
# the other.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use File::Spec::Functions qw(catfile catdir);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use IO::Socket::INET;
use LWP::UserAgent;
use Time::HiRes qw(time sleep);

plan tests => 11, need_module 'mod_session_mongodb.c', 'mod_session.c', 'mod_cgid.c',
    'mod_headers.c';

my $vars = Apache::Test::vars();
my ($mport) = $ENV{MONGODB_URI} =~ m{^mongodb://[^/?]*?:(\d+)} or die "no port in MONGODB_URI";

# established connections from httpd processes to the MongoDB server
sub httpd_conns {
    # the process name is httpd's comm, e.g. "/usr/sbin/apach"
    my @lines = grep { /^ESTAB\s.*\s\S+:$mport\s.*"[^"]*(apach|httpd)/ } `ss -Htnp 2>/dev/null`;
    return scalar @lines;
}

sub httpd_pid {
    open my $fh, '<', catfile($vars->{t_logs}, 'httpd.pid') or die "pid file: $!";
    chomp(my $pid = <$fh>);
    return $pid;
}

# ---- graceful restarts -------------------------------------------------
my $b = browser();
$b->get('/basic?set=g:1');
my $token = $b->cookie('sid');
$b->get('/basic') for 1 .. 20;
sleep 1;
my $before = httpd_conns();
ok $before > 0;    # pooled connections exist

# light load in a child process: reads of an existing session
my $errfile = catfile($vars->{t_dir}, 'state', "graceful.$$");
my $pid = fork // die;
if (!$pid) {
    my ($n, $bad) = (0, 0);
    my $end = time + 9;
    my $ua = LWP::UserAgent->new(timeout => 10);
    while (time < $end) {
        # a static file that shows the session: no CGI daemon involved
        my $res = $ua->get("http://$vars->{servername}:$vars->{port}/plain", Cookie => "sid=$token");
        $n++;
        unless ($res->code == 200 && ($res->header('X-Session') // '') =~ /(^|&)g=1(&|$)/) {
            $bad++;
            print STDERR "# failed during graceful: ", $res->status_line, " ",
                substr($res->content, 0, 200), "\n";
        }
        sleep 0.02;
    }
    open my $fh, '>', $errfile or die;
    print $fh "$n $bad\n";
    exit 0;
}
for (1 .. 3) {
    sleep 2;
    kill 'USR1', httpd_pid();    # apachectl graceful
}
waitpid $pid, 0;
open my $fh, '<', $errfile or die "no result from the load: $!";
my ($n, $bad) = split ' ', <$fh>;
unlink $errfile;
ok $n > 50;    # the load really ran
ok t_cmp($bad, 0, "no failed request in $n during 3 graceful restarts");
sleep 3;    # old generations finish and exit
my $after = httpd_conns();
ok t_cmp($after <= $before + 4 ? 1 : 0, 1,
         "connections to MongoDB bounded: $before before, $after after");
ok t_cmp(error_log_since(0) =~ /Segmentation fault|exit signal|AH00052/ ? 1 : 0, 0, 'no crash');
ok t_cmp($b->values($b->get('/basic')), { g => '1' }, 'session intact after the restarts');

# ---- a second httpd on the same collection ------------------------------
my $dir = catdir($vars->{t_dir}, 'state', 'second');
make_path("$dir/logs");
my $port = do { IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)->sockport };
my $cfg = Apache::Test::config();
my $moddir = dirname($cfg->{modules}{'mod_session.c'});
my $conf = catfile($dir, 'httpd.conf');
open my $out, '>', $conf or die "$conf: $!";
print $out <<"CONF";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$port
PidFile "$dir/logs/httpd.pid"
DefaultRuntimeDir "$dir/logs"
ErrorLog "$dir/logs/error_log"
User $vars->{user}
Group $vars->{group}
LoadModule mpm_event_module "$moddir/mod_mpm_event.so"
LoadModule authz_core_module "$moddir/mod_authz_core.so"
LoadModule alias_module "$moddir/mod_alias.so"
LoadModule cgid_module "$moddir/mod_cgid.so"
LoadModule session_module "$moddir/mod_session.so"
LoadModule session_mongodb_module "$cfg->{modules}{'mod_session_mongodb.c'}"
ScriptSock "$dir/logs/cgisock"
SessionMongoDBURI $ENV{MONGODB_URI}
ScriptAlias /basic "$vars->{documentroot}/cgi/session.cgi"
<Location /basic>
    Require all granted
    Session On
    SessionEnv On
    SessionHeader X-Replace-Session
    SessionMongoDBDatabase smdb_test
    SessionMongoDBCollection basic
    SessionMongoDBCookieName sid path=/
</Location>
CONF
close $out;
run_httpd('-f', $conf, '-k', 'start');
$? == 0 or die "second httpd did not start";
my $ua = LWP::UserAgent->new(timeout => 10);
my $res;
for (1 .. 50) {
    $res = $ua->get("http://127.0.0.1:$port/basic", Cookie => "sid=$token");
    last if $res->code == 200;
    sleep 0.1;
}
ok t_cmp($res->code, 200, 'second httpd serves');
ok t_cmp($res->content, qr/^value\.g=1$/m, 'it reads the session the first one made');
$res = $ua->get("http://127.0.0.1:$port/basic?set=h:2", Cookie => "sid=$token");
ok t_cmp($res->header('Set-Cookie'), qr/^sid=\Q$token\E;/, 'and updates it under the same token');
ok t_cmp($b->values($b->get('/basic')), { g => '1', h => '2' }, 'the first one sees the change');
run_httpd('-f', $conf, '-k', 'stop');
my $second_log = do { local (@ARGV, $/) = "$dir/logs/error_log"; <> // '' };
ok t_cmp(join("\n", grep { /\[session_mongodb:(warn|error|crit)|Segmentation|exit signal/ } split /\n/, $second_log),
         '', 'second httpd logged no problem');
