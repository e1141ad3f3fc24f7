# SPDX-License-Identifier: Apache-2.0
# Sizing figures for docs/operations.md, measured through the real module:
# the BSON size of stored session documents (a typical logged-in session,
# the same encrypted by mod_session_crypto, and large ones), and the
# MongoDB writes of a user's requests with and without
# SessionExpiryUpdateInterval. The figures are printed as "# sizing:"
# lines; the assertions check what the figures rest on (a fixed overhead
# per document over the encoded session, a write per request without an
# update interval, none within it). (A CGI script hands its session to
# mod_session in a response header, which httpd limits to 8 kB: the large
# session here is 7 kB.) Run alone:
#   unshare -n bash -c 'ip link set lo up && MSM_MONGODB=jongodb t/run -v t/97_sizing.t'
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use JSON::PP ();
use SMDB::Test;

plan tests => 9, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_auth_form.c', 'mod_request.c';

my $mods = Apache::Test::config()->{modules};

# bson_size(DOC): the size in bytes of the BSON document that msm-db
# printed as canonical extended JSON (BSON spec: int32 length, elements,
# a NUL; an element is a type byte, its name and a NUL, then the value).
sub bson_size {
    my $v = shift;
    my $size = 4 + 1;
    for my $k (keys %$v) {
        my $x = $v->{$k};
        $size += 1 + length($k) + 1;
        if (!ref $x) {                                  # string
            utf8::encode(my $b = $x);
            $size += 4 + length($b) + 1;
        }
        elsif (exists $x->{'$date'} || exists $x->{'$numberLong'}
               || exists $x->{'$numberDouble'}) {       # date, int64, double
            $size += 8;
        }
        elsif (exists $x->{'$numberInt'}) {
            $size += 4;
        }
        elsif (ref $x eq 'HASH' && !grep { /^\$/ } keys %$x) {  # document
            $size += bson_size($x);                     # (client: {ip, agent})
        }
        else {
            die "bson_size: unexpected value of '$k'\n";
        }
    }
    return $size;
}

# raw(DB, COLL, ID): the stored document as canonical extended JSON
sub raw {
    my ($db, $coll, $id) = @_;
    my ($line) = db('find', $db, $coll, JSON::PP->new->encode({ _id => $id }));
    return $line ? JSON::PP->new->decode($line) : undef;
}

sub login {
    my ($module, $path, $cookie_name, $body) = @_;
    Apache::TestRequest::module($module);
    my $res = Apache::TestRequest::POST($path, content => $body);
    for my $sc ($res->header('Set-Cookie')) {
        return $1 if $sc =~ /^\s*\Q$cookie_name\E=([^;]+)/;
    }
    return undef;
}

# what a document costs over the session that mod_session encoded
sub overhead { my $d = shift; bson_size($d) - length($d->{value}) }

# ---- a typical logged-in session: /site, mod_auth_form ------------------
db('delete', 'smdb_test', 'site', '{}');
my $b = browser();
my $tok = login('default', '/site/dologin', 'fsid',
                'httpd_username=alice&httpd_password=alicepw');
$b->set_cookie('fsid', $tok);
$b->get('/site/app?set=cart:3&set=lang:en&set=theme:dark');
my $typical = raw('smdb_test', 'site', sha256_hex($tok));
ok t_cmp($typical && $typical->{user}, 'alice', 'a logged-in session with three keys is stored');
my $typical_size = bson_size($typical);
t_debug("typical value: $typical->{value}");
print "# sizing: typical logged-in session (mod_auth_form, 3 keys): "
    . length($typical->{value}) . " bytes encoded, document $typical_size bytes of BSON\n";

# ---- large sessions: /basic with a value of N bytes ---------------------
db('delete', 'smdb_test', 'basic', '{}');
my %large;
for my $n (1000, 7000) {
    my $l = browser();
    $l->get("/basic?big=$n");
    $large{$n} = raw('smdb_test', 'basic', sha256_hex($l->cookie('sid')));
    print "# sizing: anonymous session with a $n-byte value: "
        . length($large{$n}{value}) . " bytes encoded, document "
        . bson_size($large{$n}) . " bytes of BSON\n";
}
ok t_cmp(length($large{7000}{value}) >= 7000 ? 1 : 0, 1, 'a 7 kB session is stored whole');
# the rest of the document does not grow with the session
ok t_cmp(overhead($large{7000}), overhead($large{1000}),
         'the document costs the same bytes over its value, whatever its size');
ok t_cmp(overhead($typical) <= 250 ? 1 : 0, 1,
         'a logged-in document costs at most 250 bytes over its encoded session (' . overhead($typical) . ')');

# ---- the same typical session, encrypted: the example login site --------
SKIP: {
    skip 'the example login site needs mod_session_crypto', 1
        unless $mods->{'mod_session_crypto.c'};
    db('delete', 'smdb_examples', 'login_site', '{}');
    my $etok = login('smdb_ex_login', '/dologin', 'login_session',
                     'httpd_username=alice&httpd_password=alicepw');
    my $enc = raw('smdb_examples', 'login_site', sha256_hex($etok // ''));
    ok t_cmp($enc && $enc->{user}, 'alice', 'an encrypted logged-in session is stored');
    print "# sizing: logged-in session encrypted by mod_session_crypto (examples/login-site): "
        . length($enc->{value}) . " bytes encoded, document " . bson_size($enc)
        . " bytes of BSON\n" if $enc;
}

# ---- writes: 20 requests of an unchanged session ------------------------
# /site: SessionMaxAge 1800, no SessionExpiryUpdateInterval;
# /interval: SessionMaxAge 3600, SessionExpiryUpdateInterval 600
my %writes;
for my $case (['/site/app', $b], ['/interval', undef]) {
    my ($path, $w) = @$case;
    $w //= do { my $i = browser(); $i->get('/interval?set=a:1'); $i };
    my $n = 0;
    for (1 .. 20) {
        my $res = $w->get($path);
        $n += () = commands($res->{smdb_id}) =~ /\bupdate\b/g;
    }
    $writes{$path} = $n;
    print "# sizing: 20 requests of an unchanged session at $path: $n updates\n";
}
ok t_cmp($writes{'/site/app'}, 20, 'without an update interval, every request writes');
ok t_cmp($writes{'/interval'}, 0, 'within the update interval, no request writes');

# ---- what a document holds ----------------------------------------------
ok t_cmp(join(',', sort keys %$typical), '_id,created,expiry,updated,user,value,version',
         'a logged-in session has the seven documented fields');
ok t_cmp(length($typical->{_id}), 64, '... its _id: 64 hex digits');
