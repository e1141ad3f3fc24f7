#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# client.pl — bench/run's small HTTP client (keep-alive, one connection).
#
#   client.pl precreate URL N OUT
#       N requests to URL/new without a cookie; writes the N session cookies
#       ("name=value", one a line) to OUT. Fails unless every response is a
#       200 with a Set-Cookie.
#   client.pl drive URL WORKLOAD N COOKIES [expect]
#       N requests of WORKLOAD (read|write|new) to URL/WORKLOAD, using the
#       cookies of file COOKIES in turn (none for new) and following any
#       Set-Cookie, as a browser would; COOKIES is rewritten at the end.
#       WORKLOAD nosession: URL/read without a cookie.
#       With "expect", write and new must get a Set-Cookie and read must
#       find its value. Fails on any response other than 200.
#   client.pl hammer URL N
#       One session, hammered: creates a session with URL/hammer/add (key
#       k0), then N processes, each with its own connection, released at
#       once, each send one URL/hammer/add with that cookie and their own
#       X-Bench-Slot (keys k1..kN). Meanwhile one more process asks
#       URL/read without a cookie every 50 ms (a request of nobody's
#       session). Prints "seconds= keys= expected= failed= probe_max_ms=
#       probes=": wall time from the release to the last answer, the keys
#       the session holds afterwards (URL/hammer/count), N + 1, the
#       answers other than 200, and the slowest unrelated request.
use strict;
use warnings;
use HTTP::Tiny;

my $cmd = shift // '';
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60,
                           agent => 'mod_session_mongodb-bench');

sub cookie_of {
    my ($res) = @_;
    my $sc = $res->{headers}{'set-cookie'};
    return undef unless defined $sc;
    $sc = $sc->[0] if ref $sc;
    my ($nv) = $sc =~ /^\s*([^;]+)/;
    return $nv;
}

sub get {
    my ($url, $cookie) = @_;
    my $res = $http->get($url, $cookie ? { headers => { Cookie => $cookie } } : {});
    die "client.pl: GET $url: $res->{status} $res->{reason}\n"
        . ($res->{status} == 599 ? $res->{content} : '')
        unless $res->{status} == 200;
    return $res;
}

