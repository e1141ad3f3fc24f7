# SPDX-License-Identifier: Apache-2.0
# MongoDB down, paused, back: httpd keeps serving within the timeout,
# fails fast during an outage, recovers by itself, and never overwrites
# or loses a stored session. The vhost smdb_fault has
# SessionMongoDBTimeout 1000 and SessionMongoDBRetryInterval 2.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use SMDB::Test;
use SMDB::Fault qw(fault_start fault_stop fault_pause fault_resume fault_uri);
use Time::HiRes qw(time sleep);

plan tests => 31, need_module 'mod_session_mongodb.c', 'mod_session.c';

# one connection, so one child process and its circuit breaker
Apache::TestRequest::user_agent(reset => 1, keep_alive => 1,
                                requests_redirectable => 0);
$ENV{MONGODB_URI} = fault_uri();    # for db() and db_one()

sub timed { my $t = time; my $res = shift->get(@_); return ($res, time - $t) }
sub count { my ($log, $re) = @_; scalar(() = $log =~ /$re/g) }

my $offset = error_log_size();
my $b = browser(module => 'smdb_fault');

# httpd started with the server down: a request without a session
# needs no MongoDB at all
my ($res, $secs) = timed($b, '/fault');
ok t_cmp($res->code, 200, 'served while MongoDB is down');
ok t_cmp($secs < 0.5 ? 1 : 0, 1, 'without a session cookie: no wait');

# with a session cookie: one bounded wait, as if there were no session
$b->set_cookie(xsid => 'C' x 42 . 'A');
($res, $secs) = timed($b, '/fault');
ok t_cmp($res->code, 200, 'with a cookie: still served');
ok t_cmp($b->values($res), {}, 'as if there were no session');
ok t_cmp($secs > 0.8 && $secs < 2.5 ? 1 : 0, 1, sprintf('one wait of about the timeout (%.2f s)', $secs));
my $log = error_log_since($offset);
ok t_cmp(count($log, qr/SMDB00308: cannot load session/), 1, 'one error line for the request');
ok t_cmp($log, qr/SMDB00308: .*mongodb:\/\/127\.0\.0\.1:$ENV{MSM_FAULT_PORT}/, 'naming the server');

# two more failures open the breaker: later requests answer at once
timed($b, '/fault') for 1 .. 2;
($res, $secs) = timed($b, '/fault');
ok t_cmp($res->code, 200, 'served during the outage');
ok t_cmp($secs < 0.3 ? 1 : 0, 1, sprintf('breaker open: answered in %.3f s', $secs));
timed($b, '/fault') for 1 .. 3;
$log = error_log_since($offset);
ok t_cmp(count($log, qr/SMDB00320/), 1, 'breaker opening logged once');
ok t_cmp(count($log, qr/SMDB00308/), 3, 'no error line per request while open');

# MongoDB comes back: sessions work again, without an httpd restart
fault_start();
sleep 2.2;    # SessionMongoDBRetryInterval
my $c = browser(module => 'smdb_fault');
($res) = timed($c, '/fault?set=a:1');
my $token = $c->cookie('xsid');
ok t_cmp($token, qr/^[A-Za-z0-9_-]{43}$/, 'new session after MongoDB came back');
ok t_cmp(db_one('smdb_fault', 'sessions', sha256_hex($token))->{value}, 'a=1', 'and stored');
ok t_cmp($c->values($c->get('/fault')), { a => '1' }, 'and read back');
ok t_cmp(count(error_log_since($offset), qr/SMDB00321: MongoDB at .* answers again/), 1, 'recovery logged once');

# paused past the timeout during a request that writes
fault_pause();
($res, $secs) = timed($c, '/fault?set=a:2');
fault_resume();
ok t_cmp($res->code, 200, 'paused server: request still served');
ok t_cmp($secs < 2.5 ? 1 : 0, 1, sprintf('within the timeout and a margin (%.2f s)', $secs));
ok t_cmp($res->header('Set-Cookie'), undef, 'no cookie sent');
ok t_cmp(db_one('smdb_fault', 'sessions', sha256_hex($token))->{value}, 'a=1',
         'the stored session is unchanged (no overwrite after a failed load)');
ok t_cmp(error_log_since($offset), qr/SMDB00313: not saving the session/, 'the refused save is logged');
ok t_cmp($c->values($c->get('/fault')), { a => '1' }, 'the user still has the session');

# a new session whose save fails: no cookie for a document not written
fault_pause();
my $d = browser(module => 'smdb_fault');
($res) = timed($d, '/fault?set=n:1');
fault_resume();
ok t_cmp($res->header('Set-Cookie'), undef, 'failed save: no Set-Cookie');
ok t_cmp(error_log_since($offset), qr/SMDB00309: cannot save session/, 'failed save logged');
ok t_cmp($c->get('/fault?set=a:3')->code, 200, 'served after the pause');
ok t_cmp(db_one('smdb_fault', 'sessions', sha256_hex($token))->{value}, 'a=3', 'writes work again');

# MongoDB restarts (an in-memory server comes back empty): no httpd restart
fault_stop();
fault_start();
my ($ok, $e) = (0, browser(module => 'smdb_fault'));
for (1 .. 20) {
    $res = $e->get('/fault?set=r:1');
    last if $ok = ($e->cookie('xsid') && db_one('smdb_fault', 'sessions', sha256_hex($e->cookie('xsid'))));
    sleep 0.5;
}
ok t_cmp($ok ? 1 : 0, 1, 'sessions work after MongoDB restarted');
ok t_cmp($e->values($e->get('/fault')), { r => '1' }, 'and read back');

# The housekeeper waits long on MongoDB (its sweeps may take minutes), but
# a child's exit does not wait for it: a server that hangs while the
# housekeeper creates a collection's indexes, then a graceful restart.
{
    use File::Spec::Functions qw(catfile);
    my $vars = Apache::Test::vars();
    my $ppid = do {
        open my $fh, '<', catfile($vars->{t_logs}, 'httpd.pid') or die "pid file: $!";
        local $/; 0 + <$fh>;
    };
    my $mark = error_log_size();
    # the housekeeper's client talks to the server (a collection's
    # indexes), so that its next command goes out without a new check
    browser(module => 'smdb_fault')->get('/fault-warm?set=w:1');
    for (1 .. 50) {
        last if error_log_since($mark) =~ /SMDB0020[67][^\n]*warm_/;
        sleep 0.1;
    }
    fault_pause();
    my $h = browser(module => 'smdb_fault');
    $h->get('/fault-hang?set=h:1');    # a new collection: the housekeeper's next job
    sleep 1.5;                         # ... which now hangs on the paused server
    Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
    my @old = grep { /^\d+$/ } map { s/\s+//gr } `ps -o pid= --ppid $ppid`;
    my $t0 = time;
    kill 'USR1', $ppid;                # graceful restart
    my @left = @old;
    while (@left && time - $t0 < 20) {
        sleep 0.2;
        @left = grep { kill 0, $_ } @old;
    }
    my $took = time - $t0;
    fault_resume();
    ok t_cmp(scalar(@old) > 0 ? 1 : 0, 1, 'children before the restart');
    ok t_cmp($took < 8 ? 1 : 0, 1, sprintf('old children gone %.1f s after a graceful restart', $took));
    my $log = error_log_since($mark);
    ok t_cmp($log, qr/SMDB00210: the housekeeper is still waiting on MongoDB/,
             'a hung housekeeper is left behind, and that is logged');
    ok t_cmp($log =~ /exit signal|Segmentation|AH00052/ ? 1 : 0, 0, 'no child crashed');
}
