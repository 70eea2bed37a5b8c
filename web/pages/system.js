// System: per topic and group — queue depth, lag, throughput, handler p50/p99, error and
// dead-letter rates over the last hour (GET /v1/dashboard/system, polled every 2 s) — and the
// health of the store, the bus and the ESP.
import { api } from '../api.js';
import { registerPage } from '../registry.js';
import { dataTable, errorBox, every, h, lineChart, num } from '../ui.js';

function healthTile(name, s) {
  const ok = s?.status === 'ok';
  return h(
    'div',
    { class: 'tile' },
    name,
    h('b', { class: ok ? 'ok' : 'bad' }, s ? (ok ? 'ok' : (s.code ?? 'unavailable')) : '…'),
    s ? h('span', { class: 'muted' }, s.latencyMs + ' ms') : null,
  );
}

registerPage({
  id: 'system',
  title: 'System',
  scope: 'system:read',
  order: 10,
  render(root) {
    const status = h('div', { role: 'status' });
    const tiles = h('div', { class: 'tiles', 'aria-label': 'Health' });
    const charts = {
      depth: lineChart({ title: 'Queue depth', unit: 'messages' }),
      lag: lineChart({ title: 'Consumer lag', unit: 'seconds' }),
      throughput: lineChart({ title: 'Throughput', unit: 'msgs/s' }),
      p99: lineChart({ title: 'Handler latency p99', unit: 'ms' }),
      p50: lineChart({ title: 'Handler latency p50', unit: 'ms' }),
      errors: lineChart({ title: 'Errors and dead letters', unit: 'per s' }),
    };
    const table = dataTable({
      label: 'Topics and groups',
      pageSize: 20,
      columns: [
        { key: 'group', label: 'Group' },
        { key: 'topic', label: 'Topic' },
        { key: 'pending', label: 'Pending', render: (r) => num(r.pending) },
        { key: 'inFlight', label: 'In flight', render: (r) => num(r.inFlight) },
        { key: 'retrying', label: 'Retrying', render: (r) => num(r.retrying) },
        { key: 'lag', label: 'Lag (s)', render: (r) => num(r.lag) },
        { key: 'throughput', label: 'Msgs/s', render: (r) => num(r.throughput) },
        { key: 'p50', label: 'p50 ms', render: (r) => num(r.p50) },
        { key: 'p99', label: 'p99 ms', render: (r) => num(r.p99) },
        { key: 'errors', label: 'Errors/s', render: (r) => num(r.errors) },
        { key: 'dead', label: 'Dead/s', render: (r) => num(r.dead) },
      ],
    });
    root.append(
      h('h1', {}, 'System'),
      tiles,
      status,
      h('h2', {}, 'Last hour'),
      h(
        'div',
        { class: 'grid' },
        Object.values(charts).map((c) =>
          h(
            'section',
            { class: 'card', 'aria-label': c.el.getAttribute('aria-label') },
            h('h3', {}, c.el.getAttribute('aria-label')),
            c.el,
          ),
        ),
      ),
      h('h2', {}, 'Topics and groups'),
      table.el,
    );
    const label = (g) => g.group + ' · ' + g.topic;
    const last = (xs) => (xs.length === 0 ? null : xs.at(-1));
    const stop = every(
      2000,
      async () => {
        const s = await api('GET', '/v1/dashboard/system');
        status.replaceChildren();
        tiles.replaceChildren(
          healthTile('Store', s.health?.store),
          healthTile('Bus', s.health?.bus),
          h(
            'div',
            { class: 'tile' },
            'ESP ' + s.esp.name,
            h(
              'b',
              { class: s.esp.providers.some((p) => p.heldUntil) ? 'warn' : 'ok' },
              s.esp.providers.some((p) => p.heldUntil) ? 'held' : 'sending',
            ),
            h('span', { class: 'muted' }, s.esp.openBreakers + ' open breakers'),
          ),
          h('div', { class: 'tile' }, 'Dead letters', h('b', {}, num(s.deadLetters.current))),
        );
        const xs = s.at.map((t) => t / 1000);
        // the busiest groups only: a chart with every idle group is unreadable
        const busy = [...s.groups]
          .sort((a, b) => b.throughput.reduce((x, y) => x + y, 0) - a.throughput.reduce((x, y) => x + y, 0))
          .slice(0, 6);
        const pick = (key) => busy.map((g) => ({ label: label(g), values: g[key] }));
        charts.depth.update(xs, pick('depth'));
        charts.lag.update(xs, pick('lagSeconds'));
        charts.throughput.update(xs, pick('throughput'));
        charts.p99.update(xs, pick('p99Ms'));
        charts.p50.update(xs, pick('p50Ms'));
        const sum = (arrs) => xs.map((_, i) => arrs.reduce((n, a) => n + (a[i] ?? 0), 0));
        charts.errors.update(xs, [
          { label: 'errors/s', values: sum(s.groups.map((g) => g.errorsPerSec)) },
          { label: 'dead letters/s', values: sum(s.groups.map((g) => g.deadPerSec)) },
        ]);
        table.setRows(
          s.groups.map((g) => ({
            group: g.group,
            topic: g.topic,
            pending: g.current.pending,
            inFlight: g.current.inFlight,
            retrying: g.current.retrying,
            lag: g.current.lagSeconds,
            throughput: last(g.throughput) ?? 0,
            p50: last(g.p50Ms),
            p99: last(g.p99Ms),
            errors: last(g.errorsPerSec) ?? 0,
            dead: last(g.deadPerSec) ?? 0,
          })),
        );
      },
      (err) => status.replaceChildren(errorBox(err)),
    );
    return () => {
      stop();
      for (const c of Object.values(charts)) c.destroy();
    };
  },
});
