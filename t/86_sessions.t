# "Your sessions" (SetHandler session-mongodb-sessions): a user lists her
# own live sessions and ends one, the others or all of them; never
# another user's; only from her own origin; a request of an ended
# session in flight does not bring it back; SessionMongoDBRecordClient.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Digest::SHA ();
use SMDB::Test;
use Time::HiRes qw(sleep time);

plan tests => 85, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_auth_basic.c', 'mod_authn_file.c', 'mod_cgid.c';

my $DB = 'smdb_test';
my %pw = (alice => 'alicepw', bob => 'bobpw');
sub auth { (Authorization => 'Basic ' . encode_base64("$_[0]:$pw{$_[0]}", '')) }
my $origin = 'http://' . Apache::TestRequest::hostport();
my @same = (Origin => $origin);

# the id under which the list shows a token's session (docs/sessions.md)
sub listed_id {
    substr Digest::SHA::sha256_hex("mod_session_mongodb listed session\n"
        . sha256_hex($_[0])), 0, 32;
}

# list(BROWSER, USER[, AREA]): the response and its JSON (undef if none)
sub list {
    my ($b, $user, $area) = @_;
    my $res = $b->get(($area // '/mine') . '/sessions', auth($user));
    my $j = eval { JSON::PP->new->decode($res->content) };
    return ($res, $j);
}

sub ended { my $j = eval { JSON::PP->new->decode($_[0]->content) }; $j ? $j->{ended} : undef }

sub alice_docs { scalar db_find($DB, 'yours', { user => 'alice' }) }

db('delete', $DB, 'yours', '{}');
db('delete', $DB, 'yoursc', '{}');

# alice in two browsers, bob in one
my ($a1, $a2, $b1) = (browser(), browser(), browser());
$a1->get('/mine/app?set=k:1', auth('alice'));
$a2->get('/mine/app?set=k:2', auth('alice'));
$b1->get('/mine/app?set=k:3', auth('bob'));
my ($t1, $t2, $tb) = map { $_->cookie('ysid') // '' } $a1, $a2, $b1;
ok t_cmp(scalar(grep { /^[A-Za-z0-9_-]{43}$/ } $t1, $t2, $tb), 3, 'three sessions');
ok t_cmp(db_one($DB, 'yours', sha256_hex($t1))->{user}, 'alice', 'owned by alice');
ok t_cmp(exists db_one($DB, 'yours', sha256_hex($t1))->{client} ? 1 : 0, 0,
         'SessionMongoDBRecordClient Off: no client recorded');

# an expired session of alice, and a per-user session of hers in the
# same collection: neither is listed, nor ended
my $past = int(time * 1000) - 60_000;
db('insert', $DB, 'yours', JSON::PP->new->encode({ _id => sha256_hex('expired token'),
    value => 'x=1', user => 'alice', created => { '$date' => { '$numberLong' => "$past" } },
    expiry => { '$date' => { '$numberLong' => "$past" } } }));
db('insert', $DB, 'yours', '{"_id": "alice", "value": "p=1", "user": "alice"}');

# ---- the list ---------------------------------------------------------
my ($res, $j) = list($a1, 'alice');
ok t_cmp($res->code, 200, 'GET: the list');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, '... as JSON');
ok t_cmp($res->header('Cache-Control') // '', qr/\bno-store\b/, '... not to be stored');
ok t_cmp(ref $j, "HASH", "... that parses");
ok t_cmp($j->{user}, 'alice', '... of alice');
my @s = @{ $j->{sessions} // [] };
ok t_cmp(scalar @s, 2, 'her two live cookie sessions, not the expired one nor the per-user one');
ok t_cmp(join(',', sort map { $_->{id} } @s), join(',', sort map { listed_id($_) } $t1, $t2),
         'each under the documented id');
my ($cur) = grep { $_->{current} } @s;
ok t_cmp($cur && $cur->{id}, listed_id($t1), 'the request\'s own session is current');
ok t_cmp(scalar(grep { $_->{current} } @s), 1, '... and only it');
ok t_cmp(scalar(grep { ($_->{created} // '') =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/ } @s), 2,
         'created: RFC 3339, UTC');
ok t_cmp(scalar(grep { ($_->{updated} // '') =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/ } @s), 2,
         'updated: RFC 3339, UTC');
ok t_cmp(scalar(grep { ($_->{expires} // '') =~ /Z$/ } @s), 2, 'expires (SessionMaxAge)');
ok t_cmp(scalar(grep { exists $_->{client} } @s), 0, 'no client where RecordClient is Off');
my $body = $res->content;
ok t_cmp(scalar(grep { index($body, $_) >= 0 } $t1, $t2, $tb), 0, 'no token in the list');
ok t_cmp(scalar(grep { index($body, sha256_hex($_)) >= 0 } $t1, $t2, $tb), 0, '... nor an _id');
ok t_cmp(index($body, listed_id($tb)) >= 0 ? 1 : 0, 0, '... nor bob\'s session');
my ($res2, $j2) = list($a1, 'alice');
ok t_cmp(join(',', map { $_->{id} } @{ $j2->{sessions} }), join(',', map { $_->{id} } @s),
         'the ids stay, in the same order, at the next request');
($res2, $j2) = list($a2, 'alice');
($cur) = grep { $_->{current} } @{ $j2->{sessions} };
ok t_cmp($cur && $cur->{id}, listed_id($t2), 'from the other browser, that one is current');
my ($rb, $jb) = list($b1, 'bob');
ok t_cmp(join(',', map { $_->{id} } @{ $jb->{sessions} }), listed_id($tb), 'bob sees his one session');

# without a verified user
$res = $a1->get('/mine/sessions');
ok t_cmp($res->code, 401, 'no credentials: 401');
ok t_cmp(index($res->content, listed_id($t1)) >= 0 ? 1 : 0, 0, '... nothing listed');
$res = $a1->get('/mine/sessions', Authorization => 'Basic ' . encode_base64('alice:wrong', ''));
ok t_cmp($res->code, 401, 'a wrong password: 401');
$res = Apache::TestRequest::GET('/mine-open/sessions', Cookie => "ysid=$t1");
ok t_cmp($res->code, 403, 'where no user is required: 403');
ok t_cmp(index($res->content, listed_id($t1)) >= 0 ? 1 : 0, 0, '... nothing listed');
$res = Apache::TestRequest::POST('/mine-open/sessions', content => 'end=all', Cookie => "ysid=$t1", @same);
ok t_cmp($res->code, 403, '... nor ended');
ok t_cmp(alice_docs(), 4, '... all of alice\'s documents still there');

# the index on user, which the list's query names (created by the
# housekeeper within about a second of the collection's first use)
my $indexed = 0;
for (1 .. 50) { $indexed = grep { /"user"/ } db('indexes', $DB, 'yours') and last; sleep 0.1 }
ok t_cmp($indexed ? 1 : 0, 1, 'the collection has the index on user');

# ---- cross-site requests are refused ------------------------------------
for my $case (['Origin of another site', Origin => 'http://evil.example'],
              ['Origin of another port', Origin => 'http://' . Apache::TestRequest::hostport() =~ s/:\d+$/:1/r],
              ['Origin null', Origin => 'null'],
              ['Sec-Fetch-Site: cross-site', 'Sec-Fetch-Site' => 'cross-site'],
              ['Sec-Fetch-Site: same-site', 'Sec-Fetch-Site' => 'same-site'],
              ['another Origin, whatever Sec-Fetch-Site says', Origin => 'http://evil.example',
               'Sec-Fetch-Site' => 'same-origin'],
              ['neither Origin nor Sec-Fetch-Site']) {
    my ($what, @h) = @$case;
    $res = $a1->post('/mine/sessions', 'end=others', auth('alice'), @h);
    ok t_cmp($res->code, 403, "POST with $what: 403");
}
ok t_cmp(alice_docs(), 4, 'nothing ended by them');
$res = $a1->post('/mine/sessions', 'end=others', auth('alice'), @same,
                 'Content-Type' => 'text/plain');
ok t_cmp($res->code, 415, 'a body that is not a form: 415');
$res = $a1->post('/mine/sessions', 'end=' . ('x' x 2000), auth('alice'), @same);
ok t_cmp($res->code, 413, 'a form over 1024 bytes: 413');
$res = $a1->post('/mine/sessions', 'nothing=1', auth('alice'), @same);
ok t_cmp($res->code, 400, 'no end field: 400');
ok t_cmp(alice_docs(), 4, 'nothing ended by them either');

# ---- another user's session is never touched ---------------------------
$res = $a1->post('/mine/sessions', 'end=' . listed_id($tb), auth('alice'), @same);
ok t_cmp($res->code, 200, 'alice ends bob\'s id');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, '... JSON');
ok t_cmp(ended($res), 0, '... {"ended": 0}');
ok t_cmp(db_one($DB, 'yours', sha256_hex($tb))->{user}, 'bob', '... bob\'s session is intact');
ok t_cmp($b1->values($b1->get('/mine/app', auth('bob')))->{k}, 3, '... and still his');
$res = $a1->post('/mine/sessions', 'end=' . sha256_hex($tb), auth('alice'), @same);
ok t_cmp(ended($res), 0, 'bob\'s _id: ended 0');
$res = $a1->post('/mine/sessions', 'end=' . listed_id('no such token'), auth('alice'), @same);
ok t_cmp(ended($res), 0, 'an id that does not exist: ended 0');
ok t_cmp(scalar(db_find($DB, 'yours', {})), 5, 'every document still there');

# ---- end=<id> --------------------------------------------------------------
$res = $a1->post('/mine/sessions', 'end=' . listed_id($t2), auth('alice'), @same);
ok t_cmp(ended($res), 1, 'end=ID: {"ended": 1}');
ok t_cmp(db_one($DB, 'yours', sha256_hex($t2)), undef, '... its document is gone at once');
ok t_cmp($a1->cookie('ysid'), $t1, '... the request that ended it keeps its cookie');
ok t_cmp(defined db_one($DB, 'yours', sha256_hex($t1)) ? 1 : 0, 1, '... its own session too');
$res = $a2->get('/mine/app', auth('alice'));
ok t_cmp($a2->values($res)->{k}, undef, 'the ended session\'s next request has no session');
ok t_cmp(db_one($DB, 'yours', sha256_hex($t2)), undef, '... and does not bring it back');

# a request of a session in flight while it is ended does not bring it
# back: it loaded the session, sleeps, then saves a change
$a2->get('/mine/app?set=k:2', auth('alice'));
$t2 = $a2->cookie('ysid');
my $pid = fork // die "fork: $!";
if (!$pid) {
    my $r = $a2->get('/mine/app?set=y:2&sleep=2', auth('alice'));
    exit(($a2->values($r)->{k} // '') eq '2' ? 0 : 1);
}
sleep 0.7;
$res = $a1->post('/mine/sessions', 'end=' . listed_id($t2), auth('alice'), @same);
ok t_cmp(ended($res), 1, 'a session ended while a request of it runs');
ok t_cmp(db_one($DB, 'yours', sha256_hex($t2)), undef, '... gone at once');
waitpid $pid, 0;
ok t_cmp($?, 0, 'the slow request had loaded the session before it was ended');
ok t_cmp(db_one($DB, 'yours', sha256_hex($t2)), undef, '... and its save did not bring it back');
ok t_cmp(scalar(grep { ($_->{value} // '') =~ /y=2/ } db_find($DB, 'yours', {})), 0,
         '... nor put its change anywhere');
ok t_cmp(error_log_since(0), qr/SMDB00324: session \w+\.\.\. was deleted/, '... and said so');

# ---- end=others ------------------------------------------------------------
my $a3 = browser();
$a3->get('/mine/app?set=k:4', auth('alice'));
my $t3 = $a3->cookie('ysid');
$res = $a1->post('/mine/sessions', 'end=others', auth('alice'), 'Sec-Fetch-Site' => 'same-origin');
ok t_cmp($res->code, 200, 'end=others, with Sec-Fetch-Site: same-origin and no Origin');
ok t_cmp(ended($res), 1, '... {"ended": 1}');
ok t_cmp(db_one($DB, 'yours', sha256_hex($t3)), undef, '... the other session is gone');
ok t_cmp(defined db_one($DB, 'yours', sha256_hex($t1)) ? 1 : 0, 1, '... the current one stays');
ok t_cmp($a1->values($a1->get('/mine/app', auth('alice')))->{k}, 1, '... with its data');
ok t_cmp(defined db_one($DB, 'yours', 'alice') ? 1 : 0, 1, '... the per-user session is no cookie session: untouched');
ok t_cmp(db_one($DB, 'yours', sha256_hex($tb))->{user}, 'bob', '... bob\'s untouched');
($res, $j) = list($a1, 'alice');
ok t_cmp(join(',', map { $_->{id} } @{ $j->{sessions} }), listed_id($t1), 'alice has one session left');

# ---- end=all -----------------------------------------------------------------
$a2->get('/mine/app?set=k:5', auth('alice'));
$t2 = $a2->cookie('ysid');
$res = $a1->post('/mine/sessions', 'end=all', auth('alice'), @same);
ok t_cmp(ended($res), 2, 'end=all: {"ended": 2}');
ok t_cmp(join(' | ', $res->header('Set-Cookie')), qr/^ysid=;.*(?:max-age=0|expires=[^;]*1970)/i,
         '... the current cookie expired in the response');
ok t_cmp($a1->cookie('ysid'), undef, '... so the browser drops it');
ok t_cmp(scalar(grep { $_->{_id} =~ /^[0-9a-f]{64}$/ && !$_->{expiry} || ($_->{expiry} // 0) > time * 1000 }
                db_find($DB, 'yours', { user => 'alice' })), 0,
         '... no live cookie session of alice is left, none written by the response');
$res = Apache::TestRequest::GET('/mine/app', auth('alice'), Cookie => "ysid=$t1");
ok t_cmp($a1->values($res)->{k}, undef, 'the old cookie finds no session');
ok t_cmp(db_one($DB, 'yours', sha256_hex($tb))->{user}, 'bob', 'bob\'s session is intact');

# ---- SessionMongoDBRecordClient On -----------------------------------------
my $c = browser();
my $agent = "agent \"q\" \\ <b>&\xff" . ('x' x 300);
$c->get('/minec/app?set=k:1', auth('alice'), 'User-Agent' => $agent);
my $cdoc = db_one($DB, 'yoursc', sha256_hex($c->cookie('ycsid') // ''));
ok t_cmp($cdoc && $cdoc->{client}{ip}, '127.0.0.1', 'RecordClient On: the client\'s address recorded');
# (the helpers decode JSON into bytes, not characters)
my $stored = $cdoc ? $cdoc->{client}{agent} // '' : '';
ok t_cmp(length($stored) <= 200 && length($stored) >= 197 ? 1 : 0, 1,
         '... its User-Agent cut to 200 bytes');
ok t_cmp(index($stored, "agent \"q\" \\ <b>&\xef\xbf\xbd") == 0 ? 1 : 0, 1,
         '... a byte that is not UTF-8 stored as U+FFFD');
# a document another program wrote, with controls in the agent
db('insert', $DB, 'yoursc', '{"_id": "' . sha256_hex('written elsewhere') . '", "value": "a=1", '
    . '"user": "alice", "client": {"ip": "192.0.2.1", "agent": "tab\\tnl\\ncr\\r\\u0001\\u007f\\u2028"}}');
($res, $j) = list($c, 'alice', '/minec');
ok t_cmp(ref $j, "HASH", "the list with clients parses as JSON");
my ($mine) = grep { $_->{current} } @{ $j->{sessions} // [] };
ok t_cmp($mine && $mine->{client}{ip}, '127.0.0.1', '... client.ip');
my $shown = $mine ? $mine->{client}{agent} : '';
ok t_cmp($shown, $stored, '... client.agent as stored');
my ($other) = grep { !$_->{current} } @{ $j->{sessions} // [] };
ok t_cmp($other && $other->{client}{agent}, "tab\tnl\ncr\r\x01\x7f\x{2028}", '... controls come back as they were');
ok t_cmp($res->content =~ /[\x00-\x1f\x7f](?!\z)/ ? 1 : 0, 0, '... escaped, none raw in the answer');
ok t_cmp($res->content, qr/\\u003cb\\u003e\\u0026/, '... and markup escaped');
