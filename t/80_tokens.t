# SPDX-License-Identifier: Apache-2.0
# Tokens: random, well formed, hashed at rest; anything else is "no
# session" without a query; parallel clients keep their own sessions.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

my @junk = (
    [ 'empty'              => '' ],
    [ 'too short'          => 'A' x 42 ],
    [ 'too long'           => 'A' x 44 ],
    [ 'very long'          => 'A' x 4000 ],
    [ 'operator injection' => '{"$gt":""}' ],
    [ 'percent NUL'        => ('A' x 40) . '%00' ],
    [ 'non-UTF-8 bytes'    => ('A' x 41) . "\xff\xfe" ],
    [ 'base64 plus slash'  => ('A' x 41) . '+/' ],
    [ 'padding'            => ('A' x 42) . '=' ],
    [ 'non-canonical end'  => ('A' x 42) . 'B' ],
    [ 'spaces'             => ('A' x 21) . ' ' . ('A' x 21) ],
);

plan tests => 7 + 3 * @junk + 50 + 2 + 3, need_module 'mod_session_mongodb.c', 'mod_session.c';

# 200 new sessions
my %seen;
my $shape = 0;
for (1 .. 200) {
    my $b = browser();
    $b->get("/basic?set=n:$_");
    my $t = $b->cookie('sid') // '';
    $seen{$t} = $_;
    $shape++ if $t =~ /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
}
ok t_cmp(scalar keys %seen, 200, '200 sessions, 200 distinct tokens');
ok t_cmp($shape, 200, 'every token is 43 base64url characters (256 bits)');
my @tokens = keys %seen;
my $hashed = grep { my $d = db_one('smdb_test', 'basic', sha256_hex($_)); $d && $d->{value} eq "n=$seen{$_}" } @tokens;
ok t_cmp($hashed, 200, 'each stored under the SHA-256 of its token');
my $raw = grep { db_one('smdb_test', 'basic', $_) } @tokens[0 .. 19];
ok t_cmp($raw, 0, 'no token is stored as such');
my @stored = db_find('smdb_test', 'basic', {});
my $leak = grep { my $d = $_; grep { index(join('|', values %$d), $_) >= 0 } @tokens[0 .. 19] } @stored;
ok t_cmp($leak, 0, 'no token appears anywhere in the collection');

# malformed cookies: a normal response, no query, no crash
for my $case (@junk) {
    my ($name, $value) = @$case;
    my $b = browser();
    $b->set_cookie(sid => $value);
    my $res = $b->get('/basic');
    ok t_cmp($res->code, 200, "$name: normal response");
    ok t_cmp(commands($res->{smdb_id}), '', "$name: no MongoDB command");
    ok t_cmp($b->values($res), {}, "$name: no session");
}

# every response that carries a session is marked uncacheable
my $c = browser();
$c->get('/basic?set=a:1');
my $res = $c->get('/basic');
ok t_cmp($res->header('Cache-Control'), qr/no-cache.*private|private.*no-cache/, 'read: Cache-Control no-cache, private');
$res = $c->get('/basic?set=a:2');
ok t_cmp($res->header('Cache-Control'), qr/no-cache.*private|private.*no-cache/, 'write: Cache-Control no-cache, private');

# 50 clients in parallel, each writes its own value and reads it back
my @pids;
for my $i (1 .. 50) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $b = browser();
        my $ok = $b->get("/basic?set=me:$i")->code == 200;
        my $v = $b->values($b->get('/basic'));
        exit($ok && ($v->{me} // '') eq $i ? 0 : 1);
    }
    push @pids, $pid;
}
for my $pid (@pids) {
    waitpid $pid, 0;
    ok t_cmp($? >> 8, 0, "parallel client $pid read back its own value");
}

# parallel requests of one client share one token (no rotation)
my $p = browser();
$p->get('/basic?set=x:0');
my $token = $p->cookie('sid');
my @kids;
for my $i (1 .. 10) {
    my $pid = fork // die;
    if (!$pid) { $p->get("/basic?set=x:$i"); exit 0 }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
my $after = $p->get('/basic');
ok t_cmp($p->cookie('sid'), $token, 'token stable across parallel updates');
ok t_cmp($p->values($after)->{x}, qr/^\d+$/, 'session intact');

# the cookie twice with two values: no session, and the app sees neither
# token (httpd's own removal gives up on such a header)
my $t1 = $c->cookie('sid');
my $dup = browser();
$res = $dup->get('/basic', Cookie => "sid=$t1; other=1; sid=" . ('D' x 42) . 'A');
ok t_cmp($b = $dup->values($res), {}, 'duplicate cookie: no session');
ok t_cmp(commands($res->{smdb_id}), '', 'and no MongoDB command');
ok t_cmp($res->content, qr/^cookie=other=1$/m, 'both tokens removed before the app, other cookies kept');
