# SPDX-License-Identifier: Apache-2.0
# Expired-session cleanup: a TTL index on first use of a collection, or,
# where the server refuses TTL indexes, a logged fallback that sweeps
# expired documents itself. SessionMongoDBTTLIndex Off does neither.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use JSON::PP ();
use Time::HiRes qw(sleep time);

plan tests => 16, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $json = JSON::PP->new;
sub indexes {
    my ($db, $coll) = @_;
    my %idx;
    for (db('indexes', $db, $coll)) {
        my $spec = $json->decode($_);
        $idx{$spec->{name}} = $spec;
    }
    return \%idx;
}

my $b = browser();
$b->get('/basic?set=ttl:test');
ok $b->cookie('sid');

# the housekeeper works within a second or two of first use
my $idx = {};
my $log = '';
for (1 .. 50) {
    $idx = indexes('smdb_test', 'basic');
    # the whole log: earlier tests may have used the collection first
    $log = error_log_since(0);
    last if $idx->{expiry_1} || $log =~ /SMDB00207.*smdb_test\.basic/;
    sleep 0.2;
}

if ($idx->{expiry_1}) {
    # the server has TTL indexes: MongoDB removes expired sessions itself
    my $ttl = $idx->{expiry_1};
    my $eas = $ttl->{expireAfterSeconds};
    $eas = $eas->{'$numberInt'} // $eas->{'$numberLong'} // $eas if ref $eas;
    ok t_cmp($eas, 0, 'expiry_1 is a TTL index with expireAfterSeconds 0');
    ok t_cmp(join(',', keys %{ $ttl->{key} }), 'expiry', 'on the expiry field');
    ok t_cmp(exists $idx->{user_1} ? 1 : 0, 1, 'user index for revocation');
    ok t_cmp($log =~ /SMDB00207[^\n]*smdb_test\.basic/ ? 1 : 0, 0, 'no fallback warning');

    # A server may keep the index and never delete by it. A session that
    # expired a day ago goes all the same: by the server's TTL monitor,
    # or by the module's sweep of what expired 10 min ago or more, which
    # then says so once (SMDB00213) and sweeps the collection like one
    # without a TTL index. (On MongoDB the module's sweep, every 2 s
    # here, usually comes before the TTL monitor's, every 60 s.)
    my $now = int(time * 1000);
    my $doc = sub {
        my ($id, $at) = @_;
        db('insert', 'smdb_test', 'basic',
           qq({"_id": "$id", "value": "x=1", "expiry": {"\$date": {"\$numberLong": "$at"}}}));
    };
    $doc->("stale-$$", $now - 86400000);
    $doc->("live-$$", $now + 3600000);
    my $gone;
    for (1 .. 50) {
        last if $gone = !db_one('smdb_test', 'basic', "stale-$$");
        sleep 0.2;
    }
    ok t_cmp($gone ? 1 : 0, 1, 'a session expired a day ago is deleted despite an idle TTL index');
    my @idle = error_log_since(0) =~ /SMDB00213: smdb_test\.basic [^\n]*has a TTL index/g;
    if (@idle) {
        $doc->("recent-$$", int(time * 1000) - 5000);
        my $swept;
        for (1 .. 50) {
            last if $swept = !db_one('smdb_test', 'basic', "recent-$$");
            sleep 0.2;
        }
        ok t_cmp(scalar(@idle) == 1 && $swept ? 1 : 0, 1,
                 'the idle TTL index is logged once, then every expired session is swept');
    }
    else {
        skip('this server deleted it by its TTL index: the module sweeps nothing younger than 10 min');
    }
    ok t_cmp(db_one('smdb_test', 'basic', "live-$$") ? 1 : 0, 1, 'the live session is kept');
}
else {
    # the server refused: a warning, then sweeps; the user index is made
    # on its own, so revocation by user still has its index
    ok t_cmp($log, qr/SMDB00207: cannot create the TTL index on smdb_test\.basic/,
             'refusal logged, with what to do');
    for (1 .. 25) {
        last if exists $idx->{user_1};
        sleep 0.2;
        $idx = indexes('smdb_test', 'basic');
    }
    ok t_cmp(exists $idx->{user_1} ? 1 : 0, 1,
             'the user index for revocation exists without the TTL index');
    my $now = int(time * 1000);
    db('insert', 'smdb_test', 'basic',
       qq({"_id": "expired-$$", "value": "x=1", "expiry": {"\$date": {"\$numberLong": "@{[$now - 60000]}"}}}));
    db('insert', 'smdb_test', 'basic',
       qq({"_id": "live-$$", "value": "x=1", "expiry": {"\$date": {"\$numberLong": "@{[$now + 3600000]}"}}}));
    my $gone;
    for (1 .. 50) {
        last if $gone = !db_one('smdb_test', 'basic', "expired-$$");
        sleep 0.2;
    }
    ok t_cmp($gone ? 1 : 0, 1, 'expired document swept within SessionMongoDBSweepInterval');
    ok t_cmp(db_one('smdb_test', 'basic', "live-$$") ? 1 : 0, 1, 'live document kept');
    my $before = () = error_log_since(0) =~ /SMDB00207.*smdb_test\.basic/g;
    $b->get("/basic?set=n:$_") for 1 .. 5;
    my $after = () = error_log_since(0) =~ /SMDB00207.*smdb_test\.basic/g;
    ok t_cmp($after, $before, 'the warning is not repeated per request');
    skip('this server refuses TTL indexes: no idle TTL index to detect') for 1 .. 2;
}

