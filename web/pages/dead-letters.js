// Dead letters: browse by stage and reason (error code), inspect the payload, retry
// (GET /v1/dead-letters, POST /v1/dead-letters/retry).
import { api, query } from '../api.js';
import { registerPage } from '../registry.js';
import { announce, dataTable, errorBox, h, time } from '../ui.js';

registerPage({
  id: 'dead-letters',
  title: 'Dead letters',
  scope: 'dead-letters:read',
  order: 50,
  render(root, ctx) {
    const out = h('div', { role: 'status' });
    const stage = h('input', { id: 'dl-stage', placeholder: 'any stage' });
    const code = h('select', { id: 'dl-code' }, h('option', { value: '' }, 'any'));
    const retried = h('input', { type: 'checkbox', id: 'dl-retried' });
    const detail = h('div');
    const canRetry = ctx.session.scopes.includes('dead-letters:write');
    let letters = [];
    const retry = async (ids) => {
      try {
        const r = await api('POST', '/v1/dead-letters/retry', { ids });
        announce('Requeued ' + r.retried.length + ' dead letters');
        out.replaceChildren(
          h('p', {}, 'Requeued: ' + (r.retried.join(', ') || 'none (already retried, or not a bus message)')),
        );
        await load();
      } catch (err) {
        out.replaceChildren(errorBox(err));
      }
    };
    const inspect = (d) =>
      detail.replaceChildren(
        h('h2', { tabindex: '-1', id: 'dl-detail' }, 'Dead letter ' + d.id),
        h('p', {}, d.stage + ' · ' + d.code + ' · ' + d.attempts + ' attempts · last ' + time(d.lastFailedAt)),
        h('p', {}, d.message),
        h('pre', { 'aria-label': 'Payload' }, JSON.stringify(d.payload, null, 2)),
      );
    const table = dataTable({
      label: 'Dead letters',
      rowKey: (r) => String(r.id),
      columns: [
        { key: 'id', label: 'Id' },
        { key: 'stage', label: 'Stage' },
        { key: 'code', label: 'Reason' },
        { key: 'message', label: 'Message' },
        { key: 'attempts', label: 'Attempts' },
        { key: 'lastFailedAt', label: 'Last failure', render: (r) => time(r.lastFailedAt) },
        { key: 'retriedAt', label: 'Retried', render: (r) => time(r.retriedAt) },
        {
          key: 'actions',
          label: 'Actions',
          sort: () => 0,
          render: (r) =>
            h(
              'span',
              { class: 'toolbar' },
              h(
                'button',
                {
                  type: 'button',
                  onclick: () => {
                    inspect(r);
                    document.getElementById('dl-detail')?.focus();
                  },
                  'aria-label': 'Inspect dead letter ' + r.id,
                },
                'Inspect',
              ),
              canRetry && r.topic && !r.retriedAt
                ? h(
                    'button',
                    { type: 'button', onclick: () => retry([r.id]), 'aria-label': 'Retry dead letter ' + r.id },
                    'Retry',
                  )
                : null,
            ),
        },
      ],
    });
    const draw = () => table.setRows(code.value === '' ? letters : letters.filter((d) => d.code === code.value));
    async function load() {
      const r = await api(
        'GET',
        '/v1/dead-letters'
          + query({ stage: stage.value.trim(), includeRetried: retried.checked ? 'true' : '', limit: 1000 }),
      );
      letters = r.deadLetters;
      const codes = [...new Set(letters.map((d) => d.code))].sort();
      const keep = code.value;
      code.replaceChildren(
        h('option', { value: '' }, 'any'),
        codes.map((c) => h('option', { value: c }, c)),
      );
      code.value = codes.includes(keep) ? keep : '';
      draw();
    }
    const reload = () => load().catch((e) => out.replaceChildren(errorBox(e)));
    stage.addEventListener('change', reload);
    retried.addEventListener('change', reload);
    code.addEventListener('change', draw);
    const refresh = h('button', { type: 'button', onclick: reload }, 'Refresh');
    root.append(
      h('h1', {}, 'Dead letters'),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'dl-stage' }, 'Stage', stage),
        h('label', { for: 'dl-code' }, 'Reason', code),
        h('label', { for: 'dl-retried' }, 'Include retried', retried),
        refresh,
      ),
      out,
      table.el,
      detail,
    );
    reload();
  },
});
