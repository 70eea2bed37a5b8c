// Compliance: the exceptions queue first (the only DSR work a person does: failed steps, legal
// holds, deadlines near), then every data-subject request with its deadline and outcome, one
// request's steps per system with their evidence and event trail, and the consent ledger's check.
import { api, query } from '../api.js';
import { registerPage } from '../registry.js';
import { add, announce, dataTable, errorBox, every, fill, h, num, time } from '../ui.js';

const enc = encodeURIComponent;

function exceptionsTable(ctx, reload, out) {
  const canWrite = ctx.session.scopes.includes('dsr:write');
  const resolve = async (e, action) => {
    const note = action === 'accept' ? prompt('Why may step ' + e.system + ' stand as it is?') : undefined;
    if (action === 'accept' && !note) return;
    try {
      await api('POST', '/v1/dsr-exceptions/' + e.id + '/resolve', {
        by: ctx.session.name,
        action,
        ...(note ? { note } : {}),
      });
      announce('Exception ' + e.id + ' resolved: ' + action);
      await reload();
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  return dataTable({
    label: 'Exceptions',
    rowKey: (r) => String(r.id),
    columns: [
      { key: 'dueAt', label: 'Deadline', render: (r) => time(r.dueAt) },
      { key: 'kind', label: 'Kind' },
      { key: 'system', label: 'System' },
      { key: 'reason', label: 'Reason' },
      {
        key: 'requestId',
        label: 'Request',
        render: (r) => h('a', { href: '#/compliance/' + enc(r.requestId) }, r.requestId),
      },
      { key: 'openedAt', label: 'Opened', render: (r) => time(r.openedAt) },
      {
        key: 'actions',
        label: 'Actions',
        sort: () => 0,
        render: (r) =>
          canWrite
            ? h(
                'span',
                { class: 'toolbar' },
                h(
                  'button',
                  { type: 'button', onclick: () => resolve(r, 'retry'), 'aria-label': 'Retry exception ' + r.id },
                  'Retry',
                ),
                h(
                  'button',
                  { type: 'button', onclick: () => resolve(r, 'accept'), 'aria-label': 'Accept exception ' + r.id },
                  'Accept',
                ),
              )
            : '–',
      },
    ],
  });
}

function listView(root, ctx) {
  const out = h('div', { role: 'status' });
  const state = h(
    'select',
    { id: 'dsr-status' },
    ['', 'pending_verification', 'in_progress', 'completed', 'expired'].map((s) =>
      h('option', { value: s }, s === '' ? 'any' : s),
    ),
  );
  const chain = h('div', { role: 'status', 'data-testid': 'consent-verify' });
  const requests = dataTable({
    label: 'Data-subject requests',
    rowKey: (r) => r.id,
    columns: [
      { key: 'id', label: 'Request', render: (r) => h('a', { href: '#/compliance/' + enc(r.id) }, r.id) },
      { key: 'type', label: 'Type' },
      { key: 'jurisdiction', label: 'Law' },
      { key: 'status', label: 'Status' },
      { key: 'result', label: 'Result', render: (r) => r.result ?? '–' },
      { key: 'receivedAt', label: 'Received', render: (r) => time(r.receivedAt) },
      { key: 'dueAt', label: 'Due', render: (r) => time(r.dueAt) },
      { key: 'completedAt', label: 'Completed', render: (r) => time(r.completedAt) },
    ],
  });
  let exceptions;
  const load = async () => {
    const [ex, rq] = await Promise.all([
      api('GET', '/v1/dsr-exceptions'),
      api('GET', '/v1/dsr' + query({ status: state.value, limit: 1000 })),
    ]);
    out.replaceChildren();
    exceptions.setRows(ex.exceptions);
    requests.setRows(rq.requests);
  };
  exceptions = exceptionsTable(ctx, load, out);
  state.addEventListener('change', () => load().catch((e) => out.replaceChildren(errorBox(e))));
  const verify = async () => {
    try {
      const v = await api('GET', '/v1/consent/verify');
      chain.replaceChildren(
        v.ok
          ? h(
              'p',
              { class: 'ok' },
              'Consent ledger intact: ' + num(v.rows) + ' records, ' + num(v.checkpoints) + ' checkpoints',
            )
          : h('p', { class: 'bad' }, 'Consent ledger broken at record ' + v.brokenId + ' (' + v.reason + ')'),
      );
    } catch (err) {
      chain.replaceChildren(errorBox(err));
    }
  };
  const canConsent = ctx.session.scopes.includes('consent:read');
  add(
    root,
    h('h1', {}, 'Compliance'),
    out,
    h('h2', {}, 'Exceptions queue (earliest deadline first)'),
    exceptions.el,
    h('h2', {}, 'Data-subject requests'),
    h('div', { class: 'toolbar' }, h('label', { for: 'dsr-status' }, 'Status', state)),
    requests.el,
    canConsent ? h('h2', {}, 'Consent ledger') : null,
    canConsent
      ? h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: verify }, 'Verify the chain'))
      : null,
    chain,
  );
  return every(5000, load, (err) => out.replaceChildren(errorBox(err)));
}

