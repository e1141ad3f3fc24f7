#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# The demo app: counts your visits in the session. It reads the session
# from HTTP_SESSION (SessionEnv On) and writes it back through the
# X-Replace-Session response header (SessionHeader); the session itself
# lives in MongoDB, the browser only holds an opaque token.
use strict;
use warnings;

my %session = map { my ($k, $v) = split /=/, $_, 2; ($k => $v // '') }
    grep { length } split /&/, ($ENV{HTTP_SESSION} // '');
my $forget = ($ENV{QUERY_STRING} // '') =~ /\bforget\b/;
my $visits = $forget ? 0 : ($session{visits} // 0) + 1;

print "Content-Type: text/html; charset=utf-8\n";
# an empty value removes the key; a session with no keys is deleted
print "X-Replace-Session: visits=", ($forget ? '' : $visits), "\n\n";
print <<"HTML";
<!doctype html>
<title>mod_session_mongodb demo</title>
<h1>mod_session_mongodb demo</h1>
HTML
if ($forget) {
    print "<p>Session deleted. <a href=\"/\">Start again</a>.</p>\n";
}
else {
    print "<p>You have visited this page <b>$visits</b> time", ($visits == 1 ? '' : 's'),
        ".</p>\n<p><a href=\"/\">Reload</a> &middot; <a href=\"/?forget\">Forget me</a></p>\n";
}
