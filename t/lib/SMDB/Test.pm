# SPDX-License-Identifier: Apache-2.0
package SMDB::Test;
# Helpers shared by the suite: a small browser with a cookie jar, direct
# looks at MongoDB through t/msm-db, and the per-request command log.
use strict;
use warnings;

use SMDB::QuietDefines ();
use Apache::Test ();
use Apache::TestRequest ();
use Apache::TestUtil ();
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use File::Spec::Functions qw(catfile);
use Time::HiRes qw(sleep);
use Exporter 'import';

our @EXPORT = qw(browser db db_find db_one sha256_hex commands
                 t_logs error_log_since error_log_size run_httpd
                 module_problems_since);

# Redirects are part of what the tests look at: never follow them.
Apache::TestRequest::user_agent(reset => 1, requests_redirectable => 0);

my $vars = Apache::Test::vars();
my $msm_db = catfile($vars->{t_dir}, 'msm-db');
my $json = JSON::PP->new->canonical;
my $seq = 0;

# ---- MongoDB, directly ------------------------------------------------

# db(CMD, ARGS...): run t/msm-db; returns its output lines; dies on error.
sub db {
    my @args = @_;
    open my $fh, '-|', $msm_db, @args or die "msm-db: $!";
    my @out = <$fh>;
    close $fh or die "msm-db @args failed: exit $?\n";
    chomp @out;
    return @out;
}

# Canonical extended JSON to plain perl: dates as epoch milliseconds.
sub _plain {
    my $v = shift;
    if (ref $v eq 'HASH') {
        return 0 + $v->{'$date'}{'$numberLong'} if exists $v->{'$date'};
        for my $t (qw($numberInt $numberLong $numberDouble)) {
            return 0 + $v->{$t} if exists $v->{$t};
        }
        return { map { $_ => _plain($v->{$_}) } keys %$v };
    }
    return [ map { _plain($_) } @$v ] if ref $v eq 'ARRAY';
    return $v;
}

# db_find(DB, COLL, FILTER): the matching documents as hashes.
sub db_find {
    my ($dbname, $coll, $filter) = @_;
    return map { _plain($json->decode($_)) }
        db('find', $dbname, $coll, $json->encode($filter // {}));
}

# db_one(DB, COLL, ID): the document with that _id, or undef.
sub db_one {
    my ($dbname, $coll, $id) = @_;
    my @docs = db_find($dbname, $coll, { _id => $id });
    return $docs[0];
}

# ---- the per-request command log --------------------------------------

sub t_logs { $vars->{t_logs} }

# commands(ID): the MongoDB commands request ID sent, as "find,update"
# ('' for none). The log line is written after the response, so wait.
sub commands {
    my $id = shift;
    my $file = catfile($vars->{t_logs}, 'commands_log');
    for (1 .. 100) {
        if (open my $fh, '<', $file) {
            while (<$fh>) {
                chomp;
                my ($lid, $cmds) = split / /, $_, 2;
                next unless defined $lid and $lid eq $id;
                return $cmds eq '-' ? '' : $cmds;
            }
        }
        sleep 0.05;
    }
    die "no command log line for request $id\n";
}

# run_httpd(ARGS...): run httpd itself (for -t, -k start/stop), with the
# AddressSanitizer runtime when the suite runs under it. Returns the
# output; $? is httpd's status.
sub run_httpd {
    my @args = @_;
    local $ENV{LD_PRELOAD} = $ENV{MSM_HTTPD_PRELOAD} if $ENV{MSM_HTTPD_PRELOAD};
    my $cmd = join ' ', map { "'$_'" } $vars->{httpd}, @args;
    return scalar `$cmd 2>&1`;
}

sub error_log_size { -s catfile($vars->{t_logs}, 'error_log') // 0 }

# error_log_since(OFFSET): the error log written after OFFSET bytes.
sub error_log_since {
    my $offset = shift // 0;
    sleep 0.2;
    open my $fh, '<', catfile($vars->{t_logs}, 'error_log') or return '';
    seek $fh, $offset, 0;
    local $/;
    return <$fh> // '';
}

# module_problems_since(OFFSET, MINE): the module's warn-or-worse lines
# logged after OFFSET, less those about another MongoDB server or
# collection: a line that names a URI or a db.coll that MINE (a regex)
# does not match. The housekeeper of an earlier file's collections goes
# on while a later file runs; its lines name their collection and server,
# so a test that wants "no warning from the module" looks at its own.
# Lines that name neither are kept.
sub module_problems_since {
    my ($offset, $mine) = @_;
    return grep {
        /\[session_mongodb:(?:warn|error|crit|alert|emerg)\]/
            && (/$mine/ || !m{mongodb(?:\+srv)?://| (?:in|from|to|of) [\w-]+\.[\w.-]+})
    } split /\n/, error_log_since($offset);
}

# ---- a browser with a cookie jar --------------------------------------

sub browser {
    my %opts = @_;
    return bless { jar => {}, module => $opts{module} }, 'SMDB::Browser';
}

package SMDB::Browser;

# get(PATH, HEADERS...): a GET with the jar's cookies; the response's
# Set-Cookie headers update the jar. The response gets ->{smdb_id}, the
# id under which commands() finds its MongoDB commands.
sub get {
    my ($self, $path, %headers) = @_;
    my $id = "r$$-" . ++$seq;
    my $cookie = join '; ', map { "$_=$self->{jar}{$_}" }
        sort keys %{ $self->{jar} };
    Apache::TestRequest::module($self->{module} // 'default');
    my $res = Apache::TestRequest::GET($path, 'X-Test-Id' => $id,
        ($cookie ? (Cookie => $cookie) : ()), %headers);
    $self->_update_jar($res);
    $res->{smdb_id} = $id;
    return $res;
}

# post(PATH, FORM, HEADERS...): a POST of FORM (an urlencoded string)
# with the jar's cookies, which the response updates, as get() does.
sub post {
    my ($self, $path, $form, %headers) = @_;
    my $id = "r$$-" . ++$seq;
    my $cookie = join '; ', map { "$_=$self->{jar}{$_}" }
        sort keys %{ $self->{jar} };
    Apache::TestRequest::module($self->{module} // 'default');
    my $res = Apache::TestRequest::POST($path, 'X-Test-Id' => $id,
        content => $form, ($cookie ? (Cookie => $cookie) : ()), %headers);
    $self->_update_jar($res);
    $res->{smdb_id} = $id;
    return $res;
}

# The response's Set-Cookie headers into the jar; an expired cookie
# leaves it.
sub _update_jar {
    my ($self, $res) = @_;
    for my $sc ($res->header('Set-Cookie')) {
        my ($name, $value) = $sc =~ /^\s*([^=;\s]+)=([^;]*)/ or next;
        if ($sc =~ /max-age=0\b/i || $sc =~ /expires=[^;]*1970/i
            || $value eq '') {
            delete $self->{jar}{$name};
        }
        else {
            $self->{jar}{$name} = $value;
        }
    }
}

sub cookie { $_[0]{jar}{$_[1]} }
sub set_cookie { $_[0]{jar}{$_[1]} = $_[2] }
sub forget { delete $_[0]{jar}{$_[1]} }

# values(RESPONSE): the session values the app saw, as a hash.
sub values {
    my ($self, $res) = @_;
    my %v = $res->content =~ /^value\.([^=]*)=(.*)$/mg;
    return \%v;
}

1;
