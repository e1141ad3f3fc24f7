# SPDX-License-Identifier: Apache-2.0
# Error documents and identity: the error document of a request that
# failed authentication sees no session and writes none; the error
# document of a request that passed its checks (a 404) sees and writes
# the session as any page does.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use MIME::Base64 qw(encode_base64);

plan tests => 12, need_module 'mod_session_mongodb.c', 'mod_session.c',
    'mod_auth_basic.c', 'mod_authn_file.c';

my $g = browser();
$g->get('/basic?set=cart:5');
my $tok = $g->cookie('sid');
ok $tok;

# /guarded: the /basic session behind Basic auth, whose 401 error document
# (in the same Location, so httpd hands it the claimed r->user) tries to
# write the session
my $res = $g->get('/guarded', Authorization => 'Basic ' . encode_base64('alice:WRONG', ''));
ok t_cmp($res->code, 401, 'a wrong password: 401');
ok t_cmp(scalar(my @c = $res->header('Cache-Control')) <= 1 ? 1 : 0, 1, '... at most one Cache-Control');
ok t_cmp($res->content, qr/^session=/m, '... its error document is served');
ok t_cmp($res->content =~ /^session=.*cart/m ? 1 : 0, 0, '... and sees no session');
ok t_cmp($g->cookie('sid'), $tok, '... the token is kept');
ok t_cmp($g->values($g->get('/basic')), { cart => 5 }, '... and the session is as it was');

# /missing: no such file, after checks that passed; its error document is
# the /basic app, which sees the session and writes into it
$res = $g->get('/missing');
ok t_cmp($res->code, 404, 'a missing page: 404');
my @cc = $res->header('Cache-Control');
ok t_cmp(join(' | ', @cc), 'no-cache, private', '... with one Cache-Control');
ok t_cmp($g->values($res), { cart => 5, nf => 1 }, '... its error document sees the session');
ok t_cmp($g->cookie('sid'), $tok, '... under the same token');
ok t_cmp($g->values($g->get('/basic')), { cart => 5, nf => 1 }, '... and what it wrote is saved');
