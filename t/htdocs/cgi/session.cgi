#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# The suite's app: a CGI script that uses the session the way real apps
# do. It reads HTTP_SESSION (SessionEnv On) and writes the whole session
# back through the X-Replace-Session response header (SessionHeader).
#
# Query: set=KEY:VALUE (repeatable), del=KEY, clear=1, big=N (a value of
# N bytes under key "big"), sleep=SECONDS (pause before answering).
# Body: session=..., then the values, the request's Cookie header and
# REMOTE_USER, one per line.
use strict;
use warnings;

sub unescape { my $s = shift // ''; $s =~ tr/+/ /; $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
sub escape { my $s = shift; $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s }

my $raw = $ENV{HTTP_SESSION} // '';
my (@order, %session);
for my $pair (grep { length } split /&/, $raw) {
    my ($k, $v) = map { unescape($_) } split /=/, $pair, 2;
    next if $k eq 'expiry';
    push @order, $k unless exists $session{$k};
    $session{$k} = $v;
}

# mod_session merges X-Replace-Session into the session: a key is removed
# by sending it with an empty value.
my %removed;
my $changed = 0;
for my $arg (split /&/, $ENV{QUERY_STRING} // '') {
    my ($op, $val) = split /=/, $arg, 2;
    $val = unescape($val);
    if ($op eq 'set') {
        my ($k, $v) = split /:/, $val, 2;
        delete $removed{$k};
        push @order, $k unless exists $session{$k};
        $session{$k} = $v;
        $changed = 1;
    }
    elsif ($op eq 'del') {
        delete $session{$val};
        $removed{$val} = 1;
        @order = grep { $_ ne $val } @order;
        $changed = 1;
    }
    elsif ($op eq 'clear') {
        $removed{$_} = 1 for keys %session;
        %session = ();
        @order = ();
        $changed = 1;
    }
    elsif ($op eq 'sleep') {
        # a slow request: loads now, saves after the pause
        require Time::HiRes;
        Time::HiRes::sleep($val);
    }
    elsif ($op eq 'big') {
        push @order, 'big' unless exists $session{big};
        $session{big} = 'x' x $val;
        $changed = 1;
    }
}

print "Content-Type: text/plain\n";
if ($changed) {
    my $enc = join '&', (map { escape($_) . '=' . escape($session{$_}) } @order),
        (map { escape($_) . '=' } grep { !exists $session{$_} } sort keys %removed);
    print "X-Replace-Session: $enc\n";
}
print "\n";
print "session=$raw\n";
print "value.$_=$session{$_}\n" for @order;
print "cookie=", ($ENV{HTTP_COOKIE} // ''), "\n";
print "user=", ($ENV{REMOTE_USER} // ''), "\n";
