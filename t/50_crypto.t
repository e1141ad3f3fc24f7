# SPDX-License-Identifier: Apache-2.0
# mod_session_crypto on top: MongoDB holds ciphertext, the app reads values.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

plan tests => 6, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_session_crypto.c';

my $b = browser();
my $res = $b->get('/crypto?set=secret:hunter2&set=n:1');
ok t_cmp($res->code, 200, 'encrypted session saved');
my $doc = db_one('smdb_test', 'crypto', sha256_hex($b->cookie('csid')));
ok $doc && length $doc->{value} > 20;
ok t_cmp($doc->{value} =~ /hunter2|secret/ ? 1 : 0, 0, 'the database holds no plaintext');
$res = $b->get('/crypto');
ok t_cmp($b->values($res), { secret => 'hunter2', n => '1' }, 'the app reads decrypted values');
$res = $b->get('/crypto?set=n:2');
ok t_cmp($b->values($res), { secret => 'hunter2', n => '2' }, 'and changes them');
ok t_cmp($b->values($b->get('/crypto')), { secret => 'hunter2', n => '2' }, 'change persisted');
