# SPDX-License-Identifier: Apache-2.0
# Runs last: the error log of the whole run shows no crash, and the
# module logged no warning or error that no test asked for.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use SMDB::Test;

plan tests => 4, need_module 'mod_session_mongodb.c';

my $log = error_log_since(0);
ok t_cmp($log =~ /Segmentation fault/ ? 1 : 0, 0, 'no segmentation fault');
ok t_cmp($log =~ /exit signal/ ? 1 : 0, 0, 'no child died of a signal');
ok t_cmp($log =~ /AH00052/ ? 1 : 0, 0, 'no AH00052 (child pid exit signal)');

# ids that tests provoke on purpose
my %expected = map { $_ => 1 } qw(SMDB00207 SMDB00213 SMDB00308 SMDB00309 SMDB00313 SMDB00315
                               SMDB00316 SMDB00320);
my @unexpected;
for my $line (split /\n/, $log) {
    next unless $line =~ /\[session_mongodb:(?:warn|error|crit|alert|emerg)\]/;
    my ($id) = $line =~ /(SMDB\d{5})/;
    push @unexpected, $line unless $id && $expected{$id};
}
ok t_cmp(join("\n", @unexpected), '', 'no unexpected warning or error from the module');
