// Campaigns: the list with state, progress and ETA; one campaign's funnel, send rate over time and
// its actions (preview, start, pause, resume, cancel); creating a campaign from a JSON definition.
import { api } from '../api.js';
import { registerPage } from '../registry.js';
import { announce, dataTable, duration, errorBox, every, h, lineChart, num, time } from '../ui.js';

// the ledger states a campaign is done with (as the CLI counts progress)
const HANDLED = [
  'sent',
  'delivered',
  'bounced',
  'failed',
  'suppressed',
  'capped',
  'cancelled',
  'unknown',
  'complained',
  'deferred',
];

/** Progress in percent, or null while the audience is still being read. */
export function progressOf(s) {
  const done = HANDLED.reduce((n, k) => n + (s.counts[k] ?? 0), 0);
  const known = s.progress?.audienceKnown ?? s.campaign.selectDone;
  if (!known) return { done, total: null, pct: null };
  const total = Math.max(s.campaign.selected, done);
  return { done, total, pct: total === 0 ? 100 : Math.floor((done / total) * 100) };
}

function progressBar(p) {
  if (p.pct === null) return h('span', { class: 'muted' }, num(p.done) + ' handled, reading audience…');
  return h(
    'div',
    {},
    h(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': p.pct,
        'aria-label': 'Progress',
      },
      h('span', { style: 'width:' + p.pct + '%' }),
    ),
    h('span', { 'data-testid': 'progress-text' }, p.pct + ' % (' + num(p.done) + ' of ' + num(p.total) + ')'),
  );
}

function listView(root, ctx) {
  const status = h('div', { role: 'status' });
  const statuses = new Map();
  const table = dataTable({
    label: 'Campaigns',
    rowKey: (r) => r.id,
    columns: [
      {
        key: 'name',
        label: 'Name',
        render: (r) => h('a', { href: '#/campaigns/' + encodeURIComponent(r.id) }, r.name),
      },
      { key: 'id', label: 'Id' },
      { key: 'status', label: 'State' },
      { key: 'pct', label: 'Progress', render: (r) => (r.pct === null ? '–' : r.pct + ' %'), sort: (r) => r.pct ?? -1 },
      { key: 'rate', label: 'Msgs/s', render: (r) => num(r.rate) },
      { key: 'eta', label: 'ETA', render: (r) => duration(r.eta), sort: (r) => r.eta ?? Infinity },
      { key: 'createdAt', label: 'Created', render: (r) => time(r.createdAt) },
    ],
  });
  const canWrite = ctx.session.scopes.includes('campaigns:write');
  root.append(
    h('h1', {}, 'Campaigns'),
    canWrite ? h('p', {}, h('a', { href: '#/campaigns/~new' }, 'New campaign')) : null,
    status,
    table.el,
  );
  return every(
    3000,
    async () => {
      const { campaigns } = await api('GET', '/v1/campaigns');
      // status (counts, rate, ETA) only for campaigns that move: one request each
      await Promise.all(
        campaigns
          .filter((c) => c.status === 'running' || c.status === 'paused' || !statuses.has(c.id))
          .slice(0, 25)
          .map(async (c) =>
            statuses.set(c.id, await api('GET', '/v1/campaigns/' + encodeURIComponent(c.id) + '/status')),
          ),
      );
      status.replaceChildren();
      table.setRows(
        campaigns.map((c) => {
          const s = statuses.get(c.id);
          return {
            id: c.id,
            name: c.definition.name,
            status: c.status,
            pct: s ? progressOf(s).pct : null,
            rate: s?.ratePerSecond ?? null,
            eta: s?.etaSeconds ?? null,
            createdAt: c.createdAt,
          };
        }),
      );
    },
    (err) => status.replaceChildren(errorBox(err)),
  );
}

