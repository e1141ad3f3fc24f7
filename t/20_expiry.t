# SPDX-License-Identifier: Apache-2.0
# SessionMaxAge: the expiry field, expired documents are not loaded;
# SessionExpiryUpdateInterval: reads do not write.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use Time::HiRes qw(sleep time);

plan tests => 13, need_module 'mod_session_mongodb.c', 'mod_session.c';

# /maxage: SessionMaxAge 2
my $b = browser();
my $before = time;
my $res = $b->get('/maxage?set=k:v');
my $token = $b->cookie('msid');
ok $token;
ok t_cmp($res->header('Set-Cookie'), qr/max-age=2\b/i, 'cookie Max-Age follows SessionMaxAge');
my $doc = db_one('smdb_test', 'maxage', sha256_hex($token));
ok $doc && $doc->{expiry};
ok t_cmp(abs($doc->{expiry} - ($before + 2) * 1000) < 1500, 1,
         'expiry is a date about SessionMaxAge from now');
$res = $b->get('/maxage');
ok t_cmp($b->values($res), { k => 'v' }, 'session readable before expiry');

# let the stored session expire (without touching it)
sleep 3.2;
$res = $b->get('/maxage');
ok t_cmp($b->values($res), {}, 'expired session is not loaded');
ok t_cmp(commands($res->{smdb_id}), 'find', 'one find, nothing written');

# the next write starts a new session under a new token
$res = $b->get('/maxage?set=k:new');
ok $b->cookie('msid') && $b->cookie('msid') ne $token;   # new token

# /interval: SessionMaxAge 3600, SessionExpiryUpdateInterval 600
my $c = browser();
$res = $c->get('/interval?set=a:1');
ok t_cmp(commands($res->{smdb_id}), 'update', 'new session: one write');
my $itoken = $c->cookie('isid');
my $first = db_one('smdb_test', 'interval', sha256_hex($itoken));
ok t_cmp(abs($first->{expiry} - (time + 3600) * 1000) < 5000, 1, 'expiry an hour ahead');
$res = $c->get('/interval');
ok t_cmp($c->values($res), { a => '1' }, 'session read');
ok t_cmp(commands($res->{smdb_id}), 'find', 'read within the update interval: no write');
ok t_cmp(db_one('smdb_test', 'interval', sha256_hex($itoken))->{updated},
         $first->{updated}, 'document untouched');
