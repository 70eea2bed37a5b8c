// The dashboard shell: login with an API key (traded for a session cookie), navigation built from
// the page registry filtered by the session's scopes, and hash routing (#/<page>/<rest>).
import { api, setCsrfToken, whenUnauthenticated } from './api.js';
import { allPages, pageById } from './registry.js';
import { errorBox, h } from './ui.js';
import './pages/system.js';
import './pages/campaigns.js';
import './pages/deliverability.js';
import './pages/reactions.js';
import './pages/dead-letters.js';
import './pages/lists.js';
import './pages/journeys.js';
import './pages/compliance.js';
import './pages/attribution.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let session = null;
let cleanup = null;

function leave() {
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
}

function showLogin(message) {
  leave();
  session = null;
  nav.replaceChildren();
  who.replaceChildren();
  const key = h('input', { type: 'password', id: 'api-key', autocomplete: 'off', required: true });
  const status = h('p', { role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { class: 'login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to Switchyard'),
    h('label', { for: 'api-key' }, 'API key', key),
    h('p', { class: 'muted' }, 'The key is exchanged for a session cookie; the page never keeps it.'),
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      start(await api('POST', '/session', { key: key.value.trim() }));
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  });
  main.replaceChildren(form);
  key.focus();
}

function start(s) {
  session = s;
  setCsrfToken(s.csrfToken);
  const logout = h('button', { type: 'button' }, 'Log out');
  logout.addEventListener('click', async () => {
    await api('DELETE', '/session').catch(() => undefined);
    setCsrfToken(null);
    location.hash = '';
    showLogin('Logged out.');
  });
  who.replaceChildren(h('span', {}, s.name + ' (' + s.role + ')'), logout);
  route();
}

function visiblePages() {
  return allPages().filter((p) => session.scopes.includes(p.scope));
}

function route() {
  if (session === null) return;
  const pages = visiblePages();
  const [id, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const page = pageById(id) && pages.includes(pageById(id)) ? pageById(id) : pages[0];
  nav.replaceChildren(
    ...pages.map((p) =>
      h('li', {}, h('a', { href: '#/' + p.id, 'aria-current': p === page ? 'page' : undefined }, p.title)),
    ),
  );
  leave();
  if (page === undefined) {
    main.replaceChildren(h('p', {}, 'Your role has no dashboard pages.'));
    return;
  }
  document.title = page.title + ' · Switchyard';
  const root = h('div', { 'data-page': page.id });
  main.replaceChildren(root);
  cleanup = page.render(root, {
    rest: rest.map(decodeURIComponent),
    session,
    go: (hash) => {
      location.hash = hash;
    },
  });
}

whenUnauthenticated(() => showLogin('Your session ended. Log in again.'));
window.addEventListener('hashchange', route);
api('GET', '/session').then(start, () => showLogin());
