// "Your sessions" of the login site: lists the logged-in user's sessions
// from /private/sessions (SetHandler session-mongodb-sessions, see
// login-site.conf) and ends them with a POST there, a form with one
// field: end=ID (one session) or end=others (all but this browser's).
// The browser sends the page's Origin with each POST, which the module
// checks: a page of another site cannot end anything.
'use strict';

const endpoint = '/private/sessions';

function say(text) {
    document.getElementById('status').textContent = text;
}

function when(t) {
    return t ? new Date(t).toLocaleString() : 'never';
}

// a fetch that was sent to the login page: this session has ended
function loggedOut(res) {
    if (res.redirected || res.status === 401) {
        window.location.href = '/login.html';
        return true;
    }
    return false;
}

async function end(what) {
    const res = await fetch(endpoint, {
        method: 'POST',
        credentials: 'same-origin',
        body: new URLSearchParams({end: what})
    });
    if (loggedOut(res)) {
        return;
    }
    if (!res.ok) {
        say('Could not end it (' + res.status + '); please try again.');
        return;
    }
    const answer = await res.json();
    say(answer.ended === 1 ? 'One session ended.'
                           : answer.ended + ' sessions ended.');
    await list();
}

function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;     // text, never markup: the agent is the client's
    row.append(td);
    return td;
}

async function list() {
    const res = await fetch(endpoint, {credentials: 'same-origin',
                                       cache: 'no-store'});
    if (loggedOut(res)) {
        return;
    }
    if (!res.ok) {
        say('Could not list your sessions (' + res.status + ').');
        return;
    }
    const answer = await res.json();
    const body = document.querySelector('#sessions tbody');
    body.replaceChildren();
    for (const s of answer.sessions) {
        const row = document.createElement('tr');
        cell(row, when(s.created) + (s.current ? ' (this browser)' : ''));
        cell(row, when(s.updated));
        cell(row, when(s.expires));
        cell(row, s.client ? (s.client.agent || 'unknown') + ' from '
                             + (s.client.ip || 'unknown') : '');
        const action = cell(row, '');
        if (!s.current) {
            const button = document.createElement('button');
            button.type = 'button';
            button.textContent = 'Log out';
            button.addEventListener('click', () => end(s.id));
            action.append(button);
        }
        body.append(row);
    }
    document.getElementById('end-others').disabled =
        answer.sessions.length < 2;
}

document.getElementById('end-others')
    .addEventListener('click', () => end('others'));
list();
