// Attribution: attributed conversions and net revenue for a period by one model, grouped by
// campaign, channel, link, journey or segment (GET /v1/attribution/report), as a chart and a table;
// every model side by side for the same period; and the anomaly alerts (GET /v1/anomalies).
import { api, query } from '../api.js';
import { registerPage } from '../registry.js';
import { add, barChart, dataTable, errorBox, h, num, time } from '../ui.js';

// copies of the API's REPORT_MODELS and GROUP_BY (src/core/attribution/journeys.ts);
// test/dashboard/page-constants.test.ts keeps them equal
const MODELS = [
  'first',
  'last',
  'linear',
  'time-decay',
  'u-shape',
  'w-shape',
  'full-path',
  'positions',
  'markov',
  'shapley',
];
const GROUPS = ['campaign', 'channel', 'link', 'journey', 'segment'];
const money = (minor) => num(Math.round(Number(minor)) / 100);
const day = (d) => d.toISOString().slice(0, 10);

/** Anomaly alerts (GET /v1/anomalies): newest bucket first, filtered by scope, metric and granularity. */
function anomalies() {
  const select = (id, values) =>
    h(
      'select',
      { id },
      ['', ...values].map((v) => h('option', { value: v }, v === '' ? 'any' : v)),
    );
  const scope = select('anm-scope', ['campaign', 'segment', 'overall']);
  const metric = select('anm-metric', [
    'sends',
    'human_opens',
    'clicks',
    'bounces',
    'complaints',
    'unsubscribes',
    'revenue',
  ]);
  const granularity = select('anm-granularity', ['day', 'hour']);
  const out = h('div', { role: 'status' });
  const table = dataTable({
    label: 'Anomalies',
    rowKey: (r) => r.id,
    columns: [
      { key: 'bucket', label: 'Bucket', render: (r) => time(r.bucket) },
      { key: 'granularity', label: 'Per' },
      { key: 'scope', label: 'Scope' },
      { key: 'key', label: 'Key' },
      { key: 'metric', label: 'Metric' },
      { key: 'value', label: 'Value', render: (r) => (r.metric === 'revenue' ? money(r.value) : num(r.value)) },
      {
        key: 'baseline',
        label: 'Baseline',
        render: (r) => (r.metric === 'revenue' ? money(r.baseline) : num(r.baseline)),
      },
      { key: 'score', label: 'Score', render: (r) => num(r.score) },
      {
        key: 'performance',
        label: 'Performance',
        render: (r) => h('span', { class: r.performance === 'under' ? 'bad' : 'warn' }, r.performance),
      },
      { key: 'notifiedAt', label: 'Alert sent', render: (r) => time(r.notifiedAt) },
    ],
  });
  const load = async () => {
    try {
      const to = new Date(Date.now() + 86_400_000);
      const r = await api(
        'GET',
        '/v1/anomalies'
          + query({
            from: new Date(to.getTime() - 45 * 86_400_000).toISOString(),
            to: to.toISOString(),
            scope: scope.value,
            metric: metric.value,
            granularity: granularity.value,
            limit: 1000,
          }),
      );
      out.replaceChildren(h('p', { class: 'muted' }, r.anomalies.length + ' anomalies in the last 45 days'));
      table.setRows(r.anomalies);
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  for (const s of [scope, metric, granularity]) s.addEventListener('change', load);
  const el = h(
    'section',
    {},
    h('h2', {}, 'Anomalies'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'anm-scope' }, 'Scope', scope),
      h('label', { for: 'anm-metric' }, 'Metric', metric),
      h('label', { for: 'anm-granularity' }, 'Per', granularity),
      h('button', { type: 'button', onclick: load }, 'Refresh anomalies'),
    ),
    out,
    table.el,
  );
  return { el, load };
}

