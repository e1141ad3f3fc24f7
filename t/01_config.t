# SPDX-License-Identifier: Apache-2.0
# Configuration errors are caught at startup (apachectl -t), with a
# message naming the directive; good configurations pass.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;
use File::Spec::Functions qw(catfile);
use File::Basename qw(dirname);
use File::Path qw(make_path);

my @cases = (
    # [ name, directives, expect ok?, expected message ]
    [ 'database from the directive', "SessionMongoDBDatabase app\n", 1 ],
    [ 'database from the URI path', "SessionMongoDBURI mongodb://127.0.0.1:1/app\n", 1 ],
    [ 'no database anywhere', '', 0, qr/SMDB00102.*SessionMongoDBDatabase/ ],
    [ 'unparsable URI', "SessionMongoDBDatabase app\nSessionMongoDBURI http://nope\n", 0,
      qr/SessionMongoDBURI: cannot parse/ ],
    [ 'timeout not a number', "SessionMongoDBDatabase app\nSessionMongoDBTimeout soon\n", 0,
      qr/SessionMongoDBTimeout: 'soon' is not a whole number/ ],
    [ 'timeout zero', "SessionMongoDBDatabase app\nSessionMongoDBTimeout 0\n", 0,
      qr/SessionMongoDBTimeout: '0'/ ],
    [ 'max size not a number', "SessionMongoDBDatabase app\nSessionMongoDBMaxSize 1k\n", 0,
      qr/SessionMongoDBMaxSize: '1k'/ ],
    [ 'bad database name', "SessionMongoDBDatabase a.b\n", 0,
      qr/SessionMongoDBDatabase: 'a.b' is not a valid MongoDB database name/ ],
    [ 'bad collection name', "SessionMongoDBDatabase app\nSessionMongoDBCollection system.x\n", 0,
      qr/SessionMongoDBCollection: 'system.x'/ ],
    [ 'bad cookie name', "SessionMongoDBDatabase app\n", 0,
      qr/SessionMongoDBCookieName: 'a=b' is not a valid cookie name/, 'a=b' ],
    [ 'bad flag', "SessionMongoDBDatabase app\nSessionMongoDBTTLIndex maybe\n", 0,
      qr/SessionMongoDBTTLIndex must be On or Off/ ],
    [ '__Host- cookie with a domain', "SessionMongoDBDatabase app\n", 0,
      qr/SessionMongoDBCookieName: a __Host- cookie needs the attribute path=\/ and no domain/,
      '__Host-sid path=/;domain=example.com' ],
    [ '__Host- cookie under a path', "SessionMongoDBDatabase app\n", 0,
      qr/SessionMongoDBCookieName: a __Host- cookie needs the attribute path=\//,
      '__Host-sid path=/app' ],
    [ '__Host- cookie without a path', "SessionMongoDBDatabase app\n", 0,
      qr/SessionMongoDBCookieName: a __Host- cookie needs/, '__host-sid HttpOnly' ],
    [ '__Host- cookie at path=/', "SessionMongoDBDatabase app\n", 1, undef,
      '__Host-sid path=/;HttpOnly' ],
);

plan tests => 2 * @cases + 1, need_module 'mod_session_mongodb.c', 'mod_session.c';

my $vars = Apache::Test::vars();
my $cfg = Apache::Test::config();
my $httpd = $vars->{httpd};
my $so = $cfg->{modules}{'mod_session_mongodb.c'};
my $session_so = $cfg->{modules}{'mod_session.c'};
my $mpm_so = catfile(dirname($session_so), 'mod_mpm_event.so');
my $dir = catfile($vars->{t_dir}, 'state', 'configtest');
make_path($dir);

my $n = 0;
for my $case (@cases) {
    my ($name, $directives, $expect_ok, $msg, $cookie) = @$case;
    $cookie //= 'sid';
    my $cookie_line = $cookie =~ / / ? $cookie : "$cookie path=/";
    my $conf = catfile($dir, 'case' . ++$n . '.conf');
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName localhost
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
Listen 127.0.0.1:1
LoadModule mpm_event_module "$mpm_so"
LoadModule session_module "$session_so"
LoadModule session_mongodb_module "$so"
$directives
<Location />
    Session On
    SessionMongoDBCookieName $cookie_line
</Location>
CONF
    close $fh;
    my $out = run_httpd('-t', '-f', $conf);
    my $status = $? >> 8;
    ok t_cmp($status == 0 ? 1 : 0, $expect_ok, "$name: apachectl -t " . ($expect_ok ? 'passes' : 'fails'));
    if ($expect_ok) {
        ok t_cmp($out, qr/Syntax OK/, "$name: Syntax OK");
    }
    else {
        ok t_cmp($out, $msg, "$name: message names the directive");
    }
}

# The test server runs the module built in this tree, even where a copy is
# installed and enabled on the system (t/TEST.PL does not inherit it).
{
    my $pidfile = $vars->{t_pid_file};
    open my $pf, '<', $pidfile or die "$pidfile: $!";
    chomp(my $pid = <$pf>);
    open my $mf, '<', "/proc/$pid/maps" or die "/proc/$pid/maps: $!";
    my %mapped = map { m{(\S*mod_session_mongodb\.so)$} ? ($1 => 1) : () } <$mf>;
    require Cwd;
    ok t_cmp(join(" ", sort keys %mapped), Cwd::abs_path($so),
             'the test server maps this tree\'s module and no other copy');
}