function createView(root, ctx) {
  const text = h('textarea', { id: 'definition', spellcheck: 'false' });
  const out = h('div', { role: 'status' });
  const create = h('button', { type: 'button', class: 'primary' }, 'Create campaign');
  root.append(
    h('h1', {}, 'New campaign'),
    h('label', { for: 'definition' }, 'Definition (JSON, as POST /v1/campaigns takes it)', text),
    h('div', { class: 'toolbar' }, create),
    out,
  );
  api('GET', '/v1/dashboard/campaign-template').then(
    (t) => {
      text.value = JSON.stringify(t.definition, null, 2);
    },
    () => {
      const blank = {
        name: '',
        from: { address: '' },
        subject: '',
        template: { html: '' },
        audience: { source: 'csv', path: '', mapping: { columns: { id: 'id', email: 'email' } } },
        postalAddress: '',
      };
      text.value = JSON.stringify(blank, null, 2);
    },
  );
  create.addEventListener('click', async () => {
    let body;
    try {
      body = JSON.parse(text.value);
    } catch (err) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'Not valid JSON: ' + err.message));
      return;
    }
    try {
      const c = await api('POST', '/v1/campaigns', body);
      announce('Campaign ' + c.id + ' created');
      ctx.go('#/campaigns/' + encodeURIComponent(c.id));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  text.focus();
}

