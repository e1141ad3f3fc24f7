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
else {
    die "usage: client.pl precreate|drive ...\n";
}