# TTLIndex Off: nothing but _id
my $n = browser(module => 'smdb_nottl');
$n->get('/nottl?set=a:1');
ok $n->cookie('nsid');
sleep 2.5;
ok t_cmp(join(',', sort keys %{ indexes('smdb_test', "nottl_$ENV{MSM_RUN_ID}") }), '_id_',
         'SessionMongoDBTTLIndex Off creates no index');

# A sweep longer than SessionMongoDBTimeout (250 ms in this virtual host):
# 20 000 expired sessions on a server without TTL indexes. The housekeeper
# waits on its own client, so the sweep completes instead of timing out
# at every interval; only one child of the server sweeps per interval.
sub server_stats {
    Apache::TestRequest::module('default');
    my $res = Apache::TestRequest::GET('/smdb-status?json');
    die "status page: " . $res->code . "\n" unless $res->code == 200;
    return $json->decode($res->content)->{server};
}
{
    my $coll = "sweep_$ENV{MSM_RUN_ID}";
    my $w = browser(module => 'smdb_sweep');
    $w->get('/sweep?set=a:1');
    my ($refused, $ttl);
    for (1 .. 50) {
        my $l = error_log_since(0);
        $refused = $l =~ /SMDB00207[^\n]*smdb_test\.\Q$coll\E/;
        $ttl = indexes('smdb_test', $coll)->{expiry_1};
        last if $refused || $ttl;
        sleep 0.2;
    }
    if (!$refused) {
        skip("this server accepted the TTL index: the module sweeps only what "
             . "expired 10 min ago there, so the big sweep is tested where the "
             . "index is refused") for 1 .. 6;
    }
    else {
        # several children use the collection: parallel slow requests,
        # each held by a child of its own while its CGI sleeps
        my @kids;
        for my $i (1 .. 3) {
            my $pid = fork // die "fork: $!";
            if (!$pid) {
                browser(module => 'smdb_sweep')->get("/sweep?set=p:$i&sleep=3");
                exit 0;
            }
            push @kids, $pid;
        }
        waitpid $_, 0 for @kids;
        sleep 1.5;      # the housekeepers of the children that served them
        my @warned = error_log_since(0) =~ /\[pid (\d+)[^\n]*SMDB00207[^\n]*smdb_test\.\Q$coll\E/g;
        ok t_cmp(scalar(@warned), 1,
                 'the TTL refusal is logged once for the server, not once per child');
        my $mark = error_log_since(0);
        my $stats0 = server_stats();
        my $n = 20000;
        db('fill', 'smdb_test', $coll, $n, 60000);
        my $t0 = time;
        my $left = $n;
        while (time - $t0 < 60) {
            ($left) = db('count', 'smdb_test', $coll, '{"value": "n=1"}');
            last if !$left;
            sleep 0.5;
        }
        ok t_cmp($left, 0, "all $n expired sessions swept");
        my $log = substr(error_log_since(0), length $mark);
        ok t_cmp($log =~ /SMDB00205[^\n]*\Q$coll\E/ ? 1 : 0, 0,
                 'no sweep timed out');
        my @live = db_find('smdb_test', $coll, {});
        ok t_cmp(scalar(@live), 4, 'the live sessions are kept');
        my $stats1 = server_stats();
        ok t_cmp($stats1->{swept} - $stats0->{swept} >= $n ? 1 : 0, 1,
                 'server.swept counts the deleted sessions');
        # one sweep per second per collection for the whole server, however
        # many children use it: counted over a quiet spell
        my $quiet = error_log_since(0);
        my $tq = time;
        sleep 6;
        my $qlog = substr(error_log_since(0), length $quiet);
        my @sweeps = $qlog =~ /\[pid (\d+)[^\n]*SMDB00204: swept \d+ expired sessions from smdb_test\.\Q$coll\E/g;
        my $window = sprintf '%.1f', time - $tq;
        my %by = map { $_ => 1 } @sweeps;
        print "# sweeps of $coll in ${window}s: ", scalar(@sweeps), ", by ",
            scalar(keys %by), " child(ren)\n";
        ok t_cmp(@sweeps <= $window + 2 ? 1 : 0, 1,
                 scalar(@sweeps) . " sweeps in ${window}s: at most one per interval");
    }
}
