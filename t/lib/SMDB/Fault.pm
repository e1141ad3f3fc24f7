# SPDX-License-Identifier: Apache-2.0
package SMDB::Fault;
# The fault tests' MongoDB-protocol server on $MSM_FAULT_PORT, which the
# tests start, stop, pause (SIGSTOP) and resume (SIGCONT) under a running
# httpd. It is jongodb when the machine has it (fast to start), else the
# kind the suite runs against.
use strict;
use warnings;

use Apache::Test ();
use File::Spec::Functions qw(catfile catdir);
use Exporter 'import';

our @EXPORT_OK = qw(fault_start fault_stop fault_pause fault_resume fault_uri);

my $vars = Apache::Test::vars();
my $state = catdir($vars->{t_dir}, 'state', 'fault');
my $script = catfile($vars->{t_dir}, '..', 'scripts', 'mongo-server');
my $port = $ENV{MSM_FAULT_PORT} or die "MSM_FAULT_PORT not set\n";

sub fault_uri { "mongodb://127.0.0.1:$port" }

sub _kind {
    my $cache = $ENV{MSM_CACHE} // "$ENV{HOME}/.cache/mod_session_mongodb";
    return -x "$cache/npm/node_modules/\@jongodb/memory-server-bin-linux-x64-gnu/bin/jongodb"
        ? 'jongodb' : ($ENV{MSM_MONGODB_KIND} // 'auto');
}

sub fault_start {
    local $ENV{MSM_MONGODB} = _kind();
    local $ENV{MSM_MONGODB_PORT} = $port;
    delete local $ENV{MONGODB_URI};
    system($script, 'start', $state) == 0 or die "fault server did not start\n";
}

sub fault_stop { system($script, 'stop', $state) }

sub _pids {
    open my $fh, '<', catfile($state, 'pids') or return ();
    return map { (split ' ')[0] } <$fh>;
}

# SIGSTOP/SIGCONT to the server's whole process group
sub fault_pause  { kill 'STOP', map { -$_ } _pids() }
sub fault_resume { kill 'CONT', map { -$_ } _pids() }

END { fault_resume(); fault_stop() }

1;
