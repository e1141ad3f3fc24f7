# SPDX-License-Identifier: Apache-2.0
# The status page: counters that move with the requests, in plain text
# and JSON; a section on mod_status's page; the version in the signature.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);
use SMDB::Test;
use JSON::PP ();

plan tests => 12, need_module 'mod_session_mongodb.c', 'mod_session.c', 'mod_status.c';

sub status {
    my $res = GET('/smdb-status?json');
    die "status page: " . $res->code unless $res->code == 200;
    return JSON::PP->new->decode($res->content);
}

my $before = status();
ok t_cmp($before->{version}, qr/^\d+\.\d+\.\d+$/, 'version shown');
ok t_cmp(ref $before->{connections}, 'ARRAY', 'connections listed');

my $b = browser();
$b->get('/basic?set=s:1');        # new session: one save, no load
$b->get('/basic?set=s:2');        # one load, one save
$b->get('/basic');                # one load
my $junk = browser();
$junk->set_cookie(sid => 'junk');
$junk->get('/basic');             # nothing
my $after = status();
my %d = map { $_ => $after->{server}{$_} - $before->{server}{$_} }
    qw(loads saves not_found errors refused_saves);
ok t_cmp($d{saves}, 2, 'server.saves moved by 2');
ok t_cmp($d{loads}, 2, 'server.loads moved by 2');
ok t_cmp($d{not_found}, 0, 'nothing reported missing');
ok t_cmp($d{errors}, 0, 'no errors');
ok t_cmp($after->{server}{load_ms_avg} > 0 ? 1 : 0, 1, 'average load time measured');

my $plain = GET('/smdb-status')->content;
ok t_cmp($plain, qr/^server\.saves: \d+$/m, 'plain: server.saves line');
ok t_cmp($plain, qr/^child\.loads: \d+$/m, 'plain: child.loads line');
ok t_cmp($plain, qr/^connection: mongodb:\/\/\S+ breaker=closed failures=0 clients_in_use=\d+ pool=ready$/m,
         'plain: the connection and its breaker');

my $auto = GET('/server-status?auto')->content;
ok t_cmp($auto, qr/^SessionMongoDBSaves: \d+$/m, 'mod_status section');
ok t_cmp(GET('/smdb-status')->header('Server'), qr{mod_session_mongodb/\d+\.\d+\.\d+},
         'version in the server signature');