if ($cmd eq 'precreate') {
    my ($url, $n, $out) = @ARGV;
    die "usage: client.pl precreate URL N OUT\n" unless $out;
    my @c;
    for my $i (1 .. $n) {
        my $res = get("$url/new");
        my $nv = cookie_of($res)
            or die "client.pl: $url/new: no Set-Cookie in response $i\n";
        push @c, $nv;
    }
    open my $fh, '>', "$out.tmp" or die "client.pl: $out: $!\n";
    print {$fh} "$_\n" for @c;
    close $fh or die "client.pl: $out: $!\n";
    rename "$out.tmp", $out or die "client.pl: $out: $!\n";
}
elsif ($cmd eq 'drive') {
    my ($url, $workload, $n, $file, $expect) = @ARGV;
    die "usage: client.pl drive URL WORKLOAD N COOKIES [expect]\n" unless $file;
    $expect = ($expect // '') eq 'expect';
    open my $fh, '<', $file or die "client.pl: $file: $!\n";
    chomp(my @c = <$fh>);
    close $fh;
    my $nocookie = $workload eq 'new' || $workload eq 'nosession';
    die "client.pl: $file: no cookies\n" if !@c && !$nocookie;
    for my $i (0 .. $n - 1) {
        my $slot = @c ? $i % @c : 0;
        my $path = $workload eq 'nosession' ? 'read' : $workload;
        my $res = get("$url/$path", $nocookie ? undef : $c[$slot]);
        if ($workload eq 'nosession') {
            die "client.pl: $url/read without a cookie got a Set-Cookie\n"
                if cookie_of($res);
            next;
        }
        my $nv = cookie_of($res);
        if ($expect && $workload ne 'read' && !$nv) {
            die "client.pl: $url/$workload: no Set-Cookie in response $i\n";
        }
        if ($expect && $workload eq 'read' && $res->{content} =~ /^-$/m) {
            die "client.pl: $url/read: session not found ($c[$slot])\n";
        }
        $c[$slot] = $nv if $nv && $workload ne 'new';
    }
    if (!$nocookie) {
        open $fh, '>', "$file.tmp" or die "client.pl: $file: $!\n";
        print {$fh} "$_\n" for @c;
        close $fh or die "client.pl: $file: $!\n";
        rename "$file.tmp", $file or die "client.pl: $file: $!\n";
    }
}
elsif ($cmd eq 'hammer') {
    require Time::HiRes;
    require POSIX;
    my ($url, $n) = @ARGV;
    die "usage: client.pl hammer URL N\n" unless $n && $n =~ /^[1-9][0-9]*$/;
    my $res = $http->get("$url/hammer/add", { headers => { 'X-Bench-Slot' => 0 } });
    die "client.pl: $url/hammer/add: $res->{status}\n" unless $res->{status} == 200;
    my $cookie = cookie_of($res) or die "client.pl: $url/hammer/add: no Set-Cookie\n";
    pipe(my $gate_r, my $gate_w) or die "client.pl: pipe: $!\n";
    pipe(my $probe_r, my $probe_w) or die "client.pl: pipe: $!\n";
    my @kids;
    for my $i (1 .. $n) {
        my $pid = fork // die "client.pl: fork: $!\n";
        if (!$pid) {
            close $gate_w;
            my $c = HTTP::Tiny->new(timeout => 120, agent => 'mod_session_mongodb-bench');
            sysread $gate_r, my $x, 1;     # returns at EOF: the release
            my $r = $c->get("$url/hammer/add",
                            { headers => { Cookie => $cookie, 'X-Bench-Slot' => $i } });
            POSIX::_exit($r->{status} == 200 ? 0 : 1);
        }
        push @kids, $pid;
    }
    my $probe = fork // die "client.pl: fork: $!\n";
    if (!$probe) {
        close $gate_w;
        close $probe_r;
        my $c = HTTP::Tiny->new(timeout => 120, agent => 'mod_session_mongodb-bench');
        sysread $gate_r, my $x, 1;
        my ($max, $count) = (0, 0);
        my $stop = ($ENV{TMPDIR} // '/tmp') . "/hammer-stop.$$";
        until (-e $stop) {
            my $t0 = Time::HiRes::time();
            $c->get("$url/read");
            my $ms = (Time::HiRes::time() - $t0) * 1000;
            $max = $ms if $ms > $max;
            $count++;
            Time::HiRes::sleep(0.05);
        }
        unlink $stop;
        syswrite $probe_w, sprintf("%.1f %d\n", $max, $count);
        POSIX::_exit(0);
    }
    close $gate_r;
    close $probe_w;
    my $t0 = Time::HiRes::time();
    close $gate_w;
    my $failed = 0;
    for my $pid (@kids) {
        waitpid $pid, 0;
        $failed++ if $?;
    }
    my $secs = Time::HiRes::time() - $t0;
    open my $fh, '>', ($ENV{TMPDIR} // '/tmp') . "/hammer-stop.$probe" or die "client.pl: $!\n";
    close $fh;
    my $line = <$probe_r> // '0 0';
    waitpid $probe, 0;
    my ($pmax, $pn) = split ' ', $line;
    $res = get("$url/hammer/count", $cookie);
    my ($keys) = $res->{content} =~ /^(\d+)/;
    printf "seconds=%.3f keys=%d expected=%d failed=%d probe_max_ms=%s probes=%d\n",
        $secs, $keys // 0, $n + 1, $failed, $pmax, $pn;
}
else {
    die "usage: client.pl precreate|drive|hammer ...\n";
}
