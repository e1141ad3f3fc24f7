<?php
// SPDX-License-Identifier: Apache-2.0
// Counts your visits and remembers your name, in the session that
// mod_session_mongodb keeps in MongoDB; the browser holds only a random
// token in a cookie. This is not PHP's own session_start(): the session
// belongs to httpd's mod_session, so CGI scripts, other PHP apps and
// mod_auth_form on the same site share it.
//
// mod_session hands the session to PHP in $_SERVER['HTTP_SESSION']
// (SessionEnv On) and takes changes from the X-Replace-Session response
// header (SessionHeader X-Replace-Session). Both hold urlencoded
// key=value pairs, like a query string; in the header, a key with an
// empty value is removed from the session.
//
//   GET  /visits                one more visit
//   POST /visits  name=NAME     remember NAME
//   POST /visits  forget=1      forget everything: the session is deleted

// The session as an array. (Not parse_str(), which would turn dots and
// spaces in the keys into underscores.)
function session_read(): array
{
    $session = [];
    foreach (explode('&', $_SERVER['HTTP_SESSION'] ?? '') as $pair) {
        if ($pair === '') {
            continue;
        }
        [$key, $value] = array_pad(explode('=', $pair, 2), 2, '');
        $session[urldecode($key)] = urldecode($value);
    }
    return $session;
}

// Sets these keys of the session; an empty value removes a key, and a
// session left without keys is deleted.
function session_write(array $changes): void
{
    header('X-Replace-Session: ' . http_build_query($changes, '', '&', PHP_QUERY_RFC1738));
}

$session = session_read();
$self = $_SERVER['SCRIPT_NAME'];

if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    if (!empty($_POST['forget'])) {
        session_write(['visits' => '', 'name' => '']);
    } elseif (isset($_POST['name']) && is_string($_POST['name'])) {
        // at most 40 bytes, without control characters
        $name = substr(trim(preg_replace('/[\x00-\x1f\x7f]/', '', $_POST['name'])), 0, 40);
        session_write(['name' => $name]);
    }
    header('Location: ' . $self, true, 303);
    exit;
}

$visits = (int)($session['visits'] ?? 0) + 1;
session_write(['visits' => $visits]);
$name = $session['name'] ?? '';
header('Cache-Control: no-store');

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}
?>
<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Visits</title>
<h1>Hello, <span id="name"><?= $name !== '' ? h($name) : 'stranger' ?></span>!</h1>
<p>This is your visit number <b id="visits"><?= $visits ?></b>.</p>
<form method="post" action="<?= h($self) ?>">
<label>Your name: <input name="name" value="<?= h($name) ?>" maxlength="40"></label>
<button>Remember me</button>
</form>
<form method="post" action="<?= h($self) ?>"><button name="forget" value="1">Forget me</button></form>
</html>
