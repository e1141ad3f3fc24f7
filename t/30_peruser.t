# SessionMongoDBPerUser: sessions keyed by the Basic-auth user, no cookie.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use MIME::Base64 qw(encode_base64);

plan tests => 10, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_auth_basic.c', 'mod_authn_file.c';

sub auth { (Authorization => 'Basic ' . encode_base64(join(':', @_), '')) }

db('delete', 'smdb_test', 'peruser', '{}');

my $b = browser();
my $res = $b->get('/peruser?set=lang:fr', auth('alice', 'alicepw'));
ok t_cmp($res->code, 200, 'alice logged in');
ok t_cmp($res->header('Set-Cookie'), undef, 'no session cookie per user');
my $doc = db_one('smdb_test', 'peruser', 'alice');
ok t_cmp($doc->{value}, 'lang=fr', 'document keyed by the user name');
ok t_cmp($doc->{user}, 'alice', 'user field written');

# a second browser, same user: same session
my $c = browser();
$res = $c->get('/peruser', auth('alice', 'alicepw'));
ok t_cmp($c->values($res), { lang => 'fr' }, 'same user, same session from another browser');
ok t_cmp(commands($res->{smdb_id}), 'find', 'one find');

# bob has his own
$res = $c->get('/peruser', auth('bob', 'bobpw'));
ok t_cmp($c->values($res), {}, 'bob does not see alice\'s session');
$c->get('/peruser?set=lang:de', auth('bob', 'bobpw'));
ok t_cmp(db_one('smdb_test', 'peruser', 'bob')->{value}, 'lang=de', 'bob stored apart');
ok t_cmp(db_one('smdb_test', 'peruser', 'alice')->{value}, 'lang=fr', 'alice unchanged');

# no user: refused by auth before any session work
$res = $b->get('/peruser?set=x:1');
ok t_cmp($res->code, 401, 'no user: 401');
