# SPDX-License-Identifier: Apache-2.0
# Parallel requests of one session never lose each other's changes:
# compare-and-set on the document's version, merge on conflict.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use Time::HiRes qw(sleep time);
use Apache::TestRequest ();
use JSON::PP ();

# The guarantee rests on the server applying a conditional update of one
# document atomically, as MongoDB does. FerretDB 1.x does not (it reads,
# then writes: FerretDB issue #3040); there the tests of concurrent
# merges cannot hold and are not run (they are not counted either).
my ($winners) = db('cas-probe', 'smdb_test', 'casprobe');
my $atomic = $winners == 1;

# the mpm the test server runs (Apache::Test's own guess is the system
# configuration's): threads serve parallel requests (prefork: 3 processes)
my ($mpm) = (Apache::TestRequest::GET('/server-status?auto')->content // '')
    =~ /^ServerMPM:\s*(\S+)/m;
$mpm //= $ENV{MSM_MPM} // '';
my $threaded = $mpm =~ /^(?:event|worker)$/;
plan tests => ($atomic ? 12 : 0) + 10, need_module 'mod_session_mongodb.c',
    'mod_session.c', 'mod_session_crypto.c';
print "# this server let $winners of 16 simultaneous compare-and-sets of one "
     . "version through: not atomic, concurrent-merge tests not run\n"
    unless $atomic;

# in_parallel(BROWSER, PATHS...): one forked client per path, at once
sub in_parallel {
    my ($b, @paths) = @_;
    my @pids;
    for my $path (@paths) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $res = $b->get($path);
            exit($res->code == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    return $bad;
}

# 20 requests of one session, each setting its own key, 20 times
for my $loc ($atomic ? ('/basic', '/crypto') : ()) {
    my $rounds = $loc eq '/basic' ? 20 : 5;
    my ($complete, $bad, $conflicts) = (0, 0, 0);
    for my $round (1 .. $rounds) {
        my $b = browser();
        $b->get("$loc?set=start:$round");
        $bad += in_parallel($b, map { "$loc?set=k$_:v$_&sleep=0.05" } 1 .. 20);
        my $v = $b->values($b->get($loc));
        $complete++ if 21 == grep { defined $v->{$_} } 'start', map { "k$_" } 1 .. 20
            and !grep { $v->{"k$_"} ne "v$_" } 1 .. 20;
    }
    ok t_cmp($bad, 0, "$loc: every parallel request answered 200");
    ok t_cmp($complete, $rounds, "$loc: all 20 parallel changes kept, $rounds rounds of 20");
}

# one session hammered: 200 requests at once, each setting its own key,
# with mod_session_crypto (each merge decrypts and encrypts); requests of
# the session in one process take turns, so the conflicts left are
# between processes. Meanwhile a request that does not use the session is
# served promptly: no worker is stuck in a round of compare-and-sets.
if ($atomic) {
    my $h = browser();
    $h->get('/crypto?set=start:1');
    my $conflicts0 = status_counter('conflicts');
    my $offset = error_log_size();
    my $t0 = time;
    my @pids;
    for my $i (1 .. 200) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $res = $h->get("/crypto?set=h$i:v$i");
            exit($res->code == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    sleep 0.3;
    my $u0 = time;
    my $plain = Apache::TestRequest::GET('/index.html');
    my $unrelated = time - $u0;
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    my $took = time - $t0;
    my $v = $h->values($h->get('/crypto'));
    my $kept = grep { ($v->{"h$_"} // '') eq "v$_" } 1 .. 200;
    my $conflicts = status_counter('conflicts') - $conflicts0;
    printf "# 200 parallel crypto saves of one session: %.2f s, %d conflicts; "
        . "an unrelated request took %.3f s\n", $took, $conflicts, $unrelated;
    ok t_cmp($bad, 0, 'hammered session: every request answered 200');
    ok t_cmp($kept, 200, 'hammered session: all 200 keys kept');
    ok t_cmp(error_log_since($offset) =~ /SMDB0032[5]|SMDB0033[3]|SMDB00303/ ? 1 : 0, 0,
             'hammered session: no last-write-wins, no save out of time');
    if ($threaded && !$ENV{MSM_ASAN}) {
        ok t_cmp($plain->code == 200 && $unrelated < 1 ? 1 : 0, 1,
                 'hammered session: an unrelated request answered within 1 s');
    }
    else {
        skip $threaded ? 'under AddressSanitizer every request is several times slower'
                       : "$mpm MPM: every request queues behind the 200";
    }
}

if ($atomic) {
    my $log = error_log_since(0);
    ok t_cmp($log =~ /SMDB00325/ ? 1 : 0, 0, 'no fallback to last-write-wins');
}

# a counter of this server's status page (all children)
sub status_counter {
    my $res = Apache::TestRequest::GET('/smdb-status?json');
    return JSON::PP->new->decode($res->content)->{server}{$_[0]} // 0;
}

# the same key changed by two requests: one value, whole
my $s = browser();
$s->get('/basic?set=k:0');
my $token = $s->cookie('sid');
in_parallel($s, '/basic?set=k:' . ('a' x 300) . '&sleep=0.1', '/basic?set=k:' . ('b' x 300) . '&sleep=0.1');
my $v = $s->values($s->get('/basic'));
ok t_cmp($v->{k}, qr/^(a{300}|b{300})$/, 'same key: one of the two values, intact');
ok t_cmp($s->cookie('sid'), $token, 'token unchanged');

# one request removes A while another sets B
if ($atomic) {
    $s->get('/basic?set=A:1');
    in_parallel($s, '/basic?del=A&sleep=0.1', '/basic?set=B:2&sleep=0.1');
    $v = $s->values($s->get('/basic'));
    ok t_cmp(exists $v->{A} ? 1 : 0, 0, 'A removed by one request');
    ok t_cmp($v->{B}, 2, 'B set by the other');
    ok t_cmp(join(',', sort keys %$v), 'B,k', 'nothing else changed');
}

# a slow request that began before the session was deleted does not
# bring it back (logout in another tab, revocation)
my $d = browser();
$d->get('/basic?set=x:1');
my $dtoken = $d->cookie('sid');
my $pid = fork // die;
if (!$pid) { $d->get('/basic?set=y:2&sleep=1.5'); exit 0 }
sleep 0.5;
my $res = $d->get('/basic?clear=1');
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($dtoken)), undef, 'session deleted while the slow request runs');
waitpid $pid, 0;
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($dtoken)), undef, 'the slow request did not recreate it');
ok t_cmp(error_log_since(0), qr/SMDB00324: session \w+\.\.\. was deleted \(or expired\) while this request ran/, 'and said so');
# revoked by the operator mid-request: same
$d = browser();
$d->get('/basic?set=x:1');
$dtoken = $d->cookie('sid');
$pid = fork // die;
if (!$pid) { $d->get('/basic?set=y:2&sleep=1'); exit 0 }
sleep 0.4;
db('delete', 'smdb_test', 'basic', '{"_id": "' . sha256_hex($dtoken) . '"}');
waitpid $pid, 0;
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($dtoken)), undef, 'a revoked session is not recreated');

# no conflict: one find and one compare-and-set write, version counts writes
my $n = browser();
$n->get('/basic?set=a:1');
my $before = db_one('smdb_test', 'basic', sha256_hex($n->cookie('sid')))->{version};
$res = $n->get('/basic?set=a:2');
ok t_cmp(commands($res->{smdb_id}), 'find,update', 'no conflict: exactly one write');
my $after = db_one('smdb_test', 'basic', sha256_hex($n->cookie('sid')))->{version};
ok t_cmp($after, $before + 1, 'version incremented by the write');
ok t_cmp($before, 1, 'a new session starts at version 1');
ok t_cmp($n->values($n->get('/basic')), { a => '2' }, 'value written');