function detailView(root, ctx, id) {
  const path = '/v1/campaigns/' + encodeURIComponent(id);
  const title = h('h1', {}, 'Campaign ' + id);
  const state = h('p', { 'data-testid': 'campaign-state' });
  const progress = h('div');
  const out = h('div', { role: 'status' });
  const preview = h('div');
  const funnel = dataTable({
    label: 'Funnel',
    pageSize: 50,
    columns: [
      { key: 'step', label: 'Step' },
      { key: 'count', label: 'Contacts', render: (r) => num(r.count) },
    ],
  });
  const chart = lineChart({ title: 'Send rate', unit: 'msgs/s' });
  // an A/B test's cells (docs/ab-tests.md): shown only for a campaign that has one
  const abInfo = h('p', { 'data-testid': 'ab-test-state' });
  const abTable = dataTable({
    label: 'A/B test variants',
    pageSize: 8,
    columns: [
      { key: 'index', label: '#' },
      { key: 'name', label: 'Variant' },
      { key: 'sends', label: 'Sent', render: (r) => num(r.sends) },
      { key: 'conversions', label: 'Converted', render: (r) => num(r.conversions) },
      { key: 'rate', label: 'Rate / value', render: (r) => r.shown },
      { key: 'interval', label: '95% interval', render: (r) => r.interval },
    ],
  });
  const abCard = h('section', { class: 'card' }, h('h2', {}, 'A/B test'), abInfo, abTable.el);
  abCard.hidden = true;
  const canWrite = ctx.session.scopes.includes('campaigns:write');
  const buttons = {};
  const action = (name, label, cls) => {
    const b = h('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', async () => {
      if (name === 'cancel' && !confirm('Cancel campaign ' + id + '? Nothing more will be sent.')) return;
      try {
        await api('POST', path + '/' + name);
        announce('Campaign ' + name + ' done');
        refresh();
      } catch (err) {
        out.replaceChildren(errorBox(err));
      }
    });
    buttons[name] = b;
    return b;
  };
  const previewButton = h('button', { type: 'button' }, 'Preview');
  previewButton.addEventListener('click', async () => {
    try {
      const p = await api('POST', '/v1/dashboard/campaigns/' + encodeURIComponent(id) + '/preview');
      const m = p.sample?.message;
      preview.replaceChildren(
        h('h2', {}, 'Preview'),
        h(
          'p',
          {},
          'Audience: ',
          p.audienceCount === null ? 'counted while selecting' : num(p.audienceCount) + ' contacts',
        ),
        m
          ? h(
              'div',
              {},
              h('p', {}, 'Sample for contact ', p.sample.contactId, ': ', h('b', {}, m.subject)),
              m.html
                ? h('iframe', { class: 'preview', sandbox: '', title: 'Rendered HTML sample', srcdoc: m.html })
                : null,
              h('pre', {}, m.text),
            )
          : h('p', {}, 'The audience is empty.'),
      );
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  root.append(
    h('p', {}, h('a', { href: '#/campaigns' }, '← All campaigns')),
    title,
    state,
    progress,
    canWrite
      ? h(
          'div',
          { class: 'toolbar', role: 'group', 'aria-label': 'Campaign actions' },
          previewButton,
          action('start', 'Start', 'primary'),
          action('pause', 'Pause'),
          action('resume', 'Resume'),
          action('cancel', 'Cancel', 'danger'),
        )
      : null,
    out,
    preview,
    h(
      'div',
      { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Funnel'), funnel.el),
      h('section', { class: 'card' }, h('h2', {}, 'Send rate'), chart.el),
    ),
    abCard,
  );
  async function refresh() {
    const f = await api('GET', '/v1/dashboard/campaigns/' + encodeURIComponent(id) + '/funnel');
    const s = f.status;
    const c = s.campaign;
    title.textContent = c.definition.name + ' (' + c.id + ')';
    state.textContent =
      'State: '
      + c.status
      + (c.statusReason ? ' — ' + c.statusReason : '')
      + ' · '
      + num(s.ratePerSecond)
      + ' msgs/s · ETA '
      + duration(s.etaSeconds);
    const p = progressOf(s);
    progress.replaceChildren(progressBar(p));
    const can = {
      start: c.status === 'draft',
      pause: c.status === 'running',
      resume: c.status === 'paused',
      cancel: ['draft', 'running', 'paused'].includes(c.status),
    };
    for (const [k, b] of Object.entries(buttons)) b.disabled = !can[k];
    const engaged = (type) => f.engagement.find((e) => e.type === type)?.contacts ?? 0;
    const reasons = f.excluded.map((x) => ({ step: 'excluded (' + x.state + '): ' + x.reason, count: x.count }));
    funnel.setRows([
      { step: 'selected', count: c.selected },
      ...reasons,
      {
        step: 'sent',
        count: ['sent', 'delivered', 'bounced', 'complained'].reduce((n, k) => n + (s.counts[k] ?? 0), 0),
      },
      { step: 'delivered', count: (s.counts.delivered ?? 0) + (s.counts.complained ?? 0) },
      { step: 'opened (human)', count: engaged('opened') },
      { step: 'clicked', count: engaged('clicked') },
      { step: 'bounced', count: s.counts.bounced ?? 0 },
      { step: 'complained', count: engaged('complained') || (s.counts.complained ?? 0) },
      { step: 'unsubscribed', count: engaged('unsubscribed') },
    ]);
    const ab = s.abTest;
    abCard.hidden = !ab;
    if (ab) {
      const value = ab.metric === 'revenue';
      const fmt = (x) => (value ? (x / 100).toFixed(2) : (x * 100).toFixed(2) + '%');
      abInfo.textContent =
        ab.metric.replace('_', ' ')
        + ' · test share '
        + Math.round(ab.testShare * 100)
        + '% · '
        + (ab.decision
          ? 'winner: variant ' + ab.decision.variant + ' (' + ab.decision.how + ')'
          : (ab.phase ?? 'not started') + ': ' + ab.live.reason);
      abTable.setRows(
        ab.variants.map((v) => {
          const c = ab.live.cells[v.index] ?? { sends: 0, conversions: 0, rate: 0, interval: [0, 0] };
          return {
            index: v.index,
            name: v.name,
            sends: c.sends,
            conversions: c.conversions,
            rate: c.rate,
            shown: fmt(c.rate),
            interval: fmt(c.interval[0]) + ' – ' + fmt(c.interval[1]),
          };
        }),
      );
    }
    const b = f.sendRate.bucketSeconds;
    chart.update(
      f.sendRate.points.map((pt) => new Date(pt.at).getTime() / 1000),
      [{ label: 'sent/s', values: f.sendRate.points.map((pt) => pt.sent / b) }],
    );
    out.replaceChildren();
  }
  const stop = every(2000, refresh, (err) => out.replaceChildren(errorBox(err)));
  return () => {
    stop();
    chart.destroy();
  };
}

registerPage({
  id: 'campaigns',
  title: 'Campaigns',
  scope: 'campaigns:read',
  order: 20,
  render(root, ctx) {
    const [id] = ctx.rest;
    if (id === '~new') return createView(root, ctx);
    if (id) return detailView(root, ctx, id);
    return listView(root, ctx);
  },
});
