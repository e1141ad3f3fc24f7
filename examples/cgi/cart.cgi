#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# A shopping cart kept in the session, which mod_session_mongodb stores in
# MongoDB; the browser holds only a random token in a cookie.
#
# mod_session hands the session to the script in the HTTP_SESSION
# environment variable (SessionEnv On) and takes changes from the
# X-Replace-Session response header (SessionHeader X-Replace-Session).
# Both hold urlencoded key=value pairs, like a query string; in the
# header, a key with an empty value is removed from the session.
#
#   GET  /cart                  the catalogue and the cart
#   POST /cart  add=ITEM        one ITEM more
#   POST /cart  remove=ITEM     one ITEM less
#   POST /cart  empty=1         empty the cart: the session is deleted
#
# A POST answers "303 See Other" back to GET /cart (post/redirect/get).
use strict;
use warnings;

my %CATALOGUE = (apple => 'Apple', pear => 'Pear', fig => 'Fig');
my $MAX_QUANTITY = 99;

sub url_decode {
    my $s = shift // '';
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}
sub url_encode {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}
# "a=1&b=2" => (a => 1, b => 2)
sub decode_pairs {
    return map { my ($k, $v) = split /=/, $_, 2; (url_decode($k) => url_decode($v)) }
        grep { length } split /&/, shift // '';
}
sub html {
    my $s = shift;
    $s =~ s/([&<>"'])/'&#' . ord($1) . ';'/ge;
    return $s;
}

# The session holds one key per item in the cart: "cart.apple" => 2.
# (It may hold other keys too, such as mod_session's own "expiry".)
my %session = decode_pairs($ENV{HTTP_SESSION});
my %cart = map { $_ => $session{"cart.$_"} }
    grep { ($session{"cart.$_"} // '') =~ /^[1-9][0-9]*$/ } keys %CATALOGUE;

if (($ENV{REQUEST_METHOD} // '') eq 'POST') {
    my $body = '';
    read STDIN, $body, $ENV{CONTENT_LENGTH} if ($ENV{CONTENT_LENGTH} // 0) =~ /^\d{1,4}$/;
    my %form = decode_pairs($body);

    my %change;    # the keys to set; '' removes a key
    if (defined $form{add} && $CATALOGUE{$form{add}}) {
        my $item = $form{add};
        my $quantity = ($cart{$item} // 0) + 1;
        $change{"cart.$item"} = $quantity < $MAX_QUANTITY ? $quantity : $MAX_QUANTITY;
    }
    elsif (defined $form{remove} && $CATALOGUE{$form{remove}}) {
        my $item = $form{remove};
        my $quantity = ($cart{$item} // 0) - 1;
        $change{"cart.$item"} = $quantity > 0 ? $quantity : '';
    }
    elsif ($form{empty}) {
        # every key removed: the session is empty, and the module deletes
        # its document and expires the cookie
        $change{"cart.$_"} = '' for keys %cart;
    }

    print "Status: 303 See Other\n";
    print "Location: $ENV{SCRIPT_NAME}\n";
    print 'X-Replace-Session: ',
        join('&', map { url_encode($_) . '=' . url_encode($change{$_}) } sort keys %change),
        "\n" if %change;
    print "Content-Type: text/plain\n\n";
    print "See $ENV{SCRIPT_NAME}\n";
    exit;
}

my $action = html($ENV{SCRIPT_NAME});
my $count = 0;
$count += $_ for values %cart;
print "Content-Type: text/html; charset=utf-8\n";
print "Cache-Control: no-store\n\n";
print <<"HTML";
<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Shopping cart</title>
<h1>Shopping cart</h1>
<table>
<tr><th>Item</th><th>In the cart</th><th></th></tr>
HTML
for my $item (sort keys %CATALOGUE) {
    my $name = html($CATALOGUE{$item});
    my $quantity = $cart{$item} // 0;
    print <<"HTML";
<tr><td>$name</td><td id="qty-$item">$quantity</td><td>
<form method="post" action="$action">
<button name="add" value="$item">Add one</button>
<button name="remove" value="$item">Remove one</button>
</form></td></tr>
HTML
}
print <<"HTML";
</table>
<p><span id="count">$count</span> item@{[ $count == 1 ? '' : 's' ]} in your cart.</p>
<form method="post" action="$action"><button name="empty" value="1">Empty the cart</button></form>
</html>
HTML
