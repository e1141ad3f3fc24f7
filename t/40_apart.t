# SPDX-License-Identifier: Apache-2.0
# Two <Location>s with different databases and collections keep their
# sessions apart; the database may come from the URI's path.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

plan tests => 9, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $b = browser();
$b->get('/basic?set=where:basic');
$b->get('/other?set=where:other');
my ($t1, $t2) = ($b->cookie('sid'), $b->cookie('osid'));
ok $t1 && $t2 && $t1 ne $t2;

ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($t1))->{value}, 'where=basic', 'first in smdb_test.basic');
ok t_cmp(db_one('smdb_other', 'elsewhere', sha256_hex($t2))->{value}, 'where=other', 'second in smdb_other.elsewhere');
ok t_cmp(db_one('smdb_test', 'basic', sha256_hex($t2)), undef, 'not mixed up');

my $res = $b->get('/basic');
ok t_cmp($b->values($res), { where => 'basic' }, '/basic reads its own');
$res = $b->get('/other');
ok t_cmp($b->values($res), { where => 'other' }, '/other reads its own');

# the virtual host whose URI names the database smdb_uridb
my $u = browser(module => 'smdb_uridb');
$res = $u->get('/uridb?set=from:uri');
ok t_cmp($res->code, 200, 'vhost without SessionMongoDBDatabase serves');
my $t3 = $u->cookie('usid');
ok t_cmp(db_one('smdb_uridb', 'fromuri', sha256_hex($t3))->{value}, 'from=uri',
         'database taken from the URI path');
$res = $u->get('/uridb');
ok t_cmp($u->values($res), { from => 'uri' }, 'and read back');
