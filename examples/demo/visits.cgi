#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# The demo app: counts your visits in the session. It reads the session
# from HTTP_SESSION (SessionEnv On) and writes it back through the
# X-Replace-Session response header (SessionHeader); the session itself
# lives in MongoDB, the browser only holds an opaque token.
#
# It also shows the session's document as MongoDB holds it, read with the
# small libmongoc client that scripts/demo builds ($MSM_DEMO_DB, the server
# in $MONGODB_URI, the database in $MSM_DEMO_DATABASE). The application
# never sees the token (the module hides the session cookie from it), so
# it cannot compute the document's _id; it keeps a random reference of its
# own in the session (ref=...) and finds the document by that.
use strict;
use warnings;
use JSON::PP ();
use POSIX qw(strftime);

my %session = map { my ($k, $v) = split /=/, $_, 2; ($k => $v // '') }
    grep { length } split /&/, ($ENV{HTTP_SESSION} // '');
my $forget = ($ENV{QUERY_STRING} // '') =~ /\bforget\b/;
my $visits = $forget ? 0 : ($session{visits} // 0) + 1;
my $loaded_ref = ($session{ref} // '') =~ /^([0-9a-f]{32})$/ ? $1 : undef;
my $ref = $loaded_ref // do {
    open my $r, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
    read($r, my $bytes, 16) == 16 or die "/dev/urandom: short read";
    unpack 'H*', $bytes;
};

# html(TEXT): TEXT escaped for HTML
sub html {
    my $s = shift;
    $s =~ s/([&<>"])/'&#' . ord($1) . ';'/ge;
    return $s;
}

# stored(REF): the stored document whose value carries ref=REF, as a hash
# (undef when there is none), or an error message as a string
sub stored {
    my $ref = shift;
    my ($db, $dbname) = @ENV{qw(MSM_DEMO_DB MSM_DEMO_DATABASE)};
    return 'no MongoDB client configured (MSM_DEMO_DB)' unless $db && -x $db;
    my $filter = qq({"value": {"\$regex": "(^|&)ref=$ref(&|\$)"}});
    open my $out, '-|', $db, 'find', $dbname // 'demo', 'sessions', $filter
        or return "$db: $!";
    my @docs = map { JSON::PP::decode_json($_) } grep { /\S/ } <$out>;
    close $out or return "$db find failed (exit " . ($? >> 8) . ')';
    return $docs[0];
}

# date(VALUE): a BSON date of canonical extended JSON, in UTC
sub date {
    my $v = shift;
    my $ms = ref $v eq 'HASH' ? $v->{'$date'}{'$numberLong'} : undef;
    return '(none)' unless defined $ms;
    return strftime('%Y-%m-%d %H:%M:%S UTC', gmtime($ms / 1000));
}

# looked up before anything is printed: once httpd has this page's
# headers, the module may save the session (the next version) at any time
my $doc = $loaded_ref && !$forget ? stored($loaded_ref) : undef;

print "Content-Type: text/html; charset=utf-8\n";
# an empty value removes the key; a session with no keys is deleted
print "X-Replace-Session: ",
    ($forget ? 'visits=&ref=' : "visits=$visits&ref=$ref"), "\n\n";
print <<"HTML";
<!doctype html>
<title>mod_session_mongodb demo</title>
<h1>mod_session_mongodb demo</h1>
HTML
if ($forget) {
    print "<p>Session deleted. <a href=\"/\">Start again</a>.</p>\n";
    exit 0;
}
print "<p>You have visited this page <b>$visits</b> time", ($visits == 1 ? '' : 's'),
    ".</p>\n<p><a href=\"/\">Reload</a> &middot; <a href=\"/?forget\">Forget me</a></p>\n";

print "<h2>What MongoDB holds for your session</h2>\n";
if (!defined $doc) {
    print "<p id=\"stored\">Nothing yet: the module stores this session after this page. Reload to see its document.</p>\n";
}
elsif (!ref $doc) {
    print '<p id="stored">Could not read it: ', html($doc), "</p>\n";
}
else {
    my $version = ref $doc->{version} ? $doc->{version}{'$numberLong'}
                                      : $doc->{version};
    print "<table id=\"stored\">\n",
        '<tr><th align="left">_id</th><td><code>', html($doc->{_id}), "</code></td></tr>\n",
        '<tr><th align="left">expiry</th><td>', html(date($doc->{expiry})), "</td></tr>\n",
        '<tr><th align="left">version</th><td id="version">', html($version // '(none)'), "</td></tr>\n",
        "</table>\n",
        "<p>As this request loaded it: saving this page's count makes it version ",
        html(($version // 0) + 1), ". The _id is the SHA-256 of the token in your",
        " <code>demo_session</code> cookie (<code>printf %s TOKEN | sha256sum</code>);",
        " the token itself is stored nowhere, and this page never sees it.</p>\n";
}
