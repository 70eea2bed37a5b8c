// Journeys: every journey with its trigger, status and version; one journey's steps and where its
// runs are (by version, status and step); a contact's run history, which answers "why did I get
// this email?" (GET /v1/contacts/:id/journeys).
import { api } from '../api.js';
import { registerPage } from '../registry.js';
import { add, dataTable, errorBox, every, fill, h, num, time } from '../ui.js';

const enc = encodeURIComponent;

function triggerText(t) {
  if (!t) return '–';
  if (t.type === 'list') return 'entered list ' + t.list;
  if (t.type === 'event') return t.event + (t.tag ? ' (' + t.tag + ')' : '');
  if (t.type === 'date') {
    const off = t.offsetDays ? (t.offsetDays > 0 ? ' + ' : ' − ') + Math.abs(t.offsetDays) + ' days' : '';
    return 'date ' + t.attribute + off + (t.yearly ? ', yearly' : '');
  }
  return t.type;
}

function nextText(s) {
  if (s.type === 'branch' || s.type === 'branchEngagement')
    return 'yes → ' + (s.yes ?? 'end') + ', no → ' + (s.no ?? 'end');
  return s.next ?? 'end';
}

function stepDetail(s) {
  switch (s.type) {
    case 'wait':
      return Object.entries(s.duration ?? {})
        .map(([k, v]) => v + ' ' + k)
        .join(' ');
    case 'waitUntil':
      return 'until ' + s.time;
    case 'email':
      return s.subject + (s.variants ? ' (' + s.variants.length + ' variants)' : '');
    case 'branchEngagement':
      return s.on + ' "' + s.step + '"';
    case 'branch':
      return JSON.stringify(s.condition);
    case 'addToList':
    case 'removeFromList':
      return s.list;
    case 'webhook':
      return s.url;
    case 'updateCrm':
      return Object.keys(s.fields ?? {}).join(', ');
    default:
      return '';
  }
}

function historyView(out, contactId) {
  return api('GET', '/v1/contacts/' + enc(contactId) + '/journeys').then((r) =>
    fill(
      out,
      r.runs.length === 0
        ? h('p', {}, 'No journey runs for ' + contactId)
        : r.runs.map((run) =>
            h(
              'section',
              { class: 'card' },
              h(
                'h3',
                {},
                run.journeyId + ' v' + run.version + ' · ' + run.status + ' · from ' + time(run.startedAt),
                run.endReason ? ' · ' + run.endReason : '',
              ),
              h('p', { class: 'muted' }, 'Entered by ' + triggerText(run.trigger)),
              h(
                'ol',
                {},
                run.steps.map((s) =>
                  h(
                    'li',
                    {},
                    time(s.at) + ' ' + s.stepId + ' (' + s.type + '): ' + s.outcome,
                    s.email ? ' — message ' + s.email.state + (s.email.reason ? ' (' + s.email.reason + ')' : '') : '',
                  ),
                ),
              ),
              run.nextStep ? h('p', {}, 'Next: ' + run.nextStep + ' at ' + time(run.dueAt)) : null,
            ),
          ),
    ),
  );
}

function contactLookup() {
  const input = h('input', { id: 'journey-contact', placeholder: 'contact id' });
  const out = h('div', { role: 'status', 'data-testid': 'journey-history' });
  const look = async () => {
    try {
      if (input.value.trim() !== '') await historyView(out, input.value.trim());
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  input.addEventListener('keydown', (e) => e.key === 'Enter' && look());
  return h(
    'div',
    {},
    h('h2', {}, 'Why did a contact get an email?'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'journey-contact' }, 'Contact', input),
      h('button', { type: 'button', onclick: look }, 'Show run history'),
    ),
    out,
  );
}