function detailView(root, requestId) {
  const head = h('div');
  const out = h('div', { role: 'status' });
  const steps = dataTable({
    label: 'Steps',
    rowKey: (r) => r.system,
    columns: [
      { key: 'system', label: 'System' },
      { key: 'status', label: 'Status' },
      { key: 'attempts', label: 'Attempts' },
      { key: 'nextAttemptAt', label: 'Next attempt', render: (r) => time(r.nextAttemptAt) },
      { key: 'lastError', label: 'Last error', render: (r) => r.lastError ?? '–' },
      {
        key: 'evidence',
        label: 'Evidence',
        sort: (r) => JSON.stringify(r.evidence ?? ''),
        render: (r) => h('code', {}, JSON.stringify(r.evidence ?? null)),
      },
      { key: 'updatedAt', label: 'Updated', render: (r) => time(r.updatedAt) },
    ],
  });
  const events = h('ol', { 'aria-label': 'Events' });
  add(
    root,
    h('p', {}, h('a', { href: '#/compliance' }, '← Compliance')),
    head,
    out,
    h('h2', {}, 'Steps, one per system'),
    steps.el,
    h('h2', {}, 'Event trail'),
    events,
  );
  return every(
    3000,
    async () => {
      const { request: r, steps: s, events: ev } = await api('GET', '/v1/dsr/' + enc(requestId));
      fill(
        head,
        h('h1', {}, 'Request ' + r.id),
        h(
          'div',
          { class: 'tiles' },
          h('div', { class: 'tile' }, 'Type', h('b', {}, r.type)),
          h('div', { class: 'tile' }, 'Status', h('b', { 'data-testid': 'dsr-status' }, r.status)),
          h('div', { class: 'tile' }, 'Result', h('b', {}, r.result ?? '–')),
          h('div', { class: 'tile' }, 'Due', h('b', {}, time(r.dueAt))),
        ),
        h('p', {}, r.deadlineRule + '. Received ' + time(r.receivedAt) + ' by ' + r.channel + '.'),
        r.reason ? h('p', {}, 'Reason: ' + r.reason) : null,
      );
      out.replaceChildren();
      steps.setRows(s);
      events.replaceChildren(
        ...(ev ?? []).map((e) =>
          h(
            'li',
            {},
            time(e.at)
              + ' '
              + (e.system ? e.system + ': ' : '')
              + e.event
              + (e.detail ? ' ' + JSON.stringify(e.detail) : ''),
          ),
        ),
      );
    },
    (err) => out.replaceChildren(errorBox(err)),
  );
}

registerPage({
  id: 'compliance',
  title: 'Compliance',
  scope: 'dsr:read',
  order: 70,
  render(root, ctx) {
    const [sub] = ctx.rest;
    return sub ? detailView(root, sub) : listView(root, ctx);
  },
});
