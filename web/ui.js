// Small UI pieces shared by the pages: an element builder, a sortable/filterable/paginated table,
// uPlot charts, number and time formats, and a polite announcement for screen readers.
import uPlot from '/assets/uPlot.esm.js';

/** h('div', { class: 'x', onclick: fn }, child, 'text', …): children may be nodes, text or arrays. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function announce(message) {
  const el = document.getElementById('announce');
  if (el) el.textContent = message;
}

export const num = (n) =>
  n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: 2 });
export const time = (t) => (t ? new Date(t).toLocaleString('en-GB', { hour12: false }) : '–');

export function duration(s) {
  if (s === null || s === undefined) return '–';
  if (s < 60) return Math.round(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, (err.code ? err.code + ': ' : '') + err.message);
}

/**
 * A table that sorts (click or Enter on a header), filters (one text box over every column) and
 * pages (pageSize rows). columns: [{ key, label, render?(row) → node|text, sort?(row) → value }].
 * Returns { el, setRows(rows) } so a page can refresh the rows and keep the user's sort and page.
 */
export function dataTable({ columns, pageSize = 25, label, rowKey, onRowSelect }) {
  let rows = [];
  let sortKey = null;
  let sortDir = 1;
  let page = 0;
  let filter = '';
  const filterBox = h('input', { type: 'search', 'aria-label': 'Filter ' + label, placeholder: 'Filter…' });
  const tbody = h('tbody');
  const thead = h('thead');
  const info = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', onclick: () => go(page - 1) }, 'Previous');
  const next = h('button', { type: 'button', onclick: () => go(page + 1) }, 'Next');
  const el = h(
    'div',
    {},
    h('div', { class: 'toolbar' }, h('label', {}, 'Filter', filterBox)),
    h('div', { class: 'table-wrap' }, h('table', { 'aria-label': label }, thead, tbody)),
    h('div', { class: 'pager' }, prev, info, next),
  );
  filterBox.addEventListener('input', () => {
    filter = filterBox.value.toLowerCase();
    page = 0;
    draw();
  });
  const sortValue = (c, r) => (c.sort ? c.sort(r) : r[c.key]);
  const text = (c, r) => {
    const v = c.render ? c.render(r) : r[c.key];
    return v instanceof Node ? v.textContent : String(v ?? '');
  };
  function header() {
    thead.replaceChildren(
      h(
        'tr',
        {},
        columns.map((c) =>
          h(
            'th',
            { scope: 'col', 'aria-sort': sortKey === c.key ? (sortDir > 0 ? 'ascending' : 'descending') : 'none' },
            h(
              'button',
              {
                type: 'button',
                onclick: () => {
                  sortDir = sortKey === c.key ? -sortDir : 1;
                  sortKey = c.key;
                  draw();
                },
              },
              c.label,
              sortKey === c.key ? (sortDir > 0 ? ' ▲' : ' ▼') : '',
            ),
          ),
        ),
      ),
    );
  }
  function visible() {
    let out = filter === '' ? rows : rows.filter((r) => columns.some((c) => text(c, r).toLowerCase().includes(filter)));
    if (sortKey !== null) {
      const c = columns.find((x) => x.key === sortKey);
      out = [...out].sort((a, b) => {
        const x = sortValue(c, a);
        const y = sortValue(c, b);
        return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
      });
    }
    return out;
  }
  function go(p) {
    page = p;
    draw();
  }
  function draw() {
    header();
    const all = visible();
    const pages = Math.max(1, Math.ceil(all.length / pageSize));
    page = Math.min(Math.max(0, page), pages - 1);
    const shown = all.slice(page * pageSize, (page + 1) * pageSize);
    tbody.replaceChildren(
      ...(shown.length === 0
        ? [h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'Nothing to show'))]
        : shown.map((r) =>
            h(
              'tr',
              { 'data-key': rowKey ? rowKey(r) : undefined },
              columns.map((c) => h('td', {}, c.render ? c.render(r) : String(r[c.key] ?? ''))),
            ),
          )),
    );
    info.textContent = 'Page ' + (page + 1) + ' of ' + pages + ' (' + all.length + ' rows)';
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  draw();
  return {
    el,
    onRowSelect,
    setRows(next) {
      rows = next;
      draw();
    },
  };
}

