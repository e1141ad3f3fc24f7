# The status page for Prometheus (?prometheus): every family parses with
# a real Prometheus parser (Debian's python3-prometheus-client), the
# counters and histograms move with real requests and agree with the
# text page, and the gauges count the clients in use and the open
# circuit breakers of the whole server, per connection string (on the
# virtual host smdb_prom, whose MongoDB never answers).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use SMDB::Test;
use File::Temp ();
use JSON::PP ();
use Time::HiRes qw(time sleep);

plan tests => 42, need_module 'mod_session_mongodb.c', 'mod_session.c';

# one connection, so that the breaker test below talks to one child
Apache::TestRequest::user_agent(reset => 1, keep_alive => 1,
                                requests_redirectable => 0);

my $PY = '/usr/bin/python3';    # Debian's, with python3-prometheus-client
my $PARSE = <<'PY';
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    if f.name in out:
        raise SystemExit("family %s twice" % f.name)
    out[f.name] = {"type": f.type, "help": f.documentation,
                   "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
PY

# the page on the dead server's virtual host (any serves it), parsed
sub scrape {
    Apache::TestRequest::module('smdb_prom');
    my $res = Apache::TestRequest::GET('/smdb-status?prometheus');
    die "prometheus page: " . $res->code unless $res->code == 200;
    my $tmp = File::Temp->new;
    print $tmp $res->content;
    close $tmp;
    open my $py, '-|', $PY, '-c', $PARSE, $tmp->filename
        or die "cannot run $PY: $!";
    my $json = do { local $/; <$py> };
    close $py or die "the Prometheus parser refused the page:\n" . $res->content;
    return { res => $res, text => $res->content,
             f => JSON::PP->new->decode($json) };
}

# the value of family's sample name with labels (a hash) in a scrape
sub value {
    my ($s, $family, $name, %labels) = @_;
    for my $sample (@{ $s->{f}{$family}{samples} // [] }) {
        next unless $sample->[0] eq $name;
        next if grep { ($sample->[1]{$_} // '') ne $labels{$_} } keys %labels;
        return $sample->[2];
    }
    return undef;
}

sub counter { value($_[0], "session_mongodb_$_[1]", "session_mongodb_$_[1]_total") }

# the text page's server.* counters
sub text_page {
    Apache::TestRequest::module('smdb_prom');
    my $plain = Apache::TestRequest::GET('/smdb-status')->content;
    my %c = $plain =~ /^server\.(\w+): (\d+)$/mg;
    my @uris = $plain =~ /^connection: (\S+) /mg;
    return { counters => \%c, uris => \@uris };
}

# ---- the format ------------------------------------------------------
my $t1 = text_page();
my $s = scrape();
my $t2 = text_page();
ok t_cmp($s->{res}->header('Content-Type'), 'text/plain; version=0.0.4',
         'Content-Type of the exposition format');
ok t_cmp($s->{res}->header('Cache-Control'), 'no-cache', 'not cached');
ok t_cmp(Apache::TestRequest::GET('/smdb-status?prometheus=')->header('Content-Type'),
         'text/plain; version=0.0.4', '?prometheus= as Prometheus sends its params: the same');
my @families = sort keys %{ $s->{f} };
my @bad = grep {
    my $f = $s->{f}{$_};
    $f->{type} eq 'untyped' || $f->{help} eq '' || !@{ $f->{samples} }
        || $s->{text} !~ /^# HELP $_\S* \S/m || $s->{text} !~ /^# TYPE $_\S* \w+$/m
} @families;
ok t_cmp(join(' ', @bad), '', 'every family has # HELP, # TYPE and samples');
ok t_cmp(scalar(grep { !/^session_mongodb_/ } @families), 0, 'all under session_mongodb_');

# a counter for every counter of the text page, agreeing with it
my @names = sort grep { !/_avg$/ } keys %{ $t1->{counters} };
ok t_cmp(scalar(@names), 12, 'the text page shows 12 counters');
my @missing = grep { ($s->{f}{"session_mongodb_$_"}{type} // '') ne 'counter' } @names;
ok t_cmp(join(' ', @missing), '', 'each is a counter session_mongodb_<name>_total');
my @disagree = grep {
    my $v = counter($s, $_) // -1;
    $v < $t1->{counters}{$_} || $v > $t2->{counters}{$_}
} @names;
ok t_cmp(join(' ', @disagree), '', 'and agrees with the text page read just before and after');

# ---- histograms -----------------------------------------------------------
sub buckets {
    my ($s, $op) = @_;
    my $f = $s->{f}{"session_mongodb_${op}_duration_seconds"};
    return map { [$_->[1]{le}, $_->[2]] }
        grep { $_->[0] =~ /_bucket$/ } @{ $f->{samples} };
}
for my $op (qw(load save)) {
    my $fam = "session_mongodb_${op}_duration_seconds";
    ok t_cmp($s->{f}{$fam}{type} // '', 'histogram', "$op: a histogram");
    my @b = buckets($s, $op);
    ok t_cmp($b[0][0], '0.0005', "$op: first bucket 0.5 ms");
    ok t_cmp(join(',', map { $_->[0] } @b[-3 .. -1]), '2.5,5,+Inf',
             "$op: last bounds past the largest SessionMongoDBTimeout (3000 ms), then +Inf");
    my @down = grep { $b[$_][1] < $b[$_ - 1][1] } 1 .. $#b;
    ok t_cmp(scalar(@down), 0, "$op: buckets cumulative");
    ok t_cmp($b[-1][1], value($s, $fam, "${fam}_count"), "$op: +Inf is _count");
}

# ---- they move with requests -----------------------------------------------
my $before = scrape();
my $b = browser();
$b->get('/basic?set=p:1');        # new session: one save
$b->get('/basic?set=p:2');        # one load, one save
$b->get('/basic?set=p:3');        # one load, one save
$b->get('/basic');                # one load
my $after = scrape();
my %d = map { $_ => counter($after, $_) - counter($before, $_) }
    qw(loads saves errors not_found);
ok t_cmp($d{loads}, 3, 'loads_total moved by 3');
ok t_cmp($d{saves}, 3, 'saves_total moved by 3');
ok t_cmp($d{errors} + $d{not_found}, 0, 'no errors, nothing missing');
for my $op (qw(load save)) {
    my $fam = "session_mongodb_${op}_duration_seconds";
    ok t_cmp(value($after, $fam, "${fam}_count") - value($before, $fam, "${fam}_count"),
             3, "$op histogram: _count moved by 3");
    ok t_cmp(value($after, $fam, "${fam}_sum") > value($before, $fam, "${fam}_sum") ? 1 : 0,
             1, "$op histogram: _sum grew");
    my @b = buckets($after, $op);
    ok t_cmp($b[-1][1], value($after, $fam, "${fam}_count"), "$op: +Inf is still _count");
}
my %t = %{ text_page()->{counters} };
ok t_cmp(counter($after, 'saves') <= $t{saves} && counter($after, 'loads') <= $t{loads} ? 1 : 0,
         1, 'the text page has seen as many');

# ---- gauges, per connection string ----------------------------------------
my %uris = map { $_ => 1 } @{ $t1->{uris} };
my @gauge_uris = sort map { $_->[1]{uri} }
    @{ $s->{f}{session_mongodb_clients_in_use}{samples} };
ok t_cmp(join("\n", @gauge_uris), join("\n", sort keys %uris),
         'one clients_in_use per connection string of the text page');
ok t_cmp(scalar @{ $s->{f}{session_mongodb_breakers_open}{samples} }, scalar(keys %uris),
         'one breakers_open per connection string');
ok t_cmp(value($s, 'session_mongodb_clients_in_use', 'session_mongodb_clients_in_use',
               uri => 'mongodb://127.0.0.1:9/?appname=say"hi\\there'), 0,
         'a label value with a double quote and a backslash, escaped');
ok t_cmp(scalar(grep { /p\@ss|not-the-password/ } @gauge_uris), 0, 'passwords redacted');
ok t_cmp(scalar(grep { /\*\*\*/ } @gauge_uris) > 0 ? 1 : 0, 1, '... as ***');

# a MongoDB that never answers: a request that waits on it holds a
# client, three failures in a row open a breaker
my $dead = 'mongodb://127.0.0.1:9/?appname=say"hi\\there';
sub gauge { value($_[0], "session_mongodb_$_[1]", "session_mongodb_$_[1]", uri => $dead) }
ok t_cmp(gauge($s, 'breakers_open'), 0, 'no breaker open');
ok t_cmp(gauge($s, 'clients_in_use'), 0, 'no client in use');

my $token = 'C' x 42 . 'A';
my $url = Apache::TestRequest::module2url('smdb_prom', { path => '/prom' });
my $c0 = scrape();
open my $bg, '-|', 'curl', '-s', '-m', '10', '-H', "Cookie: psid=$token", $url
    or die "cannot run curl: $!";
# poll the raw page: a parse per poll would be too slow for the wait
my $re = qr/^session_mongodb_clients_in_use\{uri="mongodb:\/\/127\.0\.0\.1:9\/[^"\\]*(?:\\.[^"\\]*)*"\} (\d+)$/m;
my ($held, $t0) = (0, time);
while (time - $t0 < 0.9) {
    Apache::TestRequest::module('default');
    ($held) = Apache::TestRequest::GET('/smdb-status?prometheus')->content =~ $re;
    last if $held;
    sleep 0.02;
}
my $bg_out = do { local $/; <$bg> };
close $bg;
ok t_cmp($held, 1, 'clients_in_use: 1 while a request waits on MongoDB');
ok t_cmp($bg_out, qr/^session=$/m, 'that request went on without its session');
my $released;
for (1 .. 50) { $released = gauge(scrape(), 'clients_in_use'); last if !$released; sleep 0.05 }
ok t_cmp($released, 0, 'clients_in_use: back to 0 when it ended');

my $p = browser(module => 'smdb_prom');
$p->set_cookie(psid => $token);
$p->get('/prom') for 1 .. 3;      # on one connection: one child
my $c1 = scrape();
ok t_cmp(gauge($c1, 'breakers_open'), 1, 'breakers_open: 1 after three failures');
my %dc = map { $_ => counter($c1, $_) - counter($c0, $_) } qw(timeouts errors breaker_skips);
ok t_cmp($dc{errors}, $dc{timeouts}, 'every error was MongoDB out of reach');
ok t_cmp($dc{timeouts} + $dc{breaker_skips}, 4, '4 requests: each failed or skipped');
my @others = grep { $_ ne $dead } keys %uris;
ok t_cmp(scalar(grep { value($c1, 'session_mongodb_breakers_open',
                             'session_mongodb_breakers_open', uri => $_) } @others), 0,
         'the other connections: none open');
