# SPDX-License-Identifier: Apache-2.0
# Packaging: the Debian package that scripts/deb builds (or the one named
# by MSM_DEB), what it holds, and httpd loading it from a scratch root;
# `make install DESTDIR=...` in a fresh copy of the tree puts the same
# files in place. Nothing is installed on this machine: the package is
# unpacked with dpkg -x, a2enmod runs on a copy of /etc/apache2.
use strict;
use warnings FATAL => 'all';

use SMDB::QuietDefines ();
use Apache::Test qw(-withtestmore);
use File::Basename qw(dirname basename);
use File::Path qw(make_path);
use File::Spec::Functions qw(catfile);
use File::Temp qw(tempdir);
use Time::HiRes qw(time);

my $top = $ENV{MSM_TOP} or die "MSM_TOP is not set: run the suite through t/run\n";
my $vars = Apache::Test::vars();
my $cfg = Apache::Test::config();
my $httpd = $vars->{httpd};
my $moddir = dirname($cfg->{modules}{'mod_session.c'} // '/usr/lib/apache2/modules/x');

sub which { my $t = shift; for (split /:/, $ENV{PATH} // '') { return "$_/$t" if -x "$_/$t" } undef }
sub have { defined which(shift) }
sub slurp { my $f = shift; open my $fh, '<', $f or return undef; local $/; <$fh> }
sub spew { my ($f, $s) = @_; open my $fh, '>', $f or die "$f: $!"; print $fh $s; close $fh or die }
# run(CMD): its output (stdout and stderr); $? is its status
sub run { my $cmd = shift; my $out = `$cmd 2>&1`; return $out }

my $deb_tools = have('dpkg-deb') && have('dpkg-buildpackage') && have('dh')
    && -d "$top/debian";
my $missing = $deb_tools ? run("cd '$top' && dpkg-checkbuilddeps") : '';
$deb_tools &&= !$?;

plan tests => 38, need_module 'mod_session.c';

my ($version) = (slurp("$top/configure.ac") // '') =~ /^AC_INIT\(\[[^]]*\],\s*\[([^]]*)\]/m;
(my $debversion = $version // '') =~ tr/-/~/;
my $tmp = tempdir('msm-package-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the directives and their defaults, from their pages in docs/directives
my %default;
for my $page (glob "$top/docs/directives/SessionMongoDB*.md") {
    my ($name) = basename($page) =~ /^(\w+)\.md$/;
    my ($def) = (slurp($page) // '') =~ /^\| \*\*Default\*\* \| (.*?) \|$/m;
    $default{$name} = $def =~ /^`(\Q$name\E [^`]*)`$/ ? $1 : undef;
}

# minimal(CONF, LOAD, EXTRA): an httpd configuration for -t that loads
# mod_session, then the module as LOAD says (its path changed to SO)
sub minimal {
    my ($dir, $load, $extra) = @_;
    my ($mpm) = grep { -e "$moddir/mod_mpm_$_.so" } qw(event prefork worker);
    my $conf = catfile($dir, 'httpd.conf');
    spew($conf, <<"CONF");
ServerRoot "$dir"
ServerName localhost
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
LoadModule mpm_${mpm}_module "$moddir/mod_mpm_$mpm.so"
LoadModule authz_core_module "$moddir/mod_authz_core.so"
LoadModule session_module "$moddir/mod_session.so"
$load
$extra
CONF
    return $conf;
}

# ---- the package ----------------------------------------------------------
my ($deb, %deb_files);
SKIP: {
    skip 'Debian packaging tools or build dependencies missing: '
        . ($missing || 'apt-get install dpkg-dev debhelper'), 24 unless $deb_tools;

    my $start = time;
    if ($ENV{MSM_DEB}) {
        $deb = $ENV{MSM_DEB};
        ok -f $deb, "the package MSM_DEB names: $deb";
    }
    else {
        my $out = run("'$top/scripts/deb' '$tmp/deb'");
        ($deb) = $out =~ /^(\S+\.deb)\s*\z/m;
        ok !$? && $deb && -f $deb, 'scripts/deb builds the package'
            or diag $out;
        diag sprintf 'scripts/deb: %.1f s', time - $start;
    }
    $deb //= '';
    like basename($deb), qr/^libapache2-mod-session-mongodb_\Q$debversion\E_\w+\.deb$/,
        "named for configure.ac's version, $version";

    my %field = map { $_ => scalar run("dpkg-deb -f '$deb' $_") } qw(Package Version Depends);
    chomp %field;
    is $field{Package}, 'libapache2-mod-session-mongodb', 'Package: libapache2-mod-session-mongodb';
    is $field{Version}, $debversion, "Version: configure.ac's";
    like $field{Depends}, qr/\bapache2-api-\d{8}\b/, 'Depends on the httpd module API (dh_apache2)';
    like $field{Depends}, qr/\blibmongoc-1\.0-0\b/, 'Depends on libmongoc (shlibs)';

    # its regular files
    %deb_files = map { m{^-\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(/\S+)$} ? ($1 => 1) : () }
        split /\n/, run("dpkg-deb -c '$deb'");
    ok $deb_files{$_}, "holds $_" for qw(/usr/lib/apache2/modules/mod_session_mongodb.so
        /etc/apache2/mods-available/session_mongodb.load
        /etc/apache2/mods-available/session_mongodb.conf);
    ok $deb_files{'/usr/share/doc/libapache2-mod-session-mongodb/examples/cgi/cart.cgi'},
        'holds the examples';

    my $ctl = "$tmp/control";
    run("dpkg-deb -e '$deb' '$ctl'");
    like slurp("$ctl/conffiles") // '', qr{^/etc/apache2/mods-available/session_mongodb\.load$}m,
        'the .load is a conffile';
    like slurp("$ctl/postinst") // '', qr/apache2_invoke enmod \$conf.*/s,
        'postinst enables the module (a2enmod)';
    like((slurp("$ctl/postinst") // '') . (slurp("$ctl/prerm") // ''),
        qr/for conf in session_mongodb .*apache2_invoke dismod/s,
        'prerm disables it again');

    # unpacked into a scratch root
    my $root = "$tmp/root";
    run("dpkg -x '$deb' '$root'");
    my $avail = "$root/etc/apache2/mods-available";
    my $load = slurp("$avail/session_mongodb.load") // '';
    like $load, qr/^# Depends: session$/m, '.load: "# Depends: session", for a2enmod';
    like $load, qr{^LoadModule session_mongodb_module /usr/lib/apache2/modules/mod_session_mongodb\.so$}m,
        '.load: the LoadModule line';
    my $conf = slurp("$avail/session_mongodb.conf") // '';
    is $conf, slurp("$top/session_mongodb.conf"), '.conf: session_mongodb.conf as in the tree';

    # httpd loads the unpacked module, with the .conf, and every directive
    # of the .conf at the default it shows
    my $so = "$root/usr/lib/apache2/modules/mod_session_mongodb.so";
    (my $loadhere = $load) =~ s{/usr/lib/apache2/modules/}{$root/usr/lib/apache2/modules/};
    (my $defaults = $conf) =~ s/^#(SessionMongoDB\w+ )/$1/mg;
    spew("$tmp/defaults.conf", $defaults);
    make_path("$tmp/min");
    my $min = minimal("$tmp/min", $loadhere, <<"EXTRA");
Include "$avail/session_mongodb.conf"
Include "$tmp/defaults.conf"
<Location "/app">
    Session On
    SessionMongoDBCookieName app path=/app
</Location>
EXTRA
    my $out = run("'$httpd' -f '$min' -t");
    like $out, qr/Syntax OK/, 'httpd -t: the unpacked module, its .conf and every default it shows'
        or diag $out;
    like run("'$httpd' -f '$min' -M"), qr/session_mongodb_module \(shared\)/, 'httpd -M lists it';

    # a2enmod on a copy of /etc/apache2: mod_session comes with it
    SKIP: {
        skip 'no /etc/apache2 or a2enmod here', 6 unless -d '/etc/apache2/mods-available' && have('a2enmod');
        my $etc = "$tmp/etc/apache2";
        make_path("$tmp/etc", "$tmp/state", "$tmp/run", "$tmp/log", "$tmp/lock");
        run("cp -a /etc/apache2 '$tmp/etc/'");
        # the unpacked package's files, the .so where it was unpacked
        spew("$etc/mods-available/session_mongodb.load", $loadhere);
        spew("$etc/mods-available/session_mongodb.conf", $conf);
        unlink glob "$etc/mods-enabled/session*";
        local %ENV = (%ENV, APACHE_CONFDIR => $etc, APACHE_STATE_DIRECTORY => "$tmp/state",
            APACHE_RUN_DIR => "$tmp/run", APACHE_LOG_DIR => "$tmp/log",
            APACHE_LOCK_DIR => "$tmp/lock", APACHE_PID_FILE => "$tmp/run/pid",
            APACHE_RUN_USER => 'www-data', APACHE_RUN_GROUP => 'www-data');
        my $system = sub { run('ls -l /etc/apache2/mods-enabled; find /var/lib/apache2 -type f | sort') };
        my $system_before = $system->();
        my $test = "'$httpd' -d '$etc' -f '$etc/apache2.conf' -t";
        my $before = run($test);
        my $enable = run('a2enmod -q session_mongodb');
        is $?, 0, 'a2enmod session_mongodb (on a copy of /etc/apache2)' or diag $enable;
        ok -l "$etc/mods-enabled/session_mongodb.load" && -l "$etc/mods-enabled/session_mongodb.conf",
            '... links its .load and .conf';
        ok -l "$etc/mods-enabled/session.load", '... and enables mod_session first (# Depends)';
        SKIP: {
            skip "this machine's /etc/apache2 does not pass httpd -t: $before", 1
                unless $before =~ /Syntax OK/;
            like run($test), qr/Syntax OK/, 'httpd -t: the Debian configuration with the module';
        }
        run('a2dismod -q session_mongodb');
        ok !-e "$etc/mods-enabled/session_mongodb.load", 'a2dismod session_mongodb';
        is $system->(), $system_before, "the machine's own /etc/apache2 and /var/lib/apache2 untouched";
    }
    diag sprintf 'the package checks: %.1f s', time - $start;
}

# ---- make install -----------------------------------------------------------
SKIP: {
    my ($apxs) = grep { defined && -x } $ENV{APXS}, which('apxs'), which('apxs2');
    skip 'autoreconf or apxs missing', 12 unless have('autoreconf') && $apxs;
    my $start = time;
    my $src = "$tmp/src";
    make_path($src);
    # the tree as scripts/deb copies it: git's files, without build
    # outputs; outside a git checkout, all but the build outputs
    if (-e "$top/.git") {
        run("cd '$top' && git ls-files -z --cached --others --exclude-standard "
            . "| tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C '$src' -xf -");
    }
    else {
        run("tar -C '$top' -cf - --exclude=.libs --exclude='*.la' --exclude='*.lo' "
            . "--exclude='*.slo' --exclude='*.o' --exclude=t/logs --exclude=t/state "
            . "--exclude=debian/changelog . | tar -C '$src' -xf -");
        run("make -C '$src' -s distclean") if -f "$src/Makefile";
    }
    my $out = run("cd '$src' && ./autogen.sh && ./configure --with-apxs='$apxs' && make");
    ok !$? && -f "$src/.libs/mod_session_mongodb.so", 'a fresh copy of the tree builds'
        or diag substr($out, -2000);
    my $libexec = run("'$apxs' -q LIBEXECDIR"); chomp $libexec;
    my $sysconf = run("'$apxs' -q SYSCONFDIR"); chomp $sysconf;
    my $debian = -d "$sysconf/mods-available";

    my $dest = "$tmp/destdir";
    $out = run("cd '$src' && make install DESTDIR='$dest'");
    is $?, 0, 'make install DESTDIR=...' or diag $out;
    ok -f "$dest$libexec/mod_session_mongodb.so", "puts the module in $libexec";
    my $avail = "$dest$sysconf/mods-available";
    SKIP: {
        skip "no $sysconf/mods-available: not a Debian-style httpd", 5 unless $debian;
        like $out, qr/a2enmod session_mongodb/, '... and says to run a2enmod';
        is slurp("$avail/session_mongodb.load"),
            "# Depends: session\nLoadModule session_mongodb_module $libexec/mod_session_mongodb.so\n",
            '... and the .load in mods-available';
        is slurp("$avail/session_mongodb.conf"), slurp("$top/session_mongodb.conf"),
            '... and the .conf';
        SKIP: {
            skip 'no package to compare with', 1 unless %deb_files;
            my %inst = map { substr($_, length $dest) => 1 }
                grep { -f } split /\n/, run("find '$dest' -type f");
            is_deeply \%inst, { map { $_ => 1 } grep { !m{^/usr/share/} } keys %deb_files },
                '... the same files as the package, outside /usr/share';
        }
        # an edited .conf is kept at the next make install
        spew("$avail/session_mongodb.conf", "# edited\n");
        $out = run("cd '$src' && make install DESTDIR='$dest'");
        ok slurp("$avail/session_mongodb.conf") eq "# edited\n"
            && slurp("$avail/session_mongodb.conf.new") eq slurp("$top/session_mongodb.conf"),
            'a changed .conf is kept; the new one becomes session_mongodb.conf.new';
    }

    # the layout of other systems: no mods-available, the LoadModule line
    my $dest2 = "$tmp/destdir2";
    $out = run("cd '$src' && make install DESTDIR='$dest2' MODS_AVAILABLE=");
    is $?, 0, 'make install MODS_AVAILABLE= (httpd without mods-available)';
    like $out, qr{^\s*LoadModule session_mongodb_module \Q$libexec\E/mod_session_mongodb\.so$}m,
        '... prints the LoadModule line';
    ok !-e "$dest2$sysconf/mods-available", '... and installs no .load or .conf';

    $out = run("cd '$src' && make uninstall DESTDIR='$dest'");
    ok !-e "$dest$libexec/mod_session_mongodb.so" && !-e "$avail/session_mongodb.load",
        'make uninstall removes them' or diag $out;
    diag sprintf 'make install checks: %.1f s', time - $start;
}

# ---- session_mongodb.conf: every directive, at its default, commented out --
my $conf = slurp("$top/session_mongodb.conf") // '';
my @missing = grep {
    defined $default{$_} ? $conf !~ /^#\Q$default{$_}\E$/m : $conf !~ /^#\Q$_\E /m
} sort keys %default;
is "@missing", '', 'session_mongodb.conf shows every directive of docs/directives, at its default';
ok keys(%default) >= 13, 'the directives were found (' . keys(%default) . ')';
