# SPDX-License-Identifier: Apache-2.0
# SessionMongoDBMaxSize: an oversize session is refused, the stored one kept.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

plan tests => 7, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $b = browser();
my $res = $b->get('/small?set=keep:me');
my $token = $b->cookie('ssid');
ok $token;
my $offset = error_log_size();
$res = $b->get('/small?big=500');
ok t_cmp($res->code, 200, 'oversize save: the response still goes out');
ok t_cmp($res->header('Set-Cookie'), undef, 'no cookie for a session that was not stored');
ok t_cmp(error_log_since($offset), qr/SMDB00316: not saving the session: \d+ bytes encoded, SessionMongoDBMaxSize is 200/,
         'refusal logged with its id');
ok t_cmp(db_one('smdb_test', 'small', sha256_hex($token))->{value}, 'keep=me', 'stored session unchanged');
$res = $b->get('/small');
ok t_cmp($b->values($res), { keep => 'me' }, 'old session still served');
ok t_cmp($b->cookie('ssid'), $token, 'and its token kept');