function listView(root) {
  const status = h('div', { role: 'status' });
  const table = dataTable({
    label: 'Journeys',
    rowKey: (r) => r.id,
    columns: [
      { key: 'name', label: 'Name', render: (r) => h('a', { href: '#/journeys/' + enc(r.id) }, r.name) },
      { key: 'id', label: 'Id' },
      { key: 'status', label: 'Status' },
      { key: 'currentVersion', label: 'Version' },
      { key: 'trigger', label: 'Trigger', render: (r) => r.triggerType + (r.triggerKey ? ': ' + r.triggerKey : '') },
      { key: 'updatedAt', label: 'Changed', render: (r) => time(r.updatedAt) },
    ],
  });
  add(root, h('h1', {}, 'Journeys'), status, table.el, contactLookup());
  return every(
    5000,
    async () => {
      const { journeys } = await api('GET', '/v1/journeys');
      status.replaceChildren();
      table.setRows(journeys);
    },
    (err) => status.replaceChildren(errorBox(err)),
  );
}

function detailView(root, journeyId) {
  const head = h('div');
  const out = h('div', { role: 'status' });
  const steps = dataTable({
    label: 'Steps',
    rowKey: (r) => r.id,
    columns: [
      { key: 'id', label: 'Step' },
      { key: 'type', label: 'Type' },
      { key: 'detail', label: 'Does', render: stepDetail, sort: (r) => r.type },
      { key: 'next', label: 'Then', render: nextText, sort: (r) => r.next ?? '' },
      { key: 'waiting', label: 'Runs here', render: (r) => num(r.waiting), sort: (r) => r.waiting },
    ],
  });
  const runs = dataTable({
    label: 'Runs',
    rowKey: (r) => r.version + '/' + r.status + '/' + r.stepId,
    columns: [
      { key: 'version', label: 'Version' },
      { key: 'status', label: 'Status' },
      { key: 'stepId', label: 'At step', render: (r) => r.stepId ?? '–' },
      { key: 'n', label: 'Runs', render: (r) => num(r.n) },
    ],
  });
  add(
    root,
    h('p', {}, h('a', { href: '#/journeys' }, '← All journeys')),
    head,
    out,
    h('h2', {}, 'Steps'),
    steps.el,
    h('h2', {}, 'Runs by version, status and step'),
    runs.el,
    contactLookup(),
  );
  return every(
    3000,
    async () => {
      const j = await api('GET', '/v1/journeys/' + enc(journeyId));
      const d = j.definition;
      const active = (id) =>
        j.runs.filter((r) => r.status === 'active' && r.stepId === id).reduce((n, r) => n + Number(r.n), 0);
      const total = (status) => j.runs.filter((r) => r.status === status).reduce((n, r) => n + Number(r.n), 0);
      fill(
        head,
        h('h1', {}, j.name),
        h(
          'div',
          { class: 'tiles' },
          h('div', { class: 'tile' }, 'Status', h('b', {}, j.status)),
          h('div', { class: 'tile' }, 'Version', h('b', {}, num(j.currentVersion))),
          h('div', { class: 'tile' }, 'Trigger', h('b', {}, triggerText(d.trigger))),
          h('div', { class: 'tile' }, 'Active runs', h('b', { 'data-testid': 'journey-active' }, num(total('active')))),
          h('div', { class: 'tile' }, 'Completed', h('b', {}, num(total('completed')))),
          h('div', { class: 'tile' }, 'Exited', h('b', {}, num(total('exited') + total('goal')))),
        ),
        d.goals?.length
          ? h('p', {}, 'Goals: ' + d.goals.map((g) => g.id + ' ' + JSON.stringify(g.condition)).join('; '))
          : null,
      );
      out.replaceChildren();
      steps.setRows(d.steps.map((s) => ({ ...s, waiting: active(s.id) })));
      runs.setRows(j.runs);
    },
    (err) => out.replaceChildren(errorBox(err)),
  );
}

registerPage({
  id: 'journeys',
  title: 'Journeys',
  scope: 'journeys:read',
  order: 65,
  render(root, ctx) {
    const [sub] = ctx.rest;
    return sub ? detailView(root, sub) : listView(root);
  },
});
