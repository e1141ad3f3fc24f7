package SMDB::QuietDefines;
# Apache::Test learns httpd's compile-time settings from `httpd -V -f
# SYSCONFDIR/httpd.conf`, in t/TEST.PL and again in every test file. On
# Debian that file does not exist (the configuration is apache2.conf,
# which Apache::Test then finds and reads itself), so apache2 printed
# "Could not open configuration file /etc/apache2/httpd.conf" once per
# file, while -V printed its settings all the same. Load this before the
# first Apache::Test::config(): it runs that -V with its stderr, the
# complaint about the configuration file only, in /dev/null.
use strict;
use warnings;

use Apache::TestConfig ();
use File::Spec ();

{
    no warnings 'redefine';
    my $defines = \&Apache::TestConfig::get_httpd_defines;
    *Apache::TestConfig::get_httpd_defines = sub {
        open my $stderr, '>&', \*STDERR or return $defines->(@_);
        open STDERR, '>', File::Spec->devnull or return $defines->(@_);
        my @r = eval { $defines->(@_) };
        my $err = $@;
        open STDERR, '>&', $stderr or die "cannot restore STDERR: $!";
        die $err if $err;
        return wantarray ? @r : $r[0];
    };
}

1;
