// Reactions: the live event stream (GET /v1/dashboard/events, newest first, polled every 2 s,
// filtered by type, campaign and provider) and the reply review queue: read the trimmed reply and
// its intent, route it (unsubscribe, create a CRM task) or dismiss it.
import { api, query } from '../api.js';
import { registerPage } from '../registry.js';
import { announce, dataTable, errorBox, every, h, num, time } from '../ui.js';

const TYPES = [
  '',
  'delivered',
  'deferred',
  'bounced_hard',
  'bounced_soft',
  'complained',
  'opened',
  'clicked',
  'unsubscribed',
  'replied',
  'auto_replied',
  'dropped',
];

function streamSection(out) {
  const type = h(
    'select',
    { id: 'ev-type' },
    TYPES.map((t) => h('option', { value: t }, t === '' ? 'any' : t)),
  );
  const campaign = h('input', { id: 'ev-campaign', placeholder: 'campaign id' });
  const provider = h('input', { id: 'ev-provider', placeholder: 'provider' });
  const live = h('input', { type: 'checkbox', id: 'ev-live', checked: true });
  const table = dataTable({
    label: 'Events',
    columns: [
      { key: 'receivedAt', label: 'Received', render: (r) => time(r.receivedAt) },
      { key: 'type', label: 'Type' },
      { key: 'provider', label: 'Provider' },
      { key: 'campaignId', label: 'Campaign' },
      { key: 'contactId', label: 'Contact' },
      { key: 'isMachine', label: 'Machine', render: (r) => (r.isMachine ? 'yes' : '') },
      { key: 'reason', label: 'Reason' },
    ],
  });
  const load = async () => {
    if (!live.checked) return;
    const { events } = await api(
      'GET',
      '/v1/dashboard/events'
        + query({ type: type.value, campaignId: campaign.value.trim(), provider: provider.value.trim(), limit: 200 }),
    );
    table.setRows(events);
  };
  for (const el of [type, campaign, provider])
    el.addEventListener('change', () => load().catch((e) => out.replaceChildren(errorBox(e))));
  const el = h(
    'section',
    {},
    h('h2', {}, 'Live events'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'ev-type' }, 'Type', type),
      h('label', { for: 'ev-campaign' }, 'Campaign', campaign),
      h('label', { for: 'ev-provider' }, 'Provider', provider),
      h('label', { for: 'ev-live' }, 'Live', live),
    ),
    table.el,
  );
  return { el, load };
}

function reviewSection(out, ctx) {
  const statusSel = h(
    'select',
    { id: 'rv-status' },
    ['open', 'claimed', 'resolved'].map((s) => h('option', { value: s }, s)),
  );
  const canWrite = ctx.session.scopes.includes('review:write');
  const by = ctx.session.name;
  const resolve = async (item, action) => {
    try {
      await api('POST', '/v1/review-items/' + encodeURIComponent(item.id) + '/resolve', { by, action });
      announce('Review item ' + item.id + ': ' + action);
      await load();
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  const table = dataTable({
    label: 'Review queue',
    rowKey: (r) => r.id,
    columns: [
      { key: 'createdAt', label: 'Received', render: (r) => time(r.createdAt) },
      { key: 'intent', label: 'Intent', render: (r) => r.intent + ' (' + num(r.confidence) + ')' },
      {
        key: 'excerpt',
        label: 'Reply (trimmed)',
        render: (r) => h('span', { style: 'white-space:pre-wrap' }, r.excerpt),
      },
      { key: 'campaignId', label: 'Campaign' },
      { key: 'contactId', label: 'Contact' },
      { key: 'status', label: 'Status', render: (r) => r.status + (r.resolution ? ': ' + r.resolution : '') },
      {
        key: 'actions',
        label: 'Actions',
        sort: () => 0,
        render: (r) =>
          canWrite && r.status !== 'resolved'
            ? h(
                'span',
                { class: 'toolbar' },
                h('button', { type: 'button', onclick: () => resolve(r, 'unsubscribe') }, 'Unsubscribe'),
                h('button', { type: 'button', onclick: () => resolve(r, 'create_task') }, 'Create task'),
                h(
                  'button',
                  { type: 'button', onclick: () => resolve(r, 'ignore'), 'aria-label': 'Dismiss item ' + r.id },
                  'Dismiss',
                ),
              )
            : '',
      },
    ],
  });
  async function load() {
    const { items } = await api('GET', '/v1/review-items' + query({ status: statusSel.value, limit: 1000 }));
    table.setRows(items);
  }
  statusSel.addEventListener('change', () => load().catch((e) => out.replaceChildren(errorBox(e))));
  const el = h(
    'section',
    {},
    h('h2', {}, 'Reply review queue'),
    h('div', { class: 'toolbar' }, h('label', { for: 'rv-status' }, 'Status', statusSel)),
    table.el,
  );
  return { el, load };
}

registerPage({
  id: 'reactions',
  title: 'Reactions',
  scope: 'review:read',
  order: 40,
  render(root, ctx) {
    const out = h('div', { role: 'status' });
    root.append(h('h1', {}, 'Reactions'), out);
    const stops = [];
    if (ctx.session.scopes.includes('reports:read')) {
      const s = streamSection(out);
      root.append(s.el);
      stops.push(every(2000, s.load, (err) => out.replaceChildren(errorBox(err))));
    }
    const r = reviewSection(out, ctx);
    root.append(r.el);
    stops.push(every(5000, r.load, (err) => out.replaceChildren(errorBox(err))));
    return () => {
      for (const s of stops) s();
    };
  },
});