registerPage({
  id: 'attribution',
  title: 'Attribution',
  scope: 'reports:read',
  order: 80,
  render(root, ctx) {
    const now = new Date();
    const from = h('input', { id: 'att-from', type: 'date', value: day(new Date(now.getTime() - 30 * 86_400_000)) });
    const to = h('input', { id: 'att-to', type: 'date', value: day(new Date(now.getTime() + 86_400_000)) });
    const model = h(
      'select',
      { id: 'att-model' },
      MODELS.map((m) => h('option', { value: m }, m)),
    );
    model.value = 'linear';
    const groupBy = h(
      'select',
      { id: 'att-group' },
      GROUPS.map((g) => h('option', { value: g }, g)),
    );
    const halfLife = h('input', { id: 'att-half-life', type: 'number', min: '0.1', step: '0.1', value: '7' });
    const out = h('div', { role: 'status' });
    const totals = h('div', { class: 'tiles' });
    const chart = barChart({ title: 'Attributed net revenue', unit: 'net revenue' });
    const table = dataTable({
      label: 'Attributed revenue',
      rowKey: (r) => r.key,
      columns: [
        { key: 'key', label: 'Key' },
        { key: 'conversions', label: 'Conversions', render: (r) => num(r.conversions) },
        { key: 'valueMinor', label: 'Net revenue', render: (r) => money(r.valueMinor) },
      ],
    });
    const compare = h('div');
    const params = (m) => ({
      from: new Date(from.value + 'T00:00:00Z').toISOString(),
      to: new Date(to.value + 'T00:00:00Z').toISOString(),
      model: m,
      groupBy: groupBy.value,
      ...(m === 'time-decay' ? { halfLifeDays: halfLife.value } : {}),
    });
    const run = async () => {
      try {
        const r = await api('GET', '/v1/attribution/report' + query(params(model.value)));
        const t = r.totals;
        totals.replaceChildren(
          h('div', { class: 'tile' }, 'Conversions', h('b', { 'data-testid': 'att-conversions' }, num(t.conversions))),
          h('div', { class: 'tile' }, 'Attributed', h('b', {}, num(t.attributedConversions))),
          h('div', { class: 'tile' }, 'Net revenue', h('b', {}, money(t.netMinor))),
          h('div', { class: 'tile' }, 'Refunded', h('b', {}, money(t.refundedMinor))),
          h('div', { class: 'tile' }, 'Attributed revenue', h('b', {}, money(t.attributedMinor))),
        );
        const top = r.rows.slice(0, 20);
        chart.update(
          top.map((x) => x.key),
          top.map((x) => x.valueMinor / 100),
        );
        table.setRows(r.rows);
        out.replaceChildren(h('p', { class: 'muted' }, r.model + ' by ' + r.groupBy + ', ' + r.rows.length + ' rows'));
      } catch (err) {
        out.replaceChildren(errorBox(err));
      }
    };
    const compareAll = async () => {
      try {
        const reports = await Promise.all(MODELS.map((m) => api('GET', '/v1/attribution/report' + query(params(m)))));
        const keys = [...new Set(reports.flatMap((r) => r.rows.map((x) => x.key)))].slice(0, 200);
        const byModel = reports.map((r) => new Map(r.rows.map((x) => [x.key, x.valueMinor])));
        const t = dataTable({
          label: 'Net revenue by model',
          rowKey: (r) => r.key,
          columns: [
            { key: 'key', label: 'Key' },
            ...MODELS.map((m) => ({ key: m, label: m, render: (r) => money(r[m]) })),
          ],
        });
        t.setRows(
          keys.map((k) => Object.fromEntries([['key', k], ...MODELS.map((m, i) => [m, byModel[i].get(k) ?? 0])])),
        );
        compare.replaceChildren(h('h2', {}, 'Every model, same period'), t.el);
      } catch (err) {
        compare.replaceChildren(errorBox(err));
      }
    };
    const alerts = ctx.session.scopes.includes('anomalies:read') ? anomalies() : null;
    add(
      root,
      h('h1', {}, 'Attribution'),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'att-from' }, 'From', from),
        h('label', { for: 'att-to' }, 'To', to),
        h('label', { for: 'att-model' }, 'Model', model),
        h('label', { for: 'att-group' }, 'Group by', groupBy),
        h('label', { for: 'att-half-life' }, 'Half-life (days, time-decay)', halfLife),
        h('button', { type: 'button', class: 'primary', onclick: run }, 'Show report'),
        h('button', { type: 'button', onclick: compareAll }, 'Compare every model'),
      ),
      out,
      totals,
      h('div', { class: 'card' }, h('h3', {}, 'Net revenue, top 20'), chart.el),
      table.el,
      compare,
      alerts?.el,
    );
    run();
    alerts?.load();
    return () => chart.destroy();
  },
});
