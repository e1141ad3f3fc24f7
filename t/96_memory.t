# SPDX-License-Identifier: Apache-2.0
# Memory: many requests with sessions (each one a find and a write)
# leave every httpd child's RSS flat. MSM_SOAK_REQUESTS (default 20000;
# scripts/test runs 100000 once) requests with ab, after a warm-up.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use File::Spec::Functions qw(catfile);

# Under AddressSanitizer (t/run with MSM_ASAN) RSS says nothing (its
# quarantine keeps freed memory): the requests run, the RSS check not.
my $asan = $ENV{MSM_HTTPD_PRELOAD} ? 1 : 0;
my $n = $asan ? 5000 : $ENV{MSM_SOAK_REQUESTS} || 20000;
plan tests => 5 - $asan, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_headers.c';

my $vars = Apache::Test::vars();
my $url = "http://127.0.0.1:$vars->{port}/plain-rw";

# httpd's children and their resident set sizes (kB)
sub children {
    open my $fh, '<', catfile($vars->{t_logs}, 'httpd.pid') or die "pid: $!";
    chomp(my $parent = <$fh>);
    my %rss;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my ($pid) = $stat =~ m{/proc/(\d+)/} or next;
        open my $s, '<', $stat or next;
        my @f = split ' ', (<$s> // '');
        next unless @f > 23 && $f[3] == $parent;
        open my $st, '<', "/proc/$pid/status" or next;
        my ($kb) = join('', <$st>) =~ /^VmRSS:\s+(\d+)/m or next;
        $rss{$pid} = $kb;
    }
    return \%rss;
}

sub ab {
    my ($count, $cookie) = @_;
    # no more clients than the server has workers (prefork: a few)
    my $c = $vars->{maxclients} && $vars->{maxclients} < 8 ? $vars->{maxclients} : 8;
    my $out = `ab -q -k -n $count -c $c -C 'wsid=$cookie' '$url' 2>&1`;
    my ($failed) = $out =~ /^Failed requests:\s+(\d+)/m;
    my ($non2xx) = $out =~ /^Non-2xx responses:\s+(\d+)/m;
    return (($failed // 99999) + ($non2xx // 0), $out);
}

# A stored session to present: /plain-rw has no app that could create
# one, so the test stores it under a token of its own making.
my @chars = ('A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_');
my $token = join('', map { $chars[rand @chars] } 1 .. 42) . 'A';
db('insert', 'smdb_test', 'soak', '{"_id": "' . sha256_hex($token)
   . '", "value": "k=v", "version": {"$numberLong": "1"}}');

my ($bad, $out) = ab(5000, $token);    # warm-up
ok t_cmp($bad, 0, 'warm-up requests all answered 200');
my $before = children();
($bad, $out) = ab($n, $token);
my $after = children();
ok t_cmp($bad, 0, "$n requests all answered 200");
my @same = grep { exists $after->{$_} } keys %$before;
ok @same > 0;    # children that lived through the run
my @grown = map { "pid $_: $before->{$_} kB -> $after->{$_} kB" }
    grep { $after->{$_} - $before->{$_} > 2048 } @same;
ok t_cmp(join('; ', @grown), '', "no child grew by more than 2 MB over $n requests")
    unless $asan;
my $doc = db_one('smdb_test', 'soak', sha256_hex($token));
ok t_cmp($doc->{version} > $n / 20 ? 1 : 0, 1,
         "the session was written over and over (version $doc->{version}; "
         . "a refresh that lost to a parallel one is not repeated)");
print "# RSS kB before/after: ", join(', ', map { "$_:$before->{$_}/" . ($after->{$_} // '-') } sort keys %$before), "\n";
