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

plan tests => 8, need_module 'mod_session_mongodb.c', 'mod_session.c';

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
    ok t_cmp($log =~ /SMDB00207/ ? 1 : 0, 0, 'no fallback warning');
    ok 1;    # no sweep to check on this server: MongoDB's TTL monitor does it
}
else {
    # the server refused: one warning per collection and child, then sweeps
    ok t_cmp($log, qr/SMDB00207: cannot create the TTL index on smdb_test\.basic/,
             'refusal logged once, with what to do');
    ok t_cmp(exists $idx->{user_1} ? 1 : 0, 0, 'no partial index set');
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
}

# TTLIndex Off: nothing but _id
my $n = browser(module => 'smdb_nottl');
$n->get('/nottl?set=a:1');
ok $n->cookie('nsid');
sleep 2.5;
ok t_cmp(join(',', sort keys %{ indexes('smdb_test', "nottl_$ENV{MSM_RUN_ID}") }), '_id_',
         'SessionMongoDBTTLIndex Off creates no index');
