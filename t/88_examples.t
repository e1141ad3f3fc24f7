# SPDX-License-Identifier: Apache-2.0
# The examples of examples/, as shipped, through real requests: the CGI
# shopping cart, the PHP visit counter under mod_php, and the form-login
# site. Each runs in a virtual host of t/conf/examples.conf.in that
# includes the example's own configuration file; the sessions go to the
# database smdb_examples.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use SMDB::Test;
use JSON::PP ();

my $cfg = Apache::Test::config();
my $mods = $cfg->{modules};
# mod_php as the test server loads it (t/TEST.PL leaves it out under a
# threaded MSM_MPM)
my $httpd_conf = do {
    my $conf = "$cfg->{vars}{t_conf}/httpd.conf";
    open my $fh, '<', $conf or die "$conf: $!";
    local $/;
    <$fh>;
};
my $php = $httpd_conf =~ /^\s*LoadModule\s+php\w*_module\s/m;
# why not, exactly: not installed, or installed but refused by the MPM
# the server runs, or installed but not enabled in the system's apache2
my $no_php = do {
    my ($mpm) = $httpd_conf =~ /^\s*LoadModule\s+mpm_(\w+)_module\s/m;
    my $moddir = $cfg->apxs('LIBEXECDIR') // '';
    my @so = glob("$moddir/libphp*.so");
    !@so ? 'the PHP example needs mod_php: install libapache2-mod-php '
           . '(which switches the system\'s apache2 to the prefork MPM)'
    : ($mpm // '') ne 'prefork'
         ? 'mod_php (' . join(', ', map { s{.*/}{}r } @so) . ') cannot be loaded under the '
           . ($mpm // 'unknown') . ' MPM (it needs prefork: MSM_MPM=prefork runs this)'
    : 'mod_php is installed but not enabled in the system\'s apache2 (a2enmod php…)';
};

plan tests => 78, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $DB = 'smdb_examples';

# post(BROWSER, PATH, BODY): a POST with the browser's cookies; the
# response's Set-Cookie headers update its jar, as its get() does.
sub post {
    my ($b, $path, $body) = @_;
    my $jar = $b->{jar};
    my $cookie = join '; ', map { "$_=$jar->{$_}" } sort keys %$jar;
    Apache::TestRequest::module($b->{module});
    my $res = Apache::TestRequest::POST($path, content => $body,
        ($cookie ? (Cookie => $cookie) : ()));
    for my $sc ($res->header('Set-Cookie')) {
        my ($name, $value) = $sc =~ /^\s*([^=;\s]+)=([^;]*)/ or next;
        if ($value eq '' || $sc =~ /max-age=0\b/i || $sc =~ /expires=[^;]*1970/i) {
            $b->forget($name);
        }
        else {
            $b->set_cookie($name, $value);
        }
    }
    return $res;
}

# a stored session's value as a hash
sub decoded {
    my $value = shift // '';
    my %h;
    for (grep { length } split /&/, $value) {
        my ($k, $v) = map { my $s = $_ // ''; $s =~ tr/+/ /; $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
            split /=/, $_, 2;
        $h{$k} = $v unless $k eq 'expiry';
    }
    return \%h;
}

sub qty { my ($res, $item) = @_; $res->content =~ /id="qty-$item">(\d+)</ ? $1 : undef }

# ---- examples/cgi: the shopping cart -----------------------------------
SKIP: {
    skip 'the CGI example needs mod_cgid', 20 unless $mods->{'mod_cgid.c'};
    db('delete', $DB, 'cart', '{}');
    my $b = browser(module => 'smdb_ex_cgi');

    my $res = $b->get('/cart');
    is $res->code, 200, 'cart: the page';
    is qty($res, 'apple'), 0, 'cart: empty at first';
    is $res->header('Set-Cookie'), undef, 'cart: no session until something is put in the cart';

    $res = post($b, '/cart', 'add=apple');
    is $res->code, 303, 'cart: a POST answers 303';
    is $res->header('Location'), '/cart', '... back to the cart';
    is $res->header('X-Replace-Session'), undef, '... without the X-Replace-Session header';
    my $token = $b->cookie('cart_session');
    like $token // '', qr/^[A-Za-z0-9_-]{43}$/, 'cart: the session cookie carries a token';
    like scalar $res->header('Set-Cookie'), qr/path=\/cart.*HttpOnly.*SameSite=Lax/i,
        '... with path=/cart, HttpOnly and SameSite=Lax';
    my $doc = db_one($DB, 'cart', sha256_hex($token));
    is_deeply decoded($doc->{value}), { 'cart.apple' => 1 }, 'cart: the document holds the cart';
    ok $doc->{expiry}, '... and an expiry (SessionMaxAge)';

    post($b, '/cart', 'add=apple');
    post($b, '/cart', 'add=fig');
    post($b, '/cart', 'add=%3Cscript%3E');    # not in the catalogue: ignored
    $res = $b->get('/cart');
    is_deeply [ map { qty($res, $_) } qw(apple fig pear) ], [2, 1, 0], 'cart: two apples and a fig';
    like $res->content, qr/id="count">3</, '... three items';
    is $b->cookie('cart_session'), $token, 'cart: the token stays';

    post($b, '/cart', 'remove=fig');
    is_deeply decoded(db_one($DB, 'cart', sha256_hex($token))->{value}), { 'cart.apple' => 2 },
        'cart: the last fig removed, its key gone';

    # a client cannot pass a session of its own in a Session header
    my $other = browser(module => 'smdb_ex_cgi');
    $res = $other->get('/cart', Session => 'cart.apple=50');
    is qty($res, 'apple'), 0, 'cart: a Session request header is not the session';

    $res = post($b, '/cart', 'empty=1');
    is $res->code, 303, 'cart: emptied';
    is $b->cookie('cart_session'), undef, '... the cookie expired';
    is db_one($DB, 'cart', sha256_hex($token)), undef, '... the document deleted';
    $res = $b->get('/cart');
    is qty($res, 'apple'), 0, 'cart: empty again';
    is scalar(db_find($DB, 'cart', {})), 0, 'cart: nothing left in the collection';
}

# ---- examples/php: the visit counter under mod_php ---------------------
SKIP: {
    skip $no_php, 16 unless $php;
    db('delete', $DB, 'visits', '{}');
    my $b = browser(module => 'smdb_ex_php');

    my $res = $b->get('/visits');
    is $res->code, 200, 'php: the page';
    unlike $res->content, qr/<\?php/, 'php: run by mod_php, not sent as source';
    like $res->content, qr/id="visits">1</, 'php: the first visit';
    my $token = $b->cookie('visits_session');
    like $token // '', qr/^[A-Za-z0-9_-]{43}$/, 'php: the session cookie carries a token';
    like scalar $res->header('Set-Cookie'), qr/path=\/visits.*HttpOnly.*SameSite=Lax/i,
        '... with path=/visits, HttpOnly and SameSite=Lax';
    is_deeply decoded(db_one($DB, 'visits', sha256_hex($token))->{value}), { visits => 1 },
        'php: the document holds the count';

    $res = $b->get('/visits');
    like $res->content, qr/id="visits">2</, 'php: the second visit';

    # a name with characters that need encoding in the session and in HTML
    $res = post($b, '/visits', 'name=Zo%C3%AB+%26+%3Cb%3E');
    is $res->code, 303, 'php: a POST answers 303';
    is $res->header('Location'), '/visits', '... back to the page';
    is $res->header('X-Replace-Session'), undef, '... without the X-Replace-Session header';
    is decoded(db_one($DB, 'visits', sha256_hex($token))->{value})->{name}, "Zo\xc3\xab & <b>",
        'php: the name stored as sent';
    $res = $b->get('/visits');
    like $res->content, qr/id="name">Zo\xc3\xab &amp; &lt;b&gt;</, 'php: and shown, escaped';
    like $res->content, qr/id="visits">3</, '... on the third visit';
    is $b->cookie('visits_session'), $token, 'php: the token stays';

    post($b, '/visits', 'forget=1');
    is db_one($DB, 'visits', sha256_hex($token)), undef, 'php: forgotten, the document deleted';
    $res = $b->get('/visits');
    like $res->content, qr/id="visits">1<.*/s, 'php: counting from 1 again';
}

# ---- examples/login-site: mod_auth_form ----------------------------------
SKIP: {
    skip 'the login site needs mod_auth_form and mod_session_crypto', 42
        unless $mods->{'mod_auth_form.c'} && $mods->{'mod_session_crypto.c'};
    db('delete', $DB, 'login_site', '{}');
    my $b = browser(module => 'smdb_ex_login');

    my $res = $b->get('/');
    is $res->code, 200, 'login: the public home page';
    is $res->header('Set-Cookie'), undef, '... without a session';
    $res = $b->get('/private/');
    is $res->code, 302, 'login: the private area needs a login';
    like $res->header('Location'), qr{/login\.html$}, '... and sends to the login page';
    $res = $b->get('/login.html');
    like $res->content, qr/action="\/dologin"/, 'login: the form posts to /dologin';

    $res = post($b, '/dologin', 'httpd_username=alice&httpd_password=wrong');
    like $res->header('Location') // '', qr{/login-failed\.html$}, 'login: a wrong password fails';
    is $b->cookie('login_session'), undef, '... and gets no session';
    is scalar(db_find($DB, 'login_site', {})), 0, '... nothing stored';

    $res = post($b, '/dologin', 'httpd_username=alice&httpd_password=alicepw');
    is $res->code, 302, 'login: accepted';
    like $res->header('Location'), qr{/private/$}, '... and sent to the private area';
    my $token = $b->cookie('login_session');
    ok $token, '... with a session cookie';
    my $doc = db_one($DB, 'login_site', sha256_hex($token));
    is $doc->{user}, 'alice', 'login: the document records the user';
    like $doc->{value}, qr/^[A-Za-z0-9+\/=]+$/, '... its value is ciphertext';
    unlike $doc->{value}, qr/alice/, '... in which neither user nor password can be read';

    $res = $b->get('/private/');
    is $res->code, 200, 'login: the private area, logged in';
    like $res->content, qr/id="private"/, '... its page';
    like $res->header('Cache-Control') // '', qr/no-store/, '... not to be stored by the browser';

    # "your sessions": the page, its script, the list it reads, and the
    # end of another browser's session (docs/examples.md)
    $res = $b->get('/private/your-sessions.html');
    is $res->code, 200, 'sessions: the page';
    like $res->content, qr{<script src="/private/your-sessions\.js">}, '... with its script';
    $res = $b->get('/private/your-sessions.js');
    like $res->content, qr{fetch\(endpoint}, '... which reads the list';
    my $other = browser(module => 'smdb_ex_login');
    post($other, '/dologin', 'httpd_username=alice&httpd_password=alicepw');
    my $otoken = $other->cookie('login_session') // '';
    ok $otoken && $otoken ne $token, 'sessions: alice logged in in another browser too';
    $res = $b->get('/private/sessions');
    is $res->code, 200, 'sessions: the list';
    like $res->header('Content-Type'), qr{^application/json}, '... in JSON';
    my $list = eval { JSON::PP->new->decode($res->content) } // {};
    is $list->{user}, 'alice', '... of alice';
    my @listed = @{ $list->{sessions} // [] };
    is scalar @listed, 2, '... her two sessions';
    my ($mine) = grep { $_->{current} } @listed;
    my ($theirs) = grep { !$_->{current} } @listed;
    ok $mine && $theirs, '... this browser\'s and the other\'s';
    is $mine && $mine->{client}{ip}, '127.0.0.1', '... with its address (SessionMongoDBRecordClient On)';
    unlike $res->content, qr/\Q$token\E|\Q$otoken\E/, '... and no token';
    Apache::TestRequest::module('smdb_ex_login');
    my $origin = 'http://' . Apache::TestRequest::hostport();
    $res = $b->post('/private/sessions', 'end=' . ($theirs ? $theirs->{id} : ''),
                    Origin => 'http://evil.example');
    is $res->code, 403, 'sessions: a page of another site cannot end one';
    $res = $b->post('/private/sessions', 'end=' . ($theirs ? $theirs->{id} : ''), Origin => $origin);
    is $res->content, qq({"ended": 1}\n), 'sessions: the other browser\'s session ended';
    is db_one($DB, 'login_site', sha256_hex($otoken)), undef, '... its document gone';
    $res = $other->get('/private/');
    is $res->code, 302, '... and that browser is asked to log in again';
    post($other, '/dologin', 'httpd_username=alice&httpd_password=alicepw');
    is $other->get('/private/')->code, 200, 'sessions: logged in there again';
    $res = $b->post('/private/sessions', 'end=others', Origin => $origin);
    is $res->content, qq({"ended": 1}\n), 'sessions: end=others';
    is $other->get('/private/')->code, 302, '... logs the other browser out';
    is $b->get('/private/')->code, 200, '... and not this one';
    is $b->cookie('login_session'), $token, '... which keeps its token';
    $res = browser(module => 'smdb_ex_login')->get('/private/sessions');
    is $res->code, 302, 'sessions: without a login, the list sends to the login page';

    $res = $b->get('/logout');
    like $res->code, qr/^30[27]$/, 'logout: redirects';
    my @cc = $res->header('Cache-Control');
    is scalar(@cc) . ': ' . join(' | ', @cc), '1: no-store, no-cache, private',
        '... with exactly one Cache-Control header, mod_auth_form\'s no-store merged in';
    is db_one($DB, 'login_site', sha256_hex($token)), undef, 'logout: the document deleted';
    $res = $b->get('/private/');
    is $res->code, 302, 'logout: the private area needs a login again';
}