/**
 * A line chart (uPlot) that fills its container's width and follows resizes. series: [{ label,
 * values }]; xs in epoch seconds. Returns { el, update(xs, series), destroy() }.
 */
export function lineChart({ title, unit, height = 160 }) {
  const el = h('div', { class: 'chart', role: 'img', 'aria-label': title });
  let plot = null;
  let labels = [];
  const colors = ['#0550ae', '#bc4c00', '#1a7f37', '#8250df', '#cf222e', '#4d2d00'];
  const width = () => Math.max(200, el.clientWidth || 300);
  const observer = new ResizeObserver(() => plot?.setSize({ width: width(), height }));
  observer.observe(el);
  function build(series) {
    plot?.destroy();
    labels = series.map((s) => s.label);
    plot = new uPlot(
      {
        width: width(),
        height,
        legend: { show: true, live: false },
        axes: [{}, { label: unit, size: 60 }],
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 1.5 }))],
      },
      [[], ...series.map(() => [])],
      el,
    );
  }
  return {
    el,
    update(xs, series) {
      if (plot === null || labels.join('\0') !== series.map((s) => s.label).join('\0')) build(series);
      plot.setData([xs, ...series.map((s) => s.values)]);
      el.setAttribute('aria-label', title + ': ' + series.map((s) => s.label + ' ' + num(s.values.at(-1))).join(', '));
    },
    destroy() {
      observer.disconnect();
      plot?.destroy();
    },
  };
}

/** Runs fn now and every ms until the returned stop is called; errors are shown, never thrown. */
export function every(ms, fn, onError) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await fn();
    } catch (err) {
      onError?.(err);
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A bar chart (uPlot's bars path) of one value per category, filling its container's width.
 * Returns { el, update(categories, values), destroy() }.
 */
export function barChart({ title, unit, height = 220 }) {
  const el = h('div', { class: 'chart', role: 'img', 'aria-label': title });
  let plot = null;
  let names = [];
  const width = () => Math.max(200, el.clientWidth || 300);
  const observer = new ResizeObserver(() => plot?.setSize({ width: width(), height }));
  observer.observe(el);
  const bars = uPlot.paths.bars({ size: [0.6, 60] });
  return {
    el,
    update(categories, values) {
      names = categories;
      plot?.destroy();
      plot = new uPlot(
        {
          width: width(),
          height,
          legend: { show: false },
          scales: { x: { time: false, range: [-0.5, Math.max(0.5, categories.length - 0.5)] } },
          axes: [
            {
              splits: () => categories.map((_, i) => i),
              values: (_, splits) => splits.map((i) => String(names[i] ?? '').slice(0, 18)),
            },
            { label: unit, size: 70 },
          ],
          series: [{}, { label: unit, fill: '#0550ae99', stroke: '#0550ae', paths: bars, points: { show: false } }],
        },
        [categories.map((_, i) => i), values],
        el,
      );
      el.setAttribute(
        'aria-label',
        title
          + ': '
          + categories
            .map((c, i) => c + ' ' + num(values[i]))
            .slice(0, 20)
            .join(', '),
      );
    },
    destroy() {
      observer.disconnect();
      plot?.destroy();
    },
  };
}

const present = (children) => children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);

/** el.replaceChildren without the DOM's habit of writing null and arrays as text. */
export function fill(el, ...children) {
  el.replaceChildren(...present(children));
}

/** el.append, leaving out null, undefined and false (optional parts of a page). */
export function add(el, ...children) {
  el.append(...present(children));
}
