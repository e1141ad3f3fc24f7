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

// One request to the endpoint: its JSON answer, or null when there is
// none (said why). A request sent to the login page instead means that
// this browser's session has ended.
async function ask(options, failure) {
    const res = await fetch(endpoint, Object.assign(
        {credentials: 'same-origin', cache: 'no-store'}, options));
    if (res.redirected || res.status === 401) {
        window.location.href = '/login.html';
        return null;
    }
    if (!res.ok) {
        say(failure + ' (' + res.status + ').');
        return null;
    }
    return res.json();
}

async function end(what) {
    const answer = await ask({method: 'POST',
                              body: new URLSearchParams({end: what})},
                             'Could not end it; please try again');
    if (answer) {
        say(answer.ended === 1 ? 'One session ended.'
                               : answer.ended + ' sessions ended.');
        await list();
    }
}

function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;     // text, never markup: the agent is the client's
    row.append(td);
    return td;
}

async function list() {
    const answer = await ask({}, 'Could not list your sessions');
    if (!answer) {
        return;
    }
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
